//! Extractors and helpers shared by the handlers: the authenticated
//! caller, query parameters and JSON bodies with the API's errors.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use compliance::principal::{KeyRecord, Role};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest body of a cockpit form (they hold a few short fields): the
/// intake's limit for `/ui/` and `/share/`, and the CSRF layer's.
pub const FORM_BODY_LIMIT: u64 = 64 << 10;
use crate::service::export::ExportRequest;
use crate::storage::KeyStore;

/// The authenticated caller (a valid, unrevoked Bearer API key).
#[derive(Clone)]
pub struct Caller(pub KeyRecord);

/// The API key of the `Authorization: Bearer` header, checked: one point
/// read, inline (see `storage`, "Where blocking storage calls run").
///
/// # Errors
/// 401 for a missing or malformed header, an unknown or revoked key.
pub fn authenticate(headers: &HeaderMap, keys: &dyn KeyStore) -> Result<Caller, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "missing Authorization: Bearer <API key>",
        ))?;
    let secret = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(ApiError::Unauthorized(
            "Authorization must be Bearer <API key>",
        ))?;
    let record = crate::keys::authenticate(keys, secret)?
        .ok_or(ApiError::Unauthorized("unknown or revoked API key"))?;
    Ok(Caller(record))
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<dyn KeyStore>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Requests with a body were authenticated before it was read
        // (`intake`), which left the caller here.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        authenticate(&parts.headers, &*Arc::<dyn KeyStore>::from_ref(state))
    }
}

impl Caller {
    /// Fails with 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0.has(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this API key lacks the {role} role"
            )))
        }
    }
}

pub fn cache(value: &'static str) -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static(value))]
}

/// Query parameters, with a JSON 400 for malformed query strings.
pub fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(m)| m)
        .map_err(|e| ApiError::bad(format!("malformed query string: {}", e.body_text())))
}

pub fn parse_u64(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad(format!("{name} must be a non-negative integer, got {v:?}"))
            })
        })
        .transpose()
}

pub fn reject_unknown(q: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad(format!("unknown query parameter {k:?}"))),
        None => Ok(()),
    }
}

/// The query of a report over a period: `from` and `to` (inclusive UTC
/// days; `defaults` when absent, else the export's: the last 90 days),
/// `format` (json or markdown, unless `own_format`: then left in the
/// parameters for the route), and the `extra` parameters the route allows.
///
/// # Errors
/// A malformed query, an unknown parameter, a bad period (400).
pub fn period_query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    extra: &[&str],
    today: i64,
    defaults: (Option<&str>, Option<&str>),
    own_format: bool,
) -> Result<(ExportRequest, HashMap<String, String>), ApiError> {
    let q = query(q)?;
    let mut known = vec!["from", "to", "format"];
    known.extend_from_slice(extra);
    reject_unknown(&q, &known)?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let format = if own_format { None } else { get("format") };
    let req = ExportRequest::parse(
        get("from").or(defaults.0),
        get("to").or(defaults.1),
        format,
        today,
    )?;
    Ok((req, q))
}

/// Bodies up to this size are parsed on the async worker that received
/// them (64 KiB: tens of microseconds of CPU, less than a hand-off to the
/// blocking pool costs; a decision without documents is about 1 KiB).
const PARSE_INLINE_MAX: usize = 64 << 10;

/// A large JSON body (a decision's: up to 48 MiB, about a tenth of a second
/// of CPU to parse), parsed off the async workers so that the small
/// requests they serve meanwhile are not held up; with [`json_body`]'s
/// errors.
///
/// # Errors
/// As [`json_body`].
pub async fn json_body_off_workers<T>(headers: &HeaderMap, body: Bytes) -> Result<T, ApiError>
where
    T: DeserializeOwned + Send + 'static,
{
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !json {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be sent as Content-Type: application/json".into(),
        ));
    }
    if body.len() <= PARSE_INLINE_MAX {
        return json_body(Json::<T>::from_bytes(&body));
    }
    let parsed = tokio::task::spawn_blocking(move || Json::<T>::from_bytes(&body))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    json_body(parsed)
}

/// The body of a JSON request, with the API's errors for bad ones.
pub fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(|e| match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "the body must be sent as Content-Type: application/json".into(),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge("body too large".into())
        }
        other => ApiError::bad(other.body_text()),
    })
}

/// Whether the request sends a body at all (with a length or without).
pub fn has_body(req: &axum::extract::Request) -> bool {
    use axum::body::HttpBody as _;
    use axum::http::Method;
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !req.body().is_end_stream()
}

/// An answer given without reading the request's whole body: the
/// connection closes after it (`Connection: close`), so that the client
/// does not send its next request on a connection whose unread bytes the
/// server will not parse.
pub fn unread_body(mut resp: axum::response::Response) -> axum::response::Response {
    resp.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    resp
}
