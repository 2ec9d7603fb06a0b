#!/usr/bin/env python3
"""Hot reboot ("copyover") of the real ior-mud: a new process takes over every
connection. Usage: reboot_integration.py PATH/TO/ior-mud BACKEND [--reboots N] [TEST...]

  - players (raw telnet clients, one with MCCP2, and tintin++ in tmux with
    MCCP2) stay connected, `who` lists the same, a net-dead player can still
    reattach, a half-typed line and a half-done login carry over, tintin++
    shows no decompression error, no fd leaks across the exec;
  - the `reboot` command (admins only), SIGUSR1 and SIGHUP;
  - a corrupt state, a newer state and a missing binary: the old server keeps
    serving (and its MCCP2 streams restart);
  - N reboots in a row under chat traffic: no lost line, no dropped player
    (N = 10 in CTest; comm/tests/reboot_many.sh runs 100).

Exit 0: all passed; 1: a failure; 77: BACKEND not in this build. Bounded in
time; every server generation is a descendant of this script (it makes
itself their subreaper) and is stopped by PID.
"""
import ctypes
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

import harness as h
from harness import TlsClient, Tmux, check, settle, pump_all

REBOOTS = 10  # --reboots N


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def alive(pid):
    reap()
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Server(h.Server):
    """ior-mud across its generations: `pid` is the one serving now. At the
    end of a `with` block every generation is stopped and the log must hold
    no sanitizer report."""

    talker = "Reboot Test"
    ipv6 = False  # one listener: the adoption log lines count them
    log_timeout = 10

    def __init__(self, extra="", console=False, **kw):
        super().__init__("admins : alice\n" + extra, args=["--console"] if console else [],
                         stdin=subprocess.PIPE if console else subprocess.DEVNULL, **kw)
        self.pids = [self.pid]

    def __exit__(self, *exc):
        self.stop()

    def await_reboot(self, pump=(), timeout=15):
        """The next generation's startup line; the old one must be gone."""
        deadline = time.time() + timeout
        seen = []
        while True:  # with a console user, its output shares stdout
            line = h.read_line(self.proc.stdout, max(0.1, deadline - time.time()), pump)
            seen.append(line)
            m = re.search(r"\(rebooted, pid (\d+)\)", line)
            if m or time.time() >= deadline:
                break
        check(m, "no reboot startup line (got %r); log:\n%s" % (seen, self.read_log()[-3000:]))
        check(("backend " + h.BACKEND) in line, "new process on another backend: " + line)
        old, self.pid = self.pid, int(m.group(1))
        self.pids.append(self.pid)
        deadline = time.time() + 10
        while alive(old) and time.time() < deadline:
            pump_all(pump, 0.01)
        check(not alive(old), "old server %d still running after the hand-over" % old)
        return self.pid

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self):
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 10
        while any(alive(p) for p in self.pids) and time.time() < deadline:
            time.sleep(0.05)
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        reap()
        # Every generation logs here: a sanitizer build's reports (the old
        # processes exit after each hand-over) fail the test.
        log = self.read_log()
        for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            check(bad not in log, "sanitizer report in the server log:\n" + log[log.find(bad) - 200:][:4000])


class Client(h.Client):
    """harness.Client with its text read without CRs, and `who`."""

    expect_timeout = 8
    strip_cr = True

    def who(self):
        self.line("who")
        m = self.expect(r"Who is here:\n((?:  .*\n)*)(\d+ players?\.)")
        # Idle times move on; names and net-dead marks must not.
        return re.sub(r" \(idle [^)]*\)", "", m.group(1)) + m.group(2)


# ---- the tests --------------------------------------------------------------

def test_reboot_keeps_every_player():
    # MCCP3 off: a client's MCCP3 stream cannot be handed on (its inflate
    # state stays in the old process), so tintin++ would go net-dead; see
    # test_mccp3_link_goes_netdead.
    with Server(extra="mccp3 : off\n") as s:
        t = None
        try:
            alice, bob = Client(s.port, mccp=True), Client(s.port)
            alice.login("alice")
            bob.login("bob")
            check(alice.streams == 1, "alice's MCCP2 never started")
            carol = Client(s.port)
            carol.login("carol", "carolpw")
            carol.close()  # net-dead from here on
            alice.expect("Carol has lost their link")
            dave = Client(s.port)  # half-way through a login
            dave.expect("By what name")
            dave.line("dave")
            dave.expect("Choose a password")
            if h.TMUX and h.TINTIN:
                t = Tmux(h.TINTIN + " -t ior-reboot")
                t.tintin_login(s.port, "tina", "tinapass")
                t.type_line("client")
                t.wait_for("Compression: MCCP2")
            else:
                print("    (tintin++ or tmux missing: its part skipped)")
            settle([alice, bob])
            before_who = alice.who()
            for name in ("Alice", "Bob", "Carol \\(net-dead\\)"):
                check(re.search(name, before_who), before_who)
            old_pid = s.pid
            fds_before = h.fd_count(old_pid)
            verbs_before = (len(alice.verbs), len(bob.verbs))
            bob.send(b"say hal")  # half a line: it must carry over
            settle([alice, bob], 0.3)

            alice.line("reboot")
            new_pid = s.await_reboot(pump=[alice, bob, dave])
            check(new_pid != old_pid, "same pid")
            for c in (alice, bob, dave):
                c.expect("The world shimmers\\.\\.\\.")
            s.wait_log(r"reboot requested by Alice")
            s.wait_log(r"reboot: adopted 1 listeners and 5 sessions \(4 connected\)")
            settle([alice, bob, dave], 0.3)
            fds_after = h.fd_count(new_pid)
            print("    fds: %d in the old process before, %d in the new one after" % (fds_before, fds_after))
            check(fds_after == fds_before, "fds %d before the reboot, %d after: %s" %
                  (fds_before, fds_after, os.listdir("/proc/%d/fd" % new_pid)))
            check(alice.streams == 2, "alice's MCCP2 did not restart (%d streams)" % alice.streams)
            check((len(alice.verbs), len(bob.verbs)) == verbs_before,
                  "telnet renegotiated after the reboot: %s %s" % (alice.verbs[verbs_before[0]:], bob.verbs[verbs_before[1]:]))

            bob.send(b"lo\r\n")
            alice.expect("Bob says: hallo")
            check(alice.who() == before_who, "who changed:\n%s\nvs\n%s" % (before_who, alice.who()))
            bob.line("say after the shimmer")
            alice.expect("Bob says: after the shimmer")
            dave.line("davepw")
            dave.expect("Hello, Dave")
            bob.expect("Dave has arrived")
            carol2 = Client(s.port)
            carol2.reconnect("carol", "carolpw")
            if t:
                t.wait_for("The world shimmers")
                t.wait_for("Bob says: after the shimmer")
                t.type_line("client")
                screen = t.wait_for(r"(?s)shimmers.*Compression: MCCP2")
                check(not re.search(r"(?i)error|corrupt|inflate", screen), "tintin++ reported:\n" + screen)
                t.type_line("say tintin still here")
                alice.expect("Tina says: tintin still here")

            # The signals start it too.
            for sig in (signal.SIGUSR1, signal.SIGHUP):
                s.signal(sig)
                s.await_reboot(pump=[alice, bob, dave, carol2])
                alice.expect("The world shimmers")
                bob.line("say after %s" % sig.name)
                alice.expect("Bob says: after %s" % sig.name)
            check(not any(c.closed for c in (alice, bob, dave, carol2)), "a player was dropped")
        finally:
            if t:
                t.close()


def test_netdead_time_carries_over():
    """A net-dead session keeps the time it has waited: with a 4 s grace,
    dropped 2 s before the reboot, it expires about 2 s after it, not 4."""
    with Server(extra="net dead timeout : 4s\n") as s:
        alice, carol = h.logged_in(s.port, "alice", "carol", client=Client)
        carol.close()
        alice.expect("Carol has lost their link")
        dropped = time.time()
        settle([alice], 2.0)
        s.signal(signal.SIGUSR1)
        s.await_reboot(pump=[alice])
        rebooted = time.time()
        check("expired" not in s.read_log(), "expired before the reboot")
        s.wait_log(r"net-dead session expired #2", timeout=6)
        expired = time.time()
        check(expired - dropped < 5.5, "expired %.1fs after the drop: the reboot restarted its timer"
              % (expired - dropped))
        check(expired - rebooted < 3.5, "expired %.1fs after the reboot" % (expired - rebooted))
        alice.expect("Carol has left")


def test_console_user_reboots_and_stays():
    with Server(console=True) as s:
        alice = Client(s.port)
        alice.login("alice")
        con = s.proc.stdin
        for line in ("root", "rootpw", "reboot"):
            con.write(line.encode() + b"\n")
            con.flush()
            time.sleep(0.2)
        s.await_reboot(pump=[alice])
        alice.expect("The world shimmers")
        con.write(b"say the console is still here\n")
        con.flush()
        alice.expect("Root says: the console is still here")
        check("Root" in alice.who(), "the console player is gone")


def test_slow_reader_goes_netdead_not_garbled():
    """A client that reads nothing while output piles up cannot be flushed
    within the grace: it is not handed over half-written (its MCCP2 end
    would be lost) but goes net-dead and can log in again."""
    with Server(extra="output high watermark : 4k\noutput low watermark : 1k\nmax output buffer : 64m\n"
                     "max input queue : 64k\n") as s:
        alice = Client(s.port)
        alice.login("alice")
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", s.port))
        slow.sendall(b"slow\r\nslowpw\r\n")
        alice.expect("Slow has arrived")
        # More than the kernel's send buffer can take (tcp_wmem max, 4 MiB
        # here), so output stays queued in the server; sent as the socket
        # takes it, reading alice's echoes meanwhile.
        pending = (("say " + "x" * 1000 + "\r\n") * 6000 + "say done\r\n").encode()
        deadline = time.time() + 60
        while pending and time.time() < deadline:
            r, w, _ = select.select([alice.sock], [alice.sock], [], 0.05)
            if w:
                pending = pending[alice.sock.send(pending[:65536]):]
            if r:
                alice.pump(0)
                alice.text, alice.seen = alice.text[-100:], 0
        alice.expect("You say: done", timeout=60)
        s.signal(signal.SIGUSR1)
        s.await_reboot(pump=[alice])
        s.wait_log(r"disconnect #2 .*output not flushed in time for the reboot")
        check(re.search(r"Slow \(net-dead\)", alice.who()), "slow reader not net-dead")
        slow.close()
        Client(s.port).reconnect("slow", "slowpw")


def test_link_that_cannot_be_handed_over_goes_netdead():
    """A link whose transport cannot be handed over (TLS; here forced by the
    test hook for every link) is told so, goes net-dead across the reboot,
    and its player takes the session back by logging in again."""
    with Server(env={"IOR_MUD_REBOOT_FAULT": "links"}) as s:
        alice = Client(s.port)
        alice.login("alice")
        alice.line("reboot")
        alice.expect("cannot be carried over\.\nPlease reconnect and log in again")
        s.await_reboot(pump=[alice])
        s.wait_log(r"disconnect #1 .*its transport cannot be handed over")
        s.wait_log(r"reboot: adopted 1 listeners and 1 sessions \(0 connected\)")
        deadline = time.time() + 5
        while not alice.closed and time.time() < deadline:
            alice.pump(0.1)
        check(alice.closed, "the link was not closed")
        Client(s.port).reconnect("alice")


def test_tls_and_websocket_links_go_netdead_and_their_listeners_stay():
    """A TLS or WebSocket link cannot be handed over (its session state lives
    in this process): the player is told, goes net-dead across the reboot and
    takes the session back by logging in again. The listeners go over with
    their layers: afterwards a new TLS login works and the WebSocket listener
    still serves the web client."""
    with Server(extra="port : 127.0.0.1:0 tls\nport : 127.0.0.1:0 websocket\n") as s:
        tls_port = s.listener_port("tls")
        ws_port = s.listener_port("websocket")
        alice = Client(s.port)
        alice.login("alice")
        bob = TlsClient(tls_port)
        bob.login("bob")
        alice.line("reboot")
        bob.expect(r"\(encryption, WebSocket or compressed input\) cannot be carried over")
        s.await_reboot(pump=[alice, bob])
        s.wait_log(r"disconnect #2 .*its transport cannot be handed over")
        check(not alice.closed, "the telnet player was dropped")
        check(re.search(r"Bob \(net-dead\)", alice.who()), "the TLS player is not net-dead")
        TlsClient(tls_port).reconnect("bob")
        with socket.create_connection(("127.0.0.1", ws_port), timeout=5) as web:
            web.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = web.recv(4096)
        check(head.startswith(b"HTTP/1.1 200"), "the WebSocket listener after the reboot: %r" % head[:200])


def test_reboot_latency_with_fifty_players():
    """How long players wait: SIGUSR1 to the new process's startup line,
    with 50 logged-in players (half with MCCP2). Printed; each must stay
    well inside the adoption timeout."""
    with Server(extra="max connections per address : 0\nmax connects per address per minute : 0\n") as s:
        cs = []
        for i in range(50):
            c = Client(s.port, mccp=(i % 2 == 0))
            c.login("p" + "abcdefghijklmnopqrstuvwxyz"[i // 26] + "abcdefghijklmnopqrstuvwxyz"[i % 26])
            cs.append(c)
        times = []
        for _ in range(10):
            settle(cs, 0.1)
            t0 = time.time()
            s.signal(signal.SIGUSR1)
            s.await_reboot(pump=cs)
            times.append((time.time() - t0) * 1000)
        print("    in order (ms): " + " ".join("%.0f" % t for t in times))
        times.sort()
        print("    reboot with 50 players: median %.0f ms, max %.0f ms (%d runs; load %s)" %
              (times[len(times) // 2], times[-1], len(times), os.getloadavg()[0]))
        check(times[-1] < 8000, "a reboot took %.0f ms" % times[-1])
        cs[0].line("say all here")
        for c in cs[1:]:
            c.expect("says: all here")
        check(not any(c.closed for c in cs), "a player was dropped")


def test_mccp3_link_goes_netdead():
    """tintin++ compresses its input (MCCP3) where offered: that link is told
    it cannot be carried over, goes net-dead, and logs in again."""
    if h.tintin_missing():
        return
    with Server() as s, Tmux(h.TINTIN + " -t ior-reboot3") as t:
        alice = Client(s.port)
        alice.login("alice")
        t.tintin_login(s.port, "tina", "tinapass")
        alice.line("reboot")
        s.await_reboot(pump=[alice])
        s.wait_log(r"disconnect #2 .*its transport cannot be handed over")
        t.wait_for("cannot be carried over")
        check(re.search(r"Tina \(net-dead\)", alice.who()), "tintin++ not net-dead")


def test_only_admins_may_reboot():
    with Server() as s:
        bob = Client(s.port)
        bob.login("bob")
        bob.line("reboot")
        bob.expect("Only admins may reboot")
        check(alive(s.pid) and len(s.pids) == 1, "rebooted anyway")


def failed_reboot_keeps_serving(s, cause):
    alice, bob = Client(s.port, mccp=True), Client(s.port)
    alice.login("alice")
    bob.login("bob")
    pid, fds = s.pid, s.fds()
    alice.line("reboot")
    alice.expect("The world shimmers")
    bob.expect("The world shimmers")
    alice.expect("Reboot failed: .*The server carries on")
    s.wait_log(cause)
    check(alive(pid) and s.pid == pid, "the old server is gone")
    # Still serving, both ways, the MCCP2 stream restarted and readable.
    bob.line("say still here")
    alice.expect("Bob says: still here")
    alice.line("say me too")
    bob.expect("Alice says: me too")
    check(alice.streams == 2, "MCCP2 not restarted after the failure (%d)" % alice.streams)
    newcomer = Client(s.port)
    newcomer.login("nina")
    settle([alice, bob, newcomer], 0.3)
    check(h.fd_count(pid) == fds + 1, "fds leaked by the failed reboot: %d -> %d" % (fds, h.fd_count(pid)))
    reap()


def test_corrupt_state_keeps_the_old_server():
    with Server(env={"IOR_MUD_REBOOT_FAULT": "corrupt"}) as s:
        failed_reboot_keeps_serving(s, r"reboot refused: state file: checksum mismatch(.|\n)*"
                                       r"reboot failed: the new process exited with status 2; carrying on")


def test_newer_state_is_refused():
    with Server(env={"IOR_MUD_REBOOT_FAULT": "newer"}) as s:
        failed_reboot_keeps_serving(s, r"state file: format version 2 is newer than this binary reads \(1\)")


def test_missing_binary_keeps_the_old_server():
    copy = os.path.join(h.WORKDIR, "ior-mud-copy")
    shutil.copy2(h.BINARY, copy)
    with Server(binary=copy) as s:
        os.unlink(copy)  # a botched install: the path is gone
        failed_reboot_keeps_serving(s, r"reboot failed: the new process exited with status 127 "
                                       r"\(it could not exec the binary\)")


def test_many_reboots_under_chat():
    """REBOOTS hand-overs in a row while three players chat: every line
    arrives, in order, at everyone; nobody is dropped."""
    with Server(extra="idle timeout : 0\n") as s:
        names = ["alice", "bob", "cyd"]
        cs = [Client(s.port, mccp=(i == 0)) for i in range(3)]
        for c, n in zip(cs, names):
            c.login(n)
        settle(cs)
        sent = {n: [] for n in names}
        seq = 0
        start = time.time()
        for r in range(REBOOTS):
            for k in range(4):  # light traffic: a few lines between reboots, some during
                for c, n in zip(cs, names):
                    burst = b""
                    for _ in range(2):  # two lines in one write: one is still queued when the other runs
                        seq += 1
                        msg = "m%d-%s" % (seq, n)
                        sent[n].append(msg)
                        burst += ("say " + msg + "\r\n").encode()
                    c.send(burst)
                if k == 1:  # at once, so lines are in flight, read and queued when it freezes
                    s.signal(signal.SIGUSR1)
                settle(cs, 0.02)
            s.await_reboot(pump=cs)
        settle(cs, 1.0)
        for c, n in zip(cs, names):
            check(not c.closed, "%s was dropped" % n)
            for other in names:
                want = [("You say: " if other == n else other.capitalize() + " says: ") + m for m in sent[other]]
                got = re.findall(r"(?:You|%s) says?: m\d+-%s" % (other.capitalize(), other), c.text)
                check(got == want, "%s saw %d of %s's %d lines (first missing: %s)" %
                      (n, len(got), other, len(want), next((w for w in want if w not in got), None)))
            check(c.text.count("The world shimmers...") == REBOOTS, "%s saw %d shimmers" %
                  (n, c.text.count("The world shimmers...")))
        print("    %d reboots, %d lines said (each seen by all 3), %.1fs" % (REBOOTS, seq, time.time() - start))
        who = cs[0].who()
        check("3 players." in who and "net-dead" not in who, who)


def test_windows_says_linux_only():
    """The mingw build (under wine): the command says reboot is not there,
    and the server carries on."""
    with Server() as s:
        alice = Client(s.port)
        alice.login("alice")
        alice.line("reboot")
        alice.expect(r"Reboot failed: hot reboot is Linux/POSIX-only on this build \(not supported on Windows\)\. "
                     r"The server carries on\.", timeout=30)
        alice.line("say still here")
        alice.expect("You say: still here", timeout=30)
        s.wait_log("reboot failed: hot reboot is Linux/POSIX-only")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--reboots" in args:
        i = args.index("--reboots")
        REBOOTS = int(args[i + 1])
        del args[i:i + 2]
    h.setup(args, "ior-reboot-test-")
    # Server generations re-parent to us, not to init: we can reap and count them.
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # Under the emulator (the mingw build) only the Windows test runs.
    sys.exit(h.main([t for t in TESTS if (t is test_windows_says_linux_only) == bool(h.EMULATOR)]))
