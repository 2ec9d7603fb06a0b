// A link's transport stack (comm/stack.h) with the real PROXY and WebSocket
// layers, socket -> PROXY -> WebSocket, on arbitrary bytes in arbitrary
// reads: the plumbing between layers, not one parser. Invariants: what
// comes up, what goes down, the combined state and the error do not depend
// on how the bytes were split; the bytes held stay within the layers'
// bounds; application output sent once the stack is open comes out as
// server frames (the first byte of a frame), never raw.
#include "fuzz_input.h"
#include "proxy_protocol.h"
#include "stack.h"
#include "websocket.h"

#include <memory>
#include <string>

namespace {

const comm::ws::StaticFile kPage{"text/html", "<html></html>"};

comm::Stack make_stack(const comm::ws::Limits &limits) {
    comm::Stack s;
    s.push(std::make_unique<comm::proxy::ProxyLayer>());
    s.push(std::make_unique<comm::ws::Layer>(
        [](std::string_view path) { return path == "/index.html" ? &kPage : nullptr; }, limits));
    return s;
}

const char *error_of(const comm::Stack &s) {
    const comm::Transport *t = s.failed();
    return t ? t->error().c_str() : "";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 1 << 16) return 0;
    fuzz::Input in(data, size);
    fuzz::Chunking reads = in.chunking(64);
    comm::ws::Limits limits;
    limits.max_request = in.range(64, 8192);
    limits.max_frame = in.range(125, 4096);
    limits.max_message = limits.max_frame + in.range(0, 8192);
    std::string_view bytes = in.rest();

    comm::Stack whole = make_stack(limits), split = make_stack(limits);
    std::string up_whole, down_whole, up_split, down_split;
    whole.receive(bytes, up_whole, down_whole);
    std::size_t at = 0;
    const std::size_t bound = comm::proxy::kV2FixedHeader + comm::proxy::Limits{}.max_v2_payload +
                              limits.max_request + limits.max_message + limits.max_pending_output + 16;
    for (std::size_t n : reads.sizes(bytes.size())) {
        split.receive(bytes.substr(at, n), up_split, down_split);
        at += n;
        FUZZ_CHECK(split.buffered() <= bound, "stack holds %zu bytes", split.buffered());
    }
    FUZZ_CHECK(whole.state() == split.state(), "state depends on the split (%s vs %s)",
               comm::transport_state_name(whole.state()), comm::transport_state_name(split.state()));
    FUZZ_CHECK(up_whole == up_split, "bytes up depend on the split");
    FUZZ_CHECK(down_whole == down_split, "bytes down depend on the split");
    FUZZ_CHECK(std::string(error_of(whole)) == error_of(split), "error depends on the split: %s / %s",
               error_of(whole), error_of(split));
    FUZZ_CHECK((whole.state() == comm::TransportState::failed) == (whole.failed() != nullptr),
               "failed state without a failed layer");
    if (whole.state() == comm::TransportState::open) {
        std::string out;
        whole.send("hello\r\n", out);
        FUZZ_CHECK(!out.empty() && static_cast<unsigned char>(out[0]) == 0x82,
                   "output on an open stack is not a binary frame");
        std::string bye;
        whole.close(bye);
        FUZZ_CHECK(!bye.empty() && static_cast<unsigned char>(bye[0]) == 0x88, "close is not a close frame");
    }
    return 0;
}
