// io_uring backend (Linux): completion style.
//
// Every operation in flight carries its Handle and its kind in user_data
// (Handle is 8-byte aligned, the low three bits name the operation) and holds
// one pin on the handle, so a removed handle stays allocated until its last
// completion arrives. No per-operation allocation is needed.
//
// Reads use multishot recv into a ring of provided buffers where the kernel
// has it (6.0+), single-shot recv with the same buffers where it has only the
// buffer ring (5.19), and a one-shot poll plus Sink::readable (the core
// reads) where it has neither. Listeners use multishot accept, falling back
// to single-shot on -EINVAL. Nothing is assumed: the ring is probed at
// start-up and a multishot op refused with -EINVAL switches that op to the
// single-shot form for the rest of the ring's life.
//
// A stream socket's recv and send name it by a slot in the ring's table of
// registered files where the kernel has one (5.19): the kernel then takes
// no reference on the socket's file for each send (fget was 2% of the
// server's CPU on 64 B echoes). The slot is filled by an SQE queued with
// the handle's first recv and emptied when the handle is detached.
//
// SQEs are only queued between polls; poll() submits them all with the wait,
// in one io_uring_enter. The one exception is detach (see there).
//
// Watched handles (readiness mode) get a one-shot poll for their whole mask,
// re-armed with the next wait: the kernel checks readiness when a poll is
// armed, so readiness the caller left unserved is reported again
// (level-triggered), which a multishot poll, woken only by new activity,
// would not do.
#include "backend.h"

#include <liburing.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace ior {
namespace {

enum class Op : std::uint64_t {
    none = 0,     // a NOP standing in for a removed handle's queued op
    recv = 1,     // recv into a provided buffer (multishot or single)
    accept = 2,   // accept (multishot or single)
    send = 3,     // send of h.out's front chunk
    poll_in = 4,  // readiness: the core reads (console, or no buffer ring)
    poll_out = 5, // readiness after a send came back -EAGAIN
    wake = 6,     // the eventfd became readable
    cancel = 7,   // an async cancel request (no handle)
};
constexpr std::uint64_t kOpMask = 7;

// Bits kept in Handle::backend_index.
constexpr std::uint32_t kReadActive = 1u << 0;    // recv / poll_in / accept in flight
constexpr std::uint32_t kReadCancelled = 1u << 1; // a cancel for it is queued
constexpr std::uint32_t kWriteActive = 1u << 2;   // send / poll_out in flight
constexpr std::uint32_t kDeferredRead = 1u << 3;  // re-arm reading at next poll
constexpr std::uint32_t kDeferredWrite = 1u << 4; // re-arm writing at next poll
constexpr std::uint32_t kArmedShift = 5;          // watched: the kWant* mask in flight
constexpr std::uint32_t kArmedMask = 3u << kArmedShift;
constexpr std::uint32_t kSlotShift = 8;             // registered file slot + 1; 0: none

constexpr std::uint16_t kBufferGroup = 0;
// 16 KiB: one buffer holds a typical burst, so a message is one completion,
// one event and one send back (4 KiB buffers quartered 16 KiB echoes and
// halved their rate). 128 of them: the ring hands them out in turn, so every
// buffer is filled again 2 MiB later; with 512 (8 MiB) the kernel copied
// into memory long out of the CPU's caches (16 KiB echoes, server CPU per
// message vs raw epoll in 8 alternating rounds: 1.03x with 512, 0.97x with
// 128). More ready data than that waits for the next poll (ENOBUFS below).
constexpr unsigned kBufferCount = 128;  // power of two (buffer ring rule)
constexpr unsigned kBufferSize = 16 * 1024;
// Incrementally consumed buffers (6.12): a recv takes only the bytes it
// fills and the next one continues in the same buffer, so 19,000 one-byte
// reads touch a few pages instead of the first page of every buffer (2 MiB
// of RSS, 110 B per idle connection). Same size: one recv still brings at
// most 16 KiB (64 KiB let one read of a flooding client produce more output
// than comm's cap allows, before its input cap could pause it).
// Not in the 6.1 uapi headers liburing 2.3 builds with.
constexpr std::uint16_t kPbufRingInc = 2;          // IOU_PBUF_RING_INC
constexpr unsigned kCqeBufMore = 1u << 4;          // IORING_CQE_F_BUF_MORE

enum class ReadMode { multishot, single_shot, readiness };

std::uint64_t tag(Handle *h, Op op) {
    return reinterpret_cast<std::uint64_t>(h) | static_cast<std::uint64_t>(op);
}

unsigned round_up_pow2(unsigned v) {
    unsigned p = 1;
    while (p < v) p <<= 1;
    return p;
}

class UringBackend final : public Backend {
public:
    ~UringBackend() override { shutdown(); }

    int init(const BackendOptions &opts);

    const char *name() const override { return "io_uring"; }
    int attach(Handle &h) override;
    int update_reading(Handle &h) override;
    int arm_write(Handle &h) override;
    void detach(Handle &h) override;
    int poll(Sink &sink, int timeout_ms) override;
    int wake() override;
    void add_stats(io_reactor_stats_t &s) const override;
    // Only once the loop runs: before the first poll nothing reaches the
    // kernel (a ring created disabled cannot even submit), and the core's
    // own send() reports a failure to the very next post_write.
    bool sends_itself() const override { return polled_ && batch_sends_; }

private:
    // --- setup ---
    int init_ring(unsigned entries);
    int check_required_ops();
    void init_buffer_ring();
    int init_wakeup();
    void shutdown();
    void drain_at_exit(std::uint64_t user_data, int res, unsigned flags);
    static void drop_pin_at_exit(Handle *h);

    // --- submission ---
    int enable_ring();
    int submit();
    io_uring_sqe *get_sqe();
    void begin(io_uring_sqe *sqe, Handle *h, Op op);
    int arm_read(Handle &h);
    int arm_accept(Handle &h);
    int arm_send(Handle &h);
    int arm_poll_out(Handle &h);
    void arm_wake();
    void cancel(std::uint64_t user_data);
    void neutralize_queued(Handle &h, bool keep_sends);
    void defer(Handle &h, std::uint32_t what);
    void run_deferred(Sink &sink);
    int submit_and_catch_up();
    int submit_and_wait(int timeout_ms);
    void rearm_read_if_wanted(Handle &h);
    Op read_op(const Handle &h) const;
    void init_file_slots();
    void take_file_slot(Handle &h);
    void release_file_slot(Handle &h);
    static int slot_of(const Handle &h) { return int(h.backend_index >> kSlotShift) - 1; }
    void target(io_uring_sqe *sqe, const Handle &h);
    static bool wants_read(const Handle &h);
    int arm_watch(Handle &h, io_uring_sqe *sqe);
    void on_watch(Sink &sink, Handle &h, int res);

    // --- completion ---
    void reap(Sink &sink);
    void complete(Sink &sink, std::uint64_t user_data, int res, unsigned flags);
    bool finish(Sink &sink, Handle &h, unsigned flags, std::uint32_t active_bit);
    void on_recv(Sink &sink, Handle &h, int res, unsigned flags);
    void on_accept(Sink &sink, Handle &h, int res, unsigned flags);
    void on_send(Sink &sink, Handle &h, int res, unsigned flags);
    void on_poll_in(Sink &sink, Handle &h, int res, unsigned flags);
    void on_poll_out(Sink &sink, Handle &h, int res, unsigned flags);
    void on_wake(int res);

    // --- provided buffers ---
    char *buffer(unsigned bid) const { return buffers_ + std::size_t(bid) * kBufferSize; }
    const char *take_data(unsigned flags, int res);
    bool register_buffers(std::uint16_t flags);
    void recycle_buffers();

    io_uring ring_{};
    bool ring_ready_ = false;
    bool ring_enabled_ = true;  // false until first used (R_DISABLED)
    ReadMode read_mode_ = ReadMode::readiness;
    bool multishot_accept_ = true;
    bool batch_sends_ = true;
    bool polled_ = false;  // poll() ran at least once

    io_uring_buf_ring *buf_ring_ = nullptr;
    std::size_t buf_ring_bytes_ = 0;
    char *buffers_ = nullptr;
    bool incremental_ = false;
    std::vector<std::uint32_t> consumed_;  // incremental: bytes of each buffer already handed out
    std::vector<std::uint16_t> held_buffers_;  // handed to the core this poll

    int wake_fd_ = -1;
    std::size_t ops_in_flight_ = 0;
    std::vector<Handle *> deferred_;  // each holds one pin
    unsigned file_slots_ = 0;             // size of the registered file table; 0: none
    unsigned never_used_slot_ = 0;        // slots below this were handed out once
    std::vector<std::uint32_t> free_slots_;
    std::vector<std::uint64_t> late_cancels_;
};

// ---------------------------------------------------------------- setup ----

// Test hook: IOR_URING_DISABLE lists kernel features to treat as missing
// ("multishot_recv", "multishot_accept", "buf_ring", "incremental_buffers", "defer_taskrun",
// "batch_sends", "fixed_files"), so the fallback paths
// of older kernels run through the same conformance suite on this one.
bool disabled_by_env(const char *feature) {
    const char *list = std::getenv("IOR_URING_DISABLE");
    return list && std::strstr(list, feature);
}

int UringBackend::init_ring(unsigned entries) {
    // Newer flags first; an older kernel refuses unknown flags with EINVAL.
    // DEFER_TASKRUN (6.1) runs completion work only when poll() enters the
    // kernel, in one batch, instead of interrupting every other syscall (the
    // core's send()s); it requires SINGLE_ISSUER, and R_DISABLED makes the
    // issuer the thread that first uses the ring, not the one creating it.
    const unsigned single_issuer =
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;
    const unsigned flag_sets[] = {
        IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | single_issuer,
        IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_CQSIZE,
        0,
    };
    int r = -EINVAL;
    for (unsigned flags : flag_sets) {
        if (disabled_by_env("defer_taskrun") && (flags & IORING_SETUP_DEFER_TASKRUN)) continue;
        io_uring_params p{};
        p.flags = flags;
        p.cq_entries = entries * 8;
        r = io_uring_queue_init_params(entries, &ring_, &p);
        if (r != -EINVAL) break;
    }
    if (r < 0) return -r;
    ring_ready_ = true;
    ring_enabled_ = !(ring_.flags & IORING_SETUP_R_DISABLED);
    // NODROP: completions are never lost when the CQ ring is full; EXT_ARG:
    // a timed wait without an internal timeout SQE.
    const unsigned needed = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
    if ((ring_.features & needed) != needed) return ENOSYS;
    return 0;
}

int UringBackend::check_required_ops() {
    io_uring_probe *probe = io_uring_get_probe_ring(&ring_);
    if (!probe) return ENOSYS;
    const int needed[] = {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND,
                          IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL};
    bool ok = true;
    for (int op : needed) ok = ok && io_uring_opcode_supported(probe, op);
    io_uring_free_probe(probe);
    return ok ? 0 : ENOSYS;
}

// A buffer ring needs 5.19; without it reads fall back to readiness.
// Incremental consumption is tried first (6.12), whole buffers otherwise.
void UringBackend::init_buffer_ring() {
    if (!disabled_by_env("incremental_buffers")) incremental_ = register_buffers(kPbufRingInc);
    if (!incremental_ && !register_buffers(0)) return;
    const int mask = io_uring_buf_ring_mask(kBufferCount);
    for (unsigned bid = 0; bid < kBufferCount; ++bid)
        io_uring_buf_ring_add(buf_ring_, buffer(bid), kBufferSize,
                              static_cast<unsigned short>(bid), mask, int(bid));
    io_uring_buf_ring_advance(buf_ring_, int(kBufferCount));
    held_buffers_.reserve(kBufferCount);
    consumed_.assign(incremental_ ? kBufferCount : 0, 0);
    read_mode_ = ReadMode::multishot;
}

bool UringBackend::register_buffers(std::uint16_t flags) {
    const std::size_t data_bytes = std::size_t(kBufferCount) * kBufferSize;
    buf_ring_bytes_ = kBufferCount * sizeof(io_uring_buf);
    void *ring_mem = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // Buffers are mapped, not allocated, so pages are only touched once the
    // kernel fills them.
    void *buf_mem = mmap(nullptr, data_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(ring_mem);
    reg.ring_entries = kBufferCount;
    reg.bgid = kBufferGroup;
    reg.pad = flags;  // "flags" in newer headers
    if (ring_mem != MAP_FAILED && buf_mem != MAP_FAILED) {
        io_uring_buf_ring_init(static_cast<io_uring_buf_ring *>(ring_mem));
        if (io_uring_register_buf_ring(&ring_, &reg, 0) == 0) {
            buf_ring_ = static_cast<io_uring_buf_ring *>(ring_mem);
            buffers_ = static_cast<char *>(buf_mem);
            return true;
        }
    }
    if (ring_mem != MAP_FAILED) munmap(ring_mem, buf_ring_bytes_);
    if (buf_mem != MAP_FAILED) munmap(buf_mem, data_bytes);
    return false;
}

int UringBackend::init_wakeup() {
    // Non-blocking, and watched with a poll op rather than read: a read op on
    // an eventfd may be punted to an io-wq thread that blocks in it.
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return errno;
    arm_wake();
    return 0;
}

int UringBackend::init(const BackendOptions &opts) {
    const unsigned entries = round_up_pow2(unsigned(std::max(256, opts.max_events * 2)));
    if (int err = init_ring(entries)) return err;
    if (int err = check_required_ops()) return err;
    if (!disabled_by_env("buf_ring")) init_buffer_ring();
    if (read_mode_ == ReadMode::multishot && disabled_by_env("multishot_recv"))
        read_mode_ = ReadMode::single_shot;
    multishot_accept_ = !disabled_by_env("multishot_accept");
    batch_sends_ = !disabled_by_env("batch_sends");
    if (read_mode_ != ReadMode::readiness && !disabled_by_env("fixed_files")) init_file_slots();
    return init_wakeup();
}

// The core destroys the backend last (close_all): every handle is removed by
// then, and those still pinned by an operation are ours to free once their
// last completion arrives; there is no Sink any more, so this does what
// Sink::release does (the core allocates handles with new). The wait is
// bounded: a kernel that never completes a cancel leaks, it does not hang.
void UringBackend::drop_pin_at_exit(Handle *h) {
    if (--h->pins == 0 && h->removed) delete h;
}

void UringBackend::shutdown() {
    if (!ring_ready_) return;
    for (Handle *h : deferred_) drop_pin_at_exit(h);
    deferred_.clear();
    enable_ring();  // so get_sqe may flush a full SQ
    if (io_uring_sqe *sqe = get_sqe()) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(Op::cancel));
        ++ops_in_flight_;
    }
    // Fails (EEXIST) if another thread than the loop's destroys the reactor;
    // then queue_exit alone cancels, and still-pinned handles leak.
    if (submit() < 0) ops_in_flight_ = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (ops_in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
        __kernel_timespec ts{0, 50 * 1000 * 1000};
        io_uring_cqe *cqe = nullptr;
        int r = io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
        if (r < 0 && r != -ETIME && r != -EINTR) break;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            drain_at_exit(cqe->user_data, cqe->res, cqe->flags);
        }
        io_uring_cq_advance(&ring_, seen);
    }
    io_uring_queue_exit(&ring_);
    ring_ready_ = false;
    if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
    if (buffers_) munmap(buffers_, std::size_t(kBufferCount) * kBufferSize);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void UringBackend::drain_at_exit(std::uint64_t user_data, int res, unsigned flags) {
    const Op op = static_cast<Op>(user_data & kOpMask);
    Handle *h = reinterpret_cast<Handle *>(user_data & ~kOpMask);
    // A kernel before 5.19 has no CANCEL_ANY: nothing will complete, so do
    // not wait; queue_exit cancels, and the still-pinned handles leak.
    if (op == Op::cancel && !h && res == -EINVAL) {
        ops_in_flight_ = 0;
        return;
    }
    // An accepted socket nobody will ever see.
    if (op == Op::accept && res >= 0) ::close(res);
    if (flags & IORING_CQE_F_MORE) return;
    if (ops_in_flight_ > 0) --ops_in_flight_;
    if (h) drop_pin_at_exit(h);
}

// ----------------------------------------------------------- submission ----

// A ring created disabled (SINGLE_ISSUER) gets its issuer here: the thread
// that first polls, or destroys. Until then nothing enters the kernel, so a
// reactor may be created and filled on one thread and run on another.
int UringBackend::enable_ring() {
    if (ring_enabled_) return 0;
    // Raw syscall: liburing 2.3 declares io_uring_enable_rings but its
    // shared library does not export it.
    if (syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0)
        return errno;
    ring_enabled_ = true;
    return 0;
}

int UringBackend::submit() {
    if (int err = enable_ring()) return -err;
    return io_uring_submit(&ring_);
}

io_uring_sqe *UringBackend::get_sqe() {
    io_uring_sqe *sqe = io_uring_get_sqe(&ring_);
    if (sqe || !ring_enabled_) return sqe;  // before the first poll: callers defer
    // SQ full between polls: flush it early rather than fail.
    submit();
    return io_uring_get_sqe(&ring_);
}

void UringBackend::begin(io_uring_sqe *sqe, Handle *h, Op op) {
    io_uring_sqe_set_data64(sqe, tag(h, op));
    ++ops_in_flight_;
    if (h) ++h->pins;
}

// The op reading for h. Fixed while it is in flight: the read mode only
// changes on a completion, when the handle has none in flight.
Op UringBackend::read_op(const Handle &h) const {
    if (h.kind == HandleKind::listener) return Op::accept;
    // The console may be a tty, pipe or file: watch it and let the core read.
    if (h.kind == HandleKind::console || h.kind == HandleKind::watched ||
        read_mode_ == ReadMode::readiness)
        return Op::poll_in;
    return Op::recv;
}

int UringBackend::arm_read(Handle &h) {
    if (h.backend_index & kReadActive) return 0;
    if (h.kind == HandleKind::listener) return arm_accept(h);
    io_uring_sqe *sqe = get_sqe();
    if (!sqe) {
        defer(h, kDeferredRead);
        return 0;
    }
    if (h.kind == HandleKind::watched) return arm_watch(h, sqe);
    if (read_op(h) == Op::poll_in) {
        io_uring_prep_poll_add(sqe, h.fd, POLLIN);
        begin(sqe, &h, Op::poll_in);
    } else {
        if (read_mode_ == ReadMode::multishot)
            io_uring_prep_recv_multishot(sqe, h.fd, nullptr, 0, 0);
        else
            io_uring_prep_recv(sqe, h.fd, nullptr, 0, 0);
        target(sqe, h);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = kBufferGroup;
        begin(sqe, &h, Op::recv);
    }
    h.backend_index |= kReadActive;
    return 0;
}

// Only called with a nonzero mask (wants_read).
int UringBackend::arm_watch(Handle &h, io_uring_sqe *sqe) {
    const unsigned want = readiness_mask(h);
    io_uring_prep_poll_add(sqe, h.fd, (want & kWantRead ? POLLIN : 0) | (want & kWantWrite ? POLLOUT : 0));
    begin(sqe, &h, Op::poll_in);
    h.backend_index = (h.backend_index & ~kArmedMask) | kReadActive | (want << kArmedShift);
    return 0;
}

int UringBackend::arm_accept(Handle &h) {
    io_uring_sqe *sqe = get_sqe();
    if (!sqe) {
        defer(h, kDeferredRead);
        return 0;
    }
    const int flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    if (multishot_accept_)
        io_uring_prep_multishot_accept(sqe, h.fd, nullptr, nullptr, flags);
    else
        io_uring_prep_accept(sqe, h.fd, nullptr, nullptr, flags);
    begin(sqe, &h, Op::accept);
    h.backend_index |= kReadActive;
    return 0;
}

// The send points into h.out's front chunk, which never moves; one send per
// handle at a time keeps the byte order.
int UringBackend::arm_send(Handle &h) {
    io_uring_sqe *sqe = get_sqe();
    if (!sqe) {
        defer(h, kDeferredWrite);
        return 0;
    }
    io_uring_prep_send(sqe, h.fd, h.out.front_data(), h.out.front_size(), MSG_NOSIGNAL);
    target(sqe, h);
    begin(sqe, &h, Op::send);
    h.backend_index |= kWriteActive;
    return 0;
}

int UringBackend::arm_poll_out(Handle &h) {
    io_uring_sqe *sqe = get_sqe();
    if (!sqe) {
        defer(h, kDeferredWrite);
        return 0;
    }
    io_uring_prep_poll_add(sqe, h.fd, POLLOUT);
    begin(sqe, &h, Op::poll_out);
    h.backend_index |= kWriteActive;
    return 0;
}

void UringBackend::arm_wake() {
    io_uring_sqe *sqe = get_sqe();
    if (!sqe) return;  // only at start-up or with a wedged ring
    io_uring_prep_poll_add(sqe, wake_fd_, POLLIN);
    begin(sqe, nullptr, Op::wake);
}

void UringBackend::cancel(std::uint64_t user_data) {
    io_uring_sqe *sqe = get_sqe();
    if (!sqe) {
        late_cancels_.push_back(user_data);  // SQ full before the first poll
        return;
    }
    io_uring_prep_cancel64(sqe, user_data, 0);
    io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(Op::cancel));
    ++ops_in_flight_;
}

void UringBackend::defer(Handle &h, std::uint32_t what) {
    if (!(h.backend_index & (kDeferredRead | kDeferredWrite))) {
        ++h.pins;
        deferred_.push_back(&h);
    }
    h.backend_index |= what;
}

void UringBackend::run_deferred(Sink &sink) {
    std::vector<Handle *> todo;
    todo.swap(deferred_);
    for (Handle *h : todo) {
        const std::uint32_t what = h->backend_index & (kDeferredRead | kDeferredWrite);
        h->backend_index &= ~(kDeferredRead | kDeferredWrite);
        if (!unpin(sink, *h)) continue;
        if (what & kDeferredRead) rearm_read_if_wanted(*h);
        if ((what & kDeferredWrite) && h->write_armed && !(h->backend_index & kWriteActive) &&
            !h->out.empty())
            arm_send(*h);
    }
}

bool UringBackend::wants_read(const Handle &h) {
    return h.kind == HandleKind::watched ? readiness_mask(h) != 0 : h.reading();
}

void UringBackend::rearm_read_if_wanted(Handle &h) {
    if (wants_read(h)) arm_read(h);
}

// ----------------------------------------------------- registered files ----

// As many slots as the process may have descriptors (up to 64 Ki): the
// kernel refuses a larger table. Sockets beyond it use their descriptor.
void UringBackend::init_file_slots() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    const unsigned wanted = unsigned(std::min<rlim_t>(limit.rlim_cur, 65536));
    if (wanted > 0 && io_uring_register_files_sparse(&ring_, wanted) == 0) file_slots_ = wanted;
}

// The slot is filled by an SQE that goes to the kernel ahead of the
// handle's first recv; SQEs are issued in order, so the recv finds it. It
// holds a pin: the fd it points at lives in the Handle.
void UringBackend::take_file_slot(Handle &h) {
    if (free_slots_.empty() && never_used_slot_ == file_slots_) return;
    io_uring_sqe *sqe = get_sqe();
    if (!sqe) return;  // SQ full before the first poll: this one goes without
    std::uint32_t slot;
    if (free_slots_.empty()) {
        slot = never_used_slot_++;
    } else {
        slot = free_slots_.back();
        free_slots_.pop_back();
    }
    io_uring_prep_files_update(sqe, &h.fd, 1, int(slot));
    begin(sqe, &h, Op::none);
    h.backend_index |= (slot + 1) << kSlotShift;
}

// Emptied by an SQE too, ahead of any later filling of the same slot.
// Before the first poll nothing was submitted, and detach has turned the
// filling into a NOP (neutralize_queued): the slot is empty already.
void UringBackend::release_file_slot(Handle &h) {
    const int slot = slot_of(h);
    if (slot < 0) return;
    if (ring_enabled_) {
        static int no_file = -1;
        io_uring_sqe *sqe = get_sqe();
        if (!sqe) return;  // the ring refuses to submit: keep the slot out of use
        io_uring_prep_files_update(sqe, &no_file, 1, slot);
        io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(Op::cancel));  // no handle: nothing to do
        ++ops_in_flight_;
    }
    free_slots_.push_back(std::uint32_t(slot));
    h.backend_index &= ~(~0u << kSlotShift);
}

void UringBackend::target(io_uring_sqe *sqe, const Handle &h) {
    const int slot = slot_of(h);
    if (slot < 0) return;
    sqe->fd = slot;
    sqe->flags |= IOSQE_FIXED_FILE;
}

// ------------------------------------------------------ the interface ----

int UringBackend::attach(Handle &h) {
    h.backend_index = 0;
    if (h.kind == HandleKind::stream) take_file_slot(h);
    if (wants_read(h)) return arm_read(h);
    return 0;
}

int UringBackend::update_reading(Handle &h) {
    const bool active = h.backend_index & kReadActive;
    // A watched handle's poll in flight has the old mask: cancel, and its
    // completion re-arms with the new one.
    const bool stale = h.kind == HandleKind::watched &&
                       ((h.backend_index & kArmedMask) >> kArmedShift) != readiness_mask(h);
    if (wants_read(h) && !(active && stale)) return active ? 0 : arm_read(h);
    if (active && !(h.backend_index & kReadCancelled)) {
        // Data completing before the cancel lands is still delivered; the
        // core stashes it while paused.
        cancel(tag(&h, read_op(h)));
        h.backend_index |= kReadCancelled;
    }
    return 0;
}

// The send is prepared by the next poll (run_deferred), not now: whatever
// else the caller writes to h before then goes out with it, and the SQE
// takes the front chunk as it is at submission.
int UringBackend::arm_write(Handle &h) {
    h.write_armed = true;
    if (!(h.backend_index & kWriteActive)) defer(h, kDeferredWrite);
    return 0;
}

// Ops of h still waiting in the SQ (sqe_head..sqe_tail: queued, not yet
// handed to the kernel) become NOPs: a recv submitted after remove would
// take bytes that now belong to the caller. Their completion only unpins.
// A queued send is kept when detach submits at once (the fd is still the
// caller's): like a send() the core makes in remove, the kernel takes what
// fits now, and the cancel queued after it ends the rest.
void UringBackend::neutralize_queued(Handle &h, bool keep_sends) {
    io_uring_sq &sq = ring_.sq;
    const std::uint64_t base = reinterpret_cast<std::uint64_t>(&h);
    for (unsigned i = sq.sqe_head; i != sq.sqe_tail; ++i) {
        io_uring_sqe *sqe = &sq.sqes[i & sq.ring_mask];
        if ((sqe->user_data & ~kOpMask) != base) continue;
        if (keep_sends && (sqe->user_data & kOpMask) == std::uint64_t(Op::send)) continue;
        // A kept send may name the socket by its slot: the filling goes
        // ahead of it (and the emptying queued by detach after it).
        if (keep_sends && sqe->opcode == IORING_OP_FILES_UPDATE) continue;
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, tag(&h, Op::none));
    }
}

void UringBackend::detach(Handle &h) {
    // Output still waiting for the next poll: hand it over now (a farewell
    // before remove), while the fd is surely still the caller's.
    if (ring_enabled_ && (h.backend_index & kDeferredWrite) && !(h.backend_index & kWriteActive) &&
        !h.out.empty())
        arm_send(h);
    neutralize_queued(h, ring_enabled_);
    // Cancel by user_data, not by fd: the caller may close the fd (and the
    // number may be reused) before these SQEs are submitted.
    if (h.backend_index & kReadActive) cancel(tag(&h, read_op(h)));
    if (h.backend_index & kWriteActive) {
        cancel(tag(&h, Op::send));
        cancel(tag(&h, Op::poll_out));
    }
    const bool had_slot = slot_of(h) >= 0;
    release_file_slot(h);
    // Submitted now, not with the next poll: until then a multishot accept
    // or recv would keep taking connections and bytes that, after remove,
    // belong to the caller (who may accept on the listener itself, or add
    // the fd again). Before the first poll nothing is in the kernel yet: the
    // cancels follow the ops in the SQ.
    // The emptied slot goes with them, and the kernel runs the cancelled
    // ops' completion work now (it defers it to the next wait otherwise):
    // until both are done the table or an op holds the socket open, and
    // the caller's close() right after remove would not close it
    // (conformance: close_after_remove_reaches_the_peer_without_another_wait).
    if (ring_enabled_ && (had_slot || (h.backend_index & (kReadActive | kWriteActive))))
        submit_and_catch_up();
}

int UringBackend::poll(Sink &sink, int timeout_ms) {
    if (int err = enable_ring()) return err;
    polled_ = true;
    for (std::uint64_t user_data : std::exchange(late_cancels_, {})) cancel(user_data);
    recycle_buffers();
    run_deferred(sink);

    int r = io_uring_cq_ready(&ring_) > 0 ? submit_and_catch_up() : submit_and_wait(timeout_ms);
    // ETIME: timed out; EINTR: a signal; EBUSY/EAGAIN: the CQ must be reaped
    // before more can be submitted, which is what comes next.
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN) return -r;
    reap(sink);
    return 0;
}

// Completions are left from last time: submit without waiting, but let the
// kernel run the completion work it deferred (DEFER_TASKRUN) all the same.
// A plain submit would not, and a backlog the caller keeps refilling
// (single-shot recvs of flooding sockets complete at submit) would hold back
// every other socket's completions for as long as the flood lasts
// (conformance: a_socket_readable_during_a_flood_is_read_within_a_few_waits).
int UringBackend::submit_and_catch_up() {
    return io_uring_submit_and_get_events(&ring_);
}

int UringBackend::submit_and_wait(int timeout_ms) {
    __kernel_timespec ts{};
    __kernel_timespec *tsp = nullptr;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (timeout_ms % 1000) * 1000000LL;
        tsp = &ts;
    }
    io_uring_cqe *cqe = nullptr;
    return io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
}

int UringBackend::wake() {
    const std::uint64_t one = 1;
    if (::write(wake_fd_, &one, sizeof one) < 0 && errno != EAGAIN) return errno;
    return 0;
}

// The read buffers are shared, not per-handle state (like the core's arena,
// which the core does not count either).
void UringBackend::add_stats(io_reactor_stats_t &s) const {
    s.contexts_live += ops_in_flight_;
    // A send the next poll will prepare is as good as in flight (arm_write).
    for (const Handle *h : deferred_)
        if (h->backend_index & kDeferredWrite) ++s.contexts_live;
    s.state_bytes += sizeof(*this) + buf_ring_bytes_ +
                     deferred_.capacity() * sizeof(Handle *) +
                     held_buffers_.capacity() * sizeof(std::uint16_t) +
                     consumed_.capacity() * sizeof(std::uint32_t) +
                     free_slots_.capacity() * sizeof(std::uint32_t);
}

// ----------------------------------------------------------- completion ----

// Completions that would make an event are consumed only while the caller's
// array has room; the rest wait in the CQ ring for the next poll.
void UringBackend::reap(Sink &sink) {
    io_uring_cqe *cqe = nullptr;
    while (sink.has_room() && io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe) {
        const std::uint64_t user_data = cqe->user_data;
        const int res = cqe->res;
        const unsigned flags = cqe->flags;
        io_uring_cqe_seen(&ring_, cqe);
        complete(sink, user_data, res, flags);
    }
}

void UringBackend::complete(Sink &sink, std::uint64_t user_data, int res, unsigned flags) {
    const Op op = static_cast<Op>(user_data & kOpMask);
    Handle *h = reinterpret_cast<Handle *>(user_data & ~kOpMask);
    switch (op) {
    case Op::recv: on_recv(sink, *h, res, flags); break;
    case Op::accept: on_accept(sink, *h, res, flags); break;
    case Op::send: on_send(sink, *h, res, flags); break;
    case Op::poll_in: on_poll_in(sink, *h, res, flags); break;
    case Op::poll_out: on_poll_out(sink, *h, res, flags); break;
    case Op::wake: on_wake(res); break;
    case Op::cancel: --ops_in_flight_; break;
    case Op::none:
        if (!h) break;
        --ops_in_flight_;
        unpin(sink, *h);
        break;
    }
}

// Bookkeeping common to every handle completion. Returns false when the
// completion must be swallowed (the handle was removed).
bool UringBackend::finish(Sink &sink, Handle &h, unsigned flags, std::uint32_t active_bit) {
    if (flags & IORING_CQE_F_MORE) return !h.removed;
    --ops_in_flight_;
    h.backend_index &= ~active_bit;
    if (active_bit == kReadActive) h.backend_index &= ~kReadCancelled;
    return unpin(sink, h);
}

void UringBackend::on_recv(Sink &sink, Handle &h, int res, unsigned flags) {
    const char *data = take_data(flags, res);  // recycled at the next poll, whatever happens here
    const bool more = flags & IORING_CQE_F_MORE;
    if (!finish(sink, h, flags, kReadActive)) return;
    if (res > 0) {
        sink.received(h, data, std::size_t(res));
        // A multishot recv may stop (e.g. CQ overflow) with data: restart it.
        if (!more) rearm_read_if_wanted(h);
        return;
    }
    switch (-res) {
    case 0:
        sink.received(h, "", 0);  // orderly EOF
        break;
    case ENOBUFS:
        // Every buffer is out with the core; they return at the next poll.
        if (h.reading()) defer(h, kDeferredRead);
        break;
    case EINVAL:
        if (read_mode_ == ReadMode::multishot) {
            read_mode_ = ReadMode::single_shot;  // kernel without multishot recv
            rearm_read_if_wanted(h);
        } else {
            sink.failed(h, EINVAL);
        }
        break;
    case ECANCELED: case EAGAIN: case EINTR:
        rearm_read_if_wanted(h);  // paused (or resumed meanwhile), or spurious
        break;
    default:
        sink.failed(h, -res);
    }
}

void UringBackend::on_accept(Sink &sink, Handle &h, int res, unsigned flags) {
    const bool more = flags & IORING_CQE_F_MORE;
    if (!finish(sink, h, flags, kReadActive)) {
        if (res >= 0) ::close(res);  // accepted for a listener that is gone
        return;
    }
    if (res >= 0) {
        sink.accepted(h, res);
        if (!more) rearm_read_if_wanted(h);
    } else if (res == -EINVAL && multishot_accept_) {
        multishot_accept_ = false;  // kernel without multishot accept
        rearm_read_if_wanted(h);
    } else if (res == -ECANCELED) {
        rearm_read_if_wanted(h);
    } else {
        // EMFILE and the like do not end a listener: let the core accept
        // itself, which reports the error the way every backend does. Retry
        // at the next poll, not now, or a persistent EMFILE spins here.
        sink.readable(h);
        if (h.reading()) defer(h, kDeferredRead);
    }
}

void UringBackend::on_send(Sink &sink, Handle &h, int res, unsigned flags) {
    if (!finish(sink, h, flags, kWriteActive)) return;
    if (res >= 0) {
        sink.sent(h, std::size_t(res));
    } else if (res == -EAGAIN || res == -EINTR) {
        arm_poll_out(h);  // some kernels hand EAGAIN back: wait for room
    } else {
        sink.sent(h, 0);  // clears write_armed (backend.h)
        sink.failed(h, -res);
    }
}

void UringBackend::on_poll_in(Sink &sink, Handle &h, int res, unsigned flags) {
    if (!finish(sink, h, flags, kReadActive)) return;
    if (h.kind == HandleKind::watched) return on_watch(sink, h, res);
    if (res == -ECANCELED || res == -EINTR) {
        rearm_read_if_wanted(h);
        return;
    }
    if (res < 0) {
        sink.failed(h, -res);
        return;
    }
    sink.readable(h);
    rearm_read_if_wanted(h);
}

// Re-armed by the next poll (deferred, not queued now: a full SQ would be
// submitted at once and could report h twice in one wait).
void UringBackend::on_watch(Sink &sink, Handle &h, int res) {
    if (res == -ECANCELED || res == -EINTR) return rearm_read_if_wanted(h);
    const unsigned r = res < 0 ? 0u : unsigned(res);
    sink.watched(h, (r & POLLIN ? kReadyIn : 0u) | (r & POLLOUT ? kReadyOut : 0u) |
                        (res < 0 || (r & (POLLERR | POLLNVAL)) ? kReadyErr : 0u) |
                        (r & POLLHUP ? kReadyHup : 0u));
    if (wants_read(h) && !h.removed) defer(h, kDeferredRead);
}

void UringBackend::on_poll_out(Sink &sink, Handle &h, int res, unsigned flags) {
    if (!finish(sink, h, flags, kWriteActive)) return;
    if (res < 0 && res != -EINTR)
        sink.failed(h, -res);
    else
        sink.writable(h);
}

void UringBackend::on_wake(int) {
    --ops_in_flight_;
    std::uint64_t count;
    while (::read(wake_fd_, &count, sizeof count) > 0) {
    }
    arm_wake();
}

// ------------------------------------------------------ provided buffers ----

// Where a completion's bytes are, and which buffer the kernel is done with
// (held until the next poll, then given back). An incremental buffer the
// kernel still fills (BUF_MORE) stays with it; a completion without data
// consumed nothing of it (the kernel commits 0 bytes and keeps the buffer).
const char *UringBackend::take_data(unsigned flags, int res) {
    if (!(flags & IORING_CQE_F_BUFFER)) return nullptr;
    const auto bid = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    if (!incremental_) {
        held_buffers_.push_back(bid);
        return buffer(bid);
    }
    if (res <= 0) return nullptr;
    const char *data = buffer(bid) + consumed_[bid];
    if (flags & kCqeBufMore) {
        consumed_[bid] += std::uint32_t(res);
    } else {
        consumed_[bid] = 0;
        held_buffers_.push_back(bid);
    }
    return data;
}

// The core's events point into these buffers until the next poll; only now
// may the kernel refill them.
void UringBackend::recycle_buffers() {
    if (held_buffers_.empty()) return;
    const int mask = io_uring_buf_ring_mask(kBufferCount);
    int offset = 0;
    for (std::uint16_t bid : held_buffers_)
        io_uring_buf_ring_add(buf_ring_, buffer(bid), kBufferSize, bid, mask, offset++);
    io_uring_buf_ring_advance(buf_ring_, offset);
    held_buffers_.clear();
}

}  // namespace

std::unique_ptr<Backend> make_uring_backend(const BackendOptions &opts, int &error) {
    auto backend = std::unique_ptr<UringBackend>(new (std::nothrow) UringBackend());
    if (!backend) {
        error = ENOMEM;
        return nullptr;
    }
    if (int err = backend->init(opts)) {
        error = err;
        return nullptr;
    }
    return backend;
}

}  // namespace ior
