// Instantiates the conformance suite once per backend the build has, and
// checks the backend list and introspection calls themselves.
#include "conformance.h"

#include <cctype>
#include <string>
#include <vector>

namespace conformance {
namespace {

std::vector<const char *> built_backends() {
    std::vector<const char *> names;
    for (const char *const *p = io_reactor_backends(); p && *p; ++p) names.push_back(*p);
    return names;
}

TEST(Backends, the_build_has_at_least_one_backend) {
    EXPECT_FALSE(built_backends().empty());
}

TEST(Backends, an_unknown_backend_name_is_refused_with_an_error) {
    io_reactor_config_t config{};
    config.backend = "no-such-backend";
    io_reactor_t *reactor = io_reactor_create_with(&config);
    EXPECT_EQ(reactor, nullptr);
    if (reactor) io_reactor_destroy(reactor);
    EXPECT_NE(io_reactor_last_error(nullptr), 0);
}

TEST(Backends, auto_picks_one_of_the_built_backends) {
    io_reactor_config_t config{};
    config.backend = "auto";
    io_reactor_t *reactor = io_reactor_create_with(&config);
    ASSERT_NE(reactor, nullptr);
    std::string name = io_reactor_backend_name(reactor);
    bool known = false;
    for (const char *b : built_backends()) known = known || name == b;
    EXPECT_TRUE(known) << name;
    io_reactor_destroy(reactor);
}

TEST_P(Conformance, backend_name_is_the_requested_backend) {
    const char *name = io_reactor_backend_name(reactor);
    ASSERT_NE(name, nullptr);
    EXPECT_STREQ(name, GetParam());
}

TEST_P(Conformance, stats_count_registered_handles) {
    io_reactor_stats_t stats{};
    ASSERT_EQ(io_reactor_get_stats(reactor, &stats), 0);
    EXPECT_EQ(stats.handles, 0u);

    ts::Pair a = pair(), b = pair(), c = pair();
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, a.local, &ctx, EVENT_READ), 0);
    ASSERT_EQ(io_reactor_add(reactor, b.local, &ctx, EVENT_READ), 0);
    ASSERT_EQ(io_reactor_add(reactor, c.local, &ctx, 0), 0);
    ASSERT_EQ(io_reactor_get_stats(reactor, &stats), 0);
    EXPECT_EQ(stats.handles, 3u);

    ASSERT_EQ(io_reactor_remove(reactor, b.local), 0);
    ASSERT_EQ(io_reactor_get_stats(reactor, &stats), 0);
    EXPECT_EQ(stats.handles, 2u);
    EXPECT_EQ(stats.queued_bytes, 0u);
}

TEST_P(Conformance, stats_count_queued_output) {
    ts::Pair p = pair();
    ts::set_buffers(p.local, 0, 4096);
    ts::set_buffers(p.peer, 4096, 0);
    int ctx = 0;
    ASSERT_EQ(io_reactor_add(reactor, p.local, &ctx, 0), 0);
    std::string big = pattern(1 << 20);
    ASSERT_EQ(io_reactor_post_write(reactor, p.local, big.data(), big.size()), 0);
    io_reactor_stats_t stats{};
    ASSERT_EQ(io_reactor_get_stats(reactor, &stats), 0);
    EXPECT_GT(stats.queued_bytes, 0u);
    EXPECT_EQ(stats.queued_bytes, io_reactor_queued_bytes(reactor, p.local));
}

std::string backend_test_name(const ::testing::TestParamInfo<const char *> &info) {
    std::string name;
    for (const char *c = info.param; *c; ++c)
        name += (std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_');
    return name;
}

INSTANTIATE_TEST_SUITE_P(AllBackends, Conformance, ::testing::ValuesIn(built_backends()),
                         backend_test_name);

}  // namespace
}  // namespace conformance
