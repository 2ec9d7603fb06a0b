// The MSDP codec (comm/msdp.h) and NEW-ENVIRON/MNES parser
// (comm/new_environ.h) on arbitrary subnegotiation payloads. Invariants:
// a failed parse leaves its output untouched and says why, printably; a
// parsed MSDP message re-encodes to bytes that parse to the same message
// (encode is a fixed point after one round); commands() never half-fills;
// MNES values are printable and bounded.
#include "fuzz_input.h"
#include "msdp.h"
#include "new_environ.h"

#include <string>

namespace {

void msdp_case(std::string_view payload, std::size_t depth, std::size_t items) {
    using namespace comm::msdp;
    Variables vars{{"sentinel", Value::string("x")}};
    std::string error;
    if (!parse(payload, vars, error, Limits{depth, items})) {
        FUZZ_CHECK(vars.size() == 1 && vars[0].first == "sentinel", "failed parse changed the output");
        FUZZ_CHECK(!error.empty() && fuzz::printable(error), "error %s", fuzz::show(error).c_str());
        return;
    }
    std::string wire = encode(vars);
    Variables again;
    // An old-style array (VAR x VAL a VAL b) is re-encoded with ARRAY_OPEN,
    // one level more, and each of the `depth` levels may hold one.
    FUZZ_CHECK(parse(wire, again, error, Limits{2 * depth + 1, 1 << 20}), "re-encoded message does not parse: %s",
               error.c_str());
    FUZZ_CHECK(encode(again) == wire, "encode is not stable");
    std::vector<Command> cmds{Command{Command::Kind::set, "keep", {}}};
    if (!commands(vars, cmds, error)) {
        FUZZ_CHECK(cmds.size() == 1 && fuzz::printable(error), "commands half-filled or unprintable error");
    } else {
        FUZZ_CHECK(cmds.size() == 1 + vars.size(), "one command per variable");
    }
}

void environ_case(std::string_view payload, std::size_t max_vars, std::size_t max_len) {
    using namespace comm::newenv;
    Message m;
    m.vars.resize(1);
    std::string error;
    if (!parse(payload, m, error, Limits{max_vars, max_len})) {
        FUZZ_CHECK(m.vars.size() == 1 && !error.empty() && fuzz::printable(error), "bad failure");
        return;
    }
    FUZZ_CHECK(m.vars.size() <= max_vars, "%zu variables", m.vars.size());
    for (const Variable &v : m.vars)
        FUZZ_CHECK(v.name.size() <= max_len && v.value.size() <= max_len, "a name or value too long");
    Mnes mnes;
    apply(m, mnes);
    for (const std::string *s : {&mnes.client_name, &mnes.client_version, &mnes.charset, &mnes.terminal_type,
                                 &mnes.ip_address})
        FUZZ_CHECK(fuzz::printable(*s) && s->size() <= 64, "MNES value %s", fuzz::show(*s).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 1 << 16) return 0;
    fuzz::Input in(data, size);
    bool new_environ = in.flag();
    std::size_t a = in.range(0, 16), b = in.range(0, 512);
    std::string_view payload = in.rest();
    if (new_environ)
        environ_case(payload, a, b);
    else
        msdp_case(payload, a, b);
    return 0;
}
