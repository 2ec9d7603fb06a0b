// The C++ layer: construction failures throw, a Registration removes itself.
#include "io_reactor.hpp"

#include <gtest/gtest.h>

#include <array>
#include <stdexcept>

TEST(CppLayer, unknown_backend_throws_system_error) {
    EXPECT_THROW(ioreactor::Reactor("no-such-backend"), std::system_error);
}

TEST(CppLayer, every_built_backend_constructs_and_names_itself) {
    for (const char *const *name = io_reactor_backends(); *name; ++name) {
        ioreactor::Reactor reactor(*name);
        EXPECT_STREQ(reactor.backend_name(), *name);
    }
}

TEST(CppLayer, errors_come_back_as_error_codes) {
    ioreactor::Reactor reactor;
    EXPECT_TRUE(reactor.remove(static_cast<socket_fd_t>(4242)));
    std::array<io_event_t, 4> events{};
    std::error_code error;
    auto got = reactor.wait(events, std::chrono::microseconds(0), error);
    EXPECT_FALSE(error);
    EXPECT_TRUE(got.empty());
}
