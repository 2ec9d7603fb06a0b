// The TLS server layer (comm/tls.h) fed arbitrary bytes as if from a
// client, in arbitrary reads: the record layer and handshake parsing of
// OpenSSL behind our memory-BIO plumbing. Invariants: no plaintext comes
// up before a handshake completes (the fuzzer cannot complete one); a
// non-0x16 first byte fails at once with our own reason; a failed layer
// stays failed, passes nothing up and holds nothing; errors are printable.
// The certificate is made once per process in a temporary directory.
#include "fuzz_input.h"
#include "tls.h"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace {

std::shared_ptr<comm::tls::Context> context() {
    static std::shared_ptr<comm::tls::Context> ctx = [] {
        namespace fs = std::filesystem;
        fs::path dir = fs::temp_directory_path() / ("ior_tls_fuzz_" + std::to_string(::getpid()));
        fs::create_directories(dir);
        std::string cert = (dir / "c.pem").string(), key = (dir / "k.pem").string(), error;
        FUZZ_CHECK(comm::tls::make_self_signed(cert, key, "localhost", 1, error), "%s", error.c_str());
        auto c = comm::tls::Context::server(cert, key, error);
        FUZZ_CHECK(c, "%s", error.c_str());
        fs::remove_all(dir);
        return c;
    }();
    return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size > 1 << 16) return 0;
    fuzz::Input in(data, size);
    fuzz::Chunking reads = in.chunking(2048);
    bool app_writes = in.flag();
    std::string_view bytes = in.rest();

    comm::tls::Layer layer(context(), comm::tls::Limits{4096});
    std::string up, down;
    std::size_t at = 0;
    for (std::size_t n : reads.sizes(bytes.size())) {
        auto was = layer.state();
        std::size_t up_before = up.size();
        layer.receive(bytes.substr(at, n), up, down);
        if (app_writes) layer.send("Welcome!\r\n", down);
        if (at == 0 && bytes[0] != 0x16) {
            FUZZ_CHECK(layer.state() == comm::TransportState::failed, "non-TLS first byte accepted");
            FUZZ_CHECK(layer.error().find("to the TLS port") != std::string::npos ||
                           layer.error().find("not a TLS handshake") != std::string::npos,
                       "unclear reason: %s", layer.error().c_str());
        }
        at += n;
        if (was == comm::TransportState::failed)
            FUZZ_CHECK(up.size() == up_before && layer.state() == comm::TransportState::failed, "failed layer moved");
        FUZZ_CHECK(layer.buffered() <= 4096, "holds %zu bytes", layer.buffered());
        if (layer.state() == comm::TransportState::failed)
            FUZZ_CHECK(!layer.error().empty() && fuzz::printable(layer.error()) && layer.buffered() == 0,
                       "bad failure state: %s", fuzz::show(layer.error()).c_str());
    }
    FUZZ_CHECK(up.empty() || layer.protocol() != "", "plaintext came up without a handshake");
    return 0;
}
