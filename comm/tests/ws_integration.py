#!/usr/bin/env python3
"""WebSocket integration tests against the real ior-mud: a `port : ...
websocket` listener next to the telnet one, driven by python3-websockets
(mode `python`) and by headless Chromium over the DevTools protocol (mode
`browser`), on one reactor backend per run.

  ws_integration.py PATH/TO/ior-mud BACKEND python [TEST...]
  ws_integration.py PATH/TO/ior-mud BACKEND browser
  ws_integration.py PATH/TO/ior-mud BACKEND demo DIR
      two players talking, one in the browser, one in tintin++ (tmux):
      DIR/ws-two-players.png and DIR/ws-two-players-tintin.txt

Run it with the python3 that has apt's python3-websockets (/usr/bin/python3;
a pyenv python3 first on PATH has not). The server, telnet client, tmux and
runner are harness.py's (same directory).

Exit 0: all passed; 1: a failure; 77: BACKEND is not in this build, or
chromium is not installed (browser and demo modes).
"""
import asyncio
import html
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import harness as h
from harness import Client, Failure, check, IAC, WILL, DO, ECHO, MCCP2, NAWS

try:
    import websockets
    from websockets.exceptions import ConnectionClosed, InvalidStatusCode
except ImportError:
    print("ws_integration: needs python3-websockets in this interpreter (%s); "
          "scripts/deps installs it for /usr/bin/python3" % sys.executable, file=sys.stderr)
    sys.exit(1)
import ws_interop  # noqa: E402  (Browser, Profile, with_browser, SCREEN)

TELNET_PROTO = "telnet.mudstandards.org"
GMCP_PROTO = "gmcp.mudstandards.org"
MCCP3 = 87
MODE = "python"  # python, browser or demo: the third argument
WEB_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "web"))


# ---- the server ---------------------------------------------------------------

class WsServer(h.Server):
    """ior-mud with a telnet listener (s.port) and a WebSocket one (s.ws_port)."""

    def __init__(self, extra="", name="ws"):
        super().__init__("port : 127.0.0.1:0 websocket\n" + extra, name=name)
        self.ws_port = ws_port_of(self.startup, self.port)


def ws_port_of(startup, telnet_port):
    """The WebSocket port in the startup line: an address marked as
    websocket if the line marks them, else the IPv4 one that is not the
    telnet port."""
    m = re.search(r"127\.0\.0\.1:(\d+)[ (\[]*(?:websocket|ws)\b", startup)
    if m:
        return int(m.group(1))
    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", startup) if int(p) != telnet_port]
    check(ports, "no WebSocket listener in the startup line: " + startup)
    return ports[0]


# ---- a WebSocket player with integration.Client's interface ----------------------

class Loop:
    """One asyncio loop in a thread, so websockets calls look synchronous and
    mix with the blocking telnet client."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


LOOP = None


def run(coro, timeout=30):
    global LOOP
    if LOOP is None:
        LOOP = Loop()
    return LOOP.run(coro, timeout)


class WsClient(Client):
    """A player over WebSocket. The telnet parsing, expect() and login() are
    integration.Client's; bytes come from binary frames. Text frames (GMCP
    mode) are kept in `texts`."""

    def __init__(self, port, protocols=(TELNET_PROTO,), path="/ws", tls=None):
        self.url = "%s://127.0.0.1:%d%s" % ("wss" if tls else "ws", port, path)

        async def connect():
            return await websockets.connect(self.url, subprotocols=list(protocols) or None, ssl=tls,
                                            ping_interval=None, max_size=None, open_timeout=10)
        self.ws = run(connect())
        self.start_telnet()
        self.texts, self.frames = [], []
        self.close_code = None

    def send(self, data):
        run(self.ws.send(bytes(data)))

    def send_text(self, text):
        run(self.ws.send(text))

    def pump(self, timeout=0.2):
        if self.close_code is not None:
            return False
        try:
            msg = run(asyncio.wait_for(self.ws.recv(), timeout), timeout + 10)
        except asyncio.TimeoutError:
            return True
        except ConnectionClosed:
            self.close_code = self.ws.close_code
            return False
        self.frames.append(msg)
        if isinstance(msg, str):
            self.texts.append(msg)
        else:
            self._feed(msg)
        return True

    def expect_text_frame(self, pattern, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for t in self.texts:
                if re.search(pattern, t):
                    self.texts.remove(t)
                    return t
            if not self.pump(0.2):
                break
        raise Failure("no text frame matching %r; got %r" % (pattern, self.texts))

    def expect_close(self, codes, timeout=5):
        """Waits for the server's close frame; `codes`: one code or a tuple."""
        codes = codes if isinstance(codes, tuple) else (codes,)
        deadline = time.time() + timeout
        while time.time() < deadline and self.pump(0.2):
            pass
        check(self.close_code in codes, "close code %r, expected %r" % (self.close_code, codes))

    def abort(self):
        """Drops the TCP connection with no close frame (a killed browser)."""
        def do():
            sock = self.ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.ws.transport.abort()
        self.ws.loop.call_soon_threadsafe(do)
        time.sleep(0.1)

    def close(self):
        try:
            run(self.ws.close(), 10)
        except Exception:
            pass


def raw_http(port, request, timeout=5):
    """Sends `request` as is; returns (status, whole response text, seconds
    until the server closed)."""
    start = time.time()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request if isinstance(request, bytes) else request.encode())
        data = h.recv_all(s)
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    check(m, "not an HTTP response: %r" % data[:200])
    return int(m.group(1)), data.decode("latin-1"), time.time() - start


def split_response(text):
    head, _, body = text.partition("\r\n\r\n")
    headers = {}
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return headers, body


UPGRADE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: %s\r\n\r\n")


# ---- the python-websockets tests --------------------------------------------------

def test_ws_player_logs_in_and_chats_with_a_telnet_player():
    with WsServer() as s:
        t = Client(s.port)
        t.login("tom")
        w = WsClient(s.ws_port)
        check(w.ws.subprotocol == TELNET_PROTO, "subprotocol %r" % w.ws.subprotocol)
        w.expect("By what name")
        w.line("wanda")
        w.expect("Choose a password")
        check((WILL, ECHO) in w.commands, "no IAC WILL ECHO before the password over WebSocket")
        w.line("wandapw")
        w.expect("Hello, Wanda")
        w.expect("> ")
        check("wandapw" not in w.text, "password echoed")
        t.expect("Wanda has arrived")
        w.line("say hello tom")
        w.expect("You say: hello tom")
        t.expect("Wanda says: hello tom")
        t.line("say hi wanda \u00e9")
        w.expect("Tom says: hi wanda \u00e9".encode().decode("latin1"))
        t.line("tell wanda psst")
        w.expect("Tom tells you: psst")
        w.line("who")
        w.expect(r"Tom \(idle")
        w.expect("2 players")
        w.line("client")
        w.expect("Compression: off")
        w.expect(r"Transport: websocket telnet\.mudstandards\.org")
        s.wait_log(r"login Wanda #\d+ from 127\.0\.0\.1")
        w.line("quit")
        w.expect("Goodbye, Wanda")
        w.expect_close((1000, 1001))  # a close frame, not a dropped TCP connection (1006)
        t.expect("Wanda has left")


def test_no_mccp_offered_on_websocket_links():
    with WsServer() as s:
        t = Client(s.port)
        t.expect("By what name")
        w = WsClient(s.ws_port)
        w.expect("By what name")
        w.send(bytes([IAC, DO, MCCP2]))  # asking does not turn it on either
        w.line("mira")
        w.expect("password")
        w.line("pw")
        w.expect("Hello, Mira")
        check((WILL, MCCP2) not in w.commands, "MCCP2 offered on a WebSocket link: %r" % w.commands)
        check((WILL, MCCP3) not in w.commands, "MCCP3 offered on a WebSocket link: %r" % w.commands)
        check(not any(opt == MCCP2 for opt, _ in w.subneg), "MCCP2 started on a WebSocket link")
        w.line("client")
        w.expect("Compression: off")
        if (WILL, MCCP2) not in t.commands:
            check(h.EMULATOR, "MCCP2 not offered on the telnet port of the Linux build")
        check((WILL, MCCP3) in t.commands, "MCCP3 not offered on the telnet port: %r" % t.commands)


def test_gmcp_subprotocol_carries_gmcp_as_text_frames():
    with WsServer() as s:
        t = Client(s.port)
        t.login("tom")
        g = WsClient(s.ws_port, protocols=(GMCP_PROTO,))
        check(g.ws.subprotocol == GMCP_PROTO, "subprotocol %r" % g.ws.subprotocol)
        g.expect("By what name")
        g.line("gina")
        g.expect("password")
        g.line("ginapw")
        g.expect("Hello, Gina")
        name = g.expect_text_frame(r"^Char\.Name ")
        check(name == 'Char.Name {"name":"Gina"}', "Char.Name frame %r" % name)
        raw = b"".join(f for f in g.frames if isinstance(f, bytes))
        check(b"\xff" not in raw, "telnet bytes in GMCP mode's binary frames: %r" % raw[:200])
        g.send_text('Core.Hello {"client":"ws_integration","version":"1"}')
        s.wait_log(r"gmcp #\d+ Core\.Hello")
        g.line("say over gmcp mode")
        t.expect("Gina says: over gmcp mode")
        t.line("say back at you")
        g.expect("Tom says: back at you")


def test_oversized_frame_gets_1009_and_drops_only_that_player():
    with WsServer("websocket max frame : 4k\nwebsocket max message : 16k\nnet dead timeout : 60\n") as s:
        t = Client(s.port)
        t.login("tom")
        big, other = WsClient(s.ws_port), WsClient(s.ws_port)
        big.login("bigs")
        other.login("otto")
        big.send(b"say " + b"x" * 5000 + b"\r\n")
        big.expect_close(1009)
        t.expect("Bigs has lost their link")  # a logged-in player goes net-dead
        other.line("say still here")
        t.expect("Otto says: still here")
        # A message over the cap in frames under it: 1009 as well.
        frag = WsClient(s.ws_port)
        frag.login("fragg")
        run(frag.ws.send([b"y" * 3000 for _ in range(6)]))
        frag.expect_close(1009)
        t.expect("Fragg has lost their link")
        other.line("say and still")
        t.expect("Otto says: and still")
        t.line("who")
        t.expect(r"Bigs \(net-dead\)")
        s.wait_log(r"disconnect #\d+ 127\.0\.0\.1:\d+: websocket: frame of 5006 bytes exceeds the limit of 4096")
        s.wait_log(r"disconnect #\d+ 127\.0\.0\.1:\d+: websocket: message of more than 16384 bytes")
        check("xxxxxxxxxx" not in s.read_log(), "frame payload in the log")


def test_bad_handshakes_get_http_errors():
    with WsServer() as s:
        status, text, _ = raw_http(s.ws_port, UPGRADE.replace("GET", "POST") % "13")
        check(status == 405 and "\r\nAllow: GET" in text, "POST: %r" % text[:200])
        status, text, _ = raw_http(s.ws_port, UPGRADE.replace("Connection: Upgrade", "Connection: keep-alive") % "13")
        check(status == 400, "no Connection: Upgrade: %r" % text[:200])
        status, text, _ = raw_http(s.ws_port, UPGRADE % "8")
        check(status == 426 and "\r\nSec-WebSocket-Version: 13\r\n" in text, "version 8: %r" % text[:200])
        status, text, _ = raw_http(s.ws_port, UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "short") % "13")
        check(status == 400, "bad key: %r" % text[:200])
        status, text, _ = raw_http(s.ws_port, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 9000 + "\r\n\r\n")
        check(status == 431, "9 KB head: %r" % text[:200])
        status, text, _ = raw_http(s.ws_port, "GET / HTTP/2.0\r\nHost: x\r\n\r\n")
        check(status == 505, "HTTP/2.0: %r" % text[:200])
        try:
            WsClient(s.ws_port, protocols=("chat",))
            check(False, "an unknown subprotocol was accepted")
        except InvalidStatusCode as e:
            check(e.status_code == 400, "unknown subprotocol: HTTP %d" % e.status_code)
        # Every error is text/plain saying why, and nothing unescaped reaches the log.
        status, text, _ = raw_http(s.ws_port, "GET /\x1b[2J HTTP/1.1\r\nHost: x\r\n\r\n")
        check(status in (400, 404), "escape in the target: %r" % text[:200])
        headers, _ = split_response(text)
        check(headers.get("content-type", "").startswith("text/plain"), "error type %r" % headers)
        check("\x1b" not in s.read_log(), "client bytes reached the log unescaped")
        # The telnet port still serves, the WebSocket one too.
        Client(s.port).login("after")
        WsClient(s.ws_port).login("afterws")


def test_a_telnet_client_on_the_websocket_port_is_answered_and_freed():
    with WsServer() as s:
        base = s.fds()
        c = Client(s.ws_port)
        c.send(bytes([IAC, WILL, 24, IAC, WILL, NAWS]))  # a telnet client speaks first...
        start = time.time()
        c.expect("400 Bad Request")
        c.expect_closed(timeout=5)
        check(time.time() - start < 3, "answered after %.1f s: waited for a timeout?" % (time.time() - start))
        c2 = Client(s.ws_port)  # ...or waits for a greeting that never comes, then types
        time.sleep(0.3)
        c2.line("bob")
        c2.expect("400 Bad Request")
        c2.expect_closed()
        check(s.settled_fds(base, s.ws_port) <= base, "fds %d after, %d before" % (s.fds(), base))
        Client(s.port).login("telly")


def test_many_bad_handshakes_leak_no_slot_and_no_fd():
    with WsServer("max users : 6\nmax connects per address per minute : 0\nmax connections per address : 0\n") as s:
        first = WsClient(s.ws_port)
        first.login("first")
        base = s.fds()
        bad = [UPGRADE % "8", UPGRADE.replace("GET", "PUT") % "13", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
               "\xff\xfd\x18", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD /client.js HTTP/1.1\r\nHost: x\r\n\r\n"]
        for i in range(120):
            raw_http(s.ws_port, bad[i % len(bad)])
        for i in range(20):  # half-open: connect, then vanish with a reset
            c = socket.create_connection(("127.0.0.1", s.ws_port))
            c.sendall(b"GET /ws HTTP/1.1\r\nHost:")
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        after = s.settled_fds(base, s.ws_port)
        print("    140 bad handshakes: server fds %d before, %d after" % (base, after))
        check(after <= base, "fds %d after, %d before" % (after, base))
        # Every one of the other 5 slots is still free: 5 logins fit, the 7th user does not.
        players = [WsClient(s.ws_port) if i % 2 else Client(s.port) for i in range(5)]
        for i, p in enumerate(players):
            p.login("p" + "abcde"[i] + "x")
        over = Client(s.port)
        over.expect("full")
        check("full" in over.text, over.text)


def web_files():
    """The files CMake embeds (comm/CMakeLists.txt's glob), as served paths."""
    out = {}
    for root, _, files in os.walk(WEB_DIR):
        for f in files:
            if re.search(r"(\.html|\.js|\.css|LICENSE)$", f):
                full = os.path.join(root, f)
                out["/" + os.path.relpath(full, WEB_DIR).replace(os.sep, "/")] = full
    return out


def test_every_embedded_asset_is_served_and_others_are_404():
    with WsServer() as s:
        files = web_files()
        check("/index.html" in files and "/vendor/xterm/xterm.js" in files, "web/ not found: %r" % files)
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", "LICENSE": "text/plain"}
        for path, full in sorted(files.items()):
            status, text, _ = raw_http(s.ws_port, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            headers, body = split_response(text)
            with open(full, "rb") as f:
                want = f.read()
            check(status == 200, "GET %s: %d" % (path, status))
            check(body.encode("latin-1") == want, "GET %s: body differs from %s" % (path, full))
            check(int(headers["content-length"]) == len(want), "GET %s: Content-Length" % path)
            kind = [v for k, v in types.items() if path.endswith(k)][0]
            check(headers["content-type"].startswith(kind), "GET %s: type %s" % (path, headers["content-type"]))
        status, text, _ = raw_http(s.ws_port, "GET /?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        with open(files["/index.html"], "rb") as f:
            check(status == 200 and split_response(text)[1].encode("latin-1") == f.read(), "GET / is the page")
        status, text, _ = raw_http(s.ws_port, "HEAD /client.js HTTP/1.1\r\nHost: x\r\n\r\n")
        check(status == 200 and split_response(text)[1] == "", "HEAD has no body")
        for path in ("/nope", "/vendor/", "/../comm/comm.cpp", "/index.html/x", "/%2e%2e/etc/passwd"):
            status, _, _ = raw_http(s.ws_port, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            check(status == 404, "GET %s: %d" % (path, status))
        print("    %d embedded files served byte for byte" % len(files))
    with WsServer("websocket client : off\n", name="noclient") as off:
        status, _, _ = raw_http(off.ws_port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        check(status == 404, "websocket client : off still serves the page (%d)" % status)
        WsClient(off.ws_port).login("bare")


def test_net_dead_ws_session_reattaches_over_ws_and_over_telnet():
    with WsServer("net dead timeout : 60\n") as s:
        t = Client(s.port)
        t.login("tom")
        w = WsClient(s.ws_port)
        w.login("wendy", "wpass")
        w.abort()
        t.expect("Wendy has lost their link")
        t.line("who")
        t.expect(r"Wendy \(net-dead\)")
        back = WsClient(s.ws_port)
        back.reconnect("wendy", "wpass")
        check((WILL, ECHO) in back.commands, "no WILL ECHO for the reconnect password")
        t.expect("Wendy has reconnected")
        back.line("say back over ws")
        t.expect("Wendy says: back over ws")
        # The same session moves from WebSocket to telnet and back.
        back.abort()
        t.expect("Wendy has lost their link")
        tel = Client(s.port)
        tel.reconnect("wendy", "wpass")
        tel.line("say now on telnet")
        t.expect("Wendy says: now on telnet")
        tel.reset()
        t.expect("Wendy has lost their link")
        ws2 = WsClient(s.ws_port, protocols=(GMCP_PROTO,))
        ws2.reconnect("wendy", "wpass")
        ws2.line("say and in gmcp mode")
        t.expect("Wendy says: and in gmcp mode")
        s.wait_log(r"reconnect #\d+ ")


def test_wss_and_https_through_the_tls_layer():
    if not h.tls_built():  # IOR_TLS=OFF or no OpenSSL 3
        print("    (built without TLS: skipped)")
        return
    import ssl
    with WsServer("port : 127.0.0.1:0 tls websocket\n", name="wss") as s:
        port = s.listener_port("tls websocket")
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the self-signed pair
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                data = h.recv_all(tls)
        with open(os.path.join(WEB_DIR, "index.html"), "rb") as f:
            check(data.startswith(b"HTTP/1.1 200 ") and data.endswith(f.read()), "https GET /: %r" % data[:100])
        t = Client(s.port)
        t.login("tom")
        w = WsClient(port, tls=ctx)
        check(w.ws.subprotocol == TELNET_PROTO, "wss subprotocol %r" % w.ws.subprotocol)
        w.login("sally")
        t.expect("Sally has arrived")
        w.line("say over wss")
        t.expect("Sally says: over wss")
        t.line("say heard you")
        w.expect("Tom says: heard you")
        check((WILL, MCCP2) not in w.commands, "MCCP2 offered over wss")
        w.line("client")
        w.expect(r"Transport: TLSv1\.[23] .*websocket telnet\.mudstandards\.org")


def test_shutdown_closes_websocket_players_with_1001():
    s = WsServer()
    w = WsClient(s.ws_port)
    w.login("lastly")
    rc = s.stop()
    w.expect("shutting down")
    w.expect_close(1001)
    check(rc == 0, "exit code %r" % rc)


PY_TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


# ---- the browser ---------------------------------------------------------------------

def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def sock_destroy_works():
    """Whether this kernel lets `ss -K` destroy a socket (CONFIG_INET_DIAG_DESTROY
    and CAP_NET_ADMIN): tried on a loopback pair of our own."""
    ss = shutil.which("ss")
    if not ss:
        return False
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = srv.accept()
    try:
        subprocess.run([ss, "-K", "-tn", "state", "established", "( sport = :%d )" % port],
                       capture_output=True, timeout=10)
        a.settimeout(1)
        try:
            return a.recv(1) == b"" and False
        except (ConnectionAbortedError, ConnectionResetError):
            return True
        except OSError:
            return False
    finally:
        for x in (a, c, srv):
            x.close()


def cut_server_side(port):
    """Destroys the server's sockets of every connection to `port` (ss -K):
    the server sees its link fail, as on a network error."""
    r = subprocess.run([shutil.which("ss"), "-K", "-tn", "state", "established", "( sport = :%d )" % port],
                       capture_output=True, text=True, timeout=10)
    return r.stdout


async def browser_session(b, s, t, name, password, shot=None):
    """Logs `name` in through the page (`shot`: a PNG of the hidden password
    field, typed but not sent)."""
    from ws_interop import SCREEN
    await b.wait_for("typeof statusEl!=='undefined'&&statusEl.textContent==='connected'", "the page connects")
    await b.wait_for(SCREEN + ".includes('By what name')", "the talker's greeting is on the terminal")
    await submit(b, name)
    await b.wait_for("input.type==='password'", "the password prompt hides the input (server WILL ECHO)")
    await b.js("input.value=%s" % json_str(password))
    if shot:
        await b.screenshot(shot)
    await b.js("document.getElementById('input-form').requestSubmit()")
    await b.wait_for(SCREEN + ".includes('Hello, %s')" % name.capitalize(), "logged in as " + name.capitalize())
    await b.wait_for("input.type==='text'", "the input shows again after the password")


def json_str(s):
    import json
    return json.dumps(s)


async def submit(b, text):
    await b.js("input.value=%s;document.getElementById('input-form').requestSubmit()" % json_str(text))


async def browser_run(b, s, t):
    from ws_interop import SCREEN
    await browser_session(b, s, t, "brenda", "brendapw9")
    check("brendapw9" not in await b.js(SCREEN), "the password is not on the terminal")
    t.expect("Brenda has arrived")
    await submit(b, "say hello tom, from chromium")
    t.expect("Brenda says: hello tom, from chromium")
    t.line("say hi brenda, from telnet")
    await b.wait_for(SCREEN + ".includes('Tom says: hi brenda, from telnet')", "a telnet player's say shows")
    await b.wait_for("[...document.querySelectorAll('#gmcp .package')].some(e=>e.textContent==='Char.Name')",
                     "GMCP Char.Name in the side panel")
    await submit(b, "client")
    await b.wait_for(SCREEN + ".includes('Client: IOR-WEB')", "TTYPE: the server knows the web client")
    await b.wait_for(SCREEN + ".includes('Compression: off')", "no MCCP on the WebSocket link")
    await b.wait_for(SCREEN + ".includes('Transport: websocket telnet.mudstandards.org')",
                     "the server sees the link as WebSocket, telnet subprotocol")
    cols, rows = await b.js("[term.cols, term.rows]")
    await b.wait_for(SCREEN + ".includes('Window: %dx%d')" % (cols, rows), "NAWS: the window is %dx%d" % (cols, rows))
    # Word wrap: a say longer than the terminal breaks at spaces (no row of
    # the buffer is a hard-wrapped continuation, no word is cut).
    words = ["word%02d" % i for i in range(cols // 4)]
    t.line("say " + " ".join(words))
    await b.wait_for(SCREEN + ".includes('%s')" % words[-1], "a long line arrives")
    screen = await b.js(SCREEN)
    check(await b.js("(()=>{const b=term.buffer.active;for(let i=0;i<b.length;i++)"
                     "if(b.getLine(i).isWrapped)return false;return true})()"), "no row is hard-wrapped")
    check(all(re.search(r"\b%s\b" % w, screen) for w in words), "every word whole on the screen")
    await b.js("input.dispatchEvent(new KeyboardEvent('keydown',{key:'ArrowUp'}))")
    check(await b.js("input.value") == "client", "ArrowUp recalls the last command")
    await b.js("input.value=''")

    # 1: the server closes the link itself (frame over the cap -> 1009).
    await b.js("ws.send(new Uint8Array(70000))")
    t.expect("Brenda has lost their link")
    await b.wait_for("statusEl.textContent.startsWith('disconnected')", "the server's close shows as disconnected")
    await b.wait_for(SCREEN + ".includes('Reconnected. Welcome back, Brenda')",
                     "the page reconnects and takes its net-dead session back", 40)
    t.expect("Brenda has reconnected")
    await submit(b, "say back after a 1009")
    t.expect("Brenda says: back after a 1009")

    # 2: the link dies under the server (its socket destroyed, ss -K).
    if sock_destroy_works():
        killed = cut_server_side(s.ws_port)
        check(killed.count("ESTAB") >= 1 or "127.0.0.1" in killed, "ss -K found no socket: %r" % killed)
        t.expect("Brenda has lost their link")
        await b.wait_for(SCREEN + ".split('Reconnected. Welcome back, Brenda').length===3",
                         "after the socket is destroyed, the page reattaches again", 40)
        t.expect("Brenda has reconnected")
        await submit(b, "say back after a reset")
        t.expect("Brenda says: back after a reset")
    else:
        print("    (this kernel refuses ss -K socket destroy: only the 1009 drop was tried)")
    t.line("who")
    t.expect(r"Brenda \(idle")
    await submit(b, "quit")
    t.expect("Brenda has left")
    await b.wait_for("statusEl.textContent.startsWith('disconnected')", "quit ends the link")
    await asyncio.sleep(1.5)
    check((await b.js("statusEl.textContent")).startswith("disconnected"), "no reconnect after quit")


async def browser_wss_run(b, t):
    from ws_interop import SCREEN
    await browser_session(b, None, t, "sally", "sallypw7")
    check(await b.js("location.protocol") == "https:", "the page came over https")
    t.expect("Sally has arrived")
    await submit(b, "say over wss from chromium")
    t.expect("Sally says: over wss from chromium")
    t.line("say heard you sally")
    await b.wait_for(SCREEN + ".includes('Tom says: heard you sally')", "a say reaches the page over wss")


def browser_mode():
    tls = h.tls_built()
    with WsServer("net dead timeout : 120\nwebsocket max frame : 16k\n" +
                 ("port : 127.0.0.1:0 tls websocket\n" if tls else ""), name="browser") as s:
        t = Client(s.port)
        t.login("tom")
        asyncio.run(asyncio.wait_for(ws_interop.with_browser("http://127.0.0.1:%d/" % s.ws_port,
                                                             lambda b: browser_run(b, s, t)), 120))
        if tls:  # the same page over https://, its link over wss:// (self-signed certificate)
            port = s.listener_port("tls websocket")
            asyncio.run(asyncio.wait_for(ws_interop.with_browser("https://127.0.0.1:%d/" % port,
                                                                 lambda b: browser_wss_run(b, t),
                                                                 ["--ignore-certificate-errors"]), 60))
        else:
            print("    (built without TLS: wss not tried)")


# ---- the closing-note picture: a browser player and a tintin++ player ------------------

async def demo_run(b, s, tt, out):
    from ws_interop import SCREEN
    await b.call("Emulation.setDeviceMetricsOverride", width=1000, height=640, deviceScaleFactor=1, mobile=False)
    await browser_session(b, s, None, "brenda", "brendapw9", os.path.join(out, "ws-password.png"))
    tt.tintin_login(s.port, "tina", "tintinpass9")
    await b.wait_for(SCREEN + ".includes('Tina has arrived')", "Tina arrives in the browser")
    script = [("b", "say Hi Tina! I'm in a browser, nothing installed."),
              ("t", "say Hello Brenda, tintin++ here. Colours OK?"),
              ("b", "emote waves from a web page."),
              ("t", "tell brenda Your link drops, and then?"),
              ("b", "say The page reconnects and takes my session back.")]
    for who, line in script:
        if who == "b":
            await submit(b, line)
            await b.wait_for(SCREEN + ".includes(%s)" % json_str(line.split(" ", 1)[1][:20]), "browser: " + line)
        else:
            tt.type_line(line)
        tt.wait_for(re.escape(line.split(" ", 2)[-1][:20]))
        await asyncio.sleep(0.3)
    # The link drops under the server; the page reattaches by itself.
    if sock_destroy_works():
        cut_server_side(s.ws_port)
    else:
        await b.js("ws.send(new Uint8Array(70000))")
    tt.wait_for("Brenda has lost their link")
    await b.wait_for(SCREEN + ".includes('Welcome back, Brenda')", "the page reattaches", 40)
    tt.wait_for("Brenda has reconnected")
    await submit(b, "say ...like that. Still here!")
    tt.wait_for("Still here!")
    await submit(b, "who")
    await b.wait_for(SCREEN + ".includes('2 players')", "who")
    tt.type_line("look")
    tt.wait_for("Here: Brenda")
    await asyncio.sleep(0.5)
    page = os.path.join(out, "ws-two-players-browser.png")
    await b.screenshot(page)
    screen = tt.screen()
    with open(os.path.join(out, "ws-two-players-tintin.txt"), "w") as f:
        f.write(screen)
    # One picture of both: the browser's screenshot beside the tt++ pane's text.
    lines = screen.rstrip().splitlines()
    start = max(i for i, l in enumerate(lines) if l.startswith("#session")) if any(
        l.startswith("#session") for l in lines) else 0
    side = os.path.join(h.WORKDIR, "side.html")
    with open(side, "w") as f:
        f.write(SIDE_BY_SIDE % (html.escape(page), html.escape("\n".join(lines[start:]))))
    await b.call("Emulation.setDeviceMetricsOverride", width=1660, height=680, deviceScaleFactor=1, mobile=False)
    await b.call("Page.navigate", url="file://" + side)
    await asyncio.sleep(1.0)
    await b.screenshot(os.path.join(out, "ws-two-players.png"))
    print("wrote %s/ws-two-players.png (both), ws-two-players-browser.png, ws-two-players-tintin.txt, "
          "ws-password.png" % out)


SIDE_BY_SIDE = """<!doctype html><meta charset="utf-8"><style>
body{margin:0;background:#101418;color:#d7dde4;font:13px system-ui,sans-serif;display:flex;gap:0}
figure{margin:0;display:flex;flex-direction:column} figcaption{padding:6px 12px;color:#7d8896;background:#171c22}
img{width:1000px;display:block} pre{margin:0;padding:10px 12px;background:#000;height:640px;
font:12.5px "DejaVu Sans Mono",monospace;white-space:pre-wrap;overflow:hidden}
</style><figure><figcaption>Brenda: Chromium, http://HOST:PORT/ (the page ior-mud serves)</figcaption>
<img src="file://%s"></figure><figure style="flex:1"><figcaption>Tina: tintin++ in tmux, telnet port
(tmux capture-pane -p)</figcaption><pre>%s</pre></figure>"""


def demo_mode(out):
    check(h.TMUX and h.TINTIN, "demo needs tmux and tintin++")
    with WsServer("net dead timeout : 120\n", name="demo") as s, \
            h.Tmux(h.TINTIN + " -t ior-demo", width=84, height=30) as tt:
        asyncio.run(asyncio.wait_for(ws_interop.with_browser("http://127.0.0.1:%d/" % s.ws_port,
                                                             lambda b: demo_run(b, s, tt, out)), 120))


# ---- main --------------------------------------------------------------------------------

def main():
    if not h.backend_built():
        return h.skip()
    if MODE in ("browser", "demo") and not chromium():
        print("ws_integration: chromium is not installed; skipped", file=sys.stderr)
        return h.skip()
    if MODE == "python":
        return h.run_tests(h.chosen(PY_TESTS), "%s %s" % (h.BACKEND, MODE))
    if MODE == "browser":
        return h.run_tests([browser_mode], "%s %s" % (h.BACKEND, MODE))
    if MODE == "demo":
        out = h.ONLY[0] if h.ONLY else "."

        def demo():
            demo_mode(out)
        return h.run_tests([demo], "%s %s" % (h.BACKEND, MODE))
    print("unknown mode %r" % MODE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) > 2:
        MODE = args.pop(2)
    h.setup(args)
    sys.exit(main())
