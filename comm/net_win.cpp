#include "net.h"

#include <windows.h>
#include <ws2tcpip.h>

#include <cstdio>

#include "net_sockaddr.h"  // after the socket headers it relies on

namespace comm::net {

namespace {

void (*g_shutdown)() = nullptr;

// Runs on a thread the system creates; TRUE keeps the process alive so the
// main loop can say goodbye and flush.
BOOL WINAPI console_handler(DWORD type) {
    switch (type) {
    case CTRL_C_EVENT: case CTRL_BREAK_EVENT: case CTRL_CLOSE_EVENT:
        if (g_shutdown) g_shutdown();
        return TRUE;
    default:
        return FALSE;
    }
}

std::string wsa_error(const char *what) {
    return std::string(what) + ": WSA error " + std::to_string(WSAGetLastError());
}

}  // namespace

bool startup(std::string &error) {
    WSADATA data;
    if (int rc = WSAStartup(MAKEWORD(2, 2), &data)) {
        error = "WSAStartup failed: " + std::to_string(rc);
        return false;
    }
    return true;
}

socket_fd_t invalid_socket() { return INVALID_SOCKET; }
bool valid(socket_fd_t fd) { return fd != INVALID_SOCKET; }

socket_fd_t open_listener(bool ipv6, const std::string &address, int port, std::string &error) {
    sockaddr_storage ss;
    socklen_t len;
    if (!detail::listen_address(ipv6, address, port, ss, len, error)) return INVALID_SOCKET;
    SOCKET fd = WSASocketW(ss.ss_family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
    if (fd == INVALID_SOCKET) {
        error = wsa_error("socket");
        return INVALID_SOCKET;
    }
    // Winsock's SO_REUSEADDR lets another process steal the port; exclusive
    // use is the safe equivalent of the POSIX behaviour.
    BOOL on = TRUE;
    setsockopt(fd, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char *>(&on), sizeof on);
    if (ipv6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, reinterpret_cast<const char *>(&on), sizeof on);
    u_long nonblocking = 1;
    ioctlsocket(fd, FIONBIO, &nonblocking);
    if (bind(fd, reinterpret_cast<sockaddr *>(&ss), len) == SOCKET_ERROR ||
        listen(fd, SOMAXCONN) == SOCKET_ERROR) {
        error = wsa_error("bind/listen");
        closesocket(fd);
        return INVALID_SOCKET;
    }
    return fd;
}

int local_port(socket_fd_t fd) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) == SOCKET_ERROR) return -1;
    return detail::port_of(ss);
}

std::string peer_name(socket_fd_t fd) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&ss), &len) == SOCKET_ERROR) return "?";
    return detail::name_of(ss);
}

void close_socket(socket_fd_t fd) { closesocket(fd); }

void shutdown_write(socket_fd_t fd) { ::shutdown(fd, SD_SEND); }

void set_no_delay(socket_fd_t fd) {
    BOOL one = TRUE;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char *>(&one), sizeof one);
}

void write_console(std::string_view bytes) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
}

void on_shutdown_signal(void (*on_shutdown)()) {
    g_shutdown = on_shutdown;
    SetConsoleCtrlHandler(console_handler, TRUE);
}

}  // namespace comm::net
