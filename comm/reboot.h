// Hot reboot ("copyover"): the state one ior-mud process hands to the next,
// and its file format. Pure code (no sockets, no reactor): the process
// hand-over itself is in reboot_posix.cpp / reboot_win.cpp, the parts that
// touch links and users in comm.cpp (Comm::snapshot / Comm::adopt).
//
// File format, version 1 (all integers little-endian):
//
//     magic    8 bytes  "IORMUDST"
//     version  u32      format_version; a newer one is refused, not guessed at
//     flags    u32      0 (reserved; non-zero is refused)
//     length   u64      payload bytes that follow
//     crc32    u32      CRC-32 (IEEE) of the payload
//     (the header is 28 bytes)
//     payload  length bytes: records in the order of the structs below;
//              strings are u32 length + bytes, lists u32 count + items
//
// Nothing else follows the payload. Every count, length and value is
// checked against a bound before it is used, so a corrupt or hostile file
// gets a clear error and bounded memory (fuzz/reboot_state_fuzz.cpp).
#pragma once

#include "telnet.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace comm::reboot {

inline constexpr char magic[8] = {'I', 'O', 'R', 'M', 'U', 'D', 'S', 'T'};
inline constexpr std::uint32_t format_version = 1;
inline constexpr std::size_t header_size = 8 + 4 + 4 + 8 + 4;
// Bounds a parser holds every file to (a real state is far smaller).
inline constexpr std::size_t max_state_bytes = 256u << 20;
inline constexpr std::size_t max_string = 1u << 20;
inline constexpr std::size_t max_items = 1u << 20;

struct ListenerState {
    std::int64_t fd = -1;
    std::string name;  // "0.0.0.0:4000", for the log
    // The transport layers its connections get (bits below; 0: plain
    // telnet). Here so that the format needs no new version when listeners
    // get layers; a bit this binary does not know is refused.
    std::uint32_t layers = 0;
};
inline constexpr std::uint32_t layer_proxy = 1, layer_tls = 2, layer_websocket = 4;
inline constexpr std::uint32_t known_layers = layer_proxy | layer_tls | layer_websocket;

// One connection: the socket and everything the comm layer knew about it.
struct LinkState {
    std::int64_t fd = -1;        // -1 for the console (stdin, inherited)
    bool console = false;
    std::string address;         // "127.0.0.1:5555"
    telnet::Telnet::Saved telnet;
    bool mccp = false;           // was compressing: the new process restarts MCCP2
    std::string partial_line;    // input bytes of a line not yet ended
    bool after_cr = false, line_cut = false;
    std::vector<std::string> commands;  // complete lines not yet run
    std::uint64_t lines_before_login = 0;
};

// One session. Ages are milliseconds before the moment of the snapshot, so
// the new process's clock (steady, per process) restarts them where they were.
struct UserState {
    std::uint64_t id = 0;
    std::string address;
    bool keep = false, logged_in = false;
    std::int64_t connected_ms = 0;  // since the connect
    std::int64_t idle_ms = 0;       // since the last input
    std::int64_t netdead_ms = 0;    // since the link dropped (net-dead only)
    std::string app;                // the application's own record (opaque here)
    bool has_link = false;          // false: net-dead
    LinkState link;
};

struct State {
    std::uint64_t next_id = 1;
    std::string app;  // the application's global record
    std::vector<ListenerState> listeners;
    std::vector<UserState> users;
};

// The file for `state` (header and payload).
std::string write(const State &state);
// Parses a file; false with `error` set ("state file: ...") when it is not
// an ior-mud state, is corrupt, truncated, or of a newer version.
bool parse(std::string_view bytes, State &state, std::string &error);
// CRC-32 (IEEE 802.3), as the header stores it.
std::uint32_t crc32(std::string_view bytes);

}  // namespace comm::reboot
