#include "proxy_protocol.h"
#include "sanitize.h"

#include <algorithm>
#include <charconv>

namespace comm::proxy {

namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

bool is_prefix(std::string_view have, std::string_view full) {
    std::size_t n = std::min(have.size(), full.size());
    return have.substr(0, n) == full.substr(0, n);
}

std::vector<std::string_view> split_spaces(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        std::size_t sp = s.find(' ', start);
        out.push_back(s.substr(start, sp - start));
        if (sp == std::string_view::npos) return out;
        start = sp + 1;
    }
}

// Decimal, 1 to 5 digits, at most `max`.
bool parse_number(std::string_view s, unsigned max, unsigned &out) {
    if (s.empty() || s.size() > 5) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && out <= max;
}

bool parse_ipv4(std::string_view s, std::uint8_t *out) {
    std::size_t start = 0;
    for (int i = 0; i < 4; ++i) {
        std::size_t dot = s.find('.', start);
        if ((i < 3) != (dot != std::string_view::npos)) return false;
        std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
        unsigned v;
        // No leading zeros: "010" would be octal to some parsers.
        if (part.size() > 3 || (part.size() > 1 && part[0] == '0') || !parse_number(part, 255, v))
            return false;
        out[i] = static_cast<std::uint8_t>(v);
        start = dot + 1;
    }
    return true;
}

bool parse_hex_group(std::string_view s, std::uint16_t &out) {
    if (s.empty() || s.size() > 4) return false;
    unsigned v = 0;
    for (char c : s) {
        int d = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0) return false;
        v = v * 16 + static_cast<unsigned>(d);
    }
    out = static_cast<std::uint16_t>(v);
    return true;
}

// Groups of one side of "::" (or of the whole address); a dotted quad may
// end the last side. Appends 16-bit words as byte pairs.
bool parse_ipv6_groups(std::string_view s, bool last, std::vector<std::uint8_t> &out) {
    if (s.empty()) return true;
    std::size_t start = 0;
    for (;;) {
        std::size_t colon = s.find(':', start);
        std::string_view g = s.substr(start, colon == std::string_view::npos ? s.npos : colon - start);
        if (colon == std::string_view::npos && last && g.find('.') != std::string_view::npos) {
            std::uint8_t v4[4];
            if (!parse_ipv4(g, v4)) return false;
            out.insert(out.end(), v4, v4 + 4);
            return true;
        }
        std::uint16_t w;
        if (!parse_hex_group(g, w)) return false;
        out.push_back(static_cast<std::uint8_t>(w >> 8));
        out.push_back(static_cast<std::uint8_t>(w & 0xff));
        if (colon == std::string_view::npos) return true;
        start = colon + 1;
    }
}

bool parse_ipv6(std::string_view s, std::uint8_t *out) {
    if (s.size() > 45) return false;
    std::size_t gap = s.find("::");
    std::vector<std::uint8_t> head, tail;
    if (gap == std::string_view::npos) {
        if (!parse_ipv6_groups(s, true, head) || head.size() != 16) return false;
    } else {
        if (s.find("::", gap + 1) != std::string_view::npos) return false;
        if (!parse_ipv6_groups(s.substr(0, gap), false, head)) return false;
        if (!parse_ipv6_groups(s.substr(gap + 2), true, tail)) return false;
        if (head.size() + tail.size() > 14) return false;  // "::" stands for at least one group
    }
    std::fill(out, out + 16, 0);
    std::copy(head.begin(), head.end(), out);
    std::copy(tail.begin(), tail.end(), out + 16 - tail.size());
    return true;
}

bool is_v4_mapped(const std::uint8_t *b) {
    static const std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::equal(prefix, prefix + 12, b);
}

std::string format_v4(const std::uint8_t *b) {
    return std::to_string(b[0]) + '.' + std::to_string(b[1]) + '.' + std::to_string(b[2]) + '.' +
           std::to_string(b[3]);
}

std::string format_v6(const std::uint8_t *b) {
    if (is_v4_mapped(b)) return "::ffff:" + format_v4(b + 12);
    std::uint16_t w[8];
    for (int i = 0; i < 8; ++i) w[i] = static_cast<std::uint16_t>(b[2 * i] << 8 | b[2 * i + 1]);
    // RFC 5952: the longest run of two or more zero groups becomes "::"
    // (the first such run on a tie).
    int best = -1, best_len = 1;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && w[j] == 0) ++j;
        if (j - i > best_len) best = i, best_len = j - i;
        i = j == i ? i + 1 : j;
    }
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            out += "::";
            i += best_len - 1;
            continue;
        }
        if (!out.empty() && out.back() != ':') out += ':';
        bool started = false;
        for (int shift = 12; shift >= 0; shift -= 4) {
            int d = (w[i] >> shift) & 15;
            if (d || started || shift == 0) out += hex[d], started = true;
        }
    }
    return out;
}

std::string with_port(const IpAddress &ip, unsigned port) {
    return ip.v6 ? "[" + format_ip(ip) + "]:" + std::to_string(port)
                 : format_ip(ip) + ":" + std::to_string(port);
}

IpAddress from_bytes(bool v6, const std::uint8_t *b) {
    IpAddress ip;
    ip.v6 = v6;
    std::copy(b, b + (v6 ? 16 : 4), ip.bytes.begin());
    return ip;
}

unsigned be16(const std::uint8_t *b) { return static_cast<unsigned>(b[0] << 8 | b[1]); }

std::string hex_byte(unsigned char c) {
    static const char hex[] = "0123456789abcdef";
    return std::string("0x") + hex[c >> 4] + hex[c & 15];
}

}  // namespace

bool parse_ip(std::string_view text, IpAddress &out) {
    IpAddress ip;
    if (text.find(':') != std::string_view::npos) {
        ip.v6 = true;
        if (!parse_ipv6(text, ip.bytes.data())) return false;
    } else if (!parse_ipv4(text, ip.bytes.data())) {
        return false;
    }
    out = ip;
    return true;
}

std::string format_ip(const IpAddress &ip) {
    return ip.v6 ? format_v6(ip.bytes.data()) : format_v4(ip.bytes.data());
}

// ---- the parser ---------------------------------------------------------

Parser::Status Parser::fail(std::string message) {
    error_ = std::move(message);
    status_ = Status::failed;
    buf_.clear();
    buf_.shrink_to_fit();
    return status_;
}

Parser::Status Parser::feed(std::string_view in, std::string &rest) {
    if (status_ == Status::done) {
        rest.append(in);
        return status_;
    }
    if (status_ == Status::failed) return status_;
    buf_.append(in);
    if (version_ == 0 && check_signature() == Status::failed) return status_;
    if (version_ == 1) return try_v1(rest);
    if (version_ == 2) return try_v2(rest);
    return status_;
}

// Decides v1 or v2 as soon as the bytes so far can only be one of them;
// anything else is not a PROXY header at all.
Parser::Status Parser::check_signature() {
    std::string_view b = buf_;
    if (is_prefix(b, kV1Prefix)) {
        if (b.size() >= kV1Prefix.size()) version_ = 1;
        return status_;
    }
    if (is_prefix(b, kV2Signature)) {
        if (b.size() >= kV2Signature.size()) version_ = 2;
        return status_;
    }
    // Quote up to the first byte that fits neither, so the message does not
    // depend on how the bytes were split into reads.
    std::size_t same = 0;
    for (std::string_view sig : {kV1Prefix, kV2Signature}) {
        std::size_t n = 0;
        while (n < b.size() && n < sig.size() && b[n] == sig[n]) ++n;
        same = std::max(same, n);
    }
    return fail("no PROXY protocol header (first bytes: \"" + escape_bytes(b.substr(0, same + 1), 16) + "\")");
}

Parser::Status Parser::try_v1(std::string &rest) {
    std::size_t limit = std::min(buf_.size(), kMaxV1Header);
    for (std::size_t i = kV1Prefix.size(); i < limit; ++i) {
        auto c = static_cast<unsigned char>(buf_[i]);
        if (c == '\r' && i + 1 >= kMaxV1Header) break;  // its LF would be byte 108
        if (c == '\r' && i + 1 < buf_.size()) {
            if (buf_[i + 1] != '\n') return fail("PROXY v1 header: CR not followed by LF");
            if (parse_v1_line(std::string_view(buf_).substr(0, i)) == Status::failed) return status_;
            rest.append(buf_, i + 2);
            buf_.clear();
            buf_.shrink_to_fit();
            return status_ = Status::done;
        }
        if (c != '\r' && (c < 0x20 || c > 0x7e))
            return fail("PROXY v1 header: non-printable byte " + hex_byte(c));
    }
    if (buf_.size() >= kMaxV1Header)
        return fail("PROXY v1 header: no CRLF within " + std::to_string(kMaxV1Header) + " bytes");
    return status_;
}

Parser::Status Parser::parse_v1_line(std::string_view line) {
    std::vector<std::string_view> f = split_spaces(line.substr(kV1Prefix.size()));
    header_.version = 1;
    if (f[0] == "UNKNOWN") {
        // The spec lets the rest of an UNKNOWN line be anything; it is ignored.
        header_.family = "UNKNOWN";
        return status_;
    }
    if (f[0] != "TCP4" && f[0] != "TCP6")
        return fail("PROXY v1 header: unknown protocol \"" + escape_bytes(f[0], 32) + "\"");
    if (f.size() != 5)
        return fail("PROXY v1 header: expected 4 fields after " + std::string(f[0]) + ", got " +
                    std::to_string(f.size() - 1));
    bool v6 = f[0] == "TCP6";
    IpAddress src, dst;
    auto bad_address = [&](std::string_view text, IpAddress &ip) { return !parse_ip(text, ip) || ip.v6 != v6; };
    auto address_error = [&](const char *what, std::string_view text) {
        return fail(std::string("PROXY v1 header: bad ") + what + " address \"" + escape_bytes(text, 32) + "\" for " +
                    std::string(f[0]));
    };
    if (bad_address(f[1], src)) return address_error("source", f[1]);
    if (bad_address(f[2], dst)) return address_error("destination", f[2]);
    unsigned sport, dport;
    if (!parse_number(f[3], 65535, sport)) return fail("PROXY v1 header: bad source port \"" + escape_bytes(f[3], 32) + "\"");
    if (!parse_number(f[4], 65535, dport)) return fail("PROXY v1 header: bad destination port \"" + escape_bytes(f[4], 32) + "\"");
    header_.family = std::string(f[0]);
    header_.source = with_port(src, sport);
    header_.destination = with_port(dst, dport);
    return status_;
}

Parser::Status Parser::try_v2(std::string &rest) {
    if (buf_.size() < kV2FixedHeader) return status_;
    auto *b = reinterpret_cast<const std::uint8_t *>(buf_.data());
    if (b[12] >> 4 != 2) return fail("PROXY v2 header: unsupported version " + std::to_string(b[12] >> 4));
    std::uint8_t command = b[12] & 15;
    if (command > 1) return fail("PROXY v2 header: unknown command " + std::to_string(command));
    std::size_t len = be16(b + 14);
    if (len > limits_.max_v2_payload)
        return fail("PROXY v2 header: length " + std::to_string(len) + " exceeds the limit of " +
                    std::to_string(limits_.max_v2_payload));
    if (buf_.size() < kV2FixedHeader + len) return status_;
    if (parse_v2_body(command, b[13], std::string_view(buf_).substr(kV2FixedHeader, len)) == Status::failed)
        return status_;
    rest.append(buf_, kV2FixedHeader + len);
    buf_.clear();
    buf_.shrink_to_fit();
    return status_ = Status::done;
}

Parser::Status Parser::parse_v2_body(std::uint8_t command, std::uint8_t family, std::string_view body) {
    header_.version = 2;
    if (command == 0) {
        // LOCAL: the proxy speaking for itself; the spec says to ignore the
        // address block whatever it holds.
        header_.family = "LOCAL";
        return status_;
    }
    auto *p = reinterpret_cast<const std::uint8_t *>(body.data());
    auto need = [&](std::size_t n, const char *what) {
        if (body.size() >= n) return true;
        fail("PROXY v2 header: length " + std::to_string(body.size()) + " too short for " + what +
             " (needs " + std::to_string(n) + ")");
        return false;
    };
    switch (family) {
    case 0x00:
        header_.family = "UNKNOWN";
        return status_;
    case 0x11:
        if (!need(12, "TCP over IPv4")) return status_;
        header_.family = "TCP4";
        header_.source = with_port(from_bytes(false, p), be16(p + 8));
        header_.destination = with_port(from_bytes(false, p + 4), be16(p + 10));
        return status_;
    case 0x21:
        if (!need(36, "TCP over IPv6")) return status_;
        header_.family = "TCP6";
        header_.source = with_port(from_bytes(true, p), be16(p + 32));
        header_.destination = with_port(from_bytes(true, p + 16), be16(p + 34));
        return status_;
    case 0x31:
        if (!need(216, "a UNIX stream socket")) return status_;
        header_.family = "UNIX";
        return status_;
    case 0x12: case 0x22: case 0x32:
        return fail("PROXY v2 header: a datagram (UDP) connection on a stream listener");
    default:
        return fail("PROXY v2 header: unknown address family/protocol " + hex_byte(family));
    }
}

// ---- the layer ------------------------------------------------------------

void ProxyLayer::receive(std::string_view in, std::string &up, std::string &) { parser_.feed(in, up); }

TransportState ProxyLayer::state() const {
    switch (parser_.status()) {
    case Parser::Status::need_more: return TransportState::handshaking;
    case Parser::Status::done: return TransportState::open;
    case Parser::Status::failed: return TransportState::failed;
    }
    return TransportState::failed;
}

// ---- trusted sources --------------------------------------------------------

namespace {

void fold_mapped(IpAddress &ip) {
    if (ip.v6 && is_v4_mapped(ip.bytes.data())) {
        std::copy(ip.bytes.begin() + 12, ip.bytes.end(), ip.bytes.begin());
        std::fill(ip.bytes.begin() + 4, ip.bytes.end(), 0);
        ip.v6 = false;
    }
}

bool prefix_matches(const IpAddress &a, const IpAddress &net, int prefix) {
    for (int bit = 0; bit < prefix; bit += 8) {
        int n = std::min(8, prefix - bit);
        auto mask = static_cast<std::uint8_t>(0xff00 >> n);
        if ((a.bytes[bit / 8] & mask) != (net.bytes[bit / 8] & mask)) return false;
    }
    return true;
}

// "1.2.3.4:5" / "[::1]:5" / bare address -> the address part.
std::string_view strip_port(std::string_view peer) {
    if (!peer.empty() && peer.front() == '[') {
        std::size_t close = peer.find(']');
        return close == std::string_view::npos ? std::string_view{} : peer.substr(1, close - 1);
    }
    std::size_t colon = peer.find(':');
    if (colon != std::string_view::npos && peer.find(':', colon + 1) == std::string_view::npos)
        return peer.substr(0, colon);
    return peer;
}

}  // namespace

bool TrustList::add(std::string_view entry, std::string &error) {
    std::size_t slash = entry.find('/');
    std::string_view addr = entry.substr(0, slash);
    IpAddress ip;
    if (!parse_ip(addr, ip)) {
        error = "not a numeric IP address: \"" + escape_bytes(addr, 64) + "\"";
        return false;
    }
    fold_mapped(ip);
    unsigned max = ip.v6 ? 128 : 32, prefix = max;
    if (slash != std::string_view::npos && !parse_number(entry.substr(slash + 1), max, prefix)) {
        error = "bad prefix length \"" + escape_bytes(entry.substr(slash + 1), 16) + "\" (0 to " +
                std::to_string(max) + ")";
        return false;
    }
    IpAddress masked = ip;
    for (unsigned bit = prefix; bit < max; ++bit)
        masked.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
    if (masked.bytes != ip.bytes) {
        error = "address has bits set beyond the /" + std::to_string(prefix) + " prefix (did you mean " +
                format_ip(masked) + "/" + std::to_string(prefix) + "?)";
        return false;
    }
    rules_.push_back({ip, static_cast<int>(prefix)});
    return true;
}

bool TrustList::trusts(std::string_view peer) const {
    IpAddress ip;
    if (!parse_ip(strip_port(peer), ip)) return false;
    fold_mapped(ip);
    for (const Rule &r : rules_)
        if (r.net.v6 == ip.v6 && prefix_matches(ip, r.net, r.prefix)) return true;
    return false;
}

}  // namespace comm::proxy
