#include "mccp3.h"

#include "deflate_stream.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

using comm::Decompressor;

namespace {

using comm::test_support::deflate_all;  // what a client sends

}  // namespace

TEST(Mccp3, inflates_a_flushed_stream_as_it_arrives) {
    Decompressor d;
    std::string out, after;
    std::string z = deflate_all("look\r\nsay hi\r\n", /*finish=*/false);
    EXPECT_EQ(d.feed(z, out, after), Decompressor::Status::inflating);
    EXPECT_EQ(out, "look\r\nsay hi\r\n");
    EXPECT_TRUE(after.empty());
    EXPECT_EQ(d.bytes_in(), z.size());
    EXPECT_EQ(d.bytes_out(), out.size());
}

TEST(Mccp3, split_at_every_byte_is_the_same) {
    std::string text;
    for (int i = 0; i < 200; ++i) text += "say line " + std::to_string(i) + "\r\n";
    std::string z = deflate_all(text);
    Decompressor d;
    std::string out, after;
    for (char c : z) d.feed(std::string_view(&c, 1), out, after);
    EXPECT_EQ(d.status(), Decompressor::Status::ended);
    EXPECT_EQ(out, text);
    EXPECT_TRUE(after.empty());
}

TEST(Mccp3, stream_end_returns_the_rest_as_plain_bytes) {
    Decompressor d;
    std::string out, after;
    std::string tail = "\xff\xfb\x01plain again\r\n";
    EXPECT_EQ(d.feed(deflate_all("compressed\r\n") + tail, out, after), Decompressor::Status::ended);
    EXPECT_EQ(out, "compressed\r\n");
    EXPECT_EQ(after, tail);
    d.feed("later", out, after);  // once ended, everything is plain
    EXPECT_EQ(after, tail + "later");
    EXPECT_EQ(out, "compressed\r\n");
}

TEST(Mccp3, a_decompression_bomb_is_cut_off_with_nothing_passed_on) {
    std::string zeros(10 * 1024 * 1024, '\0');
    std::string bomb = deflate_all(zeros, false, Z_BEST_COMPRESSION);
    ASSERT_LT(bomb.size(), 20 * 1024u);
    Decompressor d;
    std::string out, after;
    EXPECT_EQ(d.feed(bomb, out, after), Decompressor::Status::failed);
    EXPECT_TRUE(out.empty());
    EXPECT_NE(d.error().find("MCCP3: decompression bomb: " + std::to_string(bomb.size()) +
                             " compressed bytes inflate to more than"),
              std::string::npos)
        << d.error();
    EXPECT_EQ(d.feed("more", out, after), Decompressor::Status::failed);  // ignored from now on
    EXPECT_TRUE(out.empty() && after.empty());
}

TEST(Mccp3, the_ratio_limit_applies_per_chunk) {
    // 64 KiB of one letter fed in one piece: a few hundred bytes that would
    // inflate past ratio * input. With a generous ratio the same bytes pass.
    std::string z = deflate_all(std::string(64 * 1024, 'a'), false);
    Decompressor strict({1 << 20, 50, 1024});
    std::string out, after;
    EXPECT_EQ(strict.feed(z, out, after), Decompressor::Status::failed);
    EXPECT_NE(strict.error().find("inflate to more than " + std::to_string(z.size() * 50)), std::string::npos)
        << strict.error();

    Decompressor lax({1 << 20, 1100, 1024});
    EXPECT_EQ(lax.feed(z, out, after), Decompressor::Status::inflating) << lax.error();
    EXPECT_EQ(out.size(), 64 * 1024u);
}

TEST(Mccp3, the_absolute_cap_applies_whatever_the_ratio) {
    std::string text;
    for (int i = 0; i < 5000; ++i) text += std::to_string(i * 7919) + " ";  // compresses poorly
    std::string z = deflate_all(text, false);
    Decompressor d({8 * 1024, 1000, 1024});
    std::string out, after;
    EXPECT_EQ(d.feed(z, out, after), Decompressor::Status::failed);
    EXPECT_NE(d.error().find("inflate to more than 8192 bytes"), std::string::npos) << d.error();
}

TEST(Mccp3, garbage_is_a_clear_error) {
    Decompressor d;
    std::string out, after;
    EXPECT_EQ(d.feed("not zlib at all", out, after), Decompressor::Status::failed);
    EXPECT_EQ(d.error(), "MCCP3: bad compressed input (zlib: incorrect header check)");
    EXPECT_TRUE(out.empty());
}

TEST(Mccp3, corruption_mid_stream_is_a_clear_error) {
    std::string z = deflate_all("hello world, hello world, hello world\r\n");
    z[z.size() - 2] ^= 0x55;  // inside the Adler-32 trailer
    Decompressor d;
    std::string out, after;
    EXPECT_EQ(d.feed(z, out, after), Decompressor::Status::failed);
    EXPECT_NE(d.error().find("MCCP3: bad compressed input (zlib: "), std::string::npos);
}

TEST(Mccp3, a_preset_dictionary_is_refused) {
    z_stream z{};
    deflateInit(&z, Z_DEFAULT_COMPRESSION);
    deflateSetDictionary(&z, reinterpret_cast<const Bytef *>("dict"), 4);
    char in[] = "dict dict", buf[256];
    z.next_in = reinterpret_cast<Bytef *>(in);
    z.avail_in = sizeof in - 1;
    z.next_out = reinterpret_cast<Bytef *>(buf);
    z.avail_out = sizeof buf;
    deflate(&z, Z_FINISH);
    std::string stream(buf, sizeof buf - z.avail_out);
    deflateEnd(&z);
    Decompressor d;
    std::string out, after;
    EXPECT_EQ(d.feed(stream, out, after), Decompressor::Status::failed);
    EXPECT_NE(d.error().find("preset dictionary"), std::string::npos) << d.error();
}

TEST(Mccp3, is_available_with_zlib) { EXPECT_TRUE(Decompressor::available()); }
