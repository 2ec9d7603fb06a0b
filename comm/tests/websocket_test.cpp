#include "websocket.h"

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <ostream>
#include <string>

using namespace comm::ws;
using comm::TransportState;

namespace {

// RFC 6455 1.3's example key and its accept value.
const std::string kKey = "dGhlIHNhbXBsZSBub25jZQ==";
const std::string kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

std::string upgrade(const std::string &extra = "", const std::string &target = "/ws") {
    return "GET " + target + " HTTP/1.1\r\nHost: localhost:4080\r\nUpgrade: websocket\r\n"
           "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + kKey +
           "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n";
}

// A client frame: masked, as RFC 6455 requires of clients.
std::string frame(int first_byte, const std::string &payload, bool masked = true) {
    std::string f(1, static_cast<char>(first_byte));
    std::size_t n = payload.size();
    char m = masked ? '\x80' : 0;
    if (n < 126) {
        f += static_cast<char>(m | n);
    } else if (n < 65536) {
        f += static_cast<char>(m | 126);
        f += static_cast<char>(n >> 8);
        f += static_cast<char>(n & 0xff);
    } else {
        f += static_cast<char>(m | 127);
        for (int i = 7; i >= 0; --i) f += static_cast<char>((n >> (8 * i)) & 0xff);
    }
    const char mask[4] = {'\x37', '\xfa', '\x21', '\x3d'};
    if (masked) f.append(mask, 4);
    for (std::size_t i = 0; i < n; ++i) f += static_cast<char>(payload[i] ^ (masked ? mask[i & 3] : 0));
    return f;
}

std::string server_frame(Opcode op, const std::string &payload) {
    std::string out;
    encode_frame(op, payload, out);
    return out;
}

std::string close_body(int code, const std::string &reason = "") {
    return std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)} + reason;
}

const std::map<std::string, StaticFile> kFiles = {
    {"/index.html", {"text/html; charset=utf-8", "<!doctype html><title>x</title>"}},
    {"/client.js", {"text/javascript", "let a = 1;"}},
};

FileLookup files() {
    return [](std::string_view path) -> const StaticFile * {
        auto it = kFiles.find(std::string(path));
        return it == kFiles.end() ? nullptr : &it->second;
    };
}

struct Io {
    std::string up, down;
};

Io feed(Layer &l, const std::string &in) {
    Io io;
    l.receive(in, io.up, io.down);
    return io;
}

Io open_layer(Layer &l, const std::string &extra = "") {
    Io io = feed(l, upgrade(extra));
    EXPECT_EQ(l.state(), TransportState::open) << l.error();
    return io;
}

std::string identifier(std::string s) {
    for (char &c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

std::string status_of(const std::string &response) { return response.substr(0, response.find("\r\n")); }

}  // namespace

// ---- SHA-1, base64, keys, UTF-8 ----------------------------------------------

TEST(WsSha1, matches_the_fips_180_examples) {
    auto hex = [](const std::array<std::uint8_t, 20> &d) {
        std::string s;
        static const char h[] = "0123456789abcdef";
        for (auto b : d) s += h[b >> 4], s += h[b & 15];
        return s;
    };
    EXPECT_EQ(hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
              "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    EXPECT_EQ(hex(sha1(std::string(1000000, 'a'))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    // 55, 56 and 64 bytes: the padding takes one block, two blocks, one more block.
    EXPECT_EQ(hex(sha1(std::string(55, 'a'))), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    EXPECT_EQ(hex(sha1(std::string(56, 'a'))), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
    EXPECT_EQ(hex(sha1(std::string(64, 'a'))), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
}

TEST(WsKey, accept_value_is_the_rfc_example) { EXPECT_EQ(accept_key(kKey), kAccept); }

TEST(WsKey, base64_pads_every_length) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(WsKey, only_base64_of_16_bytes_is_a_valid_key) {
    EXPECT_TRUE(valid_key(kKey));
    EXPECT_FALSE(valid_key(""));
    EXPECT_FALSE(valid_key("dGhlIHNhbXBsZSBub25jZQ="));   // 23 characters
    EXPECT_FALSE(valid_key("dGhlIHNhbXBsZSBub25jZQ=A"));  // padding wrong
    EXPECT_FALSE(valid_key("dGhlIHNhbXBsZSBub25jZR=="));  // non-zero bits in the padding
    EXPECT_FALSE(valid_key("dGhlIHNhbXBsZS*ub25jZQ=="));  // not base64
}

TEST(WsUtf8, accepts_utf8_and_refuses_the_rest) {
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("plain"));
    EXPECT_TRUE(valid_utf8("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    EXPECT_FALSE(valid_utf8("\xc3"));              // cut short
    EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a surrogate
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
    EXPECT_FALSE(valid_utf8("\xff"));
    EXPECT_FALSE(valid_utf8("a\x80z"));
}

// ---- the upgrade handshake ----------------------------------------------------

TEST(WsHandshake, upgrade_answers_101_with_the_accept_key) {
    Layer l(files());
    Io io = open_layer(l);
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 101 Switching Protocols");
    EXPECT_NE(io.down.find("Sec-WebSocket-Accept: " + kAccept + "\r\n"), std::string::npos);
    EXPECT_NE(io.down.find("Upgrade: websocket\r\n"), std::string::npos);
    EXPECT_EQ(io.down.find("Sec-WebSocket-Protocol"), std::string::npos);  // none offered, none chosen
    EXPECT_EQ(io.down.substr(io.down.size() - 4), "\r\n\r\n");
    EXPECT_TRUE(io.up.empty());
    EXPECT_EQ(l.mode(), Mode::telnet);
    EXPECT_EQ(l.path(), "/ws");
}

TEST(WsHandshake, the_request_may_arrive_one_byte_at_a_time) {
    Layer l(files());
    std::string req = upgrade(), down, up;
    for (std::size_t i = 0; i < req.size(); ++i) {
        EXPECT_EQ(l.state(), TransportState::handshaking);
        l.receive(req.substr(i, 1), up, down);
    }
    EXPECT_EQ(l.state(), TransportState::open);
    EXPECT_EQ(status_of(down), "HTTP/1.1 101 Switching Protocols");
    EXPECT_EQ(l.buffered(), 0u);
}

TEST(WsHandshake, header_names_and_upgrade_tokens_are_case_insensitive) {
    Layer l;
    Io io = feed(l, "GET / HTTP/1.1\r\nHOST: x\r\nupgrade: WebSocket\r\nconnection: UPGRADE\r\n"
                    "sec-websocket-key: " + kKey + "\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n");
    EXPECT_EQ(l.state(), TransportState::open) << l.error();
}

TEST(WsHandshake, frames_in_the_same_read_as_the_request_are_decoded) {
    Layer l;
    Io io = feed(l, upgrade() + frame(0x82, "look\r\n"));
    EXPECT_EQ(l.state(), TransportState::open);
    EXPECT_EQ(io.up, "look\r\n");
}

TEST(WsHandshake, telnet_subprotocol_is_chosen_in_the_clients_order) {
    Layer l;
    Io io = open_layer(l, "Sec-WebSocket-Protocol: chat, telnet.mudstandards.org, gmcp.mudstandards.org\r\n");
    EXPECT_NE(io.down.find("Sec-WebSocket-Protocol: telnet.mudstandards.org\r\n"), std::string::npos);
    EXPECT_EQ(l.protocol(), "telnet.mudstandards.org");
    EXPECT_EQ(l.mode(), Mode::telnet);
}

TEST(WsHandshake, repeated_protocol_headers_are_one_list) {
    Layer l;
    open_layer(l, "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: gmcp.mudstandards.org\r\n");
    EXPECT_EQ(l.protocol(), "gmcp.mudstandards.org");
    EXPECT_EQ(l.mode(), Mode::gmcp);
}

TEST(WsHandshake, websockify_binary_is_the_telnet_stream) {
    Layer l;
    open_layer(l, "Sec-WebSocket-Protocol: binary\r\n");
    EXPECT_EQ(l.protocol(), "binary");
    EXPECT_EQ(l.mode(), Mode::telnet);
}

TEST(WsHandshake, unknown_subprotocols_only_fail_with_400) {
    Layer l;
    Io io = feed(l, upgrade("Sec-WebSocket-Protocol: chat, mqtt\r\n"));
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(l.state(), TransportState::failed);
    EXPECT_NE(l.error().find("subprotocols"), std::string::npos);
}

struct BadUpgrade {
    std::string request;
    std::string status;
    std::string error_part;
    // A stable name for CTest (gtest would dump the bytes, pointers included).
    friend void PrintTo(const BadUpgrade &b, std::ostream *os) { *os << identifier(b.status + " " + b.error_part); }
};

class WsBadUpgrade : public ::testing::TestWithParam<BadUpgrade> {};

TEST_P(WsBadUpgrade, is_answered_with_an_http_error_and_fails) {
    Layer l(files());
    Io io = feed(l, GetParam().request);
    EXPECT_EQ(status_of(io.down), GetParam().status);
    EXPECT_EQ(l.state(), TransportState::failed);
    EXPECT_NE(l.error().find(GetParam().error_part), std::string::npos) << l.error();
    EXPECT_NE(io.down.find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(io.up.empty());
    // Nothing more is read or sent once failed.
    Io after = feed(l, frame(0x82, "x"));
    EXPECT_TRUE(after.up.empty() && after.down.empty());
}

std::string replace(std::string s, const std::string &from, const std::string &to) {
    s.replace(s.find(from), from.size(), to);
    return s;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, WsBadUpgrade,
    ::testing::Values(
        BadUpgrade{replace(upgrade(), "GET", "POST"), "HTTP/1.1 405 Method Not Allowed", "POST"},
        BadUpgrade{replace(upgrade(), "HTTP/1.1", "HTTP/1.0"), "HTTP/1.1 400 Bad Request", "HTTP/1.1"},
        BadUpgrade{replace(upgrade(), "keep-alive, Upgrade", "keep-alive"), "HTTP/1.1 400 Bad Request",
                   "Connection"},
        BadUpgrade{replace(upgrade(), "Version: 13", "Version: 8"), "HTTP/1.1 426 Upgrade Required", "Version"},
        BadUpgrade{replace(upgrade(), "Sec-WebSocket-Key: " + kKey + "\r\n", ""), "HTTP/1.1 400 Bad Request",
                   "Sec-WebSocket-Key"},
        BadUpgrade{replace(upgrade(), kKey, "short=="), "HTTP/1.1 400 Bad Request", "Sec-WebSocket-Key"},
        BadUpgrade{replace(upgrade(), "Host: localhost:4080\r\n", ""), "HTTP/1.1 400 Bad Request", "Host"},
        BadUpgrade{replace(upgrade(), "Host:", "Host :"), "HTTP/1.1 400 Bad Request", "bad header line"},
        BadUpgrade{replace(upgrade(), "Upgrade: websocket\r\n", "Upgrade: websocket\r\n  folded\r\n"),
                   "HTTP/1.1 400 Bad Request", "folding"},
        BadUpgrade{upgrade("Sec-WebSocket-Key: " + kKey + "\r\n"), "HTTP/1.1 400 Bad Request", "repeated"},
        BadUpgrade{replace(upgrade(), "HTTP/1.1", "HTTP/2.0"), "HTTP/1.1 505 HTTP Version Not Supported",
                   "version"},
        BadUpgrade{replace(upgrade(), "GET /ws", "GET  /ws"), "HTTP/1.1 400 Bad Request", "request line"},
        BadUpgrade{replace(upgrade(), "/ws", "http://x/ws"), "HTTP/1.1 400 Bad Request", "path"},
        BadUpgrade{"look\r\n\r\n", "HTTP/1.1 400 Bad Request", "request line"}));

TEST(WsHandshake, a_telnet_client_fails_at_its_first_iac_without_waiting) {
    Layer l;
    Io io = feed(l, "\xff\xfb\x18");
    EXPECT_EQ(l.state(), TransportState::failed);
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 400 Bad Request");
    EXPECT_NE(l.error().find("not an HTTP request"), std::string::npos);
    EXPECT_NE(l.error().find("\\xff"), std::string::npos);  // escaped, never raw
}

TEST(WsHandshake, a_line_typed_by_a_telnet_user_fails_at_its_end_without_waiting) {
    Layer l;
    Io io = feed(l, "bob");
    EXPECT_EQ(l.state(), TransportState::handshaking);  // could still become "bob / HTTP/1.1"
    io = feed(l, "\r\n");
    EXPECT_EQ(l.state(), TransportState::failed);
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 400 Bad Request");
    EXPECT_NE(l.error().find("bad request line \"bob\""), std::string::npos);
}

TEST(WsHandshake, a_request_line_whose_crlf_crosses_the_cap_is_431_however_split) {
    // Found by the fuzzer: "\r" was the cap's last byte, so the split run
    // hit the cap before the line ended (431) while the whole run judged
    // the line (400). A line counts only when it fits, CRLF included.
    Limits lim;
    lim.max_request = 16;
    std::string line = "bad line here!!\r\n";  // CRLF at bytes 15 and 16
    Layer whole({}, lim), split({}, lim);
    std::string up, down_whole, down_split;
    whole.receive(line, up, down_whole);
    for (char c : line) split.receive(std::string(1, c), up, down_split);
    EXPECT_EQ(status_of(down_whole), "HTTP/1.1 431 Request Header Fields Too Large");
    EXPECT_EQ(down_split, down_whole);
}

TEST(WsHandshake, a_valid_request_line_waits_for_the_rest_of_the_head) {
    Layer l;
    feed(l, "GET / HTTP/1.1\r\nHost: x\r\n");
    EXPECT_EQ(l.state(), TransportState::handshaking);
    Layer v;
    EXPECT_EQ(status_of(feed(v, "GET / HTTP/3.0\r\n").down), "HTTP/1.1 505 HTTP Version Not Supported");
}

TEST(WsHandshake, a_head_over_the_cap_fails_with_431_before_it_ends) {
    Limits lim;
    lim.max_request = 512;
    Layer l({}, lim);
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(600, 'a');
    std::string up, down;
    for (std::size_t i = 0; i < req.size() && l.state() == TransportState::handshaking; i += 50)
        l.receive(req.substr(i, 50), up, down);
    EXPECT_EQ(l.state(), TransportState::failed);
    EXPECT_EQ(status_of(down), "HTTP/1.1 431 Request Header Fields Too Large");
    EXPECT_EQ(l.buffered(), 0u);
}

TEST(WsHandshake, too_many_header_fields_fail_with_431) {
    std::string extra;
    for (int i = 0; i < 70; ++i) extra += "X-" + std::to_string(i) + ": 1\r\n";
    Layer l;
    Io io = feed(l, upgrade(extra));
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST(WsHandshake, output_sent_before_the_upgrade_follows_the_101) {
    Layer l;
    std::string down;
    l.send("Welcome\r\n", down);
    EXPECT_TRUE(down.empty());
    EXPECT_EQ(l.buffered(), 9u);
    Io io = feed(l, upgrade());
    std::size_t end = io.down.find("\r\n\r\n") + 4;
    EXPECT_EQ(io.down.substr(end), server_frame(binary, "Welcome\r\n"));
    EXPECT_EQ(l.buffered(), 0u);
}

TEST(WsHandshake, too_much_output_before_the_upgrade_fails) {
    Limits lim;
    lim.max_pending_output = 10;
    Layer l({}, lim);
    std::string down;
    l.send("0123456789", down);
    EXPECT_EQ(l.state(), TransportState::handshaking);
    l.send("!", down);
    EXPECT_EQ(l.state(), TransportState::failed);
    EXPECT_EQ(l.buffered(), 0u);
    EXPECT_TRUE(down.empty());
}

// ---- plain HTTP: the web client's files ------------------------------------------

TEST(WsHttp, get_root_serves_index_html_and_closes) {
    Layer l(files());
    Io io = feed(l, "GET /?name=x HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 200 OK");
    EXPECT_NE(io.down.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
    EXPECT_NE(io.down.find("Content-Length: 31\r\n"), std::string::npos);
    EXPECT_EQ(io.down.substr(io.down.size() - 31), "<!doctype html><title>x</title>");
    EXPECT_EQ(l.state(), TransportState::closed);
    EXPECT_EQ(l.http_status(), 200);
    EXPECT_TRUE(l.error().empty());
}

TEST(WsHttp, head_sends_the_headers_only) {
    Layer l(files());
    Io io = feed(l, "HEAD /client.js HTTP/1.0\r\n\r\n");
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 200 OK");
    EXPECT_NE(io.down.find("Content-Length: 10\r\n"), std::string::npos);
    EXPECT_EQ(io.down.substr(io.down.size() - 4), "\r\n\r\n");
}

TEST(WsHttp, an_unknown_path_is_404) {
    Layer l(files());
    Io io = feed(l, "GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 404 Not Found");
    EXPECT_EQ(l.state(), TransportState::failed);
    EXPECT_EQ(l.http_status(), 404);
}

TEST(WsHttp, without_a_file_table_everything_is_404) {
    Layer l;
    Io io = feed(l, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 404 Not Found");
}

TEST(WsHttp, other_methods_are_405_with_allow) {
    Layer l(files());
    Io io = feed(l, "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_of(io.down), "HTTP/1.1 405 Method Not Allowed");
    EXPECT_NE(io.down.find("Allow: GET, HEAD\r\n"), std::string::npos);
}

// ---- frames in ------------------------------------------------------------------

TEST(WsFrames, binary_frames_go_up_unmasked) {
    Layer l;
    open_layer(l);
    EXPECT_EQ(feed(l, frame(0x82, "say hi\r\n")).up, "say hi\r\n");
    std::string iac = "\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0";
    EXPECT_EQ(feed(l, frame(0x82, iac)).up, iac);  // telnet bytes pass as they are
}

TEST(WsFrames, a_frame_split_anywhere_gives_the_same_bytes) {
    std::string payload(300, 'x');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
    std::string f = frame(0x82, payload);
    for (std::size_t cut = 1; cut < f.size(); cut += 13) {
        Layer l;
        open_layer(l);
        std::string up = feed(l, f.substr(0, cut)).up;
        up += feed(l, f.substr(cut)).up;
        EXPECT_EQ(up, payload) << "cut at " << cut;
        EXPECT_EQ(l.buffered(), 0u);
    }
}

TEST(WsFrames, binary_payload_streams_up_before_the_frame_ends) {
    Layer l;
    open_layer(l);
    std::string f = frame(0x82, std::string(1000, 'a'));
    Io io = feed(l, f.substr(0, 508));
    EXPECT_EQ(io.up, std::string(500, 'a'));  // after 8 header bytes: 2, a 16-bit length, the mask
    EXPECT_LT(l.buffered(), 16u);
}

TEST(WsFrames, lengths_of_16_and_64_bits_decode) {
    Limits lim;
    lim.max_frame = lim.max_message = 1 << 20;
    Layer l({}, lim);
    open_layer(l);
    EXPECT_EQ(feed(l, frame(0x82, std::string(300, 'b'))).up.size(), 300u);
    EXPECT_EQ(feed(l, frame(0x82, std::string(70000, 'c'))).up.size(), 70000u);
}

TEST(WsFrames, fragments_make_one_message_and_controls_may_interleave) {
    Layer l;
    open_layer(l);
    Io io = feed(l, frame(0x02, "lo") + frame(0x89, "p1") + frame(0x00, "ok") + frame(0x80, "\r\n"));
    EXPECT_EQ(io.up, "look\r\n");
    EXPECT_EQ(io.down, server_frame(pong, "p1"));
}

TEST(WsFrames, text_frames_are_telnet_bytes_too_in_telnet_mode) {
    Layer l;
    open_layer(l);
    EXPECT_EQ(feed(l, frame(0x01, "lo") + frame(0x80, "ok\r\n")).up, "look\r\n");
}

TEST(WsFrames, ping_gets_a_pong_with_its_payload_and_pong_is_ignored) {
    Layer l;
    open_layer(l);
    Io io = feed(l, frame(0x89, "are you there") + frame(0x8a, "late"));
    EXPECT_EQ(io.down, server_frame(pong, "are you there"));
    EXPECT_TRUE(io.up.empty());
}

TEST(WsFrames, empty_frames_are_fine) {
    Layer l;
    open_layer(l);
    Io io = feed(l, frame(0x82, "") + frame(0x89, "") + frame(0x81, ""));
    EXPECT_TRUE(io.up.empty());
    EXPECT_EQ(io.down, server_frame(pong, ""));
    EXPECT_EQ(l.state(), TransportState::open);
}

struct BadFrame {
    std::string bytes;
    int close_code;
    std::string error_part;
    friend void PrintTo(const BadFrame &b, std::ostream *os) {
        *os << identifier(std::to_string(b.close_code) + " " + b.error_part);
    }
};

class WsBadFrame : public ::testing::TestWithParam<BadFrame> {};

TEST_P(WsBadFrame, fails_the_link_with_a_close_frame) {
    Limits lim;
    lim.max_frame = 1000;
    lim.max_message = 1500;
    Layer l({}, lim);
    open_layer(l);
    Io io = feed(l, GetParam().bytes);
    EXPECT_EQ(l.state(), TransportState::failed);
    EXPECT_NE(l.error().find(GetParam().error_part), std::string::npos) << l.error();
    ASSERT_GE(io.down.size(), 4u);
    EXPECT_EQ(io.down[0], '\x88');
    int code = static_cast<unsigned char>(io.down[2]) << 8 | static_cast<unsigned char>(io.down[3]);
    EXPECT_EQ(code, GetParam().close_code);
    EXPECT_EQ(l.buffered(), 0u);
    Io after = feed(l, frame(0x82, "x"));
    EXPECT_TRUE(after.up.empty() && after.down.empty());
}

std::string raw_header(std::initializer_list<int> bytes) {
    std::string s;
    for (int b : bytes) s += static_cast<char>(b);
    return s;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, WsBadFrame,
    ::testing::Values(
        BadFrame{frame(0x82, "x", false), 1002, "not masked"},
        BadFrame{frame(0xc2, "x"), 1002, "reserved"},
        BadFrame{frame(0x83, "x"), 1002, "opcode 3"},
        BadFrame{frame(0x8b, "x"), 1002, "opcode 11"},
        BadFrame{frame(0x09, "x"), 1002, "fragmented control"},
        BadFrame{frame(0x89, std::string(126, 'p')), 1002, "125"},
        BadFrame{frame(0x80, "x"), 1002, "continuation frame outside"},
        BadFrame{frame(0x02, "x") + frame(0x82, "y"), 1002, "before the fragmented one ended"},
        BadFrame{raw_header({0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4}), 1002, "shortest form"},
        BadFrame{raw_header({0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}), 1002, "top bit"},
        // Refused from the header: the 1001 payload bytes never come.
        BadFrame{raw_header({0x82, 0xfe, 0x03, 0xe9, 1, 2, 3, 4}), 1009, "frame of 1001 bytes"},
        BadFrame{frame(0x02, std::string(1000, 'a')) + frame(0x80, std::string(501, 'b')), 1009,
                 "message of more than 1500"},
        BadFrame{frame(0x81, "\xc3\x28"), 1007, "UTF-8"},
        BadFrame{frame(0x88, "\x03"), 1002, "1-byte"},
        BadFrame{frame(0x88, close_body(1005)), 1002, "invalid status 1005"},
        BadFrame{frame(0x88, close_body(999)), 1002, "invalid status 999"},
        BadFrame{frame(0x88, close_body(1000, "\xff")), 1007, "reason"}));

// ---- closing ------------------------------------------------------------------

TEST(WsClose, a_client_close_is_echoed_and_ends_the_stream) {
    Layer l;
    open_layer(l);
    Io io = feed(l, frame(0x88, close_body(1000, "bye")) + frame(0x82, "late"));
    EXPECT_EQ(io.down, server_frame(close_op, close_body(1000)));
    EXPECT_EQ(l.state(), TransportState::closed);
    EXPECT_TRUE(io.up.empty());
    std::string down;
    l.send("too late", down);
    EXPECT_TRUE(down.empty());
}

TEST(WsClose, a_close_without_status_is_answered_without_one) {
    Layer l;
    open_layer(l);
    Io io = feed(l, frame(0x88, ""));
    EXPECT_EQ(io.down, server_frame(close_op, ""));
    EXPECT_EQ(l.state(), TransportState::closed);
}

TEST(WsClose, a_server_close_waits_for_the_clients_answer) {
    Layer l;
    open_layer(l);
    std::string down;
    l.close(down);
    EXPECT_EQ(static_cast<unsigned char>(down[0]), 0x88u);
    EXPECT_EQ(down.substr(2, 2), close_body(1001));
    EXPECT_EQ(l.state(), TransportState::closing);
    // Data still in flight from the client is discarded, pings unanswered.
    Io io = feed(l, frame(0x82, "typed late") + frame(0x89, "x"));
    EXPECT_TRUE(io.up.empty() && io.down.empty());
    io = feed(l, frame(0x88, close_body(1001)));
    EXPECT_TRUE(io.down.empty());
    EXPECT_EQ(l.state(), TransportState::closed);
}

TEST(WsClose, close_while_handshaking_just_ends) {
    Layer l;
    std::string down;
    l.close(down);
    EXPECT_TRUE(down.empty());
    EXPECT_EQ(l.state(), TransportState::closed);
}

// ---- frames out ----------------------------------------------------------------------

TEST(WsSend, telnet_mode_sends_one_binary_frame_per_call) {
    Layer l;
    open_layer(l);
    std::string down;
    l.send("\xff\xfb\x01Password: ", down);
    EXPECT_EQ(down, server_frame(binary, "\xff\xfb\x01Password: "));
    down.clear();
    l.send("", down);
    EXPECT_TRUE(down.empty());
}

TEST(WsSend, frame_lengths_use_the_shortest_form) {
    EXPECT_EQ(server_frame(binary, std::string(125, 'a')).size(), 127u);
    std::string f = server_frame(binary, std::string(126, 'a'));
    EXPECT_EQ(f.substr(0, 4), raw_header({0x82, 126, 0, 126}));
    f = server_frame(text, std::string(65536, 'a'));
    EXPECT_EQ(f.substr(0, 10), raw_header({0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
}

// ---- the GMCP subprotocol ------------------------------------------------------------

TEST(WsGmcp, open_tells_the_telnet_layer_the_client_wants_gmcp) {
    Layer l;
    Io io = open_layer(l, "Sec-WebSocket-Protocol: gmcp.mudstandards.org\r\n");
    EXPECT_EQ(io.up, "\xff\xfd\xc9");  // IAC DO GMCP
}

TEST(WsGmcp, text_frames_become_gmcp_subnegotiations_and_binary_is_escaped_text) {
    Layer l;
    open_layer(l, "Sec-WebSocket-Protocol: gmcp.mudstandards.org\r\n");
    Io io = feed(l, frame(0x81, "Core.Hello {\"client\":\"web\"}") + frame(0x82, "say \xff!\r\n"));
    EXPECT_EQ(io.up, "\xff\xfa\xc9" "Core.Hello {\"client\":\"web\"}\xff\xf0say \xff\xff!\r\n");
}

TEST(WsGmcp, server_telnet_is_taken_apart_into_text_and_gmcp_frames) {
    Layer l;
    open_layer(l, "Sec-WebSocket-Protocol: gmcp.mudstandards.org\r\n");
    std::string down;
    l.send("\xff\xfb\xc9Hello \xff\xff\xff\xfa\xc9" "Char.Vitals {\"hp\":5}\xff\xf0 there\xff\xf9"
           "\xff\xfa\x46skipped\xff\xf0!", down);
    EXPECT_EQ(down, server_frame(binary, "Hello \xff") + server_frame(text, "Char.Vitals {\"hp\":5}") +
                        server_frame(binary, " there!"));
}

TEST(WsGmcp, a_subnegotiation_split_across_sends_is_kept_whole) {
    Layer l;
    open_layer(l, "Sec-WebSocket-Protocol: gmcp.mudstandards.org\r\n");
    std::string down;
    l.send("a\xff\xfa\xc9" "Core.", down);
    l.send("Ping\xff", down);
    l.send("\xf0" "b", down);
    EXPECT_EQ(down, server_frame(binary, "a") + server_frame(text, "Core.Ping") + server_frame(binary, "b"));
}

TEST(WsGmcp, non_utf8_or_oversized_gmcp_from_the_server_is_dropped) {
    Limits lim;
    lim.max_message = 8;
    Layer l({}, lim);
    open_layer(l, "Sec-WebSocket-Protocol: gmcp.mudstandards.org\r\n");
    std::string down;
    l.send("\xff\xfa\xc9\xc3\x28\xff\xf0\xff\xfa\xc9" "Core.TooLong\xff\xf0ok", down);
    EXPECT_EQ(down, server_frame(binary, "ok"));
    EXPECT_EQ(l.buffered(), 0u);
}
