/**
 * \file io_reactor.h
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
 *     away is copied and queued whole (on io_uring, once the loop runs, a
 *     small write is copied and handed to the kernel by the next wait, in one
 *     system call with the rest of the turn's I/O). Nothing is truncated or reordered, and
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
 *     io_reactor_add takes connected stream sockets only, on every backend,
 *     checked when it is called: a listening socket is refused with
 *     IO_REACTOR_ELISTENER (use io_reactor_add_listener), anything that is
 *     not a socket with IO_REACTOR_ENOTSOCKET (use io_reactor_add_console).
 *  9. Bounded delivery. io_reactor_post_read(fd, NULL, n) with n > 0 grants
 *     one EVENT_READ of at most n bytes; after it the handle delivers nothing
 *     until the next such grant (a posted read, as on IOCP). Bytes not yet
 *     delivered stay (in the kernel or the reactor) for a later grant:
 *     nothing is lost. A handle never given a grant reads continuously.
 *
 * READINESS MODE (the original header's semantics, for unchanged drivers)
 *  A driver written to the original header builds against this one with no
 *  change to its C source: compile it with -DIO_REACTOR_READINESS (in CMake,
 *  link the target `ioreactor_compat`, which adds the definition), and its
 *  io_reactor_create() makes a readiness-mode reactor. Code that calls
 *  io_reactor_create_readiness() or sets config.mode gets the same. Native
 *  code (no definition) keeps the contract above. In readiness mode, on
 *  POSIX (epoll, poll, io_uring through poll operations):
 *  R1. io_reactor_add takes any descriptor: connected or listening sockets
 *      (readable = a connection is pending; the caller accepts), pipes,
 *      ttys and regular files (always ready). Its file flags are not changed.
 *      io_reactor_add_console registers stdin the same way;
 *      io_reactor_add_listener keeps its accepting behaviour (contract 6).
 *  R2. The reactor does no I/O. io_reactor_wait reports level-triggered
 *      readiness: at most one event per handle per wait, whose event_type is
 *      a bitmask of EVENT_READ and EVENT_WRITE (as asked for), EVENT_ERROR
 *      (`error` holds SO_ERROR) and EVENT_CLOSE (hangup with nothing left to
 *      read). buffer is NULL and bytes_transferred 0. Readiness not acted
 *      upon is reported again by the next wait.
 *  R3. io_reactor_modify sets the interest (0: keep registered, no events).
 *      io_reactor_post_read and io_reactor_post_write are no-ops returning 0
 *      for a registered handle, as the original documents for POSIX: the
 *      caller reads and writes itself. io_reactor_remove of a descriptor
 *      that is not registered returns 0, as the original's does.
 *  R4. Removal (contract 2) and waiting (7) are as above; bad calls (8) too,
 *      except where R1 and R3 say otherwise.
 *  R5. On Windows (IOCP) readiness mode serves sockets: io_reactor_add takes
 *      connected and listening sockets (anything else fails with the
 *      Winsock error, WSAENOTSOCK), watched with AFD polls (no 64-handle
 *      limit) and reported as in R2, level-triggered. The console keeps
 *      its reader thread: io_reactor_add_console's EVENT_READ carries the
 *      bytes in buffer, as the original's Windows reactor delivered them.
 *      The original's Windows completion forms work there too:
 *      post_read(fd, buf, len) posts a read for the caller's buffer (valid
 *      until it completes, or until io_reactor_remove returns: the kernel
 *      reads into the reactor's own memory and the bytes are copied into
 *      buf only when the event is delivered) and completes as EVENT_READ
 *      with buffer = buf and bytes_transferred, EVENT_CLOSE when the peer
 *      closed (0 bytes), or EVENT_ERROR; while one is posted, the handle's EVENT_READ
 *      readiness is not reported. post_write(fd, buf, len) sends a copy of
 *      the bytes and completes as EVENT_WRITE with bytes_transferred (or
 *      EVENT_ERROR). len 0 is a no-op for both; a NULL buffer with len > 0
 *      fails with EINVAL. A driver's POSIX path, recv() after EVENT_READ
 *      and send() after EVENT_WRITE, works there as well.
 *
 * VERSIONS
 *  IO_REACTOR_VERSION_MAJOR/MINOR/PATCH name the header's version (the build
 *  reads the project version from here); io_reactor_version() names the
 *  library's, which may be newer when a shared library was upgraded.
 */
#ifndef IO_REACTOR_H
#define IO_REACTOR_H

/** Major version: changes break the API or ABI (while 0, so may a minor). */
#define IO_REACTOR_VERSION_MAJOR 0
/** Minor version: additions. */
#define IO_REACTOR_VERSION_MINOR 1
/** Patch version: fixes only. */
#define IO_REACTOR_VERSION_PATCH 0
/** The version as one number, 0xMMmmpp, comparable with io_reactor_version(). */
#define IO_REACTOR_VERSION_HEX \
    ((IO_REACTOR_VERSION_MAJOR << 16) | (IO_REACTOR_VERSION_MINOR << 8) | IO_REACTOR_VERSION_PATCH)

/* IO_REACTOR_API marks what a shared library exports; it is built with
 * hidden visibility, so nothing else leaves it. Callers need no define:
 * Windows functions link through the import library without dllimport. */
#if defined(_WIN32)
#if defined(IO_REACTOR_BUILDING_SHARED)
#define IO_REACTOR_API __declspec(dllexport)
#else
#define IO_REACTOR_API
#endif
#elif defined(__GNUC__)
#define IO_REACTOR_API __attribute__((visibility("default")))
#else
#define IO_REACTOR_API
#endif

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#include <winsock2.h>
#ifndef IO_REACTOR_SOCKET_FD_T_DEFINED
#define IO_REACTOR_SOCKET_FD_T_DEFINED
/** A socket: SOCKET on Windows, a file descriptor elsewhere. */
typedef SOCKET socket_fd_t;
#endif
#else
#include <sys/time.h>
#ifndef IO_REACTOR_SOCKET_FD_T_DEFINED
#define IO_REACTOR_SOCKET_FD_T_DEFINED
/** A socket: a file descriptor here, SOCKET on Windows. */
typedef int socket_fd_t;
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** \name Event types (values fixed by the driver header) */
/**@{*/
#define IO_EVENT_NONE 0x00 /**< a cancelled entry: skip it (contract 2) */
#define EVENT_READ    0x01 /**< bytes arrived (in io_event_t.buffer) */
#define EVENT_WRITE   0x02 /**< all posted output is in the kernel's hands */
#define EVENT_ERROR   0x04 /**< the handle failed (io_event_t.error) */
#define EVENT_CLOSE   0x08 /**< the peer closed (orderly EOF) */
#define EVENT_ACCEPT  0x10 /**< a new connection (io_event_t.accepted_fd) */
/**@}*/

/** \name Error codes of this library (beyond errno / WSA codes)
 * See io_reactor_strerror. Chosen above both ranges. */
/**@{*/
#define IO_REACTOR_ELISTENER  20001 /**< io_reactor_add: a listening socket */
#define IO_REACTOR_ENOTSOCKET 20002 /**< io_reactor_add: not a socket */
/**@}*/

/** \name io_reactor_config_t.mode */
/**@{*/
#define IO_REACTOR_MODE_NATIVE    0 /**< the contract above (default) */
#define IO_REACTOR_MODE_READINESS 1 /**< the original header's semantics */
/**@}*/

/** One event, as io_reactor_wait stores it. */
typedef struct io_event_s {
    void *context;          /**< the context given when the handle was added */
    int event_type;         /**< one EVENT_* value, or IO_EVENT_NONE (readiness mode: a mask) */
    int bytes_transferred;  /**< EVENT_READ: bytes in buffer */
    void *buffer;           /**< EVENT_READ: the bytes (reactor-owned) */
    /* Additions to the driver header's fields: */
    socket_fd_t fd;          /**< the handle this event is for */
    socket_fd_t accepted_fd; /**< EVENT_ACCEPT: the new connection */
    int error;               /**< EVENT_ERROR: errno (POSIX) or WSA code */
} io_event_t;

/** A reactor (opaque). */
typedef struct io_reactor_s io_reactor_t;

/** Trace hook: the library never prints; it hands lines to this hook. */
typedef void (*io_reactor_trace_fn)(void *user, const char *line);

/** Options for io_reactor_create_with; zero fields take the defaults. */
typedef struct io_reactor_config_s {
    /** "auto" or NULL (the environment variable IO_REACTOR_BACKEND may then
     * name one), or "epoll", "io_uring", "poll", "iocp". */
    const char *backend;
    int max_events;      /**< kernel events fetched per wait; 0: 128 */
    int pool_size;       /**< operation contexts kept for reuse; 0: 256 */
    io_reactor_trace_fn trace; /**< NULL: no tracing */
    void *trace_user;          /**< handed to the trace hook unchanged */
    int mode;                  /**< IO_REACTOR_MODE_NATIVE (0) or _READINESS */
} io_reactor_config_t;

/** Counters from io_reactor_get_stats. */
typedef struct io_reactor_stats_s {
    size_t handles;          /**< registered handles */
    size_t queued_bytes;     /**< output queued over all handles */
    size_t contexts_live;    /**< per-operation contexts the backend holds */
    size_t contexts_pooled;  /**< of those, idle in the pool */
    size_t state_bytes;      /**< user-space bytes of per-handle state */
} io_reactor_stats_t;

/** \name Lifecycle */
/**@{*/
/** Creates a reactor on the automatic backend choice (io_uring, then epoll,
 * then poll; iocp on Windows). Returns NULL on failure
 * (io_reactor_last_error(NULL) says why). */
IO_REACTOR_API io_reactor_t *io_reactor_create(void);
/** Creates a reactor as \p config says; NULL \p config or zeroed fields mean
 * the defaults. An unknown or unavailable backend name fails (NULL). */
IO_REACTOR_API io_reactor_t *io_reactor_create_with(const io_reactor_config_t *config);
/** Releases the reactor and its queued output; the caller's sockets stay
 * open. NULL is ignored. */
IO_REACTOR_API void io_reactor_destroy(io_reactor_t *reactor);
/** A readiness-mode reactor (READINESS MODE above), backend chosen as
 * "auto"; what -DIO_REACTOR_READINESS turns io_reactor_create into. */
IO_REACTOR_API io_reactor_t *io_reactor_create_readiness(void);
/**@}*/

/** \name Handles */
/**@{*/
/** Registers socket \p fd with interest \p events (EVENT_READ, EVENT_WRITE,
 * or both); its events carry \p context. Returns 0, or -1 (e.g. EEXIST
 * when already registered; IO_REACTOR_ELISTENER for a listening socket,
 * IO_REACTOR_ENOTSOCKET for a non-socket: contract 8). Readiness mode: any
 * descriptor (R1). */
IO_REACTOR_API int io_reactor_add(io_reactor_t *reactor, socket_fd_t fd, void *context, int events);
/** Registers a listening socket; the reactor accepts and delivers each new
 * connection as EVENT_ACCEPT (contract 6). Returns 0 or -1. */
IO_REACTOR_API int io_reactor_add_listener(io_reactor_t *reactor, socket_fd_t fd, void *context);
/** Registers standard input (io_reactor_console_fd()) for EVENT_READ.
 * Returns 0 or -1. */
IO_REACTOR_API int io_reactor_add_console(io_reactor_t *reactor, void *context);
/** Replaces the interest set of \p fd; without EVENT_READ reading pauses
 * (contract 5). Returns 0 or -1. */
IO_REACTOR_API int io_reactor_modify(io_reactor_t *reactor, socket_fd_t fd, int events);
/** Unregisters \p fd: from its return on no event for it is delivered and
 * its context may be freed (contract 2). Queued output is dropped; the
 * socket is not closed. Returns 0 or -1 (readiness mode: 0 also for an fd
 * that is not registered, R3). */
IO_REACTOR_API int io_reactor_remove(io_reactor_t *reactor, socket_fd_t fd);
/**@}*/

/** \name I/O */
/**@{*/
/** With a NULL buffer: \p len 0 only checks that fd is registered; \p len
 * > 0 grants one EVENT_READ of at most \p len bytes (contract 9). A
 * caller-owned buffer is refused (EINVAL) in native mode: read data always
 * arrives in reactor buffers. Readiness mode: a no-op (R3). */
IO_REACTOR_API int io_reactor_post_read(io_reactor_t *reactor, socket_fd_t fd, void *buffer, size_t len);
/** Sends \p len bytes from \p buffer, queueing whatever the kernel does not
 * take at once (contract 4); \p buffer is free on return. Returns 0 or -1. */
IO_REACTOR_API int io_reactor_post_write(io_reactor_t *reactor, socket_fd_t fd, void *buffer, size_t len);
/** Bytes posted to \p fd and not yet handed to the kernel (0 for an unknown
 * handle): the measure for backpressure. */
IO_REACTOR_API size_t io_reactor_queued_bytes(io_reactor_t *reactor, socket_fd_t fd);
/** The console handle: what io_reactor_add_console registers (stdin). */
IO_REACTOR_API socket_fd_t io_reactor_console_fd(void);
/**@}*/

/** \name Event loop */
/**@{*/
/** Waits for events and stores up to \p max_events of them in \p events.
 * \p timeout NULL waits without limit; sub-millisecond values round up.
 * Returns the number stored (0 on timeout, wakeup or signal: wait in a
 * loop), or -1 (contract 7). */
IO_REACTOR_API int io_reactor_wait(io_reactor_t *reactor, io_event_t *events,
                                   int max_events, struct timeval *timeout);
/** Makes a current or the next io_reactor_wait return early. The one call
 * that is safe from any thread. Returns 0 or -1. */
IO_REACTOR_API int io_reactor_wakeup(io_reactor_t *reactor);
/**@}*/

/** \name Introspection */
/**@{*/
/** The backend this reactor runs on: "io_uring", "epoll", "poll", "iocp". */
IO_REACTOR_API const char *io_reactor_backend_name(const io_reactor_t *reactor);
/** The backends built into the library, NULL-terminated (a listed backend
 * may still be unavailable at run time, e.g. io_uring under seccomp). */
IO_REACTOR_API const char *const *io_reactor_backends(void);
/** The error code (errno or WSA code) of the last failed call on
 * \p reactor; with NULL, of the last failed create or NULL-reactor call. */
IO_REACTOR_API int io_reactor_last_error(const io_reactor_t *reactor);
/** A message for an error code from io_reactor_last_error or io_event_t.error. */
IO_REACTOR_API const char *io_reactor_strerror(int error);
/** Fills \p stats with the reactor's current counters. Returns 0 or -1. */
IO_REACTOR_API int io_reactor_get_stats(const io_reactor_t *reactor, io_reactor_stats_t *stats);
/** The library's version as 0xMMmmpp (see IO_REACTOR_VERSION_HEX); it can
 * differ from the header's when a shared library was replaced. */
IO_REACTOR_API unsigned io_reactor_version(void);
/** The library's version as text, "MAJOR.MINOR.PATCH". */
IO_REACTOR_API const char *io_reactor_version_string(void);
/**@}*/

#ifdef __cplusplus
}
#endif

/* The build's choice of mode: a driver's unchanged io_reactor_create()
 * calls make readiness-mode reactors. */
#if defined(IO_REACTOR_READINESS)
#define io_reactor_create io_reactor_create_readiness
#endif

#endif /* IO_REACTOR_H */
