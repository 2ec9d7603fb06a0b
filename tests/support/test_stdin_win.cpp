#include "test_stdin.h"

#include <windows.h>

namespace ts {

static HANDLE as_handle(long long h) { return reinterpret_cast<HANDLE>(static_cast<intptr_t>(h)); }
static long long from_handle(HANDLE h) { return static_cast<long long>(reinterpret_cast<intptr_t>(h)); }

StdinPipe::StdinPipe() {
    HANDLE reader, writer;
    if (!CreatePipe(&reader, &writer, nullptr, 0)) return;
    saved_ = from_handle(GetStdHandle(STD_INPUT_HANDLE));
    writer_ = from_handle(writer);
    ok_ = SetStdHandle(STD_INPUT_HANDLE, reader) != 0;
}

StdinPipe::~StdinPipe() {
    close_writer();
    HANDLE reader = GetStdHandle(STD_INPUT_HANDLE);
    SetStdHandle(STD_INPUT_HANDLE, as_handle(saved_));
    if (ok_) CloseHandle(reader);
}

bool StdinPipe::type(std::string_view text) {
    while (!text.empty()) {
        DWORD n = 0;
        if (!WriteFile(as_handle(writer_), text.data(), static_cast<DWORD>(text.size()), &n, nullptr) || n == 0)
            return false;
        text.remove_prefix(n);
    }
    return true;
}

void StdinPipe::close_writer() {
    if (writer_ != -1) CloseHandle(as_handle(writer_));
    writer_ = -1;
}

}  // namespace ts
