#!/usr/bin/env bash
# Compliance benchmarks (docs/benchmarks.md, "Compliance"): sustained gate
# decisions/s through the HTTP API of a fresh `stateanchor-log`, then the time,
# size and server memory of a compliance export of all of them, verified
# offline with `stateanchor-verify export`.
# Usage: scripts/bench-compliance.sh [DECISIONS=100000] [CONNECTIONS=64] [PROFILE=release] [FORMAT=json]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
# Release builds share a target directory of their own (as bench-server.sh).
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}"
n=${1:-100000}
c=${2:-64}
profile=${3:-release}
format=${4:-json}
# Two invocations, so that the verifier does not change the server's feature set (and rebuild RocksDB).
cargo build --locked --profile "$profile" -p log-server -p integration-tests --bins
cargo build --locked --profile "$profile" -p verifier-cli
dir="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
data=$(mktemp -d)
trap 'kill $server 2>/dev/null && wait $server 2>/dev/null; rm -rf "$data"' EXIT
# One key sends every decision: the per-key write limit (1,000/s by
# default) is off, as the benchmark measures the server's capacity.
"$dir/stateanchor-log" serve --data-dir "$data" --listen 127.0.0.1:0 --log-format json --write-rate 0 >"$data/out" 2>"$data/err" &
server=$!
for _ in $(seq 100); do grep -q '^listening: ' "$data/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening: //p' "$data/out")
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "server: $url ($profile build), $n decisions over $c connections"
"$dir/compliance_loadgen" --url "$url" --key-file "$data/admin-api-key" --decisions "$n" \
  --connections "$c" --format "$format" --server-pid "$server"
vkey=$("$dir/stateanchor-log" key show --data-dir "$data")
/usr/bin/time -f "verify: %e s, max RSS %M KiB" "$dir/stateanchor-verify" export "${TMPDIR:-/tmp}/compliance-loadgen-export" --key "$vkey" | head -3
