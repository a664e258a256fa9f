//! The cockpit's pages and forms. Each handler calls the compliance
//! service with the signed-in principal, exactly as the JSON API does with
//! the principal's key.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use compliance::changelog::by_endpoint;
use compliance::ledger::{NewException, SettingsPatch, SignalKind, Status};
use compliance::principal::{KeyRecord, Role};
use compliance::record::{Record, RecordBody};
use compliance::time::{DAY_MS, format_date};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::super::AppState;
use super::super::error::ApiError;
use super::super::export::stream_export;
use super::{
    ClientAddr, UiError, UiSession, render, see_other, session_cookie, session_cookie_header,
};
use crate::service::admin::SettingsOutcome;
use crate::service::cockpit::{Page, RunFilter};

/// Exceptions on one page of the cockpit's list.
const EXCEPTIONS_PER_PAGE: usize = 50;
/// Share links on one page of the settings.
const SHARES_PER_PAGE: usize = 20;
use crate::service::export::ExportRequest;
use crate::service::gate::SignalRequest;
use crate::service::session::{EndSessions, Session};

/// What every page's frame shows: who is signed in, the project, the form
/// token.
#[derive(Serialize)]
struct Frame {
    project: String,
    project_name: String,
    user: String,
    roles: Vec<&'static str>,
    csrf: String,
    tab: &'static str,
    can_export: bool,
    is_admin: bool,
    is_codeowner: bool,
}

fn holds(p: &KeyRecord, role: Role) -> bool {
    p.roles.contains(&role)
}

async fn frame(
    s: &AppState,
    session: &Session,
    project: &str,
    tab: &'static str,
) -> Result<Frame, UiError> {
    let row = s
        .compliance
        .project_row(&session.principal, project)
        .await?;
    let p = &session.principal;
    Ok(Frame {
        project: project.to_owned(),
        project_name: row.name,
        user: p.name.clone(),
        roles: p.roles.iter().map(|r| r.as_str()).collect(),
        csrf: session.csrf.clone(),
        tab,
        can_export: holds(p, Role::Auditor) || holds(p, Role::Admin),
        is_admin: holds(p, Role::Admin),
        is_codeowner: holds(p, Role::Codeowner) && !p.bot,
    })
}

fn page(html: String) -> Response {
    Html(html).into_response()
}

fn with_status(status: StatusCode, html: String) -> Response {
    (status, Html(html)).into_response()
}

// ------------------------------------------------------------------ sign-in

/// `GET /ui/signin[?project=ID]`: the identity provider's button (when
/// one is configured) and the API key form.
pub async fn signin_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let session = match session_cookie(&s, &headers) {
        Some(c) => s.compliance.session(c).await.ok().flatten(),
        None => None,
    };
    if let Some(p) = session.and_then(|s| s.principal.project) {
        return Redirect::to(&format!("/ui/p/{p}")).into_response();
    }
    // A project ID (`prj_` and base64url): safe in the links' query.
    let project = q
        .get("project")
        .filter(|p| {
            !p.is_empty()
                && p.len() <= 100
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .cloned();
    match render(
        "signin.html",
        context! {
            error => Option::<String>::None,
            oidc_provider => s.compliance.oidc().map(|o| o.provider_name().to_owned()),
            github => s.compliance.github_sign_in().is_some(),
            project,
        },
    ) {
        Ok(html) => page(html),
        Err(e) => e.into_response(),
    }
}

/// Body of `POST /ui/signin`.
#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    api_key: String,
}

/// `POST /ui/signin`: the API key for a session cookie. A new sign-in
/// ends the browser's previous session.
pub async fn signin(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> Result<Response, UiError> {
    match s.compliance.sign_in(&f.api_key).await {
        Ok(signed) => {
            if let Some(previous) = session_cookie(&s, &headers) {
                s.compliance.sign_out(previous).await?;
            }
            let p = &signed.session.principal;
            let project = p.project.clone().unwrap_or_default();
            tracing::info!(client = %client, principal = %p.id, project = %project, "cockpit sign-in (API key)");
            let cookie = session_cookie_header(
                &s,
                &signed.secret,
                crate::service::session::SESSION_ABSOLUTE_MS / 1000,
            )?;
            let mut resp = see_other(&format!("/ui/p/{project}"));
            resp.headers_mut().insert(header::SET_COOKIE, cookie);
            Ok(resp)
        }
        Err(e) => {
            let (status, message, _) = ApiError::from(e).parts();
            // Never the key: its first characters would narrow a guess.
            tracing::warn!(client = %client, status = status.as_u16(), reason = %message, "cockpit sign-in refused (API key)");
            Ok(with_status(
                status,
                render(
                    "signin.html",
                    context! {
                        error => message,
                        oidc_provider => s.compliance.oidc().map(|o| o.provider_name().to_owned()),
                        github => s.compliance.github_sign_in().is_some(),
                    },
                )?,
            ))
        }
    }
}

/// `POST /ui/signout`
pub async fn signout(
    State(s): State<AppState>,
    _: UiSession,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    if let Some(c) = session_cookie(&s, &headers) {
        s.compliance.sign_out(c).await?;
    }
    let mut resp = see_other("/ui/signin");
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header(&s, "", 0)?);
    Ok(resp)
}

// ------------------------------------------------------------------ overview and runs

/// `GET /ui/p/{project}`: the protection summary and recent runs.
pub async fn overview(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path(project): Path<String>,
) -> Result<Response, UiError> {
    let frame = frame(&s, &session, &project, "overview").await?;
    let o = s.compliance.overview(&session.principal, &project).await?;
    Ok(page(render("overview.html", context! { frame, o })?))
}

/// `GET /ui/p/{project}/runs?verdict=&branch=&blocked=`
pub async fn runs(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let frame = frame(&s, &session, &project, "runs").await?;
    let get = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let verdict = get("verdict").map(str::to_ascii_uppercase);
    if let Some(v) = &verdict
        && !["PASS", "INFO", "WARN", "ERR"].contains(&v.as_str())
    {
        return Err(UiError(ApiError::bad(
            "verdict must be PASS, INFO, WARN or ERR",
        )));
    }
    let blocked = match get("blocked") {
        None => None,
        Some("yes") => Some(true),
        Some("no") => Some(false),
        Some(_) => return Err(UiError(ApiError::bad("blocked must be yes or no"))),
    };
    let filter = RunFilter {
        verdict: verdict.clone(),
        branch: get("branch").map(str::to_owned),
        blocked,
    };
    let before = match get("before") {
        None => None,
        Some(b) => Some(b.parse::<u64>().map_err(|_| {
            UiError(ApiError::bad(format!(
                "before must be a record's sequence number, got {b:?}"
            )))
        })?),
    };
    let view = s
        .compliance
        .runs(&session.principal, &project, filter, before)
        .await?;
    Ok(page(render(
        "runs.html",
        context! {
            frame, view,
            paged => before.is_some(),
            verdict => verdict.unwrap_or_default(),
            branch => get("branch").unwrap_or_default(),
            blocked => get("blocked").unwrap_or_default(),
        },
    )?))
}

/// `GET /ui/p/{project}/runs/{run}`: findings by endpoint, why blocked,
/// exceptions applied, artifacts, and how to verify it.
pub async fn run(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path((project, run_id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let frame = frame(&s, &session, &project, "runs").await?;
    let v = s
        .compliance
        .decision(&session.principal, &project, &run_id)
        .await?;
    let record: Record = serde_json::from_value(v["record"].clone())
        .map_err(|e| UiError(ApiError::Internal(e.into())))?;
    let RecordBody::GateDecision(d) = &record.body else {
        return Err(UiError(ApiError::not_found("no such run")));
    };
    let index = v["log_index"].as_u64().unwrap_or_default();
    let verify = format!(
        "stateanchor-verify inclusion --log '{}' --key '{}' --index {index}",
        s.site.public_url,
        s.log.verifier_key()
    );
    Ok(page(render(
        "run.html",
        context! {
            frame,
            run => json!({
                "run_id": record.id, "time": record.time, "commit_sha": d.commit_sha,
                "branch": d.branch, "author": d.author, "verdict": d.verdict,
                "blocked": d.blocked, "blocked_reasons": d.blocked_reasons,
                "exceptions_applied": d.exceptions_applied, "artifacts": d.artifacts,
                "classified_by": d.classified_by, "summary": d.summary,
                "submitted_by_name": d.submitted_by_name,
            }),
            changes => by_endpoint(d),
            log_index => index,
            leaf_hash => v["leaf_hash"],
            verify,
        },
    )?))
}

// ------------------------------------------------------------------ exceptions

fn parse_status(s: Option<&str>) -> Result<Option<Status>, UiError> {
    s.filter(|v| !v.is_empty())
        .map(|st| {
            serde_json::from_value::<Status>(json!(st.to_ascii_uppercase())).map_err(|_| {
                UiError(ApiError::bad(
                    "status must be ANERGIC, ACTIVE, EXPIRED or REVOKED",
                ))
            })
        })
        .transpose()
}

/// The exceptions page: the list (of one status or all, the page after
/// exception `after`), and the filing form for a blocked run.
async fn exceptions_page(
    s: &AppState,
    session: &Session,
    project: &str,
    (status, after): (Option<Status>, Option<&str>),
    error: Option<(StatusCode, String)>,
    form: Option<&FileForm>,
    run: Option<&str>,
) -> Result<Response, UiError> {
    let frame = frame(s, session, project, "exceptions").await?;
    // The blocked run an exception is filed for, and its ERR findings: the
    // filing form offers exactly those (kind and endpoint).
    let blocked = match run.map(str::trim).filter(|r| !r.is_empty()) {
        Some(run_id) => {
            let d = s
                .compliance
                .decision(&session.principal, project, run_id)
                .await?;
            let findings: Vec<Value> = d["record"]["findings"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter(|f| f["severity"] == "ERR")
                        .map(|f| {
                            json!({"value": format!("{} {}", f["kind"].as_str().unwrap_or_default(),
                                                    f["endpoint"].as_str().unwrap_or_default()),
                                   "kind": f["kind"], "endpoint": f["endpoint"]})
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(json!({"run_id": run_id, "blocked": d["record"]["blocked"],
                        "commit_sha": d["record"]["commit_sha"], "findings": findings}))
        }
        None => None,
    };
    let list = s
        .compliance
        .exceptions(
            &session.principal,
            project,
            status,
            after,
            EXCEPTIONS_PER_PAGE,
        )
        .await?;
    let row = s
        .compliance
        .project_row(&session.principal, project)
        .await?;
    let max_secs = row.settings.max_exception_lifetime_seconds;
    let now = s.compliance.now();
    let max_ms = i64::try_from(max_secs).unwrap_or(i64::MAX / 2_000) * 1000;
    // A week, or the project's maximum if shorter (to the minute, below it).
    let default_expiry = compliance::time::format_time(now + (7 * DAY_MS).min(max_ms));
    let html = render(
        "exceptions.html",
        context! {
            frame,
            exceptions => list["exceptions"],
            next => list["next"],
            paged => after.is_some(),
            status => status.map(Status::as_str).unwrap_or_default(),
            max_days => max_secs / 86_400,
            max_seconds => max_secs,
            latest_expiry => compliance::time::format_time(now + max_ms),
            default_expiry => default_expiry.get(..16).unwrap_or_default(),
            form => form.map(|f| json!({"finding": f.finding, "reason": f.reason, "expires_at": f.expires_at})),
            blocked,
            error => error.as_ref().map(|(_, m)| m.clone()),
        },
    )?;
    Ok(with_status(
        error.map_or(StatusCode::OK, |(st, _)| st),
        html,
    ))
}

/// `GET /ui/p/{project}/exceptions?status=`
pub async fn exceptions(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let status = parse_status(q.get("status").map(String::as_str))?;
    let run = q.get("run").map(String::as_str);
    let after = q.get("after").map(String::as_str).filter(|a| !a.is_empty());
    exceptions_page(&s, &session, &project, (status, after), None, None, run).await
}

/// Body of the filing form.
#[derive(Deserialize)]
pub struct FileForm {
    /// The blocked run (`run_…`) the exception is for.
    #[serde(default)]
    run_id: String,
    /// One of its ERR findings: `kind endpoint`, as the form's select offers.
    #[serde(default)]
    finding: String,
    #[serde(default)]
    reason: String,
    /// `YYYY-MM-DDTHH:MM[:SS]` (UTC), from a `datetime-local` field.
    #[serde(default)]
    expires_at: String,
}

/// A `datetime-local` value (UTC) as RFC 3339; other text is passed on
/// as typed, for the rules to refuse with their message.
fn utc_time(v: &str) -> String {
    let v = v.trim();
    match v.len() {
        16 => format!("{v}:00Z"),
        19 => format!("{v}Z"),
        _ => v.to_owned(),
    }
}

/// `POST /ui/p/{project}/exceptions`: a codeowner files an exception.
pub async fn file_exception(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path(project): Path<String>,
    Form(f): Form<FileForm>,
) -> Result<Response, UiError> {
    let (kind, endpoint) = f
        .finding
        .trim()
        .split_once(' ')
        .unwrap_or((f.finding.trim(), ""));
    let req = NewException {
        kind: kind.to_owned(),
        endpoint: endpoint.to_owned(),
        reason: f.reason.clone(),
        expires_at: utc_time(&f.expires_at),
        repository: None,
        pull_request: None,
        run_id: Some(f.run_id.trim().to_owned()).filter(|r| !r.is_empty()),
    };
    match s
        .compliance
        .file_exception(&session.principal, &project, req)
        .await
    {
        Ok(v) => Ok(see_other(&format!(
            "/ui/p/{project}/exceptions/{}",
            v["exception_id"].as_str().unwrap_or_default()
        ))),
        Err(e) => {
            let (status, message, report) = ApiError::from(e).parts();
            if report.is_some() {
                return Err(UiError(ApiError::Internal(message.into())));
            }
            exceptions_page(
                &s,
                &session,
                &project,
                (None, None),
                Some((status, message)),
                Some(&f),
                Some(f.run_id.as_str()),
            )
            .await
        }
    }
}

async fn exception_page(
    s: &AppState,
    session: &Session,
    project: &str,
    exc_id: &str,
    error: Option<(StatusCode, String)>,
) -> Result<Response, UiError> {
    let frame = frame(s, session, project, "exceptions").await?;
    let v = s
        .compliance
        .exception(&session.principal, project, exc_id)
        .await?;
    let events: Vec<Value> = v["events"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    let r = &e["record"];
                    let who = ["requested_by_name", "approver_name", "revoked_by_name"]
                        .iter()
                        .find_map(|k| r[*k].as_str())
                        .unwrap_or("");
                    let detail = match e["type"].as_str().unwrap_or("") {
                        "exception_requested" => {
                            format!("filed: {}", r["reason"].as_str().unwrap_or(""))
                        }
                        "exception_signal" => format!(
                            "second signal {}{}",
                            r["signal"].as_str().unwrap_or(""),
                            r["evidence"]["comment"]
                                .as_str()
                                .filter(|c| !c.is_empty())
                                .map(|c| format!(": {c}"))
                                .unwrap_or_default()
                        ),
                        "exception_activated" => format!(
                            "activated after {}",
                            human_ms(r["approval_latency_ms"].as_u64().unwrap_or(0))
                        ),
                        "exception_revoked" => {
                            format!("revoked: {}", r["reason"].as_str().unwrap_or(""))
                        }
                        "exception_expired" => format!(
                            "expired (was {})",
                            r["status_before"].as_str().unwrap_or("")
                        ),
                        other => other.to_owned(),
                    };
                    json!({"type": e["type"], "time": e["time"], "who": who, "detail": detail,
                           "log_index": e["log_index"]})
                })
                .collect()
        })
        .unwrap_or_default();
    let requester = v["events"][0]["record"]["requested_by_name"].clone();
    let status = v["status"].as_str().unwrap_or("").to_owned();
    let html = render(
        "exception.html",
        context! {
            frame,
            exc => v,
            requester,
            events,
            can_approve => status == "ANERGIC",
            can_revoke => status == "ANERGIC" || status == "ACTIVE",
            error => error.as_ref().map(|(_, m)| m.clone()),
        },
    )?;
    Ok(with_status(
        error.map_or(StatusCode::OK, |(st, _)| st),
        html,
    ))
}

/// A duration in milliseconds for people.
fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{:.1} h", s as f64 / 3600.0),
        _ => format!("{:.1} days", s as f64 / 86_400.0),
    }
}

/// `GET /ui/p/{project}/exceptions/{exception}`: the full history.
pub async fn exception(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path((project, exc_id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    exception_page(&s, &session, &project, &exc_id, None).await
}

/// Body of the approval form.
#[derive(Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    comment: String,
}

/// Shows a refusal of the rules on the exception page, with its status.
async fn refused_on_exception(
    s: &AppState,
    session: &Session,
    project: &str,
    exc_id: &str,
    e: crate::Error,
) -> Result<Response, UiError> {
    let (status, message, report) = ApiError::from(e).parts();
    if report.is_some() {
        return Err(UiError(ApiError::Internal(message.into())));
    }
    exception_page(s, session, project, exc_id, Some((status, message))).await
}

/// `POST /ui/p/{project}/exceptions/{exception}/approve`: a
/// `codeowner_approval` signal, with the API's rules.
pub async fn approve(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path((project, exc_id)): Path<(String, String)>,
    Form(f): Form<ApproveForm>,
) -> Result<Response, UiError> {
    let req = SignalRequest::CodeownerApproval { comment: f.comment };
    match s
        .compliance
        .signal(&session.principal, &project, &exc_id, req)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/ui/p/{project}/exceptions/{exc_id}"))),
        Err(e) => refused_on_exception(&s, &session, &project, &exc_id, e).await,
    }
}

/// Body of the revocation form.
#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    reason: String,
}

/// `POST /ui/p/{project}/exceptions/{exception}/revoke`
pub async fn revoke(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path((project, exc_id)): Path<(String, String)>,
    Form(f): Form<RevokeForm>,
) -> Result<Response, UiError> {
    match s
        .compliance
        .revoke(&session.principal, &project, &exc_id, &f.reason)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/ui/p/{project}/exceptions/{exc_id}"))),
        Err(e) => refused_on_exception(&s, &session, &project, &exc_id, e).await,
    }
}

// ------------------------------------------------------------------ settings

pub(super) async fn settings_page(
    s: &AppState,
    session: &Session,
    project: &str,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
    new_share: Option<String>,
    shares_after: Option<&str>,
) -> Result<Response, UiError> {
    let frame = frame(s, session, project, "settings").await?;
    let row = s
        .compliance
        .project_row(&session.principal, project)
        .await?;
    let shares = if frame.can_export {
        s.compliance
            .shares(&session.principal, project, shares_after, SHARES_PER_PAGE)
            .await?
    } else {
        Page {
            items: Vec::new(),
            next: None,
        }
    };
    let held = if frame.is_admin {
        s.compliance
            .settings_changes(&session.principal, project)
            .await?["changes"]
            .take()
    } else {
        serde_json::Value::Null
    };
    let sessions: Vec<Value> = s
        .compliance
        .sessions_of(session)
        .await?
        .into_iter()
        .map(|x| {
            json!({
                "id": x.id,
                "signed_in": compliance::time::format_time(x.created_at),
                "last_seen": compliance::time::format_time(x.last_seen),
                "current": x.current,
            })
        })
        .collect();
    let today = s.compliance.today();
    let accepted: Vec<&str> = row
        .settings
        .accepted_signals
        .iter()
        .map(|k| k.as_str())
        .collect();
    let html = render(
        "settings.html",
        context! {
            frame,
            settings => row.settings,
            accepted,
            deny_list => row.settings.bot_deny_list.join("\n"),
            github => row.settings.github.as_ref().map(|g| g.repository.clone()).unwrap_or_default(),
            github_since => row.settings.github.as_ref().map(|g| g.connected_at.clone()),
            from => format_date(today - 89),
            to => format_date(today),
            shares,
            sessions,
            max_sessions => crate::service::session::MAX_SESSIONS_PER_KEY,
            held,
            second_admin => row.settings.second_admin_for_weakening,
            now => compliance::time::format_time(s.compliance.now()),
            new_share => new_share.map(|secret| format!("{}/share/{secret}", s.site.public_url.trim_end_matches('/'))),
            notice,
            error => error.as_ref().map(|(_, m)| m.clone()),
        },
    )?;
    Ok(with_status(
        error.map_or(StatusCode::OK, |(st, _)| st),
        html,
    ))
}

/// `GET /ui/p/{project}/settings`: the evidence export, the project's
/// controls (changed by admins, with the changes held for a second admin)
/// and share links. `?saved=1` and `?held=ID` say what the last form did.
pub async fn settings(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let notice = if let Some(id) = q.get("held") {
        Some(format!(
            "This change weakens the project's controls: it is held as {id} until another admin of the project approves it (it lapses unapproved after 7 days)."
        ))
    } else if q.contains_key("approved") {
        Some("The held change was approved, recorded in the log, and is in force.".to_owned())
    } else if q.contains_key("withdrawn") {
        Some("The held change was withdrawn; the controls are unchanged.".to_owned())
    } else if let Some(n) = q.get("sessions_ended") {
        Some(match n.as_str() {
            "0" => "No session was ended (it had ended already).".to_owned(),
            "1" => "One session was ended.".to_owned(),
            n => format!("{} sessions were ended.", n.parse::<u32>().unwrap_or(0)),
        })
    } else if q.contains_key("saved") {
        Some("Saved: the change is recorded in the log and in force.".to_owned())
    } else {
        None
    };
    let shares_after = q
        .get("shares_after")
        .map(String::as_str)
        .filter(|a| !a.is_empty());
    settings_page(&s, &session, &project, notice, None, None, shares_after).await
}

/// The form that ends sessions: one by its ID, or `others`.
#[derive(Deserialize)]
pub struct EndSessionsForm {
    #[serde(default)]
    session: String,
}

/// `POST /ui/p/{project}/sessions/end`: ends one of the signed-in
/// principal's sessions (`session` is its ID), or all the others
/// (`session=others`). Ending the current one signs out.
pub async fn end_sessions(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path(project): Path<String>,
    Form(f): Form<EndSessionsForm>,
) -> Result<Response, UiError> {
    // The project must be the principal's (as every page checks).
    s.compliance
        .project_row(&session.principal, &project)
        .await?;
    let which = if f.session == "others" {
        EndSessions::Others
    } else {
        EndSessions::One(&f.session)
    };
    let ended = s.compliance.end_sessions(&session, which).await?;
    tracing::info!(principal = %session.principal.id, project = %project, ended, "cockpit sessions ended by their principal");
    if f.session
        .eq_ignore_ascii_case(&crate::keys::to_hex(&session.id))
    {
        let mut resp = see_other("/ui/signin");
        resp.headers_mut()
            .insert(header::SET_COOKIE, session_cookie_header(&s, "", 0)?);
        return Ok(resp);
    }
    Ok(see_other(&format!(
        "/ui/p/{project}/settings?sessions_ended={ended}#sessions"
    )))
}

/// A change ID as it may appear in a URL (IDs are `[A-Za-z0-9_-]`; anything
/// else is dropped).
fn urlencoding_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// `POST /ui/p/{project}/settings/changes/{change}/approve` (a second
/// admin approves a held change of the controls) and `.../withdraw` (an
/// admin withdraws it).
pub async fn settle_change(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path((project, change, action)): Path<(String, String, String)>,
) -> Result<Response, UiError> {
    let c = &s.compliance;
    let p = &session.principal;
    let (out, done) = match action.as_str() {
        "approve" => (
            c.approve_settings_change(p, &project, &change).await,
            "approved",
        ),
        "withdraw" => (
            c.withdraw_settings_change(p, &project, &change).await,
            "withdrawn",
        ),
        _ => return Err(UiError(ApiError::NotFound("no such page".into()))),
    };
    settled_change(&s, &session, &project, out, done).await
}

/// The settings page with a refusal (its status and message); a failure of
/// ours is an error page instead.
pub(super) async fn settings_refusal(
    s: &AppState,
    session: &Session,
    project: &str,
    e: crate::Error,
) -> Result<Response, UiError> {
    let (status, message, report) = ApiError::from(e).parts();
    if report.is_some() {
        return Err(UiError(ApiError::Internal(message.into())));
    }
    settings_page(
        s,
        session,
        project,
        None,
        Some((status, message)),
        None,
        None,
    )
    .await
}

/// The answer to an approval or withdrawal of a held change: back to the
/// settings, saying what happened, or the settings page with the refusal.
async fn settled_change(
    s: &AppState,
    session: &Session,
    project: &str,
    out: crate::Result<serde_json::Value>,
    done: &str,
) -> Result<Response, UiError> {
    match out {
        Ok(_) => Ok(see_other(&format!("/ui/p/{project}/settings?{done}=1"))),
        Err(e) => settings_refusal(s, session, project, e).await,
    }
}

/// Body of the controls form.
#[derive(Deserialize)]
pub struct ControlsForm {
    #[serde(default)]
    bot_deny_list: String,
    #[serde(default)]
    max_exception_lifetime_seconds: String,
    #[serde(default)]
    codeowner_approval: Option<String>,
    #[serde(default)]
    consumer_test: Option<String>,
    #[serde(default)]
    github_review: Option<String>,
    #[serde(default)]
    github_repository: String,
    #[serde(default)]
    second_admin_for_weakening: Option<String>,
}

/// `POST /ui/p/{project}/settings/controls`: the project's controls (an
/// admin of the project), recorded as the API records them.
pub async fn controls(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path(project): Path<String>,
    Form(f): Form<ControlsForm>,
) -> Result<Response, UiError> {
    let lifetime = match f.max_exception_lifetime_seconds.trim().parse::<u64>() {
        Ok(n) => n,
        Err(_) => {
            let e = (
                StatusCode::BAD_REQUEST,
                "max_exception_lifetime_seconds must be a whole number of seconds".to_owned(),
            );
            return settings_page(&s, &session, &project, None, Some(e), None, None).await;
        }
    };
    let mut accepted = Vec::new();
    for (on, kind) in [
        (&f.codeowner_approval, SignalKind::CodeownerApproval),
        (&f.consumer_test, SignalKind::ConsumerTest),
        (&f.github_review, SignalKind::GithubReview),
    ] {
        if on.is_some() {
            accepted.push(kind);
        }
    }
    let repo = f.github_repository.trim();
    let patch = SettingsPatch {
        bot_deny_list: Some(
            f.bot_deny_list
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        max_exception_lifetime_seconds: Some(lifetime),
        accepted_signals: Some(accepted),
        github_repository: Some((!repo.is_empty()).then(|| repo.to_owned())),
        gate: None,
        monitoring: None,
        second_admin_for_weakening: Some(f.second_admin_for_weakening.is_some()),
        people_sign_in: None,
        idp_groups: None,
    };
    match s
        .compliance
        .patch_settings(&session.principal, &project, patch)
        .await
    {
        Ok(SettingsOutcome::Applied(_)) => {
            Ok(see_other(&format!("/ui/p/{project}/settings?saved=1")))
        }
        Ok(SettingsOutcome::Held(v)) => {
            let change = v["change_id"].as_str().unwrap_or_default();
            Ok(see_other(&format!(
                "/ui/p/{project}/settings?held={}",
                urlencoding_id(change)
            )))
        }
        Err(e) => settings_refusal(&s, &session, &project, e).await,
    }
}

/// Body of the export form.
#[derive(Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    format: String,
}

/// `POST /ui/p/{project}/export`: "Download evidence package", the
/// service's export under its documented file name.
pub async fn export(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path(project): Path<String>,
    Form(f): Form<ExportForm>,
) -> Result<Response, UiError> {
    let opt = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let (from, to, format) = (opt(&f.from), opt(&f.to), opt(&f.format));
    let req = ExportRequest::parse(
        from.as_deref(),
        to.as_deref(),
        format.as_deref(),
        s.compliance.today(),
    );
    let result = match req {
        Ok(req) => {
            s.compliance
                .export(&session.principal, &project, req, &s.site)
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(export) => Ok(stream_export(export)?),
        Err(e) => settings_refusal(&s, &session, &project, e).await,
    }
}
