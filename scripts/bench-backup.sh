#!/usr/bin/env bash
# Full and incremental backups of a RocksDB log of N entries (issue 23).
# Fills a log with stateanchor-loadgen; then, the server running with its
# backup root on another file system (/dev/shm, tmpfs, stands for a backup
# volume), times
#   1. a full backup to the volume (every file copied);
#   2. after M more entries, an incremental backup (--base 1) to the volume,
#      and a full one of the same state for comparison;
# then, the server stopped,
#   3. an offline full backup on the data directory's file system (the
#      table files hard-linked);
#   4. `backup verify` of the incremental backup after its base is deleted.
# Prints each backup's line of what it wrote, and the store's size.
# Usage: scripts/bench-backup.sh [entries, default 200000] [more, default 10000]
# Binaries: $CARGO_TARGET_DIR/$PROFILE (default ~/.cache/stateanchor/target,
# debug); build them first: cargo build --locked --workspace --bins
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200000}"; more="${2:-10000}"
bin="${CARGO_TARGET_DIR:-$HOME/.cache/stateanchor/target}/${PROFILE:-debug}"
tmp=$(mktemp -d); vol=$(mktemp -d /dev/shm/sa-bench-backup.XXXXXX)
pid=
trap 'if [ -n "$pid" ]; then kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; fi; rm -rf "$tmp" "$vol"' EXIT
data="$tmp/data"
"$bin/stateanchor-log" serve --data-dir "$data" --listen 127.0.0.1:0 --backup-root "$vol" > "$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1000); do grep -q '^listening: ' "$tmp/out" 2>/dev/null && break; sleep 0.01; done
url=$(sed -n 's/^listening: //p' "$tmp/out")
[ -n "$url" ] || { cat "$tmp/err" >&2; exit 1; }
fill() { "$bin/stateanchor-loadgen" fill --url "$url" --key-file "$data/admin-api-key" --connections 32 --target "$1" >/dev/null; }
timed() {
  local t0 t1; t0=$(date +%s.%N)
  "$bin/stateanchor-log" backup "$@" > "$tmp/last"
  t1=$(date +%s.%N)
  printf '%.2f s: %s\n' "$(echo "$t1 - $t0" | bc)" "$(grep -E 'written' "$tmp/last")"
}
online=(--url "$url" --data-dir "$data")
fill "$n"
echo "store: $(du -sb "$data/db" | cut -f1) bytes in $(ls "$data/db" | wc -l) files, $n entries"
echo "== 1. full, to another file system"; timed --to "$vol/b1" "${online[@]}"
fill $((n + more))
echo "== 2. after $more more: incremental (--base b1), to another file system"
timed --to "$vol/b2" --base "$vol/b1" "${online[@]}"
echo "   the same state, full, to another file system"; timed --to "$vol/b3" "${online[@]}"
kill -TERM $pid; wait $pid || true; pid=
echo "== 3. full, offline, on the data directory's file system"
timed --offline --data-dir "$data" --to "$tmp/b4"
echo "== 4. backup verify of b2, b1 deleted"
rm -rf "$vol/b1"
t0=$(date +%s.%N)
"$bin/stateanchor-log" backup verify "$vol/b2" > /dev/null
printf '%.2f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
