/* Proves io_reactor.h is a C11 header: it compiles in a C translation unit,
 * links against the C++ library, and the driver-header values hold. */
#include "io_reactor.h"

#include <stdio.h>

_Static_assert(EVENT_READ == 0x01, "driver header value");
_Static_assert(EVENT_WRITE == 0x02, "driver header value");
_Static_assert(EVENT_ERROR == 0x04, "driver header value");
_Static_assert(EVENT_CLOSE == 0x08, "driver header value");

int main(void) {
    io_reactor_t *reactor = io_reactor_create();
    if (!reactor) {
        fprintf(stderr, "io_reactor_create failed: %s\n",
                io_reactor_strerror(io_reactor_last_error(NULL)));
        return 1;
    }
    io_event_t events[4];
    struct timeval zero = {0, 0};
    int n = io_reactor_wait(reactor, events, 4, &zero);
    int bad = io_reactor_remove(reactor, (socket_fd_t)12345);
    printf("backend %s: wait -> %d, remove(unknown) -> %d\n",
           io_reactor_backend_name(reactor), n, bad);
    io_reactor_destroy(reactor);
    return (n == 0 && bad == -1) ? 0 : 1;
}
