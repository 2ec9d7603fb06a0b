// TLS for a listener, as a sans-I/O layer: OpenSSL 3 runs over two memory
// BIOs, so ciphertext comes in through receive() and leaves through the
// `down` strings, never through a socket of OpenSSL's own. That is what
// lets it sit on completion backends (io_uring, IOCP) as well as epoll.
//
// tls.cpp needs OpenSSL; tls_none.cpp (builds without it, e.g. mingw)
// reports available() false and refuses to make a context, with an error
// the config check can show as is. No OpenSSL type appears here.
#pragma once

#include "transport.h"

#include <memory>
#include <string>
#include <string_view>

namespace comm::tls {

// False in a build without OpenSSL: a TLS listener must then be refused.
bool available();
// "OpenSSL 3.0.19 ..." or "not built with TLS".
std::string library_version();

// The certificate, key and settings shared by every link of one listener.
class Context {
public:
    // Loads a PEM certificate chain and private key; nullptr with `error`
    // ("tls: cannot read certificate /x.pem: No such file or directory").
    static std::shared_ptr<Context> server(const std::string &cert_path, const std::string &key_path,
                                           std::string &error);
    ~Context();
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;

    struct Impl;
    Impl &impl() { return *impl_; }

private:
    explicit Context(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Makes a self-signed certificate (EC P-256, SHA-256, `days` valid, CN and
// subjectAltName DNS `common_name`) and its key; the key file is created
// with mode 0600 and the certificate 0644. Existing files are replaced.
bool make_self_signed(const std::string &cert_path, const std::string &key_path,
                      const std::string &common_name, int days, std::string &error);

struct Limits {
    // Plaintext the application may queue before the handshake ends.
    std::size_t max_pending_output = 256 * 1024;
};

class Layer final : public Transport {
public:
    explicit Layer(std::shared_ptr<Context> context, Limits limits = {});
    ~Layer() override;

    void receive(std::string_view in, std::string &up, std::string &down) override;
    void send(std::string_view in, std::string &down) override;
    void close(std::string &down) override;
    TransportState state() const override { return state_; }
    const std::string &error() const override { return error_; }
    std::size_t buffered() const override { return pending_.size(); }
    const char *name() const override { return "tls"; }

    // After the handshake: "TLSv1.3", "TLS_AES_256_GCM_SHA384"; "" before.
    std::string protocol() const;
    std::string cipher() const;

    struct Impl;

private:
    void fail(std::string message);
    void handshake(std::string &down);
    void read_plaintext(std::string &up, std::string &down);
    void write_pending(std::string &down);
    void drain(std::string &down);

    std::shared_ptr<Context> context_;
    std::unique_ptr<Impl> impl_;
    Limits limits_;
    TransportState state_ = TransportState::handshaking;
    bool seen_first_byte_ = false;
    std::string pending_;
    std::string error_;
};

}  // namespace comm::tls
