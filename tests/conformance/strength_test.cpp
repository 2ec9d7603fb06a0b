// Behaviour a small, plausible bug would break without any other test
// noticing (issue 18): each test here was checked by planting that bug (see
// docs/testing.md). Valid on every backend.
#include "conformance.h"

#include <atomic>
#include <string>

namespace conformance {
namespace {

// Class 1: a readiness backend that keeps watching for writability once the
// output queue has drained makes every later wait return at once (a busy
// loop that no functional test sees: every byte still arrives).
TEST_P(Conformance, waits_still_sleep_after_a_large_write_has_drained) {
    settle(reactor);
    ts::Pair p = pair();
    ts::set_buffers(p.local, 0, 65536);
    ts::set_buffers(p.peer, 65536, 0);
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    const std::string want = pattern(1 << 20);
    std::string copy = want;
    ASSERT_EQ(io_reactor_post_write(reactor, p.local, copy.data(), copy.size()), 0);
    ASSERT_GT(io_reactor_queued_bytes(reactor, p.local), 0u) << "the write must have to wait";

    Loop loop(reactor);
    std::string got;
    char buf[16384];
    auto deadline = Clock::now() + std::chrono::milliseconds(15000);
    while ((got.size() < want.size() || io_reactor_queued_bytes(reactor, p.local) > 0) &&
           Clock::now() < deadline) {
        loop.pump(1000);
        long n = ts::recv_some(p.peer, buf, sizeof buf, 0);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    }
    ASSERT_EQ(got.size(), want.size());
    ASSERT_EQ(io_reactor_queued_bytes(reactor, p.local), 0u);
    EXPECT_EQ(first_mismatch(got, want), std::string::npos);

    io_event_t events[8];
    for (int i = 0; i < 5; ++i) {
        timeval tv = timeout_us(100000);
        auto start = Clock::now();
        int n = io_reactor_wait(reactor, events, 8, &tv);
        long long us = elapsed_us(start);
        EXPECT_EQ(n, 0) << "wait " << i << " after the drain";
        EXPECT_GE(us, 90000) << "wait " << i << " of 100 ms after the drain took " << us << " us";
    }
}

// Class 2: a wakeup that works once (a wake watch not re-armed after it
// fired, a flag never reset) passes every one-round test. Each round here
// starts only after the last wakeup was consumed, shown by a wait that
// sleeps its full timeout.
TEST_P(Conformance, tenth_wakeup_still_ends_a_blocked_wait) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    io_event_t events[8];
    for (int round = 1; round <= 10; ++round) {
        settle(reactor);
        std::atomic<bool> returned{false};
        std::atomic<int> wake_rc{1};
        ts::Thread waker([&] {
            ts::sleep_ms(30);
            wake_rc = io_reactor_wakeup(reactor);
            // Safety net: a lost wakeup fails the round instead of hanging.
            for (int i = 0; i < 300 && !returned; ++i) ts::sleep_ms(10);
            if (!returned) ts::send_all(p.peer, "!", 1, 1000);
        });
        auto start = Clock::now();
        int n = io_reactor_wait(reactor, events, 8, nullptr);
        long long us = elapsed_us(start);
        returned = true;
        waker.join();
        EXPECT_EQ(wake_rc.load(), 0) << "round " << round;
        ASSERT_GE(n, 0) << "round " << round;
        bool by_net = false;
        for (int i = 0; i < n; ++i) by_net = by_net || events[i].event_type == EVENT_READ;
        ASSERT_FALSE(by_net) << "round " << round << ": the wakeup was lost (woken by the safety net)";
        ASSERT_LT(us, 1000000) << "round " << round << ": woken after " << us << " us";
        // Consumed: the next wait sleeps again (settle at the top of the next
        // round waits for that), and one more check here for the last round.
        timeval tv = timeout_us(20000);
        int left = 0;
        for (int i = 0; i < 5; ++i) {
            auto s = Clock::now();
            io_reactor_wait(reactor, events, 8, &tv);
            if (elapsed_us(s) >= 20000) break;
            ++left;
        }
        EXPECT_LT(left, 5) << "round " << round << ": the wakeup was never consumed";
    }
}

// Class 6: more than one read's worth (64 KiB) held back while reading is
// paused, then EOF. The caller pauses after the first EVENT_READ of a wait
// that could return only one event: a completion backend has already taken
// the rest (and the EOF) from the kernel and must stash it; a readiness
// backend leaves it in the kernel. Either way every byte comes before
// EVENT_CLOSE, and EVENT_CLOSE comes once.
TEST_P(Conformance, close_after_more_than_64_kib_held_while_paused_comes_after_every_byte) {
    ts::Pair p = pair();
    ts::set_buffers(p.local, 1 << 20, 0);
    ts::set_buffers(p.peer, 0, 1 << 20);
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    const std::string want = pattern(300 * 1024);
    ASSERT_TRUE(ts::send_all(p.peer, want.data(), want.size(), kDeadlineMs));
    ts::shutdown_write(p.peer);
    ts::sleep_ms(50);  // the data and the FIN are at the reactor's socket

    Loop loop(reactor, {}, 1);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_READ, &ctx) > 0; })) << loop.describe();
    ASSERT_EQ(io_reactor_modify(reactor, p.local, 0), 0);
    std::size_t before_pause = loop.seen.size();
    loop.idle(200);
    EXPECT_EQ(loop.seen.size(), before_pause) << "events while paused: " << loop.describe();

    ASSERT_EQ(io_reactor_modify(reactor, p.local, EVENT_READ), 0);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_CLOSE, &ctx) > 0; })) << loop.describe();
    loop.idle();
    std::string before_close;
    bool closed = false, after_close = false;
    for (const Seen &s : loop.seen) {
        if (s.context != &ctx) continue;
        if (s.type == EVENT_CLOSE) closed = true;
        else if (closed) after_close = true;
        else if (s.type == EVENT_READ) before_close += s.data;
    }
    EXPECT_FALSE(after_close) << "events after EVENT_CLOSE: " << loop.describe();
    EXPECT_EQ(loop.count(EVENT_CLOSE, &ctx), 1u);
    EXPECT_EQ(before_close.size(), want.size()) << loop.describe();
    EXPECT_EQ(first_mismatch(before_close, want), std::string::npos);
}

}  // namespace
}  // namespace conformance
