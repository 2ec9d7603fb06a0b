#!/usr/bin/env bash
# Windows build: cross-compile with mingw-w64 and run the whole test suite
# (the same conformance suite as Linux, plus tests/windows) as .exe files
# under wine. Own build dir: build-win (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-win}

for tool in x86_64-w64-mingw32-g++-posix wine; do
  command -v "$tool" >/dev/null || { echo "windows.sh: $tool not found" >&2; exit 1; }
done

export WINEDEBUG=-all
# A private prefix, created on first use (~10 s), so tests never touch a
# user's ~/.wine.
own_prefix=${WINEPREFIX:+no}
export WINEPREFIX=${WINEPREFIX:-$PWD/$dir/wineprefix}
mkdir -p "$WINEPREFIX"

cmake -S . -B "$dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake >/dev/null
cmake --build "$dir" -j "$(nproc)"
# Boot the prefix once, outside any test's timeout, and keep its wineserver
# up for the whole run: one server start instead of one per test process
# (about 5 s each), and no test starts while a server is shutting down.
wineserver -p 2>/dev/null || true  # already up: fine
wine cmd /c exit >/dev/null 2>&1 || true
[ "${own_prefix:-yes}" = yes ] && trap 'wineserver -k 2>/dev/null || true' EXIT
# One test at a time: wine's server is shared, and timing-sensitive tests
# (timeouts, wakeups) need the CPU they ask for.
ctest --test-dir "$dir" --output-on-failure --timeout 300
# Packaging: install this build, build consumers with the mingw toolchain
# against it (DLL and static, find_package and pkg-config), run them here.
tests/package/mingw_test.sh "$dir"
