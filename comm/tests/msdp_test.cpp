#include "msdp.h"

#include <gtest/gtest.h>

using namespace comm::msdp;

namespace {

// Readable payloads: ^ = VAR, = = VAL, { } = table, [ ] = array.
std::string m(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '^': out += char(VAR); break;
        case '=': out += char(VAL); break;
        case '{': out += char(TABLE_OPEN); break;
        case '}': out += char(TABLE_CLOSE); break;
        case '[': out += char(ARRAY_OPEN); break;
        case ']': out += char(ARRAY_CLOSE); break;
        default: out += c;
        }
    }
    return out;
}

Variables parsed(std::string_view readable) {
    Variables v;
    std::string error;
    EXPECT_TRUE(parse(m(readable), v, error)) << error;
    return v;
}

std::string error_of(std::string_view readable, Limits limits = {}) {
    Variables v{{"keep", Value::string("me")}};
    std::string error;
    EXPECT_FALSE(parse(m(readable), v, error, limits)) << readable;
    EXPECT_EQ(v.size(), 1u);  // untouched on failure
    return error;
}

}  // namespace

TEST(Msdp, string_variable) {
    Variables v = parsed("^HEALTH=100");
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].first, "HEALTH");
    EXPECT_EQ(v[0].second, Value::string("100"));
}

TEST(Msdp, several_variables_and_empty_values) {
    Variables v = parsed("^A=1^B^C");
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[0].second, Value::string("1"));
    EXPECT_EQ(v[1].second, Value::string(""));  // VAR without VAL
    EXPECT_EQ(v[2].first, "C");
}

TEST(Msdp, arrays_new_and_old_style) {
    Value abc = Value::array({Value::string("a"), Value::string("b"), Value::string("c")});
    EXPECT_EQ(parsed("^REPORT=[=a=b=c]")[0].second, abc);
    EXPECT_EQ(parsed("^REPORT=a=b=c")[0].second, abc);
    EXPECT_EQ(parsed("^X=[]")[0].second, Value::array({}));
}

TEST(Msdp, nested_tables_and_arrays) {
    Variables v = parsed("^ROOM={^VNUM=6008^NAME=The Square ^EXITS={^n=6011^e=6012}^TAGS=[=safe =[=x]]}");
    Value exits = Value::make_table({{"n", Value::string("6011")}, {"e", Value::string("6012")}});
    Value tags = Value::array({Value::string("safe "), Value::array({Value::string("x")})});
    Value room = Value::make_table({{"VNUM", Value::string("6008")},
                                    {"NAME", Value::string("The Square ")},
                                    {"EXITS", exits},
                                    {"TAGS", tags}});
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].second, room);
    EXPECT_EQ(encode(v), m("^ROOM={^VNUM=6008^NAME=The Square ^EXITS={^n=6011^e=6012}^TAGS=[=safe =[=x]]}"));
}

// Found by fuzz/msdp_fuzz.cpp: an empty last array item (VAL ARRAY_CLOSE)
// was taken for a nesting and failed the depth check.
TEST(Msdp, empty_items_before_a_close_are_empty_strings) {
    Variables v;
    std::string error;
    ASSERT_TRUE(parse(m("^X=[=]^T={^k=}"), v, error, Limits{1, 100})) << error;
    EXPECT_EQ(v[0].second, Value::array({Value::string("")}));
    EXPECT_EQ(v[1].second, Value::make_table({{"k", Value::string("")}}));
    ASSERT_TRUE(parse(m("^=^="), v, error, Limits{0, 100})) << error;
    ASSERT_TRUE(parse(encode(v), v, error, Limits{1, 100})) << error;
}

TEST(Msdp, encode_round_trips_and_drops_marker_bytes) {
    Variables v{{"A\x01", Value::string("x\x02y")}, {"T", Value::make_table({{"k", Value::array({})}})}};
    std::string wire = encode(v);
    EXPECT_EQ(wire, m("^A=xy^T={^k=[]}"));
    Variables back;
    std::string error;
    ASSERT_TRUE(parse(wire, back, error)) << error;
    EXPECT_EQ(back[0].first, "A");
    EXPECT_EQ(back[1], v[1]);
}

TEST(Msdp, every_malformed_message_has_its_own_error) {
    EXPECT_EQ(error_of(""), "MSDP: empty MSDP message");
    EXPECT_EQ(error_of("=value^X"), "MSDP: expected VAR at byte 0");
    EXPECT_EQ(error_of("^X=1]"), "MSDP: expected VAR at byte 4");
    EXPECT_EQ(error_of("^X=}"), "MSDP: expected VAR at byte 3");  // a close without an open
    EXPECT_EQ(error_of("^X=]"), "MSDP: expected VAR at byte 3");
    EXPECT_EQ(error_of("^X={^a=1"), "MSDP: table not closed");
    EXPECT_EQ(error_of("^X=[=a"), "MSDP: array not closed");
    EXPECT_EQ(error_of("^X={=a=1}"), "MSDP: expected VAR or TABLE_CLOSE in a table at byte 4");
    EXPECT_EQ(error_of("^X=[^a=1]"), "MSDP: expected VAL or ARRAY_CLOSE in an array at byte 4");
}

TEST(Msdp, depth_and_size_are_bounded) {
    std::string deep = "^X=";
    for (int i = 0; i < 9; ++i) deep += "[=";
    EXPECT_EQ(error_of(deep), "MSDP: nested deeper than 8");
    std::string ok = "^X=";
    for (int i = 0; i < 8; ++i) ok += "[=";
    ok += "x";
    for (int i = 0; i < 8; ++i) ok += "]";
    parsed(ok);
    std::string many = "^X";
    for (int i = 0; i < 10; ++i) many += "=a";
    EXPECT_EQ(error_of(many, Limits{8, 10}), "MSDP: more than 10 items");
    // a billion-laughs style input cannot exist: values are never referenced, only nested
}

TEST(Msdp, commands_from_a_client) {
    std::vector<Command> cmds;
    std::string error;
    ASSERT_TRUE(commands(parsed("^LIST=COMMANDS^REPORT=[=HEALTH=MANA]^UNREPORT=MANA^SEND=ROOM^RESET=REPORTED_VARIABLES^CLIENT_NAME=Mudlet"),
                         cmds, error))
        << error;
    ASSERT_EQ(cmds.size(), 6u);
    EXPECT_EQ(cmds[0].kind, Command::Kind::list);
    EXPECT_EQ(cmds[0].args, std::vector<std::string>{"COMMANDS"});
    EXPECT_EQ(cmds[1].kind, Command::Kind::report);
    EXPECT_EQ(cmds[1].args, (std::vector<std::string>{"HEALTH", "MANA"}));
    EXPECT_EQ(cmds[2].kind, Command::Kind::unreport);
    EXPECT_EQ(cmds[3].kind, Command::Kind::send);
    EXPECT_EQ(cmds[4].kind, Command::Kind::reset);
    EXPECT_EQ(cmds[5].kind, Command::Kind::set);
    EXPECT_EQ(cmds[5].name, "CLIENT_NAME");
    EXPECT_EQ(cmds[5].args, std::vector<std::string>{"Mudlet"});
    ASSERT_TRUE(commands(parsed("^REPORT=HEALTH=MANA"), cmds, error));  // old-style array
    EXPECT_EQ(cmds.back().args, (std::vector<std::string>{"HEALTH", "MANA"}));
}

TEST(Msdp, bad_commands_say_why_and_add_nothing) {
    std::vector<Command> cmds;
    std::string error;
    EXPECT_FALSE(commands(parsed("^LIST=COMMANDS^REPORT={^a=b}"), cmds, error));
    EXPECT_EQ(error, "MSDP: REPORT takes names, not a table");
    EXPECT_TRUE(cmds.empty());
    EXPECT_FALSE(commands(parsed("^SEND=[=[=x]]"), cmds, error));
    EXPECT_EQ(error, "MSDP: SEND takes names, not a nested value");
    EXPECT_FALSE(commands(parsed("^COLOR\x1b=[=a]"), cmds, error));
    EXPECT_EQ(error, "MSDP: COLOR\\x1b must be set to a string");  // escaped for the log
}

TEST(Msdp, list_reply) {
    EXPECT_EQ(encode_list("COMMANDS", {"LIST", "REPORT"}), m("^COMMANDS=[=LIST=REPORT]"));
}
