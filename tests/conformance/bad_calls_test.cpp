// Contract 8: a NULL reactor, an unknown or already-removed handle, or a bad
// argument gets -1 and an error code, never a crash. Also post_read's narrow
// meaning: a NULL buffer checks registration; a caller's buffer is refused.
#include "conformance.h"

#include <cerrno>

namespace conformance {
namespace {

// EINVAL as errno, or as the Winsock code (WSABASEERR + errno value).
bool is_einval(int error) { return error == EINVAL || error == 10000 + EINVAL; }

void expect_handle_calls_fail(io_reactor_t *reactor, socket_fd_t fd, const char *why) {
    char byte = 'x';
    EXPECT_EQ(io_reactor_remove(reactor, fd), -1) << why;
    EXPECT_NE(io_reactor_last_error(reactor), 0) << why << ": remove";
    EXPECT_EQ(io_reactor_modify(reactor, fd, EVENT_READ), -1) << why;
    EXPECT_NE(io_reactor_last_error(reactor), 0) << why << ": modify";
    EXPECT_EQ(io_reactor_post_write(reactor, fd, &byte, 1), -1) << why;
    EXPECT_NE(io_reactor_last_error(reactor), 0) << why << ": post_write";
    EXPECT_EQ(io_reactor_post_read(reactor, fd, nullptr, 0), -1) << why;
    EXPECT_NE(io_reactor_last_error(reactor), 0) << why << ": post_read";
    EXPECT_EQ(io_reactor_queued_bytes(reactor, fd), 0u) << why;
}

TEST_P(Conformance, unknown_handle_calls_fail_with_an_error) {
    ts::Pair p = pair();
    expect_handle_calls_fail(reactor, p.local, "never added");
}

TEST_P(Conformance, removed_handle_calls_fail_with_an_error) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    ASSERT_EQ(io_reactor_remove(reactor, p.local), 0);
    expect_handle_calls_fail(reactor, p.local, "already removed");
}

TEST_P(Conformance, a_failed_call_does_not_disturb_the_registered_handles) {
    ts::Pair p = pair(), stranger = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    expect_handle_calls_fail(reactor, stranger.local, "never added");
    ASSERT_TRUE(ts::send_all(p.peer, "ok", 2, kDeadlineMs));
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx).size() >= 2; })) << loop.describe();
    EXPECT_EQ(loop.data_for(&ctx), "ok");
}

TEST_P(Conformance, adding_the_same_fd_twice_fails_and_keeps_the_first) {
    ts::Pair p = pair();
    int first = 0, second = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &first, EVENT_READ), 0);
    EXPECT_EQ(io_reactor_add(reactor, p.local, &second, EVENT_READ), -1);
    EXPECT_NE(io_reactor_last_error(reactor), 0);
    EXPECT_EQ(io_reactor_add_listener(reactor, p.local, &second), -1);
    EXPECT_NE(io_reactor_last_error(reactor), 0);

    ASSERT_TRUE(ts::send_all(p.peer, "hi", 2, kDeadlineMs));
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&first).size() >= 2; })) << loop.describe();
    EXPECT_EQ(loop.count_for(&second), 0u);
    io_reactor_stats_t stats{};
    ASSERT_EQ(io_reactor_get_stats(reactor, &stats), 0);
    EXPECT_EQ(stats.handles, 1u);
}

TEST_P(Conformance, adding_an_invalid_socket_fails) {
    int ctx = 0;
    EXPECT_EQ(io_reactor_add(reactor, ts::invalid_socket(), &ctx, EVENT_READ), -1);
    EXPECT_NE(io_reactor_last_error(reactor), 0);
    EXPECT_EQ(io_reactor_add_listener(reactor, ts::invalid_socket(), &ctx), -1);
    EXPECT_NE(io_reactor_last_error(reactor), 0);
}

TEST_P(Conformance, bad_arguments_fail_with_an_error) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    EXPECT_EQ(io_reactor_post_write(reactor, p.local, nullptr, 10), -1);
    EXPECT_NE(io_reactor_last_error(reactor), 0);

    io_event_t events[4];
    timeval zero = timeout_us(0);
    EXPECT_EQ(io_reactor_wait(reactor, nullptr, 4, &zero), -1);
    EXPECT_NE(io_reactor_last_error(reactor), 0);
    EXPECT_EQ(io_reactor_wait(reactor, events, 0, &zero), -1);
    EXPECT_NE(io_reactor_last_error(reactor), 0);
    EXPECT_EQ(io_reactor_wait(reactor, events, -1, &zero), -1);
    EXPECT_NE(io_reactor_last_error(reactor), 0);
    EXPECT_EQ(io_reactor_get_stats(reactor, nullptr), -1);
}

TEST_P(Conformance, post_read_with_null_buffer_checks_registration_only) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    EXPECT_EQ(io_reactor_post_read(reactor, p.local, nullptr, 0), 0);
    // It changes nothing: data still arrives through EVENT_READ.
    ASSERT_TRUE(ts::send_all(p.peer, "abc", 3, kDeadlineMs));
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx).size() >= 3; })) << loop.describe();
    EXPECT_EQ(loop.data_for(&ctx), "abc");
}

TEST_P(Conformance, post_read_with_a_callers_buffer_is_refused_with_einval) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    char buffer[64];
    EXPECT_EQ(io_reactor_post_read(reactor, p.local, buffer, sizeof buffer), -1);
    EXPECT_TRUE(is_einval(io_reactor_last_error(reactor))) << io_reactor_last_error(reactor);
}

TEST_P(Conformance, error_codes_have_messages) {
    ts::Pair p = pair();
    EXPECT_EQ(io_reactor_remove(reactor, p.local), -1);
    const char *message = io_reactor_strerror(io_reactor_last_error(reactor));
    ASSERT_NE(message, nullptr);
    EXPECT_NE(message[0], '\0');
}

TEST(BadCalls, null_reactor_gets_minus_one_and_never_crashes) {
    ts::init();
    io_reactor_t *none = nullptr;
    io_event_t events[4];
    timeval zero = timeout_us(0);
    char byte = 'x';
    int ctx = 0;
    socket_fd_t fd = ts::invalid_socket();
    EXPECT_EQ(io_reactor_add(none, fd, &ctx, EVENT_READ), -1);
    EXPECT_EQ(io_reactor_add_listener(none, fd, &ctx), -1);
    EXPECT_EQ(io_reactor_add_console(none, &ctx), -1);
    EXPECT_EQ(io_reactor_modify(none, fd, EVENT_READ), -1);
    EXPECT_EQ(io_reactor_remove(none, fd), -1);
    EXPECT_EQ(io_reactor_post_read(none, fd, nullptr, 0), -1);
    EXPECT_EQ(io_reactor_post_write(none, fd, &byte, 1), -1);
    EXPECT_EQ(io_reactor_queued_bytes(none, fd), 0u);
    EXPECT_EQ(io_reactor_wait(none, events, 4, &zero), -1);
    EXPECT_EQ(io_reactor_wakeup(none), -1);
    io_reactor_stats_t stats{};
    EXPECT_EQ(io_reactor_get_stats(none, &stats), -1);
    EXPECT_NE(io_reactor_last_error(none), 0);
    (void)io_reactor_backend_name(none);
    io_reactor_destroy(none);
    ASSERT_NE(io_reactor_strerror(12345), nullptr);
}

}  // namespace
}  // namespace conformance
