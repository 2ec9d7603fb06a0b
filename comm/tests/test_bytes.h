// Protocol bytes written as numbers, for the unit tests:
// bytes({IAC, WILL, OPT_ECHO}), bytes({0x0d, 0x0a, 0x00}).
#pragma once

#include <initializer_list>
#include <string>

namespace comm::test_support {

inline std::string bytes(std::initializer_list<int> list) {
    std::string s;
    for (int b : list) s += static_cast<char>(b);
    return s;
}

}  // namespace comm::test_support
