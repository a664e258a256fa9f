//! The log's RocksDB store.
//!
//! Column families:
//! - `entries`: `index (u64 BE)` → entry bytes
//! - `hashes`: `level (u8) || index (u64 BE)` → 32-byte stored hash, so the
//!   hashes of one tree level are contiguous and a tile is one range read
//! - `leaf_index`: `leaf hash || index (u64 BE)` → empty; duplicates are allowed
//!   and a prefix scan finds the lowest index of a leaf hash
//! - `checkpoints`: `tree size (u64 BE)` → signed checkpoint note, every one ever signed
//! - `meta`: `tree_size` (u64 BE) and other small values
//! - `api_keys`: `SHA-256(api key)` → JSON key record
//! - `records`: private compliance records (see the `gate` and `ledger` modules)
//!
//! The commit point of an append is [`Store::commit_batch`]: one atomic,
//! fsync'd write batch holding the entries, their leaf-hash index entries, the
//! new stored hashes and the new tree size. If the process dies before it
//! returns, none of the batch is visible after restart; after it returns, all
//! of it is.

use std::path::Path;

use anyhow::{Context as _, Result};
use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};
use tlog::{Hash, HashReader, NodeId};

const CF_ENTRIES: &str = "entries";
const CF_HASHES: &str = "hashes";
const CF_LEAF_INDEX: &str = "leaf_index";
const CF_CHECKPOINTS: &str = "checkpoints";
const CF_META: &str = "meta";
const CF_API_KEYS: &str = "api_keys";
/// Column family of private compliance records.
pub const CF_RECORDS: &str = "records";

const META_TREE_SIZE: &[u8] = b"tree_size";

/// One appended entry, ready to be committed.
pub struct NewEntry<'a> {
    /// Its index in the log.
    pub index: u64,
    /// The entry bytes.
    pub data: &'a [u8],
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// Rows of the `records` column family committed with it.
    pub private: &'a [(Vec<u8>, Vec<u8>)],
}

/// The RocksDB store of one log.
pub struct Store {
    db: DB,
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

impl Store {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(4);
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        table.set_block_cache(&rocksdb::Cache::new_lru_cache(64 << 20));
        let cf = |name: &str, write_buffer: usize| {
            let mut o = Options::default();
            o.set_block_based_table_factory(&table);
            o.set_write_buffer_size(write_buffer);
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(name, o)
        };
        let cfs = vec![
            cf(CF_ENTRIES, 32 << 20),
            cf(CF_HASHES, 32 << 20),
            cf(CF_LEAF_INDEX, 32 << 20),
            cf(CF_CHECKPOINTS, 4 << 20),
            cf(CF_META, 1 << 20),
            cf(CF_API_KEYS, 1 << 20),
            cf(CF_RECORDS, 16 << 20),
        ];
        let db = DB::open_cf_descriptors(&opts, path, cfs)
            .with_context(|| format!("opening RocksDB in {}", path.display()))?;
        Ok(Store { db })
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(name)
            .with_context(|| format!("column family {name} is missing"))
    }

    /// The number of entries durably in the tree.
    pub fn tree_size(&self) -> Result<u64> {
        let v = self.db.get_cf(self.cf(CF_META)?, META_TREE_SIZE)?;
        match v {
            None => Ok(0),
            Some(b) => u64_from(&b).context("corrupt tree_size in meta"),
        }
    }

    /// The commit point of a batch of appends: entries, leaf-hash index,
    /// stored hashes and the new tree size, in one fsync'd atomic write.
    pub fn commit_batch(
        &self,
        entries: &[NewEntry<'_>],
        hashes: &[(NodeId, Hash)],
        new_size: u64,
    ) -> Result<()> {
        let (cf_e, cf_h, cf_l, cf_m, cf_r) = (
            self.cf(CF_ENTRIES)?,
            self.cf(CF_HASHES)?,
            self.cf(CF_LEAF_INDEX)?,
            self.cf(CF_META)?,
            self.cf(CF_RECORDS)?,
        );
        let mut batch = WriteBatch::default();
        for e in entries {
            batch.put_cf(cf_e, e.index.to_be_bytes(), e.data);
            for (k, v) in e.private {
                batch.put_cf(cf_r, k, v);
            }
            let mut k = [0u8; 40];
            k[..32].copy_from_slice(&e.leaf_hash.0);
            k[32..].copy_from_slice(&e.index.to_be_bytes());
            batch.put_cf(cf_l, k, []);
        }
        for (id, h) in hashes {
            batch.put_cf(cf_h, hash_key(*id), h.0);
        }
        batch.put_cf(cf_m, META_TREE_SIZE, new_size.to_be_bytes());
        self.write_synced(batch)
    }

    /// Writes a batch with fsync.
    pub fn write_synced(&self, batch: WriteBatch) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).context("RocksDB write")
    }

    /// The entry at `index`, if the tree has it.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_ENTRIES)?, index.to_be_bytes())?)
    }

    /// Entries `start..end` (which must all exist).
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
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
            anyhow::ensure!(u64_from(&k) == Some(want), "entry {want} is missing");
            out.push(v.into_vec());
        }
        anyhow::ensure!(out.len() as u64 == end - start, "entries are missing");
        Ok(out)
    }

    /// The lowest index below `below` whose leaf hash is `leaf_hash`.
    pub fn index_of(&self, leaf_hash: &Hash, below: u64) -> Result<Option<u64>> {
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
        let idx = u64_from(&k[32..]).context("corrupt leaf index key")?;
        Ok((idx < below).then_some(idx))
    }

    /// `width` consecutive stored hashes of `level`, from `start`, concatenated.
    pub fn hash_range(&self, level: u8, start: u64, width: u64) -> Result<Vec<u8>> {
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
            anyhow::ensure!(v.len() == 32, "corrupt stored hash");
            out.extend_from_slice(&v);
        }
        anyhow::ensure!(
            out.len() as u64 == width * 32,
            "stored hashes missing at level {level} from {start}"
        );
        Ok(out)
    }

    /// Stores a signed checkpoint (fsync'd) before it is served.
    pub fn put_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_CHECKPOINTS)?, tree_size.to_be_bytes(), note);
        self.write_synced(batch)
    }

    /// The latest signed checkpoint: its tree size and note.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let mut it = self
            .db
            .iterator_cf(self.cf(CF_CHECKPOINTS)?, IteratorMode::End);
        match it.next() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item?;
                let size = u64_from(&k).context("corrupt checkpoint key")?;
                Ok(Some((size, v.into_vec())))
            }
        }
    }

    /// Every signed checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_CHECKPOINTS)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            out.push((
                u64_from(&k).context("corrupt checkpoint key")?,
                v.into_vec(),
            ));
        }
        Ok(out)
    }

    /// Reads a value from a column family.
    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    /// Writes one value with fsync.
    pub fn put_synced(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf)?, key, value);
        self.write_synced(batch)
    }

    /// All key/value pairs of a column family whose key starts with `prefix`.
    pub fn scan_prefix(&self, cf: &str, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
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
    pub fn for_each_in_range(
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

    /// A write batch builder for a column family (for callers that combine writes).
    pub fn batch_put(
        &self,
        batch: &mut WriteBatch,
        cf: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<()> {
        batch.put_cf(self.cf(cf)?, key, value);
        Ok(())
    }

    /// API key records live in their own column family.
    pub fn api_keys_cf() -> &'static str {
        CF_API_KEYS
    }

    /// Flushes memtables (on shutdown, so the next start replays little WAL).
    pub fn flush(&self) -> Result<()> {
        for name in [
            CF_ENTRIES,
            CF_HASHES,
            CF_LEAF_INDEX,
            CF_CHECKPOINTS,
            CF_META,
        ] {
            self.db.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }

    /// Approximate bytes on disk of the live data.
    pub fn disk_usage(&self) -> u64 {
        self.db
            .property_int_value(rocksdb::properties::TOTAL_SST_FILES_SIZE)
            .ok()
            .flatten()
            .unwrap_or(0)
    }
}

impl HashReader for Store {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, tlog::Error> {
        let cf = self.cf(CF_HASHES).map_err(|e| tlog::Error::Storage {
            reason: e.to_string(),
        })?;
        let keys: Vec<_> = ids.iter().map(|id| (cf, hash_key(*id))).collect();
        let values = self.db.multi_get_cf(keys);
        ids.iter()
            .zip(values)
            .map(|(id, v)| match v {
                Ok(Some(b)) => Hash::from_slice(&b),
                Ok(None) => Err(tlog::Error::HashUnavailable {
                    level: id.level,
                    index: id.index,
                }),
                Err(e) => Err(tlog::Error::Storage {
                    reason: e.to_string(),
                }),
            })
            .collect()
    }
}
