#!/usr/bin/env bash
# Compares the read throughput of two stateanchor-log binaries on the same
# filled log, alternating them, so that a change can be told apart from the
# machine's own variation (docs/benchmarks.md, "Log server").
#
# Usage: scripts/bench-compare.sh OLD_BINARY NEW_BINARY DATA_DIR [ROUNDS=2] [SECONDS=15]
# DATA_DIR is a data directory filled by scripts/bench-server.sh (for example
# $HOME/.cache/stateanchor/bench10m/data). The load generator comes from the
# bench target directory (scripts/bench-server.sh builds it).
set -euo pipefail
old="$1"; new="$2"; dir="$3"; rounds="${4:-2}"; secs="${5:-15}"
loadgen="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}/release/stateanchor-loadgen"
tmp=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
for round in $(seq "$rounds"); do
  for name in old new; do
    bin="$old"; [ "$name" = new ] && bin="$new"
    "$bin" serve --data-dir "$dir" --listen 127.0.0.1:0 > "$tmp/out" 2>"$tmp/err" &
    pid=$!
    for _ in $(seq 500); do grep -q '^listening: ' "$tmp/out" 2>/dev/null && break; sleep 0.02; done
    url=$(sed -n 's/^listening: //p' "$tmp/out")
    [ -n "$url" ] || { cat "$tmp/err" >&2; exit 1; }
    sleep 1
    proofs=$("$loadgen" proofs --url "$url" --connections 32 --duration "${secs}s" | grep -o '= [0-9]*/s')
    tiles=$("$loadgen" tiles --url "$url" --connections 32 --duration "${secs}s" | grep -o '= [0-9]*/s')
    echo "round $round $name: proofs $proofs tiles $tiles"
    kill -TERM $pid; wait $pid || true; pid=
  done
done
