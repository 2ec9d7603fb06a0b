// NEW-ENVIRON (RFC 1572, telnet option 39) subnegotiations, and MNES (the
// Mud New-Environ Standard) on top: the server asks with SEND for a few
// well-known variables, the client answers IS (and later INFO on change)
// with CLIENT_NAME, CLIENT_VERSION, CHARSET, MTTS, TERMINAL_TYPE and, if it
// wants, IPADDRESS. Sans I/O: payload bytes in (IAC already unescaped by
// the telnet layer), values out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// Not "environ": that is a macro in mingw's stdlib.h.
namespace comm::newenv {

inline constexpr std::uint8_t kOption = 39;
enum : std::uint8_t { IS = 0, SEND = 1, INFO = 2 };
enum : std::uint8_t { VAR = 0, VALUE = 1, ESC = 2, USERVAR = 3 };

struct Variable {
    bool user = false;       // USERVAR rather than VAR
    std::string name;
    bool has_value = false;  // RFC 1572: no VALUE means "not defined"
    std::string value;
};

struct Message {
    std::uint8_t kind = IS;  // IS, SEND or INFO
    std::vector<Variable> vars;
};

struct Limits {
    std::size_t max_vars = 32;
    std::size_t max_length = 256;  // per name or value
};

// One payload (after IAC SB NEW-ENVIRON). False with `error`, `out` untouched.
bool parse(std::string_view payload, Message &out, std::string &error, Limits limits = {});

// SEND VAR name... (ESC before the code bytes 0-3 in a name).
std::string encode_send(const std::vector<std::string> &names);

// What MNES told us. Values are kept printable (others become '?') and
// short, since they are shown to users and logged.
struct Mnes {
    std::string client_name, client_version, charset, terminal_type, ip_address;
    unsigned mtts = 0;
    bool has_mtts = false;
};
// The variables an MNES server asks for.
const std::vector<std::string> &mnes_variables();
// Takes the MNES variables from an IS or INFO message (VAR or USERVAR;
// others are ignored); false if the message is a SEND (a client asking us).
bool apply(const Message &m, Mnes &mnes);

}  // namespace comm::newenv
