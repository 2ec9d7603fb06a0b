// IOCP backend (Windows): completion ports, done as libuv does them.
//
//  - Idle sockets have one zero-byte WSARecv posted: it completes when data
//    (or EOF, or a reset) is there and pins no buffer. Its completion is
//    reported as readable(); the core then recv()s into its own buffer.
//  - Writes the socket refused inline go out as one overlapped WSASend of
//    the front chunk of h.out, whose bytes never move while it is in flight.
//  - Listeners keep kAcceptsPosted AcceptEx calls posted.
//  - The console (or a redirected stdin) is read by a thread that posts
//    what it read into the port.
//  - Watched sockets (readiness mode) have one AFD poll posted, as WSAPoll,
//    libuv and wepoll do it: IOCTL_AFD_POLL sent through a \Device\Afd
//    handle tied to the port, completing when the socket is readable (or a
//    connection is pending), writable, or hung up. No 64-handle limit (that
//    is WSAEventSelect's), no thread, and works under wine 8 as on Windows.
//    Re-posted at the next poll, so readiness not acted upon is reported
//    again: level-triggered, as on epoll. The original's Windows forms,
//    post_read into the caller's buffer and post_write, are overlapped
//    WSARecv/WSASend on the caller's socket, tied to the port at the first.
//
// Every socket completion finds its state through the OVERLAPPED's container
// (Op), which names the Handle; the completion key only says what kind of
// packet it is. An Op pins its Handle while the kernel owns the Op, so a
// removed handle lives until its last completion is dequeued and swallowed.
// An Op is freed or pooled only after its completion has been dequeued.
#include "backend.h"
#include "sys.h"

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>
#include <winternl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <new>
#include <unordered_set>
#include <vector>

namespace ior {

// Process-wide count of operation contexts not yet freed; a Windows-only
// test reads it to prove that destroy frees nothing the kernel still owns
// and leaks nothing either.
std::atomic<long> iocp_contexts_alive{0};

namespace {

// What a dequeued packet is. Socket packets carry an Op.
constexpr ULONG_PTR kSocketKey = 1;      // every associated socket's key
constexpr ULONG_PTR kPostFailedKey = 2;  // a call failed at once; the byte count is its error
constexpr ULONG_PTR kWakeKey = 3;
constexpr ULONG_PTR kConsoleKey = 4;

constexpr int kAcceptsPosted = 6;
// AcceptEx wants room for each address plus 16 bytes.
constexpr DWORD kAcceptAddressLen = sizeof(SOCKADDR_STORAGE) + 16;
constexpr DWORD kDestroyDrainMs = 5000;

enum class OpKind : std::uint8_t { read, write, accept, poll, caller_read, caller_write };

// One overlapped operation. A zero-byte read is a bare Op, kept as small as
// it goes: every idle connection has one posted.
struct Op {
    OVERLAPPED ov;  // first: CONTAINING_RECORD finds the Op from it
    union {
        Handle *handle;  // while posted: pinned, so never dangling
        Op *next_free;   // while pooled
    };
    OpKind kind;
};

// Sends and accepts, few at any time, are listed so that the destructor can
// cancel them. Reads need no list: detach cancels a handle's read, and the
// core detaches every handle before it destroys the backend.
struct ListedOp : Op {
    ListedOp *prev, *next;
};

struct AcceptOp : ListedOp {
    SOCKET accepted;
    char addresses[2 * kAcceptAddressLen];
};

// IOCTL_AFD_POLL's argument, as the AFD driver (and wine's) lays it out.
constexpr ULONG kIoctlAfdPoll = 0x00012024;
enum : ULONG {
    kAfdReceive = 0x1, kAfdSend = 0x4, kAfdDisconnect = 0x8, kAfdAbort = 0x10,
    kAfdLocalClose = 0x20, kAfdAccept = 0x80, kAfdConnectFail = 0x100,
};
struct AfdPollInfo {
    LARGE_INTEGER timeout;
    ULONG count;
    ULONG exclusive;
    struct { HANDLE socket; ULONG events; LONG status; } handle;
};
struct PollOp : ListedOp {
    AfdPollInfo info;
};

// A watched socket's post_read (into the caller's buffer) or post_write (a
// copy of the caller's bytes, so the caller's buffer is free at once).
// The kernel reads from and writes into `copy`, never the caller's buffer:
// a read cancelled by remove may still complete into it, after the caller
// has freed its own. A read's bytes are copied out only when delivered.
struct CallerOp : ListedOp {
    void *buffer;
    std::unique_ptr<char[]> copy;
};
bool is_caller_op(const Op &op) { return op.kind == OpKind::caller_read || op.kind == OpKind::caller_write; }

// Handle::backend_index of a watched socket:
//   bits 0-7    the readiness mask its posted poll watches
//   bits 8-15   caller reads posted (their readiness is not watched meanwhile)
//   bit 16      tied to the port (by its first post_read or post_write)
unsigned polled_mask(const Handle &h) { return h.backend_index & 0xff; }
int caller_reads(const Handle &h) { return (h.backend_index >> 8) & 0xff; }
void add_caller_reads(Handle &h, int delta) {
    std::uint32_t n = static_cast<std::uint32_t>(caller_reads(h) + delta) & 0xff;
    h.backend_index = (h.backend_index & ~0xff00u) | (n << 8);
}
constexpr std::uint32_t kTiedToPort = 1u << 16;

// A caller with a read posted gets its bytes by completion, not readiness.
unsigned watch_mask(const Handle &h) {
    unsigned mask = readiness_mask(h);
    return caller_reads(h) ? mask & ~kWantRead : mask;
}

// What the AFD flags say, in the Sink's terms.
unsigned afd_ready(ULONG events) {
    unsigned what = 0;
    if (events & (kAfdReceive | kAfdAccept)) what |= kReadyIn;
    if (events & kAfdSend) what |= kReadyOut;
    if (events & kAfdDisconnect) what |= kReadyIn | kReadyHup;  // recv() tells EOF, as on POSIX
    if (events & (kAfdAbort | kAfdConnectFail)) what |= kReadyErr | kReadyHup;
    if (events & kAfdLocalClose) what |= kReadyHup;
    return what;
}
ULONG afd_events(unsigned mask) {
    ULONG events = kAfdAbort | kAfdConnectFail | kAfdLocalClose;
    if (mask & kWantRead) events |= kAfdReceive | kAfdAccept | kAfdDisconnect;
    if (mask & kWantWrite) events |= kAfdSend;
    return events;
}

using NtCreateFileFn = NTSTATUS(NTAPI *)(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, PIO_STATUS_BLOCK,
                                         PLARGE_INTEGER, ULONG, ULONG, ULONG, ULONG, PVOID, ULONG);
using NtDeviceIoControlFileFn = NTSTATUS(NTAPI *)(HANDLE, HANDLE, PVOID, PVOID, PIO_STATUS_BLOCK, ULONG,
                                                  PVOID, ULONG, PVOID, ULONG);
using RtlNtStatusToDosErrorFn = ULONG(NTAPI *)(NTSTATUS);
constexpr LONG kStatusPending = 0x103;
constexpr LONG kStatusCancelled = static_cast<LONG>(0xC0000120);

// The allocator's header on each Op, counted in state_bytes as core.cpp
// counts it on each Handle.
constexpr std::size_t kAllocHeader = 16;

// Idle Ops of one size, for reuse.
struct FreeList {
    Op *head = nullptr;
    std::size_t count = 0;
};

// Handle::backend_data of a stream: its posted zero-byte read, if any.
Op *read_op(const Handle &h) { return static_cast<Op *>(h.backend_data); }
bool read_posted(const Handle &h) { return h.backend_data != nullptr; }

// Handle::backend_index of a listener:
//   bits 8-15   AcceptEx calls posted
//   bits 16-31  the listener's address family
int accepts_posted(const Handle &h) { return (h.backend_index >> 8) & 0xff; }
void add_accepts_posted(Handle &h, int delta) {
    std::uint32_t n = static_cast<std::uint32_t>(accepts_posted(h) + delta) & 0xff;
    h.backend_index = (h.backend_index & ~0xff00u) | (n << 8);
}
int listener_family(const Handle &h) { return static_cast<int>(h.backend_index >> 16); }
void set_listener_family(Handle &h, int family) {
    h.backend_index = (h.backend_index & 0xffffu) | (static_cast<std::uint32_t>(family) << 16);
}

bool is_aborted(int error) { return error == ERROR_OPERATION_ABORTED || error == WSA_OPERATION_ABORTED; }

// Failures of one incoming connection, not of the listener: skip it.
bool is_connection_error(int error) {
    return error == WSAECONNRESET || error == WSAECONNABORTED || error == ERROR_NETNAME_DELETED ||
           error == ERROR_CONNECTION_ABORTED;
}

// ---- console reader ---------------------------------------------------------
// Console handles do no overlapped I/O (nor, mostly, does a redirected stdin
// pipe), so a thread does a blocking ReadFile and posts what it read. The
// buffer changes hands by handshake: the reader fills it only after `go`,
// which the backend sets once the previous data was delivered and the poll
// after that has begun (the core's event points into the buffer till then).
// Shared by thread and backend; whoever lets go last frees it.
struct ConsoleReader {
    HANDLE port = nullptr;
    HANDLE input = nullptr;
    HANDLE go = nullptr;  // auto-reset
    HANDLE thread = nullptr;
    CRITICAL_SECTION lock;
    bool stopping = false;  // under lock: the port may be closed, post nothing
    LONG refs = 2;
    DWORD bytes = 0;
    int error = 0;
    char buffer[4096];

    ConsoleReader() { InitializeCriticalSection(&lock); }
    ~ConsoleReader() {
        if (go) CloseHandle(go);
        if (thread) CloseHandle(thread);
        DeleteCriticalSection(&lock);
    }
    void unref() {
        if (InterlockedDecrement(&refs) == 0) delete this;
    }
    bool stopped() {
        EnterCriticalSection(&lock);
        bool stop = stopping;
        LeaveCriticalSection(&lock);
        return stop;
    }
};

// End of input is 0 bytes (a file, Ctrl-Z) or a broken pipe (writer gone).
void read_console_once(ConsoleReader &r, DWORD &bytes, int &error) {
    bytes = 0;
    error = 0;
    if (!ReadFile(r.input, r.buffer, sizeof r.buffer, &bytes, nullptr)) {
        DWORD failure = GetLastError();
        bytes = 0;
        if (failure != ERROR_BROKEN_PIPE && failure != ERROR_HANDLE_EOF) error = static_cast<int>(failure);
    }
}

DWORD WINAPI console_reader_main(void *arg) {
    auto *r = static_cast<ConsoleReader *>(arg);
    for (;;) {
        WaitForSingleObject(r->go, INFINITE);
        if (r->stopped()) break;
        DWORD bytes;
        int error;
        read_console_once(*r, bytes, error);
        EnterCriticalSection(&r->lock);
        bool stop = r->stopping;
        if (!stop) {
            r->bytes = bytes;
            r->error = error;
            PostQueuedCompletionStatus(r->port, bytes, kConsoleKey, nullptr);
        }
        LeaveCriticalSection(&r->lock);
        if (stop || bytes == 0) break;
    }
    r->unref();
    return 0;
}

// ---- the backend --------------------------------------------------------------
class IocpBackend final : public Backend {
public:
    IocpBackend(HANDLE port, const BackendOptions &opts)
        : port_(port),
          pool_limit_(static_cast<std::size_t>(std::max(opts.pool_size, 0))),
          entries_(static_cast<std::size_t>(std::max(opts.max_events, 1))) {}
    ~IocpBackend() override;

    const char *name() const override { return "iocp"; }
    int attach(Handle &h) override;
    int update_reading(Handle &h) override;
    int arm_write(Handle &h) override;
    void detach(Handle &h) override;
    int poll(Sink &sink, int timeout_ms) override;
    int wake() override;
    void add_stats(io_reactor_stats_t &stats) const override;
    bool can_watch() const override { return true; }
    // Stdin is no socket for AFD to poll: the reader thread serves it in both
    // modes, bytes in the event, as the original's Windows reactor did.
    bool watches_console() const override { return false; }
    bool caller_io_completes() const override { return true; }
    int post_caller_io(Handle &h, bool write, void *buffer, std::size_t len) override;

private:
    enum class ConsoleState { idle, reading, ready, delivered, ended };

    int associate(socket_fd_t fd);
    int attach_listener(Handle &h);
    int post_read(Handle &h);
    int post_accept(Handle &h);
    int top_up_accepts(Handle &h);
    void start(Op *op, Handle &h, OpKind kind);
    int posted(Op *op, int error);
    void finished(Op *op);
    int op_error(const Op &op, const OVERLAPPED_ENTRY &entry);

    bool dispatch(Sink &sink, const OVERLAPPED_ENTRY &entry);
    bool read_done(Sink &sink, Handle &h, int error);
    bool write_done(Sink &sink, Handle &h, int error, DWORD bytes);
    bool accept_done(Sink &sink, Handle &h, AcceptOp &op, int error);
    void rearm_reads(Sink &sink);

    int open_afd();
    int attach_watched(Handle &h);
    int update_watched(Handle &h);
    int post_poll(Handle &h);
    bool poll_done(Sink &sink, Handle &h, PollOp &op, int error);
    bool caller_done(Sink &sink, Handle &h, CallerOp &op, int error, DWORD bytes);

    int attach_console(Handle &h);
    void kick_console();
    bool settle_console(Sink &sink);
    bool deliver_console(Sink &sink);
    void stop_console();

    Op *acquire(FreeList &pool, std::size_t &allocated, bool listed);
    void release_op(Op *op);
    void keep_or_free(FreeList &pool, std::size_t &allocated, Op *op);
    void cancel_and_drain();
    void drop_pin(Handle &h);

    HANDLE port_;
    std::atomic<bool> wake_posted_{false};
    LPFN_ACCEPTEX accept_ex_ = nullptr;

    std::size_t in_kernel_ = 0;   // Ops posted and not yet dequeued
    ListedOp *listed_ = nullptr;  // the posted sends and accepts
    FreeList read_pool_, send_pool_;
    std::size_t pool_limit_;      // over both pools
    std::size_t read_ops_ = 0;    // allocated, posted or pooled
    std::size_t send_ops_ = 0;
    std::size_t accept_ops_ = 0;  // never pooled: they own a socket each
    std::size_t poll_ops_ = 0;    // never pooled: few, readiness mode only
    std::size_t caller_ops_ = 0;  // never pooled: readiness mode on Windows only

    HANDLE afd_ = nullptr;        // \Device\Afd, opened at the first watched socket
    NtDeviceIoControlFileFn device_io_control_ = nullptr;
    RtlNtStatusToDosErrorFn status_to_error_ = nullptr;

    std::vector<OVERLAPPED_ENTRY> entries_;
    // Streams reported readable, each pinned once: their zero-byte read is
    // posted again at the start of the next poll, after the core has read
    // (a read it deferred for lack of room happens before that poll).
    std::vector<Handle *> rearm_, rearm_batch_;
    std::vector<Handle *> repoll_first_;  // watched, reported to a full array
    Sink *sink_ = nullptr;  // the core; the destructor releases through it
    // A socket stays tied to its port until closed; these were ours before
    // and may be added again.
    std::unordered_set<socket_fd_t> detached_;

    ConsoleReader *console_ = nullptr;
    Handle *console_handle_ = nullptr;
    ConsoleState console_state_ = ConsoleState::idle;
};

// ---- operation contexts -------------------------------------------------------

Op *IocpBackend::acquire(FreeList &pool, std::size_t &allocated, bool listed) {
    if (Op *op = pool.head) {
        pool.head = op->next_free;
        --pool.count;
        return op;
    }
    Op *op = listed ? new (std::nothrow) ListedOp : new (std::nothrow) Op;
    if (!op) return nullptr;
    ++allocated;
    ++iocp_contexts_alive;
    return op;
}

void IocpBackend::keep_or_free(FreeList &pool, std::size_t &allocated, Op *op) {
    if (read_pool_.count + send_pool_.count < pool_limit_) {
        op->next_free = pool.head;
        pool.head = op;
        ++pool.count;
        return;
    }
    if (op->kind == OpKind::read)
        delete op;
    else
        delete static_cast<ListedOp *>(op);
    --allocated;
    --iocp_contexts_alive;
}

void IocpBackend::release_op(Op *op) {
    switch (op->kind) {
    case OpKind::read: return keep_or_free(read_pool_, read_ops_, op);
    case OpKind::write: return keep_or_free(send_pool_, send_ops_, op);
    case OpKind::accept:
        delete static_cast<AcceptOp *>(op);
        --accept_ops_;
        --iocp_contexts_alive;
        return;
    case OpKind::poll:
        delete static_cast<PollOp *>(op);
        --poll_ops_;
        --iocp_contexts_alive;
        return;
    case OpKind::caller_read:
    case OpKind::caller_write:
        delete static_cast<CallerOp *>(op);
        --caller_ops_;
        --iocp_contexts_alive;
        return;
    }
}

// Hands op to the kernel on h's behalf: pinned (and listed) until dequeued.
void IocpBackend::start(Op *op, Handle &h, OpKind kind) {
    ZeroMemory(&op->ov, sizeof op->ov);
    op->handle = &h;
    op->kind = kind;
    ++h.pins;
    ++in_kernel_;
    if (kind == OpKind::read) return;
    auto *listed = static_cast<ListedOp *>(op);
    listed->prev = nullptr;
    listed->next = listed_;
    if (listed_) listed_->prev = listed;
    listed_ = listed;
}

// Its completion was dequeued: the Op is ours again (its handle still pinned).
void IocpBackend::finished(Op *op) {
    --in_kernel_;
    if (op->handle->backend_data == op) op->handle->backend_data = nullptr;  // a read's or a poll's
    if (op->kind == OpKind::read) return;
    auto *listed = static_cast<ListedOp *>(op);
    (listed->prev ? listed->prev->next : listed_) = listed->next;
    if (listed->next) listed->next->prev = listed->prev;
}

// A call that failed at once queues no packet. Post one ourselves so the
// failure takes the same road as any completion (and the same pin release).
int IocpBackend::posted(Op *op, int error) {
    if (error == 0 || error == WSA_IO_PENDING) return 0;
    if (PostQueuedCompletionStatus(port_, static_cast<DWORD>(error), kPostFailedKey, &op->ov)) return 0;
    int failure = static_cast<int>(GetLastError());
    finished(op);
    --op->handle->pins;
    release_op(op);
    return failure;
}

// The Winsock code of a finished operation (0: success).
int IocpBackend::op_error(const Op &op, const OVERLAPPED_ENTRY &entry) {
    if (entry.lpCompletionKey == kPostFailedKey) return static_cast<int>(entry.dwNumberOfBytesTransferred);
    if (op.ov.Internal == 0) return 0;  // STATUS_SUCCESS
    if (op.kind == OpKind::poll) {      // an NTSTATUS from the AFD handle, not the socket
        auto status = static_cast<LONG>(op.ov.Internal);
        return status == kStatusCancelled ? ERROR_OPERATION_ABORTED : static_cast<int>(status_to_error_(status));
    }
    DWORD bytes = 0, flags = 0;
    auto *ov = const_cast<OVERLAPPED *>(&op.ov);
    if (WSAGetOverlappedResult(op.handle->fd, ov, &bytes, FALSE, &flags)) return 0;
    return WSAGetLastError();
}

// ---- attach / detach ----------------------------------------------------------

int IocpBackend::associate(socket_fd_t fd) {
    if (CreateIoCompletionPort(reinterpret_cast<HANDLE>(fd), port_, kSocketKey, 0)) {
        detached_.erase(fd);
        return 0;
    }
    int error = static_cast<int>(GetLastError());
    // Removed earlier and added again: still tied to this port, which is fine.
    if (error == ERROR_INVALID_PARAMETER && detached_.erase(fd)) return 0;
    return error;
}

int IocpBackend::attach(Handle &h) {
    h.backend_index = 0;
    h.backend_data = nullptr;
    if (h.kind == HandleKind::console) return attach_console(h);
    if (h.kind == HandleKind::watched) return attach_watched(h);
    if (int error = associate(h.fd)) return error;
    int error = h.kind == HandleKind::listener ? attach_listener(h) : h.reading() ? post_read(h) : 0;
    if (error) detached_.insert(h.fd);  // tied to the port now: a retry must be let in
    return error;
}

int IocpBackend::attach_listener(Handle &h) {
    SOCKADDR_STORAGE address{};
    int len = sizeof address;
    if (getsockname(h.fd, reinterpret_cast<sockaddr *>(&address), &len) == SOCKET_ERROR)
        return WSAGetLastError();
    set_listener_family(h, address.ss_family);
    if (!accept_ex_) {
        GUID guid = WSAID_ACCEPTEX;
        DWORD bytes = 0;
        if (WSAIoctl(h.fd, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof guid, &accept_ex_,
                     sizeof accept_ex_, &bytes, nullptr, nullptr) == SOCKET_ERROR)
            return WSAGetLastError();
    }
    return top_up_accepts(h);
}

void IocpBackend::detach(Handle &h) {
    if (h.kind == HandleKind::console) {
        console_handle_ = nullptr;  // a later read waits in the reader for a re-add
        return;
    }
    // CancelIoEx, not CancelIo: it cancels what any thread posted. The
    // aborted completions still come; unpin() swallows them. A send in
    // flight is left to finish: it carries what the caller wrote before
    // removing (a farewell), as core.cpp's remove() intends.
    auto *socket = reinterpret_cast<HANDLE>(h.fd);
    if (h.kind == HandleKind::watched) {
        if (Op *op = read_op(h)) CancelIoEx(afd_, &op->ov);
        // Posted caller reads and writes, if any (else harmless); the
        // socket may be tied to the port by them, so it is remembered.
        CancelIoEx(socket, nullptr);
        detached_.insert(h.fd);
        return;
    }
    if (h.kind == HandleKind::listener)
        CancelIoEx(socket, nullptr);
    else if (Op *op = read_op(h))
        CancelIoEx(socket, &op->ov);
    detached_.insert(h.fd);
}

int IocpBackend::update_reading(Handle &h) {
    switch (h.kind) {
    case HandleKind::console:
        kick_console();
        return 0;
    case HandleKind::listener:
        // Paused: posted accepts are taken back. Connections wait in the
        // listen backlog; one an accept already took is still delivered.
        if (!h.reading() && accepts_posted(h) > 0) CancelIoEx(reinterpret_cast<HANDLE>(h.fd), nullptr);
        return top_up_accepts(h);
    case HandleKind::watched:
        return update_watched(h);
    case HandleKind::stream:
        // Pausing leaves a posted zero-byte read alone: it consumes nothing,
        // and its completion is dropped while paused.
        return h.reading() && !read_posted(h) ? post_read(h) : 0;
    }
    return 0;
}

// ---- posting ------------------------------------------------------------------

int IocpBackend::post_read(Handle &h) {
    Op *op = acquire(read_pool_, read_ops_, false);
    if (!op) return ENOMEM;
    start(op, h, OpKind::read);
    h.backend_data = op;
    WSABUF none{0, nullptr};
    DWORD flags = 0;
    int error = 0;
    if (WSARecv(h.fd, &none, 1, nullptr, &flags, &op->ov, nullptr) == SOCKET_ERROR)
        error = WSAGetLastError();
    return posted(op, error);
}

int IocpBackend::arm_write(Handle &h) {
    if (h.write_armed || h.out.empty()) return 0;
    Op *op = acquire(send_pool_, send_ops_, true);
    if (!op) return ENOMEM;
    start(op, h, OpKind::write);
    h.write_armed = true;
    // The bytes stay put in h.out's front chunk until sent() pops them.
    std::size_t size = std::min<std::size_t>(h.out.front_size(), ULONG_MAX);
    WSABUF buf{static_cast<ULONG>(size), const_cast<char *>(h.out.front_data())};
    int error = 0;
    if (WSASend(h.fd, &buf, 1, nullptr, 0, &op->ov, nullptr) == SOCKET_ERROR) error = WSAGetLastError();
    int failure = posted(op, error);
    if (failure) h.write_armed = false;
    return failure;
}

int IocpBackend::post_accept(Handle &h) {
    SOCKET s = WSASocketW(listener_family(h), SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
    if (s == INVALID_SOCKET) return WSAGetLastError();
    auto *op = new (std::nothrow) AcceptOp;
    if (!op) {
        closesocket(s);
        return ENOMEM;
    }
    ++accept_ops_;
    ++iocp_contexts_alive;
    op->accepted = s;
    start(op, h, OpKind::accept);
    add_accepts_posted(h, 1);
    DWORD bytes = 0;
    int error = 0;
    if (!accept_ex_(h.fd, s, op->addresses, 0, kAcceptAddressLen, kAcceptAddressLen, &bytes, &op->ov))
        error = WSAGetLastError();
    int failure = posted(op, error);
    if (failure) {
        add_accepts_posted(h, -1);
        closesocket(s);  // op itself was released by posted()
    }
    return failure;
}

int IocpBackend::top_up_accepts(Handle &h) {
    while (h.reading() && accepts_posted(h) < kAcceptsPosted) {
        if (int error = post_accept(h)) return accepts_posted(h) > 0 ? 0 : error;
    }
    return 0;
}

// ---- completions --------------------------------------------------------------

// Returns whether the sink heard anything (so poll need not wait on).
bool IocpBackend::dispatch(Sink &sink, const OVERLAPPED_ENTRY &entry) {
    sink_ = &sink;
    if (entry.lpCompletionKey == kWakeKey) {
        wake_posted_.store(false);
        return true;
    }
    if (entry.lpCompletionKey == kConsoleKey) {
        console_state_ = ConsoleState::ready;
        return deliver_console(sink);
    }
    Op *op = CONTAINING_RECORD(entry.lpOverlapped, Op, ov);
    // A caller's completion is one event that must not be lost: with the
    // caller's array full it goes back to the port for the next wait.
    if (is_caller_op(*op) && !op->handle->removed && !sink.has_room() &&
        PostQueuedCompletionStatus(port_, entry.dwNumberOfBytesTransferred, entry.lpCompletionKey, &op->ov))
        return false;
    finished(op);
    Handle &h = *op->handle;
    bool heard = false;
    if (unpin(sink, h)) {  // after this, h may be gone
        int error = op_error(*op, entry);
        DWORD bytes = error ? 0 : entry.dwNumberOfBytesTransferred;
        switch (op->kind) {
        case OpKind::read: heard = read_done(sink, h, error); break;
        case OpKind::write: heard = write_done(sink, h, error, bytes); break;
        case OpKind::accept: heard = accept_done(sink, h, *static_cast<AcceptOp *>(op), error); break;
        case OpKind::poll: heard = poll_done(sink, h, *static_cast<PollOp *>(op), error); break;
        case OpKind::caller_read:
        case OpKind::caller_write: heard = caller_done(sink, h, *static_cast<CallerOp *>(op), error, bytes); break;
        }
    } else if (op->kind == OpKind::accept) {
        // The listener is gone; so is any connection this accept took.
        closesocket(static_cast<AcceptOp *>(op)->accepted);
    }
    release_op(op);
    return heard;
}

bool IocpBackend::read_done(Sink &sink, Handle &h, int error) {
    if (error && !is_aborted(error)) {
        sink.failed(h, error);
        return true;
    }
    if (!h.reading()) return false;  // paused: update_reading posts on resume
    if (!error) sink.readable(h);     // data, EOF or a reset: the core's recv() tells which
    if (h.reading() && !read_posted(h)) {
        ++h.pins;
        rearm_.push_back(&h);
    }
    return !error;
}

void IocpBackend::rearm_reads(Sink &sink) {
    // Watched handles whose readiness found no room in the caller's array
    // go first, so that even a one-event array serves every ready handle
    // in turn (packets come in the order the polls were posted).
    rearm_batch_.swap(repoll_first_);  // all keep their capacity across polls
    rearm_batch_.insert(rearm_batch_.end(), rearm_.begin(), rearm_.end());
    rearm_.clear();
    for (Handle *h : rearm_batch_) {
        if (!unpin(sink, *h)) continue;
        int failure = 0;
        if (h->kind == HandleKind::watched)
            failure = update_watched(*h);
        else if (h->reading() && !read_posted(*h))
            failure = post_read(*h);
        if (failure) sink.failed(*h, failure);
    }
    rearm_batch_.clear();
}

bool IocpBackend::write_done(Sink &sink, Handle &h, int error, DWORD bytes) {
    if (error) {
        sink.sent(h, 0);  // the interface's spelling of a failed send
        sink.failed(h, error);
    } else {
        sink.sent(h, bytes);  // a zero-byte completion is not a close
    }
    return true;
}

bool IocpBackend::accept_done(Sink &sink, Handle &h, AcceptOp &op, int error) {
    add_accepts_posted(h, -1);
    bool heard = false;
    SOCKET s = op.accepted;
    if (!error) {
        // Until SO_UPDATE_ACCEPT_CONTEXT the new socket knows nothing of its
        // listener: getpeername, shutdown and friends fail on it.
        SOCKET listener = h.fd;
        if (setsockopt(s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, reinterpret_cast<char *>(&listener),
                       sizeof listener) == SOCKET_ERROR)
            error = WSAGetLastError();
        else
            error = sys::set_nonblocking(s);
    }
    if (!error) {
        sink.accepted(h, s);
        heard = true;
    } else {
        closesocket(s);
        if (!is_aborted(error) && !is_connection_error(error)) {
            sink.failed(h, error);
            return true;
        }
    }
    if (!h.removed && !h.failed) top_up_accepts(h);
    return heard;
}

// ---- watched sockets (readiness mode) ----------------------------------------------

// The AFD device, tied to the port: every poll goes through it, so the
// caller's sockets are never associated with the port (their I/O stays
// theirs, blocking or not).
int IocpBackend::open_afd() {
    if (afd_) return 0;
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    auto create = reinterpret_cast<NtCreateFileFn>(
        reinterpret_cast<void (*)()>(GetProcAddress(ntdll, "NtCreateFile")));
    device_io_control_ = reinterpret_cast<NtDeviceIoControlFileFn>(
        reinterpret_cast<void (*)()>(GetProcAddress(ntdll, "NtDeviceIoControlFile")));
    status_to_error_ = reinterpret_cast<RtlNtStatusToDosErrorFn>(
        reinterpret_cast<void (*)()>(GetProcAddress(ntdll, "RtlNtStatusToDosError")));
    if (!create || !device_io_control_ || !status_to_error_) return ERROR_PROC_NOT_FOUND;
    wchar_t path[] = L"\\Device\\Afd\\IoReactor";
    UNICODE_STRING name{static_cast<USHORT>(sizeof path - sizeof path[0]), static_cast<USHORT>(sizeof path), path};
    OBJECT_ATTRIBUTES attributes;
    InitializeObjectAttributes(&attributes, &name, 0, nullptr, nullptr);
    IO_STATUS_BLOCK status_block;
    HANDLE afd = nullptr;
    NTSTATUS status = create(&afd, SYNCHRONIZE, &attributes, &status_block, nullptr, 0,
                             FILE_SHARE_READ | FILE_SHARE_WRITE, FILE_OPEN, 0, nullptr, 0);
    if (status != 0) return static_cast<int>(status_to_error_(status));
    if (!CreateIoCompletionPort(afd, port_, kSocketKey, 0)) {
        int error = static_cast<int>(GetLastError());
        CloseHandle(afd);
        return error;
    }
    afd_ = afd;
    return 0;
}

int IocpBackend::attach_watched(Handle &h) {
    // AFD polls the base provider's socket; anything else is no socket.
    SOCKET base = INVALID_SOCKET;
    DWORD bytes = 0;
    if (WSAIoctl(h.fd, SIO_BASE_HANDLE, nullptr, 0, &base, sizeof base, &bytes, nullptr, nullptr) ==
        SOCKET_ERROR)
        return WSAGetLastError();
    if (int error = open_afd()) return error;
    return watch_mask(h) ? post_poll(h) : 0;
}

// A different mask needs a new poll: the posted one is cancelled and
// poll_done posts again for what is wanted then.
int IocpBackend::update_watched(Handle &h) {
    unsigned mask = watch_mask(h);
    if (Op *op = read_op(h)) {
        if (mask != polled_mask(h)) CancelIoEx(afd_, &op->ov);
        return 0;
    }
    return mask ? post_poll(h) : 0;
}

int IocpBackend::post_poll(Handle &h) {
    auto *op = new (std::nothrow) PollOp;
    if (!op) return ENOMEM;
    ++poll_ops_;
    ++iocp_contexts_alive;
    start(op, h, OpKind::poll);
    h.backend_data = op;
    h.backend_index = (h.backend_index & ~0xffu) | watch_mask(h);
    SOCKET base = h.fd;
    DWORD bytes = 0;
    WSAIoctl(h.fd, SIO_BASE_HANDLE, nullptr, 0, &base, sizeof base, &bytes, nullptr, nullptr);
    op->info = {};
    op->info.timeout.QuadPart = LLONG_MAX;
    op->info.count = 1;
    op->info.handle.socket = reinterpret_cast<HANDLE>(base);
    op->info.handle.events = afd_events(polled_mask(h));
    // The OVERLAPPED doubles as the IO_STATUS_BLOCK (same layout, as
    // GetOverlappedResult assumes), so the packet leads back to the Op.
    auto *status_block = reinterpret_cast<PIO_STATUS_BLOCK>(&op->ov);
    LONG status = device_io_control_(afd_, nullptr, nullptr, &op->ov, status_block, kIoctlAfdPoll,
                                     &op->info, sizeof op->info, &op->info, sizeof op->info);
    // Success or pending: a packet comes either way.
    int error = status == 0 || status == kStatusPending ? 0 : static_cast<int>(status_to_error_(status));
    return posted(op, error);
}

bool IocpBackend::poll_done(Sink &sink, Handle &h, PollOp &op, int error) {
    bool heard = false, dropped = false;
    if (error && !is_aborted(error)) {
        sink.failed(h, error);
        return true;
    }
    if (!error && op.info.count == 1) {
        unsigned what = afd_ready(op.info.handle.events);
        // With a caller read posted, its completion tells data, EOF and
        // errors (this poll may predate the read): only writability here.
        if (caller_reads(h)) what &= kReadyOut;
        if (what) {
            // Windows clears SO_ERROR after an abort: the flag names the error.
            bool reported = sink.has_room();
            sink.watched(h, what, op.info.handle.events & kAfdAbort ? WSAECONNRESET : 0);
            heard = true;
            dropped = !reported;
        }
    }
    // Level-triggered: polled again at the next wait, after the caller acted.
    if (watch_mask(h) && !read_posted(h)) {
        ++h.pins;
        (dropped ? repoll_first_ : rearm_).push_back(&h);
    }
    return heard;
}

// The original's Windows forms on a watched socket. The socket is tied to
// the port at the first (once per socket; associate() remembers re-adds).
int IocpBackend::post_caller_io(Handle &h, bool write, void *buffer, std::size_t len) {
    if (h.kind != HandleKind::watched) return EINVAL;
    if (!(h.backend_index & kTiedToPort)) {
        if (int error = associate(h.fd)) return error;
        h.backend_index |= kTiedToPort;
    }
    auto *op = new (std::nothrow) CallerOp;
    if (!op) return ENOMEM;
    ULONG size = static_cast<ULONG>(std::min<std::size_t>(len, INT_MAX));  // bytes_transferred is an int
    op->copy.reset(new (std::nothrow) char[size]);
    if (!op->copy) {
        delete op;
        return ENOMEM;
    }
    if (write) std::memcpy(op->copy.get(), buffer, size);
    op->buffer = buffer;
    ++caller_ops_;
    ++iocp_contexts_alive;
    start(op, h, write ? OpKind::caller_write : OpKind::caller_read);
    WSABUF buf{size, op->copy.get()};
    DWORD flags = 0;
    int result = write ? WSASend(h.fd, &buf, 1, nullptr, 0, &op->ov, nullptr)
                       : WSARecv(h.fd, &buf, 1, nullptr, &flags, &op->ov, nullptr);
    int failure = posted(op, result == SOCKET_ERROR ? WSAGetLastError() : 0);
    if (failure || write) return failure;
    add_caller_reads(h, 1);
    return update_watched(h);  // read readiness is the completion's now
}

bool IocpBackend::caller_done(Sink &sink, Handle &h, CallerOp &op, int error, DWORD bytes) {
    bool read = op.kind == OpKind::caller_read;
    if (read) {
        add_caller_reads(h, -1);
        // Read readiness is watched again from the next wait on, after the
        // caller had its chance to post the next read.
        if (!caller_reads(h) && readiness_mask(h)) {
            ++h.pins;
            rearm_.push_back(&h);
        }
    }
    if (is_aborted(error)) return false;
    if (read && bytes > 0) std::memcpy(op.buffer, op.copy.get(), bytes);
    sink.completed(h, read ? EVENT_READ : EVENT_WRITE, read ? op.buffer : nullptr, bytes, error);
    return true;
}

// ---- console ------------------------------------------------------------------

int IocpBackend::attach_console(Handle &h) {
    if (!console_) {
        auto *reader = new (std::nothrow) ConsoleReader;
        if (!reader) return ENOMEM;
        reader->port = port_;
        reader->input = GetStdHandle(STD_INPUT_HANDLE);
        reader->go = CreateEventW(nullptr, FALSE, FALSE, nullptr);
        if (!reader->go) {
            int error = static_cast<int>(GetLastError());
            delete reader;
            return error;
        }
        reader->thread = CreateThread(nullptr, 0, console_reader_main, reader, 0, nullptr);
        if (!reader->thread) {
            int error = static_cast<int>(GetLastError());
            delete reader;
            return error;
        }
        console_ = reader;
        console_state_ = ConsoleState::idle;
    }
    // After EOF the reader is gone; a re-added console hears EOF again.
    if (console_state_ == ConsoleState::ended) console_state_ = ConsoleState::ready;
    console_handle_ = &h;
    kick_console();
    return 0;
}

void IocpBackend::kick_console() {
    if (console_state_ != ConsoleState::idle || !console_handle_ || !console_handle_->reading()) return;
    console_state_ = ConsoleState::reading;
    SetEvent(console_->go);
}

bool IocpBackend::deliver_console(Sink &sink) {
    Handle *h = console_handle_;
    if (console_state_ != ConsoleState::ready || !h || !h->reading() || !sink.has_room()) return false;
    console_state_ = ConsoleState::delivered;
    if (console_->error)
        sink.failed(*h, console_->error);
    else
        sink.received(*h, console_->buffer, console_->bytes);
    return true;
}

// At the start of a poll the last delivered data is no longer referenced:
// the buffer goes back to the reader.
bool IocpBackend::settle_console(Sink &sink) {
    if (!console_) return false;
    if (console_state_ == ConsoleState::delivered) {
        bool finished = console_->bytes == 0;
        console_state_ = finished ? ConsoleState::ended : ConsoleState::idle;
        kick_console();
    }
    return deliver_console(sink);
}

void IocpBackend::stop_console() {
    if (!console_) return;
    EnterCriticalSection(&console_->lock);
    console_->stopping = true;
    LeaveCriticalSection(&console_->lock);
    SetEvent(console_->go);
    // A reader blocked in ReadFile on a console ignores everything but input;
    // it is left to exit on its own (it posts nothing after `stopping`).
    CancelSynchronousIo(console_->thread);
    WaitForSingleObject(console_->thread, 100);
    console_->unref();
    console_ = nullptr;
}

// ---- the wait -------------------------------------------------------------------

int IocpBackend::poll(Sink &sink, int timeout_ms) {
    sink_ = &sink;
    rearm_reads(sink);
    bool heard = settle_console(sink);
    ULONGLONG deadline = timeout_ms < 0 ? 0 : GetTickCount64() + static_cast<ULONGLONG>(timeout_ms);
    // Completions that tell the caller nothing (swallowed after remove,
    // dropped while paused) do not end the wait early; anything else does.
    // The core keeps what finds no room (stash, ready list), but no more
    // is dequeued once the caller's array is full.
    while (sink.has_room()) {
        DWORD wait = INFINITE;
        if (heard) {
            wait = 0;
        } else if (timeout_ms >= 0) {
            ULONGLONG now = GetTickCount64();
            wait = now >= deadline ? 0 : static_cast<DWORD>(deadline - now);
        }
        ULONG n = 0;
        if (!GetQueuedCompletionStatusEx(port_, entries_.data(), static_cast<ULONG>(entries_.size()), &n,
                                         wait, FALSE)) {
            DWORD error = GetLastError();
            return error == WAIT_TIMEOUT ? 0 : static_cast<int>(error);
        }
        for (ULONG i = 0; i < n; ++i) heard |= dispatch(sink, entries_[i]);
        if (heard || wait == 0) break;
    }
    return 0;
}

// Many wakeups before the poll sees one are one packet.
int IocpBackend::wake() {
    if (wake_posted_.exchange(true)) return 0;
    if (PostQueuedCompletionStatus(port_, 0, kWakeKey, nullptr)) return 0;
    int error = static_cast<int>(GetLastError());
    wake_posted_.store(false);
    return error;
}

void IocpBackend::add_stats(io_reactor_stats_t &stats) const {
    stats.contexts_live += read_ops_ + send_ops_ + accept_ops_ + poll_ops_ + caller_ops_;
    stats.contexts_pooled += read_pool_.count + send_pool_.count;
    // Per-handle state here is what posted operations hold.
    std::size_t reads = read_ops_ - read_pool_.count;
    std::size_t sends = send_ops_ - send_pool_.count;
    stats.state_bytes += reads * (sizeof(Op) + kAllocHeader) + sends * (sizeof(ListedOp) + kAllocHeader) +
                         accept_ops_ * (sizeof(AcceptOp) + kAllocHeader) +
                         poll_ops_ * (sizeof(PollOp) + kAllocHeader) +
                         caller_ops_ * (sizeof(CallerOp) + kAllocHeader);
}

// ---- destruction ----------------------------------------------------------------

// The core frees removed handles the backend still pins when the backend
// lets go of them (close_all), so the pins drop here, at destruction.
void IocpBackend::drop_pin(Handle &h) {
    if (--h.pins != 0 || !h.removed) return;
    if (sink_)
        sink_->release(h);
    else
        delete &h;  // never polled: the core's release() is exactly this
}

// Frees an Op only once its completion is dequeued: until then the kernel may
// still write into it.
void IocpBackend::cancel_and_drain() {
    for (Handle *h : rearm_) drop_pin(*h);
    for (Handle *h : repoll_first_) drop_pin(*h);
    rearm_.clear();
    repoll_first_.clear();
    for (ListedOp *op = listed_; op; op = op->next)
        CancelIoEx(op->kind == OpKind::poll ? afd_ : reinterpret_cast<HANDLE>(op->handle->fd), &op->ov);
    ULONGLONG deadline = GetTickCount64() + kDestroyDrainMs;
    while (in_kernel_ > 0 && GetTickCount64() < deadline) {
        ULONG n = 0;
        if (!GetQueuedCompletionStatusEx(port_, entries_.data(), static_cast<ULONG>(entries_.size()), &n,
                                         100, FALSE))
            continue;
        for (ULONG i = 0; i < n; ++i) {
            ULONG_PTR key = entries_[i].lpCompletionKey;
            if (key != kSocketKey && key != kPostFailedKey) continue;
            Op *op = CONTAINING_RECORD(entries_[i].lpOverlapped, Op, ov);
            finished(op);
            if (op->kind == OpKind::accept) closesocket(static_cast<AcceptOp *>(op)->accepted);
            Handle &h = *op->handle;
            release_op(op);
            drop_pin(h);
        }
    }
    // Whatever is still posted now stays allocated, with its handle: a leak
    // beats letting the kernel write into freed memory.
}

IocpBackend::~IocpBackend() {
    stop_console();
    cancel_and_drain();
    for (Op *op = read_pool_.head; op;) {
        Op *next = op->next_free;
        delete op;
        --iocp_contexts_alive;
        op = next;
    }
    for (Op *op = send_pool_.head; op;) {
        Op *next = op->next_free;
        delete static_cast<ListedOp *>(op);
        --iocp_contexts_alive;
        op = next;
    }
    if (afd_) CloseHandle(afd_);
    CloseHandle(port_);
    sys::cleanup();
}

}  // namespace

std::unique_ptr<Backend> make_iocp_backend(const BackendOptions &opts, int &error) {
    if (int failure = sys::startup()) {
        error = failure;
        return nullptr;
    }
    // One concurrent thread: the reactor is single-threaded by contract.
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
    if (!port) {
        error = static_cast<int>(GetLastError());
        sys::cleanup();
        return nullptr;
    }
    auto backend = std::unique_ptr<Backend>(new (std::nothrow) IocpBackend(port, opts));
    if (!backend) {
        CloseHandle(port);
        sys::cleanup();
        error = ENOMEM;
    }
    return backend;
}

}  // namespace ior
