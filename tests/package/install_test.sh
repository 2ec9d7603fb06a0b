#!/usr/bin/env bash
# Installs the library into a temporary prefix and builds out-of-tree
# consumers against it: a C and a C++ program, with find_package and with
# pkg-config, each linked shared and static, and runs every one (an echo
# round trip over loopback). Also checks the shared library's exports and
# SONAME and the version everywhere it is written; a driver built through
# the compat target (find_package ioreactor::compat, pkg-config
# ioreactor-compat) in readiness mode; then the same programs
# built with ioreactor as a subproject (add_subdirectory, FetchContent).
# Usage: tests/package/install_test.sh [build dir]   (default build-pkg)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-pkg}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
# Runs a command quietly; on failure shows its output (ninja reports on stdout).
quiet() { "$@" >"$work/log" 2>&1 || { cat "$work/log"; fail "$*"; }; }
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }

quiet cmake -S . -B "$build" -G Ninja -DIOR_WERROR=ON -DIOR_TESTS=OFF
quiet cmake --build "$build" -j "$(nproc)"
quiet cmake --install "$build" --prefix "$prefix"
libdir=$(sed -n 's/^libdir=\${prefix}\///p' "$build/ioreactor.pc")

# The version: header macros = package version = pkg-config = SONAME.
v() { sed -n "s/^#define IO_REACTOR_VERSION_$1 \([0-9]*\)$/\1/p" include/io_reactor.h; }
version="$(v MAJOR).$(v MINOR).$(v PATCH)"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
[ "$(pkg-config --modversion ioreactor)" = "$version" ] || fail "pkg-config version != $version"
grep -q "PACKAGE_VERSION \"$version\"" "$prefix/$libdir/cmake/ioreactor/ioreactor-config-version.cmake" \
  || fail "CMake package version != $version"
soname=$(readelf -d "$prefix/$libdir/libioreactor.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libioreactor.so.$(v MAJOR).$(v MINOR)" ] || fail "SONAME $soname"
echo "version $version, SONAME $soname"

# Exports: the public API only.
exports=$(nm -D --defined-only "$prefix/$libdir/libioreactor.so" | awk '{print $3}')
others=$(grep -v '^io_reactor_' <<<"$exports" || true)
[ -z "$others" ] || fail "exported beyond io_reactor_*: $others"
declared=$(grep -o 'IO_REACTOR_API [^(]*[ *]io_reactor_[a-z_]*(' include/io_reactor.h | sed 's/.*[ *]//' |
           grep -o 'io_reactor_[a-z_]*' | sort)
[ "$declared" = "$(sort <<<"$exports")" ] || fail "exports differ from the header's declarations"
echo "exports: $(wc -l <<<"$exports") symbols, all io_reactor_*, as declared"

[ -s "$prefix/share/ioreactor/ior-mud.cfg" ] && [ -x "$prefix/bin/ior-mud" ] || fail "server or config missing"
"$prefix/bin/ior-mud" --config "$prefix/share/ioreactor/ior-mud.cfg" --list-backends >/dev/null

run() {  # name, binary, expect shared (yes/no)
  local uses
  uses=$(readelf -d "$2" | grep -c 'NEEDED.*libioreactor' || true)
  [ "$3" = yes ] && [ "$uses" = 0 ] && fail "$1 does not use the shared library"
  [ "$3" = no ] && [ "$uses" != 0 ] && fail "$1 uses the shared library"
  LD_LIBRARY_PATH=$prefix/$libdir timeout 20 "$2" >"$work/out" || fail "$1 exited $?"
  echo "$1: $(cat "$work/out")"
}

# find_package: shared (the default) and static.
for kind in shared static; do
  static=OFF; [ $kind = static ] && static=ON
  quiet cmake -S tests/package/consumer -B "$work/cmake-$kind" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
        -DIOREACTOR_USE_STATIC_LIBS=$static
  quiet cmake --build "$work/cmake-$kind"
  shared=yes; [ $kind = static ] && shared=no
  run "find_package $kind C" "$work/cmake-$kind/echo_c" $shared
  run "find_package $kind C++" "$work/cmake-$kind/echo_cpp" $shared
  run "find_package $kind compat (ioreactor::compat)" "$work/cmake-$kind/compat_c" $shared
  quiet cmake -S tests/package/consumer_c -B "$work/cmake-c-$kind" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
        -DIOREACTOR_USE_STATIC_LIBS=$static
  quiet cmake --build "$work/cmake-c-$kind"
  run "find_package $kind C, C-only project" "$work/cmake-c-$kind/echo_c_only" $shared
done

# pkg-config, by hand as a Makefile would: shared, then static (-Bstatic
# so the linker takes the .a although the .so sits beside it).
src=tests/package/consumer
warn="-Wall -Wextra -Wpedantic -Werror"
cc -std=c11 $warn $src/echo.c $(pkg-config --cflags --libs ioreactor) -o "$work/pc-c-shared"
c++ -std=c++20 $warn $src/echo.cpp $(pkg-config --cflags --libs ioreactor) -o "$work/pc-cpp-shared"
cc -std=c11 $warn $src/echo.c $(pkg-config --cflags --static ioreactor) \
   -Wl,-Bstatic $(pkg-config --libs --static ioreactor) -Wl,-Bdynamic -o "$work/pc-c-static"
c++ -std=c++20 $warn $src/echo.cpp $(pkg-config --cflags --static ioreactor) \
   -Wl,-Bstatic $(pkg-config --libs --static ioreactor) -Wl,-Bdynamic -o "$work/pc-cpp-static"
# The compat module: the readiness-mode definition comes with its flags.
pkg-config --cflags ioreactor-compat | grep -q -- '-DIO_REACTOR_READINESS' || fail "ioreactor-compat.pc lacks the definition"
cc -std=c11 $warn $src/compat.c $(pkg-config --cflags --libs ioreactor-compat) -o "$work/pc-compat-shared"
run "pkg-config shared C" "$work/pc-c-shared" yes
run "pkg-config shared compat (ioreactor-compat)" "$work/pc-compat-shared" yes
run "pkg-config shared C++" "$work/pc-cpp-shared" yes
run "pkg-config static C" "$work/pc-c-static" no
run "pkg-config static C++" "$work/pc-cpp-static" no
# From source in a parent project: add_subdirectory and FetchContent.
for how in add_subdirectory FetchContent; do
  quiet cmake -S tests/package/subproject -B "$work/$how" -G Ninja -DHOW=$how -DIOR_SOURCE="$PWD"
  quiet cmake --build "$work/$how"
  run "$how C" "$work/$how/echo_c" no
  run "$how C++" "$work/$how/echo_cpp" no
done
echo "install_test: all consumers passed"
