#!/usr/bin/env python3
"""Writes the seeds of the reboot_state target (fuzz/corpus/reboot_state/seed-*):
hot-reboot state files built here from the format in comm/reboot.h, written
independently of the C++ writer, plus a few refusals (newer version, bad
checksum, truncated). Each seed starts with the target's mode byte. Run from anywhere:
python3 fuzz/make_reboot_seeds.py
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "reboot_state")


def s(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack("<I", len(b)) + b


def telnet(options=(), parse_state=0, sb=b"", ttype=0, client=(0, 0, "", "", 0, "")):
    out = struct.pack("<I", len(options))
    for opt, us, him, uo, ho in options:
        out += bytes([opt, us, him, uo, ho])
    out += bytes([parse_state, 0, 201 if sb else 0, 0]) + s(sb)
    out += struct.pack("<I", ttype) + b"\x01" + struct.pack("<QQ", 12, 40)
    w, h, name, term, mtts, cs = client
    out += struct.pack("<II", w, h) + s(name) + s(term) + struct.pack("<I", mtts) + s(cs)
    return out


def link(fd, addr, tn, mccp=0, partial=b"", commands=(), console=False):
    out = struct.pack("<q", -1 if console else fd) + bytes([1 if console else 0]) + s(addr) + tn
    out += bytes([mccp]) + s(partial) + b"\x00\x00" + struct.pack("<I", len(commands))
    for c in commands:
        out += s(c)
    return out + struct.pack("<Q", 2)


def user(uid, addr, app, keep=1, logged=1, ages=(60000, 1000, 0), lnk=None):
    out = struct.pack("<Q", uid) + s(addr) + bytes([keep, logged]) + struct.pack("<qqq", *ages) + s(app)
    return out + (b"\x01" + lnk if lnk is not None else b"\x00")


def state(next_id, listeners, users, app=b"1764000000", version=1):
    p = struct.pack("<Q", next_id) + s(app) + struct.pack("<I", len(listeners))
    for fd, name in listeners:
        p += struct.pack("<q", fd) + s(name) + struct.pack("<I", 2 if "4443" in name else 0)
    p += struct.pack("<I", len(users)) + b"".join(users)
    return b"IORMUDST" + struct.pack("<IIQI", version, 0, len(p), zlib.crc32(p)) + p


def write(name, data):
    """Two seeds: the file as it is (first byte even), and its payload alone
    (first byte odd: the target adds a valid header, see reboot_state_fuzz.cpp)."""
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "seed-" + name), "wb") as f:
        f.write(b"\x00" + data)
    if data[:8] == b"IORMUDST" and len(data) >= 28:
        with open(os.path.join(OUT, "seed-payload-" + name), "wb") as f:
            f.write(b"\x01" + data[28:])


tn_full = telnet([(86, 1, 0, 0, 0), (31, 0, 1, 0, 0), (24, 0, 1, 0, 0), (201, 1, 0, 0, 0), (1, 3, 0, 1, 0)],
                 parse_state=4, sb=b"Core.He", ttype=3,
                 client=(120, 40, "TINTIN++", "XTERM-256COLOR", 2825, "UTF-8"))
alice = user(3, "127.0.0.1:5555", b"3\nAlice\npw\nAlice",
             lnk=link(9, "127.0.0.1:5555", tn_full, mccp=1, partial=b"say hal", commands=[b"who", b"say x"]))
bob = user(4, "[::1]:4444", b"3\nBob\nsecret\nBob", ages=(90000, 30000, 30000))  # net-dead
dave = user(5, "127.0.0.1:6000", b"1\n\n\nDave", keep=0, logged=0, lnk=link(10, "127.0.0.1:6000", telnet()))
console = user(1, "console", b"3\nConsole\n\nConsole", lnk=link(-1, "console", telnet(), console=True))
full = state(6, [(3, "127.0.0.1:4000"), (4, "[::1]:4000"), (5, "127.0.0.1:4443")], [alice, bob, dave, console])

write("empty", state(1, [], []))
write("one-listener", state(1, [(3, "0.0.0.0:4000")], []))
write("full", full)
write("netdead-only", state(5, [(3, "0.0.0.0:4000")], [bob]))
write("newer-version", state(6, [], [], version=2))
bad = bytearray(full)
bad[-5] ^= 0x40
write("bad-checksum", bytes(bad))
write("truncated", full[:len(full) // 2])
