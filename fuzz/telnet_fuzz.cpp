// The telnet state machine (comm/telnet.h) fed arbitrary peer bytes, in
// arbitrary chunkings, with the server's own option requests interleaved.
//
// Invariants, checked while feeding one byte at a time:
//  - everything sent is well-formed telnet: each telnet_send() is whole
//    units (IAC doubled, verbs with their option, SB ... IAC SE closed);
//  - the Q method (RFC 1143): a peer verb gets at most one verb back, for
//    the same option; a verb that confirms the current state gets none; a
//    disable of an enabled option is always acknowledged; nothing else
//    makes the server send a verb; an option is on only if we said WILL
//    (DO) and the peer's last word on it was DO (WILL), and only if the
//    server agrees to it or asked for it; what telnet_option_changed
//    reported is what local_enabled/remote_enabled say;
//  - MCCP2: compression starts right after IAC SB MCCP2 IAC SE, on and off
//    alternate, and it is on exactly while the option is;
//  - caps: subnegotiation payloads and what the client reports stay within
//    max_subnegotiation; data never outgrows the input (unless MCCP3 input
//    was inflated); what one byte can make the server send is bounded;
//  - MCCP3: inflating only after DO MCCP3 and IAC SB MCCP3 IAC SE; once
//    failed, it never feeds another byte; MSDP and MNES client values are
//    printable and bounded;
// and afterwards: the same log of sends and callbacks for every chunking.
#include "fuzz_input.h"
#include "telnet.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

using namespace comm::telnet;

namespace {

const std::vector<std::pair<std::string, std::string>> kMssp = {
    {"NAME", "fuzz\xff" "mud"}, {"PLAYERS", "1"}};

// One server request between two peer bytes.
struct Request {
    std::size_t at;  // after this many peer bytes
    std::uint8_t option;
    bool local, enable;
};

void ask(Telnet &tn, const Request &r) {
    if (r.local) tn.request_local(r.option, r.enable);
    else tn.request_remote(r.option, r.enable);
}

struct Recorder : TelnetHandler {
    std::string log;            // everything, for comparing chunkings
    std::vector<std::string> sends;  // this step's telnet_send() units
    std::vector<int> compress;  // this step's telnet_compress() calls (0/1)
    std::vector<std::string> sent_before_compress;  // the send just before each
    std::array<std::array<bool, 256>, 2> reported{};  // [local][option]
    std::size_t cap = 0;
    std::size_t callback_bytes = 0;  // largest payload handed to a callback

    void telnet_send(std::string_view b) override {
        log += "S";
        log.append(b);
        log += '\0';
        sends.emplace_back(b);
    }
    void telnet_option_changed(std::uint8_t o, bool local, bool on) override {
        FUZZ_CHECK(reported[local][o] != on, "option %d (%s) reported %s twice", o,
                   local ? "local" : "remote", on ? "on" : "off");
        reported[local][o] = on;
        log += "O" + std::to_string(o) + (local ? "L" : "R") + (on ? "1" : "0");
    }
    void telnet_naws(int w, int h) override {
        FUZZ_CHECK(w >= 0 && w <= 65535 && h >= 0 && h <= 65535, "naws %d x %d", w, h);
        log += "N" + std::to_string(w) + "x" + std::to_string(h);
    }
    void telnet_ttype(std::string_view n) override { note("T", n); }
    void telnet_charset(std::string_view n) override { note("C", n); }
    void telnet_gmcp(std::string_view p, std::string_view d) override {
        FUZZ_CHECK(p.size() + d.size() <= cap, "gmcp payload %zu > cap %zu", p.size() + d.size(), cap);
        note("G", p);
        note("g", d);
    }
    void telnet_compress(bool on) override {
        compress.push_back(on);
        sent_before_compress.push_back(sends.empty() ? std::string() : sends.back());
        log += on ? "Z1" : "Z0";
    }
    std::vector<std::pair<std::string, std::string>> telnet_mssp() override { return kMssp; }
    void telnet_command(std::uint8_t c) override { log += "X" + std::to_string(c); }
    std::vector<std::string> telnet_msdp_names() override { return {"ROOM_NAME", "PLAYERS"}; }
    bool telnet_msdp_value(std::string_view name, comm::msdp::Value &out) override {
        if (name != "ROOM_NAME" && name != "PLAYERS") return false;
        out = comm::msdp::Value::string(name == "PLAYERS" ? "3" : "The\xff" "Lobby");
        return true;
    }
    void telnet_input_failed(std::string_view why) override {
        FUZZ_CHECK(!failed, "input failed twice");
        failed = true;
        log += "F";  // the reason is ours (zlib's text), not a peer payload: no cap
        log.append(why);
        log += '\0';
    }
    void telnet_protocol_error(std::string_view why) override { log += "E"; log.append(why); log += '\0'; }
    bool failed = false;

    void note(const char *tag, std::string_view s) {
        FUZZ_CHECK(s.size() <= cap, "%s payload of %zu bytes > cap %zu", tag, s.size(), cap);
        log += tag;
        log.append(s);
        log += '\0';
    }
};

struct Verb {
    std::uint8_t verb, option;
};

bool is_verb(std::uint8_t c) { return c == WILL || c == WONT || c == DO || c == DONT; }

// Checks that `u` is whole telnet units; collects the verbs in it. Returns
// an error description, or empty.
std::string parse_units(std::string_view u, std::vector<Verb> &verbs) {
    auto at = [&](std::size_t i) { return static_cast<std::uint8_t>(u[i]); };
    for (std::size_t i = 0; i < u.size();) {
        if (at(i) != IAC) {
            ++i;
            continue;
        }
        if (i + 1 >= u.size()) return "IAC at the end of a send";
        std::uint8_t c = at(i + 1);
        if (c == IAC) {
            i += 2;
        } else if (is_verb(c)) {
            if (i + 2 >= u.size()) return "verb without its option";
            verbs.push_back({c, at(i + 2)});
            i += 3;
        } else if (c == SB) {
            if (i + 2 >= u.size()) return "SB without an option";
            std::size_t j = i + 3;
            for (;;) {
                if (j >= u.size()) return "SB not closed by IAC SE";
                if (at(j) != IAC) {
                    ++j;
                } else if (j + 1 < u.size() && at(j + 1) == IAC) {
                    j += 2;
                } else if (j + 1 < u.size() && at(j + 1) == SE) {
                    break;
                } else {
                    return "unescaped IAC inside SB";
                }
            }
            i = j + 2;
        } else if (c == SE) {
            return "IAC SE outside a subnegotiation";
        } else if (c >= EOR_CMD) {
            i += 2;  // a single command (GA, EOR, NOP, ...)
        } else {
            return "IAC followed by a non-command byte";
        }
    }
    return {};
}

// An independent reading of the peer's bytes: which byte completes a verb.
// Mirrors the documented resynchronisation (IAC <command> inside SB ends it).
class PeerReader {
public:
    // The verb this byte completes, if any.
    bool step(std::uint8_t c, Verb &out) {
        switch (st_) {
        case 0: if (c == IAC) st_ = 1; return false;
        case 1:
            st_ = 0;
            if (is_verb(c)) verb_ = c, st_ = 2;
            else if (c == SB) st_ = 3;
            return false;
        case 2: st_ = 0; out = {verb_, c}; return true;
        case 3: st_ = 4; return false;
        case 4: if (c == IAC) st_ = 5; return false;
        case 5:
            if (c == SE) st_ = 0;
            else if (c == IAC) st_ = 4;
            else { st_ = 1; return step(c, out); }
            return false;
        }
        return false;
    }

private:
    int st_ = 0;
    std::uint8_t verb_ = 0;
};

bool server_agrees(bool local, std::uint8_t o, bool mccp2, bool mccp3) {
    if (local)
        return o == OPT_ECHO || o == OPT_SGA || o == OPT_EOR || o == OPT_CHARSET ||
               o == OPT_MSSP || o == OPT_GMCP || (o == OPT_MCCP2 && mccp2) || o == OPT_MSDP ||
               (o == OPT_MCCP3 && mccp3);
    return o == OPT_NAWS || o == OPT_TTYPE || o == OPT_CHARSET || o == OPT_NEW_ENVIRON;
}

// What the wire says about one side of one option, in order.
struct Wire {
    bool said_yes_ever = false;  // we sent WILL (local) / DO (remote)
    bool last_ours_yes = false;  // our last verb was WILL / DO
    bool peer_last_yes = false;  // the peer's last verb was DO / WILL
    bool peer_spoke_after_us = false;
    bool asked = false;          // the server requested it on
};

struct Config {
    Telnet::Policy policy;
    bool start = false;
    std::uint32_t seed = 0;
    std::vector<Request> requests;
    std::string_view stream;
};

class Checker {
public:
    Checker(const Config &c, Recorder &rec, Telnet &tn) : c_(c), rec_(rec), tn_(tn) {}

    void start() {
        step_begin();
        tn_.start();
        check_sends_from_requests();
    }

    void request(const Request &r) {
        step_begin();
        if (r.enable) wire(r.local, r.option).asked = true;
        ask(tn_, r);
        std::vector<Verb> verbs = sends_verbs();
        FUZZ_CHECK(verbs.size() <= 1, "one request sent %zu verbs", verbs.size());
        for (const Verb &v : verbs) {
            bool yes = v.verb == (r.local ? WILL : DO);
            FUZZ_CHECK(v.option == r.option && yes == r.enable && is_ours(v.verb, r.local),
                       "request %s %d %s answered by verb %d %d", r.local ? "local" : "remote",
                       r.option, r.enable ? "on" : "off", v.verb, v.option);
        }
        after_step(r.local, r.option);
    }

    void byte(std::uint8_t c, std::string &data) {
        step_begin();
        Verb peer{};
        bool got = reader_.step(c, peer);
        bool local = got && (peer.verb == DO || peer.verb == DONT);
        bool before = got && enabled(local, peer.option);
        std::size_t data_before = data.size();
        const bool was_inflating = tn_.inflating();
        const bool was_failed = rec_.failed;
        tn_.feed(std::string_view(reinterpret_cast<const char *>(&c), 1), data);
        if (!was_inflating)
            FUZZ_CHECK(data.size() <= data_before + 1, "one byte gave %zu data bytes", data.size() - data_before);
        if (was_failed) {
            // Nothing after a failed MCCP3 stream is read: the raw reader's
            // verbs (e.g. a DONT MCCP3 in the garbage) never happened.
            FUZZ_CHECK(data.size() == data_before && rec_.sends.empty(), "a byte was read after the input failed");
            return;
        }
        if (tn_.inflating() && !was_inflating)
            FUZZ_CHECK(tn_.local_enabled(OPT_MCCP3), "inflating without DO MCCP3");
        if (was_inflating || tn_.inflating()) {
            // Verbs may sit inside the compressed stream, where the reader
            // of raw bytes cannot see them: from here on only the form of
            // what is sent is checked (and the final sweep is lighter).
            inflated_ = true;
            sends_verbs();
            check_compression();
            return;
        }
        std::size_t out = 0;
        for (const std::string &s : rec_.sends) out += s.size();
        // MSDP LIST answers a short request with a longer list: up to about
        // ten times the request, for at most kMsdpCommandsPerMessage requests.
        std::size_t bound = 128 + 16 * c_.policy.max_subnegotiation;
        FUZZ_CHECK(out <= bound, "one byte made the server send %zu bytes", out);
        if (got) {
            // The peer spoke first; our reply (parsed next) comes after it.
            Wire &w = wire(local, peer.option);
            w.peer_last_yes = peer.verb == DO || peer.verb == WILL;
            w.peer_spoke_after_us = true;
        }
        std::vector<Verb> verbs = sends_verbs();
        if (!got) {
            FUZZ_CHECK(verbs.empty(), "a byte that completes no verb made the server send verb %d %d",
                       verbs[0].verb, verbs[0].option);
            check_compression();
            return;
        }
        bool peer_yes = peer.verb == DO || peer.verb == WILL;
        FUZZ_CHECK(verbs.size() <= 1, "peer verb %d %d answered by %zu verbs", peer.verb, peer.option,
                   verbs.size());
        bool after = enabled(local, peer.option);
        if (!verbs.empty()) {
            const Verb &v = verbs[0];
            FUZZ_CHECK(v.option == peer.option && is_ours(v.verb, local),
                       "peer verb %d %d answered by verb %d %d", peer.verb, peer.option, v.verb, v.option);
        }
        if (before && peer_yes)
            FUZZ_CHECK(verbs.empty(), "confirmation %d %d of an enabled option was answered",
                       peer.verb, peer.option);
        if (before && !peer_yes) {
            FUZZ_CHECK(verbs.size() == 1 && !is_yes(verbs[0].verb) && !after,
                       "disable %d %d of an enabled option not acknowledged (or still on)",
                       peer.verb, peer.option);
        }
        if (!before && !peer_yes)
            FUZZ_CHECK(verbs.empty() || is_yes(verbs[0].verb),
                       "disable %d %d of a disabled option was answered with a refusal",
                       peer.verb, peer.option);
        after_step(local, peer.option);
    }

    // Every side of every option, once at the end.
    void final_sweep() {
        for (int o = 0; o < 256; ++o) {
            check_side(true, static_cast<std::uint8_t>(o));
            check_side(false, static_cast<std::uint8_t>(o));
        }
    }

private:
    static bool is_yes(std::uint8_t v) { return v == WILL || v == DO; }
    static bool is_ours(std::uint8_t v, bool local) {
        return local ? (v == WILL || v == WONT) : (v == DO || v == DONT);
    }
    bool enabled(bool local, std::uint8_t o) const {
        return local ? tn_.local_enabled(o) : tn_.remote_enabled(o);
    }
    Wire &wire(bool local, std::uint8_t o) { return wires_[local][o]; }

    void step_begin() {
        rec_.sends.clear();
        rec_.compress.clear();
        rec_.sent_before_compress.clear();
    }

    // Parses this step's sends; records our verbs on the wire.
    std::vector<Verb> sends_verbs() {
        std::vector<Verb> verbs;
        for (const std::string &s : rec_.sends) {
            std::string err = parse_units(s, verbs);
            FUZZ_CHECK(err.empty(), "malformed send: %s: %s", err.c_str(), fuzz::show(s).c_str());
        }
        for (const Verb &v : verbs) {
            bool local = v.verb == WILL || v.verb == WONT;
            Wire &w = wire(local, v.option);
            w.last_ours_yes = is_yes(v.verb);
            w.said_yes_ever |= w.last_ours_yes;
            w.peer_spoke_after_us = false;
        }
        return verbs;
    }

    void check_sends_from_requests() {
        std::vector<Verb> verbs = sends_verbs();
        for (const Verb &v : verbs) {
            bool local = v.verb == WILL || v.verb == WONT;
            FUZZ_CHECK(is_yes(v.verb), "start() sent a refusal %d %d", v.verb, v.option);
            wire(local, v.option).asked = true;
        }
        check_compression();
    }

    void after_step(bool local, std::uint8_t option) {
        check_side(local, option);
        check_compression();
    }

    void check_side(bool local, std::uint8_t o) {
        bool on = enabled(local, o);
        const Wire &w = wires_[local][o];
        const char *side = local ? "local" : "remote";
        FUZZ_CHECK(rec_.reported[local][o] == on, "%s option %d is %s but was reported %s", side, o,
                   on ? "on" : "off", rec_.reported[local][o] ? "on" : "off");
        if (!on || inflated_) return;
        FUZZ_CHECK(server_agrees(local, o, c_.policy.mccp2, c_.policy.mccp3 && comm::Decompressor::available()) || w.asked,
                   "%s option %d is on, but the server neither agrees to it nor asked", side, o);
        FUZZ_CHECK(w.said_yes_ever, "%s option %d is on but we never said yes", side, o);
        FUZZ_CHECK(w.peer_last_yes, "%s option %d is on but the peer's last word was no", side, o);
        FUZZ_CHECK(w.last_ours_yes || w.peer_spoke_after_us,
                   "%s option %d is on right after we said no", side, o);
    }

    void check_compression() {
        for (std::size_t i = 0; i < rec_.compress.size(); ++i) {
            bool on = rec_.compress[i];
            FUZZ_CHECK(on != compressing_, "compression turned %s twice", on ? "on" : "off");
            compressing_ = on;
            if (on) {
                FUZZ_CHECK(c_.policy.mccp2 || wires_[true][OPT_MCCP2].asked,
                           "compression started though the policy refuses MCCP2 and the server never asked");
                static const std::string start = {char(IAC), char(SB), char(OPT_MCCP2), char(IAC), char(SE)};
                FUZZ_CHECK(rec_.sent_before_compress[i] == start,
                           "compression started without IAC SB MCCP2 IAC SE just before");
            }
        }
        FUZZ_CHECK(compressing_ == tn_.local_enabled(OPT_MCCP2), "compressing %d but MCCP2 option %d",
                   compressing_, tn_.local_enabled(OPT_MCCP2));
    }

    const Config &c_;
    Recorder &rec_;
    Telnet &tn_;
    PeerReader reader_;
    std::array<std::array<Wire, 256>, 2> wires_{};
    bool compressing_ = false;
    bool inflated_ = false;  // MCCP3 input was seen: the raw reader is blind
};

Config read_config(fuzz::Input &in) {
    Config c;
    std::uint8_t flags = in.byte();
    c.policy.mccp2 = flags & 1;
    c.start = flags & 2;
    static const std::size_t caps[] = {4, 16, 64, 8192};
    c.policy.max_subnegotiation = caps[(flags >> 2) & 3];
    c.policy.mccp3 = flags & 16;
    // Budgets that never trip for inputs this short, so every chunking
    // inflates the same (the bomb cut-off itself is mccp3_fuzz's and the
    // unit tests').
    c.policy.inflate = {.max_output_per_feed = 8u << 20, .max_ratio = 1u << 20, .ratio_floor = 8u << 20};
    c.seed = in.u32();
    static const std::uint8_t options[] = {OPT_ECHO, OPT_SGA,  OPT_TTYPE, OPT_EOR,  OPT_NAWS,
                                           OPT_CHARSET, OPT_MSSP, OPT_MCCP2, OPT_GMCP, 0,
                                           OPT_NEW_ENVIRON, OPT_MSDP, OPT_MCCP3};
    std::size_t n = in.byte() % 8;
    for (std::size_t i = 0; i < n; ++i) {
        Request r;
        r.at = in.u16();
        std::uint8_t b = in.byte();
        r.option = options[(b >> 2) % 13];
        if (r.option == 0) r.option = in.byte();
        r.local = b & 1;
        r.enable = b & 2;
        c.requests.push_back(r);
    }
    c.stream = in.rest();
    for (Request &r : c.requests) r.at %= c.stream.size() + 1;
    std::stable_sort(c.requests.begin(), c.requests.end(),
                     [](const Request &a, const Request &b) { return a.at < b.at; });
    return c;
}

struct Result {
    std::string log, data;
    ClientInfo client;
};

// Feeds the stream in chunks of 1..max_chunk bytes (0: each stretch between
// two requests whole); every request falls between two chunks.
Result run_chunked(const Config &c, std::size_t max_chunk) {
    Recorder rec;
    rec.cap = c.policy.max_subnegotiation;
    Telnet tn(rec, c.policy);
    Result r;
    if (c.start) tn.start();
    fuzz::Rng rng(c.seed);
    std::size_t at = 0, next = 0;
    for (;;) {
        while (next < c.requests.size() && c.requests[next].at == at) {
            ask(tn, c.requests[next++]);
        }
        if (at == c.stream.size()) break;
        std::size_t stop = next < c.requests.size() ? c.requests[next].at : c.stream.size();
        std::size_t n = stop - at;
        if (max_chunk) n = std::min<std::size_t>(n, 1 + rng.next() % max_chunk);
        tn.feed(c.stream.substr(at, n), r.data);
        at += n;
    }
    r.log = std::move(rec.log);
    r.client = tn.client();
    return r;
}

Result run_checked(const Config &c) {
    Recorder rec;
    rec.cap = c.policy.max_subnegotiation;
    Telnet tn(rec, c.policy);
    Checker check(c, rec, tn);
    Result r;
    if (c.start) check.start();
    std::size_t next = 0;
    for (std::size_t at = 0; at <= c.stream.size(); ++at) {
        while (next < c.requests.size() && c.requests[next].at == at) check.request(c.requests[next++]);
        if (at < c.stream.size()) check.byte(static_cast<std::uint8_t>(c.stream[at]), r.data);
    }
    check.final_sweep();
    const ClientInfo &ci = tn.client();
    std::size_t cap = c.policy.max_subnegotiation;
    FUZZ_CHECK(ci.client_name.size() <= cap && ci.terminal_type.size() <= cap && ci.charset.size() <= cap,
               "client info beyond the cap");
    if (ci.mccp3 == ClientInfo::Mccp3::off)
        FUZZ_CHECK(r.data.size() <= c.stream.size(), "more data out than bytes in");
    auto printable = [](const std::string &v, std::size_t max) { return v.size() <= max && fuzz::printable(v); };
    const comm::newenv::Mnes &m = ci.mnes_values;
    for (const std::string *v : {&m.client_name, &m.client_version, &m.charset, &m.terminal_type, &m.ip_address})
        FUZZ_CHECK(printable(*v, 64), "MNES value not printable or too long: %s", fuzz::show(*v).c_str());
    FUZZ_CHECK(ci.msdp_client.size() <= Telnet::kMsdpClientVars, "%zu MSDP client variables", ci.msdp_client.size());
    for (const auto &[k, v] : ci.msdp_client)
        FUZZ_CHECK(printable(k, 32) && printable(v, Telnet::kMsdpValueLength), "MSDP client value %s",
                   fuzz::show(v).c_str());
    r.log = std::move(rec.log);
    r.client = ci;
    return r;
}

bool same(const ClientInfo &a, const ClientInfo &b) {
    return a.width == b.width && a.height == b.height && a.client_name == b.client_name &&
           a.terminal_type == b.terminal_type && a.mtts == b.mtts && a.charset == b.charset &&
           a.mnes == b.mnes && a.mnes_values.client_name == b.mnes_values.client_name &&
           a.mnes_values.ip_address == b.mnes_values.ip_address && a.mnes_values.mtts == b.mnes_values.mtts &&
           a.msdp_client == b.msdp_client && a.mccp3 == b.mccp3 && a.mccp3_out == b.mccp3_out;
}

void check_same(const Result &ref, const Result &got, const char *how) {
    // A corrupt MCCP3 stream fails at the chunk that holds the bad byte,
    // and nothing of that chunk is passed on: what came before it depends
    // on the chunking. Only the failure itself must not.
    if (ref.client.mccp3 == ClientInfo::Mccp3::failed || got.client.mccp3 == ClientInfo::Mccp3::failed) {
        FUZZ_CHECK(ref.client.mccp3 == got.client.mccp3, "MCCP3 failed in one chunking only (%s)", how);
        return;
    }
    FUZZ_CHECK(ref.data == got.data, "data differs when fed %s: %s vs %s", how,
               fuzz::show(ref.data).c_str(), fuzz::show(got.data).c_str());
    FUZZ_CHECK(ref.log == got.log, "sends/callbacks differ when fed %s:\n  %s\n  %s", how,
               fuzz::show(ref.log, 200).c_str(), fuzz::show(got.log, 200).c_str());
    FUZZ_CHECK(same(ref.client, got.client), "client info differs when fed %s", how);
}

// The encoders on the same bytes: encode() leaves no lone IAC and sends LF
// only after CR; gmcp() is one closed GMCP subnegotiation, or nothing.
void check_encoders(std::string_view text, std::uint32_t seed) {
    std::string enc = Telnet::encode(text);
    for (std::size_t i = 0; i < enc.size(); ++i) {
        if (static_cast<std::uint8_t>(enc[i]) == IAC) {
            FUZZ_CHECK(i + 1 < enc.size() && static_cast<std::uint8_t>(enc[i + 1]) == IAC,
                       "encode() left a lone IAC");
            ++i;
        } else if (enc[i] == '\n') {
            FUZZ_CHECK(i > 0 && enc[i - 1] == '\r', "encode() sent LF without CR");
        }
    }
    Recorder rec;
    rec.cap = 1 << 20;
    Telnet tn(rec);
    std::string data;
    FUZZ_CHECK(tn.gmcp("Core.Hello", "{}").empty(), "gmcp() before GMCP was agreed");
    const char do_gmcp[] = {char(IAC), char(DO), char(OPT_GMCP)};
    tn.feed(std::string_view(do_gmcp, 3), data);
    std::size_t cut = text.empty() ? 0 : seed % (text.size() + 1);
    std::string msg = tn.gmcp(text.substr(0, cut), text.substr(cut));
    std::vector<Verb> verbs;
    std::string err = parse_units(msg, verbs);
    FUZZ_CHECK(err.empty(), "gmcp(): %s: %s", err.c_str(), fuzz::show(msg).c_str());
    FUZZ_CHECK(msg.size() >= 5 && static_cast<std::uint8_t>(msg[0]) == IAC &&
                   static_cast<std::uint8_t>(msg[1]) == SB &&
                   static_cast<std::uint8_t>(msg[2]) == OPT_GMCP,
               "gmcp() is not one GMCP subnegotiation: %s", fuzz::show(msg).c_str());
    // One unit: the first IAC SE ends the message.
    std::size_t end = 3;
    while (end + 1 < msg.size() && !(static_cast<std::uint8_t>(msg[end]) == IAC &&
                                     static_cast<std::uint8_t>(msg[end + 1]) == SE))
        end += static_cast<std::uint8_t>(msg[end]) == IAC ? 2 : 1;
    FUZZ_CHECK(end + 2 == msg.size(), "gmcp() sent more than one unit");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 4096) return 0;  // long inputs add time, not states
    fuzz::Input in(data, size);
    Config c = read_config(in);
    Result ref = run_checked(c);
    check_same(ref, run_chunked(c, 0), "whole");
    check_same(ref, run_chunked(c, 7), "in chunks of 1..7");
    check_same(ref, run_chunked(c, 300), "in chunks of 1..300");
    check_encoders(c.stream, c.seed);
    return 0;
}
