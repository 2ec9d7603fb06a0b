#include "mccp.h"

#include <gtest/gtest.h>
#include <zlib.h>

namespace {

// Inflates a stream incrementally, like a client would.
struct Inflater {
    z_stream z{};
    bool ended = false;
    Inflater() { inflateInit(&z); }
    ~Inflater() { inflateEnd(&z); }
    std::string feed(const std::string &in) {
        std::string out;
        z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
        z.avail_in = static_cast<uInt>(in.size());
        char buf[4096];
        while (z.avail_in > 0 || z.avail_out == 0) {
            z.next_out = reinterpret_cast<Bytef *>(buf);
            z.avail_out = sizeof buf;
            int rc = inflate(&z, Z_SYNC_FLUSH);
            out.append(buf, sizeof buf - z.avail_out);
            if (rc == Z_STREAM_END) { ended = true; break; }
            if (rc != Z_OK) break;
        }
        return out;
    }
};

}  // namespace

TEST(Mccp, each_write_decodes_immediately) {
    comm::Compressor c;
    ASSERT_TRUE(c.ok());
    Inflater in;
    EXPECT_EQ(in.feed(c.compress("hello\r\n")), "hello\r\n");
    EXPECT_EQ(in.feed(c.compress("world\r\n")), "world\r\n");
}

TEST(Mccp, large_output_round_trips_and_compresses) {
    comm::Compressor c;
    Inflater in;
    std::string text;
    for (int i = 0; i < 20000; ++i) text += "The quick brown fox " + std::to_string(i % 10) + "\r\n";
    std::string z = c.compress(text);
    EXPECT_LT(z.size(), text.size() / 4);
    EXPECT_EQ(in.feed(z), text);
}

TEST(Mccp, finish_ends_the_stream) {
    comm::Compressor c;
    Inflater in;
    std::string out = in.feed(c.compress("bye"));
    out += in.feed(c.finish());
    EXPECT_EQ(out, "bye");
    EXPECT_TRUE(in.ended);
    EXPECT_EQ(c.compress("more"), "");  // a finished stream takes nothing more
}

TEST(Mccp, restart_begins_a_new_stream_a_fresh_client_decodes) {
    comm::Compressor c;
    for (int round = 0; round < 3; ++round) {
        Inflater in;  // each compressed stretch is a new stream for the client
        std::string text = "round " + std::to_string(round) + " text\r\n";
        std::string out = in.feed(c.compress(text));
        out += in.feed(c.finish());
        EXPECT_EQ(out, text);
        EXPECT_TRUE(in.ended);
        ASSERT_TRUE(c.restart());
    }
}
