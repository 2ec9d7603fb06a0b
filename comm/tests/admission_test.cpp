#include "admission.h"

#include <gtest/gtest.h>

using comm::Admission;
using namespace std::chrono_literals;

namespace {
const Admission::Clock::time_point t0{};
}

TEST(Admission, caps_open_connections_per_address_and_frees_on_release) {
    Admission a(2, 0);
    EXPECT_FALSE(a.admit("10.0.0.1", t0).refusal);
    EXPECT_FALSE(a.admit("10.0.0.1", t0).refusal);
    auto v = a.admit("10.0.0.1", t0);
    ASSERT_TRUE(v.refusal);
    EXPECT_STREQ(v.refusal, "too many connections from your address");
    EXPECT_FALSE(a.admit("10.0.0.2", t0).refusal);  // another address is not affected
    a.release("10.0.0.1");
    EXPECT_FALSE(a.admit("10.0.0.1", t0).refusal);
}

TEST(Admission, limits_attempts_per_minute_counting_refused_ones) {
    Admission a(0, 3);
    for (int i = 0; i < 3; ++i) {
        EXPECT_FALSE(a.admit("h", t0 + i * 1s).refusal);
        a.release("h");
    }
    auto first = a.admit("h", t0 + 5s);
    EXPECT_TRUE(first.refusal);
    EXPECT_TRUE(first.first_refusal);
    auto again = a.admit("h", t0 + 50s);
    EXPECT_TRUE(again.refusal);
    EXPECT_FALSE(again.first_refusal);  // logged once per minute
    EXPECT_FALSE(a.admit("h", t0 + 61s).refusal);  // a new minute
}

TEST(Admission, forgets_addresses_without_connections_after_a_minute) {
    Admission a(5, 5);
    a.admit("gone", t0);
    a.release("gone");
    a.admit("still open", t0);
    a.forget_idle(t0 + 30s);
    EXPECT_EQ(a.tracked(), 2u);
    a.forget_idle(t0 + 61s);
    EXPECT_EQ(a.tracked(), 1u);
}

TEST(Admission, no_limits_tracks_nothing) {
    Admission a(0, 0);
    for (int i = 0; i < 1000; ++i) EXPECT_FALSE(a.admit("h" + std::to_string(i), t0).refusal);
    EXPECT_EQ(a.tracked(), 0u);
}

TEST(Admission, host_of_cuts_the_port) {
    EXPECT_EQ(Admission::host_of("127.0.0.1:4000"), "127.0.0.1");
    EXPECT_EQ(Admission::host_of("[::1]:4000"), "[::1]");
    EXPECT_EQ(Admission::host_of("console"), "console");
}
