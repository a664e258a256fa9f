//! A fake GitHub REST API on 127.0.0.1, speaking the repository contents API
//! as octocrab (and any other client) uses it:
//!
//! - `GET /repos/{owner}/{name}`: the repository, with the token's
//!   `permissions`;
//! - `GET /repos/{owner}/{name}/contents/{path}[?ref=]`: a file (JSON with
//!   base64 `content`, wrapped at 60 columns as GitHub does, and its blob
//!   `sha`), a directory listing (a JSON array), or the raw bytes with
//!   `Accept: application/vnd.github.raw`; 404 if absent;
//! - `PUT /repos/{owner}/{name}/contents/{path}` with `message`, base64
//!   `content` and, to replace a file, its current `sha`: 201 (created) or
//!   200 (updated); 422 if the file exists and no `sha` was given; 409 if
//!   the `sha` is stale;
//! - authentication by `Authorization: Bearer <token>` (or `token <token>`):
//!   401 "Bad credentials" for an unknown token, 401 for an anonymous
//!   write, 403 for a read-only token's write, 404 for an unknown
//!   repository;
//! - injected faults: 5xx, primary rate limits (403 with
//!   `x-ratelimit-remaining: 0` and `x-ratelimit-reset`), secondary rate
//!   limits (403 or 429 with `Retry-After`), slow responses;
//! - the same routes under `/api/v3`, as on GitHub Enterprise Server;
//! - an OAuth app's web flow, as on github.com: `GET /login/oauth/authorize`
//!   (the person signed in at the fake, [`FakeGitHub::sign_in_as`], has
//!   authorized the app: 302 to the app's `redirect_uri` with a code and the
//!   `state`; a PKCE `code_challenge`, S256 only, is kept with the code),
//!   `POST /login/oauth/access_token` (200 with JSON
//!   `access_token`, or `error`: `incorrect_client_credentials`,
//!   `bad_verification_code` for an unknown or used code, or a
//!   `code_verifier` that does not hash to the code's challenge,
//!   `redirect_uri_mismatch`), and `GET /user` with that token (the user
//!   with its numeric `id`).
//!
//! Every repository has one branch, `main`; `ref` is accepted and ignored.
//! Blob `sha`s are content hashes (SHA-256, shortened to 40 hex digits), so
//! equal contents have equal `sha`s, as in git.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and write contents (`permissions.push` is true).
    ReadWrite,
    /// Read only (`permissions.push` is false; writes get 403).
    ReadOnly,
}

/// A fault injected into the next matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (e.g. 500, 502, 503) and a GitHub error body.
    Status(u16),
    /// A primary rate limit: 403, `x-ratelimit-remaining: 0`,
    /// `x-ratelimit-reset` this many seconds from now.
    RateLimit {
        /// Seconds until the reset.
        reset_in: u64,
    },
    /// A secondary rate limit: this status (403 or 429) with `Retry-After`.
    RetryAfter {
        /// 403 or 429.
        status: u16,
        /// The `Retry-After` seconds.
        secs: u64,
    },
    /// Answer normally, after this delay.
    Delay(Duration),
}

/// One commit, as made by a `PUT` (or [`FakeGitHub::put_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCommit {
    /// Commit ID.
    pub sha: String,
    /// The file the commit wrote.
    pub path: String,
    /// Commit message.
    pub message: String,
    /// Author name, if given.
    pub author_name: Option<String>,
    /// Author email, if given.
    pub author_email: Option<String>,
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path, without the `/api/v3` prefix.
    pub path: String,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct Repo {
    files: BTreeMap<String, Vec<u8>>,
    commits: Vec<FakeCommit>,
}

#[derive(Default)]
struct Inner {
    base: String,
    repos: BTreeMap<String, Repo>,
    tokens: BTreeMap<String, Access>,
    faults: VecDeque<(Option<Method>, Fault)>,
    holds: Vec<(String, Arc<tokio::sync::Barrier>, usize)>,
    sneaks: Vec<(String, Vec<u8>)>,
    requests: Vec<Request>,
    commits_made: u64,
    /// OAuth apps: client ID -> client secret.
    oauth_apps: BTreeMap<String, String>,
    /// The person signed in at the fake's web pages: login and ID.
    oauth_user: Option<(String, u64)>,
    /// Codes not exchanged yet: code -> (client ID, redirect URI, login,
    /// ID, PKCE `code_challenge` if the app sent one).
    oauth_codes: BTreeMap<String, (String, String, String, u64, Option<String>)>,
    /// Codes exchanged with a `code_verifier` that matched their challenge.
    oauth_pkce_exchanges: u64,
    /// OAuth access tokens: token -> (login, ID).
    oauth_tokens: BTreeMap<String, (String, u64)>,
}

type Shared = Arc<Mutex<Inner>>;

/// An HTTP server on 127.0.0.1 running on its own thread and runtime;
/// stopped when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    /// Serves `router` on a free port of 127.0.0.1.
    #[must_use]
    pub fn start(router: Router) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    r = axum::serve(listener, router) => r.expect("serve"),
                    _ = stopped => {}
                }
            });
        });
        Server {
            url,
            stop: Some(stop),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The fake GitHub API. See the module docs.
pub struct FakeGitHub {
    state: Shared,
    server: Server,
}

/// The blob ID of `content`.
fn blob_sha(content: &[u8]) -> String {
    tlog::leaf_hash(content).to_hex()[..40].to_owned()
}

impl FakeGitHub {
    /// Starts the server, with no repositories and no tokens.
    #[must_use]
    pub fn start() -> Self {
        let state: Shared = Arc::default();
        let routes = || {
            Router::new()
                .route("/repos/{owner}/{name}", get(get_repo))
                .route("/repos/{owner}/{name}/contents", get(get_root_contents))
                .route("/repos/{owner}/{name}/contents/", get(get_root_contents))
                .route(
                    "/repos/{owner}/{name}/contents/{*path}",
                    get(get_contents).put(put_contents),
                )
        };
        let router = routes()
            .route("/user", get(get_user))
            .route("/api/v3/user", get(get_user))
            .route("/login/oauth/authorize", get(oauth_authorize))
            .route(
                "/login/oauth/access_token",
                axum::routing::post(oauth_access_token),
            )
            .nest("/api/v3", routes())
            .fallback(not_found)
            .with_state(state.clone());
        let server = Server::start(router);
        state.lock().unwrap().base = server.url.clone();
        FakeGitHub { state, server }
    }

    /// The API URL as on github.com: `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn api_url(&self) -> String {
        self.server.url.clone()
    }

    /// The API URL as on GitHub Enterprise Server: `http://127.0.0.1:PORT/api/v3`.
    #[must_use]
    pub fn enterprise_api_url(&self) -> String {
        format!("{}/api/v3", self.server.url)
    }

    /// Creates an empty repository `OWNER/NAME`.
    pub fn add_repo(&self, repo: &str) {
        self.state
            .lock()
            .unwrap()
            .repos
            .insert(repo.to_owned(), Repo::default());
    }

    /// Accepts `token` with `access` to every repository.
    pub fn add_token(&self, token: &str, access: Access) {
        self.state
            .lock()
            .unwrap()
            .tokens
            .insert(token.to_owned(), access);
    }

    /// Registers an OAuth app.
    pub fn add_oauth_app(&self, client_id: &str, client_secret: &str) {
        self.state
            .lock()
            .unwrap()
            .oauth_apps
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// How many codes were exchanged with a `code_verifier` matching
    /// their PKCE challenge.
    #[must_use]
    pub fn oauth_pkce_exchanges(&self) -> u64 {
        self.state.lock().unwrap().oauth_pkce_exchanges
    }

    /// The person signed in at the fake's web pages, who authorizes apps.
    pub fn sign_in_as(&self, login: &str, id: u64) {
        self.state.lock().unwrap().oauth_user = Some((login.to_owned(), id));
    }

    /// The file at `path` in `repo`.
    #[must_use]
    pub fn file(&self, repo: &str, path: &str) -> Option<Vec<u8>> {
        self.state
            .lock()
            .unwrap()
            .repos
            .get(repo)?
            .files
            .get(path)
            .cloned()
    }

    /// Every file of `repo`, by path.
    #[must_use]
    pub fn files(&self, repo: &str) -> BTreeMap<String, Vec<u8>> {
        self.state
            .lock()
            .unwrap()
            .repos
            .get(repo)
            .map(|r| r.files.clone())
            .unwrap_or_default()
    }

    /// Writes a file directly, as another actor would (one commit).
    pub fn put_file(&self, repo: &str, path: &str, content: &[u8], message: &str) {
        let mut s = self.state.lock().unwrap();
        commit(&mut s, repo, path, content.to_vec(), message, None, None);
    }

    /// The commits of `repo`, oldest first.
    #[must_use]
    pub fn commits(&self, repo: &str) -> Vec<FakeCommit> {
        self.state
            .lock()
            .unwrap()
            .repos
            .get(repo)
            .map(|r| r.commits.clone())
            .unwrap_or_default()
    }

    /// Injects `fault` into the next request (of `method`, if given).
    /// Faults are used in the order they were injected.
    pub fn inject(&self, method: Option<Method>, fault: Fault) {
        self.state.lock().unwrap().faults.push_back((method, fault));
    }

    /// Holds `PUT`s of `path` until `count` of them have arrived (or 10 s
    /// passed), then lets them run one at a time, in arrival order: a race.
    pub fn hold_puts(&self, path: &str, count: usize) {
        self.state.lock().unwrap().holds.push((
            path.to_owned(),
            Arc::new(tokio::sync::Barrier::new(count)),
            count,
        ));
    }

    /// When the next `PUT` of `path` arrives, first writes `content` there
    /// as another actor would (one commit), then handles the `PUT`: a write
    /// that lands between a client's read and its write.
    pub fn write_before_next_put(&self, path: &str, content: &[u8]) {
        self.state
            .lock()
            .unwrap()
            .sneaks
            .push((path.to_owned(), content.to_vec()));
    }

    /// Every request answered so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// Records a commit writing `path`.
fn commit(
    s: &mut Inner,
    repo: &str,
    path: &str,
    content: Vec<u8>,
    message: &str,
    author_name: Option<String>,
    author_email: Option<String>,
) -> FakeCommit {
    s.commits_made += 1;
    let sha = blob_sha(format!("commit {} {message}", s.commits_made).as_bytes());
    let c = FakeCommit {
        sha,
        path: path.to_owned(),
        message: message.to_owned(),
        author_name,
        author_email,
    };
    let r = s.repos.entry(repo.to_owned()).or_default();
    r.files.insert(path.to_owned(), content);
    r.commits.push(c.clone());
    c
}

fn gh_error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string(),
        })),
    )
        .into_response()
}

async fn not_found() -> Response {
    gh_error(404, "Not Found")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The fault response for this request, if one is injected; a delay is
/// slept here and then the request goes on.
async fn take_fault(state: &Shared, method: &Method) -> Option<Response> {
    let fault = {
        let mut s = state.lock().unwrap();
        let pos = s
            .faults
            .iter()
            .position(|(m, _)| m.as_ref().is_none_or(|m| m == method))?;
        s.faults.remove(pos).map(|(_, f)| f)?
    };
    match fault {
        Fault::Status(code) => Some(gh_error(code, "Server Error")),
        Fault::RateLimit { reset_in } => {
            let mut r = gh_error(403, "API rate limit exceeded for user ID 1.");
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", 5000.into());
            h.insert("x-ratelimit-remaining", 0.into());
            h.insert("x-ratelimit-used", 5000.into());
            h.insert("x-ratelimit-resource", "core".parse().unwrap());
            h.insert("x-ratelimit-reset", (unix_now() + reset_in).into());
            Some(r)
        }
        Fault::RetryAfter { status, secs } => {
            let mut r = gh_error(
                status,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            r.headers_mut().insert(header::RETRY_AFTER, secs.into());
            Some(r)
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
    }
}

/// The caller's access: `Ok(None)` for anonymous, `Err` (401 Bad
/// credentials) for an unknown token.
fn auth(s: &Inner, headers: &HeaderMap) -> Result<Option<Access>, Box<Response>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default();
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .unwrap_or_default();
    match s.tokens.get(token) {
        Some(a) => Ok(Some(*a)),
        None => Err(Box::new(gh_error(401, "Bad credentials"))),
    }
}

/// Runs a handler body with fault injection and request logging.
async fn handle(
    state: &Shared,
    method: Method,
    path: String,
    body: impl FnOnce(&mut Inner) -> Response,
) -> Response {
    let resp = match take_fault(state, &method).await {
        Some(r) => r,
        None => body(&mut state.lock().unwrap()),
    };
    state.lock().unwrap().requests.push(Request {
        method: method.to_string(),
        path,
        status: resp.status().as_u16(),
    });
    resp
}

async fn get_repo(
    State(state): State<Shared>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/repos/{owner}/{name}");
    handle(&state, Method::GET, path, |s| {
        let access = match auth(s, &headers) {
            Ok(a) => a,
            Err(r) => return *r,
        };
        let full = format!("{owner}/{name}");
        if !s.repos.contains_key(&full) {
            return gh_error(404, "Not Found");
        }
        let base = &s.base;
        let mut repo = json!({
            "id": 1,
            "node_id": "R_1",
            "name": name,
            "full_name": full,
            "private": false,
            "html_url": format!("{base}/{full}"),
            "url": format!("{base}/repos/{full}"),
            "default_branch": "main",
        });
        if let Some(a) = access {
            repo["permissions"] = json!({
                "admin": false,
                "maintain": false,
                "push": a == Access::ReadWrite,
                "triage": false,
                "pull": true,
            });
        }
        axum::Json(repo).into_response()
    })
    .await
}

/// The JSON of one file or directory entry.
fn entry_json(base: &str, repo: &str, path: &str, kind: &str, content: Option<&[u8]>) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    let sha = match content {
        Some(c) => blob_sha(c),
        None => blob_sha(format!("tree {path}").as_bytes()),
    };
    let url = format!("{base}/repos/{repo}/contents/{path}?ref=main");
    let git_url = format!("{base}/repos/{repo}/git/blobs/{sha}");
    let html_url = format!("{base}/{repo}/blob/main/{path}");
    json!({
        "type": kind,
        "name": name,
        "path": path,
        "sha": sha,
        "size": content.map_or(0, <[u8]>::len),
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": (kind == "file").then(|| format!("{base}/raw/{repo}/main/{path}")),
        "_links": {"self": url, "git": git_url, "html": html_url},
    })
}

/// Base64 wrapped at 60 columns with newlines, as GitHub sends it.
fn wrapped_base64(content: &[u8]) -> String {
    let b64 = B64.encode(content);
    let mut out = String::new();
    for chunk in b64.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn read_contents(s: &Inner, headers: &HeaderMap, repo: &str, path: &str) -> Response {
    if let Err(r) = auth(s, headers) {
        return *r;
    }
    let Some(r) = s.repos.get(repo) else {
        return gh_error(404, "Not Found");
    };
    let path = path.trim_matches('/');
    if let Some(content) = r.files.get(path) {
        let raw = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("raw"));
        if raw {
            return content.clone().into_response();
        }
        let mut v = entry_json(&s.base, repo, path, "file", Some(content));
        v["encoding"] = json!("base64");
        v["content"] = json!(wrapped_base64(content));
        return axum::Json(v).into_response();
    }
    // A directory: the direct children of `path`.
    let dir = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    for (p, content) in &r.files {
        let Some(rest) = p.strip_prefix(&dir) else {
            continue;
        };
        let (child, is_dir) = match rest.split_once('/') {
            Some((d, _)) => (d, true),
            None => (rest, false),
        };
        let child_path = format!("{dir}{child}");
        let v = if is_dir {
            entry_json(&s.base, repo, &child_path, "dir", None)
        } else {
            entry_json(&s.base, repo, &child_path, "file", Some(content))
        };
        entries.entry(child.to_owned()).or_insert(v);
    }
    if entries.is_empty() && !path.is_empty() {
        return gh_error(404, "Not Found");
    }
    axum::Json(entries.into_values().collect::<Vec<_>>()).into_response()
}

async fn get_root_contents(
    State(state): State<Shared>,
    Path((owner, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let repo = format!("{owner}/{name}");
    let path = format!("/repos/{repo}/contents/");
    handle(&state, Method::GET, path, |s| {
        read_contents(s, &headers, &repo, "")
    })
    .await
}

async fn get_contents(
    State(state): State<Shared>,
    Path((owner, name, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let repo = format!("{owner}/{name}");
    let path = format!("/repos/{repo}/contents/{file}");
    handle(&state, Method::GET, path, |s| {
        read_contents(s, &headers, &repo, &file)
    })
    .await
}

async fn put_contents(
    State(state): State<Shared>,
    Path((owner, name, file)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let repo = format!("{owner}/{name}");
    let path = format!("/repos/{repo}/contents/{file}");
    // A race: wait for the other PUTs of this file.
    let barrier = {
        let mut s = state.lock().unwrap();
        s.holds
            .iter_mut()
            .find(|(p, _, left)| *p == file && *left > 0)
            .map(|(_, b, left)| {
                *left -= 1;
                b.clone()
            })
    };
    if let Some(b) = barrier {
        let _ = tokio::time::timeout(Duration::from_secs(10), b.wait()).await;
    }
    handle(&state, Method::PUT, path, |s| {
        if let Some(i) = s.sneaks.iter().position(|(p, _)| *p == file) {
            let (_, content) = s.sneaks.remove(i);
            commit(s, &repo, &file, content, "another writer", None, None);
        }
        let access = match auth(s, &headers) {
            Ok(a) => a,
            Err(r) => return *r,
        };
        if !s.repos.contains_key(&repo) {
            return gh_error(404, "Not Found");
        }
        match access {
            None => return gh_error(401, "Requires authentication"),
            Some(Access::ReadOnly) => {
                return gh_error(403, "Resource not accessible by personal access token");
            }
            Some(Access::ReadWrite) => {}
        }
        let Ok(req) = serde_json::from_slice::<Value>(&body) else {
            return gh_error(400, "Problems parsing JSON");
        };
        let Some(message) = req["message"].as_str() else {
            return gh_error(422, "Invalid request.\n\n\"message\" wasn't supplied.");
        };
        let Some(content) = req["content"].as_str().and_then(|c| B64.decode(c).ok()) else {
            return gh_error(422, "content is not valid Base64");
        };
        let current = s.repos[&repo].files.get(file.as_str()).map(|c| blob_sha(c));
        let given = req["sha"].as_str();
        match (&current, given) {
            (Some(_), None) => {
                return gh_error(422, "Invalid request.\n\n\"sha\" wasn't supplied.");
            }
            (Some(cur), Some(given)) if cur != given => {
                return gh_error(409, &format!("{file} does not match {given}"));
            }
            (None, Some(given)) => {
                return gh_error(409, &format!("{file} does not match {given}"));
            }
            _ => {}
        }
        let created = current.is_none();
        let author_name = req["author"]["name"].as_str().map(str::to_owned);
        let author_email = req["author"]["email"].as_str().map(str::to_owned);
        let c = commit(
            s,
            &repo,
            &file,
            content.clone(),
            message,
            author_name,
            author_email,
        );
        let mut content_json = entry_json(&s.base, &repo, &file, "file", Some(&content));
        content_json["encoding"] = json!("base64");
        let author = json!({
            "name": c.author_name.clone().unwrap_or_else(|| "token owner".to_owned()),
            "email": c.author_email.clone().unwrap_or_else(|| "owner@example.invalid".to_owned()),
            "date": "2025-01-01T00:00:00Z",
        });
        let out = json!({
            "content": content_json,
            "commit": {
                "sha": c.sha,
                "node_id": "C_1",
                "url": format!("{}/repos/{repo}/git/commits/{}", s.base, c.sha),
                "html_url": format!("{}/{repo}/commit/{}", s.base, c.sha),
                "author": author,
                "committer": author,
                "message": message,
            },
        });
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (status, axum::Json(out)).into_response()
    })
    .await
}

/// `GET /login/oauth/authorize?client_id=&redirect_uri=&state=`: the signed-in
/// person authorizes the app at once.
async fn oauth_authorize(
    State(state): State<Shared>,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    let client = q.get("client_id").cloned().unwrap_or_default();
    if !s.oauth_apps.contains_key(&client) {
        return (StatusCode::NOT_FOUND, "no such OAuth app").into_response();
    }
    let Some((login, id)) = s.oauth_user.clone() else {
        return (StatusCode::UNAUTHORIZED, "sign in to GitHub first").into_response();
    };
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    // PKCE as GitHub has it: S256 only.
    let challenge = q.get("code_challenge").cloned();
    if challenge.is_some() && q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return (
            StatusCode::BAD_REQUEST,
            "code_challenge_method must be S256",
        )
            .into_response();
    }
    s.commits_made += 1;
    let code = blob_sha(format!("code {}", s.commits_made).as_bytes())[..20].to_owned();
    s.oauth_codes.insert(
        code.clone(),
        (client, redirect.clone(), login, id, challenge),
    );
    let mut to = reqwest::Url::parse(&redirect).unwrap();
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", q.get("state").map_or("", String::as_str));
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

/// `POST /login/oauth/access_token` (a form): 200 with `access_token`, or
/// with `error` as GitHub answers.
async fn oauth_access_token(
    State(state): State<Shared>,
    axum::extract::Form(f): axum::extract::Form<BTreeMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let error = |e: &str| axum::Json(json!({"error": e, "error_description": e})).into_response();
    if s.oauth_apps.get(&get("client_id")) != Some(&get("client_secret")) {
        return error("incorrect_client_credentials");
    }
    let Some((client, redirect, login, id, challenge)) = s.oauth_codes.remove(&get("code")) else {
        return error("bad_verification_code");
    };
    // A code issued with a PKCE challenge needs the verifier that hashes
    // to it (RFC 7636, S256).
    if let Some(challenge) = challenge {
        use base64::Engine as _;
        use sha2::Digest as _;
        let verifier = get("code_verifier");
        let hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        if verifier.is_empty() || hashed != challenge {
            return error("bad_verification_code");
        }
        s.oauth_pkce_exchanges += 1;
    }
    if client != get("client_id") {
        return error("bad_verification_code");
    }
    if f.contains_key("redirect_uri") && redirect != get("redirect_uri") {
        return error("redirect_uri_mismatch");
    }
    s.commits_made += 1;
    let token = format!(
        "gho_{}",
        &blob_sha(format!("token {}", s.commits_made).as_bytes())[..30]
    );
    s.oauth_tokens.insert(token.clone(), (login, id));
    axum::Json(json!({"access_token": token, "token_type": "bearer", "scope": ""})).into_response()
}

/// `GET /user` with an OAuth token: the user.
async fn get_user(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let s = state.lock().unwrap();
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .unwrap_or_default();
    match s.oauth_tokens.get(token) {
        Some((login, id)) => axum::Json(json!({
            "login": login, "id": id, "node_id": "U_1", "type": "User", "site_admin": false,
            "html_url": format!("https://github.example/{login}"),
        }))
        .into_response(),
        None => gh_error(401, "Bad credentials"),
    }
}
