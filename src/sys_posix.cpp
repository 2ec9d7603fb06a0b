// POSIX spelling of the platform shim (sys.h).
#include "sys.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ior::sys {

int startup() { return 0; }
void cleanup() {}

socket_fd_t invalid_socket() { return -1; }
unsigned descriptor_shift() { return 0; }
socket_fd_t console_fd() { return STDIN_FILENO; }

int set_nonblocking(socket_fd_t fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno;
    return 0;
}

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }
bool interrupted(int error) { return error == EINTR; }

long recv(socket_fd_t fd, char *buf, std::size_t len, int &error) {
    ssize_t n;
    do n = ::recv(fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) error = errno;
    return n;
}

long read_console(socket_fd_t fd, char *buf, std::size_t len, int &error) {
    ssize_t n;
    do n = ::read(fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n < 0) error = errno;
    return n;
}

long send(socket_fd_t fd, const char *buf, std::size_t len, int &error) {
    ssize_t n;
    // MSG_NOSIGNAL: a peer that went away must be an EPIPE here, not a
    // SIGPIPE that kills the whole server.
    do n = ::send(fd, buf, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) error = errno;
    return n;
}

socket_fd_t accept(socket_fd_t listener, int &error) {
    int fd;
    do fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) error = errno;
    return fd;
}

void close_socket(socket_fd_t fd) { ::close(fd); }

int socket_error(socket_fd_t fd) {
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0) return errno;
    return error;
}

int classify(socket_fd_t fd, FdKind &kind) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0) {
        kind = listening ? FdKind::listening_socket : FdKind::socket;
        return 0;
    }
    if (errno != ENOTSOCK) return errno;
    kind = FdKind::not_socket;
    return 0;
}

const char *strerror(int error) { return std::strerror(error); }

}  // namespace ior::sys
