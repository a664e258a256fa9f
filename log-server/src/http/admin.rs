//! Handlers of the admin API: the log's API keys (`/v1/admin/keys`) and
//! projects with their principals (`/v1/admin/projects...`). The service
//! checks the caller's rights; the handlers check them first too, so that
//! a caller without them learns nothing from the errors of its body.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use compliance::ledger::SettingsPatch;
use compliance::principal::Role;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, cache, json_body};
use crate::service::admin::{NewKey, NewPrincipal, NewProject, PrincipalPatch, SettingsOutcome};

fn require_log_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.0.is_log_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "project administration needs a log admin key".into(),
        ))
    }
}

/// `POST /v1/admin/keys` `{"name", "role"}` (admin)
pub async fn create_key(
    State(s): State<AppState>,
    caller: Caller,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let req = json_body(body)?;
    let out = s.compliance.create_key(&caller.0, req).await?;
    Ok((StatusCode::CREATED, cache("no-store"), Json(out)).into_response())
}

/// `GET /v1/admin/keys` (admin)
pub async fn list_keys(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let out = s.compliance.list_keys(&caller.0).await?;
    Ok((cache("no-store"), Json(out)).into_response())
}

/// `DELETE /v1/admin/keys/{id}` (admin)
pub async fn revoke_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let out = s.compliance.revoke_key(&caller.0, &id).await?;
    Ok((cache("no-store"), Json(out)).into_response())
}

/// `POST /v1/admin/projects` `{"name"[, "bot_deny_list", "max_exception_lifetime_seconds", "accepted_signals", "github_repository"]}`
pub async fn create_project(
    State(s): State<AppState>,
    caller: Caller,
    body: Result<Json<NewProject>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_log_admin(&caller)?;
    let req = json_body(body)?;
    let out = s.compliance.create_project(&caller.0, req).await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `GET /v1/admin/projects`
pub async fn list_projects(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let out = s.compliance.list_projects(&caller.0).await?;
    Ok(Json(out).into_response())
}

/// `GET /v1/admin/projects/{projectId}`: the project and its principals.
pub async fn get_project(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let out = s.compliance.project_view(&caller.0, &id).await?;
    Ok(Json(out).into_response())
}

/// `PATCH /v1/admin/projects/{projectId}/settings`
pub async fn patch_settings(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<SettingsPatch>, JsonRejection>,
) -> Result<Response, ApiError> {
    // A log admin, or an admin principal of this project (Access::Control).
    s.compliance
        .project_for(&caller.0, &id, compliance::principal::Access::Control)
        .await?;
    let req = json_body(body)?;
    let out = s.compliance.patch_settings(&caller.0, &id, req).await?;
    Ok(match out {
        SettingsOutcome::Applied(v) => Json(v).into_response(),
        // Held for a second admin: accepted, not yet in effect.
        SettingsOutcome::Held(v) => (StatusCode::ACCEPTED, Json(v)).into_response(),
    })
}

/// `GET /v1/admin/projects/{projectId}/settings/changes`: the held changes
/// of the project's controls.
pub async fn get_settings_changes(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let out = s.compliance.settings_changes(&caller.0, &id).await?;
    Ok(Json(out).into_response())
}

/// `POST /v1/admin/projects/{projectId}/settings/changes/{changeId}/approve`:
/// a second admin of the project approves a held change.
pub async fn post_approve_settings_change(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, change)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let out = s
        .compliance
        .approve_settings_change(&caller.0, &id, &change)
        .await?;
    Ok(Json(out).into_response())
}

/// `POST /v1/admin/projects/{projectId}/settings/changes/{changeId}/withdraw`
pub async fn post_withdraw_settings_change(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, change)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let out = s
        .compliance
        .withdraw_settings_change(&caller.0, &id, &change)
        .await?;
    Ok(Json(out).into_response())
}

/// `POST /v1/admin/projects/{projectId}/principals` `{"name", "roles", "bot"[, "github_login"]}`
/// -> `{"principal_id", "api_key", ...}` (the key is shown once).
pub async fn create_principal(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<NewPrincipal>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_log_admin(&caller)?;
    let req = json_body(body)?;
    let out = s.compliance.create_principal(&caller.0, &id, req).await?;
    Ok((StatusCode::CREATED, cache("no-store"), Json(out)).into_response())
}

/// `PATCH /v1/admin/projects/{projectId}/principals/{principalId}`
pub async fn patch_principal(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, principal)): Path<(String, String)>,
    body: Result<Json<PrincipalPatch>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_log_admin(&caller)?;
    let req = json_body(body)?;
    let out = s
        .compliance
        .change_principal(&caller.0, &id, &principal, req)
        .await?;
    Ok((cache("no-store"), Json(out)).into_response())
}

/// `GET /v1/admin/projects/{projectId}/principals`
pub async fn list_principals(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let out = s.compliance.list_principals(&caller.0, &id).await?;
    Ok(Json(out).into_response())
}

/// The body of `POST /v1/admin/backup`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// A new directory under the server's backup root.
    to: String,
    /// An earlier backup under the root to make an incremental one from.
    #[serde(default)]
    base: Option<String>,
}

/// `POST /v1/admin/backup` `{"to"}` (log admin): a consistent backup of the
/// RocksDB store, its keys and a manifest, while appends go on; with
/// `"base"`, incremental from an earlier backup.
pub async fn post_backup(
    State(s): State<AppState>,
    caller: Caller,
    body: Result<Json<BackupRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    require_log_admin(&caller)?;
    let req = json_body(body)?;
    let Some(backups) = s.backups.clone() else {
        return Err(ApiError::NotFound(
            "this server makes no backups: the PostgreSQL mode is backed up with pg_dump and the bucket (docs/operations.md)".into(),
        ));
    };
    let now = crate::service::now_ms();
    let manifest = tokio::task::spawn_blocking(move || {
        backups.create(
            std::path::Path::new(&req.to),
            req.base.as_deref().map(std::path::Path::new),
            now,
        )
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    Ok((StatusCode::CREATED, cache("no-store"), Json(manifest)).into_response())
}
