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

}  // namespace comm
