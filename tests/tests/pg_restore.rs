//! The PostgreSQL + object storage mode over the years (issue 23), on the
//! real services of `scripts/test-services.sh` (PostgreSQL, moto): the
//! schema's format version, databases of the earlier formats
//! (`testdata/pg-format-1/`, `testdata/pg-format-2/`) opened by the current
//! binary, the operator's
//! backup and restore (a bucket copy, then `pg_dump`, while appends go on),
//! and the rollback rule against the bucket's checkpoint. Without the
//! services every test returns at once, saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use integration_tests::{
    Api, LogServer, bin, cluster_services_or_skip, new_cluster_log, psql, testdata_dir,
    two_frontends,
};
use log_server::storage::postgres::{Postgres, SCHEMA_VERSION};
use serde_json::Value;

/// Copies every object under a prefix into a directory.
const DOWNLOAD: &str = r#"
import os, sys, boto3
bucket, prefix, out = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for o in page.get("Contents", []):
        path = os.path.join(out, o["Key"][len(prefix) + 1:])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").write(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
"#;

/// Puts every file of a directory under a prefix.
const UPLOAD: &str = r#"
import os, sys, boto3
bucket, prefix, src = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for root, _, files in os.walk(src):
    for f in files:
        path = os.path.join(root, f)
        s3.put_object(Bucket=bucket, Key=prefix + "/" + os.path.relpath(path, src), Body=open(path, "rb").read())
"#;

/// Reads one object (stdout), exit status 1 if it is missing.
const READ: &str = r#"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
try:
    sys.stdout.write(s3.get_object(Bucket=sys.argv[1], Key=sys.argv[2])["Body"].read().decode())
except s3.exceptions.NoSuchKey:
    sys.exit(1)
"#;

fn python(script: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap()
}

/// (bucket, prefix) of an `s3://BUCKET/PREFIX` URL.
fn split(objects: &str) -> (&str, &str) {
    objects
        .strip_prefix("s3://")
        .unwrap()
        .split_once('/')
        .unwrap()
}

fn download(objects: &str, to: &Path) {
    let (b, p) = split(objects);
    let out = python(DOWNLOAD, &[b, p, to.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

fn upload(from: &Path, objects: &str) {
    let (b, p) = split(objects);
    let out = python(UPLOAD, &[b, p, from.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

fn object(objects: &str, rel: &str) -> Option<String> {
    let (b, p) = split(objects);
    let out = python(READ, &[b, &format!("{p}/{rel}")]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A PostgreSQL client program of the installed server (`PGBIN`).
fn pg_tool(name: &str) -> PathBuf {
    std::env::var_os("PGBIN").map_or_else(|| PathBuf::from(name), |d| Path::new(&d).join(name))
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    out
}

fn get(url: &str) -> Value {
    reqwest::blocking::get(url).unwrap().json().unwrap()
}

/// A data directory holding (copies of) the key files of `from`, mode 0600.
fn keys_into(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for key in ["log-signing-key", "admin-api-key"] {
        std::fs::copy(from.join(key), to.join(key)).unwrap();
        std::fs::set_permissions(
            to.join(key),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }
}

fn serve_args<'a>(db: &'a str, objects: &'a str) -> Vec<&'a str> {
    vec![
        "--database",
        db,
        "--objects",
        objects,
        "--lease-ttl",
        "1s",
        "--no-monitor",
    ]
}

/// `stateanchor-log serve` expected to refuse to start: its output.
fn refused(data: &Path, db: &str, objects: &str) -> String {
    let out = Command::new(bin("stateanchor-log"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .args(serve_args(db, objects))
        .output()
        .unwrap();
    assert!(!out.status.success(), "started: {}", text(&out));
    text(&out)
}

/// A server whose stderr goes to a file; returns it, its URL and the file.
fn serve_logged(data: &Path, args: &[&str], log: &Path) -> (Child, String) {
    let mut child = Command::new(bin("stateanchor-log"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--checkpoint-interval", "100ms"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{}", std::fs::read_to_string(log).unwrap()))
            .unwrap();
        if let Some(u) = line.strip_prefix("listening: ") {
            break u.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn append(url: &str, key: &str, entry: &[u8]) -> u64 {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/entries"))
        .bearer_auth(key)
        .header("content-type", "application/octet-stream")
        .body(entry.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    resp.json::<Value>().unwrap()["index"].as_u64().unwrap()
}

fn wait_for_size(url: &str, size: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = reqwest::blocking::get(format!("{url}/checkpoint"))
            .and_then(reqwest::blocking::Response::text)
            .unwrap_or_default();
        if t.lines().nth(1).and_then(|l| l.parse::<u64>().ok()) >= Some(size) {
            return t;
        }
        assert!(Instant::now() < deadline, "no checkpoint of size {size}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn verify(args: &[&str]) -> String {
    let out = run_ok(Command::new(bin("stateanchor-verify")).args(args));
    text(&out)
}

/// `stateanchor-verify audit` of the log at `url`: its tree recomputed.
fn audit(key: &str, url: &str) {
    verify(&["audit", "--key", key, "--log", url, "--no-progress"]);
}

/// [`audit`], then `stateanchor-verify consistency` of the log at `url`
/// with the checkpoint saved in `old`.
fn audit_and_consistency(key: &str, url: &str, old: &Path) {
    audit(key, url);
    let old = old.to_str().unwrap();
    verify(&["consistency", "--key", key, "--log", url, "--old", old]);
}

#[test]
fn the_schema_carries_its_format_and_a_later_one_is_refused() {
    if !cluster_services_or_skip() {
        return;
    }
    // Several frontends starting at once on an empty database: one creates
    // the schema, the others find it.
    let (db, objects) = new_cluster_log();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| Postgres::connect(&db, Duration::from_secs(10)).unwrap());
        }
    });
    assert_eq!(
        psql(&db, "SELECT schema_version FROM sa_meta"),
        SCHEMA_VERSION.to_string()
    );
    let pg = Postgres::connect(&db, Duration::from_secs(10)).unwrap();
    assert_eq!(pg.schema_version().unwrap(), i64::from(SCHEMA_VERSION));
    drop(pg);

    // A later format is refused, naming both, and left as it is.
    let _ = psql(&db, "UPDATE sa_meta SET schema_version = 99");
    let tmp = tempfile::tempdir().unwrap();
    let msg = refused(tmp.path(), &db, &objects);
    assert!(
        msg.contains("holds a schema of format 99, written by a later release"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("this release reads formats 1 to {SCHEMA_VERSION}")),
        "{msg}"
    );
    assert!(msg.contains("run the release that wrote it"), "{msg}");
    assert!(
        !msg.contains("sslmode=disable") || !msg.contains("password"),
        "{msg}"
    );
    assert_eq!(psql(&db, "SELECT schema_version FROM sa_meta"), "99");

    // A schema of format 1 (no sa_meta) is migrated at connection.
    let _ = psql(&db, "DROP TABLE sa_meta");
    Postgres::connect(&db, Duration::from_secs(10)).unwrap();
    assert_eq!(
        psql(&db, "SELECT schema_version FROM sa_meta"),
        SCHEMA_VERSION.to_string()
    );
}

#[test]
fn a_first_format_dump_opens_with_its_tree_and_records_unchanged() {
    if !cluster_services_or_skip() {
        return;
    }
    an_old_format_opens_unchanged(1);
}

#[test]
fn a_second_format_dump_opens_with_its_tree_and_records_unchanged() {
    if !cluster_services_or_skip() {
        return;
    }
    an_old_format_opens_unchanged(2);
}

/// Loads `testdata/pg-format-<format>` (a dump, bucket and keys written by
/// the first release of that schema format), starts the current binary on
/// it, and checks that the schema is migrated and the tree and records are
/// what that release served.
fn an_old_format_opens_unchanged(format: u32) {
    let src = testdata_dir().join(format!("pg-format-{format}"));
    let expected: Value =
        serde_json::from_slice(&std::fs::read(src.join("expected.json")).unwrap()).unwrap();
    let (db, objects) = new_cluster_log();
    run_ok(
        Command::new(pg_tool("psql"))
            .args([db.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(src.join("dump.sql")),
    );
    let written = if format == 1 {
        assert_eq!(psql(&db, "SELECT to_regclass('sa_meta') IS NULL"), "t");
        1
    } else {
        psql(&db, "SELECT schema_version FROM sa_meta")
            .parse::<u32>()
            .unwrap()
    };
    assert_eq!(written, format);
    assert!(
        format < SCHEMA_VERSION,
        "an older format than this release's"
    );
    upload(&src.join("bucket"), &objects);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    keys_into(&src.join("data"), &data);

    let server = LogServer::start_in(&data, &serve_args(&db, &objects));
    assert_eq!(
        server.verifier_key,
        expected["verifier_key"].as_str().unwrap()
    );
    // Migrated to the current format.
    assert_eq!(
        psql(&db, "SELECT schema_version FROM sa_meta"),
        SCHEMA_VERSION.to_string()
    );
    // The tree: the served checkpoint is the recorded one's tree.
    let size = expected["tree_size"].as_u64().unwrap();
    let log = get(&format!("{}/v1/log", server.url));
    assert_eq!(log["tree_size"].as_u64(), Some(size));
    let vkey = tlog::VerifierKey::from_text(&server.verifier_key).unwrap();
    let recorded =
        tlog::open_checkpoint(expected["checkpoint"].as_str().unwrap().as_bytes(), &vkey)
            .unwrap()
            .checkpoint;
    let served = tlog::open_checkpoint(log["checkpoint"].as_str().unwrap().as_bytes(), &vkey)
        .unwrap()
        .checkpoint;
    assert_eq!(
        (served.tree_size, served.root_hash),
        (size, recorded.root_hash)
    );
    // Every entry, byte for byte, with its leaf hash.
    let entries = get(&format!("{}/v1/entries?start=0&end={size}", server.url));
    assert_eq!(entries["entries"], expected["entries"]);
    // The records: the project, and the decision with its record and envelope.
    let project = &expected["project"];
    let id = project["project_id"].as_str().unwrap();
    let api = Api::new(&server);
    let (st, got) = api.get(&format!("/v1/admin/projects/{id}"), &server.admin_key);
    assert_eq!((st, &got), (200, project));
    let d = &expected["decision"];
    let (st, got) = api.get(
        &format!(
            "/api/projects/{id}/decisions/{}",
            d["run_id"].as_str().unwrap()
        ),
        expected["ci_key"].as_str().unwrap(),
    );
    assert_eq!(st, 200, "{got}");
    for field in ["log_index", "leaf_hash", "record", "envelope"] {
        assert_eq!(got[field], d[field], "{field}");
    }
    // The served log proves itself, and grows.
    let saved = tmp.path().join("checkpoint.recorded");
    std::fs::write(&saved, expected["checkpoint"].as_str().unwrap()).unwrap();
    let index = server.append(b"after the upgrade");
    assert_eq!(index, size);
    server.wait_for_checkpoint(size + 1);
    let key = server.verifier_key.clone();
    audit_and_consistency(&key, &server.url, &saved);
}

/// The operator's path of docs/operations.md ("PostgreSQL mode"): while two
/// frontends take appends, a copy of the bucket, then `pg_dump`; restored
/// into a new database and a new bucket prefix, the log proves itself
/// against a checkpoint saved before the backup, and takes appends. An
/// older dump under that newer bucket copy is a rollback: refused, then
/// accepted with `--accept-rollback`.
#[test]
fn a_backup_under_load_restores_and_an_older_dump_is_refused() {
    if !cluster_services_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, db, objects) = two_frontends(tmp.path());
    let key = a.verifier_key.clone();
    for i in 0..40u32 {
        a.append(format!("before {i}").as_bytes());
    }
    let saved = tmp.path().join("checkpoint.saved");
    std::fs::write(&saved, a.wait_for_checkpoint(40)).unwrap();
    let dump = |to: &Path| {
        run_ok(
            Command::new(pg_tool("pg_dump"))
                .args(["--format=custom", "--file"])
                .arg(to)
                .arg(&db),
        );
    };
    let older = tmp.path().join("older.dump");
    let copy = tmp.path().join("bucket-copy");
    let backup = tmp.path().join("backup.dump");
    let stop = AtomicBool::new(false);
    let appended = std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let srv = if n.is_multiple_of(2) { &a } else { &b };
                srv.append(format!("during {n}").as_bytes());
                n += 1;
            }
            n
        });
        std::thread::sleep(Duration::from_millis(300));
        dump(&older);
        // Entries the older dump lacks, integrated before the backup.
        let last = a.append(b"after the older dump");
        a.wait_for_checkpoint(last + 1);
        // The backup: the bucket first, then the database.
        download(&objects, &copy);
        dump(&backup);
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        load.join().unwrap()
    });
    assert!(appended > 0);
    let total = a.append(b"last before the loss") + 1;
    a.wait_for_checkpoint(total);
    drop((a, b));

    // Restore into a new database and a new bucket prefix.
    let restore_db = |dump: &Path| {
        let (db, objects) = new_cluster_log();
        run_ok(
            Command::new(pg_tool("pg_restore"))
                .args(["--no-owner", "--exit-on-error", "--dbname", &db])
                .arg(dump),
        );
        (db, objects)
    };
    let restore = |dump: &Path| {
        let (db, objects) = restore_db(dump);
        upload(&copy, &objects);
        (db, objects)
    };
    let (db2, objects2) = restore(&backup);
    let data2 = tmp.path().join("restored");
    keys_into(&tmp.path().join("a"), &data2);
    let restored = LogServer::start_in(&data2, &serve_args(&db2, &objects2));
    let size = get(&format!("{}/v1/log", restored.url))["tree_size"]
        .as_u64()
        .unwrap();
    assert!(size > 40, "{size}");
    audit_and_consistency(&key, &restored.url, &saved);
    let index = restored.append(b"after the restore");
    restored.wait_for_checkpoint(index + 1);
    audit(&key, &restored.url);
    drop(restored);

    // The bucket lost with no copy: the dump alone, under a new, empty
    // prefix. The first frontend rebuilds the tiles and bundles from the
    // database (proved against its integrated root) and publishes its
    // checkpoint.
    let (db4, objects4) = restore_db(&backup);
    let data4 = tmp.path().join("no-bucket");
    keys_into(&tmp.path().join("a"), &data4);
    assert_eq!(object(&objects4, "checkpoint"), None);
    let log4 = tmp.path().join("rebuilt.log");
    let (mut child, url) = serve_logged(&data4, &serve_args(&db4, &objects4), &log4);
    let said = std::fs::read_to_string(&log4).unwrap();
    assert!(
        said.contains("rebuilt the bucket's tiles and bundles from the database"),
        "{said}"
    );
    let rebuilt: u64 = object(&objects4, "checkpoint")
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let dumped: u64 = psql(&db4, "SELECT int_size FROM sa_coord").parse().unwrap();
    assert!(rebuilt >= dumped && dumped > 40, "{rebuilt} {dumped}");
    verify(&["audit", "--key", &key, "--log", &url, "--no-progress"]);
    verify(&[
        "consistency",
        "--key",
        &key,
        "--log",
        &url,
        "--old",
        saved.to_str().unwrap(),
    ]);
    let admin = std::fs::read_to_string(data4.join("admin-api-key")).unwrap();
    let i = append(&url, admin.trim(), b"after the rebuild");
    wait_for_size(&url, i + 1);
    verify(&["audit", "--key", &key, "--log", &url, "--no-progress"]);
    let _ = child.kill();
    let _ = child.wait();
    // A bucket copy holding its checkpoint but not the tiles of it (a copy
    // made while the integrator wrote reads `checkpoint` after listing the
    // tiles, and misses the newest): rebuilt from the database, proved to
    // pass through the checkpoint's root.
    let (db6, objects6) = restore_db(&backup);
    let only = tmp.path().join("only-checkpoint");
    std::fs::create_dir_all(&only).unwrap();
    std::fs::copy(copy.join("checkpoint"), only.join("checkpoint")).unwrap();
    upload(&only, &objects6);
    let data6 = tmp.path().join("partial-copy");
    keys_into(&tmp.path().join("a"), &data6);
    let partial = LogServer::start_in(&data6, &serve_args(&db6, &objects6));
    verify(&[
        "audit",
        "--key",
        &key,
        "--log",
        &partial.url,
        "--no-progress",
    ]);
    let index = partial.append(b"after the partial copy");
    partial.wait_for_checkpoint(index + 1);
    drop(partial);
    // A prefix with no checkpoint but another tree's tile: refused, saying why.
    let (db5, objects5) = restore_db(&backup);
    let dumped: u64 = psql(&db5, "SELECT int_size FROM sa_coord").parse().unwrap();
    let stray = tmp.path().join("stray");
    let (dir, name) = if dumped >= 256 {
        ("tile/0".to_owned(), "000".to_owned())
    } else {
        ("tile/0/000.p".to_owned(), dumped.to_string())
    };
    std::fs::create_dir_all(stray.join(&dir)).unwrap();
    std::fs::write(stray.join(&dir).join(name), vec![7u8; 32 * 256]).unwrap();
    upload(&stray, &objects5);
    let msg = refused(&data4, &db5, &objects5);
    assert!(
        msg.contains("has no checkpoint, and rebuilding its tiles and bundles"),
        "{msg}"
    );
    assert_eq!(object(&objects5, "checkpoint"), None);

    // The older dump under the newer bucket copy: a rollback.
    let (db3, objects3) = restore(&older);
    let data3 = tmp.path().join("rolled-back");
    keys_into(&tmp.path().join("a"), &data3);
    let published = object(&objects3, "checkpoint").unwrap();
    let msg = refused(&data3, &db3, &objects3);
    assert!(msg.contains("would roll the tree back"), "{msg}");
    assert!(msg.contains(&format!("{objects3}/checkpoint")), "{msg}");
    assert!(msg.contains("--accept-rollback"), "{msg}");
    assert_eq!(
        object(&objects3, "checkpoint").as_deref(),
        Some(published.as_str())
    );
    let lost: u64 = published.lines().nth(1).unwrap().parse().unwrap();

    let log = tmp.path().join("accepted.log");
    let mut args = serve_args(&db3, &objects3);
    args.push("--accept-rollback");
    let (mut child, url) = serve_logged(&data3, &args, &log);
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("ROLLBACK ACCEPTED"), "{said}");
    assert!(
        said.contains("cannot prove its new checkpoints consistent"),
        "{said}"
    );
    assert_eq!(
        object(&objects3, &format!("checkpoint.rolled-back-from-{lost}")).as_deref(),
        Some(published.as_str())
    );
    let now: u64 = object(&objects3, "checkpoint")
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(now < lost, "{now} {lost}");
    // The log goes on from the restored tree, and proves itself.
    let admin = std::fs::read_to_string(data3.join("admin-api-key")).unwrap();
    let i = append(&url, admin.trim(), b"after the accepted rollback");
    wait_for_size(&url, i + 1);
    audit(&key, &url);
    let _ = child.kill();
    let _ = child.wait();
}
