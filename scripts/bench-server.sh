#!/usr/bin/env bash
# Load benchmark of stateanchor-log (release build) with stateanchor-loadgen on
# the same machine: durable appends over keep-alive connections, checkpoint
# coverage latency, then inclusion proofs and full tiles against the filled
# log, resident memory, bytes on disk per entry and cold start time.
#
# Usage: scripts/bench-server.sh [append seconds (0: none)] [connections] [fill to N entries (0: no fill)]
# BENCH_DATA_DIR=dir keeps the log there (and reuses it): fill 10M entries
# once (about 6 minutes), then measure reads against it as often as needed:
#   BENCH_DATA_DIR=$HOME/.cache/stateanchor/bench10m scripts/bench-server.sh 0 64 10000000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
secs="${1:-60}"; conns="${2:-64}"; fill="${3:-0}"
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}"
cargo build --locked --release -p log-server -p integration-tests --bins
bin="$CARGO_TARGET_DIR/release"
tmp=$(mktemp -d)
if [ -n "${BENCH_DATA_DIR:-}" ]; then dir="$BENCH_DATA_DIR"; mkdir -p "$dir"; else dir="$tmp"; fi
pid=
trap 'if [ -n "$pid" ]; then kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
start() {
  : > "$tmp/out"
  "$bin/stateanchor-log" serve --data-dir "$dir/data" --listen 127.0.0.1:0 > "$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 1000); do grep -q '^listening: ' "$tmp/out" 2>/dev/null && break; sleep 0.01; done
  url=$(sed -n 's/^listening: //p' "$tmp/out")
  [ -n "$url" ] || { cat "$tmp/err" >&2; exit 1; }
}
tree_size() { curl -s "$url/healthz" | sed 's/.*"tree_size":\([0-9]*\).*/\1/'; }
start
key=(--key-file "$dir/data/admin-api-key")
if [ "$secs" -gt 0 ]; then
  echo "== appends: $conns connections, ${secs}s"
  "$bin/stateanchor-loadgen" append --url "$url" "${key[@]}" --connections "$conns" --duration "${secs}s"
fi
if [ "$fill" -gt "$(tree_size)" ]; then
  echo "== filling to $fill entries"
  "$bin/stateanchor-loadgen" fill --url "$url" "${key[@]}" --connections "$conns" --target "$fill"
fi
echo "resident memory of the writing process: $(grep -E 'VmHWM|VmRSS' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' ')"
# A fresh process for the reads: cold start, then reads from a cold cache.
kill -TERM $pid; wait $pid || true
t0=$(date +%s.%N); start; t1=$(date +%s.%N)
size=$(tree_size)
echo "cold start (process start to listening, tree size $size): $(echo "$t1 - $t0" | bc) s"
sleep 1
# Two passes: the first right after the start (RocksDB's block cache and
# table readers cold), the second warm.
for pass in first second; do
  echo "== inclusion proofs at tree size $size ($pass pass)"
  "$bin/stateanchor-loadgen" proofs --url "$url" --connections 32 --duration 20s
  echo "== full tiles ($pass pass)"
  "$bin/stateanchor-loadgen" tiles --url "$url" --connections 32 --duration 20s
done
echo "resident memory of the reading process: $(grep -E 'VmHWM|VmRSS' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' ')"
kill -TERM $pid; wait $pid || true; pid=
bytes=$(du -sb "$dir/data/db" | cut -f1)
echo "bytes on disk: $bytes for $size entries = $((bytes / (size > 0 ? size : 1))) bytes/entry"
