// The few platform calls the comm layer needs beyond the reactor: opening
// listeners, naming peers, closing sockets, the console's output and the
// shutdown signals. net_posix.cpp or net_win.cpp implements them; CMake
// picks the file, so comm.cpp has no #ifdef.
#pragma once

#include "io_reactor.h"

#include <string>
#include <string_view>

namespace comm::net {

// Socket library setup (WSAStartup) and SIGPIPE off; false with a message.
bool startup(std::string &error);

socket_fd_t invalid_socket();
bool valid(socket_fd_t fd);

// A non-blocking listening socket on a numeric address ("" = all
// interfaces) and port; IPv6 sockets are IPv6-only so that IPv4 and IPv6
// listeners can share a port number. invalid_socket() with `error` set.
socket_fd_t open_listener(bool ipv6, const std::string &address, int port, std::string &error);
int local_port(socket_fd_t fd);
std::string peer_name(socket_fd_t fd);  // "127.0.0.1:5555" or "[::1]:5555"
void close_socket(socket_fd_t fd);
// Ends our direction only (FIN); reading goes on. For a lingering close: a
// socket closed with unread input sends a reset, which can destroy the
// answer (an HTTP error, a TLS alert) still on its way to the peer.
void shutdown_write(socket_fd_t fd);
// Turns Nagle off: a reply written in pieces (telnet verb, prompt, GA) must
// not wait for the client's delayed ACK, ~40 ms a piece.
void set_no_delay(socket_fd_t fd);

// Console output (stdout), written through at once.
void write_console(std::string_view bytes);

// Calls `on_shutdown` once per SIGINT/SIGTERM (Ctrl-C / Ctrl-Break / close
// on Windows). It runs in a signal handler or another thread, so it may
// only set a flag and call io_reactor_wakeup.
void on_shutdown_signal(void (*on_shutdown)());

}  // namespace comm::net
