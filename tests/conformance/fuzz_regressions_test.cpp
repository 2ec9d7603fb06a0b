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

}  // namespace
}  // namespace conformance
