//! Monitoring, alerts and the weekly digest over HTTP (`spec/http-api.md`,
//! `spec/monitoring.md`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use compliance::principal::Access;
use compliance::time::parse_date;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, json_body, period_query};
use crate::service::alerts::AlertSettings;
use crate::service::invalid;

/// Body of `POST /v1/admin/monitor/run`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MonitorRun {
    /// One project (default: every project).
    #[serde(default)]
    pub project: Option<String>,
    /// One day, `YYYY-MM-DD` (default: every day not monitored yet, up to yesterday).
    #[serde(default)]
    pub date: Option<String>,
}

/// `POST /v1/admin/monitor/run` (log admin): monitors complete days now.
pub async fn post_monitor_run(
    State(s): State<AppState>,
    caller: Caller,
    body: Result<Json<MonitorRun>, JsonRejection>,
) -> Result<Response, ApiError> {
    if !caller.0.is_log_admin() {
        return Err(ApiError::Forbidden(
            "monitoring runs need a log admin key".into(),
        ));
    }
    let req = json_body(body)?;
    let day = req
        .date
        .as_deref()
        .map(|d| {
            parse_date(d)
                .ok_or_else(|| invalid(format!("date must be YYYY-MM-DD (UTC), got {d:?}")))
        })
        .transpose()?;
    let days = match &req.project {
        Some(p) => s.compliance.monitor_project(p, day).await?,
        None => s.compliance.monitor_all(day).await?,
    };
    Ok(Json(json!({ "days": days })).into_response())
}

/// `GET /api/projects/{projectId}/anomalies?from=&to=&status=open|acknowledged`
/// (any role): newest first.
pub async fn get_anomalies(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    s.compliance
        .project_for(&caller.0, &project, Access::Read)
        .await?;
    let today = s.compliance.today();
    let (period, q) = period_query(q, &["status"], today, (None, None), true)?;
    let open = match q.get("status").map(String::as_str) {
        None => None,
        Some("open") => Some(true),
        Some("acknowledged") => Some(false),
        Some(other) => {
            return Err(invalid(format!(
                "status must be open or acknowledged, got {other:?}"
            ))
            .into());
        }
    };
    let v = s
        .compliance
        .anomalies(&caller.0, &project, (period.from, period.to), open)
        .await?;
    Ok(Json(v).into_response())
}

/// Body of an acknowledgement.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledge {
    /// What was done about it.
    pub note: String,
}

/// `POST /api/projects/{projectId}/anomalies/{anomalyId}/acknowledge` `{"note"}`
/// (codeowner or admin).
pub async fn post_acknowledge(
    State(s): State<AppState>,
    caller: Caller,
    Path((project, anomaly)): Path<(String, String)>,
    body: Result<Json<Acknowledge>, JsonRejection>,
) -> Result<Response, ApiError> {
    s.compliance
        .project_for(&caller.0, &project, Access::Acknowledge)
        .await?;
    let req = json_body(body)?;
    let v = s
        .compliance
        .acknowledge(&caller.0, &project, &anomaly, &req.note)
        .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `GET /api/projects/{projectId}/digest?from=&to=&format=markdown|html|json`
/// (any role): default the 7 days up to yesterday.
pub async fn get_digest(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    s.compliance
        .project_for(&caller.0, &project, Access::Read)
        .await?;
    let today = s.compliance.today();
    let yesterday = compliance::time::format_date(today - 1);
    let week_start = compliance::time::format_date(today - 7);
    let (period, q) = period_query(q, &[], today, (Some(&week_start), Some(&yesterday)), true)?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let d = s
        .compliance
        .digest(&caller.0, &project, (period.from, period.to))
        .await?;
    Ok(match get("format").unwrap_or("markdown") {
        "json" => Json(d).into_response(),
        "html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            d.to_html(),
        )
            .into_response(),
        "markdown" | "md" => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            d.to_markdown(),
        )
            .into_response(),
        other => {
            return Err(invalid(format!(
                "format must be markdown, html or json, got {other:?}"
            ))
            .into());
        }
    })
}

/// `PUT /v1/admin/projects/{projectId}/alerts` (log admin).
pub async fn put_alerts(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    body: Result<Json<AlertSettings>, JsonRejection>,
) -> Result<Response, ApiError> {
    if !caller.0.is_log_admin() {
        return Err(ApiError::Forbidden(
            "alert settings need a log admin key".into(),
        ));
    }
    let req = json_body(body)?;
    let v = s
        .compliance
        .put_alert_settings(&caller.0, &project, req)
        .await?;
    Ok(Json(v).into_response())
}

/// `GET /v1/admin/projects/{projectId}/alerts` (log admin): the settings,
/// secrets redacted, and the latest delivery attempts.
pub async fn get_alerts(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    let v = s.compliance.alert_view(&caller.0, &project).await?;
    Ok(Json(v).into_response())
}

/// `POST /v1/admin/projects/{projectId}/digest/send` (log admin): mails the
/// digest of the last 7 days now.
pub async fn post_digest_send(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    let to = s.compliance.send_digest(Some(&caller.0), &project).await?;
    Ok(Json(json!({ "sent_to": to })).into_response())
}
