//! End-to-end tests of `stateanchor-publish` (the real binary) against a
//! fake log (built with tlog, served on 127.0.0.1) and the fake GitHub API
//! (`integration_tests::fake_github`) or a local git directory; then
//! `stateanchor-verify published` checks what was written.
//!
//! Needs `cargo build --workspace --bins` first (scripts/test.sh does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use integration_tests::bin;
use integration_tests::fake_github::{Access, FakeGitHub, Fault, Server};
use serde_json::{Value, json};
use tlog::{Checkpoint, CosignerKey, MemoryHashStore, SignerKey, leaf_hash};

const ORIGIN: &str = "publish.test/log";
const REPO: &str = "acme/roots";
const TOKEN: &str = "ghp_good";

// ---------------------------------------------------------------------------
// A fake log: the read API the publisher uses, over a tlog MemoryHashStore.

struct LogState {
    key: SignerKey,
    /// Signs checkpoints instead of `key` (a bad signature).
    impostor: Option<SignerKey>,
    store: MemoryHashStore,
    /// Serve consistency proofs with one hash flipped.
    tamper_proofs: bool,
    /// Answer this many requests with 503 + Retry-After: 1.
    fail_next: u32,
    /// Witnesses whose `cosignature/v1` lines the checkpoint carries.
    cosigners: Vec<CosignerKey>,
    /// The cosignatures' timestamp (fixed, so that the served checkpoint
    /// is the same bytes at every request).
    cosigned_at: u64,
}

struct FakeLog {
    state: Arc<Mutex<LogState>>,
    server: Server,
}

fn json_error(status: StatusCode, error: &str, code: &str) -> Response {
    (status, axum::Json(json!({"error": error, "code": code}))).into_response()
}

/// 503 + Retry-After if a failure is due.
fn injected_failure(s: &mut LogState) -> Option<Response> {
    if s.fail_next == 0 {
        return None;
    }
    s.fail_next -= 1;
    let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, "busy", "pushback");
    r.headers_mut().insert("retry-after", 1.into());
    Some(r)
}

fn signed_checkpoint(s: &LogState) -> Vec<u8> {
    let signer = s.impostor.as_ref().unwrap_or(&s.key);
    let mut note = Checkpoint::new(ORIGIN, s.store.size(), s.store.root())
        .sign(signer)
        .unwrap();
    for w in &s.cosigners {
        let cosignature = w.cosign(note.text(), s.cosigned_at);
        note.push_signature(cosignature);
    }
    note.to_bytes()
}

async fn log_checkpoint(State(st): State<Arc<Mutex<LogState>>>) -> Response {
    let mut s = st.lock().unwrap();
    if let Some(r) = injected_failure(&mut s) {
        return r;
    }
    signed_checkpoint(&s).into_response()
}

async fn log_info(State(st): State<Arc<Mutex<LogState>>>) -> Response {
    let s = st.lock().unwrap();
    axum::Json(json!({
        "origin": ORIGIN,
        "verifier_key": s.key.verifier_key().to_text(),
        "tree_size": s.store.size(),
        "checkpoint": String::from_utf8(signed_checkpoint(&s)).unwrap(),
        "publication": null,
    }))
    .into_response()
}

async fn log_consistency(
    State(st): State<Arc<Mutex<LogState>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = st.lock().unwrap();
    if let Some(r) = injected_failure(&mut s) {
        return r;
    }
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
    let (Some(first), Some(second)) = (num("first"), num("second")) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "want first and second",
            "bad_request",
        );
    };
    match tlog::prove_consistency(first, second, &s.store) {
        Ok(mut proof) => {
            if s.tamper_proofs
                && let Some(h) = proof.first_mut()
            {
                h.0[0] ^= 1;
            }
            let proof: Vec<String> = proof.iter().map(tlog::Hash::to_base64).collect();
            axum::Json(json!({"first": first, "second": second, "proof": proof})).into_response()
        }
        Err(e) => json_error(StatusCode::NOT_FOUND, &e.to_string(), "size_beyond_tree"),
    }
}

impl FakeLog {
    /// A log holding `entries`.
    fn start(entries: &[&str]) -> Self {
        let mut store = MemoryHashStore::new();
        for e in entries {
            store.append(leaf_hash(e.as_bytes()));
        }
        let state = Arc::new(Mutex::new(LogState {
            key: SignerKey::from_seed(ORIGIN, &[9; 32]).unwrap(),
            impostor: None,
            store,
            tamper_proofs: false,
            fail_next: 0,
            cosigners: Vec::new(),
            cosigned_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        }));
        let router = Router::new()
            .route("/checkpoint", get(log_checkpoint))
            .route("/v1/log", get(log_info))
            .route("/v1/proof/consistency", get(log_consistency))
            .with_state(state.clone());
        FakeLog {
            state,
            server: Server::start(router),
        }
    }

    fn url(&self) -> String {
        self.server.url.clone()
    }

    fn vkey(&self) -> String {
        self.state.lock().unwrap().key.verifier_key().to_text()
    }

    fn append(&self, entries: &[&str]) {
        let mut s = self.state.lock().unwrap();
        for e in entries {
            s.store.append(leaf_hash(e.as_bytes()));
        }
    }

    /// Replaces the whole tree (a fork or a rollback), keeping the key.
    fn reset(&self, entries: &[&str]) {
        let mut store = MemoryHashStore::new();
        for e in entries {
            store.append(leaf_hash(e.as_bytes()));
        }
        self.state.lock().unwrap().store = store;
    }

    fn checkpoint(&self) -> Vec<u8> {
        signed_checkpoint(&self.state.lock().unwrap())
    }

    fn with<R>(&self, f: impl FnOnce(&mut LogState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

// ---------------------------------------------------------------------------
// Running the binaries.

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// The evidence file printed on stdout (`evidence: PATH`), parsed.
    fn evidence(&self) -> Value {
        let path = self
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("evidence: "))
            .unwrap_or_else(|| panic!("no evidence path in stdout: {}", self.stdout));
        assert!(
            self.stderr.contains(path),
            "stderr names the evidence file: {}",
            self.stderr
        );
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A `stateanchor-publish` command with fast retries and the token set.
fn publisher(sub: &str, log: &FakeLog, target: &str, evidence: &Path) -> Command {
    let mut cmd = Command::new(bin("stateanchor-publish"));
    cmd.arg(sub)
        .args([
            "--log",
            &log.url(),
            "--key",
            &log.vkey(),
            "--target",
            target,
        ])
        .arg("--evidence-dir")
        .arg(evidence)
        .args(["--retry-delay", "50ms", "--request-timeout", "5s"])
        .env("GITHUB_TOKEN", TOKEN)
        .env_remove("RUST_LOG");
    cmd
}

fn entries(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn tree_size(checkpoint: &[u8]) -> u64 {
    String::from_utf8_lossy(checkpoint)
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// A test's world: a fake log of `n` entries `a-0`, `a-1`, ..., a temporary
/// directory (evidence goes there), and a target: the fake GitHub's
/// `acme/roots[/PREFIX]` (with a read-write token), or `dir:<tmp>/roots`.
struct Case {
    log: FakeLog,
    gh: Option<FakeGitHub>,
    /// The GitHub API URL given with --github-api.
    api: String,
    tmp: tempfile::TempDir,
    target: String,
}

impl Case {
    fn github(n: usize, prefix: &str) -> Self {
        let gh = FakeGitHub::start();
        gh.add_repo(REPO);
        gh.add_token(TOKEN, Access::ReadWrite);
        let target = if prefix.is_empty() {
            format!("github:{REPO}")
        } else {
            format!("github:{REPO}/{prefix}")
        };
        Case {
            log: FakeLog::start(&refs(&entries("a", n))),
            api: gh.api_url(),
            gh: Some(gh),
            tmp: tempfile::tempdir().unwrap(),
            target,
        }
    }

    fn dir(n: usize) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Case {
            log: FakeLog::start(&refs(&entries("a", n))),
            gh: None,
            api: String::new(),
            target: format!("dir:{}", tmp.path().join("roots").display()),
            tmp,
        }
    }

    fn gh(&self) -> &FakeGitHub {
        self.gh.as_ref().unwrap()
    }

    /// The `dir:` target's repository.
    fn repo(&self) -> PathBuf {
        self.tmp.path().join("roots")
    }

    fn cmd(&self, sub: &str) -> Command {
        let mut cmd = publisher(sub, &self.log, &self.target, self.tmp.path());
        if self.gh.is_some() {
            cmd.args(["--github-api", &self.api]);
        }
        cmd
    }

    fn once(&self) -> Run {
        run(&mut self.cmd("once"))
    }

    fn once_with(&self, extra: &[&str]) -> Run {
        run(self.cmd("once").args(extra))
    }

    /// `stateanchor-verify published` on what the publisher wrote.
    fn verify_published(&self) -> Run {
        let mut cmd = Command::new(bin("stateanchor-verify"));
        cmd.args([
            "published",
            "--log",
            &self.log.url(),
            "--key",
            &self.log.vkey(),
        ])
        .args(["--repo", &self.target])
        .env("GITHUB_TOKEN", TOKEN);
        if self.gh.is_some() {
            cmd.args(["--github-api", &self.api]);
        }
        run(&mut cmd)
    }

    fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.gh().file(REPO, path)
    }
}

// ---------------------------------------------------------------------------
// GitHub target.

#[test]
fn github_first_publication_growth_and_no_growth() {
    let mut c = Case::github(3, "logs/prod");
    // GitHub Enterprise Server style API URL, with a path.
    c.api = c.gh().enterprise_api_url();

    // First publication.
    let r = c.once();
    r.assert_code(0);
    assert!(
        r.stdout
            .contains("published publish.test/log at tree size 3")
            && r.stdout.contains("(first publication)"),
        "{}",
        r.stdout
    );
    let cp3 = c.log.checkpoint();
    assert_eq!(c.file("logs/prod/checkpoint"), Some(cp3.clone()));
    assert_eq!(c.file("logs/prod/checkpoints/3"), Some(cp3.clone()));
    let info: Value = serde_json::from_slice(&c.file("logs/prod/log.json").unwrap()).unwrap();
    assert_eq!(info["origin"], ORIGIN);
    assert_eq!(info["verifier_key"], c.log.vkey());
    assert_eq!(info["log_url"], c.log.url());
    assert!(info.get("witness_policy").is_none(), "{info}");
    let readme = String::from_utf8(c.file("logs/prod/README.md").unwrap()).unwrap();
    assert!(
        readme.contains("- Witness policy: none\n") && !readme.contains("--policy"),
        "{readme}"
    );
    let commits = c.gh().commits(REPO);
    assert_eq!(
        commits.len(),
        4,
        "log.json, README.md, checkpoint, checkpoints/3: {commits:#?}"
    );
    for commit in &commits {
        assert!(
            commit.message.contains(ORIGIN) && commit.message.contains("tree size 3"),
            "{commit:?}"
        );
        assert_eq!(commit.author_name.as_deref(), Some("StateAnchor Publisher"));
        assert_eq!(
            commit.author_email.as_deref(),
            Some("publisher@stateanchor.invalid")
        );
    }

    // Growth.
    c.log.append(&["a-3", "a-4"]);
    let r = c.once();
    r.assert_code(0);
    assert!(
        r.stdout.contains("at tree size 5") && r.stdout.contains("(was 3)"),
        "{}",
        r.stdout
    );
    let cp5 = c.log.checkpoint();
    assert_eq!(c.file("logs/prod/checkpoint"), Some(cp5.clone()));
    assert_eq!(c.file("logs/prod/checkpoints/5"), Some(cp5));
    assert_eq!(
        c.file("logs/prod/checkpoints/3"),
        Some(cp3),
        "history is never rewritten"
    );
    let commits = c.gh().commits(REPO);
    assert_eq!(
        commits.len(),
        6,
        "log.json and README.md unchanged: {commits:#?}"
    );
    assert_eq!(
        commits[4].message,
        "publish.test/log: publish checkpoint at tree size 5 (was 3)"
    );

    // No growth: no commit, no PUT at all.
    let puts = || {
        c.gh()
            .requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .count()
    };
    let puts_before = puts();
    let r = c.once();
    r.assert_code(0);
    assert!(
        r.stdout.starts_with("unchanged:") && r.stdout.contains("tree size 5"),
        "{}",
        r.stdout
    );
    assert_eq!(c.gh().commits(REPO).len(), 6);
    assert_eq!(puts(), puts_before);

    // The verifier accepts the publication.
    c.verify_published().assert_code(0);
}

#[test]
fn github_fork_at_same_size_is_refused_with_evidence() {
    let c = Case::github(4, "");
    c.once().assert_code(0);
    let published = c.log.checkpoint();
    let files_before = c.gh().files(REPO);
    let commits_before = c.gh().commits(REPO).len();

    // Same size, other entries: a fork.
    c.log.reset(&refs(&entries("b", 4)));
    let r = c.once();
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("stateanchor-publish: error: refused to publish: the log forked"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("stateanchor-publish: hint:"),
        "{}",
        r.stderr
    );
    let ev = r.evidence();
    assert_eq!(ev["reason"], "fork");
    assert_eq!(ev["origin"], ORIGIN);
    assert_eq!(ev["target"], c.target);
    assert_eq!(
        ev["published_checkpoint"],
        String::from_utf8(published).unwrap()
    );
    assert_eq!(
        ev["latest_checkpoint"],
        String::from_utf8(c.log.checkpoint()).unwrap()
    );
    assert_eq!(c.gh().files(REPO), files_before, "nothing published");
    assert_eq!(c.gh().commits(REPO).len(), commits_before);
}

#[test]
fn github_forked_history_fails_the_consistency_proof() {
    let c = Case::github(3, "");
    c.once().assert_code(0);
    let files_before = c.gh().files(REPO);

    // A larger tree that does not extend the published one.
    c.log.reset(&refs(&entries("b", 6)));
    let r = c.once();
    r.assert_code(1);
    let ev = r.evidence();
    assert_eq!(ev["reason"], "inconsistent_proof");
    assert_eq!(ev["consistency_proof"]["first"], 3);
    assert_eq!(ev["consistency_proof"]["second"], 6);
    assert!(
        !ev["consistency_proof"]["proof"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(c.gh().files(REPO), files_before, "nothing published");

    // A tampered proof of an honest extension is refused too.
    c.log.reset(&refs(&entries("a", 7)));
    c.log.with(|s| s.tamper_proofs = true);
    let r = c.once();
    r.assert_code(1);
    assert_eq!(r.evidence()["reason"], "inconsistent_proof");
    assert_eq!(c.gh().files(REPO), files_before, "nothing published");

    // Honest again: published.
    c.log.with(|s| s.tamper_proofs = false);
    c.once().assert_code(0);
    assert_eq!(tree_size(&c.file("checkpoint").unwrap()), 7);
}

#[test]
fn github_rollback_is_refused_with_evidence() {
    let c = Case::github(5, "p");
    c.once().assert_code(0);
    let files_before = c.gh().files(REPO);

    c.log.reset(&refs(&entries("a", 3)));
    let r = c.once();
    r.assert_code(1);
    assert!(r.stderr.contains("rolled back"), "{}", r.stderr);
    let ev = r.evidence();
    assert_eq!(ev["reason"], "rollback");
    assert_eq!(
        tree_size(ev["published_checkpoint"].as_str().unwrap().as_bytes()),
        5
    );
    assert_eq!(
        tree_size(ev["latest_checkpoint"].as_str().unwrap().as_bytes()),
        3
    );
    assert_eq!(c.gh().files(REPO), files_before, "nothing published");
}

#[test]
fn github_bad_signature_is_refused_and_nothing_published() {
    let c = Case::github(2, "");
    // Same origin, another key.
    c.log
        .with(|s| s.impostor = Some(SignerKey::from_seed(ORIGIN, &[1; 32]).unwrap()));
    let r = c.once();
    r.assert_code(1);
    let ev = r.evidence();
    assert_eq!(ev["reason"], "bad_signature");
    assert!(ev["published_checkpoint"].is_null());
    assert_eq!(
        ev["latest_checkpoint"],
        String::from_utf8(c.log.checkpoint()).unwrap()
    );
    assert!(c.gh().files(REPO).is_empty(), "nothing published");
    assert!(c.gh().commits(REPO).is_empty());
}

#[test]
fn github_target_of_another_log_is_refused() {
    let c = Case::github(2, "");
    c.gh().put_file(
        REPO,
        "log.json",
        br#"{"origin": "other.example/log", "verifier_key": "other.example/log+00000000+AQ=="}"#,
        "another log",
    );
    let r = c.once();
    r.assert_code(2);
    assert!(r.stderr.contains("publishes another log"), "{}", r.stderr);
    assert_eq!(c.gh().commits(REPO).len(), 1);
}

/// A crash between the commit point (`checkpoint`) and the history file
/// leaves `checkpoints/<size>` missing; the next run writes it, and only it.
#[test]
fn github_missing_history_file_is_repaired() {
    let c = Case::github(3, "");
    let info = format!(
        "{{\"origin\": \"{ORIGIN}\", \"verifier_key\": \"{}\"}}",
        c.log.vkey()
    );
    c.gh()
        .put_file(REPO, "log.json", info.as_bytes(), "log.json");
    c.gh()
        .put_file(REPO, "checkpoint", &c.log.checkpoint(), "checkpoint");
    let r = c.once();
    r.assert_code(0);
    assert!(
        r.stdout.contains("unchanged") && r.stdout.contains("checkpoints/3"),
        "{}",
        r.stdout
    );
    assert_eq!(c.file("checkpoints/3"), Some(c.log.checkpoint()));
    assert_eq!(c.gh().commits(REPO).len(), 3);
    c.verify_published().assert_code(0);
}

/// Two publishers race: both read size 3, both try to write size 6; the
/// fake holds their `checkpoint` PUTs until both arrived. One wins, the
/// other gets 409 on its stale `sha`, re-reads, re-verifies and finds
/// nothing left to do. Nothing is overwritten.
#[test]
fn github_two_publishers_racing_never_overwrite() {
    let c = Case::github(3, "");
    c.once().assert_code(0);
    c.log.append(&["a-3", "a-4", "a-5"]);
    c.gh().hold_puts("checkpoint", 2);

    let spawn = || {
        c.cmd("once")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let stdouts: Vec<String> = [a, b]
        .into_iter()
        .map(|child| {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect();
    let published = stdouts
        .iter()
        .filter(|s| s.starts_with("published"))
        .count();
    let unchanged = stdouts
        .iter()
        .filter(|s| s.starts_with("unchanged"))
        .count();
    assert_eq!((published, unchanged), (1, 1), "{stdouts:?}");

    let conflicts = c
        .gh()
        .requests()
        .iter()
        .filter(|r| {
            r.method == "PUT" && r.path.ends_with("/contents/checkpoint") && r.status == 409
        })
        .count();
    assert_eq!(conflicts, 1, "the loser's stale sha was refused");
    let checkpoint_commits: Vec<_> = c
        .gh()
        .commits(REPO)
        .into_iter()
        .filter(|commit| commit.path == "checkpoint")
        .collect();
    assert_eq!(
        checkpoint_commits.len(),
        2,
        "sizes 3 and 6 only: {checkpoint_commits:#?}"
    );
    assert_eq!(c.file("checkpoint"), Some(c.log.checkpoint()));
    assert_eq!(c.file("checkpoints/6"), Some(c.log.checkpoint()));
    c.verify_published().assert_code(0);
}

/// A writer that is not a publisher changes `checkpoint` between our read
/// and our write: our PUT's `sha` is stale, we re-read, and the fork it
/// wrote is refused with evidence instead of overwritten.
#[test]
fn github_conflicting_rogue_write_is_reverified_not_overwritten() {
    let c = Case::github(3, "");
    c.once().assert_code(0);
    c.log.append(&["a-3"]);

    // A forked size-4 checkpoint, validly signed (the log's key leaked).
    let key = c.log.with(|s| s.key.clone());
    let mut forked = MemoryHashStore::new();
    for e in entries("z", 4) {
        forked.append(leaf_hash(e.as_bytes()));
    }
    let rogue = Checkpoint::new(ORIGIN, 4, forked.root())
        .sign(&key)
        .unwrap()
        .to_bytes();
    c.gh().write_before_next_put("checkpoint", &rogue);
    let r = c.once();
    r.assert_code(1);
    let ev = r.evidence();
    assert_eq!(ev["reason"], "fork", "{ev:#}");
    assert_eq!(
        ev["published_checkpoint"],
        String::from_utf8(rogue.clone()).unwrap()
    );
    assert_eq!(
        c.file("checkpoint"),
        Some(rogue),
        "the rogue write was not overwritten"
    );
}

#[test]
fn github_retries_5xx_timeouts_and_rate_limits() {
    let c = Case::github(2, "");
    let gh = c.gh();

    // 5xx on the first requests, and a 503 + Retry-After from the log.
    gh.inject(None, Fault::Status(502));
    gh.inject(None, Fault::Status(500));
    gh.inject(Some(Method::PUT), Fault::Status(503));
    c.log.with(|s| s.fail_next = 1);
    c.once().assert_code(0);
    assert_eq!(c.file("checkpoint"), Some(c.log.checkpoint()));
    let statuses: Vec<u16> = gh.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s >= 500).count(),
        3,
        "{statuses:?}"
    );

    // A primary rate limit (403, remaining 0, reset in 2 s) is waited out.
    c.log.append(&["a-2"]);
    gh.inject(None, Fault::RateLimit { reset_in: 2 });
    let start = Instant::now();
    c.once().assert_code(0);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "waited for the reset: {:?}",
        start.elapsed()
    );
    assert_eq!(tree_size(&c.file("checkpoint").unwrap()), 3);

    // A secondary rate limit (429 + Retry-After: 1).
    c.log.append(&["a-3"]);
    gh.inject(
        Some(Method::PUT),
        Fault::RetryAfter {
            status: 429,
            secs: 1,
        },
    );
    let start = Instant::now();
    c.once().assert_code(0);
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(tree_size(&c.file("checkpoint").unwrap()), 4);

    // A response slower than --request-timeout is retried.
    c.log.append(&["a-4"]);
    gh.inject(None, Fault::Delay(Duration::from_secs(3)));
    c.once_with(&["--request-timeout", "500ms"]).assert_code(0);
    assert_eq!(tree_size(&c.file("checkpoint").unwrap()), 5);

    // A rate limit longer than --max-wait gives up at once, naming it.
    c.log.append(&["a-5"]);
    gh.inject(None, Fault::RateLimit { reset_in: 3600 });
    let start = Instant::now();
    let r = c.once_with(&["--max-wait", "1m"]);
    r.assert_code(2);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(r.stderr.contains("rate limited"), "{}", r.stderr);

    // Retries are bounded: --retries 2 against two 503s fails (exit 2).
    gh.inject(None, Fault::Status(503));
    gh.inject(None, Fault::Status(503));
    let r = c.once_with(&["--retries", "2"]);
    r.assert_code(2);
    assert!(r.stderr.contains("503"), "{}", r.stderr);
    assert_eq!(
        tree_size(&c.file("checkpoint").unwrap()),
        5,
        "nothing published"
    );
}

#[test]
fn github_auth_errors_are_immediate_and_name_the_fix() {
    let mut c = Case::github(2, "");
    c.gh().add_token("ghp_readonly", Access::ReadOnly);
    let attempt = |c: &Case, token: Option<&str>| {
        let mut cmd = c.cmd("once");
        cmd.args(["--token-env", "PUBLISH_TEST_TOKEN"]);
        match token {
            Some(t) => cmd.env("PUBLISH_TEST_TOKEN", t),
            None => cmd.env_remove("PUBLISH_TEST_TOKEN"),
        };
        let start = Instant::now();
        let r = run(&mut cmd);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "no retries: {:?}",
            start.elapsed()
        );
        r
    };
    let cases: &[(&str, Option<&str>, &str, &str)] = &[
        (
            REPO,
            None,
            "PUBLISH_TEST_TOKEN is not set",
            "set PUBLISH_TEST_TOKEN",
        ),
        (
            REPO,
            Some("ghp_wrong"),
            "401 bad credentials",
            "create a new one",
        ),
        (
            REPO,
            Some("ghp_readonly"),
            "cannot push",
            "Contents: Read and write",
        ),
        (
            "acme/missing",
            Some(TOKEN),
            "not found (404)",
            "--github-api",
        ),
    ];
    for (repo, token, error, hint) in cases {
        c.target = format!("github:{repo}");
        let r = attempt(&c, *token);
        r.assert_code(2);
        assert!(r.stderr.contains(error), "{repo} {token:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("stateanchor-publish: hint:") && r.stderr.contains(hint),
            "{repo} {token:?}: {}",
            r.stderr
        );
    }
    // A 403 on the write that is not a rate limit.
    c.target = format!("github:{REPO}");
    c.gh().inject(Some(Method::PUT), Fault::Status(403));
    let r = attempt(&c, Some(TOKEN));
    r.assert_code(2);
    assert!(r.stderr.contains("refused access"), "{}", r.stderr);
    assert!(c.gh().commits(REPO).is_empty());
}

// ---------------------------------------------------------------------------
// dir: target.

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dir_first_publication_growth_and_no_growth() {
    let c = Case::dir(3);
    let repo = c.repo();

    c.once().assert_code(0);
    let cp3 = c.log.checkpoint();
    assert_eq!(std::fs::read(repo.join("checkpoint")).unwrap(), cp3);
    assert_eq!(std::fs::read(repo.join("checkpoints/3")).unwrap(), cp3);
    let info: Value =
        serde_json::from_slice(&std::fs::read(repo.join("log.json")).unwrap()).unwrap();
    assert_eq!(info["verifier_key"], c.log.vkey());
    assert_eq!(
        git(&repo, &["log", "--format=%an <%ae>|%cn <%ce>|%s"]).trim(),
        "StateAnchor Publisher <publisher@stateanchor.invalid>|StateAnchor Publisher <publisher@stateanchor.invalid>|publish.test/log: publish checkpoint at tree size 3 (first publication)"
    );
    assert_eq!(
        git(&repo, &["status", "--porcelain"]),
        "",
        "working tree matches HEAD"
    );

    c.log.append(&["a-3"]);
    c.once().assert_code(0);
    assert_eq!(
        git(&repo, &["log", "--format=%s"])
            .lines()
            .collect::<Vec<_>>(),
        [
            "publish.test/log: publish checkpoint at tree size 4 (was 3)",
            "publish.test/log: publish checkpoint at tree size 3 (first publication)"
        ]
    );
    assert_eq!(
        git(&repo, &["show", "--name-only", "--format=", "HEAD"]).trim(),
        "checkpoint\ncheckpoints/4",
        "one commit per publication; log.json unchanged"
    );
    assert_eq!(std::fs::read(repo.join("checkpoints/3")).unwrap(), cp3);

    let head = git(&repo, &["rev-parse", "HEAD"]);
    let r = c.once();
    r.assert_code(0);
    assert!(r.stdout.starts_with("unchanged:"), "{}", r.stdout);
    assert_eq!(
        git(&repo, &["rev-parse", "HEAD"]),
        head,
        "no growth, no commit"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    c.verify_published().assert_code(0);
}

#[test]
fn dir_fork_and_rollback_are_refused_with_evidence() {
    let c = Case::dir(4);
    c.once().assert_code(0);
    let head = git(&c.repo(), &["rev-parse", "HEAD"]);

    c.log.reset(&refs(&entries("b", 4)));
    let r = c.once();
    r.assert_code(1);
    assert_eq!(r.evidence()["reason"], "fork");
    assert_eq!(
        git(&c.repo(), &["rev-parse", "HEAD"]),
        head,
        "nothing committed"
    );

    c.log.reset(&refs(&entries("a", 2)));
    let r = c.once();
    r.assert_code(1);
    assert_eq!(r.evidence()["reason"], "rollback");
    assert_eq!(
        git(&c.repo(), &["rev-parse", "HEAD"]),
        head,
        "nothing committed"
    );
    let evidence_files = std::fs::read_dir(c.tmp.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("stateanchor-evidence-")
        })
        .count();
    assert_eq!(evidence_files, 2, "one evidence file each");
}

#[test]
fn dir_refuses_a_non_git_non_empty_directory() {
    let c = Case::dir(1);
    std::fs::create_dir(c.repo()).unwrap();
    std::fs::write(c.repo().join("notes.txt"), "mine").unwrap();
    let r = c.once();
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("is not empty and is not a git repository"),
        "{}",
        r.stderr
    );
    assert!(!c.repo().join(".git").exists());
    assert_eq!(std::fs::read_dir(c.repo()).unwrap().count(), 1);
}

#[test]
fn dir_existing_repository_keeps_its_history_and_local_files() {
    let c = Case::dir(2);
    let repo = c.repo();
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "roots\n").unwrap();
    git(&repo, &["add", "README.md"]);
    git(
        &repo,
        &[
            "-c",
            "user.name=Op",
            "-c",
            "user.email=op@example.invalid",
            "commit",
            "-q",
            "-m",
            "readme",
        ],
    );
    std::fs::write(repo.join("untracked.txt"), "keep me\n").unwrap();

    c.once().assert_code(0);
    assert_eq!(git(&repo, &["log", "--format=%s"]).lines().count(), 2);
    assert_eq!(
        std::fs::read_to_string(repo.join("untracked.txt")).unwrap(),
        "keep me\n"
    );
    assert_eq!(
        std::fs::read(repo.join("checkpoint")).unwrap(),
        c.log.checkpoint()
    );
    assert_eq!(
        git(&repo, &["status", "--porcelain"]).trim(),
        "?? untracked.txt"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("README.md")).unwrap(),
        "roots\n",
        "a README.md the publisher did not write is left alone"
    );
}

/// `run --interval` publishes on schedule until SIGTERM.
#[test]
fn dir_run_publishes_on_schedule_until_stopped() {
    let c = Case::dir(1);
    let child = c
        .cmd("run")
        .args(["--interval", "200ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |size: u64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(cp) = std::fs::read(c.repo().join("checkpoint"))
                && tree_size(&cp) == size
            {
                return;
            }
            assert!(Instant::now() < deadline, "no publication of size {size}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(1);
    for size in 2..=4 {
        c.log.append(&[&format!("a-{size}")]);
        wait_for(size);
    }
    assert_eq!(git(&c.repo(), &["log", "--format=%s"]).lines().count(), 4);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In `run`, a refusal stops the publisher with an alert and exit 1.
#[test]
fn dir_run_stops_on_refusal_with_an_alert() {
    let c = Case::dir(3);
    c.once().assert_code(0);
    c.log.reset(&refs(&entries("b", 3)));
    let start = Instant::now();
    let r = run(c.cmd("run").args(["--interval", "100ms"]));
    assert!(start.elapsed() < Duration::from_secs(10));
    r.assert_code(1);
    assert!(r.stderr.contains("ALERT"), "{}", r.stderr);
    assert_eq!(r.evidence()["reason"], "fork");
}

// ---------------------------------------------------------------------------
// Witness policy (--policy).

/// The witnesses of the test policy, `A`, `B` and `C`.
fn witnesses() -> Vec<CosignerKey> {
    (1..=3)
        .map(|i| CosignerKey::from_seed(&format!("witness{i}.test"), &[i; 32]).unwrap())
        .collect()
}

/// Writes a policy naming the log (`log_vkey`) and witnesses A, B and C,
/// two of which must cosign; returns its path and text.
fn write_policy(c: &Case, log_vkey: &str) -> (PathBuf, String) {
    let mut text = format!("# two of three\nlog {log_vkey} {}\n\n", c.log.url());
    for (name, w) in ["A", "B", "C"].iter().zip(witnesses()) {
        text += &format!("witness {name} {}\n", w.verifier().to_text());
    }
    text += "group two-of-three 2 A B C\nquorum two-of-three\n";
    let path = c.tmp.path().join("policy.txt");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

/// With `--policy`: a checkpoint without quorum is not published (exit 3,
/// no evidence, nothing written); one with quorum is, byte for byte with
/// its cosignature lines, and `log.json` and `README.md` name the policy.
fn publishes_only_witnessed_checkpoints(c: &Case, prefix: &str) {
    let (policy, text) = write_policy(c, &c.log.vkey());
    let once = || c.once_with(&["--policy", policy.to_str().unwrap()]);
    let read = |path: &str| match &c.gh {
        Some(_) => c.file(&format!("{prefix}{path}")),
        None => std::fs::read(c.repo().join(path)).ok(),
    };
    let evidence_files = || {
        std::fs::read_dir(c.tmp.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("stateanchor-evidence-")
            })
            .count()
    };
    let cosigned_by = |names: &[usize]| {
        let all = witnesses();
        c.log
            .with(|s| s.cosigners = names.iter().map(|&i| all[i].clone()).collect());
    };
    let not_witnessed = |r: &Run, size: u64, reason: &str| {
        r.assert_code(3);
        assert!(
            r.stderr.contains(&format!(
                "stateanchor-publish: error: not published: the log's checkpoint at tree size {size} does not meet the witness policy: witness quorum not met: {reason}; the quorum needs two-of-three = 2 of (A, B, C)"
            )),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains("stateanchor-publish: hint: the log's witnesses have not cosigned"),
            "{}",
            r.stderr
        );
        assert!(!r.stdout.contains("evidence:"), "{}", r.stdout);
        assert!(!r.stderr.contains("refused"), "not a refusal: {}", r.stderr);
        assert_eq!(evidence_files(), 0, "no evidence of anything");
    };

    // Not cosigned, then cosigned by one witness of the two needed.
    not_witnessed(&once(), 3, "cosigned by no witness of the policy");
    cosigned_by(&[1]);
    not_witnessed(&once(), 3, "cosigned by B");
    for path in ["checkpoint", "checkpoints/3", "log.json", "README.md"] {
        assert_eq!(read(path), None, "nothing written: {path}");
    }
    if c.gh.is_some() {
        assert!(c.gh().commits(REPO).is_empty());
    }

    // Cosigned by A and C: published, cosignature lines intact.
    cosigned_by(&[0, 2]);
    let r = once();
    r.assert_code(0);
    assert!(r.stdout.contains("at tree size 3 to"), "{}", r.stdout);
    let cp3 = c.log.checkpoint();
    assert_eq!(read("checkpoint"), Some(cp3.clone()));
    assert_eq!(read("checkpoints/3"), Some(cp3.clone()));
    let cp3 = String::from_utf8(cp3).unwrap();
    assert_eq!(cp3.matches("\n\u{2014} witness").count(), 2, "{cp3}");
    assert!(
        cp3.contains("\u{2014} witness1.test ") && cp3.contains("\u{2014} witness3.test "),
        "{cp3}"
    );
    let info: Value = serde_json::from_slice(&read("log.json").unwrap()).unwrap();
    assert_eq!(info["witness_policy"], text);
    assert_eq!(info["verifier_key"], c.log.vkey());
    let readme = String::from_utf8(read("README.md").unwrap()).unwrap();
    for want in [
        format!("# Checkpoints of the transparency log `{ORIGIN}`\n"),
        format!("```\n{text}```\n"),
        "- Witness policy: quorum two-of-three = 2 of (A, B, C)\n".to_owned(),
        "Quorum: two-of-three = 2 of (A, B, C).\n".to_owned(),
        format!(
            "stateanchor-verify published --log {} --key {} --policy policy.txt --repo ",
            c.log.url(),
            c.log.vkey()
        ),
        "| `checkpoints/<tree size>` |".to_owned(),
    ] {
        assert!(
            readme.contains(&want),
            "README.md lacks {want:?}:\n{readme}"
        );
    }

    // Growth cosigned by C alone is not published; by all three it is.
    c.log.append(&["a-3", "a-4"]);
    cosigned_by(&[2]);
    not_witnessed(&once(), 5, "cosigned by C");
    assert_eq!(read("checkpoint").map(|b| tree_size(&b)), Some(3));
    cosigned_by(&[0, 1, 2]);
    let r = once();
    r.assert_code(0);
    assert!(r.stdout.contains("(was 3)"), "{}", r.stdout);
    let cp5 = c.log.checkpoint();
    assert_eq!(read("checkpoint"), Some(cp5.clone()));
    assert_eq!(read("checkpoints/5"), Some(cp5));

    // The verifier accepts checkpoints that carry cosignatures.
    c.verify_published().assert_code(0);
}

#[test]
fn github_with_a_policy_publishes_only_witnessed_checkpoints() {
    let c = Case::github(3, "logs/prod");
    publishes_only_witnessed_checkpoints(&c, "logs/prod/");
    let messages: Vec<String> = c
        .gh()
        .commits(REPO)
        .into_iter()
        .map(|commit| format!("{} {}", commit.path, commit.message))
        .collect();
    assert_eq!(
        messages,
        [
            "logs/prod/log.json publish.test/log: describe the log in log.json (tree size 3)",
            "logs/prod/README.md publish.test/log: describe the publication in README.md (tree size 3)",
            "logs/prod/checkpoint publish.test/log: publish checkpoint at tree size 3 (first publication)",
            "logs/prod/checkpoints/3 publish.test/log: archive checkpoint at tree size 3",
            "logs/prod/checkpoint publish.test/log: publish checkpoint at tree size 5 (was 3)",
            "logs/prod/checkpoints/5 publish.test/log: archive checkpoint at tree size 5",
        ]
    );
    let readme = String::from_utf8(c.file("logs/prod/README.md").unwrap()).unwrap();
    assert!(
        readme.contains(&format!(
            "--repo github:{REPO}/logs/prod --github-api {}\n",
            c.api
        )),
        "{readme}"
    );
}

#[test]
fn dir_with_a_policy_publishes_only_witnessed_checkpoints() {
    let c = Case::dir(3);
    publishes_only_witnessed_checkpoints(&c, "");
    assert_eq!(
        git(&c.repo(), &["show", "--name-only", "--format=", "HEAD~1"]).trim(),
        "README.md\ncheckpoint\ncheckpoints/3\nlog.json",
        "the first publication is one commit"
    );
    let readme = std::fs::read_to_string(c.repo().join("README.md")).unwrap();
    assert!(readme.contains("--repo dir:.\n"), "{readme}");
}

#[test]
fn policy_errors_exit_2_and_write_nothing() {
    let c = Case::dir(1);
    let other = SignerKey::from_seed("other.test/log", &[3; 32]).unwrap();
    let (policy, _) = write_policy(&c, &other.verifier_key().to_text());
    let r = c.once_with(&["--policy", policy.to_str().unwrap()]);
    r.assert_code(2);
    assert!(
        r.stderr
            .contains("the witness policy has no log line with this log's key"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "hint: add the line `log {}` to the policy",
            c.log.vkey()
        )),
        "{}",
        r.stderr
    );

    std::fs::write(&policy, "log nonsense\nquorum none\n").unwrap();
    let r = c.once_with(&["--policy", policy.to_str().unwrap()]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("invalid witness policy: policy line 1:"),
        "{}",
        r.stderr
    );

    let missing = c.tmp.path().join("missing.txt");
    let r = c.once_with(&["--policy", missing.to_str().unwrap()]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("reading the witness policy"),
        "{}",
        r.stderr
    );
    assert!(!c.repo().exists(), "nothing created");
}

#[test]
fn usage_errors_exit_2() {
    let c = Case::dir(1);
    let vkey = c.log.vkey();
    let cases: &[(&[&str], &str)] = &[
        (&["--key", &vkey, "--target", "svn:x"], "invalid target"),
        (
            &["--key", &vkey, "--target", "github:acme"],
            "invalid target",
        ),
        (
            &["--key", "not-a-key", "--target", &c.target],
            "neither a verifier key",
        ),
        (
            &["--key", &vkey, "--target", &c.target, "--interval", "1h"],
            "unexpected argument",
        ),
    ];
    for (args, want) in cases {
        let r = run(Command::new(bin("stateanchor-publish"))
            .args(["once", "--log", &c.log.url()])
            .args(*args));
        r.assert_code(2);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
    assert!(!c.repo().exists(), "nothing created");

    // The key may also be given as a file.
    let key_file = c.tmp.path().join("log.vkey");
    std::fs::write(&key_file, format!("{vkey}\n")).unwrap();
    let r = run(Command::new(bin("stateanchor-publish"))
        .args([
            "once",
            "--log",
            &c.log.url(),
            "--target",
            &c.target,
            "--key",
        ])
        .arg(&key_file)
        .arg("--evidence-dir")
        .arg(c.tmp.path()));
    r.assert_code(0);
}
