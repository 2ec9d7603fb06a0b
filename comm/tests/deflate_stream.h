// The client's side of a zlib stream (MCCP3 input), for the unit tests and
// the mccp3 fuzz target: what a real client would send.
#pragma once

#include <zlib.h>

#include <string>
#include <string_view>

namespace comm::test_support {

// One stream; each compress() is flushed (Z_SYNC_FLUSH) so the server can
// inflate it at once, or finishes the stream.
class DeflateStream {
public:
    explicit DeflateStream(int level = Z_DEFAULT_COMPRESSION) { ok_ = deflateInit(&z_, level) == Z_OK; }
    ~DeflateStream() { deflateEnd(&z_); }
    DeflateStream(const DeflateStream &) = delete;
    DeflateStream &operator=(const DeflateStream &) = delete;

    bool ok() const { return ok_; }

    std::string compress(std::string_view plain, bool finish = false) {
        z_.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(plain.data()));
        z_.avail_in = static_cast<uInt>(plain.size());
        std::string out;
        char buf[4096];
        int rc;
        do {
            z_.next_out = reinterpret_cast<Bytef *>(buf);
            z_.avail_out = sizeof buf;
            rc = deflate(&z_, finish ? Z_FINISH : Z_SYNC_FLUSH);
            out.append(buf, sizeof buf - z_.avail_out);
        } while (z_.avail_out == 0 || (finish && rc != Z_STREAM_END));
        return out;
    }

private:
    z_stream z_{};
    bool ok_ = false;
};

// A whole stream in one piece, finished or only flushed.
inline std::string deflate_all(std::string_view plain, bool finish = true, int level = Z_DEFAULT_COMPRESSION) {
    DeflateStream stream(level);
    return stream.compress(plain, finish);
}

}  // namespace comm::test_support
