// MSDP (Mud Server Data Protocol, telnet option 69): typed variables in
// subnegotiations. The payload between IAC SB MSDP and IAC SE (IAC
// unescaped by the telnet layer) is a list of VAR name VAL value pairs; a
// value is a string, an array (ARRAY_OPEN VAL .. ARRAY_CLOSE, or several
// VALs in a row) or a table (TABLE_OPEN VAR k VAL v .. TABLE_CLOSE).
//
// This is the codec and the client's commands (LIST, REPORT, UNREPORT,
// SEND, RESET), sans I/O; which variables exist and when they change is the
// application's, as with GMCP. Parsing is bounded in depth and size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace comm::msdp {

enum : std::uint8_t {
    VAR = 1, VAL = 2, TABLE_OPEN = 3, TABLE_CLOSE = 4, ARRAY_OPEN = 5, ARRAY_CLOSE = 6,
};
inline constexpr std::uint8_t kOption = 69;

struct Value {
    enum class Kind : std::uint8_t { string, array, table };
    Kind kind = Kind::string;
    std::string text;                                 // string
    std::vector<Value> items;                         // array
    std::vector<std::pair<std::string, Value>> table; // table, in order

    static Value string(std::string s) {
        Value v;
        v.text = std::move(s);
        return v;
    }
    static Value array(std::vector<Value> items) {
        Value v;
        v.kind = Kind::array;
        v.items = std::move(items);
        return v;
    }
    static Value make_table(std::vector<std::pair<std::string, Value>> t) {
        Value v;
        v.kind = Kind::table;
        v.table = std::move(t);
        return v;
    }
    bool operator==(const Value &) const = default;
};

using Variables = std::vector<std::pair<std::string, Value>>;

struct Limits {
    // Nested tables/arrays. Old-style arrays (VAL VAL after one VAR) are
    // not counted, so a value may be up to 2 * max_depth + 1 deep; still
    // bounded, and encode() writes them as ARRAY_OPEN .. ARRAY_CLOSE.
    std::size_t max_depth = 8;
    std::size_t max_items = 1024;  // names + values in one message
};

// Parses one subnegotiation payload; false with `error` (no partial result).
bool parse(std::string_view payload, Variables &out, std::string &error, Limits limits = {});

// The payload for these variables (the telnet layer adds IAC SB MSDP ..
// IAC SE and doubles IAC). Bytes 0 to 6 cannot appear inside MSDP names or
// strings; they are dropped.
std::string encode(const Variables &vars);
std::string encode(std::string_view name, const Value &value);

// What a client asks for.
struct Command {
    enum class Kind : std::uint8_t { list, report, unreport, send, reset, set };
    Kind kind;
    std::string name;               // LIST/REPORT/..., or the variable set
    std::vector<std::string> args;  // the variable (or list) names; for `set`, its string value
};
// Reads commands out of a parsed message; a command whose arguments are not
// strings (or an array of strings) is an error.
bool commands(const Variables &vars, std::vector<Command> &out, std::string &error);

// The reply to LIST x: VAR x VAL ARRAY_OPEN VAL a VAL b .. ARRAY_CLOSE.
std::string encode_list(std::string_view list, const std::vector<std::string> &names);

}  // namespace comm::msdp
