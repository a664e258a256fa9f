//! HTTP handlers of the gate and the exception ledger
//! (`/api/projects/{projectId}/...`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tlog::Hash;

use super::format::{
    self, EXCEPTION_ACTIVATED, EXCEPTION_REQUESTED, EXCEPTION_REVOKED, EXCEPTION_SIGNAL,
    GATE_DECISION,
};
use super::{
    Access, Compliance, ProjectState, Row, Staged, exception_seqs, now_ms, read_row, seq_of,
};
use crate::api::{AppState, Caller, inclusion_at_checkpoint, json_body, query};
use crate::error::ApiError;
use crate::gate::{self, DecisionInput};
use crate::keys::{KeyRecord, random_id};
use crate::ledger::{self, Exception, NewException, SignalKind, Status};
use crate::projects;

/// `?wait=checkpoint`, or nothing.
fn wait_param(q: &HashMap<String, String>, known: &[&str]) -> Result<bool, ApiError> {
    if let Some(k) = q.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::bad(format!("unknown query parameter {k:?}")));
    }
    match q.get("wait").map(String::as_str) {
        None => Ok(false),
        Some("checkpoint") => Ok(true),
        Some(other) => Err(ApiError::bad(format!(
            "wait must be \"checkpoint\", got {other:?}"
        ))),
    }
}

/// Waits for every staged record; returns the results in order.
async fn settle_all(staged: Vec<Staged>) -> Result<Vec<(Value, u64, Hash)>, ApiError> {
    let mut out = Vec::with_capacity(staged.len());
    for s in staged {
        out.push(s.wait().await?);
    }
    Ok(out)
}

/// Runs `act` under the project's lock at the evaluation time, after
/// recording due expiries (expiry is checked at every use), and waits for
/// those records whatever `act` decides. `act` applies the rules and stages
/// what is to be logged; a refusal stages nothing.
pub(super) async fn under_lock<T>(
    c: &Compliance,
    p: &tokio::sync::Mutex<ProjectState>,
    act: impl FnOnce(&mut ProjectState, i64) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let (expiries, result) = {
        let mut ps = p.lock().await;
        let now = ps.clock(now_ms());
        let expiries = c.sweep_expiries(&mut ps, now)?;
        (expiries, act(&mut ps, now))
    };
    settle_all(expiries).await?;
    result
}

/// Adds `checkpoint`, `tree_size` and `inclusion_proof` (waiting for the
/// first checkpoint that covers `index`).
async fn add_proof(c: &Compliance, index: u64, v: &mut Value) -> Result<(), ApiError> {
    let (cp, proof) = inclusion_at_checkpoint(&c.log, index).await?;
    v["checkpoint"] = json!(cp.note);
    v["tree_size"] = json!(cp.tree_size);
    v["inclusion_proof"] = json!(proof.iter().map(Hash::to_base64).collect::<Vec<_>>());
    Ok(())
}

/// `POST /api/projects/{projectId}/decisions[?wait=checkpoint]` (role `ci`)
pub async fn post_decision(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Result<Json<DecisionInput>, JsonRejection>,
) -> Result<Response, ApiError> {
    let c = &s.compliance;
    let p = c.project_for(&caller.0, &project, Access::Decide).await?;
    let wait = wait_param(&query(q)?, &["wait"])?;
    let d = json_body(body)?;
    gate::validate(&d)?;
    let run_id = random_id("run");
    let staged = under_lock(c, &p, |ps, now| {
        let v = gate::evaluate(&d.findings, ps.exceptions.values(), now);
        let record = json!({
            "type": GATE_DECISION,
            "id": run_id,
            "submitted_by": caller.0.id,
            "submitted_by_name": caller.0.name,
            "commit_sha": d.commit_sha,
            "branch": d.branch,
            "author": d.author,
            "findings": d.findings,
            "artifacts": d.artifacts,
            "verdict": v.verdict,
            "blocked": v.blocked,
            "blocked_reasons": v.blocked_reasons,
            "exceptions_applied": v.exceptions_applied,
        });
        c.stage(ps, record, now)
    })
    .await?;
    let (record, index, leaf) = staged.wait().await?;
    let mut out = json!({
        "run_id": run_id,
        "time": record["time"],
        "verdict": record["verdict"],
        "blocked": record["blocked"],
        "blocked_reasons": record["blocked_reasons"],
        "exceptions_applied": record["exceptions_applied"],
        "log_index": index,
        "leaf_hash": leaf.to_base64(),
    });
    if wait {
        add_proof(c, index, &mut out).await?;
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// One stored record with its envelope, log index and leaf hash.
fn stored(c: &Compliance, project: &str, seq: u64) -> Result<(Value, String, u64, Hash), ApiError> {
    let store = c.store();
    let raw = read_row(store, project, seq)?.ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("record {seq} of {project} is missing"))
    })?;
    let row = Row::decode(&raw)?;
    let leaf = tlog::leaf_hash(row.envelope);
    let index = store.index_of(&leaf, u64::MAX)?.ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "record {seq} of {project} has no log entry"
        ))
    })?;
    let envelope = String::from_utf8_lossy(row.envelope).into_owned();
    Ok((row.value()?, envelope, index, leaf))
}

/// `GET /api/projects/{projectId}/decisions/{runId}`: the record, its
/// envelope, log index, inclusion proof and checkpoint.
pub async fn get_decision(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, run_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = &s.compliance;
    c.project_for(&caller.0, &project, Access::Read).await?;
    let not_found =
        || ApiError::not_found(format!("no decision {run_id:?} in project {project:?}"));
    let seq = seq_of(c.store(), &project, &run_id)?.ok_or_else(not_found)?;
    let (record, envelope, index, leaf) = stored(c, &project, seq)?;
    if record["type"] != GATE_DECISION {
        return Err(not_found());
    }
    let mut out = json!({
        "record": record,
        "envelope": envelope,
        "log_index": index,
        "leaf_hash": leaf.to_base64(),
    });
    add_proof(c, index, &mut out).await?;
    Ok(Json(out).into_response())
}

/// `POST /api/projects/{projectId}/exceptions` (role `codeowner`)
pub async fn post_exception(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    body: Result<Json<NewException>, JsonRejection>,
) -> Result<Response, ApiError> {
    let c = &s.compliance;
    let p = c.project_for(&caller.0, &project, Access::Ledger).await?;
    let req = json_body(body)?;
    let id = random_id("exc");
    let staged = under_lock(c, &p, |ps, now| {
        let expires_at = ledger::check_filing(ps.settings(), &caller.0, &req, now)?;
        let record = json!({
            "type": EXCEPTION_REQUESTED,
            "id": id,
            "requested_by": caller.0.id,
            "requested_by_name": caller.0.name,
            "kind": req.kind,
            "endpoint": req.endpoint,
            "reason": req.reason,
            "expires_at": format::format_time(expires_at),
        });
        let staged = c.stage(ps, record, now)?;
        if let Some(e) = Exception::from_requested(&staged.record) {
            ps.exceptions.insert(id.clone(), e);
        }
        Ok(staged)
    })
    .await?;
    let (record, index, leaf) = staged.wait().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "exception_id": id,
            "status": Status::Anergic,
            "kind": record["kind"],
            "endpoint": record["endpoint"],
            "reason": record["reason"],
            "requested_by": record["requested_by"],
            "created_at": record["time"],
            "expires_at": record["expires_at"],
            "log_index": index,
            "leaf_hash": leaf.to_base64(),
        })),
    )
        .into_response())
}

/// Body of `POST .../exceptions/{exceptionId}/signals`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignalRequest {
    /// A second codeowner approves (the caller).
    CodeownerApproval {
        /// Optional comment.
        #[serde(default)]
        comment: String,
    },
    /// CI reports a consumer test passed.
    ConsumerTest {
        /// The test's name.
        test_name: String,
        /// URL of the CI run.
        run_url: String,
    },
    /// A codeowner approved the pull request on GitHub.
    GithubReview {
        /// `owner/name`.
        repository: String,
        /// Pull request number.
        pull_request: u64,
    },
}

fn valid_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() <= 2_000
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Finds the principal whose GitHub review approves, for a `github_review`
/// signal: the first standing approval by a codeowner of the project other
/// than the requester that is not a bot. Returns the principal and the
/// evidence, or a 403 that says why no review qualifies.
async fn github_approver(
    c: &Compliance,
    project: &str,
    exc: &Exception,
    settings: &ledger::ProjectSettings,
    repository: &str,
    pull_request: u64,
) -> Result<(KeyRecord, Value), ApiError> {
    let (owner, name) = repository
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| {
            ApiError::bad(format!("repository must be owner/name, got {repository:?}"))
        })?;
    let reviews = c
        .github
        .reviews(owner, name, pull_request)
        .await
        .map_err(|e| match e {
            super::github::GitHubError::NotFound { .. } => ApiError::BadRequest(e.to_string()),
            super::github::GitHubError::Unavailable(_) => ApiError::BadGateway(e.to_string()),
        })?;
    let members = projects::principals(c.store(), project)?;
    let mut why = Vec::new();
    for r in ledger::standing_approvals(&reviews) {
        if settings.is_bot_login(&r.login) {
            why.push(format!("{} is a bot", r.login));
            continue;
        }
        let Some(p) = members.iter().find(|p| {
            p.key.revoked_at.is_none()
                && p.profile
                    .github_login
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(&r.login))
        }) else {
            why.push(format!("{} is not a principal of this project", r.login));
            continue;
        };
        if p.key.id == exc.requested_by {
            why.push(format!("{} requested the exception", r.login));
            continue;
        }
        if !p.key.roles.contains(&crate::keys::Role::Codeowner) {
            why.push(format!("{} is not a codeowner", r.login));
            continue;
        }
        if settings.is_bot(&p.key) {
            why.push(format!("{} is a bot", r.login));
            continue;
        }
        let evidence = json!({
            "repository": repository,
            "pull_request": pull_request,
            "review_id": r.id,
            "reviewer_login": r.login,
            "review_state": r.state,
        });
        return Ok((p.key.clone(), evidence));
    }
    let why = if why.is_empty() {
        "it has no standing APPROVED review".to_owned()
    } else {
        why.join("; ")
    };
    Err(ApiError::Forbidden(format!(
        "no approving review by a codeowner of this project on {repository} pull request {pull_request}: {why}"
    )))
}

fn exception_of<'a>(
    ps: &'a super::ProjectState,
    id: &str,
    project: &str,
) -> Result<&'a Exception, ApiError> {
    ps.exceptions
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("no exception {id:?} in project {project:?}")))
}

/// `POST /api/projects/{projectId}/exceptions/{exceptionId}/signals`
pub async fn post_signal(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, exc_id)): Path<(String, String)>,
    body: Result<Json<SignalRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let c = &s.compliance;
    let p = c.project_for(&caller.0, &project, Access::Ledger).await?;
    let req = json_body(body)?;
    let (kind, mut evidence) = match &req {
        SignalRequest::CodeownerApproval { comment } => {
            ledger::check_text("comment", comment, ledger::MAX_TEXT, true)?;
            (SignalKind::CodeownerApproval, json!({"comment": comment}))
        }
        SignalRequest::ConsumerTest { test_name, run_url } => {
            ledger::check_text("test_name", test_name, 500, false)?;
            if !valid_url(run_url) {
                return Err(ApiError::bad("run_url must be an http(s) URL"));
            }
            (
                SignalKind::ConsumerTest,
                json!({"test_name": test_name, "run_url": run_url}),
            )
        }
        SignalRequest::GithubReview { .. } => (SignalKind::GithubReview, Value::Null),
    };
    // The GitHub check is I/O: done before taking the lock, against a
    // snapshot; the rules are checked again under the lock.
    let mut approver = caller.0.clone();
    if let SignalRequest::GithubReview {
        repository,
        pull_request,
    } = &req
    {
        let (exc, settings) = {
            let ps = p.lock().await;
            (
                exception_of(&ps, &exc_id, &project)?.clone(),
                ps.settings().clone(),
            )
        };
        // Refuse early what the rules would refuse anyway (no GitHub call).
        ledger::check_submitter(&settings, kind, &caller.0)?;
        ledger::check_open(&exc, now_ms())?;
        let (who, ev) =
            github_approver(c, &project, &exc, &settings, repository, *pull_request).await?;
        approver = who;
        evidence = ev;
    }
    let staged = under_lock(c, &p, |ps, now| {
        let exc = exception_of(ps, &exc_id, &project)?.clone();
        ledger::check_signal(ps.settings(), &exc, kind, &caller.0, &approver, now)?;
        let signal_id = random_id("evt");
        let signal = json!({
            "type": EXCEPTION_SIGNAL,
            "id": signal_id,
            "exception_id": exc.id,
            "signal": kind.as_str(),
            "submitted_by": caller.0.id,
            "submitted_by_name": caller.0.name,
            "approver": approver.id,
            "approver_name": approver.name,
            "evidence": evidence,
        });
        let latency = exc.approval_latency_ms(now);
        let activation = json!({
            "type": EXCEPTION_ACTIVATED,
            "id": random_id("evt"),
            "exception_id": exc.id,
            "signal_id": signal_id,
            "approver": approver.id,
            "approval_latency_ms": latency,
        });
        let a = c.stage(ps, signal, now)?;
        let b = c.stage(ps, activation, now)?;
        if let Some(e) = ps.exceptions.get_mut(&exc.id) {
            e.activated_at = Some(now);
        }
        Ok(vec![a, b])
    })
    .await?;
    let done = settle_all(staged).await?;
    let (signal, signal_index, _) = &done[0];
    let (activation, activation_index, _) = &done[1];
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "exception_id": exc_id,
            "status": Status::Active,
            "signal_id": signal["id"],
            "signal": signal["signal"],
            "approver": signal["approver"],
            "activated_at": activation["time"],
            "approval_latency_ms": activation["approval_latency_ms"],
            "log_indexes": [signal_index, activation_index],
        })),
    )
        .into_response())
}

/// Body of `POST .../exceptions/{exceptionId}/revoke`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    reason: String,
}

/// `POST /api/projects/{projectId}/exceptions/{exceptionId}/revoke` (role `codeowner`)
pub async fn post_revoke(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, exc_id)): Path<(String, String)>,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let c = &s.compliance;
    let p = c.project_for(&caller.0, &project, Access::Ledger).await?;
    let req = json_body(body)?;
    let staged = under_lock(c, &p, |ps, now| {
        let exc = exception_of(ps, &exc_id, &project)?;
        ledger::check_revoke(ps.settings(), exc, &caller.0, &req.reason, now)?;
        let record = json!({
            "type": EXCEPTION_REVOKED,
            "id": random_id("evt"),
            "exception_id": exc_id,
            "revoked_by": caller.0.id,
            "revoked_by_name": caller.0.name,
            "reason": req.reason,
        });
        let staged = c.stage(ps, record, now)?;
        if let Some(e) = ps.exceptions.get_mut(&exc_id) {
            e.revoked_at = Some(now);
        }
        Ok(staged)
    })
    .await?;
    let (record, index, leaf) = staged.wait().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "exception_id": exc_id,
            "status": Status::Revoked,
            "revoked_at": record["time"],
            "reason": record["reason"],
            "log_index": index,
            "leaf_hash": leaf.to_base64(),
        })),
    )
        .into_response())
}

/// An exception's current view and every event with its log index.
fn exception_view(
    c: &Compliance,
    project: &str,
    e: &Exception,
    now: i64,
    events: bool,
) -> Result<Value, ApiError> {
    let seqs = exception_seqs(c.store(), project, &e.id)?;
    let mut list = Vec::new();
    let mut requested = Value::Null;
    for seq in seqs {
        let (record, envelope, index, leaf) = stored(c, project, seq)?;
        if record["type"] == EXCEPTION_REQUESTED {
            requested = record.clone();
        }
        if events {
            list.push(json!({
                "type": record["type"],
                "id": record["id"],
                "time": record["time"],
                "log_index": index,
                "leaf_hash": leaf.to_base64(),
                "envelope": envelope,
                "record": record,
            }));
        }
    }
    let mut v = json!({
        "exception_id": e.id,
        "status": e.status_at(now),
        "kind": e.kind,
        "endpoint": e.endpoint,
        "reason": requested["reason"],
        "requested_by": e.requested_by,
        "created_at": format::format_time(e.created_at),
        "expires_at": format::format_time(e.expires_at),
        "activated_at": e.activated_at.map(format::format_time),
        "approval_latency_ms": e.activated_at.map(|t| e.approval_latency_ms(t)),
        "revoked_at": e.revoked_at.map(format::format_time),
    });
    if events {
        v["events"] = json!(list);
    }
    Ok(v)
}

/// `GET /api/projects/{projectId}/exceptions[?status=ANERGIC|ACTIVE|EXPIRED|REVOKED]`
pub async fn list_exceptions(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let c = &s.compliance;
    let p = c.project_for(&caller.0, &project, Access::Read).await?;
    let q = query(q)?;
    if let Some(k) = q.keys().find(|k| k.as_str() != "status") {
        return Err(ApiError::bad(format!("unknown query parameter {k:?}")));
    }
    let want = q
        .get("status")
        .map(|st| {
            serde_json::from_value::<Status>(json!(st.to_ascii_uppercase())).map_err(|_| {
                ApiError::bad(format!(
                    "status must be ANERGIC, ACTIVE, EXPIRED or REVOKED, got {st:?}"
                ))
            })
        })
        .transpose()?;
    let (now, exceptions) = under_lock(c, &p, |ps, now| {
        let list: Vec<Exception> = ps
            .exceptions
            .values()
            .filter(|e| want.is_none_or(|w| e.status_at(now) == w))
            .cloned()
            .collect();
        Ok((now, list))
    })
    .await?;
    let mut list = Vec::with_capacity(exceptions.len());
    for e in &exceptions {
        list.push(exception_view(c, &project, e, now, false)?);
    }
    Ok(Json(json!({"exceptions": list})).into_response())
}

/// `GET /api/projects/{projectId}/exceptions/{exceptionId}`: its state and
/// every event with its log index.
pub async fn get_exception(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, exc_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = &s.compliance;
    let p = c.project_for(&caller.0, &project, Access::Read).await?;
    let (now, exc) = under_lock(c, &p, |ps, now| {
        Ok((now, exception_of(ps, &exc_id, &project)?.clone()))
    })
    .await?;
    let v = exception_view(c, &project, &exc, now, true)?;
    Ok(Json(v).into_response())
}
