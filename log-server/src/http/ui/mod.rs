//! The project cockpit: server-rendered HTML pages for codeowners, admins
//! and auditors (`/ui/...`), and the read-only share view (`/share/...`).
//! See `spec/cockpit.md`.
//!
//! Every page calls the same [`Compliance`](crate::service::Compliance)
//! methods as the JSON API, with the signed-in principal as the caller:
//! the UI cannot do anything the principal's API key could not, and a
//! refusal shows the rule's own message.
//!
//! - **Sessions**: `POST /ui/signin` exchanges a project principal's API
//!   key for a random session secret in an `HttpOnly`, `SameSite=Strict`
//!   cookie (`Secure` when the public URL is https); the key is not kept
//!   by the browser (the sign-in form's field is `autocomplete=off` and the
//!   answer is a redirect).
//! - **CSRF**: one layer ([`guard_forms`]) checks every state-changing
//!   `/ui/` request before its handler: its `Origin` must be the log's
//!   public origin and its `Sec-Fetch-Site` not another site's, and every
//!   form but sign-in carries the session's token, compared in constant
//!   time.
//! - **Headers**: a Content-Security-Policy without inline scripts or
//!   styles (`script-src 'self'`, assets served by this server only),
//!   `X-Frame-Options: DENY`, `Referrer-Policy: same-origin` (share links
//!   carry their secret in the URL), `Cache-Control: no-store`.
//! - **Escaping**: templates are `.html`, so minijinja escapes every value.

mod oidc;
mod pages;
mod share;

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use serde::Serialize;

use super::AppState;
use super::error::{ApiError, InternalErrorReport};
use crate::service::session::{Session, same_token};

/// Name of the session cookie of a log served over plain http (local use,
/// tests).
pub const SESSION_COOKIE: &str = "sa_session";
/// Name of the session cookie of a log served over https: the `__Host-`
/// prefix makes browsers keep it only if it is `Secure`, for this host
/// alone (no `Domain`) and for every path, so that no other site (not even
/// a subdomain) can set one in its place.
pub const SECURE_SESSION_COOKIE: &str = "__Host-sa_session";

/// Whether the log is served over https (its public URL says so).
fn https(s: &AppState) -> bool {
    s.site.public_url.starts_with("https://")
}

/// The session cookie's name for this log.
fn cookie_name(s: &AppState) -> &'static str {
    if https(s) {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The Content-Security-Policy of every cockpit page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("signin.html", include_str!("templates/signin.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run.html", include_str!("templates/run.html")),
    ("exceptions.html", include_str!("templates/exceptions.html")),
    ("exception.html", include_str!("templates/exception.html")),
    ("settings.html", include_str!("templates/settings.html")),
    ("share.html", include_str!("templates/share.html")),
    ("error.html", include_str!("templates/error.html")),
    ("continue.html", include_str!("templates/continue.html")),
];

const CSS: &str = include_str!("assets/cockpit.css");
const JS: &str = include_str!("assets/cockpit.js");

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` templates: every value is HTML-escaped unless marked safe
        // (nothing is).
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a cockpit template does not compile");
            }
        }
        env
    })
}

/// Renders a template with `ctx`; a template error is an internal error.
fn render(name: &str, ctx: impl Serialize) -> Result<String, UiError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| UiError(ApiError::Internal(Box::new(e))))
}

/// An error shown as an HTML page with the API's status and message.
pub struct UiError(pub ApiError);

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        UiError(e)
    }
}

impl From<crate::Error> for UiError {
    fn from(e: crate::Error) -> Self {
        UiError(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, message, report) = self.0.parts();
        let html = render(
            "error.html",
            minijinja::context! { status => status.as_u16(), reason => status.canonical_reason(), message },
        )
        .unwrap_or_else(|_| "<!doctype html><title>error</title><p>error</p>".to_owned());
        let mut resp = (status, Html(html)).into_response();
        if let Some(r) = report {
            resp.extensions_mut().insert(InternalErrorReport(r));
        }
        resp
    }
}

/// The client's address (the TCP peer: behind a proxy, the proxy's), for
/// the sign-in log; `unknown` when the server was not started with it (a
/// router driven in process).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |c| c.0.to_string()),
        ))
    }
}

/// The signed-in principal's session (from the cookie), or a redirect to
/// the sign-in page.
pub struct UiSession(pub Session);

/// The session cookie's value in a request, if any (only the name this log
/// sets: over https, a cookie without the `__Host-` prefix is ignored).
fn session_cookie<'h>(s: &AppState, headers: &'h HeaderMap) -> Option<&'h str> {
    cookie_value(headers, cookie_name(s))
}

/// The value of the cookie `name` in a request, if it has a non-empty one.
pub(super) fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
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

impl FromRequestParts<AppState> for UiSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        // A form's session, found by the CSRF layer.
        if let Some(session) = parts.extensions.remove::<Session>() {
            return Ok(UiSession(session));
        }
        let session = match session_cookie(s, &parts.headers) {
            Some(secret) => s
                .compliance
                .session(secret)
                .await
                .map_err(|e| UiError::from(e).into_response())?,
            None => None,
        };
        session
            .map(UiSession)
            .ok_or_else(|| Redirect::to("/ui/signin").into_response())
    }
}

/// The origin (`scheme://host[:port]`, lowercase, without its scheme's
/// default port) of an http(s) URL or of an `Origin` header; `None` for
/// anything else (`null`, another scheme, user information, no host).
#[must_use]
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
}

/// Refuses a request sent from another site: by `Sec-Fetch-Site` (anything
/// but `same-origin` and `none`: a sibling subdomain is `same-site`, and
/// refused), and by its `Origin`, which must be the log's public origin
/// (scheme, host and port: `--public-url`), or, for a log started without
/// one, name the host the request was sent to. A request without either
/// header (not a browser's) still needs the session's token.
fn check_same_origin(s: &AppState, headers: &HeaderMap) -> Result<(), UiError> {
    let refused = || {
        tracing::info!(origin = ?headers.get(header::ORIGIN), host = ?headers.get(header::HOST), site = ?headers.get("sec-fetch-site"), "a cockpit form from another site was refused");
        UiError(ApiError::Forbidden(
            "this form was sent from another site; nothing was changed".into(),
        ))
    };
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| !matches!(v.as_bytes(), b"same-origin" | b"none"))
    {
        return Err(refused());
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let Some(origin) = origin.to_str().ok().and_then(origin_of) else {
        return Err(refused());
    };
    let same = match &s.site.form_origin {
        Some(public) => origin == *public,
        None => {
            // No public URL: the host the request was sent to, whatever
            // the scheme (a proxy may have ended TLS).
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .and_then(|h| origin_of(&format!("http://{h}")));
            let authority = |o: &str| o.split_once("://").map(|(_, a)| a.to_owned());
            host.is_some_and(|h| authority(&h) == authority(&origin))
        }
    };
    if same { Ok(()) } else { Err(refused()) }
}

/// The CSRF layer: every request to `/ui/` that is not a `GET` or `HEAD`
/// (each of them changes something) passes here before its handler, which
/// does not check again. It must come from this log's origin
/// ([`check_same_origin`]); all but the sign-in form need a live session
/// (a redirect to the sign-in page otherwise) and the session's token in
/// the form's `csrf` field, compared in constant time. The session found
/// here is handed to the handler ([`UiSession`]), which does not read it
/// again.
async fn guard_forms(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) || !req.uri().path().starts_with("/ui/")
    {
        return next.run(req).await;
    }
    if let Err(e) = check_same_origin(&s, req.headers()) {
        return e.into_response();
    }
    if req.uri().path() == "/ui/signin" {
        // No session yet: the origin is the check (and the cookie is
        // `SameSite=Strict`).
        return next.run(req).await;
    }
    let session = match session_cookie(&s, req.headers()) {
        Some(secret) => match s.compliance.session(secret).await {
            Ok(session) => session,
            Err(e) => return UiError::from(e).into_response(),
        },
        None => None,
    };
    let Some(session) = session else {
        return Redirect::to("/ui/signin").into_response();
    };
    let (mut parts, body) = req.into_parts();
    // The intake has read the body already, within the forms' limit.
    let limit = usize::try_from(super::extract::FORM_BODY_LIMIT).unwrap_or(usize::MAX);
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return UiError(ApiError::TooLarge(format!(
            "a cockpit form is at most {} bytes",
            super::extract::FORM_BODY_LIMIT
        )))
        .into_response();
    };
    let token_ok = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .is_some_and(|(_, v)| same_token(&v, &session.csrf));
    if !token_ok {
        return UiError(ApiError::Forbidden(
            "the form's security token is missing or out of date (CSRF check); reload the page and try again: nothing was changed"
                .into(),
        ))
        .into_response();
    }
    parts.extensions.insert(session);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The cookie that holds a session's secret (`max_age` 0 clears it).
fn session_cookie_header(s: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, UiError> {
    let secure = if https(s) { "; Secure" } else { "" };
    let name = cookie_name(s);
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| UiError(ApiError::Internal(e.into())))
}

/// Security headers of every cockpit answer.
async fn security_headers(req: Request, next: Next) -> Response {
    let share = req.uri().path().starts_with("/share/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if share {
        // A share view is for the people it was given to, not for search
        // engines (a link may leak into a crawled page).
        h.insert(
            HeaderName::from_static("x-robots-tag"),
            HeaderValue::from_static("noindex, nofollow"),
        );
    }
    resp
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        JS,
    )
        .into_response()
}

async fn root(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let session = match session_cookie(&s, &headers) {
        Some(c) => s.compliance.session(c).await.ok().flatten(),
        None => None,
    };
    match session.and_then(|s| s.principal.project) {
        Some(p) => Redirect::to(&format!("/ui/p/{p}")).into_response(),
        None => Redirect::to("/ui/signin").into_response(),
    }
}

/// The cockpit's routes: `/ui/...` and `/share/...`, with their headers.
pub fn routes(state: AppState) -> Router<AppState> {
    use pages as p;
    Router::new()
        .route("/ui", get(root))
        .route("/ui/", get(root))
        .route("/ui/assets/cockpit.css", get(css))
        .route("/ui/assets/cockpit.js", get(js))
        .route("/ui/signin", get(p::signin_page).post(p::signin))
        .route("/ui/signout", post(p::signout))
        .route("/ui/oidc/start", get(oidc::start))
        .route("/ui/oidc/callback", get(oidc::callback))
        .route("/ui/github/start", get(oidc::github_start))
        .route("/ui/github/callback", get(oidc::github_callback))
        .route("/ui/p/{project}", get(p::overview))
        .route("/ui/p/{project}/runs", get(p::runs))
        .route("/ui/p/{project}/runs/{run}", get(p::run))
        .route(
            "/ui/p/{project}/exceptions",
            get(p::exceptions).post(p::file_exception),
        )
        .route("/ui/p/{project}/exceptions/{exception}", get(p::exception))
        .route(
            "/ui/p/{project}/exceptions/{exception}/approve",
            post(p::approve),
        )
        .route(
            "/ui/p/{project}/exceptions/{exception}/revoke",
            post(p::revoke),
        )
        .route("/ui/p/{project}/settings", get(p::settings))
        .route("/ui/p/{project}/settings/controls", post(p::controls))
        .route(
            "/ui/p/{project}/settings/changes/{change}/{action}",
            post(p::settle_change),
        )
        .route("/ui/p/{project}/export", post(p::export))
        .route("/ui/p/{project}/sessions/end", post(p::end_sessions))
        .route("/ui/p/{project}/shares", post(share::create))
        .route("/ui/p/{project}/shares/{id}/revoke", post(share::revoke))
        .route("/share/{secret}", get(share::view))
        .layer(middleware::from_fn_with_state(state, guard_forms))
        .layer(middleware::from_fn(security_headers))
}

/// A 303 to `to` (after a form that changed something).
fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
        let html = render(
            "error.html",
            minijinja::context! { status => 400, reason => "Bad Request", message => "<script>x</script>" },
        )
        .map_err(|_| "render")
        .unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>x"));
        assert!(
            !html.contains("<script>\n") && !html.contains("<style>"),
            "no inline script or style"
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let o = |u: &str| origin_of(u);
        assert_eq!(
            o("https://Log.Example/ui/x?y#z").as_deref(),
            Some("https://log.example")
        );
        assert_eq!(
            o("https://log.example:443").as_deref(),
            Some("https://log.example")
        );
        assert_eq!(
            o("http://log.example:80/").as_deref(),
            Some("http://log.example")
        );
        assert_eq!(
            o("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            o("https://[::1]:8443").as_deref(),
            Some("https://[::1]:8443")
        );
        assert_ne!(o("https://log.example:8443"), o("https://log.example"));
        assert_ne!(o("http://log.example"), o("https://log.example"));
        for bad in [
            "null",
            "",
            "log.example",
            "ftp://log.example",
            "https://",
            "https://a@log.example",
        ] {
            assert_eq!(o(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sa_session=sas_x; b=2"),
        );
        assert_eq!(cookie_value(&h, SESSION_COOKIE), Some("sas_x"));
        assert_eq!(cookie_value(&h, SECURE_SESSION_COOKIE), None);
        h.insert(header::COOKIE, HeaderValue::from_static("sa_session="));
        assert_eq!(cookie_value(&h, SESSION_COOKIE), None);
    }
}
