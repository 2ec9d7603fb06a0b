// Contract 8's add-time checks and contract 9's bounded delivery.
// io_reactor_add refuses what it cannot serve when it is called, the same on
// every backend, with an error that names the right call. A caller with a
// fixed input buffer bounds each EVENT_READ with post_read(fd, NULL, room);
// bytes beyond the grant wait for the next one, so nothing is lost.
#include "conformance.h"

#include <algorithm>
#include <cstring>

namespace conformance {
namespace {

TEST_P(Conformance, add_refuses_a_listening_socket_and_names_add_listener) {
    std::uint16_t port = 0;
    socket_fd_t listener = own(ts::listen_loopback(8, port));
    ASSERT_TRUE(ts::valid(listener));
    int ctx = 0;
    EXPECT_EQ(io_reactor_add(reactor, listener, &ctx, EVENT_READ), -1);
    EXPECT_EQ(io_reactor_last_error(reactor), IO_REACTOR_ELISTENER);
    EXPECT_NE(std::strstr(io_reactor_strerror(IO_REACTOR_ELISTENER), "io_reactor_add_listener"), nullptr);
    // Nothing was registered: the right call still works.
    EXPECT_EQ(io_reactor_add_listener(reactor, listener, &ctx), 0);
}

TEST_P(Conformance, add_refuses_a_non_socket_and_names_add_console) {
    int ctx = 0;
    EXPECT_EQ(io_reactor_add(reactor, io_reactor_console_fd(), &ctx, EVENT_READ), -1);
    EXPECT_EQ(io_reactor_last_error(reactor), IO_REACTOR_ENOTSOCKET);
    EXPECT_NE(std::strstr(io_reactor_strerror(IO_REACTOR_ENOTSOCKET), "io_reactor_add_console"), nullptr);
    io_reactor_stats_t stats{};
    ASSERT_EQ(io_reactor_get_stats(reactor, &stats), 0);
    EXPECT_EQ(stats.handles, 0u);
}

// Grants the next EVENT_READ `room` bytes whenever the last one was used,
// the way a driver with a fixed input buffer does.
struct Granter {
    io_reactor_t *reactor;
    socket_fd_t fd;
    std::size_t room;
    std::size_t largest = 0;
    void operator()(const io_event_t &ev) {
        if (ev.event_type != EVENT_READ) return;
        largest = std::max(largest, static_cast<std::size_t>(ev.bytes_transferred));
        io_reactor_post_read(reactor, fd, nullptr, room);
    }
};

TEST_P(Conformance, a_grant_caps_each_read_and_the_rest_arrives_later_in_order) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    constexpr std::size_t kRoom = 682;  // what a 2 KiB input buffer may have free
    ASSERT_EQ(io_reactor_post_read(reactor, p.local, nullptr, kRoom), 0);
    const std::string sent = pattern(100000);
    ASSERT_TRUE(ts::send_all(p.peer, sent.data(), sent.size(), kDeadlineMs));

    Granter granter{reactor, p.local, kRoom};
    Loop loop(reactor, std::ref(granter));
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx).size() >= sent.size(); }))
        << loop.data_for(&ctx).size() << " of " << sent.size();
    EXPECT_EQ(first_mismatch(loop.data_for(&ctx), sent), std::string::npos);
    EXPECT_LE(granter.largest, kRoom);
}

TEST_P(Conformance, without_a_new_grant_nothing_more_is_delivered) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    ASSERT_EQ(io_reactor_post_read(reactor, p.local, nullptr, 10), 0);
    ASSERT_TRUE(ts::send_all(p.peer, "0123456789abcdefghij", 20, kDeadlineMs));
    Loop loop(reactor);
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_READ, &ctx) > 0; }));
    loop.idle();
    EXPECT_EQ(loop.data_for(&ctx), "0123456789") << loop.describe();
    ASSERT_EQ(io_reactor_post_read(reactor, p.local, nullptr, 100), 0);
    ASSERT_TRUE(loop.until([&] { return loop.data_for(&ctx).size() >= 20; })) << loop.describe();
    EXPECT_EQ(loop.data_for(&ctx), "0123456789abcdefghij");
}

TEST_P(Conformance, with_grants_eof_comes_after_every_byte) {
    ts::Pair p = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, EVENT_READ), 0);
    ASSERT_EQ(io_reactor_post_read(reactor, p.local, nullptr, 30), 0);
    const std::string sent = pattern(100);
    ASSERT_TRUE(ts::send_all(p.peer, sent.data(), sent.size(), kDeadlineMs));
    close_now(p.peer);

    Granter granter{reactor, p.local, 30};
    Loop loop(reactor, std::ref(granter));
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_CLOSE, &ctx) > 0; })) << loop.describe();
    EXPECT_EQ(loop.data_for(&ctx), sent);
    EXPECT_LE(granter.largest, 30u);
    EXPECT_EQ(loop.seen.back().type, EVENT_CLOSE);
}

}  // namespace
}  // namespace conformance
