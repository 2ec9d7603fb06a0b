// WebSocket (RFC 6455), server side, as a sans-I/O transport layer: the
// HTTP/1.1 upgrade handshake, then framing. The same listener also answers
// a plain GET with the web client's static files (through a lookup the
// caller gives, so this file knows nothing of where they come from) and
// anything else with an HTTP error, then ends the link.
//
// Why an own codec and not libwslay (Debian's libwslay-dev): the framing
// is a few hundred lines, while wslay would be a dependency the mingw build
// does not have (Debian ships no mingw wslay), has no HTTP handshake (which
// we need anyway, and the static files), and its callback API would wrap
// our string-in/string-out layer rather than replace it. SHA-1 (for
// Sec-WebSocket-Accept only, not a security use) is done here for the same
// reason: OpenSSL is absent from the mingw build.
//
// Subprotocols, per the mudstandards.org WebSocket proposal (which
// Evennia, telnetlib3 and several web clients follow):
//  - "telnet.mudstandards.org": the whole telnet stream, in binary frames,
//    both ways. Also picked for "binary" (websockify's name, used by older
//    web clients proxied to a telnet port) and when the client offers none.
//  - "gmcp.mudstandards.org": binary frames carry plain terminal text,
//    text frames carry one GMCP message each ("Package.Name json"). The
//    layer translates to and from telnet, so the telnet layer above it is
//    the same for every link: it tells the server the client wants GMCP
//    (IAC DO GMCP) on open, wraps incoming text frames in IAC SB GMCP ...
//    IAC SE, and turns the server's GMCP subnegotiations back into text
//    frames; other telnet commands from the server are dropped.
#pragma once

#include "transport.h"

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace comm::ws {

// ---- pieces, public for tests and the fuzzer --------------------------

std::array<std::uint8_t, 20> sha1(std::string_view data);
std::string base64_encode(std::string_view data);
// The Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
std::string accept_key(std::string_view key);
// A valid key is base64 of exactly 16 bytes (24 characters, "==" padded).
bool valid_key(std::string_view key);
bool valid_utf8(std::string_view s);

struct Request {
    std::string method, target, version;
    // Names lower-cased; repeated headers joined with ", " (RFC 9110 list
    // semantics) except those that must be single, which fail instead.
    std::vector<std::pair<std::string, std::string>> headers;
    const std::string *header(std::string_view lower_name) const;
};

struct Limits {
    std::size_t max_request = 8192;        // request line + headers
    std::size_t max_headers = 64;
    std::size_t max_frame = 64 * 1024;     // one frame's payload
    std::size_t max_message = 256 * 1024;  // a message's payload, fragments summed
    std::size_t max_pending_output = 256 * 1024;  // sent before the handshake ends
};

// Incremental HTTP/1.x request head parser. On failure, status() is an
// HTTP status (400, 431, 505) and error() says why.
class RequestParser {
public:
    enum class Status { need_more, done, failed };
    explicit RequestParser(Limits limits = {}) : limits_(limits) {}
    // The bytes after the head, in this and later calls, go to `rest`.
    Status feed(std::string_view in, std::string &rest);
    Status status() const { return status_; }
    int http_status() const { return http_status_; }
    const std::string &error() const { return error_; }
    const Request &request() const { return request_; }
    std::size_t buffered() const { return buf_.size(); }

private:
    Status parse(std::string_view head);
    bool parse_request_line(std::string_view line);
    bool parse_header(std::string_view line);
    Status fail(int http_status, std::string message);

    Limits limits_;
    Status status_ = Status::need_more;
    int http_status_ = 0;
    bool line_checked_ = false;  // the request line was complete and valid
    std::string buf_, error_;
    Request request_;
};

enum Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close_op = 8, ping = 9, pong = 10 };

// One server frame (never masked, RFC 6455 5.1), appended to `out`.
void encode_frame(Opcode op, std::string_view payload, std::string &out, bool fin = true);

// Client frames in, events out. Binary payload is handed on as it
// arrives (nothing held but the 14-byte header); text and control payloads
// are held until complete, within the limits.
class FrameDecoder {
public:
    struct Events {
        virtual ~Events() = default;
        virtual void on_binary(std::string_view bytes) = 0;   // any part of a binary message
        virtual void on_text(std::string_view message) = 0;   // a whole text message, valid UTF-8
        virtual void on_ping(std::string_view payload) = 0;
        virtual void on_close(int code, std::string_view reason) = 0;  // code 1005: none given
    };
    explicit FrameDecoder(Limits limits = {}) : limits_(limits) {}
    // False once a protocol error was found: close_code() (1002, 1007,
    // 1009) and error() say what; later input is ignored.
    bool feed(std::string_view in, Events &ev);
    int close_code() const { return close_code_; }
    const std::string &error() const { return error_; }
    std::size_t buffered() const { return head_.size() + message_.size() + control_.size(); }

private:
    bool header_complete() const;
    bool check_first_bytes();
    bool start_frame();
    bool payload(std::string_view chunk, Events &ev);
    bool finish_frame(Events &ev);
    bool finish_close(Events &ev);
    bool fail(int code, std::string message);

    Limits limits_;
    std::string head_;        // the frame header being read
    std::string message_;     // a text message being held
    std::string control_;     // a control frame's payload being held
    std::uint8_t opcode_ = 0, mask_[4] = {};
    bool fin_ = false, in_payload_ = false, closed_ = false;
    std::uint64_t length_ = 0, got_ = 0;
    std::uint8_t message_op_ = 0;     // text/binary while a fragmented message runs
    std::uint64_t message_size_ = 0;
    int close_code_ = 0;
    std::string error_;
};

// ---- the layer -----------------------------------------------------------

struct StaticFile {
    std::string_view content_type;
    std::string_view body;
};
// Path ("/index.html"; "/" is asked as "/index.html", the query string
// removed) -> file, or nullptr for 404. Called only while handshaking.
using FileLookup = std::function<const StaticFile *(std::string_view path)>;

enum class Mode { telnet, gmcp };
inline constexpr std::string_view kTelnetProtocol = "telnet.mudstandards.org";
inline constexpr std::string_view kGmcpProtocol = "gmcp.mudstandards.org";
inline constexpr std::uint8_t kGmcpOption = 201;

class Layer final : public Transport, private FrameDecoder::Events {
public:
    explicit Layer(FileLookup files = {}, Limits limits = {});

    void receive(std::string_view in, std::string &up, std::string &down) override;
    void send(std::string_view in, std::string &down) override;
    void close(std::string &down) override;
    TransportState state() const override { return state_; }
    const std::string &error() const override { return error_; }
    std::size_t buffered() const override;
    const char *name() const override { return "websocket"; }

    Mode mode() const { return mode_; }
    // The subprotocol the handshake chose ("" if the client offered none),
    // the request's path, and for a plain GET the status it was answered with.
    const std::string &protocol() const { return protocol_; }
    const std::string &path() const { return path_; }
    int http_status() const { return http_status_; }

private:
    void handshake(std::string_view in, std::string &up, std::string &down);
    void answer(const Request &req, std::string &up, std::string &down);
    bool choose_protocol(const Request &req);
    void serve_file(const Request &req, std::string &down);
    void http_error(int status, std::string why, std::string &down, std::string_view extra = {});
    void frames(std::string_view in, std::string &up, std::string &down);
    void fail(int close_code, std::string why, std::string &down);
    void send_gmcp_mode(std::string_view in, std::string &down);

    void on_binary(std::string_view bytes) override;
    void on_text(std::string_view message) override;
    void on_ping(std::string_view payload) override;
    void on_close(int code, std::string_view reason) override;

    FileLookup files_;
    Limits limits_;
    RequestParser parser_;
    FrameDecoder decoder_;
    TransportState state_ = TransportState::handshaking;
    Mode mode_ = Mode::telnet;
    std::string protocol_, path_, error_, pending_;
    int http_status_ = 0;
    bool close_sent_ = false;
    // While decoding: where events put their bytes.
    std::string *up_ = nullptr, *down_ = nullptr;
    // gmcp mode: the server's telnet stream being taken apart.
    enum class Tn { data, iac, option, sb_option, sb, sb_iac } tn_ = Tn::data;
    bool sb_gmcp_ = false;
    std::string sb_, text_run_;
};

}  // namespace comm::ws
