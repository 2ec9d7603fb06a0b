// One layer of a link's byte path, sans I/O: it never reads or writes a
// socket, so the same code runs on readiness and completion backends and in
// unit tests and fuzzers as it is.
//
// How a Link owns its stack (comm/stack.h does the plumbing, comm.cpp the
// socket side):
//
//     socket  <->  [ProxyLayer]  <->  [TlsLayer]  <->  [ws::Layer]  <->  telnet
//     (bottom)                                                       (top)
//
// The listener's configuration says which layers a link gets; the Link's
// Stack holds them in a std::vector<std::unique_ptr<Transport>>, bottom first.
//  - Bytes read from the socket go to layers[0].receive(); what comes `up`
//    is fed to layers[1], and so on; what leaves the last layer goes to
//    Telnet::feed. Bytes a layer produces `down` while receiving (a TLS
//    handshake reply) are passed through send() of the layers below it and
//    then queued on the socket.
//  - Output from telnet goes through send() from the top layer down; what
//    the bottom layer produces is queued on the socket as today.
//  - The reactor never learns a layer exists.
//
// Backpressure: output caps and watermarks stay where they are (on the
// socket's queue), but the bytes they compare are the socket queue plus
// every layer's buffered(), so a layer that holds data (TLS before its
// handshake ends) counts against the same cap as the socket. Layers only
// ever hold a bounded amount: a layer whose input would make it exceed its
// own bound fails with a reason instead.
//
// State: a link is "open" for the application only when every layer is;
// the comm layer applies a handshake timeout while any layer is
// handshaking, logs error() and drops on `failed`, and ends the link once
// the top layer reports `closed` and its output is flushed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace comm {

enum class TransportState {
    handshaking,  // no application bytes may pass yet (PROXY header, TLS handshake)
    open,         // bytes flow both ways
    closing,      // we asked to close (TLS close_notify sent); waiting for the peer
    closed,       // the peer ended the stream cleanly; no more bytes come up
    failed,       // bad input or a protocol error: see error(); drop the link
};

const char *transport_state_name(TransportState s);

class Transport {
public:
    virtual ~Transport() = default;

    // Bytes from the layer below. Application bytes for the layer above are
    // appended to `up`; bytes this layer must send back (handshake records)
    // are appended to `down`. After `failed` further input is ignored.
    virtual void receive(std::string_view in, std::string &up, std::string &down) = 0;
    // Bytes from the layer above, to be sent; the encoded bytes are appended
    // to `down` (possibly later, from receive(), if the layer is still
    // handshaking; they count in buffered() meanwhile).
    virtual void send(std::string_view in, std::string &down) = 0;
    // Starts an orderly close; bytes that announce it are appended to `down`.
    virtual void close(std::string &down) = 0;

    virtual TransportState state() const = 0;
    // Why the layer failed, in words fit for a log line ("" unless failed).
    // Never contains raw peer bytes: they are escaped.
    virtual const std::string &error() const = 0;
    // Bytes held inside the layer, in either direction, not yet handed on.
    virtual std::size_t buffered() const = 0;
    // Short name for logs: "proxy", "tls", "websocket".
    virtual const char *name() const = 0;
};

}  // namespace comm
