// Echo server on standalone asio, shaped like asio's async_tcp_echo_server
// example: a session object kept alive by shared_ptr, async_read_some into
// the session's buffer, async_write of what arrived, repeat.
#include "server_args.h"

#include <asio.hpp>

#include <array>
#include <cstdio>
#include <memory>

namespace {

using asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
public:
    explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}
    void start() {
        socket_.set_option(tcp::no_delay(true));
        read();
    }

private:
    void read() {
        auto self = shared_from_this();
        socket_.async_read_some(asio::buffer(data_), [this, self](std::error_code ec, std::size_t n) {
            if (!ec) write(n);
        });
    }
    void write(std::size_t n) {
        auto self = shared_from_this();
        asio::async_write(socket_, asio::buffer(data_, n), [this, self](std::error_code ec, std::size_t) {
            if (!ec) read();
        });
    }

    tcp::socket socket_;
    // The example's per-session buffer; 16 KiB so the large-message workload
    // is not penalised by the example's 1 KiB.
    std::array<char, 16 * 1024> data_;
};

class Server {
public:
    Server(asio::io_context &io, int port)
        : acceptor_(io) {
        tcp::endpoint ep(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port));
        acceptor_.open(ep.protocol());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen(bench::listen_backlog);
        accept();
    }
    unsigned short port() const { return acceptor_.local_endpoint().port(); }

private:
    void accept() {
        acceptor_.async_accept([this](std::error_code ec, tcp::socket socket) {
            if (!ec) std::make_shared<Session>(std::move(socket))->start();
            accept();
        });
    }
    tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char **argv) {
    bench::ServerArgs args = bench::parse_server_args(argc, argv);
    try {
        asio::io_context io(1);  // concurrency hint: one thread runs the loop
        Server server(io, args.port);
        bench::announce_port(server.port());
        io.run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "echo_asio: %s\n", e.what());
        return 1;
    }
}
