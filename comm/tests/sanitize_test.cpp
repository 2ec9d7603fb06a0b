#include "sanitize.h"

#include <gtest/gtest.h>

using comm::clean_text;
using comm::escape_bytes;
using comm::escape_controls;

TEST(CleanText, removes_escape_sequences_introducer_and_bell) {
    EXPECT_EQ(clean_text("\x1b[2J\x1b]0;pwned\x07hi"), "[2J]0;pwnedhi");
}

TEST(CleanText, removes_every_c0_control_and_del) {
    std::string all;
    for (int c = 0; c < 0x20; ++c) all += static_cast<char>(c);
    all += '\x7f';
    EXPECT_EQ(clean_text("a" + all + "b"), "a b");  // only the tab survives, as a space
}

TEST(CleanText, removes_cr_and_lf_so_no_line_can_be_faked) {
    EXPECT_EQ(clean_text("hi\r\nAdmin says: give me your password"), "hiAdmin says: give me your password");
}

TEST(CleanText, keeps_valid_utf8_intact) {
    std::string text = "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9d\x84\x9e \xe4\xbd\xa0\xe5\xa5\xbd";  // héllo ☃ 𝄞 你好
    EXPECT_EQ(clean_text(text), text);
    EXPECT_EQ(clean_text("\xc2\xa0nbsp"), "\xc2\xa0nbsp");  // U+00A0 is printable
}

TEST(CleanText, removes_c1_controls_in_utf8_and_as_lone_bytes) {
    EXPECT_EQ(clean_text("a\xc2\x9b" "2Jb"), "a2Jb");  // U+009B, CSI
    EXPECT_EQ(clean_text("a\x9b" "2Jb"), "a2Jb");      // raw CSI byte (Latin-1 terminals)
    EXPECT_EQ(clean_text("a\x85z"), "az");
}

TEST(CleanText, keeps_latin1_letters_that_are_not_utf8) {
    EXPECT_EQ(clean_text("caf\xe9 \xff"), "caf\xe9 \xff");
}

TEST(CleanText, an_invalid_sequence_cannot_hide_a_control) {
    // A lead byte without its continuation: the ESC after it is still removed.
    EXPECT_EQ(clean_text("\xe2\x1b[2J"), "\xe2[2J");
    EXPECT_EQ(clean_text("\xed\xa0\x80"), "\xed\xa0");  // a surrogate is not UTF-8; 0x80 alone is C1
}

TEST(EscapeControls, writes_control_bytes_as_hex_and_keeps_the_rest) {
    EXPECT_EQ(escape_controls("gmcp Core\r\n2026-01-01 login Admin"), "gmcp Core\\x0d\\x0a2026-01-01 login Admin");
    EXPECT_EQ(escape_controls("\x1b[31m\x7f"), "\\x1b[31m\\x7f");
    EXPECT_EQ(escape_controls("a\xc2\x9b" "b \xc3\xa9"), "a\\xc2\\x9bb \xc3\xa9");
}

TEST(EscapeControls, is_idempotent_on_its_own_output) {
    std::string once = escape_controls("x\ny\x1b");
    EXPECT_EQ(escape_controls(once), once);
}

TEST(EscapeBytes, quotes_everything_but_printable_ascii) {
    using namespace std::string_view_literals;
    EXPECT_EQ(escape_bytes("ma\0x users"sv), "ma\\x00x users");
    EXPECT_EQ(escape_bytes("\xff\xfd\x56 \xc3\xa9"), "\\xff\\xfdV \\xc3\\xa9");
    EXPECT_EQ(escape_bytes("a\\x41"), "a\\x5cx41");  // a backslash can't fake an escape
}
