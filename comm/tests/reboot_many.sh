#!/bin/sh
# 100 hot reboots in a row under chat traffic, on every Linux backend:
# no lost line, no dropped player. Bounded: each backend gets 300 s.
#   comm/tests/reboot_many.sh build/comm/ior-mud [COUNT]
set -eu
bin=${1:?usage: reboot_many.sh PATH/TO/ior-mud [COUNT]}
count=${2:-100}
here=$(dirname "$0")
status=0
for backend in epoll poll io_uring; do
    rc=0
    timeout 300 python3 "$here/reboot_integration.py" "$bin" "$backend" --reboots "$count" \
        test_many_reboots_under_chat || rc=$?
    [ "$rc" = 77 ] && continue
    [ "$rc" = 0 ] || status=1
done
exit $status
