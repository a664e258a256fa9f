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

use crate::Error;
pub use crate::record::SectionDigest;
use crate::record::{
    ANOMALY_ACKNOWLEDGED, ANOMALY_DETECTED, EXCEPTION_ACTIVATED, EXCEPTION_EXPIRED,
    EXCEPTION_REQUESTED, EXCEPTION_REVOKED, EXCEPTION_SIGNAL, GATE_DECISION, MONITOR_RUN,
    PROJECT_SETTINGS_CHANGED, ProjectSettings, SETTINGS_CHANGE_APPROVED, SETTINGS_CHANGE_PROPOSED,
    SETTINGS_CHANGE_WITHDRAWN, canonical,
};
use crate::time::parse_time;

/// The `format` of a compliance export.
pub const EXPORT_FORMAT: &str = "stateanchor-soc2-evidence/v2";

/// The format of the exports made before chains (no `chain` in the header
/// or section D): the verifier names it and asks for a new export.
pub const EXPORT_FORMAT_V1: &str = "stateanchor-soc2-evidence/v1";

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
    /// B: exception authorization records (every ledger event of the
    /// period, and the earlier events of the exceptions open during it).
    B,
    /// C: changes of the project's controls (`project_settings_changed`),
    /// and monitoring (`monitor_run`, `anomaly_detected`, `anomaly_acknowledged`).
    C,
}

impl Section {
    /// The record sections, in export order.
    pub const ALL: [Section; 3] = [Section::A, Section::B, Section::C];

    /// `A`, `B` or `C`.
    #[must_use]
    pub fn letter(self) -> &'static str {
        match self {
            Section::A => "A",
            Section::B => "B",
            Section::C => "C",
        }
    }

    /// The field of the `compliance_export` record holding its digest.
    #[must_use]
    pub fn digest_field(self) -> &'static str {
        match self {
            Section::A => "section_a",
            Section::B => "section_b",
            Section::C => "section_c",
        }
    }
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
            Section::C => matches!(
                kind,
                PROJECT_SETTINGS_CHANGED
                    | MONITOR_RUN
                    | ANOMALY_DETECTED
                    | ANOMALY_ACKNOWLEDGED
                    | SETTINGS_CHANGE_PROPOSED
                    | SETTINGS_CHANGE_APPROVED
                    | SETTINGS_CHANGE_WITHDRAWN
            ),
        }
    }

    /// The section's key in the JSON export.
    pub fn json_key(self) -> &'static str {
        match self {
            Section::A => "section_a_change_management",
            Section::B => "section_b_exception_authorization",
            Section::C => "section_c_control_changes",
        }
    }

    /// The info string of the section's record block in the Markdown export.
    pub fn md_block(self) -> &'static str {
        match self {
            Section::A => "stateanchor-records-a",
            Section::B => "stateanchor-records-b",
            Section::C => "stateanchor-records-c",
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
    /// GitHub numeric user ID, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_id: Option<u64>,
    /// Identity provider subject, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<crate::principal::IdpSubject>,
    /// The e-mail address that binds the subject at the first sign-in,
    /// if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Its roles follow the identity provider's groups (the project's
    /// `idp_groups`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roles_from_idp_groups: bool,
}

impl PrincipalSummary {
    /// A principal as listed in exports and by the admin API.
    #[must_use]
    pub fn of(p: &crate::principal::Principal, settings: &crate::ledger::ProjectSettings) -> Self {
        PrincipalSummary {
            id: p.key.id.clone(),
            name: p.key.name.clone(),
            roles: p.key.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            bot: settings.is_bot_principal(&p.key, &p.profile),
            github_login: p.profile.github_login.clone(),
            created_at: p.key.created_at.clone(),
            revoked_at: p.key.revoked_at.clone(),
            github_id: p.profile.github_id,
            idp: p.profile.idp.clone(),
            email: p.profile.email.clone(),
            roles_from_idp_groups: p.profile.roles_from_idp_groups,
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
    /// When the project was created (RFC 3339).
    pub project_created_at: String,
    /// The project's controls when the export was made (their changes in
    /// the period are the records of section C).
    pub settings: ProjectSettings,
    /// Every principal of the project (section C).
    pub principals: Vec<PrincipalSummary>,
    /// Where the period lies in the project's chain of records.
    pub chain: ChainClaim,
}

/// What an export states about its project's chain of records
/// (`spec/compliance.md` §1 and §5): part of the header, so the export
/// record's header digest commits to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainClaim {
    /// Sequence number of the period's first chained record (`None`: the
    /// period has none).
    pub first_seq: Option<u64>,
    /// Sequence number of the period's last chained record.
    pub last_seq: Option<u64>,
    /// The project's chain head at the period's end: its last record dated
    /// before the end, among those committed when the export began
    /// (`None` if its chain had not started by then).
    pub head: Option<ChainHead>,
    /// Records of the period written before the project's chain started
    /// (no `seq`): the chain does not prove their completeness.
    pub legacy_records: u64,
    /// When the export fixed the period's records (RFC 3339): the
    /// project's records made later are not in it, and are dated at or
    /// after this time.
    pub as_of: String,
}

/// A record of a chain by its sequence number and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainHead {
    /// Its sequence number.
    pub seq: u64,
    /// Its digest, `sha256:<hex>`.
    pub digest: String,
}

/// A log entry with its proof, without its record: the envelope alone
/// gives the record's type, sequence number, time and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenEnvelope {
    /// The envelope (the log entry), as text.
    pub envelope: String,
    /// Its index in the log.
    pub log_index: u64,
    /// RFC 6962 leaf hash of the envelope, base64.
    pub leaf_hash: String,
    /// Inclusion proof to the export's checkpoint, base64 hashes.
    pub inclusion_proof: Vec<String>,
}

/// Section D's proof that the period's records are complete: its
/// boundaries in the chain, and the period's records of no section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainProof {
    /// The project's record just before the period's first one (or, for a
    /// period without records, its chain head), dated before the period;
    /// `None` when the period starts with the project's first record.
    pub before: Option<ProvenEnvelope>,
    /// The project's record just after the head: dated after the period,
    /// or at or after `as_of` when the period was not over (it may be this
    /// export's own record).
    pub after: Option<ProvenEnvelope>,
    /// The period's records that belong to no section (earlier exports,
    /// share links, the start of the chain), in log order.
    pub records: Vec<ProvenRecord>,
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
    /// The period's boundaries in the project's chain.
    pub chain: ChainProof,
    /// The project's principal records (`principal_added`,
    /// `principal_changed`, `principal_revoked`) committed before `as_of`
    /// that are not of the period (those are in `chain.records`), in log
    /// order: with them, who acted in the period is checked against the
    /// principals the log shows, not against a list the server wrote.
    #[serde(default)]
    pub principals: Vec<ProvenRecord>,
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
    /// Classified by the log's gate engine from the documents CI sent.
    pub classified_by_server: u64,
    /// Whose findings CI supplied.
    pub findings_from_ci: u64,
    /// By verdict (`PASS`, `INFO`, `WARN`, `ERR`).
    pub by_verdict: BTreeMap<String, u64>,
}

/// One exception of section B: filed, open, or changed during the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionSummary {
    /// Exception ID.
    pub id: String,
    /// Change kind.
    pub kind: String,
    /// Endpoint.
    pub endpoint: String,
    /// Requester's principal ID.
    pub requested_by: String,
    /// Requester's name.
    pub requested_by_name: String,
    /// The justification given at filing.
    pub reason: String,
    /// The pull request it is for (`owner/name#N`), if it names one.
    pub pull_request: Option<String>,
    /// Filed (RFC 3339).
    pub filed_at: String,
    /// Filed before the period (its earlier events are in section B too).
    pub filed_before_period: bool,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// Names of the principals whose second signals were accepted.
    pub approvers: Vec<String>,
    /// The activation, if it happened by the end of the period.
    pub activation: Option<ActivationSummary>,
    /// The revocation, if it happened by the end of the period.
    pub revocation: Option<RevocationSummary>,
    /// When its expiry was recorded, if it was by the end of the period.
    pub expired_at: Option<String>,
    /// The state at the end of the period: after its last event, and
    /// `EXPIRED` if its expiry had passed by then.
    pub last_status: String,
}

/// How an exception was activated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationSummary {
    /// When (RFC 3339).
    pub at: String,
    /// The signal's record ID.
    pub signal_id: String,
    /// Its type (`codeowner_approval`, `github_review`, `consumer_test`).
    pub signal: String,
    /// The approver's principal ID.
    pub approver: String,
    /// The approver's name.
    pub approver_name: String,
    /// Filing to activation, milliseconds.
    pub approval_latency_ms: u64,
}

/// How an exception was revoked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSummary {
    /// When (RFC 3339).
    pub at: String,
    /// Who (principal ID).
    pub by: String,
    /// Their name.
    pub by_name: String,
    /// The reason given.
    pub reason: String,
}

/// Exceptions created and resolved in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionCounts {
    /// Filed in the period.
    pub created: u64,
    /// Activated in the period.
    pub activated: u64,
    /// Whose expiry fell in the period (recorded or not), unless revoked first.
    pub expired: u64,
    /// Revoked in the period.
    pub revoked: u64,
    /// Filed before the period and open or changed during it.
    pub carried_in: u64,
    /// `ANERGIC` or `ACTIVE` at the end of the period.
    pub open_at_end: u64,
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
    /// Approvers (by name) and the second signals of theirs accepted in the period.
    pub approvers: BTreeMap<String, u64>,
    /// Ledger events of the period by record type.
    pub exception_events: BTreeMap<String, u64>,
    /// Exceptions created and resolved.
    pub exception_counts: ExceptionCounts,
    /// The exceptions of section B, by ID.
    pub exceptions: BTreeMap<String, ExceptionSummary>,
    /// Approval latency.
    pub approval_latency: LatencySummary,
    /// Changes of the project's controls in the period.
    pub control_changes: u64,
    /// Monitoring in the period.
    pub monitoring: MonitoringSummary,
}

/// The "Monitoring" part of section C.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSummary {
    /// Days monitored in the period (`monitor_run` records).
    pub days_monitored: u64,
    /// Anomalies detected in the period, by ID.
    pub anomalies: BTreeMap<String, AnomalySummary>,
    /// Of those, still open at the end of the period.
    pub open: u64,
    /// Acknowledgements recorded in the period (of anomalies of any period).
    pub acknowledgements: u64,
}

/// One anomaly and how it was resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalySummary {
    /// The rule.
    pub rule: String,
    /// The UTC day it is about.
    pub day: String,
    /// What it is about.
    pub subject: String,
    /// In words.
    pub detail: String,
    /// When it was recorded.
    pub detected_at: String,
    /// Who acknowledged it, when, and the note; `None` while open.
    pub acknowledged: Option<Acknowledgement>,
}

/// An anomaly's acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// When.
    pub at: String,
    /// Who (name).
    pub by_name: String,
    /// The note.
    pub note: String,
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
/// of principals, exceptions and signals, never with the number of decisions.
#[derive(Default)]
pub struct SummaryBuilder {
    summary: Summary,
    period: std::ops::Range<i64>,
    latencies: Vec<u64>,
    /// Accepted signals: record ID -> (type, approver's name).
    signals: BTreeMap<String, (String, String)>,
}

impl SummaryBuilder {
    /// Starts with the project's principals (those of the header) and the
    /// period (ms since the epoch, end exclusive).
    pub fn new(principals: &[PrincipalSummary], period: std::ops::Range<i64>) -> Self {
        SummaryBuilder {
            summary: Summary {
                principals: principals.to_vec(),
                ..Summary::default()
            },
            period,
            latencies: Vec::new(),
            signals: BTreeMap::new(),
        }
    }

    fn actor(&mut self, id: &str) -> &mut Activity {
        self.summary.activity.entry(id.to_owned()).or_default()
    }

    fn add_decision(&mut self, record: &Value) {
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
        if str_of(record, "classified_by") == crate::record::CLASSIFIED_BY_SERVER {
            d.classified_by_server += 1;
        } else {
            d.findings_from_ci += 1;
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
    }

    fn add_monitoring(&mut self, kind: &str, record: &Value) {
        let m = &mut self.summary.monitoring;
        match kind {
            MONITOR_RUN => m.days_monitored += 1,
            ANOMALY_DETECTED => {
                m.anomalies.insert(
                    str_of(record, "id").to_owned(),
                    AnomalySummary {
                        rule: str_of(record, "rule").to_owned(),
                        day: str_of(record, "day").to_owned(),
                        subject: str_of(record, "subject").to_owned(),
                        detail: str_of(record, "detail").to_owned(),
                        detected_at: str_of(record, "time").to_owned(),
                        acknowledged: None,
                    },
                );
            }
            ANOMALY_ACKNOWLEDGED => {
                m.acknowledgements += 1;
                if let Some(a) = m.anomalies.get_mut(str_of(record, "anomaly_id")) {
                    a.acknowledged = Some(Acknowledgement {
                        at: str_of(record, "time").to_owned(),
                        by_name: str_of(record, "acknowledged_by_name").to_owned(),
                        note: str_of(record, "note").to_owned(),
                    });
                }
            }
            // Held changes of controls: in the section, not in the figures.
            _ => {}
        }
    }

    /// Adds one record. A ledger event dated before the period (an earlier
    /// event of an exception open during it) completes its exception's
    /// history but is not counted as activity of the period.
    pub fn add(&mut self, record: &Value) {
        let kind = str_of(record, "type");
        if kind == GATE_DECISION {
            self.add_decision(record);
            return;
        }
        if kind == PROJECT_SETTINGS_CHANGED {
            self.summary.control_changes += 1;
            return;
        }
        if Section::C.holds(kind) {
            self.add_monitoring(kind, record);
            return;
        }
        if !Section::B.holds(kind) {
            return;
        }
        let time = str_of(record, "time").to_owned();
        let earlier = parse_time(&time).is_some_and(|t| t < self.period.start);
        let exc_id = if kind == EXCEPTION_REQUESTED {
            str_of(record, "id")
        } else {
            str_of(record, "exception_id")
        }
        .to_owned();
        if kind == EXCEPTION_SIGNAL {
            self.signals.insert(
                str_of(record, "id").to_owned(),
                (
                    str_of(record, "signal").to_owned(),
                    str_of(record, "approver_name").to_owned(),
                ),
            );
        }
        let signal_of = |id: &str| self.signals.get(id).cloned().unwrap_or_default();
        let activation_signal = signal_of(str_of(record, "signal_id"));
        let e = self
            .summary
            .exceptions
            .entry(exc_id.clone())
            .or_insert_with(|| ExceptionSummary {
                id: exc_id.clone(),
                ..ExceptionSummary::default()
            });
        let mut latency = None;
        match kind {
            EXCEPTION_REQUESTED => {
                e.kind = str_of(record, "kind").to_owned();
                e.endpoint = str_of(record, "endpoint").to_owned();
                e.requested_by = str_of(record, "requested_by").to_owned();
                e.requested_by_name = str_of(record, "requested_by_name").to_owned();
                e.reason = str_of(record, "reason").to_owned();
                e.pull_request = record
                    .get("pull_request")
                    .and_then(Value::as_u64)
                    .map(|n| format!("{}#{n}", str_of(record, "repository")));
                e.filed_at = time;
                e.filed_before_period = earlier;
                e.expires_at = str_of(record, "expires_at").to_owned();
                e.last_status = "ANERGIC".into();
            }
            EXCEPTION_SIGNAL => e.approvers.push(str_of(record, "approver_name").to_owned()),
            EXCEPTION_ACTIVATED => {
                let ms = record
                    .get("approval_latency_ms")
                    .and_then(Value::as_u64)
                    .unwrap_or_default();
                e.activation = Some(ActivationSummary {
                    at: time,
                    signal_id: str_of(record, "signal_id").to_owned(),
                    signal: activation_signal.0,
                    approver: str_of(record, "approver").to_owned(),
                    approver_name: activation_signal.1,
                    approval_latency_ms: ms,
                });
                e.last_status = "ACTIVE".into();
                latency = Some(ms);
            }
            EXCEPTION_REVOKED => {
                e.revocation = Some(RevocationSummary {
                    at: time,
                    by: str_of(record, "revoked_by").to_owned(),
                    by_name: str_of(record, "revoked_by_name").to_owned(),
                    reason: str_of(record, "reason").to_owned(),
                });
                e.last_status = "REVOKED".into();
            }
            _ => {
                e.expired_at = Some(time);
                e.last_status = "EXPIRED".into();
            }
        }
        if earlier {
            return;
        }
        *self
            .summary
            .exception_events
            .entry(kind.to_owned())
            .or_default() += 1;
        let counts = &mut self.summary.exception_counts;
        match kind {
            EXCEPTION_REQUESTED => {
                counts.created += 1;
                let by = str_of(record, "requested_by").to_owned();
                self.actor(&by).exceptions_requested += 1;
            }
            EXCEPTION_SIGNAL => {
                *self
                    .summary
                    .approvers
                    .entry(str_of(record, "approver_name").to_owned())
                    .or_default() += 1;
                let by = str_of(record, "approver").to_owned();
                self.actor(&by).approvals += 1;
            }
            EXCEPTION_ACTIVATED => {
                counts.activated += 1;
                self.latencies.extend(latency);
            }
            EXCEPTION_REVOKED => {
                counts.revoked += 1;
                let by = str_of(record, "revoked_by").to_owned();
                self.actor(&by).revocations += 1;
            }
            _ => {}
        }
    }

    /// The summary as of the end of the period: an exception still
    /// `ANERGIC` or `ACTIVE` after its last event but past its `expires_at`
    /// by then is `EXPIRED` at the end of the period, whether or not its
    /// expiry was recorded yet (expiry is checked at every use, and records
    /// are written lazily).
    pub fn finish(mut self) -> Summary {
        let period = self.period.clone();
        let counts = &mut self.summary.exception_counts;
        for e in self.summary.exceptions.values_mut() {
            let expires = parse_time(&e.expires_at);
            let revoked = e.revocation.as_ref().and_then(|r| parse_time(&r.at));
            let expired_first = expires.is_some_and(|x| revoked.is_none_or(|r| x <= r));
            if expired_first && expires.is_some_and(|x| period.contains(&x)) {
                counts.expired += 1;
            }
            let expired_by_end = expires.is_some_and(|x| x < period.end);
            if expired_by_end && matches!(e.last_status.as_str(), "ANERGIC" | "ACTIVE") {
                e.last_status = "EXPIRED".into();
            }
            if matches!(e.last_status.as_str(), "ANERGIC" | "ACTIVE") {
                counts.open_at_end += 1;
            }
            if e.filed_before_period {
                counts.carried_in += 1;
            }
        }
        let m = &mut self.summary.monitoring;
        m.open = m
            .anomalies
            .values()
            .filter(|a| a.acknowledged.is_none())
            .count() as u64;
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
    for section in Section::ALL {
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
        "| {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} |\n",
        md_cell(str_of(rec, "time")),
        md_cell(str_of(rec, "id")),
        md_cell(sha.get(..12).unwrap_or(sha)),
        md_cell(str_of(rec, "branch")),
        md_cell(str_of(rec, "author")),
        md_cell(str_of(rec, "verdict")),
        md_cell(str_of(rec, "classified_by")),
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

/// A row of section C's table of control changes.
fn control_row(r: &ProvenRecord, log_url: &str) -> String {
    let rec = &r.record;
    let changed: Vec<&str> = rec
        .get("changed")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let settings = rec.get("settings").cloned().unwrap_or(Value::Null);
    let github = settings.get("github").filter(|g| !g.is_null()).map_or_else(
        || "not connected".to_owned(),
        |g| {
            format!(
                "{} since {}",
                str_of(g, "repository"),
                str_of(g, "connected_at")
            )
        },
    );
    let list = |key: &str| {
        settings
            .get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let after = format!(
        "bot deny-list: {}; longest lifetime: {} s; signals: {}; GitHub: {github}",
        list("bot_deny_list"),
        settings
            .get("max_exception_lifetime_seconds")
            .map(Value::to_string)
            .unwrap_or_default(),
        list("accepted_signals")
    );
    format!(
        "| {} | {} | {} | {} | {} |\n",
        md_cell(str_of(rec, "time")),
        md_cell(str_of(rec, "changed_by_name")),
        md_cell(&changed.join(", ")),
        md_cell(&after),
        proof_link(log_url, r.log_index)
    )
}

fn event_row(r: &ProvenRecord, log_url: &str, period_from: &str) -> String {
    let rec = &r.record;
    let kind = str_of(rec, "type");
    let (exc, event, by, details) = match kind {
        EXCEPTION_REQUESTED => (
            str_of(rec, "id"),
            "filed".to_owned(),
            str_of(rec, "requested_by_name"),
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
                str_of(rec, "approver_name"),
                detail,
            )
        }
        EXCEPTION_ACTIVATED => (
            str_of(rec, "exception_id"),
            "**activated**".to_owned(),
            "(server)",
            format!(
                "by signal {}; approval latency {}",
                str_of(rec, "signal_id"),
                ms_text(rec.get("approval_latency_ms").and_then(Value::as_u64))
            ),
        ),
        EXCEPTION_REVOKED => (
            str_of(rec, "exception_id"),
            "**revoked**".to_owned(),
            str_of(rec, "revoked_by_name"),
            format!("reason: {}", str_of(rec, "reason")),
        ),
        _ => (
            str_of(rec, "exception_id"),
            "**expired**".to_owned(),
            "(server)",
            format!("expired at {}", str_of(rec, "expires_at")),
        ),
    };
    let time = str_of(rec, "time");
    let earlier = time.get(..10).is_some_and(|day| day < period_from);
    format!(
        "| {}{} | {} | {} | {} | {} | {} |\n",
        md_cell(time),
        if earlier { " (earlier)" } else { "" },
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

/// Section D's words on the chain: which records of the project's chain
/// the period holds, and where its boundaries are in the log.
fn chain_text(claim: &ChainClaim, proof: &ChainProof, log_url: &str) -> String {
    let mut t = String::from("- Chain: ");
    match (claim.first_seq, claim.last_seq) {
        (Some(first), Some(last)) => {
            let _ = write!(
                t,
                "the period's records are seq {first} to {last} of the project's chain, with no gap"
            );
        }
        _ => t.push_str("the period has no record of the project's chain"),
    }
    if claim.legacy_records > 0 {
        let _ = write!(
            t,
            "; {} records of the period were written before the chain started, and the chain does not prove their completeness",
            claim.legacy_records
        );
    }
    match &claim.head {
        Some(h) => {
            let _ = write!(
                t,
                "; head at the end of the period: seq {} (`{}`)",
                h.seq,
                md_cell(&h.digest)
            );
        }
        None => t.push_str("; the chain had not started by the end of the period"),
    }
    let _ = write!(t, "; records fixed as of {}", md_cell(&claim.as_of));
    if let Some(b) = &proof.before {
        let _ = write!(
            t,
            "; the record before the period: {}",
            proof_link(log_url, b.log_index)
        );
    }
    if let Some(a) = &proof.after {
        let _ = write!(
            t,
            "; the record after it: {}",
            proof_link(log_url, a.log_index)
        );
    }
    if !proof.records.is_empty() {
        let _ = write!(
            t,
            "; records of the period in no section (earlier exports, share links, the chain's start): {}",
            proof
                .records
                .iter()
                .map(|r| proof_link(log_url, r.log_index))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    t.push('\n');
    t
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
        "{} gate decisions: {} passed ({} thanks to an exception), {} blocked. {} were classified \
by the log's gate engine from the OpenAPI documents CI sent (the record names the engine, its version, \
the rule configuration and both documents' SHA-256), {} carry findings CI supplied.\n",
        dc.total,
        dc.passed,
        dc.passed_with_exception,
        dc.blocked,
        dc.classified_by_server,
        dc.findings_from_ci
    );
    let _ = writeln!(
        t,
        "| Time (UTC) | Run | Commit | Branch | Author | Verdict (classified by) | Blocked (why) | Findings (severity, change kind, endpoint) | Exceptions applied | Artifacts (SHA-256) | Log index |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    out.write_all(t.as_bytes())?;
    records.for_each(Section::A, false, &mut |r| {
        out.write_all(decision_row(r, &h.log_url).as_bytes())
    })?;
    let mut t = String::new();
    let events: u64 = s.exception_events.values().sum();
    let c = &s.exception_counts;
    let _ = writeln!(t, "\n## B. Exception authorization records\n");
    let _ = writeln!(
        t,
        "{} exceptions were open or changed during the period ({} filed before it, marked \
\"earlier\"), with {events} ledger events in the period. An exception is filed by a codeowner, \
activates only on a second, independent signal, and ends when it expires or is revoked. \
Status is as of the end of the period.\n",
        s.exceptions.len(),
        c.carried_in
    );
    let _ = writeln!(
        t,
        "| Exception | Change kind | Endpoint | Requested by | Filed | Justification | Approved by | Activation signal | Expires | Revocation | Status at end |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for e in s.exceptions.values() {
        let dash = || "–".to_owned();
        let activation = e.activation.as_ref().map_or_else(dash, |a| {
            md_cell(&format!(
                "{} by {} at {} (latency {})",
                a.signal,
                a.approver_name,
                a.at,
                ms_text(Some(a.approval_latency_ms))
            ))
        });
        let revocation = e.revocation.as_ref().map_or_else(dash, |r| {
            md_cell(&format!("{} by {}: {}", r.at, r.by_name, r.reason))
        });
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {}{} | {} | {} | {} | {} | {} | {} |",
            md_cell(&e.id),
            md_cell(&e.kind),
            md_cell(&e.endpoint),
            md_cell(&e.requested_by_name),
            md_cell(&e.filed_at),
            if e.filed_before_period {
                " (earlier)"
            } else {
                ""
            },
            md_cell(&e.reason),
            if e.approvers.is_empty() {
                dash()
            } else {
                md_cell(&e.approvers.join(", "))
            },
            activation,
            md_cell(&e.expires_at),
            revocation,
            md_cell(&e.last_status)
        );
    }
    let _ = writeln!(
        t,
        "\nEvery ledger event of these exceptions, the earlier ones first:\n\n\
| Time (UTC) | Exception | Event | By | Details | Log index |\n|---|---|---|---|---|---|"
    );
    out.write_all(t.as_bytes())?;
    records.for_each(Section::B, false, &mut |r| {
        out.write_all(event_row(r, &h.log_url, &h.period_from).as_bytes())
    })?;
    let mut t = String::new();
    let _ = writeln!(t, "\n## C. Access and authorization summary\n");
    let st = &h.settings;
    let _ = writeln!(t, "| | |\n|---|---|");
    let _ = writeln!(
        t,
        "| Project created | {} |",
        md_cell(&h.project_created_at)
    );
    let _ = writeln!(
        t,
        "| GitHub connection | {} |",
        st.github.as_ref().map_or_else(
            || "not connected".to_owned(),
            |g| md_cell(&format!("{} since {}", g.repository, g.connected_at))
        )
    );
    let _ = writeln!(
        t,
        "| Bot deny-list | {} |",
        if st.bot_deny_list.is_empty() {
            "empty".to_owned()
        } else {
            md_cell(&st.bot_deny_list.join(", "))
        }
    );
    let _ = writeln!(
        t,
        "| Longest exception lifetime allowed | {} days |",
        st.max_exception_lifetime_seconds / 86_400
    );
    let _ = writeln!(
        t,
        "| Second signals accepted | {} |",
        st.accepted_signals
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        t,
        "| Runs (gate decisions) | {} ({} blocked) |",
        s.decisions.total, s.decisions.blocked
    );
    let _ = writeln!(
        t,
        "| Exceptions created | {} |\n| Exceptions resolved | {} activated, {} expired, {} revoked |\n| Exceptions open at the end | {} |",
        c.created, c.activated, c.expired, c.revoked, c.open_at_end
    );
    let names = |m: &BTreeMap<String, u64>, unit: &str| {
        if m.is_empty() {
            "none".to_owned()
        } else {
            m.iter()
                .map(|(a, n)| {
                    let s = if *n == 1 { "" } else { "s" };
                    format!("{} ({n} {unit}{s})", md_cell(a))
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(
        t,
        "| Distinct committers (commit authors of the period's runs) | {}: {} |",
        s.committers.len(),
        names(&s.committers, "run")
    );
    let _ = writeln!(
        t,
        "| Approvers (second signals accepted) | {}: {} |",
        s.approvers.len(),
        names(&s.approvers, "approval")
    );
    let l = &s.approval_latency;
    let _ = writeln!(
        t,
        "| Approval latency (filing to activation) | over {} activations: P50 {}, **P95 {}**, max {} |\n",
        l.activations,
        ms_text(l.p50_ms),
        ms_text(l.p95_ms),
        ms_text(l.max_ms)
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
    let _ = writeln!(
        t,
        "\nChanges of the project's controls in the period: {}.\n\n\
| Time (UTC) | By | Changed | Controls after the change | Log index |\n|---|---|---|---|---|",
        s.control_changes
    );
    out.write_all(t.as_bytes())?;
    records.for_each(Section::C, false, &mut |r| {
        if str_of(&r.record, "type") == PROJECT_SETTINGS_CHANGED {
            out.write_all(control_row(r, &h.log_url).as_bytes())?;
        }
        Ok(())
    })?;
    let m = &s.monitoring;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\n### Monitoring\n\n{} days monitored; {} anomalies detected in the period, {} still open at its end; {} acknowledgements recorded.\n\n\
| Time (UTC) | Event | Rule | Day | Subject | Details | Log index |\n|---|---|---|---|---|---|---|",
        m.days_monitored,
        m.anomalies.len(),
        m.open,
        m.acknowledgements
    );
    out.write_all(t.as_bytes())?;
    records.for_each(Section::C, false, &mut |r| {
        let rec = &r.record;
        let row = match str_of(rec, "type") {
            ANOMALY_DETECTED => Some((
                format!("**anomaly** {}", md_cell(str_of(rec, "id"))),
                md_cell(str_of(rec, "rule")),
                md_cell(str_of(rec, "day")),
                md_cell(str_of(rec, "subject")),
                {
                    let ack = m
                        .anomalies
                        .get(str_of(rec, "id"))
                        .and_then(|a| a.acknowledged.as_ref());
                    match ack {
                        Some(a) => md_cell(&format!(
                            "{} — acknowledged by {} at {}: {}",
                            str_of(rec, "detail"),
                            a.by_name,
                            a.at,
                            a.note
                        )),
                        None => md_cell(&format!("{} — open", str_of(rec, "detail"))),
                    }
                },
            )),
            ANOMALY_ACKNOWLEDGED => Some((
                format!("acknowledged {}", md_cell(str_of(rec, "anomaly_id"))),
                "–".to_owned(),
                "–".to_owned(),
                md_cell(str_of(rec, "acknowledged_by_name")),
                md_cell(str_of(rec, "note")),
            )),
            _ => None,
        };
        if let Some((event, rule, day, subject, details)) = row {
            out.write_all(
                format!(
                    "| {} | {event} | {rule} | {day} | {subject} | {details} | {} |\n",
                    md_cell(str_of(rec, "time")),
                    proof_link(&h.log_url, r.log_index)
                )
                .as_bytes(),
            )?;
        }
        Ok(())
    })?;
    let mut t = String::new();
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
    let _ = writeln!(t, "{}", chain_text(&h.chain, &d.chain, &h.log_url));
    let _ = writeln!(
        t,
        "Every record of sections A, B and C, and this export's own record, is proven below \
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
    for section in Section::ALL {
        write!(out, "\n```{}\n", section.md_block())?;
        records.for_each(section, true, &mut |r| {
            out.write_all(&jcs_io(r)?)?;
            out.write_all(b"\n")
        })?;
        out.write_all(b"```\n")?;
    }
    Ok(())
}

/// Default period: the last 90 days, today included.
pub const DEFAULT_PERIOD_DAYS: i64 = 90;

/// The period and format asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportRequest {
    /// First day (days since the epoch), inclusive.
    pub from: i64,
    /// Last day, inclusive.
    pub to: i64,
    /// JSON or Markdown.
    pub format: ExportFormat,
}

impl ExportRequest {
    /// The request of `from`/`to` dates (`YYYY-MM-DD`, UTC) and a format
    /// name, with the defaults: to = today, from = 90 days up to `to`, JSON.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad parameter.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        format: Option<&str>,
        today: i64,
    ) -> Result<Self, Error> {
        let date = |name: &str, v: Option<&str>| {
            v.map(|v| {
                crate::time::parse_date(v).ok_or_else(|| {
                    Error::Invalid(format!("{name} must be a date YYYY-MM-DD (UTC), got {v:?}"))
                })
            })
            .transpose()
        };
        let to = date("to", to)?.unwrap_or(today);
        let from = date("from", from)?.unwrap_or(to - (DEFAULT_PERIOD_DAYS - 1));
        if from > today {
            return Err(Error::Invalid(format!(
                "the period starts in the future: from is {}, today (UTC) is {}",
                crate::time::format_date(from),
                crate::time::format_date(today)
            )));
        }
        if from > to {
            return Err(Error::Invalid(format!(
                "from ({}) must not be after to ({})",
                crate::time::format_date(from),
                crate::time::format_date(to)
            )));
        }
        let format = match format {
            None | Some("json") => ExportFormat::Json,
            Some("markdown" | "md") => ExportFormat::Markdown,
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "format must be json or markdown, got {other:?}"
                )));
            }
        };
        Ok(ExportRequest { from, to, format })
    }
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
        let t = |s: &str| crate::time::parse_time(s).unwrap();
        let summary = |period: std::ops::Range<i64>| {
            let mut b = SummaryBuilder::new(&[], period);
            b.add(&filed);
            b.add(&activated);
            b.finish()
        };
        let jan = summary(t("2026-01-01T00:00:00Z")..t("2026-02-01T00:00:00Z"));
        assert_eq!(
            jan.exceptions["exc_1"].last_status, "EXPIRED",
            "January's export"
        );
        assert_eq!(jan.exception_counts.expired, 1);
        assert_eq!(jan.exception_counts.created, 1);
        assert_eq!(jan.exception_counts.activated, 1);
        assert_eq!(jan.exception_counts.open_at_end, 0);
        let early = summary(t("2026-01-01T00:00:00Z")..t("2026-01-31T00:00:00Z"));
        assert_eq!(
            early.exceptions["exc_1"].last_status, "ACTIVE",
            "a period ending on the 30th"
        );
        assert_eq!(early.exception_counts.expired, 0);
        assert_eq!(early.exception_counts.open_at_end, 1);
        // February: filed and activated earlier, so carried in, not counted
        // as February's activity; its expiry on the 31st is not February's.
        let feb = summary(t("2026-01-20T00:00:00Z")..t("2026-03-01T00:00:00Z"));
        let e = &feb.exceptions["exc_1"];
        assert!(e.filed_before_period);
        assert_eq!(e.activation.as_ref().unwrap().approver, "key_b");
        assert_eq!(feb.exception_counts.carried_in, 1);
        assert_eq!(feb.exception_counts.created, 0);
        assert_eq!(feb.exception_counts.activated, 0);
        assert_eq!(
            feb.exception_counts.expired, 1,
            "its expiry fell in the period"
        );
        assert_eq!(feb.approval_latency.activations, 0);
        assert!(feb.exception_events.is_empty());
    }
}
