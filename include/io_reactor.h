/*
 * io_reactor.h - a portable I/O reactor for single-threaded interactive
 * servers (LPMud drivers and the like).
 *
 * Signature-compatible with the driver header it replaces (Neolith's
 * lib/port/io_reactor.h): the same functions, io_event_t fields and EVENT_*
 * values, so a driver written against that header links against this one.
 * The contract below is stronger and is the same on every backend (epoll,
 * io_uring, poll, IOCP); callers never branch on the backend.
 *
 * THE CONTRACT
 *  1. Handles. A handle is a socket (or the console) registered with
 *     io_reactor_add, io_reactor_add_listener or io_reactor_add_console.
 *     Every event for a handle carries the context given when it was added.
 *     The reactor never closes a caller's socket.
 *  2. Removal. After io_reactor_remove returns, no event for that handle is
 *     ever delivered, and the caller may free its context at once. This also
 *     covers events still unprocessed in the array filled by the last
 *     io_reactor_wait: they are rewritten to event_type 0 (IO_EVENT_NONE)
 *     with a NULL context, so a loop over that array skips them. So that
 *     array must stay valid until the next io_reactor_wait or
 *     io_reactor_destroy (keep it as long-lived as the loop, not in a
 *     function that returns before a later remove): remove writes into it.
 *  3. Reads are completion style on every backend. While EVENT_READ is in a
 *     handle's interest set the reactor reads for it and delivers EVENT_READ
 *     with the bytes in `buffer` (`bytes_transferred` of them, not NUL
 *     terminated). The buffer is the reactor's and stays valid until the
 *     next io_reactor_wait or io_reactor_destroy. Orderly EOF is delivered
 *     once as EVENT_CLOSE; a reset or other failure once as EVENT_ERROR with
 *     `error` set. Either ends reading; the caller then removes the handle.
 *  4. Writes. io_reactor_post_write takes the bytes at once (the caller's
 *     buffer is free when it returns): what the kernel does not accept right
 *     away is copied and queued whole. Nothing is truncated or reordered, and
 *     the queue is retried until it is sent or the handle fails (then
 *     EVENT_ERROR, from the next wait). io_reactor_queued_bytes
 *     tells how much is still queued, so a caller can apply backpressure.
 *     With EVENT_WRITE in the interest set, EVENT_WRITE reports that all
 *     posted output is in the kernel's hands: once after each post_write
 *     whose bytes (and all before them) went out, once when a backlog drains,
 *     and once when EVENT_WRITE is turned on while nothing is queued.
 *  5. Flow control. io_reactor_modify without EVENT_READ pauses reading (the
 *     kernel's buffers fill and TCP pushes back on the peer); with EVENT_READ
 *     it resumes. No EVENT_READ is delivered while paused.
 *  6. Listeners. io_reactor_add_listener makes the reactor accept: each new
 *     connection is one EVENT_ACCEPT whose `accepted_fd` is a non-blocking
 *     socket that belongs to the caller (add it, or close it).
 *  7. Waiting. io_reactor_wait rounds sub-millisecond timeouts up (it never
 *     spins), returns 0 on timeout, and returns early (possibly with 0
 *     events) after io_reactor_wakeup, which is safe from any thread, or
 *     after a signal (or, rarely, kernel work such as another reactor's
 *     io_uring teardown) interrupted it: callers wait in a loop.
 *  8. Bad calls. A NULL reactor, an unknown or already-removed handle, or a
 *     bad argument gets -1 and an error code (io_reactor_last_error), never a
 *     crash. Apart from io_reactor_wakeup a reactor is used from one thread.
 */
#ifndef IO_REACTOR_H
#define IO_REACTOR_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#include <winsock2.h>
#ifndef IO_REACTOR_SOCKET_FD_T_DEFINED
#define IO_REACTOR_SOCKET_FD_T_DEFINED
typedef SOCKET socket_fd_t;
#endif
#else
#include <sys/time.h>
#ifndef IO_REACTOR_SOCKET_FD_T_DEFINED
#define IO_REACTOR_SOCKET_FD_T_DEFINED
typedef int socket_fd_t;
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Event types (values fixed by the driver header). */
#define IO_EVENT_NONE 0x00 /* a cancelled entry: skip it (contract 2) */
#define EVENT_READ    0x01
#define EVENT_WRITE   0x02
#define EVENT_ERROR   0x04
#define EVENT_CLOSE   0x08
#define EVENT_ACCEPT  0x10

typedef struct io_event_s {
    void *context;          /* the context given when the handle was added */
    int event_type;         /* exactly one EVENT_* value, or IO_EVENT_NONE */
    int bytes_transferred;  /* EVENT_READ: bytes in buffer */
    void *buffer;           /* EVENT_READ: the bytes (reactor-owned) */
    /* Additions to the driver header's fields: */
    socket_fd_t fd;          /* the handle this event is for */
    socket_fd_t accepted_fd; /* EVENT_ACCEPT: the new connection */
    int error;               /* EVENT_ERROR: errno (POSIX) or WSA code */
} io_event_t;

typedef struct io_reactor_s io_reactor_t;

/* Trace hook: the library never prints; it hands lines to this hook. */
typedef void (*io_reactor_trace_fn)(void *user, const char *line);

typedef struct io_reactor_config_s {
    /* "auto" or NULL (the environment variable IO_REACTOR_BACKEND may then
     * name one), or "epoll", "io_uring", "poll", "iocp". */
    const char *backend;
    int max_events;      /* kernel events fetched per wait; 0: 128 */
    int pool_size;       /* operation contexts kept for reuse; 0: 256 */
    io_reactor_trace_fn trace;
    void *trace_user;
} io_reactor_config_t;

typedef struct io_reactor_stats_s {
    size_t handles;          /* registered handles */
    size_t queued_bytes;     /* output queued over all handles */
    size_t contexts_live;    /* per-operation contexts the backend holds */
    size_t contexts_pooled;  /* of those, idle in the pool */
    size_t state_bytes;      /* user-space bytes of per-handle state */
} io_reactor_stats_t;

/* Lifecycle */
io_reactor_t *io_reactor_create(void);
io_reactor_t *io_reactor_create_with(const io_reactor_config_t *config);
void io_reactor_destroy(io_reactor_t *reactor);

/* Handles */
int io_reactor_add(io_reactor_t *reactor, socket_fd_t fd, void *context, int events);
int io_reactor_add_listener(io_reactor_t *reactor, socket_fd_t fd, void *context);
int io_reactor_add_console(io_reactor_t *reactor, void *context);
int io_reactor_modify(io_reactor_t *reactor, socket_fd_t fd, int events);
int io_reactor_remove(io_reactor_t *reactor, socket_fd_t fd);

/* I/O. post_read exists for drivers written against the completion-style
 * header: reading is continuous while EVENT_READ is set, so with a NULL
 * buffer it only checks that fd is registered. A caller-owned buffer is
 * refused (EINVAL): read data always arrives in reactor buffers. */
int io_reactor_post_read(io_reactor_t *reactor, socket_fd_t fd, void *buffer, size_t len);
int io_reactor_post_write(io_reactor_t *reactor, socket_fd_t fd, void *buffer, size_t len);
size_t io_reactor_queued_bytes(io_reactor_t *reactor, socket_fd_t fd);

/* The console handle: what io_reactor_add_console registered (stdin). */
socket_fd_t io_reactor_console_fd(void);

/* Event loop */
int io_reactor_wait(io_reactor_t *reactor, io_event_t *events,
                    int max_events, struct timeval *timeout);
int io_reactor_wakeup(io_reactor_t *reactor);

/* Introspection */
const char *io_reactor_backend_name(const io_reactor_t *reactor);
const char *const *io_reactor_backends(void); /* NULL-terminated, built in */
int io_reactor_last_error(const io_reactor_t *reactor);
const char *io_reactor_strerror(int error);
int io_reactor_get_stats(const io_reactor_t *reactor, io_reactor_stats_t *stats);

#ifdef __cplusplus
}
#endif

#endif /* IO_REACTOR_H */
