//! The cockpit's security properties over HTTP, without a browser: the
//! router in process (`http::app`) on the in-memory backend, with a clock
//! the tests move. Sessions (cookie flags, idle and absolute expiry, sign-out,
//! a revoked key), CSRF (missing or wrong token, another site's origin),
//! project isolation, escaping, the CSP, share links (expiry, revocation,
//! their records), and a project admin changing its own project's controls.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use compliance::principal::{KeyRecord, Role};
use compliance::record::RecordKind;
use http_body_util::BodyExt as _;
use log_server::http::{AppState, app};
use log_server::log::{Log, LogConfig};
use log_server::metrics::Metrics;
use log_server::service::Compliance;
use log_server::service::export::Site;
use log_server::service::github::GitHub;
use log_server::storage::memory::Memory;
use log_server::storage::rocksdb::RocksDb;
use log_server::storage::{KeyStore, LogStore, RecordStore};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const T0: i64 = 1_800_000_000_000;

struct Harness {
    records: Arc<dyn RecordStore>,
    state: AppState,
    admin: String,
    clock: Arc<AtomicI64>,
    checkpointer: (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ),
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |v| v.to_str().unwrap())
    }
}

impl Harness {
    fn new() -> Self {
        Self::on(Arc::new(Memory::new()), None, T0)
    }

    /// The service on `store`, with the clock at `now`; a log admin key
    /// is created unless `admin` is given (one already in the store).
    fn on<S: LogStore + RecordStore + KeyStore + 'static>(
        store: Arc<S>,
        admin: Option<String>,
        now: i64,
    ) -> Self {
        let signer = tlog::SignerKey::from_seed("test.example/log", &[9; 32]).unwrap();
        let config = LogConfig {
            queue_capacity: 1024,
            max_batch: 64,
            checkpoint_interval: Duration::from_millis(5),
        };
        let log = Log::start(store.clone(), signer, config, Arc::new(Metrics::default())).unwrap();
        let clock = Arc::new(AtomicI64::new(now));
        let read = clock.clone();
        let compliance = Arc::new(
            Compliance::new(
                log.clone(),
                store.clone(),
                store.clone(),
                GitHub::new("http://127.0.0.1:9", None),
            )
            .with_clock(Arc::new(move || read.load(Ordering::SeqCst))),
        );
        let admin = admin.unwrap_or_else(|| {
            log_server::keys::create_key(
                &*store,
                KeyRecord {
                    id: String::new(),
                    name: "admin".into(),
                    roles: vec![Role::Admin],
                    project: None,
                    bot: false,
                    created_at: String::new(),
                    revoked_at: None,
                },
            )
            .unwrap()
            .0
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let checkpointer = tokio::spawn(log.clone().run_checkpointer(async move {
            let _ = stopped.await;
        }));
        let keys: Arc<dyn KeyStore> = store.clone();
        let intake = log_server::http::intake::Intake::with_defaults(log.metrics.clone());
        Harness {
            records: store,
            state: AppState {
                backups: None,
                log,
                compliance,
                keys,
                site: Site {
                    public_url: "https://log.example".into(),
                    form_origin: Some("https://log.example".into()),
                    publication: None,
                },
                intake,
            },
            admin,
            clock,
            checkpointer: (stop, checkpointer),
        }
    }

    /// Stops the service as a shutdown does, and lets go of its store.
    async fn stop(self) {
        self.state.log.stop_sequencer().await;
        let (stop, checkpointer) = self.checkpointer;
        let _ = stop.send(());
        checkpointer.await.unwrap();
        self.state.log.flush().unwrap();
    }

    fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }

    async fn call(&self, req: Request<Body>) -> Answer {
        let resp = app(self.state.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn api(
        &self,
        method: &str,
        uri: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
            .unwrap();
        let a = self.call(req).await;
        (
            a.status,
            serde_json::from_str(&a.body).unwrap_or(Value::Null),
        )
    }

    async fn project(&self, name: &str) -> String {
        let (st, v) = self
            .api(
                "POST",
                "/v1/admin/projects",
                &self.admin,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["project_id"].as_str().unwrap().to_owned()
    }

    async fn principal(&self, project: &str, name: &str, roles: &[&str]) -> String {
        let (st, v) = self
            .api(
                "POST",
                &format!("/v1/admin/projects/{project}/principals"),
                &self.admin,
                Some(json!({"name": name, "roles": roles})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["api_key"].as_str().unwrap().to_owned()
    }

    /// Signs in; returns the `Cookie` header value and the answer.
    async fn sign_in(&self, key: &str) -> (String, Answer) {
        let a = self
            .form("/ui/signin", None, &format!("api_key={key}"), &[])
            .await;
        let cookie = a
            .headers
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .unwrap_or_default();
        (cookie, a)
    }

    async fn page(&self, uri: &str, cookie: &str) -> Answer {
        self.call(
            Request::builder()
                .uri(uri)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn form(
        &self,
        uri: &str,
        cookie: Option<&str>,
        body: &str,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "log.example");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        self.call(req.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    /// Submits, with a new `ci` key, a decision blocked by one `ERR`
    /// finding (`kind` on `endpoint`); returns its run ID. An exception
    /// is filed for a blocked run.
    async fn blocked_run(&self, project: &str, kind: &str, endpoint: &str) -> String {
        let ci = self.principal(project, "ci", &["ci"]).await;
        let (st, v) = self
            .api(
                "POST",
                &format!("/api/projects/{project}/decisions"),
                &ci,
                Some(json!({"commit_sha": "abcdef0", "branch": "feature", "author": "a",
                            "findings": [{"kind": kind, "endpoint": endpoint, "severity": "ERR", "detail": ""}],
                            "artifacts": []})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        assert_eq!(v["blocked"], true, "{v}");
        v["run_id"].as_str().unwrap().to_owned()
    }

    fn kinds(&self, project: &str) -> Vec<RecordKind> {
        let mut out = Vec::new();
        self.records
            .for_each_record(project, 0..u64::MAX, &mut |r| {
                out.push(r.kind);
                Ok(true)
            })
            .unwrap();
        out
    }
}

fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + 19..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_secure_cookie_and_the_csp() {
    let h = Harness::new();
    let p = h.project("payments").await;
    let alice = h.principal(&p, "alice", &["codeowner"]).await;

    let a = h.page("/ui/signin", "").await;
    assert_eq!(a.status, StatusCode::OK);
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(a.headers["x-frame-options"], "DENY");
    assert_eq!(a.headers["referrer-policy"], "same-origin");
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    assert!(!a.body.contains("<script>"), "no inline script");

    // A wrong key, and a log-wide key, get no session.
    let (cookie, a) = h.sign_in("sa_nope").await;
    assert_eq!((a.status, cookie.as_str()), (StatusCode::FORBIDDEN, ""));
    let (cookie, a) = h.sign_in(&h.admin).await;
    assert_eq!((a.status, cookie.as_str()), (StatusCode::FORBIDDEN, ""));
    assert!(a.body.contains("log-wide keys have no cockpit"));

    let (_, a) = h.sign_in(&alice).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), format!("/ui/p/{p}"));
    let set = a.headers[header::SET_COOKIE].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set.contains(flag), "{set} lacks {flag}");
    }
    assert!(!set.contains(&alice), "the cookie holds the API key");
    // Nothing the pages send holds the key.
    let cookie = set.split(';').next().unwrap();
    let page = h.page(&format!("/ui/p/{p}"), cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(&alice));
}

/// The IDs in a settings page's session list, the current one first.
fn session_ids(html: &str) -> Vec<String> {
    html.split("name=\"session\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|v| *v != "others")
        .map(str::to_owned)
        .collect()
}

/// Posts the form that ends sessions (`which`: an ID or `others`).
async fn end_sessions(h: &Harness, p: &str, cookie: &str, token: &str, which: &str) -> Answer {
    h.form(
        &format!("/ui/p/{p}/sessions/end"),
        Some(cookie),
        &format!("csrf={token}&session={which}"),
        &[],
    )
    .await
}

#[tokio::test]
async fn a_principal_holds_at_most_ten_sessions_and_ends_them_on_the_settings_page() {
    let h = Harness::new();
    let p = h.project("payments").await;
    let alice = h.principal(&p, "alice", &["codeowner"]).await;
    let bob = h.principal(&p, "bob", &["codeowner"]).await;
    let settings = format!("/ui/p/{p}/settings");
    let (bob_cookie, _) = h.sign_in(&bob).await;
    let bob_page = h.page(&settings, &bob_cookie).await.body;
    let bob_id = session_ids(&bob_page)[0].clone();

    // Twelve sign-ins two minutes apart: the two least recently used end.
    let mut cookies = Vec::new();
    for _ in 0..12 {
        h.advance(2 * 60 * 1000);
        cookies.push(h.sign_in(&alice).await.0);
    }
    for (i, c) in cookies.iter().enumerate() {
        let want = if i < 2 {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::OK
        };
        assert_eq!(h.page(&settings, c).await.status, want, "session {i}");
    }
    let page = h.page(&settings, &cookies[11]).await.body;
    let ids = session_ids(&page);
    assert_eq!(ids.len(), 10, "{page}");
    assert_eq!(page.matches("(this session)").count(), 1);
    assert!(!ids.contains(&bob_id), "only the principal's own sessions");
    let token = csrf_of(&page);
    // One other session, by its ID (the SHA-256 of its secret: the cookie).
    let id_of = |cookie: &str| {
        let secret = cookie.split_once('=').unwrap().1;
        use sha2::Digest as _;
        log_server::keys::to_hex(&sha2::Sha256::digest(secret.as_bytes()))
    };
    assert!(ids.contains(&id_of(&cookies[2])));
    let a = end_sessions(&h, &p, &cookies[11], &token, &id_of(&cookies[2])).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert!(
        a.location().contains("sessions_ended=1"),
        "{}",
        a.location()
    );
    assert_eq!(
        h.page(&settings, &cookies[2]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        session_ids(&h.page(&settings, &cookies[11]).await.body).len(),
        9
    );
    // Another principal's session is not found by its ID.
    let a = end_sessions(&h, &p, &cookies[11], &token, &bob_id).await;
    assert!(
        a.location().contains("sessions_ended=0"),
        "{}",
        a.location()
    );
    assert_eq!(h.page(&settings, &bob_cookie).await.status, StatusCode::OK);
    // Without the form token, nothing ends.
    let a = h
        .form(
            &format!("/ui/p/{p}/sessions/end"),
            Some(&cookies[11]),
            "session=others",
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(h.page(&settings, &cookies[5]).await.status, StatusCode::OK);
    // Every other one.
    let a = end_sessions(&h, &p, &cookies[11], &token, "others").await;
    assert!(
        a.location().contains("sessions_ended=8"),
        "{}",
        a.location()
    );
    for c in &cookies[..11] {
        assert_eq!(h.page(&settings, c).await.status, StatusCode::SEE_OTHER);
    }
    let page = h.page(&settings, &cookies[11]).await.body;
    assert_eq!(session_ids(&page).len(), 1);
    assert!(page.contains("8 sessions were ended") || page.contains("Your sessions"));
    assert_eq!(h.page(&settings, &bob_cookie).await.status, StatusCode::OK);
    // The current one: signed out.
    let a = end_sessions(&h, &p, &cookies[11], &token, &session_ids(&page)[0]).await;
    assert_eq!(
        (a.status, a.location()),
        (StatusCode::SEE_OTHER, "/ui/signin")
    );
    assert!(
        a.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        h.page(&settings, &cookies[11]).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn sessions_end_when_idle_too_long_at_their_absolute_limit_at_sign_out_and_with_their_key() {
    let h = Harness::new();
    let p = h.project("payments").await;
    let alice = h.principal(&p, "alice", &["codeowner"]).await;
    let overview = format!("/ui/p/{p}");

    let (cookie, _) = h.sign_in(&alice).await;
    h.advance(29 * 60 * 1000);
    assert_eq!(h.page(&overview, &cookie).await.status, StatusCode::OK);
    h.advance(31 * 60 * 1000);
    let a = h.page(&overview, &cookie).await;
    assert_eq!(
        (a.status, a.location()),
        (StatusCode::SEE_OTHER, "/ui/signin")
    );

    // Active all along, a session still ends 12 hours after sign-in.
    let (cookie, _) = h.sign_in(&alice).await;
    for _ in 0..(12 * 3) {
        h.advance(20 * 60 * 1000);
        let a = h.page(&overview, &cookie).await;
        if a.status != StatusCode::OK {
            break;
        }
    }
    assert_eq!(
        h.page(&overview, &cookie).await.status,
        StatusCode::SEE_OTHER
    );

    // Sign-out needs the form token, then ends the session.
    let (cookie, _) = h.sign_in(&alice).await;
    let html = h.page(&overview, &cookie).await.body;
    let a = h
        .form("/ui/signout", Some(&cookie), "csrf=wrong", &[])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(h.page(&overview, &cookie).await.status, StatusCode::OK);
    let a = h
        .form(
            "/ui/signout",
            Some(&cookie),
            &format!("csrf={}", csrf_of(&html)),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(
        a.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        h.page(&overview, &cookie).await.status,
        StatusCode::SEE_OTHER
    );

    // Revoking the key ends its sessions.
    let (cookie, _) = h.sign_in(&alice).await;
    let (_, principals) = h
        .api(
            "GET",
            &format!("/v1/admin/projects/{p}/principals"),
            &h.admin,
            None,
        )
        .await;
    let id = principals["principals"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, _) = h
        .api("DELETE", &format!("/v1/admin/keys/{id}"), &h.admin, None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        h.page(&overview, &cookie).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn forged_forms_change_nothing_and_a_session_sees_no_other_project() {
    let h = Harness::new();
    let p = h.project("payments").await;
    let other = h.project("other").await;
    let alice = h.principal(&p, "alice", &["codeowner"]).await;
    let bob = h.principal(&p, "bob", &["codeowner"]).await;
    // An exception is filed for a blocked run: the form names it and one
    // of its ERR findings.
    let run = h.blocked_run(&p, "k", "GET /a").await;
    let (cookie, _) = h.sign_in(&alice).await;
    let html = h
        .page(&format!("/ui/p/{p}/exceptions?run={run}"), &cookie)
        .await
        .body;
    let token = csrf_of(&html);
    let expires = compliance::time::format_time(T0 + 86_400_000);
    let filing = format!(
        "run_id={run}&finding={}&reason={}&expires_at={}",
        enc("k GET /a"),
        enc("<script>alert(1)</script>"),
        enc(&expires)
    );
    let before = h.kinds(&p).len();
    // No token, a wrong token, another site's origin, a cross-site fetch: 403, nothing recorded.
    let forged = [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        // The full origin is compared: scheme, host and port.
        ("origin", "http://log.example"),
        ("origin", "https://log.example:8443"),
        ("origin", "https://sub.log.example"),
        ("origin", "https://log.example.evil.example"),
        ("origin", "null"),
        // A sibling subdomain is `same-site`: another origin all the same.
        ("sec-fetch-site", "same-site"),
    ];
    let mut cases = vec![
        (filing.clone(), vec![]),
        (format!("csrf=csrf_wrong&{filing}"), vec![]),
    ];
    cases.extend(
        forged
            .iter()
            .map(|h| (format!("csrf={token}&{filing}"), vec![*h])),
    );
    for (body, extra) in cases {
        let a = h
            .form(
                &format!("/ui/p/{p}/exceptions"),
                Some(&cookie),
                &body,
                &extra,
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        assert!(a.body.contains("nothing was changed"), "{}", a.body);
    }
    assert_eq!(
        h.kinds(&p).len(),
        before,
        "a forged form recorded something"
    );
    // Another session's token is not this one's.
    let (bob_cookie, _) = h.sign_in(&bob).await;
    let a = h
        .form(
            &format!("/ui/p/{p}/exceptions"),
            Some(&bob_cookie),
            &format!("csrf={token}&{filing}"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // The real form works, same origin; the reason is escaped.
    let a = h
        .form(
            &format!("/ui/p/{p}/exceptions"),
            Some(&cookie),
            &format!("csrf={token}&{filing}"),
            &[
                // The default port may be named; case does not matter.
                ("origin", "https://LOG.example:443"),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = h.page(a.location(), &cookie).await;
    assert!(
        page.body
            .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
    );
    assert!(!page.body.contains("<script>alert"));
    // The requester's approval: refused with the rule's message, 403.
    let exc = a.location().rsplit('/').next().unwrap().to_owned();
    let a = h
        .form(
            &format!("{}/approve", page_path(&p, &exc)),
            Some(&cookie),
            &format!("csrf={token}"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(
        a.body
            .contains("the second signal must come from someone else"),
        "{}",
        a.body
    );

    // Project A's session sees nothing of project B: 404, as for the API.
    for path in ["", "/runs", "/exceptions", "/settings"] {
        let a = h.page(&format!("/ui/p/{other}{path}"), &cookie).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!a.body.contains("other"), "{}", a.body);
    }
}

/// The path of the share link a page shows (minijinja writes `/` in
/// values as `&#x2f;`).
fn share_link(html: &str) -> String {
    let html = html.replace("&#x2f;", "/");
    let at = html
        .find("/share/sat_")
        .unwrap_or_else(|| panic!("no share link in {html}"));
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

fn page_path(p: &str, exc: &str) -> String {
    format!("/ui/p/{p}/exceptions/{exc}")
}

#[tokio::test]
async fn share_links_expire_are_revoked_and_are_recorded() {
    let h = Harness::new();
    let p = h.project("payments").await;
    let auditor = h.principal(&p, "audra", &["auditor"]).await;
    let alice = h.principal(&p, "alice", &["codeowner"]).await;
    let (cookie, _) = h.sign_in(&auditor).await;
    let html = h.page(&format!("/ui/p/{p}/settings"), &cookie).await.body;
    let token = csrf_of(&html);

    // A codeowner cannot create one (the export's roles).
    let (owner_cookie, _) = h.sign_in(&alice).await;
    let owner_html = h
        .page(&format!("/ui/p/{p}/exceptions"), &owner_cookie)
        .await
        .body;
    let a = h
        .form(
            &format!("/ui/p/{p}/shares"),
            Some(&owner_cookie),
            &format!("csrf={}&days=1", csrf_of(&owner_html)),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // More than 30 days: refused with the limit.
    let a = h
        .form(
            &format!("/ui/p/{p}/shares"),
            Some(&cookie),
            &format!("csrf={token}&days=31"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("at most 30 days"));

    let create = |days: &str| format!("csrf={token}&days={days}");
    let a = h
        .form(
            &format!("/ui/p/{p}/shares"),
            Some(&cookie),
            &create("1"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let link = share_link(&a.body);
    let view = h.page(&link, "").await;
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(view.headers["referrer-policy"], "same-origin");
    assert!(!view.body.contains("csrf") && !view.body.contains("sa_"));
    // Used twice within the hour: one use recorded.
    assert_eq!(h.page(&link, "").await.status, StatusCode::OK);
    // After a day it no longer works.
    h.advance(86_400_000);
    let gone = h.page(&link, "").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.body.contains("expired or was revoked"));

    // A second link, revoked.
    let (cookie, _) = h.sign_in(&auditor).await;
    let html = h.page(&format!("/ui/p/{p}/settings"), &cookie).await.body;
    let token = csrf_of(&html);
    let a = h
        .form(
            &format!("/ui/p/{p}/shares"),
            Some(&cookie),
            &format!("csrf={token}&days=2"),
            &[],
        )
        .await;
    let link = share_link(&a.body);
    assert_eq!(h.page(&link, "").await.status, StatusCode::OK);
    // minijinja escapes `/` in values too (`&#x2f;`).
    let body = a.body.replace("&#x2f;", "/");
    let id_at = body
        .find("/shares/shr_")
        .unwrap_or_else(|| panic!("{body}"))
        + 8;
    let id = &body[id_at..id_at + body[id_at..].find('/').unwrap()];
    let a = h
        .form(
            &format!("/ui/p/{p}/shares/{id}/revoke"),
            Some(&cookie),
            &format!("csrf={token}"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(h.page(&link, "").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.page("/share/sat_unknown", "").await.status,
        StatusCode::NOT_FOUND
    );

    let kinds = h.kinds(&p);
    let count = |k| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count(RecordKind::ShareTokenCreated), 2);
    assert_eq!(count(RecordKind::ShareTokenUsed), 2);
    assert_eq!(count(RecordKind::ShareTokenRevoked), 1);

    // An export of the period holds none of them (they belong to no section).
    let (st, _) = h
        .api(
            "GET",
            &format!("/api/projects/{p}/compliance-export"),
            &auditor,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn a_project_admin_changes_its_own_projects_controls_recorded_as_the_api_records_them() {
    let h = Harness::new();
    let p = h.project("payments").await;
    let other = h.project("other").await;
    let dana = h.principal(&p, "dana", &["admin"]).await;
    let alice = h.principal(&p, "alice", &["codeowner"]).await;
    let patch = json!({"max_exception_lifetime_seconds": 604_800});
    let settings = format!("/v1/admin/projects/{p}/settings");
    let (st, _) = h.api("PATCH", &settings, &alice, Some(patch.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = h
        .api(
            "PATCH",
            &format!("/v1/admin/projects/{other}/settings"),
            &dana,
            Some(patch.clone()),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let before = h.kinds(&p).len();
    let (st, v) = h.api("PATCH", &settings, &dana, Some(patch)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["settings"]["max_exception_lifetime_seconds"], 604_800);
    assert_eq!(h.kinds(&p).len(), before + 1);

    // The same through the cockpit's form; a codeowner sees no form.
    let (cookie, _) = h.sign_in(&alice).await;
    let html = h.page(&format!("/ui/p/{p}/settings"), &cookie).await.body;
    assert!(!html.contains("save-controls"));
    let a = h
        .form(
            &format!("/ui/p/{p}/settings/controls"),
            Some(&cookie),
            &format!(
                "csrf={}&max_exception_lifetime_seconds=86400&codeowner_approval=on",
                csrf_of(&html)
            ),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let (cookie, _) = h.sign_in(&dana).await;
    let html = h.page(&format!("/ui/p/{p}/settings"), &cookie).await.body;
    let a = h
        .form(
            &format!("/ui/p/{p}/settings/controls"),
            Some(&cookie),
            &format!(
                "csrf={}&bot_deny_list=renovate&max_exception_lifetime_seconds=86400&codeowner_approval=on&github_repository=",
                csrf_of(&html)
            ),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(h.kinds(&p).len(), before + 2);
    let (_, v) = h
        .api("GET", &format!("/v1/admin/projects/{p}"), &h.admin, None)
        .await;
    assert_eq!(v["settings"]["max_exception_lifetime_seconds"], 86_400);
    assert_eq!(v["settings"]["bot_deny_list"], json!(["renovate"]));
    assert_eq!(
        v["settings"]["accepted_signals"],
        json!(["codeowner_approval"])
    );
    // A bad value is the rule's 400, and records nothing.
    let a = h
        .form(
            &format!("/ui/p/{p}/settings/controls"),
            Some(&cookie),
            &format!(
                "csrf={}&max_exception_lifetime_seconds=999999999&codeowner_approval=on",
                csrf_of(&html)
            ),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("365 days"), "{}", a.body);
    assert_eq!(h.kinds(&p).len(), before + 2);

    // Groups that grant roles: set with the API, shown on the page.
    let groups = json!({"idp_groups": {"pay<ments>-owners": ["codeowner", "admin"]}});
    let (st, v) = h.api("PATCH", &settings, &dana, Some(groups)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v["settings"]["idp_groups"]["pay<ments>-owners"],
        json!(["admin", "codeowner"]),
        "sorted, each once"
    );
    let (cookie, _) = h.sign_in(&dana).await;
    let page = h.page(&format!("/ui/p/{p}/settings"), &cookie).await.body;
    assert!(
        page.contains("<code>pay&lt;ments&gt;-owners</code> → admin, codeowner"),
        "{page}"
    );
}

/// Sessions and share links are in the store: after a restart on the same
/// RocksDB directory, a session still works (and its sign-out still ends
/// it), a share link still opens, its use within the hour is not recorded
/// again, and a link revoked before the restart stays revoked.
#[tokio::test]
async fn a_session_and_a_share_link_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let h = Harness::on(Arc::new(RocksDb::open(&path).unwrap()), None, T0);
    let p = h.project("payments").await;
    let auditor = h.principal(&p, "audra", &["auditor"]).await;
    let (cookie, _) = h.sign_in(&auditor).await;
    let settings = format!("/ui/p/{p}/settings");
    let html = h.page(&settings, &cookie).await.body;
    let token = csrf_of(&html);
    let create = || async {
        let a = h
            .form(
                &format!("/ui/p/{p}/shares"),
                Some(&cookie),
                &format!("csrf={token}&days=2"),
                &[],
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    };
    // A first link, revoked (the only one listed: its ID is the page's).
    let body = create().await;
    let revoked = share_link(&body);
    let body = body.replace("&#x2f;", "/");
    let id_at = body.find("/shares/shr_").unwrap() + 8;
    let revoked_id = body[id_at..id_at + body[id_at..].find('/').unwrap()].to_owned();
    let a = h
        .form(
            &format!("/ui/p/{p}/shares/{revoked_id}/revoke"),
            Some(&cookie),
            &format!("csrf={token}"),
            &[],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(h.page(&revoked, "").await.status, StatusCode::NOT_FOUND);
    // A second one, used.
    let kept = share_link(&create().await);
    assert_eq!(h.page(&kept, "").await.status, StatusCode::OK);
    let admin = h.admin.clone();
    let used = |h: &Harness| {
        h.kinds(&p)
            .iter()
            .filter(|k| **k == RecordKind::ShareTokenUsed)
            .count()
    };
    assert_eq!(used(&h), 1);
    h.stop().await;

    // The same directory, a new process's state, 10 minutes later.
    let h = Harness::on(
        Arc::new(RocksDb::open(&path).unwrap()),
        Some(admin),
        T0 + 10 * 60 * 1000,
    );
    let page = h.page(&settings, &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "the session was kept");
    assert!(
        page.body.contains(revoked_id.as_str()),
        "the links are listed"
    );
    assert_eq!(csrf_of(&page.body), token, "with its form token");
    assert_eq!(h.page(&kept, "").await.status, StatusCode::OK);
    assert_eq!(used(&h), 1, "a use within the hour is not recorded again");
    assert_eq!(h.page(&revoked, "").await.status, StatusCode::NOT_FOUND);
    // An hour after the first use, a use is recorded again.
    h.advance(60 * 60 * 1000);
    assert_eq!(h.page(&kept, "").await.status, StatusCode::OK);
    assert_eq!(used(&h), 2);
    // The idle limit still applies to the kept session (its last request
    // was 70 minutes ago).
    let a = h.page(&settings, &cookie).await;
    assert_eq!(
        (a.status, a.location()),
        (StatusCode::SEE_OTHER, "/ui/signin")
    );

    // A session signed in now ends at sign-out, after a restart too.
    let (cookie, _) = h.sign_in(&auditor).await;
    let token = csrf_of(&h.page(&settings, &cookie).await.body);
    let admin = h.admin.clone();
    h.stop().await;
    let h = Harness::on(
        Arc::new(RocksDb::open(&path).unwrap()),
        Some(admin),
        T0 + 71 * 60 * 1000,
    );
    let a = h
        .form("/ui/signout", Some(&cookie), &format!("csrf={token}"), &[])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        h.page(&settings, &cookie).await.status,
        StatusCode::SEE_OTHER
    );
    h.stop().await;
}
