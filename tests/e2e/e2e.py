#!/usr/bin/env python3
"""Small network programs for the lvs-rs end-to-end tests (standard library only).

Real-server side (each runs until killed):
  http  --port P --name N [--files DIR] [--ready FILE]
        dual-stack HTTP/1.0 server: "GET /" answers "N\\n"; "GET /files/X" sends DIR/X.
  sink  --port P --dir DIR [--ready FILE]
        dual-stack TCP sink: each connection's bytes go to DIR/<seq>.part, renamed
        to DIR/<seq>.bin at EOF (the kernel selftest's `socat ... > file` check).
  udp   --port P --name N [--ready FILE]
        UDP echo on v4 and v6: answers "N: <request>" from the request's destination
        address (IP_PKTINFO / IPV6_PKTINFO), so DR/TUN replies leave from the VIP.
Client side:
  udpq  --addr A --port P --msg M [--timeout S] [--source S]
        sends one datagram on a connected socket (only the addressed peer can answer)
        and prints the answer; exit 1 on timeout.
  conns --addr A --port P --count N [--timeout S] [--deadline S] [--source S]
        N new TCP connections one after another, each "GET /" and the answer read to
        EOF; prints "NAME COUNT" per answering server (the body's first line), then
        "failures F" (F includes the connections not tried when --deadline ran out).
        Exit 0 if F is 0, else 1.
"""
import argparse
import os
import select
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)


def ready(path):
    if path:
        with open(path, "w", encoding="ascii") as f:
            f.write(str(os.getpid()) + "\n")


class DualStackServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Listens on [::]:port with IPV6_V6ONLY off, so it takes v4 and v6."""

    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256

    def server_bind(self):
        # Plain TCPServer.server_bind: HTTPServer's would call getfqdn() (DNS).
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        socketserver.TCPServer.server_bind(self)


def http_main(a):
    name, files = a.name, a.files

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        server_version = "lvs-e2e-rs"

        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            if self.path.startswith("/files/") and files:
                fn = os.path.join(files, os.path.basename(self.path))
                try:
                    f = open(fn, "rb")
                except OSError:
                    self.send_error(404)
                    return
                with f:
                    size = os.fstat(f.fileno()).st_size
                    self.send_response(200)
                    self.send_header("Content-Length", str(size))
                    self.send_header("X-Real-Server", name)
                    self.end_headers()
                    try:
                        while True:
                            chunk = f.read(65536)
                            if not chunk:
                                break
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                return
            body = (name + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Real-Server", name)
            self.end_headers()
            self.wfile.write(body)

    srv = DualStackServer(("::", a.port), Handler)
    ready(a.ready)
    srv.serve_forever()


def sink_main(a):
    os.makedirs(a.dir, exist_ok=True)
    lock = threading.Lock()
    seq = [0]

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            with lock:
                seq[0] += 1
                n = seq[0]
            part = os.path.join(a.dir, "%06d.part" % n)
            with open(part, "wb") as f:
                while True:
                    try:
                        chunk = self.request.recv(65536)
                    except OSError:
                        return  # reset: leave the .part file as evidence
                    if not chunk:
                        break
                    f.write(chunk)
            os.rename(part, os.path.join(a.dir, "%06d.bin" % n))

    srv = DualStackServer(("::", a.port), Handler)
    ready(a.ready)
    srv.serve_forever()


def udp_main(a):
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s4.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    s4.bind(("0.0.0.0", a.port))
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
    s6.bind(("::", a.port))
    ready(a.ready)
    prefix = (a.name + ": ").encode()
    while True:
        rd, _, _ = select.select([s4, s6], [], [])
        for s in rd:
            data, anc, _flags, peer = s.recvmsg(65535, 256)
            out_anc = []
            for level, typ, cdata in anc:
                if s is s4 and level == socket.IPPROTO_IP and typ == IP_PKTINFO:
                    _ifindex, _spec, dst = struct.unpack("=i4s4s", cdata[:12])
                    # ipi_spec_dst = the request's destination: the reply's source.
                    out_anc = [(socket.IPPROTO_IP, IP_PKTINFO,
                                struct.pack("=i4s4s", 0, dst, b"\0" * 4))]
                elif s is s6 and level == socket.IPPROTO_IPV6 and typ == IPV6_PKTINFO:
                    dst, _ifindex = struct.unpack("=16sI", cdata[:20])
                    out_anc = [(socket.IPPROTO_IPV6, IPV6_PKTINFO,
                                struct.pack("=16sI", dst, 0))]
            try:
                s.sendmsg([prefix + data], out_anc, 0, peer)
            except OSError as e:
                print("udp: sendmsg to %r failed: %s" % (peer, e), file=sys.stderr)


def udpq_main(a):
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if a.source:
        s.bind((a.source, 0))
    s.settimeout(a.timeout)
    s.connect((a.addr, a.port))
    s.send(a.msg.encode())
    try:
        data = s.recv(65535)
    except (socket.timeout, OSError) as e:
        print("udpq: no answer from %s:%d: %s" % (a.addr, a.port, e), file=sys.stderr)
        return 1
    sys.stdout.write(data.decode(errors="replace").rstrip("\n") + "\n")
    return 0


def conns_main(a):
    import time

    counts = {}
    failures = 0
    errors = {}
    end = time.monotonic() + a.deadline
    fam = socket.AF_INET6 if ":" in a.addr else socket.AF_INET
    req = ("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % a.addr).encode()
    for i in range(a.count):
        if time.monotonic() >= end:
            failures += a.count - i
            errors["deadline"] = errors.get("deadline", 0) + a.count - i
            break
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(a.timeout)
        try:
            if a.source:
                s.bind((a.source, 0))
            s.connect((a.addr, a.port))
            s.sendall(req)
            data = b""
            while len(data) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            name = body.decode(errors="replace").strip().split("\n")[0]
            if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0] or not name:
                raise OSError("bad answer %r" % data[:80])
            counts[name] = counts.get(name, 0) + 1
        except (OSError, socket.timeout) as e:
            failures += 1
            k = type(e).__name__ + ": " + str(e)[:60]
            errors[k] = errors.get(k, 0) + 1
        finally:
            s.close()
    for name in sorted(counts):
        print("%s %d" % (name, counts[name]))
    print("failures %d" % failures)
    for k, n in sorted(errors.items()):
        print("conns: %d x %s" % (n, k), file=sys.stderr)
    return 0 if failures == 0 else 1


def ping_main(a):
    """One ICMP / ICMPv6 echo request to --addr on a raw socket (root); prints "reply from
    ADDR" when an echo reply with our id and sequence comes back from that address within
    --timeout, exits 1 otherwise."""
    v6 = ":" in a.addr
    fam, proto, req, rep = ((socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, 129) if v6 else
                            (socket.AF_INET, socket.IPPROTO_ICMP, 8, 0))
    s = socket.socket(fam, socket.SOCK_RAW, proto)
    ident, seq = os.getpid() & 0xFFFF, 1
    payload = b"lvs-rs e2e ping"
    hdr = struct.pack("!BBHHH", req, 0, 0, ident, seq)
    if not v6:  # the kernel computes ICMPv6 checksums on raw sockets itself
        total = 0
        msg = hdr + payload
        msg += b"\0" * (len(msg) % 2)
        for i in range(0, len(msg), 2):
            total += (msg[i] << 8) | msg[i + 1]
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        hdr = struct.pack("!BBHHH", req, 0, ~total & 0xFFFF, ident, seq)
    s.sendto(hdr + payload, (a.addr, 0))
    deadline = time.time() + a.timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            print("no echo reply from %s" % a.addr, file=sys.stderr)
            return 1
        s.settimeout(left)
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            continue
        icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
        if len(icmp) >= 8 and src[0] == a.addr:
            t, _, _, i, q = struct.unpack("!BBHHH", icmp[:8])
            if t == rep and i == ident and q == seq and icmp[8:] == payload:
                print("reply from %s" % src[0])
                return 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("http")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--name", required=True)
    h.add_argument("--files")
    h.add_argument("--ready")
    k = sub.add_parser("sink")
    k.add_argument("--port", type=int, required=True)
    k.add_argument("--dir", required=True)
    k.add_argument("--ready")
    u = sub.add_parser("udp")
    u.add_argument("--port", type=int, required=True)
    u.add_argument("--name", required=True)
    u.add_argument("--ready")
    q = sub.add_parser("udpq")
    q.add_argument("--addr", required=True)
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--msg", required=True)
    q.add_argument("--timeout", type=float, default=3.0)
    q.add_argument("--source")
    c = sub.add_parser("conns")
    c.add_argument("--addr", required=True)
    c.add_argument("--port", type=int, default=80)
    c.add_argument("--count", type=int, required=True)
    c.add_argument("--timeout", type=float, default=3.0)
    c.add_argument("--deadline", type=float, default=60.0)
    c.add_argument("--source")
    g = sub.add_parser("ping")
    g.add_argument("--addr", required=True)
    g.add_argument("--timeout", type=float, default=3.0)
    a = p.parse_args()
    fn = {"http": http_main, "sink": sink_main, "udp": udp_main, "udpq": udpq_main,
          "conns": conns_main, "ping": ping_main}[a.cmd]
    sys.exit(fn(a) or 0)


if __name__ == "__main__":
    main()
