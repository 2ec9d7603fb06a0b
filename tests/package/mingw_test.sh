#!/usr/bin/env bash
# The mingw build, installed: checks the DLL (exports only io_reactor_*, no
# mingw runtime DLLs needed) and builds the C and C++ consumers with the
# mingw toolchain, with find_package and pkg-config, against the DLL and
# the static library, then runs them under wine (an echo round trip; the
# compat consumer: readiness mode, a listener readable before accept()).
# Called by .ci/windows.sh with its build dir, inside its wine prefix.
# Usage: tests/package/mingw_test.sh [build dir]   (default build-win)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-build-win}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
# Runs a command quietly; on failure shows its output (ninja reports on stdout).
quiet() { "$@" >"$work/log" 2>&1 || { cat "$work/log"; fail "$*"; }; }
fail() { echo "mingw_test: FAIL: $*" >&2; exit 1; }
export WINEDEBUG=-all WINEPREFIX=${WINEPREFIX:-$PWD/$dir/wineprefix}

quiet cmake --install "$dir" --prefix "$prefix"
for f in bin/libioreactor.dll bin/ior-mud.exe lib/libioreactor.a lib/libioreactor.dll.a \
         include/io_reactor.h lib/cmake/ioreactor/ioreactor-config.cmake lib/pkgconfig/ioreactor.pc \
         share/ioreactor/ior-mud.cfg; do
  [ -s "$prefix/$f" ] || fail "missing $f"
done
dll=$prefix/bin/libioreactor.dll
imports=$(x86_64-w64-mingw32-objdump -p "$dll" | sed -n 's/.*DLL Name: //p' | tr '\n' ' ')
grep -Eiq 'libstdc|libgcc|winpthread' <<<"$imports" && fail "the DLL needs mingw runtime DLLs: $imports"
exports=$(x86_64-w64-mingw32-objdump -p "$dll" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' |
          sed -n 's/^[[:space:]]*\[ *[0-9]*\] \([A-Za-z_][A-Za-z0-9_]*\)$/\1/p')
[ -n "$exports" ] || fail "no exports found"
others=$(grep -v '^io_reactor_' <<<"$exports" || true)
[ -z "$others" ] || fail "DLL exports beyond io_reactor_*: $others"
echo "DLL: $(wc -l <<<"$exports") exports, all io_reactor_*; imports: $imports"

# The DLL, and for the program linked without -static the mingw runtime
# DLLs (libstdc++, winpthread), as a user would ship them beside it.
winepath="$(winepath -w "$prefix/bin")"
for d in /usr/lib/gcc/x86_64-w64-mingw32/*-posix /usr/x86_64-w64-mingw32/lib; do
  winepath="$winepath;$(winepath -w "$d")"
done
run() {  # name, exe, expect the DLL (yes/no)
  local uses
  uses=$(x86_64-w64-mingw32-objdump -p "$2" | grep -c 'DLL Name: libioreactor' || true)
  [ "$3" = yes ] && [ "$uses" = 0 ] && fail "$1 does not use the DLL"
  [ "$3" = no ] && [ "$uses" != 0 ] && fail "$1 uses the DLL"
  WINEPATH="$winepath" timeout 60 wine "$2" >"$work/out" 2>"$work/err" ||
    fail "$1 exited $?: $(cat "$work/err")"
  echo "$1: $(tr -d '\r' <"$work/out")"
}

for kind in shared static; do
  static=OFF; [ $kind = static ] && static=ON
  quiet cmake -S tests/package/consumer -B "$work/cmake-$kind" -G Ninja \
        -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/mingw-w64.cmake" \
        -Dioreactor_DIR="$prefix/lib/cmake/ioreactor" -DIOREACTOR_USE_STATIC_LIBS=$static
  quiet cmake --build "$work/cmake-$kind"
  shared=yes; [ $kind = static ] && shared=no
  run "mingw find_package $kind C" "$work/cmake-$kind/echo_c.exe" $shared
  run "mingw find_package $kind C++" "$work/cmake-$kind/echo_cpp.exe" $shared
  run "mingw find_package $kind compat (ioreactor::compat)" "$work/cmake-$kind/compat_c.exe" $shared
done

# pkg-config: the .pc file is the same text on every host.
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig PKG_CONFIG_PATH=
src=tests/package/consumer
warn="-Wall -Wextra -Wpedantic -Werror"
for lang in c cpp; do
  compiler=x86_64-w64-mingw32-gcc-posix std=c11
  [ $lang = cpp ] && compiler=x86_64-w64-mingw32-g++-posix std=c++20
  $compiler -std=$std $warn $src/echo.$lang $(pkg-config --cflags --libs ioreactor) \
    -o "$work/pc-$lang-shared.exe"
  $compiler -std=$std $warn $src/echo.$lang $(pkg-config --cflags --static ioreactor) \
    -static $(pkg-config --libs --static ioreactor) -o "$work/pc-$lang-static.exe"
  run "mingw pkg-config shared $lang" "$work/pc-$lang-shared.exe" yes
  run "mingw pkg-config static $lang" "$work/pc-$lang-static.exe" no
done
# A driver written to the original header, through ioreactor-compat.pc.
x86_64-w64-mingw32-gcc-posix -std=c11 $warn $src/compat.c $(pkg-config --cflags --libs ioreactor-compat) \
  -o "$work/pc-compat-shared.exe"
run "mingw pkg-config shared compat (ioreactor-compat)" "$work/pc-compat-shared.exe" yes
echo "mingw_test: all consumers passed"
