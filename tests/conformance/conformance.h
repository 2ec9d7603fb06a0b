// The conformance fixture: one reactor per test, created for the backend
// under test (the test parameter), and a Loop that pumps io_reactor_wait
// until a condition holds or a deadline passes. Tests never sleep to assert;
// they wait for a condition with a deadline, so they fail instead of hanging.
#pragma once

#include "io_reactor.h"
#include "test_sockets.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace conformance {

using Clock = std::chrono::steady_clock;

// Generous deadlines: they only matter when a test is about to fail, and
// wine is slow.
constexpr int kDeadlineMs = 5000;
constexpr int kQuietMs = 150;  // "nothing more happens" is checked this long

inline long long elapsed_us(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since).count();
}

inline timeval timeout_us(long us) {
    timeval tv;
    tv.tv_sec = us / 1000000;
    tv.tv_usec = us % 1000000;
    return tv;
}

// Lets an interruption left by an earlier test (a destroyed io_uring ring's
// task work interrupts this thread's next wait once; see
// destroying_another_reactor_does_not_cut_this_ones_wait_short) land before
// a timing measurement: a few 20 ms waits until one really takes 20 ms.
inline void settle(io_reactor_t *reactor) {
    io_event_t events[8];
    for (int i = 0; i < 5; ++i) {
        timeval tv = timeout_us(20000);
        auto start = Clock::now();
        io_reactor_wait(reactor, events, 8, &tv);
        if (elapsed_us(start) >= 20000) return;
    }
}

// A byte pattern with no short period, so a dropped, repeated or reordered
// chunk shows up as a mismatch.
inline char pattern_byte(std::size_t i) {
    std::uint32_t x = static_cast<std::uint32_t>(i);
    x ^= x >> 7;
    x *= 0x9E3779B1u;
    return static_cast<char>(x >> 24);
}

inline std::string pattern(std::size_t n, std::size_t offset = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = pattern_byte(offset + i);
    return s;
}

// Index of the first differing byte, or npos if equal (compared with memcmp
// semantics: the reactor's bytes are not NUL terminated).
inline std::size_t first_mismatch(const std::string &got, const std::string &want) {
    std::size_t n = got.size() < want.size() ? got.size() : want.size();
    for (std::size_t i = 0; i < n; ++i)
        if (got[i] != want[i]) return i;
    return got.size() == want.size() ? std::string::npos : n;
}

// One delivered event, with the read bytes copied out of the reactor buffer.
struct Seen {
    void *context;
    int type;
    socket_fd_t fd;
    socket_fd_t accepted_fd;
    int error;
    std::string data;
};

inline const char *event_name(int type) {
    switch (type) {
    case IO_EVENT_NONE: return "NONE";
    case EVENT_READ: return "READ";
    case EVENT_WRITE: return "WRITE";
    case EVENT_ERROR: return "ERROR";
    case EVENT_CLOSE: return "CLOSE";
    case EVENT_ACCEPT: return "ACCEPT";
    default: return "?";
    }
}

// Pumps io_reactor_wait, records every event, and hands each one to an
// optional handler (which may call back into the reactor, as a server does).
class Loop {
public:
    using Handler = std::function<void(const io_event_t &)>;

    explicit Loop(io_reactor_t *reactor, Handler handler = {}, int max_events = 64)
        : reactor_(reactor), handler_(std::move(handler)), events_(max_events) {}

    void on_event(Handler handler) { handler_ = std::move(handler); }

    // One wait. Returns what io_reactor_wait returned.
    int pump(long timeout_us_) {
        timeval tv = timeout_us(timeout_us_);
        int n = io_reactor_wait(reactor_, events_.data(), static_cast<int>(events_.size()), &tv);
        if (n < 0) {
            ++wait_failures;
            return n;
        }
        for (int i = 0; i < n; ++i) {
            const io_event_t &ev = events_[i];
            if (ev.event_type == IO_EVENT_NONE) continue;
            Seen s{ev.context, ev.event_type, ev.fd, ev.accepted_fd, ev.error, {}};
            if (ev.event_type == EVENT_READ && ev.buffer && ev.bytes_transferred > 0)
                s.data.assign(static_cast<const char *>(ev.buffer),
                              static_cast<std::size_t>(ev.bytes_transferred));
            seen.push_back(std::move(s));
            if (handler_) handler_(ev);
        }
        return n;
    }

    // Pump until pred() holds; false if the deadline passed first.
    bool until(const std::function<bool()> &pred, int deadline_ms = kDeadlineMs) {
        auto deadline = Clock::now() + std::chrono::milliseconds(deadline_ms);
        while (!pred()) {
            if (Clock::now() >= deadline) return false;
            pump(10000);
        }
        return true;
    }

    // Pump for a while (to show that nothing more happens).
    void idle(int ms = kQuietMs) {
        auto deadline = Clock::now() + std::chrono::milliseconds(ms);
        while (Clock::now() < deadline) pump(5000);
    }

    std::size_t count(int type, const void *context) const {
        std::size_t n = 0;
        for (const Seen &s : seen)
            if (s.type == type && s.context == context) ++n;
        return n;
    }
    std::size_t count_for(const void *context) const {
        std::size_t n = 0;
        for (const Seen &s : seen)
            if (s.context == context) ++n;
        return n;
    }
    std::size_t count_fd(socket_fd_t fd) const {
        std::size_t n = 0;
        for (const Seen &s : seen)
            if (s.fd == fd) ++n;
        return n;
    }
    // Everything read for a context, concatenated in delivery order.
    std::string data_for(const void *context) const {
        std::string out;
        for (const Seen &s : seen)
            if (s.type == EVENT_READ && s.context == context) out += s.data;
        return out;
    }
    std::string describe() const {
        std::string out;
        for (const Seen &s : seen) {
            out += event_name(s.type);
            out += "(n=" + std::to_string(s.data.size()) + ",err=" + std::to_string(s.error) + ") ";
        }
        return out;
    }

    std::vector<Seen> seen;
    int wait_failures = 0;

private:
    io_reactor_t *reactor_;
    Handler handler_;
    std::vector<io_event_t> events_;
};

// One reactor per test for the backend named by the parameter. Sockets made
// through the fixture are closed after the reactor is destroyed, so no test
// closes a socket behind a reactor's back by accident.
class Conformance : public ::testing::TestWithParam<const char *> {
protected:
    void SetUp() override {
        ts::init();
        io_reactor_config_t config{};
        config.backend = GetParam();
        config.mode = mode();
        reactor = io_reactor_create_with(&config);
        ASSERT_NE(reactor, nullptr) << "io_reactor_create_with(" << GetParam() << ") failed: "
                                    << io_reactor_strerror(io_reactor_last_error(nullptr));
    }

    void TearDown() override {
        if (reactor) io_reactor_destroy(reactor);
        reactor = nullptr;
        for (socket_fd_t fd : owned_) ts::close_socket(fd);
        owned_.clear();
    }

    // The readiness suite (tests/readiness) runs the same fixture in
    // readiness mode.
    virtual int mode() const { return IO_REACTOR_MODE_NATIVE; }

    socket_fd_t own(socket_fd_t fd) {
        if (ts::valid(fd)) owned_.push_back(fd);
        return fd;
    }

    ts::Pair pair() {
        ts::Pair p = ts::make_pair();
        EXPECT_TRUE(p.ok()) << "could not make a loopback pair, error " << ts::last_error();
        own(p.peer);
        own(p.local);
        return p;
    }

    // Close now (e.g. the peer hangs up); the fixture will not close it again.
    void close_now(socket_fd_t fd) {
        forget(fd);
        ts::close_socket(fd);
    }
    void abort_now(socket_fd_t fd) {
        forget(fd);
        ts::abort_socket(fd);
    }

    io_reactor_t *reactor = nullptr;

private:
    void forget(socket_fd_t fd) {
        for (auto it = owned_.begin(); it != owned_.end(); ++it) {
            if (*it == fd) {
                owned_.erase(it);
                return;
            }
        }
    }

    std::vector<socket_fd_t> owned_;
};

}  // namespace conformance
