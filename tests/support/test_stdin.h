// Replaces this process's standard input with a pipe for the lifetime of
// the object, so a test can type at io_reactor_add_console. Restores the
// original stdin on destruction.
#pragma once

#include <string_view>

namespace ts {

class StdinPipe {
public:
    StdinPipe();
    ~StdinPipe();
    StdinPipe(const StdinPipe &) = delete;
    StdinPipe &operator=(const StdinPipe &) = delete;

    bool ok() const { return ok_; }
    bool type(std::string_view text);  // writes all of it
    void close_writer();               // the console's EOF

private:
    bool ok_ = false;
    long long saved_ = -1;   // the original stdin (fd or HANDLE)
    long long writer_ = -1;  // our end of the pipe
};

}  // namespace ts
