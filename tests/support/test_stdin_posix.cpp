#include "test_stdin.h"

#include <unistd.h>

namespace ts {

StdinPipe::StdinPipe() {
    int fds[2];
    if (pipe(fds) < 0) return;
    saved_ = dup(STDIN_FILENO);
    ok_ = saved_ >= 0 && dup2(fds[0], STDIN_FILENO) >= 0;
    close(fds[0]);
    writer_ = fds[1];
}

StdinPipe::~StdinPipe() {
    close_writer();
    if (saved_ >= 0) {
        dup2(static_cast<int>(saved_), STDIN_FILENO);
        close(static_cast<int>(saved_));
    }
}

bool StdinPipe::type(std::string_view text) {
    while (!text.empty()) {
        ssize_t n = write(static_cast<int>(writer_), text.data(), text.size());
        if (n <= 0) return false;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

void StdinPipe::close_writer() {
    if (writer_ >= 0) close(static_cast<int>(writer_));
    writer_ = -1;
}

}  // namespace ts
