//! Storage of a log, behind traits shaped by their callers.
//!
//! | trait | caller | what |
//! |---|---|---|
//! | [`LogStore`] | the log (sequencer, checkpointer, read API) | the tree: entries, stored hashes, the leaf-hash index, checkpoints, and the one atomic commit of a batch |
//! | [`RecordStore`] | the compliance service | projects, principals' profiles, and reads of the private records committed with their envelopes |
//! | [`KeyStore`] | API key management and authentication | API key records by the SHA-256 of their secret |
//! | [`SessionStore`] | the cockpit's sessions and share links | sessions and share links by the SHA-256 of their secret, shared by every process of the store and kept across restarts |
//!
//! A backend implements all four ([`Storage`]): [`rocksdb::RocksDb`], the
//! embedded default, is the only file that names RocksDB; [`memory::Memory`]
//! holds everything in memory for tests and can fail a commit on purpose.
//!
//! Witness mode (`crate::witness`) keeps its own state, apart from any
//! log's, in [`rocksdb::WitnessStateStore`], a small RocksDB of its own.
//!
//! # Contracts every backend keeps
//!
//! - **Durable once it returns.** A write method that returns `Ok` has made
//!   its data durable (fsync'd); after a crash it is there. A write that
//!   returns `Err` may or may not have persisted: the caller must assume
//!   either (the log then stops, see `log`).
//! - **Atomic commit.** [`LogStore::commit`] writes the entries, their
//!   leaf-hash index rows, their records, the new stored hashes and the new
//!   tree size all or nothing: after a crash either all of the batch is
//!   visible or none of it.
//! - **Reads see only committed data**, never part of a batch.
//! - **Single writer.** [`LogStore::commit`] is called by one thread at a
//!   time (the sequencer); other writes (checkpoints, projects, keys) may
//!   come from any thread.
//!
//! # Where blocking storage calls run
//!
//! Every method here blocks (disk reads, fsync). The rule:
//!
//! - Reads whose cost is **bounded by a constant** (one entry, one tile or
//!   entry bundle, one proof, one page of at most 256 entries, one key, one
//!   record, one project row) run inline on the async worker that serves the
//!   request: they are a few point reads that the in-memory levels and the
//!   block cache mostly answer, and a thread hop would cost more than the
//!   read (the read API serves tens of thousands of them a second).
//! - Everything else runs under `tokio::task::spawn_blocking`, or on the
//!   sequencer's own thread: every durable write (the commit, checkpoints,
//!   projects, profiles, keys), and every read whose cost grows with the
//!   data (loading a project's ledger, scans of a project's records or of
//!   all keys, exports).
//!
//! The services (`log::Log`, `service::Compliance`, `keys`) follow the rule
//! inside their methods, so HTTP handlers never call storage themselves.

mod bridge;
pub mod cluster;
pub mod memory;
pub mod objects;
pub mod postgres;
pub mod rocksdb;
mod tls;

use std::ops::Range;

use compliance::ledger::ProjectRow;
use compliance::principal::{KeyRecord, Profile};
use compliance::record::RecordKind;
use tlog::{Hash, HashReader, NodeId, SignerKey};

use crate::Error;

/// One appended entry, ready to be committed.
#[derive(Clone, Copy, Debug)]
pub struct NewEntry<'a> {
    /// Its index in the log.
    pub index: u64,
    /// The entry bytes.
    pub data: &'a [u8],
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// The private record whose envelope the entry is, committed with it.
    pub record: Option<&'a NewRecord>,
}

/// A private compliance record, committed in the same atomic batch as its
/// envelope (the entry), so a record exists if and only if its envelope is
/// in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRecord {
    /// The project.
    pub project: String,
    /// Its sequence number in the project: 1, 2, … without gaps, in log order.
    pub seq: u64,
    /// Its time (ms since the epoch); never earlier than the project's
    /// previous record.
    pub time_ms: i64,
    /// The record's ID.
    pub id: String,
    /// Its type.
    pub kind: RecordKind,
    /// The exception it is an event of, for ledger events.
    pub exception: Option<String>,
    /// The record, JCS-serialized.
    pub record: Vec<u8>,
    /// The ID of the project's record it was evaluated after (`None` for
    /// the project's first): a store shared by several processes stores it
    /// only if that record is the one at `seq - 1`, so a record is never
    /// stored after a state it was not evaluated against.
    pub follows: Option<String>,
    /// The project's row as the record leaves it (a change of its
    /// controls), saved in the same atomic write as the record: never one
    /// without the other (in PostgreSQL, in the record's transaction, and
    /// not if the record is fenced).
    pub project_row: Option<Box<ProjectRow>>,
}

/// A batch of appends: the unit of [`LogStore::commit`].
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// The entries, with consecutive indexes from the current tree size.
    pub entries: &'a [NewEntry<'a>],
    /// The stored hashes the entries add to the tree.
    pub hashes: &'a [(NodeId, Hash)],
    /// The tree size after the batch.
    pub new_size: u64,
}

/// A stored record as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Its type.
    pub kind: RecordKind,
    /// Its envelope: the log entry.
    pub envelope: &'a [u8],
    /// The record, JCS-serialized.
    pub record: &'a [u8],
}

impl RecordRef<'_> {
    /// The record as JSON.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if it is not JSON.
    pub fn value(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_slice(self.record).map_err(|e| Error::Corrupt(format!("record: {e}")))
    }

    /// An owned copy.
    #[must_use]
    pub fn to_owned(&self) -> StoredRecord {
        StoredRecord {
            kind: self.kind,
            envelope: self.envelope.to_vec(),
            record: self.record.to_vec(),
        }
    }
}

/// A stored record, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its type.
    pub kind: RecordKind,
    /// Its envelope: the log entry.
    pub envelope: Vec<u8>,
    /// The record, JCS-serialized.
    pub record: Vec<u8>,
}

impl StoredRecord {
    /// A borrowed view.
    #[must_use]
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef {
            kind: self.kind,
            envelope: &self.envelope,
            record: &self.record,
        }
    }
}

/// The tree of a log: what the sequencer commits and the read API serves.
///
/// [`HashReader::read_hashes`] returns committed stored hashes only; a hash
/// that is not stored (yet) is [`tlog::Error::HashUnavailable`].
pub trait LogStore: HashReader + Send + Sync {
    /// The number of entries durably in the tree (0 for a new store).
    ///
    /// # Errors
    /// Storage failures.
    fn tree_size(&self) -> Result<u64, Error>;

    /// **The commit point of an append.** Writes the batch's entries, their
    /// leaf-hash index rows and records, the new stored hashes and the new
    /// tree size in one atomic, durable write. `Ok`: all of it is durable
    /// and visible to readers. `Err`: the outcome is unknown (nothing, or
    /// all of it, may be persisted); the caller must stop writing.
    ///
    /// # Errors
    /// Storage failures.
    fn commit(&self, batch: &Batch<'_>) -> Result<(), Error>;

    /// The entry at `index`, if the tree has it.
    ///
    /// # Errors
    /// Storage failures.
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, Error>;

    /// Entries `start..end`, all of which must exist.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] if one is missing.
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, Error>;

    /// The lowest index below `below` whose leaf hash is `leaf_hash`.
    ///
    /// # Errors
    /// Storage failures.
    fn index_of(&self, leaf_hash: &Hash, below: u64) -> Result<Option<u64>, Error>;

    /// `width` consecutive stored hashes of `level` from `start`,
    /// concatenated (a tile's body), all of which must exist.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] if one is missing.
    fn hash_range(&self, level: u8, start: u64, width: u64) -> Result<Vec<u8>, Error>;

    /// Stores a signed checkpoint durably, before it is served.
    ///
    /// # Errors
    /// Storage failures.
    fn put_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<(), Error>;

    /// The latest stored checkpoint: its tree size and note.
    ///
    /// # Errors
    /// Storage failures.
    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, Error>;

    /// The latest checkpoint that met the log's witness policy, with its
    /// cosignature lines (`spec/witnessing.md`): its tree size and note.
    ///
    /// # Errors
    /// Storage failures.
    fn witnessed_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>, Error>;

    /// Keeps `note` durably as the latest witnessed checkpoint, unless one
    /// of a larger tree is kept already (the served checkpoint never goes
    /// back, whichever process writes).
    ///
    /// # Errors
    /// Storage failures.
    fn put_witnessed_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<(), Error>;

    /// The tree size each witness last cosigned, by the witness's verifier
    /// key (text form): the `old` size of the next `add-checkpoint`.
    ///
    /// # Errors
    /// Storage failures.
    fn witness_sizes(&self) -> Result<Vec<(String, u64)>, Error>;

    /// Keeps the tree size `witness` (its verifier key, text form) last
    /// cosigned, or told us it holds.
    ///
    /// # Errors
    /// Storage failures.
    fn put_witness_size(&self, witness: &str, size: u64) -> Result<(), Error>;

    /// Makes everything written so far cheap to reopen (on an orderly stop).
    ///
    /// # Errors
    /// Storage failures.
    fn flush(&self) -> Result<(), Error>;

    /// A store shared by several log processes (PostgreSQL and object
    /// storage, [`cluster::Cluster`]) returns its [`SharedLog`]: the log
    /// then sequences through it instead of [`LogStore::commit`], and its
    /// tree and checkpoints are those the elected integrator publishes.
    /// `None` (the default): this process is the log's only writer.
    fn shared(&self) -> Option<&dyn SharedLog> {
        None
    }
}

/// The integrated tree of a shared log, as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integrated {
    /// Entries covered by the integrated tree.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// Its signed checkpoint, once one was published.
    pub checkpoint: Option<Vec<u8>>,
    /// Whether this process holds the integrator lease (and so is the one
    /// frontend that asks the witnesses).
    pub integrator: bool,
}

/// How a log writes to a store shared by several processes: sequencing is
/// separate from integration, which one elected process does at a time.
///
/// Contract: [`SharedLog::sequence`] is durable once it returns `Ok` and
/// assigns indexes no other call (in any process) assigns; a failed call's
/// outcome is unknown but leaves no partial batch. The integrated tree only
/// grows, and every published checkpoint extends the previous one.
pub trait SharedLog: Send + Sync {
    /// **The commit point of an append in this mode.** Assigns the entries
    /// (whose `index` fields are ignored) consecutive indexes after every
    /// entry sequenced so far and stores them and their records durably, in
    /// one transaction, except entries whose records are fenced
    /// ([`Sequenced::Fenced`]). Returns what became of each entry, in order;
    /// the sequenced ones have consecutive indexes.
    ///
    /// # Errors
    /// Storage failures (the outcome is then unknown).
    fn sequence(&self, entries: &[NewEntry<'_>]) -> Result<Vec<Sequenced>, Error>;

    /// Takes or renews the integrator lease and, while it is held,
    /// integrates what is sequenced (tiles and bundles, then a checkpoint
    /// signed with `signer`, then a compare-and-swap of the integrated
    /// tree); then returns the integrated tree, whoever integrated it.
    ///
    /// # Errors
    /// Storage failures.
    fn integrate(&self, signer: &SignerKey) -> Result<Integrated, Error>;

    /// Gives up the lease, if held (on an orderly stop).
    ///
    /// # Errors
    /// Storage failures.
    fn release(&self) -> Result<(), Error>;
}

/// The index [`SharedLog::sequence`] gave an entry, or why it gave none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sequenced {
    /// Sequenced at this index.
    At(u64),
    /// Not sequenced, and never will be: its record does not follow the
    /// project's record it was evaluated after ([`NewRecord::follows`]),
    /// because another process wrote the project meanwhile. Nothing of it
    /// was stored.
    Fenced,
}

/// A project's writer claim, as granted by [`ProjectWriters::claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterClaim {
    /// The sequence number of the project's last stored record (0: none).
    pub last_seq: u64,
    /// Another process waits for the claim: the holder should give it up
    /// once its records in flight are durable (it may claim it again after).
    pub contended: bool,
}

/// Who writes a project's records, in a store shared by several processes.
///
/// Correctness does not depend on it: a record is stored only after the
/// record it was evaluated after ([`NewRecord::follows`]), so two processes
/// that evaluate a project's rules at once can never both be recorded. The
/// writer claim makes such a clash rare: one process at a time holds a
/// project's claim, a lease that lapses unless renewed, and reloads the
/// project's state from the store when it takes the claim over.
pub trait ProjectWriters: Send + Sync {
    /// Takes or renews this process's writer claim on `project`, or
    /// `None` if another process holds an unexpired claim; this process is
    /// then next in line, and the holder learns it ([`WriterClaim::contended`])
    /// when it renews.
    ///
    /// # Errors
    /// Storage failures.
    fn claim(&self, project: &str) -> Result<Option<WriterClaim>, Error>;

    /// How long a claim lasts unless renewed.
    fn ttl(&self) -> std::time::Duration;

    /// Claims a one-off job that every process schedules (a project's
    /// weekly digest): `true` for the first process to ask, `false` for
    /// every later one, for good.
    ///
    /// # Errors
    /// Storage failures.
    fn once(&self, job: &str) -> Result<bool, Error>;

    /// Gives the claim up, if this process holds it.
    ///
    /// # Errors
    /// Storage failures.
    fn release(&self, project: &str) -> Result<(), Error>;
}

/// Projects, principals' profiles and the private compliance records.
/// Records are written only by [`LogStore::commit`], with their envelopes.
pub trait RecordStore: Send + Sync {
    /// A store shared by several processes returns its [`ProjectWriters`]:
    /// the compliance service then claims a project before writing its
    /// records, and checks that its state of a project is current before
    /// using it. `None` (the default): this process is the only writer.
    fn writers(&self) -> Option<&dyn ProjectWriters> {
        None
    }

    /// A project row.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn project(&self, id: &str) -> Result<Option<ProjectRow>, Error>;

    /// Every project row, by ID.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn projects(&self) -> Result<Vec<ProjectRow>, Error>;

    /// Writes a project row, durably.
    ///
    /// # Errors
    /// Storage failures.
    fn put_project(&self, row: &ProjectRow) -> Result<(), Error>;

    /// A principal's profile.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn profile(&self, project: &str, principal: &str) -> Result<Option<Profile>, Error>;

    /// Every principal profile of `project`, with its principal's ID, in
    /// no particular order: one read for a project's people, rather than
    /// one per principal. Its cost grows with the project's principals:
    /// call it off the async workers.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn profiles(&self, project: &str) -> Result<Vec<(String, Profile)>, Error>;

    /// Writes a principal's profile, durably.
    ///
    /// # Errors
    /// Storage failures.
    fn put_profile(&self, project: &str, principal: &str, profile: &Profile) -> Result<(), Error>;

    /// Keeps an OpenAPI document a decision was classified from, under
    /// the project and the SHA-256 (lowercase hex) of its bytes; durably,
    /// idempotently (content-addressed).
    ///
    /// # Errors
    /// Storage failures.
    fn put_spec(&self, project: &str, sha256: &str, bytes: &[u8]) -> Result<(), Error>;

    /// Saves a project's alert settings (webhooks with their secrets, digest
    /// recipients): private configuration, not log records.
    ///
    /// # Errors
    /// Storage failures.
    fn put_alerts(&self, project: &str, alerts: &[u8]) -> Result<(), Error>;

    /// A project's alert settings, if saved.
    ///
    /// # Errors
    /// Storage failures.
    fn alerts(&self, project: &str) -> Result<Option<Vec<u8>>, Error>;

    /// A document kept by [`RecordStore::put_spec`].
    ///
    /// # Errors
    /// Storage failures.
    fn spec(&self, project: &str, sha256: &str) -> Result<Option<Vec<u8>>, Error>;

    /// The sequence number and time of the project's last committed record.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn last_record(&self, project: &str) -> Result<Option<(u64, i64)>, Error>;

    /// The record with sequence number `seq`.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn record(&self, project: &str, seq: u64) -> Result<Option<StoredRecord>, Error>;

    /// The sequence number of the record with ID `id`.
    ///
    /// # Errors
    /// Storage failures.
    fn seq_of(&self, project: &str, id: &str) -> Result<Option<u64>, Error>;

    /// The sequence numbers of an exception's records, in order.
    ///
    /// # Errors
    /// Storage failures.
    fn exception_seqs(&self, project: &str, exception: &str) -> Result<Vec<u64>, Error>;

    /// The sequence numbers of every ledger event of the project, each
    /// exception's in order (and its request first).
    ///
    /// # Errors
    /// Storage failures.
    fn ledger_seqs(&self, project: &str) -> Result<Vec<u64>, Error>;

    /// The first sequence number whose record time is at or after `time_ms`.
    ///
    /// # Errors
    /// Storage failures.
    fn first_seq_at(&self, project: &str, time_ms: i64) -> Result<Option<u64>, Error>;

    /// Calls `f` with the records of `seqs`, in order, until it returns
    /// `false`; memory does not grow with the range.
    ///
    /// # Errors
    /// Storage failures, [`Error::Corrupt`] rows, and `f`'s errors.
    fn for_each_record(
        &self,
        project: &str,
        seqs: Range<u64>,
        f: &mut dyn FnMut(RecordRef<'_>) -> Result<bool, Error>,
    ) -> Result<(), Error>;
}

/// API key records, by the SHA-256 of the key's secret; and, as the other
/// credentials the server accepts, the cockpit's sessions and share links
/// ([`SessionStore`]).
pub trait KeyStore: SessionStore + Send + Sync {
    /// Writes a key record, durably.
    ///
    /// # Errors
    /// Storage failures.
    fn put_key(&self, secret_hash: &[u8; 32], record: &KeyRecord) -> Result<(), Error>;

    /// The record of a secret's hash.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn key(&self, secret_hash: &[u8; 32]) -> Result<Option<KeyRecord>, Error>;

    /// Every key record with its secret's hash.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn keys(&self) -> Result<Vec<([u8; 32], KeyRecord)>, Error>;
}

/// A cockpit session as stored: never its secret (the row is found by the
/// secret's SHA-256), nor the principal's API key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRow {
    /// SHA-256 of the principal's API key (its record is read again at
    /// every request).
    pub key_hash: [u8; 32],
    /// The session's form token (CSRF).
    pub csrf: String,
    /// Sign-in time (ms since the epoch).
    pub created_at: i64,
    /// Time of a recent request (ms since the epoch); see
    /// [`SessionStore::touch_session`].
    pub last_seen: i64,
}

/// The rules of the conditional writes of [`SessionStore`], for the
/// backends that apply them to a row they read (under their own lock).
impl SessionRow {
    /// Moves `last_seen` forward to `at`; whether it moved.
    pub fn touch(&mut self, at: i64) -> bool {
        let moved = at > self.last_seen;
        self.last_seen = self.last_seen.max(at);
        moved
    }

    /// Whether [`SessionStore::prune_sessions`] removes it.
    #[must_use]
    pub fn prunable(&self, seen_before: i64, created_before: i64) -> bool {
        self.last_seen < seen_before || self.created_at < created_before
    }
}

/// A share link as stored: never its secret (the row is found by the
/// secret's SHA-256).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShareRow {
    /// Public ID (`shr_…`).
    pub id: String,
    /// The project.
    pub project: String,
    /// First day shown (`YYYY-MM-DD`).
    pub period_from: String,
    /// Last day shown (`YYYY-MM-DD`).
    pub period_to: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Its creator's name.
    pub created_by_name: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
    /// When its last `share_token_used` record was made (ms since the
    /// epoch), if one was.
    pub last_use_recorded: Option<i64>,
    /// Its creator's key ID: the link works only while that key is not
    /// revoked (empty in links stored before it was kept: they do not work).
    #[serde(default)]
    pub created_by: String,
}

impl ShareRow {
    /// Revokes it at `at` unless it is revoked already; whether it did.
    pub fn revoke(&mut self, at: &str) -> bool {
        if self.revoked_at.is_some() {
            return false;
        }
        self.revoked_at = Some(at.to_owned());
        true
    }

    /// Sets `last_use_recorded` to `to` if it is `from`; whether it did.
    pub fn swap_use(&mut self, from: Option<i64>, to: Option<i64>) -> bool {
        if self.last_use_recorded != from {
            return false;
        }
        self.last_use_recorded = to;
        true
    }
}

/// A sign-in started with an identity provider (OpenID Connect, GitHub)
/// and not finished yet, as stored: found by the SHA-256 of its `state`,
/// it keeps the SHA-256 of the browser's binding (never the binding, from
/// which the flow's PKCE verifier and nonce are derived), so a row read
/// from the store cannot finish a sign-in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingSignInRow {
    /// SHA-256 of the binding kept in the browser's cookie.
    pub binding_hash: [u8; 32],
    /// When it was started (ms since the epoch, the frontend's clock).
    pub created_at: i64,
    /// The project the person means to sign in to, if named.
    pub project: Option<String>,
}

/// The cockpit's sessions, share links and pending sign-ins: credentials,
/// like API keys, kept by the SHA-256 of their secret (never the secret).
/// They are in the store, not in a process's memory, so that every process
/// of a shared store (PostgreSQL) sees them and a restart keeps them: a
/// sign-in started on one frontend finishes on another.
///
/// Contract: every write is durable once it returns `Ok`, like the other
/// traits' writes. The conditional writes ([`SessionStore::touch_session`],
/// [`SessionStore::revoke_share`], [`SessionStore::swap_share_use`]) are
/// atomic with respect to every other write of the same row, from any
/// process of the store: a deleted session is never brought back, a link is
/// revoked once, and of several calls that swap a link's use time from the
/// same value, exactly one succeeds. The store does not judge expiry: the
/// caller compares the times with its clock.
pub trait SessionStore: Send + Sync {
    /// Stores a new session under the SHA-256 of its secret, durably.
    ///
    /// # Errors
    /// Storage failures.
    fn put_session(&self, id: &[u8; 32], session: &SessionRow) -> Result<(), Error>;

    /// The session of a secret's hash, expired or not (a point read).
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn session(&self, id: &[u8; 32]) -> Result<Option<SessionRow>, Error>;

    /// Moves a session's `last_seen` forward to `last_seen` (never back),
    /// durably, if the session still exists: a session deleted meanwhile
    /// (signed out, pruned) stays deleted.
    ///
    /// # Errors
    /// Storage failures.
    fn touch_session(&self, id: &[u8; 32], last_seen: i64) -> Result<(), Error>;

    /// Deletes a session, durably (nothing if there is none).
    ///
    /// # Errors
    /// Storage failures.
    fn delete_session(&self, id: &[u8; 32]) -> Result<(), Error>;

    /// Deletes at most `limit` sessions whose `last_seen` is before
    /// `seen_before` or whose `created_at` is before `created_before`,
    /// durably; returns how many it deleted. Its cost may grow with the
    /// number of sessions: call it off the async workers.
    ///
    /// # Errors
    /// Storage failures.
    fn prune_sessions(
        &self,
        seen_before: i64,
        created_before: i64,
        limit: usize,
    ) -> Result<usize, Error>;

    /// Every session of the principal whose key's SHA-256 is `key_hash`,
    /// expired or not, with its ID, in no particular order (an index
    /// look-up: its cost is the number of that key's sessions, which
    /// sign-in caps).
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn sessions_of_key(&self, key_hash: &[u8; 32]) -> Result<Vec<([u8; 32], SessionRow)>, Error>;

    /// Stores a new share link under the SHA-256 of its secret, durably.
    ///
    /// # Errors
    /// Storage failures.
    fn put_share(&self, secret_hash: &[u8; 32], link: &ShareRow) -> Result<(), Error>;

    /// The share link of a secret's hash, revoked or expired ones
    /// included (a point read).
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn share(&self, secret_hash: &[u8; 32]) -> Result<Option<ShareRow>, Error>;

    /// Every share link of `project` with its secret's hash, in no
    /// particular order. Its cost may grow with the number of links: call
    /// it off the async workers.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn shares(&self, project: &str) -> Result<Vec<([u8; 32], ShareRow)>, Error>;

    /// Sets a link's `revoked_at` (RFC 3339) if it is not revoked, durably:
    /// whether this call revoked it (`false`: it was revoked already, or
    /// there is no such link).
    ///
    /// # Errors
    /// Storage failures.
    fn revoke_share(&self, secret_hash: &[u8; 32], revoked_at: &str) -> Result<bool, Error>;

    /// Deletes a share link, durably (nothing if there is none): only
    /// links that expired or were revoked long ago are deleted, their
    /// history staying in the log.
    ///
    /// # Errors
    /// Storage failures.
    fn delete_share(&self, secret_hash: &[u8; 32]) -> Result<(), Error>;

    /// Compare-and-set of a link's `last_use_recorded`: sets it to `to` if
    /// it is `from`, durably; whether it did (`false`: another call changed
    /// it first, or there is no such link).
    ///
    /// # Errors
    /// Storage failures.
    fn swap_share_use(
        &self,
        secret_hash: &[u8; 32],
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<bool, Error>;

    /// Keeps a pending sign-in under `id` (the SHA-256 of its `state`),
    /// durably, unless `max` pending sign-ins created at or after
    /// `live_since` are kept already (`false`: nothing is kept). Deletes
    /// those created before `live_since` first: they can no longer finish.
    /// The count is a bound against floods, not exact under concurrent
    /// calls from several processes.
    ///
    /// # Errors
    /// Storage failures.
    fn put_pending_sign_in(
        &self,
        id: &[u8; 32],
        row: &PendingSignInRow,
        live_since: i64,
        max: usize,
    ) -> Result<bool, Error>;

    /// Removes the pending sign-in of `id` and returns it, durably: of
    /// several calls for the same `id`, from any process of the store,
    /// exactly one gets it (a sign-in is used once). The caller judges its
    /// age.
    ///
    /// # Errors
    /// Storage failures; [`Error::Corrupt`] rows.
    fn take_pending_sign_in(&self, id: &[u8; 32]) -> Result<Option<PendingSignInRow>, Error>;
}

/// Replaces the file at `path` with `bytes` atomically and durably: a
/// temporary file beside it is written and fsync'd, renamed over it, and the
/// directory fsync'd. A crash leaves the old file or the new one.
///
/// # Errors
/// File system failures.
pub fn write_file_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    let fail = |e: std::io::Error| Error::storage(format_args!("writing {}", path.display()), e);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = dir.join(name);
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)
}

/// A whole backend.
pub trait Storage: LogStore + RecordStore + KeyStore {}

impl<T: LogStore + RecordStore + KeyStore> Storage for T {}

/// The contracts above, checked the same way on every backend: the tree
/// and records of the single-writer backends (Memory, RocksDB), and, when
/// `scripts/test-services.sh` provides PostgreSQL and a bucket, the shared
/// store of [`cluster::Cluster`] (sequenced, then integrated) with the same
/// [`RecordStore`] and [`KeyStore`] checks; without them that test says it
/// was skipped.
#[cfg(test)]
mod contract {
    use super::cluster::{Cluster, ClusterConfig};
    use super::memory::Memory;
    use super::rocksdb::RocksDb;
    use super::*;

    fn record(
        project: &str,
        seq: u64,
        time_ms: i64,
        kind: RecordKind,
        exc: Option<&str>,
    ) -> NewRecord {
        NewRecord {
            project: project.into(),
            seq,
            time_ms,
            id: format!("id_{seq}"),
            kind,
            exception: exc.map(str::to_owned),
            record: format!("{{\"seq\":{seq}}}").into_bytes(),
            follows: None,
            project_row: None,
        }
    }

    /// Commits `records` as entries after the current tree.
    fn commit(store: &dyn Storage, frontier: &mut tlog::Frontier, records: &[NewRecord]) {
        let start = frontier.size();
        let data: Vec<Vec<u8>> = records
            .iter()
            .map(|r| format!("envelope {} {}", r.project, r.seq).into_bytes())
            .collect();
        let mut hashes = Vec::new();
        let entries: Vec<NewEntry<'_>> = data
            .iter()
            .zip(records)
            .zip(start..)
            .map(|((d, r), index)| {
                let leaf_hash = tlog::leaf_hash(d);
                frontier.append(leaf_hash, |id, h| hashes.push((id, h)));
                NewEntry {
                    index,
                    data: d,
                    leaf_hash,
                    record: Some(r),
                }
            })
            .collect();
        store
            .commit(&Batch {
                entries: &entries,
                hashes: &hashes,
                new_size: frontier.size(),
            })
            .unwrap();
    }

    /// Every record type, for the round trip of [`check_records`]; the
    /// match makes a new type a compile error here until it is listed.
    fn every_kind() -> Vec<RecordKind> {
        use RecordKind as K;
        let all = vec![
            K::GateDecision,
            K::ExceptionRequested,
            K::ExceptionSignal,
            K::ExceptionActivated,
            K::ExceptionRevoked,
            K::ExceptionExpired,
            K::ComplianceExport,
            K::ProjectSettingsChanged,
            K::AnomalyDetected,
            K::AnomalyAcknowledged,
            K::MonitorRun,
            K::ShareTokenCreated,
            K::ShareTokenUsed,
            K::ShareTokenRevoked,
            K::ChainStarted,
            K::PrincipalAdded,
            K::PrincipalChanged,
            K::PrincipalRevoked,
            K::SettingsChangeProposed,
            K::SettingsChangeApproved,
            K::SettingsChangeWithdrawn,
        ];
        for k in &all {
            match k {
                K::GateDecision
                | K::ExceptionRequested
                | K::ExceptionSignal
                | K::ExceptionActivated
                | K::ExceptionRevoked
                | K::ExceptionExpired
                | K::ComplianceExport
                | K::ProjectSettingsChanged
                | K::AnomalyDetected
                | K::AnomalyAcknowledged
                | K::MonitorRun
                | K::ShareTokenCreated
                | K::ShareTokenUsed
                | K::ShareTokenRevoked
                | K::ChainStarted
                | K::PrincipalAdded
                | K::PrincipalChanged
                | K::PrincipalRevoked => {}
                K::SettingsChangeProposed
                | K::SettingsChangeApproved
                | K::SettingsChangeWithdrawn => {}
            }
        }
        all
    }

    /// The entries every backend is given, as batches of records: the
    /// first two (five entries, indexes 0 to 4) are those the tree checks
    /// name; the third holds a record of every type in `prj_k`.
    fn batches() -> [Vec<NewRecord>; 3] {
        use RecordKind as K;
        [
            vec![
                record("prj_a", 1, 1_000, K::GateDecision, None),
                record("prj_a", 2, 2_000, K::ExceptionRequested, Some("id_2")),
                record("prj_b", 1, 2_500, K::GateDecision, None),
            ],
            vec![
                record("prj_a", 3, 2_000, K::ExceptionActivated, Some("id_2")),
                record("prj_a", 4, 5_000, K::ComplianceExport, None),
            ],
            (1u32..)
                .zip(every_kind())
                .map(|(seq, kind)| record("prj_k", seq.into(), 10_000 + i64::from(seq), kind, None))
                .collect(),
        ]
    }

    /// Entries the batches add.
    const ENTRIES: u64 = 5 + 21;

    /// The contract of a backend that is its log's only writer: the tree
    /// (committed with [`LogStore::commit`]), then [`check_records`].
    fn check(store: &dyn Storage) {
        let mut frontier = tlog::Frontier::default();
        assert_eq!(store.tree_size().unwrap(), 0);
        assert_eq!(store.latest_checkpoint().unwrap(), None);
        for batch in batches() {
            commit(store, &mut frontier, &batch);
        }
        assert_eq!(store.tree_size().unwrap(), ENTRIES);
        assert_eq!(tlog::tree_hash(ENTRIES, &store).unwrap(), frontier.root());
        check_tree(store);

        store.put_checkpoint(ENTRIES, b"note").unwrap();
        store.put_checkpoint(3, b"older").unwrap();
        assert_eq!(
            store.latest_checkpoint().unwrap(),
            Some((ENTRIES, b"note".to_vec()))
        );
        check_records(store);
        store.flush().unwrap();
    }

    /// Reads of the tree holding the batches (at least their entries).
    fn check_tree(store: &dyn Storage) {
        assert_eq!(store.entry(1).unwrap().unwrap(), b"envelope prj_a 2");
        assert_eq!(store.entry(ENTRIES).unwrap(), None);
        assert_eq!(store.entries(1, 3).unwrap().len(), 2);
        let leaf = tlog::leaf_hash(b"envelope prj_a 3");
        assert_eq!(store.index_of(&leaf, 5).unwrap(), Some(3));
        assert_eq!(
            store.index_of(&leaf, 3).unwrap(),
            None,
            "only below `below`"
        );
        assert_eq!(store.hash_range(0, 0, 5).unwrap().len(), 5 * 32);
    }

    /// The [`RecordStore`] and [`KeyStore`] contracts, on a store holding
    /// the records of [`batches`] (however they got there).
    fn check_records(store: &dyn Storage) {
        use RecordKind as K;
        assert_eq!(store.last_record("prj_a").unwrap(), Some((4, 5_000)));
        assert_eq!(store.last_record("prj_c").unwrap(), None);
        let r = store.record("prj_a", 2).unwrap().unwrap();
        assert_eq!(
            (r.kind, r.envelope.as_slice()),
            (K::ExceptionRequested, &b"envelope prj_a 2"[..])
        );
        assert_eq!(r.as_ref().value().unwrap()["seq"], 2);
        assert_eq!(store.record("prj_a", 5).unwrap(), None);
        assert_eq!(store.seq_of("prj_a", "id_3").unwrap(), Some(3));
        assert_eq!(store.seq_of("prj_b", "id_3").unwrap(), None);
        assert_eq!(store.exception_seqs("prj_a", "id_2").unwrap(), [2, 3]);
        assert_eq!(store.ledger_seqs("prj_a").unwrap(), [2, 3]);
        assert_eq!(store.ledger_seqs("prj_b").unwrap(), Vec::<u64>::new());
        assert_eq!(store.first_seq_at("prj_a", 1_500).unwrap(), Some(2));
        assert_eq!(store.first_seq_at("prj_a", 5_001).unwrap(), None);
        let mut seen = Vec::new();
        store
            .for_each_record("prj_a", 2..4, &mut |r| {
                seen.push(r.kind);
                Ok(true)
            })
            .unwrap();
        assert_eq!(seen, [K::ExceptionRequested, K::ExceptionActivated]);
        let mut first = 0;
        store
            .for_each_record("prj_a", 1..5, &mut |_| {
                first += 1;
                Ok(false)
            })
            .unwrap();
        assert_eq!(first, 1, "stops when told");
        // Every record type reads back as itself.
        let mut kinds = Vec::new();
        store
            .for_each_record("prj_k", 1..100, &mut |r| {
                kinds.push(r.kind);
                Ok(true)
            })
            .unwrap();
        assert_eq!(kinds, every_kind());
        for (seq, kind) in (1..).zip(every_kind()) {
            assert_eq!(store.record("prj_k", seq).unwrap().unwrap().kind, kind);
        }

        let row = |id: &str| ProjectRow {
            id: id.into(),
            name: "a".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            settings: compliance::ledger::ProjectSettings::default(),
        };
        store.put_project(&row("prj_b")).unwrap();
        store.put_project(&row("prj_a")).unwrap();
        assert_eq!(store.project("prj_a").unwrap(), Some(row("prj_a")));
        assert_eq!(store.project("prj_c").unwrap(), None);
        assert_eq!(
            store.projects().unwrap(),
            [row("prj_a"), row("prj_b")],
            "by ID"
        );
        let renamed = ProjectRow {
            name: "renamed".into(),
            ..row("prj_a")
        };
        store.put_project(&renamed).unwrap();
        assert_eq!(store.project("prj_a").unwrap(), Some(renamed));
        let profile = Profile {
            email: Some("alice@example.com".into()),
            roles_from_idp_groups: false,
            github_login: Some("alice".into()),
            github_id: Some(583_231),
            idp: None,
        };
        store.put_profile("prj_a", "key_1", &profile).unwrap();
        assert_eq!(store.profile("prj_a", "key_1").unwrap(), Some(profile));
        assert_eq!(store.profile("prj_a", "key_2").unwrap(), None);
        assert_eq!(store.profile("prj_b", "key_1").unwrap(), None);
        // A project's profiles, and no other project's (`prj_ab` starts
        // with `prj_a`).
        let other = Profile {
            github_login: Some("other".into()),
            ..Profile::default()
        };
        store.put_profile("prj_a", "key_2", &other).unwrap();
        store.put_profile("prj_ab", "key_3", &other).unwrap();
        store.put_profile("prj_", "key_4", &other).unwrap();
        let mut of_a = store.profiles("prj_a").unwrap();
        of_a.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            of_a,
            [
                (
                    "key_1".to_owned(),
                    store.profile("prj_a", "key_1").unwrap().unwrap()
                ),
                ("key_2".to_owned(), other.clone())
            ]
        );
        assert_eq!(
            store.profiles("prj_ab").unwrap(),
            [("key_3".to_owned(), other)]
        );
        assert_eq!(store.profiles("prj_c").unwrap(), []);

        // Kept documents: per project, content-addressed (idempotent).
        let sha = compliance::record::sha256_hex(b"openapi: 3.1.0\n");
        store.put_spec("prj_a", &sha, b"openapi: 3.1.0\n").unwrap();
        store.put_spec("prj_a", &sha, b"openapi: 3.1.0\n").unwrap();
        assert_eq!(
            store.spec("prj_a", &sha).unwrap().as_deref(),
            Some(&b"openapi: 3.1.0\n"[..])
        );
        assert_eq!(store.spec("prj_b", &sha).unwrap(), None);
        assert_eq!(store.spec("prj_a", &"0".repeat(64)).unwrap(), None);
        // Alert settings: per project, replaced.
        assert_eq!(store.alerts("prj_a").unwrap(), None);
        store.put_alerts("prj_a", b"{\"webhooks\":[]}").unwrap();
        store.put_alerts("prj_a", b"{\"digest\":[]}").unwrap();
        assert_eq!(
            store.alerts("prj_a").unwrap().as_deref(),
            Some(&b"{\"digest\":[]}"[..])
        );
        assert_eq!(store.alerts("prj_b").unwrap(), None);

        let key = KeyRecord {
            id: "key_1".into(),
            name: "k".into(),
            roles: vec![compliance::principal::Role::Admin],
            project: None,
            bot: false,
            created_at: String::new(),
            revoked_at: None,
        };
        store.put_key(&[1; 32], &key).unwrap();
        assert_eq!(store.key(&[1; 32]).unwrap(), Some(key.clone()));
        assert_eq!(store.key(&[2; 32]).unwrap(), None);
        assert_eq!(store.keys().unwrap(), [([1; 32], key.clone())]);
        // A revocation replaces the record.
        let revoked = KeyRecord {
            revoked_at: Some("2026-01-02T00:00:00Z".into()),
            ..key
        };
        store.put_key(&[1; 32], &revoked).unwrap();
        assert_eq!(store.keys().unwrap(), [([1; 32], revoked)]);
        check_sessions(store);
    }

    fn session_row(created_at: i64, last_seen: i64) -> SessionRow {
        SessionRow {
            key_hash: [1; 32],
            csrf: format!("csrf_{created_at}"),
            created_at,
            last_seen,
        }
    }

    fn share_row(id: &str, project: &str) -> ShareRow {
        ShareRow {
            id: id.into(),
            project: project.into(),
            period_from: "2026-01-01".into(),
            period_to: "2026-01-31".into(),
            created_at: "2026-02-01T00:00:00Z".into(),
            created_by_name: "audra".into(),
            expires_at: "2026-02-02T00:00:00Z".into(),
            revoked_at: None,
            last_use_recorded: None,
            created_by: "key_audra".into(),
        }
    }

    /// The [`SessionStore`] contract. Leaves session `[10; 32]` and share
    /// link `[20; 32]` (revoked) for [`check_sessions_kept`].
    fn check_sessions(store: &dyn Storage) {
        // Sessions: stored, read back, renewed only forward, deleted.
        assert_eq!(store.session(&[10; 32]).unwrap(), None);
        store
            .put_session(&[10; 32], &session_row(1_000, 1_000))
            .unwrap();
        store
            .put_session(&[11; 32], &session_row(2_000, 2_000))
            .unwrap();
        assert_eq!(
            store.session(&[10; 32]).unwrap(),
            Some(session_row(1_000, 1_000))
        );
        store.touch_session(&[10; 32], 5_000).unwrap();
        store.touch_session(&[10; 32], 4_000).unwrap();
        assert_eq!(
            store.session(&[10; 32]).unwrap(),
            Some(session_row(1_000, 5_000)),
            "last_seen only moves forward"
        );
        store.delete_session(&[11; 32]).unwrap();
        store.delete_session(&[11; 32]).unwrap();
        assert_eq!(store.session(&[11; 32]).unwrap(), None);
        store.touch_session(&[11; 32], 9_000).unwrap();
        assert_eq!(
            store.session(&[11; 32]).unwrap(),
            None,
            "a renewal does not bring a deleted session back"
        );
        // Pruning: idle (last_seen) or too old (created_at), at most `limit`.
        for i in 0..5u8 {
            store
                .put_session(&[30 + i; 32], &session_row(100, 200))
                .unwrap();
        }
        store
            .put_session(&[40; 32], &session_row(50, 6_000))
            .unwrap();
        assert_eq!(store.prune_sessions(300, 0, 3).unwrap(), 3, "bounded");
        assert_eq!(store.prune_sessions(300, 0, 100).unwrap(), 2);
        assert_eq!(store.prune_sessions(300, 0, 100).unwrap(), 0);
        assert!(store.session(&[40; 32]).unwrap().is_some());
        assert_eq!(store.prune_sessions(300, 60, 100).unwrap(), 1, "too old");
        assert_eq!(store.session(&[40; 32]).unwrap(), None);
        assert!(
            store.session(&[10; 32]).unwrap().is_some(),
            "a live session is kept"
        );
        // A key's sessions: found by the key, kept up to date by put,
        // delete and prune.
        let of_key = |k: u8| {
            let mut v: Vec<[u8; 32]> = store
                .sessions_of_key(&[k; 32])
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(of_key(1), [[10; 32]]);
        let other_key = SessionRow {
            key_hash: [2; 32],
            ..session_row(7_000, 7_000)
        };
        for id in [12u8, 13, 14] {
            store.put_session(&[id; 32], &other_key).unwrap();
        }
        assert_eq!(of_key(2), [[12; 32], [13; 32], [14; 32]]);
        assert_eq!(
            store.sessions_of_key(&[2; 32]).unwrap()[0].1,
            other_key,
            "with their rows"
        );
        store.delete_session(&[13; 32]).unwrap();
        assert_eq!(of_key(2), [[12; 32], [14; 32]]);
        assert_eq!(store.prune_sessions(8_000, 0, 100).unwrap(), 3);
        assert!(of_key(2).is_empty(), "pruned sessions leave the index");
        assert!(of_key(3).is_empty());
        assert!(store.session(&[10; 32]).unwrap().is_none());
        // Put back as check_sessions_kept expects it.
        store
            .put_session(&[10; 32], &session_row(1_000, 5_000))
            .unwrap();
        assert_eq!(of_key(1), [[10; 32]]);

        // Share links: by secret hash, listed by project.
        store
            .put_share(&[20; 32], &share_row("shr_a", "prj_a"))
            .unwrap();
        store
            .put_share(&[21; 32], &share_row("shr_b", "prj_a"))
            .unwrap();
        store
            .put_share(&[22; 32], &share_row("shr_c", "prj_b"))
            .unwrap();
        assert_eq!(
            store.share(&[20; 32]).unwrap(),
            Some(share_row("shr_a", "prj_a"))
        );
        assert_eq!(store.share(&[23; 32]).unwrap(), None);
        let mut listed = store.shares("prj_a").unwrap();
        listed.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        assert_eq!(
            listed,
            [
                ([20; 32], share_row("shr_a", "prj_a")),
                ([21; 32], share_row("shr_b", "prj_a"))
            ]
        );
        assert_eq!(store.shares("prj_c").unwrap(), []);
        // Revoked once.
        assert!(
            store
                .revoke_share(&[20; 32], "2026-02-01T12:00:00Z")
                .unwrap()
        );
        assert!(
            !store
                .revoke_share(&[20; 32], "2026-02-01T13:00:00Z")
                .unwrap()
        );
        assert!(
            !store
                .revoke_share(&[23; 32], "2026-02-01T13:00:00Z")
                .unwrap()
        );
        assert_eq!(
            store
                .share(&[20; 32])
                .unwrap()
                .unwrap()
                .revoked_at
                .as_deref(),
            Some("2026-02-01T12:00:00Z")
        );
        // The use time: a compare-and-set.
        assert!(store.swap_share_use(&[21; 32], None, Some(7)).unwrap());
        assert!(!store.swap_share_use(&[21; 32], None, Some(8)).unwrap());
        assert!(!store.swap_share_use(&[23; 32], None, Some(8)).unwrap());
        assert_eq!(
            store.share(&[21; 32]).unwrap().unwrap().last_use_recorded,
            Some(7)
        );
        assert!(store.swap_share_use(&[21; 32], Some(7), None).unwrap());
        assert_eq!(
            store.share(&[21; 32]).unwrap().unwrap().last_use_recorded,
            None
        );
        // Of several concurrent swaps from the same value, one succeeds.
        let won = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|i| s.spawn(move || store.swap_share_use(&[22; 32], None, Some(i)).unwrap()))
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|won| *won)
                .count()
        });
        assert_eq!(won, 1);
        // A deleted link is gone; deleting it again, or one that never
        // was, does nothing.
        store.delete_share(&[22; 32]).unwrap();
        assert_eq!(store.share(&[22; 32]).unwrap(), None);
        assert_eq!(store.shares("prj_b").unwrap(), []);
        store.delete_share(&[22; 32]).unwrap();
        store.delete_share(&[23; 32]).unwrap();
        assert_eq!(store.shares("prj_a").unwrap().len(), 2);

        check_pending_sign_ins(store);
    }

    fn pending_row(created_at: i64) -> PendingSignInRow {
        PendingSignInRow {
            binding_hash: [9; 32],
            created_at,
            project: (created_at % 2 == 0).then(|| "prj_a".to_owned()),
        }
    }

    /// Pending sign-ins: kept, taken once, the expired ones deleted, at
    /// most `max` live ones. Leaves `[60; 32]` for [`check_sessions_kept`].
    fn check_pending_sign_ins(store: &dyn Storage) {
        assert_eq!(store.take_pending_sign_in(&[50; 32]).unwrap(), None);
        assert!(
            store
                .put_pending_sign_in(&[50; 32], &pending_row(1_000), 0, 10)
                .unwrap()
        );
        assert!(
            store
                .put_pending_sign_in(&[51; 32], &pending_row(1_001), 0, 10)
                .unwrap()
        );
        assert_eq!(
            store.take_pending_sign_in(&[50; 32]).unwrap(),
            Some(pending_row(1_000))
        );
        assert_eq!(
            store.take_pending_sign_in(&[50; 32]).unwrap(),
            None,
            "taken once"
        );
        // Of several concurrent takes, one gets it.
        let got = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|_| s.spawn(|| store.take_pending_sign_in(&[51; 32]).unwrap()))
                .collect();
            threads
                .into_iter()
                .filter_map(|t| t.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(got, [pending_row(1_001)]);
        // At most `max` live ones; the expired ones (created before
        // `live_since`) are deleted and do not count.
        for i in 0..3u8 {
            assert!(
                store
                    .put_pending_sign_in(&[52 + i; 32], &pending_row(2_000), 0, 3)
                    .unwrap()
            );
        }
        assert!(
            !store
                .put_pending_sign_in(&[55; 32], &pending_row(2_001), 0, 3)
                .unwrap(),
            "full"
        );
        assert_eq!(store.take_pending_sign_in(&[55; 32]).unwrap(), None);
        assert!(
            store
                .put_pending_sign_in(&[60; 32], &pending_row(3_000), 2_500, 3)
                .unwrap(),
            "the three created before 2500 expired"
        );
        for i in 0..3u8 {
            assert_eq!(
                store.take_pending_sign_in(&[52 + i; 32]).unwrap(),
                None,
                "an expired one is deleted"
            );
        }
    }

    /// What [`check_sessions`] left, read by a store opened again.
    fn check_sessions_kept(store: &dyn Storage) {
        assert_eq!(
            store.session(&[10; 32]).unwrap(),
            Some(session_row(1_000, 5_000))
        );
        let link = store.share(&[20; 32]).unwrap().unwrap();
        assert_eq!(link.revoked_at.as_deref(), Some("2026-02-01T12:00:00Z"));
        assert_eq!(store.shares("prj_a").unwrap().len(), 2);
        assert_eq!(
            store.take_pending_sign_in(&[60; 32]).unwrap(),
            Some(pending_row(3_000))
        );
    }

    #[test]
    fn the_memory_backend_keeps_the_contract() {
        let store = Memory::new();
        check(&store);
        store.check().unwrap();
    }

    #[test]
    fn the_rocksdb_backend_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        check(&RocksDb::open(&path).unwrap());
        // And it is all there after reopening.
        let store = RocksDb::open(&path).unwrap();
        assert_eq!(store.tree_size().unwrap(), ENTRIES);
        assert_eq!(store.latest_checkpoint().unwrap().unwrap().0, ENTRIES);
        assert_eq!(store.ledger_seqs("prj_a").unwrap(), [2, 3]);
        assert_eq!(
            store.alerts("prj_a").unwrap().as_deref(),
            Some(&b"{\"digest\":[]}"[..])
        );
        let sha = compliance::record::sha256_hex(b"openapi: 3.1.0\n");
        assert!(store.spec("prj_a", &sha).unwrap().is_some());
        assert_eq!(store.keys().unwrap().len(), 1);
        check_sessions_kept(&store);
    }

    /// The shared store of the PostgreSQL mode, on the services of
    /// `scripts/test-services.sh`: a new database (and bucket prefix) each
    /// run. `None`, saying so, when the services are not there.
    fn new_cluster() -> Option<Cluster> {
        let (Ok(admin), Ok(bucket)) = (
            std::env::var("STATEANCHOR_TEST_DATABASE"),
            std::env::var("STATEANCHOR_TEST_BUCKET"),
        ) else {
            eprintln!(
                "skipped: run under scripts/test-services.sh for the PostgreSQL contract \
                 (STATEANCHOR_TEST_DATABASE and STATEANCHOR_TEST_BUCKET are unset)"
            );
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("sa_contract_{}_{nanos}", std::process::id());
        let out = std::process::Command::new("psql")
            .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("psql (scripts/test-services.sh installs PostgreSQL)");
        assert!(
            out.status.success(),
            "CREATE DATABASE: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The admin URL with the new database, its query (?sslmode=) kept.
        let (path, query) = admin.split_at(admin.find('?').unwrap_or(admin.len()));
        let (base, _) = path.rsplit_once('/').expect("database URL");
        let config = ClusterConfig {
            lease_ttl: std::time::Duration::from_secs(10),
            ..ClusterConfig::default()
        };
        Some(
            Cluster::open(
                &format!("{base}/{name}{query}"),
                &format!("s3://{bucket}/{name}"),
                config,
            )
            .unwrap(),
        )
    }

    /// Sequences a batch of records through [`SharedLog::sequence`], as the
    /// log does in the shared mode; returns the first index.
    fn sequence(store: &Cluster, frontier: &mut tlog::Frontier, records: &[NewRecord]) -> u64 {
        // Each record follows the project's previous one (`record` names
        // record `seq` `id_{seq}`), or the fence would refuse it.
        let records: Vec<NewRecord> = records
            .iter()
            .map(|r| NewRecord {
                follows: (r.seq > 1).then(|| format!("id_{}", r.seq - 1)),
                ..r.clone()
            })
            .collect();
        let data: Vec<Vec<u8>> = records
            .iter()
            .map(|r| format!("envelope {} {}", r.project, r.seq).into_bytes())
            .collect();
        let entries: Vec<NewEntry<'_>> = data
            .iter()
            .zip(&records)
            .map(|(d, r)| NewEntry {
                index: 0,
                data: d,
                leaf_hash: tlog::leaf_hash(d),
                record: Some(r),
            })
            .collect();
        for e in &entries {
            frontier.append(e.leaf_hash, |_, _| {});
        }
        let sequenced = store.sequence(&entries).unwrap();
        let first = frontier.size() - entries.len() as u64;
        assert_eq!(
            sequenced,
            (first..frontier.size())
                .map(Sequenced::At)
                .collect::<Vec<_>>(),
            "nothing fenced"
        );
        first
    }

    /// The PostgreSQL + object storage backend: records are visible once
    /// sequenced, before any integration; the tree once integrated; and
    /// then the same [`RecordStore`] and [`KeyStore`] contract as the
    /// single-writer backends. (It has no [`LogStore::commit`]: a shared
    /// log is written through [`SharedLog`].)
    #[test]
    fn the_postgresql_backend_keeps_the_contract() {
        let Some(store) = new_cluster() else {
            return;
        };
        assert_eq!(store.tree_size().unwrap(), 0);
        assert_eq!(store.latest_checkpoint().unwrap(), None);
        let mut frontier = tlog::Frontier::default();
        for batch in batches() {
            let start = frontier.size();
            assert_eq!(sequence(&store, &mut frontier, &batch), start);
        }
        // Sequenced: durable and readable, records included, but not yet
        // in the tree that is served.
        assert_eq!(store.tree_size().unwrap(), 0);
        assert_eq!(store.entry(0).unwrap(), None);
        assert_eq!(store.pg.sequenced(0, 100).unwrap().len() as u64, ENTRIES);
        check_records(&store);
        assert!(
            store
                .commit(&Batch {
                    entries: &[],
                    hashes: &[],
                    new_size: 0,
                })
                .is_err(),
            "a shared log is not written by commit"
        );

        // Integrated: the tree, its tiles and bundles, and a checkpoint
        // signed by the integrator.
        let signer =
            tlog::SignerKey::generate("contract.example/log", &mut rand_core::OsRng).unwrap();
        let mut integrated = store.integrate(&signer).unwrap();
        while integrated.size < ENTRIES {
            integrated = store.integrate(&signer).unwrap();
        }
        assert_eq!(integrated.size, ENTRIES);
        assert_eq!(integrated.root, frontier.root());
        assert_eq!(store.tree_size().unwrap(), ENTRIES);
        assert_eq!(tlog::tree_hash(ENTRIES, &store).unwrap(), frontier.root());
        check_tree(&store);
        let (size, note) = store.latest_checkpoint().unwrap().unwrap();
        assert_eq!(size, ENTRIES);
        let opened = tlog::open_checkpoint(&note, &signer.verifier_key()).unwrap();
        assert_eq!(
            (opened.checkpoint.tree_size, opened.checkpoint.root_hash),
            (ENTRIES, frontier.root())
        );
        SharedLog::release(&store).unwrap();
        // The records are unchanged by integration.
        assert_eq!(store.ledger_seqs("prj_a").unwrap(), [2, 3]);
        assert_eq!(store.last_record("prj_k").unwrap(), Some((21, 10_021)));
    }
}
