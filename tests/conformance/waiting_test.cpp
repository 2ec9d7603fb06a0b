// Contract 7: io_reactor_wait returns 0 on timeout, rounds sub-millisecond
// timeouts up (never spins), and returns early after io_reactor_wakeup from
// any thread.
#include "conformance.h"

#include <atomic>
#include <vector>

namespace conformance {
namespace {

// Microseconds that `n` waits of `timeout` take on a reactor with nothing to
// report. Each must time out (return 0); one that does not fails the test.
long long idle_waits_us(io_reactor_t *reactor, int n, long timeout) {
    io_event_t events[8];
    auto start = Clock::now();
    for (int i = 0; i < n; ++i) {
        timeval tv = timeout_us(timeout);
        int got = io_reactor_wait(reactor, events, 8, &tv);
        if (got != 0) {
            ADD_FAILURE() << "wait " << i << " of " << timeout << " us returned " << got;
            break;
        }
    }
    return elapsed_us(start);
}

TEST_P(Conformance, zero_timeout_returns_at_once) {
    EXPECT_LT(idle_waits_us(reactor, 100, 0), 1000000) << "100 zero-timeout waits";
}

TEST_P(Conformance, timeout_returns_zero_after_at_least_the_timeout) {
    settle(reactor);
    long long us = idle_waits_us(reactor, 1, 50000);
    EXPECT_GE(us, 50000);
    EXPECT_LT(us, 2000000);
}

TEST_P(Conformance, timeout_of_whole_seconds_and_microseconds_adds_up) {
    settle(reactor);
    // tv_sec and tv_usec together: 0 s + 120000 us, expressed unnormalised
    // as the driver might (tv_usec < 1 s here, so still valid).
    io_event_t events[8];
    timeval tv;
    tv.tv_sec = 0;
    tv.tv_usec = 120000;
    auto start = Clock::now();
    EXPECT_EQ(io_reactor_wait(reactor, events, 8, &tv), 0);
    EXPECT_GE(elapsed_us(start), 120000);
}

TEST_P(Conformance, sub_millisecond_timeout_is_rounded_up_never_spun) {
    settle(reactor);
    // Rounded down to 0 these would take microseconds in all.
    EXPECT_GE(idle_waits_us(reactor, 200, 900), 150000) << "200 waits of 900 us";
}

TEST_P(Conformance, one_microsecond_timeout_still_sleeps) {
    settle(reactor);
    EXPECT_GE(idle_waits_us(reactor, 100, 1), 75000) << "100 waits of 1 us";
}

TEST_P(Conformance, wakeup_from_another_thread_ends_a_wait_without_timeout) {
    // A registered pair is the safety net: if the wakeup is lost, the helper
    // sends a byte after 3 s so the test fails instead of hanging.
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    std::atomic<bool> returned{false};
    std::atomic<int> wake_rc{1};
    auto start = Clock::now();
    ts::Thread waker([&] {
        ts::sleep_ms(100);
        wake_rc = io_reactor_wakeup(reactor);
        for (int i = 0; i < 300 && !returned; ++i) ts::sleep_ms(10);
        if (!returned) ts::send_all(p.peer, "!", 1, 1000);
    });
    io_event_t events[8];
    int n = io_reactor_wait(reactor, events, 8, nullptr);
    long long us = elapsed_us(start);
    returned = true;
    waker.join();
    EXPECT_EQ(wake_rc.load(), 0);
    EXPECT_GE(n, 0);
    EXPECT_LT(us, 1000000) << "woken after " << us << " us";
    for (int i = 0; i < n; ++i) EXPECT_NE(events[i].event_type, EVENT_READ) << "woken by the safety net";
}

TEST_P(Conformance, wakeup_from_another_thread_cuts_a_long_timeout_short) {
    std::atomic<int> wake_rc{1};
    auto start = Clock::now();
    ts::Thread waker([&] {
        ts::sleep_ms(100);
        wake_rc = io_reactor_wakeup(reactor);
    });
    io_event_t events[8];
    timeval tv = timeout_us(5000000);
    int n = io_reactor_wait(reactor, events, 8, &tv);
    long long us = elapsed_us(start);
    waker.join();
    EXPECT_EQ(wake_rc.load(), 0);
    EXPECT_GE(n, 0);
    EXPECT_LT(us, 1000000) << "woken after " << us << " us";
}

TEST_P(Conformance, wakeup_before_wait_is_not_lost) {
    // The other thread may call wakeup just before the loop enters wait;
    // that wait must still return promptly.
    ASSERT_EQ(io_reactor_wakeup(reactor), 0);
    io_event_t events[8];
    timeval tv = timeout_us(3000000);
    auto start = Clock::now();
    EXPECT_GE(io_reactor_wait(reactor, events, 8, &tv), 0);
    EXPECT_LT(elapsed_us(start), 1000000);
}

TEST_P(Conformance, wakeup_is_consumed_so_later_waits_block_again) {
    settle(reactor);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(io_reactor_wakeup(reactor), 0);
    io_event_t events[8];
    // Several wakeups may coalesce into one or a few early returns, but not
    // into a wait that never blocks again.
    bool blocked = false;
    for (int i = 0; i < 8 && !blocked; ++i) {
        timeval tv = timeout_us(50000);
        auto start = Clock::now();
        ASSERT_GE(io_reactor_wait(reactor, events, 8, &tv), 0);
        blocked = elapsed_us(start) >= 50000;
    }
    EXPECT_TRUE(blocked);
}

TEST_P(Conformance, wakeup_storm_from_another_thread_is_safe) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    ts::Thread waker([&] {
        // Bounded: a backend that queues one packet per wakeup must not be
        // drowned, only exercised.
        for (int i = 0; i < 20000 && !stop; ++i)
            if (io_reactor_wakeup(reactor) != 0) ++failures;
    });
    Loop loop(reactor);
    const std::string want = pattern(32 * 1024);
    std::size_t sent = 0;
    bool ok = loop.until([&] {
        if (sent < want.size()) {
            long n = ts::send_some(p.peer, want.data() + sent, want.size() - sent);
            if (n > 0) sent += static_cast<std::size_t>(n);
        }
        return loop.data_for(&ctx).size() >= want.size();
    });
    stop = true;
    waker.join();
    EXPECT_TRUE(ok);
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(first_mismatch(loop.data_for(&ctx), want), std::string::npos);
    EXPECT_EQ(loop.wait_failures, 0);
}

TEST_P(Conformance, a_signal_ends_a_wait_early) {
    if (!ts::signal_this_thread_after(100)) GTEST_SKIP() << "no signals on this platform";
    io_event_t events[8];
    timeval tv = timeout_us(3000000);
    auto start = Clock::now();
    int n = io_reactor_wait(reactor, events, 8, &tv);
    long long us = elapsed_us(start);
    ts::join_signaller();
    EXPECT_GE(n, 0) << "EINTR is not an error";
    EXPECT_LT(us, 1000000) << "returned after " << us << " us";
}

TEST_P(Conformance, wait_never_returns_more_than_max_events_and_loses_nothing) {
    constexpr int kPairs = 6;
    std::vector<ts::Pair> pairs;
    int ctx[kPairs];
    for (int i = 0; i < kPairs; ++i) {
        pairs.push_back(pair());
        ASSERT_EQ(io_reactor_add(reactor, pairs[i].local, &ctx[i], EVENT_READ | EVENT_WRITE), 0);
        ASSERT_TRUE(ts::send_all(pairs[i].peer, "abc", 3, kDeadlineMs));
    }
    std::uint16_t port = 0;
    socket_fd_t listener = own(ts::listen_loopback(16, port));
    ASSERT_TRUE(ts::valid(listener));
    int listener_ctx = 0;
    ASSERT_EQ(io_reactor_add_listener(reactor, listener, &listener_ctx), 0);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(ts::valid(own(ts::connect_loopback(port))));

    Loop loop(reactor, [&](const io_event_t &ev) {
        if (ev.event_type == EVENT_ACCEPT) own(ev.accepted_fd);
    }, 1);
    int too_many = 0;
    auto done = [&] {
        for (int i = 0; i < kPairs; ++i)
            if (loop.data_for(&ctx[i]).size() < 3 || loop.count(EVENT_WRITE, &ctx[i]) < 1) return false;
        return loop.count(EVENT_ACCEPT, &listener_ctx) >= 4;
    };
    auto deadline = Clock::now() + std::chrono::milliseconds(kDeadlineMs);
    while (!done() && Clock::now() < deadline)
        if (loop.pump(10000) > 1) ++too_many;
    EXPECT_TRUE(done()) << loop.describe();
    EXPECT_EQ(too_many, 0);
    loop.idle();
    for (int i = 0; i < kPairs; ++i) {
        EXPECT_EQ(loop.data_for(&ctx[i]), "abc");
        EXPECT_EQ(loop.count(EVENT_WRITE, &ctx[i]), 1u);
    }
    EXPECT_EQ(loop.count(EVENT_ACCEPT, &listener_ctx), 4u);
}

TEST_P(Conformance, destroying_other_reactors_does_not_make_this_ones_wait_spin) {
    // One reactor of every built backend lives and dies on this thread
    // first (a program may switch backends). Tearing down an io_uring ring
    // queues kernel task work that interrupts the thread's next blocking
    // epoll_wait once (EINTR, no signal): an early return the contract
    // allows (contract 7). What must not happen is a spin: waiting out
    // 200 ms takes at most a couple of calls.
    settle(reactor);
    io_event_t events[8];
    for (const char *const *name = io_reactor_backends(); *name; ++name) {
        io_reactor_config_t config{};
        config.backend = *name;
        io_reactor_t *other = io_reactor_create_with(&config);
        ASSERT_NE(other, nullptr) << *name;
        timeval zero = timeout_us(0);
        EXPECT_EQ(io_reactor_wait(other, events, 8, &zero), 0);
        io_reactor_destroy(other);
    }
    auto start = Clock::now();
    int calls = 0;
    while (elapsed_us(start) < 200000) {
        long left = 200000 - static_cast<long>(elapsed_us(start));
        timeval tv = timeout_us(left > 0 ? left : 0);
        EXPECT_EQ(io_reactor_wait(reactor, events, 8, &tv), 0);
        ++calls;
    }
    EXPECT_LE(calls, 3) << "nobody signalled or woke this reactor";
}

}  // namespace
}  // namespace conformance
