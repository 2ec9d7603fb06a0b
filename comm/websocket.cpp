#include "websocket.h"

#include "sanitize.h"

#include <algorithm>
#include <cstring>

namespace comm::ws {

namespace {

constexpr char kIac = '\xff', kSb = '\xfa', kSe = '\xf0', kDo = '\xfd';
constexpr char kGmcp = static_cast<char>(kGmcpOption);
// RFC 6455 1.3: appended to the key before hashing.
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::uint32_t rotl(std::uint32_t v, int n) { return v << n | v >> (32 - n); }

void sha1_block(std::uint32_t h[5], const std::uint8_t *p) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i)
        w[i] = std::uint32_t(p[4 * i]) << 24 | std::uint32_t(p[4 * i + 1]) << 16 |
               std::uint32_t(p[4 * i + 2]) << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
        std::uint32_t f, k;
        if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else f = b ^ c ^ d, k = 0xCA62C1D6;
        std::uint32_t t = rotl(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rotl(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Calls f(item) for each trimmed, non-empty item of a comma list.
template <class F> void for_each_item(std::string_view list, F f) {
    while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view item = trim(list.substr(0, comma));
        if (!item.empty()) f(item);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

bool has_token(const std::string *list, std::string_view token) {
    bool found = false;
    if (list) for_each_item(*list, [&](std::string_view item) { found = found || iequals(item, token); });
    return found;
}

// RFC 9110 tchar.
bool is_tchar(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c != 0 && is_tchar(c); });
}

const char *reason_phrase(int status) {
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    }
    return "Error";
}

std::string status_line(int status) {
    return "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
}

std::string close_payload(int code, std::string_view reason) {
    std::string p;
    p += static_cast<char>(code >> 8);
    p += static_cast<char>(code & 0xff);
    p.append(reason.substr(0, 123));  // a control payload is at most 125 bytes
    return p;
}

// RFC 6455 7.4: codes a peer may send (1004-1006, 1015 are reserved).
bool valid_close_code(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

void append_iac_doubled(std::string_view bytes, std::string &out) {
    for (char c : bytes) {
        out += c;
        if (c == kIac) out += kIac;
    }
}

}  // namespace

// ---- SHA-1, base64, UTF-8 -------------------------------------------------

std::array<std::uint8_t, 20> sha1(std::string_view data) {
    std::uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    std::size_t full = data.size() / 64 * 64;
    for (std::size_t i = 0; i < full; i += 64) sha1_block(h, reinterpret_cast<const std::uint8_t *>(data.data() + i));
    // The tail, 0x80, zeros, and the bit length: one or two more blocks.
    std::uint8_t tail[128] = {};
    std::size_t rest = data.size() - full;
    std::memcpy(tail, data.data() + full, rest);
    tail[rest] = 0x80;
    std::size_t blocks = rest + 9 > 64 ? 2 : 1;
    std::uint64_t bits = std::uint64_t(data.size()) * 8;
    for (int i = 0; i < 8; ++i) tail[blocks * 64 - 1 - i] = static_cast<std::uint8_t>(bits >> (8 * i));
    for (std::size_t b = 0; b < blocks; ++b) sha1_block(h, tail + 64 * b);
    std::array<std::uint8_t, 20> out;
    for (int i = 0; i < 20; ++i) out[i] = static_cast<std::uint8_t>(h[i / 4] >> (24 - 8 * (i % 4)));
    return out;
}

std::string base64_encode(std::string_view data) {
    std::string out;
    for (std::size_t i = 0; i < data.size(); i += 3) {
        std::uint32_t v = std::uint32_t(static_cast<std::uint8_t>(data[i])) << 16;
        if (i + 1 < data.size()) v |= std::uint32_t(static_cast<std::uint8_t>(data[i + 1])) << 8;
        if (i + 2 < data.size()) v |= static_cast<std::uint8_t>(data[i + 2]);
        out += kB64[v >> 18 & 63];
        out += kB64[v >> 12 & 63];
        out += i + 1 < data.size() ? kB64[v >> 6 & 63] : '=';
        out += i + 2 < data.size() ? kB64[v & 63] : '=';
    }
    return out;
}

std::string accept_key(std::string_view key) {
    std::string s(key);
    s += kGuid;
    auto digest = sha1(s);
    return base64_encode(std::string_view(reinterpret_cast<const char *>(digest.data()), digest.size()));
}

bool valid_key(std::string_view key) {
    if (key.size() != 24 || key.substr(22) != "==") return false;
    // The last character before "==" carries 2 data bits and 4 zero bits.
    if (std::strchr("AQgw", key[21]) == nullptr) return false;
    return std::all_of(key.begin(), key.begin() + 22, [](char c) { return c && std::strchr(kB64, c); });
}

bool valid_utf8(std::string_view s) {
    static const std::uint32_t min_for[] = {0, 0x80, 0x800, 0x10000};
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 4;
        if (n == 4 || n >= s.size() - i) return false;  // a bad lead byte, or cut short
        std::uint32_t cp = n == 0 ? c : c & (0x3fu >> n);
        for (std::size_t k = 1; k <= n; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = cp << 6 | (cc & 0x3f);
        }
        if (cp < min_for[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

// ---- the HTTP request head ----------------------------------------------------

const std::string *Request::header(std::string_view lower_name) const {
    for (const auto &[name, value] : headers)
        if (name == lower_name) return &value;
    return nullptr;
}

RequestParser::Status RequestParser::fail(int http_status, std::string message) {
    http_status_ = http_status;
    error_ = std::move(message);
    buf_.clear();
    buf_.shrink_to_fit();
    return status_ = Status::failed;
}

RequestParser::Status RequestParser::feed(std::string_view in, std::string &rest) {
    if (status_ == Status::done) {
        rest.append(in);
        return status_;
    }
    if (status_ == Status::failed) return status_;
    std::size_t old = buf_.size();
    buf_.append(in);
    std::size_t end = buf_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
    // Control bytes mean this is no HTTP request (a telnet client's IAC, a
    // TLS ClientHello): say so now rather than wait for a CRLF CRLF that
    // never comes. Only the bytes within the size cap are looked at, so
    // the verdict does not depend on how the input was split.
    std::size_t scan_end = std::min({end == std::string::npos ? buf_.size() : end, limits_.max_request});
    auto control_at = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
            auto c = static_cast<unsigned char>(buf_[i]);
            if ((c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f) {
                fail(400, "not an HTTP request (bytes: \"" + escape_bytes(std::string_view(buf_).substr(0, i + 1), 24) + "\")");
                return true;
            }
        }
        return false;
    };
    // The request line is judged at its CRLF: a telnet user who typed a
    // name and Enter on this port gets the 400 now, not at the handshake
    // timeout (the blank line that ends a head never comes). Problems are
    // taken in byte order, so the verdict does not depend on the split
    // either: control bytes before the CRLF, then the line, then the rest.
    if (!line_checked_) {
        std::size_t eol = buf_.find("\r\n");
        if (eol != std::string::npos && eol + 2 <= limits_.max_request) {  // the whole line within the cap
            if (control_at(old, eol)) return status_;
            if (!parse_request_line(std::string_view(buf_).substr(0, eol))) return status_;
            line_checked_ = true;
        }
    }
    if (control_at(old, scan_end)) return status_;
    if (end == std::string::npos || end + 4 > limits_.max_request) {
        if (buf_.size() >= limits_.max_request)
            return fail(431, "request head longer than " + std::to_string(limits_.max_request) + " bytes");
        return status_;
    }
    if (parse(std::string_view(buf_).substr(0, end)) == Status::failed) return status_;
    rest.append(buf_, end + 4);
    buf_.clear();
    buf_.shrink_to_fit();
    return status_ = Status::done;
}

RequestParser::Status RequestParser::parse(std::string_view head) {
    std::size_t eol = head.find("\r\n");
    if (!parse_request_line(head.substr(0, eol))) return status_;
    std::size_t count = 0;
    while (eol != std::string_view::npos) {
        head.remove_prefix(eol + 2);
        eol = head.find("\r\n");
        if (++count > limits_.max_headers)
            return fail(431, "more than " + std::to_string(limits_.max_headers) + " header fields");
        if (!parse_header(head.substr(0, eol))) return status_;
    }
    if (request_.version == "HTTP/1.1" && !request_.header("host")) return fail(400, "no Host header");
    return status_;
}

bool RequestParser::parse_request_line(std::string_view line) {
    std::size_t sp1 = line.find(' ');
    std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        fail(400, "bad request line \"" + escape_bytes(line, 64) + "\"");
        return false;
    }
    std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                     version = line.substr(sp2 + 1);
    bool target_ok = !target.empty() && std::all_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
    if (!is_token(method) || !target_ok) {
        fail(400, "bad request line \"" + escape_bytes(line, 64) + "\"");
        return false;
    }
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        bool http = version.size() == 8 && version.substr(0, 5) == "HTTP/";
        fail(http ? 505 : 400, "unsupported protocol version \"" + escape_bytes(version, 16) + "\"");
        return false;
    }
    request_.method = method;
    request_.target = target;
    request_.version = version;
    return true;
}

bool RequestParser::parse_header(std::string_view line) {
    std::size_t colon = line.find(':');
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
        fail(400, "obsolete header line folding");
        return false;
    }
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)) ||
        line.find_first_of("\r\n") != std::string_view::npos) {
        fail(400, "bad header line \"" + escape_bytes(line, 64) + "\"");
        return false;
    }
    std::string name;
    for (char c : line.substr(0, colon)) name += lower(c);
    std::string_view value = trim(line.substr(colon + 1));
    for (auto &[n, v] : request_.headers) {
        if (n != name) continue;
        if (name == "sec-websocket-key" || name == "sec-websocket-version" || name == "host") {
            fail(400, "repeated " + name + " header");
            return false;
        }
        v += ", ";
        v += value;
        return true;
    }
    request_.headers.emplace_back(std::move(name), std::string(value));
    return true;
}

// ---- frames -------------------------------------------------------------------

void encode_frame(Opcode op, std::string_view payload, std::string &out, bool fin) {
    out += static_cast<char>((fin ? 0x80 : 0) | op);
    std::uint64_t n = payload.size();
    if (n < 126) {
        out += static_cast<char>(n);
    } else if (n < 65536) {
        out += static_cast<char>(126);
        out += static_cast<char>(n >> 8);
        out += static_cast<char>(n & 0xff);
    } else {
        out += static_cast<char>(127);
        for (int i = 7; i >= 0; --i) out += static_cast<char>(n >> (8 * i) & 0xff);
    }
    out.append(payload);
}

bool FrameDecoder::fail(int code, std::string message) {
    close_code_ = code;
    error_ = std::move(message);
    head_.clear();
    message_.clear();
    message_.shrink_to_fit();
    control_.clear();
    return false;
}

// Client frames always carry a mask, so a header is 6, 8 or 14 bytes.
bool FrameDecoder::header_complete() const {
    if (head_.size() < 2) return false;
    std::size_t len7 = static_cast<std::uint8_t>(head_[1]) & 0x7f;
    std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
    return head_.size() >= need;
}

// The first two bytes decide most errors; checking them before the rest of
// the header arrives fails an unmasked or garbage frame at once instead of
// waiting for mask bytes that may never come.
bool FrameDecoder::check_first_bytes() {
    auto b0 = static_cast<std::uint8_t>(head_[0]), b1 = static_cast<std::uint8_t>(head_[1]);
    fin_ = b0 & 0x80;
    opcode_ = b0 & 0x0f;
    if (b0 & 0x70) return fail(1002, "reserved frame bits set (no extension was agreed)");
    if (!(b1 & 0x80)) return fail(1002, "client frame not masked");
    if (opcode_ != continuation && opcode_ != text && opcode_ != binary && opcode_ != close_op &&
        opcode_ != ping && opcode_ != pong)
        return fail(1002, "unknown opcode " + std::to_string(opcode_));
    bool control = opcode_ & 8;
    if (control && !fin_) return fail(1002, "fragmented control frame");
    if (control && (b1 & 0x7f) > 125) return fail(1002, "control frame longer than 125 bytes");
    if (opcode_ == continuation && !message_op_) return fail(1002, "continuation frame outside a message");
    if ((opcode_ == text || opcode_ == binary) && message_op_)
        return fail(1002, "new message before the fragmented one ended");
    return true;
}

bool FrameDecoder::start_frame() {
    auto b1 = static_cast<std::uint8_t>(head_[1]);
    bool control = opcode_ & 8;
    std::size_t len7 = b1 & 0x7f, at = 2;
    length_ = len7;
    if (len7 >= 126) {
        length_ = 0;
        std::size_t bytes = len7 == 126 ? 2 : 8;
        for (std::size_t i = 0; i < bytes; ++i) length_ = length_ << 8 | static_cast<std::uint8_t>(head_[at + i]);
        at += bytes;
        if (length_ >> 63) return fail(1002, "frame length has its top bit set");
        if (length_ < (len7 == 126 ? 126u : 65536u)) return fail(1002, "frame length not in its shortest form");
    }
    std::memcpy(mask_, head_.data() + at, 4);
    if (length_ > limits_.max_frame)
        return fail(1009, "frame of " + std::to_string(length_) + " bytes exceeds the limit of " +
                              std::to_string(limits_.max_frame));
    if (!control) {
        if (opcode_ != continuation) message_op_ = opcode_, message_size_ = 0;
        message_size_ += length_;
        if (message_size_ > limits_.max_message)
            return fail(1009, "message of more than " + std::to_string(limits_.max_message) + " bytes");
    }
    in_payload_ = true;
    got_ = 0;
    return true;
}

bool FrameDecoder::feed(std::string_view in, Events &ev) {
    if (close_code_) return false;
    std::size_t i = 0;
    while (i < in.size() && !closed_) {
        if (!in_payload_) {
            head_ += in[i++];
            if (head_.size() == 2 && !check_first_bytes()) return false;
            if (!header_complete()) continue;
            if (!start_frame()) return false;
            head_.clear();
            if (length_ == 0 && !finish_frame(ev)) return false;
            continue;
        }
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(in.size() - i, length_ - got_));
        std::string chunk(in.substr(i, n));
        for (std::size_t k = 0; k < n; ++k) chunk[k] = static_cast<char>(chunk[k] ^ mask_[(got_ + k) & 3]);
        got_ += n;
        i += n;
        if (!payload(chunk, ev)) return false;
        if (got_ == length_ && !finish_frame(ev)) return false;
    }
    return true;
}

bool FrameDecoder::payload(std::string_view chunk, Events &ev) {
    if (opcode_ & 8) control_.append(chunk);
    else if (message_op_ == binary) ev.on_binary(chunk);
    else message_.append(chunk);
    return true;
}

bool FrameDecoder::finish_frame(Events &ev) {
    in_payload_ = false;
    switch (opcode_) {
    case close_op: return finish_close(ev);
    case ping: ev.on_ping(control_); break;
    case pong: break;
    default:
        if (!fin_) break;
        if (message_op_ == text) {
            if (!valid_utf8(message_)) return fail(1007, "text message is not valid UTF-8");
            ev.on_text(message_);
        }
        message_.clear();
        message_op_ = 0;
    }
    control_.clear();
    return true;
}

bool FrameDecoder::finish_close(Events &ev) {
    int code = 1005;
    std::string_view reason;
    if (control_.size() == 1) return fail(1002, "close frame with a 1-byte payload");
    if (control_.size() >= 2) {
        code = static_cast<std::uint8_t>(control_[0]) << 8 | static_cast<std::uint8_t>(control_[1]);
        if (!valid_close_code(code)) return fail(1002, "close frame with invalid status " + std::to_string(code));
        reason = std::string_view(control_).substr(2);
        if (!valid_utf8(reason)) return fail(1007, "close reason is not valid UTF-8");
    }
    closed_ = true;
    ev.on_close(code, reason);
    control_.clear();
    return true;
}

// ---- the layer ------------------------------------------------------------------

Layer::Layer(FileLookup files, Limits limits)
    : files_(std::move(files)), limits_(limits), parser_(limits), decoder_(limits) {}

std::size_t Layer::buffered() const {
    return parser_.buffered() + decoder_.buffered() + pending_.size() + sb_.size();
}

void Layer::receive(std::string_view in, std::string &up, std::string &down) {
    if (state_ == TransportState::handshaking) handshake(in, up, down);
    else if (state_ == TransportState::open || state_ == TransportState::closing) frames(in, up, down);
}

void Layer::handshake(std::string_view in, std::string &up, std::string &down) {
    std::string rest;
    switch (parser_.feed(in, rest)) {
    case RequestParser::Status::need_more: return;
    case RequestParser::Status::failed: return http_error(parser_.http_status(), parser_.error(), down);
    case RequestParser::Status::done: break;
    }
    answer(parser_.request(), up, down);
    if (state_ == TransportState::open && !rest.empty()) frames(rest, up, down);
}

void Layer::answer(const Request &req, std::string &up, std::string &down) {
    path_ = req.target.substr(0, req.target.find('?'));
    if (req.target[0] != '/') return http_error(400, "request target must be a path", down);
    if (!has_token(req.header("upgrade"), "websocket")) {
        if (req.method != "GET" && req.method != "HEAD")
            return http_error(405, "method " + req.method + " not allowed", down, "Allow: GET, HEAD\r\n");
        return serve_file(req, down);
    }
    if (req.method != "GET")
        return http_error(405, "WebSocket upgrade with method " + req.method, down, "Allow: GET\r\n");
    if (req.version != "HTTP/1.1") return http_error(400, "WebSocket upgrade needs HTTP/1.1", down);
    if (!has_token(req.header("connection"), "upgrade"))
        return http_error(400, "WebSocket upgrade without \"Connection: Upgrade\"", down);
    const std::string *version = req.header("sec-websocket-version");
    if (!version || *version != "13")
        return http_error(426, "unsupported Sec-WebSocket-Version \"" + escape_bytes(version ? *version : "", 32) + "\"",
                          down, "Sec-WebSocket-Version: 13\r\n");
    const std::string *key = req.header("sec-websocket-key");
    if (!key || !valid_key(*key)) return http_error(400, "missing or malformed Sec-WebSocket-Key", down);
    if (!choose_protocol(req)) {
        return http_error(400, "none of the offered subprotocols is supported (offered: \"" +
                                   escape_bytes(*req.header("sec-websocket-protocol"), 64) + "\")",
                          down);
    }
    down += status_line(101);
    down += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key(*key) + "\r\n";
    if (!protocol_.empty()) down += "Sec-WebSocket-Protocol: " + protocol_ + "\r\n";
    down += "\r\n";
    state_ = TransportState::open;
    if (mode_ == Mode::gmcp) up += std::string{kIac, kDo, kGmcp};
    std::string held = std::move(pending_);
    pending_.clear();
    send(held, down);
}

// The client's order wins among the ones we speak (RFC 6455 leaves the
// choice to the server; the client lists its preference first).
bool Layer::choose_protocol(const Request &req) {
    const std::string *offered = req.header("sec-websocket-protocol");
    if (!offered) return true;
    for_each_item(*offered, [&](std::string_view p) {
        if (!protocol_.empty()) return;
        if (p == kTelnetProtocol || p == "binary") protocol_ = p, mode_ = Mode::telnet;
        else if (p == kGmcpProtocol) protocol_ = p, mode_ = Mode::gmcp;
    });
    return !protocol_.empty();
}

void Layer::serve_file(const Request &req, std::string &down) {
    std::string_view path = path_ == "/" ? std::string_view("/index.html") : std::string_view(path_);
    const StaticFile *file = files_ ? files_(path) : nullptr;
    if (!file) return http_error(404, "no file " + escape_bytes(path_, 64), down);
    down += status_line(200);
    down += "Content-Type: " + std::string(file->content_type) + "\r\n";
    down += "Content-Length: " + std::to_string(file->body.size()) + "\r\n";
    // The files change with the binary; no-cache still allows a 304-less
    // reload from cache after revalidation, and nosniff keeps a browser
    // from reading a text file as script.
    down += "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
    if (req.method != "HEAD") down.append(file->body);
    http_status_ = 200;
    state_ = TransportState::closed;
}

void Layer::http_error(int status, std::string why, std::string &down, std::string_view extra) {
    std::string body = std::to_string(status) + " " + reason_phrase(status) + ": " + why + "\n";
    down += status_line(status);
    down += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    down += extra;
    down += "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
    down += body;
    http_status_ = status;
    error_ = "websocket: HTTP " + std::to_string(status) + ": " + why;
    pending_.clear();
    state_ = TransportState::failed;
}

void Layer::frames(std::string_view in, std::string &up, std::string &down) {
    up_ = &up;
    down_ = &down;
    if (!decoder_.feed(in, *this)) fail(decoder_.close_code(), "websocket: " + decoder_.error(), down);
    up_ = down_ = nullptr;
}

void Layer::fail(int close_code, std::string why, std::string &down) {
    if (!close_sent_) encode_frame(close_op, close_payload(close_code, decoder_.error()), down);
    close_sent_ = true;
    error_ = std::move(why);
    state_ = TransportState::failed;
}

void Layer::on_binary(std::string_view bytes) {
    if (state_ != TransportState::open) return;  // after our close: discarded (RFC 6455 1.4)
    if (mode_ == Mode::gmcp) append_iac_doubled(bytes, *up_);
    else up_->append(bytes);
}

void Layer::on_text(std::string_view message) {
    if (state_ != TransportState::open) return;
    if (mode_ == Mode::telnet) {
        // The telnet subprotocol says binary frames; a text frame's bytes
        // are taken as the same stream rather than failing the link.
        up_->append(message);
        return;
    }
    *up_ += std::string{kIac, kSb, kGmcp};
    append_iac_doubled(message, *up_);
    *up_ += std::string{kIac, kSe};
}

void Layer::on_ping(std::string_view payload) {
    if (!close_sent_) encode_frame(pong, payload, *down_);
}

void Layer::on_close(int code, std::string_view) {
    // Echo the status (RFC 6455 5.5.1); a close without one gets none back.
    if (!close_sent_) encode_frame(close_op, code == 1005 ? std::string() : close_payload(code, ""), *down_);
    close_sent_ = true;
    state_ = TransportState::closed;
}

void Layer::send(std::string_view in, std::string &down) {
    switch (state_) {
    case TransportState::handshaking:
        if (pending_.size() + in.size() > limits_.max_pending_output) {
            error_ = "websocket: more than " + std::to_string(limits_.max_pending_output) +
                     " bytes of output before the handshake ended";
            pending_.clear();
            state_ = TransportState::failed;
            return;
        }
        pending_.append(in);
        return;
    case TransportState::open:
        if (in.empty()) return;
        if (mode_ == Mode::gmcp) return send_gmcp_mode(in, down);
        encode_frame(binary, in, down);
        return;
    default:
        return;  // closing, closed, failed: nothing more is sent
    }
}

// Takes the server's telnet stream apart: text to binary frames, GMCP
// subnegotiations to text frames, everything else dropped (the client of
// this subprotocol speaks no telnet).
void Layer::send_gmcp_mode(std::string_view in, std::string &down) {
    auto flush_text = [&] {
        if (!text_run_.empty()) encode_frame(binary, text_run_, down);
        text_run_.clear();
    };
    for (char c : in) {
        switch (tn_) {
        case Tn::data:
            if (c == kIac) tn_ = Tn::iac;
            else text_run_ += c;
            break;
        case Tn::iac:
            if (c == kIac) text_run_ += c, tn_ = Tn::data;
            else if (c == kSb) tn_ = Tn::sb_option;
            else if (static_cast<unsigned char>(c) >= 251) tn_ = Tn::option;  // WILL WONT DO DONT
            else tn_ = Tn::data;                                               // GA, EOR, NOP, ...
            break;
        case Tn::option: tn_ = Tn::data; break;
        case Tn::sb_option:
            sb_gmcp_ = c == kGmcp;
            sb_.clear();
            tn_ = Tn::sb;
            break;
        case Tn::sb:
            if (c == kIac) tn_ = Tn::sb_iac;
            else if (sb_gmcp_ && sb_.size() < limits_.max_message) sb_ += c;
            else sb_gmcp_ = false, sb_.clear();  // not GMCP, or too long: dropped
            break;
        case Tn::sb_iac:
            if (c == kIac) {
                if (sb_gmcp_) sb_ += c;
                tn_ = Tn::sb;
            } else {  // IAC SE (or a malformed end): the subnegotiation is over
                if (sb_gmcp_ && valid_utf8(sb_)) flush_text(), encode_frame(text, sb_, down);
                sb_.clear();
                sb_.shrink_to_fit();
                tn_ = Tn::data;
            }
            break;
        }
    }
    flush_text();
}

void Layer::close(std::string &down) {
    if (state_ == TransportState::handshaking) {
        pending_.clear();
        state_ = TransportState::closed;
        return;
    }
    if (state_ != TransportState::open) return;
    if (mode_ == Mode::gmcp) {
        std::string none;
        send_gmcp_mode(none, down);
    }
    encode_frame(close_op, close_payload(1001, "server going down or session ended"), down);
    close_sent_ = true;
    state_ = TransportState::closing;
}

}  // namespace comm::ws
