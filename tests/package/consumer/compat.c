/* An out-of-tree driver written to the original header, built through the
 * compat target (find_package: ioreactor::compat; pkg-config:
 * ioreactor-compat): its unchanged io_reactor_create() must make a
 * readiness-mode reactor, in which a listening socket added with
 * io_reactor_add reports EVENT_READ once accept() will succeed. */
#include <stdio.h>

#include "loopback.h"

#ifndef IO_REACTOR_READINESS
#error "the compat target must define IO_REACTOR_READINESS"
#endif

static int fail(const char *what, io_reactor_t *reactor) {
    fprintf(stderr, "compat.c: %s: %s\n", what, io_reactor_strerror(io_reactor_last_error(reactor)));
    return 1;
}

int main(void) {
    unsigned short port = 0;
    io_reactor_t *reactor = io_reactor_create(); /* first: it starts Winsock */
    if (!reactor) return fail("create", NULL);
    socket_fd_t listener = loopback_listener(&port);
    if (listener == (socket_fd_t)-1 || io_reactor_add(reactor, listener, NULL, EVENT_READ) != 0)
        return fail("add listener", reactor);
    socket_fd_t client = loopback_client(port);
    if (client == (socket_fd_t)-1) return fail("connect", reactor);

    int readable = 0;
    for (int step = 0; step < 100 && !readable; step++) {
        io_event_t events[4];
        struct timeval tick = {0, 50000};
        int n = io_reactor_wait(reactor, events, 4, &tick);
        if (n < 0) return fail("wait", reactor);
        for (int i = 0; i < n; i++)
            readable |= events[i].fd == listener && (events[i].event_type & EVENT_READ);
    }
    if (!readable) return fail("listener never readable", reactor);
    socket_fd_t accepted = accept(listener, NULL, NULL);
    if (accepted == (socket_fd_t)-1) return fail("accept after EVENT_READ", reactor);
    char reply[4] = {0};
    if (send(accepted, "ok", 2, 0) != 2) return fail("send", reactor);
    for (int step = 0; step < 100 && reply[0] == 0; step++) {
        struct timeval tick = {0, 10000};
        io_event_t ignored[1];
        if (loopback_read_ready(client, reply, 2) < 0) return fail("recv", reactor);
        if (reply[0] == 0 && io_reactor_wait(reactor, ignored, 1, &tick) < 0) return fail("wait", reactor);
    }
    if (reply[0] != 'o') return fail("no reply on the accepted connection", reactor);
    printf("compat (readiness mode) listener readable, accept() ok: backend %s\n",
           io_reactor_backend_name(reactor));
    io_reactor_remove(reactor, listener);
    io_reactor_destroy(reactor);
    loopback_close(accepted);
    loopback_close(client);
    loopback_close(listener);
    return 0;
}
