//! End-to-end test helpers for StateAnchor: locate and start the real binaries.
//!
//! The binaries must be built first (`cargo build --workspace --bins`, which
//! `scripts/test.sh` does); the helpers find them next to the test executable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod cockpit;
pub mod fake_github;
pub mod in_process;
pub mod ledger;
pub mod oidc;
pub mod witness;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Path of a workspace binary (`stateanchor-log`, `stateanchor-verify`,
/// `stateanchor-publish`) in the target directory the tests were built into.
///
/// # Panics
/// If the binary has not been built.
#[must_use]
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test binary>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Path of the repository's `testdata/` folder (see `testdata/README.md`).
#[must_use]
pub fn testdata_dir() -> PathBuf {
    // CARGO_MANIFEST_DIR at run time, not at build time: a test binary reused
    // from a target directory shared with another checkout (CI) must read
    // this checkout's files.
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    Path::new(&manifest).join("../testdata")
}

/// The PostgreSQL + object storage services of `scripts/test-services.sh`,
/// if it started them: (admin database URL, bucket).
#[must_use]
pub fn test_services() -> Option<(String, String)> {
    Some((
        std::env::var("STATEANCHOR_TEST_DATABASE").ok()?,
        std::env::var("STATEANCHOR_TEST_BUCKET").ok()?,
    ))
}

/// A new, empty log on the test services: a new database and a new bucket
/// prefix, as (`--database` URL, `--objects` URL).
///
/// # Panics
/// If the services are not running or the database cannot be created.
#[must_use]
pub fn new_cluster_log() -> (String, String) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let (admin, bucket) = test_services().expect("scripts/test-services.sh must run the tests");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "sa_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "CREATE DATABASE: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        with_database(&admin, &name),
        format!("s3://{bucket}/{name}"),
    )
}

/// A PostgreSQL URL with another database name, its query (`?sslmode=...`)
/// kept.
///
/// # Panics
/// If `url` has no `/DBNAME`.
#[must_use]
pub fn with_database(url: &str, name: &str) -> String {
    let (path, query) = url.split_at(url.find('?').unwrap_or(url.len()));
    let (base, _) = path.rsplit_once('/').expect("database URL");
    format!("{base}/{name}{query}")
}

/// A PostgreSQL URL with its `sslmode` set to `mode` (`disable`, `prefer`,
/// `require`), or with none if `mode` is empty.
#[must_use]
pub fn with_sslmode(url: &str, mode: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("sslmode="))
        .collect();
    let set = format!("sslmode={mode}");
    if !mode.is_empty() {
        params.push(&set);
    }
    if params.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", params.join("&"))
    }
}

/// The CA certificate that signed the test PostgreSQL's TLS certificate
/// (`scripts/test-services.sh` makes it), if the services export it.
#[must_use]
pub fn test_database_ca() -> Option<PathBuf> {
    std::env::var_os("STATEANCHOR_TEST_DATABASE_CA").map(PathBuf::from)
}

/// The database and bucket of the server of `data_dir` in the cluster mode,
/// made on its first start and kept beside it for restarts.
fn cluster_backend(data_dir: &Path) -> (String, String) {
    let marker = data_dir.join("test-cluster-backend");
    if let Ok(text) = std::fs::read_to_string(&marker)
        && let Some((db, objects)) = text.trim().split_once(' ')
    {
        return (db.to_owned(), objects.to_owned());
    }
    let (db, objects) = new_cluster_log();
    std::fs::create_dir_all(data_dir).expect("data dir");
    std::fs::write(&marker, format!("{db} {objects}")).expect("marker");
    (db, objects)
}

/// Spawns a server command (`stateanchor-log serve`, `witness serve`) with
/// `RUST_LOG=warn` and a piped stdout, and reads the `<key>: <value>` lines
/// it prints at start-up until `listening: <url>`; returns the child and
/// those lines. Stdout is then drained by a thread, so the server never
/// blocks on a full pipe.
///
/// # Panics
/// If the server exits or prints no `listening:` line within 30 s.
#[must_use]
pub fn spawn_until_listening(cmd: &mut Command) -> (Child, Vec<(String, String)>) {
    let mut child = cmd
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "server did not start in 30 s");
        let Some(Ok(line)) = lines.next() else {
            panic!("server exited before listening: {:?}", child.wait());
        };
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        printed.push((key.to_owned(), value.trim().to_owned()));
        if key == "listening" {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, printed)
}

/// A running `stateanchor-log serve` on 127.0.0.1 with its own data directory.
/// Killed (SIGKILL) when dropped.
pub struct LogServer {
    /// The child process.
    pub child: Child,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The data directory (kept alive by `_tmp` unless given by the caller).
    pub data_dir: PathBuf,
    /// The log's verifier key, in text form, as printed at start-up.
    pub verifier_key: String,
    /// The log's origin.
    pub origin: String,
    /// The admin API key from `<data-dir>/admin-api-key`.
    pub admin_key: String,
    _tmp: Option<tempfile::TempDir>,
}

impl LogServer {
    /// Starts a server on a fresh temporary data directory.
    #[must_use]
    pub fn start(extra_args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut s = Self::start_in(&dir, extra_args);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on `data_dir` (created if missing, reused if not).
    ///
    /// The server prints, on stdout, lines `origin: ...`, `verifier key: ...`
    /// and `listening: http://...`; this waits for the last one.
    #[must_use]
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> Self {
        let mut cmd = Command::new(bin("stateanchor-log"));
        cmd.arg("serve").arg("--data-dir").arg(data_dir);
        if std::env::var("STATEANCHOR_TEST_BACKEND").as_deref() == Ok("cluster")
            && !extra_args.contains(&"--database")
        {
            let (db, objects) = cluster_backend(data_dir);
            cmd.args([
                "--database",
                &db,
                "--objects",
                &objects,
                "--lease-ttl",
                "2s",
            ]);
        }
        if !extra_args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        if !extra_args.contains(&"--checkpoint-interval") {
            cmd.args(["--checkpoint-interval", "100ms"]);
        }
        cmd.args(extra_args);
        let (child, printed) = spawn_until_listening(&mut cmd);
        let line = |k: &str| {
            printed
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let (origin, vkey, url) = (line("origin"), line("verifier key"), line("listening"));
        let admin_key = std::fs::read_to_string(data_dir.join("admin-api-key"))
            .expect("admin-api-key")
            .trim()
            .to_owned();
        LogServer {
            child,
            url: url.expect("url").trim_end_matches('/').to_owned(),
            data_dir: data_dir.to_owned(),
            verifier_key: vkey.expect("server printed no verifier key"),
            origin: origin.expect("server printed no origin"),
            admin_key,
            _tmp: None,
        }
    }

    /// Appends an entry with the admin key; returns its index.
    pub fn append(&self, entry: &[u8]) -> u64 {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/v1/entries", self.url))
            .bearer_auth(&self.admin_key)
            .header("content-type", "application/octet-stream")
            .body(entry.to_vec())
            .send()
            .expect("POST /v1/entries");
        assert_eq!(resp.status().as_u16(), 201, "append failed");
        let v: serde_json::Value = resp.json().expect("json");
        v["index"].as_u64().expect("index")
    }

    /// Waits until `/checkpoint` covers at least `size` entries; returns its text.
    pub fn wait_for_checkpoint(&self, size: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = reqwest::blocking::get(format!("{}/checkpoint", self.url))
                .and_then(reqwest::blocking::Response::text)
                .unwrap_or_default();
            let got = text
                .lines()
                .nth(1)
                .and_then(|l| l.parse::<u64>().ok())
                .unwrap_or(0);
            if got >= size {
                return text;
            }
            assert!(Instant::now() < deadline, "no checkpoint of size {size}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Stops the server (SIGTERM) and starts it again on the same data
    /// directory with `extra_args`, which keeps existing.
    pub fn restart(&mut self, extra_args: &[&str]) {
        self.stop();
        let mut again = Self::start_in(&self.data_dir, extra_args);
        again._tmp = self._tmp.take();
        *self = again;
    }
}

impl Drop for LogServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET {url}{path}` with the API key `key`, its body written to `to` and
/// parsed as JSON (an evidence export, kept as a file for
/// `stateanchor-verify` and [`check_schema`]).
///
/// # Panics
/// If the answer is not 200 with JSON, or `to` cannot be written.
pub fn download(url: &str, path: &str, key: &str, to: &Path) -> Value {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(key)
        .send()
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    std::fs::write(to, resp.bytes().expect("body")).expect("write");
    serde_json::from_str(&std::fs::read_to_string(to).expect("read")).expect("JSON")
}

/// Validates an export against `spec/compliance-export.schema.json` with
/// Python's `jsonschema` (installed by `scripts/prereqs.sh`).
///
/// # Panics
/// If it does not match, or python3 with jsonschema is missing.
pub fn check_schema(export: &Path) {
    // The manifest directory at run time (the binary may come from a
    // target directory shared with another checkout).
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    let schema = Path::new(&manifest).join("../spec/compliance-export.schema.json");
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2]))))\n\
        for e in errors[:10]: print(list(e.path), e.message[:300])\n\
        sys.exit(1 if errors else 0)\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&schema)
        .arg(export)
        .output()
        .expect("python3 (scripts/prereqs.sh installs it, with jsonschema)");
    assert!(
        out.status.success(),
        "the export does not match the schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A value read until it stops changing: e.g. a log's tree size, which is
/// its latest checkpoint's (or, in the PostgreSQL + object storage mode, its
/// integrated size) and follows the acknowledgements by up to one interval.
///
/// # Panics
/// If it keeps changing for 20 seconds.
pub fn settled<T: PartialEq>(read: impl Fn() -> T) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = read();
    loop {
        std::thread::sleep(Duration::from_millis(400));
        let now = read();
        if now == last {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the value did not settle in 20 s"
        );
        last = now;
    }
}

/// A blocking JSON client of one server's API, for the tests.
pub struct Api {
    /// The server's base URL.
    pub url: String,
    /// The HTTP client.
    pub http: reqwest::blocking::Client,
}

impl Api {
    /// A client of `s`.
    #[must_use]
    pub fn new(s: &LogServer) -> Self {
        Self::at(s.url.clone())
    }

    /// A client of the server at `url` (for a thread of its own).
    #[must_use]
    pub fn at(url: String) -> Self {
        Api {
            url,
            http: reqwest::blocking::Client::new(),
        }
    }

    /// Sends a request with an optional bearer key and JSON body: the
    /// status, and the body as JSON (or as a JSON string if it is not JSON).
    ///
    /// # Panics
    /// If the server cannot be reached.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(
            method.parse().expect("an HTTP method"),
            format!("{}{path}", self.url),
        );
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().expect("the server answers");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates the project `name` with the log admin key `admin`; returns
    /// its ID.
    ///
    /// # Panics
    /// If the log does not answer 201.
    #[must_use]
    pub fn create_project(&self, admin: &str, name: &str) -> String {
        let (st, v) = self.post("/v1/admin/projects", admin, &json!({ "name": name }));
        assert_eq!(st, 201, "{v}");
        v["project_id"].as_str().expect("project_id").to_owned()
    }

    /// POST of a JSON body.
    pub fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, Some(key), Some(body))
    }

    /// GET.
    pub fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.send("GET", path, Some(key), None)
    }

    /// The status of a POST of raw `body` bytes with a content type.
    ///
    /// # Panics
    /// If the server cannot be reached.
    pub fn post_raw(&self, path: &str, key: &str, content_type: &str, body: &'static str) -> u16 {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .expect("the server answers")
            .status()
            .as_u16()
    }
}

/// Whether `scripts/test-services.sh` started the PostgreSQL mode's
/// services; if not, says that the test is skipped.
#[must_use]
pub fn cluster_services_or_skip() -> bool {
    if test_services().is_none() {
        eprintln!("skipped: run under scripts/test-services.sh for the PostgreSQL mode");
        return false;
    }
    true
}

/// A frontend of the log at `db` and `objects` on `data_dir`, with a short
/// lease (1 s) and checkpoint interval (100 ms) for the tests.
#[must_use]
pub fn start_frontend(data_dir: &Path, db: &str, objects: &str) -> LogServer {
    LogServer::start_in(
        data_dir,
        &[
            "--database",
            db,
            "--objects",
            objects,
            "--lease-ttl",
            "1s",
            "--checkpoint-interval",
            "100ms",
        ],
    )
}

/// The output of one SQL statement run by `psql` on `db` (tuples only,
/// unaligned).
///
/// # Panics
/// If psql fails.
#[must_use]
pub fn psql(db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([db, "-tAc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Two frontends (A, B) of a new log on the test services, under `dir`
/// (B with A's signing key), and the log's `--database` and `--objects`.
#[must_use]
pub fn two_frontends(dir: &Path) -> (LogServer, LogServer, String, String) {
    let (db, objects) = new_cluster_log();
    let (dir_a, dir_b) = (dir.join("a"), dir.join("b"));
    let a = start_frontend(&dir_a, &db, &objects);
    std::fs::create_dir_all(&dir_b).expect("data dir");
    std::fs::copy(dir_a.join("log-signing-key"), dir_b.join("log-signing-key"))
        .expect("copy the signing key");
    let b = start_frontend(&dir_b, &db, &objects);
    (a, b, db, objects)
}
