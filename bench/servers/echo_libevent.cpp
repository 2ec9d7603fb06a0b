// Echo server on libevent 2 with bufferevents, as its reference book shows:
// an evconnlistener, one socket bufferevent per client, and a read callback
// that moves the input buffer to the output buffer.
#include "server_args.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>

namespace {

void on_read(bufferevent *bev, void *) {
    evbuffer_add_buffer(bufferevent_get_output(bev), bufferevent_get_input(bev));
}

void on_event(bufferevent *bev, short what, void *) {
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) bufferevent_free(bev);
}

void on_accept(evconnlistener *listener, evutil_socket_t fd, sockaddr *, int, void *) {
    event_base *base = evconnlistener_get_base(listener);
    bench::set_nodelay(fd);
    bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, on_read, nullptr, on_event, nullptr);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

}  // namespace

int main(int argc, char **argv) {
    bench::ServerArgs args = bench::parse_server_args(argc, argv);
    event_base *base = event_base_new();
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(args.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    evconnlistener *listener = evconnlistener_new_bind(
        base, on_accept, nullptr, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, bench::listen_backlog,
        reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    if (!listener) {
        std::perror("echo_libevent");
        return 1;
    }
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    getsockname(evconnlistener_get_fd(listener), reinterpret_cast<sockaddr *>(&bound), &len);
    bench::announce_port(ntohs(bound.sin_port));
    event_base_dispatch(base);
    evconnlistener_free(listener);
    event_base_free(base);
}
