#!/usr/bin/env bash
# lvs-rs demo: set the machine up (scripts/setup.sh demo), build the directors, then show the
# three pictures of the LVS paper in network namespaces: VS/NAT two-armed (client network,
# director, private server LAN), VS/DR and VS/TUN (one LAN). The AF_PACKET director learns
# its addresses, routes and neighbours from the kernel (no --addr), offloads stay on. Real
# requests go through the VIP; it prints which real server answered each, and the
# director's `ipvsadm -Ln --stats`-style listing (SIGUSR1). Everything is torn down on exit.
#
#   sudo scripts/demo.sh
#   DEMO_MODES="nat2 dr" DEMO_SKIP_BUILD=1 LVS_BIN=... scripts/demo.sh
#   (modes: nat2 = two-armed VS/NAT, nat = one-armed VS/NAT, dr, tun; E2E_FLAG_ADDRS=1 and
#   E2E_OFFLOADS=off work here as in tests/e2e; DEMO_DIRECTOR=kernel: nftables stand-in)
#
# Without root (or without `ip netns`) it runs the pcap director over the bundled sample
# capture instead: examples/data/sample.pcap -> /tmp/lvs-demo-out.pcap.
# Exit: 0 on success, 1 if a step failed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LVS_BIN=${LVS_BIN:-$REPO/target/release}
DEMO_MODES=${DEMO_MODES:-nat2 dr tun}
# DEMO_DIRECTOR=kernel: the nftables stand-in (NAT pictures only), to check the demo itself.
DEMO_DIRECTOR=${DEMO_DIRECTOR:-afpacket}
for m in $DEMO_MODES; do case $m in nat|nat2|dr|tun) ;; *) echo "DEMO_MODES: unknown mode '$m'" >&2; exit 2 ;; esac; done

"$REPO/scripts/setup.sh" demo

build() {
    if [ "${DEMO_SKIP_BUILD:-0}" = 1 ]; then return 0; fi
    echo "==> building the directors: cargo build --release -p lvs-examples"
    (cd "$REPO" && cargo build --release -p lvs-examples)
}

pcap_demo() {
    local out=/tmp/lvs-demo-out.pcap
    echo "==> offline demo: the director over a recorded capture (no namespaces needed)"
    set -x
    "$LVS_BIN/lvs-pcap" --rules "$REPO/examples/data/sample.rules" --in "$REPO/examples/data/sample.pcap" \
        --out "$out" --mac 02:00:00:00:00:01 --addr 192.0.2.1/24 --addr 198.51.100.1/24 \
        --neighbor 198.51.100.11=02:00:00:00:01:11 --neighbor 198.51.100.12=02:00:00:00:01:12 \
        --neighbor 198.51.100.13=02:00:00:00:01:13 --neighbor 192.0.2.2=02:00:00:00:00:02
    { set +x; } 2>/dev/null
    echo "==> wrote $out (open it with tcpdump -nr $out or wireshark)"
    if command -v tcpdump >/dev/null 2>&1; then tcpdump -nner "$out" 2>/dev/null | head -n 20; fi
}

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
    echo "!! The live demo needs root and 'ip netns' (it builds network namespaces)."
    echo "!! Running the offline pcap demo instead."
    build
    pcap_demo
    exit 0
fi

E2E_PREFIX=${E2E_PREFIX:-lvsdemo$$-}
# shellcheck source=tests/e2e/lib.sh
. "$REPO/tests/e2e/lib.sh"
e2e_need_tools ip curl timeout "$E2E_PY"
[ "$E2E_OFFLOADS" = off ] && e2e_need_tools ethtool
build
for b in lvs-afpacket lvs-ipip-decap; do
    [ -x "$LVS_BIN/$b" ] || { echo "ERROR: $LVS_BIN/$b not found" >&2; exit 1; }
done
e2e_init

picture() {
    case $1 in
        nat2) cat <<'EOF'
VS/NAT (two-armed): the director is the real servers' gateway; it rewrites the destination
to a real server and un-NATs the replies on their way back.

  client 198.51.100.2, 2001:db8:1::2
     |   client network 198.51.100.0/24, 2001:db8:1::/64
  eth0 198.51.100.1, 2001:db8:1::1     director (VIP 203.0.113.10, 2001:db8:f::10)
  eth1 192.0.2.1, 2001:db8:2::1
     |   private server LAN 192.0.2.0/24, 2001:db8:2::/64
  rs1 .11   rs2 .12   rs3 .13          (default gateway: the director)
EOF
            ;;
        nat) cat <<'EOF'
VS/NAT (one-armed): client, director and real servers on one LAN; the real servers route
their replies through the director, which un-NATs them.
EOF
            ;;
        dr) cat <<'EOF'
VS/DR: the director only rewrites the Ethernet destination to a real server's MAC; the real
servers own the VIP on lo (no ARP for it) and answer the client directly.

  client 192.0.2.2 ---+--- director 192.0.2.1 / 198.51.100.1 (VIP 203.0.113.10)
                      +--- rs1 198.51.100.11, rs2 .12, rs3 .13 (VIP on lo)  --> replies direct
EOF
            ;;
        tun) cat <<'EOF'
VS/TUN: the director wraps each request in IPIP / ip6ip6 to a real server; the server
unwraps it (lvs-ipip-decap, a TUN device: this kernel has no ipip module), owns the VIP on
lo and answers the client directly.

  client 192.0.2.2 ---+--- director (VIP 203.0.113.10) ==IPIP==> rs1..rs3 198.51.100.11-13
                      +------------------------------ replies direct from the VIP <---
EOF
            ;;
    esac
}

demo_mode() {
    local mode=$1 i out ans
    echo
    echo "################ $mode: VIP $VIP4 / [$VIP6] -> rs1..rs3 ################"
    picture "$mode"
    if [ "$DEMO_DIRECTOR" = kernel ] && [ "$mode" != nat ] && [ "$mode" != nat2 ]; then
        echo "(skipped: the kernel stand-in does NAT only)"; return 0
    fi
    topo_up "$mode" "$DEMO_DIRECTOR"
    start_real_servers
    write_rules "$mode" multi "$E2E_WORK/rules.$mode"
    echo "--- rules ($E2E_WORK/rules.$mode) ---"
    grep -v '^#' "$E2E_WORK/rules.$mode"
    echo "--- the director's kernel addresses (lvs-afpacket learns them over rtnetlink) ---"
    ip -n "$NS_DIR" -br addr show | grep -v '^lo'
    echo "--- starting the director ($DEMO_DIRECTOR) on ${DIR_IFACES[*]} (offloads $E2E_OFFLOADS) ---"
    if ! start_director "$DEMO_DIRECTOR" "$mode" "$E2E_WORK/rules.$mode"; then
        echo "!! the director did not come up: $DIRECTOR_CMD (logs: $E2E_WORK)"; FAIL_COUNT=$((FAIL_COUNT + 1))
        topo_down; return 0
    fi
    echo "    $DIRECTOR_CMD"
    echo "--- requests from the client $CL4 / $CL6 ---"
    for i in 1 2 3 4 5 6; do
        out=$(http_get "http://$VIP4/" 2>&1) || out="FAILED: $out"
        printf '  HTTP  %-24s request %d -> %s\n' "$VIP4:80" "$i" "$out"
        case $out in rs*) ;; *) FAIL_COUNT=$((FAIL_COUNT + 1)) ;; esac
    done
    for i in 1 2 3; do
        out=$(http_get "http://[$VIP6]/" 2>&1) || out="FAILED: $out"
        printf '  HTTP  %-24s request %d -> %s\n' "[$VIP6]:80" "$i" "$out"
        case $out in rs*) ;; *) FAIL_COUNT=$((FAIL_COUNT + 1)) ;; esac
    done
    for i in 1 2 3; do
        ans=$(udp_ask "$VIP4" 53 "ping-$i" 2>&1) || ans="FAILED: $ans"
        printf '  UDP   %-24s datagram %d -> %s\n' "$VIP4:53" "$i" "$ans"
        case $ans in rs*) ;; *) FAIL_COUNT=$((FAIL_COUNT + 1)) ;; esac
    done
    echo "--- director listing (SIGUSR1) ---"
    director_listing || true
    stop_director
    topo_down
}

for m in $DEMO_MODES; do demo_mode "$m"; done
echo
if [ "$FAIL_COUNT" -eq 0 ]; then
    echo "==> demo done: every request was answered through the VIP."
else
    echo "==> demo done with $FAIL_COUNT failed request(s); logs in $E2E_WORK"
    exit 1
fi
