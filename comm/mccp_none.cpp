// The compressor in a build without zlib: never available, so the telnet
// layer does not offer MCCP2 and nothing here is ever asked to compress.
#include "mccp.h"

namespace comm {

struct Compressor::State {};

bool Compressor::available() { return false; }
Compressor::Compressor() = default;
Compressor::~Compressor() = default;
std::string Compressor::run(std::string_view, int) { return {}; }
std::string Compressor::compress(std::string_view) { return {}; }
std::string Compressor::finish() { return {}; }
bool Compressor::restart() { return false; }

}  // namespace comm
