// The WebSocket layer (comm/websocket.h) on arbitrary bytes in arbitrary
// reads: the HTTP request head, then client frames, and server output in
// the GMCP subprotocol. Invariants: what goes up and down, the state and
// the error do not depend on how the input was split; the layer never holds
// more than its limits allow; errors are printable; a failed or refused
// link's last words are an HTTP error or a close frame; every server frame
// is well formed (unmasked, shortest length form, text frames UTF-8).
#include "fuzz_input.h"
#include "websocket.h"

#include <string>

using namespace comm::ws;
using comm::TransportState;

namespace {

const StaticFile kIndex{"text/html", "<p>hi</p>"};

const StaticFile *lookup(std::string_view path) { return path == "/index.html" ? &kIndex : nullptr; }

// Parses server frames; returns false on a malformed one.
bool well_formed_frames(std::string_view s) {
    while (!s.empty()) {
        if (s.size() < 2) return false;
        auto b0 = static_cast<std::uint8_t>(s[0]), b1 = static_cast<std::uint8_t>(s[1]);
        if ((b0 & 0x70) || (b1 & 0x80)) return false;
        std::uint64_t len = b1 & 0x7f;
        std::size_t at = 2;
        if (len >= 126) {
            std::size_t n = len == 126 ? 2 : 8;
            if (s.size() < 2 + n) return false;
            len = 0;
            for (std::size_t i = 0; i < n; ++i) len = len << 8 | static_cast<std::uint8_t>(s[2 + i]);
            if (len < (n == 2 ? 126u : 65536u)) return false;
            at += n;
        }
        if (s.size() - at < len) return false;
        std::string_view payload = s.substr(at, len);
        if ((b0 & 0x0f) == text && !valid_utf8(payload)) return false;
        if ((b0 & 0x08) && len > 125) return false;
        s.remove_prefix(at + len);
    }
    return true;
}

struct Run {
    std::string up, down;
    TransportState state;
    std::string error;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 1 << 16) return 0;
    fuzz::Input in(data, size);
    fuzz::Chunking reads = in.chunking(64);
    std::uint8_t how = in.byte();
    Limits limits;
    limits.max_request = in.range(16, 1024);
    limits.max_frame = in.range(0, 300);
    limits.max_message = in.range(0, 600);
    limits.max_pending_output = 64;
    std::size_t out_len = in.range(0, 64);
    std::string_view output = in.take(out_len);
    // Most inputs start past a valid upgrade, so frames get reached.
    std::string bytes;
    if (how & 1) {
        bytes = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
        if (how & 2) bytes += "Sec-WebSocket-Protocol: gmcp.mudstandards.org\r\n";
        bytes += "\r\n";
        limits.max_request = 1024;
    }
    bytes += in.rest();

    Layer whole(lookup, limits), split(lookup, limits);
    Run a, b;
    whole.receive(bytes, a.up, a.down);
    std::size_t at = 0;
    for (std::size_t n : reads.sizes(bytes.size())) {
        split.receive(std::string_view(bytes).substr(at, n), b.up, b.down);
        at += n;
        FUZZ_CHECK(split.buffered() <= limits.max_request + 14 + limits.max_message + 125,
                   "holds %zu bytes", split.buffered());
    }
    FUZZ_CHECK(whole.state() == split.state(), "state depends on the split (%s vs %s)",
               comm::transport_state_name(whole.state()), comm::transport_state_name(split.state()));
    FUZZ_CHECK(a.up == b.up, "bytes up depend on the split: %s / %s", fuzz::show(a.up).c_str(),
               fuzz::show(b.up).c_str());
    FUZZ_CHECK(a.down == b.down, "bytes down depend on the split");
    FUZZ_CHECK(whole.error() == split.error(), "error depends on the split: %s / %s", whole.error().c_str(),
               split.error().c_str());
    FUZZ_CHECK(fuzz::printable(whole.error()), "error %s", fuzz::show(whole.error()).c_str());

    std::size_t head_end = a.down.find("\r\n\r\n");
    bool upgraded = a.down.compare(0, 12, "HTTP/1.1 101") == 0;
    if (whole.state() == TransportState::failed) {
        FUZZ_CHECK(!whole.error().empty(), "failed without a reason");
        FUZZ_CHECK(upgraded || a.down.compare(0, 9, "HTTP/1.1 ") == 0, "refused without an HTTP answer");
        if (upgraded) {
            std::string_view frames = std::string_view(a.down).substr(head_end + 4);
            FUZZ_CHECK(!frames.empty(), "failed after the upgrade without a close frame");
        }
    }
    if (upgraded) {
        FUZZ_CHECK(well_formed_frames(std::string_view(a.down).substr(head_end + 4)), "bad server frames");
        Run out;
        whole.send(output, out.down);
        FUZZ_CHECK(well_formed_frames(out.down), "bad frames from send()");
        FUZZ_CHECK(whole.buffered() <= 14 + limits.max_message + 125 + limits.max_message,
                   "holds %zu after send", whole.buffered());
        whole.close(out.down);
        FUZZ_CHECK(well_formed_frames(out.down), "bad frames from close()");
    }
    return 0;
}
