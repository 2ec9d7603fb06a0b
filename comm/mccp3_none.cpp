// MCCP3 in a build without zlib: never available, so the telnet layer does
// not offer it and no Decompressor is ever fed.
#include "mccp3.h"

namespace comm {

struct Decompressor::State {};

bool Decompressor::available() { return false; }
Decompressor::Decompressor(Limits limits) : limits_(limits) { fail("MCCP3: not built with zlib"); }
Decompressor::~Decompressor() = default;
Decompressor::Status Decompressor::fail(std::string message) {
    error_ = std::move(message);
    return status_ = Status::failed;
}
std::size_t Decompressor::budget(std::size_t) const { return 0; }
Decompressor::Status Decompressor::feed(std::string_view, std::string &, std::string &) { return status_; }

}  // namespace comm
