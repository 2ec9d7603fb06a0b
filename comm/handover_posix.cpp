#include "handover.h"

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

namespace comm::handover {

namespace {

void (*g_reboot)() = nullptr;

void handle_signal(int) {
    int saved = errno;
    if (g_reboot) g_reboot();
    errno = saved;
}

std::string sys_error(const char *what) { return std::string(what) + ": " + std::strerror(errno); }

// The state goes in an anonymous file (a pipe would block the writer past
// 64 KiB before the child reads); CLOEXEC until the child clears it.
int state_file(const std::string &state, std::string &error) {
#ifdef MFD_CLOEXEC
    int fd = memfd_create("ior-mud-state", MFD_CLOEXEC);
#else
    int fd = -1;
    errno = ENOSYS;
#endif
    if (fd < 0) {
        char path[] = "/tmp/ior-mud-state-XXXXXX";
        fd = mkstemp(path);
        if (fd < 0) return error = sys_error("state file"), -1;
        unlink(path);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    std::size_t done = 0;
    while (done < state.size()) {
        ssize_t n = ::write(fd, state.data() + done, state.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            error = sys_error("writing the state");
            ::close(fd);
            return -1;
        }
        done += static_cast<std::size_t>(n);
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

// Waits for "adopted\n" on `fd` until `deadline`; "" on success, else why.
std::string await_report(int fd, pid_t child, std::chrono::steady_clock::time_point deadline) {
    std::string got;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return "the new process did not report adoption in time";
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return sys_error("poll");
        if (r == 0) continue;
        char buf[64];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
            got.append(buf, static_cast<std::size_t>(n));
            if (got.find("adopted\n") != std::string::npos) return {};
            if (got.size() > 256) return "the new process reported nonsense";
            continue;
        }
        // EOF: the child exited (or closed the pipe) without adopting.
        int status = 0;
        if (waitpid(child, &status, 0) == child) {
            if (WIFEXITED(status)) {
                int code = WEXITSTATUS(status);
                return "the new process exited with status " + std::to_string(code) +
                       (code == 127 ? " (it could not exec the binary)" : "");
            }
            if (WIFSIGNALED(status)) return "the new process died of signal " + std::to_string(WTERMSIG(status));
        }
        return "the new process closed its report pipe without adopting";
    }
}

}  // namespace

bool supported() { return true; }
const char *unsupported_why() { return ""; }

std::string self_exe(const char *argv0) {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) return std::string(buf, static_cast<std::size_t>(n));
    if (argv0 && realpath(argv0, buf)) return buf;
    return argv0 ? argv0 : "";
}

namespace {

// A test hook (comm/tests/reboot_integration.py): IOR_MUD_REBOOT_FAULT=
// corrupt|newer spoils the state the successor gets, so the refusal path
// runs against a real server. Unset in production; it changes nothing else.
std::string faulty(const std::string &state) {
    const char *fault = std::getenv("IOR_MUD_REBOOT_FAULT");
    if (!fault || state.size() < 32) return state;
    std::string s = state;
    if (std::strcmp(fault, "corrupt") == 0) s[s.size() / 2] = static_cast<char>(s[s.size() / 2] ^ 0x5a);
    if (std::strcmp(fault, "newer") == 0) s[8] = static_cast<char>(s[8] + 1);
    return s;
}

}  // namespace

bool test_keep_links() {
    const char *fault = std::getenv("IOR_MUD_REBOOT_FAULT");
    return fault && std::strcmp(fault, "links") == 0;
}

long self_pid() { return static_cast<long>(getpid()); }

bool run_successor(const std::string &exe, const std::vector<std::string> &args, const std::string &state_in,
                   const std::vector<socket_fd_t> &fds, std::chrono::milliseconds timeout, std::string &error) {
    const std::string state = faulty(state_in);
    int state_fd = state_file(state, error);
    if (state_fd < 0) return false;
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        error = sys_error("pipe");
        ::close(state_fd);
        return false;
    }
    // Everything the child needs is built before fork: after it, only
    // async-signal-safe calls.
    std::vector<std::string> argv_s = args;
    argv_s.insert(argv_s.begin(), exe);
    argv_s.push_back("--adopt-state");
    argv_s.push_back(std::to_string(state_fd));
    argv_s.push_back("--adopt-report");
    argv_s.push_back(std::to_string(report[1]));
    std::vector<char *> argv;
    for (auto &a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<int> inherit(fds.begin(), fds.end());
    inherit.push_back(state_fd);
    inherit.push_back(report[1]);

    pid_t child = fork();
    if (child < 0) {
        error = sys_error("fork");
        ::close(state_fd), ::close(report[0]), ::close(report[1]);
        return false;
    }
    if (child == 0) {
        for (int fd : inherit) fcntl(fd, F_SETFD, 0);
        // A reboot signal before the new process has its handlers would
        // kill it (the default action); ignored meanwhile, the ignoring
        // survives exec until Comm::start installs the handlers.
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        sigaction(SIGUSR1, &ign, nullptr);
        sigaction(SIGHUP, &ign, nullptr);
        // Signals the old process ignores (SIGPIPE) stay ignored across exec;
        // its handlers do not survive exec anyway.
        execv(argv[0], argv.data());
        _exit(127);
    }
    ::close(state_fd);
    ::close(report[1]);
    std::string why = await_report(report[0], child, std::chrono::steady_clock::now() + timeout);
    ::close(report[0]);
    if (why.empty()) {
        waitpid(child, nullptr, WNOHANG);
        return true;
    }
    if (waitpid(child, nullptr, WNOHANG) == 0) {
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
    }
    error = why;
    return false;
}

bool read_state(long fd, std::size_t limit, std::string &out, std::string &error) {
    if (fd < 0 || fd > INT_MAX) return error = "bad state fd", false;
    int f = static_cast<int>(fd);
    out.clear();
    char buf[65536];
    while (true) {
        ssize_t n = ::read(f, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = sys_error("reading the state");
            ::close(f);
            return false;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > limit) {
            error = "state file: larger than " + std::to_string(limit) + " bytes";
            ::close(f);
            return false;
        }
    }
    ::close(f);
    return true;
}

void report_adopted(long fd) {
    if (fd < 0 || fd > INT_MAX) return;
    const char msg[] = "adopted\n";
    ssize_t n;
    do n = ::write(static_cast<int>(fd), msg, sizeof msg - 1);
    while (n < 0 && errno == EINTR);
    ::close(static_cast<int>(fd));
}

void keep_private(socket_fd_t fd) { fcntl(fd, F_SETFD, FD_CLOEXEC); }

void on_reboot_signal(void (*on_reboot)()) {
    g_reboot = on_reboot;
    struct sigaction sa {};
    sa.sa_handler = handle_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the wait must return
    sigaction(SIGUSR1, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
}

}  // namespace comm::handover
