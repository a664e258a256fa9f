#!/usr/bin/env bash
# Witnessing benchmark (spec/witnessing.md): durable appends per second and
# the time from an append's acknowledgement to the first *witnessed*
# checkpoint that covers it, with 0, 1 and 3 local witnesses
# (`stateanchor-log witness serve`, a quorum of all of them), release build,
# load generator on the same machine.
#
# Usage: scripts/bench-witnessing.sh [append seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
secs="${1:-20}"; conns="${2:-64}"
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}"
cargo build --locked --release -p log-server -p integration-tests --bins
bin="$CARGO_TARGET_DIR/release"
tmp=$(mktemp -d)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$tmp"' EXIT

# Waits for `listening: URL` in $1 and prints the URL.
listening() {
  for _ in $(seq 1000); do grep -q '^listening: ' "$1" 2>/dev/null && break; sleep 0.01; done
  local url
  url=$(sed -n 's/^listening: //p' "$1")
  [ -n "$url" ] || { cat "${1%out}err" >&2; exit 1; }
  echo "$url"
}

for n in 0 1 3; do
  d="$tmp/run$n"; mkdir -p "$d"
  vkey=$("$bin/stateanchor-log" key generate --data-dir "$d/log" --origin bench.local/log)
  policy="log $vkey"$'\n'
  members=""
  for i in $(seq 1 "$n"); do
    w="$d/w$i"; mkdir -p "$w"
    wkey=$("$bin/stateanchor-log" witness key generate --name "bench.local/w$i" --data-dir "$w" 2>/dev/null | tail -1)
    printf 'log %s\nquorum none\n' "$vkey" > "$w/logs.txt"
    "$bin/stateanchor-log" witness serve --data-dir "$w" --logs "$w/logs.txt" --listen 127.0.0.1:0 > "$w/out" 2> "$w/err" &
    pids+=($!)
    wurl=$(listening "$w/out")
    policy+="witness w$i $wkey $wurl"$'\n'
    members+=" w$i"
  done
  args=()
  if [ "$n" -gt 0 ]; then
    policy+="group all-of-them all$members"$'\n'"quorum all-of-them"$'\n'
    printf '%s' "$policy" > "$d/policy"
    args=(--witness-policy "$d/policy")
  fi
  "$bin/stateanchor-log" serve --data-dir "$d/log" --listen 127.0.0.1:0 "${args[@]}" > "$d/out" 2> "$d/err" &
  pids+=($!)
  url=$(listening "$d/out")
  echo "== $n witness(es): appends, $conns connections, ${secs}s"
  "$bin/stateanchor-loadgen" append --url "$url" --key-file "$d/log/admin-api-key" --connections "$conns" --duration "${secs}s"
  if [ "$n" -gt 0 ]; then
    curl -s "$url/healthz" | python3 -c 'import json,sys; h=json.load(sys.stdin)["witnessing"]; print("witnessed tree size", h["witnessed_tree_size"], "of", h["signed_tree_size"], "signed;", ", ".join("%s failures %d" % (w["name"], w["failures"]) for w in h["witnesses"]))'
    curl -s "$url/metrics" | grep -E '^stateanchor_witness(ing_seconds_(sum|count)|_requests_total)' || true
  fi
  stop_all
done
