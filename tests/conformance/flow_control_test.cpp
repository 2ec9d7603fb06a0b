// Contract 5: io_reactor_modify without EVENT_READ pauses reading (no
// EVENT_READ while paused; the kernel buffers fill and TCP pushes back on
// the peer); with EVENT_READ it resumes and everything arrives in order.
#include "conformance.h"

#include <algorithm>
#include <string>

namespace conformance {
namespace {

TEST_P(Conformance, paused_handle_gets_no_read_until_resumed) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    Loop loop(reactor);
    ASSERT_TRUE(ts::send_all(p.peer, "before;", 7, kDeadlineMs));
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx).size() >= 7; })) << loop.describe();

    ASSERT_EQ(io_reactor_modify(reactor, p.local, 0), 0);
    std::size_t events_at_pause = loop.seen.size();
    for (int i = 0; i < 3; ++i) {
        std::string msg = "paused" + std::to_string(i) + ";";
        ASSERT_TRUE(ts::send_all(p.peer, msg.data(), msg.size(), kDeadlineMs));
        loop.idle(50);
    }
    EXPECT_EQ(loop.seen.size(), events_at_pause) << "events while paused: " << loop.describe();

    ASSERT_EQ(io_reactor_modify(reactor, p.local, EVENT_READ), 0);
    const std::string want = "before;paused0;paused1;paused2;";
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx).size() >= want.size(); }))
        << loop.describe();
    EXPECT_EQ(loop.data_for(&ctx), want);
}

TEST_P(Conformance, added_without_read_interest_reads_nothing_until_enabled) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, 0), 0);
    ASSERT_TRUE(ts::send_all(p.peer, "early", 5, kDeadlineMs));
    Loop loop(reactor);
    loop.idle();
    EXPECT_EQ(loop.seen.size(), 0u) << loop.describe();
    ASSERT_EQ(io_reactor_modify(reactor, p.local, EVENT_READ), 0);
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx).size() >= 5; })) << loop.describe();
    EXPECT_EQ(loop.data_for(&ctx), "early");
}

TEST_P(Conformance, pause_pushes_back_on_the_peer_and_resume_delivers_everything_in_order) {
    ts::Pair p = pair();
    ts::set_buffers(p.local, 8192, 0);
    ts::set_buffers(p.peer, 0, 8192);
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    ASSERT_EQ(io_reactor_modify(reactor, p.local, 0), 0);

    // The peer writes until TCP pushes back. A reactor that kept reading
    // into user space would let this run to the cap.
    constexpr std::size_t kCap = 64u << 20;
    const std::string block = pattern(4096);
    std::size_t sent = 0;
    Loop loop(reactor);
    auto deadline = Clock::now() + std::chrono::milliseconds(kDeadlineMs);
    int stalls = 0;
    while (sent < kCap && stalls < 20 && Clock::now() < deadline) {
        long n = ts::send_some(p.peer, block.data() + sent % block.size(),
                               block.size() - sent % block.size());
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            stalls = 0;
        } else {
            ++stalls;  // the peer is blocked; give the reactor a chance to misbehave
            loop.pump(2000);
        }
    }
    EXPECT_LT(sent, kCap) << "the peer was never pushed back";
    EXPECT_EQ(stalls, 20) << "the peer never blocked";
    EXPECT_EQ(loop.seen.size(), 0u) << loop.describe();

    ASSERT_EQ(io_reactor_modify(reactor, p.local, EVENT_READ), 0);
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx).size() >= sent; }))
        << "got " << loop.data_for(&ctx).size() << " of " << sent;
    std::string got = loop.data_for(&ctx);
    ASSERT_EQ(got.size(), sent);
    std::string want;
    while (want.size() < sent) want += block;
    want.resize(sent);
    EXPECT_EQ(first_mismatch(got, want), std::string::npos);
}

TEST_P(Conformance, pause_and_resume_repeatedly_loses_and_reorders_nothing) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    const std::string want = pattern(64 * 1024);
    std::size_t sent = 0;
    bool paused = false;
    int reads_while_paused = 0;
    Loop loop(reactor, [&](const io_event_t &ev) {
        if (paused && ev.event_type == EVENT_READ) ++reads_while_paused;
    });
    int round = 0;
    ASSERT_TRUE(loop.until([&] {
        if (sent < want.size()) {
            long n = ts::send_some(p.peer, want.data() + sent,
                                   std::min<std::size_t>(1000, want.size() - sent));
            if (n > 0) sent += static_cast<std::size_t>(n);
        }
        // Toggle every few waits; while paused, nothing may be delivered.
        if (++round % 3 == 0) {
            paused = !paused;
            EXPECT_EQ(io_reactor_modify(reactor, p.local, paused ? 0 : EVENT_READ), 0);
        }
        return !paused && loop.data_for(&ctx).size() >= want.size();
    }, 15000)) << "got " << loop.data_for(&ctx).size();
    EXPECT_EQ(first_mismatch(loop.data_for(&ctx), want), std::string::npos);
    EXPECT_EQ(reads_while_paused, 0);
}

}  // namespace
}  // namespace conformance
