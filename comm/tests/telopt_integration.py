#!/usr/bin/env python3
"""Integration tests for the telnet options NEW-ENVIRON/MNES, MSDP and MCCP3
against the real ior-mud, per backend. Usage: telopt_integration.py
PATH/TO/ior-mud BACKEND [TEST...]; the server, client, tmux and runner are
harness.py's (same arguments as integration.py, same exit codes: 77 = backend
not built).
"""
import re
import sys
import time
import zlib

import harness as h
from harness import IAC, DO, WILL, SB, SE, Client, Server, Tmux, check

NEW_ENVIRON, MSDP, MCCP3 = 39, 69, 87
NE_IS, NE_SEND, NE_INFO = 0, 1, 2
NE_VAR, NE_VALUE = 0, 1
MSDP_VAR, MSDP_VAL, TABLE_OPEN, TABLE_CLOSE, ARRAY_OPEN, ARRAY_CLOSE = 1, 2, 3, 4, 5, 6


def sb(option, payload):
    return bytes([IAC, SB, option]) + payload.replace(bytes([IAC]), bytes([IAC, IAC])) + bytes([IAC, SE])


def msdp(*pairs):
    out = b""
    for name, value in pairs:
        out += bytes([MSDP_VAR]) + name.encode() + bytes([MSDP_VAL]) + value.encode()
    return sb(MSDP, out)


def msdp_vars(payload):
    """Flat VAR/VAL pairs of one MSDP message (tables and arrays as raw bytes)."""
    out = {}
    for part in payload.split(bytes([MSDP_VAR]))[1:]:
        name, _, value = part.partition(bytes([MSDP_VAL]))
        out[name.decode("latin1")] = value
    return out


def log_has_no_raw_controls(server):
    log = server.read_log()
    bad = [c for c in log if ord(c) < 32 and c not in "\n\t"]
    check(not bad, "control bytes reached the log: %r" % bad[:5])


# ---- NEW-ENVIRON / MNES -------------------------------------------------------

def test_mnes_is_negotiated_like_mudlet_and_client_shows_it():
    with Server() as s:
        c = Client(s.port)
        asked = []

        def on_verb(cmd, opt):
            if cmd == DO and opt == NEW_ENVIRON:
                c.send(bytes([IAC, WILL, NEW_ENVIRON]))

        def on_sb(opt, payload):
            if opt == NEW_ENVIRON and payload[:1] == bytes([NE_SEND]):
                asked.extend(n.decode() for n in payload[1:].split(bytes([NE_VAR])) if n)
                reply = bytes([NE_IS])
                for k, v in [("CLIENT_NAME", b"MUDLET\x1b[31m"), ("CLIENT_VERSION", b"4.17.2"),
                             ("CHARSET", b"UTF-8"), ("TERMINAL_TYPE", b"ANSI-TRUECOLOR"),
                             ("MTTS", b"2825"), ("IPADDRESS", b"192.0.2.7")]:
                    reply += bytes([NE_VAR]) + k.encode() + bytes([NE_VALUE]) + v
                c.send(sb(NEW_ENVIRON, reply))
        c.on_verb, c.on_sb = on_verb, on_sb
        c.login("mona")
        check(sorted(asked) == sorted(["CHARSET", "CLIENT_NAME", "CLIENT_VERSION", "MTTS", "TERMINAL_TYPE",
                                       "IPADDRESS"]), "server asked SEND for %r" % asked)
        c.line("client")
        # The escape byte is shown as '?', never passed to the terminal.
        c.expect(r"MNES: client MUDLET\?\[31m 4\.17\.2, charset UTF-8, terminal ANSI-TRUECOLOR, "
                 r"MTTS 2825, IP address \(as the client says\) 192\.0\.2\.7")
        check("\x1b" not in c.text, "an escape byte from MNES reached the terminal")
        # INFO updates a value later.
        c.send(sb(NEW_ENVIRON, bytes([NE_INFO, NE_VAR]) + b"CLIENT_VERSION" + bytes([NE_VALUE]) + b"4.18"))
        c.line("client")
        c.expect(r"MNES: client MUDLET\?\[31m 4\.18,")
        # A malformed message: a log line, the session goes on.
        c.send(sb(NEW_ENVIRON, bytes([NE_IS, NE_VALUE]) + b"x"))
        s.wait_log(r"telnet: #1 127\.0\.0\.1:\d+: NEW-ENVIRON: VALUE without a variable.*\(ignored\)")
        c.line("say still here")
        c.expect("You say: still here")
        log_has_no_raw_controls(s)


def test_a_client_that_refuses_new_environ_shows_not_offered():
    with Server() as s:
        c = Client(s.port)
        c.login("nemo")
        c.line("client")
        c.expect(r"Input compression \(MCCP3\): off")
        c.expect("MSDP: off")
        c.expect("MNES: not offered")


# ---- MSDP -------------------------------------------------------------------

def msdp_client(port):
    c = Client(port)
    c.msdp = []

    def on_verb(cmd, opt):
        if cmd == WILL and opt == MSDP:
            c.send(bytes([IAC, DO, MSDP]))

    def on_sb(opt, payload):
        if opt == MSDP:
            c.msdp.append(payload)
    c.on_verb, c.on_sb = on_verb, on_sb
    return c


def test_msdp_report_then_a_change_arrives():
    with Server() as s:
        a = msdp_client(s.port)
        a.login("alice")
        a.send(msdp(("CLIENT_NAME", "PYTEST"), ("CLIENT_VERSION", "1.0")))
        a.send(msdp(("LIST", "COMMANDS")))
        h.pump_until(a, lambda: any(b"COMMANDS" in m for m in a.msdp), "LIST COMMANDS reply")
        reply = [m for m in a.msdp if b"COMMANDS" in m][0]
        for name in (b"LIST", b"REPORT", b"SEND", b"UNREPORT", b"RESET"):
            check(name in reply, "LIST COMMANDS lacks %r: %r" % (name, reply))
        a.send(msdp(("LIST", "REPORTABLE_VARIABLES")))
        h.pump_until(a, lambda: any(b"REPORTABLE_VARIABLES" in m for m in a.msdp), "reportable list")
        rep = [m for m in a.msdp if b"REPORTABLE_VARIABLES" in m][0]
        for name in (b"SERVER_ID", b"PLAYERS", b"CHARACTER_NAME", b"ROOM_NAME", b"ROOM"):
            check(name in rep, "%r not reportable: %r" % (name, rep))
        a.msdp.clear()
        a.send(msdp(("REPORT", "PLAYERS")))
        h.pump_until(a, lambda: any(msdp_vars(m).get("PLAYERS") == b"1" for m in a.msdp), "PLAYERS 1")
        a.send(msdp(("SEND", "CHARACTER_NAME")))
        h.pump_until(a, lambda: any(msdp_vars(m).get("CHARACTER_NAME") == b"Alice" for m in a.msdp),
                   "CHARACTER_NAME Alice")
        a.send(msdp(("SEND", "ROOM")))
        h.pump_until(a, lambda: any(m.startswith(bytes([MSDP_VAR]) + b"ROOM" + bytes([MSDP_VAL, TABLE_OPEN]))
                                  for m in a.msdp), "ROOM table")
        # Another player arrives: PLAYERS changes, and the change is reported.
        b = Client(s.port)
        b.login("bob")
        h.pump_until(a, lambda: any(msdp_vars(m).get("PLAYERS") == b"2" for m in a.msdp), "PLAYERS 2")
        a.send(msdp(("UNREPORT", "PLAYERS")))
        a.line("say unreported")  # a round trip: the UNREPORT has been read
        a.expect("You say: unreported")
        a.msdp.clear()
        b.line("quit")
        b.expect_closed()
        a.expect("Bob has left")
        a.pump(0.3)
        check(not any("PLAYERS" in msdp_vars(m) for m in a.msdp), "PLAYERS reported after UNREPORT")
        a.line("client")
        a.expect("MSDP: on CLIENT_NAME=PYTEST CLIENT_VERSION=1.0")
        # Malformed MSDP: logged, ignored.
        a.send(sb(MSDP, bytes([MSDP_VAL]) + b"junk"))
        s.wait_log(r"telnet: #1 127\.0\.0\.1:\d+: MSDP: expected VAR.*\(ignored\)")
        a.line("say fine")
        a.expect("You say: fine")


def test_msdp_off_in_config_is_not_offered():
    with Server("msdp : off\nmccp3 : off\n") as s:
        c = msdp_client(s.port)
        c.login("otto")
        check((WILL, MSDP) not in c.commands, "WILL MSDP offered with msdp : off")
        check((WILL, MCCP3) not in c.commands, "WILL MCCP3 offered with mccp3 : off")


# ---- MCCP3 --------------------------------------------------------------------

class Mccp3Client(Client):
    """Answers DO MCCP3; start() sends IAC SB MCCP3 IAC SE and from then on
    every line goes through one zlib stream (as tintin++ does)."""

    def __init__(self, port):
        super().__init__(port)
        self.z = None
        self.offered = False

        def on_verb(cmd, opt):
            if cmd == WILL and opt == MCCP3:
                self.offered = True
                self.sock.sendall(bytes([IAC, DO, MCCP3]))
        self.on_verb = on_verb

    def start(self, with_bytes=b""):
        h.pump_until(self, lambda: self.offered, "WILL MCCP3")
        self.z = zlib.compressobj(9)
        self.sock.sendall(bytes([IAC, SB, MCCP3, IAC, SE]) + with_bytes)

    def send(self, data):
        if self.z is not None:
            data = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def finish(self):
        self.sock.sendall(self.z.flush(zlib.Z_FINISH))
        self.z = None


def test_mccp3_compressed_input_logs_in_and_chats_with_a_plain_user():
    with Server() as s:
        plain = Client(s.port)
        plain.login("paula")
        c = Mccp3Client(s.port)
        c.expect("By what name")
        c.start()
        c.line("zed")          # the login itself is compressed
        c.expect("password")
        c.line("zpass")
        c.expect("Hello, Zed")
        plain.expect("Zed has arrived")
        # Split a compressed line across two writes at every few bytes.
        z = c.z.compress(b"say squeezed hello\r\n") + c.z.flush(zlib.Z_SYNC_FLUSH)
        for i in range(0, len(z), 3):
            c.sock.sendall(z[i:i + 3])
            time.sleep(0.005)
        plain.expect("Zed says: squeezed hello")
        plain.line("tell zed plain reply")
        c.expect("Paula tells you: plain reply")
        c.line("client")
        c.expect(r"Input compression \(MCCP3\): on \(\d+ bytes inflated to \d+\)")
        # The client ends its stream; the bytes after the end are plain.
        c.finish()
        c.sock.sendall(b"say plain again\r\n")
        plain.expect("Zed says: plain again")
        c.sock.sendall(b"client\r\n")
        c.expect(r"Input compression \(MCCP3\): ended by the client")


def test_mccp3_bomb_drops_only_that_user_with_a_log_line():
    with Server() as s:
        good = Client(s.port)
        good.login("gina")
        c = Mccp3Client(s.port)
        c.login("boris")
        good.expect("Boris has arrived")
        c.start()
        bomb = c.z.compress(b"\0" * (16 << 20)) + c.z.flush(zlib.Z_SYNC_FLUSH)
        check(len(bomb) < 64 * 1024, "bomb is %d bytes" % len(bomb))
        c.sock.sendall(bomb)
        c.expect_closed()
        s.wait_log(r"disconnect #2 127\.0\.0\.1:\d+: MCCP3: decompression bomb: \d+ compressed bytes "
                   r"inflate to more than \d+ bytes")
        good.expect("Boris has lost their link")
        good.line("say still fine")
        good.expect("You say: still fine")
        log_has_no_raw_controls(s)


def test_mccp3_corrupt_stream_drops_the_user_with_a_log_line():
    with Server() as s:
        c = Mccp3Client(s.port)
        c.expect("By what name")
        c.start(b"look\r\n\x1b[2Jnot deflate at all")
        c.expect_closed()
        s.wait_log(r"disconnect #1 .*MCCP3: bad compressed input \(zlib: ")
        log_has_no_raw_controls(s)
        d = Client(s.port)  # the server goes on
        d.login("dora")


def test_mccp3_inflated_flood_stops_at_the_input_queue():
    with Server("max input queue : 4k\n") as s:
        c = Mccp3Client(s.port)
        c.login("fred")
        c.start()
        rss0 = s.rss_kb() if not h.EMULATOR else 0
        # 3000 distinct lines (~60 KB) in one compressed burst: well within
        # the ratio cap, far over the 4 KiB command queue.
        lines = b"".join(b"xq%05d unknown command here\r\n" % i for i in range(3000))
        c.send(lines)
        s.wait_log(r"input flood from #1 .*reading paused", timeout=10)
        # Every line is still run, in order, one per turn: the held rest of
        # the read is taken once the queue drains.
        c.expect(r"Unknown command 'xq02999'", timeout=60)
        if rss0:
            check(s.rss_kb() - rss0 < 8 * 1024, "RSS grew by %d KiB" % (s.rss_kb() - rss0))
        c.line("say done")
        c.expect("You say: done")


def test_tintin_logs_in_with_mccp3_and_mnes():
    if h.tintin_missing():
        return
    with Server() as s, Tmux(h.TINTIN + " -t ior-test") as t:
        other = Client(s.port)
        other.login("olga")
        t.tintin_login(s.port, "tina", "tintinpass9")
        t.type_line("client")
        screen = t.wait_for(r"MNES: ")
        check(re.search(r"Input compression \(MCCP3\): on", screen), screen)
        # tintin++ leaves MSDP off unless a script turns it on.
        check(re.search(r"MSDP: (on|off)", screen), screen)
        check(re.search(r"MNES: client TinTin\+\+ \d", screen), screen)
        t.type_line("say compressed from tintin")
        other.expect("Tina says: compressed from tintin")
        other.line("tell tina hi back")
        t.wait_for("Olga tells you: hi back")
        print("    tintin++ `client` output:\n" + "\n".join(
            "      " + l for l in screen.splitlines() if re.match(r"(Client|Terminal|Window|MTTS|Charset|"
                                                             r"Compression|Input|GMCP|MSDP|MNES)", l)))


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]

if __name__ == "__main__":
    h.setup(sys.argv[1:])
    sys.exit(h.main(TESTS))
