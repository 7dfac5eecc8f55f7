#!/usr/bin/env bash
# lvs-rs demo: build the directors, build a client / director / 3 real servers network in
# namespaces, run the AF_PACKET director in NAT, then DR, then TUN mode, send real requests
# through the VIP and show which real server answered each, plus the director's
# `ipvsadm -Ln --stats`-style listing (SIGUSR1). Everything is torn down on exit.
#
#   sudo scripts/demo.sh
#   DEMO_MODES="nat dr" DEMO_SKIP_BUILD=1 LVS_BIN=... scripts/demo.sh
#
# Without root (or without `ip netns`) it runs the pcap director over the bundled sample
# capture instead: examples/data/sample.pcap -> /tmp/lvs-demo-out.pcap.
# Exit: 0 on success, 1 if a step failed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LVS_BIN=${LVS_BIN:-$REPO/target/release}
DEMO_MODES=${DEMO_MODES:-nat dr tun}

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
e2e_need_tools ip ethtool curl timeout "$E2E_PY"
build
for b in lvs-afpacket lvs-ipip-decap; do
    [ -x "$LVS_BIN/$b" ] || { echo "ERROR: $LVS_BIN/$b not found" >&2; exit 1; }
done
e2e_init

demo_mode() {
    local mode=$1 i out ans
    echo
    echo "################ $mode: client 192.0.2.2 -> VIP $VIP4 / [$VIP6] -> rs1..rs3 ################"
    case $mode in
        nat) echo "NAT: the director rewrites the destination to a real server and un-NATs the replies." ;;
        dr) echo "DR: the director only rewrites the Ethernet destination; real servers own the VIP on lo and reply directly." ;;
        tun) echo "TUN: the director wraps each packet in IPIP/ip6ip6; lvs-ipip-decap on each real server unwraps it." ;;
    esac
    topo_up "$mode" afpacket
    start_real_servers
    write_rules "$mode" multi "$E2E_WORK/rules.$mode"
    echo "--- rules ($E2E_WORK/rules.$mode) ---"
    grep -v '^#' "$E2E_WORK/rules.$mode"
    echo "--- starting lvs-afpacket on the director's eth0 ---"
    if ! start_director afpacket "$mode" "$E2E_WORK/rules.$mode"; then
        echo "!! the director did not come up (logs: $E2E_WORK)"; FAIL_COUNT=$((FAIL_COUNT + 1))
        topo_down; return 0
    fi
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
