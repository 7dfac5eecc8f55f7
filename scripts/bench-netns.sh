#!/usr/bin/env bash
# Side-by-side benchmark in network namespaces: lvs-afpacket (NAT) against the kernel's own
# NAT (nftables DNAT, `numgen inc mod 3`) on the same client/director/3-real-server network
# as tests/e2e (see tests/e2e/lib.sh for the topology).
#
#   sudo scripts/bench-netns.sh
#   BENCH_SECS=10 LVS_BIN=/path/to/release scripts/bench-netns.sh
#
# Measures, each for BENCH_SECS seconds (default 5):
#   - TCP connections/s: wrk, 2 threads, 32 connections, "Connection: close" (one new TCP
#     connection per request) against a tiny C HTTP server on each real server (rr over 3);
#   - UDP packets/s: iperf3 -u -l 64 -b 0 to one real server (the iperf3 service has one),
#     counted as received by the server;
#   - TCP bulk: iperf3 one stream to that real server, Gbit/s received.
# The lvs half is skipped with a message if $LVS_BIN/lvs-afpacket does not exist.
# Everything runs on the machine's shared CPUs: the numbers compare the two directors on the
# same box, they are not absolute capacities. Exit: 0 done (or SKIP), 1 setup failure.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E_PREFIX=${E2E_PREFIX:-lvsbench$$-}
# shellcheck source=tests/e2e/lib.sh
. "$REPO/tests/e2e/lib.sh"

BENCH_SECS=${BENCH_SECS:-5}
e2e_require_root
e2e_need_tools ip ethtool nft curl iperf3 wrk timeout "$E2E_PY"
e2e_init

# ---------------------------------------------------------------- a tiny HTTP server (C)
# Blocking accept loop, dual-stack, one short answer per connection, then close. Several
# worker processes share the port with SO_REUSEPORT.
HTTPD_C="$E2E_WORK/httpd.c"
HTTPD="$E2E_WORK/httpd"
cat >"$HTTPD_C" <<'EOF'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: httpd PORT NAME WORKERS\n"); return 2; }
    int port = atoi(argv[1]), workers = atoi(argv[3]);
    char resp[256];
    int body = (int)strlen(argv[2]) + 1;
    int rlen = snprintf(resp, sizeof resp,
        "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n", body, argv[2]);
    signal(SIGPIPE, SIG_IGN);
    for (int w = 1; w < workers; w++) if (fork() == 0) break;
    int s = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 a; memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6; a.sin6_port = htons((unsigned short)port); a.sin6_addr = in6addr_any;
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4096)) { perror("bind/listen"); return 1; }
    char buf[4096];
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        ssize_t n = read(c, buf, sizeof buf); /* one read: wrk's request fits in one segment */
        if (n > 0) { ssize_t wr = write(c, resp, (size_t)rlen); (void)wr; }
        close(c);
    }
}
EOF
if ! gcc -O2 -o "$HTTPD" "$HTTPD_C" 2>"$E2E_WORK/gcc.log"; then
    echo "ERROR: gcc could not build the benchmark HTTP server:" >&2; cat "$E2E_WORK/gcc.log" >&2; exit 1
fi

# ---------------------------------------------------------------- network and servers
topo_up nat kernel
for i in $(seq 1 "$RS_COUNT"); do
    ip netns exec "$(ns_rs "$i")" "$HTTPD" 8080 "rs$i" 2 >"$E2E_WORK/httpd-rs$i.log" 2>&1 &
    E2E_PIDS+=("$!")
done
ip netns exec "$(ns_rs 1)" iperf3 -s -p 5201 >"$E2E_WORK/iperf3-server.log" 2>&1 &
E2E_PIDS+=("$!")
write_rules nat bench "$E2E_WORK/rules.bench"
sleep 0.5

# measure NAME: runs the three measurements through the running director; sets R_<NAME>_*.
declare -A RES
measure() {
    local name=$1 out rps json
    e2e_log "[$name] TCP connections/s (wrk, ${BENCH_SECS} s)"
    out=$(timeout $((BENCH_SECS + 20)) ip netns exec "$NS_CL" wrk -t2 -c32 -d"${BENCH_SECS}s" --timeout 2s \
        -H 'Connection: close' "http://$VIP4/" 2>&1) || true
    printf '%s\n' "$out" | sed 's/^/    /'
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
    RES[$name,cps]=${rps:-n/a}

    e2e_log "[$name] UDP 64-byte packets/s (iperf3 -u -l 64 -b 0, ${BENCH_SECS} s)"
    json=$(timeout $((BENCH_SECS + 20)) ip netns exec "$NS_CL" iperf3 -c "$VIP4" -p 5201 -u -l 64 -b 0 \
        -t "$BENCH_SECS" -J 2>&1) || true
    RES[$name,pps]=$(printf '%s' "$json" | "$E2E_PY" -c '
import json, sys
try:
    s = json.load(sys.stdin)["end"]["sum"]
    print("%.0f" % ((s["packets"] - s["lost_packets"]) / s["seconds"]))
    print("    sent %d, lost %d (%.1f%%)" % (s["packets"], s["lost_packets"], s["lost_percent"]), file=sys.stderr)
except Exception as e:
    print("n/a"); print("    iperf3 -u failed: %s" % e, file=sys.stderr)
')

    e2e_log "[$name] TCP bulk (iperf3, ${BENCH_SECS} s)"
    json=$(timeout $((BENCH_SECS + 20)) ip netns exec "$NS_CL" iperf3 -c "$VIP4" -p 5201 -t "$BENCH_SECS" -J 2>&1) || true
    RES[$name,gbps]=$(printf '%s' "$json" | "$E2E_PY" -c '
import json, sys
try:
    print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception as e:
    print("n/a"); print("    iperf3 failed: %s" % e, file=sys.stderr)
')
}

e2e_log "kernel NAT (nftables DNAT, numgen inc mod 3)"
if start_director kernel nat "$E2E_WORK/rules.bench"; then
    measure kernel
    stop_director
else
    echo "ERROR: the kernel NAT director did not come up" >&2
    exit 1
fi

LVS_NOTE=""
if director_available afpacket; then
    e2e_log "lvs-afpacket NAT ($LVS_BIN/lvs-afpacket)"
    if start_director afpacket nat "$E2E_WORK/rules.bench"; then
        measure lvs
        echo "--- lvs-afpacket listing (SIGUSR1) ---"
        director_listing || true
        stop_director
    else
        LVS_NOTE="lvs-afpacket did not come up (see $E2E_WORK/director-*.err)"
        FAIL_COUNT=$((FAIL_COUNT + 1))
    fi
else
    LVS_NOTE="SKIP lvs half: $LVS_BIN/lvs-afpacket not found (cargo build --release -p lvs-examples)"
fi

ratio() {
    "$E2E_PY" -c 'import sys
try: print("%.2f" % (float(sys.argv[2]) / float(sys.argv[1])))
except Exception: print("-")' "$1" "$2"
}
echo
printf '%-34s %16s %16s %10s\n' "metric (NAT, 3 RS, ${BENCH_SECS} s each)" "kernel nftables" "lvs-afpacket" "lvs/kernel"
for m in cps pps gbps; do
    case $m in cps) label="TCP connections/s (wrk, close)" ;; pps) label="UDP 64 B packets/s received" ;; gbps) label="TCP bulk Gbit/s (iperf3)" ;; esac
    k=${RES[kernel,$m]:-n/a}; l=${RES[lvs,$m]:-n/a}
    printf '%-34s %16s %16s %10s\n' "$label" "$k" "$l" "$(ratio "$k" "$l")"
done
[ -n "$LVS_NOTE" ] && echo "$LVS_NOTE"
[ "$FAIL_COUNT" -eq 0 ]
