// Contract 6: a listener handle accepts for the caller; each connection is
// one EVENT_ACCEPT with the listener's context and a non-blocking accepted
// socket that belongs to the caller. Ends with the echo server at scale.
#include "conformance.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace conformance {
namespace {

struct Listener {
    socket_fd_t fd;
    std::uint16_t port = 0;
};

TEST_P(Conformance, listener_reports_one_accept_per_connection_with_its_context) {
    Listener l;
    l.fd = own(ts::listen_loopback(64, l.port));
    ASSERT_TRUE(ts::valid(l.fd));
    int listener_ctx = 0;
    ASSERT_EQ(io_reactor_add_listener(reactor, l.fd, &listener_ctx), 0);

    constexpr int kClients = 5;
    for (int i = 0; i < kClients; ++i) ASSERT_TRUE(ts::valid(own(ts::connect_loopback(l.port))));
    std::vector<socket_fd_t> accepted;
    Loop loop(reactor, [&](const io_event_t &ev) {
        if (ev.event_type == EVENT_ACCEPT) accepted.push_back(own(ev.accepted_fd));
    });
    ASSERT_TRUE(loop.until([&] { return accepted.size() >= kClients; })) << loop.describe();
    loop.idle();
    EXPECT_EQ(accepted.size(), static_cast<std::size_t>(kClients)) << loop.describe();
    std::set<socket_fd_t> distinct(accepted.begin(), accepted.end());
    EXPECT_EQ(distinct.size(), accepted.size());
    for (const Seen &s : loop.seen) {
        EXPECT_EQ(s.type, EVENT_ACCEPT);
        EXPECT_EQ(s.context, &listener_ctx);
        EXPECT_EQ(s.fd, l.fd);
        EXPECT_TRUE(ts::valid(s.accepted_fd));
        EXPECT_NE(s.accepted_fd, l.fd);
    }
}

TEST_P(Conformance, accepted_socket_can_be_added_and_echoes) {
    Listener l;
    l.fd = own(ts::listen_loopback(8, l.port));
    ASSERT_TRUE(ts::valid(l.fd));
    int listener_ctx = 0, conn_ctx = 0;
    ASSERT_EQ(io_reactor_add_listener(reactor, l.fd, &listener_ctx), 0);
    ts::Socket client(ts::connect_loopback(l.port));
    ASSERT_TRUE(client.ok());
    ts::set_nonblocking(client.get());

    Loop loop(reactor, [&](const io_event_t &ev) {
        if (ev.event_type == EVENT_ACCEPT) {
            ASSERT_EQ(io_reactor_add(reactor, own(ev.accepted_fd), &conn_ctx, EVENT_READ), 0);
        } else if (ev.event_type == EVENT_READ) {
            ASSERT_EQ(io_reactor_post_write(reactor, ev.fd, ev.buffer,
                                            static_cast<std::size_t>(ev.bytes_transferred)), 0);
        }
    });
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_ACCEPT, &listener_ctx) > 0; }));
    const char hello[] = "hello, reactor";
    ASSERT_TRUE(ts::send_all(client.get(), hello, sizeof hello - 1, kDeadlineMs));
    std::string got;
    ASSERT_TRUE(loop.until([&] {
        char buf[64];
        long n = ts::recv_some(client.get(), buf, sizeof buf, 0);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        return got.size() >= sizeof hello - 1;
    })) << loop.describe();
    EXPECT_EQ(got, hello);

    // The client hangs up: the accepted handle sees one CLOSE with its own context.
    client.reset();
    ASSERT_TRUE(loop.until([&] { return loop.count(EVENT_CLOSE, &conn_ctx) > 0; })) << loop.describe();
}

TEST_P(Conformance, removed_listener_accepts_nothing_more) {
    Listener l;
    l.fd = own(ts::listen_loopback(8, l.port));
    ASSERT_TRUE(ts::valid(l.fd));
    int listener_ctx = 0;
    std::vector<socket_fd_t> accepted;
    Loop loop(reactor, [&](const io_event_t &ev) {
        if (ev.event_type == EVENT_ACCEPT) accepted.push_back(own(ev.accepted_fd));
    });
    ASSERT_EQ(io_reactor_add_listener(reactor, l.fd, &listener_ctx), 0);
    ASSERT_TRUE(ts::valid(own(ts::connect_loopback(l.port))));
    ASSERT_TRUE(loop.until([&] { return accepted.size() == 1; })) << loop.describe();

    ASSERT_EQ(io_reactor_remove(reactor, l.fd), 0);
    ASSERT_TRUE(ts::valid(own(ts::connect_loopback(l.port))));
    loop.idle();
    EXPECT_EQ(accepted.size(), 1u) << loop.describe();
    // The listener is still the caller's: the pending connection is there.
    socket_fd_t late = own(ts::accept_within(l.fd, kDeadlineMs));
    EXPECT_TRUE(ts::valid(late));
}

TEST_P(Conformance, accepted_socket_is_non_blocking) {
    Listener l;
    l.fd = own(ts::listen_loopback(8, l.port));
    ASSERT_TRUE(ts::valid(l.fd));
    int listener_ctx = 0;
    ASSERT_EQ(io_reactor_add_listener(reactor, l.fd, &listener_ctx), 0);
    socket_fd_t client = own(ts::connect_loopback(l.port));
    ASSERT_TRUE(ts::valid(client));
    socket_fd_t accepted = ts::invalid_socket();
    Loop loop(reactor, [&](const io_event_t &ev) {
        if (ev.event_type == EVENT_ACCEPT) accepted = own(ev.accepted_fd);
    });
    ASSERT_TRUE(loop.until([&] { return ts::valid(accepted); }));

    // A recv with nothing to read must fail at once. Safety net: if the
    // socket blocks, the client's byte after 2 s ends it and the test fails.
    std::atomic<bool> returned{false};
    ts::Thread net([&] {
        for (int i = 0; i < 200 && !returned; ++i) ts::sleep_ms(10);
        if (!returned) ts::send_all(client, "!", 1, 1000);
    });
    char byte;
    auto start = Clock::now();
    long n = ts::recv_some(accepted, &byte, 1, 0);
    long long us = elapsed_us(start);
    returned = true;
    net.join();
    EXPECT_EQ(n, -1) << "recv on an idle accepted socket";
    EXPECT_LT(us, 1000000) << "recv blocked for " << us << " us";
}

// One connection of the echo server at scale.
struct Echo {
    socket_fd_t fd;
};

TEST_P(Conformance, thousand_concurrent_connections_each_get_their_own_echo) {
    constexpr int kClients = 1000;
    constexpr int kBatch = 100;
    Listener l;
    l.fd = own(ts::listen_loopback(kBatch * 2, l.port));
    ASSERT_TRUE(ts::valid(l.fd));
    int listener_ctx = 0;
    ASSERT_EQ(io_reactor_add_listener(reactor, l.fd, &listener_ctx), 0);

    std::vector<Echo> conns;
    conns.reserve(kClients);  // contexts point into it: no reallocation
    std::size_t echoed = 0;
    bool handler_ok = true;
    Loop loop(reactor, [&](const io_event_t &ev) {
        if (ev.event_type == EVENT_ACCEPT) {
            if (conns.size() >= static_cast<std::size_t>(kClients)) {
                handler_ok = false;
                return;
            }
            conns.push_back(Echo{own(ev.accepted_fd)});
            if (io_reactor_add(reactor, ev.accepted_fd, &conns.back(), EVENT_READ) != 0)
                handler_ok = false;
        } else if (ev.event_type == EVENT_READ) {
            if (io_reactor_post_write(reactor, ev.fd, ev.buffer,
                                      static_cast<std::size_t>(ev.bytes_transferred)) != 0)
                handler_ok = false;
            echoed += static_cast<std::size_t>(ev.bytes_transferred);
        } else {
            handler_ok = false;
        }
    }, 256);

    auto start = Clock::now();
    std::vector<socket_fd_t> clients;
    for (int i = 0; i < kClients; i += kBatch) {
        for (int k = 0; k < kBatch; ++k) {
            socket_fd_t c = own(ts::connect_loopback(l.port));
            ASSERT_TRUE(ts::valid(c)) << "client " << i + k << ", error " << ts::last_error();
            ts::set_nonblocking(c);
            clients.push_back(c);
        }
        ASSERT_TRUE(loop.until([&] { return conns.size() >= clients.size(); }, 10000))
            << "accepted " << conns.size() << " of " << clients.size();
    }
    ASSERT_TRUE(handler_ok);

    std::vector<std::string> messages;
    std::size_t total = 0;
    for (int i = 0; i < kClients; ++i) {
        char buf[64];
        int n = std::snprintf(buf, sizeof buf, "client %04d says %s", i, std::string(i % 17, '*').c_str());
        messages.emplace_back(buf, static_cast<std::size_t>(n));
        total += messages.back().size();
        ASSERT_TRUE(ts::send_all(clients[i], messages[i].data(), messages[i].size(), kDeadlineMs));
    }
    io_reactor_stats_t stats{};
    ASSERT_TRUE(loop.until([&] {
        return echoed >= total && io_reactor_get_stats(reactor, &stats) == 0 && stats.queued_bytes == 0;
    }, 20000)) << "echoed " << echoed << " of " << total;
    EXPECT_TRUE(handler_ok);
    EXPECT_EQ(echoed, total);

    for (int i = 0; i < kClients; ++i) {
        std::string got(messages[i].size(), '\0');
        ASSERT_TRUE(ts::recv_all(clients[i], got.data(), got.size(), kDeadlineMs)) << "client " << i;
        ASSERT_EQ(got, messages[i]) << "client " << i;
    }
    ASSERT_EQ(io_reactor_get_stats(reactor, &stats), 0);
    EXPECT_EQ(stats.handles, static_cast<std::size_t>(kClients) + 1);
    EXPECT_LT(elapsed_us(start), 30000000);
}

}  // namespace
}  // namespace conformance
