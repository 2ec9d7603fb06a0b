// The output queue keeps bytes whole and in order, and never moves bytes it
// already holds (a send in flight may point at them).
#include "write_queue.h"

#include <gtest/gtest.h>

#include <string>

using ior::WriteQueue;

static std::string drain(WriteQueue &q, std::size_t step) {
    std::string got;
    while (!q.empty()) {
        std::size_t n = std::min(step, q.front_size());
        got.append(q.front_data(), n);
        q.pop(n);
    }
    return got;
}

TEST(WriteQueue, small_and_large_appends_come_out_in_order) {
    WriteQueue q;
    std::string expected;
    for (int i = 0; i < 1000; ++i) {
        std::string piece(static_cast<std::size_t>(i % 7 == 0 ? 9000 : i % 50), static_cast<char>('a' + i % 26));
        ASSERT_TRUE(q.append(piece.data(), piece.size()));
        expected += piece;
    }
    EXPECT_EQ(q.size(), expected.size());
    EXPECT_EQ(drain(q, 777), expected);
    EXPECT_EQ(q.size(), 0u);
    EXPECT_EQ(q.front_data(), nullptr);
}

TEST(WriteQueue, appending_does_not_move_queued_bytes) {
    WriteQueue q;
    q.append("hello", 5);
    const char *front = q.front_data();
    for (int i = 0; i < 100; ++i) q.append("0123456789", 10);
    EXPECT_EQ(q.front_data(), front);
    EXPECT_EQ(std::string(front, 5), "hello");
}

TEST(WriteQueue, empty_queue_costs_three_words) {
    EXPECT_LE(sizeof(WriteQueue), 3 * sizeof(void *));
}

// Output that backs up is sent in few pieces (each send takes the front
// piece), though a queue starts with a small chunk.
TEST(WriteQueue, backed_up_small_writes_come_out_in_few_pieces) {
    WriteQueue q;
    std::string expected;
    for (int i = 0; i < 100; ++i) {
        std::string line = "line " + std::to_string(i) + " of a long listing, padded to 40..\r\n";
        line.resize(40, '.');
        ASSERT_TRUE(q.append(line.data(), line.size()));
        expected += line;
    }
    int pieces = 0;
    std::string got;
    while (!q.empty()) {
        got.append(q.front_data(), q.front_size());
        q.pop(q.front_size());
        ++pieces;
    }
    EXPECT_EQ(got, expected);
    EXPECT_LE(pieces, 3) << "4,000 bytes in 40-byte writes";
}
