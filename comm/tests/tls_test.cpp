// The server layer against a real OpenSSL client, both in memory: the
// client's ciphertext goes to Layer::receive, the layer's `down` bytes go
// to the client. No sockets, so every case is exact and fast.
#include "proxy_protocol.h"
#include "tls.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using comm::TransportState;
using namespace comm::tls;
namespace fs = std::filesystem;

namespace {

fs::path make_dir() {
    fs::path dir = fs::temp_directory_path() / ("ior_tls_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    return dir;
}

struct Files {
    fs::path dir = make_dir();
    std::string cert = (dir / "cert.pem").string();
    std::string key = (dir / "key.pem").string();
    std::string other_cert = (dir / "other_cert.pem").string();
    std::string other_key = (dir / "other_key.pem").string();
    Files() {
        std::string error;
        EXPECT_TRUE(make_self_signed(cert, key, "localhost", 2, error)) << error;
        EXPECT_TRUE(make_self_signed(other_cert, other_key, "other", 2, error)) << error;
    }
    ~Files() { fs::remove_all(dir); }
};

Files &files() {
    static Files f;
    return f;
}

std::shared_ptr<Context> server_context() {
    static std::shared_ptr<Context> ctx = [] {
        std::string error;
        auto c = Context::server(files().cert, files().key, error);
        EXPECT_TRUE(c) << error;
        return c;
    }();
    return ctx;
}

// An OpenSSL client that trusts only our self-signed certificate and checks
// the host name, over memory BIOs.
struct Client {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = nullptr;
    BIO *in = BIO_new(BIO_s_mem());
    BIO *out = BIO_new(BIO_s_mem());

    explicit Client(int max_version = 0) {
        if (max_version) SSL_CTX_set_max_proto_version(ctx, max_version);
        EXPECT_EQ(SSL_CTX_load_verify_locations(ctx, files().cert.c_str(), nullptr), 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        ssl = SSL_new(ctx);
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(ssl, in, out);
        SSL_set_connect_state(ssl);
        SSL_set1_host(ssl, "localhost");
        SSL_set_tlsext_host_name(ssl, "localhost");
    }
    ~Client() {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }
    std::string take_output() {
        std::string s;
        char buf[4096];
        int n;
        while ((n = BIO_read(out, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
        return s;
    }
    void give(const std::string &ciphertext) {
        if (!ciphertext.empty()) BIO_write(in, ciphertext.data(), static_cast<int>(ciphertext.size()));
    }
    std::string read_all() {
        std::string s;
        char buf[4096];
        int n;
        while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
        return s;
    }
    void write(const std::string &plain) { ASSERT_EQ(SSL_write(ssl, plain.data(), static_cast<int>(plain.size())), static_cast<int>(plain.size())); }
};

struct TlsTest : ::testing::Test {
    Layer server{server_context()};
    Client client;
    std::string up, down;

    // Moves bytes both ways until neither side has anything to say.
    void pump(bool bytewise = false) {
        for (int round = 0; round < 20; ++round) {
            if (!SSL_is_init_finished(client.ssl)) SSL_do_handshake(client.ssl);
            std::string c = client.take_output();
            if (bytewise) {
                for (char ch : c) server.receive(std::string_view(&ch, 1), up, down);
            } else {
                server.receive(c, up, down);
            }
            std::string s = std::exchange(down, {});
            client.give(s);
            if (c.empty() && s.empty()) return;
        }
        FAIL() << "pump did not settle";
    }
    void handshake() {
        pump();
        ASSERT_EQ(server.state(), TransportState::open) << server.error();
        ASSERT_TRUE(SSL_is_init_finished(client.ssl));
        ASSERT_EQ(SSL_get_verify_result(client.ssl), X509_V_OK);
    }
};

}  // namespace

TEST_F(TlsTest, handshake_then_data_both_ways) {
    EXPECT_EQ(server.state(), TransportState::handshaking);
    EXPECT_EQ(server.protocol(), "");
    handshake();
    EXPECT_EQ(server.protocol(), "TLSv1.3");
    EXPECT_FALSE(server.cipher().empty());

    client.write("say hello\r\n");
    pump();
    EXPECT_EQ(up, "say hello\r\n");

    server.send("You say: hello\r\n", down);
    client.give(std::exchange(down, {}));
    EXPECT_EQ(client.read_all(), "You say: hello\r\n");
    EXPECT_EQ(server.buffered(), 0u);
}

TEST_F(TlsTest, tls12_client_works_too) {
    Client old(TLS1_2_VERSION);
    std::swap(client.ssl, old.ssl);
    std::swap(client.in, old.in);
    std::swap(client.out, old.out);
    handshake();
    EXPECT_EQ(server.protocol(), "TLSv1.2");
    client.write("x");
    pump();
    EXPECT_EQ(up, "x");
}

TEST_F(TlsTest, ciphertext_split_at_every_byte) {
    pump(/*bytewise=*/true);
    ASSERT_EQ(server.state(), TransportState::open) << server.error();
    client.write("split");
    std::string c = client.take_output();
    for (char ch : c) server.receive(std::string_view(&ch, 1), up, down);
    EXPECT_EQ(up, "split");
}

TEST_F(TlsTest, output_before_the_handshake_is_held_and_counted) {
    server.send("Welcome!\r\n", down);
    EXPECT_TRUE(down.empty());
    EXPECT_EQ(server.buffered(), 10u);
    handshake();
    EXPECT_EQ(server.buffered(), 0u);
    EXPECT_EQ(client.read_all(), "Welcome!\r\n");
}

TEST_F(TlsTest, too_much_output_before_the_handshake_fails) {
    Layer small(server_context(), Limits{16});
    small.send("0123456789", down);
    EXPECT_EQ(small.state(), TransportState::handshaking);
    small.send("0123456789", down);
    EXPECT_EQ(small.state(), TransportState::failed);
    EXPECT_NE(small.error().find("20 bytes of output queued before the handshake finished (limit 16)"),
              std::string::npos);
    EXPECT_EQ(small.buffered(), 0u);
}

TEST_F(TlsTest, large_output_round_trips) {
    handshake();
    std::string big;
    for (int i = 0; i < 50000; ++i) big += "line " + std::to_string(i) + "\r\n";
    server.send(big, down);
    client.give(std::exchange(down, {}));
    EXPECT_EQ(client.read_all(), big);
}

TEST_F(TlsTest, client_close_notify_closes_and_is_answered) {
    handshake();
    SSL_shutdown(client.ssl);
    pump();
    EXPECT_EQ(server.state(), TransportState::closed);
    EXPECT_EQ(client.read_all(), "");
    EXPECT_TRUE(SSL_get_shutdown(client.ssl) & SSL_RECEIVED_SHUTDOWN);
    std::string more;
    server.receive("junk after close", more, down);  // ignored
    EXPECT_TRUE(more.empty());
    EXPECT_EQ(server.state(), TransportState::closed);
}

TEST_F(TlsTest, server_close_sends_close_notify) {
    handshake();
    server.send("bye\r\n", down);
    server.close(down);
    EXPECT_EQ(server.state(), TransportState::closing);
    client.give(std::exchange(down, {}));
    EXPECT_EQ(client.read_all(), "bye\r\n");
    EXPECT_EQ(SSL_get_error(client.ssl, 0), SSL_ERROR_ZERO_RETURN);
    server.send("dropped", down);  // nowhere to go once closing
    EXPECT_TRUE(down.empty());
    SSL_shutdown(client.ssl);      // the client answers; the server ends
    server.receive(client.take_output(), up, down);
    EXPECT_EQ(server.state(), TransportState::closed);
}

TEST_F(TlsTest, close_during_handshake_ends_at_once) {
    server.send("held", down);
    server.close(down);
    EXPECT_EQ(server.state(), TransportState::closed);
    EXPECT_EQ(server.buffered(), 0u);
    EXPECT_TRUE(down.empty());
}

TEST_F(TlsTest, plain_text_client_is_named_as_such) {
    server.receive("look\r\n", up, down);
    EXPECT_EQ(server.state(), TransportState::failed);
    EXPECT_EQ(server.error(), "tls: client spoke plain text to the TLS port (first bytes: \"look\\x0d\\x0a\")");
    EXPECT_TRUE(up.empty());
    EXPECT_TRUE(down.empty());
}

TEST_F(TlsTest, telnet_client_is_named_as_such) {
    server.receive("\xff\xfd\x18", up, down);
    EXPECT_EQ(server.state(), TransportState::failed);
    EXPECT_NE(server.error().find("client spoke telnet to the TLS port"), std::string::npos);
}

TEST_F(TlsTest, binary_junk_is_not_a_handshake) {
    server.receive(std::string("\x01\x02\x03", 3), up, down);
    EXPECT_EQ(server.state(), TransportState::failed);
    EXPECT_NE(server.error().find("not a TLS handshake (first bytes: \"\\x01\\x02\\x03\")"), std::string::npos);
}

TEST_F(TlsTest, garbage_handshake_record_fails_with_openssl_reason) {
    // A handshake record header, then nonsense inside it.
    std::string bad("\x16\x03\x01\x00\x05\x99\x99\x99\x99\x99", 10);
    server.receive(bad, up, down);
    EXPECT_EQ(server.state(), TransportState::failed);
    EXPECT_EQ(server.error().rfind("tls: handshake failed: ", 0), 0u) << server.error();
    EXPECT_TRUE(up.empty());
}

TEST_F(TlsTest, garbage_after_the_handshake_fails) {
    handshake();
    server.receive(std::string("\x17\x03\x03\x00\x10") + std::string(16, 'x'), up, down);
    EXPECT_EQ(server.state(), TransportState::failed);
    EXPECT_EQ(server.error().rfind("tls: ", 0), 0u);
    EXPECT_TRUE(up.empty());
    server.send("after", down);  // ignored, no crash
}

TEST_F(TlsTest, a_client_that_rejects_the_certificate_fails_the_handshake) {
    Client picky;  // trusts only files().cert but asks for another host name
    SSL_set1_host(picky.ssl, "example.org");
    std::swap(client.ssl, picky.ssl);
    std::swap(client.in, picky.in);
    std::swap(client.out, picky.out);
    pump();
    EXPECT_EQ(server.state(), TransportState::failed);
    EXPECT_NE(server.error().find("handshake failed"), std::string::npos) << server.error();
}

TEST(TlsContext, missing_files_say_which) {
    std::string error;
    EXPECT_EQ(Context::server("/nonexistent/c.pem", files().key, error), nullptr);
    EXPECT_EQ(error, "tls: cannot read certificate /nonexistent/c.pem: No such file or directory");
    EXPECT_EQ(Context::server(files().cert, "/nonexistent/k.pem", error), nullptr);
    EXPECT_EQ(error, "tls: cannot read key /nonexistent/k.pem: No such file or directory");
}

TEST(TlsContext, key_that_does_not_match_is_refused) {
    std::string error;
    EXPECT_EQ(Context::server(files().cert, files().other_key, error), nullptr);
    EXPECT_NE(error.find("does not match certificate"), std::string::npos) << error;
}

TEST(TlsContext, files_that_are_not_pem_are_refused) {
    std::string error;
    EXPECT_EQ(Context::server(files().key, files().key, error), nullptr);  // a key as certificate
    EXPECT_EQ(error.rfind("tls: bad certificate ", 0), 0u) << error;
    EXPECT_EQ(Context::server(files().cert, files().cert, error), nullptr);
    EXPECT_EQ(error.rfind("tls: bad key ", 0), 0u) << error;
}

TEST(TlsSelfSigned, key_is_private_and_certificate_names_the_host) {
    struct stat st {};
    ASSERT_EQ(::stat(files().key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::FILE *f = std::fopen(files().cert.c_str(), "r");
    ASSERT_TRUE(f);
    X509 *x = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    ASSERT_TRUE(x);
    EXPECT_EQ(X509_check_host(x, "localhost", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_cmp_current_time(X509_get0_notAfter(x)), 1);
    X509_free(x);
}

TEST(TlsSelfSigned, existing_key_with_wide_permissions_is_tightened) {
    fs::path dir = files().dir / "again";
    fs::create_directories(dir);
    std::string key = (dir / "k.pem").string();
    std::FILE *f = std::fopen(key.c_str(), "w");
    ASSERT_TRUE(f);
    std::fclose(f);
    ::chmod(key.c_str(), 0644);
    std::string error;
    ASSERT_TRUE(make_self_signed((dir / "c.pem").string(), key, "my talker", 1, error)) << error;
    struct stat st {};
    ASSERT_EQ(::stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_TRUE(Context::server((dir / "c.pem").string(), key, error)) << error;
}

TEST(TlsSelfSigned, unwritable_path_says_why) {
    std::string error;
    EXPECT_FALSE(make_self_signed("/nonexistent/c.pem", "/nonexistent/k.pem", "localhost", 1, error));
    EXPECT_EQ(error, "tls: cannot write key /nonexistent/k.pem: No such file or directory");
}

TEST(Tls, is_available_in_this_build) {
    EXPECT_TRUE(available());
    EXPECT_EQ(library_version().rfind("OpenSSL 3", 0), 0u);
}

// The stack transport.h describes: socket -> PROXY -> TLS, with the PROXY
// header and the ClientHello arriving in one read, as a load balancer sends them.
TEST(TlsStack, proxy_header_then_tls_in_one_read) {
    comm::proxy::ProxyLayer proxy;
    Layer tls(server_context());
    Client client;
    SSL_do_handshake(client.ssl);
    std::string first = "PROXY TCP6 2001:db8::7 ::1 40000 4443\r\n" + client.take_output();
    std::string up, down, app;
    proxy.receive(first, up, down);
    EXPECT_EQ(proxy.state(), TransportState::open);
    EXPECT_EQ(proxy.header().source, "[2001:db8::7]:40000");
    tls.receive(up, app, down);
    for (int round = 0; round < 10 && tls.state() == TransportState::handshaking; ++round) {
        std::string to_socket;
        proxy.send(std::exchange(down, {}), to_socket);
        client.give(to_socket);
        SSL_do_handshake(client.ssl);
        std::string from_socket = client.take_output(), tls_in;
        proxy.receive(from_socket, tls_in, down);
        tls.receive(tls_in, app, down);
    }
    ASSERT_EQ(tls.state(), TransportState::open) << tls.error();
    client.write("hello through both\r\n");
    std::string tls_in;
    proxy.receive(client.take_output(), tls_in, down);
    tls.receive(tls_in, app, down);
    EXPECT_EQ(app, "hello through both\r\n");
    EXPECT_EQ(proxy.buffered() + tls.buffered(), 0u);
}
