#!/usr/bin/env python3
"""Writes the hand-made seed inputs of fuzz/corpus/<target>/seed-*.

Seeds only start the search; the fuzzer's own finds are not kept in the
tree (they change with every run), except inputs that once crashed a
target, kept as corpus/<target>/crash-* and replayed by the normal suite.
Run from anywhere: python3 fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
IAC, DONT, DO, WONT, WILL, SB, GA, AYT, NOP, SE, EOR = 255, 254, 253, 252, 251, 250, 249, 246, 241, 240, 239
ECHO, SGA, TTYPE, OPT_EOR, NAWS, CHARSET, MSSP, MCCP2, GMCP = 1, 3, 24, 25, 31, 42, 70, 86, 201


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def b(*xs):
    out = bytearray()
    for x in xs:
        out += x if isinstance(x, (bytes, bytearray)) else bytes([x])
    return bytes(out)


def sb(opt, payload=b""):
    return b(IAC, SB, opt, payload.replace(b"\xff", b"\xff\xff"), IAC, SE)


# ---- telnet: flags (bit0 mccp2, bit1 start, bits2-3 cap), seed, requests, stream
def telnet(name, stream, flags=0x0F, requests=()):
    head = b(flags, struct.pack("<I", 0x1234567), len(requests))
    for at, byte in requests:
        head += struct.pack("<H", at) + bytes([byte])
    write("telnet", name, head + stream)


telnet("plain", b"hello\r\nworld\n")
telnet("tintin_login", b(IAC, WILL, TTYPE, IAC, WILL, NAWS, IAC, DO, OPT_EOR, IAC, DO, CHARSET, IAC, DO, GMCP,
                          sb(TTYPE, b"\x00TINTIN++"), sb(TTYPE, b"\x00XTERM-256COLOR"),
                          sb(TTYPE, b"\x00MTTS 137"), sb(NAWS, b"\x00\x50\x00\x18"),
                          sb(CHARSET, b"\x01;UTF-8;ISO-8859-1"), b"name\r\n"))
telnet("mccp_toggle", b(IAC, DO, MCCP2, IAC, DONT, MCCP2, IAC, DO, MCCP2, b"look\r\n"))
telnet("mccp_off_policy", b(IAC, DO, MCCP2, IAC, WILL, MCCP2), flags=0x0E)
telnet("q_method_races", b(IAC, DONT, ECHO, IAC, DO, ECHO, IAC, DO, ECHO, IAC, WONT, TTYPE, IAC, WILL, TTYPE),
       requests=[(0, 0 << 2 | 3), (3, 0 << 2 | 1), (6, 2 << 2 | 2)])
telnet("sb_unterminated", b(IAC, SB, GMCP, b"Core.Hello {", IAC, DO, MSSP, b"x" * 40))
telnet("sb_overflow_small_cap", b(IAC, WILL, TTYPE, IAC, SB, TTYPE, 0, b"A" * 30, IAC, SE), flags=0x03)
telnet("iac_escapes", b(b"a", IAC, IAC, b"b", IAC, AYT, IAC, NOP, IAC, GA, IAC, EOR, IAC, SE, IAC))
telnet("gmcp", b(IAC, DO, GMCP, sb(GMCP, b'Core.Supports.Set ["Char 1"]'), sb(GMCP, b"Core.Ping")))
telnet("charset_reject", b(IAC, DO, CHARSET, IAC, WILL, CHARSET, sb(CHARSET, b"\x01 KOI8-R ISO-8859-1"),
                           sb(CHARSET, b"\x01[TTABLE]\x01;utf8"), sb(CHARSET, b"\x03")))

# NEW-ENVIRON/MNES, MSDP, MCCP3 (flags bit4: MCCP3 offered).
NEW_ENVIRON, MSDP, MCCP3 = 39, 69, 87
telnet("mnes", b(IAC, WILL, NEW_ENVIRON,
                 sb(NEW_ENVIRON, b"\x00\x00CLIENT_NAME\x01MUDLET\x00CLIENT_VERSION\x014.17\x00MTTS\x012825"
                                 b"\x03IPADDRESS\x01192.0.2.1"),
                 sb(NEW_ENVIRON, b"\x02\x00CHARSET\x01UTF-8"), sb(NEW_ENVIRON, b"\x00\x01x\x02")))
telnet("msdp", b(IAC, DO, MSDP, sb(MSDP, b"\x01CLIENT_NAME\x02TINTIN++\x01LIST\x02COMMANDS"),
                 sb(MSDP, b"\x01REPORT\x02\x05\x02ROOM_NAME\x02PLAYERS\x06\x01SEND\x02ROOM_NAME"),
                 sb(MSDP, b"\x01LIST\x02REPORTED_VARIABLES\x01UNREPORT\x02PLAYERS\x01RESET\x02REPORTABLE_VARIABLES"),
                 sb(MSDP, b"\x01X\x02\x03\x01a\x02\x03\x01b\x02\x04\x04")), flags=0x0F)
def _z(data, finish):
    import zlib
    z = zlib.compressobj(9)
    return z.compress(data) + z.flush(zlib.Z_FINISH if finish else zlib.Z_SYNC_FLUSH)
telnet("mccp3_stream", b(IAC, DO, MCCP3, b"a\r\n", sb(MCCP3),
                         _z(b(IAC, DO, GMCP, b"look\r\n", IAC, IAC, b"\r\n"), True), b"plain\r\n"), flags=0x1F)
telnet("mccp3_corrupt", b(IAC, DO, MCCP3, sb(MCCP3), _z(b"ok\r\n", False), b"garbage\xff\xff"), flags=0x1F)
telnet("mccp3_not_agreed", b(sb(MCCP3), _z(b"x\r\n", False)), flags=0x1F)

# ---- line_buffer: cap, seed, bytes
def line(name, cap, data):
    write("line_buffer", name, bytes([cap - 1]) + struct.pack("<I", 99) + data)


line("endings", 80, b"one\r\ntwo\r\0three\nfour\rfive\n\n\r\r\n")
line("erase", 16, b"abc\x08\x08d\x7f\r\nx\x00y\r\n")
line("cut", 8, b"0123456789abcdef\r\nshort\r\n" + b"z" * 40 + b"\x08\x08\n")

# ---- config: text
write("config", "default", b"""# ior-mud default configuration
name : ioreactor talker
port : 4000
io_reactor_backend : auto
io_reactor_max_events : 128
io_reactor_pool_size : 256
trace io_reactor : off
idle timeout : 1h
net dead timeout : 5m
max users : 1000
max line length : 1024
max input queue : 16k
max output buffer : 1m
output high watermark : 256k
output low watermark : 64k
mccp : on
""")
write("config", "listeners", b"port : 127.0.0.1:0\nport : [::1]:4001\nport : 4002\n")
write("config", "errors", b"port : 4000\nmax users : 0\n")
write("config", "watermarks", b"port : 1\noutput low watermark : 1m\noutput high watermark : 512\n")
write("config", "no_colon", b"port 4000\n")

# ---- mccp: seed, max_chunk (u16), text
write("mccp", "text", struct.pack("<IH", 7, 100) + b"You are standing in an open field west of a white house.\r\n" * 8)
write("mccp", "binary", struct.pack("<IH", 3, 4000) + bytes(range(256)) * 4)
write("mccp", "empty", struct.pack("<IH", 1, 1))

# ---- reactor: op, slot, args... (see Program::step in reactor_fuzz.cpp)
NEW, ADD, MOD, REM, POST, SEND, READ, SHUT, CLOSE, FREE, BAD, WAIT = 0, 1, 2, 3, 4, 6, 8, 9, 10, 11, 12, 13


def reactor(name, *ops):
    write("reactor", name, bytes(ops))


reactor("echo", NEW, 0, 0, ADD, 0, 3, SEND, 0, 50, WAIT, 0, 8, 1, POST, 0, 100, WAIT, 0, 8, 0, READ, 0)
reactor("backlog", NEW, 0, 1, ADD, 0, 3, POST, 0, 255, POST, 0, 255, WAIT, 0, 4, 0, READ, 0, WAIT, 0, 4, 0)
reactor("pause", NEW, 1, 0, ADD, 1, 1, MOD, 1, 0, SEND, 1, 200, WAIT, 0, 8, 0, MOD, 1, 1, WAIT, 0, 8, 0)
reactor("half_close", NEW, 2, 0, ADD, 2, 1, SEND, 2, 10, SHUT, 2, WAIT, 0, 8, 0, POST, 2, 5)
reactor("reset", NEW, 3, 1, ADD, 3, 3, POST, 3, 250, CLOSE, 3, 0, WAIT, 0, 8, 0, MOD, 3, 3, WAIT, 0, 8, 0)
reactor("remove_in_loop", NEW, 0, 0, NEW, 1, 0, ADD, 0, 1, ADD, 1, 1, SEND, 0, 9, SEND, 1, 9,
        WAIT, 0, 1, 0, 0x10, REM, 1, WAIT, 0, 8, 0)
reactor("reuse_fd", NEW, 0, 0, ADD, 0, 1, SEND, 0, 20, REM, 0, FREE, 0, NEW, 0, 0, ADD, 0, 3, WAIT, 0, 8, 0)

# ---- inputs that once failed a target (kept under their own names)
def regression(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    with open(os.path.join(d, "crash-" + name), "wb") as f:
        f.write(data)


# EVENT_WRITE after EVENT_ERROR: reset peer, then write interest turned on.
regression("reactor", "write_after_error", bytes([NEW, 0, 0, ADD, 0, 1, CLOSE, 0, 0, WAIT, 0, 8, 1,
                                                   MOD, 0, 3, WAIT, 0, 8, 1]))
