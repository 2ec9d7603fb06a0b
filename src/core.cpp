// The reactor core: the handle table, output queues, and the translation of
// what a backend reports into the io_event_t contract of io_reactor.h. It
// knows no backend by name; backend_select.cpp hands it one.
#include "backend.h"
#include "handle_table.h"
#include "sys.h"

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

using ior::Backend;
using ior::Handle;
using ior::HandleKind;

namespace {

// Read data lands in one arena per wait, so every EVENT_READ buffer stays
// valid until the next wait and no buffer is pinned per connection. It is
// small on purpose: the caller usually sends the bytes on (an echo, a
// relay) before the next wait, and they should still be in the CPU's cache
// then; a socket that finds no room is read by the next wait, which does
// not poll the kernel again until every deferred read is done (see wait).
// 16 KiB echoes on 1,000 connections, server CPU per message vs a
// hand-written epoll loop: 1.20x with a 2 MiB arena (the sends read the
// bytes back from memory), 1.05x at 256 KiB (docs/benchmarks.md).
constexpr std::size_t kArenaBytes = 256 * 1024;
constexpr std::size_t kMaxRead = 64 * 1024;
constexpr std::size_t kMinRead = 16 * 1024;
// Writes up to this size go to a backend that sends itself (backend.h) as
// a copy; larger ones are sent at once, where one system call costs less
// than copying them (16 KiB echoes: 1.7x the CPU per message when copied).
constexpr std::size_t kBatchedSendMax = 4096;
// Accepts per readiness report, so one busy listener cannot starve the rest.
constexpr int kAcceptBurst = 64;
// send_queued()'s "the socket is full" (every real error code is positive).
constexpr int kWouldBlock = -1;

// Work a handle owes the caller that could not be done when it was noticed.
enum Due : std::uint8_t {
    kFlush = 1,        // output was posted; send it before sleeping
    kRead = 2,         // readable, but the event array or arena was full
    kWriteEvent = 4,   // EVENT_WRITE owed
    kErrorEvent = 8,   // EVENT_ERROR owed
    kCloseEvent = 16,  // EVENT_CLOSE owed (after any stashed data)
    kStash = 32,       // stashed data to deliver
};

thread_local int g_last_error = 0;

int fail_with(int error) {
    g_last_error = error;
    return -1;
}

// Timeouts round up: 0.9 ms must sleep 1 ms, never 0 (a busy loop).
int timeout_to_ms(const timeval *tv, int &ms) {
    if (!tv) {
        ms = -1;
        return 0;
    }
    if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000) return EINVAL;
    long long us = static_cast<long long>(tv->tv_sec) * 1000000 + tv->tv_usec;
    long long rounded = (us + 999) / 1000;
    ms = rounded > INT_MAX ? INT_MAX : static_cast<int>(rounded);
    return 0;
}

}  // namespace

struct io_reactor_s final : ior::Sink {
    std::unique_ptr<Backend> backend;
    ior::HandleTable handles{ior::sys::descriptor_shift()};
    std::vector<Handle *> ready;  // handles with h.due != 0, each pinned once
    std::vector<Handle *> draining;
    std::vector<std::pair<Handle *, socket_fd_t>> unclaimed_accepts;
    std::unique_ptr<char[]> arena{new char[kArenaBytes]};
    std::size_t arena_used = 0;
    bool arena_ran_out = false;  // this wait deferred a read for want of room
    io_event_t *out = nullptr;  // the caller's array, during and after a wait
    int out_count = 0;
    int out_capacity = 0;
    bool in_wait = false;
    bool readiness = false;  // READINESS MODE (io_reactor.h): io_reactor_add watches
    int last_error = 0;
    io_reactor_trace_fn trace_fn = nullptr;
    void *trace_user = nullptr;

    ~io_reactor_s();
    void close_all();

    int fail(int error) {
        last_error = error;
        return fail_with(error);
    }
    Handle *find(socket_fd_t fd) const { return handles.find(fd); }
    void trace(const char *fmt, ...) __attribute__((format(printf, 2, 3)));

    int add(socket_fd_t fd, void *context, int events, HandleKind kind);
    int check_kind(socket_fd_t fd, HandleKind kind);
    int remove(Handle &h);
    int modify(Handle &h, int events);
    int post_read(Handle &h, const void *buffer, std::size_t len);
    int post_write(Handle &h, const char *data, std::size_t len);
    int queue_for_backend(Handle &h, const char *data, std::size_t len);
    int caller_io(Handle &h, bool write, void *buffer, std::size_t len);
    int wait(io_event_t *events, int max_events, const timeval *tv);

    // Event output
    void emit(Handle &h, int type, const void *buffer = nullptr, int bytes = 0);
    void cancel_delivered(const Handle &h);
    void mark(Handle &h, std::uint8_t due);
    void drain_ready();
    void serve(Handle &h, std::uint8_t due);
    void forget(Handle &h);

    // I/O done by the core for readiness-style reports
    void read_stream(Handle &h);
    void accept_burst(Handle &listener);
    void flush(Handle &h, bool had_output = false);
    int send_queued(Handle &h);
    void deliver_stash(Handle &h);
    void end_reading(Handle &h);
    void report_close(Handle &h);
    std::size_t allowance(const Handle &h, std::size_t room) const;
    void consume_grant(Handle &h);

    // Sink
    // Events are only written during a wait; whatever happens between waits
    // (post_write, modify) is marked and reported by the next one.
    bool has_room() const override { return in_wait && out_count < out_capacity; }
    void readable(Handle &h) override;
    void writable(Handle &h) override;
    void received(Handle &h, const char *data, std::size_t n) override;
    void accepted(Handle &listener, socket_fd_t fd) override;
    void sent(Handle &h, std::size_t n) override;
    void failed(Handle &h, int error) override;
    void watched(Handle &h, unsigned what, int error) override;
    void completed(Handle &h, int type, void *buffer, std::size_t n, int error) override;
    void release(Handle &h) override { delete &h; }
};

void io_reactor_s::trace(const char *fmt, ...) {
    if (!trace_fn) return;
    char line[256];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    trace_fn(trace_user, line);
}

// ---- handles -----------------------------------------------------------------

int io_reactor_s::add(socket_fd_t fd, void *context, int events, HandleKind kind) {
    if (fd == ior::sys::invalid_socket() || (events & ~(EVENT_READ | EVENT_WRITE)))
        return fail(EINVAL);
    if (handles.find(fd)) return fail(EEXIST);
    if (int error = check_kind(fd, kind)) return fail(error);
    // The console stays blocking: O_NONBLOCK on a shared terminal outlives
    // us. A watched descriptor is the caller's to configure.
    if (kind == HandleKind::stream || kind == HandleKind::listener)
        if (int error = ior::sys::set_nonblocking(fd)) return fail(error);
    auto h = std::unique_ptr<Handle>(new (std::nothrow) Handle(fd, context, kind));
    if (!h) return fail(ENOMEM);
    h->interest = static_cast<std::uint8_t>(events);
    if (!handles.insert(fd, h.get())) return fail(ENOMEM);
    if (int error = backend->attach(*h)) {
        handles.erase(fd);
        return fail(error);
    }
    if ((events & EVENT_WRITE) && kind != HandleKind::watched) mark(*h, kWriteEvent);
    trace("add fd %lld kind %d events %#x", static_cast<long long>(fd), int(kind), events);
    h.release();
    return 0;
}

// Refused now, the same on every backend, rather than failing later as an
// EVENT_ERROR whose cause depends on the backend.
int io_reactor_s::check_kind(socket_fd_t fd, HandleKind kind) {
    if (kind == HandleKind::console) return 0;
    ior::sys::FdKind what;
    if (int error = ior::sys::classify(fd, what)) return error;
    if (kind != HandleKind::stream) return 0;
    if (what == ior::sys::FdKind::listening_socket) return IO_REACTOR_ELISTENER;
    if (what == ior::sys::FdKind::not_socket) return IO_REACTOR_ENOTSOCKET;
    return 0;
}

int io_reactor_s::remove(Handle &h) {
    // "Write a farewell, then remove" must not lose the farewell: the kernel
    // gets what it takes now; the rest goes with the handle, as asked.
    send_queued(h);
    handles.erase(h.fd);
    h.removed = true;
    cancel_delivered(h);
    backend->detach(h);
    std::erase_if(unclaimed_accepts, [&](auto &pending) {
        if (pending.first != &h) return false;
        ior::sys::close_socket(pending.second);  // never seen by the caller: ours to close
        return true;
    });
    trace("remove fd %lld", static_cast<long long>(h.fd));
    if (h.pins == 0) delete &h;
    return 0;
}

int io_reactor_s::modify(Handle &h, int events) {
    if (events & ~(EVENT_READ | EVENT_WRITE)) return fail(EINVAL);
    int changed = h.interest ^ events;
    h.interest = static_cast<std::uint8_t>(events);
    if (h.kind == HandleKind::watched) {
        int error = changed ? backend->update_reading(h) : 0;
        return error ? fail(error) : 0;
    }
    if (changed & EVENT_READ) {
        if (int error = backend->update_reading(h)) return fail(error);
        if (!h.stash.empty()) mark(h, kStash);
        else if (h.close_owed) mark(h, kCloseEvent);
    }
    if ((changed & events & EVENT_WRITE) && h.out.empty()) mark(h, kWriteEvent);
    return 0;
}

// Readiness mode: a no-op, as the original documents for POSIX; where the
// original posts a completion instead (Windows), posted, and completed as
// EVENT_READ into the caller's buffer (R5). Native: a
// NULL buffer with len > 0 grants one EVENT_READ of at most len bytes
// (contract 9); whatever else is there waits for the next grant.
// Readiness mode's post_read/post_write: nothing to do on POSIX or for no
// bytes; on Windows the backend posts them (R5).
int io_reactor_s::caller_io(Handle &h, bool write, void *buffer, std::size_t len) {
    if (!backend->caller_io_completes() || len == 0) return 0;
    if (!buffer) return fail(EINVAL);
    int error = backend->post_caller_io(h, write, buffer, len);
    return error ? fail(error) : 0;
}

int io_reactor_s::post_read(Handle &h, const void *buffer, std::size_t len) {
    if (h.kind == HandleKind::watched)
        return caller_io(h, false, const_cast<void *>(buffer), len);
    if (buffer) return fail(EINVAL);
    if (len == 0) return 0;
    if (h.kind == HandleKind::listener) return fail(EINVAL);
    h.grant_mode = true;
    h.grant = len > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(len);
    if (int error = backend->update_reading(h)) return fail(error);
    if (!h.stash.empty()) mark(h, kStash);
    else if (h.close_owed) mark(h, kCloseEvent);
    return 0;
}

// With nothing queued ahead, the kernel gets the bytes at once and only what
// it refuses is copied: an echo or a reply costs no allocation and no copy.
// A failure found here is reported by the next wait, like any other.
int io_reactor_s::post_write(Handle &h, const char *data, std::size_t len) {
    if (h.kind == HandleKind::watched)  // readiness: the caller writes (R3), or posts (R5)
        return caller_io(h, true, const_cast<char *>(data), len);
    if ((!data && len) || h.kind != HandleKind::stream) return fail(EINVAL);
    if (h.failed) return fail(h.error ? h.error : EPIPE);
    if (len == 0) return 0;
    if (!h.out.empty() || h.write_armed) {
        if (!h.out.append(data, len)) return fail(ENOMEM);
        mark(h, kFlush);
        return 0;
    }
    if (backend->sends_itself() && len <= kBatchedSendMax) return queue_for_backend(h, data, len);
    int error = 0;
    long n = ior::sys::send(h.fd, data, len, error);
    std::size_t taken = n > 0 ? static_cast<std::size_t>(n) : 0;
    if (n < 0 && !ior::sys::would_block(error)) {
        failed(h, error);
    } else if (taken == len) {
        if (h.interest & EVENT_WRITE) mark(h, kWriteEvent);
    } else if (!h.out.append(data + taken, len - taken)) {
        failed(h, ENOMEM);  // part of it is out already: the stream is broken
        return fail(ENOMEM);
    } else if ((error = backend->arm_write(h))) {
        failed(h, error);
    }
    return 0;
}

// A backend that sends itself gets the bytes with the next wait, batched
// with every other send of this loop turn: a copy instead of a system call.
int io_reactor_s::queue_for_backend(Handle &h, const char *data, std::size_t len) {
    if (!h.out.append(data, len)) return fail(ENOMEM);
    if (int error = backend->arm_write(h)) failed(h, error);
    return 0;
}

// A handle leaves the ready list only here or when it has nothing due.
void io_reactor_s::forget(Handle &h) {
    if (--h.pins == 0 && h.removed) delete &h;
}

io_reactor_s::~io_reactor_s() {
    if (backend) close_all();
    ior::sys::cleanup();
}

void io_reactor_s::close_all() {
    // First the ready list's pins: a handle the caller removed earlier may
    // be held by nothing else (an event was owed when it was removed), and
    // this is its last reference. Registered ones are freed below.
    for (Handle *h : ready)
        if (--h->pins == 0 && h->removed) delete h;
    ready.clear();
    std::vector<Handle *> all;
    all.reserve(handles.size());
    handles.for_each([&](Handle *h) { all.push_back(h); });
    handles.clear();
    for (Handle *h : all) {
        h->removed = true;
        backend->detach(*h);
    }
    for (auto &pending : unclaimed_accepts) ior::sys::close_socket(pending.second);
    for (Handle *h : all)
        if (h->pins == 0) delete h;
    backend.reset();  // drains in-flight operations, releasing their handles
}

// ---- events --------------------------------------------------------------------

void io_reactor_s::emit(Handle &h, int type, const void *buffer, int bytes) {
    io_event_t &e = out[out_count++];
    e.context = h.context;
    e.event_type = type;
    e.bytes_transferred = bytes;
    e.buffer = const_cast<void *>(buffer);
    e.fd = h.fd;
    e.accepted_fd = ior::sys::invalid_socket();
    e.error = type == EVENT_ERROR ? h.error : 0;
}

// Contract 2: events of the last wait that the caller has not processed yet
// must not reach it after remove. An entry is rewritten only while it still
// holds exactly what we put there.
void io_reactor_s::cancel_delivered(const Handle &h) {
    for (int i = 0; i < out_count; ++i) {
        io_event_t &e = out[i];
        if (e.event_type != IO_EVENT_NONE && e.fd == h.fd && e.context == h.context) {
            e.event_type = IO_EVENT_NONE;
            e.context = nullptr;
            e.buffer = nullptr;
            e.bytes_transferred = 0;
        }
    }
}

void io_reactor_s::mark(Handle &h, std::uint8_t due) {
    if (h.due == 0) {
        ready.push_back(&h);
        ++h.pins;
    }
    h.due |= due;
}

// Serving may mark handles again; they go to the fresh `ready` list while
// this round walks `draining` (kept, with its capacity, across waits).
void io_reactor_s::drain_ready() {
    draining.swap(ready);
    for (Handle *h : draining) {
        std::uint8_t due = h->due;
        h->due = 0;
        if (!h->removed) serve(*h, due);
        forget(*h);
    }
    draining.clear();
}

// Does what was owed, in order; whatever still finds no room is marked again.
void io_reactor_s::serve(Handle &h, std::uint8_t due) {
    if (due & kFlush) flush(h);
    if (due & kStash) deliver_stash(h);
    if (due & kRead) readable(h);
    if (due & kCloseEvent) report_close(h);
    if (due & kErrorEvent) {
        if (has_room()) emit(h, EVENT_ERROR);
        else mark(h, kErrorEvent);
    }
    if (due & kWriteEvent) {
        // Owed again on drain; never after EVENT_ERROR (nothing will drain).
        if (!h.out.empty() || h.failed || !(h.interest & EVENT_WRITE)) return;
        if (has_room()) emit(h, EVENT_WRITE);
        else mark(h, kWriteEvent);
    }
}

int io_reactor_s::wait(io_event_t *events, int max_events, const timeval *tv) {
    int timeout_ms;
    if (!events || max_events <= 0) return fail(EINVAL);
    if (int error = timeout_to_ms(tv, timeout_ms)) return fail(error);
    out = events;
    out_count = 0;
    out_capacity = max_events;
    arena_used = 0;
    arena_ran_out = false;
    in_wait = true;
    while (!unclaimed_accepts.empty() && has_room()) {
        auto [listener, fd] = unclaimed_accepts.front();
        unclaimed_accepts.erase(unclaimed_accepts.begin());
        accepted(*listener, fd);
    }
    drain_ready();
    // Reads still owed for want of room, or a full array: polling now would
    // only hear again about sockets that are already on the ready list (and
    // an epoll_wait costs a poll of each). Hand these events over first, as
    // a hand-written loop works through one epoll_wait's batch.
    if (arena_ran_out || !has_room()) {
        in_wait = false;
        return out_count;
    }
    // Anything already owed means: look, but do not sleep.
    if (out_count > 0 || !ready.empty() || !unclaimed_accepts.empty()) timeout_ms = 0;
    int error = backend->poll(*this, timeout_ms);
    in_wait = false;
    return error ? fail(error) : out_count;
}

// ---- what the backend reports ------------------------------------------------

void io_reactor_s::readable(Handle &h) {
    if (h.removed) return;
    if (h.kind == HandleKind::listener) return accept_burst(h);
    if (!h.reading()) return;
    if (!h.stash.empty()) return mark(h, kStash | kRead);  // stashed bytes go first
    if (!has_room()) return mark(h, kRead);
    if (kArenaBytes - arena_used < kMinRead) {
        arena_ran_out = true;
        return mark(h, kRead);
    }
    read_stream(h);
}

void io_reactor_s::read_stream(Handle &h) {
    char *buf = arena.get() + arena_used;
    std::size_t room = allowance(h, std::min(kMaxRead, kArenaBytes - arena_used));
    int error = 0;
    long n = h.kind == HandleKind::console ? ior::sys::read_console(h.fd, buf, room, error)
                                            : ior::sys::recv(h.fd, buf, room, error);
    if (n > 0) {
        arena_used += static_cast<std::size_t>(n);
        emit(h, EVENT_READ, buf, static_cast<int>(n));
        consume_grant(h);
    } else if (n == 0) {
        end_reading(h);
        h.close_owed = true;
        report_close(h);
    } else if (!ior::sys::would_block(error)) {
        failed(h, error);
    }
}

void io_reactor_s::accept_burst(Handle &listener) {
    if (!listener.reading()) return;
    for (int i = 0; i < kAcceptBurst; ++i) {
        if (!has_room()) return mark(listener, kRead);
        int error = 0;
        socket_fd_t fd = ior::sys::accept(listener.fd, error);
        if (fd != ior::sys::invalid_socket()) {
            accepted(listener, fd);
            continue;
        }
        // EMFILE and friends are reported but do not end the listener: the
        // caller decides (close something, or pause it with modify).
        if (!ior::sys::would_block(error) && !ior::sys::interrupted(error)) {
            listener.error = error;
            emit(listener, EVENT_ERROR);
        }
        return;
    }
}

void io_reactor_s::accepted(Handle &listener, socket_fd_t fd) {
    if (listener.removed) return ior::sys::close_socket(fd);
    if (!has_room()) {
        unclaimed_accepts.emplace_back(&listener, fd);
        return;
    }
    emit(listener, EVENT_ACCEPT);
    out[out_count - 1].accepted_fd = fd;
}

void io_reactor_s::received(Handle &h, const char *data, std::size_t n) {
    // A completion still in flight when the handle failed: nothing follows
    // EVENT_ERROR, neither data nor EOF.
    if (h.removed || h.failed) return;
    if (n == 0) {
        end_reading(h);
        h.close_owed = true;
        return report_close(h);
    }
    // Paused, out of room, no grant, or older bytes waiting: keep order,
    // deliver later.
    if (!h.deliverable() || !has_room() || !h.stash.empty()) {
        h.stash.append(data, n);
        if (h.deliverable()) mark(h, kStash);
        return;
    }
    std::size_t now = allowance(h, n);
    emit(h, EVENT_READ, data, static_cast<int>(now));
    consume_grant(h);
    if (now < n) h.stash.append(data + now, n - now);  // waits for the next grant
}

// How much of `room` the next EVENT_READ may carry.
std::size_t io_reactor_s::allowance(const Handle &h, std::size_t room) const {
    return h.grant_mode ? std::min<std::size_t>(room, h.grant) : room;
}

// A grant is good for one EVENT_READ; reading stops until the next one.
void io_reactor_s::consume_grant(Handle &h) {
    if (!h.grant_mode) return;
    h.grant = 0;
    backend->update_reading(h);
}

// Stashed bytes are copied into the arena: the stash may grow again during
// this same wait, and the event's buffer must not move.
void io_reactor_s::deliver_stash(Handle &h) {
    if (!h.deliverable() || h.stash.empty()) return;
    std::size_t room = allowance(h, std::min(kMaxRead, kArenaBytes - arena_used));
    if (!has_room() || room == 0) return mark(h, kStash);
    std::size_t n = std::min(room, h.stash.size());
    char *buf = arena.get() + arena_used;
    std::memcpy(buf, h.stash.data(), n);
    arena_used += n;
    h.stash.erase(0, n);
    emit(h, EVENT_READ, buf, static_cast<int>(n));
    consume_grant(h);
    if (!h.stash.empty()) {
        if (h.deliverable()) mark(h, kStash);
        return;
    }
    if (h.stash.capacity() > kMinRead) h.stash.shrink_to_fit();
    report_close(h);
}

void io_reactor_s::end_reading(Handle &h) {
    if (h.read_ended) return;
    h.read_ended = true;
    backend->update_reading(h);
}

// EOF is reported once, after every byte before it, and not while paused
// (deliver_stash or modify brings it back).
void io_reactor_s::report_close(Handle &h) {
    if (!h.close_owed || !h.deliverable() || !h.stash.empty()) return;
    if (!has_room()) return mark(h, kCloseEvent);
    h.close_owed = false;
    emit(h, EVENT_CLOSE);
}

// Readiness mode: one event per report, the kernel's flags combined the way
// the original's poll reactor combined them. What finds no room in the
// caller's array is dropped: the backend reports it again (level-triggered).
void io_reactor_s::watched(Handle &h, unsigned what, int known_error) {
    if (h.removed || !has_room()) return;
    int type = 0;
    if ((what & ior::kReadyIn) && (h.interest & EVENT_READ)) type |= EVENT_READ;
    if ((what & ior::kReadyOut) && (h.interest & EVENT_WRITE)) type |= EVENT_WRITE;
    if (what & ior::kReadyErr) type |= EVENT_ERROR;
    // A hangup is a close only once nothing is left to read: a driver that
    // tears down on EVENT_CLOSE must not lose the last commands of a pipe.
    if ((what & ior::kReadyHup) && !(what & ior::kReadyIn)) type |= EVENT_CLOSE;
    if (!type) return;
    emit(h, type);
    if (type & EVENT_ERROR) {
        int error = known_error ? known_error : ior::sys::socket_error(h.fd);
        out[out_count - 1].error = error == 0 || error == ENOTSOCK ? EPIPE : error;
    }
}

// Readiness mode on Windows: the original's completion forms. A 0-byte
// read is the peer's orderly close, as the original's Windows reactor had it.
void io_reactor_s::completed(Handle &h, int type, void *buffer, std::size_t n, int error) {
    if (h.removed || !has_room()) return;  // the backend keeps it while the array is full
    if (error) {
        emit(h, EVENT_ERROR);
        out[out_count - 1].error = error;
        return;
    }
    if (type == EVENT_READ && n == 0) return emit(h, EVENT_CLOSE);
    emit(h, type, buffer, static_cast<int>(std::min<std::size_t>(n, INT_MAX)));
}

void io_reactor_s::writable(Handle &h) {
    h.write_armed = false;
    if (!h.removed) flush(h);
}

void io_reactor_s::sent(Handle &h, std::size_t n) {
    h.write_armed = false;
    bool had_output = !h.out.empty();
    h.out.pop(n);
    if (!h.removed) flush(h, had_output);
}

// Sends until the queue is empty or the kernel refuses. Returns 0, the
// send error, or kWouldBlock.
int io_reactor_s::send_queued(Handle &h) {
    // A small queue rides with the backend's batch; a larger one (a turn
    // that wrote more than one chunk) goes at once, or it would drain one
    // chunk per loop turn.
    if (backend->sends_itself() && h.out.size() <= kBatchedSendMax)
        return h.out.empty() || h.failed ? 0 : kWouldBlock;
    while (!h.out.empty() && !h.write_armed && !h.failed) {
        int error = 0;
        long n = ior::sys::send(h.fd, h.out.front_data(), h.out.front_size(), error);
        if (n <= 0) return n == 0 || ior::sys::would_block(error) ? kWouldBlock : error;
        h.out.pop(static_cast<std::size_t>(n));
    }
    return 0;
}

// had_output: whether the queue held bytes before this round (a completed
// send may just have emptied it), so its draining is reported.
void io_reactor_s::flush(Handle &h, bool had_output) {
    had_output = had_output || !h.out.empty();
    int error = send_queued(h);
    if (error == kWouldBlock) error = backend->arm_write(h);
    if (error) failed(h, error);
    if (had_output && h.out.empty() && !h.failed && (h.interest & EVENT_WRITE))
        serve(h, kWriteEvent);
}

// The output queue is kept until the handle is freed: a send in flight may
// still read its front chunk. Nothing more is sent (flush checks h.failed).
void io_reactor_s::failed(Handle &h, int error) {
    if (h.removed || h.failed) return;
    h.failed = true;
    h.close_owed = false;
    h.error = error ? error : EIO;
    h.stash.clear();
    end_reading(h);
    serve(h, kErrorEvent);
}

// ---- the C API -------------------------------------------------------------------

namespace {

io_reactor_t *create(const io_reactor_config_t *config) {
    io_reactor_config_t defaults{};
    if (!config) config = &defaults;
    ior::BackendOptions opts;
    if (config->max_events < 0 || config->pool_size < 0) return fail_with(EINVAL), nullptr;
    if (config->mode != IO_REACTOR_MODE_NATIVE && config->mode != IO_REACTOR_MODE_READINESS)
        return fail_with(EINVAL), nullptr;
    if (config->max_events) opts.max_events = config->max_events;
    if (config->pool_size) opts.pool_size = config->pool_size;
    const char *name = config->backend;
    if (!name || std::strcmp(name, "auto") == 0) {
        const char *forced = std::getenv("IO_REACTOR_BACKEND");
        name = forced && *forced ? forced : "auto";
    }
    if (int error = ior::sys::startup()) return fail_with(error), nullptr;
    auto reactor = std::unique_ptr<io_reactor_s>(new (std::nothrow) io_reactor_s);
    int error = ENOMEM;
    if (reactor) reactor->backend = ior::make_backend(name, opts, error);
    if (!reactor) ior::sys::cleanup();
    if (!reactor || !reactor->backend) return fail_with(error), nullptr;
    reactor->readiness = config->mode == IO_REACTOR_MODE_READINESS;
    if (reactor->readiness && !reactor->backend->can_watch()) return fail_with(ENOSYS), nullptr;
    reactor->trace_fn = config->trace;
    reactor->trace_user = config->trace_user;
    reactor->trace("created, backend %s", reactor->backend->name());
    return reactor.release();
}

Handle *lookup(io_reactor_t *reactor, socket_fd_t fd) {
    if (!reactor) return fail_with(EINVAL), nullptr;
    Handle *h = reactor->find(fd);
    if (!h) reactor->fail(EBADF);
    return h;
}

}  // namespace

extern "C" {

io_reactor_t *io_reactor_create(void) { return create(nullptr); }

io_reactor_t *io_reactor_create_with(const io_reactor_config_t *config) { return create(config); }

io_reactor_t *io_reactor_create_readiness(void) {
    io_reactor_config_t config{};
    config.mode = IO_REACTOR_MODE_READINESS;
    return create(&config);
}

void io_reactor_destroy(io_reactor_t *reactor) { delete reactor; }

int io_reactor_add(io_reactor_t *reactor, socket_fd_t fd, void *context, int events) {
    if (!reactor) return fail_with(EINVAL);
    return reactor->add(fd, context, events,
                        reactor->readiness ? HandleKind::watched : HandleKind::stream);
}

int io_reactor_add_listener(io_reactor_t *reactor, socket_fd_t fd, void *context) {
    if (!reactor) return fail_with(EINVAL);
    return reactor->add(fd, context, EVENT_READ, HandleKind::listener);
}

int io_reactor_add_console(io_reactor_t *reactor, void *context) {
    if (!reactor) return fail_with(EINVAL);
    bool watched = reactor->readiness && reactor->backend->watches_console();
    return reactor->add(ior::sys::console_fd(), context, EVENT_READ,
                        watched ? HandleKind::watched : HandleKind::console);
}

socket_fd_t io_reactor_console_fd(void) { return ior::sys::console_fd(); }

int io_reactor_modify(io_reactor_t *reactor, socket_fd_t fd, int events) {
    Handle *h = lookup(reactor, fd);
    return h ? reactor->modify(*h, events) : -1;
}

// Native mode reports a remove of an unknown handle (-1, EBADF): in native
// code it is a double remove or a wrong fd, a bug worth seeing. Readiness
// mode returns 0, as the original does and as its drivers rely on.
int io_reactor_remove(io_reactor_t *reactor, socket_fd_t fd) {
    Handle *h = lookup(reactor, fd);
    if (h) return reactor->remove(*h);
    return reactor && reactor->readiness && fd != ior::sys::invalid_socket() ? 0 : -1;
}

int io_reactor_post_read(io_reactor_t *reactor, socket_fd_t fd, void *buffer, size_t len) {
    Handle *h = lookup(reactor, fd);
    return h ? reactor->post_read(*h, buffer, len) : -1;
}

int io_reactor_post_write(io_reactor_t *reactor, socket_fd_t fd, void *buffer, size_t len) {
    Handle *h = lookup(reactor, fd);
    return h ? reactor->post_write(*h, static_cast<const char *>(buffer), len) : -1;
}

size_t io_reactor_queued_bytes(io_reactor_t *reactor, socket_fd_t fd) {
    Handle *h = lookup(reactor, fd);
    return h ? h->out.size() : 0;
}

int io_reactor_wait(io_reactor_t *reactor, io_event_t *events, int max_events,
                    struct timeval *timeout) {
    if (!reactor) return fail_with(EINVAL);
    return reactor->wait(events, max_events, timeout);
}

int io_reactor_wakeup(io_reactor_t *reactor) {
    if (!reactor) return fail_with(EINVAL);
    int error = reactor->backend->wake();
    return error ? fail_with(error) : 0;  // no shared last_error: any thread may call
}

const char *io_reactor_backend_name(const io_reactor_t *reactor) {
    return reactor ? reactor->backend->name() : nullptr;
}

const char *const *io_reactor_backends(void) { return ior::backend_names(); }

int io_reactor_last_error(const io_reactor_t *reactor) {
    return reactor ? reactor->last_error : g_last_error;
}

const char *io_reactor_strerror(int error) {
    switch (error) {
    case IO_REACTOR_ELISTENER:
        return "io_reactor_add: a listening socket; use io_reactor_add_listener "
               "(or a readiness-mode reactor)";
    case IO_REACTOR_ENOTSOCKET:
        return "io_reactor_add: not a socket; use io_reactor_add_console for stdin "
               "(or a readiness-mode reactor)";
    default:
        return ior::sys::strerror(error);
    }
}

int io_reactor_get_stats(const io_reactor_t *reactor, io_reactor_stats_t *stats) {
    if (!reactor || !stats) return fail_with(EINVAL);
    *stats = io_reactor_stats_t{};
    stats->handles = reactor->handles.size();
    // Per handle: the Handle and the allocator's header on it; then the
    // table that finds them.
    constexpr std::size_t kPerHandle = sizeof(Handle) + 16;
    stats->state_bytes = stats->handles * kPerHandle + reactor->handles.bytes();
    reactor->handles.for_each([&](const Handle *h) {
        stats->queued_bytes += h->out.size();
        stats->state_bytes += h->stash.capacity();
    });
    reactor->backend->add_stats(*stats);
    return 0;
}

}  // extern "C"
