#!/usr/bin/env python3
"""Drives tests/driver/mini_comm (a comm layer written to the original
header) and checks what a driver maintainer would: pipelined commands are
all answered, a large reply under backpressure arrives whole and in order,
and commands piped on stdin all run before EOF ends the driver.

Usage: run_driver.py [--emulator=A|B|C] MINI_COMM [pipelined|trickle|backpressure|stdin-pipe|stdin-file]...
The backend comes from IO_REACTOR_BACKEND. --emulator runs the driver
through a CMAKE_CROSSCOMPILING_EMULATOR (wine for mini_comm.exe); a leading
"cmake -E env K=V" becomes the driver's environment. Every wait is bounded."""
import os
import socket
import subprocess
import sys
import tempfile
import time

ARGS = [a for a in sys.argv[1:] if not a.startswith("--emulator=")]
EMULATOR = [a for a in sys.argv[1:] if a.startswith("--emulator=")]
EMULATOR = [x for x in EMULATOR[0].split("=", 1)[1].split("|") if x] if EMULATOR else []
ENV = dict(os.environ)
if EMULATOR[1:3] == ["-E", "env"]:
    EMULATOR = EMULATOR[3:]
    while EMULATOR and "=" in EMULATOR[0] and not EMULATOR[0].startswith("-"):
        k, v = EMULATOR.pop(0).split("=", 1)
        ENV[k] = v
DEADLINE = 60.0 if EMULATOR else 20.0  # wine starts slowly


def command(driver):
    return EMULATOR + [driver, "0"]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def start(driver):
    proc = subprocess.Popen(command(driver), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV)
    first = proc.stdout.readline().decode()
    if not first.startswith("PORT "):
        proc.kill()
        fail("no PORT line: %r" % first)
    return proc, int(first.split()[1])


def stop(proc):
    proc.stdin.close()  # the end of stdin shuts the driver down
    try:
        rc = proc.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail("driver did not exit at the end of stdin")
    if rc != 0:
        fail("driver exited with %d" % rc)


def read_lines(sock, count, slow_start=0.0):
    """Reads until `count` lines arrived (or the deadline)."""
    if slow_start:
        time.sleep(slow_start)  # let the driver's socket buffer fill: EAGAIN
    data = b""
    end = time.monotonic() + DEADLINE
    while data.count(b"\n") < count:
        left = end - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data.decode().splitlines()


def connect(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    return s


def pipelined(driver):
    proc, port = start(driver)
    s = connect(port)
    want = ["command %03d %s" % (i, "x" * 30) for i in range(150)]
    s.sendall("".join("echo %s\n" % w for w in want).encode())  # ~7 KiB: > 2 KiB buffer
    got = read_lines(s, len(want))
    s.close()
    stop(proc)
    if got != want:
        fail("pipelined: %d of %d answered; first difference at %d" % (
            sum(1 for a, b in zip(got, want) if a == b), len(want),
            next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))))
    print("ok pipelined: 150 of 150 commands answered in order")


def trickle(driver):
    """Input that arrives while earlier commands are still buffered: a read
    waiting for bytes while commands run (on Windows a posted read into the
    fixed buffer, whose free part moves down as commands run)."""
    proc, port = start(driver)
    s = connect(port)
    want, got = [], []
    for i in range(20):
        batch = ["trickle %02d %d" % (i, j) for j in range(3)]
        s.sendall("".join("echo %s\n" % b for b in batch).encode())
        want += batch
        got += read_lines(s, len(batch))  # every reply before the next batch
        if got != want:
            break
    s.close()
    stop(proc)
    if got != want:
        fail("trickle: %d of %d answered; wanted %r, got %r" % (len(got), len(want), want[-3:], got[-3:]))
    print("ok trickle: 20 batches of 3 commands, each answered before the next was sent")


def backpressure(driver):
    proc, port = start(driver)
    s = connect(port, rcvbuf=4096)
    lines = 20000
    s.sendall(b"big %d\nstats\n" % lines)
    got = read_lines(s, lines + 1, slow_start=0.5)
    s.close()
    stop(proc)
    want = ["line %06d" % i for i in range(lines)]
    if got[:lines] != want:
        fail("backpressure: %d lines, first wrong at %s" % (len(got), next(
            (i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(got))))
    if len(got) != lines + 1 or not got[lines].startswith("eagain "):
        fail("backpressure: no stats line after the reply: %r" % got[lines:lines + 2])
    eagains = int(got[lines].split()[1])
    if eagains == 0:
        fail("backpressure: the driver never met EAGAIN, so EVENT_WRITE was not exercised")
    print("ok backpressure: %d lines (%d bytes) whole and in order, %d sends met EAGAIN" % (
        lines, sum(len(l) + 1 for l in want), eagains))


def stdin_commands(driver, as_file):
    commands = ["console %03d %s" % (i, "y" * 20) for i in range(200)]  # ~7 KiB
    text = "".join("echo %s\n" % c for c in commands)
    text = text[:-1]  # the last command has no newline: EOF ends it
    if as_file:
        with tempfile.TemporaryFile() as f:
            f.write(text.encode())
            f.seek(0)
            proc = subprocess.run(command(driver), stdin=f, capture_output=True, timeout=DEADLINE, env=ENV)
    else:
        proc = subprocess.run(command(driver), input=text.encode(), capture_output=True, timeout=DEADLINE, env=ENV)
    if proc.returncode != 0:
        fail("stdin: exit %d, stderr %r" % (proc.returncode, proc.stderr[-300:]))
    out = proc.stdout.decode().splitlines()[1:]  # after PORT
    if out != commands:
        fail("stdin (%s): %d of %d commands ran before EOF ended the driver" % (
            "file" if as_file else "pipe", sum(1 for a, b in zip(out, commands) if a == b), len(commands)))
    print("ok stdin-%s: 200 of 200 commands ran, then EOF ended the driver" % ("file" if as_file else "pipe"))


def main():
    driver = ARGS[0]
    checks = ARGS[1:] or ["pipelined", "trickle", "backpressure", "stdin-pipe", "stdin-file"]
    print("backend: %s%s" % (ENV.get("IO_REACTOR_BACKEND", "auto"), " via " + " ".join(EMULATOR) if EMULATOR else ""))
    for check in checks:
        if check == "pipelined":
            pipelined(driver)
        elif check == "trickle":
            trickle(driver)
        elif check == "backpressure":
            backpressure(driver)
        elif check == "stdin-pipe":
            stdin_commands(driver, as_file=False)
        elif check == "stdin-file":
            stdin_commands(driver, as_file=True)
        else:
            fail("unknown check " + check)


if __name__ == "__main__":
    main()
