#!/usr/bin/env python3
"""Writes the seed inputs of the transport-layer targets (proxy_protocol,
tls_record, mccp3, msdp, websocket) into fuzz/corpus/<target>/seed-*. Each seed starts
with the target's decision bytes (see the target's LLVMFuzzerTestOneInput),
then the protocol bytes. Run from anywhere: python3 fuzz/make_layer_seeds.py
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# proxy_protocol: u32 seed, max_chunk byte, v2 limit u16, trust length byte, trust entry, stream
def proxy(name, stream, trust=b"10.0.0.0/8", max_chunk=7, limit=1024):
    write("proxy_protocol", name,
          struct.pack("<IBHB", 0x1234567, max_chunk, limit, len(trust)) + trust + stream)


def v2(ver_cmd, fam, body):
    return V2SIG + bytes([ver_cmd, fam]) + struct.pack(">H", len(body)) + body


proxy("v1-tcp4", b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 4000\r\nlook\r\n")
proxy("v1-tcp6", b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\nsay hi\r\n", trust=b"fd00::/8")
proxy("v1-unknown", b"PROXY UNKNOWN\r\n")
proxy("v1-too-long", b"PROXY UNKNOWN " + b"a" * 120 + b"\r\n")
proxy("v2-tcp4", v2(0x21, 0x11, bytes([203, 0, 113, 7, 10, 0, 0, 1, 0xc7, 0x38, 0x0f, 0xa0])) + b"hi")
proxy("v2-tcp6-tlv", v2(0x21, 0x21, bytes(15) + b"\x01" + bytes(15) + b"\x01" + b"\x30\x39\x0f\xa0"
                        + b"\x01\x00\x02h2"))
proxy("v2-local", v2(0x20, 0x00, b""))
proxy("v2-unix", v2(0x21, 0x31, bytes(216)))
proxy("v2-udp", v2(0x21, 0x12, bytes(12)))
proxy("not-proxy", b"\xff\xfd\x18look\r\n", trust=b"::ffff:1.2.3.4")

# mccp3: flag byte (bit0: real stream), u32 seed, max_chunk u16, then per mode
def mccp3_real(name, text, finish, trailer=b"", max_chunk=5):
    write("mccp3", name, struct.pack("<BIHB", 1, 0xBEEF, max_chunk, 1 if finish else 0)
          + struct.pack("<H", len(text)) + text + trailer)


def mccp3_raw(name, stream, limits=(65536, 50, 1024), max_chunk=100):
    write("mccp3", name, struct.pack("<BIH", 0, 0xBEEF, max_chunk)
          + struct.pack("<IHI", *limits) + stream)


mccp3_real("flushed", b"look\r\nsay hi\r\n", False)
mccp3_real("finished", b"say hello\r\n" * 20, True, b"\xff\xfb\x01plain")
mccp3_raw("stream", zlib.compress(b"north\r\n" * 50))
mccp3_raw("bomb", zlib.compress(bytes(1 << 20), 9))
mccp3_raw("garbage", b"not zlib at all")

# tls_record: u32 seed, max_chunk u16, app_writes byte, client bytes
def tls(name, stream, max_chunk=300):
    write("tls_record", name, struct.pack("<IHB", 0x5EED, max_chunk, 1) + stream)


# A TLS 1.2-style ClientHello skeleton (record 0x16 0x03 0x01), truncated and whole.
hello_body = (b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
              + b"\x00\x0a" + b"\x00\x0a\x00\x06\x00\x04\x00\x17\x00\x1d")
hs = b"\x01" + struct.pack(">I", len(hello_body))[1:] + hello_body
tls("client-hello", b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs)
tls("truncated-record", b"\x16\x03\x01\x40\x00\x01")
tls("plain-text", b"look\r\n")
tls("telnet", b"\xff\xfd\x18\xff\xfb\x1f")
tls("sslv2-hello", b"\x80\x2e\x01\x00\x02")

# msdp: flag byte (bit0: NEW-ENVIRON), depth byte, limit u16, payload
def msdp(name, payload, environ=False, depth=8, limit=256):
    write("msdp", name, struct.pack("<BBH", 1 if environ else 0, depth, limit) + payload)


VAR, VAL, TO, TC, AO, AC = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06"
msdp("report", VAR + b"REPORT" + VAL + AO + VAL + b"HEALTH" + VAL + b"MANA" + AC)
msdp("list", VAR + b"LIST" + VAL + b"COMMANDS")
msdp("room", VAR + b"ROOM" + VAL + TO + VAR + b"VNUM" + VAL + b"6008" + VAR + b"EXITS" + VAL + TO
     + VAR + b"n" + VAL + b"6011" + TC + TC)
msdp("unclosed", VAR + b"X" + VAL + AO + VAL + b"a")
msdp("mnes-is", b"\x00\x00CLIENT_NAME\x01MUDLET\x00CLIENT_VERSION\x014.17\x00MTTS\x012825"
     b"\x03IPADDRESS\x01203.0.113.9", environ=True)
msdp("mnes-send", b"\x01\x00CHARSET\x00CLIENT_NAME\x00A\x02\x02", environ=True)


# websocket: u32 seed, max_chunk byte, how byte (bit0: a valid upgrade comes
# first, bit1: with the GMCP subprotocol), max_request u16, max_frame u16,
# max_message u16, output length byte, output (server telnet stream), stream
def ws(name, stream, how=1, output=b"", limits=(1024, 300, 600), max_chunk=9):
    write("websocket", name, struct.pack("<IBBHHHB", 0xC0FFEE, max_chunk, how, *limits, len(output))
          + output + stream)


def ws_frame(first, payload, mask=b"\x01\x02\x03\x04"):
    n = len(payload)
    head = bytes([first]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


ws("binary", ws_frame(0x82, b"look\r\n") + ws_frame(0x89, b"p") + ws_frame(0x88, b"\x03\xe8bye"))
ws("fragments", ws_frame(0x01, b"Core.") + ws_frame(0x8a, b"") + ws_frame(0x80, b"Hello {}"), how=3,
   output=b"hi\xff\xfa\xc9Char.Vitals {\"hp\":1}\xff\xf0\xff\xfb\x01!")
ws("too-big", ws_frame(0x82, b"x" * 400))
ws("http-get", b"GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n", how=0)
ws("http-bad", b"POST /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", how=0)
ws("telnet", b"\xff\xfb\x18\xff\xfd\x01", how=0)
