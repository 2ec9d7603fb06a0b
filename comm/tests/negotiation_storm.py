#!/usr/bin/env python3
"""What a telnet negotiation storm costs the server, against plain input.

Usage: negotiation_storm.py PATH/TO/ior-mud [--bytes N] [--runs R]
                            [--backend B] [--only NAME,...] [--smoke]

For every option the server knows, one logged-in client sends N bytes of
  do/dont   IAC DO opt IAC DONT opt ...    (the server's side of the option)
  will/wont IAC WILL opt IAC WONT opt ...  (the client's side)
  sb        IAC SB opt <payload> IAC SE ... (a subnegotiation the option uses)
and the server's CPU time (utime+stime from /proc/PID/stat, the server's
only) is measured around it. The baseline is the same N bytes as `say` lines
from the same client, in the same server, in the same run. Each storm ends
with a `say` line that a second, quiet client waits for, so the server has
processed everything before the CPU is read. The table shows the median
ratio over R runs (each run measures the baseline again).

It also shows the pre-login budget: the same storm from a client that has
not logged in is cut, and the table says after how many bytes and at what
CPU cost.

--smoke: tiny counts, one run; checks only that every storm runs, that the
server survives and that a not-logged-in storm is cut (ratios on a shared
machine are not asserted: they would flake). Exit 0 ok, 1 failure.
Only the server this script started is stopped, by its PID (harness.py's
Server).
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

import harness as h

IAC, DONT, DO, WONT, WILL, SB, SE, AYT = 255, 254, 253, 252, 251, 250, 240, 246
OPTIONS = {"ECHO": 1, "SGA": 3, "TTYPE": 24, "EOR": 25, "NAWS": 31,
           "CHARSET": 42, "MSSP": 70, "MCCP2": 86, "GMCP": 201}
# A subnegotiation each option's handler actually parses.
SB_PAYLOAD = {
    "ECHO": b"x", "SGA": b"x", "EOR": b"x", "MSSP": b"\x01NAME\x02x", "MCCP2": b"",
    "TTYPE": b"\x00XTERM", "NAWS": b"\x00\x50\x00\x18",
    "CHARSET": b"\x01;UTF-8", "GMCP": b'Core.Ping {}',
}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


class Drain:
    """Reads a socket to the end in a thread, keeping only a tail."""

    def __init__(self, sock):
        self.sock, self.tail, self.total, self.closed = sock, b"", 0, False
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            with self.lock:
                if not data:
                    self.closed = True
                    return
                self.total += len(data)
                self.tail = (self.tail + data)[-4096:]

    def wait_for(self, token, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if token in self.tail:
                    self.tail = self.tail.split(token)[-1]
                    return True
                if self.closed:
                    return False
            time.sleep(0.002)
        return False


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(None)
    return s


def login(sock, drain, name):
    for text, wait in ((b"", b"By what name"), (name.encode(), b"password"),
                       (b"pw", b"Hello, ")):
        if text:
            sock.sendall(text + b"\r\n")
        if not drain.wait_for(wait, 10):
            raise SystemExit("login of %s failed" % name)


def storm(name, kind, size):
    opt = OPTIONS[name]
    if kind == "do/dont":
        unit = bytes([IAC, DO, opt, IAC, DONT, opt])
    elif kind == "will/wont":
        unit = bytes([IAC, WILL, opt, IAC, WONT, opt])
    else:
        unit = bytes([IAC, SB, opt]) + SB_PAYLOAD[name].replace(b"\xff", b"\xff\xff") + bytes([IAC, SE])
    return unit * max(1, size // len(unit))


def ratio(r):
    return "n/a" if r != r else "%.2f" % r  # NaN: the baseline took under one CPU tick


def say_lines(size):
    line = b"say " + b"a" * 58 + b"\r\n"
    return line * max(1, size // len(line))


def start_server(binary, backend, extra=""):
    """harness.Server with room for a storm: large input queue and output buffer."""
    h.use(binary, backend, tempfile.mkdtemp(prefix="ior-storm-"))
    return h.Server("max input queue : 1m\noutput high watermark : 1m\nmax output buffer : 64m\n" + extra,
                    name="storm")


def alive(server):
    return server.proc.poll() is None


def measure(server, sock, watcher, payload, token):
    """Server CPU seconds to take `payload` and then a say line with `token`."""
    before = cpu_seconds(server.pid)
    sock.sendall(payload + b"say " + token + b"\r\n")
    if not watcher.wait_for(token, 120):
        raise SystemExit("storm sync lost (token %r); server log:\n%s" % (token, server.read_log()[-2000:]))
    return cpu_seconds(server.pid) - before


def prelogin_cut(server, payload):
    """Sends `payload` from a fresh, not-logged-in client: whether the server
    closed the connection, why (its log line), and the server CPU spent."""
    s = connect(server.port)
    d = Drain(s)
    d.wait_for(b"By what name", 10)
    before = cpu_seconds(server.pid)
    try:
        for i in range(0, len(payload), 4096):
            s.sendall(payload[i:i + 4096])
    except OSError:
        pass
    deadline = time.time() + 30
    while not d.closed and time.time() < deadline:
        time.sleep(0.01)
    cpu = cpu_seconds(server.pid) - before
    port = s.getsockname()[1]
    s.close()
    why = "(no log line)"
    for line in server.read_log().splitlines():
        if ":%d: over the pre-login budget" % port in line:
            why = line.split("budget (", 1)[1].split(")", 1)[0]
    return d.closed, why, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--bytes", type=int, default=240000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--only", default="")
    ap.add_argument("--kinds", default="do/dont,will/wont,sb")
    ap.add_argument("--no-prelogin", action="store_true", help="skip the budget cut part")
    ap.add_argument("--set", action="append", default=[], metavar="'KEY : VALUE'",
                    help="an extra config line, e.g. 'max option changes : 0' (no limit)")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        a.bytes, a.runs = 6000, 1
    names = [n for n in OPTIONS if not a.only or n in a.only.split(",")]
    kinds = a.kinds.split(",")
    server = start_server(a.binary, a.backend, "".join(line + "\n" for line in a.set))
    backend = re.search(r"backend (\S+)", server.startup)
    failures = []
    try:
        watcher_sock, storm_sock = connect(server.port), connect(server.port)
        watcher, drain = Drain(watcher_sock), Drain(storm_sock)
        login(watcher_sock, watcher, "watcher")
        login(storm_sock, drain, "stormer")
        results = {(n, k): [] for n in names for k in kinds}
        ayt = []  # "are you there": a command, but one that is answered
        base_all = []
        seq = 0
        for run in range(a.runs):
            seq += 1
            base = measure(server, storm_sock, watcher, say_lines(a.bytes), b"sync%d" % seq)
            base_all.append(base)
            for n in names:
                for k in kinds:
                    seq += 1
                    cost = measure(server, storm_sock, watcher, storm(n, k, a.bytes), b"sync%d" % seq)
                    results[(n, k)].append(cost / base if base > 0 else float("nan"))
            seq += 1
            cost = measure(server, storm_sock, watcher, bytes([IAC, AYT]) * (a.bytes // 2), b"sync%d" % seq)
            ayt.append(cost / base if base > 0 else float("nan"))
            if not alive(server):
                failures.append("server died")
                break
        print("server CPU (backend %s) for %d bytes of each storm from a logged-in client, as a ratio"
              " to %d bytes of `say` lines (median of %d runs; baseline median %.3f s)"
              % (backend.group(1) if backend else "?", a.bytes, a.bytes, a.runs, statistics.median(base_all)))
        print("| option | " + " | ".join(kinds) + " |")
        print("|---" * (len(kinds) + 1) + "|")
        worst = 0.0
        for n in names:
            cells = []
            for k in kinds:
                r = statistics.median(results[(n, k)])
                worst = r if r > worst or r != r else worst
                cells.append(ratio(r))
            print("| %s | %s |" % (n, " | ".join(cells)))
        r = statistics.median(ayt)
        worst = r if r > worst or r != r else worst
        print("IAC AYT storm (a command the server answers): %s" % ratio(r))
        print("worst ratio: %s" % ratio(worst))

        if a.no_prelogin:
            return 1 if failures else 0
        # Past the default budgets (64k of subnegotiation is the largest).
        cut_size = max(a.bytes, 200000)
        print("\nnot logged in: the same storms are cut by the pre-login budget")
        print("| storm (%d bytes) | cut | the server's reason | server CPU (s) |" % cut_size)
        print("|---|---|---|---|")
        for n, k in (("MCCP2", "do/dont"), ("EOR", "do/dont"), ("TTYPE", "will/wont"),
                     ("GMCP", "sb"), ("NAWS", "sb")):
            if n not in names:
                continue
            closed, why, cpu = prelogin_cut(server, storm(n, k, cut_size))
            print("| %s %s | %s | %s | %.3f |" % (n, k, "yes" if closed else "NO", why, cpu))
            if not closed:
                failures.append("pre-login %s %s storm was not cut" % (n, k))
        closed, why, cpu = prelogin_cut(server, b"x\r\n" * (cut_size // 3))
        print("| lines before login | %s | %s | %.3f |" % ("yes" if closed else "NO", why, cpu))
        if not closed:
            failures.append("pre-login line storm was not cut")
        if not alive(server):
            failures.append("server died")
        budget_lines = [l for l in server.read_log().splitlines() if "budget" in l]
        print("\nlog lines about the budget: %d, e.g.\n  %s"
              % (len(budget_lines), budget_lines[0] if budget_lines else "(none)"))
    finally:
        server.stop()
    if not failures:
        shutil.rmtree(h.WORKDIR, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
