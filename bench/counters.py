#!/usr/bin/env python3
"""Load-independent cost per echoed message: system calls and CPU time of
the server, counted by `perf stat` on its PID while loadgen drives it.

Wall-clock rates move with whatever else the machine runs; the number of
system calls a server makes per message does not, and its CPU time per
message moves much less. Ratios are against raw-epoll measured in the same
invocation. Hardware counters (instructions, cycles) are used when the
machine has them (`perf stat -e instructions` says "not supported" in most
VMs).

  bench/counters.py --build build-bench [--peers ours-epoll,ours-io_uring]
                    [--sizes 64,16384] [--conns 1000] [--seconds 2] [--runs 3]
                    [--record DIR]   # also `perf record` each server into DIR

Only processes started here are signalled, by PID.
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

EVENTS = ["raw_syscalls:sys_enter", "task-clock", "instructions", "cycles"]
# The system calls an echo loop makes, counted one by one.
CALLS = ["epoll_wait", "epoll_ctl", "recvfrom", "sendto", "io_uring_enter"]
EVENTS += ["syscalls:sys_enter_" + c for c in CALLS]


def perf_attach(pid, out_path, record_path=None):
    if record_path:
        argv = ["perf", "record", "-q", "-g", "-F", "2999", "-o", record_path, "-p", str(pid)]
    else:
        argv = ["perf", "stat", "-x", ",", "-o", out_path, "-e", ",".join(EVENTS), "-p", str(pid)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def parse_stat(path):
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 3 or line.startswith("#"):
                continue
            try:
                counts[parts[2]] = float(parts[0])
            except ValueError:
                pass  # <not supported>
    return counts


def measure(build, peer, argv, size, conns, seconds, record_dir):
    logdir = tempfile.mkdtemp(prefix="ior-counters-")
    srv = harness.Server(argv, os.path.join(logdir, "server.log"))
    stat_path = os.path.join(logdir, "stat.csv")
    rec = os.path.join(record_dir, "%s-%d.data" % (peer, size)) if record_dir else None
    perf = perf_attach(srv.proc.pid, stat_path, rec)
    try:
        r = harness.loadgen(build, ["pingpong", "--port", srv.port, "--conns", conns, "--size", size,
                                    "--warmup", 0.3, "--duration", seconds], timeout=seconds + 60)
    finally:
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=30)
        srv.close()
    msgs = r["all_messages"]
    if rec:
        return {"msgs_per_s": r["msgs_per_s"]}
    c = parse_stat(stat_path)
    out = {"msgs_per_s": r["msgs_per_s"],
           "syscalls": c.get("raw_syscalls:sys_enter", 0) / msgs,
           "cpu_us": c.get("task-clock", 0) * 1e3 / msgs}  # task-clock is in ms
    for call in CALLS:
        n = c.get("syscalls:sys_enter_" + call, 0)
        if n:
            out[call] = n / msgs
    if "instructions" in c:
        out["instructions"] = c["instructions"] / msgs
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--peers", default="ours-epoll,ours-io_uring")
    ap.add_argument("--sizes", default="64,16384")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--record", help="perf record each server (call graphs) into this directory")
    ap.add_argument("--before", help="another build dir (e.g. of an older commit): its echo_ours "
                                     "joins as before-<backend> for every ours-<backend> asked for")
    a = ap.parse_args()

    peers = dict(harness.discover_peers(a.build))
    names = [harness.BASELINE] + [p for p in a.peers.split(",") if p != harness.BASELINE]
    if a.before:
        for name in [n for n in names if n.startswith("ours-")]:
            backend = name[len("ours-"):]
            peers["before-" + backend] = [os.path.join(a.before, "bench", "echo_ours"), "--port", "0",
                                          "--backend", backend]
            names.append("before-" + backend)
    if a.record:
        os.makedirs(a.record, exist_ok=True)
    print("load average at start: %s" % harness.loadavg())
    for size in [int(s) for s in a.sizes.split(",")]:
        results = {}
        for _ in range(a.runs):
            for name in names:  # peers interleaved, so drift hits all alike
                m = measure(a.build, name, peers[name], size, a.conns, a.seconds, a.record)
                for k, v in m.items():
                    results.setdefault(name, {}).setdefault(k, []).append(v)
        if a.record:
            continue
        base = {k: statistics.median(v) for k, v in results[harness.BASELINE].items()}
        for name in names:
            med = {k: statistics.median(v) for k, v in results[name].items()}
            cols = ["%s=%.3g (%.2fx)" % (k, v, v / base[k] if base.get(k) else 0) for k, v in sorted(med.items())]
            print("%6d B %-14s %s" % (size, name, "  ".join(cols)), flush=True)
    print("load average at end: %s" % harness.loadavg())


if __name__ == "__main__":
    sys.exit(main())
