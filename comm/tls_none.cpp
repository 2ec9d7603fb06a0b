// TLS in a build without OpenSSL (the mingw build): nothing is available,
// a context is never made, so a TLS listener is refused at config time
// with this error, and no Layer is ever constructed.
#include "tls.h"

namespace comm::tls {

namespace {
const char kNoTls[] = "not built with TLS (OpenSSL was not found when this server was built)";
}

bool available() { return false; }
std::string library_version() { return "not built with TLS"; }

struct Context::Impl {};
Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Context::~Context() = default;

std::shared_ptr<Context> Context::server(const std::string &, const std::string &, std::string &error) {
    error = kNoTls;
    return nullptr;
}

bool make_self_signed(const std::string &, const std::string &, const std::string &, int, std::string &error) {
    error = kNoTls;
    return false;
}

struct Layer::Impl {};
Layer::Layer(std::shared_ptr<Context> context, Limits limits)
    : context_(std::move(context)), impl_(std::make_unique<Impl>()), limits_(limits) {
    fail(kNoTls);
}
Layer::~Layer() = default;
void Layer::fail(std::string message) {
    state_ = TransportState::failed;
    error_ = std::move(message);
}
void Layer::receive(std::string_view, std::string &, std::string &) {}
void Layer::send(std::string_view, std::string &) {}
void Layer::close(std::string &) {}
void Layer::handshake(std::string &) {}
void Layer::read_plaintext(std::string &, std::string &) {}
void Layer::write_pending(std::string &) {}
void Layer::drain(std::string &) {}
std::string Layer::protocol() const { return {}; }
std::string Layer::cipher() const { return {}; }

}  // namespace comm::tls
