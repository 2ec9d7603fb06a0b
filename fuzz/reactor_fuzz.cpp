// An API-sequence fuzzer for the reactor (include/io_reactor.h): the input
// is a program of add, modify, remove, post_write and wait calls (and calls
// made from inside the event loop, as a server makes them), mixed with what
// the peer of each real loopback TCP connection does (send, read, half
// close, close, reset through SO_LINGER 0). A small model of the contract
// checks every event:
//  - no event for a removed (or never added) handle; each carries its fd;
//  - the bytes of EVENT_READ are the peer's, whole and in order;
//  - the peer receives the posted bytes whole and in order;
//  - no EVENT_READ (or EVENT_CLOSE) while reading is paused via modify;
//  - per registration at most one EVENT_CLOSE, after every byte the peer
//    sent, and at most one EVENT_ERROR, after which nothing; no EVENT_READ
//    after either; EVENT_WRITE only with write interest and an empty queue;
// and at the end of the program, with the peers reading: every posted byte
// arrives, every sent byte is delivered, every owed CLOSE/ERROR/WRITE comes,
// removal leaves no handle, and no descriptor leaks.
//
// The backend is the one IO_REACTOR_BACKEND names (scripts/fuzz runs each
// Linux backend); a backend this machine cannot run exits 77 (skipped).
#include "fuzz_input.h"
#include "io_reactor.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kSlots = 4;
constexpr std::size_t kMaxBytesPerRun = 4 << 20;
constexpr int kDrainRounds = 3000;  // idle waits of 1 ms; counted, not timed,
                                    // so a starved (nice 19) process is not failed

bool g_trace = false;  // FUZZ_TRACE=1: print the program as it runs
// Two listeners: accepted sockets inherit the buffer sizes, which must be
// set before the handshake (shrinking a window later stalls TCP for
// seconds, in the kernel's persist timer, not in the reactor).
int g_listener[2] = {-1, -1};
sockaddr_in g_addr[2]{};
constexpr int kNarrow = 4096;
std::string g_backend = "auto";

int count_fds() {
    int n = 0;
    if (DIR *d = opendir("/proc/self/fd")) {
        while (dirent *e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
    }
    return n - 1;  // the directory's own descriptor
}

char pattern_byte(std::uint64_t salt, std::uint64_t i) {
    std::uint64_t x = (i + salt) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    return static_cast<char>(x >> 24);
}

void abort_close(int fd) {
    linger lg{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

// One connection: `local` is the reactor's end, `peer` the program's.
struct Slot {
    int local = -1, peer = -1;
    std::uint64_t salt = 0;
    // peer -> local
    std::uint64_t in_sent = 0, in_delivered = 0;
    bool in_exact = true;  // false once a removal may have dropped read-ahead bytes
    // local -> peer
    std::uint64_t out_posted = 0, out_received = 0;
    bool out_exact = true;  // false once a removal dropped queued output
    bool peer_shut = false, peer_closed = false, peer_reset = false;
    // the current registration
    bool registered = false;
    std::uintptr_t ctx = 0;
    int interest = 0;
    bool got_close = false, got_error = false, post_failed = false, write_owed = false;
    // as of the last wait, for the events it returned
    int wait_interest = 0;
    std::size_t wait_queued = 0;

    bool peer_gone() const { return peer_closed || peer_reset; }
};

class Program {
public:
    explicit Program(io_reactor_t *r) : r_(r) {}

    ~Program() {
        for (Slot &s : slots_) free_slot(s);
    }

    void step(fuzz::Input &in, bool in_loop) {
        std::uint8_t op = in.byte();
        Slot &s = slots_[in.byte() % kSlots];
        if (g_trace) std::fprintf(stderr, "%sop %d slot %d\n", in_loop ? "  in loop: " : "", op % (in_loop ? 13 : 14), index(s));
        switch (op % (in_loop ? 13 : 14)) {
        case 0: new_pair(s, in.byte()); break;
        case 1: add(s, in.byte() & 3); break;
        case 2: modify(s, in.byte() & 3); break;
        case 3: remove(s); break;
        case 4: case 5: post_write(s, in); break;
        case 6: case 7: peer_send(s, in); break;
        case 8: peer_read(s); break;
        case 9: peer_shutdown(s); break;
        case 10: in.byte() & 1 ? peer_close(s) : peer_reset(s); break;
        case 11: free_slot(s); break;
        case 12: bad_calls(s); break;
        case 13: wait(in, in.range(1, 16), in.byte() % 64 == 0 ? 1000 : 0); break;
        }
    }

    // The peers read and the loop runs until everything owed has happened.
    // While bytes or events move, it does not sleep; it gives up after
    // kDrainRounds waits of 1 ms in which nothing moved.
    void drain() {
        for (Slot &s : slots_)
            if (s.registered && !(s.interest & EVENT_READ)) modify(s, s.interest | EVENT_READ);
        std::string why;
        int idle = 0;
        while (idle < kDrainRounds) {
            std::uint64_t before = progress();
            for (Slot &s : slots_) peer_read(s);
            if (settled(why)) return;
            fuzz::Input none(nullptr, 0);
            wait(none, 64, idle < 4 ? 0 : 1000);
            idle = progress() == before ? idle + 1 : 0;
        }
        FUZZ_CHECK(false, "after %d idle rounds: %s", kDrainRounds, why.c_str());
    }

    // Bytes delivered either way plus events seen: what "moving" means.
    std::uint64_t progress() const {
        std::uint64_t n = events_seen_;
        for (const Slot &s : slots_) n += s.in_delivered + s.out_received;
        return n;
    }

    void finish() {
        for (Slot &s : slots_)
            if (s.registered) remove(s);
        io_reactor_stats_t st{};
        FUZZ_CHECK(io_reactor_get_stats(r_, &st) == 0 && st.handles == 0 && st.queued_bytes == 0,
                   "after removing everything: %zu handles, %zu bytes queued", st.handles, st.queued_bytes);
        // Late completions of removed handles must not surface.
        fuzz::Input none(nullptr, 0);
        for (int i = 0; i < 3; ++i) wait(none, 16, 0);
        for (Slot &s : slots_) free_slot(s);
    }

private:
    Slot *owner(std::uintptr_t ctx) {
        auto it = live_.find(ctx);
        return it == live_.end() ? nullptr : &slots_[it->second];
    }
    int index(const Slot &s) const { return static_cast<int>(&s - slots_); }

    void new_pair(Slot &s, std::uint8_t opts) {
        if (s.local >= 0) return;
        int narrow = opts & 1;  // narrow buffers: output queues up in the reactor
        // Non-blocking connect: libFuzzer's timers send signals, and a
        // blocking connect would fail with EINTR.
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        FUZZ_CHECK(c >= 0, "socket: %s", strerror(errno));
        if (narrow) setsockopt(c, SOL_SOCKET, SO_RCVBUF, &kNarrow, sizeof kNarrow);
        int rc = connect(c, reinterpret_cast<sockaddr *>(&g_addr[narrow]), sizeof g_addr[narrow]);
        FUZZ_CHECK(rc == 0 || errno == EINPROGRESS, "connect: %s", strerror(errno));
        int a = -1;
        for (int tries = 0; a < 0 && tries < 500; ++tries) {
            a = accept4(g_listener[narrow], nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (a >= 0) break;
            FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, "accept: %s", strerror(errno));
            pollfd p{g_listener[narrow], POLLIN, 0};
            poll(&p, 1, 10);
        }
        FUZZ_CHECK(a >= 0, "no connection to accept after 500 tries");
        s = Slot{};
        s.local = a;
        s.peer = c;
        s.salt = ++serial_ << 32;
    }

    void add(Slot &s, int events) {
        if (s.local < 0) return;
        if (s.registered) return bad_calls(s);
        std::uintptr_t ctx = 0x1000 + ++serial_;
        int rc = io_reactor_add(r_, s.local, reinterpret_cast<void *>(ctx), events);
        FUZZ_CHECK(rc == 0, "add failed: %s", io_reactor_strerror(io_reactor_last_error(r_)));
        s.registered = true;
        s.ctx = ctx;
        s.interest = events;
        s.got_close = s.got_error = s.post_failed = false;
        s.write_owed = events & EVENT_WRITE;
        s.wait_interest = 0;
        live_[ctx] = index(s);
    }

    void modify(Slot &s, int events) {
        if (!s.registered) {
            if (s.local >= 0) FUZZ_CHECK(io_reactor_modify(r_, s.local, events) == -1, "modify of an unregistered fd");
            return;
        }
        FUZZ_CHECK(io_reactor_modify(r_, s.local, events) == 0, "modify failed: %s",
                   io_reactor_strerror(io_reactor_last_error(r_)));
        if ((events & EVENT_WRITE) && !(s.interest & EVENT_WRITE)) s.write_owed = true;
        if (!(events & EVENT_WRITE)) s.write_owed = false;
        s.interest = events;
    }

    void remove(Slot &s) {
        if (!s.registered) {
            if (s.local >= 0) FUZZ_CHECK(io_reactor_remove(r_, s.local) == -1, "remove of an unregistered fd");
            return;
        }
        // What is still queued, or read ahead and not delivered, may go
        // with the handle (contract: the rest goes with the handle).
        if (io_reactor_queued_bytes(r_, s.local) > 0) s.out_exact = false;
        if (s.in_delivered < s.in_sent) s.in_exact = false;
        FUZZ_CHECK(io_reactor_remove(r_, s.local) == 0, "remove failed");
        FUZZ_CHECK(io_reactor_queued_bytes(r_, s.local) == 0, "a removed fd still has a queue");
        live_.erase(s.ctx);
        s.registered = false;
    }

    void post_write(Slot &s, fuzz::Input &in) {
        std::uint8_t b = in.byte();
        std::size_t n = b < 160 ? b + 1u : (b - 159u) * 1024u;
        if (!s.registered || moved_ + n > kMaxBytesPerRun) return;
        moved_ += n;
        std::string buf(n, '\0');
        for (std::size_t i = 0; i < n; ++i) buf[i] = pattern_byte(s.salt, s.out_posted + i);
        int rc = io_reactor_post_write(r_, s.local, buf.data(), n);
        if (rc == 0) {
            s.out_posted += n;
            if (s.interest & EVENT_WRITE) s.write_owed = true;
            return;
        }
        FUZZ_CHECK(s.peer_gone() || s.got_error, "post_write failed with a healthy peer: %s",
                   io_reactor_strerror(io_reactor_last_error(r_)));
        s.post_failed = true;
        s.out_exact = false;
    }

    void bad_calls(Slot &s) {
        if (s.local < 0) return;
        if (s.registered) {
            int rc = io_reactor_add(r_, s.local, reinterpret_cast<void *>(std::uintptr_t(1)), EVENT_READ);
            FUZZ_CHECK(rc == -1, "adding a registered fd again succeeded");
            FUZZ_CHECK(io_reactor_post_read(r_, s.local, nullptr, 0) == 0, "post_read check failed");
        } else {
            char c = 'x';
            FUZZ_CHECK(io_reactor_post_write(r_, s.local, &c, 1) == -1, "post_write on an unregistered fd");
            FUZZ_CHECK(io_reactor_queued_bytes(r_, s.local) == 0, "queue on an unregistered fd");
        }
    }

    void peer_send(Slot &s, fuzz::Input &in) {
        std::uint8_t b = in.byte();
        std::size_t n = b < 160 ? b + 1u : (b - 159u) * 1024u;
        if (s.peer < 0 || s.peer_shut || moved_ + n > kMaxBytesPerRun) return;
        std::string buf(n, '\0');
        for (std::size_t i = 0; i < n; ++i) buf[i] = pattern_byte(~s.salt, s.in_sent + i);
        long k = send(s.peer, buf.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            s.in_sent += static_cast<std::uint64_t>(k);
            moved_ += static_cast<std::size_t>(k);
        }
    }

    void peer_read(Slot &s) {
        if (s.peer < 0) return;
        char buf[65536];
        for (;;) {
            long n = recv(s.peer, buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0) return;
            if (s.out_exact) {
                for (long i = 0; i < n; ++i)
                    FUZZ_CHECK(buf[i] == pattern_byte(s.salt, s.out_received + i),
                               "slot %d: the peer got a wrong byte at offset %llu of the posted stream",
                               index(s), static_cast<unsigned long long>(s.out_received + i));
            }
            s.out_received += static_cast<std::uint64_t>(n);
            FUZZ_CHECK(!s.out_exact || s.out_received <= s.out_posted, "the peer got more than was posted");
        }
    }

    void peer_shutdown(Slot &s) {
        if (s.peer < 0 || s.peer_shut) return;
        shutdown(s.peer, SHUT_WR);
        s.peer_shut = true;
    }
    void peer_close(Slot &s) {
        if (s.peer < 0) return;
        close(s.peer);
        s.peer = -1;
        s.peer_closed = true;
    }
    void peer_reset(Slot &s) {
        if (s.peer < 0) return;
        abort_close(s.peer);
        s.peer = -1;
        s.peer_reset = true;
    }

    // Removes, closes both ends (reset: no TIME_WAIT left behind), frees.
    void free_slot(Slot &s) {
        if (s.registered) remove(s);
        if (s.local >= 0) abort_close(s.local);
        if (s.peer >= 0) abort_close(s.peer);
        s = Slot{};
    }

    void wait(fuzz::Input &in, int max_events, long timeout_us) {
        // One array for the whole program: remove() may rewrite entries of
        // the last wait's array (contract 2), so it must outlive that wait.
        timeval tv{0, timeout_us};
        int n = io_reactor_wait(r_, events_, max_events, &tv);
        FUZZ_CHECK(n >= 0 && n <= max_events, "wait returned %d (error %s)", n,
                   io_reactor_strerror(io_reactor_last_error(r_)));
        for (Slot &s : slots_) {
            s.wait_interest = s.interest;
            s.wait_queued = s.registered ? io_reactor_queued_bytes(r_, s.local) : 0;
        }
        for (int i = 0; i < n; ++i) {
            event(events_[i]);
            // A server acts from inside its loop: remove, write, pause...
            if (!in.empty() && in.byte() < 0x60) step(in, true);
        }
    }

    void event(const io_event_t &ev) {
        ++events_seen_;
        if (ev.event_type == IO_EVENT_NONE) {
            FUZZ_CHECK(ev.context == nullptr, "a cancelled entry keeps its context");
            return;
        }
        std::uintptr_t ctx = reinterpret_cast<std::uintptr_t>(ev.context);
        Slot *sp = owner(ctx);
        if (g_trace)
            std::fprintf(stderr, "  event %d slot %d bytes %d error %d\n", ev.event_type, sp ? index(*sp) : -1,
                         ev.bytes_transferred, ev.error);
        FUZZ_CHECK(sp, "event %d for context %#lx, which is removed or was never added", ev.event_type,
                   static_cast<unsigned long>(ctx));
        Slot &s = *sp;
        FUZZ_CHECK(ev.fd == s.local, "event for fd %d carries fd %d", s.local, ev.fd);
        FUZZ_CHECK(!s.got_error, "event %d after EVENT_ERROR", ev.event_type);
        switch (ev.event_type) {
        case EVENT_READ: return on_read(s, ev);
        case EVENT_WRITE:
            FUZZ_CHECK(s.wait_interest & EVENT_WRITE, "EVENT_WRITE without write interest");
            FUZZ_CHECK(s.wait_queued == 0, "EVENT_WRITE with %zu bytes still queued", s.wait_queued);
            s.write_owed = false;
            return;
        case EVENT_CLOSE:
            FUZZ_CHECK(!s.got_close, "a second EVENT_CLOSE");
            FUZZ_CHECK(s.wait_interest & EVENT_READ, "EVENT_CLOSE while reading is paused");
            FUZZ_CHECK(s.peer_shut || s.peer_gone(), "EVENT_CLOSE but the peer did not close");
            FUZZ_CHECK(!s.in_exact || s.in_delivered == s.in_sent,
                       "EVENT_CLOSE after %llu of %llu bytes", static_cast<unsigned long long>(s.in_delivered),
                       static_cast<unsigned long long>(s.in_sent));
            s.got_close = true;
            return;
        case EVENT_ERROR:
            FUZZ_CHECK(ev.error != 0, "EVENT_ERROR without an error code");
            FUZZ_CHECK(s.peer_gone(), "EVENT_ERROR (%s) with a healthy peer", io_reactor_strerror(ev.error));
            s.got_error = true;
            return;
        default:
            FUZZ_CHECK(false, "unexpected event type %d", ev.event_type);
        }
    }

    void on_read(Slot &s, const io_event_t &ev) {
        FUZZ_CHECK(s.wait_interest & EVENT_READ, "EVENT_READ while reading is paused");
        FUZZ_CHECK(!s.got_close, "EVENT_READ after EVENT_CLOSE");
        FUZZ_CHECK(ev.bytes_transferred > 0 && ev.buffer, "EVENT_READ with %d bytes", ev.bytes_transferred);
        const char *p = static_cast<const char *>(ev.buffer);
        std::uint64_t n = static_cast<std::uint64_t>(ev.bytes_transferred);
        if (s.in_exact) {
            FUZZ_CHECK(s.in_delivered + n <= s.in_sent, "more bytes delivered than the peer sent");
            for (std::uint64_t i = 0; i < n; ++i)
                FUZZ_CHECK(p[i] == pattern_byte(~s.salt, s.in_delivered + i),
                           "slot %d: wrong byte at offset %llu of the peer's stream", index(s),
                           static_cast<unsigned long long>(s.in_delivered + i));
        }
        s.in_delivered += n;
    }

    // Whether everything owed has happened; if not, `why` says what.
    bool settled(std::string &why) {
        for (Slot &s : slots_) {
            if (!s.registered || s.got_error) continue;
            std::string id = "slot " + std::to_string(index(s)) + ": ";
            if (s.post_failed) return why = id + "a failed post_write, but no EVENT_ERROR", false;
            if (s.peer_gone()) {
                if (!s.got_close) return why = id + "the peer is gone, but no EVENT_CLOSE or EVENT_ERROR", false;
                continue;
            }
            if (s.out_exact && (s.out_received < s.out_posted || io_reactor_queued_bytes(r_, s.local) > 0))
                return why = id + std::to_string(s.out_received) + " of " + std::to_string(s.out_posted) +
                             " posted bytes reached the peer (" +
                             std::to_string(io_reactor_queued_bytes(r_, s.local)) + " queued, interest " +
                             std::to_string(s.interest) + ")", false;
            if (s.in_exact && s.in_delivered < s.in_sent)
                return why = id + std::to_string(s.in_delivered) + " of " + std::to_string(s.in_sent) +
                             " bytes from the peer delivered", false;
            if (s.peer_shut && !s.got_close) return why = id + "the peer shut down, but no EVENT_CLOSE", false;
            if (s.write_owed && (s.interest & EVENT_WRITE))
                return why = id + "write interest and a drained queue, but no EVENT_WRITE", false;
        }
        return true;
    }

    io_reactor_t *r_;
    io_event_t events_[64]{};
    Slot slots_[kSlots];
    std::unordered_map<std::uintptr_t, int> live_;
    std::uint64_t serial_ = 0;
    std::size_t moved_ = 0;
    std::uint64_t events_seen_ = 0;
};

io_reactor_t *create_reactor() {
    io_reactor_config_t config{};
    config.backend = g_backend.c_str();
    return io_reactor_create_with(&config);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    if (const char *b = std::getenv("IO_REACTOR_BACKEND"); b && *b) g_backend = b;
    g_trace = std::getenv("FUZZ_TRACE") != nullptr;
    io_reactor_t *probe = create_reactor();
    if (!probe) {
        std::fprintf(stderr, "reactor fuzz: backend %s is not available here: skipped\n", g_backend.c_str());
        std::exit(77);
    }
    std::fprintf(stderr, "reactor fuzz: backend %s\n", io_reactor_backend_name(probe));
    io_reactor_destroy(probe);
    for (int narrow = 0; narrow < 2; ++narrow) {
        int &fd = g_listener[narrow];
        sockaddr_in &addr = g_addr[narrow];
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (narrow && fd >= 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kNarrow, sizeof kNarrow);
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 || listen(fd, 64) != 0 ||
            getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
            std::fprintf(stderr, "reactor fuzz: no loopback listener: %s\n", strerror(errno));
            std::exit(1);
        }
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 512) return 0;
    int fds_before = count_fds();
    {
        io_reactor_t *r = create_reactor();
        FUZZ_CHECK(r, "create failed: %s", io_reactor_strerror(io_reactor_last_error(nullptr)));
        {
            Program p(r);
            fuzz::Input in(data, size);
            while (!in.empty()) p.step(in, false);
            p.drain();
            p.finish();
        }
        io_reactor_destroy(r);
    }
    int fds_after = count_fds();
    FUZZ_CHECK(fds_after == fds_before, "%d descriptors open before, %d after", fds_before, fds_after);
    return 0;
}
