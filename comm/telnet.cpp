#include "telnet.h"

#include "sanitize.h"

#include <algorithm>
#include <cctype>

namespace comm::telnet {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::toupper(x) == std::toupper(y);
           });
}

// Peer text kept for display: printable ASCII, others as '?', bounded.
std::string printable(std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

// What a client may ask LIST for (MSDP), and what the lists hold that do
// not depend on the application.
const std::vector<std::string> kMsdpCommands = {"LIST", "REPORT", "RESET", "SEND", "UNREPORT"};
const std::vector<std::string> kMsdpLists = {"COMMANDS", "LISTS", "CONFIGURABLE_VARIABLES",
                                             "REPORTABLE_VARIABLES", "REPORTED_VARIABLES",
                                             "SENDABLE_VARIABLES"};
const std::vector<std::string> kMsdpConfigurable = {"CLIENT_NAME", "CLIENT_VERSION", "PLUGIN_ID",
                                                    "ANSI_COLORS", "XTERM_256_COLORS", "UTF_8"};
// Commands acted on per MSDP message; the rest are dropped (one message
// of LIST requests must not make a reply many times its size).
constexpr std::size_t kMsdpCommandsPerMessage = 32;

void append_escaped(std::string &out, std::string_view bytes) {
    for (char c : bytes) {
        out += c;
        if (static_cast<std::uint8_t>(c) == IAC) out += c;
    }
}

}  // namespace

Telnet::Telnet(TelnetHandler &handler, Policy policy) : handler_(handler), policy_(policy) {}

void Telnet::start() {
    request_remote(OPT_TTYPE, true);
    request_remote(OPT_NAWS, true);
    request_local(OPT_EOR, true);
    request_local(OPT_CHARSET, true);
    request_local(OPT_GMCP, true);
    request_local(OPT_MSSP, true);
    if (policy_.mccp2) request_local(OPT_MCCP2, true);
    if (policy_.new_environ) request_remote(OPT_NEW_ENVIRON, true);
    if (policy_.msdp) request_local(OPT_MSDP, true);
    if (policy_.mccp3 && Decompressor::available()) request_local(OPT_MCCP3, true);
}

// Plain bytes go through the state machine until the client starts MCCP3;
// from the byte after that IAC SE everything is inflated first, and when
// the client's stream ends, the bytes after its end are plain again.
void Telnet::feed(std::string_view bytes, std::string &data) {
    std::string plain_again;
    while (!bytes.empty() && client_.mccp3 != ClientInfo::Mccp3::failed) {
        if (inflater_) {
            std::string after;
            feed_inflating(bytes, data, after);
            plain_again = std::move(after);
            bytes = plain_again;
        } else {
            bytes.remove_prefix(feed_plain(bytes, data));
        }
    }
}

// Returns how many bytes were used: all, or up to the IAC SE that started MCCP3.
std::size_t Telnet::feed_plain(std::string_view bytes, std::string &data) {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        feed_byte(static_cast<std::uint8_t>(bytes[i]), data);
        if (mccp3_started_) {
            mccp3_started_ = false;
            return i + 1;
        }
    }
    return bytes.size();
}

void Telnet::feed_inflating(std::string_view bytes, std::string &data, std::string &after) {
    std::string out;
    const Decompressor::Status st = inflater_->feed(bytes, out, after);
    client_.mccp3_in = inflater_->bytes_in();
    client_.mccp3_out = inflater_->bytes_out();
    if (st == Decompressor::Status::failed) {
        client_.mccp3 = ClientInfo::Mccp3::failed;
        const std::string why = inflater_->error();
        inflater_.reset();
        after.clear();
        handler_.telnet_input_failed(why);
        return;
    }
    // Inflated bytes are telnet like any other; an MCCP3 start inside the
    // stream is ignored (on_mccp3_start: inflater_ is still set).
    for (char c : out) feed_byte(static_cast<std::uint8_t>(c), data);
    if (st == Decompressor::Status::ended) {
        client_.mccp3 = ClientInfo::Mccp3::ended;
        inflater_.reset();
    }
}

void Telnet::feed_byte(std::uint8_t c, std::string &data) {
    switch (state_) {
    case State::data:
        if (c == IAC)
            state_ = State::iac;
        else
            data += static_cast<char>(c);
        return;
    case State::iac:
        state_ = State::data;
        if (c == IAC) {
            data += static_cast<char>(c);
        } else if (c == WILL || c == WONT || c == DO || c == DONT) {
            verb_ = c;
            state_ = State::verb;
        } else if (c == SB) {
            state_ = State::sb_option;
        } else {
            on_command(c);
        }
        return;
    case State::verb:
        state_ = State::data;
        on_verb(verb_, c);
        return;
    case State::sb_option:
        sb_option_ = c;
        sb_.clear();
        sb_overflow_ = false;
        state_ = State::sb_data;
        return;
    case State::sb_data:
        ++stats_.subnegotiation_bytes;
        if (c == IAC) {
            state_ = State::sb_iac;
        } else if (sb_.size() < policy_.max_subnegotiation) {
            sb_ += static_cast<char>(c);
        } else {
            sb_overflow_ = true;
        }
        return;
    case State::sb_iac:
        if (c == SE) {
            state_ = State::data;
            if (!sb_overflow_) on_subnegotiation();
            sb_.clear();
        } else if (c == IAC) {
            state_ = State::sb_data;
            if (sb_.size() < policy_.max_subnegotiation) sb_ += static_cast<char>(c);
            else sb_overflow_ = true;
        } else {
            // A peer that never sends SE: drop the subnegotiation and read
            // the byte as the command it introduces, so we resynchronise.
            sb_.clear();
            state_ = State::iac;
            feed_byte(c, data);
        }
        return;
    }
}

void Telnet::on_command(std::uint8_t c) {
    if (c == NOP || c == GA || c == EOR_CMD || c == DM) return;
    if (c == AYT) {
        ++stats_.replies_sent;
        handler_.telnet_send("\r\n[Yes]\r\n");
    }
    handler_.telnet_command(c);
}

void Telnet::on_verb(std::uint8_t verb, std::uint8_t option) {
    switch (verb) {
    case DO: receive_enable(true, option); break;
    case DONT: receive_disable(true, option); break;
    case WILL: receive_enable(false, option); break;
    case WONT: receive_disable(false, option); break;
    }
}

bool Telnet::agrees(bool local, std::uint8_t option) const {
    if (local) {
        switch (option) {
        case OPT_ECHO: case OPT_SGA: case OPT_EOR: case OPT_CHARSET:
        case OPT_MSSP: case OPT_GMCP:
            return true;
        case OPT_MCCP2:
            return policy_.mccp2;
        case OPT_MCCP3:
            return policy_.mccp3 && Decompressor::available();
        case OPT_MSDP:
            return policy_.msdp;
        default:
            return false;
        }
    }
    return option == OPT_NAWS || option == OPT_TTYPE || option == OPT_CHARSET ||
           (option == OPT_NEW_ENVIRON && policy_.new_environ);
}

void Telnet::send_verb(std::uint8_t verb, std::uint8_t option) {
    const char bytes[3] = {static_cast<char>(IAC), static_cast<char>(verb),
                           static_cast<char>(option)};
    ++stats_.replies_sent;
    handler_.telnet_send(std::string_view(bytes, 3));
}

// Counts one peer-made enable of `option`; false once the peer has made
// more than the policy allows in the current window.
bool Telnet::allow_change(bool local, std::uint8_t option) {
    if (policy_.max_option_changes == 0) return true;
    if (now_ - window_start_ >= policy_.option_change_window) {
        window_start_ = now_;
        for (Side &x : us_) x.changes = 0;
        for (Side &x : him_) x.changes = 0;
    }
    Side &s = side(local, option);
    if (s.changes >= policy_.max_option_changes) {
        if (!refusal_reported_) handler_.telnet_renegotiation_refused(option, local);
        refusal_reported_ = true;
        return false;
    }
    ++s.changes;
    return true;
}

// RFC 1143, "upon receipt of WILL" (remote) / "DO" (local).
void Telnet::receive_enable(bool local, std::uint8_t option) {
    Side &s = side(local, option);
    const std::uint8_t yes = local ? WILL : DO, no = local ? WONT : DONT;
    switch (s.state) {
    case Q::no:
        // Refusing is always allowed in state "no" (RFC 1143): the state
        // stays put and the answer is the negative verb.
        if (agrees(local, option) && allow_change(local, option)) {
            s.state = Q::yes;
            send_verb(yes, option);
            changed(local, option, true);
        } else {
            send_verb(no, option);
        }
        break;
    case Q::yes:
        break;
    case Q::wantno:
        // Our refusal was answered by an acceptance: a peer error. Settle
        // where the queue says, without replying (replying could loop).
        s.state = s.opposite ? Q::yes : Q::no;
        s.opposite = false;
        if (s.state == Q::yes) changed(local, option, true);
        break;
    case Q::wantyes:
        if (s.opposite) {
            s.state = Q::wantno;
            s.opposite = false;
            send_verb(no, option);
        } else {
            s.state = Q::yes;
            changed(local, option, true);
        }
        break;
    }
}

// RFC 1143, "upon receipt of WONT" (remote) / "DONT" (local).
void Telnet::receive_disable(bool local, std::uint8_t option) {
    Side &s = side(local, option);
    const std::uint8_t yes = local ? WILL : DO, no = local ? WONT : DONT;
    switch (s.state) {
    case Q::no:
        break;
    case Q::yes:
        s.state = Q::no;
        send_verb(no, option);
        changed(local, option, false);
        break;
    case Q::wantno:
        if (s.opposite) {
            s.state = Q::wantyes;
            s.opposite = false;
            send_verb(yes, option);
        } else {
            s.state = Q::no;
        }
        break;
    case Q::wantyes:
        s.state = Q::no;
        s.opposite = false;
        break;
    }
}

void Telnet::request(bool local, std::uint8_t option, bool enable) {
    Side &s = side(local, option);
    const std::uint8_t yes = local ? WILL : DO, no = local ? WONT : DONT;
    switch (s.state) {
    case Q::no:
        if (enable) {
            s.state = Q::wantyes;
            send_verb(yes, option);
        }
        break;
    case Q::yes:
        if (!enable) {
            s.state = Q::wantno;
            send_verb(no, option);
            changed(local, option, false);
        }
        break;
    case Q::wantno:
        s.opposite = enable;
        break;
    case Q::wantyes:
        s.opposite = !enable;
        break;
    }
}

void Telnet::request_local(std::uint8_t option, bool enable) { request(true, option, enable); }
void Telnet::request_remote(std::uint8_t option, bool enable) { request(false, option, enable); }
bool Telnet::local_enabled(std::uint8_t option) const { return side(true, option).state == Q::yes; }
bool Telnet::remote_enabled(std::uint8_t option) const { return side(false, option).state == Q::yes; }

void Telnet::changed(bool local, std::uint8_t option, bool enabled) {
    if (local && option == OPT_MCCP2) {
        if (enabled) send_sb(OPT_MCCP2, {});
        handler_.telnet_compress(enabled);
    }
    if (local && option == OPT_MSSP && enabled) send_mssp();
    if (!local && option == OPT_TTYPE && enabled) {
        ++ttype_requests_;
        send_sb(OPT_TTYPE, std::string_view("\x01", 1));
    }
    if (option == OPT_CHARSET && enabled) request_charset();
    // MNES: ask for the variables at once, as Mudlet expects.
    if (!local && option == OPT_NEW_ENVIRON && enabled)
        send_sb(OPT_NEW_ENVIRON, newenv::encode_send(newenv::mnes_variables()));
    if (local && option == OPT_MSDP && !enabled) msdp_reported_.clear();
    if (local && option == OPT_MSDP) client_.msdp = enabled;
    if (local && option == OPT_GMCP) client_.gmcp = enabled;
    handler_.telnet_option_changed(option, local, enabled);
}

void Telnet::send_sb(std::uint8_t option, std::string_view payload) {
    std::string out;
    out += static_cast<char>(IAC);
    out += static_cast<char>(SB);
    out += static_cast<char>(option);
    append_escaped(out, payload);
    out += static_cast<char>(IAC);
    out += static_cast<char>(SE);
    ++stats_.replies_sent;
    handler_.telnet_send(out);
}

void Telnet::on_subnegotiation() {
    std::string_view p = sb_;
    switch (sb_option_) {
    case OPT_NAWS:
        if (remote_enabled(OPT_NAWS)) on_naws(p);
        break;
    case OPT_TTYPE:
        if (remote_enabled(OPT_TTYPE)) on_ttype(p);
        break;
    case OPT_CHARSET:
        if (local_enabled(OPT_CHARSET) || remote_enabled(OPT_CHARSET)) on_charset(p);
        break;
    case OPT_GMCP:
        if (local_enabled(OPT_GMCP)) on_gmcp(p);
        break;
    case OPT_NEW_ENVIRON:
        if (remote_enabled(OPT_NEW_ENVIRON)) on_new_environ(p);
        break;
    case OPT_MSDP:
        if (local_enabled(OPT_MSDP)) on_msdp(p);
        break;
    case OPT_MCCP3:
        if (local_enabled(OPT_MCCP3)) on_mccp3_start();
        break;
    }
}

// The client's IAC SB MCCP3 IAC SE: its next byte is compressed. Ignored
// while a stream is already being inflated, and after a failed one.
void Telnet::on_mccp3_start() {
    if (inflater_ || client_.mccp3 == ClientInfo::Mccp3::failed) return;
    inflater_ = std::make_unique<Decompressor>(policy_.inflate);
    client_.mccp3 = ClientInfo::Mccp3::inflating;
    mccp3_started_ = true;
}

void Telnet::on_new_environ(std::string_view p) {
    newenv::Message m;
    std::string error;
    if (!newenv::parse(p, m, error)) return handler_.telnet_protocol_error(error);
    // A SEND is the client asking us: we have no environment to give.
    if (newenv::apply(m, client_.mnes_values)) client_.mnes = true;
}

void Telnet::on_msdp(std::string_view p) {
    msdp::Variables vars;
    std::vector<msdp::Command> cmds;
    std::string error;
    if (!msdp::parse(p, vars, error) || !msdp::commands(vars, cmds, error))
        return handler_.telnet_protocol_error(error);
    if (cmds.size() > kMsdpCommandsPerMessage) {
        handler_.telnet_protocol_error("MSDP: " + std::to_string(cmds.size()) +
                                       " commands in one message; only the first " +
                                       std::to_string(kMsdpCommandsPerMessage) + " are read");
        cmds.resize(kMsdpCommandsPerMessage);
    }
    for (const msdp::Command &c : cmds) on_msdp_command(c);
}

void Telnet::on_msdp_command(const msdp::Command &c) {
    using K = msdp::Command::Kind;
    switch (c.kind) {
    case K::list:
        for (const std::string &a : c.args) msdp_list(a);
        break;
    case K::send:
        for (const std::string &a : c.args) msdp_send(a);
        break;
    case K::report: {
        const std::vector<std::string> names = handler_.telnet_msdp_names();
        for (const std::string &a : c.args) {
            if (std::find(names.begin(), names.end(), a) == names.end()) continue;
            msdp_reported_.insert(a);  // bounded: only names the application has
            msdp_send(a);              // the current value first, changes after
        }
        break;
    }
    case K::unreport:
        for (const std::string &a : c.args) msdp_reported_.erase(a);
        break;
    case K::reset:
        for (const std::string &a : c.args)
            if (a == "REPORTABLE_VARIABLES" || a == "REPORTED_VARIABLES") msdp_reported_.clear();
        break;
    case K::set:
        msdp_record(c.name, c.args.empty() ? std::string_view() : std::string_view(c.args[0]));
        break;
    }
}

void Telnet::msdp_list(std::string_view list) {
    std::vector<std::string> names;
    if (list == "COMMANDS") names = kMsdpCommands;
    else if (list == "LISTS") names = kMsdpLists;
    else if (list == "CONFIGURABLE_VARIABLES") names = kMsdpConfigurable;
    else if (list == "REPORTABLE_VARIABLES" || list == "SENDABLE_VARIABLES") names = handler_.telnet_msdp_names();
    else if (list == "REPORTED_VARIABLES") names.assign(msdp_reported_.begin(), msdp_reported_.end());
    else return;  // not a list we have: nothing to say
    send_sb(OPT_MSDP, msdp::encode_list(list, names));
}

void Telnet::msdp_send(std::string_view name) {
    msdp::Value v;
    if (handler_.telnet_msdp_value(name, v)) send_sb(OPT_MSDP, msdp::encode(name, v));
}

// A variable the client set (CLIENT_NAME "TINTIN++", ...): kept for the
// `client` command, printable, a bounded number of them.
void Telnet::msdp_record(std::string_view name, std::string_view value) {
    std::string key = printable(name, 32);
    std::string shown = printable(value, kMsdpValueLength);
    for (auto &[k, v] : client_.msdp_client)
        if (k == key) return void(v = std::move(shown));
    if (client_.msdp_client.size() < kMsdpClientVars) client_.msdp_client.emplace_back(key, shown);
}

void Telnet::msdp_changed(std::string_view name, const msdp::Value &value) {
    if (local_enabled(OPT_MSDP) && msdp_reported(name)) send_sb(OPT_MSDP, msdp::encode(name, value));
}

void Telnet::on_naws(std::string_view p) {
    if (p.size() != 4) return;
    auto u = [&](int i) { return static_cast<std::uint8_t>(p[i]); };
    client_.width = u(0) << 8 | u(1);
    client_.height = u(2) << 8 | u(3);
    handler_.telnet_naws(client_.width, client_.height);
}

// MTTS: the first reply names the client, the second the terminal, the
// third "MTTS <flags>". A client that repeats itself does not cycle.
void Telnet::on_ttype(std::string_view p) {
    if (p.empty() || static_cast<std::uint8_t>(p[0]) != TTYPE_IS) return;
    std::string_view name = p.substr(1);
    handler_.telnet_ttype(name);
    bool ask_again = false;
    if (ttype_requests_ == 1) {
        client_.client_name = clean_text(name);  // shown to players
        ask_again = true;
    } else if (ttype_requests_ == 2 && name != client_.client_name) {
        client_.terminal_type = clean_text(name);
        ask_again = true;
    } else if (ttype_requests_ == 3 && name.substr(0, 5) == "MTTS ") {
        unsigned flags = 0;
        for (char c : name.substr(5)) {
            if (c < '0' || c > '9') break;
            flags = flags * 10 + static_cast<unsigned>(c - '0');
        }
        client_.mtts = flags;
    }
    if (ask_again) {
        ++ttype_requests_;
        send_sb(OPT_TTYPE, std::string_view("\x01", 1));
    }
}

void Telnet::request_charset() {
    if (charset_requested_) return;
    charset_requested_ = true;
    send_sb(OPT_CHARSET, std::string_view("\x01;UTF-8", 7));
}

void Telnet::on_charset(std::string_view p) {
    if (p.empty()) return;
    const std::uint8_t code = static_cast<std::uint8_t>(p[0]);
    p.remove_prefix(1);
    if (code == CHARSET_ACCEPTED) {
        client_.charset = clean_text(p);
        handler_.telnet_charset(p);
        return;
    }
    if (code != CHARSET_REQUEST) return;
    if (p.substr(0, 8) == "[TTABLE]") p.remove_prefix(std::min<std::size_t>(9, p.size()));
    if (p.empty()) return;
    const char sep = p[0];
    p.remove_prefix(1);
    while (true) {
        auto end = p.find(sep);
        std::string_view name = p.substr(0, end);
        if (iequals(name, "UTF-8") || iequals(name, "UTF8")) {
            send_sb(OPT_CHARSET, std::string("\x02", 1) + std::string(name));
            client_.charset = "UTF-8";
            handler_.telnet_charset(client_.charset);
            return;
        }
        if (end == std::string_view::npos) break;
        p.remove_prefix(end + 1);
    }
    send_sb(OPT_CHARSET, std::string_view("\x03", 1));
}

void Telnet::on_gmcp(std::string_view p) {
    auto space = p.find(' ');
    std::string_view package = p.substr(0, space);
    std::string_view data = space == std::string_view::npos ? std::string_view() : p.substr(space + 1);
    handler_.telnet_gmcp(package, data);
}

// The protocol keys of the MSSP spec ("MCCP", "GMCP", "MSDP": 1 or 0) are
// added from the policy unless the application gave them.
void Telnet::send_mssp() {
    std::string payload;
    auto vars = handler_.telnet_mssp();
    auto add = [&](const char *key, bool on) {
        for (const auto &kv : vars)
            if (kv.first == key) return;
        vars.emplace_back(key, on ? "1" : "0");
    };
    add("GMCP", true);
    add("MSDP", policy_.msdp);
    add("MCCP", policy_.mccp2);
    for (const auto &[name, value] : vars) {
        payload += static_cast<char>(MSSP_VAR);
        payload += name;
        payload += static_cast<char>(MSSP_VAL);
        payload += value;
    }
    send_sb(OPT_MSSP, payload);
}

std::string Telnet::encode(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 16 + 2);
    for (char c : text) {
        if (c == '\n') out += '\r';
        out += c;
        if (static_cast<std::uint8_t>(c) == IAC) out += c;
    }
    return out;
}

std::string Telnet::prompt_end() const {
    if (local_enabled(OPT_EOR)) return std::string{static_cast<char>(IAC), static_cast<char>(EOR_CMD)};
    if (local_enabled(OPT_SGA)) return {};
    return std::string{static_cast<char>(IAC), static_cast<char>(GA)};
}

std::string Telnet::gmcp(std::string_view package, std::string_view json) const {
    if (!local_enabled(OPT_GMCP)) return {};
    std::string out{static_cast<char>(IAC), static_cast<char>(SB), static_cast<char>(OPT_GMCP)};
    append_escaped(out, package);
    if (!json.empty()) {
        out += ' ';
        append_escaped(out, json);
    }
    out += static_cast<char>(IAC);
    out += static_cast<char>(SE);
    return out;
}

}  // namespace comm::telnet
