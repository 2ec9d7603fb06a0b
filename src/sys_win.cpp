// Winsock spelling of the platform shim (see sys.h). Every error is read
// with WSAGetLastError (or GetLastError) right after the failing call,
// before anything else can overwrite it.
#include "sys.h"

#include <winsock2.h>
#include <windows.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace ior::sys {

namespace {
std::mutex startup_mutex;
int startup_refs = 0;

// Winsock takes int lengths.
int clamp_len(std::size_t len) { return len > INT_MAX ? INT_MAX : static_cast<int>(len); }
}  // namespace

// WSAStartup is itself reference counted, but only if every caller pairs it
// with WSACleanup; counting here keeps one pair per process however many
// reactors come and go.
int startup() {
    std::lock_guard<std::mutex> lock(startup_mutex);
    if (startup_refs == 0) {
        WSADATA data;
        int error = WSAStartup(MAKEWORD(2, 2), &data);
        if (error != 0) return error;
    }
    ++startup_refs;
    return 0;
}

void cleanup() {
    std::lock_guard<std::mutex> lock(startup_mutex);
    if (startup_refs == 0) return;
    if (--startup_refs == 0) WSACleanup();
}

socket_fd_t invalid_socket() { return INVALID_SOCKET; }
unsigned descriptor_shift() { return 2; }

// Kernel handles (sockets included) are never 0, so 0 names the console the
// way STDIN_FILENO does on POSIX and can never collide with a socket.
socket_fd_t console_fd() { return 0; }

int set_nonblocking(socket_fd_t fd) {
    u_long on = 1;
    if (ioctlsocket(fd, FIONBIO, &on) == SOCKET_ERROR) return WSAGetLastError();
    return 0;
}

bool would_block(int error) { return error == WSAEWOULDBLOCK || error == EAGAIN; }
bool interrupted(int error) { return error == WSAEINTR || error == EINTR; }

long recv(socket_fd_t fd, char *buf, std::size_t len, int &error) {
    int n = ::recv(fd, buf, clamp_len(len), 0);
    if (n == SOCKET_ERROR) {
        error = WSAGetLastError();
        return -1;
    }
    return n;
}

// Blocking: on Windows the console is read by the IOCP backend's reader
// thread, which owns this call.
long read_console(socket_fd_t, char *buf, std::size_t len, int &error) {
    DWORD n = 0;
    DWORD want = len > MAXDWORD ? MAXDWORD : static_cast<DWORD>(len);
    if (!ReadFile(GetStdHandle(STD_INPUT_HANDLE), buf, want, &n, nullptr)) {
        DWORD failure = GetLastError();
        if (failure == ERROR_BROKEN_PIPE || failure == ERROR_HANDLE_EOF) return 0;
        error = static_cast<int>(failure);
        return -1;
    }
    return static_cast<long>(n);
}

long send(socket_fd_t fd, const char *buf, std::size_t len, int &error) {
    int n = ::send(fd, buf, clamp_len(len), 0);
    if (n == SOCKET_ERROR) {
        error = WSAGetLastError();
        return -1;
    }
    return n;
}

socket_fd_t accept(socket_fd_t listener, int &error) {
    SOCKET s = ::accept(listener, nullptr, nullptr);
    if (s == INVALID_SOCKET) {
        error = WSAGetLastError();
        return INVALID_SOCKET;
    }
    if (int failure = set_nonblocking(s)) {
        closesocket(s);
        error = failure;
        return INVALID_SOCKET;
    }
    return s;
}

void close_socket(socket_fd_t fd) { closesocket(fd); }

int socket_error(socket_fd_t fd) {
    int value = 0;
    int len = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, reinterpret_cast<char *>(&value), &len) == SOCKET_ERROR)
        return WSAGetLastError();
    return value;
}

int classify(socket_fd_t fd, FdKind &kind) {
    BOOL listening = FALSE;
    int len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, reinterpret_cast<char *>(&listening), &len) == 0) {
        kind = listening ? FdKind::listening_socket : FdKind::socket;
        return 0;
    }
    int error = WSAGetLastError();
    if (error != WSAENOTSOCK) return error;
    kind = FdKind::not_socket;
    return 0;
}

// errno values (the core's own EINVAL, EBADF, ...) are small; Winsock and
// Win32 codes go through the system message table.
const char *strerror(int error) {
    if (error > 0 && error < 200) {
        if (const char *text = std::strerror(error)) return text;
    }
    thread_local char text[256];
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                             static_cast<DWORD>(error), MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT),
                             text, sizeof text, nullptr);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) text[--n] = 0;
    if (n == 0) std::snprintf(text, sizeof text, "error %d", error);
    return text;
}

}  // namespace ior::sys
