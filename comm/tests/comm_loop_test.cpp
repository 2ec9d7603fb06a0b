// The comm layer as a library, without the talker: a small Application,
// real loopback clients, the event loop in its own thread. Parameterised
// over every backend the build has.
#include "comm.h"
#include "test_sockets.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Records what the comm layer reports; answers lines by a rule the test sets.
struct RecordingApp : comm::Application {
    std::mutex mu;
    std::vector<std::string> lines;
    std::vector<std::string> log;
    int connects = 0, netdeads = 0, disconnects = 0;
    comm::Comm *comm = nullptr;
    comm::User *kept = nullptr;  // the first user, kept when dropped
    std::function<void(comm::User &, std::string_view)> on_line_rule;

    void on_connect(comm::User &u) override {
        std::lock_guard lock(mu);
        ++connects;
        if (!kept) {
            kept = &u;
            u.set_keep_when_dropped(true);
        }
    }
    void on_line(comm::User &u, std::string_view line) override {
        {
            std::lock_guard lock(mu);
            lines.emplace_back(line);
        }
        if (on_line_rule) on_line_rule(u, line);
    }
    void on_netdead(comm::User &) override {
        std::lock_guard lock(mu);
        ++netdeads;
    }
    void on_disconnect(comm::User &u) override {
        std::lock_guard lock(mu);
        ++disconnects;
        if (&u == kept) kept = nullptr;
    }
    template <typename F>
    auto locked(F f) {
        std::lock_guard lock(mu);
        return f();
    }
    bool log_has(const std::string &needle) {
        std::lock_guard lock(mu);
        for (const auto &l : log)
            if (l.find(needle) != std::string::npos) return true;
        return false;
    }
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        ts::sleep_ms(10);
    }
    return pred();
}

class CommLoop : public ::testing::TestWithParam<std::string> {
protected:
    // The reactor is used from one thread only (the contract), so the Comm
    // is created, run and destroyed on the loop thread; the test thread
    // talks to it through sockets and request_shutdown (a wakeup).
    void start(comm::Config cfg = {}) {
        ts::init();
        cfg.backend = GetParam();
        cfg.listeners = {comm::ListenSpec{comm::ListenSpec::Family::ipv4, "127.0.0.1", 0}};
        loop_ = std::make_unique<ts::Thread>([this, cfg] { serve(cfg); });
        ASSERT_TRUE(eventually([&] { return ready_.load(); }));
        ASSERT_EQ(start_error_, "");
        ASSERT_EQ(backend_, GetParam());
    }

    void serve(const comm::Config &cfg) {
        comm::Comm server(cfg, app_, [this](const std::string &line) {
            std::lock_guard lock(app_.mu);
            app_.log.push_back(line);
        });
        app_.comm = &server;
        std::string error;
        if (!server.start(error)) {
            start_error_ = error;
            ready_ = true;
            return;
        }
        backend_ = server.backend_name();
        std::string where = server.listening_on();
        port_ = static_cast<std::uint16_t>(std::stoi(where.substr(where.rfind(':') + 1)));
        server_ = &server;
        ready_ = true;
        exit_code_ = server.run();
    }

    // Shuts the server down and waits for its loop to end.
    void stop() {
        if (!loop_) return;
        if (server_) server_->request_shutdown();
        loop_->join();
        loop_.reset();
        if (server_) {
            EXPECT_EQ(exit_code_.load(), 0);
        }
    }

    void TearDown() override {
        stop();
        for (socket_fd_t fd : clients_) ts::close_socket(fd);
    }

    socket_fd_t client() {
        socket_fd_t fd = ts::connect_loopback(port_);
        clients_.push_back(fd);
        return fd;
    }

    // Reads until `needle` shows up in what this client received.
    bool read_until(socket_fd_t fd, const std::string &needle, std::string &got, int timeout_ms = 5000) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        char buf[4096];
        while (got.find(needle) == std::string::npos) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) return false;
            long n = ts::recv_some(fd, buf, sizeof buf, static_cast<int>(left));
            if (n == 0) return got.find(needle) != std::string::npos;
            if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        }
        return true;
    }

    void send(socket_fd_t fd, const std::string &s) {
        ASSERT_TRUE(ts::send_all(fd, s.data(), s.size(), 5000));
    }

    RecordingApp app_;
    std::atomic<bool> ready_{false};
    std::string start_error_, backend_;
    comm::Comm *server_ = nullptr;  // lives on the loop thread while it runs
    std::unique_ptr<ts::Thread> loop_;
    std::atomic<int> exit_code_{-1};
    std::uint16_t port_ = 0;
    std::vector<socket_fd_t> clients_;
};

TEST_P(CommLoop, every_line_ending_delivers_one_line) {
    start();
    socket_fd_t c = client();
    send(c, std::string("one\r\ntwo\nthree\r\0four\r", 22));
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.lines.size() == 4; }); }));
    EXPECT_EQ(app_.locked([&] { return app_.lines; }),
              (std::vector<std::string>{"one", "two", "three", "four"}));
}

TEST_P(CommLoop, output_is_sent_as_telnet_text) {
    start();
    app_.on_line_rule = [](comm::User &u, std::string_view) { u.write("a\nb\xff" "c\n"); };
    socket_fd_t c = client();
    send(c, "go\r\n");
    std::string got;
    EXPECT_TRUE(read_until(c, "a\r\nb\xff\xff" "c\r\n", got)) << got;
}

TEST_P(CommLoop, dropped_session_is_net_dead_and_a_new_connection_can_take_it_over) {
    start();
    socket_fd_t first = client();
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 1; }); }));
    ts::abort_socket(first);
    clients_.clear();
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.netdeads == 1; }); }));
    EXPECT_EQ(app_.locked([&] { return app_.disconnects; }), 0);

    app_.on_line_rule = [this](comm::User &fresh, std::string_view line) {
        if (line != "reclaim" || !app_.kept) return;
        comm::User *old = app_.kept;
        if (app_.comm->reattach(*old, fresh)) old->write("welcome back\n");
    };
    socket_fd_t second = client();
    send(second, "reclaim\r\n");
    std::string got;
    EXPECT_TRUE(read_until(second, "welcome back", got)) << got;
    EXPECT_EQ(app_.locked([&] { return app_.disconnects; }), 0);  // the login ended silently
    EXPECT_TRUE(app_.log_has("reconnect #1"));
}

TEST_P(CommLoop, net_dead_session_ends_after_its_grace_period) {
    comm::Config cfg;
    cfg.netdead_timeout = 1;
    start(cfg);
    socket_fd_t first = client();
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 1; }); }));
    ts::close_socket(first);
    clients_.clear();
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.netdeads == 1; }); }));
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.disconnects == 1; }); }, 4000ms));
}

TEST_P(CommLoop, idle_user_is_told_and_disconnected) {
    comm::Config cfg;
    cfg.idle_timeout = 1;
    start(cfg);
    socket_fd_t c = client();
    std::string got;
    EXPECT_TRUE(read_until(c, "idle too long", got, 4000)) << got;
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.disconnects == 1; }); }));
}

TEST_P(CommLoop, output_past_the_cap_drops_the_user_with_a_log_line) {
    comm::Config cfg;
    cfg.output_cap = 64 * 1024;
    cfg.output_high_water = 32 * 1024;
    cfg.output_low_water = 8 * 1024;
    start(cfg);
    app_.on_line_rule = [](comm::User &u, std::string_view) {
        std::string chunk(8 * 1024, 'z');
        chunk += '\n';
        for (int i = 0; i < 2000 && u.connected(); ++i) u.write(chunk);  // 16 MB, never read
    };
    socket_fd_t c = client();
    ts::set_buffers(c, 4096, 4096);
    send(c, "flood me\r\n");
    EXPECT_TRUE(eventually([&] { return app_.log_has("output buffer over its cap"); }));
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.netdeads == 1; }); }));
}

TEST_P(CommLoop, long_line_is_cut_to_the_cap_with_a_notice) {
    comm::Config cfg;
    cfg.max_line_length = 32;
    start(cfg);
    socket_fd_t c = client();
    send(c, std::string(5000, 'q') + "\r\nnext\r\n");
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.lines.size() == 2; }); }));
    EXPECT_EQ(app_.locked([&] { return app_.lines[0]; }), std::string(32, 'q'));
    std::string got;
    EXPECT_TRUE(read_until(c, "cut to 32 characters", got)) << got;
}

TEST_P(CommLoop, shutdown_tells_users_and_flushes) {
    start();
    socket_fd_t c = client();
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 1; }); }));
    server_->request_shutdown();
    std::string got;
    EXPECT_TRUE(read_until(c, "shutting down", got)) << got;
    char b;
    EXPECT_EQ(ts::recv_some(c, &b, 1, 5000), 0);  // then an orderly close
}

TEST_P(CommLoop, net_dead_sessions_end_at_shutdown) {
    start();
    socket_fd_t c = client();
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 1; }); }));
    ts::abort_socket(c);
    clients_.clear();
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.netdeads == 1; }); }));
    stop();
    EXPECT_EQ(app_.locked([&] { return app_.disconnects; }), 1);
}

TEST_P(CommLoop, control_bytes_never_reach_the_application) {
    start();
    socket_fd_t c = client();
    send(c, "say \x1b[2J\x1b]0;x\x07hi \xc3\xa9\x9b!\r\n");
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.lines.size() == 1; }); }));
    EXPECT_EQ(app_.locked([&] { return app_.lines[0]; }), "say [2J]0;xhi \xc3\xa9!");
}

TEST_P(CommLoop, connections_past_the_per_address_cap_are_refused_with_a_message) {
    comm::Config cfg;
    cfg.max_per_address = 2;
    start(cfg);
    client();
    client();
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 2; }); }));
    socket_fd_t third = client();
    std::string got;
    EXPECT_TRUE(read_until(third, "too many connections from your address", got)) << got;
    EXPECT_EQ(app_.locked([&] { return app_.connects; }), 2);
    EXPECT_TRUE(app_.log_has("refused 127.0.0.1:"));
}

TEST_P(CommLoop, a_user_who_does_not_log_in_in_time_is_disconnected) {
    comm::Config cfg;
    cfg.login_timeout = 1;
    start(cfg);
    client();  // kept by the app: logged in
    socket_fd_t c = client();
    std::string got;
    EXPECT_TRUE(read_until(c, "took too long to log in", got, 4000)) << got;
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.disconnects == 1; }); }));
    ts::sleep_ms(1200);
    EXPECT_EQ(app_.locked([&] { return app_.disconnects; }), 1);  // the logged-in one stays
}

std::vector<std::string> backends() {
    std::vector<std::string> out;
    for (const char *const *b = io_reactor_backends(); b && *b; ++b) out.emplace_back(*b);
    return out;
}

INSTANTIATE_TEST_SUITE_P(Backends, CommLoop, ::testing::ValuesIn(backends()),
                         [](const auto &info) { return info.param; });

}  // namespace
