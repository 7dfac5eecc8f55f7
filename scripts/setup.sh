#!/usr/bin/env bash
# Fresh-machine set-up shared by scripts/test.sh and scripts/demo.sh (README "The two commands").
#
#   scripts/setup.sh test   # apt packages + thumbv7em-none-eabihf target + rustfmt, clippy
#   scripts/setup.sh demo   # apt packages only
#
# Idempotent, and a fast no-op when everything is present (one dpkg-query call, one rustup
# call each for targets and components). It installs what is missing and says what:
#   - Debian packages with apt-get, as root only. Without root (or without apt-get) it
#     prints what is missing and which steps will be skipped or fail.
#   - the no_std target and the rustfmt/clippy components with rustup (no root needed).
# LVS_SETUP=0 skips all of it (for machines set up by other means).
# Exit: 0 always when only optional things are missing; 1 if a required Rust part could not
# be installed for `test` (the test command would fail on it anyway).
set -euo pipefail

what=${1:-test}
case $what in test|demo) ;; *) echo "usage: $0 [test|demo]" >&2; exit 2 ;; esac
[ "${LVS_SETUP:-1}" = 0 ] && exit 0

# What the namespace tests, the demo and scripts/bench-netns.sh run: ip (iproute2), ethtool,
# nft (nftables: the kernel stand-in director), socat and curl (clients), python3 (servers),
# sysctl (procps), iperf3, wrk, gcc + libc6-dev (benchmark HTTP server), tcpdump (the offline
# demo shows its output), prometheus (examples/tests/metrics_prometheus.rs scrapes /metrics).
APT_PKGS=(iproute2 ethtool nftables socat curl python3 procps iperf3 wrk gcc libc6-dev tcpdump prometheus)
NOSTD_TARGET=thumbv7em-none-eabihf
COMPONENTS=(rustfmt clippy)

say() { printf 'setup: %s\n' "$*"; }

# ---------------------------------------------------------------- Debian packages
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${APT_PKGS[@]}" 2>/dev/null || true)
    for p in "${APT_PKGS[@]}"; do
        printf '%s\n' "$installed" | grep -q "^$p ii" || missing+=("$p")
    done
else
    # Not Debian: check the commands instead and leave installing to the user.
    for c in ip ethtool nft socat curl python3 sysctl iperf3 wrk gcc tcpdump prometheus; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
fi

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
        say "installing Debian packages: ${missing[*]} (apt-get install)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || say "warning: apt-get update failed"
        if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
            say "WARNING: apt-get install failed for some of: ${missing[*]}"
            say "         the namespace end-to-end tests / live demo will report the missing tools"
        fi
    else
        say "missing: ${missing[*]}"
        if [ "$(id -u)" -ne 0 ]; then
            say "not root, so not installing them (as root: apt-get install -y ${missing[*]})"
            say "skipped without root anyway: the namespace end-to-end tests (they print SKIP) and the"
            say "live demo (scripts/demo.sh runs the offline pcap demo instead)"
        else
            say "no apt-get here: install them with the system's package manager"
        fi
    fi
fi

[ "$what" = demo ] && exit 0

# ---------------------------------------------------------------- Rust target and components
rc=0
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed 2>/dev/null | grep -qx "$NOSTD_TARGET"; then
        say "installing the no_std target: rustup target add $NOSTD_TARGET"
        rustup target add "$NOSTD_TARGET" || { say "ERROR: rustup target add $NOSTD_TARGET failed (the no_std step will fail)"; rc=1; }
    fi
    have=$(rustup component list --installed 2>/dev/null || true)
    need=()
    for c in "${COMPONENTS[@]}"; do printf '%s\n' "$have" | grep -q "^$c" || need+=("$c"); done
    if [ "${#need[@]}" -gt 0 ]; then
        say "installing Rust components: rustup component add ${need[*]}"
        rustup component add "${need[@]}" || { say "ERROR: rustup component add ${need[*]} failed"; rc=1; }
    fi
else
    say "no rustup: cannot add $NOSTD_TARGET / ${COMPONENTS[*]}; checking they are there anyway"
    cargo fmt --version >/dev/null 2>&1 || { say "ERROR: cargo fmt is missing"; rc=1; }
    cargo clippy --version >/dev/null 2>&1 || { say "ERROR: cargo clippy is missing"; rc=1; }
fi
exit "$rc"
