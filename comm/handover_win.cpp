// Hot reboot is not built on Windows. Handing sockets to a new process there
// needs WSADuplicateSocket and a WSAPROTOCOL_INFO per socket sent to the
// child, then WSASocket(FROM_PROTOCOL_INFO) on its side; the IOCP backend
// would also have to take over sockets already associated with the old
// process's completion port (not possible: the association cannot be
// undone). Until that is designed, the command says so.
#include "handover.h"

namespace comm::handover {

bool supported() { return false; }
long self_pid() { return 0; }
bool test_keep_links() { return false; }
const char *unsupported_why() { return "hot reboot is Linux/POSIX-only on this build (not supported on Windows)"; }
std::string self_exe(const char *argv0) { return argv0 ? argv0 : ""; }

bool run_successor(const std::string &, const std::vector<std::string> &, const std::string &,
                   const std::vector<socket_fd_t> &, std::chrono::milliseconds, std::string &error) {
    error = unsupported_why();
    return false;
}

bool read_state(long, std::size_t, std::string &, std::string &error) {
    error = unsupported_why();
    return false;
}

void report_adopted(long) {}
void keep_private(socket_fd_t) {}
void on_reboot_signal(void (*)()) {}

}  // namespace comm::handover
