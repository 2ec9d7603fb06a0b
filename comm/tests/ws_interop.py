#!/usr/bin/env python3
"""Real clients against the WebSocket layer (comm/websocket.h), through
ws_echo_server (the layer over loopback sockets, the embedded web client,
a toy talker): the layer's own interoperability test, with no comm layer
under it. ws_integration.py runs real clients against ior-mud itself, and
imports with_browser from here.

  ws_interop.py SERVER python    Python websockets: both subprotocols, ping,
                                 fragments, close, 1009, HTTP errors, assets
  ws_interop.py SERVER browser   headless Chromium over the DevTools
                                 protocol: the page logs in, talks, hides a
                                 password, survives a killed server
                                 [--screenshot DIR]

Exit 0: passed; 1: failed; 77: chromium is not installed (browser mode).
"""
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import harness

try:
    import websockets
    from websockets.exceptions import ConnectionClosedError, InvalidStatusCode
except ImportError:
    print("ws_interop: needs python3-websockets (scripts/deps installs it)", file=sys.stderr)
    sys.exit(1)

DEADLINE = 90  # seconds for a whole mode; every wait below is bounded


class Server:
    def __init__(self, binary, port=0):
        self.binary = binary
        self.start(port)

    def start(self, port):
        self.proc = subprocess.Popen([self.binary, str(port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("port "):
            raise SystemExit("ws_echo_server did not start: %r" % line)
        self.port = int(line.split()[1])

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)
    print("ok:", what)


def http(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


async def python_mode(server):
    url = "ws://127.0.0.1:%d/ws" % server.port
    async with websockets.connect(url, subprotocols=["telnet.mudstandards.org"]) as ws:
        check(ws.subprotocol == "telnet.mudstandards.org", "telnet subprotocol chosen")
        greet = await asyncio.wait_for(ws.recv(), 10)
        check(isinstance(greet, bytes) and greet.startswith(b"\xff\xfb\xc9\xff\xfd\x1f") and b"Welcome" in greet,
              "greeting arrives as one binary frame with its telnet bytes")
        await ws.send(b"hello there\r\n")
        check((await asyncio.wait_for(ws.recv(), 10)).startswith(b"You say: hello there\r\n"), "a line round-trips")
        await asyncio.wait_for(await ws.ping(b"x"), 10)
        print("ok: ping answered")
        await ws.send([b"frag", b"mented\r\n"])
        check(b"You say: fragmented" in await asyncio.wait_for(ws.recv(), 10), "a fragmented message is one line")
        await ws.send(b"bye\r\n")
        await asyncio.wait_for(ws.wait_closed(), 10)
        check(ws.close_code == 1001, "server close with 1001 (got %s)" % ws.close_code)

    async with websockets.connect(url, subprotocols=["gmcp.mudstandards.org"]) as ws:
        check(ws.subprotocol == "gmcp.mudstandards.org", "gmcp subprotocol chosen")
        greet = await asyncio.wait_for(ws.recv(), 10)
        check(isinstance(greet, bytes) and b"\xff" not in greet and b"Welcome" in greet,
              "gmcp mode: text without telnet bytes")
        await ws.send(b"hi\r\n")
        a = await asyncio.wait_for(ws.recv(), 10)
        b = await asyncio.wait_for(ws.recv(), 10)
        check(a == b"You say: hi\r\n" and b == 'Comm.Channel.Text {"text":"hi"}', "gmcp mode: GMCP as a text frame")
        await ws.send('Core.Hello {"client":"py"}')
        c = await asyncio.wait_for(ws.recv(), 10)
        check(c == b'GMCP from you: Core.Hello {"client":"py"}\r\n', "gmcp mode: a text frame reaches telnet as GMCP")

    async with websockets.connect(url, max_size=None) as ws:
        await asyncio.wait_for(ws.recv(), 10)
        await ws.send(b"x" * 70000)
        try:
            await asyncio.wait_for(ws.recv(), 10)
            check(False, "oversized frame refused")
        except ConnectionClosedError as e:
            check(e.rcvd is not None and e.rcvd.code == 1009, "a 70000-byte frame gets close 1009")

    for protocols, status in ((["chat"], 400),):
        try:
            async with websockets.connect(url, subprotocols=protocols):
                check(False, "unknown subprotocol refused")
        except InvalidStatusCode as e:
            check(e.status_code == status, "subprotocol %s only: HTTP %d" % (protocols, status))

    status, headers, body = http(server.port, "/")
    check(status == 200 and headers["Content-Type"] == "text/html; charset=utf-8" and b"xterm.js" in body,
          "GET / serves the page")
    for path in ("/client.js", "/style.css", "/vendor/xterm/xterm.js", "/vendor/xterm/xterm.css",
                 "/vendor/addon-fit/addon-fit.js"):
        status, headers, body = http(server.port, path)
        check(status == 200 and int(headers["Content-Length"]) == len(body) > 0, "GET %s" % path)
    check(http(server.port, "/nope")[0] == 404, "unknown path: 404")
    check(http(server.port, "/", "POST")[0] == 405, "POST: 405")
    upgrade = ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: %s\r\n\r\n")
    status, text = raw_request(server.port, upgrade % "8")
    check(status == 426 and "\r\nSec-WebSocket-Version: 13\r\n" in text, "version 8: 426 naming 13")
    status, _ = raw_request(server.port, upgrade.replace("Connection: Upgrade", "Connection: close") % "13")
    check(status == 400, "no Connection: Upgrade: 400")
    status, _ = raw_request(server.port, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 9000 + "\r\n\r\n")
    check(status == 431, "a 9 KB request head: 431")
    status, text = raw_request(server.port, "\xff\xfb\x18")
    check(status == 400 and "not an HTTP request" in text, "a telnet client gets 400 at once")


def raw_request(port, text):
    """Sends a request head as is (urllib would add its own Connection:
    close) and returns the status code and the response text."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(text.encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ")[1]), data.decode("latin-1")


class Browser:
    """Headless Chromium driven over the DevTools protocol."""

    def __init__(self, url, profile, extra_args=()):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--remote-debugging-port=0", "--window-size=1200,800", "--user-data-dir=" + profile,
             *extra_args, url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True)  # its own process group: close() ends its helpers too
        for line in self.proc.stderr:
            if "DevTools listening on ws://" in line:
                self.debug_port = int(line.split("ws://127.0.0.1:")[1].split("/")[0])
                break
        else:
            raise SystemExit("chromium did not start")
        self.n = 0

    async def attach(self):
        for _ in range(100):
            pages = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json" % self.debug_port, timeout=10))
            pages = [p for p in pages if p["type"] == "page"]
            if pages:
                break
            await asyncio.sleep(0.2)
        self.cdp = await websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=None)

    async def call(self, method, **params):
        self.n += 1
        await self.cdp.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = json.loads(await asyncio.wait_for(self.cdp.recv(), 30))
            if m.get("id") == self.n:
                return m.get("result", {})

    async def js(self, expr):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r.get("result", {}).get("value")

    async def wait_for(self, expr, what, secs=20):
        end = time.time() + secs
        while time.time() < end:
            if await self.js(expr):
                print("ok:", what)
                return
            await asyncio.sleep(0.1)
        raise Failed("timed out waiting for " + what)

    async def screenshot(self, path):
        r = await self.call("Page.captureScreenshot", format="png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def close(self):
        harness.end_process(self.proc)
        # Renderer and utility processes may outlive the browser process for
        # a moment and still write into the profile: end the group we made.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Profile:
    """A temporary Chromium profile directory, removed once the browser's
    last helper process has let go of it (a plain TemporaryDirectory failed
    now and then with "Directory not empty")."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="ior-chromium-")
        return self.path

    def __exit__(self, *exc):
        deadline = time.time() + 10
        while True:
            try:
                shutil.rmtree(self.path)
                return False
            except FileNotFoundError:
                return False
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)


SCREEN = ("(()=>{const b=term.buffer.active;let s='';"
          "for(let i=0;i<b.length;i++)s+=b.getLine(i).translateToString(true)+'\\n';return s})()")


async def with_browser(url, body, extra_args=()):
    """Runs `await body(browser)` with a headless Chromium on `url`, in a
    profile of its own; the browser and its helpers end afterwards."""
    with Profile() as profile:
        b = Browser(url, profile, extra_args)
        try:
            await b.attach()
            await body(b)
        finally:
            try:
                await b.cdp.close()
            except Exception:
                pass  # attach() failed: no DevTools link to close
            b.close()


async def browser_mode(server, shots):
    await with_browser("http://127.0.0.1:%d/" % server.port, lambda b: run_browser(b, server, shots))


async def say(b, text):
    await b.js("input.value=%s;document.getElementById('input-form').requestSubmit()" % json.dumps(text))


async def run_browser(b, server, shots):
    await b.wait_for("typeof statusEl!=='undefined'&&statusEl.textContent==='connected'", "the page connects")
    await b.wait_for(SCREEN + ".includes('Welcome to the ws echo server')", "the greeting is on the terminal")
    await b.wait_for("[...document.querySelectorAll('#gmcp .package')].some(e=>e.textContent==='Client.Size')",
                     "NAWS reached the server (GMCP Client.Size in the panel)")
    await b.wait_for(SCREEN + ".includes('GMCP from you: Core.Hello')", "the page said Core.Hello over GMCP")
    await say(b, "hello from chromium")
    await b.wait_for(SCREEN + ".includes('You say: hello from chromium')", "a line round-trips")
    await say(b, "pw")
    await b.wait_for("input.type==='password'", "IAC WILL ECHO hides the input")
    await b.js("input.value='secret'")
    if shots:
        await b.screenshot(os.path.join(shots, "ws-browser-password.png"))
    await b.js("document.getElementById('input-form').requestSubmit()")
    await b.wait_for("input.type==='text'", "IAC WONT ECHO shows it again")
    await b.wait_for(SCREEN + ".includes('Password of 6 characters accepted')", "the password was sent")
    check("secret" not in await b.js(SCREEN), "the password is not on the terminal")
    await b.js("input.dispatchEvent(new KeyboardEvent('keydown',{key:'ArrowUp'}))")
    check(await b.js("input.value") == "pw", "ArrowUp recalls the last command, not the password")
    await b.js("input.value=''")
    port = server.port
    server.kill()
    await b.wait_for("statusEl.textContent.startsWith('disconnected')", "a killed server shows as disconnected")
    server.start(port)
    await b.wait_for("statusEl.textContent==='connected'", "the page reconnects", 40)
    await b.wait_for(SCREEN + ".split('Welcome to the ws echo server').length===3", "greeted again")
    await say(b, "back again")
    await b.wait_for(SCREEN + ".includes('You say: back again')", "talking again after the reconnect")
    if shots:
        await b.screenshot(os.path.join(shots, "ws-browser.png"))


def main():
    args = sys.argv[1:]
    shots = None
    if "--screenshot" in args:
        i = args.index("--screenshot")
        shots = args[i + 1]
        del args[i:i + 2]
    binary, mode = args
    if mode == "browser" and not (shutil.which("chromium") or shutil.which("chromium-browser")):
        print("ws_interop: chromium is not installed; skipped", file=sys.stderr)
        sys.exit(77)
    server = Server(binary)
    try:
        coro = python_mode(server) if mode == "python" else browser_mode(server, shots)
        asyncio.run(asyncio.wait_for(coro, DEADLINE))
    except (Failed, asyncio.TimeoutError) as e:
        print("FAILED:", e or "the %d s deadline passed" % DEADLINE)
        sys.exit(1)
    finally:
        server.kill()
    print("ws_interop %s: all passed" % mode)


if __name__ == "__main__":
    main()
