// What only the IOCP backend can get wrong: operation contexts the kernel
// still owns at remove/destroy, console input through a reader thread, and
// what an idle connection costs. The conformance suite covers the contract.
#include "io_reactor.h"
#include "test_sockets.h"

#include <gtest/gtest.h>

#include <windows.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace ior {
extern std::atomic<long> iocp_contexts_alive;  // backend_iocp.cpp
}

namespace {

using Clock = std::chrono::steady_clock;

io_reactor_t *make_iocp_reactor(int pool_size = 0) {
    ts::init();
    io_reactor_config_t config{};
    config.backend = "iocp";
    config.pool_size = pool_size;
    return io_reactor_create_with(&config);
}

io_reactor_stats_t stats_of(io_reactor_t *reactor) {
    io_reactor_stats_t stats{};
    EXPECT_EQ(io_reactor_get_stats(reactor, &stats), 0);
    return stats;
}

// Waits until pred() or the deadline; events are handed to on_event.
template <class Pred, class OnEvent>
bool pump_until(io_reactor_t *reactor, Pred pred, OnEvent on_event, int deadline_ms = 10000) {
    auto deadline = Clock::now() + std::chrono::milliseconds(deadline_ms);
    io_event_t events[64];
    while (!pred()) {
        if (Clock::now() >= deadline) return false;
        timeval tv{0, 20000};
        int n = io_reactor_wait(reactor, events, 64, &tv);
        if (n < 0) return false;
        for (int i = 0; i < n; ++i)
            if (events[i].event_type != IO_EVENT_NONE) on_event(events[i]);
    }
    return true;
}

template <class Pred>
bool pump_until(io_reactor_t *reactor, Pred pred) {
    return pump_until(reactor, pred, [](const io_event_t &) {});
}

// Loopback pairs whose local ends are added to a reactor for reading, each
// with a context of its own. The sockets close with the object: destroy the
// reactor first, as a server would.
struct ReadingPairs {
    std::vector<ts::Pair> pairs;
    std::vector<int> contexts;
    ReadingPairs() = default;
    ReadingPairs(const ReadingPairs &) = delete;
    ReadingPairs &operator=(const ReadingPairs &) = delete;
    ~ReadingPairs() {
        for (const ts::Pair &p : pairs) {
            if (ts::valid(p.peer)) ts::close_socket(p.peer);
            if (ts::valid(p.local)) ts::close_socket(p.local);
        }
    }
};

void add_reading_pairs(io_reactor_t *reactor, std::size_t n, ReadingPairs &out) {
    out.contexts.resize(n);  // before any add: a context must not move
    for (std::size_t i = 0; i < n; ++i) {
        out.pairs.push_back(ts::make_pair());
        ASSERT_TRUE(out.pairs.back().ok());
        ASSERT_EQ(io_reactor_add(reactor, out.pairs.back().local, &out.contexts[i], EVENT_READ), 0);
    }
}

// ---- operation contexts -------------------------------------------------------

TEST(Iocp, idle_handle_holds_one_posted_read_context) {
    io_reactor_t *reactor = make_iocp_reactor();
    ASSERT_NE(reactor, nullptr);
    ReadingPairs one;
    ASSERT_NO_FATAL_FAILURE(add_reading_pairs(reactor, 1, one));
    io_reactor_stats_t s = stats_of(reactor);
    EXPECT_EQ(s.contexts_live - s.contexts_pooled, 1u) << "one zero-byte read per idle socket";
    io_reactor_destroy(reactor);
}

TEST(Iocp, remove_with_read_in_flight_returns_its_context_once_the_cancel_completes) {
    io_reactor_t *reactor = make_iocp_reactor();
    ASSERT_NE(reactor, nullptr);
    ReadingPairs one;
    ASSERT_NO_FATAL_FAILURE(add_reading_pairs(reactor, 1, one));
    const ts::Pair &p = one.pairs[0];
    ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
    // The cancelled read completes later; it must be swallowed, not reported.
    int events_seen = 0;
    ASSERT_TRUE(pump_until(
        reactor,
        [&] {
            io_reactor_stats_t s = stats_of(reactor);
            return s.contexts_live == s.contexts_pooled;
        },
        [&](const io_event_t &) { ++events_seen; }));
    EXPECT_EQ(events_seen, 0);
    io_reactor_destroy(reactor);
}

TEST(Iocp, remove_with_read_in_flight_then_destroy_leaves_no_context_alive) {
    long before = ior::iocp_contexts_alive.load();
    io_reactor_t *reactor = make_iocp_reactor();
    ASSERT_NE(reactor, nullptr);
    ReadingPairs one;
    ASSERT_NO_FATAL_FAILURE(add_reading_pairs(reactor, 1, one));
    const ts::Pair &p = one.pairs[0];
    EXPECT_GT(ior::iocp_contexts_alive.load(), before);
    ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
    io_reactor_destroy(reactor);  // no wait in between: destroy drains the cancel
    EXPECT_EQ(ior::iocp_contexts_alive.load(), before);
}

TEST(Iocp, destroy_with_reads_sends_and_accepts_in_flight_leaves_no_context_alive) {
    long before = ior::iocp_contexts_alive.load();
    io_reactor_t *reactor = make_iocp_reactor(4);
    ASSERT_NE(reactor, nullptr);
    std::uint16_t port = 0;
    socket_fd_t listener = ts::listen_loopback(16, port);
    ASSERT_TRUE(ts::valid(listener));
    int lctx = 0;
    ASSERT_EQ(io_reactor_add_listener(reactor, listener, &lctx), 0);

    ReadingPairs eight;
    ASSERT_NO_FATAL_FAILURE(add_reading_pairs(reactor, 8, eight));
    std::vector<ts::Pair> &pairs = eight.pairs;
    // A send the peer never reads stays in flight.
    ts::set_buffers(pairs[0].local, 0, 4096);
    ts::set_buffers(pairs[0].peer, 4096, 0);
    std::string big(1 << 20, 'x');
    ASSERT_EQ(io_reactor_post_write(reactor, pairs[0].local, big.data(), big.size()), 0);
    ASSERT_TRUE(pump_until(reactor, [&] { return stats_of(reactor).contexts_live > 8; }));
    // A removed handle whose send is still in flight: pinned until destroy.
    ASSERT_EQ(io_reactor_remove(reactor, pairs[0].local), 0);

    io_reactor_destroy(reactor);
    EXPECT_EQ(ior::iocp_contexts_alive.load(), before);
    ts::close_socket(listener);
}

TEST(Iocp, pool_keeps_at_most_pool_size_idle_contexts) {
    io_reactor_t *reactor = make_iocp_reactor(2);
    ASSERT_NE(reactor, nullptr);
    ReadingPairs six;
    ASSERT_NO_FATAL_FAILURE(add_reading_pairs(reactor, 6, six));
    for (const ts::Pair &p : six.pairs) ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
    ASSERT_TRUE(pump_until(reactor, [&] {
        io_reactor_stats_t s = stats_of(reactor);
        return s.contexts_live == s.contexts_pooled;
    }));
    io_reactor_stats_t s = stats_of(reactor);
    EXPECT_EQ(s.contexts_pooled, 2u);
    io_reactor_destroy(reactor);
}

// ---- memory per idle connection -------------------------------------------------

TEST(Iocp, two_thousand_idle_connections_cost_under_256_bytes_each) {
    constexpr int kConnections = 2000;
    constexpr int kBatch = 50;  // within the listen backlog
    io_reactor_t *reactor = make_iocp_reactor();
    ASSERT_NE(reactor, nullptr);
    std::uint16_t port = 0;
    socket_fd_t listener = ts::listen_loopback(128, port);
    ASSERT_TRUE(ts::valid(listener));
    int lctx = 0;
    ASSERT_EQ(io_reactor_add_listener(reactor, listener, &lctx), 0);

    std::vector<socket_fd_t> clients, servers;
    std::vector<int> contexts(kConnections);
    auto on_event = [&](const io_event_t &ev) {
        if (ev.event_type != EVENT_ACCEPT) return;
        int i = static_cast<int>(servers.size());
        ASSERT_LT(i, kConnections);
        servers.push_back(ev.accepted_fd);
        ASSERT_EQ(io_reactor_add(reactor, ev.accepted_fd, &contexts[i], EVENT_READ), 0);
    };
    while (static_cast<int>(clients.size()) < kConnections) {
        for (int i = 0; i < kBatch; ++i) {
            socket_fd_t c = ts::connect_loopback(port);
            ASSERT_TRUE(ts::valid(c)) << "connect " << clients.size() << ": " << ts::last_error();
            clients.push_back(c);
        }
        ASSERT_TRUE(pump_until(reactor, [&] { return servers.size() == clients.size(); }, on_event));
    }
    ASSERT_EQ(io_reactor_remove(reactor, listener), 0);
    ASSERT_TRUE(pump_until(reactor, [&] {  // the cancelled accepts come back
        io_reactor_stats_t s = stats_of(reactor);
        return s.contexts_live - s.contexts_pooled == static_cast<std::size_t>(kConnections);
    }));

    io_reactor_stats_t s = stats_of(reactor);
    ASSERT_EQ(s.handles, static_cast<std::size_t>(kConnections));
    double per_connection = static_cast<double>(s.state_bytes) / static_cast<double>(s.handles);
    std::printf("iocp: %zu idle connections, state_bytes %zu, %.1f bytes per connection, "
                "%zu contexts live (%zu pooled)\n",
                s.handles, s.state_bytes, per_connection, s.contexts_live, s.contexts_pooled);
    RecordProperty("bytes_per_idle_connection", static_cast<int>(per_connection));
    EXPECT_LT(per_connection, 256.0);

    io_reactor_destroy(reactor);
    for (socket_fd_t fd : clients) ts::close_socket(fd);
    for (socket_fd_t fd : servers) ts::close_socket(fd);
    ts::close_socket(listener);
}

// ---- console input ------------------------------------------------------------------
// The test binary runs itself as a child whose stdin is a pipe; the child
// registers the console and writes everything it reads to stdout, then
// "<EOF>" on EVENT_CLOSE. With "pause" it first pauses reading for a while
// and fails (exit 3) if a read arrives meanwhile.

const char kChildFlag[] = "--console-child";

void write_stdout(const void *data, std::size_t n) {
    DWORD written = 0;
    WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), data, static_cast<DWORD>(n), &written, nullptr);
}

int console_child(bool pause_first) {
    io_reactor_t *reactor = make_iocp_reactor();
    if (!reactor) return 10;
    int ctx = 0;
    if (io_reactor_add_console(reactor, &ctx) != 0) return 11;
    io_event_t events[8];
    if (pause_first) {
        if (io_reactor_modify(reactor, io_reactor_console_fd(), 0) != 0) return 12;
        auto until = Clock::now() + std::chrono::milliseconds(400);
        while (Clock::now() < until) {
            timeval tv{0, 50000};
            int n = io_reactor_wait(reactor, events, 8, &tv);
            for (int i = 0; i < n; ++i)
                if (events[i].event_type == EVENT_READ) return 3;
        }
        if (io_reactor_modify(reactor, io_reactor_console_fd(), EVENT_READ) != 0) return 13;
    }
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
        timeval tv{1, 0};
        int n = io_reactor_wait(reactor, events, 8, &tv);
        if (n < 0) return 14;
        for (int i = 0; i < n; ++i) {
            const io_event_t &ev = events[i];
            if (ev.context != &ctx || ev.fd != io_reactor_console_fd()) return 15;
            if (ev.event_type == EVENT_READ) write_stdout(ev.buffer, static_cast<std::size_t>(ev.bytes_transferred));
            if (ev.event_type == EVENT_ERROR) return 16;
            if (ev.event_type == EVENT_CLOSE) {
                write_stdout("<EOF>", 5);
                io_reactor_remove(reactor, io_reactor_console_fd());
                io_reactor_destroy(reactor);
                return 0;
            }
        }
    }
    return 17;
}

struct ChildResult {
    DWORD exit_code = 999;
    std::string output;
};

// Runs this binary as a console child, feeding it `input` in pieces.
ChildResult run_console_child(const std::vector<std::string> &input, const char *mode) {
    ChildResult result;
    SECURITY_ATTRIBUTES inherit{sizeof inherit, nullptr, TRUE};
    HANDLE in_read, in_write, out_read, out_write;
    if (!CreatePipe(&in_read, &in_write, &inherit, 0)) return result;
    if (!CreatePipe(&out_read, &out_write, &inherit, 0)) return result;
    SetHandleInformation(in_write, HANDLE_FLAG_INHERIT, 0);
    SetHandleInformation(out_read, HANDLE_FLAG_INHERIT, 0);

    wchar_t self[MAX_PATH];
    GetModuleFileNameW(nullptr, self, MAX_PATH);
    std::wstring command = L"\"" + std::wstring(self) + L"\" --console-child " +
                           std::wstring(mode, mode + std::strlen(mode));
    STARTUPINFOW startup{};
    startup.cb = sizeof startup;
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = in_read;
    startup.hStdOutput = out_write;
    startup.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    PROCESS_INFORMATION child{};
    BOOL started = CreateProcessW(nullptr, command.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr,
                                  &startup, &child);
    CloseHandle(in_read);
    CloseHandle(out_write);
    if (!started) {
        CloseHandle(in_write);
        CloseHandle(out_read);
        return result;
    }
    // Output is collected meanwhile: a child blocked on a full stdout pipe
    // would stop reading its stdin.
    ts::Thread collector([&] {
        char buf[4096];
        DWORD n = 0;
        while (ReadFile(out_read, buf, sizeof buf, &n, nullptr) && n > 0) result.output.append(buf, n);
    });
    for (const std::string &piece : input) {
        DWORD written = 0;
        WriteFile(in_write, piece.data(), static_cast<DWORD>(piece.size()), &written, nullptr);
        Sleep(50);
    }
    CloseHandle(in_write);  // EOF for the child
    if (WaitForSingleObject(child.hProcess, 20000) == WAIT_OBJECT_0)
        GetExitCodeProcess(child.hProcess, &result.exit_code);
    else
        TerminateProcess(child.hProcess, 99);  // its stdout closes: the collector ends
    collector.join();
    CloseHandle(out_read);
    CloseHandle(child.hProcess);
    CloseHandle(child.hThread);
    return result;
}

TEST(Iocp, redirected_stdin_arrives_as_read_events_then_one_close) {
    std::vector<std::string> input = {"look\n", "say hello\n", std::string(10000, 'z') + "\n"};
    ChildResult r = run_console_child(input, "plain");
    ASSERT_EQ(r.exit_code, 0u) << r.output;
    std::string want;
    for (auto &piece : input) want += piece;
    EXPECT_EQ(r.output, want + "<EOF>");
}

TEST(Iocp, paused_console_delivers_nothing_until_resumed_then_everything) {
    std::vector<std::string> input = {"first line\n", "second line\n"};
    ChildResult r = run_console_child(input, "pause");
    ASSERT_EQ(r.exit_code, 0u) << "exit 3: a read arrived while paused; output: " << r.output;
    EXPECT_EQ(r.output, "first line\nsecond line\n<EOF>");
}

}  // namespace

int main(int argc, char **argv) {
    if (argc >= 2 && std::strcmp(argv[1], kChildFlag) == 0)
        return console_child(argc >= 3 && std::strcmp(argv[2], "pause") == 0);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
