/* An out-of-tree C consumer of the installed library: checks the version
 * macros against the library, then an echo round trip over loopback. */
#include <stdio.h>
#include <string.h>

#include "loopback.h"

#define STR2(x) #x
#define STR(x) STR2(x)
#define HEADER_VERSION \
    STR(IO_REACTOR_VERSION_MAJOR) "." STR(IO_REACTOR_VERSION_MINOR) "." STR(IO_REACTOR_VERSION_PATCH)

static int fail(const char *what, io_reactor_t *reactor) {
    fprintf(stderr, "echo.c: %s: %s\n", what, io_reactor_strerror(io_reactor_last_error(reactor)));
    return 1;
}

/* One reactor loop step: accept, echo what arrives. */
static int serve(io_reactor_t *reactor) {
    io_event_t events[8];
    struct timeval tick = {0, 50000};
    int n = io_reactor_wait(reactor, events, 8, &tick);
    for (int i = 0; i < n; i++) {
        io_event_t *e = &events[i];
        if (e->event_type == EVENT_ACCEPT &&
            io_reactor_add(reactor, e->accepted_fd, NULL, EVENT_READ) != 0)
            return -1;
        if (e->event_type == EVENT_READ &&
            io_reactor_post_write(reactor, e->fd, e->buffer, (size_t)e->bytes_transferred) != 0)
            return -1;
    }
    return n;
}

int main(void) {
    static const char message[] = "hello, reactor";
    char reply[64] = {0};
    int got = 0;
    unsigned short port = 0;

    if (io_reactor_version() != IO_REACTOR_VERSION_HEX ||
        strcmp(io_reactor_version_string(), HEADER_VERSION) != 0) {
        fprintf(stderr, "echo.c: header %s, library %s\n", HEADER_VERSION, io_reactor_version_string());
        return 1;
    }
    io_reactor_t *reactor = io_reactor_create(); /* first: it starts Winsock */
    if (!reactor) return fail("create", NULL);
    socket_fd_t listener = loopback_listener(&port);
    if (listener == (socket_fd_t)-1 || io_reactor_add_listener(reactor, listener, NULL) != 0)
        return fail("listener", reactor);
    socket_fd_t client = loopback_client(port);
    if (client == (socket_fd_t)-1) return fail("connect", reactor);
    if (send(client, message, (int)strlen(message), 0) != (int)strlen(message)) return fail("send", reactor);

    for (int step = 0; step < 200 && got < (int)strlen(message); step++) {
        if (serve(reactor) < 0) return fail("serve", reactor);
        int n = loopback_read_ready(client, reply + got, (int)sizeof reply - 1 - got);
        if (n < 0) return fail("recv", reactor);
        got += n;
    }
    if (strcmp(reply, message) != 0) {
        fprintf(stderr, "echo.c: sent '%s', got '%s'\n", message, reply);
        return 1;
    }
    printf("C echo round trip ok: ioreactor %s, backend %s\n", io_reactor_version_string(),
           io_reactor_backend_name(reactor));
    io_reactor_destroy(reactor);
    loopback_close(client);
    loopback_close(listener);
    return 0;
}
