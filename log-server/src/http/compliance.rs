//! Handlers of the gate and the exception ledger
//! (`/api/projects/{projectId}/decisions|exceptions...`): they extract and
//! check the request, and the compliance service does the rest.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use compliance::ledger::{NewException, Status};
use compliance::principal::Access;
use compliance::verdict::DecisionInput;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, json_body, json_body_off_workers, parse_u64, query, reject_unknown};
use crate::service::gate::{RevokeRequest, SignalRequest};

/// `?wait=checkpoint`, or nothing.
fn wait_param(q: &HashMap<String, String>, known: &[&str]) -> Result<bool, ApiError> {
    reject_unknown(q, known)?;
    match q.get("wait").map(String::as_str) {
        None => Ok(false),
        Some("checkpoint") => Ok(true),
        Some(other) => Err(ApiError::bad(format!(
            "wait must be \"checkpoint\", got {other:?}"
        ))),
    }
}

/// The body of a request to `project`, read only once the caller is known
/// to have `access` there: a stranger learns nothing from the errors of a
/// body it could not submit anyway.
async fn body_for<T>(
    s: &AppState,
    caller: &Caller,
    project: &str,
    access: Access,
    body: Result<Json<T>, JsonRejection>,
) -> Result<T, ApiError> {
    s.compliance.project_for(&caller.0, project, access).await?;
    json_body(body)
}

/// `POST /api/projects/{projectId}/decisions[?wait=checkpoint]` (role `ci`)
pub async fn post_decision(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    s.compliance
        .project_for(&caller.0, &project, Access::Decide)
        .await?;
    let wait = wait_param(&query(q)?, &["wait"])?;
    let d: DecisionInput = json_body_off_workers(&headers, body).await?;
    let out = s.compliance.decide(&caller.0, &project, d, wait).await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /api/projects/{projectId}/specs/{sha256}`: an OpenAPI document a
/// decision of the project was classified from (any role of the project).
pub async fn get_spec(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, sha256)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let bytes = s.compliance.spec(&caller.0, &project, &sha256).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /api/projects/{projectId}/decisions/{runId}`: the record, its
/// envelope, log index, inclusion proof and checkpoint.
pub async fn get_decision(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, run_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let out = s.compliance.decision(&caller.0, &project, &run_id).await?;
    Ok(Json(out).into_response())
}

/// `POST /api/projects/{projectId}/exceptions` (role `codeowner`)
pub async fn post_exception(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    body: Result<Json<NewException>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body_for(&s, &caller, &project, Access::Ledger, body).await?;
    let out = s
        .compliance
        .file_exception(&caller.0, &project, req)
        .await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `POST /api/projects/{projectId}/exceptions/{exceptionId}/signals`
pub async fn post_signal(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, exc_id)): Path<(String, String)>,
    body: Result<Json<SignalRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body_for(&s, &caller, &project, Access::Ledger, body).await?;
    let out = s
        .compliance
        .signal(&caller.0, &project, &exc_id, req)
        .await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `POST /api/projects/{projectId}/exceptions/{exceptionId}/revoke` (role `codeowner`)
pub async fn post_revoke(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, exc_id)): Path<(String, String)>,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = body_for(&s, &caller, &project, Access::Ledger, body).await?;
    let out = s
        .compliance
        .revoke(&caller.0, &project, &exc_id, &req.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /api/projects/{projectId}/exceptions[?status=ANERGIC|ACTIVE|EXPIRED|REVOKED][&limit=N][&after=ID]`
pub async fn list_exceptions(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    s.compliance
        .project_for(&caller.0, &project, Access::Read)
        .await?;
    let q = query(q)?;
    reject_unknown(&q, &["status", "limit", "after"])?;
    let limit = match parse_u64(&q, "limit")? {
        None => EXCEPTIONS_PER_PAGE,
        Some(n @ 1..=1000) => usize::try_from(n).unwrap_or(EXCEPTIONS_PER_PAGE),
        Some(n) => {
            return Err(ApiError::bad(format!("limit must be 1 to 1000, got {n}")));
        }
    };
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
    let after = q.get("after").map(String::as_str);
    let out = s
        .compliance
        .exceptions(&caller.0, &project, want, after, limit)
        .await?;
    Ok(Json(out).into_response())
}

/// Exceptions on one page of `GET /api/projects/{projectId}/exceptions`
/// unless `limit` says otherwise.
pub const EXCEPTIONS_PER_PAGE: usize = 100;

/// `GET /api/projects/{projectId}/exceptions/{exceptionId}`: its state and
/// every event with its log index.
pub async fn get_exception(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, exc_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let out = s.compliance.exception(&caller.0, &project, &exc_id).await?;
    Ok(Json(out).into_response())
}
