// Model-based test of the comm layer: random (seeded) sequences of
// connect, input (whole lines, partial lines, telnet commands, padding
// NULs), slow reading, floods, drops, reconnects and time passing, each
// checked against a small model of what every player must see: their lines
// in order, the application's notices (net-dead, gone), reading paused
// above the output watermark, a drop past the output cap, idle and net-dead
// expiry. A failure prints the seed and the steps so far.
//
// CTest runs 2 sequences of 30 steps per backend; IOR_MODEL_SEQUENCES=N
// and IOR_MODEL_STEPS=M run more,
// IOR_MODEL_SEED=S starts from seed S (one sequence per seed: S, S+1, ...).
#include "comm.h"
#include "test_sockets.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Timeouts 30 s away from the sums of the 40 s steps time moves in, so
// the real seconds a sequence takes (a few) never tip a decision.
constexpr int kIdle = 110, kNetdead = 230, kStep = 40;
constexpr std::size_t kHigh = 1u << 20, kLow = 256u << 10, kCap = 16u << 20;
// Above what the kernel can hold (4 MiB send buffer + the client's
// receive buffer): a big flood always leaves more than kHigh queued, a
// huge one more than kCap.
constexpr std::size_t kBigFlood = 6u << 20, kHugeFlood = 24u << 20;
const char *const kNames[] = {"ann", "bob", "cid"};

// The application: the first line is a name; a name with a net-dead
// session takes it back. Later lines are echoed to their sender and
// recorded; "flood N" writes N bytes of lines instead.
struct ModelApp : comm::Application {
    std::mutex mu;
    std::map<std::string, std::vector<std::string>> lines, events;
    std::map<const comm::User *, std::string> names;
    std::map<std::string, comm::User *> sessions;
    std::vector<std::string> log;
    comm::Comm *comm = nullptr;

    void on_connect(comm::User &) override {}
    void on_line(comm::User &u, std::string_view line) override {
        std::unique_lock lock(mu);
        auto it = names.find(&u);
        if (it == names.end()) return login(u, std::string(line), lock);
        const std::string name = it->second;
        if (line.substr(0, 6) == "flood ") {
            std::size_t n = std::stoul(std::string(line.substr(6)));
            lock.unlock();
            const std::string chunk = std::string(1023, 'f') + "\n";
            for (std::size_t sent = 0; sent < n && u.connected(); sent += chunk.size()) u.write(chunk);
            return;
        }
        lines[name].emplace_back(line);
        lock.unlock();
        u.write(name + ": " + std::string(line) + "\n");
    }
    // Called with mu held; the comm layer is called without it (it logs,
    // and the logger takes mu).
    void login(comm::User &fresh, const std::string &name, std::unique_lock<std::mutex> &lock) {
        auto s = sessions.find(name);
        if (s != sessions.end()) {
            comm::User *old = s->second;
            lock.unlock();
            bool back = comm->reattach(*old, fresh);
            lock.lock();
            if (back) {
                events[name].push_back("back");
                lock.unlock();
                old->write("welcome back " + name + "\n");
                return;
            }
        }
        names[&fresh] = name;
        sessions[name] = &fresh;
        events[name].push_back("login");
        lock.unlock();
        fresh.set_keep_when_dropped(true);
        fresh.write("welcome " + name + "\n");
    }
    void on_netdead(comm::User &u) override {
        std::lock_guard lock(mu);
        if (names.count(&u)) events[names[&u]].push_back("netdead");
    }
    void on_disconnect(comm::User &u) override {
        std::lock_guard lock(mu);
        auto it = names.find(&u);
        if (it == names.end()) return;
        events[it->second].push_back("gone");
        sessions.erase(it->second);
        names.erase(it);
    }
};

// What the client received, telnet commands removed (IAC IAC is a 0xFF).
struct TelnetText {
    std::string text;
    std::string partial;  // an unfinished command
    bool in_sb = false;
    void feed(const char *p, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            unsigned char c = static_cast<unsigned char>(p[i]);
            if (partial.empty()) {
                if (c == 0xFF) partial += static_cast<char>(c);
                else if (!in_sb) text += static_cast<char>(c);
                continue;
            }
            partial += static_cast<char>(c);
            unsigned char cmd = static_cast<unsigned char>(partial[1]);
            if (cmd == 0xFF) {
                if (!in_sb) text += '\xff';
                partial.clear();
            } else if (cmd >= 0xFB && cmd <= 0xFE) {  // WILL WONT DO DONT x
                if (partial.size() == 3) partial.clear();
            } else {
                if (cmd == 0xFA) in_sb = true;
                if (cmd == 0xF0) in_sb = false;
                partial.clear();
            }
        }
    }
};

struct Player {
    enum class State { none, online, netdead } state = State::none;
    socket_fd_t fd = ts::invalid_socket();
    TelnetText got;
    std::string want;       // text this connection must receive, in order
    bool ends = false;      // the server closes this connection (idle)
    bool doomed = false;    // dropped past the cap: its output is not checked
    long long idle = 0;     // model seconds since the last input
    long long dead_for = 0; // model seconds net-dead
    std::vector<std::string> lines, events;  // what the application must have seen
};

class ModelTest : public ::testing::TestWithParam<std::string> {};

std::string printable(const std::string &s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 32 && c < 127) out += static_cast<char>(c);
        else {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            out += b;
        }
    }
    return out;
}

class Sequence {
public:
    Sequence(const std::string &backend, unsigned seed) : rng_(seed) {
        comm::Config cfg;
        cfg.backend = backend;
        cfg.listeners = {comm::ListenSpec{comm::ListenSpec::Family::ipv4, "127.0.0.1", 0}};
        cfg.idle_timeout = kIdle;
        cfg.netdead_timeout = kNetdead;
        cfg.login_timeout = 0;  // not in the model (integration and CommLoop tests cover it)
        cfg.output_cap = kCap;
        cfg.output_high_water = kHigh;
        cfg.output_low_water = kLow;
        cfg.mccp = false;
        loop_ = std::make_unique<ts::Thread>([this, cfg] { serve(cfg); });
        while (!ready_) ts::sleep_ms(1);
    }
    ~Sequence() {
        if (server_) server_->request_shutdown();
        loop_.reset();
        for (auto &p : players_)
            if (ts::valid(p.fd)) ts::close_socket(p.fd);
    }
    bool started() const { return server_ != nullptr; }

    // One random action and its check. Returns "" or what went wrong.
    std::string step(std::string &did) {
        std::size_t who = rng_() % players_.size();
        Player &p = players_[who];
        const std::string name = kNames[who];
        int dice = static_cast<int>(rng_() % 100);
        switch (p.state) {
        case Player::State::none:
        case Player::State::netdead:
            if (dice < 60) connect(p, name, did);
            else advance(did);
            break;
        case Player::State::online:
            if (dice < 45) say(p, name, did);
            else if (dice < 55) flood_and_read(p, name, did);
            else if (dice < 60) paused_above_high_watermark(p, name, did);
            else if (dice < 64) dropped_past_the_cap(p, name, did);
            else if (dice < 76) drop(p, name, did);
            else advance(did);
            break;
        }
        return settle();
    }

    // Shut down and check every session ended with a "gone".
    std::string finish() {
        server_->request_shutdown();
        loop_.reset();
        for (std::size_t i = 0; i < players_.size(); ++i)
            if (players_[i].state != Player::State::none) players_[i].events.push_back("gone");
        std::string diff = compare_app();
        server_ = nullptr;
        return exit_code_ == 0 ? diff : "run() returned " + std::to_string(exit_code_) + " " + diff;
    }

private:
    void serve(const comm::Config &cfg) {
        comm::Comm server(cfg, app_, [this](const std::string &line) {
            std::lock_guard lock(app_.mu);
            app_.log.push_back(line);
        });
        server.set_clock([this] { return comm::Clock::now() + std::chrono::seconds(skipped_.load()); });
        app_.comm = &server;
        std::string error;
        if (server.start(error)) {
            std::string where = server.listening_on();
            port_ = static_cast<std::uint16_t>(std::stoi(where.substr(where.rfind(':') + 1)));
            server_ = &server;
        }
        ready_ = true;
        if (server_) exit_code_ = server.run();
    }

    void send(Player &p, const std::string &bytes) {
        if (!ts::send_all(p.fd, bytes.data(), bytes.size(), 5000)) failure_ = "send failed";
        p.idle = 0;
    }

    void connect(Player &p, const std::string &name, std::string &did) {
        bool back = p.state == Player::State::netdead;
        did = "connect " + name + (back ? " (reattach)" : "");
        if (ts::valid(p.fd)) ts::close_socket(p.fd);
        p.fd = ts::connect_loopback(port_);
        ts::set_nonblocking(p.fd);
        p.got = {};
        p.ends = p.doomed = false;
        p.want = back ? "welcome back " + name + "\r\n" : "welcome " + name + "\r\n";
        p.events.push_back(back ? "back" : "login");
        p.state = Player::State::online;
        p.dead_for = 0;
        send(p, name + "\r\n");
    }

    // A line with random content (blank lines, padding NULs, a 0xFF),
    // random telnet commands and a random line end, in 1 to 3 pieces.
    void say(Player &p, const std::string &name, std::string &did) {
        std::string line;
        int len = static_cast<int>(rng_() % 24);
        for (int i = 0; i < len; ++i) line += static_cast<char>('a' + rng_() % 26 + (rng_() % 5 == 0 ? -65 : 0));
        std::string wire;
        for (char c : line) {
            if (rng_() % 12 == 0) wire += pick({std::string("\xff\xf1", 2), std::string("\xff\xfb\x63", 3),
                                                std::string("\xff\xfd\x63", 3), std::string("\0", 1)});
            wire += c;
        }
        if (rng_() % 10 == 0) {
            line += '\xff';
            wire += "\xff\xff";
        }
        wire += pick({"\r\n", "\n", std::string("\r\0", 2)});
        did = "say " + name + " \"" + printable(wire) + "\"";
        p.lines.push_back(line);
        p.want += name + ": " + line + "\r\n";
        std::size_t cut1 = rng_() % (wire.size() + 1), cut2 = rng_() % (wire.size() + 1);
        if (cut1 > cut2) std::swap(cut1, cut2);
        send(p, wire.substr(0, cut1));
        ts::sleep_ms(1);
        send(p, wire.substr(cut1, cut2 - cut1));
        send(p, wire.substr(cut2));
    }

    void flood_and_read(Player &p, const std::string &name, std::string &did) {
        std::size_t n = (1 + rng_() % 200) * 1024;
        did = "flood " + name + " " + std::to_string(n) + ", read slowly";
        send(p, "flood " + std::to_string(n) + "\r\n");
        for (std::size_t i = 0; i < n; i += 1024) p.want += std::string(1023, 'f') + "\r\n";
        slow_reader_ = &p;
    }

    // A backlog above the high watermark pauses reading: a line sent
    // meanwhile waits until the client has read its output.
    void paused_above_high_watermark(Player &p, const std::string &name, std::string &did) {
        did = "big flood " + name + ", then a line before reading";
        send(p, "flood " + std::to_string(kBigFlood) + "\r\n");
        for (std::size_t i = 0; i < kBigFlood; i += 1024) p.want += std::string(1023, 'f') + "\r\n";
        // The first flood bytes show the flood command has begun. The loop
        // reads nothing until it returns, and by then the backlog is above
        // the high watermark (the kernel takes at most ~4 MiB of the 6).
        std::size_t before = p.got.text.size();
        auto deadline = SteadyClock::now() + 10s;
        while (p.got.text.size() == before && SteadyClock::now() < deadline) {
            char b[512];
            long n = ts::recv_some(p.fd, b, sizeof b, 10);
            if (n > 0) p.got.feed(b, static_cast<std::size_t>(n));
        }
        send(p, "ping\r\n");
        ts::sleep_ms(300);  // a timer period: still paused
        std::lock_guard lock(app_.mu);
        if (app_.lines[name].size() > p.lines.size())
            failure_ = "a line ran while the output was above the high watermark";
        p.lines.push_back("ping");
        p.want += name + ": ping\r\n";
    }

    void dropped_past_the_cap(Player &p, const std::string &name, std::string &did) {
        did = "huge flood " + name + " (past the cap)";
        send(p, "flood " + std::to_string(kHugeFlood) + "\r\n");
        p.state = Player::State::netdead;
        p.events.push_back("netdead");
        // Kept open until the drop is seen: a client closing with unread
        // data resets the connection, which would be a different drop.
        p.doomed = true;
        expect_log_ = "output buffer over its cap";
    }

    void drop(Player &p, const std::string &name, std::string &did) {
        bool reset = rng_() % 2;
        did = std::string(reset ? "reset " : "close ") + name;
        if (reset) ts::abort_socket(p.fd);
        else ts::close_socket(p.fd);
        p.fd = ts::invalid_socket();
        p.state = Player::State::netdead;
        p.events.push_back("netdead");
    }

    void advance(std::string &did) {
        did = "time passes " + std::to_string(kStep) + " s";
        skipped_ += kStep;
        // The comm layer checks its timers every 250 ms: let it, so what is
        // due shows at this step (and what is not due is seen not to happen).
        ts::sleep_ms(300);
        for (Player &p : players_) {
            if (p.state == Player::State::online) {
                p.idle += kStep;
                if (p.idle > kIdle) {
                    p.want += "\r\nYou have been idle too long. Goodbye.\r\n";
                    p.ends = true;
                    p.events.push_back("gone");
                    p.state = Player::State::none;
                }
            } else if (p.state == Player::State::netdead) {
                p.dead_for += kStep;
                if (p.dead_for > kNetdead) {
                    p.events.push_back("gone");
                    p.state = Player::State::none;
                }
            }
        }
    }

    // Reads what every client has (slowly for the one a flood went to) and
    // waits until everything matches the model, or a deadline passes.
    std::string settle() {
        if (!failure_.empty()) return failure_;
        auto deadline = SteadyClock::now() + 10s;
        std::string diff;
        while (SteadyClock::now() < deadline) {
            for (Player &p : players_) {
                if (!ts::valid(p.fd) || p.doomed) continue;
                char buf[16384];
                std::size_t chunk = &p == slow_reader_ ? 2048 : sizeof buf;
                long n = ts::recv_some(p.fd, buf, chunk, 0);
                if (n > 0) p.got.feed(buf, static_cast<std::size_t>(n));
                if (std::string bad = check_prefix(p); !bad.empty()) return bad;
                if (n == 0 && !p.ends) return "connection closed by the server";
            }
            diff = compare_app();
            bool all_read = true;
            for (Player &p : players_)
                if (ts::valid(p.fd) && !p.doomed && p.got.text.size() < p.want.size()) all_read = false;
            if (diff.empty() && all_read && (expect_log_.empty() || log_has(expect_log_))) {
                for (Player &p : players_)
                    if ((p.ends || p.doomed) && ts::valid(p.fd)) {
                        ts::close_socket(p.fd);
                        p.fd = ts::invalid_socket();
                    }
                slow_reader_ = nullptr;
                expect_log_.clear();
                return "";
            }
            ts::sleep_ms(1);
        }
        for (std::size_t i = 0; i < players_.size(); ++i)
            if (ts::valid(players_[i].fd) && !players_[i].doomed &&
                players_[i].got.text.size() < players_[i].want.size())
                diff += std::string(kNames[i]) + " got " + std::to_string(players_[i].got.text.size()) +
                        " of " + std::to_string(players_[i].want.size()) + " bytes; ";
        if (!expect_log_.empty() && !log_has(expect_log_)) diff += "no log line '" + expect_log_ + "'";
        return "timed out: " + diff;
    }

    std::string check_prefix(const Player &p) {
        const std::string &got = p.got.text;
        if (got.size() > p.want.size() || p.want.compare(0, got.size(), got) != 0) {
            std::size_t i = 0;
            while (i < got.size() && i < p.want.size() && got[i] == p.want[i]) ++i;
            return "client output differs at byte " + std::to_string(i) + ": got \"" +
                   printable(got.substr(i, 60)) + "\" want \"" + printable(p.want.substr(i, 60)) + "\"";
        }
        return "";
    }

    std::string compare_app() {
        std::lock_guard lock(app_.mu);
        std::string diff;
        for (std::size_t i = 0; i < players_.size(); ++i) {
            const std::string name = kNames[i];
            if (app_.lines[name] != players_[i].lines)
                diff += name + ": lines " + join(app_.lines[name]) + " want " + join(players_[i].lines) + "; ";
            if (app_.events[name] != players_[i].events)
                diff += name + ": notices " + join(app_.events[name]) + " want " + join(players_[i].events) + "; ";
        }
        return diff;
    }

    bool log_has(const std::string &needle) {
        std::lock_guard lock(app_.mu);
        for (const auto &l : app_.log)
            if (l.find(needle) != std::string::npos) return true;
        return false;
    }

    static std::string join(const std::vector<std::string> &v) {
        std::string s = "[";
        for (const auto &x : v) s += "\"" + printable(x) + "\" ";
        return s + "]";
    }

    std::string pick(std::initializer_list<std::string> options) {
        auto it = options.begin();
        std::advance(it, static_cast<long>(rng_() % options.size()));
        return *it;
    }

    std::mt19937 rng_;
    ModelApp app_;
    std::unique_ptr<ts::Thread> loop_;
    std::atomic<bool> ready_{false};
    std::atomic<long long> skipped_{0};
    comm::Comm *server_ = nullptr;
    int exit_code_ = -1;
    std::uint16_t port_ = 0;
    std::array<Player, 3> players_;
    Player *slow_reader_ = nullptr;
    std::string expect_log_;
    std::string failure_;
};

unsigned env_or(const char *name, unsigned fallback) {
    const char *v = std::getenv(name);
    return v && *v ? static_cast<unsigned>(std::strtoul(v, nullptr, 10)) : fallback;
}

TEST_P(ModelTest, random_sequences_match_the_model) {
    ts::init();
    const unsigned first = env_or("IOR_MODEL_SEED", 1);
    const unsigned count = env_or("IOR_MODEL_SEQUENCES", 2);
    const int steps = static_cast<int>(env_or("IOR_MODEL_STEPS", 30));
    for (unsigned seed = first; seed < first + count; ++seed) {
        auto began = SteadyClock::now();
        auto real_s = [&] {
            return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(SteadyClock::now() - began).count()) +
                   " s real time (the model's timing margin is 30 s)";
        };
        Sequence seq(GetParam(), seed);
        ASSERT_TRUE(seq.started());
        std::string trace;
        for (int i = 0; i < steps; ++i) {
            std::string did;
            std::string bad = seq.step(did);
            trace += "  " + std::to_string(i) + ": " + did + "\n";
            ASSERT_EQ(bad, "") << "seed " << seed << " (reproduce: IOR_MODEL_SEED=" << seed
                               << " IOR_MODEL_SEQUENCES=1), step " << i << ", after " << real_s() << "\n"
                               << trace;
        }
        std::string bad = seq.finish();
        ASSERT_EQ(bad, "") << "seed " << seed << " at shutdown, after " << real_s() << "\n" << trace;
    }
}

std::vector<std::string> backends() {
    std::vector<std::string> out;
    for (const char *const *b = io_reactor_backends(); b && *b; ++b) out.emplace_back(*b);
    return out;
}

INSTANTIATE_TEST_SUITE_P(Backends, ModelTest, ::testing::ValuesIn(backends()),
                         [](const auto &info) { return info.param; });

}  // namespace
