//! The witness's HTTP API (C2SP tlog-witness): `POST <prefix>/add-checkpoint`,
//! plus `GET /healthz` and `GET /metrics`. Bodies are text, as the protocol
//! says; errors are one short `text/plain` line, never internals.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tlog::AddCheckpointError;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::error::InternalErrorReport;
use crate::metrics::Metrics;
use crate::witness::{MAX_BODY, Refusal, Witness};

/// Content type of a 409's body (tlog-witness).
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Shared state of the witness's handlers.
#[derive(Clone)]
pub struct WitnessApp {
    /// The witness.
    pub witness: Arc<Witness>,
    /// Request counts and latencies by route and status.
    pub metrics: Arc<Metrics>,
}

/// Builds the witness's router; `prefix` is the submission prefix (empty,
/// or a path starting with `/` and not ending with one).
pub fn app(state: WitnessApp, prefix: &str) -> Router {
    Router::new()
        .route(&format!("{prefix}/add-checkpoint"), post(add_checkpoint))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            super::observe,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Longest error message answered: a refusal may quote the request (an
/// unknown origin), which can be most of 64 KiB.
const MAX_MESSAGE: usize = 200;

/// A short `text/plain` answer: `msg` (cut to [`MAX_MESSAGE`] bytes) and a
/// newline.
fn text(status: StatusCode, msg: &str) -> Response {
    let mut end = msg.len().min(MAX_MESSAGE);
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    let msg = if end < msg.len() {
        format!("{}...", &msg[..end])
    } else {
        msg.to_owned()
    };
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        format!("{msg}\n"),
    )
        .into_response()
}

/// `POST <prefix>/add-checkpoint`
async fn add_checkpoint(
    State(s): State<WitnessApp>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::info!(outcome = "too_large", "add-checkpoint refused");
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is larger than {MAX_BODY} bytes"),
            );
        }
        Err(_) => return text(StatusCode::BAD_REQUEST, "could not read the request body"),
    };
    match s.witness.add_checkpoint(&body).await {
        Ok(c) => (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            tlog::cosignature_response(&[c.cosignature]),
        )
            .into_response(),
        // tlog-witness: a 409 answers the latest cosigned size, so that the
        // client can retry with the right old size.
        Err(Refusal::Check(AddCheckpointError::Conflict { latest_size, .. })) => (
            StatusCode::CONFLICT,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(SIZE_CONTENT_TYPE),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            format!("{latest_size}\n"),
        )
            .into_response(),
        Err(Refusal::Check(e)) => text(
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            &e.to_string(),
        ),
        Err(Refusal::Internal(e)) => {
            let mut resp = text(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            resp.extensions_mut()
                .insert(InternalErrorReport(format!("add-checkpoint: {e:#}")));
            resp
        }
    }
}

/// `GET /healthz`
async fn healthz() -> Response {
    text(StatusCode::OK, "ok")
}

/// `GET /metrics`: request counts and latencies by route and status (each
/// `add-checkpoint` outcome has its own status).
async fn metrics(State(s): State<WitnessApp>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        s.metrics.render_http(),
    )
        .into_response()
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "no such route")
}

/// Serves the witness on `listener` until `shutdown` resolves, then lets
/// the requests in flight finish.
///
/// # Errors
/// Accept and serve failures.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WitnessApp,
    prefix: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state, prefix))
        .with_graceful_shutdown(shutdown)
        .await
}
