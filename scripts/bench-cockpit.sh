#!/usr/bin/env bash
# Cockpit pages at scale (issue 22; docs/benchmarks.md "Cockpit pages"): a
# release `stateanchor-log` with one project of 10,000 runs and 2,000
# exceptions; every page of the runs list (50 a page, following the
# cursor), of the exceptions list (50 a page) and of the API's exceptions
# list (100 a page) is fetched once, signed in as a codeowner, and the
# time of each answer is reported (p50, p99, max). Not a test: it measures.
#
# Usage: scripts/bench-cockpit.sh [RUNS=10000] [EXCEPTIONS=2000]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
runs="${1:-10000}"; exceptions="${2:-2000}"
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$HOME/.cache/stateanchor/target-bench}"
cargo build --locked --release -p log-server -p integration-tests --bins
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/release/stateanchor-log" serve --data-dir "$work/data" --listen 127.0.0.1:0 \
  >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q '^listening: ' "$work/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening: //p' "$work/out")
[ -n "$url" ] || { cat "$work/err" >&2; exit 1; }
python3 - "$url" "$(cat "$work/data/admin-api-key")" "$runs" "$exceptions" <<'PY'
import http.client, json, re, sys, time, urllib.parse
url, admin, n_runs, n_exc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
host = urllib.parse.urlparse(url).netloc
conn = http.client.HTTPConnection(host)

def call(method, path, key=None, body=None, headers=None, form=None):
    h = dict(headers or {})
    if key: h["authorization"] = "Bearer " + key
    data = None
    if body is not None:
        data = json.dumps(body).encode(); h["content-type"] = "application/json"
    if form is not None:
        data = form.encode(); h["content-type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse(); text = r.read().decode()
    return r.status, text, r

st, t, _ = call("POST", "/v1/admin/projects", admin, {"name": "big-api"})
project = json.loads(t)["project_id"]
def principal(name, role):
    st, t, _ = call("POST", f"/v1/admin/projects/{project}/principals", admin, {"name": name, "roles": [role]})
    assert st == 201, t
    return json.loads(t)["api_key"]
ci, alice = principal("ci", "ci"), principal("alice", "codeowner")
started = time.time()
findings = [{"kind": "response_field_removed", "endpoint": f"GET /items/{i}", "severity": "ERR", "detail": "removed"} for i in range(n_exc)]
st, t, _ = call("POST", f"/api/projects/{project}/decisions", ci,
                {"commit_sha": "c000000", "branch": "main", "author": "alice", "findings": findings, "artifacts": []})
assert st == 201, t
blocked_run = json.loads(t)["run_id"]
for i in range(1, n_runs):
    f = findings[:1] if i % 2 == 0 else []
    st, t, _ = call("POST", f"/api/projects/{project}/decisions", ci,
                    {"commit_sha": f"c{i:06d}", "branch": "main", "author": "alice", "findings": f, "artifacts": []})
    assert st == 201, t
expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5 * 86400))
for i in range(n_exc):
    st, t, _ = call("POST", f"/api/projects/{project}/exceptions", alice,
                    {"run_id": blocked_run, "kind": "response_field_removed", "endpoint": f"GET /items/{i}",
                     "reason": "migrated", "expires_at": expires})
    assert st == 201, t
print(f"filled: {n_runs} runs and {n_exc} exceptions in {time.time() - started:.1f} s")

st, t, r = call("POST", "/ui/signin", form=urllib.parse.urlencode({"api_key": alice}),
                headers={"origin": url, "sec-fetch-site": "same-origin"})
assert st == 303, (st, t)
cookie = r.getheader("set-cookie").split(";")[0]

def timed(path, key=None):
    h = {} if key else {"cookie": cookie}
    t0 = time.perf_counter()
    st, text, _ = call("GET", path, key, headers=h)
    dt = time.perf_counter() - t0
    assert st == 200, (path, st, text[:300])
    return dt, text

def report(name, times):
    times = sorted(times)
    pct = lambda p: times[min(len(times) - 1, int(p * len(times)))]
    print(f"{name}: {len(times)} pages, p50 {pct(0.5)*1e3:.1f} ms, p99 {pct(0.99)*1e3:.1f} ms, max {times[-1]*1e3:.1f} ms")

times, path, items = [], f"/ui/p/{project}/runs", 0
while True:
    dt, html = timed(path); times.append(dt)
    items += len(re.findall(rf'href="/ui/p/{project}/runs/run_', html))
    m = re.search(r'name="before" value="(\d+)"', html)
    if not m: break
    path = f"/ui/p/{project}/runs?before={m.group(1)}"
report(f"cockpit runs ({items} runs)", times)
assert items == n_runs, items

times, path, items = [], f"/ui/p/{project}/exceptions", 0
while True:
    dt, html = timed(path); times.append(dt)
    items += len(re.findall(rf'<a href="/ui/p/{project}/exceptions/exc_', html))
    m = re.search(r'name="after" value="([^"]+)"', html)
    if not m: break
    path = f"/ui/p/{project}/exceptions?status=&after={m.group(1)}"
report(f"cockpit exceptions ({items} exceptions)", times)
assert items == n_exc, items

times, path, items = [], f"/api/projects/{project}/exceptions", 0
while True:
    dt, text = timed(path, alice); times.append(dt)
    v = json.loads(text); items += len(v["exceptions"])
    if not v["next"]: break
    path = f"/api/projects/{project}/exceptions?after={v['next']}"
report(f"API exceptions ({items} exceptions)", times)
assert items == n_exc, items
for name, p in [("overview", f"/ui/p/{project}"), ("settings", f"/ui/p/{project}/settings"),
                ("filing form of the 2,000-finding run", f"/ui/p/{project}/exceptions?run={blocked_run}")]:
    report(name, [timed(p)[0] for _ in range(5)])
PY
