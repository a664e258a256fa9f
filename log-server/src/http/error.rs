//! HTTP errors: a fixed status and a JSON body `{"error", "code"}`.
//!
//! Internal errors answer a generic 500 and never leak details; the error is
//! attached to the response for the logging middleware to report.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{Error, error_chain};

/// An error answered to an HTTP client.
#[derive(Debug)]
pub enum ApiError {
    /// 400: malformed input.
    BadRequest(String),
    /// 401: no or unknown API key.
    Unauthorized(&'static str),
    /// 403: the key may not do this.
    Forbidden(String),
    /// 404: unknown entry, size beyond the tree, unknown record.
    NotFound(String),
    /// 409: the request conflicts with the current state.
    Conflict(String),
    /// 413: body too large.
    TooLarge(String),
    /// 415: wrong content type.
    UnsupportedMediaType(String),
    /// 502: a service we depend on (GitHub) failed.
    BadGateway(String),
    /// 503 with `Retry-After`: the sequencer pushes back.
    Overloaded,
    /// 503 with `Retry-After`: the budget of request bytes in flight (or
    /// the caller's share of it) has no room; the body was not read.
    Busy(String),
    /// 408: the body was not received within the body-read deadline.
    BodyTimeout(String),
    /// 429: over a rate limit (the limiter sets `Retry-After`).
    RateLimited(String),
    /// 503: the log is not accepting writes (shutting down or failed).
    Unavailable,
    /// 503 with `Retry-After`: no checkpoint has met the witness policy yet.
    NotWitnessed,
    /// 500: a failure of ours; details are logged, never sent.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

/// The internal error of a 500 response, for the logging middleware.
#[derive(Clone, Debug)]
pub struct InternalErrorReport(pub String);

impl ApiError {
    /// 400 with a message.
    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError::BadRequest(msg.into())
    }

    /// 404 with a message.
    pub fn not_found(msg: impl Into<String>) -> Self {
        ApiError::NotFound(msg.into())
    }
}

impl ApiError {
    /// The status, the message a client may see, and (for a 500) the
    /// internal error to log: the cockpit shows the same refusals as HTML.
    #[must_use]
    pub fn parts(self) -> (StatusCode, String, Option<String>) {
        match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m, None),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.to_owned(), None),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m, None),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m, None),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m, None),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m, None),
            ApiError::UnsupportedMediaType(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m, None),
            ApiError::BadGateway(m) => (StatusCode::BAD_GATEWAY, m, None),
            ApiError::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the log is busy; retry in a second".to_owned(),
                None,
            ),
            ApiError::Busy(m) => (StatusCode::SERVICE_UNAVAILABLE, m, None),
            ApiError::BodyTimeout(m) => (StatusCode::REQUEST_TIMEOUT, m, None),
            ApiError::RateLimited(m) => (StatusCode::TOO_MANY_REQUESTS, m, None),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the log is not accepting writes".to_owned(),
                None,
            ),
            ApiError::NotWitnessed => (
                StatusCode::SERVICE_UNAVAILABLE,
                Error::NotWitnessed.to_string(),
                None,
            ),
            ApiError::Internal(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_owned(),
                Some(error_chain(&*e)),
            ),
        }
    }
}

impl From<compliance::Error> for ApiError {
    fn from(e: compliance::Error) -> Self {
        use compliance::Error as E;
        match e {
            E::Invalid(m) => ApiError::BadRequest(m),
            E::Forbidden(m) => ApiError::Forbidden(m),
            E::Conflict(m) => ApiError::Conflict(m),
            E::NoProject { .. } => ApiError::NotFound(e.to_string()),
            // A record the server built itself that does not seal is ours.
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Refused(r) => r.into(),
            Error::NotFound(m) => ApiError::NotFound(m),
            Error::Pushback => ApiError::Overloaded,
            Error::BudgetSpent | Error::KeyShareSpent => ApiError::Busy(e.to_string()),
            Error::Stopped => ApiError::Unavailable,
            Error::NotWitnessed => ApiError::NotWitnessed,
            Error::GitHub(_) | Error::Mail(_) => ApiError::BadGateway(e.to_string()),
            // The details are logged where it failed; the browser is told
            // what to do.
            Error::IdentityProvider(_) => ApiError::BadGateway(
                "the identity provider could not be reached or did not answer as OpenID Connect requires; try again later, or ask a log admin to check the log's identity provider settings".to_owned(),
            ),
            Error::Backup(m) => ApiError::BadRequest(m),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<tlog::Error> for ApiError {
    fn from(e: tlog::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

/// `Retry-After` of a 503 from the budget of bytes in flight: the budget
/// drains as classifications finish (about a second each for the largest
/// documents); two seconds, plus the client's jitter, spread the retries of
/// a burst.
pub const BUDGET_RETRY_AFTER: &str = "2";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, msg, retry_after) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m, None),
            ApiError::Unauthorized(m) => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                m.to_owned(),
                None,
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m, None),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m, None),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m, None),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", m, None),
            ApiError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m,
                None,
            ),
            ApiError::BadGateway(m) => (StatusCode::BAD_GATEWAY, "bad_gateway", m, None),
            ApiError::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the log is busy; retry after the delay in Retry-After".to_owned(),
                Some("1"),
            ),
            ApiError::Busy(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                m,
                Some(BUDGET_RETRY_AFTER),
            ),
            ApiError::BodyTimeout(m) => (StatusCode::REQUEST_TIMEOUT, "body_timeout", m, None),
            ApiError::RateLimited(m) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", m, None),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the log is not accepting writes".to_owned(),
                None,
            ),
            ApiError::NotWitnessed => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not_witnessed",
                Error::NotWitnessed.to_string(),
                Some("1"),
            ),
            ApiError::Internal(e) => {
                let mut resp = (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(serde_json::json!({"error": "internal error", "code": "internal"})),
                )
                    .into_response();
                resp.extensions_mut()
                    .insert(InternalErrorReport(error_chain(&*e)));
                return resp;
            }
        };
        let mut resp = (
            status,
            Json(serde_json::json!({"error": msg, "code": code})),
        )
            .into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}
