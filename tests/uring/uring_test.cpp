// io_uring-specific behaviour: run-time fallback when the kernel refuses
// io_uring, provided-buffer exhaustion, and cancellation on remove/destroy.
// The portable contract itself is tested by tests/conformance.
#include "io_reactor.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

io_reactor_t *make_reactor(const char *backend, int max_events = 0) {
    io_reactor_config_t config{};
    config.backend = backend;
    config.max_events = max_events;
    return io_reactor_create_with(&config);
}

// A connected loopback TCP pair: first is the server side.
std::pair<int, int> tcp_pair() {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0 ||
        listen(listener, 1) < 0 ||
        getsockname(listener, reinterpret_cast<sockaddr *>(&addr), &len) < 0)
        return {-1, -1};
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(client, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0) return {-1, -1};
    int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    close(listener);
    return {server, client};
}

int loopback_listener(sockaddr_in &addr) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    addr = sockaddr_in{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) < 0)
        return -1;
    return fd;
}

bool uring_available() {
    io_reactor_t *r = make_reactor("io_uring");
    if (!r) return false;
    io_reactor_destroy(r);
    return true;
}

#define REQUIRE_URING()                                                   \
    do {                                                                  \
        if (!uring_available()) GTEST_SKIP() << "io_uring not available"; \
    } while (0)

// Waits (bounded) and returns every event of one kind for one fd, appended.
struct Collected {
    std::string bytes;
    int closes = 0;
    int errors = 0;
};

void pump(io_reactor_t *r, std::vector<Collected> &by_index, const std::vector<int> &fds,
          int max_events, std::chrono::milliseconds budget,
          const std::function<bool()> &done) {
    std::vector<io_event_t> events(static_cast<std::size_t>(max_events));
    auto deadline = Clock::now() + budget;
    while (!done() && Clock::now() < deadline) {
        timeval tv{0, 20000};
        int n = io_reactor_wait(r, events.data(), max_events, &tv);
        ASSERT_GE(n, 0);
        for (int i = 0; i < n; ++i) {
            const io_event_t &e = events[static_cast<std::size_t>(i)];
            if (e.event_type == IO_EVENT_NONE) continue;
            auto idx = static_cast<std::size_t>(reinterpret_cast<std::intptr_t>(e.context));
            ASSERT_LT(idx, fds.size());
            ASSERT_EQ(e.fd, fds[idx]);
            if (e.event_type == EVENT_READ)
                by_index[idx].bytes.append(static_cast<const char *>(e.buffer),
                                           static_cast<std::size_t>(e.bytes_transferred));
            if (e.event_type == EVENT_CLOSE) ++by_index[idx].closes;
            if (e.event_type == EVENT_ERROR) ++by_index[idx].errors;
        }
    }
}

void *ctx(std::size_t i) { return reinterpret_cast<void *>(static_cast<std::intptr_t>(i)); }

// Loopback pairs whose server sides are added to a reactor for reading, each
// with its index as context. The sockets close with the object: destroy the
// reactor first.
struct ReadingPairs {
    std::vector<int> servers, clients;
    ~ReadingPairs() {
        for (int fd : servers) close(fd);
        for (int fd : clients) close(fd);
    }
};

void add_reading_pairs(io_reactor_t *r, std::size_t n, ReadingPairs &pairs) {
    for (std::size_t i = 0; i < n; ++i) {
        auto [s, c] = tcp_pair();
        ASSERT_GE(s, 0);
        pairs.servers.push_back(s);
        pairs.clients.push_back(c);
        ASSERT_EQ(io_reactor_add(r, s, ctx(i), EVENT_READ), 0);
    }
}

// ---- run-time fallback -----------------------------------------------------

// Makes io_uring_setup fail with EPERM for this process, the way a container
// runtime's seccomp profile does.
bool forbid_io_uring_setup() {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
    return syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

// Child exit codes, so a failure says which step broke.
enum ChildResult {
    kChildOk = 0,
    kNoSeccomp = 10,
    kForcedUringCreated,
    kForcedUringNoError,
    kAutoFailed,
    kAutoNotEpoll,
    kEchoFailed,
};

int echo_once(io_reactor_t *r) {
    auto [server, client] = tcp_pair();
    if (server < 0 || io_reactor_add(r, server, nullptr, EVENT_READ) != 0) return -1;
    if (send(client, "ping", 4, 0) != 4) return -1;
    io_event_t events[8];
    std::string got;
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (got.size() < 4 && Clock::now() < deadline) {
        timeval tv{0, 50000};
        int n = io_reactor_wait(r, events, 8, &tv);
        for (int i = 0; i < n; ++i)
            if (events[i].event_type == EVENT_READ)
                got.append(static_cast<char *>(events[i].buffer),
                           static_cast<std::size_t>(events[i].bytes_transferred));
    }
    io_reactor_remove(r, server);
    close(server);
    close(client);
    return got == "ping" ? 0 : -1;
}

int fallback_child() {
    if (!forbid_io_uring_setup()) return kNoSeccomp;
    if (io_reactor_t *forced = make_reactor("io_uring")) {
        io_reactor_destroy(forced);
        return kForcedUringCreated;
    }
    if (io_reactor_last_error(nullptr) == 0) return kForcedUringNoError;
    io_reactor_t *r = make_reactor("auto");
    if (!r) return kAutoFailed;
    int result = kChildOk;
    if (std::strcmp(io_reactor_backend_name(r), "epoll") != 0) result = kAutoNotEpoll;
    else if (echo_once(r) != 0) result = kEchoFailed;
    io_reactor_destroy(r);
    return result;
}

TEST(UringFallback, seccomp_denied_io_uring_makes_auto_pick_epoll_and_forced_io_uring_fail) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(fallback_child());
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child died, status " << status;
    if (WEXITSTATUS(status) == kNoSeccomp) GTEST_SKIP() << "seccomp filters not allowed here";
    EXPECT_EQ(WEXITSTATUS(status), kChildOk);
}

TEST(UringFallback, forced_io_uring_reports_its_name_when_available) {
    REQUIRE_URING();
    io_reactor_t *r = make_reactor("io_uring");
    ASSERT_NE(r, nullptr);
    EXPECT_STREQ(io_reactor_backend_name(r), "io_uring");
    EXPECT_EQ(echo_once(r), 0);
    io_reactor_destroy(r);
}

// ---- provided buffers and completions ---------------------------------------

// More connections have data at once than the backend has provided buffers
// (128) and than fit one wait: recvs hit ENOBUFS, completions stay in the
// CQ ring, and every byte still arrives once, in order.
TEST(UringBuffers, more_ready_connections_than_buffers_lose_no_data) {
    REQUIRE_URING();
    constexpr std::size_t kConnections = 1500;
    io_reactor_t *r = make_reactor("io_uring", 16);
    ASSERT_NE(r, nullptr);
    ReadingPairs pairs;
    ASSERT_NO_FATAL_FAILURE(add_reading_pairs(r, kConnections, pairs));
    for (int round = 0; round < 3; ++round) {
        for (std::size_t i = 0; i < kConnections; ++i) {
            std::string msg = std::to_string(round) + ":" + std::to_string(i) + ";";
            ASSERT_EQ(send(pairs.clients[i], msg.data(), msg.size(), 0), ssize_t(msg.size()));
        }
    }
    std::vector<Collected> got(kConnections);
    auto complete = [&] {
        for (std::size_t i = 0; i < kConnections; ++i) {
            std::string want;
            for (int round = 0; round < 3; ++round)
                want += std::to_string(round) + ":" + std::to_string(i) + ";";
            if (got[i].bytes.size() < want.size()) return false;
        }
        return true;
    };
    pump(r, got, pairs.servers, 16, std::chrono::seconds(20), complete);
    for (std::size_t i = 0; i < kConnections; ++i) {
        std::string want;
        for (int round = 0; round < 3; ++round)
            want += std::to_string(round) + ":" + std::to_string(i) + ";";
        ASSERT_EQ(got[i].bytes, want) << "connection " << i;
    }
    io_reactor_destroy(r);
}

// More bytes are ready at once than every provided buffer holds (each 16 KiB
// message fills a whole buffer, incremental or not): the recvs past the last
// buffer hit ENOBUFS, read again at a later poll, and every byte still
// arrives once, in order.
TEST(UringBuffers, more_ready_bytes_than_all_buffers_hold_lose_no_data) {
    REQUIRE_URING();
    constexpr std::size_t kConnections = 300;  // > 128 buffers of 16 KiB
    constexpr std::size_t kMessage = 16 * 1024;
    io_reactor_t *r = make_reactor("io_uring", 64);
    ASSERT_NE(r, nullptr);
    ReadingPairs pairs;
    ASSERT_NO_FATAL_FAILURE(add_reading_pairs(r, kConnections, pairs));
    std::vector<std::string> want(kConnections);
    for (std::size_t i = 0; i < kConnections; ++i) {
        for (int round = 0; round < 3; ++round) {
            std::string msg(kMessage, static_cast<char>('a' + (i + round) % 26));
            msg.replace(0, 12, std::to_string(round) + ":" + std::to_string(i) + ";");
            ASSERT_EQ(send(pairs.clients[i], msg.data(), msg.size(), 0), ssize_t(msg.size()));
            want[i] += msg;
        }
    }
    std::vector<Collected> got(kConnections);
    auto complete = [&] {
        for (std::size_t i = 0; i < kConnections; ++i)
            if (got[i].bytes.size() < want[i].size()) return false;
        return true;
    };
    pump(r, got, pairs.servers, 64, std::chrono::seconds(20), complete);
    for (std::size_t i = 0; i < kConnections; ++i) {
        ASSERT_EQ(got[i].bytes.size(), want[i].size()) << "connection " << i;
        ASSERT_TRUE(got[i].bytes == want[i]) << "connection " << i << ": bytes out of order";
    }
    io_reactor_destroy(r);
}

// ---- cancellation -------------------------------------------------------------

TEST(UringCancel, remove_releases_every_operation_in_flight) {
    REQUIRE_URING();
    io_reactor_t *r = make_reactor("io_uring");
    ASSERT_NE(r, nullptr);
    io_reactor_stats_t before{};
    ASSERT_EQ(io_reactor_get_stats(r, &before), 0);

    auto [server, client] = tcp_pair();
    ASSERT_EQ(io_reactor_add(r, server, nullptr, EVENT_READ), 0);
    // A send the peer never reads: it stays in flight in the kernel.
    int small = 4096;
    setsockopt(server, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    std::string big(4 << 20, 'x');
    ASSERT_EQ(io_reactor_post_write(r, server, big.data(), big.size()), 0);
    io_event_t events[8];
    timeval tv{0, 20000};
    ASSERT_GE(io_reactor_wait(r, events, 8, &tv), 0);
    ASSERT_GT(io_reactor_queued_bytes(r, server), 0u);
    io_reactor_stats_t busy{};
    ASSERT_EQ(io_reactor_get_stats(r, &busy), 0);
    EXPECT_GE(busy.contexts_live, before.contexts_live + 2) << "a recv and a send in flight";

    ASSERT_EQ(io_reactor_remove(r, server), 0);
    close(server);
    io_reactor_stats_t after{};
    auto deadline = Clock::now() + std::chrono::seconds(5);
    do {
        int n = io_reactor_wait(r, events, 8, &tv);
        ASSERT_GE(n, 0);
        for (int i = 0; i < n; ++i) EXPECT_EQ(events[i].event_type, IO_EVENT_NONE);
        ASSERT_EQ(io_reactor_get_stats(r, &after), 0);
    } while (after.contexts_live > before.contexts_live && Clock::now() < deadline);
    EXPECT_EQ(after.contexts_live, before.contexts_live);
    io_reactor_destroy(r);
    close(client);
}

// Destroy with reads, sends and accepts in flight: ASan (IOR_SANITIZE) fails
// this on a leaked or freed-too-early handle.
TEST(UringCancel, destroy_with_operations_in_flight_frees_everything) {
    REQUIRE_URING();
    io_reactor_t *r = make_reactor("io_uring");
    ASSERT_NE(r, nullptr);
    sockaddr_in addr{};
    int listener = loopback_listener(addr);
    ASSERT_GE(listener, 0);
    ASSERT_EQ(io_reactor_add_listener(r, listener, nullptr), 0);
    std::vector<int> fds;
    for (int i = 0; i < 8; ++i) {
        auto [s, c] = tcp_pair();
        fds.push_back(s);
        fds.push_back(c);
        ASSERT_EQ(io_reactor_add(r, s, nullptr, EVENT_READ), 0);
        std::string big(1 << 20, 'y');
        ASSERT_EQ(io_reactor_post_write(r, s, big.data(), big.size()), 0);
    }
    io_event_t events[8];
    timeval tv{0, 20000};
    ASSERT_GE(io_reactor_wait(r, events, 8, &tv), 0);
    // One pending connection whose accept completes during teardown.
    int late = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(connect(late, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
    io_reactor_destroy(r);
    for (int fd : fds) close(fd);
    close(late);
    close(listener);
}

// Pausing cancels the multishot recv; data sent while paused arrives after
// resume, once, in order.
TEST(UringPause, pause_resume_cycles_keep_bytes_in_order) {
    REQUIRE_URING();
    io_reactor_t *r = make_reactor("io_uring");
    ASSERT_NE(r, nullptr);
    auto [server, client] = tcp_pair();
    ASSERT_EQ(io_reactor_add(r, server, ctx(0), EVENT_READ), 0);
    std::vector<Collected> got(1);
    std::vector<int> fds{server};
    std::string want;
    io_event_t events[8];
    for (int cycle = 0; cycle < 50; ++cycle) {
        std::string msg = "<" + std::to_string(cycle) + ">";
        want += msg;
        ASSERT_EQ(send(client, msg.data(), msg.size(), 0), ssize_t(msg.size()));
        ASSERT_EQ(io_reactor_modify(r, server, cycle % 2 ? EVENT_READ : 0), 0);
        timeval tv{0, 1000};
        int n = io_reactor_wait(r, events, 8, &tv);
        ASSERT_GE(n, 0);
        for (int i = 0; i < n; ++i) {
            if (events[i].event_type != EVENT_READ) continue;
            EXPECT_EQ(cycle % 2, 1) << "EVENT_READ while paused";
            got[0].bytes.append(static_cast<char *>(events[i].buffer),
                                static_cast<std::size_t>(events[i].bytes_transferred));
        }
    }
    ASSERT_EQ(io_reactor_modify(r, server, EVENT_READ), 0);
    pump(r, got, fds, 8, std::chrono::seconds(5), [&] { return got[0].bytes.size() >= want.size(); });
    EXPECT_EQ(got[0].bytes, want);
    io_reactor_destroy(r);
    close(server);
    close(client);
}

}  // namespace

namespace {

// The ring is created disabled and gets its single issuer at the first wait:
// a reactor created and filled on one thread (more handles than the SQ holds,
// and one removed again) runs on another.
TEST(UringThreads, reactor_filled_on_one_thread_runs_on_another) {
    REQUIRE_URING();
    constexpr std::size_t kConnections = 600;  // more than the 256-entry SQ
    io_reactor_t *r = make_reactor("io_uring");
    ASSERT_NE(r, nullptr);
    ReadingPairs pairs;
    ASSERT_NO_FATAL_FAILURE(add_reading_pairs(r, kConnections, pairs));
    ASSERT_EQ(io_reactor_remove(r, pairs.servers[0]), 0);
    for (std::size_t i = 0; i < kConnections; ++i)
        ASSERT_EQ(send(pairs.clients[i], "hi", 2, 0), 2);

    std::vector<Collected> got(kConnections);
    bool wait_failed = false;
    std::thread loop([&] {
        std::vector<io_event_t> events(64);
        auto deadline = Clock::now() + std::chrono::seconds(10);
        std::size_t complete = 0;
        while (complete < kConnections - 1 && Clock::now() < deadline) {
            timeval tv{0, 20000};
            int n = io_reactor_wait(r, events.data(), 64, &tv);
            if (n < 0) {
                wait_failed = true;
                break;
            }
            for (int i = 0; i < n; ++i) {
                const io_event_t &e = events[static_cast<std::size_t>(i)];
                if (e.event_type != EVENT_READ) continue;
                auto idx = static_cast<std::size_t>(reinterpret_cast<std::intptr_t>(e.context));
                got[idx].bytes.append(static_cast<const char *>(e.buffer),
                                      static_cast<std::size_t>(e.bytes_transferred));
                if (got[idx].bytes.size() == 2) ++complete;
            }
        }
        io_reactor_destroy(r);
    });
    loop.join();
    EXPECT_FALSE(wait_failed) << io_reactor_strerror(io_reactor_last_error(nullptr));
    EXPECT_EQ(got[0].bytes, "") << "removed before the first wait";
    for (std::size_t i = 1; i < kConnections; ++i) ASSERT_EQ(got[i].bytes, "hi") << "connection " << i;
    // The removed handle's recv was cancelled: its bytes are still in the socket.
    char buf[4];
    EXPECT_EQ(recv(pairs.servers[0], buf, sizeof buf, MSG_DONTWAIT), 2);
}

}  // namespace

namespace {

// ---- listener out of descriptors ------------------------------------------

enum EmfileResult { kEmfileOk = 0, kNoErrorEvent = 20, kWrongError, kNoAcceptAfter, kSetupFailed };

// The kernel's multishot accept fails with EMFILE; like epoll, the listener
// reports EVENT_ERROR (EMFILE) and keeps listening: once descriptors are
// free the pending connection is accepted.
int emfile_child(const char *backend) {
    rlimit lim{256, 256};
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) return kSetupFailed;
    io_reactor_t *r = make_reactor(backend);
    sockaddr_in addr{};
    int listener = loopback_listener(addr);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int listener_ctx = 0;
    if (!r || listener < 0 || client < 0 || io_reactor_add_listener(r, listener, &listener_ctx) != 0)
        return kSetupFailed;
    io_event_t events[8];
    auto wait_for = [&](int type, int &error) {
        auto deadline = Clock::now() + std::chrono::seconds(3);
        while (Clock::now() < deadline) {
            timeval t{0, 20000};
            int n = io_reactor_wait(r, events, 8, &t);
            for (int i = 0; i < n; ++i) {
                if (events[i].event_type != type || events[i].context != &listener_ctx) continue;
                error = type == EVENT_ACCEPT ? int(events[i].accepted_fd) : events[i].error;
                return true;
            }
        }
        return false;
    };
    // One connection accepted while descriptors are free: the reactor is
    // running (and UBSan's first vptr check, which needs a pipe, is done).
    int warmup = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int first = -1;
    if (connect(warmup, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        !wait_for(EVENT_ACCEPT, first) || first < 0)
        return kSetupFailed;
    close(first);
    close(warmup);
    std::vector<int> filler;
    for (int fd; (fd = dup(client)) >= 0;) filler.push_back(fd);
    if (connect(client, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) return kSetupFailed;

    int error = 0;
    if (!wait_for(EVENT_ERROR, error)) return kNoErrorEvent;
    if (error != EMFILE) return kWrongError;
    for (int i = 0; i < 8; ++i) {
        close(filler.back());
        filler.pop_back();
    }
    int accepted = -1;
    if (!wait_for(EVENT_ACCEPT, accepted) || accepted < 0) return kNoAcceptAfter;
    io_reactor_destroy(r);
    return kEmfileOk;
}

void expect_emfile_is_reported_and_survived(const char *backend) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(emfile_child(backend));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << backend << ": child died, status " << status;
    EXPECT_EQ(WEXITSTATUS(status), kEmfileOk) << backend;
}

TEST(UringListener, out_of_descriptors_is_an_error_event_and_the_listener_keeps_accepting) {
    REQUIRE_URING();
    expect_emfile_is_reported_and_survived("io_uring");
    expect_emfile_is_reported_and_survived("epoll");  // the same as the reference backend
}

}  // namespace
