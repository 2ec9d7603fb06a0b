/* The smallest complete user of io_reactor.h, in C11: a line echo server.
 * Usage: echo_server [port]  (default 4000; 0 picks a free port). */
#include "io_reactor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static int open_listener(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        perror("listen");
        exit(1);
    }
    printf("echo_server listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

int main(int argc, char **argv) {
    int listener = open_listener(argc > 1 ? atoi(argv[1]) : 4000);
    io_reactor_t *reactor = io_reactor_create();
    if (!reactor || io_reactor_add_listener(reactor, listener, NULL) != 0) {
        fprintf(stderr, "reactor: %s\n", io_reactor_strerror(io_reactor_last_error(reactor)));
        return 1;
    }
    printf("backend: %s\n", io_reactor_backend_name(reactor));
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    io_event_t events[128];
    while (!stopping) {
        struct timeval tick = {1, 0};
        int n = io_reactor_wait(reactor, events, 128, &tick);
        for (int i = 0; i < n; i++) {
            io_event_t *e = &events[i];
            switch (e->event_type) {
            case EVENT_ACCEPT:
                if (io_reactor_add(reactor, e->accepted_fd, NULL, EVENT_READ) != 0)
                    close(e->accepted_fd);
                break;
            case EVENT_READ:
                io_reactor_post_write(reactor, e->fd, e->buffer, (size_t)e->bytes_transferred);
                break;
            case EVENT_CLOSE:
            case EVENT_ERROR:
                io_reactor_remove(reactor, e->fd);
                close(e->fd);
                break;
            }
        }
    }
    io_reactor_destroy(reactor);
    close(listener);
    return 0;
}
