#!/usr/bin/env bash
# The log under hostile load (issue 24; docs/benchmarks.md "Hostile load").
# Not a test: it runs for minutes and measures.
#
# One `ci` key sends N (200) concurrent gate decisions of 24 MB each (GitHub's
# GHES 3.17 and 3.19 REST API descriptions from the npm package
# @octokit/openapi, the one scripts/gate-real-world.sh uses, as base_spec and
# revision_spec), each retried on 503 as `stateanchor-gate check` does
# (Retry-After doubled on each further pushback, at most 60 s, plus up to
# half of it again at random; at most RETRIES times and 300 s of waiting). Meanwhile another key appends small entries one after another, and
# a prober reads /checkpoint every 100 ms. Reports the server's peak RSS
# (VmHWM), the decisions accepted, refused (by status) and retried, the
# small appends' p50/p99, the /checkpoint probes that failed, and checks
# that the decisions recorded (the project's export) equal the 201s.
#
# Usage: scripts/bench-hostile.sh
# Environment: N (200), RETRIES (8), SERVER (a stateanchor-log binary;
# default: the release build in $BENCH_TARGET_DIR, by default
# ~/.cache/stateanchor/target-bench, as the other benchmarks), SERVER_ARGS (extra
# flags for serve, e.g. "--inflight-budget 512M"), STATEANCHOR_CACHE
# (~/.cache/stateanchor: where the npm package is kept), SPECS_GENERATED=1
# (use generated 24 MB documents instead of GitHub's).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${STATEANCHOR_CACHE:-$HOME/.cache/stateanchor}"
OCTOKIT=23.0.2
PKG="$CACHE/specs/octokit-$OCTOKIT/package/generated"
N="${N:-200}"
RETRIES="${RETRIES:-8}"

if [ -z "${SERVER:-}" ]; then
  # The release build of the other benchmarks (one feature resolution, so
  # RocksDB is compiled once for all of them).
  export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}"
  (cd "$root" && cargo build --locked --release -q -p log-server -p integration-tests --bins)
  SERVER="$CARGO_TARGET_DIR/release/stateanchor-log"
fi

if [ -z "${SPECS_GENERATED:-}" ] && [ ! -f "$PKG/ghes-3.19.json" ]; then
  if command -v npm >/dev/null; then
    mkdir -p "$CACHE/specs" && (cd "$CACHE/specs" &&
      { [ -f "octokit-openapi-$OCTOKIT.tgz" ] || npm pack -q "@octokit/openapi@$OCTOKIT" >/dev/null; } &&
      mkdir -p "octokit-$OCTOKIT" &&
      tar xzf "octokit-openapi-$OCTOKIT.tgz" -C "octokit-$OCTOKIT" --wildcards --exclude '*.deref.json' 'package/generated/*.json')
  fi
  if [ ! -f "$PKG/ghes-3.19.json" ]; then
    echo "bench-hostile: @octokit/openapi@$OCTOKIT could not be obtained; using generated documents" >&2
    SPECS_GENERATED=1
  fi
fi

work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
# shellcheck disable=SC2086
"$SERVER" serve --data-dir "$work/data" --listen 127.0.0.1:0 ${SERVER_ARGS:-} \
  >"$work/stdout" 2>"$work/stderr" &
pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening:' "$work/stdout" 2>/dev/null && break
  sleep 0.1
done
url="$(sed -n 's/^listening: //p' "$work/stdout")"
[ -n "$url" ] || { cat "$work/stderr" >&2; exit 1; }
echo "server: $SERVER (pid $pid) at $url; $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
grep -h "budget of request bytes" "$work/stdout" "$work/stderr" | sed 's/\x1b\[[0-9;]*m//g' | tail -1 || true

URL="$url" PID="$pid" N="$N" RETRIES="$RETRIES" PKG="$PKG" GENERATED="${SPECS_GENERATED:-}" \
  ADMIN="$(cat "$work/data/admin-api-key")" python3 - <<'EOF'
import json, multiprocessing as mp, os, random, socket, sys, threading, time
from urllib.parse import urlparse
import http.client

URL, PID, N, RETRIES = os.environ["URL"], int(os.environ["PID"]), int(os.environ["N"]), int(os.environ["RETRIES"])
ADMIN = os.environ["ADMIN"]
host, port = urlparse(URL).hostname, urlparse(URL).port

def call(method, path, key, body=None, ctype="application/json"):
    c = http.client.HTTPConnection(host, port, timeout=600)
    h = {"Authorization": f"Bearer {key}"}
    if body is not None:
        h["Content-Type"] = ctype
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data

def js(status_data):
    st, data = status_data
    return st, json.loads(data) if data else None

st, p = js(call("POST", "/v1/admin/projects", ADMIN, json.dumps({"name": "hostile"})))
assert st == 201, p
project = p["project_id"]
st, k = js(call("POST", f"/v1/admin/projects/{project}/principals", ADMIN, json.dumps({"name": "runaway-ci", "roles": ["ci"]})))
ci = k["api_key"]
st, k = js(call("POST", "/v1/admin/keys", ADMIN, json.dumps({"name": "other-project", "role": "submitter"})))
other = k["api_key"]

if os.environ["GENERATED"]:
    def doc(tag, n=30000):
        paths = {f"/{tag}/things{i}/{{id}}": {"get": {"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                 "responses": {"200": {"description": "a thing " * 8, "content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}}}}}}} for i in range(n)}
        return json.dumps({"openapi": "3.0.3", "info": {"title": tag, "version": "1"}, "paths": paths}, indent=1)
    base, revision, names = doc("a"), doc("a").replace('"name"', '"title"'), ("generated-a.json", "generated-b.json")
else:
    pkg = os.environ["PKG"]
    base = open(f"{pkg}/ghes-3.17.json").read()
    revision = open(f"{pkg}/ghes-3.19.json").read()
    names = ("ghes-3.17.json", "ghes-3.19.json")
body = json.dumps({"commit_sha": "0123456789abcdef0123456789abcdef01234567", "branch": "main", "author": "ci",
                   "base_spec": base, "revision_spec": revision, "base_name": names[0], "revision_name": names[1]}).encode()
del base, revision
print(f"decision body: {len(body)/1e6:.1f} MB ({names[0]} -> {names[1]}), {N} concurrent from one key")

def read_head(f):
    line = f.readline().decode()
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline().decode().strip()
        if not h:
            break
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers

def post_decision():
    """One attempt, as curl sends a large body (Expect: 100-continue)."""
    s = socket.create_connection((host, port), timeout=600)
    try:
        s.sendall((f"POST /api/projects/{project}/decisions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ci}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode())
        f = s.makefile("rb")
        status, headers = read_head(f)
        if status == 100:
            s.sendall(body)
            status, headers = read_head(f)
        f.read(int(headers.get("content-length", "0")))
        return status, headers
    finally:
        s.close()

results, lock = [], threading.Lock()
def decide(barrier):
    barrier.wait()
    retries, waited = 0, 0.0
    while True:
        try:
            status, headers = post_decision()
        except OSError as e:
            status, headers = f"error: {e}", {}
        if status == 503 and "retry-after" in headers and retries < RETRIES:
            wait = min(int(headers["retry-after"]) * 2 ** retries, 60)
            wait += random.uniform(0, wait / 2)
            if waited + wait <= 300:
                retries += 1
                waited += wait
                time.sleep(wait)
                continue
        with lock:
            results.append((status, retries))
        return

def appender(stop, out):
    lat, errors = [], 0
    c = http.client.HTTPConnection(host, port, timeout=60)
    i = 0
    while not stop.is_set():
        t = time.perf_counter()
        try:
            c.request("POST", "/v1/entries", body=b"small append %d from another project" % i,
                      headers={"Authorization": f"Bearer {other}", "Content-Type": "application/octet-stream"})
            r = c.getresponse(); r.read()
            if r.status != 201:
                errors += 1
        except OSError:
            errors += 1
            c = http.client.HTTPConnection(host, port, timeout=60)
        lat.append(time.perf_counter() - t)
        i += 1
        time.sleep(0.01)
    out.put((lat, errors))

def prober(stop, out):
    ok = failed = 0
    worst = 0.0
    while not stop.is_set():
        t = time.perf_counter()
        try:
            c = http.client.HTTPConnection(host, port, timeout=10)
            c.request("GET", "/checkpoint"); r = c.getresponse(); r.read(); c.close()
            ok, failed = (ok + 1, failed) if r.status == 200 else (ok, failed + 1)
        except OSError:
            failed += 1
        worst = max(worst, time.perf_counter() - t)
        time.sleep(0.1)
    out.put((ok, failed, worst))

def rss_sampler(stop, out):
    peak = 0
    while not stop.is_set():
        try:
            for l in open(f"/proc/{PID}/status"):
                if l.startswith("VmRSS:"):
                    peak = max(peak, int(l.split()[1]))
        except OSError:
            break
        time.sleep(0.05)
    out.put(peak)

def vm(field):
    for l in open(f"/proc/{PID}/status"):
        if l.startswith(field + ":"):
            return int(l.split()[1]) * 1024
print(f"server RSS before: {vm('VmRSS')/2**20:.0f} MiB")
stop = mp.Event()
qa, qp, qr = mp.Queue(), mp.Queue(), mp.Queue()
procs = [mp.Process(target=appender, args=(stop, qa)), mp.Process(target=prober, args=(stop, qp)),
         mp.Process(target=rss_sampler, args=(stop, qr))]
for pr in procs:
    pr.start()
time.sleep(1)
barrier = threading.Barrier(N)
start = time.time()
threads = [threading.Thread(target=decide, args=(barrier,)) for _ in range(N)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.time() - start
stop.set()
lat, append_errors = qa.get()
ok, failed, worst = qp.get()
sampled = qr.get()
for pr in procs:
    pr.join()

from collections import Counter
final = Counter(str(s) for s, _ in results)
accepted = sum(1 for s, _ in results if s == 201)
retried = sum(r for _, r in results)
first_try = sum(1 for s, r in results if s == 201 and r == 0)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
print(f"wall: {wall:.1f} s")
print(f"decisions: {len(results)} answered: {dict(final)}; accepted {accepted} ({first_try} at the first try), "
      f"retries {retried}, requests that got a 503 at least once {sum(1 for _, r in results if r > 0)}")
print(f"small appends (other key): {len(lat)}, errors {append_errors}, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1]*1000:.1f} ms")
print(f"/checkpoint probes: {ok} ok, {failed} failed, slowest {worst*1000:.1f} ms")
print(f"server peak RSS (VmHWM): {vm('VmHWM')/2**20:.0f} MiB (sampled VmRSS peak {sampled/1024:.0f} MiB)")
st, export = js(call("GET", f"/api/projects/{project}/compliance-export", ADMIN))
d = export["section_c_access_and_authorization"]["decisions"]
recorded = d["classified_by_server"] + d["findings_from_ci"]
print(f"decisions recorded: {recorded} (201s answered: {accepted})")
st, m = call("GET", "/metrics", ADMIN)
for l in m.decode().splitlines():
    if l.startswith("stateanchor_request_refusals_total") or l.startswith("stateanchor_inflight_budget_bytes"):
        print("  " + l)
bad = [s for s, _ in results if s not in (201, 503, 413)]
sys.exit(0 if recorded == accepted and not bad else 1)
EOF
