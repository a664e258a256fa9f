//! A log on PostgreSQL and S3-compatible object storage, shared by any
//! number of frontends (issue 13): [`Cluster`] implements the storage
//! traits over [`Postgres`] (sequencing, lease, records, keys) and
//! [`Objects`] (tiles, bundles, checkpoint), and the [`SharedLog`]
//! capability the log drives in this mode.
//!
//! - **Sequencing**: [`SharedLog::sequence`] is one PostgreSQL transaction;
//!   its commit is the durable acknowledgement.
//! - **Integration**: [`SharedLog::integrate`] takes or renews the lease;
//!   the holder reads sequenced entries, writes bundles and tiles
//!   create-only, signs a checkpoint, advances the integrated tree with a
//!   compare-and-swap on (size, epoch), and only then writes `checkpoint`.
//!   No database transaction is open during an object-storage call.
//! - **Reads**: entries, tiles and proofs come from the bucket through the
//!   bounded cache of [`Objects`], at the integrated size; look-up by leaf
//!   hash from PostgreSQL.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use compliance::ledger::ProjectRow;
use compliance::principal::{KeyRecord, Profile};
use tlog::{
    BundleId, Checkpoint, Frontier, Hash, HashReader, NodeId, SignerKey, TILE_WIDTH,
    TileHashReader, TileId, TileReader,
};

use super::objects::Objects;
use super::postgres::{Lease, Postgres};
use super::{
    Batch, Integrated, LogStore as _, NewEntry, ProjectWriters, RecordRef, Sequenced, SessionRow,
    ShareRow, SharedLog, StoredRecord, WriterClaim,
};
use crate::{Error, Result};

/// Most entries integrated in one step (one round of object writes).
const MAX_STEP: u64 = 16_384;

/// Settings of a [`Cluster`].
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// How long the integrator lease lasts without renewal: the longest a
    /// dead integrator stalls integration.
    pub lease_ttl: Duration,
    /// Bytes of immutable tiles and bundles cached in memory.
    pub cache_bytes: usize,
    /// Deadline of each database or object-storage call.
    pub timeout: Duration,
    /// A PEM file of CA certificates that TLS connections to PostgreSQL
    /// trust, besides the system's roots.
    pub database_ca: Option<PathBuf>,
    /// Whether the log is witnessed (`serve --witness-policy`): then the
    /// bucket's `checkpoint` is only ever a witnessed one, written by
    /// [`LogStore::put_witnessed_checkpoint`], never the integrator's
    /// freshly signed one.
    pub witnessed: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            lease_ttl: Duration::from_secs(5),
            cache_bytes: 64 << 20,
            timeout: Duration::from_secs(10),
            database_ca: None,
            witnessed: false,
        }
    }
}

/// The log's storage on PostgreSQL and object storage.
pub struct Cluster {
    /// The database.
    pub pg: Postgres,
    /// The bucket.
    pub objects: Objects,
    holder: String,
    config: ClusterConfig,
    /// The integrated size reads are served at (only grows).
    size: AtomicU64,
    /// The integrator's frontier, while this process holds the lease.
    frontier: Mutex<Option<Frontier>>,
}

/// The bucket's tiles, for [`TileHashReader`].
struct Tiles<'a>(&'a Objects);

impl TileReader for Tiles<'_> {
    fn read_tiles(&self, tiles: &[TileId]) -> std::result::Result<Vec<Vec<u8>>, tlog::Error> {
        tiles
            .iter()
            .map(|t| match self.0.get_immutable(&t.path()) {
                Ok(Some(b)) => Ok(b.to_vec()),
                Ok(None) => Err(tlog::Error::HashUnavailable {
                    level: t.level * 8,
                    index: t.index * TILE_WIDTH,
                }),
                Err(e) => Err(tlog::Error::Storage {
                    reason: format!("{e:#}"),
                }),
            })
            .collect()
    }
}

/// New stored hashes over the tiles of the previous integrated tree.
struct Overlay<'a> {
    new: &'a HashMap<NodeId, Hash>,
    old: TileHashReader<'a, Tiles<'a>>,
}

impl HashReader for Overlay<'_> {
    fn read_hashes(&self, ids: &[NodeId]) -> std::result::Result<Vec<Hash>, tlog::Error> {
        let old_ids: Vec<NodeId> = ids
            .iter()
            .filter(|id| !self.new.contains_key(id))
            .copied()
            .collect();
        let mut old = self.old.read_hashes(&old_ids)?.into_iter();
        ids.iter()
            .map(|id| match self.new.get(id) {
                Some(h) => Ok(*h),
                None => old.next().ok_or(tlog::Error::HashUnavailable {
                    level: id.level,
                    index: id.index,
                }),
            })
            .collect()
    }
}

impl Cluster {
    /// Connects to the database at `database` (creating its tables) and
    /// the bucket at `objects` (`s3://BUCKET[/PREFIX]`).
    ///
    /// # Errors
    /// Bad URLs, an unreachable database, a missing or unreadable bucket.
    pub fn open(database: &str, objects: &str, config: ClusterConfig) -> Result<Self> {
        let objects = Objects::open(objects, config.cache_bytes, config.timeout)?;
        let pg =
            Postgres::connect_with_ca(database, config.timeout, config.database_ca.as_deref())?;
        let mut rnd = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut rnd);
        let holder = format!(
            "{}-{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
            std::process::id(),
            rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let cluster = Cluster {
            pg,
            objects,
            holder,
            config,
            size: AtomicU64::new(0),
            frontier: Mutex::new(None),
        };
        cluster.tree_size()?;
        Ok(cluster)
    }

    /// This process's name as a lease holder.
    #[must_use]
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Integrates from the integrated size to `end` under `lease`: writes
    /// bundles and tiles, signs, and swaps. `Ok(false)`: the swap failed
    /// (the lease was lost or another integrator moved on).
    fn integrate_to(
        &self,
        lease: Lease,
        old_size: u64,
        old_root: Hash,
        end: u64,
        signer: &SignerKey,
    ) -> Result<bool> {
        let tiles = Tiles(&self.objects);
        let mut slot = self
            .frontier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let frontier = match slot.take() {
            Some(f) if f.size() == old_size => f,
            _ => Frontier::from_reader(old_size, &TileHashReader::new(old_size, &tiles))?,
        };
        if frontier.root() != old_root {
            return Err(Error::Corrupt(format!(
                "the bucket's tiles do not hash to the integrated root at size {old_size}"
            )));
        }
        let bundle_start = old_size / TILE_WIDTH * TILE_WIDTH;
        let data = self.pg.sequenced(bundle_start, end)?;
        if data.len() as u64 != end - bundle_start {
            return Err(Error::Corrupt(format!(
                "entries {bundle_start}..{end} are not all sequenced"
            )));
        }
        let mut f = frontier.clone();
        let mut new = HashMap::new();
        for d in data
            .iter()
            .skip(usize::try_from(old_size - bundle_start).unwrap_or(0))
        {
            f.append(tlog::leaf_hash(d), |id, h| {
                new.insert(id, h);
            });
        }
        let mut objects = Vec::new();
        for b in bundle_start / TILE_WIDTH..end.div_ceil(TILE_WIDTH) {
            let Some(id) = BundleId::for_size(b, end) else {
                continue;
            };
            let from = usize::try_from(id.first_entry() - bundle_start).unwrap_or(usize::MAX);
            let slice = data
                .get(from..from + usize::from(id.width))
                .ok_or_else(|| Error::Corrupt("bundle range".into()))?;
            objects.push((id.path(), tlog::encode_bundle(slice)?));
        }
        let overlay = Overlay {
            new: &new,
            old: TileHashReader::new(old_size, &tiles),
        };
        for level in 0..=tlog::MAX_TILE_LEVEL {
            let shift = u32::from(level) * 8;
            let (old_count, new_count) = (old_size >> shift, end >> shift);
            if new_count == 0 {
                break;
            }
            if new_count == old_count {
                continue;
            }
            for index in old_count / TILE_WIDTH..new_count.div_ceil(TILE_WIDTH) {
                if let Some(t) = TileId::for_size(level, index, end) {
                    objects.push((t.path(), tlog::tile_bytes(t, &overlay)?));
                }
            }
        }
        // Object writes first, with no database transaction open; then the
        // signed checkpoint; then the compare-and-swap.
        self.objects.put_immutable(objects)?;
        let root = f.root();
        let note = Checkpoint::new(signer.name(), end, root)
            .sign(signer)?
            .to_string();
        if !self
            .pg
            .advance(&self.holder, lease, old_size, end, &root, note.as_bytes())?
        {
            return Ok(false);
        }
        self.size.fetch_max(end, Ordering::AcqRel);
        if !self.config.witnessed {
            self.objects.put_checkpoint(end, note.as_bytes())?;
        }
        *slot = Some(f);
        Ok(true)
    }
}

impl SharedLog for Cluster {
    fn sequence(&self, entries: &[NewEntry<'_>]) -> Result<Vec<Sequenced>> {
        self.pg.sequence(entries)
    }

    fn integrate(&self, signer: &SignerKey) -> Result<Integrated> {
        let lease = self.pg.acquire_lease(&self.holder, self.config.lease_ttl)?;
        let integrator = lease.is_some();
        if let Some(lease) = lease {
            let deadline = Instant::now() + self.config.lease_ttl / 2;
            loop {
                let c = self.pg.coordinator()?;
                if c.epoch != lease.epoch {
                    break;
                }
                if c.int_size >= c.next_index
                    && let Some(note) = &c.checkpoint
                {
                    // Repairs a `checkpoint` object left behind by a
                    // predecessor that died between its swap and its write.
                    if self.config.witnessed {
                        if let Some((size, note)) = self.pg.witnessed_checkpoint()? {
                            self.objects.put_checkpoint(size, &note)?;
                        }
                    } else {
                        self.objects.put_checkpoint(c.int_size, note)?;
                    }
                    break;
                }
                let end = c.next_index.min(c.int_size + MAX_STEP);
                if !self.integrate_to(lease, c.int_size, c.int_root, end, signer)? {
                    tracing::warn!(
                        holder = self.holder,
                        epoch = lease.epoch,
                        "the integrated tree's compare-and-swap failed: the lease was lost"
                    );
                    break;
                }
                if Instant::now() > deadline {
                    break;
                }
            }
        } else {
            // Not the integrator: forget the frontier, it will be stale.
            *self
                .frontier
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
        let c = self.pg.coordinator()?;
        self.size.fetch_max(c.int_size, Ordering::AcqRel);
        Ok(Integrated {
            size: c.int_size,
            root: c.int_root,
            checkpoint: c.checkpoint,
            integrator,
        })
    }

    fn release(&self) -> Result<()> {
        self.pg.release_lease(&self.holder)
    }
}

impl HashReader for Cluster {
    fn read_hashes(&self, ids: &[NodeId]) -> std::result::Result<Vec<Hash>, tlog::Error> {
        let tiles = Tiles(&self.objects);
        TileHashReader::new(self.size.load(Ordering::Acquire), &tiles).read_hashes(ids)
    }
}

impl super::LogStore for Cluster {
    fn tree_size(&self) -> Result<u64> {
        let c = self.pg.coordinator()?;
        Ok(self
            .size
            .fetch_max(c.int_size, Ordering::AcqRel)
            .max(c.int_size))
    }

    fn commit(&self, _batch: &Batch<'_>) -> Result<()> {
        Err(Error::storage(
            "commit",
            "a shared log is written through SharedLog::sequence",
        ))
    }

    fn shared(&self) -> Option<&dyn SharedLog> {
        Some(self)
    }

    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        let size = self.size.load(Ordering::Acquire);
        if index >= size {
            return Ok(None);
        }
        Ok(self.entries(index, index + 1)?.pop())
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let size = self.size.load(Ordering::Acquire);
        if end > size || start > end {
            return Err(Error::Corrupt(format!(
                "entries {start}..{end} are beyond the integrated tree ({size})"
            )));
        }
        let mut out = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        let mut i = start;
        while i < end {
            let id = BundleId::for_size(i / TILE_WIDTH, size)
                .ok_or_else(|| Error::Corrupt(format!("no bundle for entry {i}")))?;
            let bytes = self
                .objects
                .get_immutable(&id.path())?
                .ok_or_else(|| Error::Corrupt(format!("{} is missing", id.path())))?;
            let bundle = tlog::decode_bundle(&bytes)?;
            let first = id.first_entry();
            let stop = end.min(first + u64::from(id.width));
            for j in i..stop {
                let e = bundle
                    .get(usize::try_from(j - first).unwrap_or(usize::MAX))
                    .ok_or_else(|| Error::Corrupt(format!("{} is short", id.path())))?;
                out.push(e.to_vec());
            }
            i = stop;
        }
        Ok(out)
    }

    fn index_of(&self, leaf_hash: &Hash, below: u64) -> Result<Option<u64>> {
        self.pg.index_of(leaf_hash, below)
    }

    fn hash_range(&self, level: u8, start: u64, width: u64) -> Result<Vec<u8>> {
        let ids: Vec<NodeId> = (start..start + width)
            .map(|i| NodeId::new(level, i))
            .collect();
        let hashes = self.read_hashes(&ids)?;
        Ok(hashes.iter().flat_map(|h| h.0).collect())
    }

    fn put_checkpoint(&self, _tree_size: u64, _note: &[u8]) -> Result<()> {
        Err(Error::storage(
            "storing a checkpoint",
            "a shared log's checkpoints are stored by its integrator",
        ))
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let c = self.pg.coordinator()?;
        Ok(c.checkpoint.map(|n| (c.int_size, n)))
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn witnessed_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.pg.witnessed_checkpoint()
    }

    /// Keeps it in the database, then writes the bucket's `checkpoint`
    /// (which never replaces a larger tree's).
    fn put_witnessed_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<()> {
        self.pg.put_witnessed_checkpoint(tree_size, note)?;
        self.objects.put_checkpoint(tree_size, note)
    }

    fn witness_sizes(&self) -> Result<Vec<(String, u64)>> {
        self.pg.witness_sizes()
    }

    fn put_witness_size(&self, witness: &str, size: u64) -> Result<()> {
        self.pg.put_witness_size(witness, size)
    }
}

/// A project's writer claim lasts as long as the integrator lease.
impl ProjectWriters for Cluster {
    fn claim(&self, project: &str) -> Result<Option<WriterClaim>> {
        self.pg
            .claim_writer(project, &self.holder, self.config.lease_ttl)
    }

    fn ttl(&self) -> Duration {
        self.config.lease_ttl
    }

    fn once(&self, job: &str) -> Result<bool> {
        self.pg.claim_job(job, &self.holder)
    }

    fn release(&self, project: &str) -> Result<()> {
        self.pg.release_writer(project, &self.holder)
    }
}

impl super::RecordStore for Cluster {
    fn writers(&self) -> Option<&dyn ProjectWriters> {
        Some(self)
    }

    fn project(&self, id: &str) -> Result<Option<ProjectRow>> {
        self.pg.project(id)
    }
    fn projects(&self) -> Result<Vec<ProjectRow>> {
        self.pg.projects()
    }
    fn put_project(&self, row: &ProjectRow) -> Result<()> {
        self.pg.put_project(row)
    }
    fn profile(&self, project: &str, principal: &str) -> Result<Option<Profile>> {
        self.pg.profile(project, principal)
    }
    fn put_profile(&self, project: &str, principal: &str, profile: &Profile) -> Result<()> {
        self.pg.put_profile(project, principal, profile)
    }
    fn put_spec(&self, project: &str, sha256: &str, bytes: &[u8]) -> Result<()> {
        self.pg.put_spec(project, sha256, bytes)
    }
    fn spec(&self, project: &str, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.pg.spec(project, sha256)
    }
    fn put_alerts(&self, project: &str, alerts: &[u8]) -> Result<()> {
        self.pg.put_alerts(project, alerts)
    }
    fn alerts(&self, project: &str) -> Result<Option<Vec<u8>>> {
        self.pg.alerts(project)
    }
    fn last_record(&self, project: &str) -> Result<Option<(u64, i64)>> {
        self.pg.last_record(project)
    }
    fn record(&self, project: &str, seq: u64) -> Result<Option<StoredRecord>> {
        self.pg.record(project, seq)
    }
    fn seq_of(&self, project: &str, id: &str) -> Result<Option<u64>> {
        self.pg.seq_of(project, id)
    }
    fn exception_seqs(&self, project: &str, exception: &str) -> Result<Vec<u64>> {
        self.pg.exception_seqs(project, exception)
    }
    fn ledger_seqs(&self, project: &str) -> Result<Vec<u64>> {
        self.pg.ledger_seqs(project)
    }
    fn first_seq_at(&self, project: &str, time_ms: i64) -> Result<Option<u64>> {
        self.pg.first_seq_at(project, time_ms)
    }
    fn for_each_record(
        &self,
        project: &str,
        seqs: std::ops::Range<u64>,
        f: &mut dyn FnMut(RecordRef<'_>) -> Result<bool>,
    ) -> Result<()> {
        self.pg.for_each_record(project, seqs, f)
    }
}

impl super::KeyStore for Cluster {
    fn put_key(&self, secret_hash: &[u8; 32], record: &KeyRecord) -> Result<()> {
        self.pg.put_key(secret_hash, record)
    }
    fn key(&self, secret_hash: &[u8; 32]) -> Result<Option<KeyRecord>> {
        self.pg.key(secret_hash)
    }
    fn keys(&self) -> Result<Vec<([u8; 32], KeyRecord)>> {
        self.pg.keys()
    }
}

impl super::SessionStore for Cluster {
    fn put_session(&self, id: &[u8; 32], session: &SessionRow) -> Result<()> {
        self.pg.put_session(id, session)
    }
    fn session(&self, id: &[u8; 32]) -> Result<Option<SessionRow>> {
        self.pg.session(id)
    }
    fn touch_session(&self, id: &[u8; 32], last_seen: i64) -> Result<()> {
        self.pg.touch_session(id, last_seen)
    }
    fn delete_session(&self, id: &[u8; 32]) -> Result<()> {
        self.pg.delete_session(id)
    }
    fn prune_sessions(&self, seen_before: i64, created_before: i64, limit: usize) -> Result<usize> {
        self.pg.prune_sessions(seen_before, created_before, limit)
    }
    fn sessions_of_key(&self, key_hash: &[u8; 32]) -> Result<Vec<([u8; 32], SessionRow)>> {
        self.pg.sessions_of_key(key_hash)
    }
    fn put_share(&self, secret_hash: &[u8; 32], link: &ShareRow) -> Result<()> {
        self.pg.put_share(secret_hash, link)
    }
    fn share(&self, secret_hash: &[u8; 32]) -> Result<Option<ShareRow>> {
        self.pg.share(secret_hash)
    }
    fn shares(&self, project: &str) -> Result<Vec<([u8; 32], ShareRow)>> {
        self.pg.shares(project)
    }
    fn revoke_share(&self, secret_hash: &[u8; 32], revoked_at: &str) -> Result<bool> {
        self.pg.revoke_share(secret_hash, revoked_at)
    }
    fn delete_share(&self, secret_hash: &[u8; 32]) -> Result<()> {
        self.pg.delete_share(secret_hash)
    }
    fn swap_share_use(
        &self,
        secret_hash: &[u8; 32],
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<bool> {
        self.pg.swap_share_use(secret_hash, from, to)
    }
}
