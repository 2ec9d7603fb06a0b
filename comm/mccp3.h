// MCCP3 (telnet option 87): client-to-server compression. After the
// server's WILL MCCP3 and the client's DO, the client sends
// IAC SB MCCP3 IAC SE and everything it sends after that is one zlib
// stream, until the stream ends (Z_STREAM_END), when plain telnet resumes.
//
// The Decompressor inflates that stream, sans I/O. The risk is the
// client's: a few bytes can inflate to megabytes (a decompression bomb),
// so every feed() has an output budget, the smaller of an absolute cap and
// a ratio of the bytes fed (with a floor, so short legal chunks pass); past
// it the stream fails with a reason and the link is to be dropped. Memory
// is zlib's inflate state and window (about 44 KiB) plus one read's budget.
//
// Wiring (later, in telnet.cpp/comm.cpp): Telnet::feed stops right after
// the IAC SE of SB MCCP3 and reports how many bytes it used; the rest of
// that read, and every later read, goes through feed() here; `out` goes to
// Telnet::feed, and once the stream ends `after` does, and input is plain
// again.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace comm {

class Decompressor {
public:
    struct Limits {
        std::size_t max_output_per_feed = 256 * 1024;  // absolute, per chunk fed
        std::size_t max_ratio = 50;                    // output per input byte...
        std::size_t ratio_floor = 16 * 1024;           // ...once past this much output
    };
    enum class Status { inflating, ended, failed };

    explicit Decompressor(Limits limits);
    Decompressor() : Decompressor(Limits{}) {}
    ~Decompressor();
    Decompressor(const Decompressor &) = delete;
    Decompressor &operator=(const Decompressor &) = delete;

    // False in a build without zlib: MCCP3 is then not offered.
    static bool available();

    // Inflates `in` and appends the plain bytes to `out`. If the stream ends
    // inside `in`, the bytes after its end are appended to `after` (they are
    // plain telnet again) and the status becomes `ended`; after that, all
    // input goes to `after`. On `failed`, nothing of this chunk reaches
    // `out` and later input is ignored.
    Status feed(std::string_view in, std::string &out, std::string &after);

    Status status() const { return status_; }
    const std::string &error() const { return error_; }
    std::size_t bytes_in() const { return in_; }
    std::size_t bytes_out() const { return out_; }

private:
    Status fail(std::string message);
    std::size_t budget(std::size_t input) const;

    struct State;
    std::unique_ptr<State> state_;
    Limits limits_;
    Status status_ = Status::inflating;
    std::string error_;
    std::size_t in_ = 0, out_ = 0;
};

}  // namespace comm
