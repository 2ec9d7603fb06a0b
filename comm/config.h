// The comm layer's configuration, in the driver convention: one
// "key : value" per line, '#' starts a comment, blank lines are ignored.
// Errors name the file and line ("mud.cfg:7: unknown key 'prot'") so an
// operator can fix the file without reading code.
#pragma once

#include "proxy_protocol.h"

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace comm {

// One listening address. An empty address means "every interface": the
// comm layer then listens on both 0.0.0.0 and [::] (IPv6 when available).
struct ListenSpec {
    enum class Family { any, ipv4, ipv6 };
    Family family = Family::any;
    std::string address;  // numeric; empty for "all interfaces"
    int port = 0;         // 0: an ephemeral port chosen by the kernel
    std::string origin{};  // where it was set ("mud.cfg:3", "--port"), for errors
                           // ({}: aggregate initialisers may leave it out)
    // The listener's transport stack, bottom first: "port : 4444 proxy tls".
    bool proxy = false;      // a PROXY v1/v2 header first, from `proxy trusted` peers only
    bool tls = false;        // TLS (needs a build with OpenSSL)
    bool websocket = false;  // HTTP upgrade to WebSocket; plain GETs get the web client
    // "tls", "proxy tls", "" for plain telnet.
    std::string layers() const;
};

struct Config {
    std::vector<ListenSpec> listeners;
    std::string mud_name = "ioreactor talker";
    std::string backend = "auto";     // io_reactor_backend
    int max_events = 0;               // io_reactor_max_events (0: reactor default)
    int pool_size = 0;                // io_reactor_pool_size (0: reactor default)
    bool trace_reactor = false;       // trace io_reactor
    int idle_timeout = 3600;          // seconds without input before disconnect; 0: never
    int netdead_timeout = 300;        // seconds a dropped session waits for reconnect
    std::size_t max_users = 1000;
    int login_timeout = 120;                   // seconds to log in; 0: no limit
    std::size_t max_per_address = 16;          // open connections per client address; 0: no cap
    std::size_t max_connects_per_minute = 60;  // new connections per address per minute; 0: no limit
    std::size_t max_line_length = 1024;
    std::size_t max_input_queue = 16 * 1024;     // queued command bytes before reading pauses
    std::size_t output_cap = 1024 * 1024;        // queued output that drops the user
    std::size_t output_high_water = 256 * 1024;  // reading pauses above this...
    std::size_t output_low_water = 64 * 1024;    // ...and resumes below this
    bool mccp = true;                            // offer MCCP2 compression
    bool mccp3 = true;                           // offer MCCP3 (client-to-server; needs zlib)
    bool msdp = true;                            // offer MSDP
    unsigned max_option_changes = 20;            // per option per minute; 0: no limit
    // The pre-login budget (0: no limit): what a client that has not logged
    // in may make the server do before it is dropped.
    std::size_t login_replies = 500;             // negotiation replies sent
    std::size_t login_subnegotiation = 64 * 1024;  // subnegotiation bytes received
    std::size_t login_lines = 50;                // input lines
    std::vector<std::string> admins;             // player names allowed admin commands (reboot)

    // Transport layers (see ListenSpec). Certificate and key both empty
    // with a TLS listener: a self-signed pair is made at first start.
    std::string tls_certificate;
    std::string tls_key;
    // How long a connection may take to get through its layers' handshakes
    // (PROXY header, TLS handshake, HTTP upgrade) before it is dropped.
    int handshake_timeout = 10;
    // Connections still handshaking at once, over all addresses: past this
    // new ones are refused, so slow handshakes cannot take every slot.
    std::size_t max_handshakes = 256;
    proxy::TrustList proxy_trusted;              // peers allowed to send a PROXY header
    std::size_t websocket_max_frame = 64 * 1024;
    std::size_t websocket_max_message = 256 * 1024;
    bool websocket_client = true;                // serve the embedded web client on GET

    // Where each setting came from, so that errors found later (at
    // start-up: a backend not built in, a port in use) name it too.
    std::string source;                          // the file name
    std::map<std::string, std::string> origins;  // key -> "file:line"
    // "file:line" of `key`, or the file alone for a default.
    std::string origin(const std::string &key) const {
        auto it = origins.find(key);
        return it != origins.end() ? it->second : source;
    }
};

// The configuration used when no file is given.
extern const char *const default_config_text;

// Parses `text` as if read from `filename` (used only in messages). On
// failure returns false and sets `error` to "filename:line: message" (or
// "filename: message" for errors that belong to no single line).
bool parse_config(std::string_view text, std::string_view filename, Config &out,
                  std::string &error);

// Reads and parses a file; a missing or unreadable file is an error too.
bool load_config_file(const std::string &path, Config &out, std::string &error);

// Parses "4000", "127.0.0.1:4000", "[::1]:4000". Used for --port too.
// Addresses must be numeric: host names are refused here, not resolved
// (see parse_listen_spec in config.cpp for why).
bool parse_listen_spec(std::string_view text, ListenSpec &out, std::string &error);

}  // namespace comm
