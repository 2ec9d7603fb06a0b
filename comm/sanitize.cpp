#include "sanitize.h"

#include <cstdint>

namespace comm {

namespace {

bool continuation(std::string_view s, std::size_t i) {
    return i < s.size() && (static_cast<std::uint8_t>(s[i]) & 0xC0) == 0x80;
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs,
// no surrogates, nothing past U+10FFFF), or 0 if there is none.
std::size_t utf8_length(std::string_view s, std::size_t i) {
    auto at = [&](std::size_t k) { return static_cast<std::uint8_t>(s[i + k]); };
    std::uint8_t c = at(0);
    std::size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    for (std::size_t k = 1; k < len; ++k)
        if (!continuation(s, i + k)) return 0;
    if (len == 3 && ((c == 0xE0 && at(1) < 0xA0) || (c == 0xED && at(1) > 0x9F))) return 0;
    if (len == 4 && ((c == 0xF0 && at(1) < 0x90) || (c == 0xF4 && at(1) > 0x8F))) return 0;
    return len;
}

// Walks `s`, handing printable runs to keep(view) and each control byte to
// control(byte). A C1 control written in UTF-8 (C2 80..C2 9F) is two
// control bytes.
template <typename Keep, typename Control>
void walk(std::string_view s, Keep keep, Control control) {
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<std::uint8_t>(s[i]);
        std::size_t len = c < 0x80 ? 1 : utf8_length(s, i);
        bool is_control = c < 0x20 || c == 0x7F ||
                          (len == 0 && c < 0xA0) ||  // a lone C1 byte (Latin-1)
                          (c == 0xC2 && len == 2 && static_cast<std::uint8_t>(s[i + 1]) < 0xA0);
        if (len == 0) len = 1;  // a lone byte 0xA0-0xFF: a Latin-1 letter
        if (is_control)
            for (std::size_t k = 0; k < len; ++k) control(static_cast<std::uint8_t>(s[i + k]));
        else
            keep(s.substr(i, len));
        i += len;
    }
}

void append_hex(std::string &out, std::uint8_t c) {
    static const char hex[] = "0123456789abcdef";
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 15];
}

}  // namespace

std::string clean_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    walk(text, [&](std::string_view k) { out += k; },
         [&](std::uint8_t c) { if (c == '\t') out += ' '; });
    return out;
}

std::string escape_controls(std::string_view line) {
    std::string out;
    out.reserve(line.size());
    walk(line, [&](std::string_view k) { out += k; }, [&](std::uint8_t c) { append_hex(out, c); });
    return out;
}

std::string escape_bytes(std::string_view bytes, std::size_t max) {
    std::string out;
    for (char ch : bytes.substr(0, max)) {
        auto c = static_cast<std::uint8_t>(ch);
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out += ch;
        else
            append_hex(out, c);
    }
    if (bytes.size() > max) out += "...";
    return out;
}

}  // namespace comm
