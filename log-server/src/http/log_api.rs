//! The log's HTTP API: the public read API (checkpoint, tiles, proofs,
//! entries, proof pages) and the authenticated write API. Every read here
//! is bounded and runs inline (see `storage`, "Where blocking storage calls
//! run").

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use compliance::principal::Role;
use serde_json::json;
use tlog::{Hash, TILE_WIDTH, TilePath};

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, cache, parse_u64, query, reject_unknown};
use super::page;
use crate::log::{LatestCheckpoint, Log};

/// Largest page of `GET /v1/entries?start=&end=`.
pub const MAX_ENTRIES_PAGE: u64 = 256;

fn b64_hashes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_base64).collect()
}

/// `GET /checkpoint`
pub async fn get_checkpoint(State(s): State<AppState>) -> Result<Response, ApiError> {
    let cp = s.log.checkpoint()?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        cp.note.clone(),
    )
        .into_response())
}

/// `GET /tile/...`: tlog-tiles hash tiles and entry bundles.
pub async fn get_tile(
    State(s): State<AppState>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let parsed = tlog::parse_tile_path(&format!("tile/{path}"))
        .map_err(|e| ApiError::bad(format!("{e}")))?;
    let size = s.log.tree().size;
    let log = &s.log;
    let body = match parsed {
        TilePath::Tile(t) => {
            let available = size >> (u32::from(t.level) * 8);
            if t.index * TILE_WIDTH + u64::from(t.width) > available {
                return Err(ApiError::not_found(format!(
                    "tile {} is beyond the tree",
                    t.path()
                )));
            }
            log.hash_range(t.level * 8, t.index * TILE_WIDTH, u64::from(t.width))?
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
            let entries = log.entries(start, end)?;
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
    let cp = s.log.checkpoint().ok();
    let mut body = json!({
        "origin": s.log.origin(),
        "verifier_key": s.log.verifier_key(),
        "tree_size": cp.as_ref().map_or(0, |cp| cp.tree_size),
        "checkpoint": cp.as_ref().map(|cp| cp.note.clone()),
        "publication": s.site.publication,
    });
    if let Some(w) = s.log.witnessing() {
        body["witness_policy"] = json!(w.policy_text());
    }
    (cache("no-cache"), Json(body)).into_response()
}

/// The checkpoint to prove against: the latest, or an older size given by
/// the caller (which must not be beyond it).
fn proof_size(
    s: &AppState,
    requested: Option<u64>,
) -> Result<(u64, Option<Arc<LatestCheckpoint>>), ApiError> {
    let cp = s.log.checkpoint()?;
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
            s.log.index_of(&h, tree_size)?.ok_or_else(|| {
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
    let proof = s.log.prove_inclusion(index, tree_size)?;
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
    let proof = s.log.prove_consistency(first, second)?;
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
        .entry(index)?
        .ok_or_else(|| ApiError::not_found(format!("no entry at index {index}")))?;
    Ok((
        cache("public, max-age=31536000, immutable"),
        Json(entry_json(index, &data)),
    )
        .into_response())
}

/// `GET /v1/entries/{index}/proof.tlog-proof`: the entry's offline proof
/// (`c2sp.org/tlog-proof@v1`) against the checkpoint the log serves, with
/// its cosignatures when the log is witnessed.
pub async fn get_proof_file(
    State(s): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let index = parse_index(&raw)?;
    let cp = s.log.checkpoint()?;
    if index >= cp.tree_size {
        return Err(ApiError::not_found(format!(
            "no entry at index {index} under the latest checkpoint (tree size {})",
            cp.tree_size
        )));
    }
    let file = tlog::ProofFile {
        extra: None,
        index,
        inclusion_proof: s.log.prove_inclusion(index, cp.tree_size)?,
        checkpoint: cp.note.clone().into_bytes(),
    };
    let name: String = s
        .log
        .origin()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{name}-{index}.tlog-proof\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).map_err(|e| ApiError::Internal(e.into()))?,
            ),
        ],
        file.to_bytes(),
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
    let entries = s.log.entries(start, end)?;
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
    // Domain separation: a raw entry never reads as a record's envelope.
    if let Some(form) = compliance::record::envelope_like(&body) {
        return Err(ApiError::bad(format!(
            "the entry would be read as a compliance record's {form}: only the compliance \
             service writes those; entries that begin with \"stateanchor-envelope/\", and JSON \
             objects with the members v, type, project, id, time and digest, are refused \
             (spec/compliance.md, section 1)"
        )));
    }
    let value = append_entry(&s.log, body.to_vec(), wait).await?;
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

/// Appends an entry and builds the write API's answer: `index`, `leaf_hash`
/// and, when `wait` is set, the covering `checkpoint` and inclusion `proof`.
async fn append_entry(log: &Log, data: Vec<u8>, wait: bool) -> Result<serde_json::Value, ApiError> {
    let (index, leaf) = log.append(data).await?;
    let mut value = json!({"index": index, "leaf_hash": leaf.to_base64()});
    if wait {
        match log.inclusion_at_checkpoint(index).await {
            Ok((cp, proof)) => {
                value["checkpoint"] = json!(cp.note);
                value["tree_size"] = json!(cp.tree_size);
                value["proof"] = json!(b64_hashes(&proof));
            }
            // Appended, but no witnessed checkpoint covers it yet: say so
            // rather than fail a write that happened.
            Err(crate::Error::NotWitnessed) => {
                value["proof_pending"] = json!(crate::Error::NotWitnessed.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(value)
}

/// `GET /entries/{index}`: the proof page, for people.
pub async fn get_entry_page(State(s): State<AppState>, Path(raw): Path<String>) -> Response {
    let result = (|| -> Result<String, ApiError> {
        let index = parse_index(&raw)?;
        let cp = s.log.checkpoint()?;
        let data = if index < s.log.tree().size {
            s.log.entry(index)?
        } else {
            None
        };
        let Some(data) = data else {
            return Err(ApiError::not_found(format!("no entry at index {index}")));
        };
        let proof = if index < cp.tree_size {
            Some(s.log.prove_inclusion(index, cp.tree_size)?)
        } else {
            None
        };
        Ok(page::entry_page(&page::EntryPage {
            public_url: &s.site.public_url,
            verifier_key: &s.log.verifier_key(),
            index,
            entry: &data,
            checkpoint: &cp,
            proof: proof.as_deref(),
        }))
    })();
    match result {
        Ok(html) => (cache("no-cache"), page::security_headers(), Html(html)).into_response(),
        Err(ApiError::Internal(e)) => ApiError::Internal(e).into_response(),
        Err(e) => {
            // As the JSON API would answer, in HTML: its status, its
            // message, and Retry-After when the log asks to come back.
            let retry = matches!(e, ApiError::Overloaded | ApiError::NotWitnessed);
            let (status, message, _) = e.parts();
            let mut resp = (
                status,
                cache("no-store"),
                page::security_headers(),
                Html(page::error_page(status, &raw, &message)),
            )
                .into_response();
            if retry {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            resp
        }
    }
}

/// `GET /healthz`
pub async fn healthz(State(s): State<AppState>) -> Response {
    let mut body = json!({"status": "ok", "tree_size": s.log.tree().size});
    if let Some(w) = s.log.witnessing() {
        let served = s.log.checkpoint().ok().map(|cp| cp.tree_size);
        let signed = s.log.signed_checkpoint().tree_size;
        body["witnessing"] = json!({
            "witnessed_tree_size": served,
            "signed_tree_size": signed,
            "witnesses": w.health(),
        });
        if served.is_none() {
            body["status"] = json!("degraded");
        }
    }
    (cache("no-store"), Json(body)).into_response()
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

/// Fallback: JSON 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route; see spec/http-api.md")
}
