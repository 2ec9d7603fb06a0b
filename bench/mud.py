"""The MUD-shaped workload for harness.py: ior-mud itself, N logged-in users
in its one room, a few saying a line every 100 ms, every line fanned out to
everyone else. Per backend and MCCP2 on/off: server CPU per delivered line
and the delivery latency (say sent -> line received by another user).

mudload (bench/mudload.cpp) does the users; one process per 9,500 users
(the 20,000 open-file cap), each from its own 127.0.0.x address. Only the
processes started here are signalled, by PID.
"""
import math
import os
import re
import subprocess
import tempfile

import harness

USERS_PER_PROCESS = 9500
# Offered fan-out stays at or under ~100,000 deliveries a second: a few
# speakers in a small room, one in a room of 10,000.
MAX_FANOUT_PER_S = 100000
MAX_SPEAKERS = 3
INTERVAL_MS = 100

CONFIG = """name : mud bench
port : 127.0.0.1:0
io_reactor_backend : {backend}
max users : {max_users}
max connections per address : 0
max connects per address per minute : 0
idle timeout : 0
login timeout : 0
max lines before login : 0
mccp : on
"""


def speakers_for(users):
    per_speaker = users * 1000 // INTERVAL_MS
    return max(1, min(MAX_SPEAKERS, MAX_FANOUT_PER_S // max(per_speaker, 1)))


class MudServer(harness.Server):
    """ior-mud prints "ior-mud: NAME listening on ADDR:PORT backend B"."""

    def __init__(self, exe, backend, users, logdir, tag):
        cfg = os.path.join(logdir, "mud-%s.cfg" % tag)
        with open(cfg, "w") as f:
            f.write(CONFIG.format(backend=backend, max_users=users + 100))
        self.log = open(os.path.join(logdir, "mud-%s.log" % tag), "ab")
        self.proc = subprocess.Popen(harness.pinned(harness.SERVER_CPU, [exe, "--config", cfg]),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log)
        try:
            line = harness.read_line(self.proc, 10)
            m = re.search(r":(\d+) backend (\S+)", line)
            if not m or m.group(2) != backend:
                raise harness.BenchError("unexpected start line %r" % line)
            self.port = int(m.group(1))
        except harness.BenchError as e:
            self.close()
            raise harness.BenchError("ior-mud did not start: %s" % e)


def percentile(hist, per_octave, q):
    """Upper edge, in microseconds, of the bucket holding quantile q."""
    total = sum(hist.values())
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= q * total:
            return 2 ** (b / per_octave)
    return float("nan")


def run_case(build, logdir, backend, users, mccp, duration, tag):
    exe = os.path.join(build, "comm", "ior-mud")
    load = os.path.join(build, "bench", "mudload")
    speakers = speakers_for(users)
    srv = MudServer(exe, backend, users, logdir, tag)
    procs = []
    try:
        n_proc = max(1, math.ceil(users / USERS_PER_PROCESS))
        first = 0
        for i in range(n_proc):
            share = users // n_proc + (1 if i < users % n_proc else 0)
            argv = [load, "--port", srv.port, "--users", share, "--first", first,
                    "--speakers", speakers if i == 0 else 0, "--interval-ms", INTERVAL_MS,
                    "--duration", duration, "--mccp", "on" if mccp else "off",
                    "--source", "127.0.0.%d" % (2 + i), "--max-seconds", 300]
            first += share
            procs.append(subprocess.Popen(harness.pinned(harness.LOAD_CPU, [str(a) for a in argv]),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE))
        for p in procs:
            line = harness.read_line(p, 200)
            if not line.startswith("ready"):
                raise harness.BenchError("mudload said %r" % line)
        cpu0 = srv.cpu_seconds()
        for p in procs:
            p.stdin.write(b"go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            results.append(harness.json.loads(harness.read_line(p, duration + 60)))
        cpu = srv.cpu_seconds() - cpu0
        if not srv.alive():
            raise harness.BenchError("ior-mud died")
    finally:
        for p in procs:
            harness.stop(p)
            err = p.stderr.read().decode().strip()
            for f in (p.stdin, p.stdout, p.stderr):
                f.close()
            if err and p.returncode not in (0, None, -15):
                srv.close()
                raise harness.BenchError("mudload: %s" % err[-300:])
        srv.close()
    said = sum(r["said"] for r in results)
    delivered = sum(r["delivered"] for r in results)
    hist = {}
    for r in results:
        for b, n in r["hist"]:
            hist[b] = hist.get(b, 0) + n
    if delivered == 0:
        raise harness.BenchError("no line delivered")
    per_octave = results[0]["per_octave"]
    return {
        "cpu_us": cpu * 1e6 / delivered,
        "p50_ms": percentile(hist, per_octave, 0.50) / 1e3,
        "p99_ms": percentile(hist, per_octave, 0.99) / 1e3,
        "delivered_pct": 100.0 * delivered / max(1, said * (users - 1)),
        "fanout_per_s": said * (users - 1) / duration,
        "login_s": max(r["login_s"] for r in results),
    }


def backends(build):
    exe = os.path.join(build, "comm", "ior-mud")
    out = subprocess.run([exe, "--list-backends"], capture_output=True, text=True, timeout=10, check=True)
    return [b for b in out.stdout.split() if b in ("epoll", "io_uring")]


def run(bench, run_index):
    """One pass over every case; results go to bench.mud[backend][metric]."""
    c = bench.cfg
    logdir = tempfile.mkdtemp(prefix="mud-", dir=bench.logdir)
    for backend in backends(bench.build):
        for mccp in (False, True):
            for users in c["mud_users"]:
                name = "mud%d_%s" % (users, "mccp" if mccp else "plain")
                t0 = harness.time.monotonic()
                try:
                    r = run_case(bench.build, logdir, backend, users, mccp, c["mud_duration"],
                                 "%s-%s" % (backend, name))
                    for k, v in r.items():
                        bench.mud.setdefault(backend, {}).setdefault("%s_%s" % (name, k), []).append(v)
                    status = "ok"
                except (harness.BenchError, OSError, ValueError, KeyError) as e:
                    status = "FAILED: %s" % e
                    bench.failures.append("run %d mud %s %s: %s" % (run_index + 1, backend, name, e))
                print("run %d/%d mud-%-10s %-16s %5.1fs %s" % (run_index + 1, c["runs"], backend, name,
                                                              harness.time.monotonic() - t0, status), flush=True)
