// Admission control per client address, before a connection becomes a user:
// how many connections one address may hold at once, and how many it may
// open per minute. With the login timeout (comm.cpp) this keeps half-open
// logins (slowloris) from one host or a few from filling `max users`.
//
// Addresses are compared as text ("127.0.0.1", "[::1]"): the port is cut off.
// An address is forgotten once it has no connection and its minute is over,
// so the table holds only addresses seen in the last minute.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>

namespace comm {

class Admission {
public:
    using Clock = std::chrono::steady_clock;

    // 0 turns a limit off.
    Admission(std::size_t max_open, std::size_t max_per_minute)
        : max_open_(max_open), max_per_minute_(max_per_minute) {}

    struct Verdict {
        const char *refusal = nullptr;  // null: admitted (and counted)
        bool first_refusal = false;     // log this one; the rest of the minute stays quiet
    };
    Verdict admit(const std::string &host, Clock::time_point now);
    void release(const std::string &host);
    void forget_idle(Clock::time_point now);
    std::size_t tracked() const { return by_host_.size(); }

    // "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "[::1]".
    static std::string host_of(const std::string &address);

private:
    struct Entry {
        std::size_t open = 0;
        std::size_t attempts = 0;  // in the minute starting at window
        Clock::time_point window{};
        bool refusal_logged = false;
    };
    std::size_t max_open_, max_per_minute_;
    std::unordered_map<std::string, Entry> by_host_;
};

}  // namespace comm
