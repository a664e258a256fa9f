//! The HTTP layer: routes, extractors, handlers and the mapping of errors
//! to statuses. The only part of the server that names axum. Handlers
//! extract and check the request, call the log or the compliance service,
//! and shape the response; they never call storage.
//!
//! [`app`] builds the whole router over an [`AppState`], so tests drive it
//! in-process (`tower::ServiceExt::oneshot`) without a socket; [`serve`]
//! runs it on a listener until a shutdown future resolves.

mod admin;
mod compliance;
pub mod error;
mod export;
mod extract;
pub mod intake;
pub mod limit;
mod log_api;
mod monitor;
mod page;
pub mod ui;
pub mod witness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{delete, get, patch, post};
use tower_http::trace::TraceLayer;

use crate::log::Log;
use crate::metrics::Metrics;
use crate::service::Compliance;
use crate::service::export::Site;
use crate::storage::KeyStore;
use error::InternalErrorReport;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The log.
    pub log: Arc<Log>,
    /// The compliance service (projects, gate, ledger, export, key admin).
    pub compliance: Arc<Compliance>,
    /// API keys, to authenticate callers.
    pub keys: Arc<dyn KeyStore>,
    /// Where the log is reached and published.
    pub site: Site,
    /// The budget of request bytes in flight and the body-read deadline.
    pub intake: intake::Intake,
    /// Online backups (RocksDB mode only).
    pub backups: Option<Arc<crate::backup::Backups>>,
}

impl FromRef<AppState> for Arc<dyn KeyStore> {
    fn from_ref(s: &AppState) -> Self {
        s.keys.clone()
    }
}

/// Builds the router over `state`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/checkpoint", get(log_api::get_checkpoint))
        .route("/tile/{*path}", get(log_api::get_tile))
        .route("/v1/log", get(log_api::get_log))
        .route("/v1/proof/inclusion", get(log_api::get_inclusion))
        .route("/v1/proof/consistency", get(log_api::get_consistency))
        .route(
            "/v1/entries",
            post(log_api::post_entry).get(log_api::get_entries),
        )
        .route("/v1/entries/{index}", get(log_api::get_entry))
        .route(
            "/v1/entries/{index}/proof.tlog-proof",
            get(log_api::get_proof_file),
        )
        .route("/entries/{index}", get(log_api::get_entry_page))
        .route("/assets/verify.js", get(page::verify_js))
        .route("/assets/proof.css", get(page::proof_css))
        .route("/healthz", get(log_api::healthz))
        .route("/metrics", get(log_api::metrics))
        .route(
            "/v1/admin/keys",
            post(admin::create_key).get(admin::list_keys),
        )
        .route("/v1/admin/keys/{id}", delete(admin::revoke_key))
        .merge(compliance_routes())
        .merge(ui::routes(state.clone()))
        .fallback(log_api::not_found)
        // Bodies are read, under their route's limit and the budget of
        // bytes in flight, by `intake` alone.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            intake::intake,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), limit::limit))
        .layer(middleware::from_fn_with_state(
            state.log.metrics.clone(),
            observe,
        ))
        .layer(middleware::from_fn_with_state(
            state.site.public_url.starts_with("https://"),
            strict_transport,
        ))
        .layer(middleware::from_fn(deadline))
        // Spans name the route, not the path: a share link's secret (and
        // any other path parameter) stays out of the logs.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::debug_span!("request", method = %req.method(), route)
        }))
        .with_state(state)
}

/// How long a request may take in all (408 after it).
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// Answers 408 to a request that takes longer than [`REQUEST_DEADLINE`],
/// but for `POST /v1/admin/backup`: a backup takes as long as its files
/// take to copy, and answering 408 while it goes on would say that a
/// backup failed which is being made.
async fn deadline(req: Request, next: Next) -> Response {
    if req.uri().path() == "/v1/admin/backup" {
        return next.run(req).await;
    }
    tokio::time::timeout(REQUEST_DEADLINE, next.run(req))
        .await
        .unwrap_or_else(|_| StatusCode::REQUEST_TIMEOUT.into_response())
}

/// `Strict-Transport-Security` on every answer of a log served over https
/// (its public URL): browsers then never reach it over plain http.
async fn strict_transport(State(https): State<bool>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if https {
        resp.headers_mut().insert(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    resp
}

/// Routes of projects, the gate, the exception ledger and the export.
fn compliance_routes() -> Router<AppState> {
    use compliance as c;
    Router::new()
        .route(
            "/v1/admin/projects",
            post(admin::create_project).get(admin::list_projects),
        )
        .route("/v1/admin/projects/{project}", get(admin::get_project))
        .route(
            "/v1/admin/projects/{project}/settings",
            patch(admin::patch_settings),
        )
        .route(
            "/v1/admin/projects/{project}/settings/changes",
            get(admin::get_settings_changes),
        )
        .route(
            "/v1/admin/projects/{project}/settings/changes/{change}/approve",
            post(admin::post_approve_settings_change),
        )
        .route(
            "/v1/admin/projects/{project}/settings/changes/{change}/withdraw",
            post(admin::post_withdraw_settings_change),
        )
        .route(
            "/v1/admin/projects/{project}/principals",
            post(admin::create_principal).get(admin::list_principals),
        )
        .route(
            "/v1/admin/projects/{project}/principals/{principal}",
            patch(admin::patch_principal),
        )
        .route(
            "/api/projects/{project}/decisions",
            // Two OpenAPI documents of up to 16 MiB each, JSON-escaped
            // (`intake::DECISION_BODY_LIMIT`).
            post(c::post_decision),
        )
        .route("/api/projects/{project}/specs/{sha256}", get(c::get_spec))
        .route(
            "/api/projects/{project}/changelog",
            get(export::get_changelog),
        )
        .route(
            "/api/projects/{project}/anomalies",
            get(monitor::get_anomalies),
        )
        .route(
            "/api/projects/{project}/anomalies/{anomaly}/acknowledge",
            post(monitor::post_acknowledge),
        )
        .route("/api/projects/{project}/digest", get(monitor::get_digest))
        .route("/v1/admin/monitor/run", post(monitor::post_monitor_run))
        .route("/v1/admin/backup", post(admin::post_backup))
        .route(
            "/v1/admin/projects/{project}/alerts",
            get(monitor::get_alerts).put(monitor::put_alerts),
        )
        .route(
            "/v1/admin/projects/{project}/digest/send",
            post(monitor::post_digest_send),
        )
        .route(
            "/api/projects/{project}/decisions/{run}",
            get(c::get_decision),
        )
        .route(
            "/api/projects/{project}/exceptions",
            post(c::post_exception).get(c::list_exceptions),
        )
        .route(
            "/api/projects/{project}/exceptions/{exception}",
            get(c::get_exception),
        )
        .route(
            "/api/projects/{project}/exceptions/{exception}/signals",
            post(c::post_signal),
        )
        .route(
            "/api/projects/{project}/exceptions/{exception}/revoke",
            post(c::post_revoke),
        )
        .route(
            "/api/projects/{project}/compliance-export",
            get(export::get_export),
        )
}

/// Records request latency by route and logs internal errors (the log's
/// router and the witness's).
async fn observe(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    metrics.observe_request(
        &format!("{method} {route}"),
        resp.status().as_u16(),
        start.elapsed(),
    );
    if let Some(InternalErrorReport(e)) = resp.extensions().get::<InternalErrorReport>() {
        tracing::error!(%method, %route, error = %e, "internal error");
    }
    resp
}

/// Serves `state` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish.
///
/// # Errors
/// Accept and serve failures.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // With each connection's peer address (the rate limits, the cockpit's
    // sign-in log).
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
