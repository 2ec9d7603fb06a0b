// The comm layer as a library, without the talker: a small Application,
// real loopback clients, the event loop in its own thread. Parameterised
// over every backend the build has.
#include "comm.h"
#include "mccp.h"
#include "test_sockets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#if IOR_TEST_ZLIB
#include "deflate_stream.h"

#include <zlib.h>
#endif

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
        comm::ListenSpec loopback;
        if (!cfg.listeners.empty()) loopback = cfg.listeners[0];  // keeps the test's layers
        loopback.port = 0;
        loopback.family = comm::ListenSpec::Family::ipv4;
        loopback.address = "127.0.0.1";
        cfg.listeners = {loopback};
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
        server.set_web_files(web_files_);
        // Real time plus what the test let pass at once (advance()).
        server.set_clock([this] { return comm::Clock::now() + std::chrono::seconds(skipped_s_.load()); });
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
        ts::set_nonblocking(fd);  // so every read below keeps its timeout
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

    // Ends client `fd` (by default with a reset, as a dropped line looks)
    // and waits until the app hears that its session went net-dead.
    bool lose_until_net_dead(socket_fd_t fd, void (*end)(socket_fd_t) = ts::abort_socket) {
        end(fd);
        clients_.erase(std::remove(clients_.begin(), clients_.end(), fd), clients_.end());
        return eventually([&] { return app_.locked([&] { return app_.netdeads == 1; }); });
    }

    // A new client whose line "reclaim" takes the kept net-dead session
    // over; the taken-over session greets it with "welcome back".
    socket_fd_t reclaim_kept_session() {
        app_.on_line_rule = [this](comm::User &fresh, std::string_view line) {
            if (line != "reclaim" || !app_.kept) return;
            comm::User *old = app_.kept;
            if (app_.comm->reattach(*old, fresh)) old->write("welcome back\n");
        };
        socket_fd_t fd = client();
        send(fd, "reclaim\r\n");
        return fd;
    }

    // Lets `d` pass at once for every timer of the comm layer.
    void advance(std::chrono::seconds d) { skipped_s_ += d.count(); }

    void send(socket_fd_t fd, const std::string &s) {
        ASSERT_TRUE(ts::send_all(fd, s.data(), s.size(), 5000));
    }

    RecordingApp app_;
    std::atomic<bool> ready_{false};
    std::string start_error_, backend_;
    comm::Comm *server_ = nullptr;  // lives on the loop thread while it runs
    std::unique_ptr<ts::Thread> loop_;
    std::atomic<int> exit_code_{-1};
    std::atomic<long long> skipped_s_{0};
    comm::ws::FileLookup web_files_;  // for WebSocket listeners; set before start()
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
    ASSERT_TRUE(lose_until_net_dead(first));
    EXPECT_EQ(app_.locked([&] { return app_.disconnects; }), 0);

    socket_fd_t second = reclaim_kept_session();
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
    ASSERT_TRUE(lose_until_net_dead(first, ts::close_socket));
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
    ASSERT_TRUE(lose_until_net_dead(c));
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
    app_.on_line_rule = [](comm::User &u, std::string_view line) {
        if (line == "login") u.set_logged_in();
    };
    send(client(), "login\r\n");
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.lines.size() == 1; }); }));
    socket_fd_t c = client();
    std::string got;
    EXPECT_TRUE(read_until(c, "took too long to log in", got, 4000)) << got;
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.disconnects == 1; }); }));
    ts::sleep_ms(1200);
    EXPECT_EQ(app_.locked([&] { return app_.disconnects; }), 1);  // the logged-in one stays
}

// ---- boundaries and timers (issue 18 class 5) -------------------------------

// Reading pauses once queued output passes the high watermark and resumes
// only below the low one (hysteresis): a command sent while the user is
// behind waits until most of the backlog is gone, not until it dips under
// the high mark. The application notes the backlog when the command runs.
TEST_P(CommLoop, reading_pauses_above_the_high_watermark_and_resumes_only_below_the_low) {
    comm::Config cfg;
    // Above what the kernel can hold for one connection (a 4 MiB send
    // buffer at most): the kernel must not swallow the band between the
    // marks in one flush.
    cfg.output_high_water = 8u << 20;
    cfg.output_low_water = 1u << 20;
    cfg.output_cap = 64u << 20;
    start(cfg);
    std::atomic<long long> filled{-1}, at_ping{-1};
    app_.on_line_rule = [&](comm::User &u, std::string_view line) {
        if (line == "fill") {
            const std::string chunk(1023, 'f');
            for (int i = 0; i < 30000 && u.queued_output() <= cfg.output_high_water; ++i)
                u.write(chunk + "\n");
            filled = static_cast<long long>(u.queued_output());
        } else if (line == "ping") {
            at_ping = static_cast<long long>(u.queued_output());
        }
    };
    socket_fd_t c = client();
    // Not below the loopback MSS: a tiny window makes TCP crawl.
    ts::set_buffers(c, 65536, 0);
    send(c, "fill\r\n");
    ASSERT_TRUE(eventually([&] { return filled.load() >= 0; }));
    ASSERT_GT(filled.load(), static_cast<long long>(cfg.output_high_water));
    send(c, "ping\r\n");
    ts::sleep_ms(600);  // two timer periods: reading stays paused meanwhile
    EXPECT_EQ(at_ping.load(), -1) << "a command ran while the output was above the high watermark";

    // Read at most ~6 MB/s: the backlog falls through the 7 MiB band
    // between the marks over several timer periods (250 ms each).
    std::vector<char> buf(64 * 1024);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (at_ping.load() < 0 && std::chrono::steady_clock::now() < deadline) {
        ts::recv_some(c, buf.data(), buf.size(), 10);
        ts::sleep_ms(10);
    }
    ASSERT_GE(at_ping.load(), 0) << "reading never resumed";
    EXPECT_LE(at_ping.load(), static_cast<long long>(cfg.output_low_water))
        << "reading resumed with " << at_ping.load() << " bytes still queued";
}

// The cap is the largest allowed backlog: exactly at it the user stays,
// one byte more drops them. The kernel's buffers are filled first, so every
// byte written afterwards waits in the reactor's queue.
TEST_P(CommLoop, output_exactly_at_the_cap_is_kept_and_one_byte_over_drops) {
    comm::Config cfg;
    cfg.output_cap = 200000;
    cfg.output_high_water = 150000;
    cfg.output_low_water = 50000;
    start(cfg);
    std::atomic<long long> at_cap{-1};
    std::atomic<int> kept_at_cap{-1}, kept_over{-1};
    app_.on_line_rule = [&](comm::User &u, std::string_view line) {
        if (line != "cap") return;
        const std::string chunk(1000, 'y');
        for (int i = 0; i < 50000 && u.queued_output() == 0; ++i) u.write(chunk);
        std::size_t queued = u.queued_output();
        if (queued == 0 || queued > cfg.output_cap) return;
        u.write(std::string(cfg.output_cap - queued, 'y'));
        at_cap = static_cast<long long>(u.queued_output());
        kept_at_cap = u.connected();
        u.write("y");
        kept_over = u.connected();
    };
    socket_fd_t c = client();
    ts::set_buffers(c, 4096, 0);
    send(c, "cap\r\n");
    ASSERT_TRUE(eventually([&] { return kept_over.load() >= 0; })) << "the kernel never filled";
    EXPECT_EQ(at_cap.load(), static_cast<long long>(cfg.output_cap));
    EXPECT_EQ(kept_at_cap.load(), 1) << "dropped with exactly the cap queued";
    EXPECT_EQ(kept_over.load(), 0) << "kept with one byte over the cap";
    EXPECT_TRUE(eventually([&] { return app_.log_has("(200001 > 200000 bytes)"); }));
}

// A player who takes back a net-dead session starts with a fresh idle
// clock: the time spent net-dead is not idle time of the new connection.
TEST_P(CommLoop, reattached_session_starts_a_fresh_idle_clock) {
    comm::Config cfg;
    cfg.idle_timeout = 60;
    cfg.netdead_timeout = 3600;
    start(cfg);
    socket_fd_t first = client();
    send(first, "hello\r\n");
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.lines.size() == 1; }); }));
    ASSERT_TRUE(lose_until_net_dead(first));
    advance(100s);  // longer net-dead than the idle timeout

    socket_fd_t second = reclaim_kept_session();
    std::string got;
    ASSERT_TRUE(read_until(second, "welcome back", got)) << got;
    EXPECT_FALSE(read_until(second, "idle too long", got, 700)) << "idled out at once: " << got;
    EXPECT_EQ(app_.locked([&] { return app_.disconnects; }), 0);

    advance(61s);  // now it is idle
    EXPECT_TRUE(read_until(second, "idle too long", got, 3000)) << got;
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.disconnects == 1; }); }));
}

// The line layer and telnet together: padding NULs vanish, blank lines
// between lines are lines.
TEST_P(CommLoop, nul_padding_is_dropped_and_blank_lines_are_lines) {
    start();
    socket_fd_t c = client();
    send(c, std::string("say\0 hi\r\na\r\n\r\nb\n\nc\r\n", 20));
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.lines.size() == 6; }); }))
        << app_.locked([&] { return app_.lines.size(); });
    EXPECT_EQ(app_.locked([&] { return app_.lines; }),
              (std::vector<std::string>{"say hi", "a", "", "b", "", "c"}));
}

#if IOR_TEST_ZLIB
// Inflates what follows IAC SB MCCP2 IAC SE; bytes after the stream's end
// are kept apart (`tail`): they were sent plain.
struct Inflater {
    z_stream z{};
    std::string plain, tail;
    bool ended = false, failed = false;
    Inflater() { failed = inflateInit(&z) != Z_OK; }
    ~Inflater() { inflateEnd(&z); }
    void feed(std::string in) {
        if (ended || failed) return void(tail += in);
        z.next_in = reinterpret_cast<Bytef *>(in.data());
        z.avail_in = static_cast<uInt>(in.size());
        while (z.avail_in > 0 && !ended) {
            char out[4096];
            z.next_out = reinterpret_cast<Bytef *>(out);
            z.avail_out = sizeof out;
            int rc = inflate(&z, Z_SYNC_FLUSH);
            plain.append(out, sizeof out - z.avail_out);
            if (rc == Z_STREAM_END) ended = true;
            else if (rc != Z_OK) return void(failed = true);
        }
        if (ended) tail.append(reinterpret_cast<const char *>(z.next_in), z.avail_in);
    }
};

// Feeds what client `c` receives to `in` until `done` (or 5 s pass, or EOF).
bool inflate_until(socket_fd_t c, Inflater &in, const std::function<bool()> &done) {
    char buf[4096];
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        long n = ts::recv_some(c, buf, sizeof buf, 50);
        if (n == 0) break;
        if (n > 0) in.feed(std::string(buf, static_cast<std::size_t>(n)));
    }
    return done();
}

// MCCP2 turned off by the client (IAC DONT COMPRESS2) mid-session: the
// server ends the zlib stream properly (the client's inflate reaches
// Z_STREAM_END) and what follows is plain telnet text.
TEST_P(CommLoop, mccp_stream_is_ended_properly_when_the_client_says_dont) {
    if (!comm::Compressor::available()) GTEST_SKIP() << "built without zlib";
    start();
    app_.on_line_rule = [](comm::User &u, std::string_view line) {
        if (line == "go") u.write("before\n");
        if (line == "go2") u.write("after\n");
    };
    socket_fd_t c = client();
    std::string got;
    ASSERT_TRUE(read_until(c, "\xff\xfb\x56", got)) << "no IAC WILL COMPRESS2";
    send(c, "\xff\xfd\x56");  // IAC DO COMPRESS2
    const std::string start_sb = "\xff\xfa\x56\xff\xf0";
    ASSERT_TRUE(read_until(c, start_sb, got));
    Inflater in;
    ASSERT_FALSE(in.failed) << "inflateInit";
    in.feed(got.substr(got.find(start_sb) + start_sb.size()));
    send(c, "go\r\n");
    ASSERT_TRUE(inflate_until(c, in, [&] { return in.plain.find("before\r\n") != std::string::npos; }))
        << in.plain;
    send(c, "\xff\xfe\x56");  // IAC DONT COMPRESS2
    send(c, "go2\r\n");
    EXPECT_TRUE(inflate_until(c, in, [&] { return in.tail.find("after\r\n") != std::string::npos; }))
        << "ended: " << in.ended << " failed: " << in.failed << " tail: " << in.tail;
    EXPECT_TRUE(in.ended) << "no Z_STREAM_END";
    EXPECT_EQ(in.tail.substr(0, 7), "after\r\n") << "plain text right after the stream end";
}
#endif

// MSDP through the comm layer: server-wide values (Comm::msdp_publish) and
// per-session ones (User::msdp_update, which win), reported on change.
TEST_P(CommLoop, msdp_reports_published_and_per_user_values_on_change) {
    start();
    app_.on_line_rule = [this](comm::User &u, std::string_view line) {
        if (line == "setup") {
            app_.comm->msdp_publish("PLAYERS", "5");
            app_.comm->msdp_publish("ROOM_NAME", "Server room");
            u.msdp_update("ROOM_NAME", "Hall");
            u.write("ready\n");
        } else if (line == "change") {
            app_.comm->msdp_publish("PLAYERS", "6");
            app_.comm->msdp_publish("ROOM_NAME", "Elsewhere");  // overridden: not sent
            u.msdp_update("ROOM_NAME", "Garden");
            u.msdp_update("ROOM_NAME", "Garden");  // unchanged: not sent again
            u.write("changed\n");
        }
    };
    socket_fd_t c = client();
    std::string got;
    ASSERT_TRUE(read_until(c, "\xff\xfb\x45", got)) << "no IAC WILL MSDP";
    send(c, "\xff\xfd\x45setup\r\n");
    ASSERT_TRUE(read_until(c, "ready", got));
    got.clear();
    send(c, "\xff\xfa\x45\x01REPORT\x02\x05\x02PLAYERS\x02ROOM_NAME\x06\xff\xf0");
    ASSERT_TRUE(read_until(c, "\x01ROOM_NAME\x02Hall\xff\xf0", got)) << got;
    EXPECT_NE(got.find("\xff\xfa\x45\x01PLAYERS\x02" "5\xff\xf0"), std::string::npos) << got;
    got.clear();
    send(c, "change\r\n");
    ASSERT_TRUE(read_until(c, "changed", got));
    EXPECT_NE(got.find("\x01PLAYERS\x02" "6\xff\xf0"), std::string::npos) << got;
    EXPECT_NE(got.find("\x01ROOM_NAME\x02Garden\xff\xf0"), std::string::npos) << got;
    EXPECT_EQ(got.find("Elsewhere"), std::string::npos) << got;
    EXPECT_EQ(got.find("Garden"), got.rfind("Garden")) << "an unchanged value was sent again: " << got;
}

#if IOR_TEST_ZLIB
// MCCP3: a compressed flood far over max input queue is held at the queue
// cap (reading pauses, the log says so) and every line still arrives, in
// order, once the queue drains.
TEST_P(CommLoop, mccp3_flood_is_held_at_the_input_queue_and_nothing_is_lost) {
    comm::Config cfg;
    cfg.max_input_queue = 1024;
    cfg.login_lines = 0;  // this app never logs users in
    start(cfg);
    std::atomic<std::size_t> most_queued{0};
    app_.on_line_rule = [&](comm::User &u, std::string_view) {
        most_queued = std::max<std::size_t>(most_queued, u.queued_input());
    };
    socket_fd_t c = client();
    std::string got;
    ASSERT_TRUE(read_until(c, "\xff\xfb\x57", got)) << "no IAC WILL MCCP3";
    std::string plain;
    const int count = 4000;
    for (int i = 0; i < count; ++i) plain += "line " + std::to_string(i) + " of the flood\r\n";
    const std::string packed = comm::test_support::deflate_all(plain, /*finish=*/false, Z_BEST_COMPRESSION);
    send(c, "\xff\xfd\x57\xff\xfa\x57\xff\xf0" + packed);  // DO MCCP3, start, the stream: one write
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.lines.size(); }) == count; }, 20000ms))
        << app_.locked([&] { return app_.lines.size(); }) << " lines";
    EXPECT_TRUE(app_.log_has("input flood from"));
    // The queue never held more than its cap plus what one slice (256
    // compressed bytes) inflates to, at most the Decompressor's 16 KiB floor;
    // the flood is ~100 KB.
    EXPECT_LE(most_queued.load(), cfg.max_input_queue + 16 * 1024 + 64) << "the flood bypassed the input queue";
    app_.locked([&] {
        for (int i = 0; i < count; ++i)
            if (app_.lines[i] != "line " + std::to_string(i) + " of the flood")
                return ADD_FAILURE() << "line " << i << " is " << app_.lines[i], 0;
        return 0;
    });
}

// A decompression bomb drops the link with a log line naming it.
TEST_P(CommLoop, mccp3_bomb_drops_the_link_with_a_log_line) {
    start();
    socket_fd_t c = client();
    std::string got;
    ASSERT_TRUE(read_until(c, "\xff\xfb\x57", got));
    const std::string zeros(8 << 20, '\0');
    send(c, "\xff\xfd\x57\xff\xfa\x57\xff\xf0" +
                comm::test_support::deflate_all(zeros, /*finish=*/false, Z_BEST_COMPRESSION));
    EXPECT_TRUE(eventually([&] { return app_.log_has("MCCP3: decompression bomb"); }));
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.netdeads + app_.disconnects; }) == 1; }));
    EXPECT_TRUE(read_until(c, "never", got, 2000) == false);  // closed, nothing more
}
#endif

// ---- output coalescing: one write per link per loop turn --------------------

// A say fanned out to the room: every user gets the line and its prompt
// (text and GA) as one write of the turn, not three.
TEST_P(CommLoop, a_fanned_out_line_and_its_prompt_reach_each_user_as_one_write) {
    start();
    std::atomic<long long> before{-1}, after{-1};
    app_.on_line_rule = [&](comm::User &u, std::string_view line) {
        comm::Comm &server = *app_.comm;
        if (line == "say") {
            before = static_cast<long long>(server.output_writes());
            for (comm::User *other : server.users()) {
                other->write("#" + std::to_string(u.id()) + " says: hello\n");
                other->prompt("> ");
            }
        } else if (line == "count") {
            after = static_cast<long long>(server.output_writes());
        }
    };
    std::vector<socket_fd_t> room{client(), client(), client()};
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 3; }); }));
    send(room[0], "say\r\n");
    for (socket_fd_t c : room) {
        std::string got;
        EXPECT_TRUE(read_until(c, "says: hello\r\n> \xff\xf9", got)) << got;  // IAC GA ends the prompt
    }
    send(room[0], "count\r\n");
    ASSERT_TRUE(eventually([&] { return after.load() >= 0; }));
    EXPECT_EQ(after.load() - before.load(), 3) << "writes for a say to 3 users";
}

// A user who never reads is still dropped at the output cap when its output
// comes as many small lines a turn, and the one who reads misses nothing.
// (The kernel holds a few MB for the slow one first: loopback send buffers
// grow to tcp_wmem's maximum.)
TEST_P(CommLoop, a_slow_reader_in_a_busy_room_is_dropped_at_the_cap_and_the_rest_get_everything) {
    comm::Config cfg;
    cfg.output_cap = 64 * 1024;
    cfg.output_high_water = 32 * 1024;
    cfg.output_low_water = 8 * 1024;
    start(cfg);
    const std::string filler(90, '.');
    app_.on_line_rule = [&](comm::User &speaker, std::string_view line) {
        speaker.set_logged_in();  // past the pre-login line budget
        for (comm::User *u : app_.comm->users())
            for (int i = 0; i < 100; ++i) u->write(std::string(line) + "." + std::to_string(i) + filler + "\n");
    };
    socket_fd_t reader = client();
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 1; }); }));
    socket_fd_t slow = client();  // #2, never reads
    ts::set_buffers(slow, 4096, 4096);
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 2; }); }));
    std::string got;
    for (int tick = 0; tick < 1000 && !app_.log_has("output buffer over its cap"); ++tick) {
        const std::string name = "t" + std::to_string(tick);
        send(reader, name + "\r\n");
        ASSERT_TRUE(read_until(reader, name + ".99" + filler + "\r\n", got)) << "tick " << tick;
        for (int i = 0; i < 100; ++i)
            ASSERT_NE(got.find(name + "." + std::to_string(i) + filler + "\r\n"), std::string::npos) << name << " " << i;
        got.clear();
    }
    EXPECT_TRUE(app_.log_has("dropped #2 ")) << app_.locked([&] { return app_.log.empty() ? "" : app_.log.back(); });
    EXPECT_FALSE(app_.log_has("dropped #1 "));
}

#if IOR_TEST_ZLIB
// MCCP2 turned on and off by the same read as a command whose reply goes
// out in that turn's single write: the start marker stays plain and before
// the compressed reply, and the reply after the stream's end is plain.
TEST_P(CommLoop, mccp2_start_and_end_keep_their_place_in_a_turns_one_write) {
    if (!comm::Compressor::available()) GTEST_SKIP() << "built without zlib";
    start();
    app_.on_line_rule = [](comm::User &u, std::string_view line) {
        u.write(std::string(line) + " reply\n");
        u.prompt("> ");
    };
    socket_fd_t c = client();
    std::string got;
    ASSERT_TRUE(read_until(c, "\xff\xfb\x56", got)) << "no IAC WILL COMPRESS2";
    send(c, "\xff\xfd\x56" "one\r\n");  // IAC DO COMPRESS2 and a command, one read
    const std::string start_sb = "\xff\xfa\x56\xff\xf0";
    ASSERT_TRUE(read_until(c, start_sb, got));
    const std::size_t at = got.find(start_sb);
    EXPECT_EQ(got.substr(0, at).find("reply"), std::string::npos) << "a reply before the start marker";
    Inflater in;
    ASSERT_FALSE(in.failed) << "inflateInit";
    in.feed(got.substr(at + start_sb.size()));
    ASSERT_TRUE(inflate_until(c, in, [&] { return in.plain.find("one reply\r\n> ") != std::string::npos; }))
        << in.plain;
    // DO of an option nobody offers (its WONT is gathered compressed), DONT
    // COMPRESS2 and a command, one read: the WONT must be inside the stream.
    send(c, "\xff\xfd\xc8" "\xff\xfe\x56" "two\r\n");
    EXPECT_TRUE(inflate_until(c, in, [&] { return in.tail.find("two reply\r\n") != std::string::npos; }))
        << "ended: " << in.ended << " failed: " << in.failed << " tail: " << in.tail;
    EXPECT_TRUE(in.ended) << "no Z_STREAM_END";
    EXPECT_NE(in.plain.find("\xff\xfc\xc8"), std::string::npos) << "IAC WONT 200 not in the stream";
    EXPECT_EQ(in.tail.substr(0, 11), "two reply\r\n") << "plain text right after the stream's end";
    EXPECT_EQ(in.plain.find("two"), std::string::npos) << "the reply after DONT was compressed";
}
#endif

std::vector<std::string> backends() {
    std::vector<std::string> out;
    for (const char *const *b = io_reactor_backends(); b && *b; ++b) out.emplace_back(*b);
    return out;
}

TEST_P(CommLoop, pre_login_budget_drops_a_client_that_never_logs_in_but_not_one_that_did) {
    comm::Config cfg;
    cfg.login_lines = 3;
    start(cfg);
    app_.on_line_rule = [](comm::User &u, std::string_view line) {
        if (line == "login") u.set_logged_in();
    };
    socket_fd_t stranger = client();
    send(stranger, "a\r\nb\r\nc\r\nd\r\ne\r\n");
    std::string got;
    read_until(stranger, "never comes", got, 5000);  // returns when the server closes
    // Lines are counted per slice of input, so the count may pass 4.
    EXPECT_TRUE(app_.log_has("over the pre-login budget (lines "));
    // The app keeps its first user, so the drop makes it net-dead.
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.netdeads == 1; }); }));

    socket_fd_t player = client();
    send(player, "login\r\n");
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.lines.size() >= 1 && app_.lines.back() == "login"; }); }));
    send(player, "1\r\n2\r\n3\r\n4\r\n5\r\n");
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.lines.back() == "5"; }); }));
    EXPECT_EQ(app_.locked([&] { return app_.netdeads + app_.disconnects; }), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, CommLoop, ::testing::ValuesIn(backends()),
                         [](const auto &info) { return info.param; });

}  // namespace

// ---- transport stacks ---------------------------------------------------------

namespace {

// Waits for the peer's EOF (after any bytes): true if it came in time.
bool eof_within(socket_fd_t fd, int timeout_ms, std::string *got = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
        long n = ts::recv_some(fd, buf, sizeof buf, 100);
        if (n == 0) return true;
        if (n > 0 && got) got->append(buf, static_cast<std::size_t>(n));
    }
    return false;
}

const char kUpgrade[] =
    "GET /play HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

comm::Config websocket_config() {
    comm::Config cfg;
    comm::ListenSpec ws;
    ws.websocket = true;
    cfg.listeners = {ws};
    return cfg;
}

}  // namespace

// Until its layers are open a link is no session: the application never
// hears of it, it holds one of `max handshaking connections`, and the
// handshake timeout ends it and frees the slot.
TEST_P(CommLoop, a_link_still_handshaking_is_no_session_and_the_timeout_frees_its_slot) {
    comm::Config cfg = websocket_config();
    cfg.max_handshakes = 1;
    cfg.handshake_timeout = 10;
    start(cfg);
    socket_fd_t slow = client();
    send(slow, "GET /play HTTP/1.1\r\n");  // and never the rest
    socket_fd_t second = client();          // accepted after `slow`: no slot left
    EXPECT_TRUE(eof_within(second, 3000));
    EXPECT_TRUE(eventually([&] { return app_.log_has("1 connections are still handshaking"); }));
    EXPECT_FALSE(eof_within(slow, 300));  // still waiting within its timeout
    advance(std::chrono::seconds(11));
    EXPECT_TRUE(eof_within(slow, 3000));
    EXPECT_TRUE(eventually([&] { return app_.log_has("websocket: no complete HTTP request after 10s"); }));
    EXPECT_EQ(app_.locked([&] { return app_.connects; }), 0);
    socket_fd_t third = client();  // the slot is free again
    send(third, kUpgrade);
    std::string got;
    EXPECT_TRUE(read_until(third, "101 Switching Protocols", got)) << got;
    EXPECT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 1; }); }));
}

// A plain GET is answered from the file lookup and the link ends (FIN after
// the body); it is never a session.
TEST_P(CommLoop, a_served_file_is_never_a_session) {
    static const comm::ws::StaticFile page{"text/html", "<html>hi</html>"};
    web_files_ = [](std::string_view path) { return path == "/index.html" ? &page : nullptr; };
    start(websocket_config());
    socket_fd_t c = client();
    send(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string got;
    EXPECT_TRUE(eof_within(c, 5000, &got));
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
    EXPECT_NE(got.find("\r\n\r\n<html>hi</html>"), std::string::npos) << got;
    socket_fd_t d = client();
    send(d, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    got.clear();
    EXPECT_TRUE(eof_within(d, 5000, &got));
    EXPECT_EQ(got.rfind("HTTP/1.1 404", 0), 0u) << got;
    EXPECT_TRUE(eventually([&] { return app_.log_has("websocket: HTTP 404: no file /missing"); }));
    EXPECT_EQ(app_.locked([&] { return app_.connects; }), 0);
}

// Application output on a WebSocket link leaves as frames, and its input
// arrives unmasked as lines; no MCCP2 is offered there.
TEST_P(CommLoop, a_websocket_session_talks_in_frames_without_mccp) {
    app_.on_line_rule = [](comm::User &u, std::string_view line) { u.write("echo " + std::string(line) + "\n"); };
    start(websocket_config());
    socket_fd_t c = client();
    send(c, kUpgrade);
    std::string got;
    ASSERT_TRUE(read_until(c, "\r\n\r\n", got)) << got;
    ASSERT_TRUE(eventually([&] { return app_.locked([&] { return app_.connects == 1; }); }));
    // A masked binary frame "hi\r\n" (mask 1 2 3 4).
    const unsigned char mask[4] = {1, 2, 3, 4};
    std::string frame = "\x82\x84";
    frame.append(reinterpret_cast<const char *>(mask), 4);
    const std::string text = "hi\r\n";
    for (std::size_t i = 0; i < text.size(); ++i) frame += static_cast<char>(text[i] ^ mask[i % 4]);
    send(c, frame);
    EXPECT_TRUE(read_until(c, "echo hi", got)) << got;
    EXPECT_NE(got.find("\x82"), std::string::npos);  // binary frames from the server
    EXPECT_EQ(got.find("\xff\xfb\x56"), std::string::npos);  // no IAC WILL MCCP2
}
