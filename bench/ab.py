#!/usr/bin/env python3
"""Alternating A/B of echo servers: the throughput workload (1,000
connections, or --conns, ping-ponging SIZE-byte messages), every peer once per round,
the order rotated by one place each round. Prints each round, then per peer
the median server CPU per message and rate, and the median of the per-round
ratios to the first peer ("paired").

A server's figures move with the machine's state, which drifts from round
to round (64 B echoes on this 2-core VM fall into a fast and a slow mode),
and with its place in the sequence; a ratio taken within one round, with
every peer in every place in turn, cancels both. Use it to decide between
two builds; bench/run is the report.

  bench/ab.py --build build-bench --size 16384 --rounds 8 \\
      raw=build-bench/bench/echo_raw_epoll \\
      old="/tmp/old/echo_ours --backend epoll" \\
      new="build-bench/bench/echo_ours --backend epoll"

`--port 0` is added to every server's command line. Only processes started
here are stopped, by PID.
"""
import argparse
import os
import shlex
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def parse_peer(spec):
    name, sep, command = spec.partition("=")
    if not sep or not name or not command:
        raise argparse.ArgumentTypeError("a peer is NAME=COMMAND, got %r" % spec)
    return name, shlex.split(command) + ["--port", "0"]


def one_run(build, argv, args, logdir, name):
    """(server CPU µs per message, messages per second) of one run."""
    srv = harness.Server(argv, os.path.join(logdir, name + ".log"))
    try:
        r = harness.pingpong(build, srv, args.conns, args.size, 0.5, args.seconds)
        return r["cpu_us"], r["msgs_per_s"]
    finally:
        srv.close()


def summary(results, base):
    """Per peer: medians, and the medians of per-round ratios to `base`."""
    med = lambda runs, k: statistics.median(r[k] for r in runs)
    for name, runs in results.items():
        cpu, rate = med(runs, 0), med(runs, 1)
        paired_cpu = statistics.median(r[0] / b[0] for r, b in zip(runs, results[base]))
        paired_rate = statistics.median(r[1] / b[1] for r, b in zip(runs, results[base]))
        print("%-12s cpu %6.2f us/msg (%.3fx)  rate %8d msgs/s (%.3fx)  paired: cpu %.3fx  rate %.3fx"
              % (name, cpu, cpu / med(results[base], 0), rate, rate / med(results[base], 1),
                 paired_cpu, paired_rate))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="build dir with bench/loadgen")
    ap.add_argument("--size", type=int, default=16384)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("peers", nargs="+", type=parse_peer, help="NAME=COMMAND; the first is the baseline")
    args = ap.parse_args()
    names = [name for name, _ in args.peers]
    if len(set(names)) != len(names):
        ap.error("peer names must differ")
    logdir = tempfile.mkdtemp(prefix="ior-ab-")
    print("load average at start: %s" % harness.loadavg(), flush=True)
    results = {name: [] for name in names}
    for rnd in range(args.rounds):
        shift = rnd % len(args.peers)
        for name, argv in args.peers[shift:] + args.peers[:shift]:
            results[name].append(one_run(args.build, argv, args, logdir, name))
        print("round %d: %s" % (rnd + 1, "  ".join("%s %.2f/%d" % (n, *results[n][-1]) for n in names)),
              flush=True)
    print("load average at end: %s" % harness.loadavg())
    summary(results, names[0])


if __name__ == "__main__":
    main()
