// Client bytes on their way to someone else's terminal or to the log.
//
// Players type text; they never need terminal controls, and one who sends
// them could clear other players' screens, retitle their windows, move the
// cursor to fake a server line, or start a new line in the server log. Both
// functions keep valid UTF-8 and Latin-1 letters; only controls are touched:
// C0 (0x00-0x1F), DEL, and C1 (U+0080-U+009F, or a lone byte 0x80-0x9F,
// which a Latin-1 terminal reads as a control such as CSI).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace comm {

// Player text as others may see it: controls removed, a tab becomes a space.
std::string clean_text(std::string_view text);

// A log line with every control byte written as \xNN, so nothing a client
// sent can end the line or drive the operator's terminal.
std::string escape_controls(std::string_view line);

// Raw bytes quoted in a message (a config file's text, a client's last
// input): printable ASCII as is, everything else and the backslash as \xNN,
// so a NUL can't cut the message and nothing in it can drive a terminal.
// At most `max` bytes are quoted; a longer input ends in "...".
std::string escape_bytes(std::string_view bytes, std::size_t max = std::string_view::npos);

}  // namespace comm
