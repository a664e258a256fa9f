//! The compliance domain's I/O: private records in RocksDB, the
//! per-project ledger state, and the HTTP handlers of the gate
//! ([`api::post_decision`]), the exception ledger and the compliance export
//! ([`export`]). The rules are pure and live in `gate` and `ledger`; the
//! formats in [`format`]. See `spec/compliance.md`.
//!
//! # Records and envelopes
//!
//! Every decision and ledger event is a record: a JSON object with `type`,
//! `id`, `project`, `time` and its own fields. Its log entry is the envelope
//! ([`format::envelope`]), which carries only the record's digest. The
//! record's rows are committed **in the same atomic, fsync'd write batch as
//! its entry** ([`Log::enqueue`]'s private rows), so a record exists if and
//! only if its envelope is in the log, whatever the moment of a crash.
//!
//! # Consistency
//!
//! Each project has an async mutex around read-evaluate-queue: a decision is
//! evaluated against the ledger state and queued for the log under the
//! lock, and the log sequences entries in queue order. So the log order of a
//! project's records is the order in which they were evaluated, and an
//! exception revoked (queued) before a decision is never applied by it. The
//! lock is not held while the entry is made durable, so many decisions of
//! one project share one fsync.
//!
//! # Keys of the `records` column family
//!
//! | key | value |
//! |---|---|
//! | `P` project | project row (JSON) |
//! | `U` project `/` principal | principal profile (JSON: `github_login`) |
//! | `S` project | last sequence number and last record time (u64 BE, i64 BE) |
//! | `R` project `/` seq (u64 BE) | type code (u8), envelope length (u32 BE), envelope, record (JCS) |
//! | `T` project `/` time ms (u64 BE) seq (u64 BE) | empty: period look-up |
//! | `I` project `/` record ID | seq: look-up by ID |
//! | `X` project `/` exception ID `/` seq | empty: the events of an exception |

pub mod api;
pub mod export;
pub mod format;
pub mod github;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};
use tlog::Hash;
use tokio::sync::{oneshot, watch};

use crate::error::ApiError;
use crate::keys::{KeyRecord, Role};
use crate::ledger::{Exception, ProjectSettings, Refusal};
use crate::log::{AppendError, Log, PrivateRows};
use crate::projects::{self, ProjectRow};
use crate::storage::{CF_RECORDS, Store};
use format::{
    COMPLIANCE_EXPORT, EXCEPTION_ACTIVATED, EXCEPTION_EXPIRED, EXCEPTION_REQUESTED,
    EXCEPTION_REVOKED, EXCEPTION_SIGNAL, GATE_DECISION,
};

/// Record types and their codes in `R` rows.
const TYPE_CODES: [(&str, u8); 7] = [
    (GATE_DECISION, 1),
    (EXCEPTION_REQUESTED, 2),
    (EXCEPTION_SIGNAL, 3),
    (EXCEPTION_ACTIVATED, 4),
    (EXCEPTION_REVOKED, 5),
    (EXCEPTION_EXPIRED, 6),
    (COMPLIANCE_EXPORT, 7),
];

fn type_code(kind: &str) -> Option<u8> {
    TYPE_CODES.iter().find(|(k, _)| *k == kind).map(|(_, c)| *c)
}

/// The record type of a code.
pub fn type_name(code: u8) -> Option<&'static str> {
    TYPE_CODES.iter().find(|(_, c)| *c == code).map(|(k, _)| *k)
}

fn key(tag: u8, project: &str, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + project.len() + rest.len());
    k.push(tag);
    k.extend_from_slice(project.as_bytes());
    k.push(b'/');
    k.extend_from_slice(rest);
    k
}

/// Key of a record row.
pub fn record_key(project: &str, seq: u64) -> Vec<u8> {
    key(b'R', project, &seq.to_be_bytes())
}

/// Key of a time-index row; times before the epoch sort as 0.
pub fn time_key(project: &str, time_ms: i64, seq: u64) -> Vec<u8> {
    let mut rest = [0u8; 16];
    rest[..8].copy_from_slice(&u64::try_from(time_ms).unwrap_or(0).to_be_bytes());
    rest[8..].copy_from_slice(&seq.to_be_bytes());
    key(b'T', project, &rest)
}

fn id_key(project: &str, id: &str) -> Vec<u8> {
    key(b'I', project, id.as_bytes())
}

fn exception_key(project: &str, exception: &str, seq: Option<u64>) -> Vec<u8> {
    let mut rest = exception.as_bytes().to_vec();
    rest.push(b'/');
    if let Some(seq) = seq {
        rest.extend_from_slice(&seq.to_be_bytes());
    }
    key(b'X', project, &rest)
}

fn state_key(project: &str) -> Vec<u8> {
    let mut k = vec![b'S'];
    k.extend_from_slice(project.as_bytes());
    k
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A decoded `R` row.
pub struct Row<'a> {
    /// Record type code.
    pub code: u8,
    /// The envelope (the log entry).
    pub envelope: &'a [u8],
    /// The record, JCS.
    pub record: &'a [u8],
}

impl<'a> Row<'a> {
    fn encode(code: u8, envelope: &[u8], record: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(5 + envelope.len() + record.len());
        v.push(code);
        v.extend_from_slice(
            &u32::try_from(envelope.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        v.extend_from_slice(envelope);
        v.extend_from_slice(record);
        v
    }

    /// Decodes a row.
    ///
    /// # Errors
    /// If it is corrupt.
    pub fn decode(v: &'a [u8]) -> Result<Self> {
        let code = *v.first().context("empty record row")?;
        let len = u32::from_be_bytes(v.get(1..5).context("short record row")?.try_into()?) as usize;
        let envelope = v.get(5..5 + len).context("short record row")?;
        Ok(Row {
            code,
            envelope,
            record: &v[5 + len..],
        })
    }

    /// The record as JSON.
    ///
    /// # Errors
    /// If it is corrupt.
    pub fn value(&self) -> Result<Value> {
        serde_json::from_slice(self.record).context("corrupt record")
    }
}

/// Milliseconds since the epoch, from the system clock (the one place the
/// compliance domain reads it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A project's ledger state, loaded from its records, guarded by the
/// project's lock.
pub struct ProjectState {
    /// The project row (name, settings).
    pub row: ProjectRow,
    /// Last sequence number given to a record.
    pub last_seq: u64,
    /// Time of the last record (records' times never go backwards).
    pub last_time: i64,
    /// Every exception, by ID.
    pub exceptions: BTreeMap<String, Exception>,
    /// Highest sequence number whose append has completed (committed or failed).
    committed: Arc<watch::Sender<u64>>,
}

impl ProjectState {
    /// The time of a record evaluated now: the clock, never earlier than
    /// the project's previous record.
    pub fn clock(&self, now: i64) -> i64 {
        now.max(self.last_time)
    }

    /// The project's settings.
    pub fn settings(&self) -> &ProjectSettings {
        &self.row.settings
    }

    /// Resolves once every record queued so far for the project has
    /// completed (committed, or failed); to be awaited without the lock.
    pub fn settled(&self) -> impl Future<Output = ()> + Send + use<> {
        let upto = self.last_seq;
        let mut rx = self.committed.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c >= upto).await;
        }
    }
}

/// A record queued for the log; [`Staged::done`] resolves when it is durable.
pub struct Staged {
    /// The record.
    pub record: Value,
    /// Its sequence number in the project.
    pub seq: u64,
    /// Resolves to its index and leaf hash once committed.
    pub done: oneshot::Receiver<Result<(u64, Hash), AppendError>>,
}

impl Staged {
    /// Waits until the record is durable.
    ///
    /// # Errors
    /// 503 if the log refused or failed it.
    pub async fn wait(self) -> Result<(Value, u64, Hash), ApiError> {
        match self.done.await {
            Ok(Ok((index, leaf))) => Ok((self.record, index, leaf)),
            Ok(Err(e)) => Err(crate::api::append_error(e)),
            Err(_) => Err(ApiError::Unavailable),
        }
    }
}

/// The compliance domain's shared state.
pub struct Compliance {
    /// The log.
    pub log: Arc<Log>,
    /// GitHub, for `github_review` signals.
    pub github: github::GitHub,
    projects: Mutex<HashMap<String, Arc<tokio::sync::Mutex<ProjectState>>>>,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(m) => ApiError::BadRequest(m),
            Refusal::Forbidden(m) => ApiError::Forbidden(m),
            Refusal::Conflict(m) => ApiError::Conflict(m),
        }
    }
}

/// What a caller wants to do in a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read decisions and exceptions: any project role, or a log admin.
    Read,
    /// Export evidence: `auditor` or `admin` of the project, or a log admin.
    Export,
    /// Submit gate decisions: `ci`.
    Decide,
    /// File, approve or revoke exceptions: project principals; the ledger's
    /// rules check the roles.
    Ledger,
}

/// Checks that `caller` may do `access` in `project`. A key of another
/// project gets 404, as if the project did not exist; a role that is not
/// for this gets 403.
///
/// # Errors
/// 404 or 403.
pub fn authorize(caller: &KeyRecord, project: &str, access: Access) -> Result<(), ApiError> {
    let log_admin = caller.project.is_none() && caller.has(Role::Admin);
    match caller.project.as_deref() {
        Some(p) if p != project => return Err(no_project(project)),
        None if !log_admin => {
            return Err(ApiError::Forbidden(
                "the project API needs a key of one of the project's principals".into(),
            ));
        }
        _ => {}
    }
    let has = |r: Role| caller.project.is_some() && caller.roles.contains(&r);
    let ok = match access {
        Access::Read => log_admin || !caller.roles.is_empty(),
        Access::Export => log_admin || has(Role::Auditor) || has(Role::Admin),
        Access::Decide => has(Role::Ci),
        Access::Ledger => caller.project.is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden(match access {
            Access::Read => "this key has no role in the project".into(),
            Access::Export => "exports need the auditor or admin role".into(),
            Access::Decide => "only a ci key submits gate decisions".into(),
            Access::Ledger => "the exception ledger takes keys of the project's principals".into(),
        }))
    }
}

/// The 404 of an unknown (or foreign) project.
pub fn no_project(project: &str) -> ApiError {
    ApiError::not_found(format!("no project {project:?}"))
}

impl Compliance {
    /// The compliance domain over `log`.
    pub fn new(log: Arc<Log>, github: github::GitHub) -> Self {
        Compliance {
            log,
            github,
            projects: Mutex::new(HashMap::new()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.log.store
    }

    /// The state of `project`, loaded from its records on first use.
    ///
    /// # Errors
    /// 404 for an unknown project; storage errors.
    /// The state of `project` for a caller who needs `access` to it: an
    /// unknown project is 404 before the caller's rights are looked at.
    pub async fn project_for(
        &self,
        caller: &KeyRecord,
        project: &str,
        access: Access,
    ) -> Result<Arc<tokio::sync::Mutex<ProjectState>>, ApiError> {
        let p = self.project(project).await?;
        authorize(caller, project, access)?;
        Ok(p)
    }

    pub async fn project(
        &self,
        project: &str,
    ) -> Result<Arc<tokio::sync::Mutex<ProjectState>>, ApiError> {
        if let Some(p) = self.cache().get(project) {
            return Ok(p.clone());
        }
        let store = self.store().clone();
        let id = project.to_owned();
        let loaded = tokio::task::spawn_blocking(move || load_state(&store, &id))
            .await
            .map_err(|e| ApiError::Internal(e.into()))??;
        let Some(state) = loaded else {
            return Err(no_project(project));
        };
        let mut cache = self.cache();
        Ok(cache
            .entry(project.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(state)))
            .clone())
    }

    fn cache(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<ProjectState>>>> {
        self.projects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `record` (whose `time` is `time`) for the log with its rows,
    /// under the project's lock.
    ///
    /// # Errors
    /// 503 when the log pushes back or has stopped; nothing is changed then.
    pub fn stage(
        &self,
        ps: &mut ProjectState,
        mut record: Value,
        time: i64,
    ) -> Result<Staged, ApiError> {
        let project = ps.row.id.clone();
        record["project"] = json!(project);
        record["time"] = json!(format::format_time(time));
        let (jcs, envelope) = format::seal(&record).map_err(|e| ApiError::Internal(e.into()))?;
        let meta = format::RecordMeta::of(&record).map_err(|e| ApiError::Internal(e.into()))?;
        let code = type_code(&meta.kind).context("unknown record type")?;
        let seq = ps.last_seq + 1;
        let mut rows: PrivateRows = vec![
            (
                record_key(&project, seq),
                Row::encode(code, &envelope, &jcs),
            ),
            (time_key(&project, time, seq), Vec::new()),
            (id_key(&project, &meta.id), seq.to_be_bytes().to_vec()),
        ];
        if format::Section::B.holds(&meta.kind) {
            let exc = if meta.kind == EXCEPTION_REQUESTED {
                meta.id.as_str()
            } else {
                record["exception_id"].as_str().unwrap_or_default()
            };
            rows.push((exception_key(&project, exc, Some(seq)), Vec::new()));
        }
        let mut st = seq.to_be_bytes().to_vec();
        st.extend_from_slice(&time.to_be_bytes());
        rows.push((state_key(&project), st));
        let fut = self
            .log
            .enqueue(envelope, rows)
            .map_err(crate::api::append_error)?;
        // Queued: from here on the record is in the log's order.
        ps.last_seq = seq;
        ps.last_time = time;
        let committed = ps.committed.clone();
        let (tx, done) = oneshot::channel();
        tokio::spawn(async move {
            let result = fut.await;
            committed.send_modify(|c| *c = (*c).max(seq));
            let _ = tx.send(result);
        });
        Ok(Staged { record, seq, done })
    }

    /// Records an `exception_expired` for every exception of the project
    /// past its expiry that has none yet (expiry is checked at every use).
    ///
    /// # Errors
    /// As [`Compliance::stage`].
    pub fn sweep_expiries(&self, ps: &mut ProjectState, now: i64) -> Result<Vec<Staged>, ApiError> {
        let due: Vec<(String, i64, &'static str)> = ps
            .exceptions
            .values()
            .filter(|e| e.expiry_due(now))
            .map(|e| {
                let before = if e.activated_at.is_some() {
                    "ACTIVE"
                } else {
                    "ANERGIC"
                };
                (e.id.clone(), e.expires_at, before)
            })
            .collect();
        let mut staged = Vec::with_capacity(due.len());
        for (id, expires_at, before) in due {
            let record = json!({
                "type": EXCEPTION_EXPIRED,
                "id": crate::keys::random_id("evt"),
                "exception_id": id,
                "expires_at": format::format_time(expires_at),
                "status_before": before,
            });
            staged.push(self.stage(ps, record, now)?);
            if let Some(e) = ps.exceptions.get_mut(&id) {
                e.expiry_recorded = true;
            }
        }
        Ok(staged)
    }

    /// Updates a project's settings (row and loaded state together).
    ///
    /// # Errors
    /// 404 for an unknown project; storage errors.
    pub async fn update_settings(
        &self,
        project: &str,
        update: impl FnOnce(&mut ProjectSettings),
    ) -> Result<ProjectRow, ApiError> {
        let p = self.project(project).await?;
        let mut ps = p.lock().await;
        let mut row = ps.row.clone();
        update(&mut row.settings);
        projects::save_project(self.store(), &row)?;
        ps.row = row.clone();
        Ok(row)
    }
}

/// Reads one record row by sequence number.
///
/// # Errors
/// Storage errors.
pub fn read_row(store: &Store, project: &str, seq: u64) -> Result<Option<Vec<u8>>> {
    store.get(CF_RECORDS, &record_key(project, seq))
}

/// The sequence number of a record by ID.
///
/// # Errors
/// Storage errors.
pub fn seq_of(store: &Store, project: &str, id: &str) -> Result<Option<u64>> {
    Ok(store
        .get(CF_RECORDS, &id_key(project, id))?
        .and_then(|v| u64_at(&v, 0)))
}

/// Sequence numbers of an exception's records, in order.
///
/// # Errors
/// Storage errors.
pub fn exception_seqs(store: &Store, project: &str, exception: &str) -> Result<Vec<u64>> {
    let prefix = exception_key(project, exception, None);
    Ok(store
        .scan_prefix(CF_RECORDS, &prefix)?
        .iter()
        .filter_map(|(k, _)| u64_at(k, prefix.len()))
        .collect())
}

/// The first sequence number whose record time is at or after `time_ms`
/// (`None`: there is none).
///
/// # Errors
/// Storage errors.
pub fn first_seq_at(store: &Store, project: &str, time_ms: i64) -> Result<Option<u64>> {
    let start = time_key(project, time_ms, 0);
    let end = key(b'T', project, &[0xff; 17]);
    let mut found = None;
    store.for_each_in_range(CF_RECORDS, &start, &end, |k, _| {
        found = u64_at(k, k.len() - 8);
        Ok(false)
    })?;
    Ok(found)
}

fn load_state(store: &Store, project: &str) -> Result<Option<ProjectState>, ApiError> {
    let Some(row) = projects::load_project(store, project)? else {
        return Ok(None);
    };
    let (last_seq, last_time) = match store.get(CF_RECORDS, &state_key(project))? {
        Some(v) => (
            u64_at(&v, 0).context("corrupt project state")?,
            i64::from_be_bytes(
                v.get(8..16)
                    .context("corrupt project state")?
                    .try_into()
                    .map_err(anyhow::Error::from)?,
            ),
        ),
        None => (0, 0),
    };
    let mut exceptions: BTreeMap<String, Exception> = BTreeMap::new();
    let prefix = key(b'X', project, &[]);
    for (k, _) in store.scan_prefix(CF_RECORDS, &prefix)? {
        let seq = u64_at(&k, k.len() - 8).context("corrupt exception index")?;
        let raw =
            read_row(store, project, seq)?.context("exception index names a missing record")?;
        let value = Row::decode(&raw)?.value()?;
        if let Some(e) = Exception::from_requested(&value) {
            exceptions.insert(e.id.clone(), e);
        } else if let Some(e) = value["exception_id"]
            .as_str()
            .and_then(|id| exceptions.get_mut(id))
        {
            e.apply(&value);
        }
    }
    Ok(Some(ProjectState {
        row,
        last_seq,
        last_time,
        exceptions,
        committed: Arc::new(watch::channel(last_seq).0),
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::log::LogConfig;
    use crate::metrics::Metrics;

    fn start() -> (tempfile::TempDir, Arc<Log>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let signer = tlog::SignerKey::from_seed("test.example/log", &[7; 32]).unwrap();
        let config = LogConfig {
            queue_capacity: 1024,
            max_batch: 64,
            checkpoint_interval: Duration::from_millis(10),
        };
        let log = Log::start(store, signer, config, Arc::new(Metrics::default())).unwrap();
        (dir, log)
    }

    fn compliance(log: &Arc<Log>) -> Compliance {
        Compliance::new(log.clone(), github::GitHub::new("http://127.0.0.1:9", None))
    }

    #[tokio::test]
    async fn records_commit_with_their_envelopes_and_the_ledger_reloads() {
        let (_dir, log) = start();
        let row = ProjectRow {
            id: "prj_t".into(),
            name: "t".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            settings: ProjectSettings::default(),
        };
        projects::save_project(&log.store, &row).unwrap();
        let c = compliance(&log);
        assert!(matches!(
            c.project("prj_nope").await,
            Err(ApiError::NotFound(_))
        ));
        let p = c.project("prj_t").await.unwrap();
        let t0 = 1_000_000;
        let staged = {
            let mut ps = p.lock().await;
            let now = ps.clock(t0);
            let record = json!({"type": EXCEPTION_REQUESTED, "id": "exc_1", "requested_by": "key_a",
                "kind": "k", "endpoint": "GET /", "reason": "r", "expires_at": format::format_time(t0 + 5_000)});
            let s = c.stage(&mut ps, record, now).unwrap();
            ps.exceptions.insert(
                "exc_1".into(),
                Exception::from_requested(&s.record).unwrap(),
            );
            // Record times never go backwards.
            assert_eq!(ps.clock(t0 - 1), t0);
            s
        };
        let seq = staged.seq;
        let (record, index, leaf) = staged.wait().await.unwrap();
        // The log entry is the record's envelope; the row holds both.
        let entry = log.store.entry(index).unwrap().unwrap();
        assert_eq!(entry, format::envelope(&record).unwrap());
        assert_eq!(tlog::leaf_hash(&entry), leaf);
        let raw = read_row(&log.store, "prj_t", seq).unwrap().unwrap();
        let row = Row::decode(&raw).unwrap();
        assert_eq!(row.envelope, entry.as_slice());
        assert_eq!(row.value().unwrap(), record);
        assert_eq!(seq_of(&log.store, "prj_t", "exc_1").unwrap(), Some(seq));
        assert_eq!(exception_seqs(&log.store, "prj_t", "exc_1").unwrap(), [seq]);
        assert_eq!(first_seq_at(&log.store, "prj_t", t0).unwrap(), Some(seq));
        assert_eq!(first_seq_at(&log.store, "prj_t", t0 + 1).unwrap(), None);
        // Past expiry: one exception_expired record, once.
        let expired = {
            let mut ps = p.lock().await;
            let now = ps.clock(t0 + 5_000);
            let s = c.sweep_expiries(&mut ps, now).unwrap();
            assert_eq!(s.len(), 1);
            assert!(c.sweep_expiries(&mut ps, now + 1).unwrap().is_empty());
            s
        };
        for s in expired {
            s.wait().await.unwrap();
        }
        // A fresh start folds the records into the same ledger state.
        let again = compliance(&log);
        let p2 = again.project("prj_t").await.unwrap();
        let ps = p2.lock().await;
        let e = &ps.exceptions["exc_1"];
        assert!(e.expiry_recorded);
        assert_eq!(e.status_at(t0), crate::ledger::Status::Expired);
        assert_eq!((ps.last_seq, ps.last_time), (seq + 1, t0 + 5_000));
    }

    #[test]
    fn roles_and_projects() {
        let key = |project: Option<&str>, roles: &[Role]| KeyRecord {
            id: "key_x".into(),
            name: "x".into(),
            roles: roles.to_vec(),
            project: project.map(str::to_owned),
            bot: false,
            created_at: String::new(),
            revoked_at: None,
        };
        let forbidden = |r: Result<(), ApiError>| matches!(r, Err(ApiError::Forbidden(_)));
        let hidden = |r: Result<(), ApiError>| matches!(r, Err(ApiError::NotFound(_)));
        // Another project's key: 404 whatever its roles.
        for roles in [&[Role::Ci][..], &[Role::Admin], &[Role::Auditor]] {
            for access in [Access::Read, Access::Export, Access::Decide, Access::Ledger] {
                assert!(hidden(authorize(
                    &key(Some("prj_b"), roles),
                    "prj_a",
                    access
                )));
            }
        }
        let ci = key(Some("prj_a"), &[Role::Ci]);
        let auditor = key(Some("prj_a"), &[Role::Auditor]);
        let padmin = key(Some("prj_a"), &[Role::Admin]);
        let log_admin = key(None, &[Role::Admin]);
        let submitter = key(None, &[Role::Submitter]);
        assert!(authorize(&ci, "prj_a", Access::Decide).is_ok());
        assert!(forbidden(authorize(&ci, "prj_a", Access::Export)));
        assert!(authorize(&auditor, "prj_a", Access::Export).is_ok());
        assert!(forbidden(authorize(&auditor, "prj_a", Access::Decide)));
        assert!(authorize(&padmin, "prj_a", Access::Export).is_ok());
        assert!(forbidden(authorize(&padmin, "prj_a", Access::Decide)));
        assert!(authorize(&log_admin, "prj_a", Access::Export).is_ok());
        assert!(authorize(&log_admin, "prj_a", Access::Read).is_ok());
        assert!(forbidden(authorize(&log_admin, "prj_a", Access::Decide)));
        assert!(forbidden(authorize(&log_admin, "prj_a", Access::Ledger)));
        assert!(forbidden(authorize(&submitter, "prj_a", Access::Read)));
        // A project admin has no log-wide rights.
        assert!(!padmin.has(Role::Admin) && !padmin.has(Role::Submitter));
        assert!(log_admin.has(Role::Submitter));
    }
}
