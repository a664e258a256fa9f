//! The HTTP API: the public read API (checkpoint, tiles, proofs, entries,
//! proof pages), the authenticated write API, and key administration.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRef, FromRequestParts, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::json;
use tlog::{Hash, TILE_WIDTH, TilePath};

use crate::error::ApiError;
use crate::keys::{self, KeyRecord, Role};
use crate::log::{AppendError, LatestCheckpoint, Log};
use crate::page;

/// Largest page of `GET /v1/entries?start=&end=`.
pub const MAX_ENTRIES_PAGE: u64 = 256;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The log.
    pub log: Arc<Log>,
    /// The URL the log is reached at, for proof pages and `/v1/log`.
    pub public_url: String,
    /// Where checkpoints are published, if configured.
    pub publication: Option<String>,
    /// The compliance domain (gate, ledger, export).
    pub compliance: Arc<crate::compliance::Compliance>,
}

impl FromRef<AppState> for Arc<Log> {
    fn from_ref(s: &AppState) -> Self {
        s.log.clone()
    }
}

/// The authenticated caller (a valid, unrevoked Bearer API key).
pub struct Caller(pub KeyRecord);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Log>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let log = Arc::<Log>::from_ref(state);
        let header = parts
            .headers
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
        let record = keys::authenticate(&log.store, secret)?
            .ok_or(ApiError::Unauthorized("unknown or revoked API key"))?;
        Ok(Caller(record))
    }
}

impl Caller {
    /// Fails with 403 unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0.has(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this API key lacks the {} role",
                serde_json::to_value(role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )))
        }
    }
}

fn cache(value: &'static str) -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static(value))]
}

/// Query parameters, with a JSON 400 for malformed query strings.
pub fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(m)| m)
        .map_err(|e| ApiError::bad(format!("malformed query string: {}", e.body_text())))
}

fn parse_u64(q: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad(format!("{name} must be a non-negative integer, got {v:?}"))
            })
        })
        .transpose()
}

fn reject_unknown(q: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match q.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad(format!("unknown query parameter {k:?}"))),
        None => Ok(()),
    }
}

fn b64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_base64).collect()
}

/// `GET /checkpoint`
pub async fn get_checkpoint(State(s): State<AppState>) -> Response {
    let cp = s.log.checkpoint();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        cp.note.clone(),
    )
        .into_response()
}

/// `GET /tile/...`: tlog-tiles hash tiles and entry bundles.
pub async fn get_tile(
    State(s): State<AppState>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let parsed = tlog::parse_tile_path(&format!("tile/{path}"))
        .map_err(|e| ApiError::bad(format!("{e}")))?;
    let size = s.log.tree().size;
    let store = &s.log.store;
    let body = match parsed {
        TilePath::Tile(t) => {
            let available = size >> (u32::from(t.level) * 8);
            if t.index * TILE_WIDTH + u64::from(t.width) > available {
                return Err(ApiError::not_found(format!(
                    "tile {} is beyond the tree",
                    t.path()
                )));
            }
            store.hash_range(t.level * 8, t.index * TILE_WIDTH, u64::from(t.width))?
        }
        TilePath::Bundle(b) => {
            let start = b.first_entry();
            let end = start + u64::from(b.width);
            if end > size {
                return Err(ApiError::not_found(format!(
                    "entry bundle {} is beyond the tree",
                    b.path()
                )));
            }
            let entries = store.entries(start, end)?;
            tlog::encode_bundle(&entries)?
        }
    };
    // Every tile path names fixed content (a partial tile's width is in its
    // path), so both full and partial tiles are immutable.
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /v1/log`
pub async fn get_log(State(s): State<AppState>) -> Response {
    let cp = s.log.checkpoint();
    (
        cache("no-cache"),
        Json(json!({
            "origin": s.log.origin(),
            "verifier_key": s.log.verifier_key(),
            "tree_size": cp.tree_size,
            "checkpoint": cp.note,
            "publication": s.publication,
        })),
    )
        .into_response()
}

/// The checkpoint to prove against: the latest, or an older size given by
/// the caller (which must not be beyond it).
fn proof_size(
    s: &AppState,
    requested: Option<u64>,
) -> Result<(u64, Option<Arc<LatestCheckpoint>>), ApiError> {
    let cp = s.log.checkpoint();
    match requested {
        None => Ok((cp.tree_size, Some(cp))),
        Some(n) if n > cp.tree_size => Err(ApiError::not_found(format!(
            "tree size {n} is beyond the latest checkpoint (tree size {})",
            cp.tree_size
        ))),
        Some(n) => Ok((n, None)),
    }
}

/// `GET /v1/proof/inclusion?(index=I|leaf_hash=B64)[&tree_size=N]`
pub async fn get_inclusion(
    State(s): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    reject_unknown(&q, &["index", "leaf_hash", "tree_size"])?;
    let (tree_size, cp) = proof_size(&s, parse_u64(&q, "tree_size")?)?;
    let index = match (parse_u64(&q, "index")?, q.get("leaf_hash")) {
        (Some(i), None) => i,
        (None, Some(h)) => {
            let h = Hash::from_base64(h)
                .map_err(|_| ApiError::bad("leaf_hash must be 32 bytes of standard base64"))?;
            s.log.store.index_of(&h, tree_size)?.ok_or_else(|| {
                ApiError::not_found(format!(
                    "no leaf with hash {h} in the tree of size {tree_size}"
                ))
            })?
        }
        _ => return Err(ApiError::bad("give exactly one of index and leaf_hash")),
    };
    if index >= tree_size {
        return Err(ApiError::not_found(format!(
            "leaf index {index} is not in the tree of size {tree_size}"
        )));
    }
    let proof = tlog::prove_inclusion(index, tree_size, &*s.log.store)?;
    let mut body =
        json!({"leaf_index": index, "tree_size": tree_size, "proof": b64_hashes(&proof)});
    if let Some(cp) = cp {
        body["checkpoint"] = json!(cp.note);
    }
    Ok((cache("no-cache"), Json(body)).into_response())
}

/// `GET /v1/proof/consistency?first=M&second=N`
pub async fn get_consistency(
    State(s): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    reject_unknown(&q, &["first", "second"])?;
    let first = parse_u64(&q, "first")?.ok_or_else(|| ApiError::bad("first is required"))?;
    let (second, _) = proof_size(&s, parse_u64(&q, "second")?)?;
    if first > second {
        return Err(ApiError::bad(format!(
            "first ({first}) must not be larger than second ({second})"
        )));
    }
    let proof = tlog::prove_consistency(first, second, &*s.log.store)?;
    Ok((
        cache("public, max-age=31536000, immutable"),
        Json(json!({"first": first, "second": second, "proof": b64_hashes(&proof)})),
    )
        .into_response())
}

fn entry_json(index: u64, data: &[u8]) -> serde_json::Value {
    json!({
        "index": index,
        "entry": B64.encode(data),
        "leaf_hash": tlog::leaf_hash(data).to_base64(),
    })
}

fn parse_index(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad(format!("index must be a non-negative integer, got {raw:?}")))
}

/// `GET /v1/entries/{index}`
pub async fn get_entry(
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let index = parse_index(&raw)?;
    if index >= s.log.tree().size {
        return Err(ApiError::not_found(format!("no entry at index {index}")));
    }
    let data = s
        .log
        .store
        .entry(index)?
        .ok_or_else(|| ApiError::not_found(format!("no entry at index {index}")))?;
    Ok((
        cache("public, max-age=31536000, immutable"),
        Json(entry_json(index, &data)),
    )
        .into_response())
}

/// `GET /v1/entries?start=S&end=E` (end exclusive, at most 256 entries)
pub async fn get_entries(
    State(s): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    reject_unknown(&q, &["start", "end"])?;
    let start = parse_u64(&q, "start")?.ok_or_else(|| ApiError::bad("start is required"))?;
    let size = s.log.tree().size;
    let end = parse_u64(&q, "end")?.unwrap_or(start.saturating_add(MAX_ENTRIES_PAGE));
    if end < start {
        return Err(ApiError::bad(format!(
            "end ({end}) must not be smaller than start ({start})"
        )));
    }
    if start >= size && end > start {
        return Err(ApiError::not_found(format!(
            "start {start} is beyond the tree (size {size})"
        )));
    }
    let end = end.min(size).min(start.saturating_add(MAX_ENTRIES_PAGE));
    let entries = s.log.store.entries(start, end)?;
    let list: Vec<_> = entries
        .iter()
        .zip(start..)
        .map(|(e, i)| entry_json(i, e))
        .collect();
    Ok((cache("no-cache"), Json(json!({"entries": list}))).into_response())
}

/// `POST /v1/entries[?wait=checkpoint]` (roles `submitter` or `admin`)
pub async fn post_entry(
    State(s): State<AppState>,
    caller: Caller,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Submitter)?;
    let q = query(q)?;
    reject_unknown(&q, &["wait"])?;
    let wait = match q.get("wait").map(String::as_str) {
        None => false,
        Some("checkpoint") => true,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "wait must be \"checkpoint\", got {other:?}"
            )));
        }
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if ct.is_none_or(|ct| !ct.starts_with("application/octet-stream")) {
        return Err(ApiError::UnsupportedMediaType(
            "the entry must be sent as Content-Type: application/octet-stream".into(),
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!(
                "an entry is at most {} bytes",
                tlog::MAX_ENTRY_SIZE
            ))
        } else {
            ApiError::bad(format!("could not read the body: {}", e.body_text()))
        }
    })?;
    if body.len() > tlog::MAX_ENTRY_SIZE {
        return Err(ApiError::TooLarge(format!(
            "an entry is at most {} bytes",
            tlog::MAX_ENTRY_SIZE
        )));
    }
    let value = append_entry(&s.log, body.to_vec(), wait).await?;
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

/// Appends an entry and builds the write API's answer: `index`, `leaf_hash`
/// and, when `wait` is set, the covering `checkpoint` and inclusion `proof`.
pub async fn append_entry(
    log: &Log,
    data: Vec<u8>,
    wait: bool,
) -> Result<serde_json::Value, ApiError> {
    let (index, leaf) = log.append(data).await.map_err(append_error)?;
    let mut value = json!({"index": index, "leaf_hash": leaf.to_base64()});
    if wait {
        let (cp, proof) = inclusion_at_checkpoint(log, index).await?;
        value["checkpoint"] = json!(cp.note);
        value["tree_size"] = json!(cp.tree_size);
        value["proof"] = json!(b64_hashes(&proof));
    }
    Ok(value)
}

/// The HTTP error of a refused or failed append.
pub fn append_error(e: AppendError) -> ApiError {
    match e {
        AppendError::Pushback => ApiError::Overloaded,
        AppendError::Stopped | AppendError::Storage => ApiError::Unavailable,
    }
}

/// Waits for the first checkpoint that covers `index` and proves the entry's
/// inclusion in it.
pub async fn inclusion_at_checkpoint(
    log: &Log,
    index: u64,
) -> Result<(Arc<LatestCheckpoint>, Vec<Hash>), ApiError> {
    let cp = log
        .wait_for_checkpoint(index)
        .await
        .ok_or(ApiError::Unavailable)?;
    let proof = tlog::prove_inclusion(index, cp.tree_size, &*log.store)?;
    Ok((cp, proof))
}

/// `GET /entries/{index}`: the proof page, for people.
pub async fn get_entry_page(State(s): State<AppState>, Path(raw): Path<String>) -> Response {
    let result = (|| -> Result<String, ApiError> {
        let index = parse_index(&raw)?;
        let cp = s.log.checkpoint();
        let data = if index < s.log.tree().size {
            s.log.store.entry(index)?
        } else {
            None
        };
        let Some(data) = data else {
            return Err(ApiError::not_found(format!("no entry at index {index}")));
        };
        let proof = if index < cp.tree_size {
            Some(tlog::prove_inclusion(index, cp.tree_size, &*s.log.store)?)
        } else {
            None
        };
        Ok(page::entry_page(&page::EntryPage {
            public_url: &s.public_url,
            verifier_key: &s.log.verifier_key(),
            index,
            entry: &data,
            checkpoint: &cp,
            proof: proof.as_deref(),
        }))
    })();
    match result {
        Ok(html) => (cache("no-cache"), Html(html)).into_response(),
        Err(ApiError::Internal(e)) => ApiError::Internal(e).into_response(),
        Err(e) => {
            let status = e.into_response().status();
            (
                status,
                cache("no-store"),
                Html(page::error_page(status, &raw)),
            )
                .into_response()
        }
    }
}

/// `GET /healthz`
pub async fn healthz(State(s): State<AppState>) -> Response {
    (
        cache("no-store"),
        Json(json!({"status": "ok", "tree_size": s.log.tree().size})),
    )
        .into_response()
}

/// `GET /metrics`
pub async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        s.log.metrics.render(),
    )
        .into_response()
}

/// Body of `POST /v1/admin/keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
    role: Role,
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

/// `POST /v1/admin/keys` `{"name", "role"}` (admin)
pub async fn create_key(
    State(s): State<AppState>,
    caller: Caller,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let req = json_body(body)?;
    if req.name.trim().is_empty() || req.name.len() > 200 {
        return Err(ApiError::bad("name must be 1 to 200 characters"));
    }
    if !matches!(req.role, Role::Admin | Role::Submitter) {
        return Err(ApiError::bad(
            "log keys have role admin or submitter; project roles are given to project principals",
        ));
    }
    let (secret, record) = keys::create_key(
        &s.log.store,
        KeyRecord {
            id: String::new(),
            name: req.name,
            roles: vec![req.role],
            project: None,
            bot: false,
            created_at: String::new(),
            revoked_at: None,
        },
    )?;
    Ok((
        StatusCode::CREATED,
        cache("no-store"),
        Json(json!({"id": record.id, "api_key": secret, "name": record.name, "role": req.role, "created_at": record.created_at})),
    )
        .into_response())
}

/// `GET /v1/admin/keys` (admin)
pub async fn list_keys(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let keys = keys::list_keys(&s.log.store)?;
    Ok((cache("no-store"), Json(json!({"keys": keys}))).into_response())
}

/// `DELETE /v1/admin/keys/{id}` (admin)
pub async fn revoke_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    if id == caller.0.id {
        return Err(ApiError::Conflict("a key cannot revoke itself".into()));
    }
    let record = keys::revoke_key(&s.log.store, &id)?
        .ok_or_else(|| ApiError::not_found(format!("no key with id {id:?}")))?;
    Ok((cache("no-store"), Json(json!(record))).into_response())
}

/// Fallback: JSON 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see spec/http-api.md")
}
