// The line assembler (comm/line_buffer.h) fed arbitrary data bytes in
// arbitrary chunkings. Invariants: a line never exceeds the cap and holds
// no CR, LF or NUL; a line flagged as cut is exactly the cap long; what is
// pending stays within the cap; no more line bytes come out than went in;
// and the lines are the same for every chunking, and the same as an
// independent reading of the documented rules.
#include "fuzz_input.h"
#include "line_buffer.h"

#include <string>
#include <utility>
#include <vector>

namespace {

using Lines = std::vector<std::pair<std::string, bool>>;

// The documented rules, written out plainly: a line ends at CR, LF, CR LF
// or CR NUL; BS/DEL erase (not past a cut); stray NULs are dropped; past
// the cap the rest of the line is dropped and the line is flagged.
Lines reference(std::string_view in, std::size_t cap, std::string &pending) {
    Lines out;
    std::string cur;
    bool cut = false, after_cr = false;
    for (char c : in) {
        if (after_cr && (c == '\n' || c == '\0')) {
            after_cr = false;
            continue;
        }
        after_cr = false;
        if (c == '\r' || c == '\n') {
            out.emplace_back(cur, cut);
            cur.clear();
            cut = false;
            after_cr = c == '\r';
        } else if (c == '\b' || c == '\x7f') {
            if (!cur.empty() && !cut) cur.pop_back();
        } else if (c != '\0') {
            if (cur.size() < cap) cur += c;
            else cut = true;
        }
    }
    pending = cur;
    return out;
}

Lines run(std::string_view in, std::size_t cap, std::size_t max_chunk, std::uint32_t seed,
          std::size_t &pending) {
    comm::LineBuffer buf(cap);
    Lines out;
    fuzz::Rng rng(seed);
    for (std::size_t at = 0; at < in.size();) {
        std::size_t n = max_chunk ? std::min<std::size_t>(in.size() - at, 1 + rng.next() % max_chunk)
                                  : in.size() - at;
        buf.feed(in.substr(at, n), [&](std::string_view line, bool cut) {
            FUZZ_CHECK(line.size() <= cap, "line of %zu bytes > cap %zu", line.size(), cap);
            FUZZ_CHECK(!cut || line.size() == cap, "cut line of %zu bytes, cap %zu", line.size(), cap);
            FUZZ_CHECK(line.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos,
                       "line holds CR, LF or NUL: %s", fuzz::show(line).c_str());
            out.emplace_back(std::string(line), cut);
        });
        FUZZ_CHECK(buf.pending() <= cap, "pending %zu > cap %zu", buf.pending(), cap);
        at += n;
    }
    pending = buf.pending();
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 8192) return 0;
    fuzz::Input in(data, size);
    std::size_t cap = in.range(1, 80);
    std::uint32_t seed = in.u32();
    std::string_view bytes = in.rest();

    std::string want_pending;
    Lines want = reference(bytes, cap, want_pending);
    std::size_t total = 0;
    for (const auto &[line, cut] : want) total += line.size();
    FUZZ_CHECK(total <= bytes.size(), "more line bytes out than in");

    const std::size_t chunkings[] = {0, 1, 3, 64};
    for (std::size_t max_chunk : chunkings) {
        std::size_t pending = 0;
        Lines got = run(bytes, cap, max_chunk, seed, pending);
        FUZZ_CHECK(got.size() == want.size(), "%zu lines, expected %zu (chunks of up to %zu)",
                   got.size(), want.size(), max_chunk);
        for (std::size_t i = 0; i < got.size(); ++i)
            FUZZ_CHECK(got[i] == want[i], "line %zu is '%s' (cut %d), expected '%s' (cut %d)", i,
                       fuzz::show(got[i].first).c_str(), got[i].second,
                       fuzz::show(want[i].first).c_str(), want[i].second);
        FUZZ_CHECK(pending == want_pending.size(), "pending %zu, expected %zu", pending,
                   want_pending.size());
    }
    return 0;
}
