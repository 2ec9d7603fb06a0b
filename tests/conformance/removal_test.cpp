// Contract 2: after io_reactor_remove returns, no event for that handle is
// delivered, not even one already sitting later in the array the last wait
// filled; the caller may free the context at once. Contract 1: the reactor
// never closes a caller's socket.
#include "conformance.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace conformance {
namespace {

// A context a test frees at removal; touching it afterwards is a
// use-after-free that ASan reports.
struct Session {
    socket_fd_t fd;
    int events = 0;
};

// Reads the context the way a server would; under ASan a stale one aborts.
void touch(const io_event_t &ev) {
    volatile socket_fd_t fd = static_cast<Session *>(ev.context)->fd;
    (void)fd;
}

TEST_P(Conformance, remove_then_no_event_is_delivered) {
    ts::Pair p = pair();
    auto *session = new Session{p.local};
    ASSERT_EQ(io_reactor_add(reactor, p.local, session, EVENT_READ | EVENT_WRITE), 0);
    ASSERT_TRUE(ts::send_all(p.peer, "pending", 7, kDeadlineMs));
    ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
    delete session;  // allowed at once

    Loop loop(reactor, touch);
    loop.idle();
    ASSERT_TRUE(ts::send_all(p.peer, "more", 4, kDeadlineMs));
    close_now(p.peer);
    loop.idle();
    EXPECT_EQ(loop.seen.size(), 0u) << loop.describe();
}

TEST_P(Conformance, remove_with_queued_output_then_no_event_is_delivered) {
    ts::Pair p = pair();
    ts::set_buffers(p.local, 0, 4096);
    ts::set_buffers(p.peer, 4096, 0);
    auto *session = new Session{p.local};
    ASSERT_EQ(io_reactor_add(reactor, p.local, session, EVENT_READ | EVENT_WRITE), 0);
    std::string big = pattern(1 << 20);
    ASSERT_EQ(io_reactor_post_write(reactor, p.local, big.data(), big.size()), 0);
    Loop loop(reactor, touch);
    loop.pump(1000);
    EXPECT_GT(io_reactor_queued_bytes(reactor, p.local), 0u);
    std::size_t seen_before = loop.seen.size();

    ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
    delete session;
    EXPECT_EQ(io_reactor_queued_bytes(reactor, p.local), 0u) << "a removed handle has no queue";
    // Drain the peer so that any output still in flight completes now.
    char sink[65536];
    for (int i = 0; i < 20; ++i) {
        ts::recv_some(p.peer, sink, sizeof sink, 5);
        loop.pump(1000);
    }
    abort_now(p.peer);
    loop.idle();
    EXPECT_EQ(loop.seen.size() - seen_before, 0u) << loop.describe();
}

TEST_P(Conformance, remove_during_a_burst_cancels_the_handles_later_entries) {
    constexpr int kPairs = 16;
    std::vector<ts::Pair> pairs;
    std::vector<Session *> sessions;
    for (int i = 0; i < kPairs; ++i) {
        pairs.push_back(pair());
        sessions.push_back(new Session{pairs[i].local});
        ASSERT_EQ(io_reactor_add(reactor, pairs[i].local, sessions[i], EVENT_READ), 0);
    }
    auto index_of = [&](socket_fd_t fd) {
        for (int i = 0; i < kPairs; ++i)
            if (pairs[i].local == fd) return i;
        return -1;
    };

    io_event_t events[64];
    int burst = 0;
    int removed_count = 0;
    auto deadline = Clock::now() + std::chrono::milliseconds(kDeadlineMs);
    while (burst < 2 && Clock::now() < deadline) {
        // Every live handle gets data, so a wait can return several events.
        for (int i = 0; i < kPairs; ++i)
            if (sessions[i]) ts::send_some(pairs[i].peer, "x", 1);
        timeval tv = timeout_us(20000);
        int n = io_reactor_wait(reactor, events, 64, &tv);
        ASSERT_GE(n, 0);
        int first = -1;
        for (int i = 0; i < n; ++i) {
            if (events[i].event_type == IO_EVENT_NONE) continue;
            int idx = index_of(events[i].fd);
            ASSERT_GE(idx, 0) << "event for an unknown fd";
            ASSERT_NE(sessions[idx], nullptr) << "event for removed handle " << idx;
            ASSERT_EQ(events[i].context, sessions[idx]);
            if (first < 0) first = i;
        }
        if (first < 0 || n - first < 2) continue;
        // Replay the array as a server would, removing (and freeing) while
        // looping: at the first event, drop every other handle whose entry
        // comes later.
        for (int i = 0; i < n; ++i) {
            if (events[i].event_type == IO_EVENT_NONE) continue;
            int idx = index_of(events[i].fd);
            ASSERT_GE(idx, 0);
            ASSERT_NE(sessions[idx], nullptr) << "entry " << i << " of " << n
                                              << " is for a removed handle but was not cancelled";
            Session *s = static_cast<Session *>(events[i].context);
            ASSERT_EQ(s, sessions[idx]);
            s->events++;
            if (i != first) continue;
            // Every other later handle goes; the rest must stay untouched.
            std::vector<socket_fd_t> victims, survivors;
            for (int k = i + 1; k < n; ++k) {
                if (events[k].event_type == IO_EVENT_NONE || events[k].fd == events[i].fd) continue;
                bool seen_before = false;
                for (socket_fd_t v : victims) seen_before = seen_before || v == events[k].fd;
                for (socket_fd_t v : survivors) seen_before = seen_before || v == events[k].fd;
                if (seen_before) continue;
                ((victims.size() + survivors.size()) % 2 == 0 ? victims : survivors).push_back(events[k].fd);
            }
            for (socket_fd_t fd : victims) {
                int idx = index_of(fd);
                ASSERT_GE(idx, 0);
                ASSERT_EQ(io_reactor_remove(reactor, fd), 0);
                delete sessions[idx];
                sessions[idx] = nullptr;
                ++removed_count;
            }
            for (int k = i + 1; k < n; ++k) {
                if (events[k].fd == events[i].fd) continue;
                int idx = index_of(events[k].fd);
                if (idx >= 0 && sessions[idx]) {
                    EXPECT_NE(events[k].event_type, IO_EVENT_NONE) << "survivor entry " << k << " of " << n;
                    EXPECT_EQ(events[k].context, sessions[idx]) << "survivor entry " << k << " of " << n;
                    continue;
                }
                EXPECT_EQ(events[k].event_type, IO_EVENT_NONE) << "entry " << k << " of " << n;
                EXPECT_EQ(events[k].context, nullptr) << "entry " << k << " of " << n;
            }
        }
        ++burst;
    }
    ASSERT_EQ(burst, 2) << "never got two events from one wait";
    EXPECT_GT(removed_count, 0);

    // The removed handles stay silent while their peers keep talking.
    Loop loop(reactor, touch);
    for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < kPairs; ++i) ts::send_some(pairs[i].peer, "y", 1);
        loop.idle(30);
    }
    for (int i = 0; i < kPairs; ++i)
        if (!sessions[i]) {
            EXPECT_EQ(loop.count_fd(pairs[i].local), 0u) << "removed handle " << i;
        }
    for (Session *s : sessions) delete s;
}

TEST_P(Conformance, remove_inside_own_event_cancels_its_later_entries) {
    ts::Pair p = pair();
    auto *session = new Session{p.local};
    ASSERT_EQ(io_reactor_add(reactor, p.local, session, EVENT_READ | EVENT_WRITE), 0);
    ASSERT_TRUE(ts::send_all(p.peer, "data", 4, kDeadlineMs));
    close_now(p.peer);  // READ, CLOSE and WRITE may all land in one array

    io_event_t events[16];
    bool removed = false;
    auto deadline = Clock::now() + std::chrono::milliseconds(kDeadlineMs);
    while (!removed && Clock::now() < deadline) {
        timeval tv = timeout_us(20000);
        int n = io_reactor_wait(reactor, events, 16, &tv);
        ASSERT_GE(n, 0);
        for (int i = 0; i < n; ++i) {
            if (events[i].event_type == IO_EVENT_NONE) continue;
            ASSERT_EQ(events[i].context, session) << "entry " << i << " after removal";
            static_cast<Session *>(events[i].context)->events++;
            if (events[i].event_type == EVENT_READ) {
                ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
                delete session;
                session = nullptr;
                removed = true;
            }
        }
    }
    ASSERT_TRUE(removed);
    Loop loop(reactor);
    loop.idle();
    EXPECT_EQ(loop.seen.size(), 0u) << loop.describe();
}

TEST_P(Conformance, removed_fd_can_be_added_again_with_a_new_context) {
    ts::Pair p = pair();
    int old_ctx = 0, new_ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &old_ctx, EVENT_READ), 0);
    ASSERT_TRUE(ts::send_all(p.peer, "one", 3, kDeadlineMs));
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&old_ctx).size() >= 3; })) << loop.describe();
    ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);

    ASSERT_EQ(io_reactor_add(reactor, p.local, &new_ctx, EVENT_READ), 0);
    ASSERT_TRUE(ts::send_all(p.peer, "two", 3, kDeadlineMs));
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&new_ctx).size() >= 3; })) << loop.describe();
    EXPECT_EQ(loop.data_for(&old_ctx), "one");
    EXPECT_EQ(loop.data_for(&new_ctx), "two");
}

TEST_P(Conformance, remove_and_destroy_never_close_the_callers_socket) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
    ASSERT_TRUE(ts::send_all(p.local, "still open", 10, kDeadlineMs));
    char got[10];
    ASSERT_TRUE(ts::recv_all(p.peer, got, 10, kDeadlineMs));
    EXPECT_EQ(std::memcmp(got, "still open", 10), 0);

    ts::Pair q = pair();
    ASSERT_EQ(io_reactor_add(reactor, q.local, &ctx, EVENT_READ), 0);
    io_reactor_destroy(reactor);  // with q still registered
    reactor = nullptr;
    ASSERT_TRUE(ts::send_all(q.peer, "ping", 4, kDeadlineMs));
    ASSERT_TRUE(ts::recv_all(q.local, got, 4, kDeadlineMs));
    EXPECT_EQ(std::memcmp(got, "ping", 4), 0);
    ASSERT_TRUE(ts::send_all(q.local, "pong", 4, kDeadlineMs));
    ASSERT_TRUE(ts::recv_all(q.peer, got, 4, kDeadlineMs));
    EXPECT_EQ(std::memcmp(got, "pong", 4), 0);
}

// The reactor holds no reference that outlives remove: the caller's close()
// right after it ends the connection (the peer reads the farewell, then
// EOF) without another wait. Both before the loop first ran and after.
TEST_P(Conformance, close_after_remove_reaches_the_peer_without_another_wait) {
    Loop loop(reactor);  // its event array must outlive the removes (contract 2)
    for (bool loop_ran : {false, true}) {
        SCOPED_TRACE(loop_ran ? "after a wait" : "before any wait");
        ts::Pair p = pair();
        int ctx = 0;
        ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
        if (loop_ran) {
            ASSERT_TRUE(ts::send_all(p.peer, "hi", 2, kDeadlineMs));
            ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx) == "hi"; })) << loop.describe();
        }
        ASSERT_EQ(io_reactor_post_write(reactor, p.local, const_cast<char *>("bye"), 3), 0);
        ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
        close_now(p.local);
        char got[8];
        ASSERT_TRUE(ts::recv_all(p.peer, got, 3, kDeadlineMs));
        EXPECT_EQ(std::memcmp(got, "bye", 3), 0);
        EXPECT_EQ(ts::recv_some(p.peer, got, sizeof got, kDeadlineMs), 0) << "no EOF after close";
    }
}

// The same for more handles than a backend can queue work for before its
// first wait (io_uring's submission queue fills up, and it defers the rest).
TEST_P(Conformance, close_after_remove_of_many_handles_added_before_any_wait) {
    constexpr int kPairs = 150;
    std::vector<ts::Pair> pairs;
    int ctx = 0;
    for (int i = 0; i < kPairs; ++i) {
        pairs.push_back(pair());
        ASSERT_EQ(io_reactor_add(reactor, pairs.back().local, &ctx, EVENT_READ), 0);
    }
    for (ts::Pair &p : pairs) {
        ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
        close_now(p.local);
    }
    char got[4];
    for (int i = 0; i < kPairs; ++i)
        ASSERT_EQ(ts::recv_some(pairs[i].peer, got, sizeof got, kDeadlineMs), 0) << "pair " << i;
    Loop loop(reactor);
    loop.idle();
    EXPECT_TRUE(loop.seen.empty()) << loop.describe();
}

TEST_P(Conformance, destroy_with_pending_io_is_clean) {
    // Registered handles, queued output, unread input, a listener: destroy
    // must release everything (ASan/valgrind see leaks) and not crash.
    ts::Pair a = pair(), b = pair();
    ts::set_buffers(a.local, 0, 4096);
    ts::set_buffers(a.peer, 4096, 0);
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, a.local, &ctx, EVENT_READ | EVENT_WRITE), 0);
    ASSERT_EQ(io_reactor_add(reactor, b.local, &ctx, EVENT_READ), 0);
    std::uint16_t port = 0;
    socket_fd_t listener = own(ts::listen_loopback(8, port));
    ASSERT_TRUE(ts::valid(listener));
    ASSERT_EQ(io_reactor_add_listener(reactor, listener, &ctx), 0);
    std::string big = pattern(1 << 20);
    ASSERT_EQ(io_reactor_post_write(reactor, a.local, big.data(), big.size()), 0);
    ASSERT_TRUE(ts::send_all(b.peer, "unread", 6, kDeadlineMs));
    Loop loop(reactor);
    loop.pump(1000);
    io_reactor_destroy(reactor);
    reactor = nullptr;
}

// Removed while an event was still owed (EVENT_WRITE is owed from add),
// then destroyed before another wait: the handle is freed all the same.
// LeakSanitizer (the ASan build) is what sees it if not.
TEST_P(Conformance, removed_with_an_event_owed_then_destroyed_leaks_nothing) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ | EVENT_WRITE), 0);
    ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
    io_reactor_destroy(reactor);
    reactor = nullptr;
}

}  // namespace
}  // namespace conformance
