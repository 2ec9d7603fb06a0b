// The few socket calls whose spelling differs between POSIX and Winsock.
// sys_posix.cpp or sys_win.cpp implements them; CMake picks the file, so no
// other source needs an #ifdef. Every call that fails returns its error code
// (errno or WSAGetLastError, read once, at once) through `error`.
#pragma once

#include "io_reactor.h"

#include <cstddef>

namespace ior::sys {

// Process-wide socket library setup (WSAStartup on Windows), reference
// counted: every reactor holds one reference.
int startup();
void cleanup();

socket_fd_t invalid_socket();
// How many low bits of a valid descriptor are always zero: 0 for POSIX
// descriptors, 2 for Windows SOCKETs (handle values, multiples of 4).
// Tables indexed by descriptor shift them out (handle_table.h).
unsigned descriptor_shift();
socket_fd_t console_fd();
int set_nonblocking(socket_fd_t fd);

bool would_block(int error);
bool interrupted(int error);

// > 0: bytes; 0: orderly EOF; < 0: failure, `error` set.
long recv(socket_fd_t fd, char *buf, std::size_t len, int &error);
long read_console(socket_fd_t fd, char *buf, std::size_t len, int &error);
// >= 0: bytes taken; < 0: failure, `error` set. Never raises SIGPIPE.
long send(socket_fd_t fd, const char *buf, std::size_t len, int &error);
// A non-blocking connected socket, or invalid_socket() with `error` set.
socket_fd_t accept(socket_fd_t listener, int &error);
void close_socket(socket_fd_t fd);
// The pending error of a socket (SO_ERROR), 0 if none.
int socket_error(socket_fd_t fd);

// What a descriptor is, for io_reactor_add's checks. Returns 0, or an error
// (EBADF / WSAENOTSOCK's cousins) if fd is not open at all.
enum class FdKind { socket, listening_socket, not_socket };
int classify(socket_fd_t fd, FdKind &kind);

const char *strerror(int error);

}  // namespace ior::sys
