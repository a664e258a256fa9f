#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace.
# Installs missing system prerequisites first. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== build every target, including the binaries the end-to-end tests drive"
# One feature resolution for clippy, build and test (all with --all-targets),
# so RocksDB is compiled once, not once per feature set.
cargo build --locked --workspace --all-targets
echo "== cargo test"
cargo test --locked --workspace --all-targets
cargo test --locked --workspace --doc
