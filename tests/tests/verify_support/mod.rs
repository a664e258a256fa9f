//! Helpers shared by the `verify_*` end-to-end tests of `stateanchor-verify`:
//! running the binary, a static file server (tlog-tiles over HTTP), fixture
//! logs and tampering. The fake GitHub is the shared one in `integration_tests`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unused_imports)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
pub use integration_tests::fake_github::{Access, FakeGitHub, Server};

/// The Tessera interop log's verifier key.
pub const TESSERA_KEY: &str =
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
/// The Tessera interop log's entries, in order.
pub const TESSERA_ENTRIES: [&str; 15] = [
    "one", "two", "three", "four", "five", "six", "seven", "eit", "nain", "ten", "ileven", "twelf",
    "threeten", "fourten", "fivten",
];

/// The Tessera interop log directory (read-only).
pub fn tessera_dir() -> PathBuf {
    integration_tests::testdata_dir().join("interop/tessera-testdata-log")
}

/// A finished `stateanchor-verify` run.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl Run {
    /// Stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// The evidence file named on stderr, parsed.
    pub fn evidence(&self) -> serde_json::Value {
        let line = self
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("stateanchor-verify: evidence written to "))
            .unwrap_or_else(|| panic!("no evidence file named: {}", self.stderr));
        let text = std::fs::read_to_string(line.trim()).expect("evidence file");
        serde_json::from_str(&text).expect("evidence is JSON")
    }
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `stateanchor-verify` with `args`, evidence going to `evidence_dir`.
pub fn verify_in(evidence_dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(integration_tests::bin("stateanchor-verify"))
        .args(args)
        .current_dir(evidence_dir)
        .env_remove("GITHUB_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run stateanchor-verify");
    finish(out)
}

/// Runs `stateanchor-verify` with `args` and environment `env`.
pub fn verify_env(evidence_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(integration_tests::bin("stateanchor-verify"));
    cmd.args(args)
        .current_dir(evidence_dir)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish(cmd.output().expect("run stateanchor-verify"))
}

/// Asserts the run exited with `code`, showing its output if not.
#[track_caller]
pub fn expect_code(run: &Run, code: i32, what: &str) {
    assert_eq!(
        run.code, code,
        "{what}: exit code {} (want {code})\nstdout:\n{}\nstderr:\n{}",
        run.code, run.stdout, run.stderr
    );
}

/// Copies a directory tree; the copies are writable.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::write(&dest, std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
}

/// Flips one bit of the byte at `pos` of a file (negative: from the end).
pub fn flip_byte(path: &Path, pos: isize) {
    let mut b = std::fs::read(path).unwrap();
    let i = if pos < 0 {
        b.len() - pos.unsigned_abs()
    } else {
        pos.unsigned_abs()
    };
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

/// A signer key file for `origin` from a seed byte; returns (file path, verifier key text).
pub fn signer_key(dir: &Path, origin: &str, seed: u8) -> (PathBuf, String) {
    let key = tlog::SignerKey::from_seed(origin, &[seed; 32]).unwrap();
    let path = dir.join(format!("signer-{seed}.key"));
    std::fs::write(&path, key.to_text()).unwrap();
    (path, key.verifier_key().to_text())
}

/// Writes a fixture log with `stateanchor-verify write-test-log`.
pub fn write_log(out: &Path, entries: u64, key_file: &Path, checkpoint_at: &[u64], prefix: &str) {
    let at: Vec<String> = checkpoint_at.iter().map(u64::to_string).collect();
    let mut args = vec![
        "write-test-log".to_owned(),
        "--out".into(),
        out.display().to_string(),
        "--entries".into(),
        entries.to_string(),
        "--signer-key-file".into(),
        key_file.display().to_string(),
        "--entry-prefix".into(),
        prefix.into(),
    ];
    if !at.is_empty() {
        args.push("--checkpoint-at".into());
        args.push(at.join(","));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = verify_in(Path::new("."), &args);
    expect_code(&run, 0, "write-test-log");
}

/// Canned answers by path: status and body.
type Overrides = HashMap<String, (u16, Vec<u8>)>;

#[derive(Clone)]
struct ServerState {
    root: Arc<RwLock<PathBuf>>,
    overrides: Arc<RwLock<Overrides>>,
}

/// A static file server on 127.0.0.1 (tlog-tiles over HTTP, like a log on
/// a CDN or object storage): the files of a directory, 404 for anything else.
pub struct TestServer {
    /// Base URL, no trailing slash.
    pub url: String,
    state: ServerState,
    _server: Server,
}

impl TestServer {
    /// Serves the files of `root` as they are.
    pub fn files(root: &Path) -> Self {
        let state = ServerState {
            root: Arc::new(RwLock::new(root.to_owned())),
            overrides: Arc::new(RwLock::new(HashMap::new())),
        };
        let server = Server::start(Router::new().fallback(handle).with_state(state.clone()));
        TestServer {
            url: server.url.clone(),
            state,
            _server: server,
        }
    }

    /// Serves another directory from now on.
    pub fn set_root(&self, root: &Path) {
        *self.state.root.write().unwrap() = root.to_owned();
    }

    /// Answers `path` (e.g. `/checkpoint`) with `status` and `body` from now on.
    pub fn set_override(&self, path: &str, status: u16, body: &[u8]) {
        self.state
            .overrides
            .write()
            .unwrap()
            .insert(path.to_owned(), (status, body.to_vec()));
    }
}

/// Copies every file under `dir` into `repo` of the fake GitHub, under `prefix`.
pub fn upload(gh: &FakeGitHub, repo: &str, prefix: &str, dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}/{name}");
        if entry.file_type().unwrap().is_dir() {
            upload(gh, repo, &path, &entry.path());
        } else {
            gh.put_file(repo, &path, &std::fs::read(entry.path()).unwrap(), "test");
        }
    }
}

fn respond(status: u16, body: Vec<u8>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .body(Body::from(body))
        .unwrap()
}

/// Joins a URL path to `root`, refusing `..` and the like.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let mut p = root.to_owned();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if seg == ".." || seg == "." || seg.contains('\\') {
            return None;
        }
        p.push(seg);
    }
    Some(p)
}

async fn handle(State(st): State<ServerState>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    if let Some((status, body)) = st.overrides.read().unwrap().get(&path).cloned() {
        return respond(status, body);
    }
    let root = st.root.read().unwrap().clone();
    match resolve(&root, &path) {
        Some(p) if p.is_file() => respond(200, std::fs::read(p).unwrap()),
        _ => respond(404, b"404 page not found\n".to_vec()),
    }
}
