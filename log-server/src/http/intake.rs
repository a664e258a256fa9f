//! The intake of request bodies (`spec/http-api.md`, "Limits and the
//! budget of bytes in flight"): every request that sends a body passes
//! here before a handler sees it, in this order, and is refused at the
//! first step it fails:
//!
//! 1. a declared `Content-Length` over the route's limit: 413, unread;
//! 2. the caller: a valid API key (401 otherwise, unread); the cockpit's
//!    forms, whose sessions are checked by their handlers, share one
//!    bucket of the budget;
//! 3. the reservation in the [`Budget`]: the declared length times the
//!    route's factor (503 + `Retry-After` when the budget or the key's
//!    share has no room, unread); a body without a length reserves as it
//!    arrives;
//! 4. the body itself, within the body-read deadline (408) and the limit
//!    (413).
//!
//! The handler then runs on the whole body, and the reservation is held
//! until its response is produced: what the handler parsed from the body
//! counts while it lives. Nothing refused here reached a handler, so
//! nothing refused here was recorded.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use super::AppState;
use super::error::ApiError;
use super::extract::authenticate;
use crate::budget::{Budget, DEFAULT_KEY_SHARE_PERCENT, Reservation};
use crate::metrics::{Metrics, Refused};

/// Largest body of a decision: two documents of up to 16 MiB, with room for
/// their JSON escaping (a line break is two bytes).
pub const DECISION_BODY_LIMIT: u64 = 48 << 20;
pub use super::extract::FORM_BODY_LIMIT;
/// Largest body of every other route (exceptions, signals, settings, ...).
pub const DEFAULT_BODY_LIMIT: u64 = 1 << 20;
/// Default deadline for receiving a whole body.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Bytes a gate decision holds per byte of its body, at its peak, from
/// intake to its answer: the body, the two documents as strings and, while
/// classified, their parsed trees, indexes and the findings. Measured: one
/// decision of GitHub's GHES 3.17 and 3.19 descriptions (a 24.2 MB body)
/// raises the server's peak RSS by 180 MiB, 7.4 times the body
/// (`docs/benchmarks.md`, "Hostile load"); 8 rounds it up.
pub const DECISION_FACTOR: u64 = 8;
/// Bytes every other request holds per byte of its body: the body and what
/// it parses into.
pub const DEFAULT_FACTOR: u64 = 2;

/// The budget and the deadline every request body is read under.
#[derive(Clone)]
pub struct Intake {
    /// The budget of request bytes in flight.
    pub budget: Arc<Budget>,
    /// How long a client has to send a whole body.
    pub body_read_timeout: Duration,
    /// The rate limits (`super::limit`).
    pub limits: Arc<super::limit::Limits>,
}

impl Intake {
    /// This machine's default budget and share per key, and the default
    /// body-read deadline; the budget's gauges go to `metrics`.
    #[must_use]
    pub fn with_defaults(metrics: Arc<Metrics>) -> Self {
        Intake {
            budget: Arc::new(Budget::new(
                crate::budget::default_budget(),
                DEFAULT_KEY_SHARE_PERCENT,
                metrics,
            )),
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            limits: Arc::new(super::limit::Limits::new(
                super::limit::LimitConfig::default(),
            )),
        }
    }
}

/// Who a body is reserved for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bucket {
    /// The caller's API key (401 without one).
    ApiKey,
    /// The cockpit's forms: one shared bucket (their sessions, or the
    /// API key of the sign-in form, are checked by the handlers).
    Cockpit,
}

/// A route's rules for bodies.
#[derive(Clone, Copy)]
struct BodyPolicy {
    limit: u64,
    factor: u64,
    bucket: Bucket,
}

/// The rules of the route `path` (as matched, e.g. `/v1/entries`).
fn policy(path: &str) -> BodyPolicy {
    match path {
        "/api/projects/{project}/decisions" => BodyPolicy {
            limit: DECISION_BODY_LIMIT,
            factor: DECISION_FACTOR,
            bucket: Bucket::ApiKey,
        },
        "/v1/entries" => BodyPolicy {
            limit: tlog::MAX_ENTRY_SIZE as u64,
            factor: 1,
            bucket: Bucket::ApiKey,
        },
        p if p.starts_with("/ui/") || p.starts_with("/share/") => BodyPolicy {
            limit: FORM_BODY_LIMIT,
            factor: DEFAULT_FACTOR,
            bucket: Bucket::Cockpit,
        },
        _ => BodyPolicy {
            limit: DEFAULT_BODY_LIMIT,
            factor: DEFAULT_FACTOR,
            bucket: Bucket::ApiKey,
        },
    }
}

/// The body's declared length, if it has one: `Content-Length` in HTTP/1.1
/// and HTTP/2, as the HTTP parser read it (a malformed one is refused
/// before this runs).
fn declared_length(body: &Body) -> Option<u64> {
    body.size_hint().exact()
}

fn too_large(limit: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "request body too large: at most {limit} bytes on this route"
    ))
}

/// The middleware: the steps of the module's documentation.
pub async fn intake(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if !super::extract::has_body(&req) {
        return next.run(req).await;
    }
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        // No route: the fallback answers 404 without reading the body.
        return next.run(req).await;
    };
    let metrics = s.log.metrics.clone();
    let declared = declared_length(req.body()).is_some();
    match admit(&s, &path, req).await {
        Ok((req, reservation)) => {
            let resp = next.run(req).await;
            // The handler's parsed data is gone with its future: release.
            drop(reservation);
            resp
        }
        Err((reason, e)) => {
            metrics.refused(reason);
            // Refused before a byte of the body was read (its declared
            // length, the caller, the budget): the connection closes after
            // the answer. A body refused as it arrived was read up to
            // there, and hyper deals with the rest.
            let unread = match reason {
                Refused::Unauthenticated | Refused::Budget | Refused::KeyShare => true,
                Refused::TooLarge => declared,
                _ => false,
            };
            if unread {
                super::extract::unread_body(e.into_response())
            } else {
                e.into_response()
            }
        }
    }
}

/// Steps 1 to 4: the request with its whole body, and its reservation.
async fn admit(
    s: &AppState,
    path: &str,
    req: Request,
) -> Result<(Request, Reservation), (Refused, ApiError)> {
    let p = policy(path);
    let declared = declared_length(req.body());
    // 1. Refuse at once what will be refused anyway.
    if declared.is_some_and(|n| n > p.limit) {
        return Err((Refused::TooLarge, too_large(p.limit)));
    }
    // 2. The caller, before a byte of the body is read.
    let (mut parts, body) = req.into_parts();
    let key = match p.bucket {
        Bucket::ApiKey => {
            let caller = authenticate(&parts.headers, &*s.keys)
                .map_err(|e| (Refused::Unauthenticated, e))?;
            let key = format!("key:{}", caller.0.id);
            parts.extensions.insert(caller);
            key
        }
        Bucket::Cockpit => "cockpit".to_owned(),
    };
    // 3. The reservation: all of it now for a declared length.
    let budget = &s.intake.budget;
    let upfront = declared.unwrap_or(0).saturating_mul(p.factor);
    if !budget.can_ever_hold(upfront) {
        return Err((
            Refused::TooLarge,
            ApiError::TooLarge(format!(
                "the body needs {upfront} bytes of this server's budget of request bytes in flight, which lets one API key hold {}",
                budget.key_share()
            )),
        ));
    }
    let reservation = budget.reserve(&key, upfront).map_err(refusal)?;
    // 4. The body, within the deadline and the limit.
    let deadline = tokio::time::Instant::now() + s.intake.body_read_timeout;
    let bytes = tokio::time::timeout_at(
        deadline,
        read_body(body, p, declared.is_none(), &reservation),
    )
    .await
    .map_err(|_| {
        (
            Refused::BodyTimeout,
            ApiError::BodyTimeout(format!(
                "the request body was not received within {} s",
                s.intake.body_read_timeout.as_secs_f64()
            )),
        )
    })??;
    Ok((Request::from_parts(parts, Body::from(bytes)), reservation))
}

fn refusal(e: crate::Error) -> (Refused, ApiError) {
    let reason = match e {
        crate::Error::KeyShareSpent => Refused::KeyShare,
        _ => Refused::Budget,
    };
    (reason, e.into())
}

/// Reads the whole body under the route's limit; a body without a declared
/// length grows `reservation` as it arrives.
async fn read_body(
    body: Body,
    p: BodyPolicy,
    grow: bool,
    reservation: &Reservation,
) -> Result<Bytes, (Refused, ApiError)> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            (
                Refused::BadBody,
                ApiError::bad("the request body could not be read"),
            )
        })?;
        let len = chunk.len() as u64;
        if buf.len() as u64 + len > p.limit {
            return Err((Refused::TooLarge, too_large(p.limit)));
        }
        if grow {
            reservation
                .grow(len.saturating_mul(p.factor))
                .map_err(refusal)?;
        }
        if buf.is_empty() && buf.capacity() == 0 {
            // The declared length (under the limit), or this chunk's.
            let hint = usize::try_from(reservation.bytes() / p.factor).unwrap_or(0);
            buf.reserve_exact(hint.max(chunk.len()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}
