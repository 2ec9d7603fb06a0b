#include "new_environ.h"

#include <gtest/gtest.h>

using namespace comm::newenv;

namespace {

// Readable payloads: ^ = VAR, = = VALUE, ~ = USERVAR, \ = ESC.
std::string e(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '^': out += char(VAR); break;
        case '=': out += char(VALUE); break;
        case '~': out += char(USERVAR); break;
        case '\\': out += char(ESC); break;
        default: out += c;
        }
    }
    return out;
}

std::string error_of(const std::string &payload, Limits limits = {}) {
    Message m;
    m.vars.resize(1);
    std::string error;
    EXPECT_FALSE(parse(payload, m, error, limits));
    EXPECT_EQ(m.vars.size(), 1u);  // untouched
    return error;
}

}  // namespace

TEST(NewEnviron, mudlet_style_is_reply_gives_mnes) {
    Message m;
    std::string error;
    ASSERT_TRUE(parse(std::string(1, IS) +
                          e("^CLIENT_NAME=MUDLET^CLIENT_VERSION=4.17.2^CHARSET=UTF-8^MTTS=2825^TERMINAL_TYPE=ANSI-TRUECOLOR~IPADDRESS=203.0.113.9"),
                      m, error))
        << error;
    ASSERT_EQ(m.vars.size(), 6u);
    EXPECT_TRUE(m.vars[5].user);
    Mnes mnes;
    ASSERT_TRUE(apply(m, mnes));
    EXPECT_EQ(mnes.client_name, "MUDLET");
    EXPECT_EQ(mnes.client_version, "4.17.2");
    EXPECT_EQ(mnes.charset, "UTF-8");
    EXPECT_EQ(mnes.terminal_type, "ANSI-TRUECOLOR");
    EXPECT_EQ(mnes.ip_address, "203.0.113.9");
    EXPECT_TRUE(mnes.has_mtts);
    EXPECT_EQ(mnes.mtts, 2825u);
}

TEST(NewEnviron, undefined_empty_and_escaped_values) {
    Message m;
    std::string error;
    ASSERT_TRUE(parse(std::string(1, INFO) + e("^A^B=^C=x\\\x01y"), m, error)) << error;
    ASSERT_EQ(m.vars.size(), 3u);
    EXPECT_FALSE(m.vars[0].has_value);
    EXPECT_TRUE(m.vars[1].has_value);
    EXPECT_EQ(m.vars[1].value, "");
    EXPECT_EQ(m.vars[2].value, "x\x01y");
    EXPECT_EQ(m.kind, INFO);
}

TEST(NewEnviron, info_updates_and_bad_mtts_is_ignored) {
    Mnes mnes;
    Message m;
    std::string error;
    ASSERT_TRUE(parse(std::string(1, INFO) + e("^MTTS=12x^CLIENT_NAME=a\x1b[31mb"), m, error));
    apply(m, mnes);
    EXPECT_FALSE(mnes.has_mtts);
    EXPECT_EQ(mnes.client_name, "a?[31mb");  // no raw escape reaches a terminal or log
}

TEST(NewEnviron, a_send_from_the_client_is_not_applied) {
    Message m;
    std::string error;
    ASSERT_TRUE(parse(std::string(1, SEND) + e("^USER"), m, error));
    Mnes mnes;
    EXPECT_FALSE(apply(m, mnes));
}

TEST(NewEnviron, encode_send_escapes_code_bytes) {
    EXPECT_EQ(encode_send({"CHARSET", std::string("A\x02", 2)}), std::string(1, SEND) + e("^CHARSET^A\\\\"));
    Message m;
    std::string error;
    ASSERT_TRUE(parse(encode_send(mnes_variables()), m, error));
    EXPECT_EQ(m.kind, SEND);
    ASSERT_EQ(m.vars.size(), mnes_variables().size());
    EXPECT_EQ(m.vars[1].name, "CLIENT_NAME");
}

TEST(NewEnviron, every_malformed_message_has_its_own_error) {
    EXPECT_EQ(error_of(""), "NEW-ENVIRON: empty message");
    EXPECT_EQ(error_of("\x07"), "NEW-ENVIRON: unknown message type 7");
    EXPECT_EQ(error_of(std::string(1, IS) + e("=x")), "NEW-ENVIRON: VALUE without a variable at byte 1");
    EXPECT_EQ(error_of(std::string(1, IS) + e("^A=1=2")), "NEW-ENVIRON: VALUE without a variable at byte 5");
    EXPECT_EQ(error_of(std::string(1, IS) + e("^A\\")), "NEW-ENVIRON: ESC at the end of the message");
    EXPECT_EQ(error_of(std::string(1, IS) + e("\\A")), "NEW-ENVIRON: expected VAR or USERVAR at byte 1");
    EXPECT_EQ(error_of(std::string(1, IS) + e("^") + std::string(300, 'a')),
              "NEW-ENVIRON: a name or value longer than 256 bytes");
    EXPECT_EQ(error_of(std::string(1, IS) + e("^a^b^c"), Limits{2, 10}), "NEW-ENVIRON: more than 2 variables");
}
