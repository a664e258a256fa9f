//! Record digests and envelopes (`design.md`, "Public leaves carry no
//! customer content"): a record is a JSON object; its log entry is its
//! envelope, [`ENVELOPE_PREFIX`] followed by the JCS object
//! `{"digest","id","project","seq","time","type","v"}` whose digest is the
//! SHA-256 of the JCS-serialized record. The prefix keeps envelopes apart
//! from raw entries (`POST /v1/entries` refuses every entry that
//! [`envelope_like`] names). Records written before chains (no `seq`) have
//! the legacy envelope, the bare JCS object `{"digest","id","project","time","type","v":1}`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::Error;
pub use crate::settings::{
    GitHubConnection, ProjectSettings, SignalKind, default_accepted_signals,
};
use crate::time::parse_time;

/// Version of the envelope of a chained record (`"v"`).
pub const ENVELOPE_VERSION: u64 = 2;

/// Version of the legacy envelope: a record written before chains (no `seq`).
pub const LEGACY_ENVELOPE_VERSION: u64 = 1;

/// The first line of every envelope of a chained record: what tells a
/// compliance envelope apart from a raw entry. The log's raw write API
/// refuses entries that begin with [`RESERVED_PREFIX`], so only the
/// compliance service writes entries that begin with it.
pub const ENVELOPE_PREFIX: &[u8] = b"stateanchor-envelope/v2\n";

/// The prefix reserved to the compliance service's envelopes (every version).
pub const RESERVED_PREFIX: &[u8] = b"stateanchor-envelope/";

/// Member names of a legacy envelope.
const LEGACY_ENVELOPE_KEYS: [&str; 6] = ["digest", "id", "project", "time", "type", "v"];

/// Record type of a gate decision.
pub const GATE_DECISION: &str = "gate_decision";
/// Record type of a filed exception.
pub const EXCEPTION_REQUESTED: &str = "exception_requested";
/// Record type of an accepted approval signal.
pub const EXCEPTION_SIGNAL: &str = "exception_signal";
/// Record type of an activation.
pub const EXCEPTION_ACTIVATED: &str = "exception_activated";
/// Record type of a revocation.
pub const EXCEPTION_REVOKED: &str = "exception_revoked";
/// Record type of a recorded expiry.
pub const EXCEPTION_EXPIRED: &str = "exception_expired";
/// Record type of a compliance export (who exported which period).
pub const COMPLIANCE_EXPORT: &str = "compliance_export";
/// Record type of a project's creation or a change of its controls.
pub const PROJECT_SETTINGS_CHANGED: &str = "project_settings_changed";
/// Record type of an anomaly found by monitoring.
pub const ANOMALY_DETECTED: &str = "anomaly_detected";
/// Record type of an anomaly acknowledged.
pub const ANOMALY_ACKNOWLEDGED: &str = "anomaly_acknowledged";
/// Record type of a day monitored.
pub const MONITOR_RUN: &str = "monitor_run";
/// Record type of a share link created (the cockpit's read-only view of a period).
pub const SHARE_TOKEN_CREATED: &str = "share_token_created";
/// Record type of a share link used.
pub const SHARE_TOKEN_USED: &str = "share_token_used";
/// Record type of a share link revoked.
pub const SHARE_TOKEN_REVOKED: &str = "share_token_revoked";
/// Record type of the start of a project's chain, after its legacy records.
pub const CHAIN_STARTED: &str = "chain_started";
/// Record type of a principal added to a project.
pub const PRINCIPAL_ADDED: &str = "principal_added";
/// Record type of a principal's roles or identities changed.
pub const PRINCIPAL_CHANGED: &str = "principal_changed";
/// Record type of a principal revoked.
pub const PRINCIPAL_REVOKED: &str = "principal_revoked";
/// The storage index under which a project's principal records are kept
/// (the index of an exception's events; exception IDs start `exc_`).
pub const PRINCIPALS_INDEX: &str = "principals";
/// Record type of a weakening change of a project's controls, held for a
/// second project admin's approval.
pub const SETTINGS_CHANGE_PROPOSED: &str = "settings_change_proposed";
/// Record type of a second admin's approval of a held change of controls.
pub const SETTINGS_CHANGE_APPROVED: &str = "settings_change_approved";
/// Record type of a held change of controls withdrawn.
pub const SETTINGS_CHANGE_WITHDRAWN: &str = "settings_change_withdrawn";

/// The type of a record: one per kind of event the log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// [`GATE_DECISION`]
    GateDecision,
    /// [`EXCEPTION_REQUESTED`]
    ExceptionRequested,
    /// [`EXCEPTION_SIGNAL`]
    ExceptionSignal,
    /// [`EXCEPTION_ACTIVATED`]
    ExceptionActivated,
    /// [`EXCEPTION_REVOKED`]
    ExceptionRevoked,
    /// [`EXCEPTION_EXPIRED`]
    ExceptionExpired,
    /// [`COMPLIANCE_EXPORT`]
    ComplianceExport,
    /// [`PROJECT_SETTINGS_CHANGED`]
    ProjectSettingsChanged,
    /// [`ANOMALY_DETECTED`]
    AnomalyDetected,
    /// [`ANOMALY_ACKNOWLEDGED`]
    AnomalyAcknowledged,
    /// [`MONITOR_RUN`]
    MonitorRun,
    /// [`SHARE_TOKEN_CREATED`]
    ShareTokenCreated,
    /// [`SHARE_TOKEN_USED`]
    ShareTokenUsed,
    /// [`SHARE_TOKEN_REVOKED`]
    ShareTokenRevoked,
    /// [`CHAIN_STARTED`]
    ChainStarted,
    /// [`PRINCIPAL_ADDED`]
    PrincipalAdded,
    /// [`PRINCIPAL_CHANGED`]
    PrincipalChanged,
    /// [`PRINCIPAL_REVOKED`]
    PrincipalRevoked,
    /// [`SETTINGS_CHANGE_PROPOSED`]
    SettingsChangeProposed,
    /// [`SETTINGS_CHANGE_APPROVED`]
    SettingsChangeApproved,
    /// [`SETTINGS_CHANGE_WITHDRAWN`]
    SettingsChangeWithdrawn,
}

impl RecordKind {
    /// Every type, in the order of their type codes (1, 2, …).
    pub const ALL: [RecordKind; 21] = [
        RecordKind::GateDecision,
        RecordKind::ExceptionRequested,
        RecordKind::ExceptionSignal,
        RecordKind::ExceptionActivated,
        RecordKind::ExceptionRevoked,
        RecordKind::ExceptionExpired,
        RecordKind::ComplianceExport,
        RecordKind::ProjectSettingsChanged,
        RecordKind::AnomalyDetected,
        RecordKind::AnomalyAcknowledged,
        RecordKind::MonitorRun,
        RecordKind::ShareTokenCreated,
        RecordKind::ShareTokenUsed,
        RecordKind::ShareTokenRevoked,
        RecordKind::ChainStarted,
        RecordKind::PrincipalAdded,
        RecordKind::PrincipalChanged,
        RecordKind::PrincipalRevoked,
        RecordKind::SettingsChangeProposed,
        RecordKind::SettingsChangeApproved,
        RecordKind::SettingsChangeWithdrawn,
    ];

    /// The type whose `type` field is `name`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The record's `type` field.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::GateDecision => GATE_DECISION,
            RecordKind::ExceptionRequested => EXCEPTION_REQUESTED,
            RecordKind::ExceptionSignal => EXCEPTION_SIGNAL,
            RecordKind::ExceptionActivated => EXCEPTION_ACTIVATED,
            RecordKind::ExceptionRevoked => EXCEPTION_REVOKED,
            RecordKind::ExceptionExpired => EXCEPTION_EXPIRED,
            RecordKind::ComplianceExport => COMPLIANCE_EXPORT,
            RecordKind::ProjectSettingsChanged => PROJECT_SETTINGS_CHANGED,
            RecordKind::AnomalyDetected => ANOMALY_DETECTED,
            RecordKind::AnomalyAcknowledged => ANOMALY_ACKNOWLEDGED,
            RecordKind::MonitorRun => MONITOR_RUN,
            RecordKind::ShareTokenCreated => SHARE_TOKEN_CREATED,
            RecordKind::ShareTokenUsed => SHARE_TOKEN_USED,
            RecordKind::ShareTokenRevoked => SHARE_TOKEN_REVOKED,
            RecordKind::ChainStarted => CHAIN_STARTED,
            RecordKind::PrincipalAdded => PRINCIPAL_ADDED,
            RecordKind::PrincipalChanged => PRINCIPAL_CHANGED,
            RecordKind::PrincipalRevoked => PRINCIPAL_REVOKED,
            RecordKind::SettingsChangeProposed => SETTINGS_CHANGE_PROPOSED,
            RecordKind::SettingsChangeApproved => SETTINGS_CHANGE_APPROVED,
            RecordKind::SettingsChangeWithdrawn => SETTINGS_CHANGE_WITHDRAWN,
        }
    }
}

/// RFC 8785 (JCS) serialization.
///
/// # Errors
/// If the value cannot be serialized.
pub fn canonical(value: &impl Serialize) -> Result<Vec<u8>, Error> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| Error::Json(e.to_string()))
}

/// `sha256:<hex>` of bytes (the digest of a record is that of its JCS form).
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// The envelope fields every record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// Record type.
    pub kind: String,
    /// Record ID.
    pub id: String,
    /// Opaque project ID.
    pub project: String,
    /// RFC 3339 UTC time.
    pub time: String,
    /// Its sequence number in the project's chain; `None` for a record
    /// written before chains (legacy).
    pub seq: Option<u64>,
}

impl RecordMeta {
    /// Reads the envelope fields of a record.
    ///
    /// # Errors
    /// If the record is not an object or lacks one of them, or its `seq`
    /// is not a positive integer.
    pub fn of(record: &Value) -> Result<Self, Error> {
        let obj = record.as_object().ok_or(Error::NotAnObject)?;
        let field = |name: &'static str| {
            obj.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(Error::MissingField(name))
        };
        let seq = match obj.get("seq") {
            None => None,
            Some(v) => Some(v.as_u64().filter(|&n| n >= 1).ok_or_else(|| {
                Error::Invalid("a record's seq must be an integer from 1".into())
            })?),
        };
        Ok(RecordMeta {
            kind: field("type")?,
            id: field("id")?,
            project: field("project")?,
            time: field("time")?,
            seq,
        })
    }
}

/// Checks a record's chain fields: `prev`, the digest of the project's
/// previous record, is present exactly when `seq` is more than 1; a legacy
/// record (no `seq`) has no `prev` either.
///
/// # Errors
/// [`Error::Invalid`] naming what is wrong.
pub fn check_chain_fields(record: &Value, seq: Option<u64>) -> Result<(), Error> {
    let prev = record.get("prev");
    match (seq, prev) {
        (None, None) | (Some(1), None) => Ok(()),
        (None, Some(_)) => Err(Error::Invalid("a record with prev must have a seq".into())),
        (Some(1), Some(_)) => Err(Error::Invalid(
            "the first record of a chain (seq 1) has no prev".into(),
        )),
        (Some(_), None) => Err(Error::Invalid(
            "a record after the first of its chain names its previous record (prev)".into(),
        )),
        (Some(_), Some(p)) => match p.as_str().and_then(parse_digest) {
            Some(_) => Ok(()),
            None => Err(Error::Invalid(
                "a record's prev must be sha256: and 64 lowercase hex digits".into(),
            )),
        },
    }
}

/// A 32-byte SHA-256 digest written `sha256:<64 lowercase hex>`.
#[must_use]
pub fn digest_string(digest: &[u8; 32]) -> String {
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The 32 bytes of a digest written `sha256:<64 lowercase hex>`.
#[must_use]
pub fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// A log entry read as an envelope: what is public of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `2` ([`ENVELOPE_VERSION`]), or `1` for a legacy envelope.
    pub version: u64,
    /// Record type.
    pub kind: String,
    /// Opaque project ID.
    pub project: String,
    /// Record ID.
    pub id: String,
    /// Sequence number in the project's chain (`None` in a legacy envelope).
    pub seq: Option<u64>,
    /// RFC 3339 UTC time.
    pub time: String,
    /// `sha256:<hex>` of the record's JCS form.
    pub digest: String,
}

impl Envelope {
    /// The envelope's bytes: [`ENVELOPE_PREFIX`] and the JCS object for a
    /// chained record, the bare JCS object (version 1) for a legacy one.
    ///
    /// # Errors
    /// [`Error::Json`] (not expected).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        match self.seq {
            Some(seq) => {
                let jcs = canonical(&json!({
                    "v": ENVELOPE_VERSION,
                    "type": self.kind,
                    "project": self.project,
                    "id": self.id,
                    "seq": seq,
                    "time": self.time,
                    "digest": self.digest,
                }))?;
                let mut out = Vec::with_capacity(ENVELOPE_PREFIX.len() + jcs.len());
                out.extend_from_slice(ENVELOPE_PREFIX);
                out.extend_from_slice(&jcs);
                Ok(out)
            }
            None => canonical(&json!({
                "v": LEGACY_ENVELOPE_VERSION,
                "type": self.kind,
                "project": self.project,
                "id": self.id,
                "time": self.time,
                "digest": self.digest,
            })),
        }
    }

    /// Reads a log entry as an envelope, strictly: the bytes must be
    /// exactly those [`Envelope::to_bytes`] writes (a chained envelope with
    /// its prefix, or a legacy one), with a valid time and digest.
    ///
    /// # Errors
    /// [`Error::Invalid`] if it is not an envelope.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let not = |why: &str| Error::Invalid(format!("not a record envelope: {why}"));
        let (json, chained) = match bytes.strip_prefix(ENVELOPE_PREFIX) {
            Some(rest) => (rest, true),
            None => (bytes, false),
        };
        let v: Value = serde_json::from_slice(json).map_err(|e| not(&e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| not("not a JSON object"))?;
        let text = |name: &str| {
            obj.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| not(&format!("no string {name}")))
        };
        let seq = if chained {
            Some(
                obj.get("seq")
                    .and_then(Value::as_u64)
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| not("no seq"))?,
            )
        } else {
            None
        };
        let env = Envelope {
            version: obj
                .get("v")
                .and_then(Value::as_u64)
                .ok_or_else(|| not("no v"))?,
            kind: text("type")?,
            project: text("project")?,
            id: text("id")?,
            seq,
            time: text("time")?,
            digest: text("digest")?,
        };
        if parse_time(&env.time).is_none() {
            return Err(not("its time is not RFC 3339 UTC"));
        }
        if parse_digest(&env.digest).is_none() {
            return Err(not("its digest is not sha256:<64 hex>"));
        }
        if env.to_bytes()? != bytes {
            return Err(not("the bytes are not its canonical form"));
        }
        Ok(env)
    }
}

/// Whether a raw entry would be read as a compliance envelope, and as
/// which: one that begins with [`RESERVED_PREFIX`] (`"chained envelope"`),
/// or a JSON object with every member of a legacy envelope (`v`, `type`,
/// `project`, `id`, `time`, `digest`: `"legacy envelope"`). The log's raw
/// write API (`POST /v1/entries`) refuses both, so that only the compliance
/// service can write an entry a verifier reads as a record's envelope.
#[must_use]
pub fn envelope_like(entry: &[u8]) -> Option<&'static str> {
    if entry.starts_with(RESERVED_PREFIX) {
        return Some("chained envelope");
    }
    let first = entry.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return None;
    }
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(entry) else {
        return None;
    };
    LEGACY_ENVELOPE_KEYS
        .iter()
        .all(|k| obj.contains_key(*k))
        .then_some("legacy envelope")
}

/// Bytes of randomness in a record's salt.
pub const SALT_BYTES: usize = 16;

/// Checks a record's `salt`: at least [`SALT_BYTES`] bytes (128 bits) as
/// lowercase hex. Without it, a record of guessable content (a commit SHA of
/// a public repository, an expiry and a status) could be confirmed from its
/// public digest by trying candidates.
///
/// # Errors
/// [`Error::MissingField`] or [`Error::Invalid`].
pub fn check_salt(record: &Value) -> Result<(), Error> {
    let salt = record
        .get("salt")
        .and_then(Value::as_str)
        .ok_or(Error::MissingField("salt"))?;
    let hex = salt
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if salt.len() < 2 * SALT_BYTES || salt.len() % 2 != 0 || !hex {
        return Err(Error::Invalid(format!(
            "a record's salt must be at least {} lowercase hex digits",
            2 * SALT_BYTES
        )));
    }
    Ok(())
}

/// The log entry of a record: its envelope (see [`Envelope::to_bytes`]),
/// with `digest = sha256:<hex of SHA-256 of JCS(record)>`.
///
/// # Errors
/// If the record lacks an envelope field or cannot be serialized.
pub fn envelope(record: &Value) -> Result<Vec<u8>, Error> {
    seal(record).map(|(_, envelope)| envelope)
}

/// A record's JCS form and its envelope: a chained envelope if the record
/// has a `seq`, a legacy one if it has none.
///
/// # Errors
/// As [`envelope`]; a record whose chain fields are malformed
/// ([`check_chain_fields`]).
pub fn seal(record: &Value) -> Result<(Vec<u8>, Vec<u8>), Error> {
    seal_record(record).map(|s| (s.jcs, s.envelope))
}

/// A record sealed: what [`seal_record`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The record's JCS form.
    pub jcs: Vec<u8>,
    /// Its envelope: the log entry.
    pub envelope: Vec<u8>,
    /// Its digest: the SHA-256 of `jcs`.
    pub digest: [u8; 32],
    /// Its sequence number, if chained.
    pub seq: Option<u64>,
    /// Its `prev`, if any.
    pub prev: Option<[u8; 32]>,
}

/// [`seal`], with the digest and chain fields read on the way.
///
/// # Errors
/// As [`seal`].
pub fn seal_record(record: &Value) -> Result<Sealed, Error> {
    let meta = RecordMeta::of(record)?;
    if parse_time(&meta.time).is_none() {
        return Err(Error::BadTime(meta.time));
    }
    check_salt(record)?;
    check_chain_fields(record, meta.seq)?;
    let prev = record
        .get("prev")
        .and_then(Value::as_str)
        .and_then(parse_digest);
    let jcs = canonical(record)?;
    let digest: [u8; 32] = Sha256::digest(&jcs).into();
    let seq = meta.seq;
    let envelope = Envelope {
        version: if seq.is_some() {
            ENVELOPE_VERSION
        } else {
            LEGACY_ENVELOPE_VERSION
        },
        kind: meta.kind,
        project: meta.project,
        id: meta.id,
        seq,
        time: meta.time,
        digest: digest_string(&digest),
    }
    .to_bytes()?;
    Ok(Sealed {
        jcs,
        envelope,
        digest,
        seq,
        prev,
    })
}

// ---------------------------------------------------------------- typed records

/// A record: the fields every record has, and those of its type. Its JSON
/// (`{"type": ..., "id": ..., "project": ..., "time": ..., <fields>}`) is what
/// is digested into the envelope; its fields are exactly the documented ones
/// (`spec/compliance.md`), so a record built here serializes to the bytes
/// the log has always committed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Record ID (`run_…`, `exc_…`, `evt_…`, `exp_…`).
    pub id: String,
    /// Opaque project ID.
    pub project: String,
    /// RFC 3339 UTC time of the record.
    pub time: String,
    /// Random, at least 128 bits in lowercase hex (see [`check_salt`]): the
    /// envelope's digest cannot be confirmed by guessing the record's fields.
    pub salt: String,
    /// Its sequence number in the project's chain: 1, 2, … without gaps, in
    /// log order. `None` only in the records written before chains
    /// (legacy), which precede the project's `chain_started` record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// `sha256:<hex>` digest of the project's previous record (the one at
    /// `seq - 1`); `None` for seq 1 and in legacy records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// The type and its fields.
    #[serde(flatten)]
    pub body: RecordBody,
}

/// The type of a record and its own fields (serde tag `type`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordBody {
    /// A gate decision (a sync run).
    GateDecision(GateDecision),
    /// A filed exception.
    ExceptionRequested(ExceptionRequested),
    /// An accepted second signal.
    ExceptionSignal(ExceptionSignal),
    /// An activation (follows an accepted signal).
    ExceptionActivated(ExceptionActivated),
    /// A revocation.
    ExceptionRevoked(ExceptionRevoked),
    /// A recorded expiry.
    ExceptionExpired(ExceptionExpired),
    /// A compliance export: who exported which period, and what it held.
    ComplianceExport(ComplianceExport),
    /// A project created, or its controls changed.
    ProjectSettingsChanged(ProjectSettingsChanged),
    /// An anomaly found by monitoring (its ID is the anomaly's).
    AnomalyDetected(AnomalyDetected),
    /// An anomaly acknowledged.
    AnomalyAcknowledged(AnomalyAcknowledged),
    /// A day monitored (ID `mon_YYYY-MM-DD`).
    MonitorRun(MonitorRun),
    /// A read-only share link of a period created.
    ShareTokenCreated(ShareTokenCreated),
    /// A share link used.
    ShareTokenUsed(ShareTokenUsed),
    /// A share link revoked.
    ShareTokenRevoked(ShareTokenRevoked),
    /// The project's chain starts here, after its legacy records.
    ChainStarted(ChainStarted),
    /// A principal added to the project.
    PrincipalAdded(PrincipalAdded),
    /// A principal's roles or identities changed.
    PrincipalChanged(PrincipalChanged),
    /// A principal revoked.
    PrincipalRevoked(PrincipalRevoked),
    /// A weakening change of the controls, held for a second admin (its
    /// ID is the change's, `chg_…`).
    SettingsChangeProposed(SettingsChangeProposed),
    /// A held change approved by a second admin (queued with the
    /// `project_settings_changed` record that applies it).
    SettingsChangeApproved(SettingsChangeApproved),
    /// A held change withdrawn.
    SettingsChangeWithdrawn(SettingsChangeWithdrawn),
}

impl RecordBody {
    /// The record's type.
    #[must_use]
    pub fn kind(&self) -> RecordKind {
        match self {
            RecordBody::GateDecision(_) => RecordKind::GateDecision,
            RecordBody::ExceptionRequested(_) => RecordKind::ExceptionRequested,
            RecordBody::ExceptionSignal(_) => RecordKind::ExceptionSignal,
            RecordBody::ExceptionActivated(_) => RecordKind::ExceptionActivated,
            RecordBody::ExceptionRevoked(_) => RecordKind::ExceptionRevoked,
            RecordBody::ExceptionExpired(_) => RecordKind::ExceptionExpired,
            RecordBody::ComplianceExport(_) => RecordKind::ComplianceExport,
            RecordBody::ProjectSettingsChanged(_) => RecordKind::ProjectSettingsChanged,
            RecordBody::AnomalyDetected(_) => RecordKind::AnomalyDetected,
            RecordBody::AnomalyAcknowledged(_) => RecordKind::AnomalyAcknowledged,
            RecordBody::MonitorRun(_) => RecordKind::MonitorRun,
            RecordBody::ShareTokenCreated(_) => RecordKind::ShareTokenCreated,
            RecordBody::ShareTokenUsed(_) => RecordKind::ShareTokenUsed,
            RecordBody::ShareTokenRevoked(_) => RecordKind::ShareTokenRevoked,
            RecordBody::ChainStarted(_) => RecordKind::ChainStarted,
            RecordBody::PrincipalAdded(_) => RecordKind::PrincipalAdded,
            RecordBody::PrincipalChanged(_) => RecordKind::PrincipalChanged,
            RecordBody::PrincipalRevoked(_) => RecordKind::PrincipalRevoked,
            RecordBody::SettingsChangeProposed(_) => RecordKind::SettingsChangeProposed,
            RecordBody::SettingsChangeApproved(_) => RecordKind::SettingsChangeApproved,
            RecordBody::SettingsChangeWithdrawn(_) => RecordKind::SettingsChangeWithdrawn,
        }
    }

    /// The exception a later ledger event is about (not a request: its
    /// exception is the record itself).
    #[must_use]
    pub fn exception_id(&self) -> Option<&str> {
        match self {
            RecordBody::ExceptionSignal(r) => Some(&r.exception_id),
            RecordBody::ExceptionActivated(r) => Some(&r.exception_id),
            RecordBody::ExceptionRevoked(r) => Some(&r.exception_id),
            RecordBody::ExceptionExpired(r) => Some(&r.exception_id),
            _ => None,
        }
    }
}

impl Record {
    /// The exception this record is an event of: its own ID for a request,
    /// the one it names for later events, none for other records. A held
    /// change of controls is indexed the same way (its proposal, approval
    /// and withdrawal under the change's ID), so that the service folds
    /// the pending changes with the ledger.
    #[must_use]
    pub fn exception(&self) -> Option<&str> {
        match &self.body {
            RecordBody::ExceptionRequested(_) | RecordBody::SettingsChangeProposed(_) => {
                Some(&self.id)
            }
            RecordBody::SettingsChangeApproved(r) => Some(&r.change_id),
            RecordBody::SettingsChangeWithdrawn(r) => Some(&r.change_id),
            body => body.exception_id(),
        }
    }

    /// The storage index the record is kept under besides its sequence
    /// number: its exception's ID for ledger events, [`PRINCIPALS_INDEX`]
    /// for principal records, none for others.
    #[must_use]
    pub fn index_key(&self) -> Option<&str> {
        match &self.body {
            RecordBody::PrincipalAdded(_)
            | RecordBody::PrincipalChanged(_)
            | RecordBody::PrincipalRevoked(_) => Some(PRINCIPALS_INDEX),
            _ => self.exception(),
        }
    }

    /// The record as JSON.
    ///
    /// # Errors
    /// [`Error::Json`] (not expected: every field serializes).
    pub fn to_value(&self) -> Result<Value, Error> {
        serde_json::to_value(self).map_err(|e| Error::Json(e.to_string()))
    }

    /// Reads a record back from its JSON (JCS) bytes; unknown types and
    /// missing fields are errors, never empty strings.
    ///
    /// # Errors
    /// [`Error::Json`] naming what is wrong.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::Json(e.to_string()))
    }

    /// The record's JCS form and its envelope (see [`seal`]).
    ///
    /// # Errors
    /// As [`seal`].
    pub fn seal(&self) -> Result<(Vec<u8>, Vec<u8>), Error> {
        seal(&self.to_value()?)
    }
}

/// Fields of a `gate_decision`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateDecision {
    /// The CI principal that submitted it.
    pub submitted_by: String,
    /// Its name.
    pub submitted_by_name: String,
    /// The commit gated.
    pub commit_sha: String,
    /// Its branch.
    pub branch: String,
    /// Its author.
    pub author: String,
    /// What the diff found.
    pub findings: Vec<Finding>,
    /// Artifacts and their hashes.
    pub artifacts: Vec<Artifact>,
    /// `PASS`, `INFO`, `WARN` or `ERR`.
    pub verdict: String,
    /// Whether the change was blocked.
    pub blocked: bool,
    /// Why, one line per blocking finding.
    pub blocked_reasons: Vec<String>,
    /// The exceptions that let an ERR through.
    pub exceptions_applied: Vec<String>,
    /// `server` when the log's gate engine classified the documents CI
    /// sent (see `classifier`), `ci` when CI supplied the findings.
    pub classified_by: String,
    /// How the server classified the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<Box<Classifier>>,
    /// The developer's summary of the change (the API changelog's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// The gate engine this build classifies with: name and version.
#[must_use]
pub fn gate_engine() -> (&'static str, &'static str) {
    (gate::ENGINE_NAME, gate::ENGINE_VERSION)
}

/// `classified_by` of a decision the log's gate engine classified.
pub const CLASSIFIED_BY_SERVER: &str = "server";
/// `classified_by` of a decision whose findings CI supplied.
pub const CLASSIFIED_BY_CI: &str = "ci";

/// How the server classified a change: enough to do it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classifier {
    /// The engine (`stateanchor-gate`).
    pub engine: String,
    /// Its version.
    pub engine_version: String,
    /// The project's rule configuration it ran with.
    pub config: gate::Config,
    /// `sha256:` of its canonical form.
    pub config_digest: String,
    /// The UTC date the diff was made on (`x-sunset` dates are compared with it).
    pub date: String,
    /// The document before the change.
    pub base: SpecRef,
    /// The document after it.
    pub revision: SpecRef,
}

/// An OpenAPI document a decision was classified from (kept privately by
/// the log, served to the project's principals by its SHA-256).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecRef {
    /// Its file name, as CI gave it.
    pub name: String,
    /// SHA-256 of its bytes, 64 lowercase hex digits.
    pub sha256: String,
}

/// SHA-256 of bytes as 64 lowercase hex digits.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Fields of an `exception_requested`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionRequested {
    /// The codeowner who filed it.
    pub requested_by: String,
    /// Their name.
    pub requested_by_name: String,
    /// Change kind.
    pub kind: String,
    /// Endpoint, `METHOD /path`.
    pub endpoint: String,
    /// Why the bypass is needed.
    pub reason: String,
    /// RFC 3339 UTC expiry.
    pub expires_at: String,
    /// The GitHub repository of the pull request it is for, if it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The pull request's number, if it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    /// The blocked gate decision the exception is for (absent in
    /// exceptions filed before filings named their run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_run: Option<BlockedRun>,
}

/// The blocked gate decision an exception is filed for: which record it
/// is (ID, place in the project's chain, digest) and the commit it gated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockedRun {
    /// The decision's run ID (`run_…`).
    pub run_id: String,
    /// Its sequence number in the project's chain (`None` for a legacy record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// `sha256:<hex>` digest of the decision record.
    pub digest: String,
    /// The commit the decision gated.
    pub commit_sha: String,
}

/// Fields of an `exception_signal`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExceptionSignal {
    /// The exception.
    pub exception_id: String,
    /// The kind of signal.
    pub signal: SignalKind,
    /// Who submitted it.
    pub submitted_by: String,
    /// Their name.
    pub submitted_by_name: String,
    /// Whose approval it carries.
    pub approver: String,
    /// Their name.
    pub approver_name: String,
    /// The signal's evidence (a comment, a test run, a review).
    pub evidence: Value,
}

/// Fields of an `exception_activated`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionActivated {
    /// The exception.
    pub exception_id: String,
    /// The signal that activated it.
    pub signal_id: String,
    /// Whose approval.
    pub approver: String,
    /// Filing to activation, ms.
    pub approval_latency_ms: u64,
}

/// Fields of an `exception_revoked`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionRevoked {
    /// The exception.
    pub exception_id: String,
    /// Who revoked it.
    pub revoked_by: String,
    /// Their name.
    pub revoked_by_name: String,
    /// Why.
    pub reason: String,
}

/// Fields of an `exception_expired`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionExpired {
    /// The exception.
    pub exception_id: String,
    /// Its RFC 3339 UTC expiry.
    pub expires_at: String,
    /// `ACTIVE` or `ANERGIC`.
    pub status_before: String,
}

/// Fields of a `compliance_export`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceExport {
    /// Who exported.
    pub requested_by: String,
    /// Their name.
    pub requested_by_name: String,
    /// First day of the period.
    pub period_from: String,
    /// Last day of the period.
    pub period_to: String,
    /// `sha256:<hex>` of the export's JCS header.
    pub header_digest: String,
    /// Section A's count and digest.
    pub section_a: SectionDigest,
    /// Section B's count and digest.
    pub section_b: SectionDigest,
    /// Section C's records (changes of the project's controls): count and digest.
    pub section_c: SectionDigest,
}

/// Fields of a `project_settings_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettingsChanged {
    /// Who changed them (the log admin's key, or the project admin's).
    pub changed_by: String,
    /// Their name.
    pub changed_by_name: String,
    /// `["created"]` when the project was created, else the names of the
    /// controls changed (`bot_deny_list`, `max_exception_lifetime_seconds`,
    /// `accepted_signals`, `github`).
    pub changed: Vec<String>,
    /// Every control after the change.
    pub settings: ProjectSettings,
    /// Every control before the change (absent in records written before
    /// it was recorded, and at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ProjectSettings>,
    /// How the change weakens the controls
    /// ([`crate::settings::weakening`]); absent if it does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weakening: Vec<String>,
    /// The held change this record applies (`chg_…`), after a second
    /// admin approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// The second admin who approved it (principal ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Their name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by_name: Option<String>,
}

/// Fields of a `settings_change_proposed` (its record ID is the change's
/// ID): a change that weakens the controls of a project whose
/// `second_admin_for_weakening` is on. It does not take effect until
/// another project admin approves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChangeProposed {
    /// Who proposed it (principal or log admin key ID).
    pub proposed_by: String,
    /// Their name.
    pub proposed_by_name: String,
    /// The names of the controls it changes.
    pub changed: Vec<String>,
    /// How it weakens them.
    pub weakening: Vec<String>,
    /// Every control before the change.
    pub previous: ProjectSettings,
    /// Every control after it.
    pub settings: ProjectSettings,
    /// When the proposal lapses unapproved (RFC 3339).
    pub expires_at: String,
}

/// Fields of a `settings_change_approved`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChangeApproved {
    /// The held change.
    pub change_id: String,
    /// Who proposed it.
    pub proposed_by: String,
    /// Their name.
    pub proposed_by_name: String,
    /// The second admin who approved it (principal ID).
    pub approved_by: String,
    /// Their name.
    pub approved_by_name: String,
}

/// Fields of a `settings_change_withdrawn`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChangeWithdrawn {
    /// The held change.
    pub change_id: String,
    /// Who withdrew it.
    pub withdrawn_by: String,
    /// Their name.
    pub withdrawn_by_name: String,
}

/// Fields of a `share_token_created`: a read-only link to the runs and the
/// exception ledger of a period (the cockpit's share view). The link's
/// secret is never recorded, only its ID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareTokenCreated {
    /// The link's public ID (`shr_…`).
    pub token_id: String,
    /// Who created it (an auditor's or admin's principal ID).
    pub created_by: String,
    /// Their name.
    pub created_by_name: String,
    /// First day shown (`YYYY-MM-DD`, UTC).
    pub period_from: String,
    /// Last day shown, inclusive.
    pub period_to: String,
    /// When the link stops working (RFC 3339).
    pub expires_at: String,
}

/// Fields of a `share_token_used` (at most one per link per hour).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareTokenUsed {
    /// The link's ID.
    pub token_id: String,
}

/// Fields of a `share_token_revoked`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareTokenRevoked {
    /// The link's ID.
    pub token_id: String,
    /// Who revoked it (principal ID).
    pub revoked_by: String,
    /// Their name.
    pub revoked_by_name: String,
}

/// Fields of a `chain_started`: the first chained record of a project
/// whose records were written before chains. Its `prev` is the digest of
/// the last legacy record, and it commits to all of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStarted {
    /// How many records the project had before (storage order, which is
    /// their log order).
    pub legacy_records: u64,
    /// `sha256:<hex>` of the concatenated 32-byte digests of those records,
    /// in that order: anyone can recompute it from the project's legacy
    /// envelopes in the log.
    pub legacy_digest: String,
}

/// A principal as a principal record states it: who holds the key, its
/// roles, and the person's identities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalFacts {
    /// The principal's ID (`key_…`).
    pub principal_id: String,
    /// Its name.
    pub name: String,
    /// Its project roles.
    pub roles: Vec<crate::principal::Role>,
    /// Marked as a bot.
    pub bot: bool,
    /// GitHub login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_login: Option<String>,
    /// GitHub numeric user ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_id: Option<u64>,
    /// Identity provider subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<crate::principal::IdpSubject>,
    /// The e-mail address that binds the subject at the first sign-in
    /// ([`crate::principal::Profile::email`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Its roles follow the identity provider's groups
    /// ([`crate::principal::Profile::roles_from_idp_groups`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roles_from_idp_groups: bool,
}

impl PrincipalFacts {
    /// The facts of a principal.
    #[must_use]
    pub fn of(p: &crate::principal::Principal) -> Self {
        PrincipalFacts {
            principal_id: p.key.id.clone(),
            name: p.key.name.clone(),
            roles: p.key.roles.clone(),
            bot: p.key.bot,
            github_login: p.profile.github_login.clone(),
            github_id: p.profile.github_id,
            idp: p.profile.idp.clone(),
            email: p.profile.email.clone(),
            roles_from_idp_groups: p.profile.roles_from_idp_groups,
        }
    }

    /// The profile these facts give (login and identities).
    #[must_use]
    pub fn profile(&self) -> crate::principal::Profile {
        crate::principal::Profile {
            github_login: self.github_login.clone(),
            github_id: self.github_id,
            idp: self.idp.clone(),
            email: self.email.clone(),
            roles_from_idp_groups: self.roles_from_idp_groups,
        }
    }
}

/// Fields of a `principal_added`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalAdded {
    /// The principal added.
    #[serde(flatten)]
    pub principal: PrincipalFacts,
    /// The log admin who added it (key ID).
    pub added_by: String,
    /// Their name.
    pub added_by_name: String,
    /// Only in the records of the migration (principals created before
    /// principal records): when the key was created (RFC 3339), as the
    /// key store says. Such a record vouches for the principal from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_from: Option<String>,
}

/// Fields of a `principal_changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalChanged {
    /// The principal after the change.
    #[serde(flatten)]
    pub principal: PrincipalFacts,
    /// What changed: `roles`, `bot`, `github_login`, `github_id`, `idp`, `email`.
    pub changed: Vec<String>,
    /// The log admin who changed it.
    pub changed_by: String,
    /// Their name.
    pub changed_by_name: String,
}

/// Fields of a `principal_revoked`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalRevoked {
    /// The principal revoked.
    pub principal_id: String,
    /// Its name.
    pub name: String,
    /// Who revoked it (a log admin's key ID).
    pub revoked_by: String,
    /// Their name.
    pub revoked_by_name: String,
    /// Only in the records of the migration: when the key was revoked
    /// (RFC 3339), as the key store says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_from: Option<String>,
}

/// Fields of an `anomaly_acknowledged`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyAcknowledged {
    /// The anomaly.
    pub anomaly_id: String,
    /// Who acknowledged it.
    pub acknowledged_by: String,
    /// Their name.
    pub acknowledged_by_name: String,
    /// What was done about it.
    pub note: String,
}

/// Fields of a `monitor_run`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRun {
    /// The UTC day monitored.
    pub day: String,
    /// The rules checked.
    pub rules: Vec<String>,
    /// Anomalies recorded for that day (those found again are not).
    pub anomalies: Vec<String>,
}

/// What an anomaly is (the fields of an `anomaly_detected` record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyDetected {
    /// The rule (`compliance::monitor::rule`).
    pub rule: String,
    /// The UTC day it was found on.
    pub day: String,
    /// What it is about: a metric, `kind on endpoint`, or an exception ID.
    pub subject: String,
    /// The value seen.
    pub observed: u64,
    /// The threshold it crossed.
    pub threshold: u64,
    /// One human sentence.
    pub detail: String,
}

/// Severity of a finding, lowest first (`INFO`, `WARN`, `ERR`): the gate
/// engine's.
pub use gate::Severity;

/// One finding of the spec diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Change kind, e.g. `response_field_removed`.
    pub kind: String,
    /// Endpoint, e.g. `GET /users/{id}`.
    pub endpoint: String,
    /// Severity.
    pub severity: Severity,
    /// What changed, in words.
    #[serde(default)]
    pub detail: String,
}

/// A build artifact and its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Name, e.g. `openapi.yaml`.
    pub name: String,
    /// SHA-256, 64 lowercase hex digits.
    pub sha256: String,
}

/// Count and digest of a record section: `sha256:` of the concatenated
/// 32-byte leaf hashes, in export order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionDigest {
    /// Records in the section.
    pub count: u64,
    /// `sha256:<hex>` of their leaf hashes.
    pub digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_record_type_is_listed_once_and_named_back() {
        for (i, k) in RecordKind::ALL.into_iter().enumerate() {
            // A new type fails to compile here until it is placed in ALL.
            let position = match k {
                RecordKind::GateDecision => 0,
                RecordKind::ExceptionRequested => 1,
                RecordKind::ExceptionSignal => 2,
                RecordKind::ExceptionActivated => 3,
                RecordKind::ExceptionRevoked => 4,
                RecordKind::ExceptionExpired => 5,
                RecordKind::ComplianceExport => 6,
                RecordKind::ProjectSettingsChanged => 7,
                RecordKind::AnomalyDetected => 8,
                RecordKind::AnomalyAcknowledged => 9,
                RecordKind::MonitorRun => 10,
                RecordKind::ShareTokenCreated => 11,
                RecordKind::ShareTokenUsed => 12,
                RecordKind::ShareTokenRevoked => 13,
                RecordKind::ChainStarted => 14,
                RecordKind::PrincipalAdded => 15,
                RecordKind::PrincipalChanged => 16,
                RecordKind::PrincipalRevoked => 17,
                RecordKind::SettingsChangeProposed => 18,
                RecordKind::SettingsChangeApproved => 19,
                RecordKind::SettingsChangeWithdrawn => 20,
            };
            assert_eq!(position, i);
            assert_eq!(RecordKind::from_name(k.as_str()), Some(k));
        }
        assert_eq!(RecordKind::from_name("gate"), None);
    }

    #[test]
    fn envelope_is_jcs_with_the_record_digest() {
        let record = json!({"type": "gate_decision", "id": "run_1", "project": "prj_x",
            "time": "2026-01-01T00:00:00.000Z", "b": [1, 2], "a": "é", "salt": SALT});
        let env = String::from_utf8(envelope(&record).unwrap()).unwrap();
        let jcs = r#"{"a":"é","b":[1,2],"id":"run_1","project":"prj_x","salt":"0123456789abcdef0123456789abcdef","time":"2026-01-01T00:00:00.000Z","type":"gate_decision"}"#;
        assert_eq!(
            env,
            format!(
                r#"{{"digest":"{}","id":"run_1","project":"prj_x","time":"2026-01-01T00:00:00.000Z","type":"gate_decision","v":1}}"#,
                sha256_digest(jcs.as_bytes())
            )
        );
        // Key order and whitespace of the input do not matter; content does.
        let same: Value = serde_json::from_str(&format!(" {} ", jcs.replace(',', " ,"))).unwrap();
        assert_eq!(envelope(&same).unwrap(), env.as_bytes());
        let mut other = record.clone();
        other["a"] = json!("e");
        assert_ne!(envelope(&other).unwrap(), env.as_bytes());
        // Pinned: a record without its envelope fields has no envelope.
        assert!(matches!(
            envelope(&json!({"type": "x", "id": "1", "project": "p"})),
            Err(Error::MissingField("time"))
        ));
        assert!(matches!(envelope(&json!([])), Err(Error::NotAnObject)));
        assert!(matches!(
            envelope(&json!({"type": "x", "id": "1", "project": "p", "time": "yesterday"})),
            Err(Error::BadTime(_))
        ));
    }

    const SALT: &str = "0123456789abcdef0123456789abcdef";

    /// Pinned: every record is salted (at least 128 bits), the salt never
    /// reaches the envelope, and two records of identical content have
    /// different digests, so a digest cannot be confirmed by guessing.
    #[test]
    fn records_are_salted_and_the_salt_stays_private() {
        let record = |salt: &str| {
            json!({"type": "exception_expired", "id": "evt_1", "project": "prj_x",
                "time": "2026-01-01T00:00:00Z", "exception_id": "exc_1",
                "expires_at": "2026-01-01T00:00:00Z", "status_before": "ACTIVE", "salt": salt})
        };
        let a = envelope(&record(SALT)).unwrap();
        let b = envelope(&record("fedcba9876543210fedcba9876543210")).unwrap();
        assert_ne!(a, b, "same content, different salts, different digests");
        let env: Value = serde_json::from_slice(&a).unwrap();
        let keys: Vec<&str> = env
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["digest", "id", "project", "time", "type", "v"]);
        let mut unsalted = record(SALT);
        unsalted.as_object_mut().unwrap().remove("salt");
        assert!(matches!(
            envelope(&unsalted),
            Err(Error::MissingField("salt"))
        ));
        for weak in [
            "0123",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcdefg",
        ] {
            assert!(
                matches!(envelope(&record(weak)), Err(Error::Invalid(_))),
                "{weak}"
            );
        }
    }

    /// Pinned: a typed record serializes to exactly the JCS bytes of the
    /// untyped JSON the log server has always committed, for every type, and
    /// reads back to the same record; a missing field is an error, never "".
    #[test]
    fn typed_records_keep_the_committed_bytes() {
        let common = |v: &mut Value| {
            v["id"] = json!("x_1");
            v["project"] = json!("prj_1");
            v["time"] = json!("2026-01-02T03:04:05Z");
            v["salt"] = json!("0123456789abcdef0123456789abcdef");
        };
        let digest = json!({"count": 2, "digest": "sha256:00"});
        let cases = [
            json!({"type": "gate_decision", "submitted_by": "key_ci", "submitted_by_name": "ci",
                "commit_sha": "abcdef0", "branch": "main", "author": "dev",
                "findings": [{"kind": "k", "endpoint": "GET /", "severity": "ERR", "detail": ""}],
                "artifacts": [{"name": "openapi.yaml", "sha256": "a".repeat(64)}],
                "verdict": "ERR", "blocked": true, "blocked_reasons": ["r"], "exceptions_applied": [],
                "classified_by": "ci"}),
            json!({"type": "exception_requested", "requested_by": "key_a", "requested_by_name": "alice",
                "kind": "k", "endpoint": "GET /", "reason": "r", "expires_at": "2026-02-01T00:00:00Z"}),
            json!({"type": "exception_signal", "exception_id": "exc_1", "signal": "github_review",
                "submitted_by": "key_b", "submitted_by_name": "bob", "approver": "key_b",
                "approver_name": "bob", "evidence": {"pull_request": 7}}),
            json!({"type": "exception_activated", "exception_id": "exc_1", "signal_id": "evt_1",
                "approver": "key_b", "approval_latency_ms": 12}),
            json!({"type": "exception_revoked", "exception_id": "exc_1", "revoked_by": "key_a",
                "revoked_by_name": "alice", "reason": "done"}),
            json!({"type": "exception_expired", "exception_id": "exc_1",
                "expires_at": "2026-02-01T00:00:00Z", "status_before": "ACTIVE"}),
            json!({"type": "compliance_export", "requested_by": "key_x", "requested_by_name": "aud",
                "period_from": "2026-01-01", "period_to": "2026-01-31", "header_digest": "sha256:11",
                "section_a": digest, "section_b": digest, "section_c": digest}),
            json!({"type": "project_settings_changed", "changed_by": "key_adm", "changed_by_name": "admin",
                "changed": ["github"], "settings": {"bot_deny_list": [], "max_exception_lifetime_seconds": 60,
                "accepted_signals": ["github_review"], "gate": {"severity_overrides": {"api-path-removed-without-deprecation": "warn"},
                "deprecation_days_stable": 0, "deprecation_days_beta": 0},
                "github": {"repository": "acme/api", "connected_at": "2026-01-02T03:04:05Z"},
                "monitoring": {"baseline_days": 28, "spike_mads": 3, "min_spike_count": 5,
                    "warn_recurrence_runs": 5, "warn_window_days": 14, "renewal_count": 3,
                    "renewal_window_days": 90, "anergic_hours": 72, "expiry_warning_hours": 48,
                    "flag_ci_classified": false}}}),
            json!({"type": "anomaly_detected", "rule": "change_velocity_spike", "day": "2026-01-01",
                "subject": "spec changes", "observed": 9, "threshold": 6, "detail": "d"}),
            json!({"type": "anomaly_acknowledged", "anomaly_id": "anm_1", "acknowledged_by": "key_a",
                "acknowledged_by_name": "alice", "note": "release day"}),
            json!({"type": "monitor_run", "day": "2026-01-01", "rules": ["change_velocity_spike"],
                "anomalies": ["anm_1"]}),
            json!({"type": "chain_started", "legacy_records": 3,
                "legacy_digest": format!("sha256:{}", "1".repeat(64)),
                "seq": 4, "prev": format!("sha256:{}", "2".repeat(64))}),
            json!({"type": "share_token_used", "token_id": "shr_1", "seq": 1}),
        ];
        for mut untyped in cases {
            common(&mut untyped);
            let jcs = canonical(&untyped).unwrap();
            let typed = Record::from_slice(&jcs).unwrap();
            assert_eq!(typed.body.kind().as_str(), untyped["type"]);
            assert_eq!(canonical(&typed).unwrap(), jcs, "{}", untyped["type"]);
            assert_eq!(typed.seal().unwrap(), seal(&untyped).unwrap());
            let mut missing = untyped.clone();
            let field = missing
                .as_object()
                .unwrap()
                .keys()
                .find(|k| {
                    !["type", "id", "project", "time", "salt", "seq", "prev"].contains(&k.as_str())
                })
                .unwrap()
                .clone();
            missing.as_object_mut().unwrap().remove(&field);
            assert!(
                Record::from_slice(&canonical(&missing).unwrap()).is_err(),
                "{} without {field}",
                untyped["type"]
            );
        }
        assert!(
            Record::from_slice(br#"{"type":"nope","id":"a","project":"p","time":"t"}"#).is_err()
        );
    }

    /// Pinned: a chained record's envelope is the prefix line and the JCS
    /// object with its seq; it reads back strictly; a legacy record keeps
    /// the version 1 envelope, byte for byte.
    #[test]
    fn chained_envelopes_have_the_prefix_and_the_seq() {
        let mut record = json!({"type": "gate_decision", "id": "run_1", "project": "prj_x",
            "time": "2026-01-01T00:00:00.000Z", "salt": SALT, "seq": 7,
            "prev": format!("sha256:{}", "ab".repeat(32))});
        let (jcs, env) = seal(&record).unwrap();
        let text = String::from_utf8(env.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                "stateanchor-envelope/v2\n{{\"digest\":\"{}\",\"id\":\"run_1\",\"project\":\"prj_x\",\"seq\":7,\"time\":\"2026-01-01T00:00:00.000Z\",\"type\":\"gate_decision\",\"v\":2}}",
                sha256_digest(&jcs)
            )
        );
        let read = Envelope::from_bytes(&env).unwrap();
        assert_eq!(
            (read.seq, read.version, read.id.as_str()),
            (Some(7), 2, "run_1")
        );
        assert_eq!(read.to_bytes().unwrap(), env);
        // Not canonical, or without the prefix: not an envelope.
        let spaced = text.replacen("\"id\":", "\"id\": ", 1);
        assert!(Envelope::from_bytes(spaced.as_bytes()).is_err());
        let bare = &env[ENVELOPE_PREFIX.len()..];
        assert!(
            Envelope::from_bytes(bare).is_err(),
            "a v2 object needs its prefix"
        );
        // Legacy: no seq, version 1, no prefix.
        record.as_object_mut().unwrap().remove("seq");
        record.as_object_mut().unwrap().remove("prev");
        let legacy = envelope(&record).unwrap();
        assert!(legacy.starts_with(b"{\"digest\":"));
        let read = Envelope::from_bytes(&legacy).unwrap();
        assert_eq!((read.seq, read.version), (None, 1));
    }

    /// Pinned: `prev` is there exactly when seq is above 1, and well formed.
    #[test]
    fn chain_fields_are_checked() {
        let rec = |extra: Value| {
            let mut r = json!({"type": "gate_decision", "id": "run_1", "project": "prj_x",
                "time": "2026-01-01T00:00:00Z", "salt": SALT});
            for (k, v) in extra.as_object().unwrap() {
                r[k] = v.clone();
            }
            r
        };
        let d = format!("sha256:{}", "0f".repeat(32));
        assert!(seal(&rec(json!({"seq": 1}))).is_ok());
        assert!(seal(&rec(json!({"seq": 2, "prev": d}))).is_ok());
        for bad in [
            json!({"seq": 1, "prev": d}),
            json!({"seq": 2}),
            json!({"prev": d}),
            json!({"seq": 0}),
            json!({"seq": -1}),
            json!({"seq": "2", "prev": d}),
            json!({"seq": 2, "prev": "sha256:00"}),
            json!({"seq": 2, "prev": d.to_uppercase()}),
        ] {
            assert!(
                matches!(seal(&rec(bad.clone())), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
        assert_eq!(parse_digest(&d), Some([0x0f; 32]));
    }

    /// Pinned: what the raw write API refuses, and what it keeps taking.
    #[test]
    fn raw_entries_that_look_like_envelopes_are_named() {
        let legacy =
            br#"{"digest":"sha256:00","id":"x","project":"p","time":"t","type":"y","v":1}"#;
        assert_eq!(envelope_like(legacy), Some("legacy envelope"));
        let spaced = br#" { "v": 9, "type": "y", "project": "p", "id": "x", "time": "t", "digest": "d", "more": 1 }"#;
        assert_eq!(envelope_like(spaced), Some("legacy envelope"));
        assert_eq!(
            envelope_like(b"stateanchor-envelope/v2\n{}"),
            Some("chained envelope")
        );
        assert_eq!(
            envelope_like(b"stateanchor-envelope/v9 anything"),
            Some("chained envelope")
        );
        for fine in [
            &b"hello"[..],
            b"",
            br#"{"digest":"sha256:00","id":"x","project":"p","time":"t","type":"y"}"#,
            b"{not json",
            b"[1,2]",
            b" stateanchor-envelope/v2\n",
        ] {
            assert_eq!(
                envelope_like(fine),
                None,
                "{}",
                String::from_utf8_lossy(fine)
            );
        }
    }
}
