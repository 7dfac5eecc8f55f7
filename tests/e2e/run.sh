#!/usr/bin/env bash
# lvs-rs end-to-end tests in network namespaces. See tests/e2e/README.md.
#
#   sudo tests/e2e/run.sh                          # nat nat2 dr tun x afpacket tap, offloads on,
#                                                  # + a quick nat/afpacket pass, offloads off, --addr flags
#   E2E_MODES=nat2 E2E_DIRECTORS=afpacket tests/e2e/run.sh
#   E2E_MODES=nat2 E2E_DIRECTOR=kernel tests/e2e/run.sh  # nftables stand-in (NAT only): checks the harness
#   E2E_QUICK=1 tests/e2e/run.sh                   # tests (a)-(d) only, smaller files
#   E2E_OFFLOADS=off E2E_FLAG_ADDRS=1 tests/e2e/run.sh   # ethtool -K off everywhere, --addr flags
#   E2E_IO=af_xdp E2E_MODES="nat nat2 dr tun" E2E_DIRECTORS=afpacket tests/e2e/run.sh  # AF_XDP
#
# Exit: 0 all passed (or SKIP: no root / no netns), 1 a test failed, 2 usage error.
set -euo pipefail

# The default run (no selection made) adds the extra pass; any selection runs just that.
if [ -z "${E2E_MODES:-}${E2E_DIRECTOR:-}${E2E_DIRECTORS:-}${E2E_QUICK:-}${E2E_OFFLOADS:-}${E2E_FLAG_ADDRS:-}${E2E_IO:-}" ]; then
    E2E_EXTRA_PASS=${E2E_EXTRA_PASS:-1}
else
    E2E_EXTRA_PASS=${E2E_EXTRA_PASS:-0}
fi

# AF_XDP carries no checksum-offload metadata: its runs switch the offloads off unless told.
if [ "${E2E_IO:-packet}" = af_xdp ] && [ -z "${E2E_OFFLOADS:-}" ]; then E2E_OFFLOADS=off; fi

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

E2E_MODES=${E2E_MODES:-nat nat2 dr tun}
if [ -n "${E2E_DIRECTOR:-}" ]; then E2E_DIRECTORS=$E2E_DIRECTOR; fi
E2E_DIRECTORS=${E2E_DIRECTORS:-afpacket tap}
E2E_QUICK=${E2E_QUICK:-0}
E2E_FLAG_ADDRS=${E2E_FLAG_ADDRS:-0}

for m in $E2E_MODES; do case $m in nat|nat2|dr|tun) ;; *) echo "E2E_MODES: unknown mode '$m'" >&2; exit 2 ;; esac; done
for k in $E2E_DIRECTORS; do case $k in afpacket|tap|kernel) ;; *) echo "E2E_DIRECTORS: unknown director '$k'" >&2; exit 2 ;; esac; done
case $E2E_OFFLOADS in on|off) ;; *) echo "E2E_OFFLOADS: 'on' or 'off', not '$E2E_OFFLOADS'" >&2; exit 2 ;; esac
case $E2E_FLAG_ADDRS in 0|1) ;; *) echo "E2E_FLAG_ADDRS: 0 or 1, not '$E2E_FLAG_ADDRS'" >&2; exit 2 ;; esac
case $E2E_IO in packet|af_xdp) ;; *) echo "E2E_IO: 'packet' or 'af_xdp', not '$E2E_IO'" >&2; exit 2 ;; esac
case $E2E_XDP_MODE in auto|native|generic) ;; *) echo "E2E_XDP_MODE: auto, native or generic, not '$E2E_XDP_MODE'" >&2; exit 2 ;; esac
if [ "$E2E_IO" = af_xdp ] && [ "$E2E_OFFLOADS" = on ]; then
    echo "WARNING: E2E_IO=af_xdp with E2E_OFFLOADS=on: AF_XDP cannot tell partial checksums from bad ones; expect failures" >&2
fi

e2e_require_root
e2e_need_tools ip ethtool socat curl nft timeout cmp sha256sum "$E2E_PY"
e2e_init

HEALTH_ARGS=(--check tcp --check-interval-ms 200 --check-timeout-ms 300 --check-fall 2 --check-rise 2)

# ------------------------------------------------------------------ tests
# Each test runs inside `if`, so a failing command inside never aborts the whole run;
# every outcome is reported through pass/fail.

# (a) the kernel selftest's check: bytes sent by the client to VIP:81 arrive byte-identical
# at the (single) real server. 32 random bytes and a multi-MB file, over v4 and v6. And the
# other way: the multi-MB file downloaded over HTTP through VIP:80 matches (sha256).
t_a_selftest() {
    local tag=$1 f got fam host url dl="$E2E_WORK/download-a.bin" med="$E2E_WORK/files/medium.bin"
    write_rules "$MODE" single "$E2E_WORK/rules.single"
    start_director "$KIND" "$MODE" "$E2E_WORK/rules.single" || { fail "$tag (a) director did not come up"; return 0; }
    for fam in 4 6; do
        if [ "$fam" = 4 ]; then host=$VIP4; else host=$VIP6; fi
        for f in "$E2E_WORK/files/small32.bin" "$E2E_WORK/files/medium.bin"; do
            sink_clear
            local rc=0
            sink_send "$f" "$host" || rc=$?
            if [ "$rc" != 0 ]; then
                fail "$tag (a) selftest v$fam $(basename "$f"): client send to $host:81 failed (rc $rc): $(head -c 300 "$E2E_WORK/sink_send.err")"
                continue
            fi
            if ! got=$(sink_wait 100); then
                fail "$tag (a) selftest v$fam $(basename "$f"): nothing completed at a real server's sink"
                continue
            fi
            case $got in */rs1/sink/*) ;; *) fail "$tag (a) selftest v$fam: arrived at the wrong server ($got)"; continue ;; esac
            check "$tag (a) selftest v$fam $(basename "$f") ($(stat -c %s "$f") bytes) byte-identical at rs1" \
                cmp -s "$f" "$got"
        done
        if [ "$fam" = 4 ]; then url="http://$VIP4/files/medium.bin"; else url="http://[$VIP6]/files/medium.bin"; fi
        rm -f "$dl"
        if timeout 40 ip netns exec "$NS_CL" curl -sS -g --connect-timeout 3 --max-time 35 -o "$dl" "$url" \
            2>"$E2E_WORK/download-a.err" && [ "$(sha256sum <"$dl")" = "$(sha256sum <"$med")" ]; then
            pass "$tag (a) download v$fam medium.bin ($(stat -c %s "$med") bytes) from rs1 intact (sha256)"
        else
            fail "$tag (a) download v$fam $url: $(stat -c %s "$dl" 2>/dev/null || echo 0) of $(stat -c %s "$med") bytes or checksum mismatch: $(head -c 300 "$E2E_WORK/download-a.err")"
        fi
    done
    check "$tag (a) director still running" director_alive
    stop_director
}

# (b) rr over 3 servers: 9 new connections, each server 3 times. (c) UDP through the VIP.
# (d) the same over IPv6. Plus the SIGUSR1 listing.
t_bcd_multi() {
    local tag=$1 names i ans seen=() listing
    write_rules "$MODE" multi "$E2E_WORK/rules.multi"
    start_director "$KIND" "$MODE" "$E2E_WORK/rules.multi" || { fail "$tag (b-d) director did not come up"; return 0; }

    names=$(http_names 9 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of rs1 "$@")" = 3 ] && [ "$(count_of rs2 "$@")" = 3 ] && [ "$(count_of rs3 "$@")" = 3 ]; then
        pass "$tag (b) rr: 9 connections to $VIP4:80 -> $names"
    else
        fail "$tag (b) rr: 9 connections to $VIP4:80 should reach rs1, rs2, rs3 3 times each, got: $names"
    fi

    for fam in 4 6; do
        local vip=$VIP4 part=c
        [ "$fam" = 6 ] && { vip=$VIP6; part=d; }
        seen=()
        local ok=1
        for i in 1 2 3; do
            if ans=$(udp_ask "$vip" 53 "hello-$i" 2>&1) && [[ $ans =~ ^(rs[1-3]):\ hello-$i$ ]]; then
                seen+=("${BASH_REMATCH[1]}")
            else
                ok=0; fail "$tag ($part) UDP v$fam $vip:53 request $i: bad or no answer: ${ans:-<none>}"
            fi
        done
        if [ "$ok" = 1 ]; then
            if [ "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" = 3 ]; then
                pass "$tag ($part) UDP v$fam: 3 datagrams to $vip:53 answered from the VIP by ${seen[*]}"
            else
                fail "$tag ($part) UDP v$fam: 3 new UDP flows under rr should reach 3 servers, got ${seen[*]}"
            fi
        fi
    done

    names=$(http_names 6 "http://[$VIP6]/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of rs1 "$@")" = 2 ] && [ "$(count_of rs2 "$@")" = 2 ] && [ "$(count_of rs3 "$@")" = 2 ]; then
        pass "$tag (d) IPv6 rr: 6 connections to [$VIP6]:80 -> $names"
    else
        fail "$tag (d) IPv6 rr: 6 connections to [$VIP6]:80 should reach each server twice, got: $names"
    fi

    # The VIP behaves like a host: it answers ping, and a port without a service refuses
    # at once (RST) instead of leaving the client to time out.
    if [ "$KIND" != kernel ]; then
        local fam2 vip2 rc2
        for fam2 in 4 6; do
            vip2=$VIP4; [ "$fam2" = 6 ] && vip2=$VIP6
            if timeout 6 ip netns exec "$NS_CL" "$E2E_PY" "$E2E_LIB_DIR/e2e.py" ping --addr "$vip2" --timeout 3 >/dev/null 2>&1; then
                pass "$tag VIP v$fam2 $vip2 answers an echo request"
            else
                fail "$tag VIP v$fam2 $vip2 did not answer an echo request"
            fi
        done
        rc2=0
        http_get "http://$VIP4:9999/" --max-time 3 >/dev/null 2>&1 || rc2=$?
        if [ "$rc2" = 7 ]; then
            pass "$tag a VIP port without a service refuses the connection at once (curl: connection refused)"
        else
            fail "$tag a connection to $VIP4:9999 (no service) should be refused by a reset, curl exit $rc2 (7 = refused, 28 = timeout)"
        fi
    fi
    listing=$(director_listing 2>&1) || true
    printf '%s\n' "--- director listing ($KIND, $MODE) ---" "$listing" "---"
    if [[ $listing == *"$VIP4"* ]]; then
        pass "$tag listing (SIGUSR1) names the VIP"
    else
        fail "$tag listing (SIGUSR1) printed nothing naming $VIP4"
    fi
    check "$tag (b-d) director still running" director_alive
    stop_director
}

# (e) health checks: a dead real server leaves the rotation within the fall window and
# comes back after the rise window.
t_e_health() {
    local tag=$1 names
    if [ "$KIND" = kernel ]; then skip "$tag (e) health checks: the kernel stand-in has none"; return 0; fi
    if [ "$KIND" = afpacket ] && [ "$E2E_IO" = af_xdp ]; then
        # The XDP program takes every frame of the served interface: the kernel's health-check
        # connections get no replies there (checks must use another interface).
        skip "$tag (e) health checks: with AF_XDP the kernel sees no frame on the served interface"; return 0
    fi
    if [ "$KIND" = tap ] && [ "$MODE" = nat2 ]; then
        # Here the kernel's only addresses are lvs-tap's, on the TAP devices: its health-check
        # connections would go into lvs-tap itself. The one-armed TAP picture covers (e).
        skip "$tag (e) health checks: the two-armed TAP picture gives the kernel no address of its own"
        return 0
    fi
    write_rules "$MODE" check "$E2E_WORK/rules.check"
    start_director "$KIND" "$MODE" "$E2E_WORK/rules.check" "${HEALTH_ARGS[@]}" ||
        { fail "$tag (e) director did not come up"; return 0; }
    sleep 1.5 # rise window (2 x 200 ms) with margin
    names=$(http_names 9 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of ERR "$@")" = 0 ] && [ "$(count_of rs2 "$@")" -ge 1 ]; then
        pass "$tag (e) before: all servers in rotation: $names"
    else
        fail "$tag (e) before: expected all 3 servers without errors, got: $names"
    fi
    stop_rs_http 2
    sleep 1.5 # fall window (2 x 200 ms + 300 ms timeout) with margin
    names=$(http_names 50 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of ERR "$@")" = 0 ] && [ "$(count_of rs2 "$@")" = 0 ] && [ "$#" = 50 ]; then
        pass "$tag (e) rs2 down: 50 new connections all succeeded (rs1 $(count_of rs1 "$@"), rs3 $(count_of rs3 "$@"))"
    else
        fail "$tag (e) rs2 down: 50 connections should all succeed on rs1/rs3: $(count_of ERR "$@") errors, rs2 $(count_of rs2 "$@")"
    fi
    start_rs_http 2 || fail "$tag (e) could not restart rs2's HTTP server"
    sleep 1.5 # rise window with margin
    names=$(http_names 9 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of ERR "$@")" = 0 ] && [ "$(count_of rs2 "$@")" -ge 2 ]; then
        pass "$tag (e) rs2 back: $names"
    else
        fail "$tag (e) rs2 back after the rise window: expected rs2 >= 2 of 9 and no errors, got: $names"
    fi
    check "$tag (e) director still running" director_alive
    stop_director
}

# (f) SIGHUP during a long download: the download completes intact, and new connections
# follow the new weights (wrr 1,1 -> 3,1 + rs3 with 1).
t_f_reload() {
    local tag=$1 names dl="$E2E_WORK/download.bin" dlpid rc=0 big="$E2E_WORK/files/big.bin"
    write_rules "$MODE" wrr1 "$E2E_WORK/rules.wrr1"
    write_rules "$MODE" wrr2 "$E2E_WORK/rules.wrr2"
    start_director "$KIND" "$MODE" "$E2E_WORK/rules.wrr1" || { fail "$tag (f) director did not come up"; return 0; }
    names=$(http_names 10 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of rs1 "$@")" = 5 ] && [ "$(count_of rs2 "$@")" = 5 ]; then
        pass "$tag (f) wrr 1,1 before reload: $names"
    else
        fail "$tag (f) wrr 1,1 before reload: expected rs1 5, rs2 5 of 10, got: $names"
    fi
    rm -f "$dl"
    timeout 60 ip netns exec "$NS_CL" curl -sS --connect-timeout 3 --max-time 55 --limit-rate "$E2E_RATE" \
        -o "$dl" "http://$VIP4/files/big.bin" 2>"$E2E_WORK/download.err" &
    dlpid=$!
    sleep 1
    if ! kill -0 "$dlpid" 2>/dev/null; then
        fail "$tag (f) the download was not running any more when the reload came (see $E2E_WORK/download.err)"
    fi
    reload_director "$E2E_WORK/rules.wrr2" || fail "$tag (f) reload failed"
    sleep 0.5
    if kill -0 "$dlpid" 2>/dev/null; then
        pass "$tag (f) the download was still running 0.5 s after the reload"
    else
        fail "$tag (f) the download ended before the reload took effect: lengthen it (E2E_BIG_MB/E2E_RATE)"
    fi
    names=$(http_names 20 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    local c1 c2 c3
    c1=$(count_of rs1 "$@"); c2=$(count_of rs2 "$@"); c3=$(count_of rs3 "$@")
    if [ "$(count_of ERR "$@")" = 0 ] && [ "$c1" -ge 10 ] && [ "$c1" -le 14 ] &&
        [ "$c2" -ge 3 ] && [ "$c2" -le 5 ] && [ "$c3" -ge 3 ] && [ "$c3" -le 5 ]; then
        pass "$tag (f) after SIGHUP, wrr 3,1,1 over 20: rs1 $c1, rs2 $c2, rs3 $c3"
    else
        fail "$tag (f) after SIGHUP expected about rs1 12, rs2 4, rs3 4 of 20 (+-2/+-1), got rs1 $c1 rs2 $c2 rs3 $c3: $names"
    fi
    wait "$dlpid" || rc=$?
    if [ "$rc" = 0 ] && [ "$(sha256sum <"$dl")" = "$(sha256sum <"$big")" ]; then
        pass "$tag (f) the $(stat -c %s "$big")-byte download across the reload is intact (sha256)"
    else
        fail "$tag (f) download across the reload: curl rc=$rc, $(stat -c %s "$dl" 2>/dev/null || echo 0) of $(stat -c %s "$big") bytes, checksum $( [ "$rc" = 0 ] && echo mismatch || echo n/a): $(head -c 300 "$E2E_WORK/download.err")"
    fi
    # An empty (e.g. truncated) rules file must not stop every service on SIGHUP.
    if [ "$KIND" != kernel ]; then
        : >"$E2E_WORK/rules.empty"
        reload_director "$E2E_WORK/rules.empty" || fail "$tag (f) empty reload: SIGHUP failed"
        sleep 0.5
        names=$(http_names 6 "http://$VIP4/")
        # shellcheck disable=SC2086
        set -- $names
        if [ "$(count_of ERR "$@")" = 0 ]; then
            pass "$tag (f) an empty rules file on SIGHUP is refused: 6 new connections still served ($names)"
        else
            fail "$tag (f) after SIGHUP with an empty rules file the service must stay: $names"
        fi
        if grep -q "keeping the running rules" "$DIRECTOR_ERR"; then
            pass "$tag (f) the refused reload is logged"
        else
            fail "$tag (f) the refused reload is not logged in $DIRECTOR_ERR"
        fi
    fi
    check "$tag (f) director still running" director_alive
    stop_director
}

# (g) persistence: all of one client address's connections go to one server.
t_g_persist() {
    local tag=$1 names src
    write_rules "$MODE" persist "$E2E_WORK/rules.persist"
    start_director "$KIND" "$MODE" "$E2E_WORK/rules.persist" || { fail "$tag (g) director did not come up"; return 0; }
    for src in "$CL4" "$CL4B"; do
        names=$(http_names 9 "http://$VIP4/" --interface "$src")
        # shellcheck disable=SC2086
        set -- $names
        if [ "$(count_of ERR "$@")" = 0 ] && [ "$(printf '%s\n' "$@" | sort -u | wc -l)" = 1 ]; then
            pass "$tag (g) persistence: 9 connections from $src all on $1"
        else
            fail "$tag (g) persistence: 9 connections from $src should all reach one server, got: $names"
        fi
    done
    check "$tag (g) director still running" director_alive
    stop_director
}

# (h) NAT on two cores: lvs-afpacket --fanout 2 over both legs. 200 new HTTP connections and
# the big download all succeed, and at exit (SIGTERM) each worker reports forwarded frames
# ("worker N:" then its listing and "frames in X forwarded Y generated Z to-host W dropped V").
t_h_fanout() {
    local tag=$1 out rc=0 fails total n i dl="$E2E_WORK/download-h.bin" big="$E2E_WORK/files/big.bin" ok=1
    if [ "$KIND" = tap ]; then skip "$tag (h) fanout: lvs-afpacket only"; return 0; fi
    if [ "$KIND" = afpacket ] && [ "$E2E_IO" = af_xdp ]; then
        # --fanout is refused with AF_XDP: it must say so and exit non-zero at once.
        write_rules "$MODE" multi "$E2E_WORK/rules.fanout"
        local err="$E2E_WORK/fanout-afxdp.err" frc=0
        timeout 10 ip netns exec "$NS_DIR" "$(director_bin afpacket)" --rules "$E2E_WORK/rules.fanout" \
            "${DIR_IFACES[@]/#/--iface=}" --io af_xdp --fanout 2 --no-control >/dev/null 2>"$err" || frc=$?
        if [ "$frc" = 1 ] && grep -q "fanout is not supported with --io af_xdp" "$err"; then
            pass "$tag (h) --fanout 2 with --io af_xdp is refused cleanly"
        else
            fail "$tag (h) --fanout 2 with --io af_xdp: expected exit 1 and a refusal, got rc $frc: $(head -c 300 "$err")"
        fi
        return 0
    fi
    # kernel: the same traffic through the stand-in (checks the client and the file), no
    # worker report.
    write_rules "$MODE" multi "$E2E_WORK/rules.fanout"
    start_director "$KIND" "$MODE" "$E2E_WORK/rules.fanout" --fanout 2 ||
        { fail "$tag (h) director with --fanout 2 did not come up"; return 0; }
    out=$(timeout 150 ip netns exec "$NS_CL" "$E2E_PY" "$E2E_LIB_DIR/e2e.py" conns --addr "$VIP4" --port 80 \
        --count 200 --timeout 3 --deadline 120 2>"$E2E_WORK/conns-h.err") || rc=$?
    fails=$(printf '%s\n' "$out" | awk '$1 == "failures" {print $2}')
    total=0
    for i in $(seq 1 "$RS_COUNT"); do
        n=$(printf '%s\n' "$out" | awk -v s="rs$i" '$1 == s {print $2}')
        total=$((total + ${n:-0}))
        [ "${n:-0}" -ge 40 ] || ok=0
    done
    if [ "$rc" = 0 ] && [ "${fails:-x}" = 0 ] && [ "$total" = 200 ] && [ "$ok" = 1 ]; then
        pass "$tag (h) fanout 2: 200 new connections, 0 failures: $(printf '%s' "$out" | grep '^rs' | tr '\n' ' ')"
    else
        fail "$tag (h) fanout 2: 200 connections should all succeed, each server >= 40: rc $rc, $(printf '%s' "$out" | tr '\n' ' ') $(head -c 300 "$E2E_WORK/conns-h.err")"
    fi
    rm -f "$dl"
    rc=0
    timeout 70 ip netns exec "$NS_CL" curl -sS --connect-timeout 3 --max-time 60 -o "$dl" \
        "http://$VIP4/files/big.bin" 2>"$E2E_WORK/download-h.err" || rc=$?
    if [ "$rc" = 0 ] && [ "$(sha256sum <"$dl")" = "$(sha256sum <"$big")" ]; then
        pass "$tag (h) fanout 2: the $(stat -c %s "$big")-byte download is intact (sha256)"
    else
        fail "$tag (h) fanout 2: download rc=$rc, $(stat -c %s "$dl" 2>/dev/null || echo 0) of $(stat -c %s "$big") bytes: $(head -c 300 "$E2E_WORK/download-h.err")"
    fi
    check "$tag (h) director still running" director_alive
    local outfile=$DIRECTOR_OUT
    stop_director
    if [ "$KIND" = kernel ]; then skip "$tag (h) per-worker report: the kernel stand-in has no workers"; return 0; fi
    # Per worker, the forwarded count of the last "frames in" line after its "worker N:".
    out=$(awk '/^worker [0-9]+:/ {w = $2; sub(":", "", w)}
               /^frames in / && w != "" {f[w] = $5}
               END {for (k in f) print k, f[k]}' "$outfile" | sort -n)
    printf '%s\n' "--- per-worker exit report (forwarded) ---" "${out:-<none>}"
    if [ "$(printf '%s\n' "$out" | awk '$2 > 0' | wc -l)" -ge 2 ] && [ "$(printf '%s\n' "$out" | grep -c .)" = 2 ]; then
        pass "$tag (h) fanout 2: both workers forwarded frames: $(printf '%s' "$out" | tr '\n' ';')"
    else
        fail "$tag (h) fanout 2: expected 'worker 0:' and 'worker 1:' exit reports with 'frames in X forwarded Y ...', Y > 0 for both, got: ${out:-none} (see $outfile)"
    fi
}

# (i) the director follows the host's network while it runs: the server LAN's address is
# taken away and given back (rtnetlink address events), and a real server's neighbour entry
# is pinned to a wrong MAC and then to the right one (neighbour events).
t_i_follow() {
    local tag=$1 lan names i ok
    if [ "$KIND" = kernel ]; then skip "$tag (i) follows the host: the kernel stand-in is the kernel"; return 0; fi
    if [ "$KIND" = tap ]; then lan=tap1; else lan=eth1; fi
    write_rules "$MODE" multi "$E2E_WORK/rules.follow"
    start_director "$KIND" "$MODE" "$E2E_WORK/rules.follow" || { fail "$tag (i) director did not come up"; return 0; }
    ip -n "$NS_DIR" addr del 192.0.2.1/24 dev "$lan"
    sleep 0.5
    names=$(http_names 3 "http://$VIP4/" --max-time 2)
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of ERR "$@")" = 3 ]; then
        pass "$tag (i) server LAN address removed on the host: new IPv4 connections have no route ($names)"
    else
        fail "$tag (i) after 'ip addr del 192.0.2.1/24 dev $lan' the director should have no route to the real servers, got: $names"
    fi
    ip -n "$NS_DIR" addr add 192.0.2.1/24 dev "$lan"
    ok=0
    for i in $(seq 1 20); do
        if http_get "http://$VIP4/" --max-time 1 >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    if [ "$ok" = 1 ]; then
        names=$(http_names 6 "http://$VIP4/")
        # shellcheck disable=SC2086
        set -- $names
        if [ "$(count_of ERR "$@")" = 0 ]; then
            pass "$tag (i) address given back: the director follows, 6 connections served ($names)"
        else
            fail "$tag (i) address given back: expected 6 answers, got: $names"
        fi
    else
        fail "$tag (i) the director did not follow 'ip addr add 192.0.2.1/24 dev $lan' within 3 s"
    fi
    ip -n "$NS_DIR" neigh replace 192.0.2.11 lladdr 02:00:00:00:09:99 nud permanent dev "$lan"
    sleep 0.5
    names=$(http_names 6 "http://$VIP4/" --max-time 2)
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of rs1 "$@")" = 0 ] && [ "$(count_of ERR "$@")" -ge 1 ]; then
        pass "$tag (i) rs1 pinned to a wrong MAC on the host: its share fails ($names)"
    else
        fail "$tag (i) after pinning rs1 to a wrong MAC its connections should fail, got: $names"
    fi
    ip -n "$NS_DIR" neigh replace 192.0.2.11 lladdr 02:00:00:00:01:11 nud permanent dev "$lan"
    sleep 0.5
    names=$(http_names 6 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of ERR "$@")" = 0 ] && [ "$(count_of rs1 "$@")" -ge 1 ]; then
        pass "$tag (i) rs1 pinned to its real MAC: served again ($names)"
    else
        fail "$tag (i) after pinning rs1 to its real MAC all 6 should be served, got: $names"
    fi
    check "$tag (i) director still running" director_alive
    stop_director
}

# (j) metrics: a real Prometheus in the director's namespace scrapes the running director
# (two workers, so the per-worker snapshots are added up) and answers queries for
# node_exporter's IPVS series after traffic.
t_j_metrics() {
    local tag=$1 pdir="$E2E_WORK/prometheus" ppid n q i ok
    if [ "$KIND" != afpacket ]; then skip "$tag (j) metrics: checked through lvs-afpacket"; return 0; fi
    if ! command -v prometheus >/dev/null 2>&1; then skip "$tag (j) metrics: prometheus not installed"; return 0; fi
    write_rules "$MODE" multi "$E2E_WORK/rules.metrics"
    start_director "$KIND" "$MODE" "$E2E_WORK/rules.metrics" --fanout 2 --metrics 127.0.0.1:9390 ||
        { fail "$tag (j) director with --metrics did not come up"; return 0; }
    mkdir -p "$pdir"
    printf 'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: lvs\n    static_configs:\n      - targets: [\x27127.0.0.1:9390\x27]\n' >"$pdir/prometheus.yml"
    ip netns exec "$NS_DIR" prometheus --config.file="$pdir/prometheus.yml" --storage.tsdb.path="$pdir/data" \
        --web.listen-address=127.0.0.1:9391 >"$pdir/log" 2>&1 &
    ppid=$!
    E2E_PIDS+=("$ppid")
    names=$(http_names 9 "http://$VIP4/")
    ok=0
    for i in $(seq 1 60); do
        q=$(ip netns exec "$NS_DIR" curl -sS --max-time 2 \
            'http://127.0.0.1:9391/api/v1/query?query=sum(node_ipvs_backend_connections_inactive%2Bnode_ipvs_backend_connections_active)' 2>/dev/null || true)
        n=$(printf '%s' "$q" | "$E2E_PY" -c 'import json,sys
try:
    r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else -1)
except Exception: print(-1)')
        if [ "$n" -ge 9 ]; then ok=1; break; fi
        sleep 0.5
    done
    if [ "$ok" = 1 ]; then
        pass "$tag (j) Prometheus scraped the director: $n connections in node_ipvs_backend_connections_* after 9 requests ($names)"
    else
        fail "$tag (j) Prometheus did not see the 9 connections within 30 s (last answer: ${q:0:300}; see $pdir/log)"
    fi
    q=$(ip netns exec "$NS_DIR" curl -sS --max-time 2 \
        'http://127.0.0.1:9391/api/v1/query?query=node_ipvs_backend_weight%7Blocal_address%3D%22203.0.113.10%22%2Clocal_port%3D%2280%22%2Cproto%3D%22TCP%22%7D' 2>/dev/null || true)
    n=$(printf '%s' "$q" | "$E2E_PY" -c 'import json,sys
try: print(len(json.load(sys.stdin)["data"]["result"]))
except Exception: print(-1)')
    if [ "$n" = 3 ]; then
        pass "$tag (j) node_ipvs_backend_weight has one series per real server of 203.0.113.10:80 (3), labelled as node_exporter does"
    else
        fail "$tag (j) node_ipvs_backend_weight{local_address=203.0.113.10,local_port=80,proto=TCP}: expected 3 series, got $n"
    fi
    kill_pid "$ppid"
    check "$tag (j) director still running" director_alive
    stop_director
}

# (k) lvsadm on the running director, under traffic: a long download runs on rs1 (the only
# real server at start); rs2 and rs3 are added; rs1 is drained to weight 0 (its connection
# stays, as in IPVS) and rs2 deleted (a deleted server's connections are dropped, as IPVS
# does with expire_nodest_conn off, so it carries none here). The download arrives intact and
# new connections follow each change. ipvsadm's exit code for a refused change.
t_k_lvsadm() {
    local tag=$1 adm="$LVS_BIN/lvsadm" names dl="$E2E_WORK/download-k.bin" dlpid rc=0 big="$E2E_WORK/files/big.bin" out svc
    shift
    if [ "$KIND" = kernel ]; then skip "$tag (k) lvsadm: the kernel stand-in has none"; return 0; fi
    if [ ! -x "$adm" ]; then fail "$tag (k) $adm is missing"; return 0; fi
    write_rules "$MODE" single "$E2E_WORK/rules.lvsadm"
    start_director "$KIND" "$MODE" "$E2E_WORK/rules.lvsadm" "$@" || { fail "$tag (k) director did not come up"; return 0; }
    svc="$VIP4:80"
    local r1 r2 r3 p
    r1="$(rs_addr4 1):$(rs_port "$MODE" http)"; r2="$(rs_addr4 2):$(rs_port "$MODE" http)"; r3="$(rs_addr4 3):$(rs_port "$MODE" http)"
    case $MODE in nat|nat2) p=-m ;; dr) p=-g ;; *) p=-i ;; esac
    rm -f "$dl"
    timeout 60 ip netns exec "$NS_CL" curl -sS --connect-timeout 3 --max-time 55 --limit-rate "$E2E_RATE" \
        -o "$dl" "http://$VIP4/files/big.bin" 2>"$E2E_WORK/download-k.err" &
    dlpid=$!
    sleep 0.5
    if "$adm" --control "$DIRECTOR_CONTROL" -a -t "$svc" -r "$r2" $p -w 1 2>"$E2E_WORK/lvsadm.err" &&
        "$adm" --control "$DIRECTOR_CONTROL" -a -t "$svc" -r "$r3" $p -w 1 2>>"$E2E_WORK/lvsadm.err"; then
        names=$(http_names 6 "http://$VIP4/")
        # shellcheck disable=SC2086
        set -- $names
        if [ "$(count_of ERR "$@")" = 0 ] && [ "$(count_of rs2 "$@")" -ge 1 ] && [ "$(count_of rs3 "$@")" -ge 1 ]; then
            pass "$tag (k) lvsadm -a: rs2 and rs3 added under traffic, new connections reach them ($names)"
        else
            fail "$tag (k) lvsadm -a: expected rs2 and rs3 among 6 new connections and no errors, got: $names"
        fi
    else
        fail "$tag (k) lvsadm -a failed: $(head -c 300 "$E2E_WORK/lvsadm.err")"
    fi
    "$adm" --control "$DIRECTOR_CONTROL" -e -t "$svc" -r "$r1" $p -w 0 2>>"$E2E_WORK/lvsadm.err" || fail "$tag (k) lvsadm -e failed"
    "$adm" --control "$DIRECTOR_CONTROL" -d -t "$svc" -r "$r2" 2>>"$E2E_WORK/lvsadm.err" || fail "$tag (k) lvsadm -d failed"
    names=$(http_names 6 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of ERR "$@")" = 0 ] && [ "$(count_of rs3 "$@")" = 6 ]; then
        pass "$tag (k) lvsadm -e -w 0 (rs1) and -d (rs2): all 6 new connections on rs3"
    else
        fail "$tag (k) after draining rs1 and deleting rs2 all new connections should reach rs3, got: $names"
    fi
    out=$("$adm" --control "$DIRECTOR_CONTROL" -Ln 2>&1) || true
    if [[ $out == *"-> $r3"* ]] && [[ $out != *"-> $r2 "* ]]; then
        pass "$tag (k) lvsadm -Ln shows the live state (rs3 in, rs2 out)"
    else
        fail "$tag (k) lvsadm -Ln does not show the live state: $out"
    fi
    rc=0; "$adm" --control "$DIRECTOR_CONTROL" -d -t "$svc" -r "$r2" >/dev/null 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then
        pass "$tag (k) deleting a real server that is gone is refused (exit $rc)"
    else
        fail "$tag (k) deleting a real server that is gone should fail"
    fi
    rc=0
    wait "$dlpid" || rc=$?
    if [ "$rc" = 0 ] && [ "$(sha256sum <"$dl")" = "$(sha256sum <"$big")" ]; then
        pass "$tag (k) the $(stat -c %s "$big")-byte download on the drained rs1 is intact across the lvsadm changes (sha256)"
    else
        fail "$tag (k) download across the lvsadm changes: curl rc=$rc, $(stat -c %s "$dl" 2>/dev/null || echo 0) of $(stat -c %s "$big") bytes: $(head -c 300 "$E2E_WORK/download-k.err")"
    fi
    check "$tag (k) director still running" director_alive
    stop_director
}

# (l) keepalived.conf: the director takes its service, real servers and TCP_CHECKs from the
# LVS part of a keepalived.conf (other blocks skipped); rr over the three, rs2 leaves when its
# HTTP server dies and comes back when it returns.
t_l_keepalived() {
    local tag=$1 conf="$E2E_WORK/lvs.keepalived.conf" names i
    if [ "$KIND" = kernel ]; then skip "$tag (l) keepalived.conf: the kernel stand-in has none"; return 0; fi
    if [ "$KIND" = tap ]; then skip "$tag (l) keepalived.conf: checked through lvs-afpacket (the two-armed TAP picture gives the kernel no address to check from)"; return 0; fi
    {
        printf 'global_defs {\n    router_id lvs_e2e\n}\n'
        printf 'vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    priority 100\n}\n'
        printf 'virtual_server %s 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n' "$VIP4"
        for i in 1 2 3; do
            printf '    real_server %s %s {\n        weight 1\n        inhibit_on_failure\n        TCP_CHECK {\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }\n    }\n' "$(rs_addr4 "$i")" "$(rs_port "$MODE" http)"
        done
        printf '}\n'
    } >"$conf"
    start_director "$KIND" "$MODE" "$conf" || { fail "$tag (l) director with --keepalived-conf did not come up"; return 0; }
    names=$(http_names 6 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of rs1 "$@")" = 2 ] && [ "$(count_of rs2 "$@")" = 2 ] && [ "$(count_of rs3 "$@")" = 2 ]; then
        pass "$tag (l) keepalived.conf: rr over its three real servers: $names"
    else
        fail "$tag (l) keepalived.conf: 6 connections should reach rs1, rs2, rs3 twice each, got: $names"
    fi
    stop_rs_http 2
    sleep 4 # delay_loop 1 s, retry 1 (2 failures), connect_timeout 1 s, with margin
    names=$(http_names 12 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of ERR "$@")" = 0 ] && [ "$(count_of rs2 "$@")" = 0 ]; then
        pass "$tag (l) keepalived TCP_CHECK took rs2 out: 12 connections on rs1/rs3 without errors"
    else
        fail "$tag (l) after rs2 died its TCP_CHECK should take it out: $names"
    fi
    start_rs_http 2 || fail "$tag (l) could not restart rs2's HTTP server"
    sleep 2.5
    names=$(http_names 9 "http://$VIP4/")
    # shellcheck disable=SC2086
    set -- $names
    if [ "$(count_of ERR "$@")" = 0 ] && [ "$(count_of rs2 "$@")" -ge 2 ]; then
        pass "$tag (l) rs2 back in rotation: $names"
    else
        fail "$tag (l) rs2 should be back after its check passes: $names"
    fi
    if grep -q "vrrp_instance" "$DIRECTOR_ERR"; then
        pass "$tag (l) the skipped keepalived blocks are named in the log"
    else
        fail "$tag (l) the log does not name the skipped vrrp_instance block"
    fi
    check "$tag (l) director still running" director_alive
    stop_director
}

run_combo() {
    MODE=$1 KIND=$2
    local tag="[$MODE/$KIND]" t0=$SECONDS
    [ "$KIND" = afpacket ] && [ "$E2E_IO" = af_xdp ] && tag="[$MODE/$KIND af_xdp]"
    [ "$E2E_OFFLOADS" = off ] && tag="${tag%]} offloads-off]"
    [ "$E2E_FLAG_ADDRS" = 1 ] && tag="${tag%]} flag-addrs]"
    e2e_log "=== $tag: building the topology"
    if ! topo_up "$MODE" "$KIND" || ! start_real_servers; then
        fail "$tag topology or real servers could not be set up"
        topo_down
        return 0
    fi
    if t_a_selftest "$tag"; then :; fi
    if t_bcd_multi "$tag"; then :; fi
    if [ "$E2E_QUICK" != 1 ]; then
        if t_e_health "$tag"; then :; fi
        if t_f_reload "$tag"; then :; fi
        if t_g_persist "$tag"; then :; fi
        if [ "$MODE" = nat2 ]; then
            if t_h_fanout "$tag"; then :; fi
            if t_i_follow "$tag"; then :; fi
            if t_j_metrics "$tag"; then :; fi
            if t_k_lvsadm "$tag"; then :; fi
            if t_l_keepalived "$tag"; then :; fi
            if [ "$KIND" = afpacket ] && [ "$E2E_IO" != af_xdp ] && t_k_lvsadm "$tag (fanout 2)" --fanout 2; then :; fi
        fi
    fi
    stop_director
    topo_down
    e2e_log "=== $tag: done in $((SECONDS - t0)) s"
}

# ------------------------------------------------------------------ main

mkdir -p "$E2E_WORK/files"
if [ "$E2E_QUICK" = 1 ]; then
    E2E_MEDIUM_MB=${E2E_MEDIUM_MB:-1}
else
    E2E_MEDIUM_MB=${E2E_MEDIUM_MB:-4}
fi
E2E_BIG_MB=${E2E_BIG_MB:-32}
E2E_RATE=${E2E_RATE:-8M}
head -c 32 /dev/urandom >"$E2E_WORK/files/small32.bin"
head -c "$((E2E_MEDIUM_MB * 1024 * 1024))" /dev/urandom >"$E2E_WORK/files/medium.bin"
[ "$E2E_QUICK" = 1 ] || head -c "$((E2E_BIG_MB * 1024 * 1024))" /dev/urandom >"$E2E_WORK/files/big.bin"

# run_pass MODES KINDS: every mode x director pair with the current E2E_OFFLOADS,
# E2E_FLAG_ADDRS and E2E_QUICK.
run_pass() {
    local t0=$SECONDS
    e2e_log "lvs-rs e2e pass: modes [$1], directors [$2], io $E2E_IO, offloads $E2E_OFFLOADS, flag addrs $E2E_FLAG_ADDRS, quick $E2E_QUICK; LVS_BIN=$LVS_BIN, work $E2E_WORK"
    for MODE in $1; do
        for KIND in $2; do
            if [ "$KIND" = kernel ] && [ "$MODE" != nat ] && [ "$MODE" != nat2 ]; then
                skip "[$MODE/kernel] the nftables stand-in director does NAT only"
                continue
            fi
            if ! director_available "$KIND"; then
                fail "[$MODE/$KIND] $(director_bin "$KIND") is missing (cargo build --release -p lvs-examples, or set LVS_BIN)"
                continue
            fi
            if [ "$MODE" = tun ] && [ "$KIND" != kernel ] && [ ! -x "$LVS_BIN/lvs-ipip-decap" ]; then
                fail "[$MODE/$KIND] $LVS_BIN/lvs-ipip-decap is missing: TUN real servers cannot decapsulate"
                continue
            fi
            run_combo "$MODE" "$KIND"
        done
    done
    e2e_log "pass done in $((SECONDS - t0)) s"
}

run_pass "$E2E_MODES" "$E2E_DIRECTORS"
if [ "$E2E_EXTRA_PASS" = 1 ]; then
    # The default run's extra pass: one-armed NAT through lvs-afpacket with offloads off
    # and the addresses given as --addr flags (the pre-rtnetlink way), tests (a)-(d).
    E2E_OFFLOADS=off E2E_FLAG_ADDRS=1 E2E_QUICK=1
    run_pass nat afpacket
    # And lvs-afpacket --io af_xdp, tests (a)-(d), in every mode (AF_XDP needs the offloads
    # off: it carries no checksum metadata).
    E2E_IO=af_xdp E2E_OFFLOADS=off E2E_FLAG_ADDRS=0 E2E_QUICK=1
    run_pass "nat nat2 dr tun" afpacket
fi

if e2e_summary; then exit 0; else exit 1; fi
