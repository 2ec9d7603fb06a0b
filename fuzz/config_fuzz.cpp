// The configuration parser (comm/config.h) on arbitrary text, and the
// listen-spec parser on arbitrary values. Invariants: no crash; a failure
// always says where ("NAME:LINE: ..." with a line that exists, or
// "NAME: ..." for what belongs to no line), is printable ASCII (file text
// escaped) and is bounded by the input;
// a success is a consistent configuration; parsing is deterministic.
#include "config.h"
#include "fuzz_input.h"

#include <string>

namespace {

constexpr std::string_view kName = "fuzz.cfg";

std::size_t count_lines(std::string_view text) {
    std::size_t n = 0;
    for (char c : text) n += c == '\n';
    return n + 1;
}

void check_error(std::string_view text, const std::string &error) {
    // Quoted file text is escaped: a NUL cannot cut the message, nor an ESC
    // sequence rewrite the operator's terminal.
    FUZZ_CHECK(fuzz::printable(error), "raw byte in the error: %s", fuzz::show(error).c_str());
    FUZZ_CHECK(error.size() > kName.size() + 2 && error.compare(0, kName.size(), kName) == 0,
               "error without the file name: %s", fuzz::show(error).c_str());
    std::string_view rest = std::string_view(error).substr(kName.size());
    if (rest.substr(0, 2) == ": ") return;  // about the whole file
    FUZZ_CHECK(rest[0] == ':', "error without a location: %s", fuzz::show(error).c_str());
    std::size_t i = 1, line = 0;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && i < 12) line = line * 10 + (rest[i++] - '0');
    FUZZ_CHECK(i > 1 && rest.substr(i, 2) == ": ", "error without a line number: %s",
               fuzz::show(error).c_str());
    FUZZ_CHECK(line >= 1 && line <= count_lines(text), "error names line %zu of %zu: %s", line,
               count_lines(text), fuzz::show(error).c_str());
    // Quoted input may be escaped (\xNN: four bytes for one), never more.
    FUZZ_CHECK(error.size() <= 256 + 4 * text.size(), "error of %zu bytes for %zu bytes of input",
               error.size(), text.size());
}

void check_config(const comm::Config &c) {
    FUZZ_CHECK(!c.listeners.empty(), "accepted a configuration without a port");
    for (const comm::ListenSpec &l : c.listeners)
        FUZZ_CHECK(l.port >= 0 && l.port <= 65535, "port %d", l.port);
    FUZZ_CHECK(c.output_low_water < c.output_high_water && c.output_high_water <= c.output_cap,
               "watermarks %zu < %zu <= %zu do not hold", c.output_low_water, c.output_high_water,
               c.output_cap);
    FUZZ_CHECK(c.max_line_length >= 16 && c.max_users >= 1 && c.idle_timeout >= 0 &&
                   c.netdead_timeout >= 0,
               "a limit out of range");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 16384) return 0;
    std::string_view text(reinterpret_cast<const char *>(data), size);

    comm::Config cfg, again;
    std::string error, error2;
    bool ok = comm::parse_config(text, kName, cfg, error);
    bool ok2 = comm::parse_config(text, kName, again, error2);
    FUZZ_CHECK(ok == ok2 && error == error2, "two parses of the same text differ");
    if (ok) check_config(cfg);
    else check_error(text, error);

    // Each line's value as a listen spec, as --port would see it.
    std::string_view first = text.substr(0, text.find('\n'));
    comm::ListenSpec spec;
    std::string spec_error;
    if (comm::parse_listen_spec(first, spec, spec_error))
        FUZZ_CHECK(spec.port >= 0 && spec.port <= 65535, "listen spec port %d", spec.port);
    else
        FUZZ_CHECK(!spec_error.empty(), "a rejected listen spec without a message");
    return 0;
}
