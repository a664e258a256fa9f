//! Witness mode's state (`crate::witness`): per origin, the tree size and root hash of the
//! latest checkpoint it cosigned (C2SP tlog-witness keeps nothing else).
//!
//! Why RocksDB rather than a file rewritten with fsync and an atomic
//! rename: the crate already links RocksDB, a synced put is one durable,
//! atomic write of one origin's state without rewriting the others (a
//! witness may follow many logs), a torn write is impossible (the
//! write-ahead log is checksummed and replayed at open), and the store's
//! directory is locked, so a second witness process on the same data
//! directory fails to start instead of racing the first. A file would need
//! the file and its directory fsync'd on every update, and a lock file of
//! its own.
//!
//! Layout: one key per origin (the origin's UTF-8 bytes) in the default
//! column family → `tree size (u64 BE) || root hash (32 bytes)`; any other
//! length is a corrupt store.
//!
//! Contract: [`StateStore::put`] is durable when it returns (the write is
//! fsync'd); if the process dies before, the previous state is what a
//! restart reads. The store does not serialize callers: the read, the
//! check and the write of one origin are made atomic by the caller's
//! per-origin lock ([`crate::witness::Witness`]).

use std::path::Path;

use rocksdb::{DB, Options, WriteOptions};
use tlog::{HASH_SIZE, Hash, WitnessState};

use crate::{Error, Result};

/// Name of the witness's RocksDB directory inside its data directory
/// (apart from the log's `db`, so the two can share a data directory).
pub const STATE_DIR: &str = "witness-db";

/// Length of one stored state: the tree size, then the root hash.
const VALUE_LEN: usize = 8 + HASH_SIZE;

/// The durable per-origin state of the witness.
pub struct StateStore {
    db: DB,
}

impl StateStore {
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
        Ok(StateStore { db })
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
        if v.len() != VALUE_LEN {
            return Err(Error::Corrupt(format!(
                "the witness state of {origin:?} is {} bytes, not {VALUE_LEN}",
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
        let mut value = Vec::with_capacity(VALUE_LEN);
        value.extend_from_slice(&state.size.to_be_bytes());
        value.extend_from_slice(state.root_hash.as_bytes());
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_opt(origin.as_bytes(), value, &wo)
            .map_err(|e| Error::storage("writing the witness state", e))
    }
}
