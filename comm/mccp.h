// MCCP2: once the client agrees, everything the server sends is one zlib
// (deflate) stream. Each write is flushed with Z_SYNC_FLUSH so the client
// can show it at once; finish() ends the stream cleanly (Z_FINISH).
//
// A client may turn MCCP2 on and off; restart() begins a new stream on the
// same deflate state (deflateReset), which costs a fraction of a fresh
// deflateInit and its ~256 KiB allocation. Whoever owns a finished
// Compressor decides how long to keep it for that (comm.cpp frees it soon).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace comm {

class Compressor {
public:
    Compressor();
    ~Compressor();
    Compressor(const Compressor &) = delete;
    Compressor &operator=(const Compressor &) = delete;

    // False in a build without zlib (mccp_none.cpp): MCCP2 is then not offered.
    static bool available();
    bool ok() const { return state_ != nullptr; }
    // Compressed bytes for `data`, flushed so the peer can decode them now.
    std::string compress(std::string_view data);
    // The end of the stream; compress() returns nothing until restart().
    std::string finish();
    // A new stream after finish(), reusing the state. False if unusable.
    bool restart();
    // Input bytes seen / output bytes produced, for the stats.
    std::size_t bytes_in() const { return in_; }
    std::size_t bytes_out() const { return out_; }

private:
    std::string run(std::string_view data, int flush);
    struct State;
    std::unique_ptr<State> state_;
    std::size_t in_ = 0, out_ = 0;
    bool finished_ = false;
};

}  // namespace comm
