// The hot-reboot state format (comm/reboot.h): round trip, and every way a
// file can be refused.
#include "line_buffer.h"
#include "reboot.h"
#include "telnet.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace comm;
using namespace comm::reboot;
using namespace std::string_literals;

namespace {

State sample() {
    State s;
    s.next_id = 42;
    s.app = "1764000000";
    s.listeners = {{3, "0.0.0.0:4000", 0}, {4, "[::]:4000", layer_tls | layer_proxy}};
    UserState a;
    a.id = 7;
    a.address = "127.0.0.1:5555";
    a.keep = a.logged_in = true;
    a.connected_ms = 120000;
    a.idle_ms = 1500;
    a.app = "3\nAlice\npw\xff\x00x\nAlice"s;  // binary: a NUL and a 0xff
    a.has_link = true;
    a.link.fd = 9;
    a.link.address = a.address;
    a.link.telnet.options = {{telnet::OPT_MCCP2, 1, 0, false, false}, {telnet::OPT_NAWS, 0, 1, false, true}};
    a.link.telnet.parse_state = 4;
    a.link.telnet.sb_option = telnet::OPT_GMCP;
    a.link.telnet.sb = "Core.Hel";
    a.link.telnet.ttype_requests = 3;
    a.link.telnet.charset_requested = true;
    a.link.telnet.replies_sent = 12;
    a.link.telnet.subnegotiation_bytes = 99;
    telnet::ClientInfo &ci = a.link.telnet.client;
    ci.width = 100;
    ci.height = 40;
    ci.client_name = "TINTIN++";
    ci.terminal_type = "XTERM-256COLOR";
    ci.mtts = 2825;
    ci.charset = "UTF-8";
    a.link.mccp = true;
    a.link.partial_line = "say hal";
    a.link.after_cr = true;
    a.link.commands = {"say one", "who"};
    a.link.lines_before_login = 3;
    UserState b;  // net-dead
    b.id = 8;
    b.address = "[::1]:4444";
    b.keep = b.logged_in = true;
    b.netdead_ms = 30000;
    b.app = "3\nBob\nsecret\nBob";
    UserState c;  // the console
    c.id = 1;
    c.address = "console";
    c.has_link = true;
    c.link.console = true;
    c.link.fd = -1;
    s.users = {a, b, c};
    return s;
}

std::string error_of(std::string_view bytes) {
    State s;
    std::string error;
    EXPECT_FALSE(parse(bytes, s, error));
    return error;
}

// Rewrites the header's length and checksum after a payload edit, so the
// parser gets past them to the field being tested.
std::string reseal(std::string file) {
    std::string_view payload = std::string_view(file).substr(header_size);
    std::uint64_t len = payload.size();
    std::uint32_t sum = crc32(payload);
    for (int i = 0; i < 8; ++i) file[16 + i] = static_cast<char>(len >> (8 * i));
    for (int i = 0; i < 4; ++i) file[24 + i] = static_cast<char>(sum >> (8 * i));
    return file;
}

}  // namespace

TEST(RebootState, RoundTrip) {
    State in = sample(), out;
    std::string error;
    std::string file = write(in);
    ASSERT_TRUE(parse(file, out, error)) << error;
    EXPECT_EQ(out.next_id, 42u);
    EXPECT_EQ(out.app, in.app);
    ASSERT_EQ(out.listeners.size(), 2u);
    EXPECT_EQ(out.listeners[1].fd, 4);
    EXPECT_EQ(out.listeners[1].name, "[::]:4000");
    EXPECT_EQ(out.listeners[1].layers, layer_tls | layer_proxy);
    ASSERT_EQ(out.users.size(), 3u);
    const UserState &a = out.users[0];
    EXPECT_EQ(a.app, in.users[0].app);  // binary-safe
    EXPECT_EQ(a.link.fd, 9);
    EXPECT_EQ(a.idle_ms, 1500);
    EXPECT_TRUE(a.link.mccp);
    EXPECT_EQ(a.link.partial_line, "say hal");
    EXPECT_TRUE(a.link.after_cr);
    EXPECT_EQ(a.link.commands, (std::vector<std::string>{"say one", "who"}));
    EXPECT_EQ(a.link.telnet.options.size(), 2u);
    EXPECT_EQ(a.link.telnet.options[1].him, 1);
    EXPECT_TRUE(a.link.telnet.options[1].him_opposite);
    EXPECT_EQ(a.link.telnet.sb, "Core.Hel");
    EXPECT_EQ(a.link.telnet.client.client_name, "TINTIN++");
    EXPECT_EQ(a.link.telnet.client.mtts, 2825u);
    EXPECT_EQ(a.link.telnet.client.width, 100);
    EXPECT_FALSE(out.users[1].has_link);
    EXPECT_EQ(out.users[1].netdead_ms, 30000);
    EXPECT_TRUE(out.users[2].link.console);
    EXPECT_EQ(write(out), file);  // a fixed point
}

TEST(RebootState, EmptyStateRoundTrips) {
    State out;
    std::string error;
    ASSERT_TRUE(parse(write(State{}), out, error)) << error;
    EXPECT_TRUE(out.users.empty());
}

TEST(RebootState, RefusesBadMagicAndShortHeader) {
    EXPECT_NE(error_of("").find("bad magic"), std::string::npos);
    EXPECT_NE(error_of("hello world, not a state file at all").find("bad magic"), std::string::npos);
    EXPECT_NE(error_of(std::string(magic, 8) + "\x01").find("truncated header"), std::string::npos);
}

TEST(RebootState, RefusesNewerVersionClearly) {
    std::string f = write(sample());
    f[8] = static_cast<char>(format_version + 1);
    std::string e = error_of(f);
    EXPECT_NE(e.find("format version 2 is newer than this binary reads (1)"), std::string::npos) << e;
    f[8] = 0;
    EXPECT_NE(error_of(f).find("version 0"), std::string::npos);
}

TEST(RebootState, RefusesUnknownFlags) {
    std::string f = write(sample());
    f[12] = 1;
    EXPECT_NE(error_of(f).find("unknown flags"), std::string::npos);
}

TEST(RebootState, RefusesTruncationTrailingBytesAndCorruption) {
    std::string f = write(sample());
    EXPECT_NE(error_of(f.substr(0, f.size() - 1)).find("truncated"), std::string::npos);
    EXPECT_NE(error_of(f + "x").find("trailing bytes"), std::string::npos);
    std::string g = f;
    g[header_size + 10] ^= 0x40;
    EXPECT_NE(error_of(g).find("checksum mismatch"), std::string::npos);
    std::string h = f;
    for (int i = 0; i < 8; ++i) h[16 + i] = static_cast<char>(0xff);
    EXPECT_NE(error_of(h).find("over the limit"), std::string::npos);
}

TEST(RebootState, EveryTruncatedPayloadIsRefused) {
    std::string f = write(sample());
    for (std::size_t n = header_size; n < f.size(); ++n) {
        State s;
        std::string error;
        EXPECT_FALSE(parse(reseal(f.substr(0, n)), s, error)) << n;
        EXPECT_EQ(error.rfind("state file: ", 0), 0u) << error;
    }
}

TEST(RebootState, RefusesBadFields) {
    // Each edit is made on the payload, then the header is resealed, so the
    // field check (not the checksum) is what refuses it.
    auto edited = [](auto edit) {
        State s = sample();
        edit(s);
        return error_of(write(s));
    };
    EXPECT_NE(edited([](State &s) { s.users[1].id = 7; }).find("listed twice"), std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].id = 0; }).find("user id 0"), std::string::npos);
    EXPECT_NE(edited([](State &s) { s.next_id = 5; }).find("not below the next id"), std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].link.fd = 3; }).find("used twice"), std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].link.fd = -5; }).find("bad link fd"), std::string::npos);
    EXPECT_NE(edited([](State &s) { s.listeners[1].fd = 3; }).find("bad listener fd"), std::string::npos);
    EXPECT_NE(edited([](State &s) { s.listeners[0].layers = 8; }).find("unknown listener layers 8"), std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].idle_ms = -1; }).find("bad idle age"), std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].link.telnet.options[0].us = 4; }).find("option state"),
              std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].link.telnet.options[1].option = telnet::OPT_MCCP2; })
                  .find("listed twice"),
              std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].link.telnet.parse_state = 6; }).find("parser state"),
              std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].link.telnet.client.width = 70000; }).find("window size"),
              std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].link.telnet.ttype_requests = 17; }).find("ttype"),
              std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[0].link.address = std::string(300, 'a'); }).find("too long"),
              std::string::npos);
    EXPECT_NE(edited([](State &s) { s.users[1] = s.users[2]; s.users[1].id = 9; }).find("two console"),
              std::string::npos);
}

TEST(RebootState, RefusesBadFlagByteAndHugeCounts) {
    std::string f = write(sample());
    // The listener count is right after next_id (8) and the app string (4 + 10).
    std::string g = f;
    const std::size_t at = header_size + 8 + 4 + 10;
    for (int i = 0; i < 4; ++i) g[at + i] = static_cast<char>(0xff);
    EXPECT_NE(error_of(reseal(g)).find("bad count of listeners"), std::string::npos);
    // The first user's keep flag: after the two listeners and the user count.
    std::size_t user = at + 4 + (8 + 4 + 12 + 4) + (8 + 4 + 9 + 4) + 4;
    std::size_t keep = user + 8 + 4 + sample().users[0].address.size();
    std::string h = f;
    ASSERT_EQ(h[keep], 1);
    h[keep] = 2;
    EXPECT_NE(error_of(reseal(h)).find("bad flag"), std::string::npos);
}

TEST(RebootState, Crc32KnownValue) {
    EXPECT_EQ(crc32("123456789"), 0xCBF43926u);  // the standard check value
}

namespace {
struct NullHandler : telnet::TelnetHandler {
    std::string sent;
    void telnet_send(std::string_view b) override { sent.append(b); }
};
}  // namespace

TEST(RebootState, TelnetSaveRestoreKeepsQStateAndParserPlace) {
    NullHandler h1, h2;
    telnet::Telnet a(h1), b(h2);
    a.start();
    std::string data;
    // The client agrees to NAWS and reports a size, then sends half a GMCP message.
    a.feed("\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0\xff\xfd\xc9\xff\xfa\xc9" "Core"s, data);
    ASSERT_TRUE(b.restore(a.save()));
    EXPECT_TRUE(b.remote_enabled(telnet::OPT_NAWS));
    EXPECT_TRUE(b.local_enabled(telnet::OPT_GMCP));
    EXPECT_EQ(b.client().width, 80);
    EXPECT_EQ(b.client().height, 24);
    // The rest of the GMCP message completes in the restored parser, and a
    // confirmation of an enabled option gets no reply (nothing renegotiated).
    h2.sent.clear();
    b.feed(".Hello {}\xff\xf0\xff\xfb\x1f"s, data);
    EXPECT_EQ(h2.sent, "");
    EXPECT_EQ(data, "");
    telnet::Telnet::Saved bad = a.save();
    bad.parse_state = 9;
    EXPECT_FALSE(b.restore(bad));
}

TEST(RebootState, LineBufferRestore) {
    LineBuffer a(8), b(8);
    a.feed("abc\rdefghijkl", [](std::string_view, bool) {});
    b.restore(a.partial(), a.after_cr(), a.cut());
    std::vector<std::pair<std::string, bool>> got;
    b.feed("\n", [&](std::string_view l, bool cut) { got.emplace_back(std::string(l), cut); });
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].first, "defghijk");
    EXPECT_TRUE(got[0].second);
}
