#include "reboot.h"

#include <cstring>
#include <set>

namespace comm {

// ---- telnet state (declared in telnet.h, kept here beside the format) ------

telnet::Telnet::Saved telnet::Telnet::save() const {
    Saved s;
    for (unsigned o = 0; o < 256; ++o) {
        const Side &u = us_[o], &h = him_[o];
        if (u.state == Q::no && h.state == Q::no && !u.opposite && !h.opposite) continue;
        s.options.push_back({static_cast<std::uint8_t>(o), static_cast<std::uint8_t>(u.state),
                             static_cast<std::uint8_t>(h.state), u.opposite, h.opposite});
    }
    s.parse_state = static_cast<std::uint8_t>(state_);
    s.verb = verb_;
    s.sb_option = sb_option_;
    s.sb_overflow = sb_overflow_;
    s.sb = sb_;
    s.ttype_requests = ttype_requests_;
    s.charset_requested = charset_requested_;
    s.replies_sent = stats_.replies_sent;
    s.subnegotiation_bytes = stats_.subnegotiation_bytes;
    s.client = client_;
    return s;
}

bool telnet::Telnet::restore(const Saved &s) {
    if (s.parse_state > static_cast<std::uint8_t>(State::sb_iac) || s.sb.size() > policy_.max_subnegotiation ||
        s.ttype_requests < 0 || s.ttype_requests > 16)
        return false;
    for (const auto &o : s.options)
        if (o.us > 3 || o.him > 3) return false;
    us_ = {};
    him_ = {};
    for (const auto &o : s.options) {
        us_[o.option].state = static_cast<Q>(o.us);
        us_[o.option].opposite = o.us_opposite;
        him_[o.option].state = static_cast<Q>(o.him);
        him_[o.option].opposite = o.him_opposite;
    }
    state_ = static_cast<State>(s.parse_state);
    verb_ = s.verb;
    sb_option_ = s.sb_option;
    sb_overflow_ = s.sb_overflow;
    sb_ = s.sb;
    ttype_requests_ = s.ttype_requests;
    charset_requested_ = s.charset_requested;
    stats_.replies_sent = s.replies_sent;
    stats_.subnegotiation_bytes = s.subnegotiation_bytes;
    client_ = s.client;
    // Not in the file, but implied by the option states.
    client_.gmcp = local_enabled(OPT_GMCP);
    client_.msdp = local_enabled(OPT_MSDP);
    client_.mccp3 = ClientInfo::Mccp3::off;  // an inflate stream is never handed on (see comm.cpp)
    return true;
}

namespace reboot {

std::uint32_t crc32(std::string_view bytes) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : bytes) {
        c ^= b;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

namespace {

// ---- writing ----------------------------------------------------------------

struct Writer {
    std::string out;
    void u8(std::uint8_t v) { out += static_cast<char>(v); }
    void boolean(bool v) { u8(v ? 1 : 0); }
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out.append(s);
    }
};

void put_telnet(Writer &w, const telnet::Telnet::Saved &t) {
    w.u32(static_cast<std::uint32_t>(t.options.size()));
    for (const auto &o : t.options) {
        w.u8(o.option);
        w.u8(o.us);
        w.u8(o.him);
        w.boolean(o.us_opposite);
        w.boolean(o.him_opposite);
    }
    w.u8(t.parse_state);
    w.u8(t.verb);
    w.u8(t.sb_option);
    w.boolean(t.sb_overflow);
    w.str(t.sb);
    w.u32(static_cast<std::uint32_t>(t.ttype_requests));
    w.boolean(t.charset_requested);
    w.u64(t.replies_sent);
    w.u64(t.subnegotiation_bytes);
    w.u32(static_cast<std::uint32_t>(t.client.width));
    w.u32(static_cast<std::uint32_t>(t.client.height));
    w.str(t.client.client_name);
    w.str(t.client.terminal_type);
    w.u32(t.client.mtts);
    w.str(t.client.charset);
}

void put_link(Writer &w, const LinkState &l) {
    w.i64(l.fd);
    w.boolean(l.console);
    w.str(l.address);
    put_telnet(w, l.telnet);
    w.boolean(l.mccp);
    w.str(l.partial_line);
    w.boolean(l.after_cr);
    w.boolean(l.line_cut);
    w.u32(static_cast<std::uint32_t>(l.commands.size()));
    for (const auto &c : l.commands) w.str(c);
    w.u64(l.lines_before_login);
}

// ---- reading ----------------------------------------------------------------

// Reads the payload; the first failure sticks (later reads return zeros)
// and names what was being read.
struct Reader {
    std::string_view in;
    std::string error;

    bool ok() const { return error.empty(); }
    void fail(const std::string &what) {
        if (error.empty()) error = what;
    }
    bool take(std::size_t n, const char *what) {
        if (!ok()) return false;
        if (in.size() < n) {
            fail(std::string("truncated in ") + what);
            return false;
        }
        return true;
    }
    std::uint64_t le(int bytes, const char *what) {
        if (!take(static_cast<std::size_t>(bytes), what)) return 0;
        std::uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v |= std::uint64_t(static_cast<unsigned char>(in[i])) << (8 * i);
        in.remove_prefix(static_cast<std::size_t>(bytes));
        return v;
    }
    std::uint8_t u8(const char *what) { return static_cast<std::uint8_t>(le(1, what)); }
    std::uint32_t u32(const char *what) { return static_cast<std::uint32_t>(le(4, what)); }
    std::uint64_t u64(const char *what) { return le(8, what); }
    std::int64_t i64(const char *what) { return static_cast<std::int64_t>(u64(what)); }
    bool boolean(const char *what) {
        std::uint8_t v = u8(what);
        if (v > 1) fail(std::string("bad flag in ") + what);
        return v == 1;
    }
    std::string str(const char *what, std::size_t cap = max_string) {
        std::uint32_t n = u32(what);
        if (!ok()) return {};
        if (n > cap) {
            fail(std::string(what) + " too long (" + std::to_string(n) + " bytes)");
            return {};
        }
        if (!take(n, what)) return {};
        std::string s(in.substr(0, n));
        in.remove_prefix(n);
        return s;
    }
    // A count of items each at least `min_item` bytes long: more than the
    // rest of the payload could hold is corrupt, before anything is reserved.
    std::size_t count(const char *what, std::size_t min_item) {
        std::uint32_t n = u32(what);
        if (!ok()) return 0;
        if (n > max_items || std::uint64_t(n) * min_item > in.size()) {
            fail(std::string("bad count of ") + what + " (" + std::to_string(n) + ")");
            return 0;
        }
        return n;
    }
    std::int64_t age(const char *what) {
        std::int64_t v = i64(what);
        if (ok() && (v < 0 || v > std::int64_t(400) * 24 * 3600 * 1000)) fail(std::string("bad ") + what);
        return v;
    }
};

void get_telnet(Reader &r, telnet::Telnet::Saved &t) {
    std::size_t n = r.count("telnet options", 5);
    std::set<std::uint8_t> seen;
    for (std::size_t i = 0; i < n && r.ok(); ++i) {
        telnet::Telnet::Saved::Option o;
        o.option = r.u8("telnet option");
        o.us = r.u8("telnet option");
        o.him = r.u8("telnet option");
        o.us_opposite = r.boolean("telnet option");
        o.him_opposite = r.boolean("telnet option");
        if (r.ok() && (o.us > 3 || o.him > 3)) r.fail("bad telnet option state");
        if (r.ok() && !seen.insert(o.option).second) r.fail("telnet option listed twice");
        t.options.push_back(o);
    }
    t.parse_state = r.u8("telnet parser state");
    if (r.ok() && t.parse_state > 5) r.fail("bad telnet parser state");
    t.verb = r.u8("telnet parser state");
    t.sb_option = r.u8("telnet parser state");
    t.sb_overflow = r.boolean("telnet parser state");
    t.sb = r.str("telnet subnegotiation", 64 * 1024);
    std::uint32_t tt = r.u32("telnet ttype count");
    if (r.ok() && tt > 16) r.fail("bad telnet ttype count");
    t.ttype_requests = static_cast<int>(tt);
    t.charset_requested = r.boolean("telnet charset flag");
    t.replies_sent = r.u64("telnet counters");
    t.subnegotiation_bytes = r.u64("telnet counters");
    std::uint32_t wdt = r.u32("window size"), hgt = r.u32("window size");
    if (r.ok() && (wdt > 65535 || hgt > 65535)) r.fail("bad window size");
    t.client.width = static_cast<int>(wdt);
    t.client.height = static_cast<int>(hgt);
    t.client.client_name = r.str("client name", 1024);
    t.client.terminal_type = r.str("terminal type", 1024);
    t.client.mtts = r.u32("MTTS flags");
    t.client.charset = r.str("charset", 1024);
}

void get_link(Reader &r, LinkState &l) {
    l.fd = r.i64("link fd");
    l.console = r.boolean("link console flag");
    if (r.ok() && (l.console ? l.fd != -1 : (l.fd < 0 || l.fd > 0x7fffffff))) r.fail("bad link fd");
    l.address = r.str("link address", 256);
    get_telnet(r, l.telnet);
    l.mccp = r.boolean("link MCCP flag");
    l.partial_line = r.str("partial line", 64 * 1024);
    l.after_cr = r.boolean("line flags");
    l.line_cut = r.boolean("line flags");
    std::size_t n = r.count("queued commands", 4);
    for (std::size_t i = 0; i < n && r.ok(); ++i) l.commands.push_back(r.str("queued command", 64 * 1024));
    l.lines_before_login = r.u64("login line count");
}

void get_user(Reader &r, UserState &u) {
    u.id = r.u64("user id");
    if (r.ok() && u.id == 0) r.fail("bad user id 0");
    u.address = r.str("user address", 256);
    u.keep = r.boolean("user flags");
    u.logged_in = r.boolean("user flags");
    u.connected_ms = r.age("connect age");
    u.idle_ms = r.age("idle age");
    u.netdead_ms = r.age("net-dead age");
    u.app = r.str("application record");
    u.has_link = r.boolean("user link flag");
    if (u.has_link) get_link(r, u.link);
}

}  // namespace

std::string write(const State &state) {
    Writer p;
    p.u64(state.next_id);
    p.str(state.app);
    p.u32(static_cast<std::uint32_t>(state.listeners.size()));
    for (const auto &l : state.listeners) {
        p.i64(l.fd);
        p.str(l.name);
        p.u32(l.layers);
    }
    p.u32(static_cast<std::uint32_t>(state.users.size()));
    for (const auto &u : state.users) {
        p.u64(u.id);
        p.str(u.address);
        p.boolean(u.keep);
        p.boolean(u.logged_in);
        p.i64(u.connected_ms);
        p.i64(u.idle_ms);
        p.i64(u.netdead_ms);
        p.str(u.app);
        p.boolean(u.has_link);
        if (u.has_link) put_link(p, u.link);
    }
    Writer h;
    h.out.append(magic, sizeof magic);
    h.u32(format_version);
    h.u32(0);
    h.u64(p.out.size());
    h.u32(crc32(p.out));
    return h.out + p.out;
}

bool parse(std::string_view bytes, State &state, std::string &error) {
    auto fail = [&](const std::string &why) {
        error = "state file: " + why;
        return false;
    };
    if (bytes.size() < sizeof magic || std::memcmp(bytes.data(), magic, sizeof magic) != 0)
        return fail("not an ior-mud state file (bad magic)");
    if (bytes.size() < header_size) return fail("truncated header");
    Reader h{bytes.substr(sizeof magic), {}};
    std::uint32_t version = h.u32("header");
    std::uint32_t flags = h.u32("header");
    std::uint64_t length = h.u64("header");
    std::uint32_t sum = h.u32("header");
    if (version == 0) return fail("bad format version 0");
    if (version > format_version)
        return fail("format version " + std::to_string(version) + " is newer than this binary reads (" +
                    std::to_string(format_version) + "); refusing it");
    if (flags != 0) return fail("unknown flags " + std::to_string(flags));
    std::string_view payload = bytes.substr(header_size);
    if (length > max_state_bytes) return fail("payload length " + std::to_string(length) + " over the limit");
    if (payload.size() < length)
        return fail("truncated: " + std::to_string(payload.size()) + " of " + std::to_string(length) +
                    " payload bytes");
    if (payload.size() > length) return fail("trailing bytes after the payload");
    if (crc32(payload) != sum) return fail("checksum mismatch (corrupt)");

    State s;
    Reader r{payload, {}};
    s.next_id = r.u64("next id");
    s.app = r.str("application state");
    std::size_t nl = r.count("listeners", 16);
    std::set<std::int64_t> fds;
    for (std::size_t i = 0; i < nl && r.ok(); ++i) {
        ListenerState l;
        l.fd = r.i64("listener fd");
        l.name = r.str("listener name", 256);
        l.layers = r.u32("listener layers");
        if (r.ok() && (l.layers & ~known_layers)) r.fail("unknown listener layers " + std::to_string(l.layers));
        if (r.ok() && (l.fd < 0 || l.fd > 0x7fffffff || !fds.insert(l.fd).second)) r.fail("bad listener fd");
        s.listeners.push_back(std::move(l));
    }
    std::size_t nu = r.count("users", 40);
    std::set<std::uint64_t> ids;
    bool console_seen = false;
    for (std::size_t i = 0; i < nu && r.ok(); ++i) {
        UserState u;
        get_user(r, u);
        if (!r.ok()) break;
        if (!ids.insert(u.id).second) r.fail("user id " + std::to_string(u.id) + " listed twice");
        if (u.id >= s.next_id) r.fail("user id " + std::to_string(u.id) + " not below the next id");
        if (u.has_link && u.link.console) {
            if (console_seen) r.fail("two console users");
            console_seen = true;
        } else if (u.has_link && !fds.insert(u.link.fd).second) {
            r.fail("fd " + std::to_string(u.link.fd) + " used twice");
        }
        s.users.push_back(std::move(u));
    }
    if (r.ok() && !r.in.empty()) r.fail("unread bytes at the end of the payload");
    if (!r.ok()) return fail(r.error);
    state = std::move(s);
    return true;
}

}  // namespace reboot
}  // namespace comm
