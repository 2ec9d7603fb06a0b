#include "net.h"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_sockaddr.h"  // after the socket headers it relies on

namespace comm::net {

namespace {

void (*g_shutdown)() = nullptr;

void handle_signal(int) {
    int saved = errno;
    if (g_shutdown) g_shutdown();
    errno = saved;
}

std::string sys_error(const char *what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

bool startup(std::string &) {
    // A peer that resets while we write must be an EVENT_ERROR, not a kill.
    std::signal(SIGPIPE, SIG_IGN);
    return true;
}

socket_fd_t invalid_socket() { return -1; }
bool valid(socket_fd_t fd) { return fd >= 0; }

socket_fd_t open_listener(bool ipv6, const std::string &address, int port, std::string &error) {
    sockaddr_storage ss;
    socklen_t len;
    if (!detail::listen_address(ipv6, address, port, ss, len, error)) return -1;
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = sys_error("socket");
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ipv6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr *>(&ss), len) < 0 || ::listen(fd, 128) < 0) {
        error = sys_error("bind/listen");
        ::close(fd);
        return -1;
    }
    return fd;
}

int local_port(socket_fd_t fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) < 0) return -1;
    return detail::port_of(ss);
}

std::string peer_name(socket_fd_t fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&ss), &len) < 0) return "?";
    return detail::name_of(ss);
}

void close_socket(socket_fd_t fd) { ::close(fd); }

void shutdown_write(socket_fd_t fd) { ::shutdown(fd, SHUT_WR); }

void set_no_delay(socket_fd_t fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void write_console(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

void on_shutdown_signal(void (*on_shutdown)()) {
    g_shutdown = on_shutdown;
    struct sigaction sa {};
    sa.sa_handler = handle_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the wait must return
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace comm::net
