//! End-to-end: the real `stateanchor-log` (RocksDB on disk, HTTP on
//! 127.0.0.1), published by the real `stateanchor-publish`, checked by the
//! real `stateanchor-verify published`.
//!
//! Needs `cargo build --workspace --bins` first (scripts/test.sh does).
//!
//! The server was written in parallel with the publisher: until a
//! `stateanchor-log` with the needed flags is built, each test prints
//! `SKIPPED: ...` and passes (see [`server_has`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use integration_tests::fake_github::{Access, FakeGitHub};
use integration_tests::{LogServer, bin};

const TOKEN: &str = "ghp_e2e";

/// Whether the built `stateanchor-log serve --help` mentions `flag`. If
/// not, says why the test is skipped.
fn server_has(flag: &str) -> bool {
    // Next to the other binaries; maybe not built in a publisher-only target dir.
    let server = bin("stateanchor-publish").with_file_name("stateanchor-log");
    let help = Command::new(server)
        .args(["serve", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let has = help.contains(flag);
    if !has {
        eprintln!("SKIPPED: the built stateanchor-log serve has no {flag}");
    }
    has
}

fn check(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn publish_once(
    server: &LogServer,
    target: &str,
    github_api: Option<&str>,
    evidence: &Path,
) -> String {
    let mut cmd = Command::new(bin("stateanchor-publish"));
    cmd.args([
        "once",
        "--log",
        &server.url,
        "--key",
        &server.verifier_key,
        "--target",
        target,
    ])
    .arg("--evidence-dir")
    .arg(evidence)
    .env("GITHUB_TOKEN", TOKEN);
    if let Some(api) = github_api {
        cmd.args(["--github-api", api]);
    }
    check(&cmd.output().unwrap(), "stateanchor-publish once")
}

fn verify_published(server: &LogServer, repo: &str, github_api: Option<&str>) -> String {
    let mut cmd = Command::new(bin("stateanchor-verify"));
    cmd.args([
        "published",
        "--log",
        &server.url,
        "--key",
        &server.verifier_key,
        "--repo",
        repo,
    ])
    .env("GITHUB_TOKEN", TOKEN);
    if let Some(api) = github_api {
        cmd.args(["--github-api", api]);
    }
    check(&cmd.output().unwrap(), "stateanchor-verify published")
}

fn append(server: &LogServer, n: usize, tag: &str) -> u64 {
    let mut last = 0;
    for i in 0..n {
        last = server.append(format!("{{\"e2e\":\"{tag}-{i}\"}}").as_bytes());
    }
    last + 1
}

/// The CLI publishes a real log to a git directory and to (fake) GitHub,
/// grows, does nothing without growth, and the verifier accepts both.
#[test]
fn cli_publishes_a_real_log_to_dir_and_github() {
    if !server_has("--data-dir") {
        return;
    }
    let server = LogServer::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start();
    gh.add_repo("acme/roots");
    gh.add_token(TOKEN, Access::ReadWrite);
    let api = gh.api_url();
    let dir = format!("dir:{}", tmp.path().join("roots").display());
    let github = "github:acme/roots/e2e";

    let size = append(&server, 5, "a");
    let cp = server.wait_for_checkpoint(size);
    for (target, api) in [(dir.as_str(), None), (github, Some(api.as_str()))] {
        let out = publish_once(&server, target, api, tmp.path());
        assert!(out.starts_with("published"), "{target}: {out}");
    }
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("roots/checkpoint")).unwrap(),
        cp
    );
    assert_eq!(
        gh.file("acme/roots", "e2e/checkpoint").unwrap(),
        cp.as_bytes()
    );

    let size = append(&server, 3, "b");
    let cp = server.wait_for_checkpoint(size);
    for (target, api) in [(dir.as_str(), None), (github, Some(api.as_str()))] {
        let out = publish_once(&server, target, api, tmp.path());
        assert!(out.contains("(was 5)"), "{target}: {out}");
        let out = publish_once(&server, target, api, tmp.path());
        assert!(out.starts_with("unchanged"), "{target}: {out}");
        verify_published(&server, target, api);
    }
    assert_eq!(
        gh.file("acme/roots", "e2e/checkpoints/8").unwrap(),
        cp.as_bytes()
    );
}

/// `stateanchor-log serve --publish dir:... --publish-interval 200ms`: one
/// command gives a log that publishes on schedule, and the verifier accepts
/// the publication.
#[test]
fn server_publishes_on_schedule() {
    if !server_has("--publish-interval") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let roots = tmp.path().join("roots");
    let target = format!("dir:{}", roots.display());
    let server = LogServer::start(&["--publish", &target, "--publish-interval", "200ms"]);
    let published_size = || -> u64 {
        std::fs::read_to_string(roots.join("checkpoint"))
            .ok()
            .and_then(|t| t.lines().nth(1).and_then(|l| l.parse().ok()))
            .unwrap_or(0)
    };
    for (round, n) in [(0, 4), (1, 3)] {
        let size = append(&server, n, &format!("r{round}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while published_size() < size {
            assert!(
                Instant::now() < deadline,
                "tree size {size} was not published"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(
        std::fs::read_to_string(roots.join("checkpoint")).unwrap(),
        server.wait_for_checkpoint(7)
    );
    verify_published(&server, &target, None);
}

/// Reads the tree size of `<dir>/checkpoint`, 0 if there is none.
fn published_size(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("checkpoint"))
        .ok()
        .and_then(|t| t.lines().nth(1).and_then(|l| l.parse().ok()))
        .unwrap_or(0)
}

/// Starts a server once to learn its key, then again with `args` and a
/// witness policy made from the key by `policy`; returns the server and the
/// policy's text.
fn start_with_policy(
    tmp: &Path,
    policy: impl Fn(&str) -> String,
    args: &[&str],
) -> (LogServer, String) {
    let data = tmp.join("data");
    let mut first = LogServer::start_in(&data, &[]);
    first.stop();
    let text = policy(&first.verifier_key);
    let path = tmp.join("witness-policy.txt");
    std::fs::write(&path, &text).unwrap();
    let mut args = args.to_vec();
    args.extend(["--witness-policy", path.to_str().unwrap()]);
    (LogServer::start_in(&data, &args), text)
}

/// `serve --publish dir:... --witness-policy FILE`: the embedded publisher
/// checks every checkpoint under the log's own policy (here `quorum none`:
/// no witness needed) and publishes the policy in log.json and README.md.
#[test]
fn server_publishes_its_witness_policy() {
    if !server_has("--witness-policy") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let roots = tmp.path().join("roots");
    let target = format!("dir:{}", roots.display());
    let (server, policy) = start_with_policy(
        tmp.path(),
        |vkey| format!("log {vkey}\nquorum none\n"),
        &["--publish", &target, "--publish-interval", "200ms"],
    );
    let size = append(&server, 3, "w");
    let deadline = Instant::now() + Duration::from_secs(20);
    while published_size(&roots) < size {
        assert!(
            Instant::now() < deadline,
            "tree size {size} was not published"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(roots.join("log.json")).unwrap()).unwrap();
    assert_eq!(info["witness_policy"], policy);
    let readme = std::fs::read_to_string(roots.join("README.md")).unwrap();
    assert!(readme.contains(&format!("```\n{policy}```\n")), "{readme}");
    assert!(
        readme.contains("Quorum: none (no cosignature).\n"),
        "{readme}"
    );
    verify_published(&server, &target, None);
}

/// A log whose policy needs a witness that never answers publishes nothing:
/// no checkpoint meets the quorum (the log does not serve one, or the
/// publisher refuses it), and the server keeps serving.
#[test]
fn server_publishes_nothing_its_witnesses_did_not_cosign() {
    if !server_has("--witness-policy") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let roots = tmp.path().join("roots");
    let target = format!("dir:{}", roots.display());
    let witness = tlog::CosignerKey::from_seed("silent.witness.test", &[5; 32])
        .unwrap()
        .verifier()
        .to_text();
    let (server, policy) = start_with_policy(
        tmp.path(),
        // Port 9 (discard): nothing listens there.
        |vkey| format!("log {vkey}\nwitness W {witness} http://127.0.0.1:9/\nquorum W\n"),
        &["--publish", &target, "--publish-interval", "100ms"],
    );
    // A valid policy naming the log: the publisher runs, and declines.
    let parsed = tlog::Policy::parse(&policy).unwrap();
    assert_eq!(parsed.logs()[0].key.to_text(), server.verifier_key);
    let _ = append(&server, 2, "n");
    // Ten publication intervals.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(published_size(&roots), 0, "nothing published");
    assert!(!roots.join("README.md").exists());
    let status = reqwest::blocking::get(format!("{}/v1/log", server.url))
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200, "the server keeps serving");
}
