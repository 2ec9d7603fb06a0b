// Contract 4: post_write copies and queues whole; nothing is truncated or
// reordered; io_reactor_queued_bytes shows the backlog; EVENT_WRITE reports
// the queue draining; a failed handle reports EVENT_ERROR.
#include "conformance.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace conformance {
namespace {

// Small kernel buffers on both sides, so a large write has to wait for the
// reader instead of vanishing into the socket at once. Not tiny: a window
// below the loopback MSS (~64 KiB) makes Linux TCP crawl on its persist
// timer, which would test the kernel, not the reactor.
void make_narrow(const ts::Pair &p) {
    ts::set_buffers(p.local, 0, 65536);
    ts::set_buffers(p.peer, 65536, 0);
}

// Reads at most `chunk` bytes from the peer, pausing now and then: a slow
// client.
void read_slowly(socket_fd_t peer, std::string &into, std::size_t chunk, int &calls) {
    char buf[4096];
    if (chunk > sizeof buf) chunk = sizeof buf;
    long n = ts::recv_some(peer, buf, chunk, 0);
    if (n > 0) into.append(buf, static_cast<std::size_t>(n));
    if (++calls % 32 == 0) ts::sleep_ms(1);
}

TEST_P(Conformance, one_mebibyte_reaches_a_slow_reader_whole_and_in_order) {
    ts::Pair p = pair();
    make_narrow(p);
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);

    const std::string want = pattern(1 << 20);
    std::string copy = want;
    ASSERT_EQ(io_reactor_post_write(reactor, p.local, copy.data(), copy.size()), 0);
    // post_write copied the bytes: the caller's buffer is free at once.
    std::memset(copy.data(), 0, copy.size());
    EXPECT_GT(io_reactor_queued_bytes(reactor, p.local), 0u) << "1 MiB cannot fit the narrowed socket buffers";

    // Write interest while the queue is not empty: no WRITE until it drains.
    ASSERT_EQ(io_reactor_modify(reactor, p.local, EVENT_READ | EVENT_WRITE), 0);
    std::size_t writes_while_queued = 0;
    std::size_t writes_when_empty = 0;
    Loop loop(reactor, [&](const io_event_t &ev) {
        if (ev.event_type != EVENT_WRITE) return;
        if (io_reactor_queued_bytes(reactor, ev.fd) == 0) ++writes_when_empty;
        else ++writes_while_queued;
    });

    std::string got;
    int calls = 0;
    bool saw_backlog_after_wait = false;
    auto deadline = Clock::now() + std::chrono::milliseconds(15000);
    while (got.size() < want.size() && Clock::now() < deadline) {
        loop.pump(1000);
        if (io_reactor_queued_bytes(reactor, p.local) > 0) saw_backlog_after_wait = true;
        read_slowly(p.peer, got, 2048, calls);
    }
    ASSERT_EQ(got.size(), want.size()) << "queued " << io_reactor_queued_bytes(reactor, p.local);
    EXPECT_EQ(first_mismatch(got, want), std::string::npos);
    EXPECT_TRUE(saw_backlog_after_wait);

    ASSERT_TRUE(loop.until([&] { return io_reactor_queued_bytes(reactor, p.local) == 0; }));
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_WRITE, &ctx) > 0; })) << loop.describe();
    loop.idle();
    EXPECT_EQ(writes_while_queued, 0u);
    EXPECT_EQ(writes_when_empty, 1u) << "EVENT_WRITE once when the queue drains";
    EXPECT_EQ(loop.count(EVENT_WRITE, &ctx), 1u);
    // Nothing extra arrives after the megabyte.
    char extra;
    EXPECT_EQ(ts::recv_some(p.peer, &extra, 1, 50), -1);
}

TEST_P(Conformance, many_small_writes_keep_their_order) {
    ts::Pair p = pair();
    make_narrow(p);
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);

    std::string want;
    char line[32];
    for (int i = 0; i < 20000; ++i) {
        int n = std::snprintf(line, sizeof line, "line %05d\n", i);
        want.append(line, static_cast<std::size_t>(n));
        ASSERT_EQ(io_reactor_post_write(reactor, p.local, line, static_cast<std::size_t>(n)), 0);
        // Now and then let the reactor flush between posts, as a server does.
        if (i % 1000 == 999) {
            timeval zero = timeout_us(0);
            io_event_t ev[4];
            ASSERT_GE(io_reactor_wait(reactor, ev, 4, &zero), 0);
        }
    }
    Loop loop(reactor);
    std::string got;
    int calls = 0;
    auto deadline = Clock::now() + std::chrono::milliseconds(15000);
    while (got.size() < want.size() && Clock::now() < deadline) {
        loop.pump(1000);
        read_slowly(p.peer, got, 4096, calls);
    }
    ASSERT_EQ(got.size(), want.size());
    std::size_t bad = first_mismatch(got, want);
    EXPECT_EQ(bad, std::string::npos) << "first difference near: " << got.substr(bad, 24);
    EXPECT_TRUE(loop.until([&] { return io_reactor_queued_bytes(reactor, p.local) == 0; }));
}

TEST_P(Conformance, writes_interleaved_with_reads_all_arrive) {
    // A small request/response exchange: every post_write reaches the peer
    // even when the reactor is also reading on the same handle.
    ts::Pair p = pair();
    int ctx = 0;
    Loop loop(reactor);
    loop.on_event([&](const io_event_t &ev) {
        if (ev.event_type == EVENT_READ) {
            ASSERT_EQ(io_reactor_post_write(reactor, ev.fd, ev.buffer,
                                            static_cast<std::size_t>(ev.bytes_transferred)), 0);
        }
    });
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    for (int i = 0; i < 50; ++i) {
        std::string msg = "request " + std::to_string(i);
        ASSERT_TRUE(ts::send_all(p.peer, msg.data(), msg.size(), kDeadlineMs));
        std::string got(msg.size(), '\0');
        std::size_t have = 0;
        ASSERT_TRUE(loop.until([&] {
            long n = ts::recv_some(p.peer, got.data() + have, got.size() - have, 0);
            if (n > 0) have += static_cast<std::size_t>(n);
            return have == got.size();
        })) << "round " << i;
        EXPECT_EQ(got, msg);
    }
}

TEST_P(Conformance, output_to_a_reset_peer_ends_in_one_error_event) {
    ts::Pair p = pair();
    make_narrow(p);
    int ctx = 0;
    // Not reading: only the write path can notice the reset.
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, 0), 0);
    std::string big = pattern(1 << 20);
    ASSERT_EQ(io_reactor_post_write(reactor, p.local, big.data(), big.size()), 0);
    Loop loop(reactor);
    loop.pump(1000);
    ASSERT_GT(io_reactor_queued_bytes(reactor, p.local), 0u);
    abort_now(p.peer);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_ERROR, &ctx) > 0; })) << loop.describe();
    loop.idle();
    EXPECT_EQ(loop.count(EVENT_ERROR, &ctx), 1u) << loop.describe();
    for (const Seen &s : loop.seen) {
        if (s.type == EVENT_ERROR) {
            EXPECT_NE(s.error, 0);
        }
    }
    EXPECT_EQ(io_reactor_remove(reactor, p.local), 0);
}

TEST_P(Conformance, queued_bytes_is_zero_for_an_idle_handle) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    EXPECT_EQ(io_reactor_queued_bytes(reactor, p.local), 0u);
    ASSERT_EQ(io_reactor_post_write(reactor, p.local, const_cast<char *>("hi"), 2), 0);
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return io_reactor_queued_bytes(reactor, p.local) == 0; }));
    char got[2];
    ASSERT_TRUE(ts::recv_all(p.peer, got, 2, kDeadlineMs));
    EXPECT_EQ(std::memcmp(got, "hi", 2), 0);
}

TEST_P(Conformance, each_drain_of_the_queue_reports_one_write_event) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ | EVENT_WRITE), 0);
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_WRITE, &ctx) == 1; })) << loop.describe();
    for (int round = 2; round <= 4; ++round) {
        std::string msg = "round " + std::to_string(round);
        ASSERT_EQ(io_reactor_post_write(reactor, p.local, msg.data(), msg.size()), 0);
        ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_WRITE, &ctx) == static_cast<std::size_t>(round); }))
            << "round " << round << ": " << loop.describe();
        std::string got(msg.size(), '\0');
        ASSERT_TRUE(ts::recv_all(p.peer, got.data(), got.size(), kDeadlineMs));
        EXPECT_EQ(got, msg);
    }
    loop.idle();
    EXPECT_EQ(loop.count(EVENT_WRITE, &ctx), 4u) << loop.describe();
}

TEST_P(Conformance, write_interest_off_means_no_write_events) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    std::string msg = pattern(200000);
    ASSERT_EQ(io_reactor_post_write(reactor, p.local, msg.data(), msg.size()), 0);
    Loop loop(reactor);
    std::string got;
    ASSERT_TRUE(loop.until([&] {
        char buf[65536];
        long n = ts::recv_some(p.peer, buf, sizeof buf, 0);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        return got.size() >= msg.size();
    }));
    loop.idle();
    EXPECT_EQ(loop.count(EVENT_WRITE, &ctx), 0u) << loop.describe();
    EXPECT_EQ(first_mismatch(got, msg), std::string::npos);
}

}  // namespace
}  // namespace conformance
