#!/usr/bin/env bash
# Instructions per packet of Director::process, counted by callgrind
# (deterministic, unlike wall time on a shared machine). For each scenario
# it runs N and 2N packets and prints (I(2N) - I(N)) / N.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}
cargo build --release -q -p lvs-benches --example instr
bin=target/release/examples/instr
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-14s %s\n' scenario instructions/packet
for s in ${SCENARIOS:-nat_v4 nat_v6 tun_v4 tun_v6 dr_v4 dr_v6 nat_v4_batch dr_v4_batch syn_v4 syn_v6}; do
  a=$(count "$s" "$N")
  b=$(count "$s" $((2 * N)))
  printf '%-14s %s\n' "$s" $(( (b - a) / N ))
done
