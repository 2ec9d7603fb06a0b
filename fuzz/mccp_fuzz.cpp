// The MCCP2 compressor (comm/mccp.h) on arbitrary data in arbitrary
// writes. Invariants: after every compress() the bytes so far inflate to
// exactly the input so far (Z_SYNC_FLUSH: a client can show each write at
// once); finish() ends the stream cleanly (Z_STREAM_END at the last byte,
// nothing after it); the byte counters match; a finished compressor gives
// nothing more.
#include "fuzz_input.h"
#include "mccp.h"

#include <zlib.h>

#include <string>

namespace {

class Inflater {
public:
    Inflater() { FUZZ_CHECK(inflateInit(&z_) == Z_OK, "inflateInit"); }
    ~Inflater() { inflateEnd(&z_); }

    // Inflates everything in `in`; returns zlib's last result.
    int feed(std::string_view in, std::string &out) {
        z_.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
        z_.avail_in = static_cast<uInt>(in.size());
        int rc = Z_OK;
        char buf[4096];
        do {
            z_.next_out = reinterpret_cast<Bytef *>(buf);
            z_.avail_out = sizeof buf;
            rc = inflate(&z_, Z_SYNC_FLUSH);
            out.append(buf, sizeof buf - z_.avail_out);
        } while (rc == Z_OK && (z_.avail_in > 0 || z_.avail_out == 0));
        return rc;
    }
    std::size_t unused() const { return z_.avail_in; }

private:
    z_stream z_{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 1 << 16) return 0;
    fuzz::Input in(data, size);
    fuzz::Chunking writes = in.chunking(4096);
    std::string_view text = in.rest();

    comm::Compressor z;
    FUZZ_CHECK(z.ok(), "the compressor did not start");
    Inflater inf;
    std::string plain, out_total;
    fuzz::Rng rng(writes.seed);
    std::size_t at = 0;
    // Empty writes too: a flush with nothing new must still decode.
    while (at < text.size() || rng.next() % 4 == 0) {
        std::size_t n = std::min<std::size_t>(text.size() - at, rng.next() % (writes.max_chunk + 1));
        std::string piece = z.compress(text.substr(at, n));
        at += n;
        out_total += piece;
        int rc = inf.feed(piece, plain);
        FUZZ_CHECK(rc == Z_OK || rc == Z_BUF_ERROR, "inflate says %d mid-stream", rc);
        FUZZ_CHECK(plain.size() == at && plain == text.substr(0, at),
                   "after %zu bytes in, %zu bytes inflate (flushed output is not all there)", at,
                   plain.size());
        if (at == text.size()) break;
    }
    std::string tail = z.finish();
    out_total += tail;
    int rc = inf.feed(tail, plain);
    FUZZ_CHECK(rc == Z_STREAM_END, "the finished stream does not end (inflate says %d)", rc);
    FUZZ_CHECK(inf.unused() == 0, "%zu bytes after the end of the stream", inf.unused());
    FUZZ_CHECK(plain == text, "round trip lost or changed bytes");
    FUZZ_CHECK(z.bytes_in() == text.size() && z.bytes_out() == out_total.size(),
               "counters %zu/%zu, expected %zu/%zu", z.bytes_in(), z.bytes_out(), text.size(),
               out_total.size());
    FUZZ_CHECK(z.compress("more").empty() && z.finish().empty(), "a finished compressor still gives output");
    return 0;
}
