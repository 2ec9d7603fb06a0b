// loadgen: the one load generator every echo server is measured with.
//
// Written on the raw syscalls (non-blocking sockets, level-triggered epoll)
// so that the client side costs the same whichever server it talks to.
// Every mode is bounded: a connect/finish deadline and an alarm() watchdog.
//
//   loadgen pingpong --port P --conns N --size S --warmup SEC --duration SEC
//       N connections, each sends S bytes and waits for all S back, repeat.
//       Prints one JSON line: messages, bytes, seconds, rates, RTT p50/p99.
//   loadgen hold --port P --conns N [--max-seconds SEC]
//       Opens N connections, proves each is served (1-byte echo), prints
//       "ready N", then idles until stdin closes or the deadline passes.
//   --source 127.0.0.N  (any mode) the local address connections come from
//   loadgen accept --port P --count N --concurrency C
//       N short connections (connect, 1-byte echo, close), C at a time.
//       Prints one JSON line with the accept rate.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char *what) {
    std::fprintf(stderr, "loadgen: %s: %s\n", what, std::strerror(errno));
    std::exit(2);
}

[[noreturn]] void fail(const char *what) {
    std::fprintf(stderr, "loadgen: %s\n", what);
    std::exit(2);
}

struct Options {
    std::string mode;
    int port = 0;
    int conns = 1;
    int size = 64;
    double warmup = 0.5;
    double duration = 3.0;
    double max_seconds = 300.0;
    int count = 1000;
    int concurrency = 64;
    in_addr_t source = htonl(INADDR_LOOPBACK);
};

Options parse(int argc, char **argv) {
    if (argc < 2) fail("usage: loadgen pingpong|hold|accept --port N [...]");
    Options o;
    o.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string_view k = argv[i];
        const char *v = argv[i + 1];
        if (k == "--port") o.port = std::atoi(v);
        else if (k == "--conns") o.conns = std::atoi(v);
        else if (k == "--size") o.size = std::atoi(v);
        else if (k == "--warmup") o.warmup = std::atof(v);
        else if (k == "--duration") o.duration = std::atof(v);
        else if (k == "--max-seconds") o.max_seconds = std::atof(v);
        else if (k == "--count") o.count = std::atoi(v);
        else if (k == "--concurrency") o.concurrency = std::atoi(v);
        else if (k == "--source") o.source = inet_addr(v);
        else fail("unknown option");
    }
    if (o.port <= 0) fail("--port is required");
    return o;
}

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// Source address of every connection this process opens. Connections from
// different 127.x.y.z addresses do not compete for source ports: Linux's
// connect() tries only half the ephemeral range (even ports) before a slow
// scan of the rest, so more than ~14,000 connections from one address to one
// server port crawl. The harness gives each holder process its own address.
in_addr_t source_address = htonl(INADDR_LOOPBACK);

int start_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (source_address != htonl(INADDR_LOOPBACK)) {
        // Bind the address only; connect() still picks the port by 4-tuple.
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in s{};
        s.sin_family = AF_INET;
        s.sin_addr.s_addr = source_address;
        if (bind(fd, reinterpret_cast<sockaddr *>(&s), sizeof s) < 0) die("bind source");
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) < 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

// Abortive close: the harness opens tens of thousands of connections per
// minute to one server port, and TIME_WAIT on all of them would exhaust the
// ephemeral port range.
void close_abortively(int fd) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

class Epoll {
public:
    Epoll() : fd_(epoll_create1(EPOLL_CLOEXEC)) {
        if (fd_ < 0) die("epoll_create1");
    }
    ~Epoll() { close(fd_); }
    void add(int fd, uint32_t events, uint64_t tag) { ctl(EPOLL_CTL_ADD, fd, events, tag); }
    void mod(int fd, uint32_t events, uint64_t tag) { ctl(EPOLL_CTL_MOD, fd, events, tag); }
    void del(int fd) { epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }
    int wait(std::vector<epoll_event> &out, int timeout_ms) {
        int n = epoll_wait(fd_, out.data(), static_cast<int>(out.size()), timeout_ms);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        return std::max(n, 0);
    }

private:
    void ctl(int op, int fd, uint32_t events, uint64_t tag) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = tag;
        if (epoll_ctl(fd_, op, fd, &ev) < 0) die("epoll_ctl");
    }
    int fd_;
};

bool socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    errno = err;
    return err != 0;
}

// One ping-pong connection: a message of `size` bytes out, the same back.
struct PingConn {
    int fd = -1;
    bool connected = false;
    int to_send = 0;     // bytes of the current message not yet written
    int to_receive = 0;  // bytes of the current message not yet echoed
    bool want_out = false;
    Clock::time_point sent_at;
};

class PingPong {
public:
    explicit PingPong(const Options &o) : o_(o), out_(o.size, 'x'), in_(1 << 16), events_(1024) {}

    int run() {
        connect_all();
        auto start = Clock::now();
        for (auto &c : conns_) begin_message(c);
        pump_until(start, o_.warmup);
        warmup_messages_ = messages_;
        reset_counters();
        auto measured = Clock::now();
        pump_until(measured, o_.duration);
        double secs = seconds_since(measured);
        report(secs);
        for (auto &c : conns_) close_abortively(c.fd);
        return 0;
    }

private:
    void connect_all() {
        conns_.resize(o_.conns);
        auto deadline = Clock::now() + std::chrono::seconds(30);
        size_t next = 0, done = 0;
        const size_t in_flight_cap = 256;  // stays well inside the listen backlog
        while (done < conns_.size()) {
            while (next < conns_.size() && next - done < in_flight_cap) {
                conns_[next].fd = start_connect(o_.port);
                ep_.add(conns_[next].fd, EPOLLOUT, next);
                ++next;
            }
            if (Clock::now() > deadline) fail("connect phase timed out");
            int n = ep_.wait(events_, 100);
            for (int i = 0; i < n; ++i) {
                auto &c = conns_[events_[i].data.u64];
                if (c.connected) continue;
                if (socket_error(c.fd)) die("connect");
                c.connected = true;
                ep_.mod(c.fd, EPOLLIN, events_[i].data.u64);
                ++done;
            }
        }
    }

    void begin_message(PingConn &c) {
        c.to_send = o_.size;
        c.to_receive = o_.size;
        c.sent_at = Clock::now();
        write_some(c, &c - conns_.data());
    }

    void write_some(PingConn &c, size_t idx) {
        while (c.to_send > 0) {
            ssize_t n = send(c.fd, out_.data() + (o_.size - c.to_send), c.to_send, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) break;
                die("send");
            }
            c.to_send -= static_cast<int>(n);
        }
        bool want = c.to_send > 0;
        if (want != c.want_out) {
            c.want_out = want;
            ep_.mod(c.fd, EPOLLIN | (want ? EPOLLOUT : 0u), idx);
        }
    }

    void read_some(PingConn &c) {
        ssize_t n = recv(c.fd, in_.data(), in_.size(), 0);
        if (n == 0) fail("server closed a connection");
        if (n < 0) {
            if (errno == EAGAIN) return;
            die("recv");
        }
        c.to_receive -= static_cast<int>(n);
        bytes_ += n;
        if (c.to_receive > 0) return;
        if (c.to_receive < 0) fail("server echoed more than was sent");
        ++messages_;
        if (rtts_.size() < rtt_cap_)
            rtts_.push_back(std::chrono::duration<double, std::micro>(Clock::now() - c.sent_at).count());
        begin_message(c);
    }

    void pump_until(Clock::time_point from, double secs) {
        auto end = from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
        while (Clock::now() < end) {
            int n = ep_.wait(events_, 10);
            for (int i = 0; i < n; ++i) {
                size_t idx = events_[i].data.u64;
                auto &c = conns_[idx];
                if (events_[i].events & (EPOLLERR | EPOLLHUP)) fail("connection failed");
                if (events_[i].events & EPOLLOUT) write_some(c, idx);
                if (events_[i].events & EPOLLIN) read_some(c);
            }
        }
    }

    void reset_counters() {
        messages_ = 0;
        bytes_ = 0;
        rtts_.clear();
    }

    double percentile(double p) {
        if (rtts_.empty()) return 0;
        size_t k = std::min(rtts_.size() - 1, static_cast<size_t>(p * rtts_.size()));
        std::nth_element(rtts_.begin(), rtts_.begin() + k, rtts_.end());
        return rtts_[k];
    }

    void report(double secs) {
        double p50 = percentile(0.50), p99 = percentile(0.99);
        // Bytes counted once (echoed bytes received), as MB/s = 1e6 bytes/s.
        std::printf("{\"messages\": %llu, \"bytes\": %llu, \"seconds\": %.4f, "
                    "\"msgs_per_s\": %.1f, \"mb_per_s\": %.3f, \"p50_us\": %.2f, "
                    "\"p99_us\": %.2f, \"samples\": %zu, \"all_messages\": %llu}\n",
                    static_cast<unsigned long long>(messages_), static_cast<unsigned long long>(bytes_),
                    secs, messages_ / secs, bytes_ / secs / 1e6, p50, p99, rtts_.size(),
                    static_cast<unsigned long long>(warmup_messages_ + messages_));
    }

    const Options &o_;
    std::string out_;
    std::vector<char> in_;
    std::vector<epoll_event> events_;
    std::vector<PingConn> conns_;
    Epoll ep_;
    uint64_t messages_ = 0, bytes_ = 0, warmup_messages_ = 0;
    std::vector<double> rtts_;
    const size_t rtt_cap_ = 4'000'000;
};

// hold: N idle connections, each proven served by one 1-byte echo.
int hold(const Options &o) {
    Epoll ep;
    std::vector<int> fds(o.conns, -1);
    std::vector<uint8_t> stage(o.conns, 0);  // 0 connecting, 1 awaiting echo, 2 idle
    std::vector<epoll_event> events(1024);
    auto deadline = Clock::now() + std::chrono::seconds(60);
    size_t next = 0, done = 0;
    const size_t in_flight_cap = 256;
    while (done < fds.size()) {
        while (next < fds.size() && next - done < in_flight_cap) {
            fds[next] = start_connect(o.port);
            ep.add(fds[next], EPOLLOUT, next);
            ++next;
        }
        if (Clock::now() > deadline) fail("hold: connect phase timed out");
        int n = ep.wait(events, 100);
        for (int i = 0; i < n; ++i) {
            size_t idx = events[i].data.u64;
            int fd = fds[idx];
            if (stage[idx] == 0) {
                if (socket_error(fd)) die("connect");
                if (send(fd, "h", 1, MSG_NOSIGNAL) != 1) die("send");
                ep.mod(fd, EPOLLIN, idx);
                stage[idx] = 1;
            } else if (stage[idx] == 1) {
                char b;
                ssize_t r = recv(fd, &b, 1, 0);
                if (r == 0) fail("hold: server closed a connection");
                if (r < 0) {
                    if (errno == EAGAIN) continue;
                    die("recv");
                }
                stage[idx] = 2;
                ep.mod(fd, EPOLLRDHUP, idx);  // watch only for the server going away
                ++done;
            } else {
                fail("hold: an idle connection was closed by the server");
            }
        }
    }
    std::printf("ready %d\n", o.conns);
    std::fflush(stdout);

    // Idle: stay until the harness closes our stdin (or the deadline).
    const uint64_t stdin_tag = ~0ull;
    ep.add(STDIN_FILENO, EPOLLIN, stdin_tag);
    auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.max_seconds));
    bool quit = false;
    while (!quit && Clock::now() < end) {
        int n = ep.wait(events, 200);
        for (int i = 0; i < n; ++i) {
            if (events[i].data.u64 == stdin_tag) {
                char b[64];
                if (read(STDIN_FILENO, b, sizeof b) <= 0) quit = true;
            } else {
                fail("hold: an idle connection was closed by the server");
            }
        }
    }
    for (int fd : fds) close_abortively(fd);
    return 0;
}

// accept: short connections, `concurrency` in flight, until `count` done.
int accept_rate(const Options &o) {
    Epoll ep;
    std::vector<int> slots(o.concurrency, -1);
    std::vector<uint8_t> stage(o.concurrency, 0);
    std::vector<epoll_event> events(1024);
    int started = 0, finished = 0;
    auto open_slot = [&](size_t s) {
        slots[s] = start_connect(o.port);
        stage[s] = 0;
        ep.add(slots[s], EPOLLOUT, s);
        ++started;
    };
    auto begin = Clock::now();
    auto deadline = begin + std::chrono::seconds(60);
    for (size_t s = 0; s < slots.size() && started < o.count; ++s) open_slot(s);
    while (finished < o.count) {
        if (Clock::now() > deadline) fail("accept: timed out");
        int n = ep.wait(events, 100);
        for (int i = 0; i < n; ++i) {
            size_t s = events[i].data.u64;
            int fd = slots[s];
            if (stage[s] == 0) {
                if (socket_error(fd)) die("connect");
                if (send(fd, "a", 1, MSG_NOSIGNAL) != 1) die("send");
                ep.mod(fd, EPOLLIN, s);
                stage[s] = 1;
                continue;
            }
            char b;
            ssize_t r = recv(fd, &b, 1, 0);
            if (r < 0 && errno == EAGAIN) continue;
            if (r != 1) fail("accept: no echo on a short connection");
            ep.del(fd);
            close(fd);  // orderly close: a short connection ends normally
            slots[s] = -1;
            ++finished;
            if (started < o.count) open_slot(s);
        }
    }
    double secs = seconds_since(begin);
    std::printf("{\"count\": %d, \"seconds\": %.4f, \"accepts_per_s\": %.1f}\n", finished, secs,
                finished / secs);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    Options o = parse(argc, argv);
    source_address = o.source;
    alarm(static_cast<unsigned>(o.max_seconds + o.warmup + o.duration + 120));
    if (o.mode == "pingpong") return PingPong(o).run();
    if (o.mode == "hold") return hold(o);
    if (o.mode == "accept") return accept_rate(o);
    fail("unknown mode");
}
