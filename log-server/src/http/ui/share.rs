//! Share links in the cockpit: created and revoked from the settings page
//! (auditor or admin), and the read-only view of a period they open
//! (`/share/{secret}`, no session: the link is the credential).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;

use super::super::AppState;
use super::pages::{settings_page, settings_refusal};
use super::{UiError, UiSession, render, see_other};

/// Body of the form that creates a share link.
#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Days the link works.
    #[serde(default)]
    days: String,
}

/// `POST /ui/p/{project}/shares`: a new link, shown once on the settings page.
pub async fn create(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path(project): Path<String>,
    Form(f): Form<CreateForm>,
) -> Result<Response, UiError> {
    let opt = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let (from, to) = (opt(&f.from), opt(&f.to));
    let days = f.days.trim().parse::<i64>().unwrap_or(0);
    let result = s
        .compliance
        .create_share(
            &session.principal,
            &project,
            (from.as_deref(), to.as_deref()),
            days.saturating_mul(compliance::time::DAY_MS),
        )
        .await;
    match result {
        Ok(new) => settings_page(&s, &session, &project, None, None, Some(new.secret), None).await,
        Err(e) => settings_refusal(&s, &session, &project, e).await,
    }
}

/// `POST /ui/p/{project}/shares/{id}/revoke`
pub async fn revoke(
    State(s): State<AppState>,
    UiSession(session): UiSession,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    s.compliance
        .revoke_share(&session.principal, &project, &id)
        .await?;
    Ok(see_other(&format!("/ui/p/{project}/settings")))
}

/// `GET /share/{secret}`: the runs and the exception ledger of the link's
/// period; 404 for an unknown, expired or revoked link.
pub async fn view(
    State(s): State<AppState>,
    Path(secret): Path<String>,
) -> Result<Response, UiError> {
    let shared = s.compliance.open_share(&secret).await?;
    let html = render(
        "share.html",
        context! {
            link => shared.link,
            project_name => shared.project_name,
            view => shared.view,
        },
    )?;
    Ok((StatusCode::OK, Html(html)).into_response())
}
