#!/usr/bin/env python3
"""Round-trip latency of one active client beside N idle connections, the
peers taking turns run after run, for comparing p99s whose run-to-run
spread is larger than their difference (bench/run's idle workload gives
each peer its 5 runs in a row with every other workload in between).

  bench/latency.py --build build-bench [--runs 8] [--idle 19000]
                   [--peers raw-epoll,ours-epoll,ours-io_uring]

Prints each run's p50/p99 (µs), then per peer the median p50 and p99 and
the median p99 ratio against the first peer's own run of the same round.
Only processes started here are signalled, by PID.
"""
import argparse
import os
import statistics
import tempfile
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def one_run(build, argv, idle, logdir):
    srv = harness.Server(argv, os.path.join(logdir, "server.log"))
    try:
        holders = harness.Holders(build, srv.port, idle)
        try:
            r = harness.loadgen(build, ["pingpong", "--port", srv.port, "--conns", 1, "--size", 64,
                                        "--warmup", 0.3, "--duration", 2.0], timeout=60)
            return r["p50_us"], r["p99_us"]
        finally:
            holders.close()
    finally:
        srv.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--idle", type=int, default=19000)
    ap.add_argument("--peers", default="raw-epoll,ours-epoll,ours-io_uring")
    args = ap.parse_args()
    peers = dict(harness.discover_peers(args.build))
    names = args.peers.split(",")
    logdir = tempfile.mkdtemp(prefix="ior-latency-")
    seen = {p: [] for p in names}
    print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
    for run in range(args.runs):
        for p in names:
            seen[p].append(one_run(args.build, peers[p], args.idle, logdir))
        print("run %d: %s" % (run + 1, "  ".join("%s %.1f/%.1f" % (p, *seen[p][-1]) for p in names)),
              flush=True)
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())
    first = names[0]
    for p in names:
        ratios = [b[1] / a[1] for a, b in zip(seen[first], seen[p])]
        print("%-14s p50 %.1f  p99 %.1f  p99 vs %s (per round, median) %.2fx  p99 runs %s" % (
            p, statistics.median(x[0] for x in seen[p]), statistics.median(x[1] for x in seen[p]),
            first, statistics.median(ratios), sorted(round(x[1]) for x in seen[p])))


if __name__ == "__main__":
    main()
