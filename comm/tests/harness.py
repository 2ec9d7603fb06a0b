"""The shared harness of the Python suites that drive the real ior-mud
(integration.py, telopt_integration.py, transport_integration.py,
ws_integration.py, reboot_integration.py; pieces of it in
negotiation_storm.py, soak.py and ws_interop.py): the command line, the
server process, a telnet-aware client, tmux, and the runner.

A suite calls setup(argv) first: BINARY BACKEND [TEST...], plus
--emulator=A|B|C for the mingw build (the CMAKE_CROSSCOMPILING_EMULATOR,
wine; a leading "cmake -E env K=V" becomes our environment). Then it runs
main(TESTS): exit 0 all passed, 1 a failure, 77 BACKEND is not in this build.

Everything is bounded in time; only processes this harness started are
stopped, by PID, and tmux servers by their own -L socket.
"""
import atexit
import os
import re
import select
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import traceback
import zlib

IAC, DONT, DO, WONT, WILL, SB, SE, NOP = 255, 254, 253, 252, 251, 250, 240, 241
ECHO, TTYPE, NAWS, MCCP2, GMCP = 1, 24, 31, 86, 201

TMUX = shutil.which("tmux")
TELNET = shutil.which("telnet")
TINTIN = shutil.which("tt++") or ("/usr/games/tt++" if os.path.exists("/usr/games/tt++") else None)

# Set by setup().
BINARY = BACKEND = WORKDIR = None
ONLY = []
EMULATOR, EMULATOR_ENV = [], {}
SLOW = 1                      # wine starts slowly: 4
STOP_SIGNAL = signal.SIGTERM  # Windows has no SIGTERM; wine turns SIGINT into CTRL_C_EVENT


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def setup(argv, workdir_prefix="ior-mud-test-"):
    """Reads BINARY BACKEND [TEST...] and --emulator=... from `argv`."""
    global BINARY, BACKEND, ONLY, EMULATOR, EMULATOR_ENV, SLOW, STOP_SIGNAL, WORKDIR
    args = [a for a in argv if not a.startswith("--emulator=")]
    emulator = [a.split("=", 1)[1] for a in argv if a.startswith("--emulator=")]
    EMULATOR = [x for x in emulator[0].split("|") if x] if emulator else []
    EMULATOR_ENV = {}
    if len(EMULATOR) > 2 and EMULATOR[1:3] == ["-E", "env"]:
        EMULATOR = EMULATOR[3:]
        while EMULATOR and "=" in EMULATOR[0] and not EMULATOR[0].startswith("-"):
            k, v = EMULATOR.pop(0).split("=", 1)
            EMULATOR_ENV[k] = v
    ONLY = args[2:]
    SLOW = 4 if EMULATOR else 1
    STOP_SIGNAL = signal.SIGINT if EMULATOR else signal.SIGTERM
    use(args[0], args[1], tempfile.mkdtemp(prefix=workdir_prefix))


def use(binary, backend, workdir):
    """The binary, backend ("auto": the server's choice) and work directory
    of the next Server; scripts with a command line of their own
    (negotiation_storm.py, soak.py) call this instead of setup()."""
    global BINARY, BACKEND, WORKDIR
    BINARY, BACKEND, WORKDIR = os.path.abspath(binary), backend, workdir


def command(*args, binary=None):
    return EMULATOR + [binary or BINARY] + list(args)


def environment(**extra):
    env = dict(os.environ, **EMULATOR_ENV)
    env.update(extra)
    return env


def run_binary(*args, text=True):
    """ior-mud with `args` to its end (bounded): the CompletedProcess."""
    return subprocess.run(command(*args), capture_output=True, text=text, timeout=10 * SLOW,
                          env=environment())


_tls_built = None


def tls_built():
    """Whether this ior-mud has TLS: its default config offers a TLS port then."""
    global _tls_built
    if _tls_built is None:
        _tls_built = bool(re.search(r"^port : \d+ tls", run_binary("--print-default-config").stdout, re.M))
    return _tls_built


# ---- processes ----------------------------------------------------------------

STARTED = []  # every process this harness started


@atexit.register
def _kill_leftovers():
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def end_process(proc, sig=signal.SIGTERM, timeout=10):
    """Sends `sig`, waits up to `timeout`, then kills. True if it ended by
    itself in time."""
    if proc.poll() is not None:
        return True
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def read_line(pipe, timeout, pump=()):
    """One line from `pipe` (bounded), reading the `pump` clients meanwhile."""
    deadline = time.time() + timeout
    data = b""
    fd = pipe.fileno()
    while time.time() < deadline and not data.endswith(b"\n"):
        r, _, _ = select.select([fd] + [c.sock for c in pump], [], [], max(0.0, deadline - time.time()))
        for c in pump:
            if c.sock in r:
                c.pump(0)
        if fd in r:
            chunk = os.read(fd, 1)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace").strip()


def accept_backlog(port):
    """Connections waiting in the kernel's accept queue of the listener on
    `port` (the rx_queue of a LISTEN socket in /proc/net/tcp{,6})."""
    waiting = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                waiting += int(fields[4].split(":")[1], 16)
    return waiting


_ipv6 = None


def has_ipv6():
    global _ipv6
    if _ipv6 is None:
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.bind(("::1", 0))
            s.close()
            _ipv6 = True
        except OSError:
            _ipv6 = False
    return _ipv6


def recv_all(sock):
    """Everything `sock` receives until the peer closes (a reset ends it too)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


# ---- the server -----------------------------------------------------------------

class Server:
    """One ior-mud process with a config written for the test. As a context
    manager it must stop cleanly (exit code 0) at the end of the block."""

    talker = "Test Talker"
    ipv6 = True  # a [::1] listener too, where the host has IPv6
    log_timeout = 5  # seconds wait_log() waits by default

    def __init__(self, extra="", name="server", args=(), stdin=subprocess.DEVNULL, env=None, binary=None):
        self.config = os.path.join(WORKDIR, name + ".cfg")
        with open(self.config, "w") as f:
            f.write("name : %s\nport : 127.0.0.1:0\n" % self.talker)
            if self.ipv6 and has_ipv6():
                f.write("port : [::1]:0\n")
            f.write("io_reactor_backend : %s\n" % BACKEND)
            f.write(extra)
        self.log_path = os.path.join(WORKDIR, name + ".log")
        self.log = open(self.log_path, "w")
        env = environment(**(env or {}))
        # An ASan build keeps freed memory in quarantine, which would read as
        # growth in the memory tests; a small quarantine keeps them meaningful.
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=1").lstrip(":")
        self.proc = subprocess.Popen(command("--config", self.config, *args, binary=binary),
                                     stdout=subprocess.PIPE, stderr=self.log, stdin=stdin, env=env)
        STARTED.append(self.proc)
        self.pid = self.proc.pid
        try:
            self.startup = self.read_startup()
        except BaseException:
            self.kill()  # never leave a server behind
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        check(self.stop() == 0, "exit code not 0")

    def read_startup(self):
        line = read_line(self.proc.stdout, 15 * SLOW)
        check(line, "server printed no startup line; log: " + self.read_log())
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        check(m, "no IPv4 port in startup line: " + line)
        self.port = int(m.group(1))
        m6 = re.search(r"\[::1\]:(\d+)", line)
        self.port6 = int(m6.group(1)) if m6 else None
        check(BACKEND == "auto" or ("backend " + BACKEND) in line,
              "startup line does not name backend %s: %s" % (BACKEND, line))
        return line

    def listener_port(self, layers):
        """The bound port of the listener shown as '127.0.0.1:P (layers)'."""
        m = re.search(r"127\.0\.0\.1:(\d+) \(%s\)" % re.escape(layers), self.startup)
        check(m, "no '%s' listener in the startup line: %s" % (layers, self.startup))
        return int(m.group(1))

    def fds(self):
        return fd_count(self.pid)

    def settled_fds(self, target, port=None, timeout=5):
        """Descriptors once the server holds at most `target` and has accepted
        every connection made to `port`, twice in a row 20 ms apart (a
        connection reset before the server accepted it must not pass for
        released), or at the timeout."""
        deadline = time.time() + timeout
        settled = 0
        while settled < 2 and time.time() < deadline:
            quiet = port is None or accept_backlog(port) == 0
            settled = settled + 1 if quiet and self.fds() <= target else 0
            time.sleep(0.02)
        return self.fds()

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, pattern, timeout=None):
        deadline = time.time() + (timeout or self.log_timeout)
        while time.time() < deadline:
            m = re.search(pattern, self.read_log())
            if m:
                return m
            time.sleep(0.05)
        raise Failure("server log never matched %r; log:\n%s" % (pattern, self.read_log()[-3000:]))

    def stop(self, sig=None, timeout=10):
        """SIGTERM/SIGINT: the server must say goodbye, flush and exit 0."""
        if not end_process(self.proc, sig or STOP_SIGNAL, timeout):
            raise Failure("server did not exit within %d s of SIGTERM" % timeout)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ---- a raw telnet-aware client ------------------------------------------------------

class Client:
    """A socket client that separates telnet commands from text. By default
    it answers nothing (a dumb client); tests switch features on. With
    mccp=True it asks for MCCP2 when offered and follows each stream to its
    end and through a restart (an inflate error raises)."""

    expect_timeout = 5
    strip_cr = False  # text without the CRs of CR LF

    def __init__(self, port, host="127.0.0.1", family=socket.AF_INET, rcvbuf=None, source=None, mccp=False):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so the advertised window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:  # another loopback address (127.0.0.2...): another "host"
            self.sock.bind((source, 0))
        self.sock.settimeout(5)
        self.sock.connect((host, port))
        self.start_telnet(mccp)

    def start_telnet(self, mccp=False):
        self.text = ""          # data bytes seen so far
        self.seen = 0           # how much of text expect() has consumed
        self.commands = []      # (verb, option) received; (command, None) for the others
        self.subneg = []        # (option, payload) received
        self.inflater = None    # the MCCP2 stream (kept after its end)
        self.streams = 0        # MCCP2 streams begun
        self.compressed_bytes = 0
        self.closed = False
        self._pending = b""     # unparsed telnet bytes
        self.want_mccp = mccp   # inflate what follows IAC SB MCCP2 IAC SE
        self.answer_mccp = mccp  # DO MCCP2 to the server's WILL
        self.on_sb = None
        self.on_verb = None

    @property
    def verbs(self):
        """The WILL/WONT/DO/DONT received."""
        return [c for c in self.commands if c[1] is not None]

    def send(self, data):
        self.sock.sendall(data)

    def line(self, text):
        self.send(text.encode() + b"\r\n")

    def _feed(self, data):
        if self.inflater is not None and not self.inflater.eof:
            self.compressed_bytes += len(data)
            plain = self.inflater.decompress(data)
            if not self.inflater.eof:
                return self._feed_plain(plain)
            # The stream ended: what follows it is plain.
            self._feed_plain(plain)
            data = self.inflater.unused_data
        self._feed_plain(data)

    def _add_text(self, out):
        text = out.decode("latin1")
        self.text += text.replace("\r", "") if self.strip_cr else text

    def _feed_plain(self, data):
        buf = self._pending + data
        self._pending = b""
        i = 0
        out = bytearray()
        while i < len(buf):
            c = buf[i]
            if c != IAC:
                out.append(c)
                i += 1
                continue
            if i + 1 >= len(buf):
                self._pending = buf[i:]
                break
            cmd = buf[i + 1]
            if cmd == IAC:
                out.append(IAC)
                i += 2
            elif cmd in (WILL, WONT, DO, DONT):
                if i + 2 >= len(buf):
                    self._pending = buf[i:]
                    break
                self._verb(cmd, buf[i + 2])
                i += 3
            elif cmd == SB:
                end = buf.find(bytes([IAC, SE]), i + 2)
                if end < 0:
                    self._pending = buf[i:]
                    break
                opt = buf[i + 2]
                payload = buf[i + 3:end].replace(bytes([IAC, IAC]), bytes([IAC]))
                self.subneg.append((opt, payload))
                i = end + 2
                if opt == MCCP2 and self.want_mccp:
                    # Everything after IAC SB MCCP2 IAC SE is compressed.
                    check(self.inflater is None or self.inflater.eof, "MCCP2 started twice without an end")
                    self._add_text(out)
                    self.inflater = zlib.decompressobj()
                    self.streams += 1
                    return self._feed(buf[i:]) if i < len(buf) else None
                if self.on_sb:
                    self.on_sb(opt, payload)
            else:
                self.commands.append((cmd, None))
                i += 2
        self._add_text(out)

    def _verb(self, cmd, opt):
        self.commands.append((cmd, opt))
        if cmd == WILL and opt == MCCP2 and self.answer_mccp:
            self.send(bytes([IAC, DO, MCCP2]))
        if self.on_verb:
            self.on_verb(cmd, opt)

    def _recv(self, timeout):
        """Bytes that arrived within `timeout`: b"" for none, None at the end."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return b""
        try:
            return self.sock.recv(65536) or None
        except (ConnectionResetError, socket.timeout):
            return None

    def pump(self, timeout=0.2):
        """Reads what arrives within `timeout`; False once the link has ended."""
        if self.closed:
            return False
        data = self._recv(timeout)
        if data is None:
            self.closed = True
            return False
        if data:
            self._feed(data)
        return True

    def expect(self, pattern, timeout=None):
        """Waits for `pattern` (regex) in the text after the last match."""
        deadline = time.time() + (timeout or self.expect_timeout)
        while True:
            m = re.search(pattern, self.text[self.seen:])
            if m:
                self.seen += m.end()
                return m
            if time.time() >= deadline:
                raise Failure("timed out waiting for %r; got:\n%s" % (pattern, self.text[self.seen:][-1500:]))
            if not self.pump(min(0.2, max(0.01, deadline - time.time()))):
                m = re.search(pattern, self.text[self.seen:])
                if m:
                    self.seen += m.end()
                    return m
                raise Failure("connection closed waiting for %r; got:\n%s" % (pattern, self.text[self.seen:][-1500:]))

    def expect_closed(self, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.pump(0.2):
                return
        raise Failure("connection still open")

    def login(self, name, password="pw"):
        self._sign_in(name, "password", password, "Hello, ")
        self.expect("> ")

    def reconnect(self, name, password="pw"):
        """Takes the net-dead session of `name` back."""
        self._sign_in(name, "net-dead. Password to reconnect", password, "Reconnected. Welcome back, ")

    def _sign_in(self, name, prompt, password, greeting):
        self.expect("By what name")
        self.line(name)
        self.expect(prompt)
        self.line(password)
        self.expect(greeting + name.capitalize())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Abortive close (RST), as when a client is killed."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class TlsClient(Client):
    """A Client over Python's ssl; with `cafile`, verifying the server's
    certificate against it, else not checking it. A ragged EOF (no
    close_notify) ends the link like a reset; `clean_eof` tells them apart."""

    def __init__(self, port, prefix=b"", cafile=None, rcvbuf=None, mccp=False):
        super().__init__(port, rcvbuf=rcvbuf, mccp=mccp)
        if prefix:  # a PROXY header before the handshake
            self.sock.sendall(prefix)
        if cafile:
            ctx = ssl.create_default_context(cafile=cafile)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost", suppress_ragged_eofs=False)
        self.clean_eof = False

    def _recv(self, timeout):
        # Decrypted bytes the TLS object already holds do not wake select.
        if not self.sock.pending():
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                return b""
        try:
            data = self.sock.recv(65536)
        except ssl.SSLWantReadError:
            return b""
        except (ConnectionResetError, socket.timeout, ssl.SSLError):
            return None
        if not data:
            self.clean_eof = True  # close_notify seen
            return None
        return data


def logged_in(port, *names, client=None):
    """A client (a Client, or of class `client`) per name, each logged in
    (password "pw") in turn."""
    clients = [(client or Client)(port) for _ in names]
    for c, name in zip(clients, names):
        c.login(name)
    return clients


def pump_all(clients, timeout):
    """One select over every client: reads what is there, waits at most `timeout`."""
    live = [c for c in clients if not c.closed]
    if not live:
        return time.sleep(timeout)
    r, _, _ = select.select([c.sock for c in live], [], [], timeout)
    for c in live:
        if c.sock in r:
            c.pump(0)


def settle(clients, seconds=0.3):
    """Reads every client for `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        pump_all(clients, min(0.02, max(0.0, end - time.time())))


def say_until_logged(server, loud, logged, seconds, watch=""):
    """`loud` says long lines as fast as its socket takes them, reading its
    echoes meanwhile (the server pauses reading loud while its commands or
    its output back up), until `logged` is in the server log or `seconds`
    pass. Only a tail of loud's text is kept (bounded memory): the result
    says whether `watch` showed in it along the way."""
    batch = ("say " + "y" * 1000 + "\r\n").encode() * 20
    pending, seen = b"", False
    deadline = time.time() + seconds
    while time.time() < deadline and logged not in server.read_log():
        pending = pending or batch
        r, w, _ = select.select([loud.sock], [loud.sock], [], 0.01)
        if w:
            pending = pending[loud.sock.send(pending):]
        if r:
            loud.pump(0)
        seen = seen or bool(watch) and watch in loud.text
        loud.text, loud.seen = loud.text[-max(64, len(watch)):], 0
    return seen


def pump_until(client, cond, what, timeout=5):
    """Reads `client` until `cond()` holds; fails after `timeout`."""
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise Failure("timed out waiting for " + what)
        client.pump(0.1)


# ---- tmux ---------------------------------------------------------------------------

def tintin_missing():
    """True (and says the test is skipped) where tmux or tintin++ is missing."""
    if TMUX and TINTIN:
        return False
    print("    (tintin++ or tmux missing: skipped)")
    return True


class Tmux:
    """A private tmux server (own -L socket) running one command."""

    def __init__(self, command, width=120, height=40):
        self.sock = "ior-mud-test-%d-%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        subprocess.run([TMUX, "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-s", "t",
                        "-x", str(width), "-y", str(height), command], check=True, timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def keys(self, *keys):
        subprocess.run([TMUX, "-L", self.sock, "send-keys", "-t", "t"] + list(keys), check=True, timeout=10)

    def type_line(self, text):
        self.keys("-l", text)
        self.keys("Enter")

    def screen(self):
        r = subprocess.run([TMUX, "-L", self.sock, "capture-pane", "-p", "-t", "t", "-S", "-300"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout

    def wait_for(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.screen()
            if re.search(pattern, s):
                return s
            time.sleep(0.1)
        raise Failure("tmux screen never showed %r; screen:\n%s" % (pattern, self.screen()))

    def tintin_login(self, port, name, password, session="#session"):
        """tintin++ in this pane opens a session to `port` and logs in."""
        time.sleep(0.5)  # keys typed before tintin++ is up would be lost
        self.type_line("%s mud 127.0.0.1 %d" % (session, port))
        self.wait_for("By what name")
        self.type_line(name)
        self.wait_for("Choose a password")
        self.type_line(password)
        self.wait_for("Hello, " + name.capitalize())

    def close(self):
        subprocess.run([TMUX, "-L", self.sock, "kill-server"], capture_output=True, timeout=10)


# ---- the runner -----------------------------------------------------------------------

def backend_built():
    """Whether BACKEND is in this build (else the suite exits 77)."""
    listed = run_binary("--list-backends").stdout.split()
    if BACKEND in listed:
        return True
    print("backend %s not in this build (%s): skipped" % (BACKEND, listed))
    return False


def chosen(tests):
    """The tests named on the command line, or all."""
    return [t for t in tests if not ONLY or t.__name__ in ONLY]


def run_tests(tests, label=None):
    """Runs each test, prints PASS/FAIL lines and a summary; 0 or 1. The
    work directory goes, unless a test failed and IOR_KEEP_LOGS is set."""
    failed = []
    try:
        for test in tests:
            start = time.time()
            try:
                test()
                print("PASS %s (%.1fs)" % (test.__name__, time.time() - start), flush=True)
            except Exception:
                failed.append(test.__name__)
                print("FAIL %s (%.1fs)\n%s" % (test.__name__, time.time() - start, traceback.format_exc()),
                      flush=True)
        print("%s: %d tests, %d failed %s" % (label or BACKEND, len(tests), len(failed), failed))
    finally:
        if not failed or os.environ.get("IOR_KEEP_LOGS") is None:
            shutil.rmtree(WORKDIR, ignore_errors=True)
    return 1 if failed else 0


def skip():
    """The exit code of a suite that cannot run here (77), its work directory gone."""
    shutil.rmtree(WORKDIR, ignore_errors=True)
    return 77


def main(tests):
    """The whole run of a suite: 77 if BACKEND is not built, else the
    chosen tests' run_tests()."""
    return run_tests(chosen(tests)) if backend_built() else skip()
