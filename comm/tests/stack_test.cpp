// The transport stack's plumbing with toy layers: which bytes go up, which
// go down through which layers, and how the layers' states combine.
#include "stack.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

using comm::Stack;
using comm::Transport;
using comm::TransportState;

namespace {

// Wraps what it sends in "<tag:...>" and strips the same from what it
// receives; "!hs" received while handshaking opens it and answers
// "hello-tag" down; "!fail-tag" fails it; "!close-tag" closes it.
class Toy final : public Transport {
public:
    Toy(std::string tag, bool handshake) : tag_(std::move(tag)) {
        if (!handshake) state_ = TransportState::open;
    }
    void receive(std::string_view in, std::string &up, std::string &down) override {
        if (state_ == TransportState::failed) return;
        std::string s(in);
        if (state_ == TransportState::handshaking) {
            if (s.rfind("!hs", 0) != 0) return held_ += s, void();
            state_ = TransportState::open;
            down += "hello-" + tag_;
            s = s.substr(3);
            if (!held_.empty()) send(std::exchange(held_, {}), down);
        }
        if (s == "!fail-" + tag_) return state_ = TransportState::failed, error_ = tag_ + " failed", void();
        if (s == "!close-" + tag_) return state_ = TransportState::closed, void();
        up += s;
    }
    void send(std::string_view in, std::string &down) override {
        if (state_ == TransportState::handshaking) return held_.append(in), void();
        down += "<" + tag_ + ":" + std::string(in) + ">";
    }
    void close(std::string &down) override {
        down += "bye-" + tag_;
        state_ = TransportState::closing;
    }
    TransportState state() const override { return state_; }
    const std::string &error() const override { return error_; }
    std::size_t buffered() const override { return held_.size(); }
    const char *name() const override { return "toy"; }

private:
    std::string tag_, held_, error_;
    TransportState state_ = TransportState::handshaking;
};

}  // namespace

TEST(Stack, empty_stack_passes_bytes_both_ways) {
    Stack s;
    std::string up, down;
    s.receive("abc", up, down);
    s.send("xyz", down);
    EXPECT_EQ(up, "abc");
    EXPECT_EQ(down, "xyz");
    EXPECT_EQ(s.state(), TransportState::open);
}

TEST(Stack, output_is_encoded_from_the_top_layer_down) {
    Stack s;
    s.push(std::make_unique<Toy>("a", false));  // bottom
    s.push(std::make_unique<Toy>("b", false));
    std::string down;
    s.send("x", down);
    EXPECT_EQ(down, "<a:<b:x>>");
}

TEST(Stack, a_layers_own_answer_goes_only_through_the_layers_below_it) {
    Stack s;
    s.push(std::make_unique<Toy>("a", false));
    s.push(std::make_unique<Toy>("b", true));
    s.push(std::make_unique<Toy>("c", false));
    EXPECT_EQ(s.state(), TransportState::handshaking);
    EXPECT_EQ(std::string(s.handshaking()->name()), "toy");
    std::string up, down;
    s.receive("!hsdata", up, down);
    EXPECT_EQ(down, "<a:hello-b>");  // b's answer, encoded by a only
    EXPECT_EQ(up, "data");
    EXPECT_EQ(s.state(), TransportState::open);
    EXPECT_EQ(s.handshaking(), nullptr);
}

TEST(Stack, output_before_a_handshake_ends_counts_as_buffered_and_goes_after_it) {
    Stack s;
    s.push(std::make_unique<Toy>("a", true));
    std::string up, down;
    s.send("early", down);
    EXPECT_EQ(down, "");
    EXPECT_EQ(s.buffered(), 5u);
    s.receive("!hs", up, down);
    EXPECT_EQ(down, "hello-a<a:early>");
    EXPECT_EQ(s.buffered(), 0u);
}

TEST(Stack, failure_anywhere_is_the_links_failure) {
    Stack s;
    s.push(std::make_unique<Toy>("a", false));
    s.push(std::make_unique<Toy>("b", false));
    std::string up, down;
    s.receive("!fail-b", up, down);  // a passes it up, b fails
    EXPECT_EQ(s.state(), TransportState::failed);
    ASSERT_NE(s.failed(), nullptr);
    EXPECT_EQ(s.failed()->error(), "b failed");
    EXPECT_EQ(up, "");
}

TEST(Stack, closed_wins_over_handshaking_and_close_skips_closed_layers) {
    Stack s;
    s.push(std::make_unique<Toy>("a", false));
    s.push(std::make_unique<Toy>("b", false));
    std::string up, down;
    s.receive("!close-b", up, down);  // b closed by the peer
    EXPECT_EQ(s.state(), TransportState::closed);
    s.close(down);
    EXPECT_EQ(down, "bye-a");  // only a still has something to say
}

TEST(Stack, close_runs_from_the_top_each_word_encoded_below) {
    Stack s;
    s.push(std::make_unique<Toy>("a", false));
    s.push(std::make_unique<Toy>("b", false));
    std::string down;
    s.close(down);
    EXPECT_EQ(down, "<a:bye-b>bye-a");
    EXPECT_EQ(s.state(), TransportState::closing);
}
