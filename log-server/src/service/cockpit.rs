//! What the cockpit's pages show that the API does not already answer: the
//! protection summary of the overview, the runs list, and the runs and
//! ledger events of a period (the share view). The figures come from the
//! export's own [`SummaryBuilder`] (runs, blocked runs, verdict mix, P50 and
//! P95 approval latency by the nearest-rank method), so the cockpit and the
//! SOC 2 export never disagree.

use std::collections::VecDeque;

use compliance::export::{DecisionCounts, LatencySummary, SummaryBuilder};
use compliance::ledger::{ProjectRow, Status};
use compliance::principal::{Access, KeyRecord};
use compliance::record::{Record, RecordBody, RecordKind};
use compliance::time::{DAY_MS, format_time};
use serde::Serialize;

use super::{Compliance, blocking};
use crate::storage::RecordStore;
use crate::{Error, Result};

/// Most runs a list shows.
pub const MAX_LISTED_RUNS: usize = 500;
/// Runs on one page of the runs list.
pub const RUNS_PER_PAGE: usize = 50;
/// Records read at a time when paging back through a project's records.
const PAGE_SCAN: u64 = 512;

/// One page of a list, newest first, and the cursor of the next (older)
/// page if there is one.
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts (exclusive), if there are more.
    pub next: Option<String>,
}

/// The page of `items` (already in list order) that starts after the item
/// whose key is `after` (from the start if `None`), `limit` long.
///
/// # Errors
/// [`Error::Refused`] (400) for an `after` that names no item: a stale or
/// forged cursor is refused, never read as "from the start".
pub fn page_after<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<T>> {
    let start = match after {
        None => 0,
        Some(a) => {
            items
                .iter()
                .position(|i| key(i) == a)
                .ok_or_else(|| super::invalid(format!("no item {a:?} to list after")))?
                + 1
        }
    };
    let more = items.len() > start + limit;
    let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = if more {
        items.last().map(|i| key(i).to_owned())
    } else {
        None
    };
    Ok(Page { items, next })
}

/// The runs passing `filter` among the project's records before `before`
/// (a record's sequence number; the newest if `None`), newest first, at
/// most `limit`. The records are read backwards in steps of
/// [`PAGE_SCAN`], so a page costs the records it covers, not the
/// project's.
fn runs_page(
    records: &dyn RecordStore,
    project: &str,
    filter: &RunFilter,
    before: Option<u64>,
    limit: usize,
) -> Result<Page<RunRow>> {
    let after_last = records.last_record(project)?.map_or(1, |(seq, _)| seq + 1);
    let mut end = before.unwrap_or(after_last).min(after_last);
    let mut found: Vec<(u64, RunRow)> = Vec::new();
    while end > 1 && found.len() <= limit {
        let start = end.saturating_sub(PAGE_SCAN).max(1);
        let mut chunk = Vec::new();
        let mut seq = start;
        records.for_each_record(project, start..end, &mut |row| {
            let at = seq;
            seq += 1;
            if row.kind != RecordKind::GateDecision {
                return Ok(true);
            }
            let record = Record::from_slice(row.record)
                .map_err(|e| Error::Corrupt(format!("record {at} of {project}: {e}")))?;
            if record.seq.is_some_and(|s| s != at) {
                return Err(Error::Corrupt(format!(
                    "record {at} of {project} says it is record {:?}",
                    record.seq
                )));
            }
            if let Some(r) = run_row(&record)
                && filter.keeps(&r)
            {
                chunk.push((at, r));
            }
            Ok(true)
        })?;
        if seq != end {
            return Err(Error::Corrupt(format!(
                "records {start} to {} of {project} are not all there",
                end - 1
            )));
        }
        found.extend(chunk.into_iter().rev());
        end = start;
    }
    let next = (found.len() > limit).then(|| found[limit - 1].0.to_string());
    found.truncate(limit);
    Ok(Page {
        items: found.into_iter().map(|(_, r)| r).collect(),
        next,
    })
}
/// Most ledger events the share view shows.
pub const MAX_LISTED_EVENTS: usize = 2_000;

/// The protection summary over the last `days` days.
#[derive(Clone, Debug, Serialize)]
pub struct Window {
    /// Length of the window, days (today included).
    pub days: i64,
    /// Runs, blocked runs and the verdict mix.
    pub decisions: DecisionCounts,
    /// Approval latency over the window's activations.
    pub approval_latency: LatencySummary,
}

/// One run in a list.
#[derive(Clone, Debug, Serialize)]
pub struct RunRow {
    /// Run ID.
    pub run_id: String,
    /// Time (RFC 3339).
    pub time: String,
    /// Commit.
    pub commit_sha: String,
    /// Branch.
    pub branch: String,
    /// Commit author.
    pub author: String,
    /// `PASS`, `INFO`, `WARN` or `ERR`.
    pub verdict: String,
    /// Blocked or not.
    pub blocked: bool,
    /// Why it was blocked.
    pub blocked_reasons: Vec<String>,
    /// The exceptions applied.
    pub exceptions_applied: Vec<String>,
}

/// One ledger event in a list.
#[derive(Clone, Debug, Serialize)]
pub struct EventRow {
    /// Time (RFC 3339).
    pub time: String,
    /// Record type (`exception_requested`, ...).
    pub kind: String,
    /// The exception it is about.
    pub exception_id: String,
    /// Who acted, by name (empty for an expiry).
    pub who: String,
    /// What happened, in a few words.
    pub detail: String,
}

/// Filters of the runs list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Only this verdict.
    pub verdict: Option<String>,
    /// Only this branch (exact).
    pub branch: Option<String>,
    /// Only blocked (`Some(true)`) or only passed (`Some(false)`) runs.
    pub blocked: Option<bool>,
}

impl RunFilter {
    fn keeps(&self, r: &RunRow) -> bool {
        self.verdict.as_ref().is_none_or(|v| *v == r.verdict)
            && self.branch.as_ref().is_none_or(|b| *b == r.branch)
            && self.blocked.is_none_or(|b| b == r.blocked)
    }
}

/// The overview page's data.
#[derive(Clone, Debug, Serialize)]
pub struct Overview {
    /// The last 30 and 90 days.
    pub windows: Vec<Window>,
    /// Exceptions `ACTIVE` now.
    pub active_exceptions: usize,
    /// Exceptions waiting for a second signal (`ANERGIC`) now.
    pub waiting_exceptions: usize,
    /// The oldest waiting exception: its ID and filing time.
    pub oldest_waiting: Option<(String, String)>,
    /// The latest runs, newest first.
    pub recent_runs: Vec<RunRow>,
}

/// The runs and ledger events of a period.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeriodView {
    /// Runs, newest first (at most [`MAX_LISTED_RUNS`]).
    pub runs: Vec<RunRow>,
    /// Ledger events, newest first (at most [`MAX_LISTED_EVENTS`]).
    pub events: Vec<EventRow>,
    /// Whether older runs or events were left out.
    pub truncated: bool,
}

fn run_row(record: &Record) -> Option<RunRow> {
    let RecordBody::GateDecision(d) = &record.body else {
        return None;
    };
    Some(RunRow {
        run_id: record.id.clone(),
        time: record.time.clone(),
        commit_sha: d.commit_sha.clone(),
        branch: d.branch.clone(),
        author: d.author.clone(),
        verdict: d.verdict.clone(),
        blocked: d.blocked,
        blocked_reasons: d.blocked_reasons.clone(),
        exceptions_applied: d.exceptions_applied.clone(),
    })
}

fn event_row(record: &Record) -> Option<EventRow> {
    let (exception_id, who, detail) = match &record.body {
        RecordBody::ExceptionRequested(r) => (
            record.id.clone(),
            r.requested_by_name.clone(),
            format!(
                "filed for {} on {}, expires {}: {}",
                r.kind, r.endpoint, r.expires_at, r.reason
            ),
        ),
        RecordBody::ExceptionSignal(r) => (
            r.exception_id.clone(),
            r.approver_name.clone(),
            format!("second signal: {}", r.signal.as_str()),
        ),
        RecordBody::ExceptionActivated(r) => (
            r.exception_id.clone(),
            String::new(),
            format!("activated after {} ms", r.approval_latency_ms),
        ),
        RecordBody::ExceptionRevoked(r) => (
            r.exception_id.clone(),
            r.revoked_by_name.clone(),
            format!("revoked: {}", r.reason),
        ),
        RecordBody::ExceptionExpired(r) => (
            r.exception_id.clone(),
            String::new(),
            format!("expired at {} (was {})", r.expires_at, r.status_before),
        ),
        _ => return None,
    };
    Some(EventRow {
        time: record.time.clone(),
        kind: record.body.kind().as_str().to_owned(),
        exception_id,
        who,
        detail,
    })
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T, max: usize) -> bool {
    let dropped = list.len() == max;
    if dropped {
        list.pop_front();
    }
    list.push_back(item);
    dropped
}

/// The runs (filtered) and ledger events of `start..end` (ms), newest
/// first, bounded; memory does not grow with the period.
fn period_rows(
    records: &dyn RecordStore,
    project: &str,
    (start, end): (i64, i64),
    filter: &RunFilter,
    with_events: bool,
) -> Result<PeriodView> {
    let first = records.first_seq_at(project, start)?.unwrap_or(u64::MAX);
    let after = records.first_seq_at(project, end)?.unwrap_or(u64::MAX);
    let (mut runs, mut events) = (VecDeque::new(), VecDeque::new());
    let mut truncated = false;
    records.for_each_record(project, first..after, &mut |row| {
        let wanted = row.kind == RecordKind::GateDecision
            || (with_events
                && matches!(
                    row.kind,
                    RecordKind::ExceptionRequested
                        | RecordKind::ExceptionSignal
                        | RecordKind::ExceptionActivated
                        | RecordKind::ExceptionRevoked
                        | RecordKind::ExceptionExpired
                ));
        if !wanted {
            return Ok(true);
        }
        let record = Record::from_slice(row.record)
            .map_err(|e| Error::Corrupt(format!("a record of {project}: {e}")))?;
        if let Some(r) = run_row(&record) {
            if filter.keeps(&r) {
                truncated |= push_bounded(&mut runs, r, MAX_LISTED_RUNS);
            }
        } else if let Some(e) = event_row(&record) {
            truncated |= push_bounded(&mut events, e, MAX_LISTED_EVENTS);
        }
        Ok(true)
    })?;
    Ok(PeriodView {
        runs: runs.into_iter().rev().collect(),
        events: events.into_iter().rev().collect(),
        truncated,
    })
}

impl Compliance {
    /// The project's row (name, controls), for any principal of the project.
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn project_row(&self, caller: &KeyRecord, project: &str) -> Result<ProjectRow> {
        let p = self.project_for(caller, project, Access::Read).await?;
        Ok(p.lock().await.row.clone())
    }

    /// The overview: protection summary over the last 30 and 90 days,
    /// exceptions now, and the latest runs.
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn overview(&self, caller: &KeyRecord, project: &str) -> Result<Overview> {
        let p = self.project_for(caller, project, Access::Read).await?;
        let (now, active, waiting, oldest) = self
            .under_lock(&p, |ps, now| {
                let mut active = 0;
                let mut waiting: Vec<(i64, String)> = Vec::new();
                for e in ps.exceptions.values() {
                    match e.status_at(now) {
                        Status::Active => active += 1,
                        Status::Anergic => waiting.push((e.created_at, e.id.clone())),
                        _ => {}
                    }
                }
                waiting.sort();
                let oldest = waiting.first().map(|(t, id)| (id.clone(), format_time(*t)));
                Ok((now, active, waiting.len(), oldest))
            })
            .await?;
        let today = now.div_euclid(DAY_MS);
        let end = (today + 1) * DAY_MS;
        let (records, id) = (self.records.clone(), project.to_owned());
        let (windows, recent) = blocking(move || {
            let spans = [30_i64, 90];
            let mut builders: Vec<SummaryBuilder> = spans
                .iter()
                .map(|d| SummaryBuilder::new(&[], (today - d + 1) * DAY_MS..end))
                .collect();
            let start = (today - 89) * DAY_MS;
            let first = records.first_seq_at(&id, start)?.unwrap_or(u64::MAX);
            let after = records.first_seq_at(&id, end)?.unwrap_or(u64::MAX);
            let mut recent = VecDeque::new();
            records.for_each_record(&id, first..after, &mut |row| {
                let section = compliance::export::Section::ALL
                    .into_iter()
                    .any(|s| s.holds(row.kind.as_str()));
                if !section {
                    return Ok(true);
                }
                let value = row.value()?;
                let time = value
                    .get("time")
                    .and_then(serde_json::Value::as_str)
                    .and_then(compliance::time::parse_time)
                    .unwrap_or(start);
                for (b, d) in builders.iter_mut().zip(spans) {
                    if time >= (today - d + 1) * DAY_MS {
                        b.add(&value);
                    }
                }
                if row.kind == RecordKind::GateDecision
                    && let Some(r) = Record::from_slice(row.record)
                        .ok()
                        .as_ref()
                        .and_then(run_row)
                {
                    push_bounded(&mut recent, r, 10);
                }
                Ok(true)
            })?;
            let windows = builders
                .into_iter()
                .zip(spans)
                .map(|(b, days)| {
                    let s = b.finish();
                    Window {
                        days,
                        decisions: s.decisions,
                        approval_latency: s.approval_latency,
                    }
                })
                .collect::<Vec<_>>();
            Ok((windows, recent.into_iter().rev().collect::<Vec<_>>()))
        })
        .await?;
        Ok(Overview {
            windows,
            active_exceptions: active,
            waiting_exceptions: waiting,
            oldest_waiting: oldest,
            recent_runs: recent,
        })
    }

    /// A page of the runs that pass `filter`, newest first: those before
    /// record `before` (a cursor from the previous page's `next`), at most
    /// [`RUNS_PER_PAGE`]; any principal of the project.
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn runs(
        &self,
        caller: &KeyRecord,
        project: &str,
        filter: RunFilter,
        before: Option<u64>,
    ) -> Result<Page<RunRow>> {
        self.project_for(caller, project, Access::Read).await?;
        let (records, id) = (self.records.clone(), project.to_owned());
        blocking(move || runs_page(&*records, &id, &filter, before, RUNS_PER_PAGE)).await
    }

    /// The runs and ledger events of days `from..=to` (days since the
    /// epoch), for a share link that was checked by the caller.
    pub(crate) async fn period_view(
        &self,
        project: &str,
        from: i64,
        to: i64,
    ) -> Result<PeriodView> {
        let (records, id) = (self.records.clone(), project.to_owned());
        let span = (from * DAY_MS, (to + 1) * DAY_MS);
        blocking(move || period_rows(&*records, &id, span, &RunFilter::default(), true)).await
    }
}
