// A loopback server for ws_interop.py: comm::ws::Layer over real sockets,
// with the embedded web client and a toy telnet "talker", so real clients
// (Python websockets, Chromium) can be tested against the layer before it is
// wired into comm.cpp. POSIX only, one thread per connection: a test tool,
// not a model for the server.
//
// The talker: on open it sends IAC WILL GMCP, IAC DO NAWS and a greeting;
// each line comes back as "You say: LINE" plus a GMCP Comm.Channel.Text;
// "pw" asks for a password with IAC WILL ECHO, and the next line is
// answered with its length only, after IAC WONT ECHO; a NAWS report comes
// back as GMCP Client.Size; "bye" ends the link with a close frame.
//
// Prints "port N" once listening on 127.0.0.1 (port 0: any free one).
#include "sanitize.h"
#include "web_assets.h"
#include "websocket.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

constexpr unsigned char kIac = 255, kSb = 250, kSe = 240, kWill = 251, kNaws = 31, kGmcp = 201;

bool write_all(int fd, const std::string &s) {
    for (std::size_t at = 0; at < s.size();) {
        ssize_t n = write(fd, s.data() + at, s.size() - at);
        if (n <= 0) return false;
        at += static_cast<std::size_t>(n);
    }
    return true;
}

std::string gmcp(const std::string &message) {
    return "\xff\xfa\xc9" + message + "\xff\xf0";
}

class Talker {
public:
    explicit Talker(comm::ws::Layer &layer) : layer_(layer) {}

    void start(std::string &down) {
        layer_.send("\xff\xfb\xc9\xff\xfd\x1f\x1b[1;36mWelcome to the ws echo server\x1b[0m\r\n"
                    "Type 'pw' for a password prompt.\r\n", down);
    }

    void feed(std::string_view bytes, std::string &down) {
        for (char ch : bytes) byte(static_cast<unsigned char>(ch), down);
    }

private:
    void byte(unsigned char c, std::string &down) {
        switch (state_) {
        case 0:
            if (c == kIac) state_ = 1;
            else if (c == '\n') line(down);
            else if (c != '\r' && line_.size() < 1024) line_ += static_cast<char>(c);
            break;
        case 1: state_ = c == kSb ? 3 : c >= kWill ? 2 : 0; break;
        case 2: state_ = 0; break;
        case 3:
            if (c == kIac) state_ = 4;
            else if (sb_.size() < 1024) sb_ += static_cast<char>(c);
            break;
        case 4:
            if (c == kSe) {
                subnegotiation(down);
                state_ = 0;
            } else {
                sb_ += static_cast<char>(c);
                state_ = 3;
            }
            break;
        }
    }

    void line(std::string &down) {
        std::string out;
        if (password_) {
            out = "\xff\xfc\x01\r\nPassword of " + std::to_string(line_.size()) + " characters accepted.\r\n";
            password_ = false;
        } else if (line_ == "pw") {
            out = "Password: \xff\xfb\x01";
            password_ = true;
        } else if (line_ == "bye") {
            layer_.close(down);
        } else {
            out = "You say: " + line_ + "\r\n" + gmcp("Comm.Channel.Text {\"text\":\"" + line_ + "\"}");
        }
        layer_.send(out, down);
        line_.clear();
    }

    void subnegotiation(std::string &down) {
        auto *b = reinterpret_cast<const unsigned char *>(sb_.data());
        if (sb_.size() == 5 && b[0] == kNaws) {
            int cols = b[1] << 8 | b[2], rows = b[3] << 8 | b[4];
            layer_.send(gmcp("Client.Size {\"cols\":" + std::to_string(cols) + ",\"rows\":" + std::to_string(rows) + "}"),
                        down);
        } else if (!sb_.empty() && b[0] == kGmcp) {
            layer_.send("GMCP from you: " + comm::escape_bytes(sb_.substr(1), 200) + "\r\n", down);
        }
        sb_.clear();
    }

    comm::ws::Layer &layer_;
    int state_ = 0;
    bool password_ = false;
    std::string line_, sb_;
};

// Closing a socket with unread input makes the kernel send a reset, which
// can destroy the response (a 431 to a client still sending its head) before
// the client reads it. So: end our side, then read what is left for a
// bounded time. The comm layer's wiring needs the same.
void lingering_close(int fd) {
    shutdown(fd, SHUT_WR);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    for (std::size_t total = 0; total < (1u << 20);) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        total += static_cast<std::size_t>(n);
    }
    close(fd);
}

void serve(int fd) {
    comm::ws::Layer layer(comm::web::find);
    Talker talker(layer);
    bool started = false;
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        std::string up, down;
        layer.receive(std::string_view(buf, static_cast<std::size_t>(n)), up, down);
        if (!started && layer.state() == comm::TransportState::open) {
            started = true;
            talker.start(down);
        }
        talker.feed(up, down);
        if (!write_all(fd, down)) break;
        auto s = layer.state();
        if (s == comm::TransportState::closed || s == comm::TransportState::failed) {
            if (!layer.error().empty()) std::fprintf(stderr, "link: %s\n", layer.error().c_str());
            break;
        }
    }
    lingering_close(fd);
}

}  // namespace

int main(int argc, char **argv) {
    int port = argc > 1 ? std::atoi(argv[1]) : 0;
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || listen(s, 16) != 0 ||
        getsockname(s, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        std::perror("ws_echo_server: listen");
        return 1;
    }
    std::printf("port %d\n", ntohs(a.sin_port));
    std::fflush(stdout);
    for (;;) {
        int c = accept(s, nullptr, nullptr);
        if (c >= 0) std::thread(serve, c).detach();
    }
}
