// A build without OpenSSL: TLS is refused with a clear reason.
#include "tls.h"

#include <gtest/gtest.h>

TEST(TlsNone, a_tls_listener_is_refused_with_a_clear_error) {
    EXPECT_FALSE(comm::tls::available());
    std::string error;
    EXPECT_EQ(comm::tls::Context::server("c.pem", "k.pem", error), nullptr);
    EXPECT_NE(error.find("not built with TLS"), std::string::npos);
    EXPECT_FALSE(comm::tls::make_self_signed("c.pem", "k.pem", "localhost", 1, error));
}
