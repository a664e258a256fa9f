#!/usr/bin/env bash
# Renders a proof page of a real server in headless Chromium and saves a
# screenshot (default docs/proof-page.png): the check that the page a person
# opens from a shared link is readable. Installs chromium if missing.
# Usage: scripts/proof-page-screenshot.sh [output.png]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
out="${1:-docs/proof-page.png}"
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
[ -n "${SKIP_BUILD:-}" ] || cargo build --locked --workspace --all-targets
bin="$CARGO_TARGET_DIR/debug"
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$bin/stateanchor-log" serve --data-dir "$tmp/data" --listen 127.0.0.1:0 --checkpoint-interval 100ms \
  --origin demo.stateanchor.example/log > "$tmp/out" 2>/dev/null &
pid=$!
for _ in $(seq 100); do grep -q '^listening: ' "$tmp/out" && break; sleep 0.1; done
url=$(sed -n 's/^listening: //p' "$tmp/out")
key=$(cat "$tmp/data/admin-api-key")
# Raw entries (the raw API refuses anything shaped like a record's envelope).
for i in 0 1 2 3 4; do
  curl -sf -X POST -H "authorization: Bearer $key" -H 'content-type: application/octet-stream' \
    --data-binary "{\"type\":\"gate_decision\",\"project\":\"prj_demo\",\"id\":\"run_$i\",\"time\":\"2026-11-23T12:00:0${i}Z\",\"digest\":\"sha256:$(printf '%s' "$i" | sha256sum | cut -c1-64)\"}" \
    "$url/v1/entries?wait=checkpoint" >/dev/null
done
html=$(curl -sf "$url/entries/3")
grep -q 'stateanchor-verify inclusion' <<<"$html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$tmp/chrome" --hide-scrollbars --window-size=1100,1500 \
  --screenshot="$out" "$url/entries/3" 2>/dev/null
test -s "$out"
echo "proof page of $url/entries/3 rendered to $out"
