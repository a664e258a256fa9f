#!/usr/bin/env bash
# Benchmark of `stateanchor-verify audit` on a local 10,000,000-entry
# tlog-tiles directory (entries `entry <i>`, 12 bytes on average), next to
# the machine's SHA-256 speed. Results go in docs/benchmarks.md (## Verifier).
# Usage: verifier-cli/bench/audit-10m.sh [ENTRIES] [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stateanchor/target}"
entries="${1:-10000000}"
dir="${2:-${TMPDIR:-/tmp}/stateanchor-audit-bench}"
cargo build --locked --release -p verifier-cli
bin="$CARGO_TARGET_DIR/release/stateanchor-verify"
rm -rf "$dir"
echo "== writing $entries entries to $dir"
key=$("$bin" --json write-test-log --out "$dir" --entries "$entries" \
  | sed -n 's/.*"verifier_key": "\(.*\)".*/\1/p')
du -sh "$dir"
echo "== machine"
lscpu | grep -E 'Model name|^CPU\(s\)' || true
grep -qw sha_ni /proc/cpuinfo && echo "SHA extensions: yes" || echo "SHA extensions: no"
echo "== SHA-256 (openssl speed, 64-byte and 16 KiB inputs)"
openssl speed -seconds 2 -bytes 64 -evp sha256 2>/dev/null | tail -1 || true
openssl speed -seconds 2 -bytes 16384 -evp sha256 2>/dev/null | tail -1 || true
for run in cold-ish warm; do
  echo "== audit ($run page cache)"
  /usr/bin/time -f 'wall %e s, max RSS %M KiB' "$bin" audit --key "$key" --log "$dir" --no-progress | tail -4
done
