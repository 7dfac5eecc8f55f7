#!/usr/bin/env bash
# Side-by-side benchmark in network namespaces: the lvs directors (NAT, DR, TUN) against the
# kernel doing the same job on the client/director/3-real-server networks of tests/e2e (see
# tests/e2e/lib.sh for the topologies), all in one run. The kernel peers: NAT, nftables DNAT
# (`numgen inc mod 3`, conntrack, forwarding on); DR, nftables netdev ingress on the
# director's eth0 rewriting the destination MAC to a real server's (`jhash` of source
# address and port mod 3, so a flow stays on one server) and `fwd`ing it back out
# (lib.sh start_kernel_dr); TUN, none (no ipip module in this kernel): the TUN rows are
# compared with the kernel's DR figure of the same run and offload setting, labelled so.
#
#   sudo scripts/bench-netns.sh
#   BENCH_SECS=10 LVS_BIN=/path/to/release scripts/bench-netns.sh
#   BENCH_TOPO=nat2 BENCH_DIRECTORS="kernel afpacket-fanout2" BENCH_OFFLOADS="on off" scripts/bench-netns.sh
#
# Environment:
#   BENCH_SECS       seconds per measurement (default 5)
#   BENCH_TOPO       topologies, any of: nat (one-armed) nat2 (two-armed) dr tun (one-armed,
#                    real servers with the VIP on lo answering the client directly; tun's
#                    real servers decapsulate with lvs-ipip-decap) (default "nat nat2");
#                    put dr before tun to get the TUN ratios (they use DR's kernel figure)
#   BENCH_DIRECTORS  any of: kernel afpacket afpacket-fanoutN tap afxdp afxdp-generic
#                    (default "kernel afpacket afpacket-fanout2 afxdp tap"). afxdp is lvs-afpacket
#                    --io af_xdp (native XDP on veth), afxdp-generic the same with
#                    --xdp-mode generic; both only with offloads off (AF_XDP carries no
#                    checksum metadata: with offloads on they are skipped). The lvs directors are
#                    started as the e2e harness starts them (start_director: learned
#                    addressing, no --addr). kernel and afpacket* share one network per
#                    topology; tap needs its own (bridges and TAPs in the director namespace),
#                    built after the others with the same client and servers; its ratio is
#                    to the kernel figure of the same run and topology.
#                    An afpacket entry may carry flags and a binary directory, to compare
#                    variants in one run: "afpacket,rx-ring=v2,busy-poll-us=50@/tmp/old"
#                    runs $LVS_BIN (or /tmp/old)/lvs-afpacket --rx-ring v2 --busy-poll-us 50.
#   BENCH_SYSCALLS   1: count the director's system calls (perf stat -e raw_syscalls:sys_enter)
#                    during the UDP and the connection measurements and print them per
#                    forwarded UDP packet and per HTTP request (needs perf; default 0)
#   BENCH_OFFLOADS   any of: on (interfaces' defaults) off (ethtool -K off on every link, as
#                    the older tables) (default "on")
#   BENCH_OUT        also append the result tables (markdown) to this file
#
# Measures, each for BENCH_SECS seconds:
#   - TCP connections/s: wrk, 2 threads, 32 connections, "Connection: close" (one new TCP
#     connection per request) against a tiny C HTTP server on each real server (rr over 3);
#   - UDP packets/s: iperf3 -u -l 64 -b 0 to one real server (the iperf3 service has one),
#     counted as received by the server;
#   - TCP bulk: iperf3 one stream to that real server, Gbit/s received.
# An lvs director whose binary is missing from $LVS_BIN is skipped with a message.
# Everything runs on the machine's shared CPUs: the numbers compare the directors on the
# same box, they are not absolute capacities. Exit: 0 done (or SKIP), 1 setup failure or a
# director that did not come up.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E_PREFIX=${E2E_PREFIX:-lvsbench$$-}
# shellcheck source=tests/e2e/lib.sh
. "$REPO/tests/e2e/lib.sh"

BENCH_SECS=${BENCH_SECS:-5}
# ---------------------------------------------------------------- the matrix
BENCH_TOPO=${BENCH_TOPO:-nat nat2}
BENCH_DIRECTORS=${BENCH_DIRECTORS:-kernel afpacket afpacket-fanout2 afxdp tap}
BENCH_OFFLOADS=${BENCH_OFFLOADS:-on}
for t in $BENCH_TOPO; do
    case $t in nat|nat2|dr|tun) ;; *) echo "ERROR: BENCH_TOPO: unknown topology '$t' (nat, nat2, dr, tun)" >&2; exit 1 ;; esac
done
for d in $BENCH_DIRECTORS; do
    case ${d%%[,@]*} in kernel|afpacket|tap|afxdp|afxdp-generic) ;; afpacket-fanout[1-9]|afpacket-fanout[1-9][0-9]) ;;
        *) echo "ERROR: BENCH_DIRECTORS: unknown director '$d' (kernel afpacket afpacket-fanoutN tap afxdp afxdp-generic)" >&2; exit 1 ;;
    esac
done
for o in $BENCH_OFFLOADS; do
    case $o in on|off) ;; *) echo "ERROR: BENCH_OFFLOADS: '$o' is neither on nor off" >&2; exit 1 ;; esac
done

e2e_require_root
e2e_need_tools ip ethtool nft curl iperf3 wrk timeout gcc "$E2E_PY"
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

# dir_kind D / dir_args D / dir_label D / dir_bin D: the start_director kind, extra flags,
# table label and binary directory. D is NAME[,FLAG[=VALUE]]...[@BINDIR].
dir_kind() { case ${1%%[,@]*} in kernel) echo kernel ;; tap) echo tap ;; *) echo afpacket ;; esac; }
dir_flags() {
    local f=${1%%@*} out="" x
    [ "$f" = "${f#*,}" ] && return 0
    f=${f#*,}
    for x in ${f//,/ }; do out+=" --${x%%=*}"; [ "$x" = "${x#*=}" ] || out+=" ${x#*=}"; done
    echo "${out# }"
}
dir_args() {
    local base=${1%%[,@]*}
    case $base in
        afpacket-fanout*) echo "--fanout ${base#afpacket-fanout} $(dir_flags "$1")" ;;
        afxdp) echo "--io af_xdp $(dir_flags "$1")" ;;
        afxdp-generic) echo "--io af_xdp --xdp-mode generic $(dir_flags "$1")" ;;
        *) dir_flags "$1" ;;
    esac
}
dir_bin() { case $1 in *@*) echo "${1#*@}" ;; *) echo "$LVS_BIN" ;; esac; }
dir_label() {
    local extra="" base=${1%%[,@]*}
    [ -n "$(dir_flags "$1")" ] && extra=" $(dir_flags "$1")"
    case $1 in *@*) extra+=" ($(dir_bin "$1"))" ;; esac
    case $base in
        kernel) echo "kernel nftables" ;;
        afpacket) echo "lvs-afpacket$extra" ;;
        afpacket-fanout*) echo "lvs-afpacket --fanout ${base#afpacket-fanout}$extra" ;;
        tap) echo "lvs-tap$extra" ;;
        afxdp) echo "lvs-afpacket --io af_xdp$extra" ;;
        afxdp-generic) echo "lvs-afpacket --io af_xdp (generic)$extra" ;;
    esac
}

# count_syscalls SECS FILE: the director's system calls for SECS seconds into FILE (background).
count_syscalls() {
    local secs=$1 file=$2
    if [ "${BENCH_SYSCALLS:-0}" != 1 ] || [ "$DIRECTOR_PID" = kernel ] || [ -z "$DIRECTOR_PID" ]; then
        return 0
    fi
    ( sleep 1; timeout $((secs + 5)) perf stat -x, -e raw_syscalls:sys_enter -p "$DIRECTOR_PID" \
        -- sleep "$secs" 2>"$file" >/dev/null ) &
    SYSC_PID=$!
}
# syscalls_in FILE: the count perf wrote, or nothing.
syscalls_in() { awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$1" 2>/dev/null; }

# servers_up: the C HTTP server (2 processes) on every real server, iperf3 on rs1, the rules.
servers_up() {
    local i
    for i in $(seq 1 "$RS_COUNT"); do
        ip netns exec "$(ns_rs "$i")" "$HTTPD" "$(rs_port "$TOPO_MODE" http)" "rs$i" 2 \
            >>"$E2E_WORK/httpd-rs$i.log" 2>&1 &
        E2E_PIDS+=("$!")
    done
    # DR/TUN: iperf3 bound to the VIP (on lo), or its UDP answer to the client's first datagram
    # leaves from the real server's own address and the client, connected to the VIP, drops it.
    local bind=()
    case $TOPO_MODE in dr|tun) bind=(-B "$VIP4") ;; esac
    ip netns exec "$(ns_rs 1)" iperf3 -s -p 5201 "${bind[@]+"${bind[@]}"}" >>"$E2E_WORK/iperf3-server.log" 2>&1 &
    E2E_PIDS+=("$!")
    write_rules "$TOPO_MODE" bench "$E2E_WORK/rules.bench"
    sleep 0.5
}

# measure KEY: the three measurements through the running director; sets RES[KEY,cps|pps|gbps].
declare -A RES
measure() {
    local key=$1 out rps json
    local sc_secs=$((BENCH_SECS > 2 ? BENCH_SECS - 2 : 1)) n
    SYSC_PID=""
    e2e_log "[$key] TCP connections/s (wrk, ${BENCH_SECS} s)"
    count_syscalls "$sc_secs" "$E2E_WORK/sysc-cps"
    out=$(timeout $((BENCH_SECS + 20)) ip netns exec "$NS_CL" wrk -t2 -c32 -d"${BENCH_SECS}s" --timeout 2s \
        -H 'Connection: close' "http://$VIP4/" 2>&1) || true
    printf '%s\n' "$out" | grep -E 'Requests/sec|requests in|errors|Non-2xx' | sed 's/^/    /' || true
    rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
    RES[$key,cps]=${rps:-n/a}
    if [ -n "$SYSC_PID" ]; then
        wait "$SYSC_PID" || true; SYSC_PID=""
        n=$(syscalls_in "$E2E_WORK/sysc-cps")
        RES[$key,sys_cps]=$(ratio "$((${rps:-0} * sc_secs))" "${n:-}")
        echo "    director system calls: ${n:-?} in ${sc_secs} s, ${RES[$key,sys_cps]} per request"
    fi

    e2e_log "[$key] UDP 64-byte packets/s (iperf3 -u -l 64 -b 0, ${BENCH_SECS} s)"
    count_syscalls "$sc_secs" "$E2E_WORK/sysc-pps"
    json=$(timeout $((BENCH_SECS + 20)) ip netns exec "$NS_CL" iperf3 -c "$VIP4" -p 5201 -u -l 64 -b 0 \
        -t "$BENCH_SECS" -J 2>&1) || true
    RES[$key,pps]=$(printf '%s' "$json" | "$E2E_PY" -c '
import json, sys
try:
    s = json.load(sys.stdin)["end"]["sum"]
    print("%.0f" % ((s["packets"] - s["lost_packets"]) / s["seconds"]))
    print("    sent %d, lost %d (%.1f%%)" % (s["packets"], s["lost_packets"], s["lost_percent"]), file=sys.stderr)
except Exception as e:
    print("n/a"); print("    iperf3 -u failed: %s" % e, file=sys.stderr)
')

    if [ -n "$SYSC_PID" ]; then
        wait "$SYSC_PID" || true; SYSC_PID=""
        n=$(syscalls_in "$E2E_WORK/sysc-pps")
        RES[$key,sys_pps]=$(ratio "$((${RES[$key,pps]/n\/a/0} * sc_secs))" "${n:-}")
        echo "    director system calls: ${n:-?} in ${sc_secs} s, ${RES[$key,sys_pps]} per UDP packet received"
    fi

    e2e_log "[$key] TCP bulk (iperf3, ${BENCH_SECS} s)"
    json=$(timeout $((BENCH_SECS + 20)) ip netns exec "$NS_CL" iperf3 -c "$VIP4" -p 5201 -t "$BENCH_SECS" -J 2>&1) || true
    RES[$key,gbps]=$(printf '%s' "$json" | "$E2E_PY" -c '
import json, sys
try:
    e = json.load(sys.stdin)["end"]
    print("%.2f" % (e["sum_received"]["bits_per_second"] / 1e9))
    print("    retransmits %s" % e["sum_sent"].get("retransmits", "?"), file=sys.stderr)
except Exception as e:
    print("n/a"); print("    iperf3 failed: %s" % e, file=sys.stderr)
')
}

# bench_director OFF TOPO D: starts director D on the network that is up, measures, stops it.
FAILED_DIRS=()
bench_director() {
    local off=$1 topo=$2 d=$3 kind key args=() out
    local bin
    bin=$(dir_bin "$d")
    local LVS_BIN=$bin
    kind=$(dir_kind "$d")
    key="$off,$topo,$d"
    if ! director_available "$kind"; then
        echo "SKIP $d: $(director_bin "$kind") not found (cargo build --release -p lvs-examples)"
        RES[$key,note]="missing"
        return 0
    fi
    case $d:$off in afxdp*:on)
        echo "SKIP $d with offloads on: AF_XDP cannot tell partial checksums from bad ones"
        RES[$key,note]="offloads off only"
        return 0 ;;
    esac
    if [ "$kind:$topo" = kernel:tun ]; then
        echo "SKIP kernel on tun: no ipip module in this kernel, no kernel TUN peer (the TUN ratios use DR's kernel figure)"
        RES[$key,note]="no kernel TUN"
        return 0
    fi
    read -r -a args <<<"$(dir_args "$d")"
    e2e_log "=== [$key] $(dir_label "$d")"
    local started=0
    if [ "$kind:$topo" = kernel:dr ]; then
        start_kernel_dr "$E2E_WORK/rules.bench" && started=1
    else
        start_director "$kind" "$topo" "$E2E_WORK/rules.bench" "${args[@]+"${args[@]}"}" && started=1
    fi
    if [ "$started" = 0 ]; then
        echo "ERROR: $d did not come up on $topo (offloads $off); see $DIRECTOR_ERR" >&2
        FAILED_DIRS+=("$key"); FAIL_COUNT=$((FAIL_COUNT + 1))
        RES[$key,note]="did not come up"
        stop_director
        return 0
    fi
    echo "    $DIRECTOR_CMD"
    measure "$key"
    if ! director_alive; then
        echo "ERROR: $d exited during the measurements; stderr tail:" >&2; tail -n 10 "$DIRECTOR_ERR" >&2
        FAILED_DIRS+=("$key"); FAIL_COUNT=$((FAIL_COUNT + 1))
        RES[$key,note]="exited"
    fi
    out=$DIRECTOR_OUT
    stop_director
    if [ "$kind" != kernel ]; then
        # Per-worker exit report: "worker N:" then "frames in X forwarded Y ...".
        local split
        split=$(awk '/^worker [0-9]+:/ {w = $2; sub(":", "", w)}
                     /^frames in / {f[w == "" ? "0" : w] = $5}
                     END {for (k in f) printf "%sw%s=%s", (n++ ? " " : ""), k, f[k]}' "$out" 2>/dev/null || true)
        [ -n "$split" ] && echo "    frames forwarded per worker (exit report): $split"
        RES[$key,split]=$split
    fi
}

# topo_bench OFF TOPO: every selected director on TOPO with offloads OFF.
topo_bench() {
    local off=$1 topo=$2 d shared=() tap=0
    for d in $BENCH_DIRECTORS; do
        if [ "$d" = tap ]; then tap=1; else shared+=("$d"); fi
    done
    E2E_OFFLOADS=$off
    if [ "${#shared[@]}" -gt 0 ]; then
        e2e_log "##### topology $topo (director network for kernel/afpacket), offloads $off"
        topo_up "$topo" afpacket
        servers_up
        for d in "${shared[@]}"; do bench_director "$off" "$topo" "$d"; done
        topo_down
    fi
    if [ "$tap" = 1 ]; then
        e2e_log "##### topology $topo (director network for lvs-tap), offloads $off"
        topo_up "$topo" tap
        servers_up
        bench_director "$off" "$topo" tap
        topo_down
    fi
}

ratio() {
    "$E2E_PY" -c 'import sys
try: print("%.2f" % (float(sys.argv[2]) / float(sys.argv[1])))
except Exception: print("-")' "$1" "$2"
}

# table OFF TOPO: a markdown table, one row per metric, kernel then each lvs director with
# its ratio to the kernel.
table() {
    local off=$1 topo=$2 d m label hdr sep row k v
    local desc ktopo=$topo kcol="/kernel"
    case $topo in
        nat) desc="one-armed NAT, kernel: nftables DNAT" ;;
        nat2) desc="two-armed NAT, kernel: nftables DNAT" ;;
        dr) desc="DR, kernel: nftables netdev fwd" ;;
        tun) desc="TUN, no kernel peer (no ipip module): ratios are to the kernel's DR figure (nftables netdev fwd) of this run"
             ktopo=dr; kcol="/kernel DR" ;;
    esac
    echo
    echo "$desc (\`$topo\`), 3 RS, offloads $off, ${BENCH_SECS} s each"
    echo
    hdr="| metric |"; sep="|---|"
    for d in $BENCH_DIRECTORS; do
        hdr+=" $(dir_label "$d") |"; sep+="---|"
        [ "$d" = kernel ] || { hdr+=" $kcol |"; sep+="---|"; }
    done
    echo "$hdr"; echo "$sep"
    local metrics="cps pps gbps"
    [ "${BENCH_SYSCALLS:-0}" = 1 ] && metrics+=" sys_cps sys_pps"
    for m in $metrics; do
        case $m in cps) label="TCP connections/s" ;; pps) label="UDP 64 B packets/s" ;; gbps) label="TCP bulk Gbit/s" ;;
            sys_cps) label="director syscalls per request" ;; sys_pps) label="director syscalls per UDP packet" ;; esac
        row="| $label |"
        k=${RES[$off,$ktopo,kernel,$m]:-n/a}
        for d in $BENCH_DIRECTORS; do
            v=${RES[$off,$topo,$d,$m]:-${RES[$off,$topo,$d,note]:-n/a}}
            row+=" $v |"
            if [ "$d" != kernel ]; then
                case $m in sys_*) row+=" |" ;; *) row+=" $(ratio "$k" "$v") |" ;; esac
            fi
        done
        echo "$row"
    done
    for d in $BENCH_DIRECTORS; do
        [ -n "${RES[$off,$topo,$d,split]:-}" ] && echo "  ($(dir_label "$d") frames per worker: ${RES[$off,$topo,$d,split]})"
    done
    return 0
}

T0=$SECONDS
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
e2e_log "bench: topologies [$BENCH_TOPO], directors [$BENCH_DIRECTORS], offloads [$BENCH_OFFLOADS], ${BENCH_SECS} s each; LVS_BIN=$LVS_BIN; load $LOAD0"
for off in $BENCH_OFFLOADS; do
    for topo in $BENCH_TOPO; do topo_bench "$off" "$topo"; done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo
    echo "## bench-netns $(date -u +%Y-%m-%dT%H:%M:%SZ): $((SECONDS - T0)) s, load average at start $LOAD0, at end $LOAD1"
    for off in $BENCH_OFFLOADS; do
        for topo in $BENCH_TOPO; do table "$off" "$topo"; done
    done
    if [ "${#FAILED_DIRS[@]}" -gt 0 ]; then echo "FAILED: ${FAILED_DIRS[*]}"; fi
} | tee -a "${BENCH_OUT:-/dev/null}"
[ "$FAIL_COUNT" -eq 0 ]
