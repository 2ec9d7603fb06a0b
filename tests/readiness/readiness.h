// The readiness-mode suite: the conformance fixture and Loop, with the
// reactor created in readiness mode (io_reactor.h, READINESS MODE), run
// unchanged on every backend that serves it (IOCP too). It reads, writes
// and accepts with the plain socket calls, as such a driver does.
#pragma once

#include "../conformance/conformance.h"

#include <algorithm>
#include <cerrno>
#ifdef _WIN32
// Winsock spellings of what the tests ask of a socket.
#define MSG_NOSIGNAL 0
#define READINESS_WOULD_BLOCK(error) ((error) == WSAEWOULDBLOCK)
#define READINESS_RESET WSAECONNRESET
#else
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#define READINESS_WOULD_BLOCK(error) ((error) == EAGAIN || (error) == EWOULDBLOCK)
#define READINESS_RESET ECONNRESET
#endif

namespace readiness {

using conformance::kDeadlineMs;
using conformance::kQuietMs;
using conformance::Loop;
using conformance::Seen;

class Readiness : public conformance::Conformance {
protected:
    int mode() const override { return IO_REACTOR_MODE_READINESS; }

    // One wait; a copy of the events it returned (cancelled entries
    // skipped). The array waited on outlives the call, as contract 2 needs:
    // a later remove may rewrite its entries.
    std::vector<io_event_t> wait_once(long timeout_us) {
        timeval tv = conformance::timeout_us(timeout_us);
        int n = io_reactor_wait(reactor, array_.data(), int(array_.size()), &tv);
        EXPECT_GE(n, 0) << io_reactor_strerror(io_reactor_last_error(reactor));
        std::vector<io_event_t> events(array_.begin(), array_.begin() + (n > 0 ? n : 0));
        std::erase_if(events, [](const io_event_t &e) { return e.event_type == IO_EVENT_NONE; });
        return events;
    }

    // Waits until an event for ctx has all of `flags`; returns its type, or
    // 0 if the deadline passed.
    int wait_for(const void *ctx, int flags, int deadline_ms = kDeadlineMs) {
        auto deadline = conformance::Clock::now() + std::chrono::milliseconds(deadline_ms);
        while (conformance::Clock::now() < deadline)
            for (const io_event_t &e : wait_once(10000))
                if (e.context == ctx && (e.event_type & flags) == flags) return e.event_type;
        return 0;
    }

    // Events for ctx over a whole quiet period: a wait may return early
    // (contract 7), so this waits in a loop, as callers must.
    int events_within(const void *ctx, int ms = kQuietMs) {
        auto deadline = conformance::Clock::now() + std::chrono::milliseconds(ms);
        int n = 0;
        while (conformance::Clock::now() < deadline) {
            auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - conformance::Clock::now());
            for (const io_event_t &e : wait_once(std::max<long>(1, long(left.count()))))
                n += e.context == ctx;
        }
        return n;
    }

private:
    std::vector<io_event_t> array_ = std::vector<io_event_t>(64);
};

// Events for ctx in one batch.
inline int count_for(const std::vector<io_event_t> &events, const void *ctx) {
    int n = 0;
    for (const io_event_t &e : events) n += e.context == ctx;
    return n;
}

inline int type_for(const std::vector<io_event_t> &events, const void *ctx) {
    for (const io_event_t &e : events)
        if (e.context == ctx) return e.event_type;
    return 0;
}

}  // namespace readiness
