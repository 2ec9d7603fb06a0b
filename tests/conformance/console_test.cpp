// Console input: io_reactor_add_console makes standard input a handle like
// any other. Typed bytes arrive as EVENT_READ with the console's context,
// the end of input as one EVENT_CLOSE. Standard input is a pipe here (a
// redirected console), the case a reader thread must handle on Windows.
#include "conformance.h"
#include "test_stdin.h"

namespace conformance {
namespace {

TEST_P(Conformance, console_input_arrives_as_read_events_then_one_close) {
    ts::StdinPipe console;
    ASSERT_TRUE(console.ok());
    int ctx = 0;
    ASSERT_EQ(io_reactor_add_console(reactor, &ctx), 0) << io_reactor_last_error(reactor);

    Loop loop(reactor);
    ASSERT_TRUE(console.type("look\n"));
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx) == "look\n"; })) << loop.describe();
    ASSERT_TRUE(console.type("say hi\r\n"));
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx) == "look\nsay hi\r\n"; })) << loop.describe();

    console.close_writer();
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_CLOSE, &ctx) > 0; })) << loop.describe();
    loop.idle();
    EXPECT_EQ(loop.count(EVENT_CLOSE, &ctx), 1u);
    for (const Seen &s : loop.seen) EXPECT_EQ(s.context, &ctx);
    EXPECT_EQ(io_reactor_remove(reactor, io_reactor_console_fd()), 0);
}

TEST_P(Conformance, console_removed_then_no_event_is_delivered) {
    ts::StdinPipe console;
    ASSERT_TRUE(console.ok());
    int ctx = 0;
    ASSERT_EQ(io_reactor_add_console(reactor, &ctx), 0);
    ASSERT_EQ(io_reactor_remove(reactor, io_reactor_console_fd()), 0);
    ASSERT_TRUE(console.type("ignored\n"));
    Loop loop(reactor);
    loop.idle();
    EXPECT_TRUE(loop.seen.empty()) << loop.describe();
}

}  // namespace
}  // namespace conformance
