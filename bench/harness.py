#!/usr/bin/env python3
"""Runs every echo server (peer) on every workload and writes the report.

Called by bench/run after the build; see docs/benchmarks.md for what is
measured. Only the processes this script starts are ever signalled, by PID.
"""
import argparse
import datetime
import functools
import json
import math
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SERVER_CPU = "0"
LOAD_CPU = "1"
BASELINE = "raw-epoll"
# Each holder process stays well under the 20,000 open-file cap.
CONNS_PER_HOLDER = 9500

FULL = dict(runs=5, tp_conns=1000, tp_sizes=[64, 16384], tp_warmup=0.5, tp_duration=3.0,
            idle_levels=[100, 1000, 10000, 19000], lat_warmup=0.3, lat_duration=2.0,
            accept_count=10000, accept_concurrency=64, mud_users=[100, 1000, 10000], mud_duration=3.0)
SMOKE = dict(runs=1, tp_conns=20, tp_sizes=[64, 16384], tp_warmup=0.05, tp_duration=0.15,
             idle_levels=[10, 200], lat_warmup=0.05, lat_duration=0.15,
             accept_count=300, accept_concurrency=16, mud_users=[10, 50], mud_duration=0.5)
# A run is quiet when the 1-minute load average is at most this at the start
# and other processes used at most QUIET_OTHERS_CPU of the machine during it
# (the benchmark's own server and load keep up to 2 CPUs busy, so the load
# average at the end says more about the benchmark than about the others).
QUIET_LOAD = 1.5
QUIET_OTHERS_CPU = 0.10


class BenchError(Exception):
    pass


def pinned(cpu, argv):
    if os.cpu_count() and os.cpu_count() >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", cpu] + argv
    return argv


def read_line(proc, timeout):
    """One line from proc.stdout within `timeout` seconds, or BenchError."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise BenchError("timed out waiting for output")
        chunk = os.read(fd, 1)
        if not chunk:
            raise BenchError("process exited (rc=%s)" % proc.poll())
        buf += chunk
    return buf.decode().strip()


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    def __init__(self, argv, log_path):
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(pinned(SERVER_CPU, argv), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.log)
        try:
            self.port = int(read_line(self.proc, 10))
        except (BenchError, ValueError) as e:
            self.close()
            raise BenchError("server %s did not start: %s" % (argv[0], e))

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise BenchError("no VmRSS")

    def cpu_seconds(self):
        """CPU time of the server so far: schedstat's nanoseconds on a CPU
        when the kernel has them, else utime + stime in clock ticks."""
        try:
            with open("/proc/%d/schedstat" % self.proc.pid) as f:
                return int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def library_stats(self):
        """ours only: SIGUSR1 makes echo_ours print io_reactor_get_stats."""
        self.proc.send_signal(signal.SIGUSR1)
        return json.loads(read_line(self.proc, 5))

    def alive(self):
        return self.proc.poll() is None

    def close(self):
        stop(self.proc)
        self.proc.stdout.close()
        self.log.close()


def loadgen(build, args, timeout):
    argv = pinned(LOAD_CPU, [os.path.join(build, "bench", "loadgen")] + [str(a) for a in args])
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("loadgen %s timed out" % args[0])
    if r.returncode != 0:
        raise BenchError("loadgen %s failed: %s" % (args[0], r.stderr.strip()[-300:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def pingpong(build, srv, conns, size, warmup, duration):
    """One throughput run against a started server: loadgen's figures, plus
    `cpu_us`, the server's CPU time per message (warm-up included)."""
    cpu0 = srv.cpu_seconds()
    r = loadgen(build, ["pingpong", "--port", srv.port, "--conns", conns, "--size", size,
                        "--warmup", warmup, "--duration", duration], timeout=warmup + duration + 60)
    if r["messages"] == 0:
        raise BenchError("no message completed")
    r["cpu_us"] = (srv.cpu_seconds() - cpu0) * 1e6 / r["all_messages"]
    return r


class Holders:
    """Idle connections, split over processes to respect the fd cap."""

    def __init__(self, build, port, conns):
        n_proc = max(2, math.ceil(conns / CONNS_PER_HOLDER))
        shares = [conns // n_proc + (1 if i < conns % n_proc else 0) for i in range(n_proc)]
        exe = os.path.join(build, "bench", "loadgen")
        self.procs = []
        for i, share in enumerate(shares):
            argv = pinned(LOAD_CPU, [exe, "hold", "--port", str(port), "--conns", str(share),
                                     "--source", "127.0.0.%d" % (2 + i), "--max-seconds", "120"])
            self.procs.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE))
        try:
            for p in self.procs:
                line = read_line(p, 90)
                if not line.startswith("ready"):
                    raise BenchError("holder said %r" % line)
        except BenchError as e:
            errs = self.close()
            raise BenchError("idle connections not established: %s %s" % (e, errs))

    def close(self):
        errs = []
        for p in self.procs:
            try:
                p.stdin.close()
            except OSError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                stop(p, signal.SIGKILL)
            err = p.stderr.read().decode().strip()
            if err:
                errs.append(err[-200:])
            p.stdout.close()
            p.stderr.close()
        return errs


class Bench:
    def __init__(self, build, cfg, logdir, peers):
        self.build = build
        self.cfg = cfg
        self.logdir = logdir
        self.peers = peers
        self.results = {name: {} for name, _ in peers}
        self.mud = {}  # backend -> metric -> [values]
        self.failures = []
        self.workloads = ["throughput", "idle", "accept", "mud"]

    def record(self, peer, metric, value):
        self.results[peer].setdefault(metric, []).append(value)

    def server(self, peer, argv, workload):
        return Server(argv, os.path.join(self.logdir, "%s.%s.log" % (peer, workload)))

    def throughput(self, peer, argv, size):
        c = self.cfg
        srv = self.server(peer, argv, "throughput")
        try:
            r = pingpong(self.build, srv, c["tp_conns"], size, c["tp_warmup"], c["tp_duration"])
            self.record(peer, "tp%d_msgs" % size, r["msgs_per_s"])
            self.record(peer, "tp%d_mbs" % size, r["mb_per_s"])
            # Server CPU per message barely moves when other work steals CPU
            # time, unlike messages/s.
            self.record(peer, "tp%d_cpu_us" % size, r["cpu_us"])
        finally:
            srv.close()

    def idle_scale(self, peer, argv):
        c = self.cfg
        for n in c["idle_levels"]:
            srv = self.server(peer, argv, "idle%d" % n)
            try:
                time.sleep(0.05)
                rss0 = srv.rss_kib()
                holders = Holders(self.build, srv.port, n)
                try:
                    rss1 = srv.rss_kib()
                    self.record(peer, "mem%d_bytes" % n, (rss1 - rss0) * 1024.0 / n)
                    if peer.startswith("ours"):
                        st = srv.library_stats()
                        if st["handles"] < n:
                            raise BenchError("stats show %d handles, expected %d" % (st["handles"], n))
                        self.record(peer, "mem%d_state" % n, st["state_bytes"] / float(n))
                        self.record(peer, "mem%d_ctx" % n, st["contexts_live"])
                    r = loadgen(self.build, ["pingpong", "--port", srv.port, "--conns", 1, "--size", 64,
                                             "--warmup", c["lat_warmup"], "--duration", c["lat_duration"]],
                                timeout=c["lat_warmup"] + c["lat_duration"] + 60)
                    self.record(peer, "idle%d_p50" % n, r["p50_us"])
                    self.record(peer, "idle%d_p99" % n, r["p99_us"])
                    if not srv.alive():
                        raise BenchError("server died")
                finally:
                    errs = holders.close()
                    if errs:
                        self.failures.append("%s idle%d holders: %s" % (peer, n, errs))
            finally:
                srv.close()

    def accept_rate(self, peer, argv):
        c = self.cfg
        srv = self.server(peer, argv, "accept")
        try:
            cpu0 = srv.cpu_seconds()
            r = loadgen(self.build, ["accept", "--port", srv.port, "--count", c["accept_count"],
                                     "--concurrency", c["accept_concurrency"]], timeout=90)
            self.record(peer, "accept_per_s", r["accepts_per_s"])
            self.record(peer, "accept_cpu_us", (srv.cpu_seconds() - cpu0) * 1e6 / r["count"])
        finally:
            srv.close()

    def run(self):
        workloads = []
        if "throughput" in self.workloads:
            workloads += [("tp %d B" % size, functools.partial(self.throughput, size=size))
                          for size in self.cfg["tp_sizes"]]
        workloads += [w for w in [("idle", self.idle_scale), ("accept", self.accept_rate)]
                      if w[0] in self.workloads]
        # Runs are the outer loop so slow drift of the machine spreads over
        # every peer instead of favouring whichever ran first. Within a run,
        # each workload runs on every peer back to back: this VM's state
        # drifts within minutes (64 B echoes fall into a fast and a slow
        # mode; raw epoll's 16 KiB CPU per message ranged 6.2-10.8 us over
        # 5 runs when each peer ran all its workloads in turn), and
        # neighbours in time share it. Each run starts one peer later: a
        # peer's place in the sequence moved its figures by several percent
        # (the same epoll echo server first and third in each of 5 rounds
        # of 16 KiB echoes: 0.97x the CPU per message in third place).
        for run in range(self.cfg["runs"]):
            if "mud" in self.workloads:
                import mud  # noqa: E402 (same directory)
                mud.run(self, run)
            shift = run % len(self.peers)
            for wname, fn in workloads:
                for peer, argv in self.peers[shift:] + self.peers[:shift]:
                    t0 = time.monotonic()
                    try:
                        fn(peer, argv)
                        status = "ok"
                    except (BenchError, OSError, ValueError, KeyError) as e:
                        status = "FAILED: %s" % e
                        self.failures.append("run %d %s %s: %s" % (run + 1, peer, wname, e))
                    print("run %d/%d %-14s %-10s %5.1fs %s" % (run + 1, self.cfg["runs"], peer, wname,
                                                               time.monotonic() - t0, status), flush=True)


def discover_peers(build):
    exe = lambda name: os.path.join(build, "bench", name)
    backends = subprocess.run([exe("echo_ours"), "--list-backends"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.split()
    peers = [("ours-" + b, [exe("echo_ours"), "--port", "0", "--backend", b]) for b in backends]
    peers.append((BASELINE, [exe("echo_raw_epoll"), "--port", "0"]))
    for lib in ("libuv", "libevent", "asio"):
        peers.append((lib, [exe("echo_" + lib), "--port", "0"]))
    return peers


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def busy_jiffies():
    """(busy, total) CPU jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle, sum(v[:8])


def own_cpu_seconds():
    """CPU time of this script and every child it has waited for."""
    import resource as r
    return sum(getattr(r.getrusage(w), f) for w in (r.RUSAGE_SELF, r.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def machine_facts():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def pkg(name):
        r = subprocess.run(["pkg-config", "--modversion", name], capture_output=True, text=True)
        return r.stdout.strip() or "?"

    def dpkg(name):
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
        return r.stdout.strip() or "?"

    cxx = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "cpu": cpu,
        "os": platform.freedesktop_os_release().get("PRETTY_NAME", "?") if hasattr(platform, "freedesktop_os_release") else "?",
        "compiler": cxx[0] if cxx else "?",
        "libuv": pkg("libuv"),
        "libevent": pkg("libevent"),
        "asio": dpkg("libasio-dev"),
        "liburing": pkg("liburing"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--smoke", action="store_true", help="tiny counts, 1 run, report to a temp dir")
    ap.add_argument("--out", help="report directory (default: docs/, or a temp dir with --smoke)")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--peers", help="comma-separated subset of peers")
    ap.add_argument("--command", default="bench/run", help="the command line to print in the report")
    ap.add_argument("--workloads", help="comma-separated subset of: throughput,idle,accept,mud")
    ap.add_argument("--allow-noisy", action="store_true",
                    help="run and write the report even on a busy machine; it is marked NOISY")
    a = ap.parse_args()

    cfg = dict(SMOKE if a.smoke else FULL)
    if a.runs:
        cfg["runs"] = a.runs
    # The server holds every idle connection in one process.
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    too_many = [n for n in cfg["idle_levels"] if n + 64 > fd_limit]
    if too_many:
        cfg["idle_levels"] = [n for n in cfg["idle_levels"] if n not in too_many]
        print("warning: open-file limit %d: skipping idle levels %s" % (fd_limit, too_many), file=sys.stderr)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    docs = os.path.join(root, "docs")
    out = a.out or (tempfile.mkdtemp(prefix="ior-bench-") if a.smoke else docs)
    to_docs = os.path.abspath(out) == os.path.abspath(docs)
    load1 = float(loadavg().split()[0])
    if to_docs and load1 > QUIET_LOAD and not a.allow_noisy:
        print("refusing to measure for docs/: load average %s (quiet means <= %.1f); "
              "wait, or pass --allow-noisy (the report is then marked NOISY), or --out DIR"
              % (loadavg(), QUIET_LOAD), file=sys.stderr)
        return 3
    os.makedirs(out, exist_ok=True)
    logdir = tempfile.mkdtemp(prefix="ior-bench-logs-")

    peers = discover_peers(a.build)
    if a.peers:
        wanted = a.peers.split(",")
        peers = [p for p in peers if p[0] in wanted or p[0] == BASELINE]
    print("peers: %s" % ", ".join(p for p, _ in peers), flush=True)
    print("server on cpu %s, load on cpu %s; logs in %s" % (SERVER_CPU, LOAD_CPU, logdir), flush=True)

    load_before = loadavg()
    started = time.monotonic()
    bench = Bench(a.build, cfg, logdir, peers)
    if a.workloads:
        bench.workloads = a.workloads.split(",")
    busy0, total0 = busy_jiffies()
    own0 = own_cpu_seconds()
    bench.run()
    elapsed = time.monotonic() - started
    busy1, total1 = busy_jiffies()
    tick = os.sysconf("SC_CLK_TCK")
    # Machine-wide busy CPU time minus our own (servers and load generators
    # are all waited-for children), as a share of all CPUs over the run.
    others = max(0.0, ((busy1 - busy0) / tick - (own_cpu_seconds() - own0)) / ((total1 - total0) / tick or 1))
    load_after = loadavg()
    noisy_why = []
    if load1 > QUIET_LOAD:
        noisy_why.append("load average %.2f at start (quiet: <= %.1f)" % (load1, QUIET_LOAD))
    if others > QUIET_OTHERS_CPU:
        noisy_why.append("other processes used %.0f%% of the CPUs during the run (quiet: <= %.0f%%)"
                         % (100 * others, 100 * QUIET_OTHERS_CPU))
    if noisy_why and to_docs and not a.allow_noisy:
        out = tempfile.mkdtemp(prefix="ior-bench-noisy-")
        print("the machine was busy (%s): docs/ left alone, report in %s" % ("; ".join(noisy_why), out),
              file=sys.stderr)

    import report  # noqa: E402 (same directory; kept apart so the measuring code stays short)
    facts = machine_facts()
    facts["load"] = "%s at start, %s at end; other processes used %.0f%% of the CPUs during the run" % (
        load_before, load_after, 100 * others)
    data = dict(command=a.command, smoke=a.smoke, cfg=cfg, facts=facts, noisy=noisy_why,
                workloads=bench.workloads, mud=bench.mud,
                peers=[p for p, _ in peers], results=bench.results, failures=bench.failures,
                elapsed=elapsed, date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    # Kept beside the logs so the report can be rewritten without rerunning:
    #   python3 bench/report.py <logdir>/results.json <outdir>
    with open(os.path.join(logdir, "results.json"), "w") as fh:
        json.dump(data, fh, indent=1)
    report.write(out, data)
    print("report: %s (%.0f s)" % (os.path.join(out, "benchmarks.md"), elapsed), flush=True)
    for f in bench.failures:
        print("failure: " + f, file=sys.stderr)
    return 1 if bench.failures else 0


if __name__ == "__main__":
    sys.exit(main())
