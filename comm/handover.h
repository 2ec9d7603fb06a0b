// The process side of a hot reboot (reboot.h has the state format): start
// the successor with the handed sockets, wait until it says it has adopted
// them, and, in the successor, read the state and say so.
// handover_posix.cpp implements it; handover_win.cpp says it is not there.
//
// Design: the old process forks a child that execs the binary path resolved
// at start-up (so a rebuilt binary takes over). Only the child clears
// FD_CLOEXEC, on exactly the handed sockets, the state memfd and the report
// pipe, so the old process's own descriptors never change and nothing has
// to be undone when the child fails. The child parses the state, adopts
// every socket into a fresh reactor and writes "adopted\n" to the report
// pipe; only then does the old process exit. Until then it keeps every
// socket, and on any failure (no binary, a corrupt or newer state, a crash,
// no answer in time) it carries on serving. The cost: the server's PID
// changes at each reboot (see comm/README.md for service managers).
#pragma once

#include "io_reactor.h"

#include <chrono>
#include <string>
#include <vector>

namespace comm::handover {

// False where hot reboot is not built (Windows); why() says so.
bool supported();
const char *unsupported_why();

long self_pid();

// The running binary's path, resolved now (call it at start-up: a later
// rebuild replaces the file, and the path is what the successor runs).
std::string self_exe(const char *argv0);

// Starts `exe` with `args` plus "--adopt-state FD --adopt-report FD",
// passing `state` and keeping `fds` open across the exec. True once the
// child reports "adopted" within `timeout`; otherwise the child is killed
// and reaped and `error` says why.
bool run_successor(const std::string &exe, const std::vector<std::string> &args, const std::string &state,
                   const std::vector<socket_fd_t> &fds, std::chrono::milliseconds timeout, std::string &error);

// In the successor: the state handed on `fd` (closed after), at most
// `limit` bytes.
bool read_state(long fd, std::size_t limit, std::string &out, std::string &error);
// Tells the old process every socket is adopted, and closes the pipe.
void report_adopted(long fd);
// Marks an adopted socket close-on-exec again, as accepted ones are.
void keep_private(socket_fd_t fd);

// Test hook: IOR_MUD_REBOOT_FAULT=links makes every link one that cannot be
// handed over (as TLS links will be), so that path runs without TLS.
bool test_keep_links();

// Calls `on_reboot` once per SIGUSR1 or SIGHUP. It runs in a signal handler,
// so it may only set a flag and call io_reactor_wakeup.
void on_reboot_signal(void (*on_reboot)());

}  // namespace comm::handover
