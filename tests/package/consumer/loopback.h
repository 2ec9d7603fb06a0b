/* Loopback sockets for the consumer programs, in C (and valid C++): the
 * one place they differ between POSIX and Winsock. */
#ifndef CONSUMER_LOOPBACK_H
#define CONSUMER_LOOPBACK_H

#include <io_reactor.h>

#include <string.h>

#ifdef _WIN32
#include <ws2tcpip.h>
#define loopback_close closesocket
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
#define loopback_close close
#endif

/* A listener on 127.0.0.1 at a free port; its port goes to *port. */
static socket_fd_t loopback_listener(unsigned short *port) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    socket_fd_t fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        return (socket_fd_t)-1;
    *port = ntohs(addr.sin_port);
    return fd;
}

/* A blocking client connected to 127.0.0.1:port (the listener's backlog
 * completes the handshake before anyone accepts). */
static socket_fd_t loopback_client(unsigned short port) {
    struct sockaddr_in addr;
    socket_fd_t fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return (socket_fd_t)-1;
    return fd;
}

/* Reads what has arrived on fd without blocking; -1 on failure or EOF. */
static int loopback_read_ready(socket_fd_t fd, char *buf, int len) {
    fd_set set;
    struct timeval zero = {0, 0};
    FD_ZERO(&set);
    FD_SET(fd, &set);
    if (select((int)fd + 1, &set, NULL, NULL, &zero) <= 0) return 0;
    int n = (int)recv(fd, buf, len, 0);
    return n > 0 ? n : -1;
}

#endif
