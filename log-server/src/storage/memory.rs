//! An in-memory backend for tests: every trait of [`super`], with the same
//! contracts, plus faults on purpose and an invariant check.
//!
//! [`Memory::fail_commits`] makes [`LogStore::commit`] fail, either without
//! persisting the batch or after persisting it (as a failed fsync whose
//! data reached the disk anyway), so that tests can show the log stops and
//! acknowledges nothing it did not commit. [`Memory::check`] re-verifies
//! the whole tree from its entries after any step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::{Mutex, PoisonError, RwLock};

use compliance::ledger::ProjectRow;
use compliance::principal::{KeyRecord, Profile};
use tlog::{Hash, HashReader, NodeId};

use super::{
    Batch, KeyStore, LogStore, PendingSignInRow, RecordRef, RecordStore, SessionRow, SessionStore,
    ShareRow, StoredRecord,
};
use crate::{Error, Result};

/// What [`LogStore::commit`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// Commit.
    #[default]
    Ok,
    /// Fail; `persist` says whether the batch was persisted anyway.
    Fail {
        /// Whether the failed batch is nonetheless durable.
        persist: bool,
    },
}

#[derive(Default)]
struct Inner {
    entries: Vec<Vec<u8>>,
    hashes: HashMap<NodeId, Hash>,
    leaf_index: BTreeSet<(Hash, u64)>,
    checkpoints: BTreeMap<u64, Vec<u8>>,
    witnessed: Option<(u64, Vec<u8>)>,
    witness_sizes: BTreeMap<String, u64>,
    records: BTreeMap<(String, u64), StoredRecord>,
    times: BTreeSet<(String, i64, u64)>,
    ids: HashMap<(String, String), u64>,
    exceptions: BTreeSet<(String, String, u64)>,
    last: HashMap<String, (u64, i64)>,
    projects: BTreeMap<String, ProjectRow>,
    profiles: HashMap<(String, String), Profile>,
    specs: HashMap<(String, String), Vec<u8>>,
    alerts: HashMap<String, Vec<u8>>,
    keys: BTreeMap<[u8; 32], KeyRecord>,
    sessions: HashMap<[u8; 32], SessionRow>,
    shares: HashMap<[u8; 32], ShareRow>,
    pending_sign_ins: HashMap<[u8; 32], PendingSignInRow>,
}

/// The in-memory backend.
#[derive(Default)]
pub struct Memory {
    inner: RwLock<Inner>,
    mode: Mutex<CommitMode>,
    commits: Mutex<u64>,
    gate: Mutex<()>,
}

/// Holds every commit until dropped (see [`Memory::pause_commits`]).
pub struct PausedCommits<'a> {
    _gate: std::sync::MutexGuard<'a, ()>,
}

impl Memory {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Memory::default()
    }

    /// Sets what later commits do.
    pub fn fail_commits(&self, mode: CommitMode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Makes commits wait until the returned guard is dropped, as a slow
    /// disk would: the sequencer stalls and the queue fills up.
    pub fn pause_commits(&self) -> PausedCommits<'_> {
        PausedCommits {
            _gate: self.gate.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// How many commits were attempted.
    pub fn commits(&self) -> u64 {
        *self.commits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the invariants of a log store: every stored hash of the tree
    /// is present and equals the hash recomputed from the entries, nothing
    /// is stored beyond the tree, every entry is in the leaf-hash index,
    /// every record's envelope is an entry, and every stored checkpoint's
    /// size is within the tree.
    ///
    /// # Errors
    /// The first broken invariant, in words.
    pub fn check(&self) -> std::result::Result<(), String> {
        let inner = self.read();
        let mut expected = tlog::MemoryHashStore::default();
        for (i, e) in inner.entries.iter().enumerate() {
            let leaf = tlog::leaf_hash(e);
            expected.append(leaf);
            if !inner.leaf_index.contains(&(leaf, i as u64)) {
                return Err(format!("entry {i} is not in the leaf-hash index"));
            }
        }
        let size = inner.entries.len() as u64;
        let count = tlog::stored_hash_count(size);
        if inner.hashes.len() as u64 != count {
            return Err(format!(
                "{} stored hashes for a tree of size {size}, want {count}",
                inner.hashes.len()
            ));
        }
        for (id, h) in &inner.hashes {
            match expected.read_hashes(&[*id]) {
                Ok(want) if want.first() == Some(h) => {}
                _ => return Err(format!("stored hash {id:?} is wrong")),
            }
        }
        if inner.leaf_index.len() as u64 != size {
            return Err("the leaf-hash index names entries beyond the tree".into());
        }
        let envelopes: BTreeSet<&[u8]> = inner.entries.iter().map(Vec::as_slice).collect();
        for ((project, seq), r) in &inner.records {
            if !envelopes.contains(r.envelope.as_slice()) {
                return Err(format!("record {seq} of {project} has no entry"));
            }
        }
        if let Some((&cp, _)) = inner.checkpoints.last_key_value()
            && cp > size
        {
            return Err(format!(
                "a checkpoint of size {cp} is beyond the tree ({size})"
            ));
        }
        Ok(())
    }
}

impl HashReader for Memory {
    fn read_hashes(&self, ids: &[NodeId]) -> std::result::Result<Vec<Hash>, tlog::Error> {
        let inner = self.read();
        ids.iter()
            .map(|id| {
                inner
                    .hashes
                    .get(id)
                    .copied()
                    .ok_or(tlog::Error::HashUnavailable {
                        level: id.level,
                        index: id.index,
                    })
            })
            .collect()
    }
}

impl LogStore for Memory {
    fn tree_size(&self) -> Result<u64> {
        Ok(self.read().entries.len() as u64)
    }

    fn commit(&self, batch: &Batch<'_>) -> Result<()> {
        drop(self.gate.lock().unwrap_or_else(PoisonError::into_inner));
        *self.commits.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        let mode = *self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        let persist = match mode {
            CommitMode::Ok | CommitMode::Fail { persist: true } => true,
            CommitMode::Fail { persist: false } => false,
        };
        if persist {
            let mut inner = self.write();
            if batch.entries.first().map(|e| e.index) != Some(inner.entries.len() as u64)
                && !batch.entries.is_empty()
            {
                return Err(Error::Corrupt("a batch does not continue the tree".into()));
            }
            for e in batch.entries {
                inner.entries.push(e.data.to_vec());
                inner.leaf_index.insert((e.leaf_hash, e.index));
                if let Some(r) = e.record {
                    let p = r.project.clone();
                    inner.records.insert(
                        (p.clone(), r.seq),
                        StoredRecord {
                            kind: r.kind,
                            envelope: e.data.to_vec(),
                            record: r.record.clone(),
                        },
                    );
                    inner.times.insert((p.clone(), r.time_ms.max(0), r.seq));
                    inner.ids.insert((p.clone(), r.id.clone()), r.seq);
                    if let Some(x) = &r.exception {
                        inner.exceptions.insert((p.clone(), x.clone(), r.seq));
                    }
                    inner.last.insert(p, (r.seq, r.time_ms));
                    if let Some(row) = &r.project_row {
                        inner.projects.insert(row.id.clone(), (**row).clone());
                    }
                }
            }
            for (id, h) in batch.hashes {
                inner.hashes.insert(*id, *h);
            }
        }
        match mode {
            CommitMode::Ok => Ok(()),
            CommitMode::Fail { persist } => Err(Error::storage(
                "injected commit failure",
                format_args!("persisted: {persist}"),
            )),
        }
    }

    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        Ok(usize::try_from(index)
            .ok()
            .and_then(|i| self.read().entries.get(i).cloned()))
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let inner = self.read();
        let range = usize::try_from(start).ok().zip(usize::try_from(end).ok());
        range
            .and_then(|(a, b)| inner.entries.get(a..b))
            .map(<[Vec<u8>]>::to_vec)
            .ok_or_else(|| Error::Corrupt(format!("entries {start}..{end} are missing")))
    }

    fn index_of(&self, leaf_hash: &Hash, below: u64) -> Result<Option<u64>> {
        let inner = self.read();
        Ok(inner
            .leaf_index
            .range((*leaf_hash, 0)..(*leaf_hash, below))
            .next()
            .map(|(_, i)| *i))
    }

    fn hash_range(&self, level: u8, start: u64, width: u64) -> Result<Vec<u8>> {
        let ids: Vec<NodeId> = (start..start + width)
            .map(|i| NodeId::new(level, i))
            .collect();
        let hashes = self
            .read_hashes(&ids)
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(hashes.iter().flat_map(|h| h.0).collect())
    }

    fn put_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<()> {
        self.write().checkpoints.insert(tree_size, note.to_vec());
        Ok(())
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self
            .read()
            .checkpoints
            .last_key_value()
            .map(|(k, v)| (*k, v.clone())))
    }

    fn witnessed_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self.read().witnessed.clone())
    }

    fn put_witnessed_checkpoint(&self, tree_size: u64, note: &[u8]) -> Result<()> {
        let mut inner = self.write();
        if inner
            .witnessed
            .as_ref()
            .is_none_or(|(s, _)| *s <= tree_size)
        {
            inner.witnessed = Some((tree_size, note.to_vec()));
        }
        Ok(())
    }

    fn witness_sizes(&self) -> Result<Vec<(String, u64)>> {
        Ok(self
            .read()
            .witness_sizes
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect())
    }

    fn put_witness_size(&self, witness: &str, size: u64) -> Result<()> {
        self.write().witness_sizes.insert(witness.to_owned(), size);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

impl RecordStore for Memory {
    fn project(&self, id: &str) -> Result<Option<ProjectRow>> {
        Ok(self.read().projects.get(id).cloned())
    }

    fn projects(&self) -> Result<Vec<ProjectRow>> {
        Ok(self.read().projects.values().cloned().collect())
    }

    fn put_project(&self, row: &ProjectRow) -> Result<()> {
        self.write().projects.insert(row.id.clone(), row.clone());
        Ok(())
    }

    fn profile(&self, project: &str, principal: &str) -> Result<Option<Profile>> {
        Ok(self
            .read()
            .profiles
            .get(&(project.to_owned(), principal.to_owned()))
            .cloned())
    }

    fn profiles(&self, project: &str) -> Result<Vec<(String, Profile)>> {
        Ok(self
            .read()
            .profiles
            .iter()
            .filter(|((p, _), _)| p == project)
            .map(|((_, id), profile)| (id.clone(), profile.clone()))
            .collect())
    }

    fn put_profile(&self, project: &str, principal: &str, profile: &Profile) -> Result<()> {
        self.write()
            .profiles
            .insert((project.to_owned(), principal.to_owned()), profile.clone());
        Ok(())
    }

    fn put_spec(&self, project: &str, sha256: &str, bytes: &[u8]) -> Result<()> {
        self.write()
            .specs
            .insert((project.to_owned(), sha256.to_owned()), bytes.to_vec());
        Ok(())
    }

    fn spec(&self, project: &str, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .read()
            .specs
            .get(&(project.to_owned(), sha256.to_owned()))
            .cloned())
    }

    fn put_alerts(&self, project: &str, alerts: &[u8]) -> Result<()> {
        self.write()
            .alerts
            .insert(project.to_owned(), alerts.to_vec());
        Ok(())
    }

    fn alerts(&self, project: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.read().alerts.get(project).cloned())
    }

    fn last_record(&self, project: &str) -> Result<Option<(u64, i64)>> {
        Ok(self.read().last.get(project).copied())
    }

    fn record(&self, project: &str, seq: u64) -> Result<Option<StoredRecord>> {
        Ok(self.read().records.get(&(project.to_owned(), seq)).cloned())
    }

    fn seq_of(&self, project: &str, id: &str) -> Result<Option<u64>> {
        Ok(self
            .read()
            .ids
            .get(&(project.to_owned(), id.to_owned()))
            .copied())
    }

    fn exception_seqs(&self, project: &str, exception: &str) -> Result<Vec<u64>> {
        let (p, x) = (project.to_owned(), exception.to_owned());
        Ok(self
            .read()
            .exceptions
            .range((p.clone(), x.clone(), 0)..=(p, x, u64::MAX))
            .map(|(_, _, s)| *s)
            .collect())
    }

    fn ledger_seqs(&self, project: &str) -> Result<Vec<u64>> {
        Ok(self
            .read()
            .exceptions
            .iter()
            .filter(|(p, _, _)| p == project)
            .map(|(_, _, s)| *s)
            .collect())
    }

    fn first_seq_at(&self, project: &str, time_ms: i64) -> Result<Option<u64>> {
        let p = project.to_owned();
        Ok(self
            .read()
            .times
            .range((p.clone(), time_ms.max(0), 0)..=(p, i64::MAX, u64::MAX))
            .next()
            .map(|(_, _, s)| *s))
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
        let p = project.to_owned();
        let records: Vec<StoredRecord> = self
            .read()
            .records
            .range((p.clone(), seqs.start)..(p, seqs.end))
            .map(|(_, r)| r.clone())
            .collect();
        for r in &records {
            if !f(r.as_ref())? {
                break;
            }
        }
        Ok(())
    }
}

impl KeyStore for Memory {
    fn put_key(&self, secret_hash: &[u8; 32], record: &KeyRecord) -> Result<()> {
        self.write().keys.insert(*secret_hash, record.clone());
        Ok(())
    }

    fn key(&self, secret_hash: &[u8; 32]) -> Result<Option<KeyRecord>> {
        Ok(self.read().keys.get(secret_hash).cloned())
    }

    fn keys(&self) -> Result<Vec<([u8; 32], KeyRecord)>> {
        Ok(self
            .read()
            .keys
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }
}

/// Every write holds the store's write lock, so the conditional writes are
/// atomic.
impl SessionStore for Memory {
    fn put_session(&self, id: &[u8; 32], session: &SessionRow) -> Result<()> {
        self.write().sessions.insert(*id, session.clone());
        Ok(())
    }

    fn session(&self, id: &[u8; 32]) -> Result<Option<SessionRow>> {
        Ok(self.read().sessions.get(id).cloned())
    }

    fn touch_session(&self, id: &[u8; 32], last_seen: i64) -> Result<()> {
        if let Some(s) = self.write().sessions.get_mut(id) {
            s.touch(last_seen);
        }
        Ok(())
    }

    fn delete_session(&self, id: &[u8; 32]) -> Result<()> {
        self.write().sessions.remove(id);
        Ok(())
    }

    fn prune_sessions(&self, seen_before: i64, created_before: i64, limit: usize) -> Result<usize> {
        let mut inner = self.write();
        let expired: Vec<[u8; 32]> = inner
            .sessions
            .iter()
            .filter(|(_, s)| s.prunable(seen_before, created_before))
            .map(|(k, _)| *k)
            .take(limit)
            .collect();
        for k in &expired {
            inner.sessions.remove(k);
        }
        Ok(expired.len())
    }

    fn sessions_of_key(&self, key_hash: &[u8; 32]) -> Result<Vec<([u8; 32], SessionRow)>> {
        Ok(self
            .read()
            .sessions
            .iter()
            .filter(|(_, s)| s.key_hash == *key_hash)
            .map(|(id, s)| (*id, s.clone()))
            .collect())
    }

    fn put_share(&self, secret_hash: &[u8; 32], link: &ShareRow) -> Result<()> {
        self.write().shares.insert(*secret_hash, link.clone());
        Ok(())
    }

    fn share(&self, secret_hash: &[u8; 32]) -> Result<Option<ShareRow>> {
        Ok(self.read().shares.get(secret_hash).cloned())
    }

    fn shares(&self, project: &str) -> Result<Vec<([u8; 32], ShareRow)>> {
        Ok(self
            .read()
            .shares
            .iter()
            .filter(|(_, l)| l.project == project)
            .map(|(k, l)| (*k, l.clone()))
            .collect())
    }

    fn revoke_share(&self, secret_hash: &[u8; 32], revoked_at: &str) -> Result<bool> {
        Ok(self
            .write()
            .shares
            .get_mut(secret_hash)
            .is_some_and(|l| l.revoke(revoked_at)))
    }

    fn delete_share(&self, secret_hash: &[u8; 32]) -> Result<()> {
        self.write().shares.remove(secret_hash);
        Ok(())
    }

    fn swap_share_use(
        &self,
        secret_hash: &[u8; 32],
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<bool> {
        Ok(self
            .write()
            .shares
            .get_mut(secret_hash)
            .is_some_and(|l| l.swap_use(from, to)))
    }

    fn put_pending_sign_in(
        &self,
        id: &[u8; 32],
        row: &PendingSignInRow,
        live_since: i64,
        max: usize,
    ) -> Result<bool> {
        let mut inner = self.write();
        inner
            .pending_sign_ins
            .retain(|_, p| p.created_at >= live_since);
        if inner.pending_sign_ins.len() >= max {
            return Ok(false);
        }
        inner.pending_sign_ins.insert(*id, row.clone());
        Ok(true)
    }

    fn take_pending_sign_in(&self, id: &[u8; 32]) -> Result<Option<PendingSignInRow>> {
        Ok(self.write().pending_sign_ins.remove(id))
    }
}
