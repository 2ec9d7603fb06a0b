#include "tls.h"
#include "sanitize.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace comm::tls {

namespace {

// Everything OpenSSL queued on this thread, as one readable line, and the
// queue emptied (it is per thread and would otherwise leak into the next
// link's error).
std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        const char *reason = ERR_reason_error_string(e);
        std::string r = reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
        if (out.find(r) != std::string::npos) continue;
        if (!out.empty()) out += "; ";
        out += r;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

bool readable(const std::string &path, const char *what, std::string &error) {
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) {
        error = std::string("tls: cannot read ") + what + " " + path + ": " + std::strerror(errno);
        return false;
    }
    std::fclose(f);
    return true;
}

// Why the first byte cannot start a TLS connection, in words for the log.
std::string not_tls_reason(std::string_view first) {
    auto c = static_cast<unsigned char>(first[0]);
    if (c == 0xff)
        return "tls: client spoke telnet to the TLS port (first bytes: \"" + escape_bytes(first, 16) + "\")";
    if (c >= 0x20 && c < 0x7f)
        return "tls: client spoke plain text to the TLS port (first bytes: \"" + escape_bytes(first, 16) + "\")";
    return "tls: not a TLS handshake (first bytes: \"" + escape_bytes(first, 16) + "\")";
}

bool is_hostname(const std::string &s) {
    if (s.empty() || s.size() > 253) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) return false;
    return true;
}

}  // namespace

bool available() { return true; }
std::string library_version() { return OpenSSL_version(OPENSSL_VERSION); }

// ---- context ----------------------------------------------------------------

struct Context::Impl {
    SSL_CTX *ctx = nullptr;
    ~Impl() { SSL_CTX_free(ctx); }
};

Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Context::~Context() = default;

std::shared_ptr<Context> Context::server(const std::string &cert_path, const std::string &key_path,
                                         std::string &error) {
    if (!readable(cert_path, "certificate", error) || !readable(key_path, "key", error)) return nullptr;
    ERR_clear_error();
    auto impl = std::make_unique<Impl>();
    impl->ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *ctx = impl->ctx;
    if (!ctx) {
        error = "tls: cannot create a context: " + openssl_errors();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // No client-initiated renegotiation (a cheap CPU attack); release idle
    // buffers, since a MUD holds many quiet links.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) {
        error = "tls: bad certificate " + cert_path + ": " + openssl_errors();
        return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
        std::string why = openssl_errors();
        error = why.find("mismatch") != std::string::npos
                    ? "tls: key " + key_path + " does not match certificate " + cert_path + " (" + why + ")"
                    : "tls: bad key " + key_path + ": " + why;
        return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        error = "tls: key " + key_path + " does not match certificate " + cert_path + ": " + openssl_errors();
        return nullptr;
    }
    return std::shared_ptr<Context>(new Context(std::move(impl)));
}

// ---- self-signed certificate ----------------------------------------------------

namespace {

template <class T, void (*Free)(T *)>
struct Owned {
    T *p = nullptr;
    explicit Owned(T *q) : p(q) {}
    ~Owned() { Free(p); }
    Owned(const Owned &) = delete;
    Owned &operator=(const Owned &) = delete;
};

bool build_certificate(X509 *x, EVP_PKEY *key, const std::string &cn, int days) {
    Owned<BIGNUM, BN_free> serial(BN_new());
    if (!serial.p || !BN_rand(serial.p, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial.p, X509_get_serialNumber(x)))
        return false;
    if (!X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * days) || !X509_set_pubkey(x, key))
        return false;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char *>(cn.c_str()), -1, -1, 0) ||
        !X509_set_issuer_name(x, name))
        return false;
    if (is_hostname(cn)) {
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
        std::string san = "DNS:" + cn;
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
        if (!ext) return false;
        bool ok = X509_add_ext(x, ext, -1) == 1;
        X509_EXTENSION_free(ext);
        if (!ok) return false;
    }
    return X509_sign(x, key, EVP_sha256()) > 0;
}

// The key is secret: created 0600 (and forced to 0600 if it existed with
// wider permissions) before a byte of it is written.
bool write_key(const std::string &path, EVP_PKEY *key, std::string &error) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::fchmod(fd, 0600) != 0) {
        error = "tls: cannot write key " + path + ": " + std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return false;
    }
    std::FILE *f = ::fdopen(fd, "w");
    if (!f) {
        error = "tls: cannot write key " + path + ": " + std::strerror(errno);
        ::close(fd);
        return false;
    }
    bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) error = "tls: cannot write key " + path + ": " + openssl_errors();
    return ok;
}

bool write_cert(const std::string &path, X509 *x, std::string &error) {
    std::FILE *f = std::fopen(path.c_str(), "w");
    if (!f) {
        error = "tls: cannot write certificate " + path + ": " + std::strerror(errno);
        return false;
    }
    bool ok = PEM_write_X509(f, x) == 1;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) error = "tls: cannot write certificate " + path + ": " + openssl_errors();
    return ok;
}

}  // namespace

bool make_self_signed(const std::string &cert_path, const std::string &key_path, const std::string &common_name,
                      int days, std::string &error) {
    ERR_clear_error();
    Owned<EVP_PKEY, EVP_PKEY_free> key(EVP_EC_gen("P-256"));
    Owned<X509, X509_free> x(X509_new());
    if (!key.p || !x.p || !build_certificate(x.p, key.p, common_name, days)) {
        error = "tls: cannot make a self-signed certificate: " + openssl_errors();
        return false;
    }
    return write_key(key_path, key.p, error) && write_cert(cert_path, x.p, error);
}

// ---- the layer ----------------------------------------------------------------

struct Layer::Impl {
    SSL *ssl = nullptr;
    BIO *in = nullptr;   // ciphertext from the peer, read by OpenSSL
    BIO *out = nullptr;  // ciphertext OpenSSL wrote, for the peer
    ~Impl() { SSL_free(ssl); }  // frees both BIOs too
};

Layer::Layer(std::shared_ptr<Context> context, Limits limits)
    : context_(std::move(context)), impl_(std::make_unique<Impl>()), limits_(limits) {
    impl_->ssl = SSL_new(context_->impl().ctx);
    impl_->in = BIO_new(BIO_s_mem());
    impl_->out = BIO_new(BIO_s_mem());
    if (!impl_->ssl || !impl_->in || !impl_->out) {
        BIO_free(impl_->in);
        BIO_free(impl_->out);
        impl_->in = impl_->out = nullptr;
        fail("tls: cannot create a session: " + openssl_errors());
        return;
    }
    // An empty input BIO means "wait for more" (WANT_READ), not end of file.
    BIO_set_mem_eof_return(impl_->in, -1);
    SSL_set_bio(impl_->ssl, impl_->in, impl_->out);
    SSL_set_accept_state(impl_->ssl);
}

Layer::~Layer() = default;

void Layer::fail(std::string message) {
    state_ = TransportState::failed;
    error_ = std::move(message);
    pending_.clear();
    pending_.shrink_to_fit();
}

void Layer::drain(std::string &down) {
    if (!impl_->out) return;
    char buf[16384];
    int n;
    while ((n = BIO_read(impl_->out, buf, sizeof buf)) > 0) down.append(buf, static_cast<std::size_t>(n));
}

void Layer::receive(std::string_view in, std::string &up, std::string &down) {
    if (state_ == TransportState::failed || state_ == TransportState::closed || in.empty()) return;
    if (!seen_first_byte_) {
        seen_first_byte_ = true;
        // 0x16 is a handshake record; anything else is not a TLS client,
        // and a clear reason beats OpenSSL's "wrong version number".
        if (in[0] != 0x16) return fail(not_tls_reason(in));
    }
    ERR_clear_error();
    while (!in.empty()) {
        int chunk = in.size() > INT_MAX ? INT_MAX : static_cast<int>(in.size());
        if (BIO_write(impl_->in, in.data(), chunk) != chunk) {
            fail("tls: cannot buffer input: " + openssl_errors());
            return drain(down);
        }
        in.remove_prefix(static_cast<std::size_t>(chunk));
    }
    if (state_ == TransportState::handshaking) handshake(down);
    if (state_ == TransportState::open || state_ == TransportState::closing) read_plaintext(up, down);
    drain(down);  // handshake records, alerts, session tickets, close_notify
}

void Layer::handshake(std::string &down) {
    int rc = SSL_do_handshake(impl_->ssl);
    if (rc == 1) {
        state_ = TransportState::open;
        return write_pending(down);
    }
    int e = SSL_get_error(impl_->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    fail("tls: handshake failed: " + openssl_errors());
}

void Layer::read_plaintext(std::string &up, std::string &down) {
    char buf[16384];
    for (;;) {
        int n = SSL_read(impl_->ssl, buf, sizeof buf);
        if (n > 0) {
            up.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        int e = SSL_get_error(impl_->ssl, n);
        if (e == SSL_ERROR_WANT_READ) return;
        if (e == SSL_ERROR_ZERO_RETURN) {
            // The peer's close_notify: answer with ours (once) and stop.
            if (!(SSL_get_shutdown(impl_->ssl) & SSL_SENT_SHUTDOWN)) SSL_shutdown(impl_->ssl);
            state_ = TransportState::closed;
            return;
        }
        fail("tls: " + openssl_errors());
        return drain(down);
    }
}

void Layer::write_pending(std::string &down) {
    std::string data = std::move(pending_);
    pending_.clear();
    if (!data.empty()) send(data, down);
}

void Layer::send(std::string_view in, std::string &down) {
    if (in.empty()) return;
    if (state_ == TransportState::handshaking) {
        if (pending_.size() + in.size() > limits_.max_pending_output)
            return fail("tls: " + std::to_string(pending_.size() + in.size()) +
                        " bytes of output queued before the handshake finished (limit " +
                        std::to_string(limits_.max_pending_output) + ")");
        pending_.append(in);
        return;
    }
    if (state_ != TransportState::open) return;  // closing, closed or failed: nowhere to go
    ERR_clear_error();
    while (!in.empty()) {
        int chunk = in.size() > 16384 ? 16384 : static_cast<int>(in.size());
        int n = SSL_write(impl_->ssl, in.data(), chunk);
        if (n <= 0) {
            fail("tls: write failed: " + openssl_errors());
            break;
        }
        in.remove_prefix(static_cast<std::size_t>(n));
    }
    drain(down);
}

void Layer::close(std::string &down) {
    if (state_ == TransportState::open) {
        ERR_clear_error();
        SSL_shutdown(impl_->ssl);  // queues close_notify; the peer's comes later
        ERR_clear_error();
        state_ = TransportState::closing;
        drain(down);
    } else if (state_ == TransportState::handshaking) {
        // Nothing agreed yet, so nothing to announce.
        pending_.clear();
        state_ = TransportState::closed;
    }
}

std::string Layer::protocol() const {
    if (state_ == TransportState::handshaking || !impl_->ssl) return {};
    return SSL_get_version(impl_->ssl);
}

std::string Layer::cipher() const {
    if (state_ == TransportState::handshaking || !impl_->ssl) return {};
    const SSL_CIPHER *c = SSL_get_current_cipher(impl_->ssl);
    return c ? SSL_CIPHER_get_name(c) : "";
}

}  // namespace comm::tls
