#include "proxy_protocol.h"

#include "test_bytes.h"

#include <gtest/gtest.h>

#include <string>

using namespace comm::proxy;
using comm::TransportState;

namespace {

using comm::test_support::bytes;

const std::string kSig = bytes({0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a});

std::string v2(int ver_cmd, int family, const std::string &body) {
    return kSig + bytes({ver_cmd, family, static_cast<int>(body.size() >> 8), static_cast<int>(body.size() & 0xff)}) +
           body;
}

const std::string kTcp4Body = bytes({203, 0, 113, 7, 10, 0, 0, 1, 0xc7, 0x38, 0x0f, 0xa0});  // :51000 -> :4000

struct Fed {
    Parser::Status status;
    std::string rest;
};

Fed feed_all(Parser &p, const std::string &in) {
    Fed f{};
    f.status = p.feed(in, f.rest);
    return f;
}

// Feeds one byte at a time: every split point; only the last byte may complete.
Fed feed_bytewise(Parser &p, const std::string &in) {
    Fed f{Parser::Status::need_more, {}};
    for (char c : in) f.status = p.feed(std::string_view(&c, 1), f.rest);
    return f;
}

std::string error_of(const std::string &in, Limits limits = {}) {
    Parser p(limits);
    Fed f = feed_all(p, in);
    EXPECT_EQ(f.status, Parser::Status::failed) << in;
    EXPECT_TRUE(f.rest.empty());
    return p.error();
}

}  // namespace

// ---- v1 --------------------------------------------------------------------

TEST(ProxyV1, tcp4_gives_source_and_leftover) {
    Parser p;
    Fed f = feed_all(p, "PROXY TCP4 203.0.113.7 10.0.0.1 51000 4000\r\nlook\r\n");
    ASSERT_EQ(f.status, Parser::Status::done);
    EXPECT_EQ(p.header().version, 1);
    EXPECT_EQ(p.header().family, "TCP4");
    EXPECT_EQ(p.header().source, "203.0.113.7:51000");
    EXPECT_EQ(p.header().destination, "10.0.0.1:4000");
    EXPECT_EQ(f.rest, "look\r\n");
    EXPECT_EQ(p.buffered(), 0u);
}

TEST(ProxyV1, tcp6_is_formatted_like_peer_names) {
    Parser p;
    ASSERT_EQ(feed_all(p, "PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::1 1 65535\r\n").status, Parser::Status::done);
    EXPECT_EQ(p.header().source, "[2001:db8::1]:1");
    EXPECT_EQ(p.header().destination, "[::1]:65535");
}

TEST(ProxyV1, split_at_every_byte_is_the_same) {
    Parser p;
    Fed f = feed_bytewise(p, "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nx");
    EXPECT_EQ(f.status, Parser::Status::done);
    EXPECT_EQ(p.header().source, "1.2.3.4:1");
    EXPECT_EQ(f.rest, "x");
}

TEST(ProxyV1, unknown_ignores_the_rest_and_has_no_address) {
    Parser p;
    ASSERT_EQ(feed_all(p, "PROXY UNKNOWN whatever 1 2 3\r\n").status, Parser::Status::done);
    EXPECT_EQ(p.header().family, "UNKNOWN");
    EXPECT_FALSE(p.header().has_address());
    Parser q;
    ASSERT_EQ(feed_all(q, "PROXY UNKNOWN\r\n").status, Parser::Status::done);
}

TEST(ProxyV1, longest_legal_header_is_accepted) {
    std::string a = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    // The spec's worst case: UNKNOWN with two full IPv6 addresses and ports.
    std::string h = "PROXY UNKNOWN " + a + " " + a + " 65535 65535\r\n";
    ASSERT_EQ(h.size(), kMaxV1Header);
    Parser p;
    EXPECT_EQ(feed_bytewise(p, h).status, Parser::Status::done);
}

TEST(ProxyV1, no_crlf_within_107_bytes_fails) {
    std::string h = "PROXY UNKNOWN " + std::string(200, 'a');
    EXPECT_NE(error_of(h).find("no CRLF within 107 bytes"), std::string::npos);
    Parser p;  // and byte by byte, it fails at the limit, not later
    std::string rest;
    std::size_t i = 0;
    while (i < h.size() && p.feed(h.substr(i, 1), rest) == Parser::Status::need_more) ++i;
    EXPECT_EQ(i + 1, kMaxV1Header);
}

// Found by fuzz/proxy_protocol_fuzz.cpp: a CR as byte 107 with its LF as
// byte 108 was accepted when both arrived in one read.
TEST(ProxyV1, crlf_ending_at_byte_108_is_too_long_whatever_the_split) {
    std::string h = "PROXY UNKNOWN " + std::string(92, 'a') + "\r\n";
    ASSERT_EQ(h.size(), kMaxV1Header + 1);
    EXPECT_NE(error_of(h).find("no CRLF within 107 bytes"), std::string::npos);
    Parser p;
    EXPECT_EQ(feed_bytewise(p, h).status, Parser::Status::failed);
    EXPECT_EQ(p.error(), "PROXY v1 header: no CRLF within 107 bytes");
}

TEST(ProxyV1, every_malformed_line_has_its_own_error) {
    EXPECT_NE(error_of("PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n").find("unknown protocol \"TCP5\""), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n").find("expected 4 fields"), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n").find("expected 4 fields"), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n").find("bad source address"), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP4 1.2.3.4 01.2.3.4 1 2\r\n").find("bad destination address"), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP4 ::1 1.2.3.4 1 2\r\n").find("bad source address \"::1\" for TCP4"), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP6 1.2.3.4 ::1 1 2\r\n").find("bad source address"), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n").find("bad source port"), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP4 1.2.3.4 1.2.3.4 1 -2\r\n").find("bad destination port"), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX").find("CR not followed by LF"), std::string::npos);
    EXPECT_NE(error_of(std::string("PROXY TCP4 1.2.3.4\0", 19)).find("non-printable byte 0x00"), std::string::npos);
    EXPECT_NE(error_of("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n").find("non-printable byte 0x0a"), std::string::npos);
}

TEST(ProxyAny, a_client_without_header_is_refused_at_the_first_wrong_byte) {
    std::string e = error_of("look\r\n");
    EXPECT_NE(e.find("no PROXY protocol header"), std::string::npos);
    EXPECT_NE(e.find("(first bytes: \"l\")"), std::string::npos) << e;
    e = error_of("PROXY\x01");
    EXPECT_NE(e.find("PROXY\\x01"), std::string::npos) << e;  // escaped, never raw
    error_of("PROXX");
    error_of(bytes({0xff, 0xfd, 0x18}));  // a telnet client's IAC DO TTYPE
    error_of(kSig.substr(0, 5) + "x");
}

// Found by fuzz/proxy_protocol_fuzz.cpp: the quoted bytes depended on the split.
TEST(ProxyAny, the_error_quotes_up_to_the_first_wrong_byte_whatever_the_split) {
    Parser whole, split;
    std::string rest;
    whole.feed("PRXY TCP4", rest);
    split.feed("PR", rest);
    split.feed("XY TCP4", rest);
    EXPECT_EQ(whole.error(), "no PROXY protocol header (first bytes: \"PRX\")");
    EXPECT_EQ(split.error(), whole.error());
}

TEST(ProxyAny, after_failure_input_is_ignored_and_nothing_is_held) {
    Parser p;
    std::string rest;
    p.feed("GET / HTTP/1.0\r\n", rest);
    EXPECT_EQ(p.feed("more", rest), Parser::Status::failed);
    EXPECT_TRUE(rest.empty());
    EXPECT_EQ(p.buffered(), 0u);
}

TEST(ProxyAny, after_done_everything_passes_through) {
    Parser p;
    std::string rest;
    p.feed("PROXY UNKNOWN\r\n", rest);
    p.feed("PROXY TCP4 junk\r\n", rest);
    EXPECT_EQ(rest, "PROXY TCP4 junk\r\n");
}

// ---- v2 --------------------------------------------------------------------

TEST(ProxyV2, tcp4_gives_source_and_leftover) {
    Parser p;
    Fed f = feed_all(p, v2(0x21, 0x11, kTcp4Body) + "hi");
    ASSERT_EQ(f.status, Parser::Status::done) << p.error();
    EXPECT_EQ(p.header().version, 2);
    EXPECT_EQ(p.header().family, "TCP4");
    EXPECT_EQ(p.header().source, "203.0.113.7:51000");
    EXPECT_EQ(p.header().destination, "10.0.0.1:4000");
    EXPECT_EQ(f.rest, "hi");
}

TEST(ProxyV2, tcp6_with_tlvs_split_at_every_byte) {
    std::string body = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42}) +
                       std::string(15, '\0') + bytes({1}) + bytes({0x30, 0x39, 0x0f, 0xa0}) +
                       bytes({0x01, 0x00, 0x02, 'h', '2'});  // a TLV (ALPN), skipped
    Parser p;
    Fed f = feed_bytewise(p, v2(0x21, 0x21, body) + "x");
    ASSERT_EQ(f.status, Parser::Status::done) << p.error();
    EXPECT_EQ(p.header().source, "[2001:db8::42]:12345");
    EXPECT_EQ(p.header().destination, "[::1]:4000");
    EXPECT_EQ(f.rest, "x");
}

TEST(ProxyV2, local_ignores_addresses) {
    Parser p;
    ASSERT_EQ(feed_all(p, v2(0x20, 0x11, kTcp4Body)).status, Parser::Status::done);
    EXPECT_EQ(p.header().family, "LOCAL");
    EXPECT_FALSE(p.header().has_address());
    Parser q;
    ASSERT_EQ(feed_all(q, v2(0x20, 0x00, "")).status, Parser::Status::done);
}

TEST(ProxyV2, unspec_and_unix_carry_no_address) {
    Parser p;
    ASSERT_EQ(feed_all(p, v2(0x21, 0x00, "")).status, Parser::Status::done);
    EXPECT_EQ(p.header().family, "UNKNOWN");
    Parser q;
    ASSERT_EQ(feed_all(q, v2(0x21, 0x31, std::string(216, 'a'))).status, Parser::Status::done);
    EXPECT_EQ(q.header().family, "UNIX");
    EXPECT_FALSE(q.header().has_address());
}

TEST(ProxyV2, every_malformed_header_has_its_own_error) {
    EXPECT_NE(error_of(v2(0x11, 0x11, kTcp4Body)).find("unsupported version 1"), std::string::npos);
    EXPECT_NE(error_of(v2(0x22, 0x11, kTcp4Body)).find("unknown command 2"), std::string::npos);
    EXPECT_NE(error_of(v2(0x21, 0x11, kTcp4Body.substr(0, 11))).find("too short for TCP over IPv4"), std::string::npos);
    EXPECT_NE(error_of(v2(0x21, 0x21, std::string(35, '\0'))).find("too short for TCP over IPv6"), std::string::npos);
    EXPECT_NE(error_of(v2(0x21, 0x31, std::string(100, '\0'))).find("too short for a UNIX"), std::string::npos);
    EXPECT_NE(error_of(v2(0x21, 0x12, kTcp4Body)).find("datagram"), std::string::npos);
    EXPECT_NE(error_of(v2(0x21, 0x41, kTcp4Body)).find("unknown address family/protocol 0x41"), std::string::npos);
    EXPECT_NE(error_of(v2(0x21, 0x13, kTcp4Body)).find("0x13"), std::string::npos);
}

TEST(ProxyV2, length_over_the_limit_fails_before_the_body_arrives) {
    // Only the fixed 16 bytes: the parser must not wait for (or buffer) 60000.
    std::string head = kSig + bytes({0x21, 0x11, 0xea, 0x60});
    EXPECT_NE(error_of(head).find("length 60000 exceeds the limit of 1024"), std::string::npos);
    Limits small{12};
    EXPECT_NE(error_of(v2(0x21, 0x11, kTcp4Body + "x"), small).find("exceeds the limit of 12"), std::string::npos);
    Parser p(small);
    EXPECT_EQ(feed_all(p, v2(0x21, 0x11, kTcp4Body)).status, Parser::Status::done);
}

TEST(ProxyV2, incomplete_header_waits_and_holds_only_its_bytes) {
    Parser p;
    std::string h = v2(0x21, 0x11, kTcp4Body);
    std::string rest;
    EXPECT_EQ(p.feed(h.substr(0, 20), rest), Parser::Status::need_more);
    EXPECT_EQ(p.buffered(), 20u);
    EXPECT_EQ(p.feed(h.substr(20), rest), Parser::Status::done);
    EXPECT_TRUE(rest.empty());
}

// ---- the layer --------------------------------------------------------------

TEST(ProxyLayer, handshakes_then_passes_both_ways) {
    ProxyLayer layer;
    std::string up, down;
    EXPECT_EQ(layer.state(), TransportState::handshaking);
    layer.receive("PROXY TCP4 1.2.3.4 5.6.7.8 1 2", up, down);
    EXPECT_EQ(layer.state(), TransportState::handshaking);
    EXPECT_GT(layer.buffered(), 0u);
    layer.receive("\r\nsay hi\r\n", up, down);
    EXPECT_EQ(layer.state(), TransportState::open);
    EXPECT_EQ(up, "say hi\r\n");
    EXPECT_EQ(layer.header().source, "1.2.3.4:1");
    layer.send("Welcome\r\n", down);
    EXPECT_EQ(down, "Welcome\r\n");
    EXPECT_EQ(layer.buffered(), 0u);
}

TEST(ProxyLayer, bad_header_fails_with_a_reason) {
    ProxyLayer layer;
    std::string up, down;
    layer.receive("hello\r\n", up, down);
    EXPECT_EQ(layer.state(), TransportState::failed);
    EXPECT_NE(layer.error().find("no PROXY protocol header"), std::string::npos);
    EXPECT_TRUE(up.empty());
}

// ---- addresses and the trust list ---------------------------------------------

TEST(ProxyAddress, parse_and_format_round_trip) {
    for (const char *s : {"0.0.0.0", "255.255.255.255", "::", "::1", "1::", "2001:db8::1", "1:0:0:1::1",
                          "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4", "1::2:0:0:3", "fe80::1:0:0:0"}) {
        IpAddress ip;
        ASSERT_TRUE(parse_ip(s, ip)) << s;
        EXPECT_EQ(format_ip(ip), s);
    }
    IpAddress ip;
    ASSERT_TRUE(parse_ip("0:0:0:0:0:0:0:1", ip));
    EXPECT_EQ(format_ip(ip), "::1");
    ASSERT_TRUE(parse_ip("1:0:0:2:0:0:0:3", ip));
    EXPECT_EQ(format_ip(ip), "1:0:0:2::3");  // longest run wins
    ASSERT_TRUE(parse_ip("1:0:2:3:4:5:6:7", ip));
    EXPECT_EQ(format_ip(ip), "1:0:2:3:4:5:6:7");  // one zero group is not "::"
}

TEST(ProxyAddress, malformed_addresses_are_rejected) {
    for (const char *s : {"", "1.2.3", "1.2.3.4.5", "1..2.3", "256.1.1.1", "01.1.1.1", "1.2.3.4 ", "a.b.c.d",
                          ":::", "1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7",
                          "::1.2.3", "1.2.3.4::", "::g", "1:2:3:4:5:6:7::8", "fe80::1%eth0", ":1", "1:"}) {
        IpAddress ip;
        EXPECT_FALSE(parse_ip(s, ip)) << s;
    }
}

TEST(ProxyTrust, addresses_and_cidr_ranges) {
    TrustList t;
    std::string err;
    EXPECT_TRUE(t.empty());
    ASSERT_TRUE(t.add("127.0.0.1", err)) << err;
    ASSERT_TRUE(t.add("10.0.0.0/8", err)) << err;
    ASSERT_TRUE(t.add("fd00::/8", err)) << err;
    ASSERT_TRUE(t.add("::1", err)) << err;
    ASSERT_TRUE(t.add("192.168.1.128/25", err)) << err;
    EXPECT_TRUE(t.trusts("127.0.0.1:5555"));
    EXPECT_FALSE(t.trusts("127.0.0.2:5555"));
    EXPECT_TRUE(t.trusts("10.200.3.4:1"));
    EXPECT_FALSE(t.trusts("11.0.0.1:1"));
    EXPECT_TRUE(t.trusts("[fd12::1]:1"));
    EXPECT_FALSE(t.trusts("[fe80::1]:1"));
    EXPECT_TRUE(t.trusts("[::1]:4000"));
    EXPECT_TRUE(t.trusts("::1"));
    EXPECT_TRUE(t.trusts("[::ffff:10.1.1.1]:80"));  // a dual-stack socket's view of IPv4
    EXPECT_TRUE(t.trusts("192.168.1.200"));
    EXPECT_FALSE(t.trusts("192.168.1.127"));
    EXPECT_FALSE(t.trusts("garbage"));
    EXPECT_FALSE(t.trusts("[::1"));
}

TEST(ProxyTrust, bad_entries_say_why) {
    TrustList t;
    std::string err;
    EXPECT_FALSE(t.add("localhost", err));
    EXPECT_NE(err.find("not a numeric IP address"), std::string::npos);
    EXPECT_FALSE(t.add("10.0.0.0/33", err));
    EXPECT_NE(err.find("bad prefix length \"33\" (0 to 32)"), std::string::npos);
    EXPECT_FALSE(t.add("10.0.0.0/", err));
    EXPECT_FALSE(t.add("::/129", err));
    EXPECT_FALSE(t.add("10.0.0.1/8", err));
    EXPECT_NE(err.find("did you mean 10.0.0.0/8?"), std::string::npos) << err;
    EXPECT_TRUE(t.empty());
    ASSERT_TRUE(t.add("0.0.0.0/0", err));
    EXPECT_TRUE(t.trusts("8.8.8.8:53"));
    EXPECT_FALSE(t.trusts("[2001:db8::1]:53"));
}
