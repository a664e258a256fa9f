#!/usr/bin/env bash
# Benchmark of the PostgreSQL + object storage mode (issue 13), release
# build, everything on this machine: PostgreSQL and moto (an in-memory Python
# S3 server) from scripts/test-services.sh, two frontends of one log, and
# stateanchor-loadgen spreading its connections over both:
#   1. durable appends/s and p99 acknowledgement; ack -> covered by a
#      checkpoint (p50/p99);
#   2. inclusion proofs/s and full tiles/s from object storage, on freshly
#      started frontends (cold cache) and again (warm cache), with the
#      object-store requests they made (counted in moto's access log) per
#      proof / per tile;
#   2b. compliance decisions/s through both frontends: every project written
#      through both (writer claims hand over between them), with 1 project
#      and with 8; BENCH_DECISIONS decisions each (default 4000), 16
#      connections;
#   3. the failover gap: SIGKILL the integrator, then time until an append
#      made right after is covered by a checkpoint.
# Usage: scripts/bench-cluster.sh [append seconds] [connections] [lease TTL]
# BENCH_ONLY=compliance runs step 2b alone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${STATEANCHOR_TEST_DATABASE:-}" ]; then
  exec scripts/test-services.sh "$0" "$@"
fi
secs="${1:-30}"; conns="${2:-64}"; ttl="${3:-2s}"
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}"
# BENCH_PROFILE=dev: a quick run of this script on a debug build (figures
# meaningless), to check the script itself.
profile="${BENCH_PROFILE:-release}"
cargo build --locked --profile "$profile" -p log-server -p integration-tests --bins >&2
bin="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
tmp=$(mktemp -d)
declare -A pid url
trap 'for p in "${pid[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
psql "$STATEANCHOR_TEST_DATABASE" -qc "CREATE DATABASE sabench"
# The admin URL with the new database's name (and its query: ?sslmode=disable).
base=${STATEANCHOR_TEST_DATABASE%%\?*}
db="${base%/*}/sabench${STATEANCHOR_TEST_DATABASE#"$base"}"
objects="s3://$STATEANCHOR_TEST_BUCKET/bench"
start() { # name
  : >"$tmp/$1.out"
  "$bin/stateanchor-log" serve --data-dir "$tmp/$1" --listen 127.0.0.1:0 \
    --database "$db" --objects "$objects" --lease-ttl "$ttl" --write-rate 0 >"$tmp/$1.out" 2>>"$tmp/$1.err" &
  pid[$1]=$!
  for _ in $(seq 300); do grep -q '^listening: ' "$tmp/$1.out" 2>/dev/null && break; sleep 0.1; done
  url[$1]=$(sed -n 's/^listening: //p' "$tmp/$1.out")
  [ -n "${url[$1]}" ] || { cat "$tmp/$1.err" >&2; exit 1; }
}
stop() { kill "${pid[$1]}"; wait "${pid[$1]}" 2>/dev/null || true; unset "pid[$1]"; }
start a
mkdir -p "$tmp/b" && cp "$tmp/a/log-signing-key" "$tmp/b/"
start b
key=(--key-file "$tmp/a/admin-api-key")
both=(--url "${url[a]}" --url "${url[b]}")
requests() { wc -l <"$STATEANCHOR_TEST_MOTO_LOG"; }
tree_size() { curl -s "${url[a]}/checkpoint" | sed -n 2p; }

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(free -g | awk '/Mem:/ {print $2}') GiB"
if [ "${BENCH_ONLY:-}" != compliance ]; then
echo "== appends: $conns connections over two frontends, ${secs}s"
"$bin/stateanchor-loadgen" append "${both[@]}" "${key[@]}" --connections "$conns" --duration "${secs}s"
echo "tree size $(tree_size)"
fi
for projects in 1 8; do
  echo "== compliance decisions through both frontends, $projects project(s), each written through both"
  "$bin/compliance_loadgen" "${both[@]}" "${key[@]}" --projects "$projects" \
    --decisions "${BENCH_DECISIONS:-4000}" --connections 16 --no-export
done
[ "${BENCH_ONLY:-}" = compliance ] && exit 0

# Fresh frontends: their caches of immutable tiles and bundles are empty.
stop a; stop b; start a; start b
both=(--url "${url[a]}" --url "${url[b]}")
sleep 1
size=$(tree_size)
r0=$(requests)
curl -sf "${url[a]}/v1/proof/inclusion?index=$((size / 2))&tree_size=$size" >/dev/null
r1=$(requests)
echo "one inclusion proof on a fresh frontend (tree size $size): $((r1 - r0)) object-store requests (moto's log; includes any background checkpoint reads in that instant)"
for pass in cold warm; do
  r0=$(requests)
  echo "== inclusion proofs, two frontends ($pass cache)"
  "$bin/stateanchor-loadgen" proofs "${both[@]}" --connections 32 --duration 15s | tee "$tmp/proofs"
  r1=$(requests)
  n=$(sed -n 's/^[^:]*: \([0-9]*\) in .*/\1/p' "$tmp/proofs" | head -1)
  echo "object-store requests: $((r1 - r0)) for ${n:-?} proofs = $(echo "scale=3; ($r1 - $r0) / ${n:-1}" | bc) per proof"
  echo "== full tiles, two frontends ($pass cache)"
  "$bin/stateanchor-loadgen" tiles "${both[@]}" --connections 32 --duration 15s | tee "$tmp/tiles"
  r2=$(requests)
  n=$(sed -n 's/^[^:]*: \([0-9]*\) in .*/\1/p' "$tmp/tiles" | head -1)
  echo "object-store requests: $((r2 - r1)) for ${n:-?} tiles = $(echo "scale=3; ($r2 - $r1) / ${n:-1}" | bc) per tile"
done

echo "== failover gap (lease TTL $ttl, checkpoint interval 500ms, the default): SIGKILL the integrator, 5 times"
for i in 1 2 3 4 5; do
  holder=$(psql "$db" -tAc "SELECT lease_holder FROM sa_coord")
  hpid=$(echo "$holder" | awk -F- '{print $(NF-1)}')
  if [ "$hpid" = "${pid[a]}" ]; then dead=a; alive=b; else dead=b; alive=a; fi
  t0=$(date +%s.%N)
  kill -KILL "${pid[$dead]}"; wait "${pid[$dead]}" 2>/dev/null || true; unset "pid[$dead]"
  idx=$(curl -sf -X POST -H "authorization: Bearer $(cat "$tmp/a/admin-api-key")" \
    -H 'content-type: application/octet-stream' --data-binary "failover $i" "${url[$alive]}/v1/entries" \
    | sed 's/.*"index":\([0-9]*\).*/\1/')
  while :; do
    s=$(curl -s "${url[$alive]}/checkpoint" | sed -n 2p)
    [ "${s:-0}" -gt "$idx" ] && break
    sleep 0.02
  done
  t1=$(date +%s.%N)
  echo "round $i: integrator $dead killed; entry $idx covered by a checkpoint $(echo "$t1 - $t0" | bc) s later"
  start "$dead"
  sleep 1
done
