// Assembles input lines from data bytes. A line ends at CR, LF, CR LF or
// CR NUL (the telnet spellings); the byte after a CR is swallowed if it is
// the LF or NUL that completes the pair, even when it comes in a later read.
// A line longer than the cap is cut: the first `max_length` bytes are
// delivered, flagged as cut, and the rest up to the line end is dropped, so
// memory never grows with the line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace comm {

class LineBuffer {
public:
    explicit LineBuffer(std::size_t max_length) : max_length_(max_length) {}

    // Calls on_line(std::string_view line, bool cut) for each completed line.
    template <typename OnLine>
    void feed(std::string_view data, OnLine &&on_line) {
        for (char c : data) {
            if (after_cr_) {
                after_cr_ = false;
                if (c == '\n' || c == '\0') continue;
            }
            if (c == '\r' || c == '\n') {
                after_cr_ = (c == '\r');
                on_line(std::string_view(partial_), cut_);
                partial_.clear();
                cut_ = false;
            } else {
                add(c);
            }
        }
    }

    std::size_t pending() const { return partial_.size(); }

    // For a hot reboot (reboot.h): the unfinished line and its flags.
    const std::string &partial() const { return partial_; }
    bool after_cr() const { return after_cr_; }
    bool cut() const { return cut_; }
    void restore(std::string partial, bool after_cr, bool cut) {
        partial_ = std::move(partial);
        if (partial_.size() > max_length_) partial_.resize(max_length_);
        after_cr_ = after_cr;
        cut_ = cut;
    }

private:
    void add(char c) {
        if (c == '\b' || c == '\x7f') {  // character-mode clients send erase
            if (!partial_.empty() && !cut_) partial_.pop_back();
        } else if (c == '\0') {
            // stray NUL: telnet padding, never data
        } else if (partial_.size() < max_length_) {
            partial_ += c;
        } else {
            cut_ = true;
        }
    }

    std::size_t max_length_;
    std::string partial_;
    bool after_cr_ = false;
    bool cut_ = false;
};

}  // namespace comm
