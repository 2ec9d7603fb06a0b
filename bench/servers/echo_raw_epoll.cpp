// Echo server on a hand-written level-triggered epoll loop, no library:
// the practical floor every other peer is compared with.
#include "listen_socket.h"
#include "server_args.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

namespace {

// Per-connection state is only what a partial write leaves behind; it is
// indexed by fd, as the kernel hands out small dense fd numbers.
std::vector<std::string> pending;

void set_interest(int ep, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

void drop(int fd) {
    pending[fd].clear();
    pending[fd].shrink_to_fit();
    close(fd);  // also removes it from the epoll set
}

void accept_all(int ep, int listener) {
    for (;;) {
        int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN, or a transient error such as ECONNABORTED
        bench::set_nodelay(fd);
        if (static_cast<size_t>(fd) >= pending.size()) pending.resize(fd + 1024);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
}

// Write `n` bytes; keep what the socket refused and stop reading until it
// drains, so a slow peer pushes back instead of growing our memory.
void send_or_park(int ep, int fd, const char *data, size_t n) {
    ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN) return drop(fd);
        w = 0;
    }
    if (static_cast<size_t>(w) == n) return;
    pending[fd].assign(data + w, n - w);
    set_interest(ep, fd, EPOLLOUT);
}

void on_readable(int ep, int fd, char *buf, size_t cap) {
    ssize_t n = recv(fd, buf, cap, 0);
    if (n > 0) return send_or_park(ep, fd, buf, static_cast<size_t>(n));
    if (n < 0 && errno == EAGAIN) return;
    drop(fd);
}

void on_writable(int ep, int fd) {
    std::string &p = pending[fd];
    ssize_t w = send(fd, p.data(), p.size(), MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN) drop(fd);
        return;
    }
    p.erase(0, static_cast<size_t>(w));
    if (p.empty()) set_interest(ep, fd, EPOLLIN);
}

}  // namespace

int main(int argc, char **argv) {
    bench::ServerArgs args = bench::parse_server_args(argc, argv);
    int port = args.port;
    int listener = bench::open_listener(&port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (listener < 0 || ep < 0) {
        perror("echo_raw_epoll");
        return 1;
    }
    epoll_event lev{};
    lev.events = EPOLLIN;
    lev.data.fd = listener;
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev);
    bench::announce_port(port);

    std::vector<char> buf(64 * 1024);
    std::vector<epoll_event> events(256);
    for (;;) {
        int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                accept_all(ep, listener);
            } else if (events[i].events & EPOLLOUT) {
                on_writable(ep, fd);
            } else {
                on_readable(ep, fd, buf.data(), buf.size());
            }
        }
    }
}
