#!/usr/bin/env bash
# The whole test suite: the architecture rules, formatting, lints, and every
# test of the workspace. Installs missing system prerequisites first.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
started=$SECONDS
# Prints a step's title with the minutes and seconds since the start.
section() {
  local t=$((SECONDS - started))
  printf '== [%d:%02d] %s\n' $((t / 60)) $((t % 60)) "$1"
}

section "architecture (scripts/check-architecture.py: module cycles, where axum and rocksdb may be named, pure crates)"
python3 scripts/check-architecture.py --self-test
python3 scripts/check-architecture.py
section "cargo fmt --check"
cargo fmt --all --check
# RocksDB's C++ is compiled once for all the cargo steps below (one
# librocksdb-sys `out` directory). They resolve features the same way: every
# step selects --workspace (and filters tests by name), never -p, because
# `-p log-server --lib` resolves features for that package alone and hashes
# the build script differently (a second 10-minute compile on a fresh
# clone). Check with --message-format=json: every step's
# build-script-executed message for librocksdb-sys names one out_dir.
#
# Clippy runs inside the build rather than as a step of its own: `cargo
# clippy` is `cargo check` with clippy-driver wrapping rustc for the
# workspace's own crates, and a check compiles every dependency a second
# time in check mode (about 4 minutes on two cores from a fresh clone). Here
# the build wraps rustc the same way (RUSTC_WORKSPACE_WRAPPER, CLIPPY_ARGS
# as cargo-clippy sets them), so the workspace's crates are linted with
# `-D warnings` while they are compiled and the dependencies are compiled
# once. The same lints as `cargo clippy --workspace --all-targets -- -D
# warnings`, which remains the command to run by hand. Exported, so every
# cargo step below (and scripts/test-services.sh) fingerprints the
# workspace's crates the same way and reuses this build.
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver || true)"
if [ -z "$RUSTC_WORKSPACE_WRAPPER" ]; then
  echo "stateanchor: clippy-driver not found; install it with: rustup component add clippy" >&2
  exit 2
fi
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
section "build every target with clippy's lints (-D warnings), including the binaries the end-to-end tests drive"
cargo build --locked --workspace --all-targets
# npm's axe-core, which the browser tests run on every page (tests/node).
if [ ! -f tests/node/node_modules/axe-core/axe.min.js ]; then
  command -v npm >/dev/null 2>&1 || {
    echo "stateanchor: installing nodejs and npm (the browser tests run npm's axe-core)" >&2
    sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq nodejs npm >/dev/null
  }
  npm ci --prefix tests/node --silent --no-audit --no-fund
fi
section "cargo test"
cargo test --locked --workspace --all-targets
cargo test --locked --workspace --doc
section "the PostgreSQL + object storage mode on real services (PostgreSQL, moto): the storage contract, its own tests (backup, restore, rollback, the earlier schema formats, sign-in across frontends), failover under load, then the end-to-end suite in that mode"
scripts/test-services.sh cargo test --locked --workspace --lib storage::contract
scripts/test-services.sh cargo test --locked --workspace --test cluster --test cluster_compliance --test pg_restore
scripts/test-services.sh cargo test --locked --workspace --test witnessing -- both_frontends
section "failover under load: 25 rounds of SIGKILL/SIGSTOP of the integrator or a frontend and PostgreSQL crashes (about a minute)"
scripts/test-services.sh cargo test --locked --workspace --test cluster_failover -- --nocapture
# Every suite that drives the real server, again in the PostgreSQL mode
# (server_crash is the RocksDB mode's crash test; cluster_failover is this
# mode's).
STATEANCHOR_TEST_BACKEND=cluster scripts/test-services.sh \
  cargo test --locked --workspace --test server_e2e --test compliance_lifecycle --test publish_server \
    --test gate_server --test monitoring --test verify_server --test cockpit_browser
section "fuzz smoke: every cargo-fuzz target for 10 s from its seeds (fuzz/seeds/), two at a time"
FUZZ_SECONDS="${FUZZ_SECONDS:-10}" FUZZ_PARALLEL="${FUZZ_PARALLEL:-2}" scripts/fuzz-smoke.sh
section "all passed"
