// An out-of-tree C++ consumer of the installed library, through the C++20
// layer (io_reactor.hpp): an echo round trip over loopback.
#include <io_reactor.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "loopback.h"

int main() {
    const std::string message = "hello from C++";
    std::string reply;
    ioreactor::Reactor reactor;  // first: it starts Winsock
    unsigned short port = 0;
    socket_fd_t listener = loopback_listener(&port);
    if (listener == static_cast<socket_fd_t>(-1) || reactor.add_listener(listener, nullptr)) {
        std::fprintf(stderr, "echo.cpp: listener failed\n");
        return 1;
    }
    socket_fd_t client = loopback_client(port);
    if (send(client, message.data(), static_cast<int>(message.size()), 0) !=
        static_cast<int>(message.size())) {
        std::fprintf(stderr, "echo.cpp: send failed\n");
        return 1;
    }

    std::vector<ioreactor::Registration> accepted;
    std::array<io_event_t, 8> buffer{};
    for (int step = 0; step < 200 && reply.size() < message.size(); ++step) {
        std::error_code error;
        for (io_event_t &e : reactor.wait(buffer, std::chrono::milliseconds(50), error)) {
            if (e.event_type == EVENT_ACCEPT && !reactor.add(e.accepted_fd, nullptr))
                accepted.emplace_back(reactor, e.accepted_fd);
            if (e.event_type == EVENT_READ)
                reactor.write(e.fd, {static_cast<const char *>(e.buffer),
                                     static_cast<std::size_t>(e.bytes_transferred)});
        }
        if (error) {
            std::fprintf(stderr, "echo.cpp: wait: %s\n", error.message().c_str());
            return 1;
        }
        char chunk[64];
        int n = loopback_read_ready(client, chunk, sizeof chunk);
        if (n < 0) return 1;
        reply.append(chunk, static_cast<std::size_t>(n));
    }
    if (reply != message) {
        std::fprintf(stderr, "echo.cpp: sent '%s', got '%s'\n", message.c_str(), reply.c_str());
        return 1;
    }
    std::printf("C++ echo round trip ok: ioreactor %s, backend %s\n", io_reactor_version_string(),
                reactor.backend_name());
    accepted.clear();
    loopback_close(client);
    loopback_close(listener);
    return 0;
}
