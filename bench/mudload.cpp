// mudload: logged-in users of ior-mud for the MUD-shaped benchmark.
//
//   mudload --port P --users N [--first K] [--speakers S] [--interval-ms 100]
//           [--duration SEC] [--mccp on|off] [--source 127.0.0.X] [--max-seconds SEC]
//
// Logs in N users (names from index K on; new names, so each login is
// "name, choose a password"), at most kLoginsInFlight at a time, answers
// telnet negotiation as a plain client (DO MCCP2 when --mccp on, refuses
// everything else), prints "ready N", then waits for a line on stdin. Then
// the first S users of this process each say "t<ns>" every interval (staggered),
// where ns is CLOCK_MONOTONIC at the send: the clock every process on the
// machine shares, so a receiver in another process measures the delivery
// latency. After --duration it drains for kDrainSeconds, prints one JSON
// line (lines said, lines delivered, a latency histogram) and exits.
// Bounded: login and run deadlines, and an alarm() watchdog.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int kLoginsInFlight = 256;
constexpr double kDrainSeconds = 1.0;
constexpr double kLoginSeconds = 120.0;
// Latency histogram: kPerOctave buckets per doubling of microseconds.
constexpr int kPerOctave = 16;
constexpr int kBuckets = 28 * kPerOctave;
constexpr unsigned char IAC = 255, DONT = 254, DO = 253, WONT = 252, WILL = 251, SB = 250,
                        SE = 240, MCCP2 = 86;

[[noreturn]] void die(const char *what) {
    std::fprintf(stderr, "mudload: %s: %s\n", what, std::strerror(errno));
    std::exit(2);
}

[[noreturn]] void fail(const std::string &what) {
    std::fprintf(stderr, "mudload: %s\n", what.c_str());
    std::exit(2);
}

std::int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Options {
    int port = 0;
    int users = 10;
    int first = 0;
    int speakers = 0;
    int interval_ms = 100;
    double duration = 3.0;
    bool mccp = false;
    in_addr_t source = htonl(INADDR_LOOPBACK);
    int max_seconds = 300;
};

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view k = argv[i];
        const char *v = argv[i + 1];
        if (k == "--port") o.port = std::atoi(v);
        else if (k == "--users") o.users = std::atoi(v);
        else if (k == "--first") o.first = std::atoi(v);
        else if (k == "--speakers") o.speakers = std::atoi(v);
        else if (k == "--interval-ms") o.interval_ms = std::atoi(v);
        else if (k == "--duration") o.duration = std::atof(v);
        else if (k == "--mccp") o.mccp = std::string_view(v) == "on";
        else if (k == "--source") o.source = inet_addr(v);
        else if (k == "--max-seconds") o.max_seconds = std::atoi(v);
        else fail("unknown option " + std::string(k));
    }
    if (o.port <= 0 || o.users <= 0 || o.interval_ms <= 0) fail("--port and --users are required");
    if (o.speakers > o.users) o.speakers = o.users;
    return o;
}

// Names are letters only (the talker's rule): index 0 is "Uaa", base 26.
std::string name_of(int index) {
    char s[6] = "Uaaaa";
    for (int i = 4; i >= 1; --i, index /= 26) s[i] = char('a' + index % 26);
    return s;
}

struct Histogram {
    std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(kBuckets, 0);
    void add(double us) {
        int b = us < 1 ? 0 : 1 + int(std::log2(us) * kPerOctave);
        counts[std::size_t(b < kBuckets ? b : kBuckets - 1)]++;
    }
};

// One user: the telnet parser's state survives across reads; after
// IAC SB MCCP2 IAC SE the rest of the stream goes through zlib first.
struct User {
    int fd = -1;
    bool logged_in = false;
    enum { data, iac, option, sb, sb_iac } state = data;
    unsigned char verb = 0;
    unsigned char sb_option = 0;
    std::unique_ptr<z_stream> z;
    std::string line;
};

class Load {
public:
    explicit Load(const Options &o) : o_(o), users_(std::size_t(o.users)) {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) die("epoll_create1");
    }
    int run();

private:
    void start_login(std::size_t i);
    void on_event(std::size_t i, std::uint32_t events);
    void feed_raw(User &u, const unsigned char *p, std::size_t n);
    std::size_t feed_telnet(User &u, const unsigned char *p, std::size_t n);
    void reply(User &u, unsigned char verb, unsigned char option);
    void on_line(User &u);
    void say(std::size_t speaker);
    int wait(int timeout_ms);
    bool stdin_has_line();

    const Options &o_;
    std::vector<User> users_;
    int ep_;
    std::size_t started_ = 0, logged_in_ = 0;
    bool measuring_ = false;
    std::uint64_t said_ = 0, delivered_ = 0;
    Histogram hist_;
    std::vector<epoll_event> events_ = std::vector<epoll_event>(1024);
    std::vector<unsigned char> inflated_ = std::vector<unsigned char>(256 * 1024);
};

void Load::start_login(std::size_t i) {
    User &u = users_[i];
    u.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (u.fd < 0) die("socket");
    int one = 1;
    setsockopt(u.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o_.source != htonl(INADDR_LOOPBACK)) {
        setsockopt(u.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in s{};
        s.sin_family = AF_INET;
        s.sin_addr.s_addr = o_.source;
        if (bind(u.fd, reinterpret_cast<sockaddr *>(&s), sizeof s) < 0) die("bind source");
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(o_.port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Blocking connect on loopback returns once the kernel has queued the
    // connection; the login lines wait in the socket until the server reads.
    if (connect(u.fd, reinterpret_cast<sockaddr *>(&a), sizeof a) < 0) die("connect");
    std::string login = name_of(o_.first + int(i)) + "\r\npw\r\n";
    if (send(u.fd, login.data(), login.size(), MSG_NOSIGNAL) != ssize_t(login.size())) die("send login");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, u.fd, &ev) < 0) die("epoll_ctl");
    ++started_;
}

void Load::reply(User &u, unsigned char verb, unsigned char option) {
    unsigned char answer = 0;
    if (verb == WILL) answer = option == MCCP2 && o_.mccp ? DO : DONT;
    if (verb == DO) answer = WONT;
    if (!answer) return;
    const unsigned char msg[3] = {IAC, answer, option};
    (void)!send(u.fd, msg, sizeof msg, MSG_NOSIGNAL);
}

// Returns how much it consumed: less than n when compression starts there.
std::size_t Load::feed_telnet(User &u, const unsigned char *p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char c = p[i];
        switch (u.state) {
        case User::data:
            if (c == IAC) u.state = User::iac;
            else if (c == '\n') on_line(u);
            else if (u.line.size() < 4096) u.line += char(c);
            break;
        case User::iac:
            if (c == IAC) u.line += char(c), u.state = User::data;
            else if (c >= WILL && c <= DONT) u.verb = c, u.state = User::option;
            else if (c == SB) u.sb_option = 0, u.verb = 0, u.state = User::sb;
            else u.state = User::data;
            break;
        case User::option:
            reply(u, u.verb, c);
            u.state = User::data;
            break;
        case User::sb:
            if (u.verb == 0) u.verb = 1, u.sb_option = c;
            if (c == IAC) u.state = User::sb_iac;
            break;
        case User::sb_iac:
            if (c != SE) {
                u.state = User::sb;
                break;
            }
            u.state = User::data;
            if (u.sb_option == MCCP2 && !u.z) {
                u.z = std::make_unique<z_stream>();
                std::memset(u.z.get(), 0, sizeof(z_stream));
                if (inflateInit(u.z.get()) != Z_OK) fail("inflateInit");
                return i + 1;
            }
            break;
        }
    }
    return n;
}

void Load::feed_raw(User &u, const unsigned char *p, std::size_t n) {
    while (n > 0 && !u.z) {
        std::size_t used = feed_telnet(u, p, n);
        p += used;
        n -= used;
    }
    if (n == 0) return;
    u.z->next_in = const_cast<unsigned char *>(p);
    u.z->avail_in = unsigned(n);
    while (u.z->avail_in > 0) {
        u.z->next_out = inflated_.data();
        u.z->avail_out = unsigned(inflated_.size());
        int rc = inflate(u.z.get(), Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR) fail("inflate failed");
        feed_telnet(u, inflated_.data(), inflated_.size() - u.z->avail_out);
        if (rc == Z_BUF_ERROR) break;
    }
}

// "Uaaab says: t123456789": a delivery; "Hello, Uaaab.": logged in.
void Load::on_line(User &u) {
    std::string_view l = u.line;
    auto says = l.find(" says: t");
    if (says != std::string_view::npos) {
        if (measuring_) {
            const std::int64_t sent = std::atoll(u.line.c_str() + says + 8);
            hist_.add(double(now_ns() - sent) / 1e3);
            ++delivered_;
        }
    } else if (!u.logged_in && l.find("Hello, ") != std::string_view::npos) {
        u.logged_in = true;
        ++logged_in_;
    }
    u.line.clear();
}

void Load::on_event(std::size_t i, std::uint32_t events) {
    User &u = users_[i];
    unsigned char buf[65536];
    for (;;) {
        ssize_t r = recv(u.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
            feed_raw(u, buf, std::size_t(r));
            if (std::size_t(r) < sizeof buf) return;
            continue;
        }
        if (r < 0 && errno == EAGAIN && !(events & (EPOLLHUP | EPOLLERR))) return;
        fail("the server closed the connection of " + name_of(o_.first + int(i)) +
             (u.logged_in ? " (logged in)" : " (logging in)"));
    }
}

void Load::say(std::size_t speaker) {
    char msg[64];
    int len = std::snprintf(msg, sizeof msg, "say t%lld\r\n", static_cast<long long>(now_ns()));
    if (send(users_[speaker].fd, msg, std::size_t(len), MSG_NOSIGNAL) != len) die("send say");
    ++said_;
}

int Load::wait(int timeout_ms) {
    int n = epoll_wait(ep_, events_.data(), int(events_.size()), timeout_ms);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; ++k) on_event(std::size_t(events_[std::size_t(k)].data.u64), events_[std::size_t(k)].events);
    return n;
}

bool Load::stdin_has_line() {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = ~0ull;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev);
    const int ready = epoll_wait(ep, &ev, 1, 0);
    close(ep);
    if (ready <= 0) return false;
    char b[64];
    if (read(STDIN_FILENO, b, sizeof b) <= 0) fail("stdin closed before the start");
    return true;
}

int Load::run() {
    const std::int64_t login_deadline = now_ns() + std::int64_t(kLoginSeconds * 1e9);
    const std::int64_t login_start = now_ns();
    while (logged_in_ < users_.size()) {
        while (started_ < users_.size() && started_ - logged_in_ < kLoginsInFlight) start_login(started_);
        wait(100);
        if (now_ns() > login_deadline) fail("login timed out (" + std::to_string(logged_in_) + " logged in)");
    }
    const double login_s = double(now_ns() - login_start) / 1e9;
    std::printf("ready %zu\n", users_.size());
    std::fflush(stdout);
    while (!stdin_has_line()) wait(20);  // the harness starts every process at once

    measuring_ = true;
    const std::int64_t interval = std::int64_t(o_.interval_ms) * 1000000;
    const std::int64_t start = now_ns(), stop = start + std::int64_t(o_.duration * 1e9);
    std::vector<std::int64_t> next(std::size_t(o_.speakers));
    for (std::size_t s = 0; s < next.size(); ++s) next[s] = start + interval * std::int64_t(s) / o_.speakers;
    for (;;) {
        const std::int64_t now = now_ns();
        if (now >= stop) break;
        std::int64_t due = stop;
        for (std::size_t s = 0; s < next.size(); ++s) {
            if (next[s] <= now) {
                say(s);
                next[s] += interval;
            }
            due = std::min(due, next[s]);
        }
        wait(int(std::max<std::int64_t>(0, (due - now_ns() + 999999) / 1000000)));
    }
    const std::int64_t drain_end = now_ns() + std::int64_t(kDrainSeconds * 1e9);
    while (now_ns() < drain_end) wait(int((drain_end - now_ns()) / 1000000) + 1);

    std::string hist;
    for (std::size_t b = 0; b < hist_.counts.size(); ++b)
        if (hist_.counts[b]) hist += (hist.empty() ? "" : ", ") + ("[" + std::to_string(b) + ", " + std::to_string(hist_.counts[b]) + "]");
    std::printf("{\"users\": %zu, \"said\": %llu, \"delivered\": %llu, \"login_s\": %.3f, "
                "\"per_octave\": %d, \"hist\": [%s]}\n",
                users_.size(), static_cast<unsigned long long>(said_),
                static_cast<unsigned long long>(delivered_), login_s, kPerOctave, hist.c_str());
    std::fflush(stdout);
    for (User &u : users_) {
        if (u.z) inflateEnd(u.z.get());
        linger l{1, 0};  // abortive: no TIME_WAIT for 10,000 connections
        setsockopt(u.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        close(u.fd);
    }
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    Options o = parse(argc, argv);
    alarm(unsigned(o.max_seconds));
    return Load(o).run();
}
