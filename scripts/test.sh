#!/usr/bin/env bash
# The one command that runs everything CI runs (README "Tests").
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "no_std proof: library crates for thumbv7em-none-eabihf"
cargo build -p lvs-core -p lvs-schedulers -p lvs-forwarding --target thumbv7em-none-eabihf --no-default-features

step "cargo test --workspace"
cargo test --workspace

step "fuzz corpus replay"
cargo test --manifest-path fuzz/Cargo.toml --tests

if [ -x tests/e2e/run.sh ]; then
  step "end-to-end tests in network namespaces"
  tests/e2e/run.sh
fi
echo
echo "all checks passed"
