#!/usr/bin/env bash
# Namespace test of lvs-ipip-decap (the VS/TUN real-server side without an ipip module).
#
#   ns "dir" (director + client)            ns "rs" (real server)
#   veth dir0 198.51.100.1/24  <-------->  veth rs0 198.51.100.2/24
#   lo: 192.0.2.1 (client), 2001:db8:2::1   lo: VIP 203.0.113.10, 2001:db8:10::10
#                                           TUN from lvs-ipip-decap --iface rs0
#
# The director sends a UDP datagram from the client address to the VIP inside IPIP, GUE and
# ip6ip6. The decapsulator writes the inner packet into its TUN device, the real server's
# kernel delivers it to an echo server bound to the VIP, and the echo goes straight back to the
# client (rp_filter off), which checks it. Needs root; prints SKIP and exits 0 otherwise.
#
# Usage: decap_netns.sh [PATH-TO-lvs-ipip-decap]   (default: cargo build it)
set -euo pipefail

skip() { echo "SKIP: decap_netns: $*" >&2; echo "=== SKIP: decap_netns: $* ==="; exit 0; }
[ "$(id -u)" = 0 ] || skip "not root"
command -v ip >/dev/null || skip "iproute2 (ip) not installed"
command -v python3 >/dev/null || skip "python3 not installed"
[ -c /dev/net/tun ] || skip "/dev/net/tun missing"

here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-}"
if [ -z "$bin" ]; then
    (cd "$here/.." && cargo build -q -p lvs-examples --bin lvs-ipip-decap)
    bin="$(cd "$here/.." && cargo metadata --format-version 1 --no-deps \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/lvs-ipip-decap"
fi
[ -x "$bin" ] || { echo "FAIL: no binary at $bin" >&2; exit 1; }

tag="lvsdecap$$"
ns_dir="${tag}d"
ns_rs="${tag}r"
work="$(mktemp -d)"
decap_pid=""
echo_pid=""

cleanup() {
    set +e
    [ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null
    [ -n "$decap_pid" ] && kill "$decap_pid" 2>/dev/null
    sleep 0.2
    [ -n "$decap_pid" ] && kill -9 "$decap_pid" 2>/dev/null
    ip netns del "$ns_dir" 2>/dev/null
    ip netns del "$ns_rs" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

ip netns add "$ns_dir" || skip "cannot create network namespaces"
ip netns add "$ns_rs"
# Helpers for foreground commands only: a backgrounded function would put a subshell between
# $! and the process, so background jobs call `ip netns exec` directly.
D() { ip netns exec "$ns_dir" "$@"; }
R() { ip netns exec "$ns_rs" "$@"; }

ip link add dir0 netns "$ns_dir" type veth peer name rs0 netns "$ns_rs"
for side in "D dir0 198.51.100.1 2001:db8:1::1" "R rs0 198.51.100.2 2001:db8:1::2"; do
    set -- $side
    $1 ip link set lo up
    $1 ip link set "$2" up
    $1 ip addr add "$3/24" dev "$2"
    $1 ip -6 addr add "$4/64" dev "$2" nodad
    if command -v ethtool >/dev/null; then
        $1 ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
    fi
done
D ip addr add 192.0.2.1/32 dev lo
D ip -6 addr add 2001:db8:2::1/128 dev lo nodad
D ip route add 203.0.113.10/32 via 198.51.100.2
D ip -6 route add 2001:db8:10::10/128 via 2001:db8:1::2
R ip addr add 203.0.113.10/32 dev lo
R ip -6 addr add 2001:db8:10::10/128 dev lo nodad
R ip route add 192.0.2.0/24 via 198.51.100.1
R ip -6 route add 2001:db8:2::/64 via 2001:db8:1::1
for k in all default lo rs0; do R sysctl -qw "net.ipv4.conf.$k.rp_filter=0"; done
for k in all default dir0; do D sysctl -qw "net.ipv4.conf.$k.rp_filter=0"; done

ip netns exec "$ns_rs" "$bin" --iface rs0 --tun decap0 --gue-port 6080 >"$work/decap.out" 2>"$work/decap.log" &
decap_pid=$!
for _ in $(seq 100); do
    grep -q decapsulating "$work/decap.log" 2>/dev/null && break
    kill -0 "$decap_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q decapsulating "$work/decap.log" || { cat "$work/decap.log" >&2; echo "FAIL: decapsulator did not start" >&2; exit 1; }
R sysctl -qw net.ipv4.conf.decap0.rp_filter=0

cat >"$work/echo.py" <<'PY'
# Echo server: answers every datagram to the VIP from the VIP, for at most 30 s.
import select, socket, sys, time
socks = []
for fam, addr in ((socket.AF_INET, "203.0.113.10"), (socket.AF_INET6, "2001:db8:10::10")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, 5353))
    socks.append(s)
print("ready", flush=True)
end = time.time() + 30
while time.time() < end:
    r, _, _ = select.select(socks, [], [], 0.5)
    for s in r:
        data, peer = s.recvfrom(2048)
        s.sendto(b"echo:" + data, peer)
PY
ip netns exec "$ns_rs" python3 "$work/echo.py" >"$work/echo.out" 2>&1 &
echo_pid=$!
for _ in $(seq 50); do grep -q ready "$work/echo.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/echo.out" || { cat "$work/echo.out" >&2; echo "FAIL: echo server did not start" >&2; exit 1; }

cat >"$work/client.py" <<'PY'
# Sends one tunnelled datagram per mode and checks the echo, with bounded retries.
import socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def inner_v4(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + udp

def inner_v6(src, dst, sport, dport, payload):
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    ulen = 8 + len(payload)
    pseudo = s + d + struct.pack("!IxxxB", ulen, 17)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    return struct.pack("!IHBB", 0x60000000, ulen, 17, 64) + s + d + udp

def run(mode, tries=3):
    v6 = mode == "ip6ip6"
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    client, vip = ("2001:db8:2::1", "2001:db8:10::10") if v6 else ("192.0.2.1", "203.0.113.10")
    sport = {"ipip": 40001, "gue": 40002, "ip6ip6": 40003}[mode]
    rx = socket.socket(fam, socket.SOCK_DGRAM)
    rx.bind((client, sport))
    rx.settimeout(2.0)
    payload = ("lvs-decap-%s" % mode).encode()
    if mode == "ipip":
        tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IPIP)
        pkt, dst = inner_v4(client, vip, sport, 5353, payload), ("198.51.100.2", 0)
    elif mode == "gue":
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pkt = bytes([0, 4, 0, 0]) + inner_v4(client, vip, sport, 5353, payload)
        dst = ("198.51.100.2", 6080)
    else:
        tx = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41)
        pkt, dst = inner_v6(client, vip, sport, 5353, payload), ("2001:db8:1::2", 0)
    for attempt in range(tries):
        tx.sendto(pkt, dst)
        try:
            data, peer = rx.recvfrom(2048)
        except socket.timeout:
            continue
        if data == b"echo:" + payload and peer[0] == vip and peer[1] == 5353:
            print("ok %s (attempt %d) reply from %s" % (mode, attempt + 1, peer[0]))
            return True
        print("unexpected reply %r from %r" % (data, peer))
    print("no reply for %s" % mode)
    return False

results = [run(m) for m in sys.argv[1:]]
sys.exit(0 if all(results) else 1)
PY

status=0
D python3 "$work/client.py" ipip gue ip6ip6 || status=1

kill -TERM "$decap_pid"
for _ in $(seq 50); do kill -0 "$decap_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$decap_pid" 2>/dev/null; then
    echo "FAIL: decapsulator did not stop on SIGTERM" >&2
    status=1
else
    wait "$decap_pid" || { echo "FAIL: decapsulator exited non-zero" >&2; status=1; }
fi
decap_pid=""
echo "decapsulator counters: $(cat "$work/decap.out")"
for k in decap.ipip decap.gue decap.ip6ip6; do
    grep -q "$k=" "$work/decap.out" || { echo "FAIL: counter $k missing" >&2; status=1; }
done
if [ "$status" != 0 ]; then
    echo "--- decapsulator log ---" >&2
    cat "$work/decap.log" >&2
    echo "FAIL: decap_netns" >&2
    exit 1
fi
echo "PASS: decap_netns"
