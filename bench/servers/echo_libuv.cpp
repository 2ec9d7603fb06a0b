// Echo server on libuv: a uv_tcp_t per client and uv_read_start, as in
// libuv's guide, with the two refinements its API documents for servers
// that care about speed: alloc_cb hands out one reused read buffer (the
// read callback always runs before the next alloc), and the echo goes out
// with uv_try_write, queueing a copy of the rest with uv_write only when the
// socket refuses part of it. The guide's malloc-per-read version spends most
// of its time in the allocator and page faults here.
#include "server_args.h"

#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

char read_buffer[64 * 1024];

struct PendingWrite {
    uv_write_t req;
    uv_buf_t buf;
};

void on_alloc(uv_handle_t *, size_t, uv_buf_t *buf) {
    *buf = uv_buf_init(read_buffer, sizeof read_buffer);
}

void on_closed(uv_handle_t *handle) { std::free(handle); }

void close_client(uv_stream_t *client) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t *>(client)))
        uv_close(reinterpret_cast<uv_handle_t *>(client), on_closed);
}

void on_written(uv_write_t *req, int) {
    auto *w = reinterpret_cast<PendingWrite *>(req);
    std::free(w->buf.base);
    std::free(w);
}

void queue_copy(uv_stream_t *client, const char *data, size_t n) {
    auto *w = static_cast<PendingWrite *>(std::malloc(sizeof(PendingWrite)));
    w->buf = uv_buf_init(static_cast<char *>(std::malloc(n)), static_cast<unsigned>(n));
    std::memcpy(w->buf.base, data, n);
    if (uv_write(&w->req, client, &w->buf, 1, on_written) != 0) {
        on_written(&w->req, 0);
        close_client(client);
    }
}

void echo(uv_stream_t *client, const char *data, size_t n) {
    // uv_try_write refuses (UV_EAGAIN) while earlier writes are queued, so
    // order is kept.
    uv_buf_t b = uv_buf_init(const_cast<char *>(data), static_cast<unsigned>(n));
    int sent = uv_try_write(client, &b, 1);
    if (sent == UV_EAGAIN) sent = 0;
    if (sent < 0) return close_client(client);
    if (static_cast<size_t>(sent) < n) queue_copy(client, data + sent, n - sent);
}

void on_read(uv_stream_t *client, ssize_t nread, const uv_buf_t *buf) {
    if (nread > 0) return echo(client, buf->base, static_cast<size_t>(nread));
    if (nread < 0) close_client(client);
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
