// MCCP3 inflate (comm/mccp3.h). Two modes, chosen by the first byte:
//  - arbitrary bytes as the client's "compressed" stream, in arbitrary
//    reads: no read's output passes its budget; a failure passes nothing on
//    and leaves a printable error; once ended, everything goes to `after`.
//  - a real client stream (the input deflated, flushed or finished, then
//    plain bytes): under lax limits it inflates to exactly the input, and
//    the bytes after the stream's end come back unchanged, whatever the split.
#include "../comm/tests/deflate_stream.h"
#include "fuzz_input.h"
#include "mccp3.h"

#include <zlib.h>

#include <algorithm>
#include <string>

using comm::Decompressor;

namespace {

using comm::test_support::deflate_all;

void arbitrary(fuzz::Input &in, const fuzz::Chunking &reads) {
    Decompressor::Limits limits{in.range(1, 1 << 18), in.range(1, 1100), in.range(0, 1 << 16)};
    std::string_view bytes = in.rest();
    Decompressor d(limits);
    std::string out, after;
    std::size_t at = 0;
    for (std::size_t n : reads.sizes(bytes.size())) {
        auto was = d.status();
        std::size_t out_before = out.size(), after_before = after.size();
        d.feed(bytes.substr(at, n), out, after);
        at += n;
        std::size_t budget = std::min(limits.max_output_per_feed, std::max(limits.ratio_floor, n * limits.max_ratio));
        FUZZ_CHECK(out.size() - out_before <= budget, "one read of %zu gave %zu bytes (budget %zu)", n,
                   out.size() - out_before, budget);
        if (was == Decompressor::Status::ended)
            FUZZ_CHECK(after.size() - after_before == n && out.size() == out_before, "input after the end lost");
        if (d.status() == Decompressor::Status::failed) {
            FUZZ_CHECK(out.size() == out_before && after.size() == after_before, "a failing read passed bytes on");
            FUZZ_CHECK(!d.error().empty(), "failed without a reason");
            FUZZ_CHECK(fuzz::printable(d.error()), "raw byte in the error: %s", fuzz::show(d.error()).c_str());
        }
    }
    FUZZ_CHECK(d.status() == Decompressor::Status::failed || d.bytes_out() == out.size(), "bytes_out %zu vs %zu",
               d.bytes_out(), out.size());
}

void round_trip(fuzz::Input &in, const fuzz::Chunking &reads) {
    bool finish = in.flag();
    std::size_t text_len = in.range(0, 4096);
    std::string_view text = in.take(text_len);
    std::string_view trailer = finish ? in.rest() : std::string_view{};
    std::string stream = deflate_all(text, finish) + std::string(trailer);
    Decompressor d({1 << 30, 1 << 20, 1 << 30});
    std::string out, after;
    std::size_t at = 0;
    for (std::size_t n : reads.sizes(stream.size())) {
        d.feed(std::string_view(stream).substr(at, n), out, after);
        at += n;
        FUZZ_CHECK(d.status() != Decompressor::Status::failed, "a real stream failed: %s", d.error().c_str());
    }
    FUZZ_CHECK(out == text, "inflated %zu bytes, expected %zu", out.size(), text.size());
    FUZZ_CHECK(after == trailer, "bytes after the stream changed");
    FUZZ_CHECK((d.status() == Decompressor::Status::ended) == finish, "end of stream not seen (or seen early)");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 1 << 16) return 0;
    fuzz::Input in(data, size);
    bool real = in.flag();
    fuzz::Chunking reads = in.chunking(4096);
    if (real)
        round_trip(in, reads);
    else
        arbitrary(in, reads);
    return 0;
}
