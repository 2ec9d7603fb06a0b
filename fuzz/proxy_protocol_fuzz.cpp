// The PROXY protocol header parser (comm/proxy_protocol.h) and the trust
// list, on arbitrary bytes in arbitrary reads. Invariants: the result does
// not depend on how the bytes were split; a parsed header plus the bytes
// handed on is a prefix split of the input (nothing lost, nothing made up);
// the parser never holds more than the spec's bounds; errors are never
// empty and never carry raw control bytes; an address it reports parses
// back to itself; a trust rule it accepts trusts its own network address.
#include "fuzz_input.h"
#include "proxy_protocol.h"

#include <algorithm>
#include <string>

using namespace comm::proxy;

namespace {

void check_address(const std::string &peer) {
    if (peer.empty()) return;
    std::string host = peer.substr(0, peer.rfind(':'));
    if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
    IpAddress ip;
    FUZZ_CHECK(parse_ip(host, ip), "reported address %s does not parse", fuzz::show(peer).c_str());
    FUZZ_CHECK(format_ip(ip) == host, "address %s is not in canonical form", fuzz::show(peer).c_str());
}

void check_trust(std::string_view entry) {
    TrustList t;
    std::string error;
    if (!t.add(entry, error)) {
        FUZZ_CHECK(!error.empty() && fuzz::printable(error) && t.empty(), "bad trust error %s", fuzz::show(error).c_str());
        return;
    }
    std::string_view addr = entry.substr(0, entry.find('/'));
    FUZZ_CHECK(t.trusts(addr), "rule %s does not trust its own address", fuzz::show(entry).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 1 << 16) return 0;
    fuzz::Input in(data, size);
    fuzz::Chunking reads = in.chunking(64);
    Limits limits{in.range(0, 2048)};
    std::size_t trust_len = in.range(0, 48);
    check_trust(in.take(trust_len));
    std::string_view bytes = in.rest();

    Parser whole(limits), split(limits);
    std::string rest_whole, rest_split;
    whole.feed(bytes, rest_whole);
    std::size_t at = 0;
    for (std::size_t n : reads.sizes(bytes.size())) {
        split.feed(bytes.substr(at, n), rest_split);
        at += n;
        FUZZ_CHECK(split.buffered() <= std::max(kMaxV1Header, kV2FixedHeader + limits.max_v2_payload),
                   "holds %zu bytes", split.buffered());
    }
    FUZZ_CHECK(whole.status() == split.status(), "status depends on the split (%d vs %d)",
               int(whole.status()), int(split.status()));
    FUZZ_CHECK(rest_whole == rest_split, "bytes handed on depend on the split");
    FUZZ_CHECK(whole.error() == split.error(), "error depends on the split: %s / %s",
               whole.error().c_str(), split.error().c_str());
    const Header &h = whole.header();
    switch (whole.status()) {
    case Parser::Status::done:
        FUZZ_CHECK(bytes.substr(bytes.size() - rest_whole.size()) == rest_whole, "rest is not the input's tail");
        FUZZ_CHECK(h.version == 1 || h.version == 2, "version %d", h.version);
        FUZZ_CHECK(h.version != 1 || bytes.size() - rest_whole.size() <= kMaxV1Header, "v1 header too long");
        FUZZ_CHECK(h.has_address() == (h.family == "TCP4" || h.family == "TCP6"), "family %s",
                   h.family.c_str());
        check_address(h.source);
        check_address(h.destination);
        FUZZ_CHECK(whole.buffered() == 0, "holds bytes after the header");
        break;
    case Parser::Status::failed:
        FUZZ_CHECK(!whole.error().empty() && fuzz::printable(whole.error()), "error %s", fuzz::show(whole.error()).c_str());
        FUZZ_CHECK(rest_whole.empty() && whole.buffered() == 0, "a failed parser passed or kept bytes");
        break;
    case Parser::Status::need_more:
        FUZZ_CHECK(rest_whole.empty() && whole.buffered() == bytes.size(), "waiting, but bytes went somewhere");
        break;
    }
    return 0;
}
