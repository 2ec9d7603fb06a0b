#include "telnet.h"

#include "test_bytes.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace comm::telnet;

namespace {

using comm::test_support::bytes;

struct Recorder : TelnetHandler {
    std::string sent;
    std::vector<std::string> changes;
    int naws_w = -1, naws_h = -1;
    std::vector<std::string> ttypes;
    std::string charset;
    std::vector<std::pair<std::string, std::string>> gmcp;
    std::vector<bool> compress;
    std::vector<int> commands;

    void telnet_send(std::string_view b) override { sent.append(b); }
    void telnet_option_changed(std::uint8_t o, bool local, bool on) override {
        changes.push_back(std::string(local ? "us " : "him ") + std::to_string(o) + (on ? " on" : " off"));
    }
    void telnet_naws(int w, int h) override { naws_w = w, naws_h = h; }
    void telnet_ttype(std::string_view n) override { ttypes.emplace_back(n); }
    void telnet_charset(std::string_view n) override { charset = n; }
    void telnet_gmcp(std::string_view p, std::string_view d) override { gmcp.emplace_back(p, d); }
    void telnet_compress(bool on) override { compress.push_back(on); }
    std::vector<std::pair<std::string, std::string>> telnet_mssp() override {
        return {{"NAME", "Test"}, {"PLAYERS", "3"}};
    }
    void telnet_command(std::uint8_t c) override { commands.push_back(c); }
    comm::msdp::Variables msdp_values;
    std::vector<std::string> failures, protocol_errors;
    std::vector<std::string> telnet_msdp_names() override {
        std::vector<std::string> n;
        for (const auto &kv : msdp_values) n.push_back(kv.first);
        return n;
    }
    bool telnet_msdp_value(std::string_view name, comm::msdp::Value &out) override {
        for (const auto &kv : msdp_values)
            if (kv.first == name) return out = kv.second, true;
        return false;
    }
    void telnet_input_failed(std::string_view why) override { failures.emplace_back(why); }
    void telnet_protocol_error(std::string_view why) override { protocol_errors.emplace_back(why); }
    std::string take() { return std::exchange(sent, {}); }
};

struct TelnetTest : ::testing::Test {
    Recorder rec;
    Telnet tn{rec};
    std::string data;

    void feed(const std::string &s) { tn.feed(s, data); }
    // Feeds one byte per call: every split point at once.
    void feed_bytewise(const std::string &s) {
        for (char c : s) tn.feed(std::string_view(&c, 1), data);
    }
};

}  // namespace

TEST_F(TelnetTest, plain_data_passes_through) {
    feed("hello\r\n");
    EXPECT_EQ(data, "hello\r\n");
    EXPECT_EQ(rec.sent, "");
}

TEST_F(TelnetTest, iac_iac_in_data_is_one_0xff_byte) {
    feed(bytes({'a', IAC, IAC, 'b'}));
    EXPECT_EQ(data, bytes({'a', 0xff, 'b'}));
}

TEST_F(TelnetTest, iac_iac_split_across_reads_is_one_byte) {
    feed(bytes({'a', IAC}));
    feed(bytes({IAC, 'b'}));
    EXPECT_EQ(data, bytes({'a', 0xff, 'b'}));
}

TEST_F(TelnetTest, start_offers_the_server_options) {
    tn.start();
    std::string s = rec.take();
    EXPECT_NE(s.find(bytes({IAC, DO, OPT_TTYPE})), std::string::npos);
    EXPECT_NE(s.find(bytes({IAC, DO, OPT_NAWS})), std::string::npos);
    EXPECT_NE(s.find(bytes({IAC, WILL, OPT_EOR})), std::string::npos);
    EXPECT_NE(s.find(bytes({IAC, WILL, OPT_CHARSET})), std::string::npos);
    EXPECT_NE(s.find(bytes({IAC, WILL, OPT_GMCP})), std::string::npos);
    EXPECT_NE(s.find(bytes({IAC, WILL, OPT_MSSP})), std::string::npos);
    EXPECT_NE(s.find(bytes({IAC, WILL, OPT_MCCP2})), std::string::npos);
}

TEST_F(TelnetTest, mccp2_is_not_offered_when_policy_forbids) {
    Recorder r;
    Telnet t(r, Telnet::Policy{.mccp2 = false});
    t.start();
    EXPECT_EQ(r.sent.find(bytes({IAC, WILL, OPT_MCCP2})), std::string::npos);
    std::string d;
    t.feed(bytes({IAC, DO, OPT_MCCP2}), d);
    EXPECT_EQ(r.sent.substr(r.sent.size() - 3), bytes({IAC, WONT, OPT_MCCP2}));
    EXPECT_TRUE(r.compress.empty());
}

TEST_F(TelnetTest, unknown_option_is_refused_once) {
    feed(bytes({IAC, WILL, 99}));
    EXPECT_EQ(rec.take(), bytes({IAC, DONT, 99}));
    feed(bytes({IAC, DO, 99}));
    EXPECT_EQ(rec.take(), bytes({IAC, WONT, 99}));
    EXPECT_FALSE(tn.remote_enabled(99));
    EXPECT_FALSE(tn.local_enabled(99));
}

TEST_F(TelnetTest, acknowledgement_of_our_request_is_not_answered) {
    tn.request_remote(OPT_NAWS, true);
    EXPECT_EQ(rec.take(), bytes({IAC, DO, OPT_NAWS}));
    feed(bytes({IAC, WILL, OPT_NAWS}));
    EXPECT_EQ(rec.take(), "");  // no DO again: that is how loops start
    EXPECT_TRUE(tn.remote_enabled(OPT_NAWS));
}

TEST_F(TelnetTest, repeated_will_for_enabled_option_is_ignored) {
    feed(bytes({IAC, WILL, OPT_NAWS}));
    EXPECT_EQ(rec.take(), bytes({IAC, DO, OPT_NAWS}));
    for (int i = 0; i < 5; ++i) feed(bytes({IAC, WILL, OPT_NAWS}));
    EXPECT_EQ(rec.take(), "");
}

TEST_F(TelnetTest, refusal_of_our_request_leaves_option_off_silently) {
    tn.request_local(OPT_EOR, true);
    rec.take();
    feed(bytes({IAC, DONT, OPT_EOR}));
    EXPECT_EQ(rec.take(), "");
    EXPECT_FALSE(tn.local_enabled(OPT_EOR));
}

TEST_F(TelnetTest, disabling_an_enabled_option_is_acknowledged) {
    feed(bytes({IAC, WILL, OPT_NAWS}));
    rec.take();
    feed(bytes({IAC, WONT, OPT_NAWS}));
    EXPECT_EQ(rec.take(), bytes({IAC, DONT, OPT_NAWS}));
    EXPECT_FALSE(tn.remote_enabled(OPT_NAWS));
}

TEST_F(TelnetTest, q_method_queues_a_change_of_mind_instead_of_looping) {
    // We ask ECHO on, change our mind before the answer: nothing more goes
    // out until the answer, then exactly one WONT.
    tn.request_local(OPT_ECHO, true);
    tn.request_local(OPT_ECHO, false);
    EXPECT_EQ(rec.take(), bytes({IAC, WILL, OPT_ECHO}));
    feed(bytes({IAC, DO, OPT_ECHO}));
    EXPECT_EQ(rec.take(), bytes({IAC, WONT, OPT_ECHO}));
    feed(bytes({IAC, DONT, OPT_ECHO}));
    EXPECT_EQ(rec.take(), "");
    EXPECT_FALSE(tn.local_enabled(OPT_ECHO));
}

TEST_F(TelnetTest, q_method_wantno_opposite_reenables_after_ack) {
    feed(bytes({IAC, DO, OPT_ECHO}));
    rec.take();
    tn.request_local(OPT_ECHO, false);  // WONT sent, WANTNO
    tn.request_local(OPT_ECHO, true);   // queued
    EXPECT_EQ(rec.take(), bytes({IAC, WONT, OPT_ECHO}));
    feed(bytes({IAC, DONT, OPT_ECHO}));
    EXPECT_EQ(rec.take(), bytes({IAC, WILL, OPT_ECHO}));
    feed(bytes({IAC, DO, OPT_ECHO}));
    EXPECT_EQ(rec.take(), "");
    EXPECT_TRUE(tn.local_enabled(OPT_ECHO));
}

TEST_F(TelnetTest, two_peers_cannot_negotiation_loop) {
    // Two Telnet machines wired back to back, both asking for everything:
    // the exchange must end quickly.
    struct Wire : TelnetHandler {
        std::string out;
        void telnet_send(std::string_view b) override { out.append(b); }
    } a_wire, b_wire;
    Telnet a(a_wire), b(b_wire);
    a.start();
    b.start();
    a.request_remote(OPT_ECHO, true);
    b.request_local(OPT_ECHO, true);
    std::string sink;
    int rounds = 0;
    while ((!a_wire.out.empty() || !b_wire.out.empty()) && rounds < 50) {
        std::string to_b = std::exchange(a_wire.out, {});
        std::string to_a = std::exchange(b_wire.out, {});
        b.feed(to_b, sink);
        a.feed(to_a, sink);
        ++rounds;
    }
    EXPECT_LT(rounds, 10);
}

TEST_F(TelnetTest, hide_input_sends_will_echo_and_show_sends_wont) {
    tn.hide_input(true);
    EXPECT_EQ(rec.take(), bytes({IAC, WILL, OPT_ECHO}));
    feed(bytes({IAC, DO, OPT_ECHO}));
    EXPECT_TRUE(tn.local_enabled(OPT_ECHO));
    tn.hide_input(false);
    EXPECT_EQ(rec.take(), bytes({IAC, WONT, OPT_ECHO}));
    feed(bytes({IAC, DONT, OPT_ECHO}));
    EXPECT_FALSE(tn.local_enabled(OPT_ECHO));
}

TEST_F(TelnetTest, sga_is_accepted_and_suppresses_go_ahead) {
    EXPECT_EQ(tn.prompt_end(), bytes({IAC, GA}));
    feed(bytes({IAC, DO, OPT_SGA}));
    EXPECT_EQ(rec.take(), bytes({IAC, WILL, OPT_SGA}));
    EXPECT_EQ(tn.prompt_end(), "");
}

TEST_F(TelnetTest, eor_ends_prompts_once_agreed) {
    tn.request_local(OPT_EOR, true);
    feed(bytes({IAC, DO, OPT_EOR}));
    EXPECT_EQ(tn.prompt_end(), bytes({IAC, EOR_CMD}));
}

TEST_F(TelnetTest, naws_reports_window_size) {
    feed(bytes({IAC, WILL, OPT_NAWS, IAC, SB, OPT_NAWS, 0, 132, 0, 50, IAC, SE}));
    EXPECT_EQ(rec.naws_w, 132);
    EXPECT_EQ(rec.naws_h, 50);
    EXPECT_EQ(tn.client().width, 132);
    EXPECT_EQ(tn.client().height, 50);
}

TEST_F(TelnetTest, naws_with_escaped_255_width) {
    feed(bytes({IAC, WILL, OPT_NAWS, IAC, SB, OPT_NAWS, 0, IAC, IAC, 1, 0, IAC, SE}));
    EXPECT_EQ(rec.naws_w, 255);
    EXPECT_EQ(rec.naws_h, 256);
}

TEST_F(TelnetTest, naws_split_byte_by_byte) {
    feed_bytewise(bytes({'x', IAC, WILL, OPT_NAWS, IAC, SB, OPT_NAWS, 0, 80, 0, 24, IAC, SE, 'y'}));
    EXPECT_EQ(rec.naws_w, 80);
    EXPECT_EQ(rec.naws_h, 24);
    EXPECT_EQ(data, "xy");
}

TEST_F(TelnetTest, naws_ignored_unless_enabled) {
    feed(bytes({IAC, SB, OPT_NAWS, 0, 80, 0, 24, IAC, SE}));
    EXPECT_EQ(rec.naws_w, -1);
}

TEST_F(TelnetTest, naws_wrong_length_is_ignored) {
    feed(bytes({IAC, WILL, OPT_NAWS, IAC, SB, OPT_NAWS, 0, 80, 0, IAC, SE}));
    EXPECT_EQ(rec.naws_w, -1);
}

TEST_F(TelnetTest, ttype_cycles_through_mtts) {
    tn.start();
    rec.take();
    feed(bytes({IAC, WILL, OPT_TTYPE}));
    std::string send_req = bytes({IAC, SB, OPT_TTYPE, TTYPE_SEND, IAC, SE});
    EXPECT_EQ(rec.take(), send_req);
    feed(bytes({IAC, SB, OPT_TTYPE, TTYPE_IS}) + "TINTIN++" + bytes({IAC, SE}));
    EXPECT_EQ(rec.take(), send_req);
    feed(bytes({IAC, SB, OPT_TTYPE, TTYPE_IS}) + "XTERM-256COLOR" + bytes({IAC, SE}));
    EXPECT_EQ(rec.take(), send_req);
    feed(bytes({IAC, SB, OPT_TTYPE, TTYPE_IS}) + "MTTS 137" + bytes({IAC, SE}));
    EXPECT_EQ(rec.take(), "");  // done: no fourth request
    EXPECT_EQ(tn.client().client_name, "TINTIN++");
    EXPECT_EQ(tn.client().terminal_type, "XTERM-256COLOR");
    EXPECT_EQ(tn.client().mtts, 137u);
    EXPECT_EQ(rec.ttypes.size(), 3u);
}

TEST_F(TelnetTest, ttype_stops_when_client_repeats_itself) {
    feed(bytes({IAC, WILL, OPT_TTYPE}));
    rec.take();
    feed(bytes({IAC, SB, OPT_TTYPE, TTYPE_IS}) + "XTERM" + bytes({IAC, SE}));
    rec.take();
    feed(bytes({IAC, SB, OPT_TTYPE, TTYPE_IS}) + "XTERM" + bytes({IAC, SE}));
    EXPECT_EQ(rec.take(), "");
    EXPECT_EQ(tn.client().client_name, "XTERM");
    EXPECT_EQ(tn.client().terminal_type, "");
    EXPECT_EQ(tn.client().mtts, 0u);
}

TEST_F(TelnetTest, charset_request_is_sent_when_agreed_and_acceptance_recorded) {
    tn.request_local(OPT_CHARSET, true);
    rec.take();
    feed(bytes({IAC, DO, OPT_CHARSET}));
    EXPECT_EQ(rec.take(), bytes({IAC, SB, OPT_CHARSET, CHARSET_REQUEST, ';', 'U', 'T', 'F', '-', '8', IAC, SE}));
    feed(bytes({IAC, SB, OPT_CHARSET, CHARSET_ACCEPTED, 'U', 'T', 'F', '-', '8', IAC, SE}));
    EXPECT_EQ(rec.charset, "UTF-8");
    EXPECT_EQ(tn.client().charset, "UTF-8");
}

TEST_F(TelnetTest, charset_request_from_client_picks_utf8) {
    feed(bytes({IAC, WILL, OPT_CHARSET}));
    rec.take();
    feed(bytes({IAC, SB, OPT_CHARSET, CHARSET_REQUEST}) + " ISO-8859-1 utf-8" + bytes({IAC, SE}));
    EXPECT_EQ(rec.take(), bytes({IAC, SB, OPT_CHARSET, CHARSET_ACCEPTED}) + "utf-8" + bytes({IAC, SE}));
    EXPECT_EQ(tn.client().charset, "UTF-8");
}

TEST_F(TelnetTest, charset_request_without_utf8_is_rejected) {
    feed(bytes({IAC, WILL, OPT_CHARSET}));
    rec.take();
    feed(bytes({IAC, SB, OPT_CHARSET, CHARSET_REQUEST}) + ";KOI8-R" + bytes({IAC, SE}));
    EXPECT_EQ(rec.take(), bytes({IAC, SB, OPT_CHARSET, CHARSET_REJECTED, IAC, SE}));
    EXPECT_EQ(tn.client().charset, "");
}

TEST_F(TelnetTest, mccp2_do_sends_start_marker_then_starts_compression) {
    tn.start();
    rec.take();
    feed(bytes({IAC, DO, OPT_MCCP2}));
    EXPECT_EQ(rec.take(), bytes({IAC, SB, OPT_MCCP2, IAC, SE}));
    ASSERT_EQ(rec.compress.size(), 1u);
    EXPECT_TRUE(rec.compress[0]);
}

TEST_F(TelnetTest, mccp2_dont_stops_compression) {
    feed(bytes({IAC, DO, OPT_MCCP2}));
    feed(bytes({IAC, DONT, OPT_MCCP2}));
    EXPECT_EQ(rec.compress, (std::vector<bool>{true, false}));
}

TEST_F(TelnetTest, gmcp_message_from_client_is_split_into_package_and_data) {
    feed(bytes({IAC, DO, OPT_GMCP}));
    feed(bytes({IAC, SB, OPT_GMCP}) + "Core.Hello {\"client\":\"x\"}" + bytes({IAC, SE}));
    ASSERT_EQ(rec.gmcp.size(), 1u);
    EXPECT_EQ(rec.gmcp[0].first, "Core.Hello");
    EXPECT_EQ(rec.gmcp[0].second, "{\"client\":\"x\"}");
}

TEST_F(TelnetTest, gmcp_output_only_when_enabled) {
    EXPECT_EQ(tn.gmcp("Char.Name", "{}"), "");
    feed(bytes({IAC, DO, OPT_GMCP}));
    EXPECT_EQ(tn.gmcp("Char.Name", "{}"), bytes({IAC, SB, OPT_GMCP}) + "Char.Name {}" + bytes({IAC, SE}));
}

TEST_F(TelnetTest, mssp_variables_sent_when_client_enables_mssp) {
    feed(bytes({IAC, DO, OPT_MSSP}));
    std::string expect = bytes({IAC, WILL, OPT_MSSP, IAC, SB, OPT_MSSP, MSSP_VAR}) + "NAME" +
                         bytes({MSSP_VAL}) + "Test" + bytes({MSSP_VAR}) + "PLAYERS" +
                         bytes({MSSP_VAL}) + "3" +
                         // the protocol keys of the MSSP spec, from the policy
                         bytes({MSSP_VAR}) + "GMCP" + bytes({MSSP_VAL}) + "1" +
                         bytes({MSSP_VAR}) + "MSDP" + bytes({MSSP_VAL}) + "1" +
                         bytes({MSSP_VAR}) + "MCCP" + bytes({MSSP_VAL}) + "1" + bytes({IAC, SE});
    EXPECT_EQ(rec.take(), expect);
}

TEST_F(TelnetTest, subnegotiation_split_at_every_byte) {
    std::string seq = bytes({IAC, DO, OPT_GMCP, IAC, SB, OPT_GMCP}) + "A.B 1" + bytes({IAC, IAC, IAC, SE});
    feed_bytewise(seq);
    ASSERT_EQ(rec.gmcp.size(), 1u);
    EXPECT_EQ(rec.gmcp[0].second, std::string("1") + bytes({0xff}));
}

TEST_F(TelnetTest, oversized_subnegotiation_is_dropped_and_parser_recovers) {
    Telnet small(rec, Telnet::Policy{.mccp2 = true, .max_subnegotiation = 16});
    std::string d;
    small.feed(bytes({IAC, DO, OPT_GMCP, IAC, SB, OPT_GMCP}) + std::string(1000, 'x') + bytes({IAC, SE}) + "ok", d);
    EXPECT_TRUE(rec.gmcp.empty());
    EXPECT_EQ(d, "ok");
}

TEST_F(TelnetTest, unterminated_subnegotiation_resyncs_on_next_command) {
    feed(bytes({IAC, WILL, OPT_NAWS, IAC, SB, OPT_NAWS, 0, 80, IAC, WONT, OPT_NAWS}) + "data");
    EXPECT_EQ(rec.naws_w, -1);
    EXPECT_FALSE(tn.remote_enabled(OPT_NAWS));
    EXPECT_EQ(data, "data");
}

TEST_F(TelnetTest, garbage_commands_do_not_disturb_data) {
    feed(bytes({'a', IAC, NOP, 'b', IAC, 17, 'c', IAC, GA, 'd', IAC, SE, 'e'}));
    EXPECT_EQ(data, "abcde");
}

TEST_F(TelnetTest, random_garbage_never_crashes_and_replies_are_bounded) {
    std::uint32_t x = 12345;
    std::string junk;
    for (int i = 0; i < 200000; ++i) {
        x = x * 1103515245u + 12345u;
        std::uint8_t b = static_cast<std::uint8_t>(x >> 16);
        if ((x >> 8) % 4 == 0) b = IAC;
        junk += static_cast<char>(b);
    }
    feed(junk);
    // Each received verb gets at most one 3-byte reply.
    EXPECT_LE(rec.sent.size(), junk.size() * 3);
    EXPECT_LE(data.size(), junk.size());
}

TEST_F(TelnetTest, are_you_there_is_answered) {
    feed(bytes({IAC, AYT}));
    EXPECT_NE(rec.take().find("[Yes]"), std::string::npos);
}

TEST(TelnetEncode, doubles_iac_and_turns_newline_into_crlf) {
    EXPECT_EQ(Telnet::encode(std::string("a\nb") + bytes({0xff})), std::string("a\r\nb") + bytes({0xff, 0xff}));
}

// ---- the renegotiation limit --------------------------------------------------

namespace {

struct Refusals : Recorder {
    std::vector<std::pair<int, bool>> refused;
    void telnet_renegotiation_refused(std::uint8_t o, bool local) override {
        refused.emplace_back(o, local);
    }
};

std::string toggles(int option, int times) {
    std::string s;
    for (int i = 0; i < times; ++i) s += bytes({IAC, DO, option, IAC, DONT, option});
    return s;
}

}  // namespace

TEST(TelnetLimit, toggling_past_the_limit_is_refused_with_wont_and_state_stays_off) {
    Refusals r;
    Telnet t(r, Telnet::Policy{.max_option_changes = 3});
    std::string d;
    t.feed(toggles(OPT_MCCP2, 3), d);
    EXPECT_EQ(r.compress, (std::vector<bool>{true, false, true, false, true, false}));
    r.take();
    t.feed(bytes({IAC, DO, OPT_MCCP2}), d);
    EXPECT_EQ(r.take(), bytes({IAC, WONT, OPT_MCCP2}));  // refused: the negative verb
    EXPECT_FALSE(t.local_enabled(OPT_MCCP2));
    EXPECT_EQ(r.compress.size(), 6u);  // no compression started
    t.feed(bytes({IAC, DONT, OPT_MCCP2}), d);
    EXPECT_EQ(r.take(), "");  // already off: nothing to answer (no loop)
    t.feed(toggles(OPT_MCCP2, 5), d);
    std::string five_refusals;
    for (int i = 0; i < 5; ++i) five_refusals += bytes({IAC, WONT, OPT_MCCP2});
    EXPECT_EQ(r.take(), five_refusals);
    ASSERT_EQ(r.refused.size(), 1u);  // reported once
    EXPECT_EQ(r.refused[0], std::make_pair(int(OPT_MCCP2), true));
}

TEST(TelnetLimit, the_peer_side_is_limited_too_and_answered_with_dont) {
    Refusals r;
    Telnet t(r, Telnet::Policy{.max_option_changes = 2});
    std::string d;
    for (int i = 0; i < 2; ++i) t.feed(bytes({IAC, WILL, OPT_TTYPE, IAC, WONT, OPT_TTYPE}), d);
    r.take();
    t.feed(bytes({IAC, WILL, OPT_TTYPE}), d);
    EXPECT_EQ(r.take(), bytes({IAC, DONT, OPT_TTYPE}));
    EXPECT_FALSE(t.remote_enabled(OPT_TTYPE));
}

TEST(TelnetLimit, disabling_is_always_honoured) {
    Refusals r;
    Telnet t(r, Telnet::Policy{.max_option_changes = 1});
    std::string d;
    t.feed(bytes({IAC, DO, OPT_EOR}), d);
    EXPECT_TRUE(t.local_enabled(OPT_EOR));
    r.take();
    t.feed(bytes({IAC, DONT, OPT_EOR}), d);
    EXPECT_EQ(r.take(), bytes({IAC, WONT, OPT_EOR}));
    EXPECT_FALSE(t.local_enabled(OPT_EOR));
}

TEST(TelnetLimit, our_own_requests_still_work_past_the_limit) {
    Refusals r;
    Telnet t(r, Telnet::Policy{.max_option_changes = 1});
    std::string d;
    t.feed(toggles(OPT_ECHO, 2), d);
    r.take();
    t.hide_input(true);  // the server asks; the peer's agreement is no peer-made change
    EXPECT_EQ(r.take(), bytes({IAC, WILL, OPT_ECHO}));
    t.feed(bytes({IAC, DO, OPT_ECHO}), d);
    EXPECT_TRUE(t.local_enabled(OPT_ECHO));
}

TEST(TelnetLimit, a_new_window_allows_changes_again) {
    Refusals r;
    Telnet t(r, Telnet::Policy{.max_option_changes = 1, .option_change_window = std::chrono::seconds(10)});
    std::string d;
    auto t0 = Telnet::Clock::now();
    t.set_time(t0);
    t.feed(toggles(OPT_EOR, 2), d);
    EXPECT_FALSE(t.local_enabled(OPT_EOR));
    t.set_time(t0 + std::chrono::seconds(11));
    r.take();
    t.feed(bytes({IAC, DO, OPT_EOR}), d);
    EXPECT_EQ(r.take(), bytes({IAC, WILL, OPT_EOR}));
    EXPECT_TRUE(t.local_enabled(OPT_EOR));
}

TEST(TelnetLimit, stats_count_replies_and_subnegotiation_bytes) {
    Recorder r;
    Telnet t(r);
    std::string d;
    t.feed(bytes({IAC, DO, 99, IAC, WILL, 98}), d);
    EXPECT_EQ(t.stats().replies_sent, 2u);
    t.feed(bytes({IAC, SB, OPT_GMCP, 'a', 'b', 'c', IAC, SE}), d);
    EXPECT_EQ(t.stats().subnegotiation_bytes, 4u);  // the payload and the IAC of IAC SE
}

// ---- NEW-ENVIRON / MNES --------------------------------------------------

namespace {
namespace ne = comm::newenv;

std::string sb(int option, const std::string &payload) {
    std::string out = bytes({IAC, SB, option});
    for (char c : payload) {
        out += c;
        if (static_cast<std::uint8_t>(c) == IAC) out += c;
    }
    return out + bytes({IAC, SE});
}

std::string mnes_is(std::initializer_list<std::pair<const char *, const char *>> vars, int kind = ne::IS) {
    std::string p(1, static_cast<char>(kind));
    for (auto [n, v] : vars) p += bytes({ne::VAR}) + n + bytes({ne::VALUE}) + v;
    return sb(OPT_NEW_ENVIRON, p);
}
}  // namespace

TEST_F(TelnetTest, start_offers_new_environ_msdp_and_mccp3) {
    tn.start();
    std::string s = rec.take();
    EXPECT_NE(s.find(bytes({IAC, DO, OPT_NEW_ENVIRON})), std::string::npos);
    EXPECT_NE(s.find(bytes({IAC, WILL, OPT_MSDP})), std::string::npos);
    EXPECT_EQ(s.find(bytes({IAC, WILL, OPT_MCCP3})) != std::string::npos, comm::Decompressor::available());
}

TEST_F(TelnetTest, policy_can_turn_off_new_environ_msdp_and_mccp3) {
    Recorder r;
    Telnet t(r, Telnet::Policy{.mccp3 = false, .msdp = false, .new_environ = false});
    t.start();
    EXPECT_EQ(r.sent.find(bytes({IAC, DO, OPT_NEW_ENVIRON})), std::string::npos);
    EXPECT_EQ(r.sent.find(bytes({IAC, WILL, OPT_MSDP})), std::string::npos);
    EXPECT_EQ(r.sent.find(bytes({IAC, WILL, OPT_MCCP3})), std::string::npos);
    r.take();
    std::string d;
    t.feed(bytes({IAC, DO, OPT_MSDP, IAC, DO, OPT_MCCP3, IAC, WILL, OPT_NEW_ENVIRON}), d);
    EXPECT_EQ(r.take(), bytes({IAC, WONT, OPT_MSDP, IAC, WONT, OPT_MCCP3, IAC, DONT, OPT_NEW_ENVIRON}));
}

TEST_F(TelnetTest, mnes_will_is_answered_with_send_for_the_mnes_variables) {
    tn.start();
    rec.take();
    feed(bytes({IAC, WILL, OPT_NEW_ENVIRON}));
    std::string expect = bytes({IAC, SB, OPT_NEW_ENVIRON, ne::SEND});
    for (const char *n : {"CHARSET", "CLIENT_NAME", "CLIENT_VERSION", "MTTS", "TERMINAL_TYPE", "IPADDRESS"})
        expect += bytes({ne::VAR}) + n;
    EXPECT_EQ(rec.take(), expect + bytes({IAC, SE}));
}

TEST_F(TelnetTest, mnes_is_then_info_fill_client_info_split_at_every_byte) {
    tn.start();
    feed_bytewise(bytes({IAC, WILL, OPT_NEW_ENVIRON}) +
                  mnes_is({{"CLIENT_NAME", "MUDLET"}, {"CLIENT_VERSION", "4.17.2"}, {"CHARSET", "UTF-8"},
                           {"TERMINAL_TYPE", "ANSI-TRUECOLOR"}, {"MTTS", "2825"}, {"IPADDRESS", "10.1.2.3"}}) +
                  mnes_is({{"CHARSET", "ASCII"}}, ne::INFO) + "look\r\n");
    const ClientInfo &c = tn.client();
    EXPECT_TRUE(c.mnes);
    EXPECT_EQ(c.mnes_values.client_name, "MUDLET");
    EXPECT_EQ(c.mnes_values.client_version, "4.17.2");
    EXPECT_EQ(c.mnes_values.charset, "ASCII");  // INFO updated it
    EXPECT_EQ(c.mnes_values.terminal_type, "ANSI-TRUECOLOR");
    EXPECT_TRUE(c.mnes_values.has_mtts);
    EXPECT_EQ(c.mnes_values.mtts, 2825u);
    EXPECT_EQ(c.mnes_values.ip_address, "10.1.2.3");
    EXPECT_EQ(data, "look\r\n");
}

TEST_F(TelnetTest, mnes_values_are_made_printable_and_bounded) {
    feed(bytes({IAC, WILL, OPT_NEW_ENVIRON}) +
         mnes_is({{"CLIENT_NAME", "EVIL\x1b[2J\xff"}, {"CLIENT_VERSION", std::string(200, 'v').c_str()}}));
    const ClientInfo &c = tn.client();
    EXPECT_EQ(c.mnes_values.client_name, "EVIL?[2J?");
    EXPECT_EQ(c.mnes_values.client_version, std::string(64, 'v'));
}

TEST_F(TelnetTest, mnes_malformed_is_reported_and_changes_nothing) {
    feed(bytes({IAC, WILL, OPT_NEW_ENVIRON}) + mnes_is({{"CLIENT_NAME", "OK"}}));
    // VALUE with no variable; an unknown message type; an ESC at the end
    feed(sb(OPT_NEW_ENVIRON, bytes({ne::IS, ne::VALUE}) + "x"));
    feed(sb(OPT_NEW_ENVIRON, bytes({7, ne::VAR}) + "CLIENT_NAME"));
    feed(sb(OPT_NEW_ENVIRON, bytes({ne::IS, ne::VAR}) + "CLIENT_NAME" + bytes({ne::VALUE}) + "X" + bytes({ne::ESC})));
    EXPECT_EQ(rec.protocol_errors.size(), 3u);
    EXPECT_EQ(tn.client().mnes_values.client_name, "OK");
    for (const std::string &e : rec.protocol_errors) EXPECT_EQ(e.rfind("NEW-ENVIRON: ", 0), 0u) << e;
}

TEST_F(TelnetTest, mnes_is_ignored_unless_the_client_agreed) {
    feed(mnes_is({{"CLIENT_NAME", "SNEAKY"}}));
    EXPECT_FALSE(tn.client().mnes);
    EXPECT_EQ(tn.client().mnes_values.client_name, "");
}

TEST_F(TelnetTest, mnes_send_from_the_client_is_not_an_answer) {
    feed(bytes({IAC, WILL, OPT_NEW_ENVIRON}));
    rec.take();
    feed(sb(OPT_NEW_ENVIRON, bytes({ne::SEND, ne::VAR}) + "USER"));
    EXPECT_FALSE(tn.client().mnes);
    EXPECT_EQ(rec.take(), "");
}

// ---- MSDP -------------------------------------------------------------------

namespace {
namespace md = comm::msdp;

std::string msdp_cmd(const std::string &name, std::initializer_list<const char *> args) {
    std::string p = bytes({md::VAR}) + name;
    if (args.size() == 1) {
        p += bytes({md::VAL}) + *args.begin();
    } else {
        p += bytes({md::VAL, md::ARRAY_OPEN});
        for (const char *a : args) p += bytes({md::VAL}) + a;
        p += bytes({md::ARRAY_CLOSE});
    }
    return sb(OPT_MSDP, p);
}

std::string msdp_var(const std::string &name, const md::Value &v) { return sb(OPT_MSDP, md::encode(name, v)); }

struct MsdpTest : TelnetTest {
    void SetUp() override {
        rec.msdp_values = {{"ROOM_NAME", md::Value::string("The Lobby")},
                           {"PLAYERS", md::Value::string("2")}};
        feed(bytes({IAC, DO, OPT_MSDP}));
        rec.take();
    }
};
}  // namespace

TEST_F(MsdpTest, do_msdp_enables_it_and_the_client_info_says_so) {
    EXPECT_TRUE(tn.local_enabled(OPT_MSDP));
    EXPECT_TRUE(tn.client().msdp);
}

TEST_F(MsdpTest, list_answers_every_standard_list) {
    feed(msdp_cmd("LIST", {"COMMANDS"}));
    EXPECT_EQ(rec.take(), sb(OPT_MSDP, md::encode_list("COMMANDS", {"LIST", "REPORT", "RESET", "SEND", "UNREPORT"})));
    feed(msdp_cmd("LIST", {"LISTS"}));
    EXPECT_EQ(rec.take(), sb(OPT_MSDP, md::encode_list("LISTS", {"COMMANDS", "LISTS", "CONFIGURABLE_VARIABLES",
                                                                 "REPORTABLE_VARIABLES", "REPORTED_VARIABLES",
                                                                 "SENDABLE_VARIABLES"})));
    feed(msdp_cmd("LIST", {"REPORTABLE_VARIABLES", "SENDABLE_VARIABLES"}));
    EXPECT_EQ(rec.take(), sb(OPT_MSDP, md::encode_list("REPORTABLE_VARIABLES", {"ROOM_NAME", "PLAYERS"})) +
                              sb(OPT_MSDP, md::encode_list("SENDABLE_VARIABLES", {"ROOM_NAME", "PLAYERS"})));
    feed(msdp_cmd("LIST", {"CONFIGURABLE_VARIABLES"}));
    EXPECT_NE(rec.take().find("CLIENT_NAME"), std::string::npos);
    feed(msdp_cmd("LIST", {"REPORTED_VARIABLES"}));
    EXPECT_EQ(rec.take(), sb(OPT_MSDP, md::encode_list("REPORTED_VARIABLES", {})));
    feed(msdp_cmd("LIST", {"NO_SUCH_LIST"}));
    EXPECT_EQ(rec.take(), "");
}

TEST_F(MsdpTest, report_sends_the_value_then_every_change_until_unreport) {
    feed(msdp_cmd("REPORT", {"ROOM_NAME", "NO_SUCH_VAR"}));
    EXPECT_EQ(rec.take(), msdp_var("ROOM_NAME", md::Value::string("The Lobby")));
    EXPECT_TRUE(tn.msdp_reported("ROOM_NAME"));
    EXPECT_FALSE(tn.msdp_reported("NO_SUCH_VAR"));  // only names the application has
    tn.msdp_changed("ROOM_NAME", md::Value::string("Garden"));
    EXPECT_EQ(rec.take(), msdp_var("ROOM_NAME", md::Value::string("Garden")));
    tn.msdp_changed("PLAYERS", md::Value::string("3"));  // not reported
    EXPECT_EQ(rec.take(), "");
    feed(msdp_cmd("LIST", {"REPORTED_VARIABLES"}));
    EXPECT_EQ(rec.take(), sb(OPT_MSDP, md::encode_list("REPORTED_VARIABLES", {"ROOM_NAME"})));
    feed(msdp_cmd("UNREPORT", {"ROOM_NAME"}));
    tn.msdp_changed("ROOM_NAME", md::Value::string("Hall"));
    EXPECT_EQ(rec.take(), "");
}

TEST_F(MsdpTest, reset_and_dont_msdp_forget_the_reports) {
    feed(msdp_cmd("REPORT", {"ROOM_NAME", "PLAYERS"}));
    feed(msdp_cmd("RESET", {"REPORTABLE_VARIABLES"}));
    EXPECT_FALSE(tn.msdp_reported("ROOM_NAME"));
    feed(msdp_cmd("REPORT", {"PLAYERS"}));
    feed(bytes({IAC, DONT, OPT_MSDP}));
    EXPECT_FALSE(tn.msdp_reported("PLAYERS"));
    rec.take();
    tn.msdp_changed("PLAYERS", md::Value::string("9"));
    EXPECT_EQ(rec.take(), "");
}

TEST_F(MsdpTest, send_sends_once_tables_included) {
    rec.msdp_values.emplace_back("ROOM", md::Value::make_table({{"NAME", md::Value::string("Lobby")},
                                                                {"EXITS", md::Value::make_table({})}}));
    feed(msdp_cmd("SEND", {"ROOM"}));
    EXPECT_EQ(rec.take(), msdp_var("ROOM", rec.msdp_values.back().second));
    EXPECT_FALSE(tn.msdp_reported("ROOM"));
}

TEST_F(MsdpTest, client_set_variables_are_kept_printable_and_bounded) {
    feed(sb(OPT_MSDP, bytes({md::VAR}) + "CLIENT_NAME" + bytes({md::VAL}) + "TINTIN++" + bytes({md::VAR}) +
                          "CLIENT_VERSION" + bytes({md::VAL}) + "2.02\x1b[31m"));
    ASSERT_EQ(tn.client().msdp_client.size(), 2u);
    EXPECT_EQ(tn.client().msdp_client[0], (std::pair<std::string, std::string>{"CLIENT_NAME", "TINTIN++"}));
    EXPECT_EQ(tn.client().msdp_client[1].second, "2.02?[31m");
    feed(sb(OPT_MSDP, bytes({md::VAR}) + "CLIENT_NAME" + bytes({md::VAL}) + std::string(300, 'x')));
    EXPECT_EQ(tn.client().msdp_client[0].second, std::string(Telnet::kMsdpValueLength, 'x'));
    for (int i = 0; i < 40; ++i)
        feed(sb(OPT_MSDP, bytes({md::VAR}) + "V" + std::to_string(i) + bytes({md::VAL}) + "1"));
    EXPECT_EQ(tn.client().msdp_client.size(), Telnet::kMsdpClientVars);
}

TEST_F(MsdpTest, malformed_too_deep_and_oversized_messages_are_ignored) {
    feed(sb(OPT_MSDP, bytes({md::VAL}) + "x"));  // no VAR
    std::string deep = bytes({md::VAR}) + "REPORT" + bytes({md::VAL});
    for (int i = 0; i < 20; ++i) deep += bytes({md::TABLE_OPEN, md::VAR}) + "k" + bytes({md::VAL});
    feed(sb(OPT_MSDP, deep));
    feed(sb(OPT_MSDP, bytes({md::VAR}) + "REPORT" + bytes({md::VAL, md::TABLE_OPEN, md::VAR}) + "a" +
                          bytes({md::VAL}) + "b" + bytes({md::TABLE_CLOSE})));  // arguments not strings
    ASSERT_EQ(rec.protocol_errors.size(), 3u);
    EXPECT_NE(rec.protocol_errors[1].find("deeper"), std::string::npos) << rec.protocol_errors[1];
    // Longer than max_subnegotiation: dropped whole, no reply, no error callback needed.
    feed(sb(OPT_MSDP, bytes({md::VAR}) + "LIST" + bytes({md::VAL}) + "COMMANDS" + std::string(9000, 'x')));
    EXPECT_EQ(rec.take(), "");
    EXPECT_TRUE(tn.client().msdp_client.empty());
    feed(msdp_cmd("LIST", {"COMMANDS"}));  // and the session goes on
    EXPECT_NE(rec.take(), "");
}

TEST_F(MsdpTest, a_message_of_many_commands_is_read_only_in_part) {
    std::string p;
    for (int i = 0; i < 100; ++i) p += bytes({md::VAR}) + "LIST" + bytes({md::VAL}) + "COMMANDS";
    feed(sb(OPT_MSDP, p));
    std::string one = sb(OPT_MSDP, md::encode_list("COMMANDS", {"LIST", "REPORT", "RESET", "SEND", "UNREPORT"}));
    EXPECT_EQ(rec.take().size(), 32 * one.size());
    ASSERT_EQ(rec.protocol_errors.size(), 1u);
}

TEST_F(TelnetTest, msdp_is_ignored_unless_the_client_agreed) {
    rec.msdp_values = {{"PLAYERS", md::Value::string("2")}};
    feed(msdp_cmd("REPORT", {"PLAYERS"}));
    EXPECT_EQ(rec.take(), "");
    tn.msdp_changed("PLAYERS", md::Value::string("3"));
    EXPECT_EQ(rec.take(), "");
}
