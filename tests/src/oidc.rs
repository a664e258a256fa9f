//! The OpenID providers of the sign-in tests, each a `node` process on
//! 127.0.0.1: npm's `oidc-provider` (`tests/oidc/provider.mjs`, OpenID
//! Certified) and a faulty provider (`tests/oidc/hostile-op.mjs`) whose
//! token endpoint signs ID tokens with a defect the test chooses; and
//! [`Agent`], an HTTP client that keeps cookies and follows a sign-in
//! without a browser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use crate::LogServer;

/// The log's client ID at the test providers.
pub const CLIENT_ID: &str = "stateanchor-log";
/// The log's client secret at the test providers.
pub const CLIENT_SECRET: &str = "test-client-secret-4f9a1c";

/// `tests/oidc/`.
#[must_use]
pub fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// Installs the providers' npm packages (`npm ci`, from the committed
/// `package-lock.json`) if `scripts/prereqs.sh` has not.
///
/// # Panics
/// If node or npm is missing or `npm ci` fails.
pub fn ensure_node_modules() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if oidc_dir().join("node_modules/oidc-provider").is_dir() {
            return;
        }
        let st = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(oidc_dir())
            .status()
            .expect("npm (Debian's nodejs and npm; scripts/prereqs.sh installs them)");
        assert!(st.success(), "npm ci in tests/oidc failed");
    });
}

/// A free port of 127.0.0.1 (for the log, whose callback URL the provider
/// must know before the log starts).
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test provider process; killed when dropped.
pub struct Provider {
    child: Child,
    /// The issuer, `http://127.0.0.1:PORT`.
    pub issuer: String,
    script: &'static str,
    redirect_uri: String,
    port: u16,
}

impl Provider {
    /// Starts `tests/oidc/<script>` for the log whose callback is
    /// `redirect_uri`, on `port` (0: a free one).
    ///
    /// # Panics
    /// If it does not print its issuer within 30 s.
    #[must_use]
    pub fn start(script: &'static str, redirect_uri: &str, port: u16) -> Self {
        ensure_node_modules();
        let mut child = Command::new("node")
            .arg(oidc_dir().join(script))
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", redirect_uri)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node (Debian's nodejs; scripts/prereqs.sh installs it)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let issuer = loop {
            assert!(Instant::now() < deadline, "{script} did not start");
            let Some(Ok(line)) = lines.next() else {
                panic!("{script} exited: {:?}", child.wait());
            };
            if let Some(url) = line.strip_prefix("listening: ") {
                break url.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let port = issuer.rsplit(':').next().unwrap().parse().unwrap();
        Provider {
            child,
            issuer,
            script,
            redirect_uri: redirect_uri.to_owned(),
            port,
        }
    }

    /// Stops the provider and starts it again on the same port: the same
    /// issuer, a new signing key (a new `kid`).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpListener::bind(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the provider's port stays taken");
            std::thread::sleep(Duration::from_millis(50));
        }
        let again = Provider::start(self.script, &self.redirect_uri, self.port);
        assert_eq!(again.issuer, self.issuer);
        *self = again;
    }

    /// The `serve` flags of a log that signs people in with this provider,
    /// its client secret in `secret_file` (written here), and no per-client
    /// sign-in limit: every sign-in of the tests comes from 127.0.0.1
    /// (`http_hardening` tests the limit).
    ///
    /// # Panics
    /// If `secret_file` cannot be written.
    #[must_use]
    pub fn log_flags(&self, secret_file: &Path) -> Vec<String> {
        std::fs::write(secret_file, format!("{CLIENT_SECRET}\n")).unwrap();
        [
            "--signin-rate",
            "0",
            "--oidc-issuer",
            &self.issuer,
            "--oidc-client-id",
            CLIENT_ID,
            "--oidc-client-secret-file",
            secret_file.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// `POST /control` of the faulty provider.
    pub fn control(&self, body: &serde_json::Value) {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}/control", self.issuer))
            .json(body)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }

    /// How often the faulty provider served its JWKS.
    #[must_use]
    pub fn jwks_fetches(&self) -> u64 {
        let v: serde_json::Value = reqwest::blocking::get(format!("{}/stats", self.issuer))
            .unwrap()
            .json()
            .unwrap();
        v["jwks_fetches"].as_u64().unwrap()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A log configured with a provider: the provider, the log, and the
/// client secret's file (kept while the log runs).
pub struct WithProvider {
    /// The provider.
    pub provider: Provider,
    /// The log.
    pub log: LogServer,
    args: Vec<String>,
    _secret: tempfile::TempDir,
}

impl WithProvider {
    /// Stops the log and starts it again (the same data directory, port
    /// and flags).
    pub fn restart_log(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.log.restart(&args);
    }
}

/// Starts the provider `script` and a log that signs people in with it
/// (`--oidc-name "Test IdP"`).
#[must_use]
pub fn log_with_provider(script: &'static str) -> WithProvider {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/ui/oidc/callback");
    let provider = Provider::start(script, &redirect, 0);
    let secret = tempfile::tempdir().unwrap();
    let secret_file = secret.path().join("client-secret");
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["--listen".to_owned(), listen];
    args.extend(provider.log_flags(&secret_file));
    args.extend(["--oidc-name", "Test IdP", "--oidc-groups-claim", "groups"].map(str::to_owned));
    let log = LogServer::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    WithProvider {
        provider,
        log,
        args,
        _secret: secret,
    }
}

/// An answer: status, `Location`, body.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The `Location` header, resolved against the request's URL.
    pub location: Option<String>,
    /// The body.
    pub body: String,
}

/// An HTTP client that keeps cookies like a browser on one host (by name,
/// whatever the port and path: both servers are on 127.0.0.1, as a
/// browser would share their cookies) and never follows redirects by
/// itself.
pub struct Agent {
    http: reqwest::blocking::Client,
    cookies: Mutex<HashMap<String, String>>,
}

impl Default for Agent {
    fn default() -> Self {
        Self::new()
    }
}

impl Agent {
    /// A client without cookies.
    #[must_use]
    pub fn new() -> Self {
        Agent {
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Mutex::new(HashMap::new()),
        }
    }

    /// The value of cookie `name`, if set.
    #[must_use]
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// Sets cookie `name` (or removes it with `None`).
    pub fn set_cookie(&self, name: &str, value: Option<&str>) {
        let mut c = self.cookies.lock().unwrap();
        match value {
            Some(v) => c.insert(name.to_owned(), v.to_owned()),
            None => c.remove(name),
        };
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder, url: &str) -> Answer {
        let cookie = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header("cookie", cookie)
        };
        let resp = req.send().unwrap();
        for set in resp.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let gone = value.is_empty()
                || attrs.to_ascii_lowercase().split(';').any(|a| {
                    a.trim() == "max-age=0" || a.trim().starts_with("expires=thu, 01 jan 1970")
                });
            self.set_cookie(name.trim(), (!gone).then_some(value));
        }
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|l| {
            reqwest::Url::parse(url)
                .unwrap()
                .join(l.to_str().unwrap())
                .unwrap()
                .to_string()
        });
        Answer {
            status,
            location,
            body: resp.text().unwrap(),
        }
    }

    /// GET `url`.
    pub fn get(&self, url: &str) -> Answer {
        self.send(self.http.get(url), url)
    }

    /// POST of a form to `url`.
    pub fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.http.post(url).form(form), url)
    }

    /// Starts a sign-in at `log` (`/ui/oidc/start`, with `query`) and
    /// follows the provider's redirects, signing in on its login page as
    /// `login`, up to the provider's redirect back to the log: returns
    /// that callback URL, not yet visited.
    ///
    /// # Panics
    /// If the flow goes elsewhere.
    #[must_use]
    pub fn to_callback(&self, log: &str, query: &str, login: &str) -> String {
        self.follow_to(
            format!("{log}/ui/oidc/start{query}"),
            &format!("{log}/ui/oidc/callback"),
            login,
        )
    }

    /// Follows redirects from `start` (answering a login page at
    /// `/interaction/...` as `login`) until one leads to a URL that starts
    /// with `callback`; returns that URL, not yet visited.
    ///
    /// # Panics
    /// If the flow goes elsewhere.
    #[must_use]
    pub fn follow_to(&self, start: String, callback: &str, login: &str) -> String {
        let mut url = start;
        for _ in 0..20 {
            let a = self.get(&url);
            let next = match a.status {
                301..=308 => a.location.clone().unwrap(),
                200 if url.contains("/interaction/") => {
                    let a = self.post_form(&format!("{url}/login"), &[("login", login)]);
                    assert!((301..=308).contains(&a.status), "{a:?}");
                    a.location.clone().unwrap()
                }
                _ => panic!("the sign-in stopped at {url}: {a:?}"),
            };
            if next.starts_with(callback) {
                return next;
            }
            url = next;
        }
        panic!("the sign-in did not come back to the log");
    }

    /// The value of the first `name="csrf" value="..."` in `html` (a
    /// cockpit page's form token).
    ///
    /// # Panics
    /// If the page has no form token.
    #[must_use]
    pub fn csrf_of(html: &str) -> String {
        let needle = "name=\"csrf\" value=\"";
        let at = html.find(needle).expect("a form token") + needle.len();
        html[at..].split('"').next().unwrap().to_owned()
    }
}
