// The core's descriptor -> Handle table: small descriptors in its array,
// large ones (a descriptor dup2'ed high, a Windows SOCKET) in its hash map,
// the same answers either way.
#include "handle_table.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <vector>

using ior::Handle;
using ior::HandleKind;
using ior::HandleTable;

namespace {

constexpr auto kFar = static_cast<socket_fd_t>(HandleTable::kDirectLimit);

std::unique_ptr<Handle> handle(socket_fd_t fd) {
    return std::make_unique<Handle>(fd, nullptr, HandleKind::stream);
}

}  // namespace

TEST(HandleTable, finds_near_and_far_descriptors_until_erased) {
    HandleTable table;
    auto low = handle(3), edge = handle(kFar - 1), past = handle(kFar), way_past = handle(kFar * 4 + 1);
    for (Handle *h : {low.get(), edge.get(), past.get(), way_past.get()}) ASSERT_TRUE(table.insert(h->fd, h));
    EXPECT_EQ(table.size(), 4u);
    for (Handle *h : {low.get(), edge.get(), past.get(), way_past.get()}) EXPECT_EQ(table.find(h->fd), h);
    EXPECT_EQ(table.find(4), nullptr);
    EXPECT_EQ(table.find(kFar + 1), nullptr);

    table.erase(edge->fd);
    table.erase(past->fd);
    EXPECT_EQ(table.find(edge->fd), nullptr);
    EXPECT_EQ(table.find(past->fd), nullptr);
    EXPECT_EQ(table.find(way_past->fd), way_past.get());
    EXPECT_EQ(table.size(), 2u);
}

TEST(HandleTable, erasing_what_is_not_there_changes_nothing) {
    HandleTable table;
    auto h = handle(7);
    ASSERT_TRUE(table.insert(h->fd, h.get()));
    table.erase(8);
    table.erase(100000);
    table.erase(kFar + 5);
    table.erase(7);
    table.erase(7);
    EXPECT_EQ(table.size(), 0u);
    EXPECT_EQ(table.find(7), nullptr);
}

TEST(HandleTable, for_each_visits_every_handle_once) {
    HandleTable table;
    std::vector<std::unique_ptr<Handle>> handles;
    for (socket_fd_t fd : {0, 1, 63, 64, 5000, int(kFar), int(kFar) + 3}) handles.push_back(handle(fd));
    for (auto &h : handles) ASSERT_TRUE(table.insert(h->fd, h.get()));
    std::multiset<const Handle *> seen;
    table.for_each([&](Handle *h) { seen.insert(h); });
    ASSERT_EQ(seen.size(), handles.size());
    for (auto &h : handles) EXPECT_EQ(seen.count(h.get()), 1u);

    table.clear();
    EXPECT_EQ(table.size(), 0u);
    EXPECT_EQ(table.find(64), nullptr);
    EXPECT_EQ(table.find(kFar), nullptr);
}

TEST(HandleTable, its_array_never_outgrows_the_direct_limit) {
    HandleTable table;
    auto top = handle(kFar - 1);
    ASSERT_TRUE(table.insert(top->fd, top.get()));
    EXPECT_LE(table.bytes(), HandleTable::kDirectLimit * sizeof(Handle *) + 1024);
    auto beyond = handle(kFar * 64);
    ASSERT_TRUE(table.insert(beyond->fd, beyond.get()));
    EXPECT_LE(table.bytes(), HandleTable::kDirectLimit * sizeof(Handle *) + 1024);
}

// Windows SOCKETs are multiples of 4: the array is indexed by value / 4, and
// a value that is not a multiple still finds its handle (in the hash map).
TEST(HandleTable, a_shifted_table_finds_every_value) {
    HandleTable table(2);
    std::vector<std::unique_ptr<Handle>> handles;
    for (socket_fd_t fd : {0, 4, 6, 8, 9, 4 * int(kFar) - 4, 4 * int(kFar)}) handles.push_back(handle(fd));
    for (auto &h : handles) ASSERT_TRUE(table.insert(h->fd, h.get()));
    for (auto &h : handles) EXPECT_EQ(table.find(h->fd), h.get()) << h->fd;
    for (socket_fd_t absent : {1, 2, 5, 7, 12, 10}) EXPECT_EQ(table.find(absent), nullptr) << absent;
    table.erase(6);
    table.erase(8);
    EXPECT_EQ(table.find(6), nullptr);
    EXPECT_EQ(table.find(8), nullptr);
    EXPECT_EQ(table.find(4), handles[1].get());
    EXPECT_EQ(table.find(9), handles[4].get());
    EXPECT_EQ(table.size(), handles.size() - 2);
    EXPECT_LE(table.bytes(), HandleTable::kDirectLimit * sizeof(Handle *) + 1024);
}
