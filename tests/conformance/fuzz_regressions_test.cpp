// Cases the reactor API fuzzer (fuzz/reactor_fuzz.cpp) found, kept as plain
// tests so the normal suite fails if they come back.
#include "conformance.h"

namespace conformance {
namespace {

// Found by fuzz_reactor: turning write interest on after EVENT_ERROR
// delivered an EVENT_WRITE ("all output is in the kernel's hands") for a
// connection that had failed. Nothing follows EVENT_ERROR.
TEST_P(Conformance, no_write_event_after_an_error) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    abort_now(p.peer);
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_ERROR, &ctx) > 0; })) << loop.describe();
    ASSERT_EQ(io_reactor_modify(reactor, p.local, EVENT_READ | EVENT_WRITE), 0);
    char c = 'x';
    EXPECT_EQ(io_reactor_post_write(reactor, p.local, &c, 1), -1) << "a failed handle takes no output";
    loop.idle();
    EXPECT_EQ(loop.count(EVENT_WRITE, &ctx), 0u) << loop.describe();
    EXPECT_EQ(loop.count(EVENT_ERROR, &ctx), 1u) << loop.describe();
    EXPECT_EQ(io_reactor_remove(reactor, p.local), 0);
}

// Found by fuzz_reactor on io_uring: the peer reset, a write failed on the
// reset (which takes the socket's error), and the read submitted next saw
// a plain end of stream: an EVENT_CLOSE after the EVENT_ERROR.
TEST_P(Conformance, no_close_event_after_a_write_error) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    abort_now(p.peer);
    // No wait before the write: the write, not a read, meets the reset.
    char c = 'x';
    int rc = 0;
    for (int i = 0; i < 1000 && rc == 0; ++i) {
        rc = io_reactor_post_write(reactor, p.local, &c, 1);
        if (rc == 0) ts::sleep_ms(1);
    }
    Loop loop(reactor);
    ASSERT_EQ(rc, -1) << "a write to a closed peer never failed";
    loop.idle();
    EXPECT_EQ(loop.count(EVENT_ERROR, &ctx), 1u) << loop.describe();
    EXPECT_EQ(loop.count(EVENT_CLOSE, &ctx), 0u) << loop.describe();
    ASSERT_FALSE(loop.seen.empty());
    EXPECT_EQ(loop.seen.back().type, EVENT_ERROR) << "nothing after EVENT_ERROR: " << loop.describe();
    EXPECT_EQ(io_reactor_remove(reactor, p.local), 0);
}

}  // namespace
}  // namespace conformance
