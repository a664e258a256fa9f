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
    TileHashReader, TileId, TileReader, VerifierKey,
};

use super::objects::Objects;
use super::postgres::{Lease, Postgres};
use super::{
    Batch, Integrated, LogStore as _, NewEntry, ProjectWriters, RecordRef, Sequenced, SessionRow,
    ShareRow, SharedLog, StoredRecord, WriterClaim,
};
use crate::{Error, Result, rollback};

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
    /// The lease epoch in which this process last checked the database
    /// against the bucket's checkpoint ([`Cluster::check_published`]).
    checked_epoch: AtomicU64,
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
            checked_epoch: AtomicU64::new(u64::MAX),
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
        // Object writes first, with no database transaction open; then the
        // signed checkpoint; then the compare-and-swap.
        let f = self.write_objects(&frontier, end)?;
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

    /// Writes the bundles and tiles of the tree grown from `frontier` to
    /// `end` entries (create-only), from the sequenced entries; returns the
    /// grown frontier.
    fn write_objects(&self, frontier: &Frontier, end: u64) -> Result<Frontier> {
        let tiles = Tiles(&self.objects);
        let old_size = frontier.size();
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
        self.objects.put_immutable(objects)?;
        Ok(f)
    }

    /// The frontier of the bucket's tree of `size` entries, from its tiles.
    fn bucket_frontier(&self, size: u64) -> Result<Frontier> {
        let tiles = Tiles(&self.objects);
        Ok(Frontier::from_reader(
            size,
            &TileHashReader::new(size, &tiles),
        )?)
    }

    /// The root of the database's tree at `size`: its kept checkpoint of
    /// that size, or else, within the integrated tree, the bucket's tiles of
    /// the integrated tree (which must hash to the integrated root), or,
    /// beyond it, the integrated tree grown with the sequenced entries.
    fn database_root(
        &self,
        size: u64,
        c: &super::postgres::Coordinator,
        vkey: &VerifierKey,
    ) -> Result<Hash> {
        if let Some(note) = self.pg.checkpoint_at(size)? {
            let source = format!("the database's checkpoint of size {size}");
            return Ok(rollback::open_signed(&note, vkey, &source)?.root_hash);
        }
        let tiles = Tiles(&self.objects);
        let mut f = self.bucket_frontier(c.int_size)?;
        if f.root() != c.int_root {
            return Err(Error::Corrupt(format!(
                "the bucket's tiles do not hash to the database's integrated root at size {}",
                c.int_size
            )));
        }
        if size <= c.int_size {
            return Ok(tlog::tree_hash(
                size,
                &TileHashReader::new(c.int_size, &tiles),
            )?);
        }
        self.grow(&mut f, size)?;
        Ok(f.root())
    }

    /// Appends the sequenced entries from `f`'s size up to `size` to `f`,
    /// [`MAX_STEP`] at a time.
    fn grow(&self, f: &mut Frontier, size: u64) -> Result<()> {
        while f.size() < size {
            let at = f.size();
            let end = size.min(at + MAX_STEP);
            let data = self.pg.sequenced(at, end)?;
            if data.len() as u64 != end - at {
                return Err(Error::Corrupt(format!(
                    "entries {at}..{end} are not all sequenced"
                )));
            }
            for d in &data {
                f.append(tlog::leaf_hash(d), |_, _| {});
            }
        }
        Ok(())
    }

    /// Writes the bucket's `checkpoint` from the database: its latest
    /// witnessed checkpoint if the log is witnessed, else the integrated
    /// tree's (never over a larger tree's).
    fn publish_checkpoint(&self, c: &super::postgres::Coordinator) -> Result<()> {
        if self.config.witnessed {
            if let Some((size, note)) = self.pg.witnessed_checkpoint()? {
                self.objects.put_checkpoint(size, &note)?;
            }
        } else if let Some(note) = &c.checkpoint {
            self.objects.put_checkpoint(c.int_size, note)?;
        }
        Ok(())
    }

    /// Writes the bundles and tiles of the database's integrated tree
    /// beyond `from` (the bucket's tree, or the empty tree of a lost
    /// bucket), once the sequenced entries are proved to grow `from` to the
    /// integrated root, passing through the root of `through` (the
    /// bucket's checkpoint) if given (`mismatch` otherwise: nothing is
    /// written); then the bucket's `checkpoint` from the database.
    fn write_from_database(
        &self,
        from: Frontier,
        through: Option<&Checkpoint>,
        c: &super::postgres::Coordinator,
        mismatch: impl Fn() -> Error,
    ) -> Result<()> {
        let mut proof = from.clone();
        if let Some(cp) = through {
            if cp.tree_size < proof.size() || cp.tree_size > c.int_size {
                return Err(mismatch());
            }
            self.grow(&mut proof, cp.tree_size)?;
            if proof.root() != cp.root_hash {
                return Err(mismatch());
            }
        }
        self.grow(&mut proof, c.int_size)?;
        if proof.root() != c.int_root {
            return Err(mismatch());
        }
        let mut f = from;
        while f.size() < c.int_size {
            let end = c.int_size.min(f.size() + MAX_STEP);
            f = self.write_objects(&f, end)?;
        }
        self.publish_checkpoint(c)
    }

    /// A bucket with no `checkpoint` under a database with an integrated
    /// tree (a bucket lost with no copy, or a new, empty prefix): its tiles
    /// and bundles are rebuilt from the database's entries (proved to hash
    /// to the integrated root first), and the database's checkpoint is
    /// published. A bucket that already holds the tree's tiles is left to
    /// the integrator, which writes a missing `checkpoint`.
    ///
    /// # Errors
    /// [`Error::Backup`] saying what failed: entries that do not hash to
    /// the integrated root, objects of another tree in the bucket, storage.
    fn rebuild_bucket(&self, c: &super::postgres::Coordinator) -> Result<()> {
        if c.int_size == 0
            || self
                .bucket_frontier(c.int_size)
                .is_ok_and(|f| f.root() == c.int_root)
        {
            return Ok(());
        }
        let url = self.objects.url("");
        tracing::warn!(
            bucket = url,
            entries = c.int_size,
            "the bucket has no checkpoint and lacks the database's tree: rebuilding its tiles and bundles from the database"
        );
        let size = c.int_size;
        self.write_from_database(Frontier::new(), None, c, || {
            Error::Corrupt(format!(
                "the database's entries do not hash to its integrated root at size {size}"
            ))
        })
        .map_err(|e| {
            Error::Backup(format!(
                "the bucket {url} has no checkpoint, and rebuilding its tiles and bundles from the database's {size} entries failed: {e}"
            ))
        })?;
        tracing::warn!(
            bucket = url,
            entries = c.int_size,
            "rebuilt the bucket's tiles and bundles from the database, and published its checkpoint"
        );
        Ok(())
    }

    /// **The rollback rule in this mode** ([`rollback::check_against_signed`]):
    /// compares the database with the bucket's `checkpoint`, the latest
    /// checkpoint the log published. Every frontend runs it at start, and
    /// the integrator again whenever it takes the lease, before it signs.
    ///
    /// - Nothing published (no `checkpoint`): nothing to compare; a bucket
    ///   that lacks the database's integrated tree (lost with no copy) is
    ///   rebuilt from the database ([`Cluster::rebuild_bucket`]).
    /// - The database holds (sequenced) at least the checkpoint's entries:
    ///   its root at that size must be the checkpoint's, or it is another
    ///   tree (refused). A bucket whose tiles stop below the database's
    ///   integrated tree (a copy made before the dump) gets the missing
    ///   bundles and tiles written from the database, once they are proved
    ///   to hash to its integrated root.
    /// - Fewer: a rollback, refused unless `accept_rollback`. Accepted, the
    ///   bucket's `checkpoint` is kept as `checkpoint.rolled-back-from-N`,
    ///   the tiles and bundles beyond the database's integrated tree are
    ///   moved under `rolled-back-from-N/`, and `checkpoint` becomes the
    ///   database's; the notice says what auditors will see.
    ///
    /// # Errors
    /// [`Error::Rollback`]; [`Error::Backup`] (another tree, a checkpoint
    /// not signed by the log's key); storage failures.
    pub fn check_published(
        &self,
        vkey: &VerifierKey,
        accept_rollback: bool,
    ) -> Result<Option<String>> {
        let Some(note) = self.objects.get("checkpoint")? else {
            self.rebuild_bucket(&self.pg.coordinator()?)?;
            return Ok(None);
        };
        let source = self.objects.url("checkpoint");
        let published = rollback::open_signed(&note, vkey, &source)?;
        let c = self.pg.coordinator()?;
        let m = published.tree_size;
        if m <= c.int_size {
            // A bucket copy older than the database (or made while the
            // integrator wrote) may lack the tiles of its integrated tree:
            // written from the database, once proved.
            self.complete_bucket(&published, &source, &c)?;
        }
        let rolled_back = rollback::check_against_signed(
            c.next_index,
            &published,
            &source,
            &mut |size| self.database_root(size, &c, vkey),
            accept_rollback,
        )?;
        if rolled_back {
            return self.accept_rollback(&c, m, &note).map(Some);
        }
        Ok(None)
    }

    /// Writes the bundles and tiles of the database's integrated tree that
    /// the bucket lacks beyond its `published` checkpoint (a bucket copy
    /// older than the database; all of them if the copy lacks some of its
    /// own checkpoint's): first proves that the sequenced entries grow the
    /// bucket's tree through the checkpoint's root to the integrated root
    /// (so that the database is the bucket's tree and more), then writes,
    /// then puts the database's checkpoint.
    fn complete_bucket(
        &self,
        published: &Checkpoint,
        source: &str,
        c: &super::postgres::Coordinator,
    ) -> Result<()> {
        if self
            .bucket_frontier(c.int_size)
            .is_ok_and(|f| f.root() == c.int_root)
        {
            return Ok(());
        }
        // A copy made while the integrator wrote can hold a `checkpoint`
        // newer than the tiles it copied (read after the listing): then the
        // tree is rebuilt from the empty one, and proved to pass through
        // the checkpoint's root all the same.
        let from = self
            .bucket_frontier(published.tree_size)
            .unwrap_or_else(|e| {
                tracing::warn!(
                    checkpoint = published.tree_size,
                    "the bucket lacks tiles of its own checkpoint ({e}): rebuilding them from the database"
                );
                Frontier::new()
            });
        let another = || {
            Error::Backup(format!(
                "the database is not the tree of the checkpoint the log signed at size {} ({source}): it is another tree; refusing to start on it",
                published.tree_size
            ))
        };
        self.write_from_database(from, Some(published), c, another)?;
        tracing::warn!(
            from = published.tree_size,
            to = c.int_size,
            "wrote the bucket's missing bundles and tiles from the database"
        );
        Ok(())
    }

    /// An accepted rollback from the published tree of `lost` entries (its
    /// checkpoint `note`) to the database's: keeps the evidence in the
    /// bucket, moves the lost tiles and bundles aside, and makes the
    /// database's checkpoint the bucket's. Returns the notice. Running it
    /// again after a failure finishes it.
    fn accept_rollback(
        &self,
        c: &super::postgres::Coordinator,
        lost: u64,
        note: &[u8],
    ) -> Result<String> {
        let evidence = format!("checkpoint.rolled-back-from-{lost}");
        self.objects
            .put_immutable(vec![(evidence.clone(), note.to_vec())])?;
        let kept = c.int_size;
        let moved = self.objects.move_aside(
            &|rel| match tlog::parse_tile_path(rel) {
                // Kept: the objects of the database's tree (and of the
                // smaller trees before it), which the lost tree shares.
                Ok(tlog::TilePath::Tile(t)) => {
                    let covered = (t.index * TILE_WIDTH + u64::from(t.width))
                        .checked_shl(u32::from(t.level) * 8)
                        .unwrap_or(u64::MAX);
                    covered > kept
                }
                Ok(tlog::TilePath::Bundle(b)) => b.first_entry() + u64::from(b.width) > kept,
                Err(_) => false,
            },
            &format!("rolled-back-from-{lost}"),
        )?;
        self.objects.replace_checkpoint(c.checkpoint.as_deref())?;
        *self
            .frontier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        tracing::warn!(
            lost,
            kept,
            moved,
            "rollback accepted: the lost tree's tiles and bundles were moved aside"
        );
        Ok(format!(
            "{} The bundles and tiles of the lost entries ({moved} objects) were moved under {}.",
            rollback::rollback_notice(c.next_index, lost, &self.objects.url(&evidence)),
            self.objects.url(&format!("rolled-back-from-{lost}/"))
        ))
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
            // A new lease: first the rollback rule, before anything is
            // signed (never a checkpoint that forks from the bucket's).
            if self.checked_epoch.load(Ordering::Acquire) != lease.epoch {
                self.check_published(&signer.verifier_key(), false)?;
                self.checked_epoch.store(lease.epoch, Ordering::Release);
            }
            let deadline = Instant::now() + self.config.lease_ttl / 2;
            loop {
                let c = self.pg.coordinator()?;
                if c.epoch != lease.epoch {
                    break;
                }
                if c.int_size >= c.next_index && c.checkpoint.is_some() {
                    // Repairs a `checkpoint` object left behind by a
                    // predecessor that died between its swap and its write.
                    self.publish_checkpoint(&c)?;
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
    fn profiles(&self, project: &str) -> Result<Vec<(String, Profile)>> {
        self.pg.profiles(project)
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
    fn put_pending_sign_in(
        &self,
        id: &[u8; 32],
        row: &super::PendingSignInRow,
        live_since: i64,
        max: usize,
    ) -> Result<bool> {
        self.pg.put_pending_sign_in(id, row, live_since, max)
    }
    fn take_pending_sign_in(&self, id: &[u8; 32]) -> Result<Option<super::PendingSignInRow>> {
        self.pg.take_pending_sign_in(id)
    }
}
