// Command line shared by every echo server in bench/servers/:
//   --port N          0 picks an ephemeral port; the port is printed on line 1
//   --backend NAME    (ours only) the io_reactor backend
//   --max-seconds S   watchdog: the process ends itself after S seconds
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace bench {

// Backlog for every server: the kernel caps it at net.core.somaxconn anyway,
// and the accept workload must not be limited by a small library default.
constexpr int listen_backlog = 4096;

struct ServerArgs {
    int port = 0;
    std::string backend = "auto";
    unsigned max_seconds = 900;
};

inline ServerArgs parse_server_args(int argc, char **argv) {
    ServerArgs a;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view k = argv[i];
        if (k == "--port") a.port = std::atoi(argv[i + 1]);
        else if (k == "--backend") a.backend = argv[i + 1];
        else if (k == "--max-seconds") a.max_seconds = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else {
            std::fprintf(stderr, "usage: %s --port N [--backend NAME] [--max-seconds S]\n", argv[0]);
            std::exit(2);
        }
    }
    // A forgotten server must not outlive the harness: SIGALRM's default
    // action ends the process.
    alarm(a.max_seconds);
    return a;
}

// Every peer turns Nagle off on accepted connections, as interactive servers
// do: an echo written in pieces would otherwise wait for the peer's delayed
// ACK (40 ms on Linux), and the benchmark would measure that timer.
inline void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

inline void announce_port(int port) {
    std::printf("%d\n", port);
    std::fflush(stdout);
}

}  // namespace bench
