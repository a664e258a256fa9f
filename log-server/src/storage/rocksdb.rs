//! The embedded RocksDB backend: the only file that names RocksDB. It also
//! holds witness mode's own small store, [`WitnessStateStore`].
//!
//! Column families:
//! - `entries`: `index (u64 BE)` → entry bytes
//! - `hashes`: `level (u8) || index (u64 BE)` → 32-byte stored hash, so the
//!   hashes of one tree level are contiguous and a tile is one range read
//! - `tiles`: `tile index (u64 BE)` → the stored hashes of levels 0 to 7 under
//!   one full level-0 tile, 510 of them: level 0's 256, then level 1's 128, …,
//!   level 7's 2. Written in the same batch as the hash that completes the
//!   tile, so a full tile, and the lower half of any proof, is one read
//!   instead of 256 or 8 (the per-node rows in `hashes` stay, for the
//!   rightmost tile that is still growing)
//! - `leaf_index`: `leaf hash || index (u64 BE)` → empty; duplicates are allowed
//!   and a prefix scan finds the lowest index of a leaf hash
//! - `checkpoints`: `tree size (u64 BE)` → signed checkpoint note, every one ever signed
//! - `meta`: `tree_size` (u64 BE), `format_version` (u32 BE, see
//!   [`FORMAT_VERSION`]) and other small values
//! - `api_keys`: `SHA-256(api key)` → JSON key record
//! - `records`: projects, principals' profiles and private compliance records
//!   (keys below)
//! - `cockpit`: the cockpit's sessions (`S` || SHA-256 of the session secret
//!   → JSON [`SessionRow`]), their index by principal (`K` || SHA-256 of the
//!   key || session ID → empty), share links (`L` || SHA-256 of the link's
//!   secret → JSON [`ShareRow`]) and pending sign-ins (`P` || SHA-256 of
//!   the flow's `state` → JSON [`PendingSignInRow`]); created empty when a
//!   data directory of an earlier version is opened
//!
//! Stored hashes of levels [`CACHED_FROM_LEVEL`] and up (1/128 of them: 2.5
//! MB at 10M entries) are also kept in memory, loaded at open and extended by
//! each committed batch: every proof and every tile of tile level 1 and up
//! reads them without touching RocksDB. So are those of levels 0 to 7 under
//! the growing rightmost tile (at most 509), which every proof to the latest
//! tree needs for its right edge. Both grow only after a batch commits.
//!
//! The commit point of an append is [`LogStore::commit`]: one atomic,
//! fsync'd write batch holding the entries, their leaf-hash index entries, the
//! new stored hashes and the new tree size. If the process dies before it
//! returns, none of the batch is visible after restart; after it returns, all
//! of it is.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};

use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};
use tlog::{HASH_SIZE, Hash, HashReader, NodeId, WitnessState};

use super::{
    Batch, KeyStore, LogStore, NewRecord, PendingSignInRow, RecordRef, RecordStore, SessionRow,
    SessionStore, ShareRow, StoredRecord,
};
use crate::{Error, Result};
use compliance::ledger::ProjectRow;
use compliance::principal::{KeyRecord, Profile};
use compliance::record::RecordKind;

const CF_ENTRIES: &str = "entries";
const CF_HASHES: &str = "hashes";
const CF_TILES: &str = "tiles";
const CF_LEAF_INDEX: &str = "leaf_index";
const CF_CHECKPOINTS: &str = "checkpoints";
const CF_META: &str = "meta";
const CF_API_KEYS: &str = "api_keys";
const CF_RECORDS: &str = "records";
const CF_COCKPIT: &str = "cockpit";

const ALL_CFS: [&str; 9] = [
    CF_ENTRIES,
    CF_HASHES,
    CF_TILES,
    CF_LEAF_INDEX,
    CF_CHECKPOINTS,
    CF_META,
    CF_API_KEYS,
    CF_RECORDS,
    CF_COCKPIT,
];

const META_TREE_SIZE: &[u8] = b"tree_size";
/// `meta` key of the data format's version (u32 BE); absent in format 1.
const META_FORMAT_VERSION: &[u8] = b"format_version";

/// The version of the data format this release writes. Format 1 (every
/// release before format versions existed) has no `format_version` key; it
/// is the same layout, and opening it read-write migrates it by writing the
/// key. A data directory of a later format is refused, never guessed at.
pub const FORMAT_VERSION: u32 = 2;
/// `meta` key of the latest witnessed checkpoint: tree size (u64 BE) || note.
const META_WITNESSED: &[u8] = b"witnessed_checkpoint";
/// `meta` key prefix of each witness's last cosigned size (u64 BE), by verifier key.
const META_WITNESS_SIZE: &[u8] = b"witness_size/";

/// The lowest level of stored hashes kept in memory (the hashes of tile
/// level 1 and up).
pub const CACHED_FROM_LEVEL: u8 = 8;

/// The RocksDB store of one log.
pub struct RocksDb {
    db: DB,
    upper: UpperLevels,
    /// The rightmost level-0 tile, not yet full: its committed hashes, which
    /// proofs to the latest tree size read for their right edge.
    growing: RwLock<GrowingTile>,
    /// Held while a batch commits.
    writer: Mutex<()>,
    /// Held by every write of the `cockpit` column family, so that its
    /// read-modify-writes are atomic ([`SessionStore`]'s contract).
    cockpit: Mutex<()>,
    /// A file outside RocksDB that receives every signed checkpoint after
    /// it is stored ([`RocksDb::keep_latest_checkpoint_in`]).
    checkpoint_file: Option<PathBuf>,
}

/// Stored hashes in a row of the `tiles` column family.
const ROW_HASHES: usize = 510;

/// Where the hashes of `level` (below 8) start in a tile row, in hashes.
fn row_offset(level: u8) -> usize {
    512 - (512 >> level)
}

/// The stored hashes of levels 0 to 7 under the rightmost level-0 tile, which
/// is not full yet; the batch that fills it also writes its `tiles` row.
#[derive(Clone)]
struct GrowingTile {
    index: u64,
    levels: [Vec<Hash>; 8],
}

impl GrowingTile {
    fn new(index: u64) -> Self {
        GrowingTile {
            index,
            levels: Default::default(),
        }
    }

    /// The committed hash at `id`, if it is under this tile and held.
    fn get(&self, id: NodeId) -> Option<Hash> {
        let shift = CACHED_FROM_LEVEL.checked_sub(id.level)?;
        let first = self.index << shift;
        let level = self.levels.get(usize::from(id.level))?;
        level
            .get(usize::try_from(id.index.checked_sub(first)?).ok()?)
            .copied()
    }

    /// Adds a new stored hash; returns the tile's row when it completes the
    /// tile. A hash that does not continue the tile contiguously leaves the
    /// tile without a row (it is then read node by node), and a hash of a
    /// later tile starts that one.
    fn push(&mut self, id: NodeId, h: Hash) -> Option<(u64, Vec<u8>)> {
        if id.level >= CACHED_FROM_LEVEL {
            return None;
        }
        let shift = CACHED_FROM_LEVEL - id.level;
        let tile = id.index >> shift;
        if tile > self.index {
            *self = GrowingTile::new(tile);
        }
        let level = &mut self.levels[usize::from(id.level)];
        if tile != self.index || id.index != (tile << shift) + level.len() as u64 {
            return None;
        }
        level.push(h);
        let full = (0..8u8).all(|l| self.levels[usize::from(l)].len() == 256 >> l);
        if !full {
            return None;
        }
        let row = self.levels.iter().flatten().flat_map(|h| h.0).collect();
        let done = self.index;
        *self = GrowingTile::new(done + 1);
        Some((done, row))
    }
}

/// In-memory copy of the stored hashes of levels [`CACHED_FROM_LEVEL`] and
/// up. `levels[l - CACHED_FROM_LEVEL]` holds the hashes of level `l` from
/// index 0 on, without gaps, and only committed ones: it is extended after a
/// batch commits, so a reader never sees a hash the store does not hold.
#[derive(Default)]
struct UpperLevels {
    levels: RwLock<Vec<Vec<Hash>>>,
}

impl UpperLevels {
    fn get(levels: &[Vec<Hash>], id: NodeId) -> Option<Hash> {
        let level = levels.get(usize::from(id.level.checked_sub(CACHED_FROM_LEVEL)?))?;
        level.get(usize::try_from(id.index).ok()?).copied()
    }

    /// Adds committed hashes; a hash that would leave a gap is not kept (and
    /// is read from RocksDB instead).
    fn extend(&self, hashes: &[(NodeId, Hash)]) {
        let mut levels = self.levels.write().unwrap_or_else(PoisonError::into_inner);
        for (id, h) in hashes {
            let Some(l) = id.level.checked_sub(CACHED_FROM_LEVEL) else {
                continue;
            };
            let l = usize::from(l);
            if levels.len() <= l {
                levels.resize_with(l + 1, Vec::new);
            }
            if usize::try_from(id.index).ok() == Some(levels[l].len()) {
                levels[l].push(*h);
            }
        }
    }
}

fn hash_key(id: NodeId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = id.level;
    k[1..].copy_from_slice(&id.index.to_be_bytes());
    k
}

fn u64_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

impl RocksDb {
    /// The options and column families every open uses.
    fn options() -> (Options, Vec<ColumnFamilyDescriptor>) {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(4);
        // A column family that is rarely written (API keys, records) would
        // otherwise keep every write-ahead log since its last write alive,
        // and a start after a crash would replay all of them.
        opts.set_max_total_wal_size(64 << 20);
        // All memtables together stay under 128 MiB (the sum of the column
        // families' write buffers, doubled while one flushes, would be 270).
        opts.set_db_write_buffer_size(128 << 20);
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        table.set_block_cache(&rocksdb::Cache::new_lru_cache(64 << 20));
        // Point reads of keys that exist (entries, hashes, tile rows) need no
        // bloom filter at the last level, which holds nearly all the data:
        // leaving it out saves about 1.25 bytes per key of resident memory.
        // Random hashes do not compress.
        let cf = |write_buffer: usize, compress: bool| {
            let mut o = Options::default();
            o.set_block_based_table_factory(&table);
            o.set_write_buffer_size(write_buffer);
            o.set_compression_type(if compress {
                rocksdb::DBCompressionType::Lz4
            } else {
                rocksdb::DBCompressionType::None
            });
            o
        };
        // Leaf-hash lookups are prefix seeks: the bloom filter is on the
        // 32-byte leaf hash, so a hash the log does not hold costs no read.
        let mut leaf_index = cf(32 << 20, false);
        leaf_index.set_memtable_prefix_bloom_ratio(0.05);
        leaf_index.set_prefix_extractor(rocksdb::SliceTransform::create_fixed_prefix(32));
        let hits_only = |mut o: Options| {
            o.set_optimize_filters_for_hits(true);
            o
        };
        let cfs = vec![
            ColumnFamilyDescriptor::new(CF_ENTRIES, hits_only(cf(32 << 20, true))),
            ColumnFamilyDescriptor::new(CF_HASHES, hits_only(cf(32 << 20, false))),
            ColumnFamilyDescriptor::new(CF_TILES, hits_only(cf(16 << 20, false))),
            ColumnFamilyDescriptor::new(CF_LEAF_INDEX, leaf_index),
            ColumnFamilyDescriptor::new(CF_CHECKPOINTS, cf(4 << 20, true)),
            ColumnFamilyDescriptor::new(CF_META, cf(1 << 20, false)),
            ColumnFamilyDescriptor::new(CF_API_KEYS, cf(1 << 20, false)),
            ColumnFamilyDescriptor::new(CF_RECORDS, cf(16 << 20, true)),
            // Opened (created if missing) like the others: a data directory
            // of a version without it opens with it empty.
            ColumnFamilyDescriptor::new(CF_COCKPIT, cf(1 << 20, false)),
        ];
        (opts, cfs)
    }

    /// Opens (or creates) the store in `path`. A store of format 1 is
    /// migrated to [`FORMAT_VERSION`]; one of a later format is refused.
    ///
    /// # Errors
    /// RocksDB failures (another process holding the store, say), a later
    /// format, or a corrupt store.
    pub fn open(path: &Path) -> Result<Self> {
        let (opts, cfs) = Self::options();
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| {
            Error::storage(format_args!("opening RocksDB in {}", path.display()), e)
        })?;
        let store = Self::load(db, path)?;
        if store.format_version()? < FORMAT_VERSION {
            store.put_synced(CF_META, META_FORMAT_VERSION, &FORMAT_VERSION.to_be_bytes())?;
        }
        Ok(store)
    }

    /// Opens the store in `path` read-only: nothing in it is written (a
    /// backup being verified). Any format up to [`FORMAT_VERSION`] opens.
    ///
    /// # Errors
    /// RocksDB failures (a missing or damaged file), a later format, or a
    /// corrupt store.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        let (opts, cfs) = Self::options();
        let db = DB::open_cf_descriptors_read_only(&opts, path, cfs, false).map_err(|e| {
            Error::storage(
                format_args!("opening RocksDB read-only in {}", path.display()),
                e,
            )
        })?;
        Self::load(db, path)
    }

    /// Checks the format and loads the in-memory hashes.
    fn load(db: DB, path: &Path) -> Result<Self> {
        let mut store = RocksDb {
            db,
            upper: UpperLevels::default(),
            growing: RwLock::new(GrowingTile::new(0)),
            writer: Mutex::new(()),
            cockpit: Mutex::new(()),
            checkpoint_file: None,
        };
        let version = store.format_version()?;
        if version > FORMAT_VERSION {
            return Err(Error::Config(format!(
                "{} holds data of format {version}, written by a later release; this release reads formats 1 to {FORMAT_VERSION}: run the release that wrote it",
                path.display()
            )));
        }
        store.load_upper_levels()?;
        let growing = store.load_growing_tile()?;
        *store
            .growing
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner) = growing;
        Ok(store)
    }

    /// The format version of the data (1 for data written before versions).
    ///
    /// # Errors
    /// A malformed version, or a RocksDB failure.
    pub fn format_version(&self) -> Result<u32> {
        match self.get(CF_META, META_FORMAT_VERSION)? {
            None => Ok(1),
            Some(v) => v
                .as_slice()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| corrupt("format_version in meta")),
        }
    }

    /// After each signed checkpoint is stored, also writes it to `path`
    /// (atomically, fsync'd): a record of what the log has signed that a
    /// restored older database does not carry (see `backup::check_rollback`).
    #[must_use]
    pub fn keep_latest_checkpoint_in(mut self, path: PathBuf) -> Self {
        self.checkpoint_file = Some(path);
        self
    }

    /// Makes a consistent copy of the whole store in `to` (which must not
    /// exist): a RocksDB checkpoint, hard links to the immutable table files
    /// when `to` is on the same file system, copies otherwise. Appends go on
    /// meanwhile; the copy holds every batch committed before it started.
    ///
    /// # Errors
    /// `to` exists, or a RocksDB or file system failure.
    pub fn create_checkpoint(&self, to: &Path) -> Result<()> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|c| c.create_checkpoint(to))
            .map_err(|e| Error::storage(format_args!("copying RocksDB to {}", to.display()), e))
    }

    /// Reads the stored hashes under the rightmost, growing level-0 tile (at
    /// most 509 of them).
    fn load_growing_tile(&self) -> Result<GrowingTile> {
        let size = self.tree_size()?;
        let mut tile = GrowingTile::new(size >> 8);
        for level in 0..CACHED_FROM_LEVEL {
            let first = tile.index << (CACHED_FROM_LEVEL - level);
            let count = (size >> level) - first;
            if count == 0 {
                continue;
            }
            let raw = self.hash_range(level, first, count)?;
            for (i, h) in raw.chunks_exact(32).enumerate() {
                let id = NodeId::new(level, first + i as u64);
                let completed = tile.push(id, Hash::from_slice(h)?);
                if completed.is_some() {
                    return Err(Error::Corrupt("the growing tile is full".into()));
                }
            }
        }
        Ok(tile)
    }

    /// Reads the stored hashes of levels [`CACHED_FROM_LEVEL`] and up into
    /// memory (one range read per level).
    fn load_upper_levels(&self) -> Result<()> {
        let cf = self.cf(CF_HASHES)?;
        let mut levels = Vec::new();
        for level in CACHED_FROM_LEVEL..=63 {
            let mut hashes = Vec::new();
            let mut ro = ReadOptions::default();
            ro.set_iterate_upper_bound(vec![level + 1]);
            let it =
                self.db
                    .iterator_cf_opt(cf, ro, IteratorMode::From(&[level], Direction::Forward));
            for item in it {
                let (k, v) = item?;
                if u64_from(&k[1..]) != Some(hashes.len() as u64) {
                    break;
                }
                hashes.push(Hash::from_slice(&v)?);
            }
            if hashes.is_empty() {
                break;
            }
            levels.push(hashes);
        }
        *self
            .upper
            .levels
            .write()
            .unwrap_or_else(PoisonError::into_inner) = levels;
        Ok(())
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::Corrupt(format!("column family {name} is missing")))
    }

    /// The number of entries durably in the tree.
    fn tree_size(&self) -> Result<u64> {
        let v = self.db.get_cf(self.cf(CF_META)?, META_TREE_SIZE)?;
        match v {
            None => Ok(0),
            Some(b) => u64_from(&b).ok_or_else(|| corrupt("tree_size in meta")),
        }
    }

    /// The commit point of a batch of appends: entries, leaf-hash index,
    /// stored hashes and the new tree size, in one fsync'd atomic write.
    fn commit_batch(&self, batch: &Batch<'_>) -> Result<()> {
        let (entries, hashes, new_size) = (batch.entries, batch.hashes, batch.new_size);
        let (cf_e, cf_h, cf_t, cf_l, cf_m, cf_r) = (
            self.cf(CF_ENTRIES)?,
            self.cf(CF_HASHES)?,
            self.cf(CF_TILES)?,
            self.cf(CF_LEAF_INDEX)?,
            self.cf(CF_META)?,
            self.cf(CF_RECORDS)?,
        );
        let mut batch = WriteBatch::default();
        for e in entries {
            batch.put_cf(cf_e, e.index.to_be_bytes(), e.data);
            if let Some(r) = e.record {
                for (k, v) in record_rows(r, e.data) {
                    batch.put_cf(cf_r, k, v);
                }
                // The project's row changed by the record, in its write.
                if let Some(row) = &r.project_row {
                    batch.put_cf(cf_r, project_key(&row.id), to_json(row)?);
                }
            }
            let mut k = [0u8; 40];
            k[..32].copy_from_slice(&e.leaf_hash.0);
            k[32..].copy_from_slice(&e.index.to_be_bytes());
            batch.put_cf(cf_l, k, []);
        }
        // One batch at a time: the growing tile is read, extended and replaced.
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = self
            .growing
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (id, h) in hashes {
            batch.put_cf(cf_h, hash_key(*id), h.0);
            if let Some((tile, row)) = next.push(*id, *h) {
                batch.put_cf(cf_t, tile.to_be_bytes(), row);
            }
        }
        batch.put_cf(cf_m, META_TREE_SIZE, new_size.to_be_bytes());
        self.write_synced(batch)?;
        *self.growing.write().unwrap_or_else(PoisonError::into_inner) = next;
        self.upper.extend(hashes);
        Ok(())
    }

    /// Writes a batch with fsync.
    fn write_synced(&self, batch: WriteBatch) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        Ok(self.db.write_opt(batch, &wo)?)
    }

    /// The entry at `index`, if the tree has it.
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_ENTRIES)?, index.to_be_bytes())?)
    }

    /// Entries `start..end` (which must all exist).
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(usize::try_from(end - start).unwrap_or(0));
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(end.to_be_bytes().to_vec());
        let start_key = start.to_be_bytes();
        let it = self.db.iterator_cf_opt(
            self.cf(CF_ENTRIES)?,
            ro,
            IteratorMode::From(&start_key, Direction::Forward),
        );
        for (i, item) in it.enumerate() {
            let (k, v) = item?;
            let want = start + i as u64;
            if u64_from(&k) != Some(want) {
                return Err(Error::Corrupt(format!("entry {want} is missing")));
            }
            out.push(v.into_vec());
        }
        if out.len() as u64 != end - start {
            return Err(corrupt("entries are missing"));
        }
        Ok(out)
    }

    /// The lowest index below `below` whose leaf hash is `leaf_hash`.
    fn index_of(&self, leaf_hash: &Hash, below: u64) -> Result<Option<u64>> {
        let it = self.db.iterator_cf(
            self.cf(CF_LEAF_INDEX)?,
            IteratorMode::From(&leaf_hash.0, Direction::Forward),
        );
        let mut it = it;
        let Some(item) = it.next() else {
            return Ok(None);
        };
        let (k, _) = item?;
        if k.len() != 40 || k[..32] != leaf_hash.0 {
            return Ok(None);
        }
        let idx = u64_from(&k[32..]).ok_or_else(|| corrupt("leaf index key"))?;
        Ok((idx < below).then_some(idx))
    }

    /// `width` consecutive stored hashes of `level`, from `start`, concatenated.
    fn hash_range(&self, level: u8, start: u64, width: u64) -> Result<Vec<u8>> {
        if level >= CACHED_FROM_LEVEL {
            let levels = self
                .upper
                .levels
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let cached = levels
                .get(usize::from(level - CACHED_FROM_LEVEL))
                .and_then(|l| {
                    l.get(usize::try_from(start).ok()?..usize::try_from(start + width).ok()?)
                });
            if let Some(hashes) = cached {
                return Ok(hashes.iter().flat_map(|h| h.0).collect());
            }
        } else {
            let per_tile = 256u64 >> level;
            let tile = start / per_tile;
            if start + width <= (tile + 1) * per_tile {
                let growing = self.growing.read().unwrap_or_else(PoisonError::into_inner);
                if growing.index == tile {
                    let at = to_usize(start - tile * per_tile)?;
                    let hashes = growing.levels[usize::from(level)].get(at..at + to_usize(width)?);
                    if let Some(hashes) = hashes {
                        return Ok(hashes.iter().flat_map(|h| h.0).collect());
                    }
                }
            }
            if start + width <= (tile + 1) * per_tile
                && let Some(row) = self.tile_row(tile)?
            {
                let from = (row_offset(level) + to_usize(start - tile * per_tile)?) * 32;
                let to = from + to_usize(width)? * 32;
                return Ok(row[from..to].to_vec());
            }
        }
        let mut out = Vec::with_capacity(usize::try_from(width * 32).unwrap_or(0));
        let lo = hash_key(NodeId::new(level, start));
        let hi = hash_key(NodeId::new(level, start + width));
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(hi.to_vec());
        let it = self.db.iterator_cf_opt(
            self.cf(CF_HASHES)?,
            ro,
            IteratorMode::From(&lo, Direction::Forward),
        );
        for item in it {
            let (_, v) = item?;
            if v.len() != 32 {
                return Err(corrupt("stored hash"));
            }
            out.extend_from_slice(&v);
        }
        if out.len() as u64 != width * 32 {
            return Err(Error::Corrupt(format!(
                "stored hashes missing at level {level} from {start}"
            )));
        }
        Ok(out)
    }

    /// The `tiles` row of a full level-0 tile, if it has one.
    fn tile_row(&self, tile: u64) -> Result<Option<rocksdb::DBPinnableSlice<'_>>> {
        let row = self
            .db
            .get_pinned_cf(self.cf(CF_TILES)?, tile.to_be_bytes())?;
        if let Some(row) = &row
            && row.len() != ROW_HASHES * 32
        {
            return Err(Error::Corrupt(format!("row of tile {tile}")));
        }
        Ok(row)
    }

    /// Stores a signed checkpoint (fsync'd) before it is served.
    fn put_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_CHECKPOINTS)?, tree_size.to_be_bytes(), note);
        self.write_synced(batch)?;
        match &self.checkpoint_file {
            Some(path) => super::write_file_atomically(path, note),
            None => Ok(()),
        }
    }

    /// The latest signed checkpoint: its tree size and note.
    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let mut it = self
            .db
            .iterator_cf(self.cf(CF_CHECKPOINTS)?, IteratorMode::End);
        match it.next() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item?;
                let size = u64_from(&k).ok_or_else(|| corrupt("checkpoint key"))?;
                Ok(Some((size, v.into_vec())))
            }
        }
    }

    /// The latest witnessed checkpoint.
    fn witnessed_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let Some(v) = self.get(CF_META, META_WITNESSED)? else {
            return Ok(None);
        };
        let size = v
            .get(..8)
            .and_then(u64_from)
            .ok_or_else(|| corrupt("witnessed checkpoint"))?;
        Ok(Some((size, v[8..].to_vec())))
    }

    /// Keeps the witnessed checkpoint (fsync'd) unless a larger one is kept.
    /// Only the log's witnessing task writes it, so read-then-write is safe.
    fn put_witnessed_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<()> {
        if self
            .witnessed_checkpoint()?
            .is_some_and(|(size, _)| size > tree_size)
        {
            return Ok(());
        }
        let mut value = tree_size.to_be_bytes().to_vec();
        value.extend_from_slice(note);
        self.put_synced(CF_META, META_WITNESSED, &value)
    }

    /// Each witness's last cosigned size.
    fn witness_sizes(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for (k, v) in self.scan_prefix(CF_META, META_WITNESS_SIZE)? {
            let key = String::from_utf8(k[META_WITNESS_SIZE.len()..].to_vec())
                .map_err(|_| corrupt("witness key"))?;
            out.push((key, u64_from(&v).ok_or_else(|| corrupt("witness size"))?));
        }
        Ok(out)
    }

    /// Keeps a witness's last cosigned size (fsync'd).
    fn put_witness_size(&self, witness: &str, size: u64) -> Result<()> {
        let mut key = META_WITNESS_SIZE.to_vec();
        key.extend_from_slice(witness.as_bytes());
        self.put_synced(CF_META, &key, &size.to_be_bytes())
    }

    /// Reads a value from a column family.
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    /// Writes one value with fsync.
    fn put_synced(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf)?, key, value);
        self.write_synced(batch)
    }

    /// All key/value pairs of a column family whose key starts with `prefix`.
    fn scan_prefix(&self, cf: &str, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let it = self
            .db
            .iterator_cf(self.cf(cf)?, IteratorMode::From(prefix, Direction::Forward));
        for item in it {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    /// Calls `f` with every key/value pair of a column family in
    /// `start..end`, in key order, until it returns `false`; memory does not
    /// grow with the range.
    fn for_each_in_range(
        &self,
        cf: &str,
        start: &[u8],
        end: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(end.to_vec());
        let it = self.db.iterator_cf_opt(
            self.cf(cf)?,
            ro,
            IteratorMode::From(start, Direction::Forward),
        );
        for item in it {
            let (k, v) = item?;
            if !f(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    /// Flushes the memtables of every column family (on shutdown), so that
    /// no write-ahead log is left to replay at the next start.
    fn flush(&self) -> Result<()> {
        let cfs = ALL_CFS
            .iter()
            .map(|name| self.cf(name))
            .collect::<Result<Vec<_>>>()?;
        self.db
            .flush_cfs_opt(&cfs, &rocksdb::FlushOptions::default())?;
        Ok(())
    }
}

impl HashReader for RocksDb {
    /// Reads levels 8 and up and the growing tile from memory, levels 0 to 7
    /// of full tiles from their rows (one read per tile: a proof's lower half
    /// is one read), and anything else node by node.
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, tlog::Error> {
        let storage = |e: &dyn std::fmt::Display| tlog::Error::Storage {
            reason: e.to_string(),
        };
        let mut out = vec![Hash::default(); ids.len()];
        let mut missing = Vec::new();
        {
            let levels = self
                .upper
                .levels
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            for (i, id) in ids.iter().enumerate() {
                match UpperLevels::get(&levels, *id) {
                    Some(h) => out[i] = h,
                    None => missing.push(i),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        {
            let growing = self.growing.read().unwrap_or_else(PoisonError::into_inner);
            missing.retain(|&i| match growing.get(ids[i]) {
                Some(h) => {
                    out[i] = h;
                    false
                }
                None => true,
            });
        }
        if missing.is_empty() {
            return Ok(out);
        }
        // The tile of each missing node below level 8, and the rows of those tiles.
        let tile_of = |id: NodeId| {
            (id.level < CACHED_FROM_LEVEL).then(|| id.index >> (CACHED_FROM_LEVEL - id.level))
        };
        let mut tiles: Vec<u64> = missing.iter().filter_map(|&i| tile_of(ids[i])).collect();
        tiles.sort_unstable();
        tiles.dedup();
        let cf_tiles = self.cf(CF_TILES).map_err(|e| storage(&e))?;
        let keys: Vec<[u8; 8]> = tiles.iter().map(|t| t.to_be_bytes()).collect();
        let rows = self.db.batched_multi_get_cf(cf_tiles, &keys, true);
        let mut rest = Vec::new();
        for i in missing {
            let id = ids[i];
            let row = tile_of(id)
                .and_then(|t| tiles.binary_search(&t).ok().map(|k| (t, k)))
                .and_then(|(t, k)| match &rows[k] {
                    Ok(Some(row)) => Some(Ok((t, row))),
                    Ok(None) => None,
                    Err(e) => Some(Err(storage(e))),
                });
            let Some(row) = row else {
                rest.push(i);
                continue;
            };
            let (t, row) = row?;
            let at = row_offset(id.level)
                + usize::try_from(id.index - (t << (CACHED_FROM_LEVEL - id.level)))
                    .map_err(|e| storage(&e))?;
            out[i] = row
                .get(at * 32..(at + 1) * 32)
                .filter(|_| row.len() == ROW_HASHES * 32)
                .ok_or_else(|| storage(&format_args!("corrupt row of tile {t}")))
                .and_then(Hash::from_slice)?;
        }
        if rest.is_empty() {
            return Ok(out);
        }
        let cf = self.cf(CF_HASHES).map_err(|e| storage(&e))?;
        let keys: Vec<_> = rest.iter().map(|&i| (cf, hash_key(ids[i]))).collect();
        for (&i, v) in rest.iter().zip(self.db.multi_get_cf(keys)) {
            out[i] = match v {
                Ok(Some(b)) => Hash::from_slice(&b)?,
                Ok(None) => {
                    return Err(tlog::Error::HashUnavailable {
                        level: ids[i].level,
                        index: ids[i].index,
                    });
                }
                Err(e) => return Err(storage(&e)),
            };
        }
        Ok(out)
    }
}

fn to_usize(v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::Corrupt(format!("{v} does not fit in memory")))
}

fn corrupt(what: &str) -> Error {
    Error::Corrupt(what.to_owned())
}

impl From<rocksdb::Error> for Error {
    fn from(e: rocksdb::Error) -> Self {
        Error::Storage(Box::new(e))
    }
}

impl LogStore for RocksDb {
    fn tree_size(&self) -> Result<u64> {
        RocksDb::tree_size(self)
    }

    fn commit(&self, batch: &Batch<'_>) -> Result<()> {
        self.commit_batch(batch)
    }

    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        RocksDb::entry(self, index)
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        RocksDb::entries(self, start, end)
    }

    fn index_of(&self, leaf_hash: &Hash, below: u64) -> Result<Option<u64>> {
        RocksDb::index_of(self, leaf_hash, below)
    }

    fn hash_range(&self, level: u8, start: u64, width: u64) -> Result<Vec<u8>> {
        RocksDb::hash_range(self, level, start, width)
    }

    fn put_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<()> {
        RocksDb::put_checkpoint(self, tree_size, note)
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        RocksDb::latest_checkpoint(self)
    }

    fn witnessed_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        RocksDb::witnessed_checkpoint(self)
    }

    fn put_witnessed_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<()> {
        RocksDb::put_witnessed_checkpoint(self, tree_size, note)
    }

    fn witness_sizes(&self) -> Result<Vec<(String, u64)>> {
        RocksDb::witness_sizes(self)
    }

    fn put_witness_size(&self, witness: &str, size: u64) -> Result<()> {
        RocksDb::put_witness_size(self, witness, size)
    }

    fn flush(&self) -> Result<()> {
        RocksDb::flush(self)
    }
}

// ---------------------------------------------------------------- records
//
// Keys of the `records` column family:
//
// | key | value |
// |---|---|
// | `P` project | project row (JSON) |
// | `U` project `/` principal | principal profile (JSON) |
// | `S` project | last sequence number and last record time (u64 BE, i64 BE) |
// | `R` project `/` seq (u64 BE) | type code (u8), envelope length (u32 BE), envelope, record (JCS) |
// | `T` project `/` time ms (u64 BE) seq (u64 BE) | empty: period look-up |
// | `I` project `/` record ID | seq: look-up by ID |
// | `X` project `/` exception ID `/` seq | empty: the events of an exception |
// | `D` project `/` SHA-256 (hex) | an OpenAPI document a decision was classified from |
// | `W` project | the project's alert settings (webhooks, digest recipients; JSON) |

/// Record types and their codes in `R` rows (stored: never renumber).
const TYPE_CODES: [(RecordKind, u8); 21] = [
    (RecordKind::GateDecision, 1),
    (RecordKind::ExceptionRequested, 2),
    (RecordKind::ExceptionSignal, 3),
    (RecordKind::ExceptionActivated, 4),
    (RecordKind::ExceptionRevoked, 5),
    (RecordKind::ExceptionExpired, 6),
    (RecordKind::ComplianceExport, 7),
    (RecordKind::ProjectSettingsChanged, 8),
    (RecordKind::AnomalyDetected, 9),
    (RecordKind::AnomalyAcknowledged, 10),
    (RecordKind::MonitorRun, 11),
    (RecordKind::ShareTokenCreated, 12),
    (RecordKind::ShareTokenUsed, 13),
    (RecordKind::ShareTokenRevoked, 14),
    (RecordKind::ChainStarted, 15),
    (RecordKind::PrincipalAdded, 16),
    (RecordKind::PrincipalChanged, 17),
    (RecordKind::PrincipalRevoked, 18),
    // Held changes of controls: from 32, apart from codes other record
    // types may take meanwhile.
    (RecordKind::SettingsChangeProposed, 32),
    (RecordKind::SettingsChangeApproved, 33),
    (RecordKind::SettingsChangeWithdrawn, 34),
];

fn type_code(kind: RecordKind) -> u8 {
    TYPE_CODES
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, c)| *c)
}

fn type_of(code: u8) -> Option<RecordKind> {
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

fn record_key(project: &str, seq: u64) -> Vec<u8> {
    key(b'R', project, &seq.to_be_bytes())
}

/// Key of a time-index row; times before the epoch sort as 0.
fn time_key(project: &str, time_ms: i64, seq: u64) -> Vec<u8> {
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

fn project_key(id: &str) -> Vec<u8> {
    let mut k = vec![b'P'];
    k.extend_from_slice(id.as_bytes());
    k
}

fn alerts_key(project: &str) -> Vec<u8> {
    format!("W{project}").into_bytes()
}

fn spec_key(project: &str, sha256: &str) -> Vec<u8> {
    format!("D{project}/{sha256}").into_bytes()
}

fn profile_key(project: &str, principal: &str) -> Vec<u8> {
    format!("U{project}/{principal}").into_bytes()
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The rows of a record, written with its envelope.
fn record_rows(r: &NewRecord, envelope: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut row = Vec::with_capacity(5 + envelope.len() + r.record.len());
    row.push(type_code(r.kind));
    row.extend_from_slice(
        &u32::try_from(envelope.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    row.extend_from_slice(envelope);
    row.extend_from_slice(&r.record);
    let mut rows = vec![
        (record_key(&r.project, r.seq), row),
        (time_key(&r.project, r.time_ms, r.seq), Vec::new()),
        (id_key(&r.project, &r.id), r.seq.to_be_bytes().to_vec()),
    ];
    if let Some(exc) = &r.exception {
        rows.push((exception_key(&r.project, exc, Some(r.seq)), Vec::new()));
    }
    let mut st = r.seq.to_be_bytes().to_vec();
    st.extend_from_slice(&r.time_ms.to_be_bytes());
    rows.push((state_key(&r.project), st));
    rows
}

/// Decodes an `R` row.
fn decode_row(v: &[u8]) -> Result<RecordRef<'_>> {
    let code = *v.first().ok_or_else(|| corrupt("empty record row"))?;
    let kind = type_of(code).ok_or_else(|| corrupt("record row of an unknown type"))?;
    let len = v
        .get(1..5)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| corrupt("short record row"))? as usize;
    let envelope = v
        .get(5..5 + len)
        .ok_or_else(|| corrupt("short record row"))?;
    Ok(RecordRef {
        kind,
        envelope,
        record: &v[5 + len..],
    })
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

fn to_json(v: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::storage("serializing a row", e))
}

/// Enumerations that only `migrate` needs: the [`RecordStore`] trait reads
/// documents and alert settings by key.
impl RocksDb {
    /// Calls `f` with every kept OpenAPI document
    /// ([`RecordStore::put_spec`]): its project, SHA-256 (hex) and bytes, by
    /// project and hash; memory does not grow with their number.
    ///
    /// # Errors
    /// Storage failures, a [`Error::Corrupt`] key, and `f`'s errors.
    pub fn for_each_spec(&self, mut f: impl FnMut(&str, &str, &[u8]) -> Result<()>) -> Result<()> {
        // `D` rows: `D` project `/` SHA-256 (hex, no `/`), up to the next tag.
        self.for_each_in_range(CF_RECORDS, b"D", b"E", |k, v| {
            let (project, sha256) = std::str::from_utf8(&k[1..])
                .ok()
                .and_then(|key| key.rsplit_once('/'))
                .ok_or_else(|| corrupt("kept document's key"))?;
            f(project, sha256, v)?;
            Ok(true)
        })
    }

    /// Every project's alert settings ([`RecordStore::put_alerts`]), by
    /// project.
    ///
    /// # Errors
    /// Storage failures; a [`Error::Corrupt`] key.
    pub fn all_alerts(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.scan_prefix(CF_RECORDS, b"W")?
            .into_iter()
            .map(|(k, v)| {
                let project = String::from_utf8(k[1..].to_vec())
                    .map_err(|_| corrupt("alert settings' key"))?;
                Ok((project, v))
            })
            .collect()
    }
}

impl RecordStore for RocksDb {
    fn project(&self, id: &str) -> Result<Option<ProjectRow>> {
        self.get(CF_RECORDS, &project_key(id))?
            .map(|v| from_json("project row", &v))
            .transpose()
    }

    fn projects(&self) -> Result<Vec<ProjectRow>> {
        self.scan_prefix(CF_RECORDS, b"P")?
            .iter()
            .map(|(_, v)| from_json("project row", v))
            .collect()
    }

    fn put_project(&self, row: &ProjectRow) -> Result<()> {
        self.put_synced(CF_RECORDS, &project_key(&row.id), &to_json(row)?)
    }

    fn profile(&self, project: &str, principal: &str) -> Result<Option<Profile>> {
        self.get(CF_RECORDS, &profile_key(project, principal))?
            .map(|v| from_json("profile", &v))
            .transpose()
    }

    fn profiles(&self, project: &str) -> Result<Vec<(String, Profile)>> {
        // `U<project>/` up to `U<project>0` (`0` follows `/`): this
        // project's keys and no other's.
        let start = profile_key(project, "");
        let mut end = start.clone();
        if let Some(last) = end.last_mut() {
            *last = b'0';
        }
        let mut out = Vec::new();
        self.for_each_in_range(CF_RECORDS, &start, &end, |k, v| {
            let id = k
                .get(start.len()..)
                .and_then(|id| std::str::from_utf8(id).ok())
                .ok_or_else(|| corrupt("a profile's key"))?;
            out.push((id.to_owned(), from_json("profile", v)?));
            Ok(true)
        })?;
        Ok(out)
    }

    fn put_profile(&self, project: &str, principal: &str, profile: &Profile) -> Result<()> {
        self.put_synced(
            CF_RECORDS,
            &profile_key(project, principal),
            &to_json(profile)?,
        )
    }

    fn put_spec(&self, project: &str, sha256: &str, bytes: &[u8]) -> Result<()> {
        self.put_synced(CF_RECORDS, &spec_key(project, sha256), bytes)
    }

    fn spec(&self, project: &str, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.get(CF_RECORDS, &spec_key(project, sha256))
    }

    fn put_alerts(&self, project: &str, alerts: &[u8]) -> Result<()> {
        self.put_synced(CF_RECORDS, &alerts_key(project), alerts)
    }

    fn alerts(&self, project: &str) -> Result<Option<Vec<u8>>> {
        self.get(CF_RECORDS, &alerts_key(project))
    }

    fn last_record(&self, project: &str) -> Result<Option<(u64, i64)>> {
        let Some(v) = self.get(CF_RECORDS, &state_key(project))? else {
            return Ok(None);
        };
        let seq = u64_at(&v, 0).ok_or_else(|| corrupt("project state"))?;
        let time = v
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
            .ok_or_else(|| corrupt("project state"))?;
        Ok(Some((seq, time)))
    }

    fn record(&self, project: &str, seq: u64) -> Result<Option<StoredRecord>> {
        let Some(v) = self.get(CF_RECORDS, &record_key(project, seq))? else {
            return Ok(None);
        };
        Ok(Some(decode_row(&v)?.to_owned()))
    }

    fn seq_of(&self, project: &str, id: &str) -> Result<Option<u64>> {
        Ok(self
            .get(CF_RECORDS, &id_key(project, id))?
            .and_then(|v| u64_at(&v, 0)))
    }

    fn exception_seqs(&self, project: &str, exception: &str) -> Result<Vec<u64>> {
        let prefix = exception_key(project, exception, None);
        Ok(self
            .scan_prefix(CF_RECORDS, &prefix)?
            .iter()
            .filter_map(|(k, _)| u64_at(k, prefix.len()))
            .collect())
    }

    fn ledger_seqs(&self, project: &str) -> Result<Vec<u64>> {
        self.scan_prefix(CF_RECORDS, &key(b'X', project, &[]))?
            .iter()
            .map(|(k, _)| {
                k.len()
                    .checked_sub(8)
                    .and_then(|at| u64_at(k, at))
                    .ok_or_else(|| corrupt("exception index"))
            })
            .collect()
    }

    fn first_seq_at(&self, project: &str, time_ms: i64) -> Result<Option<u64>> {
        let start = time_key(project, time_ms, 0);
        let end = key(b'T', project, &[0xff; 17]);
        let mut found = None;
        self.for_each_in_range(CF_RECORDS, &start, &end, |k, _| {
            found = k.len().checked_sub(8).and_then(|at| u64_at(k, at));
            Ok(false)
        })?;
        Ok(found)
    }

    fn for_each_record(
        &self,
        project: &str,
        seqs: Range<u64>,
        f: &mut dyn FnMut(RecordRef<'_>) -> Result<bool>,
    ) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.for_each_in_range(
            CF_RECORDS,
            &record_key(project, seqs.start),
            &record_key(project, seqs.end),
            |_, v| f(decode_row(v)?),
        )
    }
}

impl KeyStore for RocksDb {
    fn put_key(&self, secret_hash: &[u8; 32], record: &KeyRecord) -> Result<()> {
        self.put_synced(CF_API_KEYS, secret_hash, &to_json(record)?)
    }

    fn key(&self, secret_hash: &[u8; 32]) -> Result<Option<KeyRecord>> {
        self.get(CF_API_KEYS, secret_hash)?
            .map(|v| from_json("key record", &v))
            .transpose()
    }

    fn keys(&self) -> Result<Vec<([u8; 32], KeyRecord)>> {
        self.scan_prefix(CF_API_KEYS, &[])?
            .iter()
            .map(|(k, v)| {
                let hash = k
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("key record's key"))?;
                Ok((hash, from_json("key record", v)?))
            })
            .collect()
    }
}

fn cockpit_key(tag: u8, hash: &[u8; 32]) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = tag;
    k[1..].copy_from_slice(hash);
    k
}

/// The index entry of session `id` under its key (`K`, the key's SHA-256,
/// the session's ID; an empty value).
fn session_index_key(key_hash: &[u8; 32], id: &[u8; 32]) -> [u8; 65] {
    let mut k = [0u8; 65];
    k[0] = b'K';
    k[1..33].copy_from_slice(key_hash);
    k[33..].copy_from_slice(id);
    k
}

impl RocksDb {
    fn cockpit_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.cockpit.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn delete_synced(&self, cf: &str, key: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(cf)?, key);
        self.write_synced(batch)
    }
}

/// Writes hold `cockpit` (one process opens a data directory), so that a
/// read-modify-write is atomic.
impl SessionStore for RocksDb {
    fn put_session(&self, id: &[u8; 32], session: &SessionRow) -> Result<()> {
        let _w = self.cockpit_lock();
        let cf = self.cf(CF_COCKPIT)?;
        let mut batch = WriteBatch::default();
        if let Some(old) = self.session(id)?
            && old.key_hash != session.key_hash
        {
            batch.delete_cf(cf, session_index_key(&old.key_hash, id));
        }
        batch.put_cf(cf, cockpit_key(b'S', id), to_json(session)?);
        batch.put_cf(cf, session_index_key(&session.key_hash, id), []);
        self.write_synced(batch)
    }

    fn session(&self, id: &[u8; 32]) -> Result<Option<SessionRow>> {
        self.get(CF_COCKPIT, &cockpit_key(b'S', id))?
            .map(|v| from_json("session", &v))
            .transpose()
    }

    fn touch_session(&self, id: &[u8; 32], last_seen: i64) -> Result<()> {
        let _w = self.cockpit_lock();
        match self.session(id)? {
            Some(mut s) => {
                if s.touch(last_seen) {
                    self.put_synced(CF_COCKPIT, &cockpit_key(b'S', id), &to_json(&s)?)?;
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn delete_session(&self, id: &[u8; 32]) -> Result<()> {
        let _w = self.cockpit_lock();
        let cf = self.cf(CF_COCKPIT)?;
        let mut batch = WriteBatch::default();
        if let Some(old) = self.session(id)? {
            batch.delete_cf(cf, session_index_key(&old.key_hash, id));
        }
        batch.delete_cf(cf, cockpit_key(b'S', id));
        self.write_synced(batch)
    }

    fn prune_sessions(&self, seen_before: i64, created_before: i64, limit: usize) -> Result<usize> {
        let _w = self.cockpit_lock();
        let cf = self.cf(CF_COCKPIT)?;
        let mut batch = WriteBatch::default();
        let mut n = 0;
        self.for_each_in_range(CF_COCKPIT, b"S", b"T", |k, v| {
            let s: SessionRow = from_json("session", v)?;
            if s.prunable(seen_before, created_before) {
                batch.delete_cf(cf, k);
                if let Some(id) = k.get(1..).and_then(|id| <[u8; 32]>::try_from(id).ok()) {
                    batch.delete_cf(cf, session_index_key(&s.key_hash, &id));
                }
                n += 1;
            }
            Ok(n < limit)
        })?;
        if n > 0 {
            self.write_synced(batch)?;
        }
        Ok(n)
    }

    fn sessions_of_key(&self, key_hash: &[u8; 32]) -> Result<Vec<([u8; 32], SessionRow)>> {
        let start = session_index_key(key_hash, &[0; 32]);
        // Above every index key of this key hash: a 65-byte key with this
        // prefix is smaller than the same prefix followed by 33 bytes 0xff.
        let mut end = [0xffu8; 66];
        end[..33].copy_from_slice(&start[..33]);
        let mut ids = Vec::new();
        self.for_each_in_range(CF_COCKPIT, &start, &end, |k, _| {
            let id = k
                .get(33..)
                .and_then(|id| <[u8; 32]>::try_from(id).ok())
                .ok_or_else(|| corrupt("a session index key"))?;
            ids.push(id);
            Ok(true)
        })?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // An index entry whose session is gone (a crash cannot leave
            // one: both are in one batch) is skipped.
            if let Some(row) = self.session(&id)?
                && row.key_hash == *key_hash
            {
                out.push((id, row));
            }
        }
        Ok(out)
    }

    fn put_share(&self, secret_hash: &[u8; 32], link: &ShareRow) -> Result<()> {
        let _w = self.cockpit_lock();
        self.put_synced(CF_COCKPIT, &cockpit_key(b'L', secret_hash), &to_json(link)?)
    }

    fn share(&self, secret_hash: &[u8; 32]) -> Result<Option<ShareRow>> {
        self.get(CF_COCKPIT, &cockpit_key(b'L', secret_hash))?
            .map(|v| from_json("share link", &v))
            .transpose()
    }

    fn shares(&self, project: &str) -> Result<Vec<([u8; 32], ShareRow)>> {
        let mut out = Vec::new();
        self.for_each_in_range(CF_COCKPIT, b"L", b"M", |k, v| {
            let link: ShareRow = from_json("share link", v)?;
            if link.project == project {
                let hash = k
                    .get(1..)
                    .and_then(|h| <[u8; 32]>::try_from(h).ok())
                    .ok_or_else(|| corrupt("share link's key"))?;
                out.push((hash, link));
            }
            Ok(true)
        })?;
        Ok(out)
    }

    fn revoke_share(&self, secret_hash: &[u8; 32], revoked_at: &str) -> Result<bool> {
        let _w = self.cockpit_lock();
        let Some(mut l) = self.share(secret_hash)? else {
            return Ok(false);
        };
        if !l.revoke(revoked_at) {
            return Ok(false);
        }
        self.put_synced(CF_COCKPIT, &cockpit_key(b'L', secret_hash), &to_json(&l)?)?;
        Ok(true)
    }

    fn delete_share(&self, secret_hash: &[u8; 32]) -> Result<()> {
        let _w = self.cockpit_lock();
        self.delete_synced(CF_COCKPIT, &cockpit_key(b'L', secret_hash))
    }

    fn swap_share_use(
        &self,
        secret_hash: &[u8; 32],
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<bool> {
        let _w = self.cockpit_lock();
        let Some(mut l) = self.share(secret_hash)? else {
            return Ok(false);
        };
        if !l.swap_use(from, to) {
            return Ok(false);
        }
        self.put_synced(CF_COCKPIT, &cockpit_key(b'L', secret_hash), &to_json(&l)?)?;
        Ok(true)
    }

    fn put_pending_sign_in(
        &self,
        id: &[u8; 32],
        row: &PendingSignInRow,
        live_since: i64,
        max: usize,
    ) -> Result<bool> {
        let _w = self.cockpit_lock();
        let cf = self.cf(CF_COCKPIT)?;
        let mut batch = WriteBatch::default();
        let mut live = 0usize;
        self.for_each_in_range(CF_COCKPIT, b"P", b"Q", |k, v| {
            let p: PendingSignInRow = from_json("pending sign-in", v)?;
            if p.created_at < live_since {
                batch.delete_cf(cf, k);
            } else {
                live += 1;
            }
            Ok(true)
        })?;
        let kept = live < max;
        if kept {
            batch.put_cf(cf, cockpit_key(b'P', id), to_json(row)?);
        }
        if !batch.is_empty() {
            self.write_synced(batch)?;
        }
        Ok(kept)
    }

    fn take_pending_sign_in(&self, id: &[u8; 32]) -> Result<Option<PendingSignInRow>> {
        let _w = self.cockpit_lock();
        let key = cockpit_key(b'P', id);
        let Some(v) = self.get(CF_COCKPIT, &key)? else {
            return Ok(None);
        };
        self.delete_synced(CF_COCKPIT, &key)?;
        from_json("pending sign-in", &v).map(Some)
    }
}

/// Length of one stored state: the tree size, then the root hash.
const WITNESS_VALUE_LEN: usize = 8 + HASH_SIZE;

/// Witness mode's state (`crate::witness`), in a RocksDB of its own: per
/// origin, the tree size and root hash of the latest checkpoint it cosigned
/// (C2SP tlog-witness keeps nothing else).
///
/// Why RocksDB rather than a file rewritten with fsync and an atomic
/// rename: the crate already links RocksDB, a synced put is one durable,
/// atomic write of one origin's state without rewriting the others (a
/// witness may follow many logs), a torn write is impossible (the
/// write-ahead log is checksummed and replayed at open), and the store's
/// directory is locked, so a second witness process on the same data
/// directory fails to start instead of racing the first. A file would need
/// the file and its directory fsync'd on every update, and a lock file of
/// its own.
///
/// Layout: one key per origin (the origin's UTF-8 bytes) in the default
/// column family → `tree size (u64 BE) || root hash (32 bytes)`; any other
/// length is a corrupt store.
///
/// Contract: [`StateStore::put`] is durable when it returns (the write is
/// fsync'd); if the process dies before, the previous state is what a
/// restart reads. The store does not serialize callers: the read, the
/// check and the write of one origin are made atomic by the caller's
/// per-origin lock ([`crate::witness::Witness`]).
pub struct WitnessStateStore {
    db: DB,
}

impl WitnessStateStore {
    /// Opens (or creates) the store in `path`.
    ///
    /// # Errors
    /// [`Error::Storage`] if RocksDB cannot open it (including when another
    /// process holds it).
    pub fn open(path: &Path) -> Result<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_max_background_jobs(1);
        opts.set_keep_log_file_num(2);
        opts.set_write_buffer_size(1 << 20);
        let db = DB::open(&opts, path).map_err(|e| {
            Error::storage(format_args!("opening RocksDB in {}", path.display()), e)
        })?;
        Ok(WitnessStateStore { db })
    }

    /// The latest cosigned state of `origin`, if the witness ever cosigned
    /// one of its checkpoints.
    ///
    /// # Errors
    /// [`Error::Storage`], or [`Error::Corrupt`] for a value of the wrong length.
    pub fn latest(&self, origin: &str) -> Result<Option<WitnessState>> {
        let Some(v) = self
            .db
            .get_pinned(origin.as_bytes())
            .map_err(|e| Error::storage("reading the witness state", e))?
        else {
            return Ok(None);
        };
        if v.len() != WITNESS_VALUE_LEN {
            return Err(Error::Corrupt(format!(
                "the witness state of {origin:?} is {} bytes, not {WITNESS_VALUE_LEN}",
                v.len()
            )));
        }
        let (size, root) = v.split_at(8);
        let size = u64::from_be_bytes(
            size.try_into()
                .map_err(|_| Error::Corrupt("the witness state has no tree size".to_owned()))?,
        );
        Ok(Some(WitnessState {
            size,
            root_hash: Hash::from_slice(root)?,
        }))
    }

    /// Records `state` as the latest cosigned state of `origin`: durable
    /// (fsync'd) when this returns.
    ///
    /// # Errors
    /// [`Error::Storage`]; then nothing was acknowledged and the caller
    /// must not cosign.
    pub fn put(&self, origin: &str, state: &WitnessState) -> Result<()> {
        let mut value = Vec::with_capacity(WITNESS_VALUE_LEN);
        value.extend_from_slice(&state.size.to_be_bytes());
        value.extend_from_slice(state.root_hash.as_bytes());
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_opt(origin.as_bytes(), value, &wo)
            .map_err(|e| Error::storage("writing the witness state", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Format 1 (no version key) is migrated on a read-write open; a later
    /// format is refused by both opens.
    #[test]
    fn format_1_is_migrated_and_a_later_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let s = RocksDb::open(&path).unwrap();
            assert_eq!(s.format_version().unwrap(), FORMAT_VERSION);
            // Format 1: no version key.
            s.db.delete_cf(s.cf(CF_META).unwrap(), META_FORMAT_VERSION)
                .unwrap();
        }
        // Read-only opens read it and write nothing.
        assert_eq!(
            RocksDb::open_read_only(&path)
                .unwrap()
                .format_version()
                .unwrap(),
            1
        );
        {
            let s = RocksDb::open(&path).unwrap();
            assert_eq!(s.format_version().unwrap(), FORMAT_VERSION);
            s.put_synced(
                CF_META,
                META_FORMAT_VERSION,
                &(FORMAT_VERSION + 1).to_be_bytes(),
            )
            .unwrap();
        }
        for opened in [RocksDb::open(&path), RocksDb::open_read_only(&path)] {
            let err = opened.err().unwrap().to_string();
            assert!(err.contains("written by a later release"), "{err}");
        }
    }

    /// A data directory written by a version without the `cockpit` column
    /// family opens, with no sessions or share links.
    #[test]
    fn a_data_directory_without_the_cockpit_column_family_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let mut opts = Options::default();
            opts.create_if_missing(true);
            opts.create_missing_column_families(true);
            let older = ALL_CFS.iter().filter(|cf| **cf != CF_COCKPIT);
            let db = DB::open_cf(&opts, &path, older).unwrap();
            db.put_cf(db.cf_handle(CF_API_KEYS).unwrap(), [1; 32], b"{}")
                .unwrap();
        }
        let store = RocksDb::open(&path).unwrap();
        assert_eq!(store.session(&[1; 32]).unwrap(), None);
        assert_eq!(store.shares("prj_a").unwrap(), []);
        store
            .put_session(
                &[1; 32],
                &SessionRow {
                    key_hash: [2; 32],
                    csrf: "c".into(),
                    created_at: 1,
                    last_seen: 1,
                },
            )
            .unwrap();
        assert!(store.session(&[1; 32]).unwrap().is_some());
    }

    /// Appends `n` entries in batches of `batch`, as the sequencer does.
    fn fill(store: &RocksDb, frontier: &mut tlog::Frontier, n: u64, batch: u64) {
        let mut next = frontier.size();
        while next < n {
            let end = (next + batch).min(n);
            let data: Vec<Vec<u8>> = (next..end).map(|i| i.to_be_bytes().to_vec()).collect();
            let mut hashes = Vec::new();
            let entries: Vec<super::super::NewEntry<'_>> = data
                .iter()
                .zip(next..)
                .map(|(d, index)| {
                    let leaf_hash = tlog::leaf_hash(d);
                    frontier.append(leaf_hash, |id, h| hashes.push((id, h)));
                    super::super::NewEntry {
                        index,
                        data: d,
                        leaf_hash,
                        record: None,
                    }
                })
                .collect();
            store
                .commit_batch(&Batch {
                    entries: &entries,
                    hashes: &hashes,
                    new_size: end,
                })
                .unwrap();
            next = end;
        }
    }

    fn all_ids(size: u64) -> Vec<NodeId> {
        (0..64u8)
            .flat_map(|level| (0..size >> level).map(move |i| NodeId::new(level, i)))
            .collect()
    }

    #[test]
    fn upper_levels_in_memory_match_rocksdb_before_and_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut frontier = tlog::Frontier::default();
        let store = RocksDb::open(&path).unwrap();
        fill(&store, &mut frontier, 70_000, 977);
        let ids = all_ids(70_000);
        let from_memory = store.read_hashes(&ids).unwrap();
        assert!(store.upper.levels.read().unwrap()[0].len() == 70_000 >> 8);
        let cf = store.cf(CF_HASHES).unwrap();
        for (id, h) in ids.iter().zip(&from_memory) {
            let raw = store.db.get_cf(cf, hash_key(*id)).unwrap().unwrap();
            assert_eq!(raw, h.0, "{id:?}");
        }
        let tile = store.hash_range(8, 0, 256).unwrap();
        assert_eq!(tile.len(), 256 * 32);
        assert!(store.hash_range(8, 100, 256).is_err(), "beyond level 8");
        drop(store);

        let store = RocksDb::open(&path).unwrap();
        assert_eq!(store.read_hashes(&ids).unwrap(), from_memory);
        assert_eq!(store.hash_range(8, 0, 256).unwrap(), tile);
        // Batches after the reopen extend the loaded levels.
        fill(&store, &mut frontier, 140_003, 1000);
        let ids = all_ids(140_003);
        let cached = store.read_hashes(&ids).unwrap();
        drop(store);
        let store = RocksDb::open(&path).unwrap();
        assert_eq!(store.read_hashes(&ids).unwrap(), cached);
        assert_eq!(tlog::tree_hash(140_003, &store).unwrap(), frontier.root());
        assert_rows_match_nodes(&store, 140_003);
    }

    /// Every full level-0 tile has a row, and it holds exactly the per-node
    /// hashes; the growing tile has none.
    fn assert_rows_match_nodes(store: &RocksDb, size: u64) {
        let cf = store.cf(CF_HASHES).unwrap();
        for tile in 0..size / 256 {
            let row = store.tile_row(tile).unwrap().expect("full tile has a row");
            for level in 0..8u8 {
                let first = tile << (8 - level);
                for i in 0..(256u64 >> level) {
                    let at = (row_offset(level) + i as usize) * 32;
                    let raw = store.db.get_cf(cf, hash_key(NodeId::new(level, first + i)));
                    assert_eq!(&row[at..at + 32], &raw.unwrap().unwrap()[..]);
                }
            }
            let served = store.hash_range(0, tile * 256, 256).unwrap();
            assert_eq!(served, row[..256 * 32]);
            let part = store.hash_range(3, (tile << 5) + 7, 9).unwrap();
            assert_eq!(
                part,
                row[(row_offset(3) + 7) * 32..(row_offset(3) + 16) * 32]
            );
        }
        assert!(store.tile_row(size / 256).unwrap().is_none());
        // The growing tile, from memory, matches its per-node rows.
        let (first, width) = (size / 256 * 256, size % 256);
        let served = store.hash_range(0, first, width).unwrap();
        let raw: Vec<u8> = (first..size)
            .flat_map(|i| {
                store
                    .db
                    .get_cf(cf, hash_key(NodeId::new(0, i)))
                    .unwrap()
                    .unwrap()
            })
            .collect();
        assert_eq!(served, raw);
    }

    #[test]
    fn the_growing_tile_survives_reopening_at_every_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut frontier = tlog::Frontier::default();
        // Reopen after batches that end at many different places in a tile.
        for (end, batch) in [
            (1, 1),
            (255, 7),
            (256, 1),
            (300, 44),
            (511, 100),
            (513, 2),
            (1300, 3),
        ] {
            let store = RocksDb::open(&path).unwrap();
            fill(&store, &mut frontier, end, batch);
            drop(store);
        }
        let store = RocksDb::open(&path).unwrap();
        assert_rows_match_nodes(&store, 1300);
        let ids = all_ids(1300);
        let proofs_root = tlog::tree_hash(1300, &store).unwrap();
        assert_eq!(proofs_root, frontier.root());
        assert_eq!(store.read_hashes(&ids).unwrap().len(), ids.len());
    }

    #[test]
    fn kept_documents_and_alert_settings_are_enumerated() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksDb::open(&dir.path().join("db")).unwrap();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        store.put_spec("prj_b", &a, b"doc b/a").unwrap();
        store.put_spec("prj_a", &b, b"doc a/b").unwrap();
        store.put_spec("prj_a", &a, b"doc a/a").unwrap();
        store.put_alerts("prj_a", b"{\"webhooks\":[]}").unwrap();
        store.put_alerts("prj_c", b"{}").unwrap();
        // Rows of the neighbouring tags are not mistaken for either.
        store
            .put_project(&ProjectRow {
                id: "prj_a".into(),
                name: "a".into(),
                created_at: String::new(),
                settings: compliance::ledger::ProjectSettings::default(),
            })
            .unwrap();
        let mut docs = Vec::new();
        store
            .for_each_spec(|project, sha256, bytes| {
                docs.push((project.to_owned(), sha256.to_owned(), bytes.to_vec()));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            docs,
            [
                ("prj_a".into(), a.clone(), b"doc a/a".to_vec()),
                ("prj_a".into(), b.clone(), b"doc a/b".to_vec()),
                ("prj_b".into(), a.clone(), b"doc b/a".to_vec()),
            ]
        );
        assert_eq!(
            store.all_alerts().unwrap(),
            [
                ("prj_a".into(), b"{\"webhooks\":[]}".to_vec()),
                ("prj_c".into(), b"{}".to_vec()),
            ]
        );
        // `f`'s error stops the walk and is returned.
        let mut seen = 0;
        let err = store.for_each_spec(|_, _, _| {
            seen += 1;
            Err(Error::Stopped)
        });
        assert!(matches!(err, Err(Error::Stopped)));
        assert_eq!(seen, 1);
    }

    #[test]
    fn a_growing_tile_with_a_gap_gets_no_row() {
        let mut tile = GrowingTile::new(0);
        let h = Hash::default();
        assert!(tile.push(NodeId::new(0, 0), h).is_none());
        // Index 2 before 1: not contiguous, not kept.
        assert!(tile.push(NodeId::new(0, 2), h).is_none());
        assert_eq!(tile.levels[0].len(), 1);
        // A hash of a later tile starts that tile.
        assert!(tile.push(NodeId::new(0, 256), h).is_none());
        assert_eq!((tile.index, tile.levels[0].len()), (1, 1));
        // Levels 8 and up are not part of a row.
        assert!(tile.push(NodeId::new(8, 1), h).is_none());
    }
}
