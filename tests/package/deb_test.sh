#!/usr/bin/env bash
# The Debian package: built by scripts/package, then checked without a
# container: its control fields and file list (dpkg-deb -I/-c), unpacked
# into a temporary root (dpkg -x), where its ior-mud must start on a free
# port and accept a connection, and its pkg-config file must build a
# consumer that runs against the unpacked shared library.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "deb_test: FAIL: $*" >&2; exit 1; }
deb=$(scripts/package deb | grep '\.deb$' | tail -1)
[ -f "$deb" ] || fail "no package built"
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

depends=$(dpkg-deb -f "$deb" Depends)
echo "Package: $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version); Depends: $depends"
for dep in libc6 libstdc++6 liburing2 zlib1g; do
  grep -q "\b$dep\b" <<<"$depends" || fail "Depends lacks $dep"
done
dpkg-deb -c "$deb" | awk '{print $6}' >"$work/files"
for f in ./usr/bin/ior-mud ./usr/include/io_reactor.h ./usr/include/io_reactor.hpp \
         ./usr/lib/libioreactor.a ./usr/lib/libioreactor.so ./usr/lib/libioreactor.so.0.1 \
         ./usr/lib/pkgconfig/ioreactor.pc ./usr/lib/pkgconfig/ioreactor-compat.pc ./usr/lib/cmake/ioreactor/ioreactor-config.cmake \
         ./usr/share/ioreactor/ior-mud.cfg ./usr/share/man/man3/io_reactor_wait.3 \
         ./usr/share/doc/ioreactor/CHANGELOG.md; do
  grep -qx -- "$f" "$work/files" || fail "missing $f"
done
! grep -E 'test|gtest|bench|/error\.3$' "$work/files" || fail "test, bench or stray man files packaged"
echo "file list: $(wc -l <"$work/files") entries, all expected ones present"

root=$work/root
dpkg -x "$deb" "$root"
"$root/usr/bin/ior-mud" --config "$root/usr/share/ioreactor/ior-mud.cfg" --port 127.0.0.1:0 \
  >"$work/out" 2>"$work/log" &
server=$!
for _ in $(seq 50); do grep -q listening "$work/out" && break; sleep 0.1; done
line=$(head -1 "$work/out")
port=$(grep -o ':[0-9]*' <<<"$line" | tail -1 | tr -d :)
[ -n "$port" ] || fail "ior-mud did not start: $(cat "$work/log")"
exec 3<>/dev/tcp/127.0.0.1/"$port" || fail "no connection on port $port"
timeout 5 head -c 1 <&3 >/dev/null || fail "no greeting on port $port"
exec 3>&-
kill "$server"; wait "$server" 2>/dev/null || true; server=
echo "unpacked ior-mud: '$line', accepted a connection, stopped by PID"

export PKG_CONFIG_PATH=$root/usr/lib/pkgconfig
cc -std=c11 -Wall -Wextra -Wpedantic -Werror tests/package/consumer/echo.c \
   $(pkg-config --cflags --libs ioreactor) -o "$work/echo"
echo "consumer from the unpacked package: $(LD_LIBRARY_PATH=$root/usr/lib "$work/echo")"
echo "deb_test: passed"
