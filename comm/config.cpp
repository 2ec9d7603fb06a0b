#include "config.h"

#include "sanitize.h"
#include "tls.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

namespace comm {

namespace {

// The built-in configuration. A build without TLS (mingw) leaves the TLS
// port out, so the README's run command works there too.
std::string make_default_config() {
    std::string text =
        "# ior-mud default configuration (used when no --config is given)\n"
        "name : ioreactor talker\n"
        "port : 4000                    # telnet\n";
    if (tls::available())
        text += "port : 4443 tls                # telnet over TLS (self-signed certificate made at first start)\n";
    text +=
        "port : 4080 websocket          # web client at http://localhost:4080/ and ws://\n"
        "io_reactor_backend : auto\n"
        "io_reactor_max_events : 128\n"
        "io_reactor_pool_size : 256\n"
        "trace io_reactor : off\n"
        "idle timeout : 1h\n"
        "net dead timeout : 5m\n"
        "max users : 1000\n"
        "login timeout : 2m\n"
        "max connections per address : 16\n"
        "max connects per address per minute : 60\n"
        "max line length : 1024\n"
        "max input queue : 16k\n"
        "max output buffer : 1m\n"
        "output high watermark : 256k\n"
        "output low watermark : 64k\n"
        "mccp : on\n"
        "mccp3 : on\n"
        "msdp : on\n"
        "max option changes : 20\n"
        "max replies before login : 500\n"
        "max subnegotiation before login : 64k\n"
        "max lines before login : 50\n"
        "tls handshake timeout : 10s\n"
        "max handshaking connections : 256\n"
        "websocket max frame : 64k\n"
        "websocket max message : 256k\n"
        "websocket client : on\n";
    return text;
}

const std::string &default_config_string() {
    static const std::string text = make_default_config();
    return text;
}

}  // namespace

const char *const default_config_text = default_config_string().c_str();

std::string ListenSpec::layers() const {
    std::string s;
    for (auto [on, name] : {std::pair{proxy, "proxy"}, {tls, "tls"}, {websocket, "websocket"}})
        if (on) s += (s.empty() ? "" : " ") + std::string(name);
    return s;
}

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return r;
}

bool parse_uint(std::string_view s, unsigned long long max, unsigned long long &out) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && out <= max;
}

// A count with an optional k/m/g suffix (powers of 1024).
bool parse_size(std::string_view s, std::size_t &out) {
    unsigned long long mult = 1;
    if (!s.empty()) {
        switch (std::tolower(static_cast<unsigned char>(s.back()))) {
        case 'k': mult = 1024ull; break;
        case 'm': mult = 1024ull * 1024; break;
        case 'g': mult = 1024ull * 1024 * 1024; break;
        }
        if (mult != 1) s.remove_suffix(1);
    }
    unsigned long long n = 0;
    if (!parse_uint(trim(s), (1ull << 40) / mult, n)) return false;
    out = static_cast<std::size_t>(n * mult);
    return true;
}

// Seconds with an optional s/m/h/d suffix.
bool parse_duration(std::string_view s, int &out) {
    unsigned long long mult = 1;
    if (!s.empty()) {
        switch (std::tolower(static_cast<unsigned char>(s.back()))) {
        case 's': mult = 1; s.remove_suffix(1); break;
        case 'm': mult = 60; s.remove_suffix(1); break;
        case 'h': mult = 3600; s.remove_suffix(1); break;
        case 'd': mult = 86400; s.remove_suffix(1); break;
        }
    }
    unsigned long long n = 0;
    if (!parse_uint(trim(s), 365ull * 86400 / mult, n)) return false;
    out = static_cast<int>(n * mult);
    return true;
}

bool parse_bool(std::string_view s, bool &out) {
    std::string v = lower(s);
    if (v == "on" || v == "yes" || v == "true" || v == "1") return out = true, true;
    if (v == "off" || v == "no" || v == "false" || v == "0") return out = false, true;
    return false;
}

bool parse_int_in(std::string_view s, int lo, int hi, int &out) {
    unsigned long long n = 0;
    if (!parse_uint(s, static_cast<unsigned long long>(hi), n) || static_cast<int>(n) < lo)
        return false;
    out = static_cast<int>(n);
    return true;
}

// One key's parser: returns an error message, empty on success.
using KeyParser = std::function<std::string(std::string_view, Config &)>;

struct KeyRule {
    const char *key;
    bool repeatable;
    KeyParser parse;
};

KeyParser size_key(std::size_t Config::*field, std::size_t lo) {
    return [field, lo](std::string_view v, Config &c) -> std::string {
        std::size_t n = 0;
        if (!parse_size(v, n)) return "expected a byte count like 4096, 64k or 1m";
        if (n < lo) return "must be at least " + std::to_string(lo);
        c.*field = n;
        return {};
    };
}

KeyParser duration_key(int Config::*field) {
    return [field](std::string_view v, Config &c) -> std::string {
        if (!parse_duration(v, c.*field)) return "expected seconds, optionally with s, m, h or d";
        return {};
    };
}

KeyParser int_key(int Config::*field, int lo, int hi) {
    return [=](std::string_view v, Config &c) -> std::string {
        if (!parse_int_in(v, lo, hi, c.*field))
            return "expected a number from " + std::to_string(lo) + " to " + std::to_string(hi);
        return {};
    };
}

KeyParser bool_key(bool Config::*field) {
    return [field](std::string_view v, Config &c) -> std::string {
        if (!parse_bool(v, c.*field)) return "expected on or off";
        return {};
    };
}

const std::vector<KeyRule> &rules() {
    static const std::vector<KeyRule> table = {
        {"port", true,
         [](std::string_view v, Config &c) -> std::string {
             ListenSpec spec;
             std::string err;
             if (!parse_listen_spec(v, spec, err)) return err;
             c.listeners.push_back(spec);
             return {};
         }},
        {"name", false,
         [](std::string_view v, Config &c) -> std::string {
             c.mud_name = std::string(v);
             return {};
         }},
        {"io_reactor_backend", false,
         [](std::string_view v, Config &c) -> std::string {
             static const char *known[] = {"auto", "epoll", "io_uring", "poll", "iocp"};
             for (const char *k : known)
                 if (v == k) return c.backend = k, std::string();
             return "unknown backend '" + escape_bytes(v) +
                    "' (expected auto, epoll, io_uring, poll or iocp)";
         }},
        {"io_reactor_max_events", false, int_key(&Config::max_events, 1, 65536)},
        {"io_reactor_pool_size", false, int_key(&Config::pool_size, 0, 1 << 20)},
        {"trace io_reactor", false, bool_key(&Config::trace_reactor)},
        {"idle timeout", false, duration_key(&Config::idle_timeout)},
        {"net dead timeout", false, duration_key(&Config::netdead_timeout)},
        {"max users", false, size_key(&Config::max_users, 1)},
        {"login timeout", false, duration_key(&Config::login_timeout)},
        {"max connections per address", false, size_key(&Config::max_per_address, 0)},
        {"max connects per address per minute", false, size_key(&Config::max_connects_per_minute, 0)},
        {"max line length", false, size_key(&Config::max_line_length, 16)},
        {"max input queue", false, size_key(&Config::max_input_queue, 256)},
        {"max output buffer", false, size_key(&Config::output_cap, 1024)},
        {"output high watermark", false, size_key(&Config::output_high_water, 512)},
        {"output low watermark", false, size_key(&Config::output_low_water, 0)},
        {"mccp", false, bool_key(&Config::mccp)},
        {"mccp3", false, bool_key(&Config::mccp3)},
        {"msdp", false, bool_key(&Config::msdp)},
        {"max option changes", false,
         [](std::string_view v, Config &c) -> std::string {
             int n = 0;
             if (!parse_int_in(v, 0, 1000, n)) return "expected a number from 0 to 1000";
             c.max_option_changes = static_cast<unsigned>(n);
             return {};
         }},
        {"max replies before login", false, size_key(&Config::login_replies, 0)},
        {"max subnegotiation before login", false, size_key(&Config::login_subnegotiation, 0)},
        {"max lines before login", false, size_key(&Config::login_lines, 0)},
        {"admins", false,
         [](std::string_view v, Config &c) -> std::string {
             c.admins.clear();
             std::size_t i = 0;
             while (i < v.size()) {
                 while (i < v.size() && (v[i] == ' ' || v[i] == ',')) ++i;
                 std::size_t j = i;
                 while (j < v.size() && v[j] != ' ' && v[j] != ',') ++j;
                 if (j == i) break;
                 std::string_view name = v.substr(i, j - i);
                 for (char ch : name)
                     if (!std::isalpha(static_cast<unsigned char>(ch)))
                         return "admin names are letters only ('" + escape_bytes(name) + "')";
                 c.admins.push_back(lower(name));
                 i = j;
             }
             return {};
         }},
        {"tls certificate", false,
         [](std::string_view v, Config &c) -> std::string {
             c.tls_certificate = std::string(v);
             return {};
         }},
        {"tls key", false,
         [](std::string_view v, Config &c) -> std::string {
             c.tls_key = std::string(v);
             return {};
         }},
        {"tls handshake timeout", false,
         [](std::string_view v, Config &c) -> std::string {
             if (!parse_duration(v, c.handshake_timeout) || c.handshake_timeout < 1)
                 return "expected seconds (at least 1), optionally with s, m or h";
             return {};
         }},
        {"max handshaking connections", false, size_key(&Config::max_handshakes, 1)},
        // Repeatable: each line adds its addresses to the list.
        {"proxy trusted", true,
         [](std::string_view v, Config &c) -> std::string {
             while (!(v = trim(v)).empty()) {
                 auto end = v.find_first_of(" \t,");
                 std::string err;
                 if (!c.proxy_trusted.add(v.substr(0, end), err)) return err;
                 v = end == std::string_view::npos ? std::string_view() : v.substr(end + 1);
             }
             return {};
         }},
        {"websocket max frame", false, size_key(&Config::websocket_max_frame, 125)},
        {"websocket max message", false, size_key(&Config::websocket_max_message, 125)},
        {"websocket client", false, bool_key(&Config::websocket_client)},
    };
    return table;
}

const KeyRule *find_rule(std::string_view key) {
    for (const KeyRule &r : rules())
        if (key == r.key) return &r;
    return nullptr;
}

// The line number in a "file:line" origin; 0 for a default.
int line_of(const Config &c, const std::string &key) {
    std::string o = c.origin(key);
    auto colon = o.rfind(':');
    return o.size() > c.source.size() && colon != std::string::npos ? std::atoi(o.c_str() + colon + 1) : 0;
}

// Two settings that must agree: the message goes to the later of the two
// lines (the one that made the pair wrong when read top to bottom) and
// says where the other one was set.
std::string pair_error(const Config &c, const std::string &a, const std::string &b,
                       const std::string &message) {
    const std::string &at = line_of(c, a) >= line_of(c, b) ? a : b;
    const std::string &other = &at == &a ? b : a;
    std::string where_other = line_of(c, other) ? "set at " + c.origin(other) : "the default";
    return c.origin(at) + ": " + message + " ('" + other + "' is " + where_other + ")";
}

std::string check_layers(const Config &c) {
    for (const ListenSpec &l : c.listeners)
        if (l.proxy && c.proxy_trusted.empty())
            return (l.origin.empty() ? c.source : l.origin) +
                   ": a proxy listener needs the addresses of its proxies "
                   "(add e.g. 'proxy trusted : 127.0.0.1 ::1'); no one else may send a PROXY header";
    if (c.tls_certificate.empty() != c.tls_key.empty())
        return c.origin(c.tls_certificate.empty() ? "tls key" : "tls certificate") +
               ": 'tls certificate' and 'tls key' go together (set both, or neither for a "
               "self-signed pair made at first start)";
    if (c.websocket_max_frame > c.websocket_max_message)
        return pair_error(c, "websocket max frame", "websocket max message",
                          "websocket max frame (" + std::to_string(c.websocket_max_frame) +
                              ") must not exceed websocket max message (" +
                              std::to_string(c.websocket_max_message) + ")");
    return {};
}

std::string check_consistency(const Config &c) {
    if (c.listeners.empty()) return c.source + ": no port configured (add a line like 'port : 4000')";
    if (std::string e = check_layers(c); !e.empty()) return e;
    if (c.output_low_water >= c.output_high_water)
        return pair_error(c, "output low watermark", "output high watermark",
                          "output low watermark (" + std::to_string(c.output_low_water) +
                              ") must be below output high watermark (" +
                              std::to_string(c.output_high_water) + ")");
    if (c.output_high_water > c.output_cap)
        return pair_error(c, "output high watermark", "max output buffer",
                          "output high watermark (" + std::to_string(c.output_high_water) +
                              ") must not exceed max output buffer (" + std::to_string(c.output_cap) + ")");
    return {};
}

bool is_ipv4_address(std::string_view s) {
    int parts = 0;
    while (true) {
        auto dot = s.find('.');
        int n = 0;
        if (!parse_int_in(s.substr(0, dot), 0, 255, n) || s.substr(0, dot).size() > 3) return false;
        ++parts;
        if (dot == std::string_view::npos) break;
        s.remove_prefix(dot + 1);
    }
    return parts == 4;
}

// The characters an IPv6 address can have; bind() has the last word.
bool looks_like_ipv6_address(std::string_view s) {
    return s.find(':') != std::string_view::npos &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) {
               return std::isxdigit(c) || c == ':' || c == '.';
           });
}

}  // namespace

namespace {

bool parse_layers(std::string_view address, std::string_view words, ListenSpec &spec, std::string &error) {
    while (!(words = trim(words)).empty()) {
        auto end = words.find_first_of(" \t");
        std::string word = lower(words.substr(0, end));
        words = end == std::string_view::npos ? std::string_view() : words.substr(end);
        bool *flag = word == "tls" ? &spec.tls : word == "proxy" ? &spec.proxy
                   : word == "websocket" ? &spec.websocket : nullptr;
        if (!flag) {
            // The address and the word, each once: the message stays
            // within a small multiple of the line (fuzz/config_fuzz.cpp).
            error = "bad port '" + escape_bytes(address) + "': unknown listener option '" + escape_bytes(word) +
                    "' (expected tls, proxy or websocket)";
            return false;
        }
        if (*flag) {
            error = "'" + word + "' is given twice";
            return false;
        }
        *flag = true;
    }
    if (spec.tls && !tls::available()) {
        error = "a TLS listener, but this build has no TLS (" + tls::library_version() +
                ": OpenSSL 3 was not found when it was built, as in the Windows build); "
                "drop 'tls' or put a TLS-terminating proxy in front";
        return false;
    }
    return true;
}

}  // namespace

// Host names are not resolved: a listener binds to exactly the address
// the operator wrote. Resolving at parse time would make start-up depend on
// the resolver (blocking, and "localhost" may give 127.0.0.1, ::1 or both,
// differently from one host to the next); the error says what to write.
bool parse_listen_spec(std::string_view text, ListenSpec &out, std::string &error) {
    text = trim(text);
    ListenSpec spec;
    // "4443 tls", "127.0.0.1:4001 proxy": words after the address name the
    // listener's layers.
    if (auto sp = text.find_first_of(" \t"); sp != std::string_view::npos) {
        if (!parse_layers(text.substr(0, sp), trim(text.substr(sp)), spec, error)) return false;
        text = text.substr(0, sp);
    }
    std::string_view port_text = text;
    bool ok = true;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find("]:");
        ok = close != std::string_view::npos;
        spec.family = ListenSpec::Family::ipv6;
        if (ok) {
            spec.address = std::string(text.substr(1, close - 1));
            port_text = text.substr(close + 2);
        }
    } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
        spec.family = ListenSpec::Family::ipv4;
        spec.address = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
    }
    if (!ok || (spec.family != ListenSpec::Family::any && spec.address.empty()) ||
        !parse_int_in(port_text, 0, 65535, spec.port)) {
        error = "bad port '" + escape_bytes(text) +
                "' (expected 4000, 127.0.0.1:4000 or [::1]:4000; port 0 to 65535)";
        return false;
    }
    const bool v6 = spec.family == ListenSpec::Family::ipv6;
    if (spec.family != ListenSpec::Family::any &&
        !(v6 ? looks_like_ipv6_address(spec.address) : is_ipv4_address(spec.address))) {
        error = "'" + escape_bytes(spec.address) + "' is not a numeric " + (v6 ? "IPv6" : "IPv4") +
                " address; host names are not resolved (write e.g. 127.0.0.1:" +
                std::to_string(spec.port) + " or [::1]:" + std::to_string(spec.port) + ")";
        return false;
    }
    out = spec;
    return true;
}

bool parse_config(std::string_view text, std::string_view filename, Config &out,
                  std::string &error) {
    Config cfg;
    cfg.source = std::string(filename);
    std::vector<std::string> seen;
    int lineno = 0;
    auto fail = [&](const std::string &msg) {
        error = std::string(filename) + ":" + std::to_string(lineno) + ": " + msg;
        return false;
    };
    while (!text.empty()) {
        ++lineno;
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) continue;
        auto colon = line.find(':');
        if (colon == std::string_view::npos)
            return fail("expected 'key : value', got '" + escape_bytes(line) + "'");
        std::string key = lower(trim(line.substr(0, colon)));
        std::string_view value = trim(line.substr(colon + 1));
        const KeyRule *rule = find_rule(key);
        if (!rule) return fail("unknown key '" + escape_bytes(key) + "'");
        if (value.empty()) return fail("missing value for '" + key + "'");
        if (!rule->repeatable) {
            if (std::find(seen.begin(), seen.end(), key) != seen.end())
                return fail("'" + key + "' is given twice");
            seen.push_back(key);
        }
        if (std::string msg = rule->parse(value, cfg); !msg.empty())
            return fail("bad value for '" + key + "': " + msg);
        std::string here = cfg.source + ":" + std::to_string(lineno);
        cfg.origins[key] = here;
        if (key == "port") cfg.listeners.back().origin = here;
    }
    if (std::string msg = check_consistency(cfg); !msg.empty()) {
        error = msg;
        return false;
    }
    out = std::move(cfg);
    return true;
}

bool load_config_file(const std::string &path, Config &out, std::string &error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": cannot open configuration file";
        return false;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_config(text.str(), path, out, error);
}

}  // namespace comm
