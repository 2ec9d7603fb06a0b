#!/usr/bin/env bash
# The public headers compile warning-free (-Wall -Wextra -Wpedantic
# -Werror) with gcc and clang, as C (C99, C11, C17) and C++ (C++11, C++17,
# C++20; io_reactor.hpp needs C++20), and with mingw-w64 where installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
flags="-Wall -Wextra -Wpedantic -Werror -fsyntax-only -Iinclude"
checked=0
check() {  # compiler, language, standard, header
  command -v "$1" >/dev/null || return 0
  echo "#include <$4>" | "$1" $flags -x "$2" -std="$3" - || { echo "header_warnings: $1 -std=$3 $4 FAILED" >&2; exit 1; }
  checked=$((checked + 1))
}
for cc in gcc clang x86_64-w64-mingw32-gcc-posix; do
  for std in c99 c11 c17; do check $cc c $std io_reactor.h; done
done
for cxx in g++ clang++ x86_64-w64-mingw32-g++-posix; do
  for std in c++11 c++17 c++20; do check $cxx c++ $std io_reactor.h; done
  check $cxx c++ c++20 io_reactor.hpp
done
[ "$checked" -ge 14 ] || { echo "header_warnings: only $checked compilers/standards found" >&2; exit 1; }
echo "header_warnings: $checked compiler/standard/header combinations warning-free"
