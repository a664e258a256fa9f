//! PostgreSQL: the shared sequencer, the integrator's lease and
//! compare-and-swap, and the records, projects, profiles, API keys and kept
//! documents of a log run by several frontends (issue 13). The only file
//! that names `tokio_postgres`.
//!
//! # Tables
//!
//! | table | what |
//! |---|---|
//! | `sa_coord` | one row: `next_index` (sequenced), the integrated `int_size`, `int_root` and signed `checkpoint`, and the integrator's lease (`epoch`, `lease_holder`, `lease_expires`) |
//! | `sa_entries` | every sequenced entry: index, bytes, leaf hash (indexed, for look-up by hash) |
//! | `sa_checkpoints` | every checkpoint the integrator published, by tree size |
//! | `sa_records`, `sa_projects`, `sa_profiles`, `sa_keys`, `sa_specs`, `sa_alerts` | as the RocksDB column families |
//! | `sa_writers` | each project's writer claim: its holder, when it lapses, and who waits for it |
//! | `sa_jobs` | one-off jobs every frontend schedules (a week's digest), by the one that claimed each |
//! | `sa_sessions` | the cockpit's sessions, by the SHA-256 of their secret: the principal key's SHA-256, the CSRF token, sign-in and last-request times (ms, the frontends' clocks) |
//! | `sa_shares` | share links, by the SHA-256 of their secret: the link's fields, `revoked_at`, and `last_use_recorded`, which a frontend sets with a compare-and-set before it records a use |
//! | `sa_pending_sign_ins` | sign-ins started with an identity provider and not finished, by the SHA-256 of their `state`: the SHA-256 of the browser's binding, the start time, the project named (taken with `DELETE … RETURNING`: used once, by whichever frontend the callback reaches) |
//! | `sa_meta` | one row: the schema's format, `schema_version` ([`SCHEMA_VERSION`]) |
//!
//! # Schema format
//!
//! Format 1 is the schema of every release before `sa_meta` existed: the
//! tables above but `sa_meta` (the releases of issue 13 and after; the
//! columns a release added, such as `sa_coord.witnessed` and
//! `sa_shares.created_by`, are added in place by the schema itself).
//! Format 2 is format 1 plus `sa_meta` and the index of sessions by key;
//! format 3 adds `sa_pending_sign_ins`. At connection, in one transaction
//! under an advisory lock (several frontends starting at once are
//! serialized), [`Postgres::connect`] creates the schema in an empty
//! database, migrates an older format to [`SCHEMA_VERSION`], and refuses a
//! later format, which an older release cannot know the meaning of
//! ([`schema_plan`]).
//!
//! # Sequencing
//!
//! A batch is one short transaction: `UPDATE sa_coord SET next_index =
//! next_index + n ... RETURNING` (which locks the coordinator row until the
//! commit, so batches of different frontends are serialized), the entries
//! and their records inserted with their indexes, `COMMIT`. Every session
//! runs with `synchronous_commit = on`: the commit returns after the WAL is
//! flushed (and, on a replicated cluster, as its `synchronous_standby_names`
//! say), so the commit is the durable acknowledgement.
//!
//! A record is inserted only if it follows the record it was evaluated
//! after (`INSERT … SELECT … WHERE` the record at `seq - 1` has the ID in
//! [`NewRecord::follows`]; `ON CONFLICT DO NOTHING` on `(project, seq)`):
//! otherwise it is fenced, and so is every later record of its project in
//! the batch, and the batch's other entries are sequenced without them.
//! Batches are serialized by the coordinator row's lock, which is taken
//! first, so each check sees every batch committed before.
//!
//! # Integration
//!
//! The lease is the coordinator row's `lease_holder` and `lease_expires`,
//! compared with the database's clock only. Taking an expired lease (or a
//! first one) increments `epoch`. The integrator advances the integrated
//! tree with a compare-and-swap on `(int_size, epoch, lease_holder)`: an
//! integrator whose lease was taken over, or that is behind, changes nothing.
//!
//! # TLS
//!
//! The URL's `sslmode` says whether a connection uses TLS: `disable` (never),
//! `prefer` (the default: when the server offers it) or `require` (always;
//! a server without TLS is an error). A TLS connection always verifies the
//! server's certificate and host name (as libpq's `verify-full`), against
//! the system's roots and an optional CA file (`storage::tls`); one that
//! does not verify is an error, never a fallback to plain text.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use compliance::ledger::ProjectRow;
use compliance::principal::{KeyRecord, Profile};
use compliance::record::RecordKind;
use tlog::Hash;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::bridge::Bridge;
use super::{
    NewEntry, NewRecord, PendingSignInRow, Sequenced, SessionRow, ShareRow, StoredRecord,
    WriterClaim,
};
use crate::{Error, Result};

/// Connections kept per process.
const POOL_SIZE: usize = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sa_coord (
    id int PRIMARY KEY CHECK (id = 1),
    next_index bigint NOT NULL,
    int_size bigint NOT NULL,
    int_root bytea NOT NULL,
    checkpoint bytea,
    epoch bigint NOT NULL,
    lease_holder text,
    lease_expires timestamptz
);
INSERT INTO sa_coord (id, next_index, int_size, int_root, epoch)
    VALUES (1, 0, 0, '\\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 0)
    ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS sa_entries (
    idx bigint PRIMARY KEY,
    data bytea NOT NULL,
    leaf_hash bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS sa_entries_leaf ON sa_entries (leaf_hash, idx);
CREATE TABLE IF NOT EXISTS sa_checkpoints (
    size bigint PRIMARY KEY,
    note bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS sa_records (
    project text NOT NULL,
    seq bigint NOT NULL,
    time_ms bigint NOT NULL,
    id text NOT NULL,
    kind text NOT NULL,
    exception text,
    envelope bytea NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (project, seq),
    UNIQUE (project, id)
);
CREATE INDEX IF NOT EXISTS sa_records_exc ON sa_records (project, exception COLLATE \"C\", seq)
    WHERE exception IS NOT NULL;
CREATE INDEX IF NOT EXISTS sa_records_time ON sa_records (project, time_ms, seq);
CREATE TABLE IF NOT EXISTS sa_projects (id text PRIMARY KEY, row bytea NOT NULL);
CREATE TABLE IF NOT EXISTS sa_profiles (
    project text NOT NULL, principal text NOT NULL, profile bytea NOT NULL,
    PRIMARY KEY (project, principal)
);
CREATE TABLE IF NOT EXISTS sa_keys (secret_hash bytea PRIMARY KEY, record bytea NOT NULL);
CREATE TABLE IF NOT EXISTS sa_specs (
    project text NOT NULL, sha256 text NOT NULL, bytes bytea NOT NULL,
    PRIMARY KEY (project, sha256)
);
CREATE TABLE IF NOT EXISTS sa_alerts (project text PRIMARY KEY, settings bytea NOT NULL);
CREATE TABLE IF NOT EXISTS sa_writers (
    project text PRIMARY KEY,
    holder text,
    expires timestamptz NOT NULL,
    wanted_by text,
    wanted_at timestamptz
);
CREATE TABLE IF NOT EXISTS sa_jobs (
    name text PRIMARY KEY,
    holder text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sa_sessions (
    id bytea PRIMARY KEY,
    key_hash bytea NOT NULL,
    csrf text NOT NULL,
    created_at bigint NOT NULL,
    last_seen bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS sa_shares (
    secret_hash bytea PRIMARY KEY,
    id text NOT NULL,
    project text NOT NULL,
    period_from text NOT NULL,
    period_to text NOT NULL,
    created_at text NOT NULL,
    created_by_name text NOT NULL,
    expires_at text NOT NULL,
    revoked_at text,
    last_use_recorded bigint
);
CREATE INDEX IF NOT EXISTS sa_shares_project ON sa_shares (project);
DO $$ BEGIN
    -- Only when missing: ALTER TABLE takes an exclusive lock on the
    -- coordinator row's table even when the column exists, and other
    -- frontends are using it.
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'sa_coord'
                     AND column_name = 'witnessed') THEN
        ALTER TABLE sa_coord ADD COLUMN witnessed_size bigint, ADD COLUMN witnessed bytea;
    END IF;
END $$;
CREATE TABLE IF NOT EXISTS sa_witness_sizes (witness text PRIMARY KEY, size bigint NOT NULL);
DO $$ BEGIN
    -- A share link's creator key (a link dies with it); only when missing.
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'sa_shares'
                     AND column_name = 'created_by') THEN
        ALTER TABLE sa_shares ADD COLUMN created_by text NOT NULL DEFAULT '';
    END IF;
END $$;
";

/// The schema format this release writes (see "Schema format" above).
pub const SCHEMA_VERSION: u32 = 3;

/// The advisory lock that serializes schema creation and migration.
const SCHEMA_LOCK: i64 = 7_243_515;

/// Format 1 to 2: the table of the schema's format, and the index of
/// sessions by their principal's key (the cap on sessions per key).
const MIGRATE_TO_2: &str = "
CREATE INDEX IF NOT EXISTS sa_sessions_by_key ON sa_sessions (key_hash);
CREATE TABLE IF NOT EXISTS sa_meta (
    id int PRIMARY KEY CHECK (id = 1),
    schema_version integer NOT NULL
);
INSERT INTO sa_meta (id, schema_version) VALUES (1, 2)
    ON CONFLICT (id) DO UPDATE SET schema_version = 2;
";

/// Format 2 to 3: pending sign-ins with an identity provider, in the
/// database rather than one frontend's memory (a sign-in started on one
/// frontend finishes on another).
const MIGRATE_TO_3: &str = "
CREATE TABLE IF NOT EXISTS sa_pending_sign_ins (
    id bytea PRIMARY KEY,
    binding_hash bytea NOT NULL,
    created_at bigint NOT NULL,
    project text
);
CREATE INDEX IF NOT EXISTS sa_pending_sign_ins_created ON sa_pending_sign_ins (created_at);
UPDATE sa_meta SET schema_version = 3 WHERE id = 1;
";

/// What [`Postgres::connect`] does with the schema it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaPlan {
    /// An empty database: create the schema of [`SCHEMA_VERSION`].
    Create,
    /// A schema of this format (older than [`SCHEMA_VERSION`]): migrate it.
    Migrate(u32),
    /// The current format: nothing to do.
    Current,
}

/// The plan for a database whose `sa_meta` says `version` (`None`: no
/// `sa_meta`) and which has the coordinator table or not.
///
/// # Errors
/// [`Error::Config`] for a later format than [`SCHEMA_VERSION`], or a
/// version of 0 or below, saying what to do.
pub fn schema_plan(target: &str, version: Option<i64>, has_tables: bool) -> Result<SchemaPlan> {
    match version {
        None if has_tables => Ok(SchemaPlan::Migrate(1)),
        None => Ok(SchemaPlan::Create),
        Some(v) if v == i64::from(SCHEMA_VERSION) => Ok(SchemaPlan::Current),
        Some(v) if v > i64::from(SCHEMA_VERSION) => Err(Error::Config(format!(
            "the database at {target} holds a schema of format {v}, written by a later release; \
             this release reads formats 1 to {SCHEMA_VERSION}: run the release that wrote it (or a later one), \
             or restore the dump taken before the upgrade into a new database (docs/operations.md, \"Upgrades\")"
        ))),
        Some(v) if v >= 1 => Ok(SchemaPlan::Migrate(u32::try_from(v).unwrap_or(1))),
        Some(v) => Err(Error::Corrupt(format!(
            "sa_meta says schema format {v}, which no release wrote"
        ))),
    }
}

/// The integrated tree and the sequencer's position, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coordinator {
    /// The next index the sequencer assigns (entries `0..next_index` exist).
    pub next_index: u64,
    /// Entries covered by the integrated tree (tiles and bundles written).
    pub int_size: u64,
    /// Root hash of the integrated tree.
    pub int_root: Hash,
    /// The signed checkpoint of the integrated tree, once there is one.
    pub checkpoint: Option<Vec<u8>>,
    /// The integrator lease's epoch.
    pub epoch: u64,
}

/// A lease held by this process: the epoch it was granted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The epoch, which the compare-and-swap checks.
    pub epoch: u64,
}

/// How long a holder's wish to take a project's writer claim over stands
/// without being repeated (a waiting holder repeats it at every try).
pub const WANTED_FOR: Duration = Duration::from_millis(500);

/// How long PostgreSQL lets a session of ours sit idle inside a
/// transaction before ending it (and releasing its locks).
const IDLE_IN_TRANSACTION_SQL: &str = "SET idle_in_transaction_session_timeout = '2s'";

struct Pool {
    config: Config,
    /// The TLS connector, unless the URL says `sslmode=disable`.
    tls: Option<MakeRustlsConnect>,
    /// The database, as named in messages (no password).
    target: String,
    slots: Vec<tokio::sync::Mutex<Option<Client>>>,
    next: AtomicUsize,
}

impl Pool {
    async fn connect(&self) -> Result<Client> {
        let closed = |e: tokio_postgres::Error| {
            tracing::warn!(error = %e, "PostgreSQL connection closed");
        };
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()).await.map(|(c, conn)| {
                tokio::spawn(async move { conn.await.map_err(closed) });
                c
            }),
            None => self.config.connect(NoTls).await.map(|(c, conn)| {
                tokio::spawn(async move { conn.await.map_err(closed) });
                c
            }),
        }
        .map_err(|e| {
            let context = format!("connecting to PostgreSQL at {}", self.target);
            match super::tls::handshake_failure(&e) {
                Some(said) => Error::storage(context, said),
                None => Error::storage(context, e),
            }
        })?;
        // The commit is the durable acknowledgement: never let a session
        // (or a server default) turn it into an asynchronous commit. A
        // transaction here is a few statements sent back to back; one left
        // idle holds the coordinator row's lock, which would stall every
        // frontend and the lease while its process is paused (SIGSTOP, a
        // VM freeze): PostgreSQL ends such a session instead.
        client
            .batch_execute(IDLE_IN_TRANSACTION_SQL)
            .await
            .map_err(|e| Error::storage("configuring the PostgreSQL session", e))?;
        client
            .batch_execute("SET synchronous_commit = on")
            .await
            .map_err(|e| Error::storage("configuring the PostgreSQL session", e))?;
        Ok(client)
    }

    /// A connection of the pool, connected (again) if needed.
    async fn get(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut guard = None;
        for i in 0..self.slots.len() {
            if let Ok(g) = self.slots[(start + i) % self.slots.len()].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut guard = match guard {
            Some(g) => g,
            None => self.slots[start % self.slots.len()].lock().await,
        };
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect().await?);
        }
        Ok(guard)
    }
}

fn db(context: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| Error::storage(context, e)
}

fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Corrupt(format!("{v} is out of PostgreSQL's range")))
}

fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Corrupt(format!("negative number {v} in PostgreSQL")))
}

fn kind_from_str(s: &str) -> Result<RecordKind> {
    RecordKind::from_name(s).ok_or_else(|| Error::Corrupt(format!("unknown record type {s:?}")))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

fn to_json(v: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::storage("serializing a row", e))
}

/// A PostgreSQL database holding a log's sequencer, lease and records.
pub struct Postgres {
    pool: Arc<Pool>,
    bridge: Bridge,
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/dbname`),
    /// checks that the server answers, and creates the tables if they are
    /// missing. TLS, as the URL's `sslmode` says, trusts the system's roots.
    ///
    /// # Errors
    /// A URL that does not parse, a server that cannot be reached or
    /// refuses the connection (within `timeout`), a failing schema creation.
    pub fn connect(url: &str, timeout: Duration) -> Result<Self> {
        Self::connect_with_ca(url, timeout, None)
    }

    /// [`Postgres::connect`], with TLS also trusting the CA certificates of
    /// the PEM file `ca_file`.
    ///
    /// # Errors
    /// As [`Postgres::connect`]; a CA file that cannot be read or holds no
    /// valid certificate; a TLS handshake that fails (an untrusted
    /// certificate, a host name it is not for, a server without TLS under
    /// `sslmode=require`).
    pub fn connect_with_ca(url: &str, timeout: Duration, ca_file: Option<&Path>) -> Result<Self> {
        let mut config: Config = url.parse().map_err(|e| {
            let hint = if url.contains("sslmode=verify") {
                "sslmode is disable, prefer or require here; require verifies the \
                 certificate and host name, as libpq's verify-full"
            } else {
                "expected postgres://USER[:PASSWORD]@HOST:PORT/DBNAME"
            };
            Error::storage(
                format!("the database URL {:?}", redact(url)),
                format!("{e} ({hint})"),
            )
        })?;
        config.connect_timeout(timeout);
        config.application_name("stateanchor-log");
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => {
                // Still read the CA file: a bad one is a mistake to report.
                ca_file.map(super::tls::ca_file_roots).transpose()?;
                None
            }
            _ => Some(MakeRustlsConnect::new(super::tls::client_config(ca_file)?)),
        };
        let pool = Arc::new(Pool {
            config,
            tls,
            target: redact(url),
            slots: (0..POOL_SIZE)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        });
        let bridge = Bridge::new("sa-postgres", timeout.max(Duration::from_secs(30)))?;
        let p = pool.clone();
        let done = bridge.run("creating the PostgreSQL tables", async move {
            let mut c = p.get().await?;
            let c = c.as_mut().ok_or(Error::Stopped)?;
            ensure_schema(c, &p.target).await
        })?;
        match done {
            SchemaPlan::Create => {
                tracing::info!(format = SCHEMA_VERSION, "created the PostgreSQL schema")
            }
            SchemaPlan::Migrate(from) => {
                tracing::info!(from, to = SCHEMA_VERSION, "migrated the PostgreSQL schema")
            }
            SchemaPlan::Current => {}
        }
        Ok(Postgres { pool, bridge })
    }

    /// The schema's format, as `sa_meta` records it (1 if it has none).
    ///
    /// # Errors
    /// Database failures.
    pub fn schema_version(&self) -> Result<i64> {
        self.run("reading the schema format", |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            Ok(read_schema_version(c).await?.unwrap_or(1))
        })
    }

    fn run<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Pool>) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        self.bridge.run(what, f(self.pool.clone()))
    }

    // --------------------------------------------------------- sequencing

    /// **The commit point of an append in this mode.** Assigns the batch's
    /// entries consecutive indexes after every entry sequenced so far (by
    /// any frontend) and stores them with their records, in one
    /// transaction; returns the first index. `Ok`: durable. `Err`: the
    /// outcome is unknown.
    ///
    /// # Errors
    /// Database failures.
    pub fn sequence(&self, entries: &[NewEntry<'_>]) -> Result<Vec<Sequenced>> {
        let data: Vec<Vec<u8>> = entries.iter().map(|e| e.data.to_vec()).collect();
        let leaves: Vec<Vec<u8>> = entries.iter().map(|e| e.leaf_hash.0.to_vec()).collect();
        let records: Vec<(usize, NewRecord)> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.record.map(|r| (i, r.clone())))
            .collect();
        self.run("sequencing a batch in PostgreSQL", move |p| async move {
            let mut guard = p.get().await?;
            let c = guard.as_mut().ok_or(Error::Stopped)?;
            let tx = c.transaction().await.map_err(db("BEGIN"))?;
            // The coordinator row's lock first: batches of every frontend
            // are serialized from here, so the checks below see every
            // record committed before.
            let start: i64 = tx
                .query_one(
                    "SELECT next_index FROM sa_coord WHERE id = 1 FOR UPDATE",
                    &[],
                )
                .await
                .map_err(db("locking the coordinator row"))?
                .get(0);
            let mut fenced = vec![false; data.len()];
            let mut fenced_projects: Vec<&str> = Vec::new();
            for (i, r) in &records {
                if fenced_projects.contains(&r.project.as_str())
                    || !insert_record(&tx, r, &data[*i], true).await?
                {
                    fenced[*i] = true;
                    fenced_projects.push(&r.project);
                }
            }
            let mut out = Vec::with_capacity(data.len());
            let (mut idx, mut kept, mut kept_leaves) = (Vec::new(), Vec::new(), Vec::new());
            let mut next = start;
            for ((d, l), fenced) in data.into_iter().zip(leaves).zip(fenced) {
                if fenced {
                    out.push(Sequenced::Fenced);
                    continue;
                }
                out.push(Sequenced::At(to_u64(next)?));
                idx.push(next);
                kept.push(d);
                kept_leaves.push(l);
                next += 1;
            }
            tx.execute(
                "INSERT INTO sa_entries (idx, data, leaf_hash) \
                 SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[])",
                &[&idx, &kept, &kept_leaves],
            )
            .await
            .map_err(db("inserting entries"))?;
            tx.execute("UPDATE sa_coord SET next_index = $1 WHERE id = 1", &[&next])
                .await
                .map_err(db("advancing the next index"))?;
            tx.commit().await.map_err(db("COMMIT of a batch"))?;
            Ok(out)
        })
    }

    // ------------------------------------------------------ writer claims

    /// Takes or renews `holder`'s writer claim on `project` for `ttl`
    /// (see [`WriterClaim`]), or `None` if another holder's claim has not
    /// lapsed; `holder` is then the one waiting for it, unless another
    /// already is. A waiting holder's turn comes next: while its wish is
    /// fresh ([`WANTED_FOR`]), nobody else takes the claim over.
    ///
    /// # Errors
    /// Database failures.
    pub fn claim_writer(
        &self,
        project: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<WriterClaim>> {
        let (project, holder) = (project.to_owned(), holder.to_owned());
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let wanted_ms = i64::try_from(WANTED_FOR.as_millis()).unwrap_or(i64::MAX);
        let row: Option<(i64, bool)> = self.run("claiming a project", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            let row = c
                .query_opt(
                    "INSERT INTO sa_writers AS w (project, holder, expires) \
                     VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond') \
                     ON CONFLICT (project) DO UPDATE \
                       SET holder = EXCLUDED.holder, expires = EXCLUDED.expires, \
                           wanted_by = CASE WHEN w.wanted_by = EXCLUDED.holder \
                                       THEN NULL ELSE w.wanted_by END \
                       WHERE (w.holder IS NULL OR w.holder = EXCLUDED.holder \
                              OR w.expires <= now()) \
                         AND (w.holder IS NOT DISTINCT FROM EXCLUDED.holder \
                              OR w.wanted_by IS NULL OR w.wanted_by = EXCLUDED.holder \
                              OR w.wanted_at <= now() - $4::bigint * interval '1 millisecond') \
                     RETURNING (SELECT coalesce(max(seq), 0) FROM sa_records WHERE project = $1), \
                       coalesce(w.wanted_by <> $2 \
                         AND w.wanted_at > now() - $4::bigint * interval '1 millisecond', false)",
                    &[&project, &holder, &ms, &wanted_ms],
                )
                .await
                .map_err(db("claiming a project"))?;
            if row.is_none() {
                // Next in line, unless another waits already.
                c.execute(
                    "UPDATE sa_writers SET wanted_by = $2, wanted_at = now() \
                     WHERE project = $1 AND holder IS DISTINCT FROM $2 \
                       AND (wanted_by IS NULL OR wanted_by = $2 \
                            OR wanted_at <= now() - $3::bigint * interval '1 millisecond')",
                    &[&project, &holder, &wanted_ms],
                )
                .await
                .map_err(db("waiting for a project"))?;
            }
            Ok(row.map(|r| (r.get(0), r.get(1))))
        })?;
        row.map(|(last, contended)| {
            Ok(WriterClaim {
                last_seq: to_u64(last)?,
                contended,
            })
        })
        .transpose()
    }

    /// Claims the one-off job `name` for `holder`: whether it was the first.
    ///
    /// # Errors
    /// Database failures.
    pub fn claim_job(&self, name: &str, holder: &str) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.run("claiming a job", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.execute(
                "INSERT INTO sa_jobs (name, holder) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&name, &holder],
            )
            .await
            .map(|n| n == 1)
            .map_err(db("claiming a job"))
        })
    }

    /// Gives `holder`'s writer claim on `project` up, if it holds it.
    ///
    /// # Errors
    /// Database failures.
    pub fn release_writer(&self, project: &str, holder: &str) -> Result<()> {
        let (project, holder) = (project.to_owned(), holder.to_owned());
        self.run("releasing a project", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.execute(
                "UPDATE sa_writers SET holder = NULL WHERE project = $1 AND holder = $2",
                &[&project, &holder],
            )
            .await
            .map(drop)
            .map_err(db("releasing a project"))
        })
    }

    /// Stores a record whose envelope is already in the log (`migrate`).
    ///
    /// # Errors
    /// Database failures.
    pub fn put_record(&self, record: &NewRecord, envelope: &[u8]) -> Result<()> {
        let (r, env) = (record.clone(), envelope.to_vec());
        self.run("storing a record", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            if insert_record(c, &r, &env, false).await? {
                Ok(())
            } else {
                Err(Error::Corrupt(format!(
                    "record {} of {} is already stored",
                    r.seq, r.project
                )))
            }
        })
    }

    /// Entries `start..end` as sequenced (fewer if fewer exist).
    ///
    /// # Errors
    /// Database failures.
    pub fn sequenced(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let (s, e) = (to_i64(start)?, to_i64(end)?);
        let rows = self.run("reading sequenced entries", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query(
                "SELECT idx, data FROM sa_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&s, &e],
            )
            .await
            .map_err(db("reading sequenced entries"))
            .map(|rows| {
                rows.iter()
                    .map(|r| (r.get::<_, i64>(0), r.get::<_, Vec<u8>>(1)))
                    .collect::<Vec<_>>()
            })
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (want, (idx, data)) in (s..).zip(rows) {
            if idx != want {
                return Err(Error::Corrupt(format!("sequenced entry {want} is missing")));
            }
            out.push(data);
        }
        Ok(out)
    }

    /// The lowest index below `below` of an entry with this leaf hash.
    ///
    /// # Errors
    /// Database failures.
    pub fn index_of(&self, leaf_hash: &Hash, below: u64) -> Result<Option<u64>> {
        // A bound beyond PostgreSQL's bigint is no bound.
        let (h, b) = (
            leaf_hash.0.to_vec(),
            i64::try_from(below).unwrap_or(i64::MAX),
        );
        let found: Option<i64> = self.run("looking up a leaf hash", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query_one(
                "SELECT min(idx) FROM sa_entries WHERE leaf_hash = $1 AND idx < $2",
                &[&h, &b],
            )
            .await
            .map(|r| r.get(0))
            .map_err(db("looking up a leaf hash"))
        })?;
        found.map(to_u64).transpose()
    }

    /// The coordinator row.
    ///
    /// # Errors
    /// Database failures; a corrupt row.
    pub fn coordinator(&self) -> Result<Coordinator> {
        let (next, size, root, cp, epoch) =
            self.run("reading the coordinator row", |p| async move {
                let guard = p.get().await?;
                let c = guard.as_ref().ok_or(Error::Stopped)?;
                let r = c
                    .query_one(
                        "SELECT next_index, int_size, int_root, checkpoint, epoch \
                         FROM sa_coord WHERE id = 1",
                        &[],
                    )
                    .await
                    .map_err(db("reading the coordinator row"))?;
                Ok((
                    r.get::<_, i64>(0),
                    r.get::<_, i64>(1),
                    r.get::<_, Vec<u8>>(2),
                    r.get::<_, Option<Vec<u8>>>(3),
                    r.get::<_, i64>(4),
                ))
            })?;
        Ok(Coordinator {
            next_index: to_u64(next)?,
            int_size: to_u64(size)?,
            int_root: Hash::from_slice(&root)
                .map_err(|e| Error::Corrupt(format!("integrated root: {e}")))?,
            checkpoint: cp,
            epoch: to_u64(epoch)?,
        })
    }

    /// The latest witnessed checkpoint (`spec/witnessing.md`).
    ///
    /// # Errors
    /// Database failures.
    pub fn witnessed_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let row: Option<(i64, Vec<u8>)> =
            self.run("reading the witnessed checkpoint", |p| async move {
                let guard = p.get().await?;
                let c = guard.as_ref().ok_or(Error::Stopped)?;
                let r = c
                    .query_one(
                        "SELECT witnessed_size, witnessed FROM sa_coord WHERE id = 1",
                        &[],
                    )
                    .await
                    .map_err(db("reading the witnessed checkpoint"))?;
                Ok(r.get::<_, Option<i64>>(0)
                    .zip(r.get::<_, Option<Vec<u8>>>(1)))
            })?;
        row.map(|(s, n)| Ok((to_u64(s)?, n))).transpose()
    }

    /// Keeps the witnessed checkpoint unless one of a larger tree is kept
    /// (one statement: two frontends racing never move it back).
    ///
    /// # Errors
    /// Database failures.
    pub fn put_witnessed_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<()> {
        let (size, note) = (to_i64(tree_size)?, note.to_vec());
        self.run("keeping the witnessed checkpoint", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.execute(
                "UPDATE sa_coord SET witnessed_size = $1, witnessed = $2 \
                 WHERE id = 1 AND (witnessed_size IS NULL OR witnessed_size <= $1)",
                &[&size, &note],
            )
            .await
            .map(drop)
            .map_err(db("keeping the witnessed checkpoint"))
        })
    }

    /// Each witness's last cosigned size, by verifier key.
    ///
    /// # Errors
    /// Database failures.
    pub fn witness_sizes(&self) -> Result<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = self.run("reading witness sizes", |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query("SELECT witness, size FROM sa_witness_sizes", &[])
                .await
                .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
                .map_err(db("reading witness sizes"))
        })?;
        rows.into_iter().map(|(w, s)| Ok((w, to_u64(s)?))).collect()
    }

    /// Keeps a witness's last cosigned size.
    ///
    /// # Errors
    /// Database failures.
    pub fn put_witness_size(&self, witness: &str, size: u64) -> Result<()> {
        let (witness, size) = (witness.to_owned(), to_i64(size)?);
        self.run("keeping a witness size", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.execute(
                "INSERT INTO sa_witness_sizes (witness, size) VALUES ($1, $2) \
                 ON CONFLICT (witness) DO UPDATE SET size = EXCLUDED.size",
                &[&witness, &size],
            )
            .await
            .map(drop)
            .map_err(db("keeping a witness size"))
        })
    }

    // --------------------------------------------------------- integration

    /// Takes or renews the integrator lease for `holder`, for `ttl`. `None`
    /// if another holder's lease has not expired. Taking a lease that was
    /// not ours (or had expired) starts a new epoch.
    ///
    /// # Errors
    /// Database failures.
    pub fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        let holder = holder.to_owned();
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let epoch: Option<i64> = self.run("taking the integrator lease", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query_opt(
                "UPDATE sa_coord SET \
                   epoch = CASE WHEN lease_holder = $1 AND lease_expires > now() \
                           THEN epoch ELSE epoch + 1 END, \
                   lease_holder = $1, \
                   lease_expires = now() + $2::bigint * interval '1 millisecond' \
                 WHERE id = 1 AND (lease_holder IS NULL OR lease_holder = $1 \
                                   OR lease_expires <= now()) \
                 RETURNING epoch",
                &[&holder, &ms],
            )
            .await
            .map(|r| r.map(|r| r.get(0)))
            .map_err(db("taking the integrator lease"))
        })?;
        Ok(epoch.map(to_u64).transpose()?.map(|epoch| Lease { epoch }))
    }

    /// Gives the lease up (on an orderly stop), if `holder` has it.
    ///
    /// # Errors
    /// Database failures.
    pub fn release_lease(&self, holder: &str) -> Result<()> {
        let holder = holder.to_owned();
        self.run("releasing the integrator lease", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.execute(
                "UPDATE sa_coord SET lease_expires = now() WHERE id = 1 AND lease_holder = $1",
                &[&holder],
            )
            .await
            .map(drop)
            .map_err(db("releasing the integrator lease"))
        })
    }

    /// **The integrator's compare-and-swap.** Advances the integrated tree
    /// from `old_size` to `new_size` with its root and signed checkpoint,
    /// and keeps the checkpoint, only if the integrated size is still
    /// `old_size` and `holder` still holds the lease of `lease`'s epoch.
    /// Returns whether it did.
    ///
    /// # Errors
    /// Database failures (the outcome is then unknown).
    pub fn advance(
        &self,
        holder: &str,
        lease: Lease,
        old_size: u64,
        new_size: u64,
        root: &Hash,
        note: &[u8],
    ) -> Result<bool> {
        let holder = holder.to_owned();
        let (old, new, epoch) = (to_i64(old_size)?, to_i64(new_size)?, to_i64(lease.epoch)?);
        let (root, note) = (root.0.to_vec(), note.to_vec());
        self.run("advancing the integrated tree", move |p| async move {
            let mut guard = p.get().await?;
            let c = guard.as_mut().ok_or(Error::Stopped)?;
            let tx = c.transaction().await.map_err(db("BEGIN"))?;
            let n = tx
                .execute(
                    "UPDATE sa_coord SET int_size = $1, int_root = $2, checkpoint = $3 \
                     WHERE id = 1 AND int_size = $4 AND epoch = $5 AND lease_holder = $6 \
                       AND next_index >= $1",
                    &[&new, &root, &note, &old, &epoch, &holder],
                )
                .await
                .map_err(db("the integrated tree's compare-and-swap"))?;
            if n != 1 {
                tx.rollback().await.map_err(db("ROLLBACK"))?;
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO sa_checkpoints (size, note) VALUES ($1, $2) \
                 ON CONFLICT (size) DO UPDATE SET note = EXCLUDED.note",
                &[&new, &note],
            )
            .await
            .map_err(db("keeping a checkpoint"))?;
            tx.commit().await.map_err(db("COMMIT of a checkpoint"))?;
            Ok(true)
        })
    }

    /// The kept checkpoint of the tree of `size`, if there is one.
    ///
    /// # Errors
    /// Database failures.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<Vec<u8>>> {
        let size = to_i64(size)?;
        self.run("reading a checkpoint", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query_opt("SELECT note FROM sa_checkpoints WHERE size = $1", &[&size])
                .await
                .map(|r| r.map(|r| r.get(0)))
                .map_err(db("reading a checkpoint"))
        })
    }

    /// Every kept checkpoint from `from_size` on, by size.
    ///
    /// # Errors
    /// Database failures.
    pub fn checkpoints(&self, from_size: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let from = to_i64(from_size)?;
        let rows: Vec<(i64, Vec<u8>)> = self.run("reading checkpoints", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query(
                "SELECT size, note FROM sa_checkpoints WHERE size >= $1 ORDER BY size",
                &[&from],
            )
            .await
            .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            .map_err(db("reading checkpoints"))
        })?;
        rows.into_iter().map(|(s, n)| Ok((to_u64(s)?, n))).collect()
    }

    // ------------------------------------------------------------ rows

    fn opt_bytes(
        &self,
        what: &'static str,
        sql: &'static str,
        a: String,
        b: Option<String>,
    ) -> Result<Option<Vec<u8>>> {
        self.run(what, move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            let row = match &b {
                Some(b) => c.query_opt(sql, &[&a, b]).await,
                None => c.query_opt(sql, &[&a]).await,
            };
            row.map(|r| r.map(|r| r.get(0))).map_err(db(what))
        })
    }

    fn exec(
        &self,
        what: &'static str,
        sql: &'static str,
        params: Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>,
    ) -> Result<()> {
        self.exec_rows(what, sql, params).map(drop)
    }

    /// Runs a statement; returns how many rows it changed.
    fn exec_rows(
        &self,
        what: &'static str,
        sql: &'static str,
        params: Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>,
    ) -> Result<u64> {
        self.run(what, move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|b| &**b as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            c.execute(sql, &refs).await.map_err(db(what))
        })
    }

    fn seqs(
        &self,
        what: &'static str,
        sql: &'static str,
        a: String,
        b: Option<String>,
    ) -> Result<Vec<u64>> {
        let v: Vec<i64> = self.run(what, move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            let rows = match &b {
                Some(b) => c.query(sql, &[&a, b]).await,
                None => c.query(sql, &[&a]).await,
            };
            rows.map(|rows| rows.iter().map(|r| r.get(0)).collect())
                .map_err(db(what))
        })?;
        v.into_iter().map(to_u64).collect()
    }
}

/// `sa_meta`'s schema version, `None` if there is no `sa_meta`.
async fn read_schema_version(c: &impl tokio_postgres::GenericClient) -> Result<Option<i64>> {
    let read = db("reading the schema format");
    let has_meta: bool = c
        .query_one("SELECT to_regclass('sa_meta') IS NOT NULL", &[])
        .await
        .map_err(&read)?
        .get(0);
    if !has_meta {
        return Ok(None);
    }
    let v: Option<i32> = c
        .query_opt("SELECT schema_version FROM sa_meta WHERE id = 1", &[])
        .await
        .map_err(&read)?
        .map(|r| r.get(0));
    // A table without its row is the migration's first statement alone,
    // which its transaction makes impossible; read it as format 1.
    Ok(Some(v.map_or(1, i64::from)))
}

/// Creates, migrates or checks the schema ([`schema_plan`]), in one
/// transaction under the schema's advisory lock: several frontends
/// starting at once take turns, and the later ones find it done.
async fn ensure_schema(c: &mut Client, target: &str) -> Result<SchemaPlan> {
    let tx = c.transaction().await.map_err(db("BEGIN"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(db("locking the schema"))?;
    let version = read_schema_version(&tx).await?;
    let has_tables: bool = tx
        .query_one("SELECT to_regclass('sa_coord') IS NOT NULL", &[])
        .await
        .map_err(db("reading the schema"))?
        .get(0);
    let plan = schema_plan(target, version, has_tables)?;
    if plan != SchemaPlan::Current {
        // Format 1's schema (completing it in place, as its releases
        // did), then each step to the current format.
        tx.batch_execute(SCHEMA)
            .await
            .map_err(db("creating the PostgreSQL tables"))?;
        tx.batch_execute(MIGRATE_TO_2)
            .await
            .map_err(db("migrating the PostgreSQL schema to format 2"))?;
        tx.batch_execute(MIGRATE_TO_3)
            .await
            .map_err(db("migrating the PostgreSQL schema to format 3"))?;
    }
    tx.commit().await.map_err(db("COMMIT of the schema"))?;
    Ok(plan)
}

/// Inserts a record; with `fence`, only if it follows the record it was
/// evaluated after ([`NewRecord::follows`]). Returns whether it did (a
/// record whose sequence number or ID is taken is not inserted either).
async fn insert_record(
    c: &impl tokio_postgres::GenericClient,
    r: &NewRecord,
    envelope: &[u8],
    fence: bool,
) -> Result<bool> {
    let (seq, time) = (to_i64(r.seq)?, r.time_ms);
    let n = c
        .execute(
            "INSERT INTO sa_records (project, seq, time_ms, id, kind, exception, envelope, record) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
             WHERE NOT $9 OR CASE WHEN $10::text IS NULL \
               THEN NOT EXISTS (SELECT 1 FROM sa_records WHERE project = $1 AND seq < $2) AND $2 = 1 \
               ELSE EXISTS (SELECT 1 FROM sa_records WHERE project = $1 AND seq = $2 - 1 AND id = $10) \
             END \
             ON CONFLICT DO NOTHING",
            &[
                &r.project,
                &seq,
                &time,
                &r.id,
                &r.kind.as_str(),
                &r.exception,
                &envelope,
                &r.record,
                &fence,
                &r.follows,
            ],
        )
        .await
        .map_err(db("inserting a record"))?;
    // The project's row as the record leaves it: in the record's
    // transaction, so that no frontend sees the record without it.
    if n == 1
        && let Some(row) = &r.project_row
    {
        c.execute(
            "INSERT INTO sa_projects (id, row) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET row = EXCLUDED.row",
            &[&row.id, &to_json(row)?],
        )
        .await
        .map_err(db("writing a project with its record"))?;
    }
    Ok(n == 1)
}

/// The URL without its password, for messages: the one of the user
/// information, and the value of every `password=` parameter.
fn redact(url: &str) -> String {
    let url = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    };
    let mut out = String::with_capacity(url.len());
    let mut rest = url.as_str();
    while let Some(at) = rest.find("password=") {
        let (head, tail) = rest.split_at(at + "password=".len());
        out.push_str(head);
        out.push_str("***");
        // A value ends at the next parameter (`&`, or a space in the
        // key=value form), or at its closing quote.
        let end = match tail.strip_prefix('\'') {
            Some(quoted) => quoted.find('\'').map_or(tail.len(), |q| q + 2),
            None => tail.find(['&', ' ']).unwrap_or(tail.len()),
        };
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl super::RecordStore for Postgres {
    fn project(&self, id: &str) -> Result<Option<ProjectRow>> {
        self.opt_bytes(
            "reading a project",
            "SELECT row FROM sa_projects WHERE id = $1",
            id.to_owned(),
            None,
        )?
        .map(|v| from_json("project row", &v))
        .transpose()
    }

    fn projects(&self) -> Result<Vec<ProjectRow>> {
        let rows: Vec<Vec<u8>> = self.run("reading projects", |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query("SELECT row FROM sa_projects ORDER BY id COLLATE \"C\"", &[])
                .await
                .map(|rows| rows.iter().map(|r| r.get(0)).collect())
                .map_err(db("reading projects"))
        })?;
        rows.iter().map(|v| from_json("project row", v)).collect()
    }

    fn put_project(&self, row: &ProjectRow) -> Result<()> {
        self.exec(
            "writing a project",
            "INSERT INTO sa_projects (id, row) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET row = EXCLUDED.row",
            vec![Box::new(row.id.clone()), Box::new(to_json(row)?)],
        )
    }

    fn profile(&self, project: &str, principal: &str) -> Result<Option<Profile>> {
        self.opt_bytes(
            "reading a profile",
            "SELECT profile FROM sa_profiles WHERE project = $1 AND principal = $2",
            project.to_owned(),
            Some(principal.to_owned()),
        )?
        .map(|v| from_json("profile", &v))
        .transpose()
    }

    fn profiles(&self, project: &str) -> Result<Vec<(String, Profile)>> {
        let project = project.to_owned();
        let rows: Vec<(String, Vec<u8>)> =
            self.run("reading a project's profiles", move |p| async move {
                let guard = p.get().await?;
                let c = guard.as_ref().ok_or(Error::Stopped)?;
                c.query(
                    "SELECT principal, profile FROM sa_profiles WHERE project = $1",
                    &[&project],
                )
                .await
                .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
                .map_err(db("reading a project's profiles"))
            })?;
        rows.into_iter()
            .map(|(id, v)| Ok((id, from_json("profile", &v)?)))
            .collect()
    }

    fn put_profile(&self, project: &str, principal: &str, profile: &Profile) -> Result<()> {
        self.exec(
            "writing a profile",
            "INSERT INTO sa_profiles (project, principal, profile) VALUES ($1, $2, $3) \
             ON CONFLICT (project, principal) DO UPDATE SET profile = EXCLUDED.profile",
            vec![
                Box::new(project.to_owned()),
                Box::new(principal.to_owned()),
                Box::new(to_json(profile)?),
            ],
        )
    }

    fn put_spec(&self, project: &str, sha256: &str, bytes: &[u8]) -> Result<()> {
        self.exec(
            "keeping a document",
            "INSERT INTO sa_specs (project, sha256, bytes) VALUES ($1, $2, $3) \
             ON CONFLICT (project, sha256) DO NOTHING",
            vec![
                Box::new(project.to_owned()),
                Box::new(sha256.to_owned()),
                Box::new(bytes.to_vec()),
            ],
        )
    }

    fn spec(&self, project: &str, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.opt_bytes(
            "reading a document",
            "SELECT bytes FROM sa_specs WHERE project = $1 AND sha256 = $2",
            project.to_owned(),
            Some(sha256.to_owned()),
        )
    }

    fn put_alerts(&self, project: &str, alerts: &[u8]) -> Result<()> {
        self.exec(
            "writing alert settings",
            "INSERT INTO sa_alerts (project, settings) VALUES ($1, $2) \
             ON CONFLICT (project) DO UPDATE SET settings = EXCLUDED.settings",
            vec![Box::new(project.to_owned()), Box::new(alerts.to_vec())],
        )
    }

    fn alerts(&self, project: &str) -> Result<Option<Vec<u8>>> {
        self.opt_bytes(
            "reading alert settings",
            "SELECT settings FROM sa_alerts WHERE project = $1",
            project.to_owned(),
            None,
        )
    }

    fn last_record(&self, project: &str) -> Result<Option<(u64, i64)>> {
        let p = project.to_owned();
        let row: Option<(i64, i64)> =
            self.run("reading the last record", move |pool| async move {
                let guard = pool.get().await?;
                let c = guard.as_ref().ok_or(Error::Stopped)?;
                c.query_opt(
                "SELECT seq, time_ms FROM sa_records WHERE project = $1 ORDER BY seq DESC LIMIT 1",
                &[&p],
            )
            .await
            .map(|r| r.map(|r| (r.get(0), r.get(1))))
            .map_err(db("reading the last record"))
            })?;
        row.map(|(s, t)| Ok((to_u64(s)?, t))).transpose()
    }

    fn record(&self, project: &str, seq: u64) -> Result<Option<StoredRecord>> {
        let (p, s) = (project.to_owned(), to_i64(seq)?);
        let row: Option<(String, Vec<u8>, Vec<u8>)> =
            self.run("reading a record", move |pool| async move {
                let guard = pool.get().await?;
                let c = guard.as_ref().ok_or(Error::Stopped)?;
                c.query_opt(
                    "SELECT kind, envelope, record FROM sa_records WHERE project = $1 AND seq = $2",
                    &[&p, &s],
                )
                .await
                .map(|r| r.map(|r| (r.get(0), r.get(1), r.get(2))))
                .map_err(db("reading a record"))
            })?;
        row.map(|(kind, envelope, record)| {
            Ok(StoredRecord {
                kind: kind_from_str(&kind)?,
                envelope,
                record,
            })
        })
        .transpose()
    }

    fn seq_of(&self, project: &str, id: &str) -> Result<Option<u64>> {
        Ok(self
            .seqs(
                "looking up a record ID",
                "SELECT seq FROM sa_records WHERE project = $1 AND id = $2",
                project.to_owned(),
                Some(id.to_owned()),
            )?
            .first()
            .copied())
    }

    fn exception_seqs(&self, project: &str, exception: &str) -> Result<Vec<u64>> {
        self.seqs(
            "reading an exception's records",
            "SELECT seq FROM sa_records WHERE project = $1 AND exception = $2 ORDER BY seq",
            project.to_owned(),
            Some(exception.to_owned()),
        )
    }

    fn ledger_seqs(&self, project: &str) -> Result<Vec<u64>> {
        self.seqs(
            "reading the ledger's records",
            "SELECT seq FROM sa_records WHERE project = $1 AND exception IS NOT NULL \
             ORDER BY exception COLLATE \"C\", seq",
            project.to_owned(),
            None,
        )
    }

    fn first_seq_at(&self, project: &str, time_ms: i64) -> Result<Option<u64>> {
        let p = project.to_owned();
        let found: Option<i64> = self.run("finding a record by time", move |pool| async move {
            let guard = pool.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query_one(
                "SELECT min(seq) FROM sa_records WHERE project = $1 AND time_ms >= $2",
                &[&p, &time_ms],
            )
            .await
            .map(|r| r.get(0))
            .map_err(db("finding a record by time"))
        })?;
        found.map(to_u64).transpose()
    }

    fn for_each_record(
        &self,
        project: &str,
        seqs: std::ops::Range<u64>,
        f: &mut dyn FnMut(super::RecordRef<'_>) -> Result<bool>,
    ) -> Result<()> {
        // Pages of at most 256 records: memory does not grow with the range,
        // and an open-ended range (`..u64::MAX`) ends with the records.
        const PAGE: i64 = 256;
        let end = i64::try_from(seqs.end).unwrap_or(i64::MAX);
        let mut from = seqs.start;
        while from < seqs.end {
            let (p, a) = (project.to_owned(), to_i64(from)?);
            let rows: Vec<(i64, String, Vec<u8>, Vec<u8>)> =
                self.run("reading records", move |pool| async move {
                    let guard = pool.get().await?;
                    let c = guard.as_ref().ok_or(Error::Stopped)?;
                    c.query(
                        "SELECT seq, kind, envelope, record FROM sa_records \
                         WHERE project = $1 AND seq >= $2 AND seq < $3 ORDER BY seq LIMIT $4",
                        &[&p, &a, &end, &PAGE],
                    )
                    .await
                    .map(|rows| {
                        rows.iter()
                            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                            .collect()
                    })
                    .map_err(db("reading records"))
                })?;
            for (_, kind, envelope, record) in &rows {
                let r = super::RecordRef {
                    kind: kind_from_str(kind)?,
                    envelope,
                    record,
                };
                if !f(r)? {
                    return Ok(());
                }
            }
            match rows.last() {
                Some((seq, ..)) if rows.len() == PAGE as usize => from = to_u64(*seq)? + 1,
                _ => break,
            }
        }
        Ok(())
    }
}

impl super::KeyStore for Postgres {
    fn put_key(&self, secret_hash: &[u8; 32], record: &KeyRecord) -> Result<()> {
        self.exec(
            "writing a key",
            "INSERT INTO sa_keys (secret_hash, record) VALUES ($1, $2) \
             ON CONFLICT (secret_hash) DO UPDATE SET record = EXCLUDED.record",
            vec![Box::new(secret_hash.to_vec()), Box::new(to_json(record)?)],
        )
    }

    fn key(&self, secret_hash: &[u8; 32]) -> Result<Option<KeyRecord>> {
        let h = secret_hash.to_vec();
        let v: Option<Vec<u8>> = self.run("reading a key", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query_opt("SELECT record FROM sa_keys WHERE secret_hash = $1", &[&h])
                .await
                .map(|r| r.map(|r| r.get(0)))
                .map_err(db("reading a key"))
        })?;
        v.map(|v| from_json("key record", &v)).transpose()
    }

    fn keys(&self) -> Result<Vec<([u8; 32], KeyRecord)>> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self.run("reading keys", |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            c.query(
                "SELECT secret_hash, record FROM sa_keys ORDER BY secret_hash",
                &[],
            )
            .await
            .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            .map_err(db("reading keys"))
        })?;
        rows.iter()
            .map(|(h, v)| {
                let h: [u8; 32] = h
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Corrupt("key hash of the wrong length".into()))?;
                Ok((h, from_json("key record", v)?))
            })
            .collect()
    }
}

fn hash32(v: &[u8], what: &str) -> Result<[u8; 32]> {
    v.try_into()
        .map_err(|_| Error::Corrupt(format!("{what} of the wrong length")))
}

const SHARE_COLUMNS: &str = "secret_hash, id, project, period_from, period_to, created_at, \
     created_by_name, expires_at, revoked_at, last_use_recorded, created_by";

fn share_row(r: &tokio_postgres::Row) -> Result<([u8; 32], ShareRow)> {
    let h: Vec<u8> = r.get(0);
    Ok((
        hash32(&h, "share link hash")?,
        ShareRow {
            id: r.get(1),
            project: r.get(2),
            period_from: r.get(3),
            period_to: r.get(4),
            created_at: r.get(5),
            created_by_name: r.get(6),
            expires_at: r.get(7),
            revoked_at: r.get(8),
            last_use_recorded: r.get(9),
            created_by: r.get(10),
        },
    ))
}

/// The conditional writes are single statements (`UPDATE … WHERE` the
/// expected value), so they are atomic across frontends.
impl super::SessionStore for Postgres {
    fn put_session(&self, id: &[u8; 32], session: &SessionRow) -> Result<()> {
        self.exec(
            "writing a session",
            "INSERT INTO sa_sessions (id, key_hash, csrf, created_at, last_seen) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET key_hash = EXCLUDED.key_hash, csrf = EXCLUDED.csrf, \
               created_at = EXCLUDED.created_at, last_seen = EXCLUDED.last_seen",
            vec![
                Box::new(id.to_vec()),
                Box::new(session.key_hash.to_vec()),
                Box::new(session.csrf.clone()),
                Box::new(session.created_at),
                Box::new(session.last_seen),
            ],
        )
    }

    fn session(&self, id: &[u8; 32]) -> Result<Option<SessionRow>> {
        let id = id.to_vec();
        let row: Option<(Vec<u8>, String, i64, i64)> =
            self.run("reading a session", move |p| async move {
                let guard = p.get().await?;
                let c = guard.as_ref().ok_or(Error::Stopped)?;
                c.query_opt(
                    "SELECT key_hash, csrf, created_at, last_seen FROM sa_sessions WHERE id = $1",
                    &[&id],
                )
                .await
                .map(|r| r.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))))
                .map_err(db("reading a session"))
            })?;
        row.map(|(key_hash, csrf, created_at, last_seen)| {
            Ok(SessionRow {
                key_hash: hash32(&key_hash, "session key hash")?,
                csrf,
                created_at,
                last_seen,
            })
        })
        .transpose()
    }

    fn touch_session(&self, id: &[u8; 32], last_seen: i64) -> Result<()> {
        self.exec(
            "renewing a session",
            "UPDATE sa_sessions SET last_seen = $2 WHERE id = $1 AND last_seen < $2",
            vec![Box::new(id.to_vec()), Box::new(last_seen)],
        )
    }

    fn delete_session(&self, id: &[u8; 32]) -> Result<()> {
        self.exec(
            "deleting a session",
            "DELETE FROM sa_sessions WHERE id = $1",
            vec![Box::new(id.to_vec())],
        )
    }

    fn prune_sessions(&self, seen_before: i64, created_before: i64, limit: usize) -> Result<usize> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let n = self.exec_rows(
            "pruning sessions",
            "DELETE FROM sa_sessions WHERE id IN (SELECT id FROM sa_sessions \
               WHERE last_seen < $1 OR created_at < $2 LIMIT $3)",
            vec![
                Box::new(seen_before),
                Box::new(created_before),
                Box::new(limit),
            ],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn sessions_of_key(&self, key_hash: &[u8; 32]) -> Result<Vec<([u8; 32], SessionRow)>> {
        let k = key_hash.to_vec();
        type Row = (Vec<u8>, Vec<u8>, String, i64, i64);
        let rows: Vec<Row> =
            self.run("reading a key's sessions", move |p| async move {
                let guard = p.get().await?;
                let c = guard.as_ref().ok_or(Error::Stopped)?;
                c.query(
                    "SELECT id, key_hash, csrf, created_at, last_seen FROM sa_sessions WHERE key_hash = $1",
                    &[&k],
                )
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                        .collect()
                })
                .map_err(db("reading a key's sessions"))
            })?;
        rows.into_iter()
            .map(|(id, key_hash, csrf, created_at, last_seen)| {
                Ok((
                    hash32(&id, "session ID")?,
                    SessionRow {
                        key_hash: hash32(&key_hash, "session key hash")?,
                        csrf,
                        created_at,
                        last_seen,
                    },
                ))
            })
            .collect()
    }

    fn put_share(&self, secret_hash: &[u8; 32], link: &ShareRow) -> Result<()> {
        self.exec(
            "writing a share link",
            "INSERT INTO sa_shares (secret_hash, id, project, period_from, period_to, created_at, \
               created_by_name, expires_at, revoked_at, last_use_recorded, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (secret_hash) DO UPDATE SET id = EXCLUDED.id, project = EXCLUDED.project, \
               period_from = EXCLUDED.period_from, period_to = EXCLUDED.period_to, \
               created_at = EXCLUDED.created_at, created_by_name = EXCLUDED.created_by_name, \
               expires_at = EXCLUDED.expires_at, revoked_at = EXCLUDED.revoked_at, \
               last_use_recorded = EXCLUDED.last_use_recorded, created_by = EXCLUDED.created_by",
            vec![
                Box::new(secret_hash.to_vec()),
                Box::new(link.id.clone()),
                Box::new(link.project.clone()),
                Box::new(link.period_from.clone()),
                Box::new(link.period_to.clone()),
                Box::new(link.created_at.clone()),
                Box::new(link.created_by_name.clone()),
                Box::new(link.expires_at.clone()),
                Box::new(link.revoked_at.clone()),
                Box::new(link.last_use_recorded),
                Box::new(link.created_by.clone()),
            ],
        )
    }

    fn share(&self, secret_hash: &[u8; 32]) -> Result<Option<ShareRow>> {
        let h = secret_hash.to_vec();
        let row = self.run("reading a share link", move |p| async move {
            let guard = p.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            let row = c
                .query_opt(
                    &format!("SELECT {SHARE_COLUMNS} FROM sa_shares WHERE secret_hash = $1"),
                    &[&h],
                )
                .await
                .map_err(db("reading a share link"))?;
            row.as_ref().map(share_row).transpose()
        })?;
        Ok(row.map(|(_, l)| l))
    }

    fn shares(&self, project: &str) -> Result<Vec<([u8; 32], ShareRow)>> {
        let p = project.to_owned();
        self.run("reading share links", move |pool| async move {
            let guard = pool.get().await?;
            let c = guard.as_ref().ok_or(Error::Stopped)?;
            let rows = c
                .query(
                    &format!("SELECT {SHARE_COLUMNS} FROM sa_shares WHERE project = $1"),
                    &[&p],
                )
                .await
                .map_err(db("reading share links"))?;
            rows.iter().map(share_row).collect()
        })
    }

    fn revoke_share(&self, secret_hash: &[u8; 32], revoked_at: &str) -> Result<bool> {
        let n = self.exec_rows(
            "revoking a share link",
            "UPDATE sa_shares SET revoked_at = $2 WHERE secret_hash = $1 AND revoked_at IS NULL",
            vec![
                Box::new(secret_hash.to_vec()),
                Box::new(revoked_at.to_owned()),
            ],
        )?;
        Ok(n == 1)
    }

    fn delete_share(&self, secret_hash: &[u8; 32]) -> Result<()> {
        self.exec(
            "deleting a share link",
            "DELETE FROM sa_shares WHERE secret_hash = $1",
            vec![Box::new(secret_hash.to_vec())],
        )
    }

    fn swap_share_use(
        &self,
        secret_hash: &[u8; 32],
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<bool> {
        let n = self.exec_rows(
            "recording a share link's use",
            "UPDATE sa_shares SET last_use_recorded = $3 \
             WHERE secret_hash = $1 AND last_use_recorded IS NOT DISTINCT FROM $2",
            vec![Box::new(secret_hash.to_vec()), Box::new(from), Box::new(to)],
        )?;
        Ok(n == 1)
    }

    fn put_pending_sign_in(
        &self,
        id: &[u8; 32],
        row: &PendingSignInRow,
        live_since: i64,
        max: usize,
    ) -> Result<bool> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        // One statement: the expired rows go, and the new one is kept if
        // fewer than `max` live ones were (both see the same snapshot).
        let n = self.exec_rows(
            "keeping a pending sign-in",
            "WITH expired AS (DELETE FROM sa_pending_sign_ins WHERE created_at < $5) \
             INSERT INTO sa_pending_sign_ins (id, binding_hash, created_at, project) \
             SELECT $1, $2, $3, $4 \
             WHERE (SELECT count(*) FROM sa_pending_sign_ins WHERE created_at >= $5) < $6 \
             ON CONFLICT (id) DO NOTHING",
            vec![
                Box::new(id.to_vec()),
                Box::new(row.binding_hash.to_vec()),
                Box::new(row.created_at),
                Box::new(row.project.clone()),
                Box::new(live_since),
                Box::new(max),
            ],
        )?;
        Ok(n == 1)
    }

    fn take_pending_sign_in(&self, id: &[u8; 32]) -> Result<Option<PendingSignInRow>> {
        let id = id.to_vec();
        let row: Option<(Vec<u8>, i64, Option<String>)> =
            self.run("taking a pending sign-in", move |p| async move {
                let guard = p.get().await?;
                let c = guard.as_ref().ok_or(Error::Stopped)?;
                // DELETE … RETURNING: of concurrent takes, one gets the row.
                c.query_opt(
                    "DELETE FROM sa_pending_sign_ins WHERE id = $1 \
                     RETURNING binding_hash, created_at, project",
                    &[&id],
                )
                .await
                .map(|r| r.map(|r| (r.get(0), r.get(1), r.get(2))))
                .map_err(db("taking a pending sign-in"))
            })?;
        row.map(|(binding_hash, created_at, project)| {
            Ok(PendingSignInRow {
                binding_hash: hash32(&binding_hash, "pending sign-in binding hash")?,
                created_at,
                project,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod schema_tests {
    use super::{SCHEMA_VERSION, SchemaPlan, schema_plan};

    #[test]
    fn each_format_has_its_plan() {
        let t = "postgres://sa:***@db/log";
        assert_eq!(schema_plan(t, None, false).unwrap(), SchemaPlan::Create);
        assert_eq!(schema_plan(t, None, true).unwrap(), SchemaPlan::Migrate(1));
        assert_eq!(
            schema_plan(t, Some(SCHEMA_VERSION.into()), true).unwrap(),
            SchemaPlan::Current
        );
        let later = schema_plan(t, Some(i64::from(SCHEMA_VERSION) + 1), true)
            .unwrap_err()
            .to_string();
        assert!(
            later.contains(&format!(
                "a schema of format {}, written by a later release",
                SCHEMA_VERSION + 1
            )),
            "{later}"
        );
        assert!(
            later.contains(&format!("reads formats 1 to {SCHEMA_VERSION}")),
            "{later}"
        );
        assert!(later.contains("run the release that wrote it"), "{later}");
        assert!(later.contains(t), "{later}");
        assert!(schema_plan(t, Some(0), true).is_err());
    }
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn no_password_is_left_in_a_message() {
        for (url, want) in [
            (
                "postgres://sa:hunter2@db:5432/log?sslmode=require",
                "postgres://sa:***@db:5432/log?sslmode=require",
            ),
            (
                "postgres://sa@db/log?password=hunter2&sslmode=require",
                "postgres://sa:***@db/log?password=***&sslmode=require",
            ),
            (
                "host=db password='hunter 2' dbname=log",
                "host=db password=*** dbname=log",
            ),
            ("host=db password=hunter2", "host=db password=***"),
        ] {
            assert_eq!(super::redact(url), want);
        }
    }
}
