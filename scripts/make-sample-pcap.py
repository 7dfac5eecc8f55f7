#!/usr/bin/env python3
"""Writes examples/data/sample.pcap: a small, deterministic capture for the
offline director (lvs-pcap) and the README's no-root demo.

Three clients (192.0.2.2-4) on the director's link each open two TCP
connections to the VIP 203.0.113.10:80 (SYN, ACK, a request, FIN), the real
servers answer through the director (NAT replies from 198.51.100.11-13:8080),
and one client sends a UDP query to 203.0.113.10:53. Frames are addressed to
the director's MAC 02:00:00:00:00:01. Checksums are computed here, in full.
"""
import struct
import sys

DIRECTOR = bytes.fromhex("020000000001")
CLIENT_MAC = bytes.fromhex("020000000c02")
RS_MAC = {11: bytes.fromhex("020000000111"), 12: bytes.fromhex("020000000112"), 13: bytes.fromhex("020000000113")}


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def frame(smac, src, dst, sport, dport, proto, flags=0, payload=b"", seq=1, ack=0):
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0) + payload
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, len(l4))
    c = csum(pseudo + l4)
    if proto == 6:
        l4 = l4[:16] + struct.pack("!H", c) + l4[18:]
    else:
        l4 = l4[:6] + struct.pack("!H", c or 0xFFFF) + l4[8:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, ip4(src), ip4(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return DIRECTOR + smac + b"\x08\x00" + hdr + l4


SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08


def main(path):
    frames = []
    t = 1_700_000_000.0
    vip = "203.0.113.10"
    rr = [11, 12, 13]  # the rules use rr over three NAT real servers
    n = 0
    for c in (2, 3, 4):
        for k in range(2):
            client = "192.0.2.%d" % c
            port = 40000 + 10 * c + k
            rs = rr[n % 3]
            n += 1
            rsip = "198.51.100.%d" % rs
            frames.append((t, frame(CLIENT_MAC, client, vip, port, 80, 6, SYN, seq=100)))
            frames.append((t + 0.001, frame(RS_MAC[rs], rsip, client, 8080, port, 6, SYN | ACK, seq=500, ack=101)))
            frames.append((t + 0.002, frame(CLIENT_MAC, client, vip, port, 80, 6, ACK, seq=101, ack=501)))
            req = b"GET / HTTP/1.0\r\n\r\n"
            frames.append((t + 0.003, frame(CLIENT_MAC, client, vip, port, 80, 6, ACK | PSH, req, seq=101, ack=501)))
            body = ("HTTP/1.0 200 OK\r\n\r\nrs%d\n" % (rs - 10)).encode()
            frames.append((t + 0.004, frame(RS_MAC[rs], rsip, client, 8080, port, 6, ACK | PSH | FIN, body, seq=501, ack=101 + len(req))))
            frames.append((t + 0.005, frame(CLIENT_MAC, client, vip, port, 80, 6, ACK | FIN, seq=101 + len(req), ack=502 + len(body))))
            t += 0.25
    frames.append((t, frame(CLIENT_MAC, "192.0.2.2", vip, 5353, 53, 17, payload=b"query")))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, fr in frames:
            sec = int(ts)
            usec = int(round((ts - sec) * 1e6))
            f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)))
            f.write(fr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/data/sample.pcap")
