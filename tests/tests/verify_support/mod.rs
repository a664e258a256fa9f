//! Helpers shared by the `verify_*` end-to-end tests of `stateanchor-verify`:
//! running the binary, a static file server (tlog-tiles over HTTP), a fake
//! GitHub contents API, fixture logs and tampering.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

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
    integration_tests::shared_dir().join("interop/tessera-testdata-log")
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

#[derive(Clone)]
struct ServerState {
    root: Arc<RwLock<PathBuf>>,
    overrides: Arc<RwLock<HashMap<String, (u16, Vec<u8>)>>>,
    github: bool,
    token: Option<String>,
}

/// A tiny HTTP server on 127.0.0.1: static files from a directory (tlog-tiles
/// over HTTP), or a fake GitHub REST contents API over that directory.
pub struct TestServer {
    /// Base URL, no trailing slash.
    pub url: String,
    state: ServerState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Serves the files of `root` as they are.
    pub fn files(root: &Path) -> Self {
        Self::start(root, false, None)
    }

    /// Serves `root` through a fake GitHub contents API:
    /// `GET /repos/{owner}/{repo}/contents/{path}` (owner and repo ignored).
    /// With `token`, requests without `Authorization: Bearer <token>` get 401.
    pub fn github(root: &Path, token: Option<&str>) -> Self {
        Self::start(root, true, token.map(str::to_owned))
    }

    fn start(root: &Path, github: bool, token: Option<String>) -> Self {
        let state = ServerState {
            root: Arc::new(RwLock::new(root.to_owned())),
            overrides: Arc::new(RwLock::new(HashMap::new())),
            github,
            token,
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app_state = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = Router::new().fallback(handle).with_state(app_state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        TestServer {
            url,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
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

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
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

async fn handle(State(st): State<ServerState>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    if let Some((status, body)) = st.overrides.read().unwrap().get(&path).cloned() {
        return respond(status, "text/plain", body);
    }
    let root = st.root.read().unwrap().clone();
    if !st.github {
        return match resolve(&root, &path) {
            Some(p) if p.is_file() => {
                respond(200, "application/octet-stream", std::fs::read(p).unwrap())
            }
            _ => respond(404, "text/plain", b"404 page not found\n".to_vec()),
        };
    }
    if let Some(t) = &st.token {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {t}")) {
            return respond(
                401,
                "application/json",
                br#"{"message":"Bad credentials"}"#.to_vec(),
            );
        }
    }
    let not_found = || {
        respond(
            404,
            "application/json",
            br#"{"message":"Not Found"}"#.to_vec(),
        )
    };
    // /repos/{owner}/{repo}/contents/{path}
    let segs: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if segs.len() < 4 || segs[0] != "repos" || segs[3] != "contents" {
        return not_found();
    }
    let rel = segs.get(4).copied().unwrap_or("");
    let Some(p) = resolve(&root, rel) else {
        return not_found();
    };
    let item = |p: &Path, rel: &str| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_dir = p.is_dir();
        let size = if is_dir {
            0
        } else {
            std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
        };
        serde_json::json!({
            "name": name, "path": rel, "sha": "0000000000000000000000000000000000000000",
            "size": size, "type": if is_dir { "dir" } else { "file" },
        })
    };
    let body = if p.is_dir() {
        let mut items = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(&p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for e in entries {
            let name = e.file_name().unwrap().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{}/{name}", rel.trim_end_matches('/'))
            };
            items.push(item(&e, &child));
        }
        serde_json::Value::Array(items)
    } else if p.is_file() {
        let bytes = std::fs::read(&p).unwrap();
        let encoded = B64.encode(&bytes);
        // GitHub wraps the base64 content at 60 characters.
        let wrapped: Vec<String> = encoded
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        let mut v = item(&p, rel);
        v["encoding"] = "base64".into();
        v["content"] = format!("{}\n", wrapped.join("\n")).into();
        v
    } else {
        return not_found();
    };
    respond(200, "application/json", serde_json::to_vec(&body).unwrap())
}
