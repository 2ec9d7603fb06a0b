#include "new_environ.h"

#include <charconv>

namespace comm::newenv {

namespace {

bool is_code(unsigned char c) { return c <= USERVAR; }

// Reads a name or value up to the next unescaped code byte.
bool read_text(std::string_view p, std::size_t &at, std::string &out, std::size_t max, std::string &error) {
    while (at < p.size() && !(is_code(static_cast<unsigned char>(p[at])) && p[at] != ESC)) {
        if (p[at] == ESC) {
            if (++at == p.size()) {
                error = "NEW-ENVIRON: ESC at the end of the message";
                return false;
            }
        }
        out += p[at++];
        if (out.size() > max) {
            error = "NEW-ENVIRON: a name or value longer than " + std::to_string(max) + " bytes";
            return false;
        }
    }
    return true;
}

std::string printable(const std::string &s) {
    std::string out;
    for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

}  // namespace

bool parse(std::string_view p, Message &out, std::string &error, Limits limits) {
    if (p.empty()) {
        error = "NEW-ENVIRON: empty message";
        return false;
    }
    Message m;
    m.kind = static_cast<std::uint8_t>(p[0]);
    if (m.kind > INFO) {
        error = "NEW-ENVIRON: unknown message type " + std::to_string(m.kind);
        return false;
    }
    std::size_t at = 1;
    while (at < p.size()) {
        auto code = static_cast<unsigned char>(p[at++]);
        if (code == VALUE) {
            if (m.vars.empty() || m.vars.back().has_value) {
                error = "NEW-ENVIRON: VALUE without a variable at byte " + std::to_string(at - 1);
                return false;
            }
            m.vars.back().has_value = true;
            if (!read_text(p, at, m.vars.back().value, limits.max_length, error)) return false;
            continue;
        }
        if (code != VAR && code != USERVAR) {
            error = "NEW-ENVIRON: expected VAR or USERVAR at byte " + std::to_string(at - 1);
            return false;
        }
        if (m.vars.size() == limits.max_vars) {
            error = "NEW-ENVIRON: more than " + std::to_string(limits.max_vars) + " variables";
            return false;
        }
        Variable v;
        v.user = code == USERVAR;
        if (!read_text(p, at, v.name, limits.max_length, error)) return false;
        m.vars.push_back(std::move(v));
    }
    out = std::move(m);
    return true;
}

std::string encode_send(const std::vector<std::string> &names) {
    std::string out(1, static_cast<char>(SEND));
    for (const std::string &n : names) {
        out += static_cast<char>(VAR);
        for (char c : n) {
            if (is_code(static_cast<unsigned char>(c))) out += static_cast<char>(ESC);
            out += c;
        }
    }
    return out;
}

const std::vector<std::string> &mnes_variables() {
    static const std::vector<std::string> names = {"CHARSET", "CLIENT_NAME", "CLIENT_VERSION", "MTTS",
                                                   "TERMINAL_TYPE", "IPADDRESS"};
    return names;
}

bool apply(const Message &m, Mnes &mnes) {
    if (m.kind == SEND) return false;
    for (const Variable &v : m.vars) {
        if (!v.has_value) continue;
        std::string value = printable(v.value);
        if (v.name == "CLIENT_NAME") mnes.client_name = value;
        else if (v.name == "CLIENT_VERSION") mnes.client_version = value;
        else if (v.name == "CHARSET") mnes.charset = value;
        else if (v.name == "TERMINAL_TYPE") mnes.terminal_type = value;
        else if (v.name == "IPADDRESS") mnes.ip_address = value;
        else if (v.name == "MTTS") {
            unsigned n = 0;
            auto r = std::from_chars(v.value.data(), v.value.data() + v.value.size(), n);
            if (r.ec == std::errc() && r.ptr == v.value.data() + v.value.size() && !v.value.empty())
                mnes.mtts = n, mnes.has_mtts = true;
        }
    }
    return true;
}

}  // namespace comm::newenv
