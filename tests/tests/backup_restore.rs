//! Backups that restore and prove themselves (issue 23, items 1 and 2): the
//! real `stateanchor-log` binary, `backup` online while a thread appends,
//! `backup verify`, `restore`, a corrupted backup refused, a rollback
//! refused and then accepted with `--accept-rollback`, and data written by
//! the first release of data format 1 (`testdata/format-1/`) opening.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use integration_tests::{LogServer, bin, testdata_dir};
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(bin("stateanchor-log"))
        .args(args)
        .output()
        .expect("run stateanchor-log")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn get(url: &str) -> Value {
    reqwest::blocking::get(url)
        .expect("GET")
        .json()
        .expect("json")
}

/// Every file of a directory tree, with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

/// Changes the first character of the backup's manifest's `root_hash`
/// (`root`), so that it is no longer its signed checkpoint's.
fn flip_root_hash(backup: &Path, root: &str) {
    let mut bad = root.as_bytes().to_vec();
    bad[0] = if bad[0] == b'A' { b'B' } else { b'A' };
    let path = backup.join("manifest.json");
    let m = std::fs::read_to_string(&path).expect("manifest");
    std::fs::write(
        &path,
        m.replacen(root, std::str::from_utf8(&bad).expect("utf-8"), 1),
    )
    .expect("write");
}

/// A thread that appends `PREFIX N` entries to `server` until `stop` is
/// set; it returns how many it appended.
fn append_until(
    server: &LogServer,
    prefix: &'static str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u32> {
    let (url, key) = (server.url.clone(), server.admin_key.clone());
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        let mut n = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let r = client
                .post(format!("{url}/v1/entries"))
                .bearer_auth(&key)
                .header("content-type", "application/octet-stream")
                .body(format!("{prefix} {n}"))
                .send()
                .expect("append");
            assert_eq!(r.status().as_u16(), 201);
            n += 1;
        }
        n
    })
}

/// Takes an online backup of a server that keeps appending; returns the
/// backup's directory, its manifest, and the server (still running).
fn backup_under_load(tmp: &Path) -> (std::path::PathBuf, Value, LogServer) {
    let data = tmp.join("data");
    let server = LogServer::start_in(&data, &[]);
    for i in 0..300u32 {
        server.append(format!("before {i}").as_bytes());
    }
    server.wait_for_checkpoint(300);
    let stop = Arc::new(AtomicBool::new(false));
    let appender = append_until(&server, "during", stop.clone());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let to = data.join("backups").join("b1");
    let url = server.url.clone();
    let out = run(&[
        "backup",
        "--to",
        to.to_str().expect("utf-8"),
        "--url",
        &url,
        "--data-dir",
        data.to_str().expect("utf-8"),
    ]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let during = appender.join().expect("appender");
    assert!(out.status.success(), "backup failed: {}", text(&out));
    assert!(during > 0, "nothing was appended during the backup");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(to.join("manifest.json")).expect("manifest"))
            .expect("manifest json");
    (to, manifest, server)
}

#[test]
fn a_backup_taken_under_load_verifies_restores_and_proves_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (backup, manifest, mut server) = backup_under_load(tmp.path());
    let size = manifest["tree_size"].as_u64().expect("tree_size");
    assert!(size >= 300, "{manifest}");

    // Verified read-only, against the published key: nothing changes.
    let before = snapshot(&backup);
    let said = backup_verifies(&backup, &server.verifier_key);
    assert!(said.contains("verified"), "{said}");
    assert_eq!(before, snapshot(&backup), "verify changed the backup");

    // Another log's key is refused.
    let other = LogServer::start(&["--origin", "other.example/log"]);
    let out = run(&[
        "backup",
        "verify",
        backup.to_str().expect("utf-8"),
        "--verifier-key",
        &other.verifier_key,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not other.example/log"),
        "{}",
        text(&out)
    );

    // Bad requests change nothing: a target outside the backup root, one
    // that exists, a wrong admin key.
    let data = server.data_dir.to_str().expect("utf-8").to_owned();
    let elsewhere = tmp.path().join("elsewhere");
    for (to, key, want) in [
        (
            elsewhere.clone(),
            None,
            "is not a new directory under the backup root",
        ),
        (
            backup.clone(),
            None,
            "exists; a backup goes to a new directory",
        ),
        (server.data_dir.join("backups/b2"), Some("sa_bogus"), "401"),
    ] {
        let mut args = vec![
            "backup".to_owned(),
            "--to".into(),
            to.display().to_string(),
            "--url".into(),
            server.url.clone(),
            "--data-dir".into(),
            data.clone(),
        ];
        if let Some(k) = key {
            args.extend(["--admin-key".into(), k.into()]);
        }
        let out = Command::new(bin("stateanchor-log"))
            .args(&args)
            .output()
            .expect("run");
        assert!(!out.status.success());
        assert!(text(&out).contains(want), "want {want:?} in {}", text(&out));
    }
    // Only a log admin may ask for a backup.
    let api = integration_tests::Api::new(&server);
    let (status, key) = api.post(
        "/v1/admin/keys",
        &server.admin_key,
        &serde_json::json!({"name": "ci", "role": "submitter"}),
    );
    assert_eq!(status, 201, "{key}");
    let to = serde_json::json!({"to": server.data_dir.join("backups/b3")});
    let (status, _) = api.post(
        "/v1/admin/backup",
        key["api_key"].as_str().expect("key"),
        &to,
    );
    assert_eq!(status, 403);
    let (status, _) = api.post("/v1/admin/backup", "", &to);
    assert_eq!(status, 401);
    let (status, body) = api.post(
        "/v1/admin/backup",
        &server.admin_key,
        &serde_json::json!({"to": "relative/path"}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(!server.data_dir.join("backups/b3").exists());
    assert!(!elsewhere.exists());
    assert!(!server.data_dir.join("backups/b2").exists());
    assert_eq!(
        before,
        snapshot(&backup),
        "a refused backup changed the old one"
    );

    // A data directory holding another log's key is refused.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::copy(
        other.data_dir.join("log-signing-key"),
        foreign.join("log-signing-key"),
    )
    .expect("cp");
    let out = run(&[
        "restore",
        "--from",
        backup.to_str().expect("utf-8"),
        "--data-dir",
        foreign.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("holds the key of another log"),
        "{}",
        text(&out)
    );
    assert!(!foreign.join("db").exists());

    // Restored into a new data directory, it proves itself and serves.
    let live_root = get(&format!(
        "{}/v1/proof/consistency?first=1&second=2",
        server.url
    ));
    assert!(live_root["proof"].is_array());
    server.stop();
    let restored = tmp.path().join("restored");
    restore_proves(&backup, &restored);
    let again = LogServer::start_in(&restored, &[]);
    assert_eq!(again.verifier_key, server.verifier_key);
    let log = get(&format!("{}/v1/log", again.url));
    assert!(log["tree_size"].as_u64().expect("size") >= size);
    // The restored log proves the backup's checkpoint consistent with its own.
    let latest = log["tree_size"].as_u64().expect("size");
    let proof = get(&format!(
        "{}/v1/proof/consistency?first={size}&second={latest}",
        again.url
    ));
    let proof: Vec<tlog::Hash> = proof["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(h.as_str().expect("b64"))
                .expect("b64");
            tlog::Hash::from_slice(&b).expect("hash")
        })
        .collect();
    let vkey = tlog::VerifierKey::from_text(&server.verifier_key).expect("vkey");
    let old = tlog::open_checkpoint(
        manifest["checkpoint"].as_str().expect("cp").as_bytes(),
        &vkey,
    )
    .expect("manifest checkpoint")
    .checkpoint;
    let new = tlog::open_checkpoint(log["checkpoint"].as_str().expect("cp").as_bytes(), &vkey)
        .expect("served checkpoint")
        .checkpoint;
    tlog::verify_consistency(size, new.tree_size, &old.root_hash, &new.root_hash, &proof)
        .expect("the restored log extends the backup's checkpoint");
}

#[test]
fn corrupted_backups_are_refused_and_restore_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (backup, manifest, mut server) = backup_under_load(tmp.path());
    server.stop();

    // Offline backups work on the stopped server too.
    let offline = tmp.path().join("offline");
    let data = server.data_dir.to_str().expect("utf-8").to_owned();
    let out = run(&[
        "backup",
        "--offline",
        "--data-dir",
        &data,
        "--to",
        offline.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "offline backup: {}", text(&out));
    let out = run(&["backup", "verify", offline.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out));
    // A target that exists is refused.
    let out = run(&[
        "backup",
        "--offline",
        "--data-dir",
        &data,
        "--to",
        offline.to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("exists"), "{}", text(&out));

    let copy = |name: &str| {
        let to = tmp.path().join(name);
        std::fs::create_dir_all(to.join("db")).expect("mkdir");
        for (sub, dir) in [("", backup.clone()), ("db", backup.join("db"))] {
            for e in std::fs::read_dir(&dir).expect("read_dir") {
                let p = e.expect("e").path();
                if p.is_file() {
                    std::fs::copy(&p, to.join(sub).join(p.file_name().expect("name")))
                        .expect("copy");
                }
            }
        }
        to
    };
    let refused = |dir: &Path, want: &str| {
        let out = run(&["backup", "verify", dir.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(want), "want {want:?} in {}", text(&out));
        let target = dir.with_extension("restored");
        let out = run(&[
            "restore",
            "--from",
            dir.to_str().expect("utf-8"),
            "--data-dir",
            target.to_str().expect("utf-8"),
        ]);
        assert!(!out.status.success());
        assert!(text(&out).contains(want), "want {want:?} in {}", text(&out));
        assert!(
            !target.exists(),
            "a refused restore created {}",
            target.display()
        );
    };

    // A flipped byte in the manifest's root hash.
    let flipped = copy("flipped-root");
    let root = manifest["root_hash"].as_str().expect("root");
    flip_root_hash(&flipped, root);
    refused(&flipped, "are not its signed checkpoint's");

    // A flipped byte in the signed checkpoint's root: the signature fails.
    let forged = copy("forged-checkpoint");
    let note_root = manifest["checkpoint"]
        .as_str()
        .expect("cp")
        .lines()
        .nth(2)
        .expect("root line");
    let m = std::fs::read_to_string(forged.join("manifest.json")).expect("manifest");
    let mut v: Value = serde_json::from_str(&m).expect("json");
    let mut forged_root = note_root.as_bytes().to_vec();
    forged_root[1] = if forged_root[1] == b'A' { b'B' } else { b'A' };
    let forged_root = String::from_utf8(forged_root).expect("utf-8");
    v["checkpoint"] = manifest["checkpoint"]
        .as_str()
        .expect("cp")
        .replacen(note_root, &forged_root, 1)
        .into();
    v["root_hash"] = forged_root.into();
    std::fs::write(forged.join("manifest.json"), v.to_string()).expect("write");
    refused(&forged, "does not verify with the log's key");

    // A deleted table file.
    let deleted = copy("deleted-sst");
    let sst = std::fs::read_dir(deleted.join("db"))
        .expect("read_dir")
        .map(|e| e.expect("e").path())
        .find(|p| p.extension().is_some_and(|x| x == "sst"))
        .expect("an sst");
    std::fs::remove_file(&sst).expect("rm");
    refused(&deleted, "is missing");

    // A flipped byte inside a table file.
    let changed = copy("changed-sst");
    let sst = changed.join("db").join(sst.file_name().expect("name"));
    let mut bytes = std::fs::read(&sst).expect("read");
    bytes[10] ^= 1;
    std::fs::write(&sst, bytes).expect("write");
    refused(&changed, "has changed since the backup was made");

    // Not a backup at all.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    refused(&empty, "manifest.json cannot be read");
}

#[test]
fn a_restore_below_the_signed_checkpoint_is_refused_unless_accepted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (backup, manifest, mut server) = backup_under_load(tmp.path());
    // The log goes on past the backup.
    for i in 0..50u32 {
        server.append(format!("after {i}").as_bytes());
    }
    let size_after = get(&format!("{}/v1/log", server.url))["tree_size"]
        .as_u64()
        .expect("size");
    server.wait_for_checkpoint(size_after);
    server.stop();
    let data = server.data_dir.clone();
    let signed = std::fs::read_to_string(data.join("latest-checkpoint")).expect("file");
    // The final checkpoint, signed at shutdown, covers at least as much.
    let size_after: u64 = signed
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("a checkpoint");
    assert!(
        size_after >= manifest["tree_size"].as_u64().expect("s") + 50,
        "{signed}"
    );

    // The operator moves the database aside and restores the older backup.
    std::fs::rename(data.join("db"), tmp.path().join("db.old")).expect("mv");
    let args = [
        "restore",
        "--from",
        backup.to_str().expect("utf-8"),
        "--data-dir",
        data.to_str().expect("utf-8"),
    ];
    let out = run(&args);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("would roll the tree back"), "{msg}");
    assert!(msg.contains("--accept-rollback"), "{msg}");
    assert!(
        !data.join("db").exists(),
        "a refused restore left a database"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("latest-checkpoint")).expect("file"),
        signed
    );

    // The same older database put in place by hand: the server refuses to start.
    std::fs::create_dir(data.join("db")).expect("mkdir");
    for e in std::fs::read_dir(backup.join("db")).expect("read_dir") {
        let p = e.expect("e").path();
        std::fs::copy(&p, data.join("db").join(p.file_name().expect("name"))).expect("cp");
    }
    let out = run(&[
        "serve",
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("would roll the tree back"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(data.join("db")).expect("rm");

    // Accepted explicitly: it says what auditors will see, and keeps the evidence.
    let mut accepted = args.to_vec();
    accepted.push("--accept-rollback");
    let out = run(&accepted);
    assert!(out.status.success(), "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains("ROLLBACK ACCEPTED"), "{msg}");
    assert!(
        msg.contains("cannot prove its new checkpoints consistent"),
        "{msg}"
    );
    let evidence = data.join(format!("latest-checkpoint.rolled-back-from-{size_after}"));
    assert_eq!(std::fs::read_to_string(evidence).expect("evidence"), signed);
    let restored = LogServer::start_in(&data, &[]);
    let log = get(&format!("{}/v1/log", restored.url));
    assert!(log["tree_size"].as_u64().expect("size") < size_after);
    assert!(log["tree_size"].as_u64().expect("size") >= manifest["tree_size"].as_u64().expect("s"));
}

#[test]
fn data_of_format_1_opens_with_its_tree_and_records_unchanged() {
    let src = testdata_dir().join("format-1");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(src.join("expected.json")).expect("expected.json"))
            .expect("json");
    // Opened in a copy: the checked-in files are never written.
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("db")).expect("mkdir");
    for (sub, dir) in [("", src.join("data")), ("db", src.join("data/db"))] {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("e").path();
            if p.is_file() {
                std::fs::copy(&p, data.join(sub).join(p.file_name().expect("name"))).expect("cp");
            }
        }
    }
    // Git keeps no file modes but the executable bit: the key files come
    // out of a clone readable by others, which the server refuses. An
    // operator copying a data directory keeps them 0600; so does this.
    for key in ["log-signing-key", "admin-api-key"] {
        std::fs::set_permissions(
            data.join(key),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod 600");
    }
    let server = LogServer::start_in(&data, &[]);
    assert_eq!(
        server.verifier_key,
        expected["verifier_key"].as_str().expect("vkey")
    );
    let size = expected["tree_size"].as_u64().expect("size");
    let log = get(&format!("{}/v1/log", server.url));
    assert_eq!(log["tree_size"].as_u64(), Some(size));
    // The tree: the root at the recorded size is the recorded checkpoint's.
    let vkey = tlog::VerifierKey::from_text(&server.verifier_key).expect("vkey");
    let recorded = tlog::open_checkpoint(
        expected["checkpoint"].as_str().expect("cp").as_bytes(),
        &vkey,
    )
    .expect("recorded checkpoint")
    .checkpoint;
    let served = tlog::open_checkpoint(log["checkpoint"].as_str().expect("cp").as_bytes(), &vkey)
        .expect("served checkpoint")
        .checkpoint;
    assert_eq!(served.tree_size, size);
    assert_eq!(served.root_hash, recorded.root_hash);
    // The entries, byte for byte, and their leaf hashes.
    let entries = get(&format!("{}/v1/entries?start=0&end={size}", server.url));
    assert_eq!(entries["entries"], expected["entries"]);
    // The records: the project as it was written.
    let project = &expected["project"];
    let id = project["project_id"].as_str().expect("id");
    let (status, got) = integration_tests::Api::new(&server)
        .get(&format!("/v1/admin/projects/{id}"), &server.admin_key);
    assert_eq!(status, 200);
    assert_eq!(&got, project);
    // A backup of the migrated data proves itself.
    let out = run(&[
        "backup",
        "--to",
        data.join("backups/b").to_str().expect("utf-8"),
        "--url",
        &server.url,
        "--data-dir",
        data.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&[
        "backup",
        "verify",
        data.join("backups/b").to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

/// `backup --to DIR --base PREV [--offline]` against the server of `data`.
fn backup_with_base(server: Option<&LogServer>, data: &Path, to: &Path, base: &Path) -> Output {
    let mut args = vec![
        "backup",
        "--to",
        to.to_str().expect("utf-8"),
        "--base",
        base.to_str().expect("utf-8"),
        "--data-dir",
        data.to_str().expect("utf-8"),
    ];
    match server {
        Some(s) => args.extend(["--url", s.url.as_str()]),
        None => args.push("--offline"),
    }
    run(&args)
}

/// The numbers of `N files linked from PREV (..), M written (..)`.
fn linked_and_written(out: &Output) -> (u64, u64) {
    let t = text(out);
    let line = t
        .lines()
        .find(|l| l.contains(" files linked from "))
        .unwrap_or_else(|| panic!("no linked line in {t}"));
    let linked = line
        .split_whitespace()
        .next()
        .expect("n")
        .parse()
        .expect("n");
    let written = line
        .rsplit(", ")
        .next()
        .and_then(|w| w.split_whitespace().next())
        .expect("written")
        .parse()
        .expect("written");
    (linked, written)
}

/// The table files of `new/db` that are the same inode as in `old/db`
/// (RocksDB's own checkpoint also hard-links its `OPTIONS` file).
fn shared_inodes(old: &Path, new: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut n = 0;
    for e in std::fs::read_dir(new.join("db")).expect("read_dir") {
        let p = e.expect("e").path();
        if !p.extension().is_some_and(|x| x == "sst" || x == "blob") {
            continue;
        }
        let theirs = old.join("db").join(p.file_name().expect("name"));
        if let (Ok(a), Ok(b)) = (std::fs::metadata(&p), std::fs::metadata(&theirs))
            && a.ino() == b.ino()
            && a.dev() == b.dev()
        {
            n += 1;
        }
    }
    n
}

/// A copy of a backup directory (its files and its `db/`).
fn copy_backup(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("db")).expect("mkdir");
    for sub in ["", "db"] {
        for e in std::fs::read_dir(from.join(sub)).expect("read_dir") {
            let p = e.expect("e").path();
            if p.is_file() {
                std::fs::copy(&p, to.join(sub).join(p.file_name().expect("name"))).expect("copy");
            }
        }
    }
}

/// `backup verify DIR --verifier-key KEY` succeeds; returns what it said.
fn backup_verifies(dir: &Path, key: &str) -> String {
    let out = run(&[
        "backup",
        "verify",
        dir.to_str().expect("utf-8"),
        "--verifier-key",
        key,
    ]);
    assert!(
        out.status.success(),
        "verify {} failed: {}",
        dir.display(),
        text(&out)
    );
    text(&out)
}

fn restore_proves(backup: &Path, into: &Path) {
    let out = run(&[
        "restore",
        "--from",
        backup.to_str().expect("utf-8"),
        "--data-dir",
        into.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "restore failed: {}", text(&out));
    assert!(text(&out).contains("proved"), "{}", text(&out));
}

#[test]
fn an_incremental_backup_links_unchanged_files_and_stands_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // b1: a full backup taken under load.
    let (b1, m1, mut server) = backup_under_load(tmp.path());
    assert_eq!(m1["backup_version"], 1, "a full backup stays version 1");
    assert!(m1.get("base").is_none(), "{m1}");
    let data = server.data_dir.clone();
    for i in 0..200u32 {
        server.append(format!("after b1 {i}").as_bytes());
    }
    // b2: incremental from b1, online, while a thread appends.
    let stop = Arc::new(AtomicBool::new(false));
    let appender = append_until(&server, "during b2", stop.clone());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let b2 = data.join("backups").join("b2");
    let out = backup_with_base(Some(&server), &data, &b2, &b1);
    stop.store(true, Ordering::Relaxed);
    appender.join().expect("appender");
    assert!(out.status.success(), "incremental backup: {}", text(&out));
    let (linked, written) = linked_and_written(&out);
    assert!(linked > 0, "nothing linked: {}", text(&out));
    assert!(written > 0, "{}", text(&out));
    assert_eq!(
        shared_inodes(&b1, &b2),
        linked,
        "the linked files are b1's inodes: {}",
        text(&out)
    );
    assert!(
        !data.join("backup-staging").exists(),
        "the staging directory was left"
    );
    let m2: Value =
        serde_json::from_slice(&std::fs::read(b2.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(m2["backup_version"], 2);
    assert_eq!(m2["base"]["linked_files"].as_u64(), Some(linked));
    assert_eq!(m2["base"]["tree_size"], m1["tree_size"]);
    assert!(m2["tree_size"].as_u64() > m1["tree_size"].as_u64(), "{m2}");
    // Only table and blob files are ever linked.
    let files = m2["files"].as_array().expect("files");
    assert_eq!(files.len() as u64, linked + written);

    // b3: incremental from b2, offline.
    server.stop();
    let b3 = tmp.path().join("b3");
    let out = backup_with_base(None, &data, &b3, &b2);
    assert!(out.status.success(), "offline incremental: {}", text(&out));
    let (linked3, _) = linked_and_written(&out);
    assert!(linked3 > 0, "{}", text(&out));
    assert_eq!(shared_inodes(&b2, &b3), linked3);

    // The bases deleted, each later backup is whole.
    std::fs::remove_dir_all(&b1).expect("rm b1");
    backup_verifies(&b2, &server.verifier_key);
    std::fs::remove_dir_all(&b2).expect("rm b2");
    let out = run(&["backup", "verify", b3.to_str().expect("utf-8")]);
    assert!(out.status.success(), "b3 without b2: {}", text(&out));
    let restored = tmp.path().join("restored");
    restore_proves(&b3, &restored);
    let again = LogServer::start_in(&restored, &[]);
    let log = get(&format!("{}/v1/log", again.url));
    assert!(
        log["tree_size"].as_u64() >= m2["tree_size"].as_u64(),
        "{log}"
    );
}

#[test]
fn a_bad_base_is_refused_and_nothing_is_made() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (b1, m1, server) = backup_under_load(tmp.path());
    let data = server.data_dir.clone();
    let root = data.join("backups");
    let target = root.join("new");
    let refused = |base: &Path, want: &str| {
        let out = backup_with_base(Some(&server), &data, &target, base);
        assert!(!out.status.success(), "accepted {}", base.display());
        assert!(text(&out).contains(want), "want {want:?} in {}", text(&out));
        assert!(
            !target.exists(),
            "a refused backup made {}",
            target.display()
        );
        assert!(!data.join("backup-staging").exists());
    };
    // A base that does not exist; one outside the backup root.
    refused(&root.join("nope"), "the base backup");
    refused(&root.join("nope"), "cannot be read");
    let outside = tmp.path().join("outside");
    copy_backup(&b1, &outside);
    refused(&outside, "is not under the backup root");
    // Not a backup; a manifest that is not JSON.
    let empty = root.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    refused(&empty, "manifest.json cannot be read");
    let garbage = root.join("garbage");
    copy_backup(&b1, &garbage);
    std::fs::write(garbage.join("manifest.json"), b"{not json").expect("write");
    refused(&garbage, "is not a backup manifest");
    // Another log's backup.
    let other = LogServer::start(&["--origin", "other.example/log"]);
    let theirs = other.data_dir.join("backups").join("o1");
    let out = run(&[
        "backup",
        "--to",
        theirs.to_str().expect("utf-8"),
        "--url",
        &other.url,
        "--data-dir",
        other.data_dir.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let foreign = root.join("foreign");
    copy_backup(&theirs, &foreign);
    refused(&foreign, "it is a backup of the log other.example/log");
    // A tampered manifest: its root is not its signed checkpoint's.
    let tampered = root.join("tampered");
    copy_backup(&b1, &tampered);
    flip_root_hash(&tampered, m1["root_hash"].as_str().expect("root"));
    refused(&tampered, "are not its signed checkpoint's");
    // A base table file whose bytes changed since (same size).
    let changed = root.join("changed");
    copy_backup(&b1, &changed);
    let sst = std::fs::read_dir(changed.join("db"))
        .expect("read_dir")
        .map(|e| e.expect("e").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .max_by_key(|p| std::fs::metadata(p).expect("meta").len())
        .expect("an sst");
    let mut bytes = std::fs::read(&sst).expect("read");
    bytes[10] ^= 1;
    std::fs::write(&sst, bytes).expect("write");
    refused(&changed, "has changed since the backup was made");
    // The good base still works after all that.
    let out = backup_with_base(Some(&server), &data, &target, &b1);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["backup", "verify", target.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A backup root on another file system than the data directory (a backup
/// volume): a full backup copies every file, an incremental one links the
/// unchanged ones from its base. `/dev/shm` (tmpfs) stands for the volume;
/// the test says so and returns if it is on the data's file system.
#[test]
fn on_a_backup_volume_an_incremental_backup_writes_only_new_files() {
    use std::os::unix::fs::MetadataExt as _;
    let tmp = tempfile::tempdir().expect("tempdir");
    let volume = match tempfile::tempdir_in("/dev/shm") {
        Ok(v)
            if std::fs::metadata(v.path()).expect("meta").dev()
                != std::fs::metadata(tmp.path()).expect("meta").dev() =>
        {
            v
        }
        _ => {
            eprintln!("skipped: no /dev/shm on another file system than the temporary directory");
            return;
        }
    };
    let data = tmp.path().join("data");
    let root = volume.path().to_str().expect("utf-8").to_owned();
    let mut server = LogServer::start_in(&data, &["--backup-root", &root]);
    for i in 0..300u32 {
        server.append(format!("entry {i}").as_bytes());
    }
    server.wait_for_checkpoint(300);
    let online = |to: &Path, base: Option<&Path>| {
        let mut args = vec![
            "backup",
            "--to",
            to.to_str().expect("utf-8"),
            "--url",
            &server.url,
            "--data-dir",
            data.to_str().expect("utf-8"),
        ];
        if let Some(b) = base {
            args.extend(["--base", b.to_str().expect("utf-8")]);
        }
        let out = run(&args);
        assert!(out.status.success(), "backup: {}", text(&out));
        out
    };
    let b1 = volume.path().join("b1");
    let out = online(&b1, None);
    assert!(text(&out).contains("files written"), "{}", text(&out));
    for i in 0..100u32 {
        server.append(format!("more {i}").as_bytes());
    }
    let b2 = volume.path().join("b2");
    let out = online(&b2, Some(&b1));
    let (linked, written) = linked_and_written(&out);
    assert!(linked > 0 && written > 0, "{}", text(&out));
    assert_eq!(shared_inodes(&b1, &b2), linked, "{}", text(&out));
    assert!(!data.join("backup-staging").exists());
    server.stop();
    std::fs::remove_dir_all(&b1).expect("rm b1");
    backup_verifies(&b2, &server.verifier_key);
    restore_proves(&b2, &tmp.path().join("restored"));
}
