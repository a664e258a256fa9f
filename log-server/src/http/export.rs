//! `GET /api/projects/{projectId}/compliance-export`: the SOC 2 CC8.1
//! evidence of a period, streamed in 64 KiB chunks through a bounded
//! channel while the service renders it off the async workers (see
//! `service::export`).

use std::collections::HashMap;
use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use compliance::export::ExportFormat;
use compliance::principal::Access;
use tokio::sync::mpsc;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, period_query};
use crate::service::changelog::{DEFAULT_CHANGELOG_RUNS, MAX_CHANGELOG_RUNS};
use crate::service::export::PreparedExport;

/// Sends the rendered export in 64 KiB chunks; fails once the client is gone.
struct ChunkWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 << 10;

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The receiving end as a body stream.
struct ChunkStream(mpsc::Receiver<io::Result<Bytes>>);

impl futures_core::Stream for ChunkStream {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// `GET /api/projects/{projectId}/changelog?from=YYYY-MM-DD&to=YYYY-MM-DD&format=json|markdown&limit=N`
/// (any role of the project): the runs that passed the gate, newest first.
pub async fn get_changelog(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    s.compliance
        .project_for(&caller.0, &project, Access::Read)
        .await?;
    let today = s.compliance.today();
    let (req, q) = period_query(q, &["limit"], today, (None, None), false)?;
    let limit = match q.get("limit").map(String::as_str) {
        None => DEFAULT_CHANGELOG_RUNS,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_CHANGELOG_RUNS).contains(n))
            .ok_or_else(|| {
                ApiError::from(crate::service::invalid(format!(
                    "limit must be 1 to {MAX_CHANGELOG_RUNS}, got {l:?}"
                )))
            })?,
    };
    let c = s
        .compliance
        .changelog(
            &caller.0,
            &project,
            (req.from, req.to),
            limit,
            &s.site.public_url,
        )
        .await?;
    Ok(match req.format {
        ExportFormat::Json => Json(c).into_response(),
        ExportFormat::Markdown => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            c.to_markdown(),
        )
            .into_response(),
    })
}

/// `GET /api/projects/{projectId}/compliance-export?from=YYYY-MM-DD&to=YYYY-MM-DD&format=json|markdown`
/// (roles `auditor` or `admin`).
pub async fn get_export(
    State(s): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    s.compliance
        .project_for(&caller.0, &project, Access::Export)
        .await?;
    let (req, _) = period_query(q, &[], s.compliance.today(), (None, None), false)?;
    let export = s
        .compliance
        .export(&caller.0, &project, req, &s.site)
        .await?;
    stream_export(export)
}

/// Streams a prepared export as an attachment under its documented file
/// name (the API's export and the cockpit's "Download evidence package").
pub(super) fn stream_export(export: PreparedExport) -> Result<Response, ApiError> {
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", export.file_name))
            .map_err(|e| ApiError::Internal(e.into()))?;
    let content_type = match export.format {
        ExportFormat::Json => "application/json",
        ExportFormat::Markdown => "text/markdown; charset=utf-8",
    };
    let (tx, rx) = mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = export.render(&mut out)
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            tracing::error!(error = %e, "streaming a compliance export failed");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let mut resp = Body::from_stream(ChunkStream(rx)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_DISPOSITION, disposition);
    Ok(resp)
}
