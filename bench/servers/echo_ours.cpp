// Echo server on ioreactor's public C API. The reactor accepts
// (io_reactor_add_listener), reads (EVENT_READ carries the bytes) and queues
// the echo (io_reactor_post_write); the server keeps no per-connection state
// of its own: every event names its fd.
//
// SIGUSR1 prints io_reactor_get_stats as one JSON line on stdout, so the
// harness can set the library's own accounting beside the process RSS.
#include "listen_socket.h"
#include "server_args.h"

#include "io_reactor.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string_view>
#include <vector>

namespace {

volatile sig_atomic_t stats_wanted = 0;

void on_sigusr1(int) { stats_wanted = 1; }

void install_stats_signal() {
    struct sigaction sa {};
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the signal should end the wait early
    sigaction(SIGUSR1, &sa, nullptr);
}

void print_stats(io_reactor_t *r) {
    io_reactor_stats_t s{};
    if (io_reactor_get_stats(r, &s) != 0) return;
    std::printf("{\"handles\": %zu, \"queued_bytes\": %zu, \"contexts_live\": %zu, "
                "\"contexts_pooled\": %zu, \"state_bytes\": %zu}\n",
                s.handles, s.queued_bytes, s.contexts_live, s.contexts_pooled, s.state_bytes);
    std::fflush(stdout);
}

void drop(io_reactor_t *r, socket_fd_t fd) {
    io_reactor_remove(r, fd);
    close(fd);
}

void handle(io_reactor_t *r, const io_event_t &ev) {
    switch (ev.event_type) {
    case EVENT_ACCEPT:
        bench::set_nodelay(ev.accepted_fd);
        if (io_reactor_add(r, ev.accepted_fd, nullptr, EVENT_READ) != 0) close(ev.accepted_fd);
        break;
    case EVENT_READ:
        if (io_reactor_post_write(r, ev.fd, ev.buffer, static_cast<size_t>(ev.bytes_transferred)) != 0)
            drop(r, ev.fd);
        break;
    case EVENT_CLOSE:
    case EVENT_ERROR:
        drop(r, ev.fd);
        break;
    default:  // IO_EVENT_NONE: cancelled by a removal earlier in this batch
        break;
    }
}

int list_backends() {
    for (const char *const *b = io_reactor_backends(); *b; ++b) std::printf("%s\n", *b);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc == 2 && std::string_view(argv[1]) == "--list-backends") return list_backends();
    bench::ServerArgs args = bench::parse_server_args(argc, argv);
    io_reactor_config_t cfg{};
    cfg.backend = args.backend.c_str();
    cfg.max_events = 256;  // the kernel batch raw epoll's loop fetches
    io_reactor_t *r = io_reactor_create_with(&cfg);
    if (!r) {
        std::fprintf(stderr, "echo_ours: backend %s unavailable\n", args.backend.c_str());
        return 1;
    }
    int port = args.port;
    int listener = bench::open_listener(&port);
    if (listener < 0 || io_reactor_add_listener(r, listener, nullptr) != 0) {
        std::perror("echo_ours: listener");
        return 1;
    }
    install_stats_signal();
    bench::announce_port(port);

    std::vector<io_event_t> events(256);
    for (;;) {
        timeval tv{0, 200 * 1000};
        int n = io_reactor_wait(r, events.data(), static_cast<int>(events.size()), &tv);
        for (int i = 0; i < n; ++i) handle(r, events[i]);
        if (stats_wanted) {
            stats_wanted = 0;
            print_stats(r);
        }
    }
}
