// Winsock side of the test socket helpers. select() is fine here: a Winsock
// fd_set is an array of handles, not a bitmap limited by descriptor value.
#include "test_sockets.h"

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <chrono>

namespace ts {
namespace {

using Clock = std::chrono::steady_clock;

long remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<long>(left.count());
}

bool wait_ready(socket_fd_t fd, bool for_write, Clock::time_point deadline) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    fd_set errors;
    FD_ZERO(&errors);
    FD_SET(fd, &errors);
    long ms = remaining_ms(deadline);
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    // A failed non-blocking connect or a reset shows up in the except set.
    int n = ::select(0, for_write ? nullptr : &set, for_write ? &set : nullptr, &errors, &tv);
    return n > 0;
}

bool transient(int error) { return error == WSAEWOULDBLOCK || error == WSAEINTR; }

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
}

}  // namespace

void init() {
    static const bool once = [] {
        WSADATA data;
        return ::WSAStartup(MAKEWORD(2, 2), &data) == 0;
    }();
    (void)once;
}

socket_fd_t invalid_socket() { return INVALID_SOCKET; }
bool valid(socket_fd_t fd) { return fd != INVALID_SOCKET; }
int last_error() { return ::WSAGetLastError(); }

socket_fd_t listen_loopback(int backlog, std::uint16_t &port) {
    init();
    SOCKET fd = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (fd == INVALID_SOCKET) return fd;
    sockaddr_in addr = loopback(0);
    int alen = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
        ::listen(fd, backlog) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &alen) != 0) {
        ::closesocket(fd);
        return INVALID_SOCKET;
    }
    port = ntohs(addr.sin_port);
    return fd;
}

socket_fd_t connect_loopback(std::uint16_t port) {
    init();
    SOCKET fd = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (fd == INVALID_SOCKET) return fd;
    sockaddr_in addr = loopback(port);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        int saved = ::WSAGetLastError();
        ::closesocket(fd);
        ::WSASetLastError(saved);
        return INVALID_SOCKET;
    }
    return fd;
}

socket_fd_t accept_within(socket_fd_t listener, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (!wait_ready(listener, false, deadline)) return INVALID_SOCKET;
        SOCKET fd = ::accept(listener, nullptr, nullptr);
        if (fd != INVALID_SOCKET) return fd;
        int error = ::WSAGetLastError();
        if (!transient(error) && error != WSAECONNRESET) return INVALID_SOCKET;
    }
}

Pair make_pair() {
    Pair pair{INVALID_SOCKET, INVALID_SOCKET};
    std::uint16_t port = 0;
    SOCKET listener = listen_loopback(1, port);
    if (listener == INVALID_SOCKET) return pair;
    pair.peer = connect_loopback(port);
    if (pair.peer != INVALID_SOCKET) pair.local = accept_within(listener, 5000);
    ::closesocket(listener);
    if (!pair.ok()) {
        if (pair.peer != INVALID_SOCKET) ::closesocket(pair.peer);
        if (pair.local != INVALID_SOCKET) ::closesocket(pair.local);
        return Pair{INVALID_SOCKET, INVALID_SOCKET};
    }
    set_nonblocking(pair.peer);
    set_nonblocking(pair.local);
    set_nodelay(pair.peer);
    return pair;
}

void set_nonblocking(socket_fd_t fd) {
    u_long on = 1;
    ::ioctlsocket(fd, FIONBIO, &on);
}

void set_buffers(socket_fd_t fd, int rcvbuf, int sndbuf) {
    if (rcvbuf > 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, reinterpret_cast<const char *>(&rcvbuf), sizeof rcvbuf);
    if (sndbuf > 0)
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, reinterpret_cast<const char *>(&sndbuf), sizeof sndbuf);
}

void set_nodelay(socket_fd_t fd) {
    BOOL one = TRUE;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char *>(&one), sizeof one);
}

void close_socket(socket_fd_t fd) {
    if (fd != INVALID_SOCKET) ::closesocket(fd);
}

void abort_socket(socket_fd_t fd) {
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char *>(&lg), sizeof lg);
    ::closesocket(fd);
}

void shutdown_write(socket_fd_t fd) { ::shutdown(fd, SD_SEND); }

bool send_all(socket_fd_t fd, const void *data, std::size_t len, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    const char *p = static_cast<const char *>(data);
    while (len > 0) {
        int chunk = len > 0x10000000 ? 0x10000000 : static_cast<int>(len);
        int n = ::send(fd, p, chunk, 0);
        if (n > 0) {
            p += n;
            len -= static_cast<std::size_t>(n);
            continue;
        }
        if (n == SOCKET_ERROR && !transient(::WSAGetLastError())) return false;
        if (!wait_ready(fd, true, deadline)) return false;
    }
    return true;
}

bool recv_all(socket_fd_t fd, void *data, std::size_t len, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    char *p = static_cast<char *>(data);
    while (len > 0) {
        int chunk = len > 0x10000000 ? 0x10000000 : static_cast<int>(len);
        int n = ::recv(fd, p, chunk, 0);
        if (n > 0) {
            p += n;
            len -= static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) return false;
        if (!transient(::WSAGetLastError())) return false;
        if (!wait_ready(fd, false, deadline)) return false;
    }
    return true;
}

long recv_some(socket_fd_t fd, void *data, std::size_t len, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    int chunk = len > 0x10000000 ? 0x10000000 : static_cast<int>(len);
    for (;;) {
        int n = ::recv(fd, static_cast<char *>(data), chunk, 0);
        if (n >= 0) return n;
        if (!transient(::WSAGetLastError())) return -1;
        if (!wait_ready(fd, false, deadline)) {
            ::WSASetLastError(WSAEWOULDBLOCK);
            return -1;
        }
    }
}

long send_some(socket_fd_t fd, const void *data, std::size_t len) {
    int chunk = len > 0x10000000 ? 0x10000000 : static_cast<int>(len);
    int n = ::send(fd, static_cast<const char *>(data), chunk, 0);
    return n == SOCKET_ERROR ? -1 : n;
}

void sleep_ms(int ms) { ::Sleep(static_cast<DWORD>(ms)); }

// Windows has no signals that interrupt a wait; contract 7's "signal"
// clause is POSIX only.
bool signal_this_thread_after(int) { return false; }
void join_signaller() {}

struct Thread::Impl {
    std::function<void()> body;
    HANDLE handle = nullptr;
};

Thread::Thread(std::function<void()> body) : impl_(std::make_unique<Impl>()) {
    impl_->body = std::move(body);
    impl_->handle = ::CreateThread(
        nullptr, 0,
        [](LPVOID arg) -> DWORD {
            static_cast<Impl *>(arg)->body();
            return 0;
        },
        impl_.get(), 0, nullptr);
}

Thread::~Thread() { join(); }

void Thread::join() {
    if (impl_->handle) {
        ::WaitForSingleObject(impl_->handle, INFINITE);
        ::CloseHandle(impl_->handle);
        impl_->handle = nullptr;
    }
}

}  // namespace ts
