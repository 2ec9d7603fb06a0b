// The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a load
// balancer or TLS terminator sends before the client's first byte, so the
// server learns the real client address. Sans I/O: fed bytes as they
// arrive, in any split; the bytes after the header are handed back.
//
// Only a listener marked as behind a proxy gets this layer, and the comm
// layer checks the socket's peer against a TrustList before it believes a
// header (an untrusted peer could otherwise claim any address).
#pragma once

#include "transport.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace comm::proxy {

struct Header {
    int version = 0;          // 1 or 2
    // "TCP4", "TCP6", or for headers that carry no usable address
    // "UNKNOWN" (v1 UNKNOWN, v2 UNSPEC), "UNIX" (v2 AF_UNIX), "LOCAL" (v2
    // LOCAL: the proxy's own health check).
    std::string family;
    // "203.0.113.7:51000" or "[2001:db8::1]:51000", in the form
    // net::peer_name uses; empty when the family carries no address, in
    // which case the socket's own peer address stands.
    std::string source;
    std::string destination;
    bool has_address() const { return !source.empty(); }
};

struct Limits {
    // v2 length field (addresses + TLVs) accepted; the spec allows up to
    // 65535, real proxies send well under this.
    std::size_t max_v2_payload = 1024;
};

inline constexpr std::size_t kMaxV1Header = 107;  // spec: worst case incl. CRLF
inline constexpr std::size_t kV2FixedHeader = 16;

class Parser {
public:
    enum class Status { need_more, done, failed };
    explicit Parser(Limits limits = {}) : limits_(limits) {}

    // Feeds bytes from the peer. When the header completes, the bytes
    // after it in this call are appended to `rest` (they belong to the
    // layer above); later calls just pass everything to `rest`.
    Status feed(std::string_view in, std::string &rest);

    Status status() const { return status_; }
    const Header &header() const { return header_; }
    const std::string &error() const { return error_; }
    std::size_t buffered() const { return buf_.size(); }

private:
    Status check_signature();
    Status try_v1(std::string &rest);
    Status try_v2(std::string &rest);
    Status parse_v1_line(std::string_view line);
    Status parse_v2_body(std::uint8_t command, std::uint8_t family, std::string_view body);
    Status fail(std::string message);

    Limits limits_;
    Status status_ = Status::need_more;
    int version_ = 0;
    std::string buf_;
    Header header_;
    std::string error_;
};

// The layer form, for a Link's stack: handshaking until the header is
// read, then a pass-through both ways.
class ProxyLayer final : public Transport {
public:
    explicit ProxyLayer(Limits limits = {}) : parser_(limits) {}
    void receive(std::string_view in, std::string &up, std::string &down) override;
    void send(std::string_view in, std::string &down) override { down.append(in); }
    void close(std::string &) override {}
    TransportState state() const override;
    const std::string &error() const override { return parser_.error(); }
    std::size_t buffered() const override { return parser_.buffered(); }
    const char *name() const override { return "proxy"; }
    const Header &header() const { return parser_.header(); }

private:
    Parser parser_;
};

// An IPv4 or IPv6 address (IPv4 kept as such, IPv4-mapped IPv6 folded to
// IPv4 so one rule matches a dual-stack peer either way).
struct IpAddress {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4
};
// Strict numeric forms only: dotted quad without leading zeros; RFC 4291
// text for IPv6 (with "::" and a trailing dotted quad). No zone ids.
bool parse_ip(std::string_view text, IpAddress &out);
// "1.2.3.4" or RFC 5952 text ("2001:db8::1", "::ffff:1.2.3.4").
std::string format_ip(const IpAddress &ip);

// Source addresses allowed to send a PROXY header.
class TrustList {
public:
    // "127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8". False with `error` on
    // a bad entry (host bits set under the mask are an error too: a typo).
    bool add(std::string_view entry, std::string &error);
    // `peer` as net::peer_name gives it ("1.2.3.4:5", "[::1]:5") or a bare
    // address.
    bool trusts(std::string_view peer) const;
    bool empty() const { return rules_.empty(); }

private:
    struct Rule {
        IpAddress net;
        int prefix;
    };
    std::vector<Rule> rules_;
};

}  // namespace comm::proxy
