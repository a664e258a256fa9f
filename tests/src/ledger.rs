//! Helpers for filing exceptions under the rules of `spec/compliance.md`,
//! "Exceptions name their blocked run": a filing names a blocked gate
//! decision of the project (`run_id`), so a test submits one first; a
//! `github_review` is read from a pull request of the connected repository
//! whose commits hold the run's commit, and counts only from someone who
//! is neither the pull request's author nor the requester (by GitHub id).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::Api;
use crate::fake_github::Server;

/// A decision of CI on `commit`, blocked by an `ERR` finding for each
/// (`kind`, `endpoint`) of `errs`.
#[must_use]
pub fn blocked_decision(commit: &str, errs: &[(&str, &str)]) -> Value {
    let findings: Vec<Value> = errs
        .iter()
        .map(|(k, e)| json!({"kind": k, "endpoint": e, "severity": "ERR", "detail": "breaking"}))
        .collect();
    json!({"commit_sha": commit, "branch": "feature", "author": "Carol <carol@example.com>",
           "findings": findings, "artifacts": []})
}

/// Submits, with the `ci` key, a decision on `commit` blocked by `errs`
/// (see [`blocked_decision`]) and returns its run ID: the run an exception
/// for one of those findings is filed for.
///
/// # Panics
/// If the decision is refused or was not blocked.
#[must_use]
pub fn blocked_run(
    api: &Api,
    project: &str,
    ci: &str,
    commit: &str,
    errs: &[(&str, &str)],
) -> String {
    let (st, v) = api.post(
        &format!("/api/projects/{project}/decisions"),
        ci,
        &blocked_decision(commit, errs),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["blocked"], true, "{v}");
    v["run_id"].as_str().unwrap().to_owned()
}

/// The time `days` from now (negative: ago), RFC 3339 in UTC, from the
/// system's `date` (as a person would type an expiry).
///
/// # Panics
/// If `date` cannot be run.
#[must_use]
pub fn rfc3339_in(days: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("{days} days"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `requester` files an exception, expiring in 5 days, for the finding
/// `kind` at `endpoint` of a decision on `commit` that it blocked
/// ([`blocked_run`], with the `ci` key); returns the exception's ID.
///
/// # Panics
/// If the decision or the exception is refused.
#[must_use]
pub fn filed_exception(
    api: &Api,
    project: &str,
    ci: &str,
    requester: &str,
    commit: &str,
    (kind, endpoint): (&str, &str),
) -> String {
    let run = blocked_run(api, project, ci, commit, &[(kind, endpoint)]);
    let (st, v) = api.post(
        &format!("/api/projects/{project}/exceptions"),
        requester,
        &serde_json::json!({"run_id": run, "kind": kind, "endpoint": endpoint,
                "reason": "clients migrated", "expires_at": rfc3339_in(5)}),
    );
    assert_eq!(st, 201, "{v}");
    v["exception_id"].as_str().expect("exception_id").to_owned()
}

/// A GitHub user object, as the REST API returns it.
#[must_use]
pub fn gh_user(login: &str, id: u64) -> Value {
    let u = format!("https://github.example/{login}");
    json!({"login": login, "id": id, "node_id": "U_1", "avatar_url": u, "gravatar_id": "",
           "url": u, "html_url": u, "followers_url": u, "following_url": u, "gists_url": u,
           "starred_url": u, "subscriptions_url": u, "organizations_url": u, "repos_url": u,
           "events_url": u, "received_events_url": u, "type": "User", "site_admin": false})
}

/// A pull request review of `commit` by (`login`, `uid`), in `state`,
/// submitted at `at` (RFC 3339).
#[must_use]
pub fn gh_review(id: u64, login: &str, uid: u64, state: &str, commit: &str, at: &str) -> Value {
    let u = format!("https://github.example/{login}");
    json!({
        "id": id, "node_id": format!("PRR_{id}"), "html_url": format!("{u}/r/{id}"),
        "user": gh_user(login, uid), "body": "", "state": state, "commit_id": commit,
        "submitted_at": at, "author_association": "MEMBER"
    })
}

/// A pull request of the fake GitHub.
pub struct Pull {
    /// Its author: login and GitHub id.
    pub author: (String, u64),
    /// Its commits, oldest first; the last is its head.
    pub commits: Vec<String>,
    /// Its reviews.
    pub reviews: Vec<Value>,
}

type Pulls = Arc<dyn Fn(&str, u64) -> Option<Pull> + Send + Sync>;

#[derive(Clone)]
struct Fake {
    pulls: Pulls,
    users: Arc<Vec<(String, u64)>>,
}

fn not_found() -> (StatusCode, Json<Value>) {
    (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"})))
}

/// A fake GitHub serving pull requests, as the `github_review` and
/// `consumer_test` rules read them: `/repos/{owner}/{name}/pulls/{n}` (its
/// author and head), `/pulls/{n}/commits` (oldest first), `/pulls/{n}/reviews`,
/// and `/users/{login}` (the ids of `users`). `pulls` answers for a
/// repository (`owner/name`) and number, when asked (so reviews may be
/// dated from the time of the request); `None` is a 404.
pub fn pulls_server(
    pulls: impl Fn(&str, u64) -> Option<Pull> + Send + Sync + 'static,
    users: &[(&str, u64)],
) -> Server {
    type Args = UrlPath<(String, String, u64)>;
    let fake = Fake {
        pulls: Arc::new(pulls),
        users: Arc::new(users.iter().map(|(l, i)| ((*l).to_owned(), *i)).collect()),
    };
    let router = Router::new()
        .route(
            "/repos/{owner}/{name}/pulls/{n}",
            get(
                |State(f): State<Fake>, UrlPath((o, r, n)): Args| async move {
                    match (f.pulls)(&format!("{o}/{r}"), n) {
                        Some(p) => (
                            StatusCode::OK,
                            Json(json!({"number": n, "state": "open",
                                        "user": gh_user(&p.author.0, p.author.1),
                                        "head": {"sha": p.commits.last(), "ref": "feature"}})),
                        ),
                        None => not_found(),
                    }
                },
            ),
        )
        .route(
            "/repos/{owner}/{name}/pulls/{n}/commits",
            get(
                |State(f): State<Fake>, UrlPath((o, r, n)): Args| async move {
                    match (f.pulls)(&format!("{o}/{r}"), n) {
                        Some(p) => (
                            StatusCode::OK,
                            Json(Value::Array(
                                p.commits.iter().map(|c| json!({"sha": c})).collect(),
                            )),
                        ),
                        None => not_found(),
                    }
                },
            ),
        )
        .route(
            "/repos/{owner}/{name}/pulls/{n}/reviews",
            get(
                |State(f): State<Fake>, UrlPath((o, r, n)): Args| async move {
                    match (f.pulls)(&format!("{o}/{r}"), n) {
                        Some(p) => (StatusCode::OK, Json(Value::Array(p.reviews))),
                        None => not_found(),
                    }
                },
            ),
        )
        .route(
            "/users/{login}",
            get(
                |State(f): State<Fake>, UrlPath(login): UrlPath<String>| async move {
                    match f.users.iter().find(|(l, _)| *l == login) {
                        Some((l, id)) => (StatusCode::OK, Json(gh_user(l, *id))),
                        None => not_found(),
                    }
                },
            ),
        )
        .with_state(fake);
    Server::start(router)
}
