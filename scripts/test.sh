#!/usr/bin/env bash
# The one command that runs everything CI runs (README "Tests"). On a fresh Debian machine
# with only the Rust toolchain it first installs what it needs (scripts/setup.sh: apt
# packages as root, the no_std target, rustfmt and clippy) and says what it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "set-up (scripts/setup.sh test: installs only what is missing)"
scripts/setup.sh test

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

step "no_std proof: library crates for thumbv7em-none-eabihf"
cargo build -p lvs-core -p lvs-schedulers -p lvs-forwarding --target thumbv7em-none-eabihf --no-default-features

step "cargo test --workspace"
cargo test --workspace

step "fuzz corpus replay (stable: every seed and every crash ever found)"
cargo test --manifest-path fuzz/Cargo.toml --tests

step "end-to-end tests in network namespaces (real kernels; skips loudly without root)"
cargo build --release -p lvs-examples
tests/e2e/run.sh
echo
echo "all checks passed"
