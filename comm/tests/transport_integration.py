#!/usr/bin/env python3
"""Integration tests for ior-mud's transport stacks (TLS, PROXY protocol,
WebSocket listeners) with real clients: `openssl s_client`, Python's ssl,
tintin++ (#ssl, GnuTLS) in tmux, raw PROXY v1/v2 headers, python3-websockets.
Usage: transport_integration.py PATH/TO/ior-mud BACKEND [TEST...]

The server, client, tmux and runner are harness.py's (same arguments as
integration.py, same rules: ephemeral ports, everything bounded in time, only
its own processes stopped). Exit 0: all passed; 1: a failure; 77: BACKEND not in this build.
Tests that need TLS are skipped (and say so) in a build without it.
"""
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import harness as h
from harness import IAC, DO, WILL, Client, Failure, Server, Tmux, check, tls_built

try:
    import asyncio
    import websockets
except ImportError:  # the pyenv python3 lacks apt's python3-websockets
    websockets = None

MSSP = 70
CERT = KEY = None  # the self-signed pair the server makes beside its config (set in main)


def needs_tls(test):
    def wrapper():
        if not tls_built():
            print("    (this build has no TLS: skipped)")
            return
        test()
    wrapper.__name__ = test.__name__
    return wrapper


def needs_websockets(test):
    def wrapper():
        if websockets is None:
            print("    (python3-websockets missing in this interpreter: skipped)")
            return
        test()
    wrapper.__name__ = test.__name__
    return wrapper


def TlsClient(port, **kw):
    """harness.TlsClient verifying the server's self-signed certificate."""
    kw.setdefault("cafile", CERT)
    return h.TlsClient(port, **kw)


class SClient:
    """`openssl s_client` as a child process, its output read by a thread."""

    def __init__(self, port):
        self.proc = subprocess.Popen(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
             "-CAfile", CERT, "-verify_return_error", "-verify_hostname", "localhost", "-quiet"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        h.STARTED.append(self.proc)
        self.out = b""
        self.seen = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                return
            with self.lock:
                self.out += chunk

    def line(self, text):
        self.proc.stdin.write(text.encode() + b"\r\n")
        self.proc.stdin.flush()

    def expect(self, pattern, timeout=8):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                text = self.out.decode("latin1")
            m = re.search(pattern, text[self.seen:])
            if m:
                self.seen += m.end()
                return m
            time.sleep(0.05)
        raise Failure("s_client never showed %r; got:\n%s" % (pattern, self.out[-1500:]))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def tls_server(extra="", name="tls"):
    return Server("port : 127.0.0.1:0 tls\n" + extra, name=name)


def proxy_v1(src, sport, dst="192.0.2.1", dport=4000):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def proxy_v2(src, sport, dst, dport):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    if ":" in src:
        body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
        fam = 0x21  # TCP over IPv6
    else:
        body = socket.inet_aton(src) + socket.inet_aton(dst)
        fam = 0x11  # TCP over IPv4
    body += struct.pack("!HH", sport, dport)
    return sig + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


# ---- TLS --------------------------------------------------------------------

@needs_tls
def test_openssl_s_client_logs_in_and_chats_with_a_telnet_user():
    with tls_server() as s:
        sc = None
        try:
            tport = s.listener_port("tls")
            s.wait_log(r"tls: no certificate configured; (made a self-signed one|using the self-signed one)")
            telnet_user = Client(s.port)
            telnet_user.login("olga")
            sc = SClient(tport)
            sc.expect("By what name")
            sc.line("sam")
            sc.expect("password")
            sc.line("sampass1")
            sc.expect("Hello, Sam")
            sc.line("say hello from s_client")
            telnet_user.expect("Sam says: hello from s_client")
            telnet_user.line("say hello sam")
            sc.expect("Olga says: hello sam")
            s.wait_log(r"connect #\d+ 127\.0\.0\.1:\d+ on 127\.0\.0\.1:%d \(tls\) \[TLSv1\.[23] " % tport)
            s.wait_log(r"login Sam #\d+ from 127\.0\.0\.1:")
        finally:
            if sc:
                sc.close()


@needs_tls
def test_python_ssl_chats_and_shutdown_ends_with_close_notify():
    s = tls_server()
    try:
        c = TlsClient(s.listener_port("tls"))
        check(c.sock.version() in ("TLSv1.2", "TLSv1.3"), c.sock.version())
        c.login("pia")
        other = Client(s.port)
        other.login("olga")
        c.line("say secure hello")
        other.expect("Pia says: secure hello")
        other.line("tell pia hi")
        c.expect("Olga tells you: hi")
        c.line("client")
        c.expect(r"Transport: TLSv1\.[23] TLS_\w+")
        other.line("client")
        other.expect("Transport: telnet")
        check(s.stop() == 0, "exit code not 0")
        c.expect("shutting down")
        c.expect_closed()
        check(c.clean_eof, "the TLS link ended without close_notify")
    finally:
        s.kill()


@needs_tls
def test_mssp_advertises_the_tls_port():
    with tls_server() as s:
        tport = s.listener_port("tls")
        c = Client(s.port)
        c.expect("By what name")
        deadline = time.time() + 3
        while (WILL, MSSP) not in c.commands and time.time() < deadline:
            c.pump(0.1)
        check((WILL, MSSP) in c.commands, "server did not offer MSSP")
        c.send(bytes([IAC, DO, MSSP]))
        deadline = time.time() + 3
        while not any(o == MSSP for o, _ in c.subneg) and time.time() < deadline:
            c.pump(0.1)
        payload = [p for o, p in c.subneg if o == MSSP]
        check(payload, "no MSSP reply")
        parts = re.split(rb"[\x01\x02]", payload[0])[1:]
        kv = dict(zip(parts[0::2], parts[1::2]))
        check(kv.get(b"TLS") == str(tport).encode(), "MSSP TLS is %r, want %d" % (kv.get(b"TLS"), tport))
        check(kv.get(b"SSL") == str(tport).encode(), "MSSP SSL is %r" % kv.get(b"SSL"))


@needs_tls
def test_self_signed_pair_is_made_once_and_kept():
    for f in (CERT, KEY):
        if os.path.exists(f):
            os.unlink(f)
    with tls_server(name="selfsigned") as s:
        s.wait_log(r"made a self-signed one \(CN localhost, 10 years\): %s \(key %s\)"
                   % (re.escape(CERT), re.escape(KEY)))
        check(os.stat(KEY).st_mode & 0o077 == 0, "key file readable by others")
    before = open(CERT, "rb").read()
    with tls_server(name="selfsigned2") as s:
        s.wait_log(r"using the self-signed one made at an earlier start: %s" % re.escape(CERT))
        check(open(CERT, "rb").read() == before, "certificate was replaced on restart")
        c = TlsClient(s.listener_port("tls"))  # verifies against the kept file
        c.expect("By what name")


@needs_tls
def test_self_signed_pair_goes_to_the_working_directory_when_it_cannot_go_beside_the_config():
    ro = os.path.join(h.WORKDIR, "ro")
    cwd = os.path.join(h.WORKDIR, "cwd")
    os.makedirs(ro, exist_ok=True)
    os.makedirs(cwd, exist_ok=True)
    cfg = os.path.join(ro, "ior-mud.cfg")
    with open(cfg, "w") as f:
        f.write("name : x\nport : 127.0.0.1:0 tls\nio_reactor_backend : %s\n" % h.BACKEND)
    # The pair cannot be written beside the config: its names are taken by
    # directories (a read-only directory would not stop root).
    os.makedirs(os.path.join(ro, "ior-mud-selfsigned.crt"), exist_ok=True)
    proc = subprocess.Popen(h.command("--config", cfg), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=h.environment())
    h.STARTED.append(proc)
    try:
        line = h.read_line(proc.stdout, 10 * h.SLOW)
        check("listening on" in line, "no startup line: %r" % line)
        check(os.path.exists(os.path.join(cwd, "ior-mud-selfsigned.crt")), "no pair in the working directory")
        check(os.path.exists(os.path.join(cwd, "ior-mud-selfsigned.key")), "no key in the working directory")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@needs_tls
def test_configured_certificate_is_used_and_a_bad_path_is_an_error():
    cert, key = os.path.join(h.WORKDIR, "own.crt"), os.path.join(h.WORKDIR, "own.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-days", "2", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)
    with tls_server("tls certificate : %s\ntls key : %s\n" % (cert, key), name="owncert") as s:
        c = TlsClient(s.listener_port("tls"), cafile=cert)
        c.expect("By what name")
        check("self-signed" not in s.read_log(), s.read_log())
    cfg = os.path.join(h.WORKDIR, "badcert.cfg")
    with open(cfg, "w") as f:
        f.write("port : 127.0.0.1:0 tls\ntls certificate : /nonexistent/x.crt\ntls key : %s\n" % key)
    r = h.run_binary("--config", cfg)
    check(r.returncode == 2, "exit %d" % r.returncode)
    check(re.search(r"badcert\.cfg:2: .*/nonexistent/x\.crt", r.stderr), r.stderr)


@needs_tls
def test_plain_telnet_to_the_tls_port_is_logged_and_frees_its_slot():
    # One handshake slot and one connection per address: a slot that leaked
    # would lock out the TLS client at the end.
    with tls_server("max handshaking connections : 1\nmax connections per address : 1\n") as s:
        tport = s.listener_port("tls")
        base = s.fds()

        def slot_freed():
            # The server closes lingering: FIN first, its socket when we
            # close ours. Then the descriptor (and the slots) are free.
            check(s.settled_fds(base) == base, "the failed connection still holds a descriptor")

        for i in range(3):
            c = Client(tport)
            c.line("look")
            c.expect_closed()
            c.close()
            s.wait_log(r"127\.0\.0\.1:\d+ on 127\.0\.0\.1:%d \(tls\): tls: client spoke plain text to the "
                       r"TLS port \(first bytes: \"look\\x0d\\x0a\"\)" % tport)
            slot_freed()
        telnet = Client(tport)
        telnet.send(bytes([IAC, DO, 1]))
        telnet.expect_closed()
        telnet.close()
        s.wait_log(r"tls: client spoke telnet")
        slot_freed()
        c = TlsClient(tport)
        c.login("tess")


@needs_tls
def test_handshake_timeout_is_logged_and_frees_the_slot():
    with tls_server("tls handshake timeout : 1s\nmax handshaking connections : 2\n") as s:
        tport = s.listener_port("tls")
        idle = [Client(tport) for _ in range(2)]
        time.sleep(0.3)
        third = Client(tport)  # both slots taken: refused at once
        third.expect_closed(timeout=2)
        s.wait_log(r"refused 127\.0\.0\.1:\d+ on 127\.0\.0\.1:%d \(tls\): 2 connections are still "
                   r"handshaking \('max handshaking connections'\)" % tport)
        for c in idle:
            c.expect_closed(timeout=4)
        log = s.read_log()
        check(len(re.findall(r"tls: handshake not done after 1s \('tls handshake timeout'\); dropped", log)) == 2,
              log)
        c = TlsClient(tport)
        c.login("tim")


@needs_tls
def test_a_slow_handshake_flood_cannot_fill_the_server():
    # 60 connections from 20 "hosts" that never finish a handshake: at most
    # 8 are held, the rest are closed at once; telnet and TLS users still
    # get in, and no descriptor stays behind.
    with tls_server("max handshaking connections : 8\ntls handshake timeout : 3s\n") as s:
        flood = []
        try:
            tport = s.listener_port("tls")
            base = s.fds()
            for i in range(60):
                c = Client(tport, source="127.0.0.%d" % (2 + i % 20))
                c.send(b"\x16\x03\x01")  # a TLS record header, then nothing
                flood.append(c)
            time.sleep(0.5)
            check(s.fds() <= base + 8, "server holds %d descriptors for the flood (cap 8)" % (s.fds() - base))
            t = Client(s.port)
            t.login("tom")
            for c in flood:
                c.close()
            flood = []
            left = s.settled_fds(base + 1, timeout=3) - base
            check(left <= 1, "descriptors left after the flood: %d" % left)
            c = TlsClient(tport)
            c.login("tara")
            t.line("say still here")
            c.expect("Tom says: still here")
        finally:
            for c in flood:
                c.close()


@needs_tls
def test_a_slow_reader_over_tls_is_dropped_past_the_output_cap():
    # The cap counts what the TLS layer holds as well as the socket queue.
    with tls_server("max output buffer : 64k\noutput high watermark : 32k\noutput low watermark : 8k\n") as s:
        slow = TlsClient(s.listener_port("tls"), rcvbuf=4096)
        slow.login("slow")
        loud = Client(s.port)
        loud.login("loud")
        h.say_until_logged(s, loud, "output buffer over its cap", 60 * h.SLOW)
        s.wait_log(r"dropped #1 .*output buffer over its cap", timeout=5 * h.SLOW)
        s.wait_log(r"disconnect #1 .*output over cap")


@needs_tls
def test_tls_churn_leaves_no_descriptor_or_slot_behind():
    # Full handshakes closed at once, resets mid-handshake, logins that quit:
    # afterwards the server holds what it held before, and with only two
    # handshake slots a TLS login still works.
    with tls_server("max handshaking connections : 2\nmax connects per address per minute : 0\n") as s:
        tport = s.listener_port("tls")
        base = s.fds()
        ctx = ssl.create_default_context(cafile=CERT)
        for i in range(40):
            raw = socket.create_connection(("127.0.0.1", tport), timeout=5)
            if i % 3 == 0:
                ctx.wrap_socket(raw, server_hostname="localhost").close()
            elif i % 3 == 1:
                raw.sendall(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello's start, then a reset
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                raw.close()
            else:
                c = ctx.wrap_socket(raw, server_hostname="localhost")
                name = "churn" + chr(97 + i // 26) + chr(97 + i % 26)
                c.sendall(name.encode() + b"\r\npw\r\nquit\r\n")
                while c.recv(4096):
                    pass
                c.close()
            # Each one must let go of its descriptor (and so of its slot; with
            # two slots, not waiting would race the cap, which refuses).
            left = s.settled_fds(base, tport) - base
            check(left == 0, "descriptors left after churn round %d: %d" % (i, left))
        c = TlsClient(tport)
        c.login("last")


@needs_tls
def test_tintin_over_tls_chats_with_a_telnet_user():
    if h.tintin_missing():
        return
    # tt++ keeps server certificates under $HOME/.tintin/ssl: a private HOME.
    home = os.path.join(h.WORKDIR, "tintin-home")
    os.makedirs(home, exist_ok=True)
    with tls_server() as s, Tmux("env HOME=%s %s -t ior-tls" % (home, h.TINTIN)) as t:
        tport = s.listener_port("tls")
        other = Client(s.port)
        other.login("olga")
        t.tintin_login(tport, "tina", "tintinpass9", session="#ssl")
        t.type_line("say hello over tls from tintin")
        other.expect("Tina says: hello over tls from tintin")
        other.line("tell tina hi back over plain telnet")
        t.wait_for("Olga tells you: hi back over plain telnet")
        t.type_line("client")
        screen = t.wait_for(r"Transport: TLSv1\.[23] \S+")
        check("tintinpass9" not in screen, "password was echoed")
        s.wait_log(r"connect #\d+ 127\.0\.0\.1:\d+ on 127\.0\.0\.1:%d \(tls\) \[TLSv1\.[23] " % tport)
        if os.environ.get("IOR_TRANSCRIPT"):
            with open(os.environ["IOR_TRANSCRIPT"], "w") as f:
                f.write(screen + "\n---- the telnet user (olga) ----\n" + other.text +
                        "\n---- server log ----\n" + s.read_log())


def test_a_tls_listener_without_tls_in_the_build_is_a_config_error():
    if tls_built():
        print("    (this build has TLS: nothing to refuse)")
        return
    cfg = os.path.join(h.WORKDIR, "notls.cfg")
    with open(cfg, "w") as f:
        f.write("name : x\nport : 127.0.0.1:0 tls\n")
    r = h.run_binary("--config", cfg)
    check(r.returncode == 2, "exit %d; stderr %s" % (r.returncode, r.stderr))
    check(re.search(r"notls\.cfg:2: bad value for 'port': a TLS listener, but this build has no TLS", r.stderr),
          r.stderr)


# ---- PROXY protocol ---------------------------------------------------------

def proxy_server(extra="", trusted="127.0.0.1 ::1", name="proxy"):
    return Server("port : 127.0.0.1:0 proxy\nproxy trusted : %s\ntls handshake timeout : 1s\n%s"
                  % (trusted, extra), name=name)


def test_proxy_v1_and_v2_headers_give_the_client_address():
    with proxy_server() as s:
        pport = s.listener_port("proxy")
        a = Client(pport)
        a.send(proxy_v1("203.0.113.7", 51000))
        a.login("vera")
        s.wait_log(r"connect #\d+ 203\.0\.113\.7:51000 on 127\.0\.0\.1:%d \(proxy\) \[via proxy 127\.0\.0\.1:\d+\]"
                   % pport)
        s.wait_log(r"login Vera #\d+ from 203\.0\.113\.7:51000")
        b = Client(pport)
        b.send(proxy_v2("2001:db8::7", 4242, "2001:db8::1", 4000)[:9])  # a split header
        time.sleep(0.05)
        b.send(proxy_v2("2001:db8::7", 4242, "2001:db8::1", 4000)[9:] + b"victor\r\n")
        b.expect("password")
        b.line("pw")
        b.expect("Hello, Victor")
        s.wait_log(r"login Victor #\d+ from \[2001:db8::7\]:4242")
        c = Client(pport)
        c.send(proxy_v2("198.51.100.9", 1234, "192.0.2.1", 4000))
        c.login("vic")
        s.wait_log(r"login Vic #\d+ from 198\.51\.100\.9:1234")
        a.line("say hi")
        b.expect("Vera says: hi")
        a.line("client")
        a.expect(r"Transport: via proxy 127\.0\.0\.1:\d+")


def test_proxy_bad_or_missing_header_from_a_trusted_peer_is_dropped():
    with proxy_server() as s:
        pport = s.listener_port("proxy")
        c = Client(pport)
        c.line("hello")  # no header at all
        c.expect_closed()
        s.wait_log(r"127\.0\.0\.1:\d+ on 127\.0\.0\.1:%d \(proxy\): proxy: no PROXY protocol header "
                   r"\(first bytes: \"h\"\)" % pport)
        c = Client(pport)
        c.send(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n")  # port out of range
        c.expect_closed()
        s.wait_log(r"proxy: PROXY v1 header")
        c = Client(pport)
        c.send(b"PROXY TCP4 1.2.3")  # then silence
        c.expect_closed(timeout=4)
        s.wait_log(r"proxy: no PROXY header after 1s")
        check("connect #" not in s.read_log(), "a bad header became a session:\n" + s.read_log())
        ok = Client(pport)
        ok.send(proxy_v1("203.0.113.8", 1000))
        ok.login("una")


def test_proxy_header_from_an_untrusted_peer_is_refused():
    with proxy_server(trusted="127.0.0.2") as s:
        pport = s.listener_port("proxy")
        c = Client(pport)  # from 127.0.0.1
        c.send(proxy_v1("203.0.113.7", 51000))
        c.expect_closed()
        s.wait_log(r"refused 127\.0\.0\.1:\d+ on 127\.0\.0\.1:%d \(proxy\): not a trusted proxy" % pport)
        check("203.0.113.7" not in s.read_log(), s.read_log())
        ok = Client(pport, source="127.0.0.2")
        ok.send(proxy_v1("203.0.113.7", 51000))
        ok.login("tru")
        s.wait_log(r"login Tru #\d+ from 203\.0\.113\.7:51000")


def test_admission_counts_the_address_from_the_header():
    # One connection per address: the proxy's own address must not count,
    # the header's must.
    with proxy_server("max connections per address : 1\n") as s:
        pport = s.listener_port("proxy")
        a = Client(pport)
        a.send(proxy_v1("203.0.113.7", 1))
        a.login("ann")
        b = Client(pport)
        b.send(proxy_v1("203.0.113.7", 2))
        b.expect("Sorry, too many connections from your address")
        b.expect_closed()
        s.wait_log(r"refused 203\.0\.113\.7:2 \(via proxy 127\.0\.0\.1:\d+\) on .*too many connections")
        c = Client(pport)
        c.send(proxy_v1("203.0.113.8", 3))
        c.login("cat")


@needs_tls
def test_proxy_then_tls_on_one_listener():
    with Server("port : 127.0.0.1:0 proxy tls\nproxy trusted : 127.0.0.1\n", name="proxytls") as s:
        port = s.listener_port("proxy tls")
        c = TlsClient(port, prefix=proxy_v2("198.51.100.20", 777, "192.0.2.1", 4444))
        c.login("pat")
        s.wait_log(r"connect #\d+ 198\.51\.100\.20:777 on .*\(proxy tls\) \[TLSv1\.[23] .*via proxy 127\.0\.0\.1:")
        s.wait_log(r"login Pat #\d+ from 198\.51\.100\.20:777")


# ---- WebSocket (smoke; the web branch's tests are the thorough ones) ----------

def ws_login_and_chat(uri, telnet_port, ssl_ctx=None):
    async def run():
        async with websockets.connect(uri, subprotocols=["telnet.mudstandards.org"], ssl=ssl_ctx) as ws:
            check(ws.subprotocol == "telnet.mudstandards.org", ws.subprotocol)
            got = b""

            async def until(pattern, timeout=5):
                nonlocal got
                deadline = time.time() + timeout
                while not re.search(pattern, got):
                    left = deadline - time.time()
                    check(left > 0, "websocket never got %r; got %r" % (pattern, got[-500:]))
                    m = await asyncio.wait_for(ws.recv(), left)
                    check(isinstance(m, bytes), "text frame on the telnet subprotocol")
                    got += m
                got = got[re.search(pattern, got).end():]

            await until(rb"By what name")
            await ws.send(b"wendy\r\n")
            await until(rb"password")
            await ws.send(b"pw\r\n")
            await until(rb"Hello, Wendy")
            other = Client(telnet_port)
            other.login("olga")
            await ws.send(b"say hello from a websocket\r\n")
            other.expect("Wendy says: hello from a websocket")
            other.line("say hi wendy")
            await until(rb"Olga says: hi wendy")
    asyncio.run(run())


def http_get(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        return h.recv_all(c)


@needs_websockets
def test_websocket_login_chat_and_the_web_client_page():
    with Server("port : 127.0.0.1:0 websocket\n", name="ws") as s:
        wport = s.listener_port("websocket")
        page = http_get(wport, "/")
        check(page.startswith(b"HTTP/1.1 200 OK\r\n") and b"<html" in page.lower(), page[:200])
        check(http_get(wport, "/nope").startswith(b"HTTP/1.1 404"), "no 404")
        ws_login_and_chat("ws://127.0.0.1:%d/" % wport, s.port)
        log = s.read_log()
        check(len(re.findall(r" connect #", log)) == 2, "a served file became a session:\n" + log)
        s.wait_log(r"connect #\d+ 127\.0\.0\.1:\d+ on .*\(websocket\) \[websocket telnet\.mudstandards\.org\]")
        s.wait_log(r"websocket: HTTP 404: no file /nope")
        # A client still sending after the server's answer is not reset (a
        # lingering close: FIN, then the server reads and discards for a
        # while). A plain close would answer the later bytes with a reset,
        # and a client that writes before it reads would lose the answer.
        big = socket.create_connection(("127.0.0.1", wport), timeout=5)
        big.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 9000)
        time.sleep(0.2)  # answered (431) by now
        big.sendall(b"b" * 20000)
        time.sleep(0.2)  # a reset would have come back by now
        big.sendall(b"c" * 10)  # raises ECONNRESET/EPIPE after a reset
        answer = h.recv_all(big)
        big.close()
        check(answer.startswith(b"HTTP/1.1 431"), "no 431 answer: %r" % answer[:100])


def test_websocket_protocol_error_in_a_session_is_logged_and_closed():
    with Server("port : 127.0.0.1:0 websocket\n", name="wsbad") as s:
        c = socket.create_connection(("127.0.0.1", s.listener_port("websocket")), timeout=5)
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        got = b""
        while b"By what name" not in got:
            chunk = c.recv(4096)
            check(chunk, "closed before the greeting: %r" % got)
            got += chunk
        check(got.startswith(b"HTTP/1.1 101"), got[:60])
        s.wait_log(r"connect #1 ")
        c.sendall(b"\x82\x03abc")  # not masked: a protocol error (RFC 6455 5.1)
        rest = h.recv_all(c)
        check(b"\x88" in rest and b"\x03\xea" in rest, "no close frame 1002: %r" % rest[-40:])
        s.wait_log(r"disconnect #1 127\.0\.0\.1:\d+: websocket: .*not masked")


@needs_tls
@needs_websockets
def test_websocket_over_tls():
    with Server("port : 127.0.0.1:0 tls websocket\n", name="wss") as s:
        port = s.listener_port("tls websocket")
        ctx = ssl.create_default_context(cafile=CERT)
        ws_login_and_chat("wss://localhost:%d/" % port, s.port, ctx)
        s.wait_log(r"\(tls websocket\) \[TLSv1\.[23] \S+, websocket telnet\.mudstandards\.org\]")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


if __name__ == "__main__":
    h.setup(sys.argv[1:])
    CERT = os.path.join(h.WORKDIR, "ior-mud-selfsigned.crt")
    KEY = os.path.join(h.WORKDIR, "ior-mud-selfsigned.key")
    sys.exit(h.main(TESTS))
