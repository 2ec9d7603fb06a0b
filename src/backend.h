// The one small interface between the reactor core (core.cpp) and a backend
// (backend_epoll.cpp, backend_poll.cpp, backend_uring.cpp, backend_iocp.cpp).
//
// The core owns every Handle: its context, interest, output queue and the
// events it turns into io_event_t. A backend only watches sockets and tells
// the core what happened, through the Sink, in one of two styles:
//  - readiness (epoll, poll): sink.readable(h) / sink.writable(h); the core
//    then does the recv/accept/send itself;
//  - completion (io_uring, IOCP): sink.received / sink.accepted / sink.sent
//    with what the kernel already did; or readiness where that is simpler
//    (IOCP's zero-byte read completes as "readable").
// Either way the caller sees the same events.
//
// A readiness-mode reactor (io_reactor.h, READINESS MODE) registers its
// io_reactor_add handles as HandleKind::watched: for those a backend only
// watches readiness_mask(h) and reports through sink.watched(); nobody does
// I/O. Every readiness backend gets this from report_readiness();
// io_uring watches them with poll operations.
#pragma once

#include "io_reactor.h"
#include "write_queue.h"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ior {

enum class HandleKind : std::uint8_t { stream, listener, console, watched };

// Per-handle state. One allocation per registered socket; kept small on
// purpose (idle connections are the common case).
struct Handle {
    socket_fd_t fd;
    void *context;
    HandleKind kind;
    std::uint8_t interest = 0;     // EVENT_READ | EVENT_WRITE, as the caller set it
    std::uint8_t due = 0;          // Core's deferred work (core.cpp); nonzero: on its ready list
    bool removed = false;          // io_reactor_remove ran; deliver nothing more
    bool read_ended = false;       // EOF or error seen; read no more
    bool failed = false;           // EVENT_ERROR owed or reported; writes refused
    bool close_owed = false;       // EOF seen, EVENT_CLOSE not yet delivered
    bool write_armed = false;      // output waits on the backend (EAGAIN / send in flight)
    bool grant_mode = false;       // post_read(fd, NULL, n) was used: deliver only when granted
    std::uint16_t pins = 0;        // operations and lists that still reference this handle
    int error = 0;                 // the failure EVENT_ERROR reports
    WriteQueue out;                // output, whole and in order
    std::string stash;             // data received while paused or out of room
    void *backend_data = nullptr;  // owned by the backend
    std::uint32_t backend_index = 0; // free for the backend (poll uses it)
    // Last, in what was padding after backend_index: an idle connection's
    // state stays the same size (tests/windows/iocp_test.cpp measures it).
    std::uint32_t grant = 0;       // grant_mode: bytes the next EVENT_READ may carry (0: none)

    Handle(socket_fd_t f, void *ctx, HandleKind k) : fd(f), context(ctx), kind(k) {}
    // Whether the backend should be reading (or accepting) for this handle.
    bool reading() const { return (interest & EVENT_READ) && !read_ended && !removed && !withheld(); }
    // Whether an EVENT_READ may be delivered now (interest, and a grant if
    // the caller bounds delivery).
    bool deliverable() const { return (interest & EVENT_READ) && !withheld(); }
    bool withheld() const { return grant_mode && grant == 0; }
};

// What a backend reports to. Implemented by the core.
class Sink {
public:
    // Room for at least one more event in the caller's array this wait.
    virtual bool has_room() const = 0;

    // Readiness style: the core does the I/O.
    virtual void readable(Handle &h) = 0;
    virtual void writable(Handle &h) = 0;

    // Completion style: the kernel did the I/O.
    // n > 0: data; n == 0: orderly EOF. `data` must stay valid until the next
    // Backend::poll call (the event points at it).
    virtual void received(Handle &h, const char *data, std::size_t n) = 0;
    virtual void accepted(Handle &listener, socket_fd_t fd) = 0;
    // n bytes from the front of h.out were sent; the core pops them and
    // clears h.write_armed, then continues flushing. A failed send is
    // sent(h, 0) followed by failed(h, error).
    virtual void sent(Handle &h, std::size_t n) = 0;
    // The handle failed (reset, error): EVENT_ERROR, once.
    virtual void failed(Handle &h, int error) = 0;

    // A watched handle's readiness (kReady* bits): one event, no I/O.
    // `error` is what EVENT_ERROR reports; 0: the socket's SO_ERROR.
    virtual void watched(Handle &h, unsigned what, int error = 0) = 0;
    // A caller's own post_read (type EVENT_READ, into its buffer) or
    // post_write (EVENT_WRITE) on a watched handle completed: n bytes, or
    // error. Only called while has_room(). Windows only (caller_io_completes).
    virtual void completed(Handle &h, int type, void *buffer, std::size_t n, int error) = 0;

    // A pinned handle that was removed and whose last operation completed:
    // the core frees it. Call exactly when h.removed && h.pins reaches 0.
    virtual void release(Handle &h) = 0;

protected:
    ~Sink() = default;
};

// Drop a backend's pin; frees the handle through the sink if it was the last
// reference to a removed handle. Returns false when the handle is gone or
// removed, i.e. the completion must be swallowed.
inline bool unpin(Sink &sink, Handle &h) {
    --h.pins;
    if (!h.removed) return true;
    if (h.pins == 0) sink.release(h);
    return false;
}

// What the kernel said about a handle (POLLIN, POLLOUT, POLLERR, POLLHUP).
enum : unsigned { kReadyIn = 1, kReadyOut = 2, kReadyErr = 4, kReadyHup = 8 };

// For readiness backends: what the kernel said about h. A watched handle
// gets it as it is. Otherwise an error or hangup wakes whichever side is
// waiting; its own recv or send then tells what happened. Afterwards the
// backend re-syncs its interest (readiness_mask): the report may have ended
// reading or writing.
inline void report_readiness(Sink &sink, Handle &h, unsigned what) {
    if (h.kind == HandleKind::watched) return h.removed ? void() : sink.watched(h, what);
    const bool trouble = what & (kReadyErr | kReadyHup);
    if (((what & kReadyIn) || trouble) && h.reading()) sink.readable(h);
    if (((what & kReadyOut) || trouble) && h.write_armed && !h.removed) sink.writable(h);
}

// What a readiness backend watches for. Zero means "do not watch at all":
// a hangup is reported even to an empty mask, and would spin. A watched
// handle is watched for exactly what the caller asked.
enum : unsigned { kWantRead = 1, kWantWrite = 2 };
inline unsigned readiness_mask(const Handle &h) {
    if (h.removed) return 0;
    if (h.kind == HandleKind::watched)
        return (h.interest & EVENT_READ ? kWantRead : 0u) | (h.interest & EVENT_WRITE ? kWantWrite : 0u);
    return (h.reading() ? kWantRead : 0u) | (h.write_armed ? kWantWrite : 0u);
}

class Backend {
public:
    virtual ~Backend() = default;  // cancels and drains all in-flight operations
    virtual const char *name() const = 0;

    // Start watching h (reading if h.reading(), accepting for listeners).
    // Returns 0 or an error code.
    virtual int attach(Handle &h) = 0;
    // h.interest, h.read_ended or a grant changed: start or stop reading
    // (for a watched handle: watch readiness_mask(h) from now on).
    virtual int update_reading(Handle &h) = 0;
    // The socket refused part of h.out (EAGAIN). Set h.write_armed and
    // report writable() or sent() once output can continue.
    virtual int arm_write(Handle &h) = 0;
    // Stop watching h. After this returns the backend makes no Sink call for
    // h except release() once its pins drop to 0.
    virtual void detach(Handle &h) = 0;

    // Wait up to timeout_ms (-1: forever) and report through the sink while
    // it has room. Returns 0 or an error code; EINTR is not an error.
    virtual int poll(Sink &sink, int timeout_ms) = 0;
    // Make a blocked poll() return. Safe from any thread.
    virtual int wake() = 0;

    virtual void add_stats(io_reactor_stats_t &) const {}
    // Whether the backend sends h.out itself: the core then only queues
    // output and calls arm_write, and the backend hands every send of a
    // loop turn to the kernel in one call (io_uring) instead of the core
    // calling send() once per write. Such a backend's detach still hands
    // the kernel the sends it queued, so "write, then remove" keeps its
    // farewell.
    virtual bool sends_itself() const { return false; }
    // Whether this backend serves watched handles (readiness mode).
    virtual bool can_watch() const { return true; }
    // Whether a readiness-mode console is a watched handle (the caller reads
    // stdin) or, where stdin cannot be watched, a console handle (bytes in
    // the event: IOCP, as the original's Windows reactor).
    virtual bool watches_console() const { return true; }
    // Whether the original header gives post_read(fd, buf, n) and
    // post_write a completion form here (Windows) rather than none (POSIX,
    // where both are no-ops in readiness mode).
    virtual bool caller_io_completes() const { return false; }
    // Where it does: post a read into the caller's buffer (write false) or
    // a send of a copy of its bytes (write true) on watched h, reported by
    // sink.completed(). Returns 0 or an error code.
    virtual int post_caller_io(Handle &, bool /*write*/, void * /*buffer*/, std::size_t /*len*/) {
        return EINVAL;
    }
};

struct BackendOptions {
    int max_events = 128;
    int pool_size = 256;
};

// backend_select.cpp: the only place that knows which backends exist.
// `name` is "auto" or a backend name; on failure returns null and sets error.
std::unique_ptr<Backend> make_backend(const char *name, const BackendOptions &opts, int &error);
const char *const *backend_names();

// One factory per backend file; each returns null and sets error on failure.
std::unique_ptr<Backend> make_epoll_backend(const BackendOptions &, int &error);
std::unique_ptr<Backend> make_poll_backend(const BackendOptions &, int &error);
std::unique_ptr<Backend> make_uring_backend(const BackendOptions &, int &error);
std::unique_ptr<Backend> make_iocp_backend(const BackendOptions &, int &error);

}  // namespace ior
