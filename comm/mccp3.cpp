#include "mccp3.h"

#include <zlib.h>

#include <algorithm>

namespace comm {

bool Decompressor::available() { return true; }

struct Decompressor::State {
    z_stream z{};
};

Decompressor::Decompressor(Limits limits) : state_(std::make_unique<State>()), limits_(limits) {
    if (inflateInit(&state_->z) != Z_OK) {
        state_.reset();
        fail("MCCP3: cannot start zlib");
    }
}

Decompressor::~Decompressor() {
    if (state_) inflateEnd(&state_->z);
}

Decompressor::Status Decompressor::fail(std::string message) {
    error_ = std::move(message);
    if (state_) inflateEnd(&state_->z);
    state_.reset();
    return status_ = Status::failed;
}

std::size_t Decompressor::budget(std::size_t input) const {
    std::size_t by_ratio = std::max(limits_.ratio_floor, input * limits_.max_ratio);
    return std::min(limits_.max_output_per_feed, by_ratio);
}

Decompressor::Status Decompressor::feed(std::string_view in, std::string &out, std::string &after) {
    if (status_ == Status::ended) {
        after.append(in);
        return status_;
    }
    if (status_ == Status::failed || in.empty()) return status_;
    z_stream &z = state_->z;
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    const std::size_t limit = budget(in.size());
    std::string plain;
    char buf[16384];
    for (;;) {
        z.next_out = reinterpret_cast<Bytef *>(buf);
        z.avail_out = sizeof buf;
        int rc = inflate(&z, Z_NO_FLUSH);
        plain.append(buf, sizeof buf - z.avail_out);
        if (plain.size() > limit)
            return fail("MCCP3: decompression bomb: " + std::to_string(in.size()) +
                        " compressed bytes inflate to more than " + std::to_string(limit) + " bytes");
        if (rc == Z_STREAM_END) {
            std::size_t used = in.size() - z.avail_in;
            after.append(in.substr(used));
            inflateEnd(&z);
            state_.reset();
            status_ = Status::ended;
            break;
        }
        if (rc == Z_OK && z.avail_out == 0) continue;  // more output may be pending
        // Output space left over: zlib used all the input (Z_OK), or could
        // make no progress without more (Z_BUF_ERROR). Wait for the next read.
        if (rc == Z_OK || rc == Z_BUF_ERROR) break;
        std::string why = z.msg ? z.msg : rc == Z_NEED_DICT ? "needs a preset dictionary" : "error " + std::to_string(rc);
        return fail("MCCP3: bad compressed input (zlib: " + why + ")");
    }
    in_ += in.size();
    out_ += plain.size();
    out.append(plain);
    return status_;
}

}  // namespace comm
