//! Signing in with the identity provider (OpenID Connect):
//! `GET /ui/oidc/start` sends the browser to the provider, with a short-lived
//! binding cookie (`sa_oidc`: `HttpOnly`, `SameSite=Lax`, path `/ui/oidc/`,
//! 10 minutes); `GET /ui/oidc/callback` finishes the sign-in
//! ([`OidcSignIn::finish`](crate::service::oidc::OidcSignIn::finish)) and
//! opens a session for the principal bound to the person's subject. Every
//! success and failure is logged with the client's address and the
//! identity (never a secret, code or token).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::context;

use super::super::AppState;
use super::super::error::ApiError;
use super::{ClientAddr, UiError, render, see_other, session_cookie, session_cookie_header};
use crate::service::oidc::Callback;
use crate::service::session::SESSION_ABSOLUTE_MS;

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
        "{FLOW_COOKIE}={value}; Path=/ui/oidc/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| UiError(ApiError::Internal(e.into())))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn not_configured() -> UiError {
    UiError(ApiError::not_found(
        "this log has no identity provider configured: sign in with your project API key",
    ))
}

/// `GET /ui/oidc/start[?project=ID]`: to the identity provider.
pub async fn start(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let oidc = s.compliance.oidc().ok_or_else(not_configured)?;
    let project = q
        .get("project")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty() && p.len() <= 100);
    let begun = oidc.begin(s.compliance.now(), project).await.inspect_err(
        |e| tracing::warn!(client = %client, error = %e, "cockpit sign-in could not start"),
    )?;
    let mut resp = see_other(&begun.url);
    resp.headers_mut()
        .insert(header::SET_COOKIE, flow_cookie(&s, &begun.binding, 600)?);
    Ok(resp)
}

/// `GET /ui/oidc/callback?code=&state=`: the provider's answer; a
/// session, or the sign-in page with the reason.
pub async fn callback(
    State(s): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, UiError> {
    let oidc = s.compliance.oidc().ok_or_else(not_configured)?;
    let get = |k: &str| q.get(k).cloned();
    let answer = Callback {
        state: get("state"),
        code: get("code"),
        error: get("error"),
        iss: get("iss"),
    };
    let clear_flow = flow_cookie(&s, "", 0)?;
    let verified = oidc
        .finish(answer, cookie(&headers, FLOW_COOKIE), s.compliance.now())
        .await;
    let outcome = match verified {
        Ok(v) => match s
            .compliance
            .sign_in_identity(&v.idp, v.project.as_deref())
            .await
        {
            Ok(signed) => Ok((v.idp, signed)),
            Err(e) => Err((Some(v.idp), e)),
        },
        Err(e) => Err((None, e)),
    };
    match outcome {
        Ok((idp, signed)) => {
            // A new sign-in ends the browser's previous session.
            if let Some(previous) = session_cookie(&headers) {
                s.compliance.sign_out(previous).await?;
            }
            let p = &signed.session.principal;
            let project = p.project.clone().unwrap_or_default();
            tracing::info!(
                client = %client,
                issuer = %idp.issuer,
                subject = %idp.subject,
                principal = %p.id,
                project = %project,
                "cockpit sign-in (identity provider)"
            );
            let to = format!("/ui/p/{project}");
            // A page that moves on by itself rather than a redirect: the
            // session cookie is `SameSite=Strict`, and a browser does not
            // send it on a redirect chain that a cross-site navigation
            // (the provider's) started.
            let html = render(
                "continue.html",
                context! { to, user => p.name.clone(), provider => oidc.provider_name() },
            )?;
            let mut resp = Html(html).into_response();
            let h = resp.headers_mut();
            h.append(
                header::SET_COOKIE,
                session_cookie_header(&s, &signed.secret, SESSION_ABSOLUTE_MS / 1000)?,
            );
            h.append(header::SET_COOKIE, clear_flow);
            Ok(resp)
        }
        Err((idp, e)) => {
            let (status, message, report) = ApiError::from(e).parts();
            tracing::warn!(
                client = %client,
                issuer = idp.as_ref().map_or("", |i| i.issuer.as_str()),
                subject = idp.as_ref().map_or("", |i| i.subject.as_str()),
                status = status.as_u16(),
                reason = %report.as_deref().unwrap_or(&message),
                "cockpit sign-in refused (identity provider)"
            );
            let html = render(
                "signin.html",
                context! { error => message, oidc_provider => oidc.provider_name() },
            )?;
            let mut resp = (status, Html(html)).into_response();
            resp.headers_mut().append(header::SET_COOKIE, clear_flow);
            Ok(resp)
        }
    }
}
