//! The PostgreSQL + object storage mode (issue 13) on real services: a
//! PostgreSQL server and an S3 server (moto), started by
//! `scripts/test-services.sh`. Without them (the variables it exports are
//! unset) every test here returns at once, saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::{
    Api, LogServer, bin, cluster_services_or_skip, new_cluster_log, psql, test_database_ca,
    two_frontends, with_sslmode,
};
use log_server::storage::objects::Objects;
use log_server::storage::postgres::Postgres;
use serde_json::{Value, json};

/// Copies every object under a prefix into a directory and prints each
/// key with its Cache-Control.
const SYNC: &str = r#"
import os, sys, boto3
bucket, prefix, out = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for o in page.get("Contents", []):
        rel = o["Key"][len(prefix) + 1:]
        got = s3.get_object(Bucket=bucket, Key=o["Key"])
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").write(got["Body"].read())
        print(rel, got.get("CacheControl"))
"#;

/// Two frontends on one database and bucket, appending concurrently: every
/// index is assigned once; the integrated tree covers all; the bucket alone
/// is a tlog-tiles log that `stateanchor-verify audit` verifies; when the
/// integrator is killed, the other frontend takes over once the lease ends.
#[test]
fn two_frontends_one_log_and_a_takeover() {
    if !cluster_services_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, db, objects) = two_frontends(tmp.path());
    assert_eq!(a.verifier_key, b.verifier_key);

    let per = 60u32;
    let t = Instant::now();
    let indexes: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = [&a, &b]
            .into_iter()
            .enumerate()
            .flat_map(|(n, srv)| {
                (0..2).map(move |w| {
                    s.spawn(move || {
                        (0..per / 2)
                            .map(|i| srv.append(format!("f{n} w{w} e{i}").as_bytes()))
                            .collect::<Vec<_>>()
                    })
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    eprintln!(
        "{} appends through two frontends in {:?}",
        indexes.len(),
        t.elapsed()
    );
    let total = u64::from(per) * 2;
    let set: BTreeSet<u64> = indexes.iter().copied().collect();
    assert_eq!(set.len() as u64, total, "an index was assigned twice");
    assert_eq!(
        set.into_iter().collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>()
    );
    a.wait_for_checkpoint(total);
    b.wait_for_checkpoint(total);

    // The bucket is the log: copy its objects as they are (with their
    // Cache-Control) and audit them with no server in between. (moto does
    // not serve objects to unauthenticated readers, so the copy is made
    // with the credentials; a CDN or public bucket serves the same paths.)
    let copy = tmp.path().join("bucket");
    let (bucket, prefix) = objects
        .strip_prefix("s3://")
        .unwrap()
        .split_once('/')
        .unwrap();
    let out = Command::new("python3")
        .args(["-c", SYNC, bucket, prefix])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listing.contains("checkpoint no-cache"), "{listing}");
    assert!(
        listing.contains("tile/0/000.p/120 public, max-age=31536000, immutable"),
        "{listing}"
    );
    let out = Command::new(bin("stateanchor-verify"))
        .args(["audit", "--key", &a.verifier_key, "--log"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit of the bucket failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Kill the integrator (SIGKILL); the other takes over after the lease.
    let holder = psql(&db, "SELECT lease_holder FROM sa_coord");
    let pid: u32 = holder.split('-').rev().nth(1).unwrap().parse().unwrap();
    let (mut dead, alive) = if pid == a.child.id() { (a, b) } else { (b, a) };
    assert_eq!(dead.child.id(), pid, "the lease holder is one of the two");
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    let t = Instant::now();
    let index = alive.append(b"after the integrator died");
    assert_eq!(index, total);
    alive.wait_for_checkpoint(total + 1);
    let gap = t.elapsed();
    eprintln!("failover: covered by a checkpoint {gap:?} after the integrator was killed");
    assert!(gap < Duration::from_secs(15));
    let new_holder = psql(&db, "SELECT lease_holder FROM sa_coord");
    assert_ne!(new_holder, holder);
    drop(alive);
}

/// A stale integrator's compare-and-swap fails: after its lease expired and
/// another took it (a new epoch), it cannot advance the tree.
#[test]
fn a_stale_integrators_compare_and_swap_fails() {
    if !cluster_services_or_skip() {
        return;
    }
    let (db, _) = new_cluster_log();
    let pg = Postgres::connect(&db, Duration::from_secs(10)).unwrap();
    let old = pg
        .acquire_lease("old", Duration::from_millis(200))
        .unwrap()
        .unwrap();
    assert!(
        pg.acquire_lease("new", Duration::from_secs(10))
            .unwrap()
            .is_none(),
        "the lease is held"
    );
    std::thread::sleep(Duration::from_millis(400));
    let new = pg
        .acquire_lease("new", Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert!(new.epoch > old.epoch);
    let root = tlog::Hash::default();
    assert!(
        !pg.advance("old", old, 0, 0, &root, b"stale").unwrap(),
        "stale CAS must fail"
    );
    assert_eq!(
        pg.coordinator().unwrap().checkpoint,
        None,
        "nothing published"
    );
    assert!(pg.advance("new", new, 0, 0, &root, b"fresh").unwrap());
    // A CAS from a size that is no longer current fails too.
    assert!(!pg.advance("new", new, 5, 0, &root, b"behind").unwrap());
    assert_eq!(
        pg.coordinator().unwrap().checkpoint.as_deref(),
        Some(&b"fresh"[..])
    );
    // The old holder cannot take the lease back while it is held.
    assert!(
        pg.acquire_lease("old", Duration::from_secs(1))
            .unwrap()
            .is_none()
    );
}

/// Create-only writes: an object already there with the same bytes is
/// success (HTTP 412 on a retry); with other bytes it is an error.
#[test]
fn a_412_on_identical_bytes_is_success() {
    if !cluster_services_or_skip() {
        return;
    }
    let (_, objects) = new_cluster_log();
    let o = Objects::open(&objects, 1 << 20, Duration::from_secs(10)).unwrap();
    let put = |b: &[u8]| o.put_immutable(vec![("tile/0/000.p/1".into(), b.to_vec())]);
    put(b"same").unwrap();
    put(b"same").unwrap();
    let err = put(b"other").unwrap_err();
    assert!(format!("{err:#}").contains("other bytes"), "{err:#}");
    assert_eq!(o.get("tile/0/000.p/1").unwrap().unwrap().as_ref(), b"same");
    // A smaller tree's checkpoint never replaces a larger one's.
    o.put_checkpoint(5, b"origin\n5\nroot\n").unwrap();
    o.put_checkpoint(3, b"origin\n3\nroot\n").unwrap();
    assert_eq!(
        o.get("checkpoint").unwrap().unwrap().as_ref(),
        b"origin\n5\nroot\n"
    );
}

/// An OpenAPI document for a server-classified decision.
const DOC: &str = "openapi: 3.0.3
info: {title: users, version: 1.0.0}
paths:
  /users/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        '200': {description: a user}
";

/// `migrate` (over TLS to PostgreSQL) copies a RocksDB log and proves the
/// roots match; the copy is then served in the PostgreSQL mode with the
/// same checkpoint root, and with the kept OpenAPI documents of a
/// server-classified decision and the project's alert settings.
#[test]
fn migrate_copies_a_rocksdb_log_and_proves_the_root() {
    if !cluster_services_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // No monitoring: its records would grow the logs under the test.
    let mut rocks = LogServer::start_in(&dir, &["--no-monitor"]);
    let ok = |method: &str, path: &str, key: &str, body: Option<&Value>| {
        let (st, v) = Api::at(rocks.url.clone()).send(method, path, Some(key), body);
        assert!((200..300).contains(&st), "{method} {path}: {st} {v}");
        v
    };
    let admin = rocks.admin_key.clone();
    let project = ok(
        "POST",
        "/v1/admin/projects",
        &admin,
        Some(&json!({"name": "migrated"})),
    )["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ci = ok(
        "POST",
        &format!("/v1/admin/projects/{project}/principals"),
        &admin,
        Some(&json!({"name": "ci", "roles": ["ci"]})),
    )["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let revision = DOC.replace("version: 1.0.0", "version: 1.1.0");
    ok(
        "POST",
        &format!("/api/projects/{project}/decisions"),
        &ci,
        Some(
            &json!({"commit_sha": "abcdef0", "branch": "main", "author": "dev",
            "base_spec": DOC, "revision_spec": revision}),
        ),
    );
    let alerts = format!("/v1/admin/projects/{project}/alerts");
    let secret = "a webhook secret of the migrated log";
    ok(
        "PUT",
        &alerts,
        &admin,
        Some(
            &json!({"webhooks": [{"url": "http://127.0.0.1:9/hook", "format": "json",
            "secret": secret}], "digest_recipients": ["team@example.com"]}),
        ),
    );
    let alerts_before = ok("GET", &alerts, &admin, None);
    let mut size = 0;
    for i in 0..300u32 {
        size = rocks.append(format!("entry {i}").as_bytes()) + 1;
    }
    let cp = rocks.wait_for_checkpoint(size);
    assert_eq!(cp.lines().nth(1), Some(size.to_string().as_str()));
    rocks.stop();
    let (db, objects) = new_cluster_log();
    // Over verified TLS, as a managed database is reached, when the
    // services have a CA.
    let tls: Vec<String> = match test_database_ca() {
        Some(ca) => vec![
            "--database".into(),
            with_sslmode(&db, "require"),
            "--database-ca".into(),
            ca.to_str().unwrap().into(),
        ],
        None => vec!["--database".into(), db.clone()],
    };
    let out = Command::new(bin("stateanchor-log"))
        .args(["migrate", "--data-dir"])
        .arg(&dir)
        .args(&tls)
        .args(["--objects", &objects])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("roots match at size {size}")),
        "{stdout}"
    );
    assert!(stdout.contains("documents: 2\n"), "{stdout}");
    assert!(stdout.contains("alert settings: 1\n"), "{stdout}");
    let root = cp.lines().nth(2).unwrap();
    assert!(
        stdout.contains(&format!("rocksdb root: {root}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("copy root:    {root}")),
        "{stdout}"
    );
    // Migrating again into the same database is refused.
    let again = Command::new(bin("stateanchor-log"))
        .args(["migrate", "--data-dir"])
        .arg(&dir)
        .args(["--database", &db, "--objects", &objects])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let served = LogServer::start_in(
        &dir,
        &[
            "--database",
            &db,
            "--objects",
            &objects,
            "--lease-ttl",
            "1s",
            "--no-monitor",
        ],
    );
    let text = served.wait_for_checkpoint(size);
    assert_eq!(text.lines().nth(2), Some(root));
    // The kept documents, by their SHA-256, as the decision names them.
    for doc in [DOC, revision.as_str()] {
        let sha = compliance::record::sha256_hex(doc.as_bytes());
        let (st, body) =
            Api::at(served.url.clone()).get(&format!("/api/projects/{project}/specs/{sha}"), &ci);
        assert_eq!((st, body), (200, Value::String(doc.to_owned())));
    }
    // The alert settings, secrets included (the API shows them redacted).
    let (st, after) = Api::at(served.url.clone()).get(&alerts, &admin);
    assert_eq!(st, 200, "{after}");
    assert_eq!(after, alerts_before);
    assert_eq!(after["webhooks"][0]["url"], "http://127.0.0.1:9/hook");
    assert_eq!(after["digest_recipients"], json!(["team@example.com"]));
    let stored = psql(
        &db,
        &format!(
            "SELECT convert_from(settings, 'UTF8') FROM sa_alerts WHERE project = '{project}'"
        ),
    );
    assert!(stored.contains(secret), "{stored}");
}

/// Bad input is a clear error, and nothing is created.
#[test]
fn bad_database_or_bucket_is_a_clear_error() {
    if !cluster_services_or_skip() {
        return;
    }
    let (db, objects) = new_cluster_log();
    let err = refused("postgres://sa@127.0.0.1:1/nothing", &objects, &[]);
    assert!(err.contains("connecting to PostgreSQL"), "{err}");
    let err = refused("not a url", &objects, &[]);
    assert!(err.contains("the database URL"), "{err}");
    let err = refused(&db, "s3://no-such-bucket-here/x", &[]);
    assert!(err.contains("no-such-bucket-here"), "{err}");
    let err = refused(&db, "https://example.com/bucket", &[]);
    assert!(err.contains("expected s3://BUCKET"), "{err}");
    // Nothing was created in the database by the failed starts with a bad bucket.
    assert_eq!(
        psql(
            &db,
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'sa_%'"
        ),
        "0"
    );
}

/// `stateanchor-log serve` with these arguments after `--database`, expected
/// to refuse to start: its stderr.
fn refused(db: &str, objects: &str, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(bin("stateanchor-log"))
        .args(["serve", "--data-dir"])
        .arg(tmp.path())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--database",
            db,
            "--objects",
            objects,
        ])
        .args(extra)
        .env_remove("STATEANCHOR_DATABASE_CA")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "started: {stderr}");
    assert!(stderr.starts_with("stateanchor-log: error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// TLS to PostgreSQL: with `sslmode=require` and the CA of the server's
/// certificate (`--database-ca`), the real server appends and reads back,
/// and every one of its connections is encrypted. Without the CA (an
/// untrusted certificate; `sslmode=require`, or the default `prefer`, which
/// does not fall back to plain text), for a host name the certificate is
/// not for, or with a CA file that holds no certificate, it refuses to
/// start and says why, without the password.
#[test]
fn tls_to_postgresql_is_verified() {
    if !cluster_services_or_skip() {
        return;
    }
    let Some(ca) = test_database_ca() else {
        eprintln!("skipped: no STATEANCHOR_TEST_DATABASE_CA (scripts/test-services.sh exports it)");
        return;
    };
    let ca = ca.to_str().unwrap().to_owned();
    let (db, objects) = new_cluster_log();
    let tls_db = with_sslmode(&db, "require");
    let tmp = tempfile::tempdir().unwrap();
    let s = LogServer::start_in(
        &tmp.path().join("data"),
        &[
            "--database",
            &tls_db,
            "--objects",
            &objects,
            "--database-ca",
            &ca,
            "--lease-ttl",
            "1s",
            "--checkpoint-interval",
            "100ms",
        ],
    );
    let index = s.append(b"sequenced over TLS");
    s.wait_for_checkpoint(index + 1);
    let v: serde_json::Value = reqwest::blocking::get(format!("{}/v1/entries/{index}", s.url))
        .unwrap()
        .json()
        .unwrap();
    use base64::Engine as _;
    let entry = base64::engine::general_purpose::STANDARD
        .decode(v["entry"].as_str().unwrap())
        .unwrap();
    assert_eq!(entry, b"sequenced over TLS");
    let name = db.rsplit_once('/').unwrap().1.split('?').next().unwrap();
    let ssl = psql(
        &db,
        &format!(
            "SELECT count(*), bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a \
             USING (pid) WHERE a.datname = '{name}' AND a.application_name = 'stateanchor-log'"
        ),
    );
    let (count, all_tls) = ssl.split_once('|').unwrap();
    assert!(count.parse::<u32>().unwrap() > 0, "{ssl}");
    assert_eq!(all_tls, "t", "every connection of the server is TLS: {ssl}");
    drop(s);

    // No CA: the test CA is not among the system's roots. The password is
    // never shown.
    let with_password = tls_db.replacen("://sa@", "://sa:hunter2@", 1);
    assert_ne!(with_password, tls_db);
    let err = refused(&with_password, &objects, &[]);
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    assert!(err.contains("--database-ca"), "{err}");
    assert!(err.contains("sa:***@127.0.0.1"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    // The default sslmode (prefer) does not fall back to plain text.
    let err = refused(&with_sslmode(&db, ""), &objects, &[]);
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    // A host name the certificate is not for (it is for 127.0.0.1 only):
    // `localhost`, reached at 127.0.0.1.
    let localhost = format!(
        "{}&hostaddr=127.0.0.1",
        tls_db.replacen("@127.0.0.1:", "@localhost:", 1)
    );
    let err = refused(&localhost, &objects, &["--database-ca", &ca]);
    assert!(err.contains("not valid for the host name"), "{err}");
    // A CA file that is no CA file.
    let garbage = tmp.path().join("garbage-ca.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let err = refused(
        &tls_db,
        &objects,
        &["--database-ca", garbage.to_str().unwrap()],
    );
    assert!(err.contains("garbage-ca.pem"), "{err}");
    assert!(err.contains("holds no PEM certificate"), "{err}");
}

/// A sign-in with the identity provider started on one frontend finishes
/// on the other, as behind a load balancer without sticky sessions: the
/// pending sign-in is in the database (`sa_pending_sign_ins`, the SHA-256
/// of its state and of the browser's binding only), not in the memory of
/// the frontend that started it. It is used once, whichever frontend the
/// replay reaches, and the session works on both.
#[test]
fn a_sign_in_started_on_one_frontend_finishes_on_the_other() {
    use integration_tests::oidc::{Agent, Provider, free_port};
    if !cluster_services_or_skip() {
        return;
    }
    let (db, objects) = new_cluster_log();
    let dir = tempfile::tempdir().unwrap();
    // The address people use: frontend A's (the load balancer's, in
    // production, on every frontend's --public-url).
    let port_a = free_port();
    let public = format!("http://127.0.0.1:{port_a}");
    let callback = format!("{public}/ui/oidc/callback");
    let provider = Provider::start("provider.mjs", &callback, 0);
    let flags = provider.log_flags(&dir.path().join("client-secret"));
    let frontend = |name: &str, listen: &str| {
        let mut args = vec![
            "--database",
            &db,
            "--objects",
            &objects,
            "--lease-ttl",
            "1s",
            "--listen",
            listen,
            "--public-url",
            &public,
        ];
        args.extend(flags.iter().map(String::as_str));
        LogServer::start_in(&dir.path().join(name), &args)
    };
    let a = frontend("a", &format!("127.0.0.1:{port_a}"));
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    std::fs::copy(
        dir.path().join("a/log-signing-key"),
        dir.path().join("b/log-signing-key"),
    )
    .unwrap();
    let b = frontend("b", "127.0.0.1:0");

    let api = Api::new(&a);
    let project = api.create_project(&a.admin_key, "payments-api");
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{project}/principals"),
        &a.admin_key,
        &json!({"name": "carol", "roles": ["codeowner"],
            "idp": {"issuer": provider.issuer, "subject": "carol"}}),
    );
    assert_eq!(st, 201, "{v}");

    // Started on B; the provider sends the browser back to the public
    // address, A.
    let agent = Agent::new();
    let back = agent.follow_to(format!("{}/ui/oidc/start", b.url), &callback, "carol");
    assert_eq!(psql(&db, "SELECT count(*) FROM sa_pending_sign_ins"), "1");
    let binding = agent.cookie("sa_oidc").expect("the binding cookie");
    let answer = agent.get(&back);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let session = agent.cookie("sa_session").expect("a session cookie");
    assert_eq!(psql(&db, "SELECT count(*) FROM sa_pending_sign_ins"), "0");
    for f in [&a, &b] {
        let other = Agent::new();
        other.set_cookie("sa_session", Some(&session));
        let page = other.get(&format!("{}/ui/p/{project}", f.url));
        assert_eq!(page.status, 200, "{}: {}", f.url, page.body);
    }

    // The same callback brought to B, with the binding cookie put back:
    // used up already.
    let replayer = Agent::new();
    replayer.set_cookie("sa_oidc", Some(&binding));
    let replay = replayer.get(&back.replacen(&public, &b.url, 1));
    assert_eq!(replay.status, 403, "{}", replay.body);
    assert!(
        replay
            .body
            .contains("unknown or already used sign-in state"),
        "{}",
        replay.body
    );
    assert!(replayer.cookie("sa_session").is_none());
}
