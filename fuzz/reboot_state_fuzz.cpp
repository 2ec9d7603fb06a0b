// The hot-reboot state parser (comm/reboot.h) fed arbitrary files: the new
// process reads one that an older (or broken) binary wrote.
//
// The first byte chooses: even, the rest is the whole file; odd, the rest
// is a payload given a valid header (right length and CRC), so mutations
// reach the field checks instead of stopping at the checksum.
//
// Invariants: parse() never crashes and either refuses with an error that
// starts "state file: " and is printable, or accepts a state that writes
// back to exactly the same bytes (the format has one spelling per state)
// and whose values are in range (ids below next_id, unique fds).
#include "reboot.h"

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size == 0) return 0;
    std::string file(reinterpret_cast<const char *>(data) + 1, size - 1);
    if (data[0] & 1) {
        std::string h(comm::reboot::magic, sizeof comm::reboot::magic);
        auto le = [&](std::uint64_t v, int n) {
            for (int i = 0; i < n; ++i) h += static_cast<char>(v >> (8 * i));
        };
        le(comm::reboot::format_version, 4);
        le(0, 4);
        le(file.size(), 8);
        le(comm::reboot::crc32(file), 4);
        file = h + file;
    }
    std::string_view in(file);
    comm::reboot::State s;
    std::string error;
    if (!comm::reboot::parse(in, s, error)) {
        if (error.rfind("state file: ", 0) != 0) std::abort();
        if (!s.users.empty() || !s.listeners.empty()) std::abort();  // nothing half-filled
        return 0;
    }
    if (!error.empty()) std::abort();
    if (comm::reboot::write(s) != in) std::abort();
    std::set<std::int64_t> fds;
    for (const auto &l : s.listeners)
        if (l.fd < 0 || !fds.insert(l.fd).second) std::abort();
    for (const auto &u : s.users) {
        if (u.id == 0 || u.id >= s.next_id) std::abort();
        if (u.has_link && !u.link.console && !fds.insert(u.link.fd).second) std::abort();
    }
    return 0;
}
