//! The compliance service: projects and their principals, the gate's
//! decisions, the exception ledger and the evidence export, over the log,
//! the record and key stores, and the pure rules of the `compliance` crate.
//! See `spec/compliance.md`.
//!
//! # Records and envelopes
//!
//! Every decision and ledger event is a record: a JSON object with `type`,
//! `id`, `project`, `time` and its own fields. Its log entry is the envelope
//! ([`compliance::record::seal`]), which carries only the record's digest.
//! The record is committed **in the same atomic, durable write as its
//! entry** ([`Log::enqueue`] with a [`NewRecord`]), so a record exists if and
//! only if its envelope is in the log, whatever the moment of a crash.
//!
//! # The chain of a project's records
//!
//! Every record carries its sequence number in the project (`seq`: 1, 2, …
//! without gaps, in log order) and the digest of the project's previous
//! record (`prev`); its envelope carries the `seq`. Both are given in
//! [`Compliance::stage_all`], under the project's lock, from the state's
//! last sequence number and digest, and the record is stored under that
//! same sequence number with its envelope, in one atomic write: the
//! sequence number a record carries is always the one it is stored at.
//! RocksDB has one writer (this process, one lock per project); in the
//! PostgreSQL mode the store inserts a record only if the record at
//! `seq - 1` is the one it was evaluated after ([`NewRecord::follows`]) and
//! `(project, seq)` is its primary key, so no two frontends can store two
//! records at one `seq`.
//!
//! A project whose records were written before chains (legacy: no `seq`)
//! starts its chain with a `chain_started` record, staged before the first
//! record written after the upgrade (or at start-up, [`Compliance::start_chains`]):
//! its `prev` is the digest of the last legacy record, and it commits to
//! all of them (`legacy_records`, `legacy_digest`).
//!
//! # Consistency
//!
//! Each project has an async mutex around read-evaluate-queue: a decision is
//! evaluated against the ledger state and queued for the log under the
//! lock, and the log sequences entries in queue order. So the log order of a
//! project's records is the order in which they were evaluated, and an
//! exception revoked (queued) before a decision is never applied by it. The
//! lock is not held while the entry is made durable, so many decisions of
//! one project share one commit.
//!
//! # Several processes (the PostgreSQL mode)
//!
//! When the store is shared by several frontends ([`RecordStore::writers`]),
//! a frontend takes the project's writer claim before it evaluates a write
//! ([`Compliance::write_lock`]), reloads the project's state from the store
//! if another frontend wrote since, renews the claim while it keeps
//! writing, and gives it up once its records are durable and it is idle.
//! Every record names the record it was evaluated after
//! ([`NewRecord::follows`]) and the store refuses it if that is no longer
//! the project's last (a frontend paused past its claim): such a write is
//! answered 409 and the state is reloaded. Reads check that the state is
//! current (one query) unless this frontend holds the claim.
//!
//! # The clock
//!
//! The service reads the time from its [`Clock`] ([`now_ms`], the system
//! clock, unless a test gives another); the rules get the time as an
//! argument.

pub mod admin;
pub mod alerts;
pub mod changelog;
pub mod cockpit;
pub mod controls;
pub mod digest;
pub mod export;
pub mod gate;
pub mod github;
pub mod github_signin;
pub mod monitor;
pub mod oidc;
pub mod session;
pub mod share;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use compliance::ledger::{Exception, ProjectRow, ProjectSettings};
use compliance::principal::{Access, KeyRecord, Principal, Profile, authorize};
use compliance::record::{ChainStarted, ExceptionExpired, Record, RecordBody, sha256_digest};
use compliance::time::format_time;
use serde_json::Value;
use tlog::Hash;
use tokio::sync::{oneshot, watch};

use crate::log::Log;
use crate::storage::{KeyStore, NewRecord, ProjectWriters, RecordStore, StoredRecord};
use crate::{Error, Result};

/// Milliseconds since the epoch, from the system clock (the one place the
/// compliance service reads it).
#[must_use]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::Refused(compliance::Error::Invalid(msg.into()))
}

pub(crate) fn forbidden(msg: impl Into<String>) -> Error {
    Error::Refused(compliance::Error::Forbidden(msg.into()))
}

pub(crate) fn conflict(msg: impl Into<String>) -> Error {
    Error::Refused(compliance::Error::Conflict(msg.into()))
}

pub(crate) fn no_project(project: &str) -> Error {
    Error::Refused(compliance::Error::NoProject {
        project: project.to_owned(),
    })
}

/// Runs blocking storage work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::storage("a blocking storage task", e))?
}

/// Runs `f` on the store's [`ProjectWriters`] off the async workers; `None`
/// if the store has one writer (this process).
async fn with_writers<T: Send + 'static>(
    records: &Arc<dyn RecordStore>,
    f: impl FnOnce(&dyn ProjectWriters) -> Result<T> + Send + 'static,
) -> Result<Option<T>> {
    let records = records.clone();
    blocking(move || records.writers().map(f).transpose()).await
}

/// A project's ledger state, loaded from its records, guarded by the
/// project's lock.
pub struct ProjectState {
    /// The project row (name, settings).
    pub row: ProjectRow,
    /// Last sequence number given to a record.
    pub last_seq: u64,
    /// ID of the record with sequence number `last_seq`.
    pub last_id: Option<String>,
    /// Digest (`sha256:<hex>`) of the record with sequence number
    /// `last_seq`: the next record's `prev`.
    pub last_digest: Option<String>,
    /// Where the project's chain starts, or what starting it will record.
    pub chain: ChainState,
    /// Time of the last record (records' times never go backwards).
    pub last_time: i64,
    /// Every exception, by ID.
    pub exceptions: BTreeMap<String, Exception>,
    /// Anomalies whose acknowledgement is staged (may not be committed yet).
    pub acknowledging: std::collections::HashSet<String>,
    /// Held changes of the controls, by ID (lapsed ones too).
    pub pending: BTreeMap<String, controls::PendingChange>,
    /// Highest sequence number whose append has completed (committed or failed).
    committed: Arc<watch::Sender<u64>>,
    /// Set when an append of the project failed: the state may hold
    /// records the store does not, and is reloaded before it is used again.
    failed: Arc<AtomicBool>,
    /// When this process last took or renewed the project's writer claim
    /// (a store shared by several processes), while it holds it.
    claimed: Option<Instant>,
}

impl ProjectState {
    /// The time of a record evaluated now: the clock, never earlier than
    /// the project's previous record.
    #[must_use]
    pub fn clock(&self, now: i64) -> i64 {
        now.max(self.last_time)
    }

    /// The project's settings.
    #[must_use]
    pub fn settings(&self) -> &ProjectSettings {
        &self.row.settings
    }

    /// Whether a record queued for the project has not completed yet.
    #[must_use]
    pub fn in_flight(&self) -> bool {
        *self.committed.borrow() < self.last_seq
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

/// Where a project's chain of records starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainState {
    /// At this sequence number (1, unless the project has legacy records).
    Started(u64),
    /// Not yet: the project's records were written before chains. The
    /// next record staged is preceded by a `chain_started` record with
    /// these fields.
    Legacy(ChainStarted),
}

impl ProjectState {
    /// The sequence number at which the project's chain starts: where it
    /// started, or, if it has not, the next one (it starts with the next
    /// record staged).
    #[must_use]
    pub fn chain_start(&self) -> u64 {
        match self.chain {
            ChainState::Started(s) => s,
            ChainState::Legacy(_) => self.last_seq + 1,
        }
    }
}

/// A project's state behind its lock.
pub type Project = Arc<tokio::sync::Mutex<ProjectState>>;

/// A record queued for the log; [`Staged::wait`] resolves when it is durable.
pub struct Staged {
    /// The record.
    pub record: Record,
    /// Its sequence number in the project.
    pub seq: u64,
    done: oneshot::Receiver<Result<(u64, Hash)>>,
}

impl Staged {
    /// Waits until the record is durable; returns it with its log index and
    /// leaf hash.
    ///
    /// # Errors
    /// [`Error::Stopped`] if the log failed it.
    pub async fn wait(self) -> Result<(Record, u64, Hash)> {
        match self.done.await {
            Ok(Ok((index, leaf))) => Ok((self.record, index, leaf)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Stopped),
        }
    }
}

/// Waits for every staged record; returns the results in order.
///
/// # Errors
/// The first failure.
pub async fn settle_all(staged: Vec<Staged>) -> Result<Vec<(Record, u64, Hash)>> {
    let mut out = Vec::with_capacity(staged.len());
    for s in staged {
        out.push(s.wait().await?);
    }
    Ok(out)
}

/// How long a write waits for another process's writer claim on its
/// project (longer than a lapsed claim lasts) before it is refused (503).
const CLAIM_WAIT: Duration = Duration::from_secs(15);

/// How often a frontend that keeps writing a project renews its writer
/// claim, and so learns that another frontend waits for it.
const CLAIM_CHECK: Duration = Duration::from_millis(100);

/// How long a writer claim is kept after the last write, for the next.
const CLAIM_LINGER: Duration = Duration::from_millis(20);

/// Where the service reads the time: milliseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The compliance service's shared state.
pub struct Compliance {
    log: Arc<Log>,
    records: Arc<dyn RecordStore>,
    keys: Arc<dyn KeyStore>,
    github: github::GitHub,
    projects: Mutex<HashMap<String, Project>>,
    clock: Clock,
    /// Classifications that may run at once (one per core).
    classify_slots: tokio::sync::Semaphore,
    /// One monitoring run at a time.
    monitor_lock: tokio::sync::Mutex<()>,
    /// Webhook delivery attempts, for the admins.
    deliveries: Arc<alerts::Deliveries>,
    /// The first retry's delay; each next one doubles it.
    retry_base: std::time::Duration,
    /// The log's public URL (in alerts).
    public_url: String,
    /// Where digests are mailed from, if configured.
    mailer: Option<digest::Mailer>,
    /// Share views computed in the last seconds.
    share_views: share::ViewCache,
    /// The identity provider people sign in with, if configured.
    oidc: Option<Arc<oidc::OidcSignIn>>,
    /// Sign-in with GitHub, if configured.
    github_signin: Option<Arc<github_signin::GitHubSignIn>>,
}

impl Compliance {
    /// The service over `log` and its stores.
    pub fn new(
        log: Arc<Log>,
        records: Arc<dyn RecordStore>,
        keys: Arc<dyn KeyStore>,
        github: github::GitHub,
    ) -> Self {
        Compliance {
            log,
            records,
            keys,
            github,
            projects: Mutex::new(HashMap::new()),
            clock: Arc::new(now_ms),
            classify_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            ),
            monitor_lock: tokio::sync::Mutex::new(()),
            deliveries: Arc::default(),
            retry_base: std::time::Duration::from_secs(30),
            public_url: String::new(),
            mailer: None,
            share_views: share::ViewCache::default(),
            oidc: None,
            github_signin: None,
        }
    }

    /// The service signing people in to the cockpit with GitHub.
    #[must_use]
    pub fn with_github_sign_in(mut self, github: github_signin::GitHubSignIn) -> Self {
        self.github_signin = Some(Arc::new(github));
        self
    }

    /// Sign-in with GitHub, if configured.
    #[must_use]
    pub fn github_sign_in(&self) -> Option<&github_signin::GitHubSignIn> {
        self.github_signin.as_deref()
    }

    /// The service signing people in to the cockpit with `oidc`.
    #[must_use]
    pub fn with_oidc(mut self, oidc: oidc::OidcSignIn) -> Self {
        self.oidc = Some(Arc::new(oidc));
        self
    }

    /// The identity provider people sign in with, if configured.
    #[must_use]
    pub fn oidc(&self) -> Option<&oidc::OidcSignIn> {
        self.oidc.as_deref()
    }

    /// The service alerting with links to `public_url`, retrying webhooks
    /// after `retry_base` (doubling), and mailing digests with `mailer`.
    #[must_use]
    pub fn with_alerting(
        mut self,
        public_url: &str,
        retry_base: std::time::Duration,
        mailer: Option<digest::Mailer>,
    ) -> Self {
        self.public_url = public_url.to_owned();
        self.retry_base = retry_base;
        self.mailer = mailer;
        self
    }

    /// The service reading the time from `clock` instead of the system
    /// clock (tests pin record times to the edges of a period with it).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The time now, by the service's clock (ms since the epoch).
    #[must_use]
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Today (days since the epoch, UTC), by the service's clock.
    #[must_use]
    pub fn today(&self) -> i64 {
        self.now().div_euclid(compliance::time::DAY_MS)
    }

    /// The state of `project` for a caller who needs `access` to it: an
    /// unknown project is 404 before the caller's rights are looked at.
    ///
    /// # Errors
    /// [`compliance::Error::NoProject`], [`compliance::Error::Forbidden`];
    /// storage failures.
    pub async fn project_for(
        &self,
        caller: &KeyRecord,
        project: &str,
        access: Access,
    ) -> Result<Project> {
        let p = self.project(project).await?;
        authorize(caller, project, access)?;
        Ok(p)
    }

    /// The state of `project`, loaded from its records on first use.
    ///
    /// # Errors
    /// [`compliance::Error::NoProject`]; storage failures.
    pub async fn project(&self, project: &str) -> Result<Project> {
        let cached = self.cache().get(project).cloned();
        if let Some(p) = cached {
            if self.records.writers().is_some() {
                let mut ps = p.lock().await;
                // Held: the state is the store's, unless an append failed.
                if ps.claimed.is_none() || ps.failed.load(Ordering::Acquire) {
                    self.refresh(&mut ps, None).await?;
                }
            }
            return Ok(p);
        }
        let records = self.records.clone();
        let id = project.to_owned();
        let loaded = blocking(move || load_state(&*records, &id)).await?;
        let Some(state) = loaded else {
            return Err(no_project(project));
        };
        let mut cache = self.cache();
        Ok(cache
            .entry(project.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(state)))
            .clone())
    }

    /// Locks `p`'s state to evaluate and stage a write. In a store shared by
    /// several processes, this process then holds the project's writer
    /// claim (taken, or renewed every [`CLAIM_CHECK`] and handed over
    /// first if another process waits for it; waiting for another holder up
    /// to [`CLAIM_WAIT`]) and the state is the store's.
    ///
    /// # Errors
    /// [`Error::Pushback`] if another process kept the claim; storage
    /// failures.
    pub async fn write_lock<'a>(
        &self,
        p: &'a Project,
    ) -> Result<tokio::sync::MutexGuard<'a, ProjectState>> {
        let mut ps = p.lock().await;
        let Some(writers) = self.records.writers() else {
            return Ok(ps);
        };
        // Renewed while it is used, often enough to hand it over soon to a
        // frontend that waits for it.
        let renew_after = (writers.ttl() / 3).min(CLAIM_CHECK);
        let failed = ps.failed.load(Ordering::Acquire);
        if ps.claimed.is_some_and(|t| t.elapsed() < renew_after) && !failed {
            return Ok(ps);
        }
        // Compared with the store's below: wait for what is in flight.
        ps.settled().await;
        let deadline = Instant::now() + CLAIM_WAIT;
        let mut pause = Duration::from_millis(2);
        let last = loop {
            let id = ps.row.id.clone();
            let claim = with_writers(&self.records, move |w| w.claim(&id))
                .await?
                .flatten();
            match claim {
                Some(c) if c.contended && ps.claimed.is_some() => {
                    // Another frontend waits: its turn (nothing of ours is
                    // in flight), then ours again.
                    ps.claimed = None;
                    let id = ps.row.id.clone();
                    with_writers(&self.records, move |w| w.release(&id)).await?;
                }
                Some(c) => break c.last_seq,
                None if Instant::now() >= deadline => {
                    ps.claimed = None;
                    return Err(Error::Pushback);
                }
                None => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        };
        let newly = ps.claimed.is_none();
        self.refresh(&mut ps, Some(last)).await?;
        ps.claimed = Some(Instant::now());
        if newly {
            self.release_when_idle(p.clone());
        }
        Ok(ps)
    }

    /// Reloads `ps` from the store if it is not the store's: an append of
    /// it failed, or the store's last record (`last`, read if `None`) is
    /// not its last. Nothing of the project may be in flight.
    async fn refresh(&self, ps: &mut ProjectState, last: Option<u64>) -> Result<()> {
        let id = ps.row.id.clone();
        let last = match last {
            Some(last) => last,
            None => {
                let (records, id) = (self.records.clone(), id.clone());
                blocking(move || records.last_record(&id))
                    .await?
                    .map_or(0, |(seq, _)| seq)
            }
        };
        if last == ps.last_seq && !ps.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        ps.settled().await;
        let records = self.records.clone();
        let fresh = blocking(move || load_state(&*records, &id))
            .await?
            .ok_or_else(|| no_project(&ps.row.id))?;
        tracing::debug!(
            project = ps.row.id,
            from = ps.last_seq,
            to = fresh.last_seq,
            "reloaded a project written elsewhere"
        );
        let claimed = ps.claimed;
        *ps = fresh;
        ps.claimed = claimed;
        Ok(())
    }

    /// Gives the writer claim of `p` up once nothing of it is in flight
    /// and no write came for a moment (a burst shares one claim).
    fn release_when_idle(&self, p: Project) {
        let records = self.records.clone();
        tokio::spawn(async move {
            loop {
                let settled = p.lock().await.settled();
                settled.await;
                tokio::time::sleep(CLAIM_LINGER).await;
                let mut ps = p.lock().await;
                if ps.claimed.is_none() {
                    return;
                }
                if ps.in_flight() {
                    continue;
                }
                ps.claimed = None;
                let id = ps.row.id.clone();
                let released = with_writers(&records, move |w| w.release(&id)).await;
                if let Err(e) = released {
                    // The claim lapses on its own.
                    tracing::warn!(project = ps.row.id, error = %e, "releasing a project's writer claim");
                }
                return;
            }
        });
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Project>> {
        self.projects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues the record `id` of type `body`, at `time`, for the log,
    /// under the project's lock.
    ///
    /// # Errors
    /// [`Error::Pushback`] or [`Error::Stopped`]; nothing is changed then.
    pub fn stage(
        &self,
        ps: &mut ProjectState,
        id: String,
        body: RecordBody,
        time: i64,
    ) -> Result<Staged> {
        let mut staged = self.stage_all(ps, vec![(id, body)], time)?;
        staged.pop().ok_or(Error::Stopped)
    }

    /// Queues several records together, all or none (see
    /// [`Log::enqueue_all`]), under the project's lock. Each is given its
    /// `seq` and `prev` here, in order; a project whose chain has not
    /// started gets its `chain_started` record first (not returned).
    ///
    /// # Errors
    /// [`Error::Pushback`] or [`Error::Stopped`]; nothing is changed then.
    pub fn stage_all(
        &self,
        ps: &mut ProjectState,
        records: Vec<(String, RecordBody)>,
        time: i64,
    ) -> Result<Vec<Staged>> {
        self.stage_all_with_row(ps, records, time, None)
    }

    /// [`Compliance::stage_all`], saving `row` (the project's row as the
    /// records leave it: a change of its controls) in the same atomic
    /// write as the last record. `ps.row` is not changed here.
    ///
    /// # Errors
    /// As [`Compliance::stage_all`].
    pub fn stage_all_with_row(
        &self,
        ps: &mut ProjectState,
        records: Vec<(String, RecordBody)>,
        time: i64,
        row: Option<ProjectRow>,
    ) -> Result<Vec<Staged>> {
        let starting = matches!(ps.chain, ChainState::Legacy(_));
        let mut staged = self.stage_records(ps, records, time, row)?;
        if starting {
            staged.remove(0);
        }
        Ok(staged)
    }

    /// [`Compliance::stage_all_with_row`], returning the `chain_started`
    /// record too when it stages one.
    fn stage_records(
        &self,
        ps: &mut ProjectState,
        records: Vec<(String, RecordBody)>,
        time: i64,
        row: Option<ProjectRow>,
    ) -> Result<Vec<Staged>> {
        let last = records.len() + usize::from(matches!(ps.chain, ChainState::Legacy(_)));
        let mut row = row;
        let mut records = records;
        let start = match &ps.chain {
            ChainState::Legacy(c) => {
                records.insert(
                    0,
                    (
                        crate::keys::random_id("evt"),
                        RecordBody::ChainStarted(c.clone()),
                    ),
                );
                Some(ps.last_seq + 1)
            }
            ChainState::Started(_) => None,
        };
        let mut items = Vec::with_capacity(records.len());
        let mut sealed = Vec::with_capacity(records.len());
        let mut follows = ps.last_id.clone();
        let mut prev = ps.last_digest.clone();
        for (i, (id, body)) in records.into_iter().enumerate() {
            let seq = ps.last_seq + 1 + i as u64;
            let record = Record {
                id,
                project: ps.row.id.clone(),
                time: format_time(time),
                salt: crate::keys::random_salt(),
                seq: Some(seq),
                // The previous record's digest; none before seq 1.
                prev: prev.take(),
                body,
            };
            let sealing = compliance::record::seal_record(&record.to_value()?)?;
            let (jcs, envelope) = (sealing.jcs, sealing.envelope);
            prev = Some(compliance::record::digest_string(&sealing.digest));
            let new = NewRecord {
                project: record.project.clone(),
                seq,
                time_ms: time,
                id: record.id.clone(),
                kind: record.body.kind(),
                exception: record.index_key().map(str::to_owned),
                record: jcs,
                follows: follows.replace(record.id.clone()),
                project_row: if i + 1 == last {
                    row.take().map(Box::new)
                } else {
                    None
                },
            };
            items.push((envelope, Some(new)));
            sealed.push((record, seq));
        }
        let futures = self.log.enqueue_all(items)?;
        // Queued: from here on the records are in the log's order.
        if let Some(start) = start {
            ps.chain = ChainState::Started(start);
        }
        ps.last_digest = prev;
        let mut out = Vec::with_capacity(sealed.len());
        for (fut, (record, seq)) in futures.into_iter().zip(sealed) {
            ps.last_seq = seq;
            ps.last_id = Some(record.id.clone());
            ps.last_time = time;
            let committed = ps.committed.clone();
            let failed = ps.failed.clone();
            let (tx, done) = oneshot::channel();
            tokio::spawn(async move {
                let result = fut.await;
                if result.is_err() {
                    failed.store(true, Ordering::Release);
                }
                committed.send_modify(|c| *c = (*c).max(seq));
                let _ = tx.send(result);
            });
            out.push(Staged { record, seq, done });
        }
        Ok(out)
    }

    /// Starts the chain of every project whose records were all written
    /// before chains (the upgrade's migration step, run by `serve` at
    /// start-up; a project written before it is done starts its chain
    /// with that write anyway). Returns how many it started.
    ///
    /// # Errors
    /// Storage failures; pushback.
    pub async fn start_chains(&self) -> Result<u64> {
        let records = self.records.clone();
        let legacy: Vec<String> = blocking(move || {
            let mut out = Vec::new();
            for row in records.projects()? {
                let Some((last, _)) = records.last_record(&row.id)? else {
                    continue;
                };
                if !chained(&*records, &row.id, last)? {
                    out.push(row.id);
                }
            }
            Ok(out)
        })
        .await?;
        let mut started = 0;
        for id in legacy {
            let p = self.project(&id).await?;
            let staged = {
                let mut ps = self.write_lock(&p).await?;
                if !matches!(ps.chain, ChainState::Legacy(_)) {
                    continue;
                }
                let now = ps.clock(self.now());
                self.stage_records(&mut ps, Vec::new(), now, None)?
            };
            settle_all(staged).await?;
            tracing::info!(project = id, "started the project's chain of records");
            started += 1;
        }
        Ok(started)
    }

    /// Records an `exception_expired` for every exception of the project
    /// past its expiry that has none yet (expiry is checked at every use).
    ///
    /// # Errors
    /// As [`Compliance::stage`].
    pub fn sweep_expiries(&self, ps: &mut ProjectState, now: i64) -> Result<Vec<Staged>> {
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
            let body = RecordBody::ExceptionExpired(ExceptionExpired {
                exception_id: id.clone(),
                expires_at: format_time(expires_at),
                status_before: before.to_owned(),
            });
            staged.push(self.stage(ps, crate::keys::random_id("evt"), body, now)?);
            if let Some(e) = ps.exceptions.get_mut(&id) {
                e.expiry_recorded = true;
            }
        }
        Ok(staged)
    }

    /// Runs `act` under the project's lock at the evaluation time, after
    /// recording due expiries (expiry is checked at every use), and waits for
    /// those records whatever `act` decides. `act` applies the rules and
    /// stages what is to be logged; a refusal stages nothing.
    ///
    /// # Errors
    /// `act`'s, and those of recording expiries.
    pub async fn under_lock<T>(
        &self,
        p: &Project,
        act: impl FnOnce(&mut ProjectState, i64) -> Result<T>,
    ) -> Result<T> {
        let (expiries, result) = {
            let mut ps = self.write_lock(p).await?;
            let now = ps.clock(self.now());
            let expiries = self.sweep_expiries(&mut ps, now)?;
            (expiries, act(&mut ps, now))
        };
        settle_all(expiries).await?;
        result
    }

    /// Every principal of a project, revoked ones included, oldest first
    /// (a scan of every key: call it off the async workers).
    ///
    /// # Errors
    /// Storage failures.
    pub fn principals(&self, project: &str) -> Result<Vec<Principal>> {
        principals(&*self.records, &*self.keys, project)
    }

    /// One stored record with its envelope, log index and leaf hash (a
    /// few point reads: fine inline).
    ///
    /// # Errors
    /// Storage failures; a record or entry that should exist and does not.
    pub fn stored(&self, project: &str, seq: u64) -> Result<(Value, String, u64, Hash)> {
        stored(&*self.records, &self.log, project, seq)
    }
}

/// One stored record with its envelope, log index and leaf hash.
fn stored(
    records: &dyn RecordStore,
    log: &Log,
    project: &str,
    seq: u64,
) -> Result<(Value, String, u64, Hash)> {
    let row: StoredRecord = records
        .record(project, seq)?
        .ok_or_else(|| Error::Corrupt(format!("record {seq} of {project} is missing")))?;
    let leaf = tlog::leaf_hash(&row.envelope);
    let index = log
        .index_of(&leaf, u64::MAX)?
        .ok_or_else(|| Error::Corrupt(format!("record {seq} of {project} has no log entry")))?;
    let envelope = String::from_utf8_lossy(&row.envelope).into_owned();
    Ok((row.as_ref().value()?, envelope, index, leaf))
}

/// Every principal of a project, revoked ones included, oldest first.
fn principals(
    records: &dyn RecordStore,
    keys: &dyn KeyStore,
    project: &str,
) -> Result<Vec<Principal>> {
    let mut profiles: HashMap<String, Profile> = records.profiles(project)?.into_iter().collect();
    let mut out = Vec::new();
    for key in crate::keys::list_keys(keys)? {
        if key.project.as_deref() != Some(project) {
            continue;
        }
        let profile = profiles.remove(&key.id).unwrap_or_default();
        out.push(Principal { key, profile });
    }
    out.sort_by(|a, b| (&a.key.created_at, &a.key.id).cmp(&(&b.key.created_at, &b.key.id)));
    Ok(out)
}

/// Whether record `seq` of `project` is chained (has a `seq` of its own).
fn chained(records: &dyn RecordStore, project: &str, seq: u64) -> Result<bool> {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: Option<u64>,
    }
    let stored = records
        .record(project, seq)?
        .ok_or_else(|| Error::Corrupt(format!("record {seq} of {project} is missing")))?;
    let s: Seq = serde_json::from_slice(&stored.record)
        .map_err(|e| Error::Corrupt(format!("record {seq} of {project}: {e}")))?;
    Ok(s.seq.is_some())
}

/// Where the chain of a project whose last record `last` is chained
/// starts: 1, or the first chained record after the legacy ones (a binary
/// search: legacy records all come first).
fn chain_start(records: &dyn RecordStore, project: &str, last: u64) -> Result<u64> {
    if chained(records, project, 1)? {
        return Ok(1);
    }
    let (mut legacy, mut started) = (1, last);
    while started - legacy > 1 {
        let mid = legacy + (started - legacy) / 2;
        if chained(records, project, mid)? {
            started = mid;
        } else {
            legacy = mid;
        }
    }
    Ok(started)
}

/// The `chain_started` record of a project whose `last` records are all
/// legacy: their count, and the digest of their digests in order.
fn legacy_chain(records: &dyn RecordStore, project: &str, last: u64) -> Result<ChainStarted> {
    use sha2::Digest as _;
    let mut hasher = compliance::export::SectionHasher::default();
    records.for_each_record(project, 1..last + 1, &mut |row| {
        let digest: [u8; 32] = sha2::Sha256::digest(row.record).into();
        hasher.add(&digest);
        Ok(true)
    })?;
    let sum = hasher.finish();
    if sum.count != last {
        return Err(Error::Corrupt(format!(
            "{project} has {} records, not {last}",
            sum.count
        )));
    }
    Ok(ChainStarted {
        legacy_records: last,
        legacy_digest: sum.digest,
    })
}

fn load_state(records: &dyn RecordStore, project: &str) -> Result<Option<ProjectState>> {
    let Some(row) = records.project(project)? else {
        return Ok(None);
    };
    let (last_seq, last_time) = records.last_record(project)?.unwrap_or((0, 0));
    let (last_id, last_digest, chain) = match last_seq {
        0 => (None, None, ChainState::Started(1)),
        seq => {
            let stored = records
                .record(project, seq)?
                .ok_or_else(|| Error::Corrupt(format!("record {seq} of {project} is missing")))?;
            let record = Record::from_slice(&stored.record)
                .map_err(|e| Error::Corrupt(format!("record {seq} of {project}: {e}")))?;
            let chain = if record.seq.is_some() {
                ChainState::Started(chain_start(records, project, seq)?)
            } else {
                ChainState::Legacy(legacy_chain(records, project, seq)?)
            };
            (Some(record.id), Some(sha256_digest(&stored.record)), chain)
        }
    };
    let mut exceptions: BTreeMap<String, Exception> = BTreeMap::new();
    let mut pending = BTreeMap::new();
    for seq in records.ledger_seqs(project)? {
        let stored = records.record(project, seq)?.ok_or_else(|| {
            Error::Corrupt(format!("exception index names a missing record {seq}"))
        })?;
        let record = Record::from_slice(&stored.record)
            .map_err(|e| Error::Corrupt(format!("record {seq} of {project}: {e}")))?;
        controls::fold(&mut pending, &record);
        if let Some(e) = Exception::from_requested(&record) {
            exceptions.insert(e.id.clone(), e);
        } else if let Some(e) = record
            .body
            .exception_id()
            .and_then(|id| exceptions.get_mut(id))
        {
            e.apply(&record);
        }
    }
    Ok(Some(ProjectState {
        row,
        last_seq,
        last_id,
        last_digest,
        chain,
        last_time,
        exceptions,
        acknowledging: std::collections::HashSet::new(),
        pending,
        committed: Arc::new(watch::channel(last_seq).0),
        failed: Arc::new(AtomicBool::new(false)),
        claimed: None,
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use compliance::ledger::Status;

    use super::*;
    use crate::log::LogConfig;
    use crate::metrics::Metrics;
    use crate::storage::LogStore;
    use crate::storage::memory::Memory;

    fn start() -> (Arc<Memory>, Arc<Log>) {
        let store = Arc::new(Memory::new());
        let signer = tlog::SignerKey::from_seed("test.example/log", &[7; 32]).unwrap();
        let config = LogConfig {
            queue_capacity: 1024,
            max_batch: 64,
            checkpoint_interval: Duration::from_millis(10),
        };
        let log = Log::start(store.clone(), signer, config, Arc::new(Metrics::default())).unwrap();
        (store, log)
    }

    fn compliance(store: &Arc<Memory>, log: &Arc<Log>) -> Compliance {
        Compliance::new(
            log.clone(),
            store.clone(),
            store.clone(),
            github::GitHub::new("http://127.0.0.1:9", None),
        )
    }

    #[tokio::test]
    async fn records_commit_with_their_envelopes_and_the_ledger_reloads() {
        let (store, log) = start();
        let row = ProjectRow {
            id: "prj_t".into(),
            name: "t".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            settings: ProjectSettings::default(),
        };
        store.put_project(&row).unwrap();
        let c = compliance(&store, &log);
        assert!(matches!(
            c.project("prj_nope").await,
            Err(Error::Refused(compliance::Error::NoProject { .. }))
        ));
        let p = c.project("prj_t").await.unwrap();
        let t0 = 1_000_000;
        let staged = {
            let mut ps = p.lock().await;
            let now = ps.clock(t0);
            let body = RecordBody::ExceptionRequested(compliance::record::ExceptionRequested {
                requested_by: "key_a".into(),
                requested_by_name: "a".into(),
                kind: "k".into(),
                endpoint: "GET /".into(),
                reason: "r".into(),
                expires_at: format_time(t0 + 5_000),
                repository: None,
                pull_request: None,
                blocked_run: None,
            });
            let s = c.stage(&mut ps, "exc_1".into(), body, now).unwrap();
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
        // The log entry is the record's envelope; the record is stored with it.
        let entry = store.entry(index).unwrap().unwrap();
        assert_eq!(entry, record.seal().unwrap().1);
        assert_eq!(tlog::leaf_hash(&entry), leaf);
        let stored = store.record("prj_t", seq).unwrap().unwrap();
        assert_eq!(stored.envelope, entry);
        assert_eq!(stored.as_ref().value().unwrap(), record.to_value().unwrap());
        assert_eq!(store.seq_of("prj_t", "exc_1").unwrap(), Some(seq));
        assert_eq!(store.exception_seqs("prj_t", "exc_1").unwrap(), [seq]);
        assert_eq!(store.first_seq_at("prj_t", t0).unwrap(), Some(seq));
        assert_eq!(store.first_seq_at("prj_t", t0 + 1).unwrap(), None);
        // Past expiry: one exception_expired record, once.
        let expired = {
            let mut ps = p.lock().await;
            let now = ps.clock(t0 + 5_000);
            let s = c.sweep_expiries(&mut ps, now).unwrap();
            assert_eq!(s.len(), 1);
            assert!(c.sweep_expiries(&mut ps, now + 1).unwrap().is_empty());
            s
        };
        settle_all(expired).await.unwrap();
        // A fresh start folds the records into the same ledger state.
        let again = compliance(&store, &log);
        let p2 = again.project("prj_t").await.unwrap();
        let ps = p2.lock().await;
        let e = &ps.exceptions["exc_1"];
        assert!(e.expiry_recorded);
        assert_eq!(e.status_at(t0), Status::Expired);
        assert_eq!((ps.last_seq, ps.last_time), (seq + 1, t0 + 5_000));
        store.check().unwrap();
    }

    /// A project whose records were all written before chains: its chain
    /// starts with a `chain_started` record (at start-up, or with its next
    /// record), whose `prev` is the last legacy record's digest and which
    /// commits to all of them; the next records follow it.
    #[tokio::test]
    async fn a_legacy_project_starts_its_chain() {
        use crate::storage::{Batch, NewEntry};
        use compliance::record::{ShareTokenUsed, digest_string};
        use sha2::Digest as _;

        for at_start_up in [true, false] {
            let store = Arc::new(Memory::new());
            let row = ProjectRow {
                id: "prj_l".into(),
                name: "l".into(),
                created_at: "2026-01-01T00:00:00Z".into(),
                settings: ProjectSettings::default(),
            };
            store.put_project(&row).unwrap();
            // Two legacy records, committed before the log starts.
            let mut frontier = tlog::Frontier::default();
            let mut digests = Vec::new();
            for i in 1..=2u64 {
                let record = Record {
                    id: format!("evt_{i}"),
                    project: "prj_l".into(),
                    time: format_time(1_000 * i64::try_from(i).unwrap()),
                    salt: "ab".repeat(16),
                    seq: None,
                    prev: None,
                    body: RecordBody::ShareTokenUsed(ShareTokenUsed {
                        token_id: "shr_1".into(),
                    }),
                };
                let (jcs, envelope) = record.seal().unwrap();
                digests.push(sha2::Sha256::digest(&jcs).to_vec());
                let new = NewRecord {
                    project: "prj_l".into(),
                    seq: i,
                    time_ms: 1_000 * i64::try_from(i).unwrap(),
                    id: record.id.clone(),
                    kind: record.body.kind(),
                    exception: None,
                    record: jcs,
                    follows: None,
                    project_row: None,
                };
                let leaf_hash = tlog::leaf_hash(&envelope);
                let (index, mut hashes) = (frontier.size(), Vec::new());
                frontier.append(leaf_hash, |n, h| hashes.push((n, h)));
                store
                    .commit(&Batch {
                        entries: &[NewEntry {
                            index,
                            data: &envelope,
                            leaf_hash,
                            record: Some(&new),
                        }],
                        hashes: &hashes,
                        new_size: frontier.size(),
                    })
                    .unwrap();
            }
            let signer = tlog::SignerKey::from_seed("test.example/log", &[7; 32]).unwrap();
            let config = LogConfig {
                queue_capacity: 1024,
                max_batch: 64,
                checkpoint_interval: Duration::from_millis(10),
            };
            let log =
                Log::start(store.clone(), signer, config, Arc::new(Metrics::default())).unwrap();
            let c = compliance(&store, &log);
            if at_start_up {
                assert_eq!(c.start_chains().await.unwrap(), 1);
                assert_eq!(c.start_chains().await.unwrap(), 0, "once");
            }
            let p = c.project("prj_l").await.unwrap();
            let staged = {
                let mut ps = p.lock().await;
                assert_eq!(ps.chain_start(), 3);
                let body = RecordBody::ShareTokenUsed(ShareTokenUsed {
                    token_id: "shr_2".into(),
                });
                c.stage(&mut ps, "evt_next".into(), body, 5_000).unwrap()
            };
            assert_eq!(staged.seq, 4, "after chain_started");
            staged.wait().await.unwrap();
            let read = |seq| {
                Record::from_slice(&store.record("prj_l", seq).unwrap().unwrap().record).unwrap()
            };
            let started = read(3);
            assert_eq!(started.seq, Some(3));
            assert_eq!(
                started.prev,
                Some(digest_string(&digests[1].clone().try_into().unwrap()))
            );
            let RecordBody::ChainStarted(body) = &started.body else {
                panic!("{started:?}");
            };
            assert_eq!(body.legacy_records, 2);
            let all: [u8; 32] = sha2::Sha256::digest(digests.concat()).into();
            assert_eq!(body.legacy_digest, digest_string(&all));
            let next = read(4);
            let jcs3 = store.record("prj_l", 3).unwrap().unwrap().record;
            assert_eq!(next.prev, Some(compliance::record::sha256_digest(&jcs3)));
            // Loaded again: started at 3.
            let again = compliance(&store, &log);
            let p = again.project("prj_l").await.unwrap();
            assert_eq!(p.lock().await.chain, ChainState::Started(3));
            store.check().unwrap();
        }
    }
}
