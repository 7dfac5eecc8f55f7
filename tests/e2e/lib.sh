# shellcheck shell=bash
# lvs-rs end-to-end harness: network namespaces, real servers, directors, checks.
# Sourced by tests/e2e/run.sh, scripts/demo.sh and scripts/bench-netns.sh.
#
# Topology (all addresses are documentation ranges). One-armed (modes nat, dr, tun):
#
#   client ns      eth0 192.0.2.2/24 + 192.0.2.3/24, 2001:db8:c::2/64
#        |         routes: VIP 203.0.113.10/32 and 2001:db8:f::10/128 via the director
#   lan ns         br0, one port per namespace (a plain L2 switch)
#        |
#   director ns    eth0 (afpacket, kernel) or br0{eth0, lvstap0} (tap):
#                  192.0.2.1/24 198.51.100.1/24 2001:db8:c::1/64 2001:db8:5::1/64 (kernel-owned;
#                  health checks use them). ip_forward OFF (v4 and v6), VIP NOT on the kernel,
#                  blackhole routes for the VIPs: only the user-space director moves VIP traffic.
#                  The TAP director is a separate host on the LAN, MAC 02:00:00:00:00:fe; its
#                  addresses 192.0.2.254 198.51.100.254 2001:db8:c::fe 2001:db8:5::fe are on
#                  the persistent TAP lvstap0 (arp_ignore=1: the kernel does not ARP for them).
#   rs1..rs3 ns    eth0 198.51.100.11-13/24, 2001:db8:5::11-13/64
#                  NAT: default route via the director. DR/TUN: VIP on lo, arp_ignore=1,
#                  arp_announce=2, rp_filter=0, client net on-link (replies go direct);
#                  TUN also runs lvs-ipip-decap into a TUN device.
#
# Two-armed VS/NAT (mode nat2, the LVS paper's picture):
#
#   client ns      eth0 198.51.100.2/24 + .3/24, 2001:db8:1::2/64; VIP via 198.51.100.1 / 2001:db8:1::1
#   lan ns br0     client network
#   director ns    eth0 198.51.100.1/24 2001:db8:1::1/64, eth1 192.0.2.1/24 2001:db8:2::1/64
#                  (tap: br0{eth0,tap0} br1{eth1,tap1}, the addresses on tap0/tap1, arp_ignore=1)
#   lan ns br1     private server LAN
#   rs1..rs3 ns    eth0 192.0.2.11-13/24, 2001:db8:2::11-13/64, default via 192.0.2.1 / 2001:db8:2::1
#
# The directors learn their addresses from the kernel (E2E_FLAG_ADDRS=1: --addr flags).
#
# Public functions (see each one's comment): e2e_require_root, e2e_init, topo_up, topo_down,
# start_real_servers, stop_rs_http, start_rs_http, start_director, stop_director,
# reload_director, director_listing, write_rules, kernel_dr_nft, start_kernel_dr, http_get, http_names, udp_ask, sink_send,
# sink_wait, count_of, pass, fail, skip, check, e2e_summary.
#
# Environment:
#   LVS_BIN         directory with lvs-afpacket, lvs-tap, lvs-ipip-decap (default $repo/target/release)
#   E2E_PREFIX      namespace name prefix (default lvse2e$$-, unique per run)
#   E2E_KEEP=1      keep the work directory (logs) after exit; it is kept anyway on failure
#   E2E_VERBOSE=1   trace commands (set -x)
#   E2E_RS_MTU=N    MTU of the director's and the real servers' links (default 1500, like the
#                   client's). TUN adds 20/40 bytes: at 1500 a full-size client segment needs the
#                   director's ICMP "fragmentation needed"/"packet too big" (as IPVS sends) to
#                   get through; 1600 takes path MTU discovery out of the TUN tests.
#   E2E_STATIC_NEIGH=1  give the director --neighbor entries for the real servers (default: it resolves)
#   E2E_OFFLOADS=on|off on (default): interfaces keep their default offloads; off: ethtool -K off
#   E2E_FLAG_ADDRS=1    pass the director's addresses as --addr flags (default: learned from the kernel)
#   E2E_IO=packet|af_xdp  lvs-afpacket's --io (default packet). af_xdp needs E2E_OFFLOADS=off
#                   (AF_XDP carries no checksum metadata; run.sh defaults it to off then);
#                   E2E_XDP_MODE=auto|native|generic picks where the XDP program runs (auto)

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_LIB_DIR/../.." && pwd)
LVS_BIN=${LVS_BIN:-$E2E_REPO/target/release}
E2E_PREFIX=${E2E_PREFIX:-lvse2e$$-}
E2E_PY=${E2E_PY:-python3}

VIP4=203.0.113.10
VIP6=2001:db8:f::10
CL4=192.0.2.2
CL4B=192.0.2.3
CL6=2001:db8:c::2
DIR_MAC=02:00:00:00:00:01
DIR_MAC1=02:00:00:00:02:01
TAP_MAC=02:00:00:00:00:fe
TAP_DEV=lvstap0
DECAP_DEV=lvsdecap0
RS_COUNT=3

PASS_COUNT=0
FAIL_COUNT=0
SKIP_COUNT=0
FAILED_TESTS=()
E2E_PIDS=()          # every background process this harness started
DIRECTOR_PID=""
DIRECTOR_RULES=""
DIRECTOR_OUT=""
DIRECTOR_ERR=""
DIRECTOR_SEQ=0
DIRECTOR_CMD=""
TOPO_UP=0
E2E_WORK=""

# ---------------------------------------------------------------- results

e2e_log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
pass() { PASS_COUNT=$((PASS_COUNT + 1)); printf 'PASS: %s\n' "$*"; }
fail() { FAIL_COUNT=$((FAIL_COUNT + 1)); FAILED_TESTS+=("$*"); printf 'FAIL: %s\n' "$*"; }
skip() { SKIP_COUNT=$((SKIP_COUNT + 1)); printf 'SKIP: %s\n' "$*"; }

# check DESCRIPTION COMMAND...: PASS if the command succeeds, FAIL otherwise.
check() {
    local desc=$1; shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# e2e_summary: prints the totals and the failed tests; returns 1 if anything failed.
e2e_summary() {
    echo "================================================================"
    printf 'SUMMARY: %d passed, %d failed, %d skipped\n' "$PASS_COUNT" "$FAIL_COUNT" "$SKIP_COUNT"
    local t
    for t in "${FAILED_TESTS[@]+"${FAILED_TESTS[@]}"}"; do printf '  failed: %s\n' "$t"; done
    echo "================================================================"
    [ "$FAIL_COUNT" -eq 0 ]
}

# count_of WORD LIST...: how many times WORD occurs in the list.
count_of() {
    local w=$1 n=0 x; shift
    for x in "$@"; do [ "$x" = "$w" ] && n=$((n + 1)); done
    echo "$n"
}

# ---------------------------------------------------------------- setup / teardown

# e2e_require_root: prints a loud SKIP and exits 0 without root or `ip netns`.
e2e_require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: the namespace end-to-end tests need root (running as uid $(id -u))"
        exit 0
    fi
    if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
        echo "SKIP: 'ip netns' is not available (install iproute2)"
        exit 0
    fi
    local probe="${E2E_PREFIX}probe"
    if ! ip netns add "$probe" 2>/dev/null; then
        echo "SKIP: cannot create network namespaces here"
        exit 0
    fi
    ip netns del "$probe"
}

# e2e_need_tools TOOL...: FAILs and exits 1 when a tool is missing (CI must install it).
e2e_need_tools() {
    local t missing=()
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "ERROR: missing tools: ${missing[*]} (scripts/setup.sh installs them: apt-get install -y iproute2 ethtool nftables socat curl python3 procps iperf3 wrk)" >&2
        exit 1
    fi
}

# e2e_init: work directory and the EXIT/INT/TERM trap that tears everything down.
e2e_init() {
    [ "${E2E_VERBOSE:-0}" = 1 ] && set -x
    E2E_WORK=$(mktemp -d /tmp/lvs-e2e.XXXXXX)
    trap 'e2e_cleanup' EXIT
    trap 'echo "interrupted" >&2; exit 130' INT
    trap 'echo "terminated" >&2; exit 143' TERM
}

e2e_cleanup() {
    local rc=$?
    set +e
    topo_down
    if [ -n "$E2E_WORK" ] && [ -d "$E2E_WORK" ]; then
        if [ "${E2E_KEEP:-0}" = 1 ] || [ "$FAIL_COUNT" -gt 0 ] || [ "$rc" -ne 0 ]; then
            echo "logs kept in $E2E_WORK" >&2
        else
            rm -rf "$E2E_WORK"
        fi
    fi
    exit "$rc"
}

ns() { printf '%s%s\n' "$E2E_PREFIX" "$1"; }
NS_CL=""; NS_LAN=""; NS_DIR=""
nsx() { local n=$1; shift; ip netns exec "$n" "$@"; }
ns_rs() { ns "rs$1"; }

# Offloads. Default (E2E_OFFLOADS=on): every interface keeps the kernel's defaults, as on a
# real host (veths then hand over CHECKSUM_PARTIAL packets and GSO super-frames, and the
# director must cope). E2E_OFFLOADS=off: `ethtool -K ... off` on every link the tests make,
# so the director sees only what a wire would carry.
E2E_OFFLOADS=${E2E_OFFLOADS:-on}
# lvs-afpacket's packet I/O (--io): packet (AF_PACKET) or af_xdp.
E2E_IO=${E2E_IO:-packet}
E2E_XDP_MODE=${E2E_XDP_MODE:-auto}
link_offloads() { # link_offloads NS DEV
    [ "$E2E_OFFLOADS" = off ] || return 0
    ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 ||
        ip netns exec "$1" ethtool -K "$2" tx off tso off gso off >/dev/null 2>&1 || true
}

sysctl_ns() { ip netns exec "$1" sysctl -qw "$2" >/dev/null; }

# veth_to_lan NS PORTNAME MAC [MTU] [BRIDGE] [IFNAME]: veth IFNAME (eth0) in NS, its peer
# PORTNAME in the LAN namespace's bridge BRIDGE (br0).
veth_to_lan() {
    local n=$1 port=$2 mac=$3 mtu=${4:-1500} br=${5:-br0} dev=${6:-eth0}
    ip -n "$n" link add "$dev" mtu "$mtu" address "$mac" type veth peer name "$port" mtu "$mtu" netns "$NS_LAN"
    ip -n "$NS_LAN" link set "$port" master "$br" up
    ip -n "$n" link set "$dev" up
    link_offloads "$n" "$dev"
    link_offloads "$NS_LAN" "$port"
}

# Topology-dependent names and addresses; set by topo_up from the mode and director kind.
GW_C4=""; GW_C6=""; GW_RS4=""; GW_RS6=""
TOPO_MODE=""
DIR_IFACES=()       # lvs-afpacket --iface list
DIR_TAPS=()         # lvs-tap --tap list (persistent TAP devices made by topo_up)
DIR_ADDRS=()        # the director's addresses, passed as --addr only with E2E_FLAG_ADDRS=1
rs_addr4() { if [ "$TOPO_MODE" = nat2 ]; then echo "192.0.2.1$1"; else echo "198.51.100.1$1"; fi; }
rs_addr6() { if [ "$TOPO_MODE" = nat2 ]; then echo "2001:db8:2::1$1"; else echo "2001:db8:5::1$1"; fi; }

# new_ns NAME: a namespace with lo up, no RA, no DAD, ICMP redirects ignored.
new_ns() {
    local n=$1
    ip netns add "$n"
    ip -n "$n" link set lo up
    sysctl_ns "$n" net.ipv6.conf.all.accept_ra=0
    sysctl_ns "$n" net.ipv6.conf.default.accept_ra=0
    sysctl_ns "$n" net.ipv6.conf.default.accept_dad=0
    # Redirects would let a NAT real server bypass the director (IPv6 has no
    # send_redirects switch on a forwarding kernel director): ignore them everywhere.
    sysctl_ns "$n" net.ipv4.conf.all.accept_redirects=0
    sysctl_ns "$n" net.ipv4.conf.default.accept_redirects=0
    sysctl_ns "$n" net.ipv6.conf.all.accept_redirects=0
    sysctl_ns "$n" net.ipv6.conf.default.accept_redirects=0
}

# lan_bridge NAME: a bridge in the LAN namespace without STP (ports forward at once) and
# without multicast snooping (ND multicast always flooded).
lan_bridge() {
    ip -n "$NS_LAN" link add "$1" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    ip -n "$NS_LAN" link set "$1" up
}

# dir_bridge NAME MAC MTU PORT...: a bridge in the director namespace over PORTs.
dir_bridge() {
    local br=$1 mac=$2 mtu=$3 p
    shift 3
    ip -n "$NS_DIR" link add "$br" mtu "$mtu" address "$mac" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    for p in "$@"; do ip -n "$NS_DIR" link set "$p" master "$br"; done
    ip -n "$NS_DIR" link set "$br" up
}

# dir_tap NAME MTU: a persistent TAP device in the director namespace (lvs-tap attaches to
# it), up, with the test's offload setting.
dir_tap() {
    ip -n "$NS_DIR" tuntap add mode tap name "$1"
    ip -n "$NS_DIR" link set "$1" mtu "$2" up
    link_offloads "$NS_DIR" "$1"
    DIR_TAPS+=("$1")
}

# dir_addr DEV CIDR [ip-addr options]: a director address on DEV (IPv6 without DAD).
dir_addr() {
    local dev=$1 cidr=$2
    shift 2
    case $cidr in
        *:*) ip -n "$NS_DIR" addr add "$cidr" dev "$dev" nodad "$@" ;;
        *) ip -n "$NS_DIR" addr add "$cidr" dev "$dev" "$@" ;;
    esac
    DIR_ADDRS+=("$cidr")
}

# director_kernel_quiet: forwarding off and blackhole routes for the VIPs, so that only the
# user-space director moves VIP traffic (see the comment at the top).
director_kernel_quiet() {
    sysctl_ns "$NS_DIR" net.ipv4.ip_forward=0
    sysctl_ns "$NS_DIR" net.ipv6.conf.all.forwarding=0
    sysctl_ns "$NS_DIR" net.ipv4.conf.all.send_redirects=0
    sysctl_ns "$NS_DIR" net.ipv4.conf.default.send_redirects=0
    # The director's kernel also sees every VIP frame. IPv4 without forwarding drops them
    # silently, but IPv6 without a route answers each with ICMPv6 "no route", which kills
    # the client's connect before the real server's SYN-ACK arrives. A blackhole route
    # (not a local address: no ARP/ND answer) makes the kernel drop them silently, v4 too.
    ip -n "$NS_DIR" route add blackhole "$VIP4/32"
    ip -n "$NS_DIR" -6 route add blackhole "$VIP6/128"
}

# director_arp_ignore: the TAP director's addresses are on the kernel's TAP devices; with
# arp_ignore=1 the kernel answers ARP only for addresses on the receiving interface, so it
# stays silent on the bridges and lvs-tap answers for its own addresses.
director_arp_ignore() {
    local d
    for d in all default $(ip -n "$NS_DIR" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//'); do
        sysctl_ns "$NS_DIR" "net.ipv4.conf.$d.arp_ignore=1" 2>/dev/null || true
    done
}

# client_setup CL4 CL4B CL6/PLEN GW4 GW6: the client's addresses, its VIP routes and sysctls.
client_setup() {
    ip -n "$NS_CL" addr add "$1/24" dev eth0
    ip -n "$NS_CL" addr add "$2/24" dev eth0
    ip -n "$NS_CL" addr add "$3/64" dev eth0 nodad
    ip -n "$NS_CL" route add "$VIP4/32" via "$4"
    ip -n "$NS_CL" -6 route add "$VIP6/128" via "$5"
    # DR/TUN replies come from the VIP straight from a real server, whose ARP request
    # carries a 198.51.100.x sender: no reverse-path filtering on the client.
    local i
    for i in all default eth0; do sysctl_ns "$NS_CL" "net.ipv4.conf.$i.rp_filter=0"; done
    # Connection-rate friendliness (see netns-notes.md): no PAWS drops on reused ports.
    sysctl_ns "$NS_CL" net.ipv4.tcp_timestamps=2
    sysctl_ns "$NS_CL" "net.ipv4.ip_local_port_range=1024 65535"
    sysctl_ns "$NS_CL" net.ipv4.tcp_tw_reuse=1
}

# topo_up MODE KIND: MODE nat|dr|tun (one-armed: one LAN) or nat2 (two-armed VS/NAT: client
# network and private server LAN), KIND afpacket|tap|kernel. Builds the namespaces and
# links (no servers, no director).
topo_up() {
    local mode=$1 kind=$2 i n
    TOPO_MODE=$mode
    NS_CL=$(ns cl); NS_LAN=$(ns lan); NS_DIR=$(ns dir)
    DIR_IFACES=(); DIR_TAPS=(); DIR_ADDRS=()
    TOPO_UP=1
    for n in "$NS_LAN" "$NS_CL" "$NS_DIR" $(for i in $(seq 1 "$RS_COUNT"); do ns_rs "$i"; done); do
        new_ns "$n"
    done
    if [ "$mode" = nat2 ]; then topo_nat2 "$kind"; else topo_one_arm "$mode" "$kind"; fi
    director_kernel_quiet
    [ "$kind" = tap ] && director_arp_ignore
    if [ "$mode" = tun ]; then
        for i in $(seq 1 "$RS_COUNT"); do start_decap "$i"; done
    fi
    return 0
}

# The seed's VS/NAT picture: client network 198.51.100.0/24 + 2001:db8:1::/64 (lan br0),
# director eth0 198.51.100.1 / 2001:db8:1::1 and eth1 192.0.2.1 / 2001:db8:2::1, private
# server LAN 192.0.2.0/24 + 2001:db8:2::/64 (lan br1) whose default gateway is the director.
topo_nat2() {
    local kind=$1 i n mtu=${E2E_RS_MTU:-1500}
    CL4=198.51.100.2; CL4B=198.51.100.3; CL6=2001:db8:1::2
    GW_C4=198.51.100.1; GW_C6=2001:db8:1::1; GW_RS4=192.0.2.1; GW_RS6=2001:db8:2::1
    lan_bridge br0
    lan_bridge br1
    veth_to_lan "$NS_CL" cl 02:00:00:00:00:02
    client_setup "$CL4" "$CL4B" "$CL6" "$GW_C4" "$GW_C6"
    veth_to_lan "$NS_DIR" dir0 "$DIR_MAC" 1500 br0 eth0
    veth_to_lan "$NS_DIR" dir1 "$DIR_MAC1" "$mtu" br1 eth1
    if [ "$kind" = tap ]; then
        dir_tap tap0 1500
        dir_tap tap1 "$mtu"
        dir_bridge br0 02:00:00:00:00:03 1500 eth0 tap0
        dir_bridge br1 02:00:00:00:00:13 "$mtu" eth1 tap1
        dir_addr tap0 198.51.100.1/24; dir_addr tap0 2001:db8:1::1/64
        dir_addr tap1 192.0.2.1/24; dir_addr tap1 2001:db8:2::1/64
    else
        DIR_IFACES=(eth0 eth1)
        dir_addr eth0 198.51.100.1/24; dir_addr eth0 2001:db8:1::1/64
        dir_addr eth1 192.0.2.1/24; dir_addr eth1 2001:db8:2::1/64
    fi
    for i in $(seq 1 "$RS_COUNT"); do
        n=$(ns_rs "$i")
        veth_to_lan "$n" "rs$i" "02:00:00:00:01:1$i" "$mtu" br1
        ip -n "$n" addr add "$(rs_addr4 "$i")/24" dev eth0
        ip -n "$n" addr add "$(rs_addr6 "$i")/64" dev eth0 nodad
        ip -n "$n" route add default via "$GW_RS4"
        ip -n "$n" -6 route add default via "$GW_RS6"
    done
}

# One LAN for everything (client 192.0.2.0/24, real servers 198.51.100.0/24 on one bridge).
topo_one_arm() {
    local mode=$1 kind=$2 i n mtu=${E2E_RS_MTU:-1500}
    CL4=192.0.2.2; CL4B=192.0.2.3; CL6=2001:db8:c::2
    if [ "$kind" = tap ]; then
        GW_C4=192.0.2.254; GW_C6=2001:db8:c::fe; GW_RS4=198.51.100.254; GW_RS6=2001:db8:5::fe
    else
        GW_C4=192.0.2.1; GW_C6=2001:db8:c::1; GW_RS4=198.51.100.1; GW_RS6=2001:db8:5::1
    fi
    lan_bridge br0
    veth_to_lan "$NS_CL" cl 02:00:00:00:00:02
    client_setup "$CL4" "$CL4B" "$CL6" "$GW_C4" "$GW_C6"

    # director
    veth_to_lan "$NS_DIR" dir "$DIR_MAC" "$mtu"
    local dirdev=eth0
    if [ "$kind" = tap ]; then
        # The TAP is joined to the LAN by a bridge in the director namespace; the kernel's
        # own addresses live on that bridge, the TAP director's on the TAP device.
        dir_tap "$TAP_DEV" "$mtu"
        dir_bridge br0 02:00:00:00:00:03 "$mtu" eth0 "$TAP_DEV"
        dirdev=br0
    fi
    ip -n "$NS_DIR" addr add 192.0.2.1/24 dev "$dirdev"
    ip -n "$NS_DIR" addr add 198.51.100.1/24 dev "$dirdev"
    ip -n "$NS_DIR" addr add 2001:db8:c::1/64 dev "$dirdev" nodad
    ip -n "$NS_DIR" addr add 2001:db8:5::1/64 dev "$dirdev" nodad
    if [ "$kind" = tap ]; then
        # Same prefixes as br0's: a higher metric keeps the kernel's own traffic (health
        # checks) on br0 while lvs-tap still finds its addresses and on-link routes here.
        local a
        for a in 192.0.2.254/24 198.51.100.254/24 2001:db8:c::fe/64 2001:db8:5::fe/64; do
            dir_addr "$TAP_DEV" "$a" metric 1000
        done
    else
        DIR_IFACES=(eth0)
        DIR_ADDRS=(192.0.2.1/24 198.51.100.1/24 2001:db8:c::1/64 2001:db8:5::1/64)
    fi

    # real servers
    for i in $(seq 1 "$RS_COUNT"); do
        n=$(ns_rs "$i")
        veth_to_lan "$n" "rs$i" "02:00:00:00:01:1$i" "$mtu"
        ip -n "$n" addr add "$(rs_addr4 "$i")/24" dev eth0
        ip -n "$n" addr add "$(rs_addr6 "$i")/64" dev eth0 nodad
        if [ "$mode" = nat ]; then
            # NAT: replies must go back through the director to be un-NATed.
            ip -n "$n" route add default via "$GW_RS4"
            ip -n "$n" -6 route add default via "$GW_RS6"
        else
            # DR/TUN: the VIP on a non-ARPing interface, replies straight to the client.
            ip -n "$n" addr add "$VIP4/32" dev lo
            ip -n "$n" addr add "$VIP6/128" dev lo
            sysctl_ns "$n" net.ipv4.conf.all.arp_ignore=1
            sysctl_ns "$n" net.ipv4.conf.all.arp_announce=2
            sysctl_ns "$n" net.ipv4.conf.eth0.arp_ignore=1
            sysctl_ns "$n" net.ipv4.conf.eth0.arp_announce=2
            for d in all default eth0 lo; do sysctl_ns "$n" "net.ipv4.conf.$d.rp_filter=0"; done
            ip -n "$n" route add 192.0.2.0/24 dev eth0
            ip -n "$n" -6 route add 2001:db8:c::/64 dev eth0
        fi
    done
}

# start_decap I: lvs-ipip-decap on rsI, its TUN device up with rp_filter 0.
start_decap() {
    local i=$1 n t
    n=$(ns_rs "$i")
    if [ ! -x "$LVS_BIN/lvs-ipip-decap" ]; then
        echo "WARNING: $LVS_BIN/lvs-ipip-decap missing: TUN real servers cannot decapsulate" >&2
        return 0
    fi
    ip netns exec "$n" "$LVS_BIN/lvs-ipip-decap" --iface eth0 --tun "$DECAP_DEV" \
        >"$E2E_WORK/decap-rs$i.log" 2>&1 &
    E2E_PIDS+=("$!")
    for t in $(seq 1 50); do
        ip -n "$n" link show "$DECAP_DEV" >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! ip -n "$n" link show "$DECAP_DEV" >/dev/null 2>&1; then
        echo "WARNING: rs$i: $DECAP_DEV did not appear (see $E2E_WORK/decap-rs$i.log)" >&2
        return 0
    fi
    ip -n "$n" link set "$DECAP_DEV" up
    sysctl_ns "$n" "net.ipv4.conf.$DECAP_DEV.rp_filter=0"
}

# kill_pid PID: TERM, then KILL after 2 s. Only for processes this harness started.
kill_pid() {
    local p=$1 t
    kill -0 "$p" 2>/dev/null || return 0
    kill -TERM "$p" 2>/dev/null || true
    for t in $(seq 1 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

# topo_down: stops every process started here and deletes this run's namespaces.
topo_down() {
    local p n
    [ -n "$DIRECTOR_PID" ] && stop_director
    for p in "${E2E_PIDS[@]+"${E2E_PIDS[@]}"}"; do kill_pid "$p"; done
    E2E_PIDS=()
    [ "$TOPO_UP" = 1 ] || return 0
    for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -F -- "$E2E_PREFIX" || true); do
        case $n in "$E2E_PREFIX"*) ;; *) continue ;; esac
        # Anything still inside one of our namespaces was started by this run.
        for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del "$n" 2>/dev/null || true
    done
    TOPO_UP=0
}

# ---------------------------------------------------------------- real servers

# Ports the real servers listen on: NAT maps VIP:80/81/53 to 8080/8081/5353;
# DR and TUN cannot change the port, so they listen on 80/81/53.
rs_port() { # rs_port MODE http|sink|udp
    case "$1:$2" in
        nat*:http) echo 8080 ;; nat*:sink) echo 8081 ;; nat*:udp) echo 5353 ;;
        *:http) echo 80 ;; *:sink) echo 81 ;; *:udp) echo 53 ;;
    esac
}

RS_HTTP_PID=()

wait_file() { # wait_file FILE TENTHS
    local t
    for t in $(seq 1 "$2"); do [ -s "$1" ] && return 0; sleep 0.1; done
    return 1
}

# start_rs_http I: (re)starts rsI's HTTP server (dual-stack, answers "rsI", serves
# $E2E_WORK/files under /files/).
start_rs_http() {
    local i=$1 ready="$E2E_WORK/rs$1/http.ready"
    rm -f "$ready"
    ip netns exec "$(ns_rs "$i")" "$E2E_PY" "$E2E_LIB_DIR/e2e.py" http \
        --port "$(rs_port "$TOPO_MODE" http)" --name "rs$i" --files "$E2E_WORK/files" --ready "$ready" \
        >>"$E2E_WORK/rs$i/http.log" 2>&1 &
    RS_HTTP_PID[i]=$!
    E2E_PIDS+=("$!")
    wait_file "$ready" 50 || { echo "rs$i http server did not start" >&2; return 1; }
}

# stop_rs_http I: kills rsI's HTTP server (its port then answers RST).
stop_rs_http() {
    [ -n "${RS_HTTP_PID[$1]:-}" ] && kill_pid "${RS_HTTP_PID[$1]}"
    RS_HTTP_PID[$1]=""
}

# start_real_servers: HTTP, TCP sink and UDP echo on every real server.
start_real_servers() {
    local i n
    mkdir -p "$E2E_WORK/files"
    for i in $(seq 1 "$RS_COUNT"); do
        n=$(ns_rs "$i")
        mkdir -p "$E2E_WORK/rs$i/sink"
        start_rs_http "$i"
        ip netns exec "$n" "$E2E_PY" "$E2E_LIB_DIR/e2e.py" sink --port "$(rs_port "$TOPO_MODE" sink)" \
            --dir "$E2E_WORK/rs$i/sink" --ready "$E2E_WORK/rs$i/sink.ready" >"$E2E_WORK/rs$i/sink.log" 2>&1 &
        E2E_PIDS+=("$!")
        ip netns exec "$n" "$E2E_PY" "$E2E_LIB_DIR/e2e.py" udp --port "$(rs_port "$TOPO_MODE" udp)" \
            --name "rs$i" --ready "$E2E_WORK/rs$i/udp.ready" >"$E2E_WORK/rs$i/udp.log" 2>&1 &
        E2E_PIDS+=("$!")
    done
    for i in $(seq 1 "$RS_COUNT"); do
        if ! wait_file "$E2E_WORK/rs$i/sink.ready" 50 || ! wait_file "$E2E_WORK/rs$i/udp.ready" 50; then
            echo "rs$i servers did not start" >&2
            return 1
        fi
    done
}

# ---------------------------------------------------------------- rules files

# write_rules MODE SET FILE: writes an `ipvsadm -S -n` rules file.
#   single   VIP:80 (HTTP) and VIP:81 (sink), v4 and v6, rs1 only   -- test (a)
#   multi    VIP:80, VIP:81 tcp and VIP:53 udp, v4 and v6, rs1..3 rr -- (b) (c) (d)
#   check    VIP:80 v4 and v6, rs1..3 rr (for health checks)          -- (e)
#   wrr1     VIP:80 v4 wrr rs1 w1, rs2 w1                             -- (f) before
#   wrr2     VIP:80 v4 wrr rs1 w3, rs2 w1, rs3 w1                     -- (f) after SIGHUP
#   persist  VIP:80 v4 rr -p 300, rs1..3                              -- (g)
#   bench    VIP:80 rr rs1..3 (HTTP), VIP:5201 tcp+udp rs1 only (iperf3)
write_rules() {
    local mode=$1 set=$2 file=$3 fwd hp sp up
    case $mode in nat|nat2) fwd=-m ;; dr) fwd=-g ;; tun) fwd=-i ;; *) echo "bad mode $mode" >&2; return 1 ;; esac
    hp=$(rs_port "$mode" http); sp=$(rs_port "$mode" sink); up=$(rs_port "$mode" udp)
    svc() { # svc -t|-u VIPPORT RSPORT SCHED "WEIGHTS" [extra]
        local proto=$1 vp=$2 rp=$3 sched=$4 weights=$5 extra=${6:-} fam vaddr raddr i=0 w
        for fam in 4 6; do
            [ "$fam" = 6 ] && [ "${ONLY4:-0}" = 1 ] && continue
            if [ "$fam" = 4 ]; then vaddr="$VIP4:$vp"; else vaddr="[$VIP6]:$vp"; fi
            echo "-A $proto $vaddr -s $sched$extra"
            i=0
            for w in $weights; do
                i=$((i + 1))
                [ "$w" = - ] && continue
                if [ "$fam" = 4 ]; then raddr="$(rs_addr4 "$i"):$rp"; else raddr="[$(rs_addr6 "$i")]:$rp"; fi
                echo "-a $proto $vaddr -r $raddr $fwd -w $w"
            done
        done
    }
    {
        echo "# lvs-rs e2e rules: mode=$mode set=$set"
        case $set in
            single) svc -t 80 "$hp" rr "1"; svc -t 81 "$sp" rr "1" ;;
            multi) svc -t 80 "$hp" rr "1 1 1"; svc -t 81 "$sp" rr "1 1 1"; svc -u 53 "$up" rr "1 1 1" ;;
            check) svc -t 80 "$hp" rr "1 1 1" ;;
            wrr1) ONLY4=1 svc -t 80 "$hp" wrr "1 1 -" ;;
            wrr2) ONLY4=1 svc -t 80 "$hp" wrr "3 1 1" ;;
            persist) ONLY4=1 svc -t 80 "$hp" rr "1 1 1" " -p 300" ;;
            bench) ONLY4=1 svc -t 80 "$hp" rr "1 1 1"
                   ONLY4=1 svc -t 5201 5201 rr "1"; ONLY4=1 svc -u 5201 5201 rr "1" ;;
            *) echo "bad rules set $set" >&2; return 1 ;;
        esac
    } >"$file"
}

# ---------------------------------------------------------------- directors

# rules_flag FILE: how a director is given FILE: a keepalived.conf (named *.keepalived.conf)
# with --keepalived-conf, anything else with --rules.
rules_flag() { case $1 in *.keepalived.conf) echo --keepalived-conf ;; *) echo --rules ;; esac; }

director_bin() { case $1 in afpacket) echo "$LVS_BIN/lvs-afpacket" ;; tap) echo "$LVS_BIN/lvs-tap" ;; esac; }

# director_available KIND: true if KIND can run here (binary present, or kernel).
director_available() {
    [ "$1" = kernel ] && return 0
    [ -x "$(director_bin "$1")" ]
}

# start_director KIND MODE RULES_FILE [EXTRA_ARGS...]: starts the director in the director
# namespace and waits (<= 10 s) until HTTP through VIP:80 answers. Returns 1 if it does not.
# KIND afpacket|tap|kernel (kernel = nftables DNAT stand-in, NAT only). EXTRA_ARGS (e.g.
# health-check flags) go to the binary; the kernel director ignores them.
start_director() {
    local kind=$1 mode=$2 rules=$3 i
    shift 3
    DIRECTOR_RULES=$rules
    DIRECTOR_SEQ=$((DIRECTOR_SEQ + 1))
    DIRECTOR_OUT="$E2E_WORK/director-$DIRECTOR_SEQ.out"
    DIRECTOR_ERR="$E2E_WORK/director-$DIRECTOR_SEQ.err"
    : >"$DIRECTOR_OUT"; : >"$DIRECTOR_ERR"
    cp "$rules" "$E2E_WORK/director-$DIRECTOR_SEQ.rules"
    local neigh=() flags=() a d cmd=()
    if [ "${E2E_STATIC_NEIGH:-0}" = 1 ]; then
        for i in $(seq 1 "$RS_COUNT"); do
            neigh+=(--neighbor "$(rs_addr4 "$i")=02:00:00:00:01:1$i" --neighbor "$(rs_addr6 "$i")=02:00:00:00:01:1$i")
        done
    fi
    # Learned addressing by default: the director reads its addresses, routes and neighbours
    # from the kernel (rtnetlink). E2E_FLAG_ADDRS=1 passes them as --addr flags instead.
    if [ "${E2E_FLAG_ADDRS:-0}" = 1 ]; then
        for a in "${DIR_ADDRS[@]}"; do flags+=(--addr "$a"); done
    fi
    case $kind in
        afpacket)
            cmd=("$(director_bin afpacket)" "$(rules_flag "$rules")" "$rules")
            for d in "${DIR_IFACES[@]}"; do cmd+=(--iface "$d"); done
            # AF_XDP (E2E_IO=af_xdp): the same binary with --io af_xdp.
            [ "$E2E_IO" = af_xdp ] && cmd+=(--io af_xdp --xdp-mode "$E2E_XDP_MODE")
            ;;
        tap)
            cmd=("$(director_bin tap)" "$(rules_flag "$rules")" "$rules")
            for d in "${DIR_TAPS[@]}"; do cmd+=(--tap "$d"); done
            cmd+=(--mac "$TAP_MAC")
            ;;
    esac
    # Each director its own control socket (the default under /run is shared by every
    # namespace of the host, and a live socket is not replaced).
    DIRECTOR_CONTROL="$E2E_WORK/control-$DIRECTOR_SEQ.sock"
    case $kind in
        afpacket|tap)
            cmd+=(--control "$DIRECTOR_CONTROL" "${flags[@]+"${flags[@]}"}" "${neigh[@]+"${neigh[@]}"}" "$@")
            DIRECTOR_CMD="${cmd[*]}"
            printf '%s\n' "$DIRECTOR_CMD" >"$E2E_WORK/director-$DIRECTOR_SEQ.cmd"
            ip netns exec "$NS_DIR" "${cmd[@]}" >"$DIRECTOR_OUT" 2>"$DIRECTOR_ERR" &
            DIRECTOR_PID=$!
            ;;
        kernel)
            case $mode in nat|nat2) ;; *) echo "the kernel stand-in director does NAT only" >&2; return 1 ;; esac
            DIRECTOR_CMD="nftables DNAT (nft_director.py $rules), forwarding on"
            sysctl_ns "$NS_DIR" net.ipv4.ip_forward=1
            sysctl_ns "$NS_DIR" net.ipv6.conf.all.forwarding=1
            "$E2E_PY" "$E2E_LIB_DIR/nft_director.py" "$rules" >"$E2E_WORK/director-$DIRECTOR_SEQ.nft"
            ip netns exec "$NS_DIR" nft -f "$E2E_WORK/director-$DIRECTOR_SEQ.nft" 2>"$DIRECTOR_ERR" ||
                { cat "$DIRECTOR_ERR" >&2; return 1; }
            DIRECTOR_PID=kernel
            ;;
        *) echo "unknown director kind $kind" >&2; return 1 ;;
    esac
    # At most 40 tries and 10 s (each try is bounded by curl's 1 s).
    local end=$((SECONDS + 10))
    for i in $(seq 1 40); do
        [ "$SECONDS" -lt "$end" ] || break
        if [ "$kind" != kernel ] && ! kill -0 "$DIRECTOR_PID" 2>/dev/null; then
            echo "director $kind exited at start; stderr:" >&2; tail -n 20 "$DIRECTOR_ERR" >&2
            DIRECTOR_PID=""; return 1
        fi
        if http_get "http://$VIP4/" --max-time 1 >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    echo "director $kind: no HTTP answer through $VIP4:80 within 10 s; stderr tail:" >&2
    tail -n 20 "$DIRECTOR_ERR" >&2
    return 1
}

# kernel_dr_nft RULES_FILE DEV: an nftables netdev ruleset (stdout) that does the kernel's
# stateless VS/DR on DEV's ingress: for each DR (-g) service a rule that rewrites the
# destination MAC to a real server's (the source MAC to DEV's) and sends the frame back out
# of DEV with `fwd`. The choice is `jhash` over source address and port modulo the number of
# real servers (weights as repeats), so every packet of a flow goes to the same server
# (numgen would scatter one TCP connection's segments). Real server I's MAC is the
# topology's 02:00:00:00:01:1I. Used by scripts/bench-netns.sh as the kernel peer for DR.
kernel_dr_nft() {
    local rules=$1 dev=$2 dmac i
    dmac=$(ip -n "$NS_DIR" -o link show "$dev" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    local macmap=""
    for i in $(seq 1 "$RS_COUNT"); do
        macmap+="$(rs_addr4 "$i")=02:00:00:00:01:1$i $(rs_addr6 "$i")=02:00:00:00:01:1$i "
    done
    awk -v dev="$dev" -v dmac="$dmac" -v macmap="$macmap" -v table=lvse2edr '
        function hostport(s, r) {
            if (s ~ /^\[/) { sub(/^\[/, "", s); split(s, r, "]:"); fam = 6 }
            else { n = split(s, r, ":"); fam = 4 }
            host = r[1]; port = r[2]
        }
        function emit(k,   f, l4, sa, da, m, j, n, list) {
            n = cnt[k]; if (n == 0) return
            split(k, f, SUBSEP); l4 = f[1]
            da = (f[4] == 6 ? "ip6 daddr " : "ip daddr ") f[2]
            sa = (f[4] == 6 ? "ip6 saddr" : "ip saddr")
            if (n == 1) m = macs[k, 0]
            else {
                list = ""
                for (j = 0; j < n; j++) list = list (j ? ", " : "") j " : " macs[k, j]
                m = "jhash " sa " . " l4 " sport mod " n " map { " list " }"
            }
            printf "    %s %s dport %s ether saddr set %s ether daddr set %s fwd to \"%s\"\n", da, l4, f[3], dmac, m, dev
        }
        BEGIN {
            nm = split(macmap, mm, " ")
            for (j = 1; j <= nm; j++) { split(mm[j], kv, "="); mac[kv[1]] = kv[2] }
            printf "table netdev %s {\n  chain ingress {\n    type filter hook ingress device \"%s\" priority 0;\n", table, dev
        }
        $1 == "-A" || $1 == "-a" {
            proto = ""; w = 1; rs = ""; fwd = ""
            for (j = 2; j <= NF; j++) {
                if ($j == "-t" || $j == "-u") { proto = ($j == "-t" ? "tcp" : "udp"); hostport($(j + 1)); key = proto SUBSEP host SUBSEP port SUBSEP fam }
                else if ($j == "-r") { rs = $(j + 1) }
                else if ($j == "-w") { w = $(j + 1) }
                else if ($j == "-g" || $j == "-m" || $j == "-i") { fwd = $j }
            }
            if ($1 == "-A") { order[++ns] = key; cnt[key] = 0; next }
            if (fwd != "-g") { print "kernel_dr_nft: only DR (-g) real servers" > "/dev/stderr"; bad = 1; exit 1 }
            hostport(rs)
            if (!(host in mac)) { print "kernel_dr_nft: no MAC for " host > "/dev/stderr"; bad = 1; exit 1 }
            for (; w > 0; w--) macs[key, cnt[key]++] = mac[host]
        }
        END {
            if (bad) exit 1
            for (j = 1; j <= ns; j++) emit(order[j])
            print "  }\n}"
        }' "$rules"
}

# start_kernel_dr RULES_FILE: the kernel peer for DR (one-armed topologies, kind afpacket):
# loads kernel_dr_nft on the director's eth0 (forwarding stays off: netdev `fwd` bypasses
# the IP stack) and waits (<= 10 s) until HTTP through VIP:80 answers. stop_director
# removes it. Not used by the e2e tests.
start_kernel_dr() {
    local rules=$1 i
    DIRECTOR_RULES=$rules
    DIRECTOR_SEQ=$((DIRECTOR_SEQ + 1))
    DIRECTOR_OUT="$E2E_WORK/director-$DIRECTOR_SEQ.out"
    DIRECTOR_ERR="$E2E_WORK/director-$DIRECTOR_SEQ.err"
    : >"$DIRECTOR_OUT"; : >"$DIRECTOR_ERR"
    kernel_dr_nft "$rules" eth0 >"$E2E_WORK/director-$DIRECTOR_SEQ.nft" 2>"$DIRECTOR_ERR" ||
        { cat "$DIRECTOR_ERR" >&2; return 1; }
    ip netns exec "$NS_DIR" nft -f "$E2E_WORK/director-$DIRECTOR_SEQ.nft" 2>"$DIRECTOR_ERR" ||
        { cat "$DIRECTOR_ERR" >&2; return 1; }
    DIRECTOR_CMD="nftables netdev ingress fwd on eth0 (kernel_dr_nft $rules)"
    DIRECTOR_PID=kernel
    local end=$((SECONDS + 10))
    for i in $(seq 1 40); do
        [ "$SECONDS" -lt "$end" ] || break
        if http_get "http://$VIP4/" --max-time 1 >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    echo "kernel DR: no HTTP answer through $VIP4:80 within 10 s" >&2
    return 1
}

# stop_director: SIGTERM (then SIGKILL) the director; for kernel, remove the nft table.
stop_director() {
    case $DIRECTOR_PID in
        "") return 0 ;;
        kernel)
            ip netns exec "$NS_DIR" nft delete table inet lvse2e 2>/dev/null || true
            ip netns exec "$NS_DIR" nft delete table netdev lvse2edr 2>/dev/null || true
            sysctl_ns "$NS_DIR" net.ipv4.ip_forward=0 2>/dev/null || true
            sysctl_ns "$NS_DIR" net.ipv6.conf.all.forwarding=0 2>/dev/null || true
            ;;
        *) kill_pid "$DIRECTOR_PID" ;;
    esac
    DIRECTOR_PID=""
}

# director_alive: true while the director runs.
director_alive() {
    [ "$DIRECTOR_PID" = kernel ] && return 0
    [ -n "$DIRECTOR_PID" ] && kill -0 "$DIRECTOR_PID" 2>/dev/null
}

# reload_director NEW_RULES_FILE: copies the rules over the running director's file and
# sends SIGHUP (kernel: replaces the nft table in one transaction; conntrack survives).
reload_director() {
    cp "$1" "$DIRECTOR_RULES"
    if [ "$DIRECTOR_PID" = kernel ]; then
        "$E2E_PY" "$E2E_LIB_DIR/nft_director.py" "$DIRECTOR_RULES" >"$E2E_WORK/director-reload.nft"
        ip netns exec "$NS_DIR" nft -f "$E2E_WORK/director-reload.nft"
    else
        kill -HUP "$DIRECTOR_PID"
    fi
}

# director_listing: SIGUSR1 and print what the director wrote to stdout in answer
# (the `ipvsadm -Ln --stats` listing). kernel: the nft table and conntrack count.
director_listing() {
    if [ "$DIRECTOR_PID" = kernel ]; then
        ip netns exec "$NS_DIR" nft list table inet lvse2e
        printf 'conntrack entries: %s\n' "$(ip netns exec "$NS_DIR" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo '?')"
        return 0
    fi
    local before after t
    before=$(wc -c <"$DIRECTOR_OUT")
    kill -USR1 "$DIRECTOR_PID" || return 1
    for t in $(seq 1 20); do
        sleep 0.1
        after=$(wc -c <"$DIRECTOR_OUT")
        [ "$after" -gt "$before" ] && break
    done
    sleep 0.2
    tail -c +"$((before + 1))" "$DIRECTOR_OUT"
}

# ---------------------------------------------------------------- client helpers

# http_get URL [CURL_ARGS...]: one HTTP request from the client (bounded: 8 s).
http_get() {
    local url=$1; shift
    timeout 8 ip netns exec "$NS_CL" curl -sS -g --connect-timeout 3 --max-time 5 "$@" "$url"
}

# http_names N URL [CURL_ARGS...]: N new connections; prints the answering server of each
# ("ERR" for a failed request) on one line.
http_names() {
    local n=$1 url=$2 i out res=()
    shift 2
    for i in $(seq 1 "$n"); do
        if out=$(http_get "$url" "$@" 2>/dev/null) && [ -n "$out" ]; then res+=("$out"); else res+=(ERR); fi
    done
    echo "${res[*]}"
}

# udp_ask ADDR PORT MSG [SOURCE]: one datagram from the client on a connected socket;
# prints the answer (only ADDR:PORT can answer it). Bounded: 5 s.
udp_ask() {
    local src=()
    [ -n "${4:-}" ] && src=(--source "$4")
    timeout 5 ip netns exec "$NS_CL" "$E2E_PY" "$E2E_LIB_DIR/e2e.py" udpq --addr "$1" --port "$2" \
        --msg "$3" --timeout 3 "${src[@]+"${src[@]}"}"
}

# sink_clear: empties every real server's sink directory.
sink_clear() { local i; for i in $(seq 1 "$RS_COUNT"); do rm -f "$E2E_WORK/rs$i/sink/"*; done; }

# sink_send FILE HOST [PORT]: sends FILE to HOST:PORT (default 81) with socat (bounded: 30 s).
sink_send() {
    local f=$1 host=$2 port=${3:-81} addr
    case $host in *:*) addr="TCP6:[$host]:$port" ;; *) addr="TCP4:$host:$port" ;; esac
    timeout 30 ip netns exec "$NS_CL" socat -u "OPEN:$f,rdonly" "$addr" 2>"$E2E_WORK/sink_send.err"
}

# sink_wait TENTHS: waits for one completed connection in any sink; prints its path.
sink_wait() {
    local t f
    for t in $(seq 1 "$1"); do
        for f in "$E2E_WORK"/rs*/sink/*.bin; do
            [ -e "$f" ] && { echo "$f"; return 0; }
        done
        sleep 0.1
    done
    return 1
}
