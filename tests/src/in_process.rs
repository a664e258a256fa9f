//! The log server's HTTP API in this process, on the in-memory store, with
//! a clock the test sets: for what needs chosen instants (period edges, a
//! synthetic month of activity). Everything else in the end-to-end suite
//! runs the real binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use log_server::http::{AppState, serve};
use log_server::log::{Log, LogConfig};
use log_server::metrics::Metrics;
use log_server::service::Compliance;
use log_server::service::export::Site;
use log_server::service::github::GitHub;
use log_server::storage::memory::Memory;
use serde_json::{Value, json};

/// The signing key's seed of every in-process log.
pub const SEED: [u8; 32] = [42; 32];
/// Its origin.
pub const ORIGIN: &str = "periods.example/log";

/// Options of an in-process server.
#[derive(Clone, Debug)]
pub struct Options {
    /// The first webhook retry's delay.
    pub webhook_retry: Duration,
    /// `smtp://...` and the sender, to mail digests.
    pub smtp: Option<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            webhook_retry: Duration::from_secs(30),
            smtp: None,
        }
    }
}

/// The log server on 127.0.0.1, in a thread of its own.
pub struct InProcess {
    /// Its URL.
    pub url: String,
    /// A log admin key.
    pub admin: String,
    clock: Arc<AtomicI64>,
    /// A client.
    pub http: reqwest::blocking::Client,
}

impl InProcess {
    /// Starts a server with default options.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(Options::default())
    }

    /// Starts a server.
    ///
    /// # Panics
    /// If it cannot start.
    #[must_use]
    pub fn start_with(options: Options) -> Self {
        let clock = Arc::new(AtomicI64::new(0));
        let read = clock.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async move {
                let store = Arc::new(Memory::new());
                let signer = tlog::SignerKey::from_seed(ORIGIN, &SEED).expect("key");
                let config = LogConfig {
                    queue_capacity: 1024,
                    max_batch: 64,
                    checkpoint_interval: Duration::from_millis(5),
                };
                let log = Log::start(store.clone(), signer, config, Arc::new(Metrics::default()))
                    .expect("log");
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let url = format!("http://{}", listener.local_addr().expect("addr"));
                let mailer = options
                    .smtp
                    .as_ref()
                    .map(|(u, f)| log_server::service::digest::Mailer::new(u, f).expect("mailer"));
                let compliance = Compliance::new(
                    log.clone(),
                    store.clone(),
                    store.clone(),
                    GitHub::new("http://127.0.0.1:9", None),
                )
                .with_clock(Arc::new(move || match read.load(Ordering::SeqCst) {
                    0 => log_server::service::now_ms(),
                    t => t,
                }))
                .with_alerting(&url, options.webhook_retry, mailer);
                let (admin, _) = log_server::keys::create_key(
                    &*store,
                    compliance::principal::KeyRecord {
                        id: String::new(),
                        name: "admin".into(),
                        roles: vec![compliance::principal::Role::Admin],
                        project: None,
                        bot: false,
                        created_at: String::new(),
                        revoked_at: None,
                    },
                )
                .expect("admin key");
                let state = AppState {
                    backups: None,
                    log: log.clone(),
                    compliance: Arc::new(compliance),
                    keys: store.clone(),
                    site: Site {
                        public_url: url.clone(),
                        form_origin: log_server::http::ui::origin_of(&url),
                        publication: None,
                    },
                    intake: log_server::http::intake::Intake::with_defaults(log.metrics.clone()),
                };
                tokio::spawn(log.clone().run_checkpointer(std::future::pending()));
                tx.send((url, admin)).expect("started");
                serve(listener, state, std::future::pending())
                    .await
                    .expect("serve");
            });
        });
        let (url, admin) = rx.recv().expect("the server thread started");
        InProcess {
            url,
            admin,
            clock,
            http: reqwest::blocking::Client::new(),
        }
    }

    /// The log's verifier key.
    #[must_use]
    pub fn verifier_key() -> String {
        tlog::SignerKey::from_seed(ORIGIN, &SEED)
            .expect("key")
            .verifier_key()
            .to_text()
    }

    /// Pins the service's clock to an RFC 3339 time.
    ///
    /// # Panics
    /// On a bad time.
    pub fn set_time(&self, time: &str) {
        let t = compliance::time::parse_time(time).expect("an RFC 3339 time");
        self.clock.store(t, Ordering::SeqCst);
    }

    /// A request; the status and the JSON answer (or the text).
    ///
    /// # Panics
    /// If the server cannot be reached.
    pub fn call(&self, method: &str, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.url),
            )
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().expect("the server answers");
        let status = resp.status().as_u16();
        let text = resp.text().expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A POST that must succeed; its JSON answer.
    ///
    /// # Panics
    /// If it does not.
    pub fn post(&self, path: &str, key: &str, body: &Value) -> Value {
        let (st, v) = self.call("POST", path, key, Some(body));
        assert!(st == 200 || st == 201, "{path}: {st} {v}");
        v
    }

    /// Creates a project (with `body` as its creation request) and one
    /// principal per (name, role); returns its ID and their API keys.
    #[must_use]
    pub fn project(&self, body: &Value, principals: &[(&str, &str)]) -> (String, Vec<String>) {
        let id = self.post("/v1/admin/projects", &self.admin, body)["project_id"]
            .as_str()
            .expect("project_id")
            .to_owned();
        let keys = principals
            .iter()
            .map(|(name, role)| {
                self.post(
                    &format!("/v1/admin/projects/{id}/principals"),
                    &self.admin,
                    &json!({"name": name, "roles": [role]}),
                )["api_key"]
                    .as_str()
                    .expect("api_key")
                    .to_owned()
            })
            .collect();
        (id, keys)
    }

    /// Downloads `GET path` into `dir/name`.
    ///
    /// # Panics
    /// Unless it answers 200.
    #[must_use]
    pub fn download(&self, path: &str, key: &str, dir: &Path, name: &str) -> PathBuf {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .expect("the server answers");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let file = dir.join(name);
        std::fs::write(&file, resp.bytes().expect("a body")).expect("write");
        file
    }
}
