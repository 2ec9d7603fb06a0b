#include "msdp.h"

#include "sanitize.h"

namespace comm::msdp {

namespace {

bool is_marker(unsigned char c) { return c <= ARRAY_CLOSE; }

class Reader {
public:
    Reader(std::string_view p, Limits limits, std::string &error) : p_(p), limits_(limits), error_(error) {}

    bool message(Variables &out) {
        if (p_.empty()) return fail("empty MSDP message");
        while (!done()) {
            if (peek() != VAR) return fail("expected VAR at byte " + std::to_string(at_));
            ++at_;
            std::string name = text();
            if (!count()) return false;
            Value v;
            if (!values_after_var(v, 0)) return false;
            out.emplace_back(std::move(name), std::move(v));
        }
        return true;
    }

private:
    bool done() const { return at_ >= p_.size(); }
    unsigned char peek() const { return static_cast<unsigned char>(p_[at_]); }
    bool fail(std::string message) {
        error_ = "MSDP: " + std::move(message);
        return false;
    }
    bool count() {
        if (++items_ <= limits_.max_items) return true;
        return fail("more than " + std::to_string(limits_.max_items) + " items");
    }

    // A run of non-marker bytes (may be empty).
    std::string text() {
        std::size_t start = at_;
        while (!done() && !is_marker(peek())) ++at_;
        return std::string(p_.substr(start, at_ - start));
    }

    // After VAR name: no VAL is an empty string; one VAL is that value;
    // several VALs in a row are the old-style array.
    bool values_after_var(Value &v, std::size_t depth) {
        std::vector<Value> vals;
        while (!done() && peek() == VAL) {
            ++at_;
            Value one;
            if (!count() || !value(one, depth)) return false;
            vals.push_back(std::move(one));
        }
        if (vals.size() == 1) v = std::move(vals[0]);
        else if (vals.size() > 1) v = Value::array(std::move(vals));
        return true;
    }

    bool value(Value &v, std::size_t depth) {
        // Anything but an opening marker starts a string (possibly empty:
        // "VAL ARRAY_CLOSE" is an empty last item; a stray close is the
        // caller's to reject).
        if (done() || (peek() != TABLE_OPEN && peek() != ARRAY_OPEN)) {
            v = Value::string(text());
            return true;
        }
        if (depth + 1 > limits_.max_depth)
            return fail("nested deeper than " + std::to_string(limits_.max_depth));
        unsigned char open = peek();
        ++at_;
        return open == TABLE_OPEN ? table(v, depth + 1) : array(v, depth + 1);
    }

    bool table(Value &v, std::size_t depth) {
        v = Value::make_table({});
        for (;;) {
            if (done()) return fail("table not closed");
            if (peek() == TABLE_CLOSE) return ++at_, true;
            if (peek() != VAR) return fail("expected VAR or TABLE_CLOSE in a table at byte " + std::to_string(at_));
            ++at_;
            std::string name = text();
            Value inner;
            if (!count() || !values_after_var(inner, depth)) return false;
            v.table.emplace_back(std::move(name), std::move(inner));
        }
    }

    bool array(Value &v, std::size_t depth) {
        v = Value::array({});
        for (;;) {
            if (done()) return fail("array not closed");
            if (peek() == ARRAY_CLOSE) return ++at_, true;
            if (peek() != VAL) return fail("expected VAL or ARRAY_CLOSE in an array at byte " + std::to_string(at_));
            ++at_;
            Value item;
            if (!count() || !value(item, depth)) return false;
            v.items.push_back(std::move(item));
        }
    }

    std::string_view p_;
    Limits limits_;
    std::string &error_;
    std::size_t at_ = 0, items_ = 0;
};

void put_text(std::string &out, std::string_view s) {
    for (char c : s)
        if (!is_marker(static_cast<unsigned char>(c))) out += c;
}

void put_value(std::string &out, const Value &v) {
    switch (v.kind) {
    case Value::Kind::string:
        put_text(out, v.text);
        return;
    case Value::Kind::array:
        out += static_cast<char>(ARRAY_OPEN);
        for (const Value &item : v.items) {
            out += static_cast<char>(VAL);
            put_value(out, item);
        }
        out += static_cast<char>(ARRAY_CLOSE);
        return;
    case Value::Kind::table:
        out += static_cast<char>(TABLE_OPEN);
        for (const auto &[k, item] : v.table) {
            out += static_cast<char>(VAR);
            put_text(out, k);
            out += static_cast<char>(VAL);
            put_value(out, item);
        }
        out += static_cast<char>(TABLE_CLOSE);
        return;
    }
}

bool command_kind(std::string_view name, Command::Kind &kind) {
    static const std::pair<std::string_view, Command::Kind> names[] = {
        {"LIST", Command::Kind::list},       {"REPORT", Command::Kind::report},
        {"UNREPORT", Command::Kind::unreport}, {"SEND", Command::Kind::send},
        {"RESET", Command::Kind::reset},
    };
    for (const auto &[n, k] : names)
        if (n == name) return kind = k, true;
    return false;
}

}  // namespace

bool parse(std::string_view payload, Variables &out, std::string &error, Limits limits) {
    Variables vars;
    if (!Reader(payload, limits, error).message(vars)) return false;
    out = std::move(vars);
    return true;
}

std::string encode(std::string_view name, const Value &value) {
    std::string out(1, static_cast<char>(VAR));
    put_text(out, name);
    out += static_cast<char>(VAL);
    put_value(out, value);
    return out;
}

std::string encode(const Variables &vars) {
    std::string out;
    for (const auto &[name, value] : vars) out += encode(name, value);
    return out;
}

std::string encode_list(std::string_view list, const std::vector<std::string> &names) {
    std::vector<Value> items;
    for (const std::string &n : names) items.push_back(Value::string(n));
    return encode(list, Value::array(std::move(items)));
}

bool commands(const Variables &vars, std::vector<Command> &out, std::string &error) {
    std::vector<Command> cmds;
    for (const auto &[name, value] : vars) {
        Command c{Command::Kind::set, name, {}};
        bool is_command = command_kind(name, c.kind);
        if (value.kind == Value::Kind::string) {
            c.args.push_back(value.text);
        } else if (value.kind == Value::Kind::array && is_command) {
            for (const Value &item : value.items) {
                if (item.kind != Value::Kind::string) {
                    error = "MSDP: " + escape_bytes(name, 32) + " takes names, not a nested value";
                    return false;
                }
                c.args.push_back(item.text);
            }
        } else {
            error = "MSDP: " + escape_bytes(name, 32) + (is_command ? " takes names, not a table" : " must be set to a string");
            return false;
        }
        cmds.push_back(std::move(c));
    }
    out.insert(out.end(), cmds.begin(), cmds.end());
    return true;
}

}  // namespace comm::msdp
