#!/usr/bin/env python3
"""Integration tests for ior-mud: start the real server binary on ephemeral
ports and drive it with real clients (raw sockets, telnet and tintin++ in
tmux). Usage: integration.py PATH/TO/ior-mud BACKEND [TEST...]
(--emulator=... under wine); the server, client, tmux and runner are
harness.py's.

Exit 0: all passed; 1: a failure; 77: BACKEND is not in this build (skip).
Everything is bounded in time; only processes and tmux servers this script
started are stopped, by PID / by their own tmux socket.
"""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import harness as h
from harness import (DO, DONT, ECHO, GMCP, IAC, MCCP2, NAWS, NOP, SB, SE, TELNET, TMUX, TTYPE, WILL,
                     Client, Failure, Server, Tmux, check, has_ipv6, read_line)


# ---- the tests --------------------------------------------------------------

def test_startup_line_names_address_port_and_backend():
    with Server() as s:
        check(re.match(r"ior-mud: Test Talker listening on 127\.0\.0\.1:\d+", s.startup), s.startup)


def test_two_users_chat():
    with Server() as s:
        a, b = h.logged_in(s.port, "alice", "bob")
        a.expect("Bob has arrived")
        b.line("say hello alice")
        b.expect("You say: hello alice")
        a.expect("Bob says: hello alice")
        a.line("emote waves")
        b.expect("Alice waves")
        a.line("tell bob psst")
        b.expect("Alice tells you: psst")
        b.line("who")
        b.expect(r"Alice \(idle")
        b.expect(r"2 players")
        b.line("look")
        b.expect("The Lobby")
        b.expect("Here: Alice")
        a.line("quit")
        a.expect("Goodbye, Alice")
        a.expect_closed()
        b.expect("Alice has left")
        s.wait_log(r"connect #1 127\.0\.0\.1:\d+")
        s.wait_log(r"disconnect #1 ")


def test_ipv6_listener_serves_users():
    if not has_ipv6():
        print("    (no IPv6 on this host: skipped)")
        return
    with Server() as s:
        check(s.port6, "no IPv6 listener in startup line: " + s.startup)
        c = Client(s.port6, "::1", socket.AF_INET6)
        c.login("sixer")
        s.wait_log(r"connect #1 \[::1\]:\d+")


def answer_like_a_modern_client(c, names):
    """WILL NAWS / WILL TTYPE with MTTS cycling, as tintin++ or Mudlet do."""
    queue = list(names)
    c.ttype_replies = 0

    def on_verb(cmd, opt):
        if cmd == DO and opt == NAWS:
            c.send(bytes([IAC, WILL, NAWS, IAC, SB, NAWS, 0, 100, 0, 40, IAC, SE]))
        elif cmd == DO and opt == TTYPE:
            c.send(bytes([IAC, WILL, TTYPE]))

    def on_sb(opt, payload):
        if opt == TTYPE and payload == b"\x01":
            name = queue.pop(0) if len(queue) > 1 else queue[0]
            # Split the reply across two sends: the server must reassemble.
            reply = bytes([IAC, SB, TTYPE, 0]) + name.encode() + bytes([IAC, SE])
            c.send(reply[:3])
            time.sleep(0.01)
            c.send(reply[3:])
            c.ttype_replies += 1

    c.on_verb, c.on_sb = on_verb, on_sb


def test_naws_and_ttype_reach_the_server():
    with Server() as s:
        c = Client(s.port)
        answer_like_a_modern_client(c, ["TESTCLIENT", "XTERM-256COLOR", "MTTS 9"])
        c.login("nora")
        deadline = time.time() + 5
        while c.ttype_replies < 3 and time.time() < deadline:
            c.pump(0.1)  # the MTTS cycle runs as the client answers
        check(c.ttype_replies == 3, "server asked for %d terminal types, not 3" % c.ttype_replies)
        c.line("client")
        c.expect("Client: TESTCLIENT")
        c.expect("Terminal: XTERM-256COLOR")
        c.expect("Window: 100x40")
        c.expect("MTTS: 9")


def offers_mccp(s):
    """Whether this build offers MCCP2 (a build without zlib does not)."""
    c = Client(s.port)
    c.expect("By what name")
    c.close()
    return (WILL, MCCP2) in c.commands


def test_mccp2_output_decompresses():
    with Server() as s:
        if not offers_mccp(s):
            check(h.EMULATOR, "MCCP2 not offered by the Linux build")
            print("    (built without zlib: MCCP2 not offered, skipped)")
            return
        c = Client(s.port)
        c.want_mccp = True
        c.send(bytes([IAC, DO, MCCP2]))
        c.expect("By what name")
        deadline = time.time() + 5
        while c.inflater is None and time.time() < deadline:
            c.pump(0.1)
        check(c.inflater is not None, "no IAC SB MCCP2 IAC SE start marker")
        c.line("zed")
        c.expect("password")
        c.line("pw")
        c.expect("Hello, Zed")
        for _ in range(20):
            c.line("help")
        for _ in range(20):
            c.expect("quit +leave")
        c.line("client")
        c.expect("Compression: MCCP2")
        check(c.compressed_bytes > 0, "nothing arrived compressed")
        check(c.compressed_bytes < len(c.text) // 2,
              "compressed %d bytes for %d of text" % (c.compressed_bytes, len(c.text)))
        c.line("quit")
        c.expect("Goodbye, Zed")
        # The server ends the stream properly before closing.
        c.expect_closed()
        check(c.inflater.eof, "deflate stream was not finished")


def test_client_killed_mid_output_is_net_dead_and_can_reconnect():
    with Server("net dead timeout : 60\n") as s:
        a, b = Client(s.port), Client(s.port)
        a.login("alice", "secret")
        b.login("bob")
        # Ask for lots of output and die without reading it.
        a.send(b"help\r\n" * 300)
        time.sleep(0.2)
        a.reset()
        b.expect("Alice has lost their link")
        s.wait_log(r"disconnect #1 .*")
        b.line("who")
        b.expect(r"Alice \(net-dead\)")
        # Wrong password does not take the session.
        c = Client(s.port)
        c.expect("By what name")
        c.line("alice")
        c.expect("net-dead. Password to reconnect")
        check((WILL, ECHO) in c.commands, "password prompt did not hide input (no WILL ECHO)")
        c.line("wrong")
        c.expect("Wrong password")
        c.line("alice")
        c.expect("Password to reconnect")
        c.line("secret")
        c.expect("Reconnected. Welcome back, Alice")
        b.expect("Alice has reconnected")
        c.line("say I am back")
        b.expect("Alice says: I am back")
        b.line("who")
        b.expect(r"Alice \(idle")
        b.expect("2 players")
        s.wait_log(r"reconnect #1 ")


def test_net_dead_session_expires():
    with Server("net dead timeout : 1\n") as s:
        a, b = h.logged_in(s.port, "alice", "bob")
        a.close()
        b.expect("Alice has lost their link")
        b.expect("Alice has left", timeout=5)
        s.wait_log("net-dead session expired")


def test_idle_user_is_disconnected_with_a_message():
    with Server("idle timeout : 2\n") as s:
        c = Client(s.port)
        c.login("sleepy")
        c.expect("idle too long", timeout=6)
        c.expect_closed()
        s.wait_log("idle timeout #1")


def test_long_line_is_cut_with_a_notice():
    with Server("max line length : 64\n") as s:
        c = Client(s.port)
        c.login("longa")
        c.send(b"say " + b"x" * 200000 + b"\r\n")
        c.expect("cut to 64 characters")
        c.expect("You say: " + "x" * 60)
        c.line("say short")
        c.expect("You say: short")


def flood(port, payload, seconds, stop):
    """Sends `payload` in a loop without reading, for up to `seconds`."""
    sent = 0
    try:
        c = Client(port)
        c.login("flood")
        c.sock.settimeout(0.5)
        deadline = time.time() + seconds
        while time.time() < deadline and not stop.is_set():
            try:
                sent += c.sock.send(payload)
            except socket.timeout:
                continue  # the server paused reading us: TCP pushes back
            except OSError:
                break     # the server dropped us
        c.close()
    except Failure:
        pass
    return sent


def test_flooding_client_does_not_grow_server_memory():
    with Server("max input queue : 16k\nmax output buffer : 256k\n"
               "output high watermark : 128k\noutput low watermark : 32k\n") as s:
        watcher = Client(s.port)
        watcher.login("watcher")
        time.sleep(0.3)
        base = s.rss_kb()
        stop = threading.Event()
        result = {}
        payload = (b"say " + b"f" * 200 + b"\r\n") * 200
        t = threading.Thread(target=lambda: result.update(sent=flood(s.port, payload, 6, stop)))
        t.start()
        peak = base
        while t.is_alive():
            peak = max(peak, s.rss_kb())
            watcher.pump(0.05)  # the watcher reads its share
        t.join()
        grown = peak - base
        print("    flood log: " + " | ".join(l for l in s.read_log().splitlines() if "flood" in l or "dropped" in l)[:300])
        print("    flood: sent %.1f MB, VmRSS %d kB -> peak %d kB (+%d kB)"
              % (result.get("sent", 0) / 1e6, base, peak, grown))
        check(grown < 24 * 1024, "server memory grew by %d kB under a flood" % grown)
        log = s.read_log()
        check("input flood" in log or "output buffer over its cap" in log,
              "neither flow control nor the cap acted; log:\n" + log[-1500:])
        # Still serving: a new user can log in and talk.
        n = Client(s.port)
        n.login("after")
        n.line("say still alive")
        n.expect("You say: still alive")


def test_slow_reader_is_dropped_past_the_output_cap():
    with Server("max output buffer : 64k\noutput high watermark : 32k\noutput low watermark : 8k\n") as s:
        slow = Client(s.port, rcvbuf=4096)
        slow.login("slow")
        loud = Client(s.port)
        loud.login("loud")
        notice = "Slow has lost their link"
        # Seconds normally; a loaded machine (or ASan, or wine) is far slower.
        # The notice may arrive before the log line: looked for meanwhile.
        seen_notice = h.say_until_logged(s, loud, "output buffer over its cap", 60 * h.SLOW, watch=notice)
        s.wait_log(r"dropped #1 .*output buffer over its cap", timeout=5 * h.SLOW)
        # Else it is still queued behind loud's backlog of its own echoes.
        if not seen_notice:
            loud.expect(notice, timeout=30 * h.SLOW)


def test_control_bytes_from_a_player_never_reach_another_terminal():
    with Server() as s:
        a, b = h.logged_in(s.port, "alice", "bob")
        a.expect("Bob has arrived")
        b.send(b"say \x1b[2J\x1b]0;owned\x07clear\x9b2J\xc2\x9bscreen\r\n")
        a.expect("Bob says: .*screen")
        b.send(b"emote \x1b[1A\x1b[2Kgrins\x0e!\r\n")  # (DEL and BS erase, in the line buffer)
        a.expect("Bob .*grins!")
        b.send(b"tell alice \x1b[5mblink\x0fhi\r\n")
        a.expect("Bob tells you: .*hi")
        b.line("say caf\u00e9 \u2603 \U0001d11e")
        a.expect("Bob says: " + "caf\u00e9 \u2603 \U0001d11e".encode().decode("latin1"))
        for byte in ("\x1b", "\x07", "\x0e", "\x0f", "\x9b"):
            check(byte not in a.text, "control byte %r reached another player:\n%r" % (byte, a.text[-600:]))


def test_client_bytes_cannot_forge_log_lines():
    with Server() as s:
        c = Client(s.port)
        c.send(bytes([IAC, DO, GMCP]))
        c.login("mallory")
        # The package name is logged; tabs stand in for spaces (a space ends it).
        forged = b"Core.Hello\r\n2026-01-01\t00:00:00\tlogin\tAdmin\x1b[2J"
        c.send(bytes([IAC, SB, GMCP]) + forged + b" {}" + bytes([IAC, SE]))
        s.wait_log(r"gmcp #1 ")
        log = s.read_log()
        check(not re.search(r"^2026-01-01", log, re.M), "a client forged a log line:\n" + log)
        check(not re.search("[\x00-\x08\x0b-\x1f\x7f]", log), "raw control bytes in the log:\n%r" % log)
        check("Core.Hello\\x0d\\x0a2026-01-01\\x09" in log, "control bytes not shown escaped:\n" + log)


def test_a_reply_in_several_writes_is_not_held_by_nagle():
    """Each reply is several writes (name -> WILL ECHO, prompt, GA; say ->
    text, prompt, GA): with Nagle on, the second waits for the client's
    delayed ACK, ~40 ms, every time."""
    with Server() as s:
        c = Client(s.port)
        c.expect("By what name")
        steps = [("nagle", "Choose a password"), ("pw", "> ")]
        steps += [("say %d" % i, "You say: %d\r\n> " % i) for i in range(5)]
        times = []
        for line, reply in steps:
            start = time.perf_counter()
            c.line(line)
            c.expect(reply)
            times.append((time.perf_counter() - start) * 1000)
        median = sorted(times)[len(times) // 2]
        print("    round trips (ms): " + " ".join("%.1f" % t for t in times))
        check(median < 25 * h.SLOW, "median round trip %.1f ms: held by Nagle?" % median)


def test_login_timeout_ends_a_client_that_only_trickles_bytes():
    with Server("login timeout : 2\n") as s:
        player = Client(s.port)
        player.login("stays")
        lazy = Client(s.port)
        lazy.expect("By what name")
        deadline = time.time() + 5
        while time.time() < deadline and lazy.pump(0.3):
            lazy.send(bytes([IAC, NOP]))  # resets the idle timer, not the login timer
        check("took too long to log in" in lazy.text, "no login timeout:\n" + lazy.text[-300:])
        check(time.time() < deadline, "still connected after 5 s")
        s.wait_log(r"login timeout #2 ")
        player.line("say still here")
        player.expect("You say: still here")


def test_per_address_cap_refuses_only_that_address():
    with Server("max connections per address : 3\n") as s:
        held = [Client(s.port, source="127.0.0.2") for _ in range(3)]
        for c in held:
            c.expect("By what name")
        extra = Client(s.port, source="127.0.0.2")
        extra.expect("too many connections from your address")
        extra.expect_closed()
        player = Client(s.port)
        player.login("other")
        held.pop().close()
        s.wait_log(r"disconnect #3 ")
        again = Client(s.port, source="127.0.0.2")
        again.login("freed")
        s.wait_log(r"refused 127\.0\.0\.2:\d+ .*too many connections")


def test_connect_rate_per_address_is_limited():
    with Server("max connects per address per minute : 4\n") as s:
        for _ in range(4):
            c = Client(s.port, source="127.0.0.3")
            c.expect("By what name")
            c.close()
        c = Client(s.port, source="127.0.0.3")
        c.expect("too many connection attempts")
        c.expect_closed()
        for _ in range(5):  # refused again, logged once
            Client(s.port, source="127.0.0.3").expect_closed()
        Client(s.port, source="127.0.0.4").login("elsewhere")
        check(len(re.findall("too many connection attempts", s.read_log())) == 1,
              "refusals not logged once per minute:\n" + s.read_log())


def test_slowloris_clients_cannot_fill_the_server():
    # Five attacking hosts may hold 5 x 8 slots of the 60, no more.
    with Server("max users : 60\nmax connections per address : 8\nlogin timeout : 30\n") as s:
        lorises = []
        try:
            for i in range(300):
                try:
                    lorises.append(Client(s.port, source="127.0.0.%d" % (10 + i % 5)))
                except OSError:
                    pass  # the listen backlog may overflow; the attack goes on
            start = time.time()
            player = Client(s.port)
            player.login("real")
            login = time.time() - start
            player.line("say made it")
            player.expect("You say: made it")
            for c in lorises:
                try:
                    c.send(bytes([IAC, NOP]))
                except OSError:
                    pass
            held = len(re.findall(r"connect #\d+ 127\.0\.0\.1[0-4]:", s.read_log()))
            print("    300 slowloris clients, %d admitted: normal login %.0f ms" % (held, login * 1000))
            check(held <= 40, "%d slowloris connections admitted from 5 addresses" % held)
            check("server is full" not in s.read_log(), "slowloris clients filled max users")
        finally:
            for c in lorises:
                c.close()


def test_shutdown_with_only_net_dead_users_logs_them_out():
    s = Server("net dead timeout : 60\n")
    c = Client(s.port)
    c.login("ghost")
    c.close()
    s.wait_log(r"disconnect #1 ")
    rc = s.stop()
    check("logout Ghost" in s.read_log(), "no logout for the net-dead user:\n" + s.read_log())
    check(rc == 0, "exit code %r (a leak under LeakSanitizer?):\n%s" % (rc, s.read_log()[-2000:]))

def test_split_telnet_and_line_endings():
    with Server() as s:
        c = Client(s.port)
        c.expect("By what name")
        # name split in the middle of an IAC sequence and of CR NUL
        for chunk in [b"ka", bytes([IAC]), bytes([NOP]), b"te\r", b"\x00", b"pw\r", b"\nsay a",
                      bytes([IAC, IAC]), b"b\n"]:
            c.send(chunk)
            time.sleep(0.02)
        c.expect("Hello, Kate")
        c.expect("You say: a\xffb")


def test_shutdown_says_goodbye_and_exits_zero():
    s = Server()
    c = Client(s.port)
    c.login("last")
    c.line("help")
    rc = s.stop()
    c.expect("shutting down")
    c.expect_closed()
    check(rc == 0, "exit code %r" % rc)
    check("shutdown complete" in s.read_log(), "no shutdown log")


def test_sigint_is_a_graceful_shutdown_too():
    s = Server()
    c = Client(s.port)
    c.login("ctrlc")
    rc = s.stop(signal.SIGINT)
    c.expect("shutting down")
    check(rc == 0, "exit code %r" % rc)


def test_console_user_talks_through_stdin_and_stdout():
    with Server(args=["--console"], stdin=subprocess.PIPE) as s:
        out = s.proc.stdout
        s.proc.stdin.write(b"conny\npw\n")
        s.proc.stdin.flush()
        c = Client(s.port)
        c.login("netty")
        s.proc.stdin.write(b"say hello from the console\n")
        s.proc.stdin.flush()
        c.expect("Conny says: hello from the console")
        c.line("say hi console")
        deadline, seen = time.time() + 5, ""
        while "Netty says: hi console" not in seen and time.time() < deadline:
            r, _, _ = select.select([out], [], [], 0.2)
            if r:
                seen += os.read(out.fileno(), 65536).decode(errors="replace")
        check("Netty says: hi console" in seen, "console did not get the say:\n" + seen)
        check("\xff" not in seen, "telnet bytes on the console")
        s.wait_log(r"connect #1 console")


def test_environment_picks_the_backend_when_config_says_auto():
    cfg = os.path.join(h.WORKDIR, "auto.cfg")
    with open(cfg, "w") as f:
        f.write("port : 127.0.0.1:0\nio_reactor_backend : auto\n")
    env = h.environment(IO_REACTOR_BACKEND=h.BACKEND)
    p = subprocess.Popen(h.command("--config", cfg), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, env=env)
    h.STARTED.append(p)
    try:
        line = read_line(p.stdout, 10 * h.SLOW)
        check(line.endswith("backend " + h.BACKEND), line)
    finally:
        p.send_signal(h.STOP_SIGNAL)
        check(p.wait(timeout=10) == 0, "exit code not 0")


def test_trace_key_sends_reactor_trace_to_the_log():
    with Server("trace io_reactor : on\n") as s:
        c = Client(s.port)
        c.expect("By what name")
        s.wait_log(r"io_reactor: add fd \d+")


def test_bad_config_is_an_error_naming_file_and_line():
    cfg = os.path.join(h.WORKDIR, "bad.cfg")
    with open(cfg, "w") as f:
        f.write("port : 0\n# fine\nprot : 4000\n")
    r = h.run_binary("--config", cfg)
    check(r.returncode != 0, "server started with a bad config")
    check(cfg + ":3: unknown key 'prot'" in r.stderr, r.stderr)
    with open(cfg, "w") as f:
        f.write("port : 0\nidle timeout : soon\n")
    r = h.run_binary("--config", cfg)
    check(r.returncode != 0 and cfg + ":2: bad value for 'idle timeout'" in r.stderr, r.stderr)
    check(r.stdout == "", "a server that refused its config printed a startup line")
    r = h.run_binary("--config", cfg + ".missing")
    check(r.returncode != 0 and "cannot open" in r.stderr, r.stderr)


def config_error(text, *args):
    """Starts the server on a config `text` (bytes); returns (config path, stderr)."""
    cfg = os.path.join(h.WORKDIR, "err.cfg")
    with open(cfg, "wb") as f:
        f.write(text)
    r = h.run_binary("--config", cfg, *args, text=False)
    err = r.stderr.decode("latin1")
    check(r.returncode != 0, "server started with config %r" % text)
    check(r.stdout == b"", "a server that refused its config printed a startup line")
    return cfg, err


def test_every_config_error_names_file_and_line():
    cfg, err = config_error(b"name : x\nport : localhost:0\n")
    check(cfg + ":2: bad value for 'port': 'localhost' is not a numeric IPv4 address" in err, err)
    cfg, err = config_error(b"name : x\nport : 127.0.0.1:0\nnet dead timeout : 1m\nmax\0users : 5\n")
    check(cfg + ":4: unknown key 'max\\x00users'" in err, err)
    cfg, err = config_error(b"name : x\n")
    check(cfg + ": no port configured" in err, err)
    cfg, err = config_error(b"port : 127.0.0.1:0\n\noutput low watermark : 512k\n")
    check(cfg + ":3: output low watermark (524288) must be below output high watermark" in err, err)
    listed = h.run_binary("--list-backends").stdout.split()
    missing = [b for b in ("iocp", "io_uring", "epoll", "poll") if b not in listed]
    if missing:  # a backend the config knows but this build lacks
        cfg, err = config_error(b"port : 127.0.0.1:0\n# x\nio_reactor_backend : %s\n" % missing[0].encode())
        check(cfg + ":3: backend '%s' is not built in" % missing[0] in err, err)
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg, err = config_error(b"name : x\nport : 127.0.0.1:0\nport : 127.0.0.1:%d\n" % port)
        check(cfg + ":3: cannot listen on 127.0.0.1:%d" % port in err, err)
        _, err = config_error(b"port : 0\n", "--port", "127.0.0.1:%d" % port)
        check("--port: cannot listen on 127.0.0.1:%d" % port in err, err)
    finally:
        taken.close()


def test_a_client_that_never_logs_in_is_cut_by_the_budget():
    with Server("max replies before login : 50\nmax lines before login : 5\n", name="budget") as s:
        c = Client(s.port)
        c.expect("By what name")
        c.send(bytes([IAC, DO, MCCP2, IAC, DONT, MCCP2]) * 200)
        c.expect_closed()
        s.wait_log(r"disconnect #\d+ 127\.0\.0\.1:\d+: over the pre-login budget \(negotiation replies \d+ > 50\); "
                   r"last input \"(\\x[0-9a-f]{2}|V)+\"")
        c2 = Client(s.port)
        c2.expect("By what name")
        c2.send(b"x\x1b[31m\r\n" * 10)
        c2.expect_closed()
        s.wait_log(r"over the pre-login budget \(lines \d+ > 5\); last input \"x\\x1b\[31m\\x0d\\x0a")
        check("\x1b" not in s.read_log(), "client bytes reached the log unescaped")
        # A logged-in player is past the budget: the same storm is answered.
        p = Client(s.port)
        p.login("pat")
        p.send(bytes([IAC, DO, MCCP2, IAC, DONT, MCCP2]) * 200 + b"say still here\r\n")
        # The reply holds compressed stretches; read it raw. It ends plain
        # (the storm ends with DONT), so the say shows in clear.
        raw, deadline = b"", time.time() + 10
        while b"You say: still here" not in raw and time.time() < deadline:
            r, _, _ = select.select([p.sock], [], [], 0.2)
            if r:
                data = p.sock.recv(65536)
                check(data, "logged-in player was dropped by the storm")
                raw += data
        check(b"You say: still here" in raw, "no answer after the storm")
        s.wait_log(r"turned option 86 \(ours\) on too often")
        # Pat stays connected through the stop (a session net-dead at
        # shutdown is covered by its own tests; this one is about the budget).


def test_telnet_in_tmux_chats_and_hides_the_password():
    if not (TMUX and TELNET):
        print("    (telnet or tmux missing: skipped)")
        return
    with Server() as s, Tmux("%s 127.0.0.1 %d" % (TELNET, s.port)) as t:
        other = Client(s.port)
        other.login("olga")
        t.wait_for("By what name")
        t.type_line("tess")
        t.wait_for("Choose a password")
        t.type_line("hush42secret")
        t.wait_for("Hello, Tess")
        t.type_line("say hi from telnet")
        t.wait_for("You say: hi from telnet")
        other.expect("Tess says: hi from telnet")
        other.line("say hello tess")
        t.wait_for("Olga says: hello tess")
        t.type_line("client")
        screen = t.wait_for("Window: 120x")
        check("hush42secret" not in screen, "password was echoed:\n" + screen)
        check("Terminal: " in screen, screen)


def test_tintin_in_tmux_negotiates_everything():
    if h.tintin_missing():
        return
    with Server() as s, Tmux(h.TINTIN + " -t ior-test") as t:
        other = Client(s.port)
        other.login("olga")
        t.tintin_login(s.port, "tina", "tintinpass9")
        t.type_line("client")
        screen = t.wait_for("Compression: MCCP2" if offers_mccp(s) else "Compression: off")
        check("Client: TINTIN++" in screen, screen)
        check(re.search(r"Window: \d+x\d+", screen), screen)
        check(re.search(r"MTTS: [1-9]", screen), screen)
        check("Charset: UTF-8" in screen, screen)
        check("tintinpass9" not in screen, "password was echoed")
        t.type_line("say hello from tintin")
        other.expect("Tina says: hello from tintin")
        other.line("tell tina hi back")
        t.wait_for("Olga tells you: hi back")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


if __name__ == "__main__":
    h.setup(sys.argv[1:])
    sys.exit(h.main(TESTS))
