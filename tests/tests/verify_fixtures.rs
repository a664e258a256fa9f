//! `stateanchor-verify` on fixture logs written with tlog (`write-test-log`):
//! multi-level tiles, resumable audits, forks and rollbacks, the published
//! (split-view) check on a directory and through a fake GitHub contents API,
//! and the monitor.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod verify_support;

use std::path::{Path, PathBuf};

use verify_support::*;

const ORIGIN: &str = "example.com/fixture";

struct Fixture {
    tmp: tempfile::TempDir,
    key_file: PathBuf,
    vkey: String,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (key_file, vkey) = signer_key(tmp.path(), ORIGIN, 1);
        Fixture {
            tmp,
            key_file,
            vkey,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Log `name` of `n` entries `<prefix><i>`.
    fn log(&self, name: &str, n: u64, at: &[u64], prefix: &str) -> PathBuf {
        let dir = self.path(name);
        write_log(&dir, n, &self.key_file, at, prefix);
        dir
    }

    fn run(&self, args: &[&str]) -> Run {
        verify_in(self.tmp.path(), args)
    }

    /// `published --key <the fixture's key> --log <log> --repo dir:<repo>`.
    fn published(&self, log: &str, repo: &Path) -> Run {
        let repo = format!("dir:{}", s(repo));
        self.run(&[
            "published",
            "--key",
            &self.vkey,
            "--log",
            log,
            "--repo",
            &repo,
        ])
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn audit_with_upper_tiles_resumes_and_detects_forks() {
    let f = Fixture::new();
    // 70,000 entries: a full level-1 tile, partial tiles at levels 0, 1 and 2.
    let a = f.log("a70000", 70_000, &[1000, 65_536], "entry ");
    let server = TestServer::files(&a);
    for log in [s(&a), server.url.as_str()] {
        let run = f.run(&[
            "--json", "audit", "--key", &f.vkey, "--log", log, "--jobs", "3",
        ]);
        expect_code(&run, 0, log);
        let v = run.json();
        assert_eq!(v["entries_verified"], 70_000);
        assert_eq!(v["entry_bundles"], 274);
        assert_eq!(v["tiles_checked"], 274 + 2 + 1);
    }
    // Tamper with a full level-1 tile: detected against the hashes recomputed from the entries.
    let t = f.path("tampered");
    copy_dir(&a, &t);
    flip_byte(&t.join("tile/1/000"), 32 * 200 + 3);
    let run = f.run(&["audit", "--key", &f.vkey, "--log", s(&t)]);
    expect_code(&run, 1, "tampered level-1 tile");
    let ev = run.evidence();
    assert_eq!(ev["details"]["tree_level"], 8, "{ev}");
    assert_eq!(ev["details"]["node_index"], 200, "{ev}");

    // Resumable: audit 70,000, then the log grows to 100,000 and the audit goes on.
    let state = f.path("audit.state");
    let run = f.run(&[
        "--json",
        "audit",
        "--key",
        &f.vkey,
        "--log",
        s(&a),
        "--state",
        s(&state),
    ]);
    expect_code(&run, 0, "first audit with state");
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(st["verified_size"], 70_000);
    assert_eq!(st["complete"], true);
    let a2 = f.log("a100000", 100_000, &[], "entry ");
    let run = f.run(&[
        "--json",
        "audit",
        "--key",
        &f.vkey,
        "--log",
        s(&a2),
        "--state",
        s(&state),
    ]);
    expect_code(&run, 0, "resumed audit");
    assert_eq!(run.json()["resumed_from"], 70_000);
    assert_eq!(run.json()["entries_verified"], 30_000);

    // An audit interrupted by an I/O error saves its progress; the next run goes on from it.
    let broken = f.path("broken");
    copy_dir(&a2, &broken);
    let victim = broken.join("tile/entries/300");
    std::fs::remove_file(&victim).unwrap();
    std::fs::create_dir(&victim).unwrap(); // reading it fails with an I/O error, not a 404
    let state2 = f.path("audit2.state");
    let run = f.run(&[
        "audit",
        "--key",
        &f.vkey,
        "--log",
        s(&broken),
        "--state",
        s(&state2),
    ]);
    expect_code(&run, 2, "I/O error mid-audit");
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&state2).unwrap()).unwrap();
    assert_eq!(st["verified_size"], 300 * 256);
    assert_eq!(st["complete"], false);
    let run = f.run(&[
        "--json",
        "audit",
        "--key",
        &f.vkey,
        "--log",
        s(&a2),
        "--state",
        s(&state2),
    ]);
    expect_code(&run, 0, "resume after the error");
    assert_eq!(run.json()["resumed_from"], 300 * 256);

    // A forked log (other entries, same key): same size, other root.
    let b = f.log("b70000", 70_000, &[], "other ");
    let fork_state = f.path("fork.state");
    std::fs::copy(
        f.path("audit.state").with_file_name("audit.state"),
        &fork_state,
    )
    .unwrap();
    // fork.state is at 100,000 from log a; b is smaller: a rollback.
    let run = f.run(&[
        "audit",
        "--key",
        &f.vkey,
        "--log",
        s(&b),
        "--state",
        s(&fork_state),
    ]);
    expect_code(&run, 1, "rollback against the saved state");
    assert_eq!(run.evidence()["check"], "rollback");
    // From a's state at 70,000: b at 70,000 has another root.
    let st70 = f.path("a70.state");
    expect_code(
        &f.run(&[
            "audit",
            "--key",
            &f.vkey,
            "--log",
            s(&a),
            "--state",
            s(&st70),
        ]),
        0,
        "a at 70,000",
    );
    let run = f.run(&[
        "audit",
        "--key",
        &f.vkey,
        "--log",
        s(&b),
        "--state",
        s(&st70),
    ]);
    expect_code(&run, 1, "fork at the same size");
    assert_eq!(run.evidence()["check"], "fork");
    // b grown to 80,000 from a's state at 70,000: the tree does not extend a's.
    let b2 = f.log("b80000", 80_000, &[], "other ");
    let run = f.run(&[
        "audit",
        "--key",
        &f.vkey,
        "--log",
        s(&b2),
        "--state",
        s(&st70),
    ]);
    expect_code(&run, 1, "fork on the way");
    // A state file for another key is refused.
    let (_, other_vkey) = signer_key(f.tmp.path(), ORIGIN, 2);
    let run = f.run(&[
        "audit",
        "--key",
        &other_vkey,
        "--log",
        s(&a),
        "--state",
        s(&st70),
    ]);
    expect_code(&run, 2, "state of another key");
    assert!(
        run.stderr.contains("another verifier key"),
        "{}",
        run.stderr
    );
}

#[test]
fn consistency_and_inclusion_detect_forks() {
    let f = Fixture::new();
    let a = f.log("a", 5000, &[1, 1000, 4096], "entry ");
    let b = f.log("b", 5000, &[1000], "other ");
    let server_a = TestServer::files(&a);
    let server_b = TestServer::files(&b);
    for (log_a, log_b) in [
        (s(&a).to_owned(), s(&b).to_owned()),
        (server_a.url.clone(), server_b.url.clone()),
    ] {
        for m in [1, 1000, 4096] {
            let old = a.join(format!("checkpoint.{m}"));
            expect_code(
                &f.run(&[
                    "consistency",
                    "--key",
                    &f.vkey,
                    "--log",
                    &log_a,
                    "--old",
                    s(&old),
                ]),
                0,
                "a extends a",
            );
        }
        // The log b does not extend a's checkpoint of size 1000: its proof fails.
        let run = f.run(&[
            "consistency",
            "--key",
            &f.vkey,
            "--log",
            &log_b,
            "--old",
            s(&a.join("checkpoint.1000")),
        ]);
        expect_code(&run, 1, "b does not extend a");
        let ev = run.evidence();
        assert_eq!(ev["check"], "consistency");
        assert_eq!(ev["proof"]["source"], "tiles");
        assert!(!ev["proof"]["hashes"].as_array().unwrap().is_empty());
        assert_eq!(ev["checkpoints"].as_array().unwrap().len(), 2);
        // Two different checkpoints of the same size.
        let run = f.run(&[
            "consistency",
            "--key",
            &f.vkey,
            "--log",
            &log_a,
            "--old",
            s(&a.join("checkpoint.1000")),
            "--new",
            s(&b.join("checkpoint.1000")),
        ]);
        expect_code(&run, 1, "fork at the same size");
        assert_eq!(run.evidence()["check"], "fork");
        // Inclusion: entry 77 of a is in a, not in b.
        let entry = f.path("entry77");
        std::fs::write(&entry, "entry 77").unwrap();
        let run = f.run(&[
            "--json",
            "inclusion",
            "--key",
            &f.vkey,
            "--log",
            &log_a,
            "--entry-file",
            s(&entry),
            "--index",
            "77",
        ]);
        expect_code(&run, 0, "a has entry 77");
        assert_eq!(run.json()["leaf_index"], 77);
        let run = f.run(&[
            "inclusion",
            "--key",
            &f.vkey,
            "--log",
            &log_b,
            "--entry-file",
            s(&entry),
            "--index",
            "77",
        ]);
        expect_code(&run, 1, "b has no such entry 77");
        assert!(run.evidence()["proof"]["hashes"].is_array());
        // Against an older checkpoint given as a file.
        let run = f.run(&[
            "inclusion",
            "--key",
            &f.vkey,
            "--log",
            &log_a,
            "--index",
            "999",
            "--checkpoint",
            s(&a.join("checkpoint.1000")),
        ]);
        expect_code(&run, 0, "inclusion against checkpoint.1000");
    }
}

fn publication(dir: &Path, vkey: &str, cps: &[(&Path, u64)], latest: Option<&Path>) {
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    for (src, size) in cps {
        std::fs::copy(src, dir.join(format!("checkpoints/{size}"))).unwrap();
    }
    if let Some(l) = latest {
        std::fs::copy(l, dir.join("checkpoint")).unwrap();
    }
    let log_json =
        serde_json::json!({"origin": ORIGIN, "verifier_key": vkey, "log_url": "http://127.0.0.1"});
    std::fs::write(dir.join("log.json"), log_json.to_string()).unwrap();
}

#[test]
fn published_checkpoints_split_view() {
    let f = Fixture::new();
    let a = f.log("a", 3000, &[0, 10, 256, 1000, 2999], "entry ");
    let b = f.log("b", 3000, &[1000], "other ");
    let log_server = TestServer::files(&a);
    let good = f.path("pub-good");
    publication(
        &good,
        &f.vkey,
        &[
            (&a.join("checkpoint.0"), 0),
            (&a.join("checkpoint.10"), 10),
            (&a.join("checkpoint.256"), 256),
            (&a.join("checkpoint.1000"), 1000),
            (&a.join("checkpoint.2999"), 2999),
        ],
        Some(&a.join("checkpoint.2999")),
    );
    // Under a prefix in the (shared) fake GitHub, read with a token.
    let github = FakeGitHub::start();
    github.add_repo("owner/repo");
    github.add_token("s3cret", Access::ReadOnly);
    upload(&github, "owner/repo", "roots/prod", &good);
    let gh_args = |repo: &str| {
        vec![
            "--json".to_owned(),
            "published".into(),
            "--key".into(),
            f.vkey.clone(),
            "--log".into(),
            log_server.url.clone(),
            "--repo".into(),
            repo.into(),
            "--github-api".into(),
            github.api_url(),
        ]
    };
    let run = f.run(&[
        "--json",
        "published",
        "--key",
        &f.vkey,
        "--log",
        &log_server.url,
        "--repo",
        &format!("dir:{}", s(&good)),
    ]);
    expect_code(&run, 0, "good publication (dir)");
    let v = run.json();
    assert_eq!(
        v["published_sizes"],
        serde_json::json!([0, 10, 256, 1000, 2999])
    );
    assert_eq!(v["consistency_proofs_verified"], 4);
    let args = gh_args("github:owner/repo/roots/prod");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = verify_env(f.tmp.path(), &args, &[("GITHUB_TOKEN", "s3cret")]);
    expect_code(&run, 0, "good publication (github)");
    assert_eq!(run.json()["published_sizes"].as_array().unwrap().len(), 5);
    // Anonymous reads work too; a bad token gets 401: an error, with a hint.
    expect_code(&verify_env(f.tmp.path(), &args, &[]), 0, "anonymous read");
    let run = verify_env(f.tmp.path(), &args, &[("GITHUB_TOKEN", "wrong")]);
    expect_code(&run, 2, "bad token");
    assert!(run.stderr.contains("GITHUB_TOKEN"), "{}", run.stderr);
    // GitHub Enterprise Server's API URL.
    let mut ghe: Vec<&str> = args.clone();
    let ent = github.enterprise_api_url();
    *ghe.last_mut().unwrap() = &ent;
    expect_code(&verify_env(f.tmp.path(), &ghe, &[]), 0, "GHE API URL");
    // A wrong prefix: nothing published there.
    let wrong = gh_args("github:owner/repo/roots/staging");
    let wrong: Vec<&str> = wrong.iter().map(String::as_str).collect();
    expect_code(&verify_env(f.tmp.path(), &wrong, &[]), 2, "wrong prefix");

    // The repository holds a checkpoint the log cannot prove consistent (a fork).
    github.put_file(
        "owner/repo",
        "roots/prod/checkpoints/1000",
        &std::fs::read(b.join("checkpoint.1000")).unwrap(),
        "fork",
    );
    let run = verify_env(f.tmp.path(), &args, &[("GITHUB_TOKEN", "s3cret")]);
    expect_code(&run, 1, "forked publication (github)");
    let ev = run.evidence();
    assert_eq!(ev["check"], "consistency", "{ev}");
    // The latest checkpoint differs from the archived one of the same size.
    let forked = f.path("pub-latest-fork");
    publication(
        &forked,
        &f.vkey,
        &[(&a.join("checkpoint.1000"), 1000)],
        Some(&b.join("checkpoint.1000")),
    );
    let run = f.published(s(&a), &forked);
    expect_code(&run, 1, "latest vs archive fork");
    assert_eq!(run.evidence()["check"], "fork");
    // A published checkpoint signed by another key.
    let other = f.path("other");
    let (other_key, _) = signer_key(f.tmp.path(), ORIGIN, 7);
    write_log(&other, 10, &other_key, &[], "entry ");
    let bad_sig = f.path("pub-bad-sig");
    publication(
        &bad_sig,
        &f.vkey,
        &[
            (&a.join("checkpoint.1000"), 1000),
            (&other.join("checkpoint"), 10),
        ],
        None,
    );
    let run = f.published(s(&a), &bad_sig);
    expect_code(&run, 1, "published checkpoint with another key");
    assert_eq!(run.evidence()["check"], "checkpoint");
    // A checkpoint filed under the wrong size.
    let misfiled = f.path("pub-misfiled");
    publication(
        &misfiled,
        &f.vkey,
        &[(&a.join("checkpoint.1000"), 1001)],
        None,
    );
    expect_code(&f.published(s(&a), &misfiled), 1, "misfiled");
    // log.json naming another key.
    let foreign = f.path("pub-foreign");
    publication(
        &foreign,
        &f.vkey,
        &[(&a.join("checkpoint.1000"), 1000)],
        None,
    );
    std::fs::write(
        foreign.join("log.json"),
        r#"{"origin":"example.com/evil","verifier_key":"x"}"#,
    )
    .unwrap();
    let run = f.published(s(&a), &foreign);
    expect_code(&run, 1, "log.json of another log");
    // The log rolled back below a published size.
    let small = f.log("a-small", 500, &[], "entry ");
    let run = f.published(s(&small), &good);
    expect_code(&run, 1, "log behind its publication");
    assert_eq!(run.evidence()["check"], "rollback");
}

#[test]
fn monitor_steps_and_stops_on_rollback_or_fork() {
    let f = Fixture::new();
    let a1 = f.log("a1", 300, &[100], "entry ");
    let a2 = f.log("a2", 1200, &[], "entry ");
    let b = f.log("b", 1500, &[], "other ");
    let server = TestServer::files(&a1);
    let state = f.path("monitor.state");
    let step = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "monitor",
            "--key",
            &f.vkey,
            "--log",
            &server.url,
            "--state",
            s(&state),
            "--once",
        ];
        args.extend_from_slice(extra);
        f.run(&args)
    };
    let run = step(&[]);
    expect_code(&run, 0, "first use");
    assert_eq!(run.json()["first_use"], true);
    let run = step(&[]);
    expect_code(&run, 0, "unchanged");
    assert_eq!(run.json()["proof_source"], "none");
    server.set_root(&a2);
    let run = step(&[]);
    expect_code(&run, 0, "grown");
    assert_eq!(run.json()["proof_source"], "tiles");
    assert_eq!(run.json()["previous"]["tree_size"], 300);
    let saved = std::fs::read(&state).unwrap();
    // Rolled back to the older log.
    server.set_root(&a1);
    let run = step(&[]);
    expect_code(&run, 1, "rollback");
    assert_eq!(run.evidence()["check"], "rollback");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        saved,
        "a failed step leaves the state alone"
    );
    // Forked.
    server.set_root(&b);
    let run = step(&[]);
    expect_code(&run, 1, "fork");
    assert_eq!(run.evidence()["check"], "consistency");
    assert_eq!(std::fs::read(&state).unwrap(), saved);
    // Unreachable: exit 2, state unchanged.
    let run = f.run(&[
        "monitor",
        "--key",
        &f.vkey,
        "--log",
        "http://127.0.0.1:1",
        "--state",
        s(&state),
        "--once",
    ]);
    expect_code(&run, 2, "unreachable");
    assert_eq!(std::fs::read(&state).unwrap(), saved);
    // Starting from a checkpoint obtained elsewhere.
    let state2 = f.path("monitor2.state");
    server.set_root(&a2);
    let run = f.run(&[
        "--json",
        "monitor",
        "--key",
        &f.vkey,
        "--log",
        &server.url,
        "--state",
        s(&state2),
        "--once",
        "--initial",
        s(&a1.join("checkpoint.100")),
    ]);
    expect_code(&run, 0, "initial checkpoint");
    assert_eq!(run.json()["previous"]["tree_size"], 100);
    // The loop: steps until a failure stops it with exit 1.
    let state3 = f.path("monitor3.state");
    let server2 = TestServer::files(&a1);
    let child = std::process::Command::new(integration_tests::bin("stateanchor-verify"))
        .args([
            "monitor",
            "--key",
            &f.vkey,
            "--log",
            &server2.url,
            "--state",
            s(&state3),
            "--interval",
            "100ms",
        ])
        .current_dir(f.tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !state3.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "monitor wrote no state"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server2.set_root(&b);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
