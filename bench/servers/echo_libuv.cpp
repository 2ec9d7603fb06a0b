// Echo server on libuv, in the shape of libuv's own guide: a uv_tcp_t per
// client, uv_read_start with an alloc callback, one uv_write_t per echo,
// uv_close before freeing a handle.
#include "server_args.h"

#include <uv.h>

#include <cstdio>
#include <cstdlib>

namespace {

struct Echo {
    uv_write_t req;
    uv_buf_t buf;
};

void on_alloc(uv_handle_t *, size_t suggested, uv_buf_t *buf) {
    buf->base = static_cast<char *>(std::malloc(suggested));
    buf->len = suggested;
}

void on_closed(uv_handle_t *handle) { std::free(handle); }

void on_written(uv_write_t *req, int) {
    auto *echo = reinterpret_cast<Echo *>(req);
    std::free(echo->buf.base);
    std::free(echo);
}

void on_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf) {
    if (nread > 0) {
        // The read buffer becomes the write buffer; freed once written.
        auto *echo = static_cast<Echo *>(std::malloc(sizeof(Echo)));
        echo->buf = uv_buf_init(buf->base, static_cast<unsigned>(nread));
        if (uv_write(&echo->req, client, &echo->buf, 1, on_written) != 0) {
            on_written(&echo->req, 0);
            uv_close(reinterpret_cast<uv_handle_t *>(client), on_closed);
        }
        return;
    }
    std::free(buf->base);
    if (nread < 0) uv_close(reinterpret_cast<uv_handle_t *>(client), on_closed);
}

void on_connection(uv_stream_t *server, int status) {
    if (status < 0) return;
    auto *client = static_cast<uv_tcp_t *>(std::malloc(sizeof(uv_tcp_t)));
    uv_tcp_init(server->loop, client);
    if (uv_accept(server, reinterpret_cast<uv_stream_t *>(client)) == 0) {
        uv_tcp_nodelay(client, 1);
        uv_read_start(reinterpret_cast<uv_stream_t *>(client), on_alloc, on_read);
    } else {
        uv_close(reinterpret_cast<uv_handle_t *>(client), on_closed);
    }
}

}  // namespace

int main(int argc, char **argv) {
    bench::ServerArgs args = bench::parse_server_args(argc, argv);
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", args.port, &addr);
    int rc = uv_tcp_bind(&server, reinterpret_cast<const sockaddr *>(&addr), 0);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t *>(&server), bench::listen_backlog, on_connection);
    if (rc != 0) {
        std::fprintf(stderr, "echo_libuv: %s\n", uv_strerror(rc));
        return 1;
    }
    sockaddr_in bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, reinterpret_cast<sockaddr *>(&bound), &len);
    bench::announce_port(ntohs(bound.sin_port));
    return uv_run(loop, UV_RUN_DEFAULT);
}
