//! The HTTP API driven in-process through `http::app` on the in-memory
//! backend (no socket): status, body and "changes nothing" for the error
//! paths of the read, write, admin and compliance routes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use compliance::principal::{KeyRecord, Role};
use http_body_util::BodyExt as _;
use log_server::http::{AppState, app};
use log_server::log::{Log, LogConfig};
use log_server::metrics::Metrics;
use log_server::service::Compliance;
use log_server::service::export::Site;
use log_server::service::github::GitHub;
use log_server::storage::memory::{CommitMode, Memory};
use log_server::storage::{LogStore, RecordStore};
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Harness {
    store: Arc<Memory>,
    log: Arc<Log>,
    state: AppState,
    admin: String,
    admin_id: String,
    /// The service's clock, ms since the epoch; 0 reads the system clock.
    clock: Arc<std::sync::atomic::AtomicI64>,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a JSON error with this status and code, whose message
    /// contains `words`.
    fn error(&self, status: StatusCode, code: &str, words: &str) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        assert_eq!(v["code"], code, "{v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(words), "{msg:?} does not say {words:?}");
        assert_eq!(self.headers[header::CACHE_CONTROL], "no-store");
    }
}

fn key_record(name: &str, roles: &[Role], project: Option<&str>) -> KeyRecord {
    KeyRecord {
        id: String::new(),
        name: name.into(),
        roles: roles.to_vec(),
        project: project.map(str::to_owned),
        bot: false,
        created_at: String::new(),
        revoked_at: None,
    }
}

impl Harness {
    fn new() -> Self {
        Self::with_queue(1024, 64)
    }

    fn with_queue(queue_capacity: usize, max_batch: usize) -> Self {
        let store = Arc::new(Memory::new());
        let signer = tlog::SignerKey::from_seed("test.example/log", &[9; 32]).unwrap();
        let config = LogConfig {
            queue_capacity,
            max_batch,
            checkpoint_interval: Duration::from_millis(5),
        };
        let log = Log::start(store.clone(), signer, config, Arc::new(Metrics::default())).unwrap();
        let clock = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let read = clock.clone();
        let compliance = Arc::new(
            Compliance::new(
                log.clone(),
                store.clone(),
                store.clone(),
                GitHub::new("http://127.0.0.1:9", None),
            )
            .with_clock(Arc::new(move || {
                match read.load(std::sync::atomic::Ordering::SeqCst) {
                    0 => log_server::service::now_ms(),
                    t => t,
                }
            })),
        );
        let (admin, admin_record) =
            log_server::keys::create_key(&*store, key_record("admin", &[Role::Admin], None))
                .unwrap();
        let state = AppState {
            backups: None,
            log: log.clone(),
            compliance,
            keys: store.clone(),
            site: Site {
                public_url: "https://log.example".into(),
                form_origin: Some("https://log.example".into()),
                publication: None,
            },
            intake: log_server::http::intake::Intake::with_defaults(log.metrics.clone()),
        };
        tokio::spawn(log.clone().run_checkpointer(std::future::pending()));
        Harness {
            store,
            log,
            state,
            admin,
            admin_id: admin_record.id,
            clock,
        }
    }

    fn key(&self, name: &str, roles: &[Role], project: Option<&str>) -> String {
        log_server::keys::create_key(&*self.store, key_record(name, roles, project))
            .unwrap()
            .0
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let resp = app(self.state.clone())
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Answer {
        self.call("GET", uri, None, None, Body::empty()).await
    }

    async fn get_as(&self, uri: &str, key: &str) -> Answer {
        self.call("GET", uri, Some(key), None, Body::empty()).await
    }

    async fn post_json(&self, uri: &str, key: &str, body: &Value) -> Answer {
        self.call(
            "POST",
            uri,
            Some(key),
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    async fn append(&self, data: &[u8]) -> Answer {
        self.call(
            "POST",
            "/v1/entries",
            Some(&self.admin),
            Some("application/octet-stream"),
            data.to_vec(),
        )
        .await
    }

    /// What a refused request must leave as it was.
    fn admin_id(&self) -> &str {
        &self.admin_id
    }

    /// Pins the service's clock to an RFC 3339 time.
    fn set_time(&self, time: &str) {
        let t = compliance::time::parse_time(time).unwrap();
        self.clock.store(t, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every record of a project, in order.
    fn ledger_records(&self, project: &str) -> Vec<Value> {
        let mut out = Vec::new();
        self.store
            .for_each_record(project, 0..u64::MAX, &mut |row| {
                out.push(row.value()?);
                Ok(true)
            })
            .unwrap();
        out
    }

    fn snapshot(&self) -> (u64, usize, usize) {
        (
            self.store.tree_size().unwrap(),
            self.store.projects().unwrap().len(),
            log_server::keys::list_keys(&*self.store).unwrap().len(),
        )
    }
}

#[tokio::test]
async fn read_routes_answer_and_refuse_bad_input() {
    let h = Harness::new();
    for i in 0..5u8 {
        assert_eq!(h.append(&[i]).await.status, StatusCode::CREATED);
    }
    while h.log.checkpoint().unwrap().tree_size < 5 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = h.snapshot();

    let cp = h.get("/checkpoint").await;
    assert_eq!(cp.status, StatusCode::OK);
    assert_eq!(cp.headers[header::CACHE_CONTROL], "no-cache");
    assert!(
        String::from_utf8(cp.body)
            .unwrap()
            .starts_with("test.example/log\n5\n")
    );

    let log = h.get("/v1/log").await.json();
    assert_eq!(
        (log["origin"].as_str(), log["tree_size"].as_u64()),
        (Some("test.example/log"), Some(5))
    );

    let tile = h.get("/tile/0/000.p/5").await;
    assert_eq!(tile.status, StatusCode::OK);
    assert_eq!(tile.body.len(), 5 * 32);
    assert_eq!(
        tile.headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    h.get("/tile/0/000.p/6")
        .await
        .error(StatusCode::NOT_FOUND, "not_found", "beyond the tree");
    h.get("/tile/0/000")
        .await
        .error(StatusCode::NOT_FOUND, "not_found", "beyond the tree");
    h.get("/tile/entries/000.p/6").await.error(
        StatusCode::NOT_FOUND,
        "not_found",
        "beyond the tree",
    );
    h.get("/tile/x/000")
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "");
    assert_eq!(h.get("/tile/entries/000.p/5").await.status, StatusCode::OK);

    let proof = h
        .get("/v1/proof/inclusion?index=2&tree_size=5")
        .await
        .json();
    assert_eq!(proof["leaf_index"], 2);
    let leaf = tlog::leaf_hash(&[2]).to_base64();
    let by_hash = h
        .get(&format!(
            "/v1/proof/inclusion?leaf_hash={}",
            leaf.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        ))
        .await
        .json();
    assert_eq!(
        (
            by_hash["leaf_index"].as_u64(),
            by_hash["tree_size"].as_u64()
        ),
        (Some(2), Some(5))
    );
    assert!(by_hash["checkpoint"].is_string());
    for (uri, status, code, words) in [
        (
            "/v1/proof/inclusion?index=5&tree_size=5",
            StatusCode::NOT_FOUND,
            "not_found",
            "not in the tree",
        ),
        (
            "/v1/proof/inclusion?index=0&tree_size=6",
            StatusCode::NOT_FOUND,
            "not_found",
            "beyond the latest checkpoint",
        ),
        (
            "/v1/proof/inclusion?leaf_hash=abc",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "32 bytes of standard base64",
        ),
        (
            "/v1/proof/inclusion?index=1&leaf_hash=abc",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "exactly one",
        ),
        (
            "/v1/proof/inclusion",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "exactly one",
        ),
        (
            "/v1/proof/inclusion?index=-1",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "non-negative integer",
        ),
        (
            "/v1/proof/inclusion?index=1&extra=2",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "unknown query parameter",
        ),
        (
            "/v1/proof/consistency?first=4&second=2",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "must not be larger",
        ),
        (
            "/v1/proof/consistency?second=2",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "first is required",
        ),
        (
            "/v1/proof/consistency?first=1&second=9",
            StatusCode::NOT_FOUND,
            "not_found",
            "beyond the latest checkpoint",
        ),
        (
            "/v1/entries/abc",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "non-negative integer",
        ),
        (
            "/v1/entries/5",
            StatusCode::NOT_FOUND,
            "not_found",
            "no entry at index 5",
        ),
        (
            "/v1/entries?start=9",
            StatusCode::NOT_FOUND,
            "not_found",
            "beyond the tree",
        ),
        (
            "/v1/entries?start=3&end=1",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "must not be smaller",
        ),
        (
            "/v1/entries",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "start is required",
        ),
        (
            "/no/such/route",
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route",
        ),
    ] {
        h.get(uri).await.error(status, code, words);
    }
    let c = h.get("/v1/proof/consistency?first=0&second=5").await.json();
    assert_eq!(
        c["proof"],
        json!([]),
        "consistency from 0 is the empty proof"
    );
    let e = h.get("/v1/entries/3").await.json();
    assert_eq!(e["entry"], "Aw==");
    let page = h.get("/v1/entries?start=1&end=4").await.json();
    assert_eq!(page["entries"].as_array().unwrap().len(), 3);

    let html = h.get("/entries/1").await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        String::from_utf8(html.body)
            .unwrap()
            .contains("stateanchor-verify")
    );
    let missing = h.get("/entries/99").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    assert_eq!(h.snapshot(), before, "reads change nothing");
    h.store.check().unwrap();
}

#[tokio::test]
async fn the_write_route_refuses_bad_requests_and_changes_nothing() {
    let h = Harness::new();
    let before = h.snapshot();
    let auditor = h.key("aud", &[Role::Auditor], Some("prj_x"));
    let oct = Some("application/octet-stream");
    let post = |key: Option<String>, ct: Option<&'static str>, body: Vec<u8>, uri: &'static str| {
        let h = &h;
        async move { h.call("POST", uri, key.as_deref(), ct, body).await }
    };
    post(None, oct, b"x".to_vec(), "/v1/entries").await.error(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "missing Authorization",
    );
    post(Some("sa_nope".into()), oct, b"x".to_vec(), "/v1/entries")
        .await
        .error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "unknown or revoked",
        );
    post(Some(auditor), oct, b"x".to_vec(), "/v1/entries")
        .await
        .error(StatusCode::FORBIDDEN, "forbidden", "submitter");
    post(Some("Basic abc".into()), oct, b"x".to_vec(), "/v1/entries")
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated", "");
    // A revoked key is refused like an unknown one.
    let created = h
        .post_json(
            "/v1/admin/keys",
            &h.admin,
            &json!({"name": "ci", "role": "submitter"}),
        )
        .await
        .json();
    let (id, secret) = (
        created["id"].as_str().unwrap().to_owned(),
        created["api_key"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        h.call(
            "DELETE",
            &format!("/v1/admin/keys/{id}"),
            Some(&h.admin),
            None,
            Body::empty()
        )
        .await
        .status,
        StatusCode::OK
    );
    post(Some(secret), oct, b"x".to_vec(), "/v1/entries")
        .await
        .error(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "unknown or revoked",
        );
    post(
        Some(h.admin.clone()),
        Some("text/plain"),
        b"x".to_vec(),
        "/v1/entries",
    )
    .await
    .error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "application/octet-stream",
    );
    post(
        Some(h.admin.clone()),
        oct,
        vec![0; tlog::MAX_ENTRY_SIZE + 1],
        "/v1/entries",
    )
    .await
    .error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "at most 65535 bytes",
    );
    post(
        Some(h.admin.clone()),
        oct,
        b"x".to_vec(),
        "/v1/entries?wait=soon",
    )
    .await
    .error(StatusCode::BAD_REQUEST, "bad_request", "wait must be");
    assert_eq!(h.snapshot().0, before.0, "refused appends change nothing");

    let ok = post(
        Some(h.admin.clone()),
        oct,
        b"x".to_vec(),
        "/v1/entries?wait=checkpoint",
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let v = ok.json();
    assert_eq!(
        (v["index"].as_u64(), v["tree_size"].as_u64()),
        (Some(0), Some(1))
    );

    // A failing store: the append is refused with 503 and the log stops.
    h.store.fail_commits(CommitMode::Fail { persist: false });
    h.append(b"y").await.error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "not accepting writes",
    );
    h.store.fail_commits(CommitMode::Ok);
    h.append(b"z").await.error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "not accepting writes",
    );
    assert_eq!(h.store.tree_size().unwrap(), 1);
    h.store.check().unwrap();
}

#[tokio::test]
async fn admin_routes_refuse_bad_requests_and_change_nothing() {
    let h = Harness::new();
    let submitter = h.key("ci", &[Role::Submitter], None);
    let before = h.snapshot();
    let keys = "/v1/admin/keys";
    h.post_json(keys, &submitter, &json!({"name": "x", "role": "admin"}))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden", "admin role");
    h.call("POST", keys, Some(&h.admin), Some("application/json"), "{")
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "");
    h.call("POST", keys, Some(&h.admin), Some("text/plain"), "{}")
        .await
        .error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "application/json",
        );
    h.post_json(keys, &h.admin, &json!({"name": "x", "role": "ci"}))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "admin or submitter");
    h.post_json(keys, &h.admin, &json!({"name": " ", "role": "admin"}))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "1 to 200");
    h.post_json(
        keys,
        &h.admin,
        &json!({"name": "x", "role": "admin", "extra": 1}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "bad_request", "unknown field");
    h.call(
        "POST",
        keys,
        Some(&h.admin),
        Some("application/json"),
        vec![b' '; 2 << 20],
    )
    .await
    .error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "too large");
    let me = h.get_as(keys, &h.admin).await.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.call(
        "DELETE",
        &format!("{keys}/{me}"),
        Some(&h.admin),
        None,
        Body::empty(),
    )
    .await
    .error(StatusCode::CONFLICT, "conflict", "cannot revoke itself");
    h.call(
        "DELETE",
        &format!("{keys}/key_nope"),
        Some(&h.admin),
        None,
        Body::empty(),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found", "no key");

    let projects = "/v1/admin/projects";
    let padmin = h.key("padmin", &[Role::Admin], Some("prj_x"));
    h.post_json(projects, &padmin, &json!({"name": "p"}))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden", "log admin");
    h.post_json(projects, &submitter, &json!({"name": "p"}))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden", "log admin");
    h.post_json(
        projects,
        &h.admin,
        &json!({"name": "p", "max_exception_lifetime_seconds": 0}),
    )
    .await
    .error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "max_exception_lifetime_seconds",
    );
    h.post_json(projects, &h.admin, &json!({"name": ""}))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "name");
    h.get_as(&format!("{projects}/prj_nope"), &h.admin)
        .await
        .error(StatusCode::NOT_FOUND, "not_found", "no project");
    assert_eq!(h.snapshot().1, before.1, "no project was created");
    let after_keys = h.snapshot().2;

    let p = h
        .post_json(
            projects,
            &h.admin,
            &json!({"name": "payments", "bot_deny_list": ["renovate"]}),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED);
    let id = p.json()["project_id"].as_str().unwrap().to_owned();
    let settings = format!("{projects}/{id}/settings");
    let patch = |body: Value| {
        let (h, settings) = (&h, settings.clone());
        async move {
            h.call(
                "PATCH",
                &settings,
                Some(&h.admin),
                Some("application/json"),
                body.to_string(),
            )
            .await
        }
    };
    patch(json!({"max_exception_lifetime_seconds": 999_999_999, "bot_deny_list": ["x"]}))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "365 days");
    patch(json!({"bot_deny_list": [""]})).await.error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "bot_deny_list entry",
    );
    let shown = h.get_as(&format!("{projects}/{id}"), &h.admin).await.json();
    assert_eq!(
        shown["settings"]["bot_deny_list"],
        json!(["renovate"]),
        "a bad patch changes nothing"
    );
    patch(json!({"github_repository": "not a repo"}))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "owner/name");
    patch(json!({"github_rep": "acme/api"})).await.error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "unknown field",
    );
    assert_eq!(h.snapshot().0, 1, "only the project's creation is recorded");
    assert_eq!(
        patch(json!({"max_exception_lifetime_seconds": 60}))
            .await
            .status,
        StatusCode::OK
    );
    let connected = patch(json!({"github_repository": "acme/api"})).await.json();
    assert_eq!(connected["settings"]["github"]["repository"], "acme/api");
    let since = connected["settings"]["github"]["connected_at"].clone();
    assert!(since.is_string(), "{connected}");
    // The same controls again change nothing and record nothing.
    let same =
        patch(json!({"github_repository": "ACME/api", "max_exception_lifetime_seconds": 60}))
            .await
            .json();
    assert_eq!(same["settings"]["github"]["connected_at"], since);
    assert_eq!(
        h.snapshot().0,
        3,
        "creation, then two changes of the controls, each recorded"
    );
    let changes = h.ledger_records(&id);
    let changed: Vec<Value> = changes.iter().map(|r| r["changed"].clone()).collect();
    assert_eq!(
        changed,
        [
            json!(["created"]),
            json!(["max_exception_lifetime_seconds"]),
            json!(["github"])
        ]
    );
    assert_eq!(changes[0]["settings"]["bot_deny_list"], json!(["renovate"]));
    assert_eq!(changes[2]["settings"]["github"]["repository"], "acme/api");
    assert_eq!(changes[2]["changed_by"], json!(h.admin_id()));

    let principals = format!("{projects}/{id}/principals");
    for (body, words) in [
        (json!({"name": "a", "roles": []}), "at least one"),
        (
            json!({"name": "a", "roles": ["submitter"]}),
            "submitter is a log key role",
        ),
        (json!({"name": "a", "roles": ["root"]}), "unknown variant"),
        (
            json!({"name": "a", "roles": ["codeowner"], "github_login": "-bad"}),
            "not a GitHub login",
        ),
    ] {
        h.post_json(&principals, &h.admin, &body).await.error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            words,
        );
    }
    let alice = h
        .post_json(
            &principals,
            &h.admin,
            &json!({"name": "alice", "roles": ["codeowner"], "github_login": "Alice"}),
        )
        .await;
    assert_eq!(alice.status, StatusCode::CREATED);
    assert_eq!(alice.headers[header::CACHE_CONTROL], "no-store");
    h.post_json(
        &principals,
        &h.admin,
        &json!({"name": "al", "roles": ["codeowner"], "github_login": "alice"}),
    )
    .await
    .error(StatusCode::CONFLICT, "conflict", "GitHub login");
    h.post_json(
        &principals,
        &h.admin,
        &json!({"name": "ALICE", "roles": ["ci"]}),
    )
    .await
    .error(
        StatusCode::CONFLICT,
        "conflict",
        "one person holds one principal",
    );
    h.post_json(
        &format!("{projects}/prj_nope/principals"),
        &h.admin,
        &json!({"name": "a", "roles": ["ci"]}),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found", "no project");
    assert_eq!(
        h.snapshot().2,
        after_keys + 1,
        "only alice's key was created"
    );
    assert_eq!(
        h.snapshot().0,
        4,
        "log keys are not log records; the controls and alice's principal_added are, the refusals are not"
    );
}

#[tokio::test]
async fn compliance_routes_refuse_bad_requests_and_record_nothing() {
    let h = Harness::new();
    let id = h
        .post_json("/v1/admin/projects", &h.admin, &json!({"name": "payments"}))
        .await
        .json()["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let principal = |name: &str, roles: Value| {
        let (h, id, name) = (&h, id.clone(), name.to_owned());
        async move {
            h.post_json(
                &format!("/v1/admin/projects/{id}/principals"),
                &h.admin,
                &json!({"name": name, "roles": roles}),
            )
            .await
            .json()["api_key"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let ci = principal("ci", json!(["ci"])).await;
    let alice = principal("alice", json!(["codeowner"])).await;
    let bob = principal("bob", json!(["codeowner"])).await;
    let auditor = principal("auditor", json!(["auditor"])).await;
    let foreign = h.key("other-ci", &[Role::Ci], Some("prj_other"));
    let decisions = format!("/api/projects/{id}/decisions");
    let decision = |sha: &str| {
        json!({"commit_sha": sha, "branch": "main", "author": "dev",
        "findings": [{"kind": "response_property_removed", "endpoint": "GET /users/{id}", "severity": "ERR"}]})
    };
    let before = h.snapshot();

    h.post_json(&decisions, &foreign, &decision("abcdef0"))
        .await
        .error(StatusCode::NOT_FOUND, "not_found", "no project");
    h.post_json(&decisions, &alice, &decision("abcdef0"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden", "only a ci key");
    h.post_json(&decisions, &h.admin, &decision("abcdef0"))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden", "only a ci key");
    h.post_json(
        "/api/projects/prj_nope/decisions",
        &ci,
        &decision("abcdef0"),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found", "no project");
    h.post_json(&decisions, &ci, &decision("xyz")).await.error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "commit_sha",
    );
    h.post_json(&decisions, &ci, &json!({"commit_sha": "abcdef0"}))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "missing field");
    h.post_json(
        &format!("{decisions}?wait=later"),
        &ci,
        &decision("abcdef0"),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "bad_request", "wait must be");
    assert_eq!(h.snapshot(), before, "refused decisions record nothing");

    let blocked = h.post_json(&decisions, &ci, &decision("abcdef0")).await;
    assert_eq!(blocked.status, StatusCode::CREATED);
    let blocked = blocked.json();
    assert_eq!(
        (blocked["verdict"].as_str(), blocked["blocked"].as_bool()),
        (Some("ERR"), Some(true))
    );
    let run = blocked["run_id"].as_str().unwrap();
    let got = h
        .get_as(&format!("{decisions}/{run}"), &auditor)
        .await
        .json();
    assert_eq!(got["record"]["commit_sha"], "abcdef0");
    h.get_as(&format!("{decisions}/run_nope"), &auditor)
        .await
        .error(StatusCode::NOT_FOUND, "not_found", "no decision");
    h.get_as(&format!("{decisions}/{run}"), &foreign)
        .await
        .error(StatusCode::NOT_FOUND, "not_found", "no project");

    let exceptions = format!("/api/projects/{id}/exceptions");
    let soon = compliance::time::format_time(log_server::service::now_ms() + 86_400_000);
    let filing = json!({"kind": "response_property_removed", "endpoint": "GET /users/{id}", "run_id": run, "reason": "migrated", "expires_at": soon});
    let size = h.snapshot();
    h.post_json(&exceptions, &ci, &filing).await.error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "codeowner",
    );
    h.post_json(&exceptions, &alice, &json!({"kind": "response_property_removed", "endpoint": "GET /users/{id}", "run_id": run, "reason": "r", "expires_at": "2001-01-01T00:00:00Z"})).await.error(StatusCode::BAD_REQUEST, "bad_request", "in the future");
    h.post_json(&exceptions, &alice, &json!({"kind": "response_property_removed", "endpoint": "GET /users/{id}", "run_id": run, "reason": "r", "expires_at": "2999-01-01T00:00:00Z"})).await.error(StatusCode::BAD_REQUEST, "bad_request", "maximum exception lifetime");
    assert_eq!(h.snapshot(), size);
    let filed = h.post_json(&exceptions, &alice, &filing).await;
    assert_eq!(filed.status, StatusCode::CREATED);
    let exc = filed.json()["exception_id"].as_str().unwrap().to_owned();
    let signals = format!("{exceptions}/{exc}/signals");
    let approve = json!({"type": "codeowner_approval"});
    let size = h.snapshot();
    h.post_json(&signals, &alice, &approve).await.error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "someone else",
    );
    h.post_json(&signals, &ci, &approve).await.error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "codeowner",
    );
    h.post_json(
        &signals,
        &bob,
        &json!({"type": "consumer_test", "test_name": "t", "run_url": "ftp://x",
            "commit_sha": "abcdef0", "kind": "response_property_removed", "endpoint": "GET /users/{id}"}),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "bad_request", "run_url");
    h.post_json(&signals, &bob, &json!({"type": "telepathy"}))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "unknown variant");
    h.post_json(&format!("{exceptions}/exc_nope/signals"), &bob, &approve)
        .await
        .error(StatusCode::NOT_FOUND, "not_found", "no exception");
    h.post_json(
        &signals,
        &bob,
        &json!({"type": "github_review", "repository": "nope", "pull_request": 1}),
    )
    .await
    .error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "is for no pull request",
    );
    assert_eq!(h.snapshot(), size, "refused signals record nothing");
    let approved = h.post_json(&signals, &bob, &approve).await;
    assert_eq!(approved.status, StatusCode::CREATED, "{}", approved.json());
    h.post_json(&signals, &bob, &approve).await.error(
        StatusCode::CONFLICT,
        "conflict",
        "already ACTIVE",
    );

    let passed = h
        .post_json(&decisions, &ci, &decision("abcdef1"))
        .await
        .json();
    assert_eq!(passed["blocked"], false);
    assert_eq!(passed["exceptions_applied"], json!([exc]));

    let revoke = format!("{exceptions}/{exc}/revoke");
    h.post_json(&revoke, &alice, &json!({"reason": ""}))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "reason");
    h.post_json(&revoke, &ci, &json!({"reason": "done"}))
        .await
        .error(StatusCode::FORBIDDEN, "forbidden", "codeowner");
    assert_eq!(
        h.post_json(&revoke, &alice, &json!({"reason": "done"}))
            .await
            .status,
        StatusCode::CREATED
    );
    h.post_json(&revoke, &alice, &json!({"reason": "again"}))
        .await
        .error(StatusCode::CONFLICT, "conflict", "revoked");

    h.get_as(&format!("{exceptions}?status=maybe"), &auditor)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "status must be");
    h.get_as(&format!("{exceptions}?sort=asc"), &auditor)
        .await
        .error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "unknown query parameter",
        );
    let listed = h
        .get_as(&format!("{exceptions}?status=revoked"), &auditor)
        .await
        .json();
    assert_eq!(listed["exceptions"].as_array().unwrap().len(), 1);
    let one = h
        .get_as(&format!("{exceptions}/{exc}"), &auditor)
        .await
        .json();
    assert_eq!(
        one["events"].as_array().unwrap().len(),
        4,
        "requested, signal, activated, revoked"
    );

    let export = format!("/api/projects/{id}/compliance-export");
    let size = h.snapshot();
    h.get_as(&export, &alice)
        .await
        .error(StatusCode::FORBIDDEN, "forbidden", "auditor or admin");
    h.get_as(&format!("{export}?from=2026-02-01&to=2026-01-01"), &auditor)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "must not be after");
    h.get_as(&format!("{export}?from=2999-01-01&to=2999-01-31"), &auditor)
        .await
        .error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "starts in the future",
        );
    h.get_as(&format!("{export}?to=yesterday"), &auditor)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "YYYY-MM-DD");
    h.get_as(&format!("{export}?format=pdf"), &auditor)
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request", "json or markdown");
    h.get_as(&format!("{export}?period=all"), &auditor)
        .await
        .error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "unknown query parameter",
        );
    assert_eq!(h.snapshot(), size, "refused exports record nothing");
    let file = h
        .get_as(&format!("{export}?format=markdown"), &auditor)
        .await;
    assert_eq!(file.status, StatusCode::OK);
    let disposition = file.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with(&format!(
            "attachment; filename=\"stateanchor-soc2-evidence-{id}-"
        )),
        "{disposition}"
    );
    let md = String::from_utf8(file.body).unwrap();
    assert!(md.contains("## D. Audit-trail integrity"));
    assert!(md.contains(
        "All gate decisions in this period are included in the public tamper-evident audit log at https://log.example, independently verifiable without access to StateAnchor."
    ));
    assert!(
        md.contains("](https://log.example/entries/"),
        "proof-page links"
    );
    // Section A in Markdown: per run, the classified changes, why it was
    // blocked, and the exceptions applied.
    let row = md
        .lines()
        .find(|l| l.contains(run) && l.starts_with('|'))
        .expect("the blocked run's row");
    for want in [
        "**blocked**: ERR response_property_removed on GET /users/{id}: no ACTIVE exception",
        "ERR response_property_removed on GET /users/{id}",
    ] {
        assert!(row.contains(want), "{want} not in {row}");
    }
    assert!(md.contains(&exc), "the applied exception is listed");
    assert!(
        md.contains(
            "| Distinct committers (commit authors of the period's runs) | 1: dev (2 runs) |"
        ),
        "section C counts committers"
    );
    h.store.check().unwrap();
}

/// A full queue is pushback: 503 with `Retry-After`, nothing appended; the
/// appends that were queued are committed once the store is fast again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_pushback_with_retry_after() {
    let h = Arc::new(Harness::with_queue(2, 1));
    let paused = h.store.pause_commits();
    // The sequencer takes one append and stalls in its commit; two more
    // fill the queue; the next is refused at once.
    let mut queued = Vec::new();
    let mut refused = None;
    for i in 0..50u8 {
        let h2 = h.clone();
        let task = tokio::spawn(async move { h2.append(&[i]).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        if task.is_finished() {
            refused = Some(task.await.unwrap());
            break;
        }
        queued.push(task);
    }
    let refused = refused.expect("a full queue refuses an append");
    refused.error(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "retry after the delay in Retry-After",
    );
    assert_eq!(refused.headers[header::RETRY_AFTER], "1");
    assert_eq!(
        h.store.tree_size().unwrap(),
        0,
        "nothing committed while paused"
    );
    drop(paused);
    let accepted = queued.len() as u64;
    for task in queued {
        assert_eq!(task.await.unwrap().status, StatusCode::CREATED);
    }
    // One in the commit and two queued, or, when the sequencer had not
    // taken the first from the queue yet (a loaded machine), two queued:
    // every append that was not refused is committed, nothing else.
    assert!(
        (2..=3).contains(&accepted),
        "{accepted} appends accepted before the refusal"
    );
    assert_eq!(
        h.store.tree_size().unwrap(),
        accepted,
        "every accepted append, and only those"
    );
    h.store.check().unwrap();
}

/// An export's period is whole UTC days, both included: a record at
/// 23:59:59.999 on `to` is in it, one at 00:00:00.000 the day after is in
/// the next period; the default period is the 90 days up to today; a period
/// that starts in the future, or ends before it starts, is refused.
#[tokio::test]
async fn export_periods_are_inclusive_utc_days() {
    let h = Harness::new();
    h.set_time("2026-03-10T12:00:00Z");
    let id = h
        .post_json("/v1/admin/projects", &h.admin, &json!({"name": "payments"}))
        .await
        .json()["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut keys = Vec::new();
    for (name, role) in [("ci", "ci"), ("auditor", "auditor")] {
        let v = h
            .post_json(
                &format!("/v1/admin/projects/{id}/principals"),
                &h.admin,
                &json!({"name": name, "roles": [role]}),
            )
            .await
            .json();
        keys.push(v["api_key"].as_str().unwrap().to_owned());
    }
    let (ci, auditor) = (&keys[0], &keys[1]);
    let decisions = format!("/api/projects/{id}/decisions");
    let mut runs = Vec::new();
    for (time, sha) in [
        ("2026-03-31T23:59:59.999Z", "aaaaaaa"),
        ("2026-04-01T00:00:00.000Z", "bbbbbbb"),
    ] {
        h.set_time(time);
        let d = h
            .post_json(
                &decisions,
                ci,
                &json!({"commit_sha": sha, "branch": "main", "author": "dev", "findings": []}),
            )
            .await
            .json();
        runs.push(d["run_id"].as_str().unwrap().to_owned());
    }
    h.set_time("2026-04-02T08:00:00Z");
    let (h, id) = (&h, &id);
    let export = |query: &str| {
        let uri = format!("/api/projects/{id}/compliance-export?{query}");
        async move { h.get_as(&uri, auditor).await }
    };
    let section_a = |v: &Value| -> Vec<String> {
        v["section_a_change_management"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["record"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let march = export("from=2026-03-01&to=2026-03-31").await.json();
    assert_eq!(section_a(&march), [runs[0].clone()], "23:59:59.999 is in");
    let april = export("from=2026-04-01&to=2026-04-01").await.json();
    assert_eq!(
        section_a(&april),
        [runs[1].clone()],
        "00:00:00.000 is the next day"
    );
    let default = export("").await.json();
    assert_eq!(default["header"]["period_to"], "2026-04-02");
    assert_eq!(
        default["header"]["period_from"], "2026-01-03",
        "90 days, today included"
    );
    assert_eq!(section_a(&default), runs);
    let size = h.snapshot();
    export("from=2026-04-03").await.error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "starts in the future",
    );
    export("from=2026-04-02&to=2026-04-01").await.error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "must not be after",
    );
    assert_eq!(h.snapshot(), size, "a refused export records nothing");
}
