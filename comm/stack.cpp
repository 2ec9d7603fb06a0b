#include "stack.h"

namespace comm {

void Stack::receive(std::string_view in, std::string &up, std::string &down) {
    std::string from_below(in), to_above, answer;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        to_above.clear();
        answer.clear();
        layers_[i]->receive(from_below, to_above, answer);
        if (!answer.empty()) send_below(i, answer, down);
        from_below.swap(to_above);
        // A layer above with nothing new has nothing to do: no layer changes
        // state without input from below (timeouts are the comm layer's).
        if (from_below.empty()) return;
    }
    up += from_below;
}

void Stack::send(std::string_view in, std::string &down) { send_below(layers_.size(), in, down); }

void Stack::send_below(std::size_t level, std::string_view bytes, std::string &down) {
    std::string cur(bytes), next;
    for (std::size_t j = level; j-- > 0;) {
        next.clear();
        layers_[j]->send(cur, next);
        cur.swap(next);
        if (cur.empty()) return;
    }
    down += cur;
}

void Stack::close(std::string &down) {
    std::string words;
    for (std::size_t i = layers_.size(); i-- > 0;) {
        TransportState s = layers_[i]->state();
        if (s == TransportState::failed || s == TransportState::closed) continue;
        words.clear();
        layers_[i]->close(words);
        if (!words.empty()) send_below(i, words, down);
    }
}

TransportState Stack::state() const {
    bool handshaking = false, closing = false, closed = false;
    for (const auto &l : layers_) {
        switch (l->state()) {
        case TransportState::failed: return TransportState::failed;
        case TransportState::closed: closed = true; break;
        case TransportState::handshaking: handshaking = true; break;
        case TransportState::closing: closing = true; break;
        case TransportState::open: break;
        }
    }
    if (closed) return TransportState::closed;
    if (handshaking) return TransportState::handshaking;
    if (closing) return TransportState::closing;
    return TransportState::open;
}

const Transport *Stack::failed() const {
    for (const auto &l : layers_)
        if (l->state() == TransportState::failed) return l.get();
    return nullptr;
}

const Transport *Stack::handshaking() const {
    for (const auto &l : layers_)
        if (l->state() == TransportState::handshaking) return l.get();
    return nullptr;
}

std::size_t Stack::buffered() const {
    std::size_t n = 0;
    for (const auto &l : layers_) n += l->buffered();
    return n;
}

}  // namespace comm
