//! Signing in as oneself: with the identity provider (OpenID Connect,
//! `/ui/oidc/...`) or with GitHub (`/ui/github/...`). `GET .../start` sends
//! the browser to the provider, with a short-lived binding cookie
//! (`sa_oidc`: `HttpOnly`, `SameSite=Lax`, path `/ui/`, 10 minutes);
//! `GET .../callback` finishes the sign-in and opens a session for the
//! principal bound to the person's identity. Every success and failure is
//! logged with the client's address and the identity (never a secret, a
//! code or a token).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;

use super::super::AppState;
use super::super::error::ApiError;
use super::{
    ClientAddr, UiError, cookie_value, render, see_other, session_cookie, session_cookie_header,
};
use crate::service::github_signin::GitHubSignIn;
use crate::service::oidc::{Begun, Callback, OidcSignIn};
use crate::service::session::{Identity, SESSION_ABSOLUTE_MS};

/// Name of the cookie that binds a pending sign-in to its browser.
pub const FLOW_COOKIE: &str = "sa_oidc";

/// The binding cookie (`max_age` 0 clears it). `SameSite=Lax`: the
/// provider's redirect back is a cross-site navigation, which a `Strict`
/// cookie would not follow.
fn flow_cookie(s: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, UiError> {
    let secure = if s.site.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{FLOW_COOKIE}={value}; Path=/ui/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| UiError(ApiError::Internal(e.into())))
}

fn not_configured(what: &str) -> UiError {
    UiError(ApiError::not_found(format!(
        "this log has no {what} sign-in configured: sign in with your project API key"
    )))
}

fn project_of(q: &HashMap<String, String>) -> Option<String> {
    q.get("project")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty() && p.len() <= 100)
}

fn callback_of(q: &HashMap<String, String>) -> Callback {
    let get = |k: &str| q.get(k).cloned();
    Callback {
        state: get("state"),
        code: get("code"),
        error: get("error"),
        iss: get("iss"),
    }
}

/// One of the log's two sign-in flows.
#[derive(Clone, Copy)]
enum Flow<'a> {
    Oidc(&'a OidcSignIn),
    GitHub(&'a GitHubSignIn),
}

impl<'a> Flow<'a> {
    /// The identity provider's flow, if configured.
    fn oidc(s: &'a AppState) -> Result<Self, UiError> {
        s.compliance
            .oidc()
            .map(Flow::Oidc)
            .ok_or_else(|| not_configured("identity provider"))
    }

    /// GitHub's flow, if configured.
    fn github(s: &'a AppState) -> Result<Self, UiError> {
        s.compliance
            .github_sign_in()
            .map(Flow::GitHub)
            .ok_or_else(|| not_configured("GitHub"))
    }

    /// The provider's name, for the log and the sign-in page.
    fn provider(self) -> &'a str {
        match self {
            Flow::Oidc(o) => o.provider_name(),
            Flow::GitHub(_) => "GitHub",
        }
    }

    async fn begin(self, now: i64, project: Option<String>) -> crate::Result<Begun> {
        match self {
            Flow::Oidc(o) => o.begin(now, project).await,
            Flow::GitHub(g) => g.begin(now, project).await,
        }
    }

    /// Who the provider vouched for, and the project the sign-in was
    /// started for.
    async fn finish(
        self,
        callback: Callback,
        binding: Option<&str>,
        now: i64,
    ) -> crate::Result<(Identity, Option<String>)> {
        match self {
            Flow::Oidc(o) => o.finish(callback, binding, now).await.map(|v| {
                (
                    Identity::Idp {
                        subject: v.idp,
                        email: v.email,
                        groups: v.groups,
                    },
                    v.project,
                )
            }),
            Flow::GitHub(g) => g.finish(callback, binding, now).await.map(|u| {
                (
                    Identity::GitHub {
                        id: u.id,
                        login: u.login,
                    },
                    u.project,
                )
            }),
        }
    }
}

/// A sign-in begun with `flow`: the 303 to the provider, with the binding
/// cookie.
async fn start_with(
    s: &AppState,
    client: &str,
    q: &HashMap<String, String>,
    flow: Flow<'_>,
) -> Result<Response, UiError> {
    let begun = flow
        .begin(s.compliance.now(), project_of(q))
        .await
        .inspect_err(
            |e| tracing::warn!(client = %client, provider = %flow.provider(), error = %e, "cockpit sign-in could not start"),
        )?;
    let mut resp = see_other(&begun.url);
    resp.headers_mut()
        .insert(header::SET_COOKIE, flow_cookie(s, &begun.binding, 600)?);
    Ok(resp)
}

/// `GET /ui/oidc/start[?project=ID]`: to the identity provider.
pub async fn start(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    start_with(&s, &client, &q, Flow::oidc(&s)?).await
}

/// `GET /ui/oidc/callback?code=&state=`: the provider's answer; a
/// session, or the sign-in page with the reason.
pub async fn callback(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    finish(&s, &client, &headers, &q, Flow::oidc(&s)?).await
}

/// `GET /ui/github/start[?project=ID]`: to GitHub.
pub async fn github_start(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    start_with(&s, &client, &q, Flow::github(&s)?).await
}

/// `GET /ui/github/callback?code=&state=`: GitHub's answer.
pub async fn github_callback(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    finish(&s, &client, &headers, &q, Flow::github(&s)?).await
}

/// A session for the principal bound to the identity a provider vouched
/// for, or the sign-in page with the reason; either way the binding cookie
/// is cleared.
async fn finish(
    s: &AppState,
    client: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    flow: Flow<'_>,
) -> Result<Response, UiError> {
    let verified = flow
        .finish(
            callback_of(q),
            cookie_value(headers, FLOW_COOKIE),
            s.compliance.now(),
        )
        .await;
    let provider = flow.provider();
    let clear_flow = flow_cookie(s, "", 0)?;
    let outcome = match verified {
        Ok((identity, project)) => {
            match s
                .compliance
                .sign_in_identity(&identity, project.as_deref())
                .await
            {
                Ok(signed) => Ok((identity, signed)),
                Err(e) => Err((Some(identity), e)),
            }
        }
        Err(e) => Err((None, e)),
    };
    match outcome {
        Ok((identity, signed)) => {
            // A new sign-in ends the browser's previous session.
            if let Some(previous) = session_cookie(s, headers) {
                s.compliance.sign_out(previous).await?;
            }
            let p = &signed.session.principal;
            let project = p.project.clone().unwrap_or_default();
            tracing::info!(
                client = %client,
                identity = %identity.described(),
                vouched_by = %identity.vouched_by(),
                principal = %p.id,
                project = %project,
                "cockpit sign-in"
            );
            let to = format!("/ui/p/{project}");
            // A page that moves on by itself rather than a redirect: the
            // session cookie is `SameSite=Strict`, and a browser does not
            // send it on a redirect chain that a cross-site navigation
            // (the provider's) started.
            let html = render(
                "continue.html",
                context! { to, user => p.name.clone(), provider },
            )?;
            let mut resp = Html(html).into_response();
            let session = session_cookie_header(s, &signed.secret, SESSION_ABSOLUTE_MS / 1000)?;
            let h = resp.headers_mut();
            h.append(header::SET_COOKIE, session);
            h.append(header::SET_COOKIE, clear_flow);
            Ok(resp)
        }
        Err((identity, e)) => {
            let (status, message, report) = ApiError::from(e).parts();
            tracing::warn!(
                client = %client,
                identity = %identity.as_ref().map_or_else(String::new, Identity::described),
                provider = %provider,
                status = status.as_u16(),
                reason = %report.as_deref().unwrap_or(&message),
                "cockpit sign-in refused"
            );
            let html = render(
                "signin.html",
                context! {
                    error => message,
                    oidc_provider => s.compliance.oidc().map(|o| o.provider_name().to_owned()),
                    github => s.compliance.github_sign_in().is_some(),
                },
            )?;
            let mut resp = (status, Html(html)).into_response();
            resp.headers_mut().append(header::SET_COOKIE, clear_flow);
            Ok(resp)
        }
    }
}
