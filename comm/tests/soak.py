#!/usr/bin/env python3
"""Soak and load figures for ior-mud, one table for every backend:

  cycles    N connect/disconnect cycles against one server (close at once,
            mid-login, mid-telnet negotiation, RST, in turn): the server's
            open fds (/proc/PID/fd) and VmRSS before and after, then a
            normal login must still work;
  slowloris M clients from 50 loopback addresses that connect, never log
            in and send IAC NOP every second (reconnecting when dropped),
            in worker processes; one normal player's login time and say
            round trip (median of 10) without and with them;
  runs      the slow-reader and flood integration tests, R runs each: failures.

Usage: soak.py PATH/TO/ior-mud [--backends epoll,poll,io_uring] [--cycles N]
       [--slowloris M] [--runs R] [--short]
--short (CI) is --cycles 1500 --slowloris 200 --runs 1. Exit 1 if a check
fails (an fd left open, a login that does not work, a failed run).
Only processes this script started are stopped, by PID (the server is
harness.py's Server).
"""
import argparse
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

import harness as h
from harness import IAC, NOP, SB, TTYPE

HERE = os.path.dirname(os.path.abspath(__file__))


def start_server(binary, backend, extra, workdir):
    h.use(binary, backend, workdir)
    return h.Server(extra, name=backend)


def stop(server):
    """The server's exit code (killed after 15 s: not 0)."""
    h.end_process(server.proc, timeout=15)
    return server.proc.returncode


def read_until(sock, needle, timeout=5.0):
    deadline, got = time.time() + timeout, b""
    while needle not in got:
        left = deadline - time.time()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            raise RuntimeError("timed out waiting for %r" % needle)
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("closed waiting for %r" % needle)
        got += chunk
    return got


def player(port, name):
    """Logs in as `name`; returns (login seconds, median say round trip seconds)."""
    start = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        read_until(s, b"By what name", 30)
        s.sendall(name.encode() + b"\r\n")
        read_until(s, b"password", 30)
        s.sendall(b"pw\r\n")
        read_until(s, b"> ", 30)
        login = time.perf_counter() - start
        trips = []
        for i in range(10):
            t = time.perf_counter()
            s.sendall(b"say soak %d\r\n" % i)
            read_until(s, b"You say: soak %d\r\n> " % i, 30)
            trips.append(time.perf_counter() - t)
        s.sendall(b"quit\r\n")
        return login, sorted(trips)[len(trips) // 2]
    finally:
        s.close()


def one_cycle(port, kind):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(("127.0.0.1", port))
        if kind == 1:    # mid-login: a name, then gone
            read_until(s, b"By what name")
            s.sendall(b"cycler\r\n")
        elif kind == 2:  # mid-negotiation: half a TTYPE subnegotiation
            s.sendall(bytes([IAC, SB, TTYPE, 0]) + b"XTER")
        elif kind == 3:  # abortive close
            s.sendall(b"x")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()


def cycles(binary, backend, n, workdir):
    srv = start_server(binary, backend, "max connections per address : 0\n"
                       "max connects per address per minute : 0\n", workdir)
    try:
        fds0, rss0 = srv.fds(), srv.rss_kb()
        start, errors = time.time(), 0
        for i in range(n):
            try:
                one_cycle(srv.port, i % 4)
            except (OSError, RuntimeError):
                errors += 1
        rate = n / (time.time() - start)
        # Links close after a flush: wait until the count is back.
        fds1, rss1 = srv.settled_fds(fds0, timeout=10), srv.rss_kb()
        try:
            player(srv.port, "after")
            login_ok = True
        except (OSError, RuntimeError):
            login_ok = False
        rc = stop(srv)
        return dict(fds=(fds0, fds1), rss=(rss0, rss1), rate=rate, errors=errors,
                    login_ok=login_ok and rc == 0)
    finally:
        stop(srv)


def loris_worker(port, first, count, seconds):
    """One attacking process: `count` sockets from 127.0.0.(first + k % 50)."""
    socks = [None] * count
    deadline = time.time() + seconds
    while time.time() < deadline:
        for k in range(count):
            s = socks[k]
            if s is not None:
                try:
                    s.send(bytes([IAC, NOP]))
                    continue
                except OSError:
                    s.close()  # dropped or refused: come back, as an attacker would
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT: ports per destination
                s.bind(("127.0.0.%d" % (first + k % 50), 0))
                s.connect_ex(("127.0.0.1", port))
                socks[k] = s
            except OSError:
                s.close()
                socks[k] = None
        time.sleep(max(0.0, min(1.0, deadline - time.time())))
    for s in socks:
        if s is not None:
            s.close()


def slowloris(binary, backend, n, workdir):
    srv = start_server(binary, backend, "", workdir)
    workers = []
    try:
        quiet = player(srv.port, "quiet")
        per_worker, seconds = 2500, 25 if n > 500 else 4
        for w in range(0, n, per_worker):
            workers.append(subprocess.Popen(
                [sys.executable, __file__, "--loris-worker", str(srv.port), str(min(per_worker, n - w)),
                 str(seconds)], stdin=subprocess.DEVNULL))
        time.sleep(seconds / 2)  # connected and trickling
        held = srv.fds()
        attacked = player(srv.port, "busy")
        full = "server is full" in srv.read_log()
        return dict(quiet=quiet, attacked=attacked, held=held, full=full)
    finally:
        for w in workers:
            w.wait(timeout=120)
        stop(srv)


def repeated_runs(binary, backends, runs):
    """Each backend in its own process line, so the backends run side by side."""
    tests = ["test_slow_reader_is_dropped_past_the_output_cap",
             "test_flooding_client_does_not_grow_server_memory"]
    fails = {b: {t: 0 for t in tests} for b in backends}
    for _ in range(runs):
        procs = {b: subprocess.Popen([sys.executable, os.path.join(HERE, "integration.py"), binary, b] + tests,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for b in backends}
        for b, p in procs.items():
            out = p.communicate(timeout=300)[0]
            for t in tests:
                if "PASS " + t not in out:
                    fails[b][t] += 1
                    sys.stderr.write("%s %s failed:\n%s\n" % (b, t, out[-3000:]))
    return fails


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--loris-worker":
        port, count, seconds = map(int, sys.argv[2:5])
        loris_worker(port, 10, count, seconds)
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--backends", default="epoll,poll,io_uring")
    ap.add_argument("--cycles", type=int, default=100000)
    ap.add_argument("--slowloris", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--short", action="store_true")
    a = ap.parse_args()
    if a.short:
        a.cycles, a.slowloris, a.runs = 1500, 200, 1
    binary = os.path.abspath(a.binary)
    built = subprocess.run([binary, "--list-backends"], capture_output=True, text=True).stdout.split()
    backends = [b for b in a.backends.split(",") if b in built]
    # A TMPDIR in the build tree for us and the integration runs: no clean-up
    # of /tmp by anything else can take a run's files away.
    workdir = tempfile.mkdtemp(prefix="soak-", dir=os.path.dirname(binary))
    os.environ["TMPDIR"] = workdir
    print("soak: %s, backends %s, %d cycles, %d slowloris, %d runs; load average %s"
          % (binary, ",".join(backends), a.cycles, a.slowloris, a.runs,
             " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)
    rows, ok = [], True
    fails = repeated_runs(binary, backends, a.runs) if a.runs else {}
    for b in backends:
        c = cycles(binary, b, a.cycles, workdir)
        s = slowloris(binary, b, a.slowloris, workdir)
        f = fails.get(b, {})
        ok &= c["fds"][1] == c["fds"][0] and c["login_ok"] and not s["full"] and sum(f.values()) == 0
        rows.append([b, "%d (%.0f/s, %d err)" % (a.cycles, c["rate"], c["errors"]),
                     "%d -> %d" % c["fds"], "%d -> %d" % c["rss"], "ok" if c["login_ok"] else "FAILED",
                     "%.1f / %.2f" % (s["quiet"][0] * 1e3, s["quiet"][1] * 1e3),
                     "%.1f / %.2f" % (s["attacked"][0] * 1e3, s["attacked"][1] * 1e3),
                     "%d%s" % (s["held"], ", FULL" if s["full"] else ""),
                     " ".join("%d/%d" % (v, a.runs) for v in f.values()) or "-"])
    head = ["backend", "cycles", "fds before -> after", "VmRSS kB before -> after", "login after",
            "login / say ms, quiet", "login / say ms, %d loris" % a.slowloris, "server fds under loris",
            "fails slow-reader flood"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head, ["-" * w for w in widths]] + rows:
        print("| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |")
    print("load average after: " + " ".join(open("/proc/loadavg").read().split()[:3]))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
