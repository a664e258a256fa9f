#!/usr/bin/env bash
# One command for the PostgreSQL + object storage mode (issue 13): starts
# PostgreSQL and an S3 server (moto) with scripts/test-services.sh (installed
# if missing), creates a database, and runs two frontends of one log on them
# (each also an integrator candidate), until Ctrl-C. Prints their URLs.
#
# Usage: scripts/run-cluster.sh [PORT_A [PORT_B]]    (default 8080 8081)
# RUN_CLUSTER_DIR=dir keeps the two data directories there (default: a
# temporary directory, removed at the end; the services are always temporary).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${STATEANCHOR_TEST_DATABASE:-}" ]; then
  exec scripts/test-services.sh "$0" "$@"
fi
port_a="${1:-8080}"; port_b="${2:-8081}"
# Release builds outside the clone, shared with the benchmark scripts.
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}"
cargo build --locked --release -p log-server --bin stateanchor-log >&2
bin="$CARGO_TARGET_DIR/release/stateanchor-log"
tmp=$(mktemp -d)
dir="${RUN_CLUSTER_DIR:-$tmp}"
mkdir -p "$dir/a" "$dir/b"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
db_name=salog
psql "$STATEANCHOR_TEST_DATABASE" -qc "CREATE DATABASE $db_name"
# The frontends reach PostgreSQL over TLS, verified against the CA that
# scripts/test-services.sh made for this run.
base=${STATEANCHOR_TEST_DATABASE%%\?*}
db="${base%/*}/$db_name?sslmode=require"
objects="s3://$STATEANCHOR_TEST_BUCKET/log"
start() { # name port
  "$bin" serve --data-dir "$dir/$1" --listen "127.0.0.1:$2" \
    --database "$db" --database-ca "$STATEANCHOR_TEST_DATABASE_CA" --objects "$objects" >"$dir/$1.out" 2>"$dir/$1.err" &
  pids+=($!)
  for _ in $(seq 300); do grep -q '^listening: ' "$dir/$1.out" 2>/dev/null && return 0; sleep 0.1; done
  cat "$dir/$1.err" >&2; exit 1
}
start a "$port_a"
cp "$dir/a/log-signing-key" "$dir/b/"
start b "$port_b"
sed -n 's/^verifier key: /verifier key: /p' "$dir/a.out"
cat <<MSG
frontend a: http://127.0.0.1:$port_a
frontend b: http://127.0.0.1:$port_b
admin API key: $dir/a/admin-api-key (valid on both: keys live in PostgreSQL)
database: $db (TLS, CA $STATEANCHOR_TEST_DATABASE_CA)
bucket:   $objects (endpoint $AWS_ENDPOINT_URL)
logs:     $dir/a.err, $dir/b.err
Ctrl-C stops both frontends, PostgreSQL and moto.
MSG
wait
