// Contract 1 and 3: every event carries the handle's context; reads are
// completion style (the bytes come with EVENT_READ); EOF is one EVENT_CLOSE,
// a reset one EVENT_ERROR with an error code.
#include "conformance.h"

#include <cstring>
#include <string>
#include <vector>

namespace conformance {
namespace {

TEST_P(Conformance, read_event_carries_context_fd_and_exact_bytes) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);

    // Embedded NUL and no terminator: compared with memcmp, never as a C string.
    const char message[] = {'h', 'e', '\0', 'l', 'o', '\xff'};
    ASSERT_TRUE(ts::send_all(p.peer, message, sizeof message, kDeadlineMs));

    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx).size() >= sizeof message; }))
        << loop.describe();
    std::string got = loop.data_for(&ctx);
    ASSERT_EQ(got.size(), sizeof message);
    EXPECT_EQ(std::memcmp(got.data(), message, sizeof message), 0);
    for (const Seen &s : loop.seen) {
        EXPECT_EQ(s.context, &ctx);
        EXPECT_EQ(s.type, EVENT_READ);
        EXPECT_EQ(s.fd, p.local);
        EXPECT_GT(s.data.size(), 0u);
    }
}

TEST_P(Conformance, read_delivers_large_input_whole_and_in_order) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    const std::string want = pattern(512 * 1024);
    std::size_t sent = 0;
    Loop loop(reactor);
    // Send while pumping: the kernel buffers may not hold it all at once.
    ASSERT_TRUE(loop.until([&] {
        if (sent < want.size()) {
            long n = ts::send_some(p.peer, want.data() + sent, want.size() - sent);
            if (n > 0) sent += static_cast<std::size_t>(n);
        }
        return loop.data_for(&ctx).size() >= want.size();
    })) << "received " << loop.data_for(&ctx).size() << " of " << want.size();
    std::string got = loop.data_for(&ctx);
    EXPECT_EQ(first_mismatch(got, want), std::string::npos);
    EXPECT_EQ(loop.count_for(&ctx), loop.count(EVENT_READ, &ctx));
}

TEST_P(Conformance, read_buffers_of_one_wait_stay_valid_until_the_next_wait) {
    constexpr int kPairs = 8;
    std::vector<ts::Pair> pairs;
    int ctx[kPairs];
    for (int i = 0; i < kPairs; ++i) {
        pairs.push_back(pair());
        ASSERT_EQ(io_reactor_add(reactor, pairs[i].local, &ctx[i], EVENT_READ), 0);
    }
    // Each connection carries one repeated letter, so any chunk of it can be
    // checked on its own.
    for (int i = 0; i < kPairs; ++i) {
        std::string msg(200, static_cast<char>('a' + i));
        ASSERT_TRUE(ts::send_all(pairs[i].peer, msg.data(), msg.size(), kDeadlineMs));
    }
    io_event_t events[64];
    int reads_checked = 0;
    auto deadline = Clock::now() + std::chrono::milliseconds(kDeadlineMs);
    std::size_t total = 0;
    while (total < 200u * kPairs && Clock::now() < deadline) {
        timeval tv = timeout_us(10000);
        int n = io_reactor_wait(reactor, events, 64, &tv);
        ASSERT_GE(n, 0);
        // Look at the buffers only after the whole array was returned: each
        // must still hold its own connection's bytes.
        for (int i = 0; i < n; ++i) {
            if (events[i].event_type != EVENT_READ) continue;
            int which = static_cast<int *>(events[i].context) - ctx;
            ASSERT_GE(which, 0);
            ASSERT_LT(which, kPairs);
            ASSERT_GT(events[i].bytes_transferred, 0);
            const char *b = static_cast<const char *>(events[i].buffer);
            for (int k = 0; k < events[i].bytes_transferred; ++k)
                ASSERT_EQ(b[k], 'a' + which) << "event " << i << " of " << n << ", byte " << k;
            total += static_cast<std::size_t>(events[i].bytes_transferred);
            ++reads_checked;
        }
    }
    EXPECT_EQ(total, 200u * kPairs);
    EXPECT_GE(reads_checked, kPairs);
}

// More ready sockets than one wait can read (a small event array, and more
// bytes than the library reads per wait): the ones not read are read by a
// later wait, and a socket that becomes readable meanwhile is not left
// behind the flood for long. Guards the core's "no new poll while reads are
// owed" rule against starving anyone.
TEST_P(Conformance, a_socket_readable_during_a_flood_is_read_within_a_few_waits) {
    constexpr int kFlooders = 24;
    constexpr int kMaxWaits = 100;  // 8 to 15 here (epoll, poll, io_uring)
    std::vector<ts::Pair> flood;
    int ctx[kFlooders];
    for (int i = 0; i < kFlooders; ++i) {
        flood.push_back(pair());
        ts::set_nonblocking(flood[i].peer);
        ASSERT_EQ(io_reactor_add(reactor, flood[i].local, &ctx[i], EVENT_READ), 0);
    }
    ts::Pair late = pair();
    int late_ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, late.local, &late_ctx, EVENT_READ), 0);

    const std::string chunk = pattern(32 * 1024);
    auto keep_flooding = [&] {
        for (ts::Pair &f : flood) ts::send_some(f.peer, chunk.data(), chunk.size());
    };
    Loop loop(reactor, {}, 16);
    for (int i = 0; i < 3; ++i) {
        keep_flooding();
        loop.pump(10000);
    }
    ASSERT_TRUE(ts::send_all(late.peer, "x", 1, kDeadlineMs));
    int waits = 0;
    while (loop.count(EVENT_READ, &late_ctx) == 0 && waits < kMaxWaits) {
        keep_flooding();
        loop.pump(10000);
        ++waits;
    }
    EXPECT_EQ(loop.data_for(&late_ctx), "x") << "not read in " << waits << " waits";
    for (int i = 0; i < kFlooders; ++i)
        EXPECT_GT(loop.count(EVENT_READ, &ctx[i]), 0u) << "flooder " << i << " never read";
}

TEST_P(Conformance, peer_close_is_one_close_event_after_the_data) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    ASSERT_TRUE(ts::send_all(p.peer, "bye", 3, kDeadlineMs));
    close_now(p.peer);

    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_CLOSE, &ctx) > 0; })) << loop.describe();
    loop.idle();  // a level-triggered backend would repeat it here
    EXPECT_EQ(loop.count(EVENT_CLOSE, &ctx), 1u) << loop.describe();
    EXPECT_EQ(loop.count(EVENT_ERROR, &ctx), 0u) << loop.describe();
    EXPECT_EQ(loop.data_for(&ctx), "bye");
    ASSERT_FALSE(loop.seen.empty());
    EXPECT_EQ(loop.seen.back().type, EVENT_CLOSE) << "CLOSE must come after all the data";
    EXPECT_EQ(loop.seen.back().fd, p.local);
    EXPECT_EQ(io_reactor_remove(reactor, p.local), 0);
}

TEST_P(Conformance, peer_close_without_data_is_one_close_event) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    close_now(p.peer);
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_CLOSE, &ctx) > 0; })) << loop.describe();
    loop.idle();
    EXPECT_EQ(loop.count(EVENT_CLOSE, &ctx), 1u) << loop.describe();
    EXPECT_EQ(loop.seen.size(), 1u) << loop.describe();
}

TEST_P(Conformance, half_close_is_a_close_event_and_writes_still_reach_the_peer) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    ts::shutdown_write(p.peer);
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_CLOSE, &ctx) > 0; })) << loop.describe();
    // EOF ends reading, not the connection: a server may still say goodbye.
    char bye[] = "goodbye";
    ASSERT_EQ(io_reactor_post_write(reactor, p.local, bye, 7), 0);
    ASSERT_TRUE(loop.until([&] { return io_reactor_queued_bytes(reactor, p.local) == 0; }));
    char got[7];
    ASSERT_TRUE(ts::recv_all(p.peer, got, 7, kDeadlineMs));
    EXPECT_EQ(std::memcmp(got, bye, 7), 0);
    EXPECT_EQ(loop.count(EVENT_CLOSE, &ctx), 1u) << loop.describe();
}

TEST_P(Conformance, peer_reset_is_one_error_event_with_an_error_code) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    abort_now(p.peer);

    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_ERROR, &ctx) + loop.count(EVENT_CLOSE, &ctx) > 0; }))
        << loop.describe();
    loop.idle();
    EXPECT_EQ(loop.count(EVENT_ERROR, &ctx), 1u) << loop.describe();
    EXPECT_EQ(loop.count(EVENT_CLOSE, &ctx), 0u) << "a reset is not an orderly EOF: " << loop.describe();
    for (const Seen &s : loop.seen) {
        EXPECT_EQ(s.context, &ctx);
        EXPECT_EQ(s.fd, p.local);
        if (s.type == EVENT_ERROR) {
            EXPECT_NE(s.error, 0);
        }
    }
    EXPECT_EQ(io_reactor_remove(reactor, p.local), 0);
}

TEST_P(Conformance, write_event_carries_context_when_write_interest_is_turned_on) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    Loop loop(reactor);
    loop.idle(50);
    EXPECT_EQ(loop.seen.size(), 0u) << "no WRITE without write interest: " << loop.describe();

    ASSERT_EQ(io_reactor_modify(reactor, p.local, EVENT_READ | EVENT_WRITE), 0);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_WRITE, &ctx) > 0; })) << loop.describe();
    loop.idle();  // the queue stays empty: reported once, not on every wait
    EXPECT_EQ(loop.count(EVENT_WRITE, &ctx), 1u) << loop.describe();
    EXPECT_EQ(loop.seen.size(), 1u) << loop.describe();
    EXPECT_EQ(loop.seen[0].fd, p.local);
}

TEST_P(Conformance, adding_with_write_interest_reports_the_empty_queue_once) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ | EVENT_WRITE), 0);
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_WRITE, &ctx) > 0; })) << loop.describe();
    loop.idle();
    EXPECT_EQ(loop.count(EVENT_WRITE, &ctx), 1u) << loop.describe();
}

TEST_P(Conformance, every_handle_gets_its_own_context) {
    ts::Pair a = pair(), b = pair();
    int ctx_a = 0, ctx_b = 0;
    ASSERT_EQ(io_reactor_add(reactor, a.local, &ctx_a, EVENT_READ), 0);
    ASSERT_EQ(io_reactor_add(reactor, b.local, &ctx_b, EVENT_READ), 0);
    ASSERT_TRUE(ts::send_all(a.peer, "A", 1, kDeadlineMs));
    ASSERT_TRUE(ts::send_all(b.peer, "B", 1, kDeadlineMs));
    abort_now(b.peer);
    close_now(a.peer);
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] {
        return loop.count(EVENT_CLOSE, &ctx_a) > 0 &&
               loop.count(EVENT_ERROR, &ctx_b) + loop.count(EVENT_CLOSE, &ctx_b) > 0;
    })) << loop.describe();
    for (const Seen &s : loop.seen) {
        if (s.fd == a.local) EXPECT_EQ(s.context, &ctx_a);
        else if (s.fd == b.local) EXPECT_EQ(s.context, &ctx_b);
        else ADD_FAILURE() << "event for an unknown fd";
    }
    EXPECT_EQ(loop.data_for(&ctx_a), "A");
}

}  // namespace
}  // namespace conformance
