#include "line_buffer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

struct Lines {
    comm::LineBuffer buf;
    std::vector<std::string> lines;
    std::vector<bool> cut;
    explicit Lines(std::size_t max = 64) : buf(max) {}
    void feed(std::string_view s) {
        buf.feed(s, [this](std::string_view l, bool c) {
            lines.emplace_back(l);
            cut.push_back(c);
        });
    }
};

}  // namespace

TEST(LineBuffer, every_line_ending_spelling_ends_one_line) {
    Lines l;
    l.feed(std::string("a\nb\r\nc\rd\r", 9) + std::string("\0e\n", 3));
    EXPECT_EQ(l.lines, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST(LineBuffer, crlf_split_across_reads_is_one_line_end) {
    Lines l;
    l.feed("hello\r");
    l.feed("\nworld\r");
    l.feed(std::string("\0", 1));
    l.feed("x\n");
    EXPECT_EQ(l.lines, (std::vector<std::string>{"hello", "world", "x"}));
}

TEST(LineBuffer, empty_lines_are_delivered) {
    Lines l;
    l.feed("\n\r\n");
    EXPECT_EQ(l.lines, (std::vector<std::string>{"", ""}));
}

TEST(LineBuffer, partial_line_waits_for_its_end) {
    Lines l;
    l.feed("sa");
    l.feed("y hi");
    EXPECT_TRUE(l.lines.empty());
    EXPECT_EQ(l.buf.pending(), 6u);
    l.feed("\n");
    EXPECT_EQ(l.lines, (std::vector<std::string>{"say hi"}));
}

TEST(LineBuffer, long_line_is_cut_and_flagged_and_memory_stays_capped) {
    Lines l(16);
    l.feed(std::string(100000, 'x'));
    EXPECT_EQ(l.buf.pending(), 16u);
    l.feed("\nnext\n");
    ASSERT_EQ(l.lines.size(), 2u);
    EXPECT_EQ(l.lines[0], std::string(16, 'x'));
    EXPECT_TRUE(l.cut[0]);
    EXPECT_EQ(l.lines[1], "next");
    EXPECT_FALSE(l.cut[1]);
}

TEST(LineBuffer, backspace_and_delete_erase) {
    Lines l;
    l.feed("sayy\b hj\x7fi\n");
    EXPECT_EQ(l.lines, (std::vector<std::string>{"say hi"}));
}

// A NUL inside a line is telnet padding (RFC 854: NUL is a no-op on the
// NVT), never data: it is dropped, so `say\0 hi` is the command `say hi`
// and no NUL reaches the application (or another user's terminal).
TEST(LineBuffer, stray_nul_inside_a_line_is_dropped) {
    Lines l;
    l.feed(std::string("say\0 hi\n", 8));
    l.feed(std::string("\0\0x\0\n", 5));
    EXPECT_EQ(l.lines, (std::vector<std::string>{"say hi", "x"}));
    for (const std::string &line : l.lines) EXPECT_EQ(line.find('\0'), std::string::npos);
}

// LF LF is two line ends, not a two-byte spelling of one (only CR LF and
// CR NUL are pairs): the blank line between is delivered.
TEST(LineBuffer, blank_lines_between_lines_are_delivered) {
    Lines l;
    l.feed("a\n\nb\n");
    EXPECT_EQ(l.lines, (std::vector<std::string>{"a", "", "b"}));
    Lines crlf;
    crlf.feed("a\r\n\r\nb\r\n");
    EXPECT_EQ(crlf.lines, (std::vector<std::string>{"a", "", "b"}));
    Lines cr;
    cr.feed("a\r\rb\r");
    EXPECT_EQ(cr.lines, (std::vector<std::string>{"a", "", "b"}));
    Lines lfcr;  // LF then CR: two line ends, the CR's pair pending
    lfcr.feed("a\n\rb\n");
    EXPECT_EQ(lfcr.lines, (std::vector<std::string>{"a", "", "b"}));
}

// A NUL does not end a line and does not count against the cap.
TEST(LineBuffer, nul_padding_does_not_count_toward_the_cap) {
    Lines l(4);
    l.feed(std::string("a\0b\0c\0d\0\n", 9));
    ASSERT_EQ(l.lines.size(), 1u);
    EXPECT_EQ(l.lines[0], "abcd");
    EXPECT_FALSE(l.cut[0]);
}
