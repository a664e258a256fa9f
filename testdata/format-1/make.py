import json, subprocess, sys, time, urllib.request, os, shutil, base64
binp, out = sys.argv[1], sys.argv[2]
data = os.path.join(out, "data")
p = subprocess.Popen([binp, "serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--origin", "testdata.stateanchor.invalid/format-1", "--checkpoint-interval", "100ms", "--no-monitor"], stdout=subprocess.PIPE, text=True)
url = None
for line in p.stdout:
    if line.startswith("listening: "):
        url = line.split(": ",1)[1].strip(); break
key = open(os.path.join(data, "admin-api-key")).read().strip()
def req(method, path, body=None, ctype="application/json"):
    r = urllib.request.Request(url+path, method=method, data=body, headers={"authorization": "Bearer "+key, "content-type": ctype})
    with urllib.request.urlopen(r) as f: return json.loads(f.read())
proj = req("POST", "/v1/admin/projects", json.dumps({"name": "payments-api"}).encode())
print(proj, file=sys.stderr)
for i in range(5):
    req("POST", "/v1/entries", f"format-1 entry {i}".encode(), "application/octet-stream")
time.sleep(1)
log = req("GET", "/v1/log")
n = log["tree_size"]
entries = req("GET", f"/v1/entries?start=0&end={n}")["entries"]
project = req("GET", f"/v1/admin/projects/{proj['project_id']}")
p.terminate(); p.wait()
for f in os.listdir(os.path.join(data, "db")):
    if f.startswith("LOG"): os.remove(os.path.join(data, "db", f))
json.dump({"origin": log["origin"], "verifier_key": log["verifier_key"], "tree_size": n, "checkpoint": log["checkpoint"], "entries": entries, "project": project}, open(os.path.join(out, "expected.json"), "w"), indent=2)
print(n, proj)
