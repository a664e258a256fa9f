# Writes testdata/pg-format-N: a log of the PostgreSQL + object storage mode
# written by the stateanchor-log binary given (a release that writes schema
# format N), as a plain SQL dump, the bucket's objects, the frontend's keys
# and what that release served. Run under scripts/test-services.sh
# (PostgreSQL and moto):
#   scripts/test-services.sh python3 testdata/pg-format-1/make.py path/to/stateanchor-log OUT [N]
# then copy OUT/* to testdata/pg-format-N (N is 1 unless given). Python
# standard library, boto3 (moto's), pg_dump.
import base64, json, os, shutil, subprocess, sys, time, urllib.request

binp, out = sys.argv[1], sys.argv[2]
fmt = sys.argv[3] if len(sys.argv) > 3 else "1"
admin_db = os.environ["STATEANCHOR_TEST_DATABASE"]
bucket = os.environ["STATEANCHOR_TEST_BUCKET"]
pgbin = os.environ["PGBIN"]
name = f"sa_pg_format_{fmt}"
base, query = admin_db.split("?", 1) if "?" in admin_db else (admin_db, "")
db = base.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")
prefix = f"pg-format-{fmt}"
subprocess.run(["psql", admin_db, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
subprocess.run(["psql", admin_db, "-qc", f"CREATE DATABASE {name}"], check=True)

os.makedirs(out)
data = os.path.join(out, "data")
p = subprocess.Popen([binp, "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
                      "--origin", f"testdata.stateanchor.invalid/pg-format-{fmt}",
                      "--database", db, "--objects", f"s3://{bucket}/{prefix}",
                      "--checkpoint-interval", "100ms", "--lease-ttl", "1s", "--no-monitor"],
                     stdout=subprocess.PIPE, text=True)
url = None
for line in p.stdout:
    if line.startswith("listening: "):
        url = line.split(": ", 1)[1].strip()
        break
admin = open(os.path.join(data, "admin-api-key")).read().strip()

def req(method, path, body=None, key=admin, ctype="application/json"):
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    r = urllib.request.Request(url + path, method=method, data=body,
                               headers={"authorization": "Bearer " + key, "content-type": ctype})
    with urllib.request.urlopen(r) as f:
        return json.loads(f.read())

DOC = """openapi: 3.0.3
info: {title: users, version: 1.0.0}
paths:
  /users/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        '200': {description: a user}
"""
proj = req("POST", "/v1/admin/projects", {"name": "payments-api"})["project_id"]
ci = req("POST", f"/v1/admin/projects/{proj}/principals", {"name": "ci", "roles": ["ci"]})["api_key"]
decision = req("POST", f"/api/projects/{proj}/decisions",
               {"commit_sha": "abcdef0", "branch": "main", "author": "dev",
                "base_spec": DOC, "revision_spec": DOC.replace("version: 1.0.0", "version: 1.1.0")},
               key=ci)
for i in range(5):
    req("POST", "/v1/entries", f"pg-format-{fmt} entry {i}".encode(), ctype="application/octet-stream")
deadline = time.time() + 20
while True:
    log = req("GET", "/v1/log")
    n = log["tree_size"]
    if n >= 8 and log["checkpoint"].split("\n")[1] == str(n):
        break
    assert time.time() < deadline, log
    time.sleep(0.2)
entries = req("GET", f"/v1/entries?start=0&end={n}")["entries"]
project = req("GET", f"/v1/admin/projects/{proj}")
run = req("GET", f"/api/projects/{proj}/decisions/{decision['run_id']}", key=ci)
p.terminate()
p.wait()

# The database, as SQL that psql loads into an empty database.
with open(os.path.join(out, "dump.sql"), "w") as f:
    subprocess.run([os.path.join(pgbin, "pg_dump"), "--format=plain", "--no-owner",
                    "--no-privileges", db], stdout=f, check=True)
# The bucket's objects, by their path under the prefix.
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for o in page.get("Contents", []):
        rel = o["Key"][len(prefix) + 1:]
        path = os.path.join(out, "bucket", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
json.dump({"origin": log["origin"], "verifier_key": log["verifier_key"], "tree_size": n,
           "checkpoint": log["checkpoint"], "entries": entries, "project": project,
           "ci_key": ci, "decision": {"run_id": decision["run_id"], "log_index": run["log_index"], "leaf_hash": run["leaf_hash"],
                                      "record": run["record"], "envelope": run["envelope"]}},
          open(os.path.join(out, "expected.json"), "w"), indent=2)
subprocess.run(["psql", admin_db, "-qc", f"DROP DATABASE {name}"], check=True)
print(n, proj, file=sys.stderr)
