#include "transport.h"

namespace comm {

const char *transport_state_name(TransportState s) {
    switch (s) {
    case TransportState::handshaking: return "handshaking";
    case TransportState::open: return "open";
    case TransportState::closing: return "closing";
    case TransportState::closed: return "closed";
    case TransportState::failed: return "failed";
    }
    return "?";
}

std::string escape_for_log(std::string_view bytes, std::size_t max) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    std::size_t n = bytes.size() < max ? bytes.size() : max;
    for (std::size_t i = 0; i < n; ++i) {
        auto c = static_cast<unsigned char>(bytes[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (bytes.size() > max) out += "...";
    return out;
}

}  // namespace comm
