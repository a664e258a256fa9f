//! The compliance export (`spec/compliance.md`) in JSON and Markdown:
//! its model, and a renderer over a [`RecordSource`] (the store on the
//! server, the export file itself in the verifier). The output is a pure
//! function of its inputs; output goes to a `Write`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub use crate::record::SectionDigest;
use crate::record::{
    EXCEPTION_ACTIVATED, EXCEPTION_EXPIRED, EXCEPTION_REQUESTED, EXCEPTION_REVOKED,
    EXCEPTION_SIGNAL, GATE_DECISION, canonical,
};
use crate::time::parse_time;

/// The `format` of a compliance export.
pub const EXPORT_FORMAT: &str = "stateanchor-soc2-evidence/v1";

/// The two formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Line-structured JSON (`spec/compliance-export.schema.json`).
    Json,
    /// Markdown for people, with the same data in fenced blocks.
    Markdown,
}

impl ExportFormat {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Markdown => "md",
        }
    }
}

/// `stateanchor-soc2-evidence-{projectId}-{from}-{to}.{json|md}`.
pub fn export_file_name(project: &str, from: &str, to: &str, format: ExportFormat) -> String {
    format!(
        "stateanchor-soc2-evidence-{project}-{from}-{to}.{}",
        format.extension()
    )
}

/// A record section of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// A: change-management records (gate decisions).
    A,
    /// B: exception authorization records (every ledger event).
    B,
}

impl Section {
    /// Whether a record type belongs in this section.
    pub fn holds(self, kind: &str) -> bool {
        match self {
            Section::A => kind == GATE_DECISION,
            Section::B => matches!(
                kind,
                EXCEPTION_REQUESTED
                    | EXCEPTION_SIGNAL
                    | EXCEPTION_ACTIVATED
                    | EXCEPTION_REVOKED
                    | EXCEPTION_EXPIRED
            ),
        }
    }

    /// The section's key in the JSON export.
    pub fn json_key(self) -> &'static str {
        match self {
            Section::A => "section_a_change_management",
            Section::B => "section_b_exception_authorization",
        }
    }

    /// The info string of the section's record block in the Markdown export.
    pub fn md_block(self) -> &'static str {
        match self {
            Section::A => "stateanchor-records-a",
            Section::B => "stateanchor-records-b",
        }
    }
}

/// A principal of the project, as listed in section C.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalSummary {
    /// Principal (API key) ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Marked as a bot (or on the project's bot deny-list).
    pub bot: bool,
    /// GitHub login, for `github_review` signals.
    pub github_login: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
}

impl PrincipalSummary {
    /// A principal as listed in exports and by the admin API.
    #[must_use]
    pub fn of(p: &crate::principal::Principal, settings: &crate::ledger::ProjectSettings) -> Self {
        PrincipalSummary {
            id: p.key.id.clone(),
            name: p.key.name.clone(),
            roles: p.key.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            bot: settings.is_bot(&p.key),
            github_login: p.profile.github_login.clone(),
            created_at: p.key.created_at.clone(),
            revoked_at: p.key.revoked_at.clone(),
        }
    }
}

/// The context of an export. Its digest is in the export's own
/// `compliance_export` record, so none of it can change unseen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// Opaque project ID.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// First day of the period (UTC, inclusive).
    pub period_from: String,
    /// Last day of the period (UTC, inclusive).
    pub period_to: String,
    /// When the export was made (the `compliance_export` record's time).
    pub generated_at: String,
    /// Principal that requested it.
    pub generated_by: String,
    /// The log's origin.
    pub log_origin: String,
    /// The log's URL.
    pub log_url: String,
    /// Where checkpoints are published, if configured.
    pub publication: Option<String>,
    /// The project's bot deny-list when the export was made.
    pub bot_deny_list: Vec<String>,
    /// The project's maximum exception lifetime, seconds.
    pub max_exception_lifetime_seconds: u64,
    /// Every principal of the project (section C).
    pub principals: Vec<PrincipalSummary>,
}

/// A record with everything needed to verify it offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenRecord {
    /// The full, private record.
    pub record: Value,
    /// Its envelope (the log entry), as text.
    pub envelope: String,
    /// Its index in the log.
    pub log_index: u64,
    /// RFC 6962 leaf hash of the envelope, base64.
    pub leaf_hash: String,
    /// Inclusion proof to the export's checkpoint, base64 hashes.
    pub inclusion_proof: Vec<String>,
}

/// Section D: the checkpoint every proof leads to, and the export's own record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integrity {
    /// The signed checkpoint (note text).
    pub checkpoint: String,
    /// Its tree size.
    pub tree_size: u64,
    /// Its root hash, base64.
    pub root_hash: String,
    /// Where the log publishes its checkpoints, if configured.
    pub publication: Option<String>,
    /// The `compliance_export` record of this export, proven like the others.
    pub export_record: ProvenRecord,
}

/// Accumulates a [`SectionDigest`].
#[derive(Default)]
pub struct SectionHasher {
    count: u64,
    hasher: Sha256,
}

impl SectionHasher {
    /// Adds a record's leaf hash.
    pub fn add(&mut self, leaf_hash: &[u8; 32]) {
        self.count += 1;
        self.hasher.update(leaf_hash);
    }

    /// The result.
    pub fn finish(self) -> SectionDigest {
        let mut digest = String::from("sha256:");
        for b in self.hasher.finalize() {
            let _ = write!(digest, "{b:02x}");
        }
        SectionDigest {
            count: self.count,
            digest,
        }
    }
}

/// Counts of gate decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionCounts {
    /// Decisions.
    pub total: u64,
    /// Not blocked.
    pub passed: u64,
    /// Blocked.
    pub blocked: u64,
    /// Not blocked thanks to at least one exception.
    pub passed_with_exception: u64,
    /// By verdict (`PASS`, `INFO`, `WARN`, `ERR`).
    pub by_verdict: BTreeMap<String, u64>,
}

/// One exception seen in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionSummary {
    /// Exception ID.
    pub id: String,
    /// Change kind (if filed in the period).
    pub kind: Option<String>,
    /// Endpoint (if filed in the period).
    pub endpoint: Option<String>,
    /// Requester (if filed in the period).
    pub requested_by: Option<String>,
    /// Filed (if in the period).
    pub filed_at: Option<String>,
    /// Expiry (if filed in the period).
    pub expires_at: Option<String>,
    /// Principals whose signals were accepted.
    pub approvers: Vec<String>,
    /// Activated (if in the period).
    pub activated_at: Option<String>,
    /// Filing to activation, milliseconds.
    pub approval_latency_ms: Option<u64>,
    /// Revoked (if in the period).
    pub revoked_at: Option<String>,
    /// Expiry recorded (if in the period).
    pub expired_at: Option<String>,
    /// The state at the end of the period: after its last event, and
    /// `EXPIRED` if its expiry had passed by then.
    pub last_status: String,
}

/// What one principal did in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// Gate decisions submitted.
    pub decisions_submitted: u64,
    /// Exceptions filed.
    pub exceptions_requested: u64,
    /// Approval signals given.
    pub approvals: u64,
    /// Revocations.
    pub revocations: u64,
}

/// Approval latency over the period's activations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    /// Activations in the period.
    pub activations: u64,
    /// Median, milliseconds (nearest rank).
    pub p50_ms: Option<u64>,
    /// 95th percentile, milliseconds (nearest rank).
    pub p95_ms: Option<u64>,
    /// Longest, milliseconds.
    pub max_ms: Option<u64>,
}

/// Section C: derived from the records and the header, recomputed by the
/// verifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Principals (from the header).
    pub principals: Vec<PrincipalSummary>,
    /// What each principal did, by principal ID.
    pub activity: BTreeMap<String, Activity>,
    /// Gate decisions.
    pub decisions: DecisionCounts,
    /// Distinct committers (the decisions' commit authors) and their runs.
    pub committers: BTreeMap<String, u64>,
    /// Ledger events by record type.
    pub exception_events: BTreeMap<String, u64>,
    /// Exceptions with events in the period, by ID.
    pub exceptions: BTreeMap<String, ExceptionSummary>,
    /// Approval latency.
    pub approval_latency: LatencySummary,
}

/// The `p`-th percentile (0 < p <= 100) by the nearest-rank method.
pub fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Builds a [`Summary`] one record at a time; memory grows with the number
/// of principals and exceptions, never with the number of decisions.
#[derive(Default)]
pub struct SummaryBuilder {
    summary: Summary,
    latencies: Vec<u64>,
}

impl SummaryBuilder {
    /// Starts with the project's principals (those of the header).
    pub fn new(principals: &[PrincipalSummary]) -> Self {
        SummaryBuilder {
            summary: Summary {
                principals: principals.to_vec(),
                ..Summary::default()
            },
            latencies: Vec::new(),
        }
    }

    fn actor(&mut self, id: &str) -> &mut Activity {
        self.summary.activity.entry(id.to_owned()).or_default()
    }

    /// Adds one record.
    pub fn add(&mut self, record: &Value) {
        let kind = str_of(record, "type");
        let time = str_of(record, "time").to_owned();
        if kind == GATE_DECISION {
            let d = &mut self.summary.decisions;
            d.total += 1;
            let blocked = record
                .get("blocked")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            if blocked {
                d.blocked += 1;
            } else {
                d.passed += 1;
                let applied = record
                    .get("exceptions_applied")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty());
                if applied {
                    d.passed_with_exception += 1;
                }
            }
            *d.by_verdict
                .entry(str_of(record, "verdict").to_owned())
                .or_default() += 1;
            *self
                .summary
                .committers
                .entry(str_of(record, "author").to_owned())
                .or_default() += 1;
            let by = str_of(record, "submitted_by").to_owned();
            self.actor(&by).decisions_submitted += 1;
            return;
        }
        if !Section::B.holds(kind) {
            return;
        }
        *self
            .summary
            .exception_events
            .entry(kind.to_owned())
            .or_default() += 1;
        let exc_id = if kind == EXCEPTION_REQUESTED {
            str_of(record, "id")
        } else {
            str_of(record, "exception_id")
        }
        .to_owned();
        let mut latency = None;
        let mut actor: Option<String> = None;
        {
            let e = self
                .summary
                .exceptions
                .entry(exc_id.clone())
                .or_insert_with(|| ExceptionSummary {
                    id: exc_id.clone(),
                    ..ExceptionSummary::default()
                });
            match kind {
                EXCEPTION_REQUESTED => {
                    e.kind = Some(str_of(record, "kind").to_owned());
                    e.endpoint = Some(str_of(record, "endpoint").to_owned());
                    e.requested_by = Some(str_of(record, "requested_by").to_owned());
                    e.filed_at = Some(time);
                    e.expires_at = Some(str_of(record, "expires_at").to_owned());
                    e.last_status = "ANERGIC".into();
                    actor = Some(str_of(record, "requested_by").to_owned());
                }
                EXCEPTION_SIGNAL => {
                    let approver = str_of(record, "approver").to_owned();
                    e.approvers.push(approver.clone());
                    actor = Some(approver);
                }
                EXCEPTION_ACTIVATED => {
                    e.activated_at = Some(time);
                    let ms = record.get("approval_latency_ms").and_then(Value::as_u64);
                    e.approval_latency_ms = ms;
                    latency = ms;
                    e.last_status = "ACTIVE".into();
                }
                EXCEPTION_REVOKED => {
                    e.revoked_at = Some(time);
                    e.last_status = "REVOKED".into();
                    actor = Some(str_of(record, "revoked_by").to_owned());
                }
                _ => {
                    e.expired_at = Some(time);
                    e.last_status = "EXPIRED".into();
                }
            }
        }
        if let Some(ms) = latency {
            self.latencies.push(ms);
        }
        if let Some(id) = actor {
            let a = self.actor(&id);
            match kind {
                EXCEPTION_REQUESTED => a.exceptions_requested += 1,
                EXCEPTION_SIGNAL => a.approvals += 1,
                _ => a.revocations += 1,
            }
        }
    }

    /// The summary as of `period_end` (ms since the epoch, the first
    /// instant after the period): an exception still `ANERGIC` or `ACTIVE`
    /// after its last event but past its `expires_at` by then is `EXPIRED`
    /// at the end of the period, whether or not its expiry was recorded yet
    /// (expiry is checked at every use, and records are written lazily).
    pub fn finish(mut self, period_end: i64) -> Summary {
        for e in self.summary.exceptions.values_mut() {
            let expired = e
                .expires_at
                .as_deref()
                .and_then(parse_time)
                .is_some_and(|t| t < period_end);
            if expired && matches!(e.last_status.as_str(), "ANERGIC" | "ACTIVE") {
                e.last_status = "EXPIRED".into();
            }
        }
        self.latencies.sort_unstable();
        self.summary.approval_latency = LatencySummary {
            activations: self.latencies.len() as u64,
            p50_ms: percentile(&self.latencies, 50),
            p95_ms: percentile(&self.latencies, 95),
            max_ms: self.latencies.last().copied(),
        };
        self.summary
    }
}

/// Where the renderer reads records from: the store on the server, the
/// export file itself in the verifier. `for_each` may be called several
/// times per section; `with_proofs` false allows a source to skip building
/// proofs the caller will not print.
pub trait RecordSource {
    /// Calls `f` for every record of `section`, in export order.
    ///
    /// # Errors
    /// Storage or parse errors, and those of `f`.
    fn for_each(
        &mut self,
        section: Section,
        with_proofs: bool,
        f: &mut dyn FnMut(&ProvenRecord) -> io::Result<()>,
    ) -> io::Result<()>;
}

fn jcs_io(value: &impl Serialize) -> io::Result<Vec<u8>> {
    canonical(value).map_err(io::Error::other)
}

/// Everything an export is rendered from.
pub struct ExportParts<'a> {
    /// The header.
    pub header: &'a ExportHeader,
    /// Section C.
    pub summary: &'a Summary,
    /// Section D.
    pub integrity: &'a Integrity,
}

/// Renders an export. The output is a pure function of its inputs, so the
/// verifier renders it again from what it verified and compares every byte.
///
/// # Errors
/// Errors of the source and of `out`.
pub fn render(
    format: ExportFormat,
    parts: &ExportParts<'_>,
    records: &mut dyn RecordSource,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        ExportFormat::Json => render_json(parts, records, out),
        ExportFormat::Markdown => render_markdown(parts, records, out),
    }
}

/// JSON: one line per header, record and section, so that the file is both
/// standard JSON and readable record by record.
fn render_json(
    parts: &ExportParts<'_>,
    records: &mut dyn RecordSource,
    out: &mut dyn Write,
) -> io::Result<()> {
    write!(out, "{{\"format\":\"{EXPORT_FORMAT}\",\n\"header\":")?;
    out.write_all(&jcs_io(parts.header)?)?;
    out.write_all(b",\n")?;
    for section in [Section::A, Section::B] {
        write!(out, "\"{}\":[", section.json_key())?;
        let mut first = true;
        records.for_each(section, true, &mut |r| {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            out.write_all(&jcs_io(r)?)
        })?;
        out.write_all(b"\n],\n")?;
    }
    out.write_all(b"\"section_c_access_and_authorization\":")?;
    out.write_all(&jcs_io(parts.summary)?)?;
    out.write_all(b",\n\"section_d_audit_trail_integrity\":")?;
    out.write_all(&jcs_io(parts.integrity)?)?;
    out.write_all(b"}\n")
}

/// Escapes text for a Markdown table cell: no line breaks, no pipes, no
/// markup (so no line of a cell can open or close a fenced block). Underscores
/// stay as they are: IDs are full of them, and inside words they are not markup.
pub fn md_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            '|' | '\\' | '`' | '*' | '<' | '>' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn ms_text(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "–".to_owned(),
        |ms| {
            let s = ms / 1000;
            let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
            if h > 0 {
                format!("{h} h {m:02} min {sec:02} s")
            } else if m > 0 {
                format!("{m} min {sec:02} s")
            } else {
                format!("{sec}.{:03} s", ms % 1000)
            }
        },
    )
}

fn opt(v: Option<&String>) -> String {
    v.map_or_else(|| "–".to_owned(), |s| md_cell(s))
}

/// A record's log index, linked to its proof page on the log.
fn proof_link(log_url: &str, index: u64) -> String {
    format!(
        "[{index}]({}/entries/{index})",
        log_url.trim_end_matches('/')
    )
}

fn decision_row(r: &ProvenRecord, log_url: &str) -> String {
    let rec = &r.record;
    let list = |key: &str| {
        rec.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let findings: Vec<String> = list("findings")
        .iter()
        .map(|f| {
            format!(
                "{} {} on {}",
                str_of(f, "severity"),
                str_of(f, "kind"),
                str_of(f, "endpoint")
            )
        })
        .collect();
    let findings = if findings.is_empty() {
        "none".to_owned()
    } else {
        md_cell(&findings.join("; "))
    };
    let applied: Vec<String> = list("exceptions_applied")
        .iter()
        .filter_map(Value::as_str)
        .map(md_cell)
        .collect();
    let artifacts: Vec<String> = list("artifacts")
        .iter()
        .map(|a| format!("{} sha256:{}", str_of(a, "name"), str_of(a, "sha256")))
        .collect();
    let reasons: Vec<&str> = list("blocked_reasons")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let sha = str_of(rec, "commit_sha");
    let blocked = rec.get("blocked").and_then(Value::as_bool).unwrap_or(true);
    let none = || "–".to_owned();
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        md_cell(str_of(rec, "time")),
        md_cell(str_of(rec, "id")),
        md_cell(sha.get(..12).unwrap_or(sha)),
        md_cell(str_of(rec, "branch")),
        md_cell(str_of(rec, "author")),
        md_cell(str_of(rec, "verdict")),
        if blocked {
            format!("**blocked**: {}", md_cell(&reasons.join("; ")))
        } else {
            "no".to_owned()
        },
        findings,
        if applied.is_empty() {
            none()
        } else {
            applied.join(", ")
        },
        if artifacts.is_empty() {
            none()
        } else {
            md_cell(&artifacts.join("; "))
        },
        proof_link(log_url, r.log_index)
    )
}

fn event_row(r: &ProvenRecord, log_url: &str) -> String {
    let rec = &r.record;
    let kind = str_of(rec, "type");
    let (exc, event, by, details) = match kind {
        EXCEPTION_REQUESTED => (
            str_of(rec, "id"),
            "filed".to_owned(),
            str_of(rec, "requested_by"),
            format!(
                "{} on {}; expires {}; reason: {}",
                str_of(rec, "kind"),
                str_of(rec, "endpoint"),
                str_of(rec, "expires_at"),
                str_of(rec, "reason")
            ),
        ),
        EXCEPTION_SIGNAL => {
            let ev = rec.get("evidence").cloned().unwrap_or(Value::Null);
            let detail = match str_of(rec, "signal") {
                "consumer_test" => format!(
                    "test {} passed ({})",
                    str_of(&ev, "test_name"),
                    str_of(&ev, "run_url")
                ),
                "github_review" => format!(
                    "approved review {} by {} on {} pull request {}",
                    ev.get("review_id")
                        .map(Value::to_string)
                        .unwrap_or_default(),
                    str_of(&ev, "reviewer_login"),
                    str_of(&ev, "repository"),
                    ev.get("pull_request")
                        .map(Value::to_string)
                        .unwrap_or_default()
                ),
                _ => format!("approved: {}", str_of(&ev, "comment")),
            };
            (
                str_of(rec, "exception_id"),
                format!("signal: {}", str_of(rec, "signal")),
                str_of(rec, "approver"),
                detail,
            )
        }
        EXCEPTION_ACTIVATED => (
            str_of(rec, "exception_id"),
            "**activated**".to_owned(),
            str_of(rec, "approver"),
            format!(
                "approval latency {}",
                ms_text(rec.get("approval_latency_ms").and_then(Value::as_u64))
            ),
        ),
        EXCEPTION_REVOKED => (
            str_of(rec, "exception_id"),
            "**revoked**".to_owned(),
            str_of(rec, "revoked_by"),
            format!("reason: {}", str_of(rec, "reason")),
        ),
        _ => (
            str_of(rec, "exception_id"),
            "**expired**".to_owned(),
            "(server)",
            format!("expired at {}", str_of(rec, "expires_at")),
        ),
    };
    format!(
        "| {} | {} | {} | {} | {} | {} |\n",
        md_cell(str_of(rec, "time")),
        md_cell(exc),
        if event.starts_with("**") {
            event
        } else {
            md_cell(&event)
        },
        md_cell(by),
        md_cell(&details),
        proof_link(log_url, r.log_index)
    )
}

fn render_markdown(
    parts: &ExportParts<'_>,
    records: &mut dyn RecordSource,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (h, s, d) = (parts.header, parts.summary, parts.integrity);
    let mut t = String::new();
    let _ = writeln!(t, "# SOC 2 CC8.1 change-management evidence\n");
    let _ = writeln!(t, "| | |\n|---|---|");
    let _ = writeln!(
        t,
        "| Project | {} (`{}`) |",
        md_cell(&h.project_name),
        md_cell(&h.project_id)
    );
    let _ = writeln!(
        t,
        "| Period | {} to {} (UTC, both days included) |",
        md_cell(&h.period_from),
        md_cell(&h.period_to)
    );
    let _ = writeln!(
        t,
        "| Generated | {} by {} |",
        md_cell(&h.generated_at),
        md_cell(&h.generated_by)
    );
    let _ = writeln!(
        t,
        "| Log | {} at {} |",
        md_cell(&h.log_origin),
        md_cell(&h.log_url)
    );
    let _ = writeln!(
        t,
        "| Checkpoint | tree size {}, root hash {} |",
        d.tree_size,
        md_cell(&d.root_hash)
    );
    let _ = writeln!(
        t,
        "| Checkpoints published at | {} |",
        opt(d.publication.as_ref())
    );
    let _ = writeln!(
        t,
        "\nEvery record below is in the public log as an envelope that carries only \
its digest; section D proves each one. To check this file offline:\n\n\
```sh\nstateanchor-verify export <this file> --key '<the log's verifier key>'\n```\n"
    );
    let dc = &s.decisions;
    let _ = writeln!(t, "## A. Change-management records\n");
    let _ = writeln!(
        t,
        "{} gate decisions: {} passed ({} thanks to an exception), {} blocked.\n",
        dc.total, dc.passed, dc.passed_with_exception, dc.blocked
    );
    let _ = writeln!(
        t,
        "| Time (UTC) | Run | Commit | Branch | Author | Verdict | Blocked (why) | Findings (severity, change kind, endpoint) | Exceptions applied | Artifacts (SHA-256) | Log index |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    out.write_all(t.as_bytes())?;
    records.for_each(Section::A, false, &mut |r| {
        out.write_all(decision_row(r, &h.log_url).as_bytes())
    })?;
    let mut t = String::new();
    let events: u64 = s.exception_events.values().sum();
    let _ = writeln!(t, "\n## B. Exception authorization records\n");
    let _ = writeln!(
        t,
        "{events} ledger events for {} exceptions. An exception is filed by a codeowner, \
activates only on a second, independent signal, and ends when it expires or is revoked.\n",
        s.exceptions.len()
    );
    let _ = writeln!(
        t,
        "| Time (UTC) | Exception | Event | By | Details | Log index |\n|---|---|---|---|---|---|"
    );
    out.write_all(t.as_bytes())?;
    records.for_each(Section::B, false, &mut |r| {
        out.write_all(event_row(r, &h.log_url).as_bytes())
    })?;
    let mut t = String::new();
    let _ = writeln!(t, "\n## C. Access and authorization summary\n");
    let _ = writeln!(
        t,
        "Bot deny-list: {}. Longest exception lifetime allowed: {} days.\n",
        if h.bot_deny_list.is_empty() {
            "empty".to_owned()
        } else {
            h.bot_deny_list
                .iter()
                .map(|b| md_cell(b))
                .collect::<Vec<_>>()
                .join(", ")
        },
        h.max_exception_lifetime_seconds / 86_400
    );
    let _ = writeln!(
        t,
        "Distinct committers (commit authors of the period's runs): {}{}.\n",
        s.committers.len(),
        if s.committers.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                s.committers
                    .iter()
                    .map(|(a, n)| format!("{} ({n} runs)", md_cell(a)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let _ = writeln!(
        t,
        "| Principal | Name | Roles | Bot | GitHub login | Created | Revoked | Decisions | Exceptions filed | Approvals | Revocations |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for p in &s.principals {
        let a = s.activity.get(&p.id).cloned().unwrap_or_default();
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md_cell(&p.id),
            md_cell(&p.name),
            md_cell(&p.roles.join(", ")),
            if p.bot { "yes" } else { "no" },
            opt(p.github_login.as_ref()),
            md_cell(&p.created_at),
            opt(p.revoked_at.as_ref()),
            a.decisions_submitted,
            a.exceptions_requested,
            a.approvals,
            a.revocations
        );
    }
    let l = &s.approval_latency;
    let _ = writeln!(
        t,
        "\nApproval latency (filing to activation) over {} activations: P50 {}, **P95 {}**, max {}.\n",
        l.activations,
        ms_text(l.p50_ms),
        ms_text(l.p95_ms),
        ms_text(l.max_ms)
    );
    let _ = writeln!(
        t,
        "| Exception | Kind | Endpoint | Filed by | Filed | Approved by | Activated | Latency | Revoked | Expired | Last status |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for e in s.exceptions.values() {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md_cell(&e.id),
            opt(e.kind.as_ref()),
            opt(e.endpoint.as_ref()),
            opt(e.requested_by.as_ref()),
            opt(e.filed_at.as_ref()),
            if e.approvers.is_empty() {
                "–".to_owned()
            } else {
                md_cell(&e.approvers.join(", "))
            },
            opt(e.activated_at.as_ref()),
            ms_text(e.approval_latency_ms),
            opt(e.revoked_at.as_ref()),
            opt(e.expired_at.as_ref()),
            if e.last_status.is_empty() {
                "–".to_owned()
            } else {
                md_cell(&e.last_status)
            }
        );
    }
    let _ = writeln!(t, "\n## D. Audit-trail integrity\n");
    let _ = writeln!(
        t,
        "All gate decisions in this period are included in the public tamper-evident audit \
log at {}, independently verifiable without access to StateAnchor.\n",
        md_cell(&h.log_url)
    );
    let _ = writeln!(
        t,
        "- Checkpoint: tree size {}, root hash `{}`\n- Published at: {}\n- This export's own record: {}\n- Each record's proof page: {}/entries/N, N being its log index (linked from the tables above)\n",
        d.tree_size,
        d.root_hash,
        opt(d.publication.as_ref()),
        proof_link(&h.log_url, d.export_record.log_index),
        md_cell(h.log_url.trim_end_matches('/'))
    );
    let _ = writeln!(
        t,
        "Every record of sections A and B, and this export's own record, is proven below \
by its log index and an RFC 6962 inclusion proof to this checkpoint, signed by the log:\n"
    );
    let _ = writeln!(t, "```text\n{}```\n", d.checkpoint);
    let _ = writeln!(
        t,
        "The machine-readable data below is what `stateanchor-verify export` checks; \
the tables above are rendered from it, and the verifier renders them again and \
compares every byte.\n"
    );
    let _ = writeln!(t, "```stateanchor-export-header");
    out.write_all(t.as_bytes())?;
    out.write_all(&jcs_io(h)?)?;
    out.write_all(b"\n```\n\n```stateanchor-integrity\n")?;
    out.write_all(&jcs_io(d)?)?;
    out.write_all(b"\n```\n")?;
    for section in [Section::A, Section::B] {
        write!(out, "\n```{}\n", section.md_block())?;
        records.for_each(section, true, &mut |r| {
            out.write_all(&jcs_io(r)?)?;
            out.write_all(b"\n")
        })?;
        out.write_all(b"```\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&[], 95), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&v, 95), Some(19));
        assert_eq!(percentile(&v, 50), Some(10));
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(percentile(&v, 100), Some(100));
    }

    #[test]
    fn markdown_cells_cannot_break_the_table_or_open_a_fence() {
        assert_eq!(md_cell("a|b\n```x"), "a\\|b \\`\\`\\`x");
        assert_eq!(md_cell("GET /users/{id}"), "GET /users/{id}");
    }

    /// Pinned: an exception's status is as of the end of the period; one
    /// that expired on the period's last day, with its expiry recorded only
    /// later, is EXPIRED, not ACTIVE.
    #[test]
    fn exception_status_is_as_of_the_end_of_the_period() {
        let filed = serde_json::json!({"type": "exception_requested", "id": "exc_1", "project": "prj_1",
            "time": "2026-01-10T00:00:00Z", "requested_by": "key_a", "requested_by_name": "alice",
            "kind": "k", "endpoint": "GET /", "reason": "r", "expires_at": "2026-01-31T12:00:00Z"});
        let activated = serde_json::json!({"type": "exception_activated", "id": "evt_1", "project": "prj_1",
            "time": "2026-01-11T00:00:00Z", "exception_id": "exc_1", "signal_id": "evt_0",
            "approver": "key_b", "approval_latency_ms": 86_400_000});
        let status = |period_end: i64| {
            let mut b = SummaryBuilder::new(&[]);
            b.add(&filed);
            b.add(&activated);
            b.finish(period_end).exceptions["exc_1"].last_status.clone()
        };
        let feb_1 = crate::time::parse_time("2026-02-01T00:00:00Z").unwrap();
        let jan_31 = crate::time::parse_time("2026-01-31T00:00:00Z").unwrap();
        assert_eq!(status(feb_1), "EXPIRED", "January's export");
        assert_eq!(status(jan_31), "ACTIVE", "a period ending on the 30th");
    }
}
