// What every target shares: a reader that turns the fuzzer's bytes into
// decisions (never reading past the end: an exhausted input reads as zeros,
// so every input is a valid program), chunkings derived from the input, a
// check that reports and aborts (assert() vanishes under NDEBUG, and the
// replay build in the normal suite is a release build), and the tests the
// targets' invariants have in common.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond, ...)                                                        \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n  ", __FILE__, __LINE__, \
                         #cond);                                                     \
            std::fprintf(stderr, __VA_ARGS__);                                       \
            std::fprintf(stderr, "\n");                                              \
            std::abort();                                                            \
        }                                                                            \
    } while (0)

namespace fuzz {

// A small deterministic generator for chunk sizes, seeded from the input.
class Rng {
public:
    explicit Rng(std::uint32_t seed) : s_(seed * 2654435761u + 0x9E3779B9u) {}
    std::uint32_t next() {
        s_ ^= s_ << 13;
        s_ ^= s_ >> 17;
        s_ ^= s_ << 5;
        return s_;
    }

private:
    std::uint32_t s_;
};

// Split points for `size` bytes: every chunk is 1..max_chunk bytes long.
inline std::vector<std::size_t> chunk_sizes(std::size_t size, std::uint32_t seed,
                                            std::size_t max_chunk) {
    std::vector<std::size_t> out;
    Rng rng(seed);
    for (std::size_t at = 0; at < size;) {
        std::size_t n = 1 + rng.next() % max_chunk;
        if (n > size - at) n = size - at;
        out.push_back(n);
        at += n;
    }
    return out;
}

// How a target cuts its bytes into reads (or writes), as the input chose.
struct Chunking {
    std::uint32_t seed;
    std::size_t max_chunk;
    std::vector<std::size_t> sizes(std::size_t size) const { return chunk_sizes(size, seed, max_chunk); }
};

class Input {
public:
    Input(const std::uint8_t *data, std::size_t size) : p_(data), left_(size) {}

    std::size_t left() const { return left_; }
    bool empty() const { return left_ == 0; }

    std::uint8_t byte() {
        if (!left_) return 0;
        --left_;
        return *p_++;
    }
    std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | byte() << 8); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(u16() | std::uint32_t(u16()) << 16); }
    bool flag() { return byte() & 1; }
    // A value in [lo, hi]; small ranges take one byte so mutations stay local.
    std::size_t range(std::size_t lo, std::size_t hi) {
        std::size_t span = hi - lo + 1;
        std::size_t v = span <= 256 ? byte() : span <= 65536 ? u16() : u32();
        return lo + v % span;
    }
    // Up to n bytes (fewer if the input ends).
    std::string_view take(std::size_t n) {
        if (n > left_) n = left_;
        std::string_view s(reinterpret_cast<const char *>(p_), n);
        p_ += n;
        left_ -= n;
        return s;
    }
    std::string_view rest() { return take(left_); }
    // A seed, then a largest chunk in [1, largest] (the order seeds rely on).
    Chunking chunking(std::size_t largest) {
        std::uint32_t seed = u32();
        return {seed, range(1, largest)};
    }

private:
    const std::uint8_t *p_;
    std::size_t left_;
};

// True if every byte shows as itself in a log or a terminal: no control
// bytes, nothing past '~' (what every error message must be).
inline bool printable(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c > 0x7e) return false;
    return true;
}

// A printable excerpt of bytes for failure messages.
inline std::string show(std::string_view s, std::size_t max = 80) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < max; ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 32 && c < 127 && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (s.size() > max) out += "...";
    return out;
}

}  // namespace fuzz
