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
echo "== build the binaries the end-to-end tests drive"
cargo build --locked --workspace --bins
echo "== cargo test"
cargo test --locked --workspace --all-targets
cargo test --locked --workspace --doc
