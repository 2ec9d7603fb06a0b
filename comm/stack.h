// A link's transport stack: the layers between the socket and telnet
// (socket -> [PROXY] -> [TLS] -> [WebSocket] -> telnet), bottom first, as
// transport.h describes. Sans I/O like the layers: the comm layer hands it
// socket bytes and application bytes and gets back what goes up to telnet
// and down to the socket, so the plumbing is unit-tested without sockets.
#pragma once

#include "transport.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace comm {

class Stack {
public:
    void push(std::unique_ptr<Transport> layer) { layers_.push_back(std::move(layer)); }
    bool empty() const { return layers_.empty(); }

    // Socket bytes in: what reaches the top goes to `up` (for telnet); what
    // any layer answers on its own (handshake records, pongs, HTTP replies)
    // is encoded by the layers below it and goes to `down` (the socket).
    void receive(std::string_view in, std::string &up, std::string &down);
    // Application bytes out, through every layer from the top down.
    void send(std::string_view in, std::string &down);
    // An orderly close from the top down (WebSocket close frame, then TLS
    // close_notify), each layer's words encoded by those below it. Layers
    // already failed or closed say nothing.
    void close(std::string &down);

    // The link's state over all layers: failed if one failed, closed if one
    // was closed by the peer, handshaking while one still is, closing while
    // one waits for the peer's close, else open.
    TransportState state() const;
    // The layer that failed, or the lowest one still handshaking (for the
    // log line), or nullptr.
    const Transport *failed() const;
    const Transport *handshaking() const;
    // Bytes held inside the layers: they count against the output cap.
    std::size_t buffered() const;

    // The layer of type T, or nullptr.
    template <class T> T *find() const {
        for (const auto &l : layers_)
            if (auto *t = dynamic_cast<T *>(l.get())) return t;
        return nullptr;
    }

private:
    // Encodes `bytes` through the layers below `level` and appends the
    // result to `down`.
    void send_below(std::size_t level, std::string_view bytes, std::string &down);

    std::vector<std::unique_ptr<Transport>> layers_;
};

}  // namespace comm
