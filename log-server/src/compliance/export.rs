//! `GET /api/projects/{projectId}/compliance-export`: the SOC 2 CC8.1
//! evidence of a period, streamed (see `spec/compliance.md`).
//!
//! 1. Record due expiries, and wait until every record queued so far for
//!    the project is committed.
//! 2. Find the period's records: a contiguous range of sequence numbers,
//!    because a project's record times never go backwards.
//! 3. First pass over the range: section C's summary and, per section, the
//!    count and digest of the records' leaf hashes.
//! 4. Log a `compliance_export` record holding the digests of the header
//!    and of both sections, and wait for the first checkpoint that covers
//!    it: every proof in the export leads to that checkpoint.
//! 5. Second pass (and for Markdown a third): render while reading, in
//!    64 KiB chunks through a bounded channel, so memory does not grow with
//!    the period.

use std::collections::HashMap;
use std::io::{self, Write};
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tlog::Hash;
use tokio::sync::mpsc;

use super::format::{
    self, COMPLIANCE_EXPORT, DAY_MS, ExportFormat, ExportHeader, ExportParts, Integrity,
    ProvenRecord, RecordSource, Section, SectionHasher, SummaryBuilder,
};
use super::{Access, Row, first_seq_at, now_ms, record_key, type_name};
use crate::api::{AppState, inclusion_at_checkpoint, query};
use crate::error::ApiError;
use crate::keys::random_id;
use crate::projects;
use crate::storage::{CF_RECORDS, Store};

/// Default period: the last 90 days, today included.
pub const DEFAULT_PERIOD_DAYS: i64 = 90;

fn scan_rows(
    store: &Store,
    project: &str,
    range: &Range<u64>,
    mut f: impl FnMut(Row<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if range.is_empty() {
        return Ok(());
    }
    store.for_each_in_range(
        CF_RECORDS,
        &record_key(project, range.start),
        &record_key(project, range.end),
        |_, v| {
            f(Row::decode(v)?)?;
            Ok(true)
        },
    )
}

fn in_section(section: Section, code: u8) -> bool {
    type_name(code).is_some_and(|k| section.holds(k))
}

/// The period's records read from the store, with proofs to one checkpoint.
struct DbRecords {
    store: Arc<Store>,
    project: String,
    range: Range<u64>,
    proofs: ProofReader,
}

/// Hashes for the export's many proofs to one tree size: the right edge of
/// that tree from its frontier (computed once, not once per proof); every
/// other hash from the store, which keeps the upper levels in memory and
/// reads the lower half of a proof as one tile row.
struct ProofReader {
    store: Arc<Store>,
    tree_size: u64,
    frontier: tlog::Frontier,
}

impl ProofReader {
    fn new(store: Arc<Store>, tree_size: u64) -> anyhow::Result<Self> {
        let frontier = tlog::Frontier::from_reader(tree_size, &*store)?;
        Ok(ProofReader {
            store,
            tree_size,
            frontier,
        })
    }
}

impl tlog::HashReader for ProofReader {
    fn read_hashes(&self, ids: &[tlog::NodeId]) -> Result<Vec<Hash>, tlog::Error> {
        self.store.read_hashes(ids)
    }

    fn range_hash(&self, lo: u64, hi: u64) -> Option<Hash> {
        self.frontier.range_hash(lo, hi)
    }
}

/// A record as an export holds it, with its inclusion proof to `tree_size`
/// (or none).
fn proven(proofs: &ProofReader, row: &Row<'_>, with_proof: bool) -> anyhow::Result<ProvenRecord> {
    let (store, tree_size) = (&proofs.store, proofs.tree_size);
    let leaf = tlog::leaf_hash(row.envelope);
    let index = store
        .index_of(&leaf, tree_size)?
        .with_context(|| format!("a record's envelope is not in the tree of size {tree_size}"))?;
    let proof = if with_proof {
        tlog::prove_inclusion(index, tree_size, proofs)?
    } else {
        Vec::new()
    };
    Ok(ProvenRecord {
        record: row.value()?,
        envelope: String::from_utf8(row.envelope.to_vec()).context("envelope is not UTF-8")?,
        log_index: index,
        leaf_hash: leaf.to_base64(),
        inclusion_proof: proof.iter().map(Hash::to_base64).collect(),
    })
}

impl RecordSource for DbRecords {
    fn for_each(
        &mut self,
        section: Section,
        with_proofs: bool,
        f: &mut dyn FnMut(&ProvenRecord) -> io::Result<()>,
    ) -> io::Result<()> {
        scan_rows(&self.store, &self.project, &self.range, |row| {
            if in_section(section, row.code) {
                f(&proven(&self.proofs, &row, with_proofs)?)?;
            }
            Ok(())
        })
        .map_err(io::Error::other)
    }
}

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

/// The period and format asked for.
struct Request {
    from: i64,
    to: i64,
    format: ExportFormat,
}

fn parse_request(q: &HashMap<String, String>, today: i64) -> Result<Request, ApiError> {
    if let Some(k) = q
        .keys()
        .find(|k| !["from", "to", "format"].contains(&k.as_str()))
    {
        return Err(ApiError::bad(format!("unknown query parameter {k:?}")));
    }
    let date = |name: &str| {
        q.get(name)
            .map(|v| {
                format::parse_date(v).ok_or_else(|| {
                    ApiError::bad(format!("{name} must be a date YYYY-MM-DD (UTC), got {v:?}"))
                })
            })
            .transpose()
    };
    let to = date("to")?.unwrap_or(today);
    let from = date("from")?.unwrap_or(to - (DEFAULT_PERIOD_DAYS - 1));
    if from > to {
        return Err(ApiError::bad(format!(
            "from ({}) must not be after to ({})",
            format::format_date(from),
            format::format_date(to)
        )));
    }
    let format = match q.get("format").map(String::as_str) {
        None | Some("json") => ExportFormat::Json,
        Some("markdown" | "md") => ExportFormat::Markdown,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "format must be json or markdown, got {other:?}"
            )));
        }
    };
    Ok(Request { from, to, format })
}

/// `GET /api/projects/{projectId}/compliance-export?from=YYYY-MM-DD&to=YYYY-MM-DD&format=json|markdown`
/// (roles `auditor` or `admin`).
pub async fn get_export(
    State(s): State<AppState>,
    caller: crate::api::Caller,
    Path(project): Path<String>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let c = s.compliance.clone();
    let p = c.project_for(&caller.0, &project, Access::Export).await?;
    let req = parse_request(&query(q)?, now_ms().div_euclid(DAY_MS))?;
    let (from, to) = (format::format_date(req.from), format::format_date(req.to));
    let store = c.store().clone();

    // 1. Expiries, then everything queued so far committed.
    let (upto, settled) =
        super::api::under_lock(&c, &p, |ps, _| Ok((ps.last_seq, ps.settled()))).await?;
    settled.await;

    // 2. The period's range of sequence numbers.
    let (start, end) = (req.from * DAY_MS, (req.to + 1) * DAY_MS);
    let first = first_seq_at(&store, &project, start)?.unwrap_or(u64::MAX);
    let after = first_seq_at(&store, &project, end)?.unwrap_or(u64::MAX);
    let range = first.min(upto + 1)..after.min(upto + 1);

    // 3. First pass: summary and section digests.
    let settings = p.lock().await.settings().clone();
    let principals = projects::summaries(&store, &project, &settings)?;
    let (summary, digest_a, digest_b) = {
        let (store, project, range, principals) = (
            store.clone(),
            project.clone(),
            range.clone(),
            principals.clone(),
        );
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let mut summary = SummaryBuilder::new(&principals);
            let (mut a, mut b) = (SectionHasher::default(), SectionHasher::default());
            scan_rows(&store, &project, &range, |row| {
                let hasher = if in_section(Section::A, row.code) {
                    &mut a
                } else if in_section(Section::B, row.code) {
                    &mut b
                } else {
                    return Ok(());
                };
                hasher.add(&tlog::leaf_hash(row.envelope).0);
                summary.add(&row.value()?);
                Ok(())
            })?;
            Ok((summary.finish(), a.finish(), b.finish()))
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))??
    };

    // 4. The export's own record, and the checkpoint that covers it.
    let (header, staged) = {
        let mut ps = p.lock().await;
        let now = ps.clock(now_ms());
        let header = ExportHeader {
            project_id: project.clone(),
            project_name: ps.row.name.clone(),
            period_from: from.clone(),
            period_to: to.clone(),
            generated_at: format::format_time(now),
            generated_by: caller.0.id.clone(),
            log_origin: c.log.origin().to_owned(),
            log_url: s.public_url.clone(),
            publication: s.publication.clone(),
            bot_deny_list: settings.bot_deny_list.clone(),
            max_exception_lifetime_seconds: settings.max_exception_lifetime_seconds,
            principals,
        };
        let header_digest = format::sha256_digest(
            &format::canonical(&header).map_err(|e| ApiError::Internal(e.into()))?,
        );
        let record = json!({
            "type": COMPLIANCE_EXPORT,
            "id": random_id("exp"),
            "requested_by": caller.0.id,
            "requested_by_name": caller.0.name,
            "period_from": from,
            "period_to": to,
            "header_digest": header_digest,
            "section_a": digest_a,
            "section_b": digest_b,
        });
        (header, c.stage(&mut ps, record, now)?)
    };
    let export_seq = staged.seq;
    let (_, index, _) = staged.wait().await?;
    let (cp, _) = inclusion_at_checkpoint(&c.log, index).await?;
    let export_row =
        super::read_row(&store, &project, export_seq)?.context("the export record is missing")?;
    let proofs = ProofReader::new(store.clone(), cp.tree_size)?;
    let export_record = proven(&proofs, &Row::decode(&export_row)?, true)?;
    let integrity = Integrity {
        checkpoint: cp.note.clone(),
        tree_size: cp.tree_size,
        root_hash: cp.root_hash.to_base64(),
        publication: s.publication.clone(),
        export_record,
    };

    // 5. Stream.
    let (tx, rx) = mpsc::channel(8);
    let mut source = DbRecords {
        store,
        project: project.clone(),
        range,
        proofs,
    };
    let fmt = req.format;
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let parts = ExportParts {
            header: &header,
            summary: &summary,
            integrity: &integrity,
        };
        let result = format::render(fmt, &parts, &mut source, &mut out).and_then(|()| out.flush());
        if let Err(e) = result
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            tracing::error!(error = %e, "streaming a compliance export failed");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let name = format::export_file_name(&project, &from, &to, fmt);
    let content_type = match fmt {
        ExportFormat::Json => "application/json",
        ExportFormat::Markdown => "text/markdown; charset=utf-8",
    };
    let mut resp = Body::from_stream(ChunkStream(rx)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            .map_err(|e| ApiError::Internal(e.into()))?,
    );
    Ok(resp)
}
