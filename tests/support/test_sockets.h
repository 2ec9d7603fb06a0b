// Portable loopback sockets for the tests. The platform file
// (test_sockets_posix.cpp or test_sockets_win.cpp, chosen by CMake) hides the
// POSIX/Winsock differences, so test files never need an #ifdef.
//
// Every blocking-looking helper takes a deadline: a test that waits for the
// reactor or a peer must fail, never hang.
#pragma once

#include "io_reactor.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace ts {

// Socket library setup (WSAStartup on Windows); safe to call many times.
void init();

socket_fd_t invalid_socket();
bool valid(socket_fd_t fd);
// The last socket error of this thread (errno or WSAGetLastError()).
int last_error();

// A listening socket on 127.0.0.1 with a kernel-chosen port.
socket_fd_t listen_loopback(int backlog, std::uint16_t &port);
// A connected client socket (blocking connect; loopback completes at once
// while the listen backlog has room).
socket_fd_t connect_loopback(std::uint16_t port);
// Accept one connection, waiting at most timeout_ms.
socket_fd_t accept_within(socket_fd_t listener, int timeout_ms);

// A connected loopback TCP pair, made by listen/connect/accept (Windows has
// no socketpair). `peer` is the test's end; `local` is handed to the reactor.
// Both are non-blocking. `valid()` is false if the pair could not be made.
struct Pair {
    socket_fd_t peer;
    socket_fd_t local;
    bool ok() const { return valid(peer) && valid(local); }
};
Pair make_pair();

void set_nonblocking(socket_fd_t fd);
void set_buffers(socket_fd_t fd, int rcvbuf, int sndbuf);
void set_nodelay(socket_fd_t fd);
void close_socket(socket_fd_t fd);
// Close with SO_LINGER {1, 0}: the kernel sends RST instead of FIN, so the
// other end sees a reset (ECONNRESET / WSAECONNRESET).
void abort_socket(socket_fd_t fd);
// Half-close: the peer reads EOF but can still send to us.
void shutdown_write(socket_fd_t fd);

// Send every byte or fail when timeout_ms expires (works on non-blocking
// sockets: waits for writability between partial sends).
bool send_all(socket_fd_t fd, const void *data, std::size_t len, int timeout_ms);
// Receive exactly len bytes, or fail on EOF, error or timeout.
bool recv_all(socket_fd_t fd, void *data, std::size_t len, int timeout_ms);
// Receive what is there within timeout_ms: > 0 bytes, 0 EOF, -1 nothing
// arrived (timeout) or error (see last_error()).
long recv_some(socket_fd_t fd, void *data, std::size_t len, int timeout_ms);
// Send without waiting: bytes taken, or -1 (would block or error).
long send_some(socket_fd_t fd, const void *data, std::size_t len);

void sleep_ms(int ms);

// Interrupts the calling thread with a signal (a no-op handler installed
// without SA_RESTART) after ms milliseconds, from a helper thread. Returns
// false where the platform has no such signals (Windows): the test skips.
bool signal_this_thread_after(int ms);
// Waits for the helper started by signal_this_thread_after to finish.
void join_signaller();

// A joinable thread without std::thread (mingw's win32 thread model has none).
class Thread {
public:
    explicit Thread(std::function<void()> body);
    ~Thread();  // joins
    Thread(const Thread &) = delete;
    Thread &operator=(const Thread &) = delete;
    void join();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// Owns a socket for the length of a scope (tests that fail an ASSERT still
// close what they opened).
class Socket {
public:
    Socket() : fd_(invalid_socket()) {}
    explicit Socket(socket_fd_t fd) : fd_(fd) {}
    ~Socket() { reset(); }
    Socket(Socket &&o) noexcept : fd_(o.release()) {}
    Socket &operator=(Socket &&o) noexcept {
        if (this != &o) {
            reset();
            fd_ = o.release();
        }
        return *this;
    }
    socket_fd_t get() const { return fd_; }
    bool ok() const { return valid(fd_); }
    socket_fd_t release() {
        socket_fd_t fd = fd_;
        fd_ = invalid_socket();
        return fd;
    }
    void reset(socket_fd_t fd = invalid_socket()) {
        if (valid(fd_)) close_socket(fd_);
        fd_ = fd;
    }

private:
    socket_fd_t fd_;
};

}  // namespace ts
