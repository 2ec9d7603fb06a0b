// POSIX side of the test socket helpers. poll(), not select(): the stress
// tests open more than FD_SETSIZE descriptors.
#include "test_sockets.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

namespace ts {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// true when fd became ready for `what` before the deadline.
bool wait_ready(socket_fd_t fd, short what, Clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, what, 0};
        int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

bool transient(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

}  // namespace

void init() {
    // A peer that resets while the test still writes must not kill the binary.
    static const bool once = [] {
        ::signal(SIGPIPE, SIG_IGN);
        return true;
    }();
    (void)once;
}

socket_fd_t invalid_socket() { return -1; }
bool valid(socket_fd_t fd) { return fd >= 0; }
int last_error() { return errno; }

socket_fd_t listen_loopback(int backlog, std::uint16_t &port) {
    init();
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t alen = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        ::listen(fd, backlog) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &alen) != 0) {
        ::close(fd);
        return -1;
    }
    port = ntohs(addr.sin_port);
    return fd;
}

socket_fd_t connect_loopback(std::uint16_t port) {
    init();
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    int rc;
    do {
        rc = ::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int saved = errno;
        ::close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

socket_fd_t accept_within(socket_fd_t listener, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (!wait_ready(listener, POLLIN, deadline)) return -1;
        int fd = ::accept(listener, nullptr, nullptr);
        if (fd >= 0) return fd;
        if (!transient(errno) && errno != ECONNABORTED) return -1;
    }
}

Pair make_pair() {
    Pair pair{-1, -1};
    std::uint16_t port = 0;
    int listener = listen_loopback(1, port);
    if (listener < 0) return pair;
    pair.peer = connect_loopback(port);
    if (pair.peer >= 0) pair.local = accept_within(listener, 5000);
    ::close(listener);
    if (!pair.ok()) {
        if (pair.peer >= 0) ::close(pair.peer);
        if (pair.local >= 0) ::close(pair.local);
        return Pair{-1, -1};
    }
    set_nonblocking(pair.peer);
    set_nonblocking(pair.local);
    set_nodelay(pair.peer);
    return pair;
}

void set_nonblocking(socket_fd_t fd) {
    int flags = ::fcntl(fd, F_GETFL, 0);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void set_buffers(socket_fd_t fd, int rcvbuf, int sndbuf) {
    if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (sndbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
}

void set_nodelay(socket_fd_t fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void close_socket(socket_fd_t fd) {
    if (fd >= 0) ::close(fd);
}

void abort_socket(socket_fd_t fd) {
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(fd);
}

void shutdown_write(socket_fd_t fd) { ::shutdown(fd, SHUT_WR); }

bool send_all(socket_fd_t fd, const void *data, std::size_t len, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    const char *p = static_cast<const char *>(data);
    while (len > 0) {
        ssize_t n = ::send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && !transient(errno)) return false;
        if (!wait_ready(fd, POLLOUT, deadline)) return false;
    }
    return true;
}

bool recv_all(socket_fd_t fd, void *data, std::size_t len, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char *p = static_cast<char *>(data);
    while (len > 0) {
        ssize_t n = ::recv(fd, p, len, 0);
        if (n > 0) {
            p += n;
            len -= static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) return false;
        if (!transient(errno)) return false;
        if (!wait_ready(fd, POLLIN, deadline)) return false;
    }
    return true;
}

long recv_some(socket_fd_t fd, void *data, std::size_t len, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        ssize_t n = ::recv(fd, data, len, 0);
        if (n >= 0) return static_cast<long>(n);
        if (!transient(errno)) return -1;
        if (!wait_ready(fd, POLLIN, deadline)) {
            errno = EAGAIN;
            return -1;
        }
    }
}

long send_some(socket_fd_t fd, const void *data, std::size_t len) {
    ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
    return n < 0 ? -1 : static_cast<long>(n);
}

void sleep_ms(int ms) {
    timespec ts{ms / 1000, (ms % 1000) * 1000000L};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

namespace {
pthread_t signaller;
bool signaller_running = false;
}  // namespace

bool signal_this_thread_after(int ms) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the blocked wait must see EINTR
    ::sigaction(SIGUSR1, &sa, nullptr);
    struct Target {
        pthread_t thread;
        int ms;
    };
    auto *target = new Target{::pthread_self(), ms};
    signaller_running = ::pthread_create(
        &signaller, nullptr,
        [](void *arg) -> void * {
            auto *t = static_cast<Target *>(arg);
            sleep_ms(t->ms);
            ::pthread_kill(t->thread, SIGUSR1);
            delete t;
            return nullptr;
        },
        target) == 0;
    if (!signaller_running) delete target;
    return signaller_running;
}

void join_signaller() {
    if (signaller_running) ::pthread_join(signaller, nullptr);
    signaller_running = false;
}

struct Thread::Impl {
    std::function<void()> body;
    pthread_t tid{};
    bool joined = false;
};

Thread::Thread(std::function<void()> body) : impl_(std::make_unique<Impl>()) {
    impl_->body = std::move(body);
    ::pthread_create(
        &impl_->tid, nullptr,
        [](void *arg) -> void * {
            static_cast<Impl *>(arg)->body();
            return nullptr;
        },
        impl_.get());
}

Thread::~Thread() { join(); }

void Thread::join() {
    if (!impl_->joined) {
        ::pthread_join(impl_->tid, nullptr);
        impl_->joined = true;
    }
}

}  // namespace ts
