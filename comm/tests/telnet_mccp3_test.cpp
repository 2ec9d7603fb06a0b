// MCCP3 through the telnet state machine (needs zlib to make the client's
// stream): where compression starts, how it ends, and how it fails.
#include "telnet.h"

#include "deflate_stream.h"
#include "test_bytes.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

using namespace comm::telnet;

namespace {

using comm::test_support::bytes;

// The client's side: one deflate stream, flushed (or finished) per call.
struct Client : comm::test_support::DeflateStream {
    Client() : DeflateStream(Z_BEST_COMPRESSION) {}
};

struct Recorder : TelnetHandler {
    std::string sent;
    std::vector<std::string> failures;
    std::vector<std::pair<std::string, std::string>> gmcp;
    void telnet_send(std::string_view b) override { sent.append(b); }
    void telnet_input_failed(std::string_view why) override { failures.emplace_back(why); }
    void telnet_gmcp(std::string_view p, std::string_view d) override { gmcp.emplace_back(p, d); }
};

const std::string kStart = bytes({IAC, SB, OPT_MCCP3, IAC, SE});

struct TelnetMccp3 : ::testing::Test {
    Recorder rec;
    Telnet tn{rec};
    std::string data;
    Client client;

    void SetUp() override { feed(bytes({IAC, DO, OPT_MCCP3})); }
    void feed(const std::string &s) { tn.feed(s, data); }
    void feed_bytewise(const std::string &s) {
        for (char c : s) tn.feed(std::string_view(&c, 1), data);
    }
};

}  // namespace

TEST_F(TelnetMccp3, do_mccp3_is_agreed_without_a_subnegotiation_from_us) {
    EXPECT_TRUE(tn.local_enabled(OPT_MCCP3));
    EXPECT_EQ(rec.sent, bytes({IAC, WILL, OPT_MCCP3}));
    EXPECT_EQ(tn.client().mccp3, ClientInfo::Mccp3::off);
}

TEST_F(TelnetMccp3, bytes_right_after_the_start_are_inflated_in_the_same_read) {
    feed("plain\r\n" + kStart + client.compress("look\r\nsay hi\r\n"));
    EXPECT_EQ(data, "plain\r\nlook\r\nsay hi\r\n");
    EXPECT_TRUE(tn.inflating());
    EXPECT_EQ(tn.client().mccp3, ClientInfo::Mccp3::inflating);
    EXPECT_EQ(tn.client().mccp3_out, 14u);
}

TEST_F(TelnetMccp3, every_split_of_the_start_and_the_stream_gives_the_same_data) {
    const std::string b = client.compress("b\r\n");  // in this order: one stream
    const std::string c = client.compress("c\r\n", true);
    const std::string wire = "a\r\n" + kStart + b + c + "d\r\n";
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
        Recorder r;
        Telnet t(r);
        std::string d;
        t.feed(bytes({IAC, DO, OPT_MCCP3}), d);
        t.feed(std::string_view(wire).substr(0, cut), d);
        t.feed(std::string_view(wire).substr(cut), d);
        EXPECT_EQ(d, "a\r\nb\r\nc\r\nd\r\n") << "cut at " << cut;
        EXPECT_EQ(t.client().mccp3, ClientInfo::Mccp3::ended) << "cut at " << cut;
    }
    feed_bytewise(wire);
    EXPECT_EQ(data, "a\r\nb\r\nc\r\nd\r\n");
}

TEST_F(TelnetMccp3, telnet_commands_inside_the_stream_are_read_as_telnet) {
    feed(kStart + client.compress(bytes({IAC, DO, OPT_GMCP, IAC, SB, OPT_GMCP}) + "Core.Hello {}" +
                                  bytes({IAC, SE}) + "x" + bytes({IAC, IAC}) + "\r\n"));
    EXPECT_TRUE(tn.local_enabled(OPT_GMCP));
    ASSERT_EQ(rec.gmcp.size(), 1u);
    EXPECT_EQ(rec.gmcp[0].first, "Core.Hello");
    EXPECT_EQ(data, "x\xff\r\n");
}

TEST_F(TelnetMccp3, a_second_start_inside_the_stream_is_ignored) {
    feed(kStart + client.compress(kStart + "one\r\n"));
    EXPECT_EQ(data, "one\r\n");
    feed(client.compress("two\r\n"));
    EXPECT_EQ(data, "one\r\ntwo\r\n");
}

TEST_F(TelnetMccp3, after_the_stream_ends_a_new_one_may_start) {
    feed(kStart + client.compress("one\r\n", true) + "plain\r\n");
    EXPECT_EQ(tn.client().mccp3, ClientInfo::Mccp3::ended);
    EXPECT_FALSE(tn.inflating());
    Client second;
    feed(kStart + second.compress("two\r\n"));
    EXPECT_EQ(data, "one\r\nplain\r\ntwo\r\n");
    EXPECT_EQ(tn.client().mccp3, ClientInfo::Mccp3::inflating);
}

TEST_F(TelnetMccp3, start_without_do_is_ignored_and_the_bytes_stay_plain) {
    Recorder r;
    Telnet t(r);
    std::string d;
    t.feed(kStart + "look\r\n", d);
    EXPECT_EQ(d, "look\r\n");
    EXPECT_FALSE(t.inflating());
}

TEST_F(TelnetMccp3, corrupt_stream_fails_once_and_later_input_is_ignored) {
    feed(kStart + client.compress("ok\r\n"));
    feed("garbage that is no deflate data\xff\xff");
    ASSERT_EQ(rec.failures.size(), 1u);
    EXPECT_EQ(rec.failures[0].rfind("MCCP3: bad compressed input", 0), 0u) << rec.failures[0];
    EXPECT_EQ(tn.client().mccp3, ClientInfo::Mccp3::failed);
    EXPECT_FALSE(tn.inflating());
    feed("more\r\n" + bytes({IAC, DO, OPT_GMCP}));
    EXPECT_EQ(data, "ok\r\n");
    EXPECT_EQ(rec.failures.size(), 1u);
    EXPECT_FALSE(tn.local_enabled(OPT_GMCP));
}

TEST_F(TelnetMccp3, corrupt_first_byte_right_after_the_start_fails) {
    feed(kStart + "look\r\n");  // a client that starts MCCP3 but sends plain text
    ASSERT_EQ(rec.failures.size(), 1u);
    EXPECT_EQ(data, "");
}

TEST_F(TelnetMccp3, a_decompression_bomb_fails_and_nothing_of_it_is_passed_on) {
    std::string bomb = client.compress(std::string(4 << 20, 'a'));
    ASSERT_LT(bomb.size(), 8000u);
    feed(kStart + bomb);
    ASSERT_EQ(rec.failures.size(), 1u);
    EXPECT_NE(rec.failures[0].find("decompression bomb"), std::string::npos) << rec.failures[0];
    EXPECT_LE(data.size(), 256u * 1024);  // at most one feed's budget, here none
    EXPECT_EQ(tn.client().mccp3, ClientInfo::Mccp3::failed);
}

TEST_F(TelnetMccp3, policy_budget_applies_per_feed) {
    Recorder r;
    Telnet t(r, Telnet::Policy{.inflate = {.max_output_per_feed = 1000, .max_ratio = 2, .ratio_floor = 100}});
    std::string d;
    t.feed(bytes({IAC, DO, OPT_MCCP3}) + kStart, d);
    t.feed(client.compress(std::string(600, 'x') + "\r\n"), d);
    EXPECT_EQ(r.failures.size(), 1u);
}
