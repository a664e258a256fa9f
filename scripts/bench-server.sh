#!/usr/bin/env bash
# Load benchmark of stateanchor-log (release build) with stateanchor-loadgen on
# the same machine: durable appends over keep-alive connections, checkpoint
# coverage latency, then inclusion proofs and full tiles against the filled
# log, cold start time, resident memory and bytes on disk per entry.
# Usage: scripts/bench-server.sh [append seconds] [connections] [fill to N entries (0: no fill)]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
secs="${1:-60}"; conns="${2:-64}"; fill="${3:-0}"
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}"
cargo build --locked --release -p log-server -p integration-tests --bins
bin="$CARGO_TARGET_DIR/release"
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
start() {
  "$bin/stateanchor-log" serve --data-dir "$dir/data" --listen 127.0.0.1:0 > "$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 600); do grep -q '^listening: ' "$dir/out" 2>/dev/null && break; sleep 0.01; done
  url=$(sed -n 's/^listening: //p' "$dir/out")
}
start
echo "== appends: $conns connections, ${secs}s"
"$bin/stateanchor-loadgen" append --url "$url" --key-file "$dir/data/admin-api-key" --connections "$conns" --duration "${secs}s"
if [ "$fill" -gt 0 ]; then
  echo "== filling to $fill entries"
  "$bin/stateanchor-loadgen" fill --url "$url" --key-file "$dir/data/admin-api-key" --connections "$conns" --target "$fill"
fi
sleep 2
size=$(curl -s "$url/healthz" | sed 's/.*"tree_size":\([0-9]*\).*/\1/')
echo "== inclusion proofs at tree size $size"
"$bin/stateanchor-loadgen" proofs --url "$url" --connections 32 --duration 20s
echo "== full tiles"
"$bin/stateanchor-loadgen" tiles --url "$url" --connections 32 --duration 20s
echo "resident memory (VmHWM, VmRSS): $(grep -E 'VmHWM|VmRSS' /proc/$pid/status | tr -s ' ' | tr '\n' ' ')"
kill -TERM $pid; wait $pid || true
bytes=$(du -sb "$dir/data/db" | cut -f1)
echo "bytes on disk: $bytes for $size entries = $((bytes / (size > 0 ? size : 1))) bytes/entry"
t0=$(date +%s.%N); start; t1=$(date +%s.%N)
echo "cold start (process start to listening, tree size $size): $(echo "$t1 - $t0" | bc) s"
