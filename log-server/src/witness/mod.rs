//! Witness mode: `stateanchor-log witness serve` cosigns other logs'
//! checkpoints per C2SP tlog-witness (<https://c2sp.org/tlog-witness>).
//!
//! [`Witness::add_checkpoint`] is the whole protocol: it parses the
//! request, runs the spec's checks in order ([`tlog::check_add_checkpoint`],
//! pure), records the new state durably, and only then cosigns
//! ([`tlog::CosignerKey::cosign`], `cosignature/v1`). The HTTP layer
//! (`http::witness`) maps its outcome to statuses and bodies.
//!
//! Atomicity: for one origin, the read of the latest state, the check
//! and the write are done under that origin's lock, so two racing requests
//! can never roll the stored size back (tlog-witness, the race of requests
//! A and B). Different origins do not wait for each other.
//!
//! If the process dies before the state is written, nothing was cosigned;
//! if it dies after, the cosignature may be lost but the state is kept,
//! and the client learns the size from the 409 of its next request.

mod config;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tlog::{
    AddCheckpointError, AddCheckpointRequest, CosignerKey, CosignerVerifier, NoteSignature,
    PolicyLog, VerifierKey, WitnessState, check_add_checkpoint,
};

pub use crate::storage::rocksdb::WitnessStateStore;
pub use config::parse_log_list;

/// Name of the witness's RocksDB directory inside its data directory
/// (apart from the log's `db`, so the two can share a data directory).
pub const STATE_DIR: &str = "witness-db";

/// Largest `add-checkpoint` body: 63 proof lines and a checkpoint with many
/// signatures take a few KiB.
pub const MAX_BODY: usize = 64 << 10;

/// A log this witness cosigns for: its keys (more than one while a key
/// rotates) and the lock that serializes its check-and-persist.
struct Followed {
    keys: Vec<VerifierKey>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// The witness: its cosigner key, the logs it follows, and their state.
pub struct Witness {
    key: CosignerKey,
    logs: BTreeMap<String, Followed>,
    store: Arc<WitnessStateStore>,
}

/// A cosigned checkpoint.
#[derive(Debug)]
pub struct Cosigned {
    /// The log's origin.
    pub origin: String,
    /// The size the request claimed the witness was at.
    pub old_size: u64,
    /// The cosigned checkpoint's tree size, now the stored one.
    pub size: u64,
    /// The cosignature, to answer as a note signature line.
    pub cosignature: NoteSignature,
}

/// Why a checkpoint was not cosigned.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The request failed one of the protocol's checks; its status and
    /// body come from [`AddCheckpointError`].
    #[error(transparent)]
    Check(#[from] AddCheckpointError),
    /// Our failure (storage); nothing was cosigned.
    #[error(transparent)]
    Internal(#[from] crate::Error),
}

/// Why a witness cannot start with this key and these logs.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The list of logs is empty.
    #[error("the witness follows no log: give at least one `log <vkey>` line")]
    NoLogs,
    /// The cosigner key is one of the logs' keys.
    #[error(
        "the witness key is the key of the log {origin:?}: a witness signs with its own key, never a log's"
    )]
    KeyIsALogKey {
        /// The log whose key it is.
        origin: String,
    },
}

/// Current POSIX time in seconds (the cosignature's timestamp).
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Witness {
    /// A witness signing with `key` for `logs`, its state in `store`.
    ///
    /// # Errors
    /// [`SetupError`]: no logs, or the witness key's public key is one of
    /// the logs' public keys (whatever the names).
    pub fn new(
        key: CosignerKey,
        logs: &[PolicyLog],
        store: Arc<WitnessStateStore>,
    ) -> Result<Self, SetupError> {
        if logs.is_empty() {
            return Err(SetupError::NoLogs);
        }
        let ours = key.verifier();
        let mut followed: BTreeMap<String, Followed> = BTreeMap::new();
        for log in logs {
            check_not_ours(&ours, &log.key)?;
            followed
                .entry(log.key.name().to_owned())
                .or_insert_with(|| Followed {
                    keys: Vec::new(),
                    lock: Arc::default(),
                })
                .keys
                .push(log.key.clone());
        }
        Ok(Witness {
            key,
            logs: followed,
            store,
        })
    }

    /// The witness's public key (vkey text form: cosignature/v1, type 0x04).
    #[must_use]
    pub fn verifier(&self) -> CosignerVerifier {
        self.key.verifier()
    }

    /// The origins of the logs it follows.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// The latest cosigned state of `origin` (a point read).
    ///
    /// # Errors
    /// Storage failures.
    pub fn latest(&self, origin: &str) -> crate::Result<Option<WitnessState>> {
        self.store.latest(origin)
    }

    /// `add-checkpoint`: checks the request against the latest state of its
    /// origin, persists the new state, and cosigns. Concurrent requests for
    /// one origin run one at a time. Logs the outcome with the origin, the
    /// old size and the new size.
    ///
    /// # Errors
    /// [`Refusal::Check`] with the protocol's status, or
    /// [`Refusal::Internal`]; either way nothing was cosigned and the
    /// stored state is unchanged.
    pub async fn add_checkpoint(self: &Arc<Self>, body: &[u8]) -> Result<Cosigned, Refusal> {
        let parsed = AddCheckpointRequest::parse(body)
            .map_err(AddCheckpointError::Malformed)
            .and_then(|req| Ok((req.origin()?, req)));
        let (origin, req) = match parsed {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(status = e.http_status(), error = %e, "add-checkpoint refused");
                return Err(e.into());
            }
        };
        let old_size = req.old_size;
        // The size the checkpoint claims, for the log line of a refusal
        // (unverified; the check parses it again).
        let size = tlog::Note::from_bytes(&req.checkpoint)
            .and_then(|n| tlog::Checkpoint::from_body(n.text()))
            .map(|c| c.tree_size)
            .ok();
        let result = self.check_and_cosign(origin.clone(), req).await;
        match &result {
            Ok(c) => tracing::info!(
                origin = %c.origin,
                old_size,
                size = c.size,
                outcome = "cosigned",
                "add-checkpoint"
            ),
            // A bad proof, or a second root at the stored size, in a
            // checkpoint the log signed may be evidence of a split view:
            // keep the request (tlog-witness allows it). A 409 for a stale
            // old size is routine.
            Err(Refusal::Check(e)) if is_evidence(e, old_size) => tracing::warn!(
                origin,
                old_size,
                size,
                status = e.http_status(),
                error = %e,
                request = ?String::from_utf8_lossy(body),
                "add-checkpoint refused"
            ),
            Err(Refusal::Check(e)) => tracing::info!(
                origin,
                old_size,
                size,
                status = e.http_status(),
                error = %e,
                "add-checkpoint refused"
            ),
            // The HTTP layer reports internal errors.
            Err(Refusal::Internal(_)) => {}
        }
        result
    }

    /// Finds the origin's lock, then runs the critical section under it.
    async fn check_and_cosign(
        self: &Arc<Self>,
        origin: String,
        req: AddCheckpointRequest,
    ) -> Result<Cosigned, Refusal> {
        // The origin line (unauthenticated) picks the log's lock and state;
        // the checks themselves are tlog's.
        let Some(log) = self.logs.get(&origin) else {
            return Err(AddCheckpointError::UnknownOrigin { origin }.into());
        };
        let guard = log.lock.clone().lock_owned().await;
        let this = Arc::clone(self);
        // Storage calls block: run the critical section off the async
        // workers, the lock moved in so it is held until the state is
        // written even if the client goes away.
        tokio::task::spawn_blocking(move || {
            let _guard = guard;
            this.check_and_persist(&origin, &req)
        })
        .await
        .map_err(|e| crate::Error::storage("the add-checkpoint task", e))?
    }

    /// The critical section of one origin: read, check, persist, cosign.
    fn check_and_persist(
        &self,
        origin: &str,
        req: &AddCheckpointRequest,
    ) -> Result<Cosigned, Refusal> {
        let keys = &self.logs[origin].keys;
        let latest = self.store.latest(origin)?;
        let signed = check_add_checkpoint(latest.as_ref(), req, keys)?;
        let cp = &signed.checkpoint;
        if cp.origin != origin {
            return Err(crate::Error::Corrupt(format!(
                "a checkpoint of {:?} verified with the keys of {origin:?}",
                cp.origin
            ))
            .into());
        }
        let state = WitnessState {
            size: cp.tree_size,
            root_hash: cp.root_hash,
        };
        if latest.as_ref() != Some(&state) {
            // The commit point: once this returns, the new state survives
            // a crash, and only then is the checkpoint cosigned.
            self.store.put(origin, &state)?;
        }
        Ok(Cosigned {
            origin: origin.to_owned(),
            old_size: req.old_size,
            size: cp.tree_size,
            cosignature: self.key.cosign(signed.note.text(), now_secs()),
        })
    }
}

/// Whether a refusal may be evidence of a log's misbehaviour: a proof that
/// does not verify, or a conflict at the stored size (the old size matched,
/// so the root did not).
fn is_evidence(e: &AddCheckpointError, old_size: u64) -> bool {
    match e {
        AddCheckpointError::InconsistentProof(_) => true,
        AddCheckpointError::Conflict { latest_size, .. } => *latest_size == old_size,
        _ => false,
    }
}

/// Refuses a log key with the witness key's public key.
fn check_not_ours(ours: &CosignerVerifier, log: &VerifierKey) -> Result<(), SetupError> {
    if ours.public_key() == log.public_key() {
        return Err(SetupError::KeyIsALogKey {
            origin: log.name().to_owned(),
        });
    }
    Ok(())
}

/// Refuses a witness key whose public key is `log_key`'s (the log's own
/// key, from a data directory the witness shares).
///
/// # Errors
/// [`SetupError::KeyIsALogKey`].
pub fn check_not_log_key(key: &CosignerKey, log_key: &VerifierKey) -> Result<(), SetupError> {
    check_not_ours(&key.verifier(), log_key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tlog::{Checkpoint, MemoryHashStore, SignerKey, leaf_hash, prove_consistency, tree_hash};

    const ORIGIN: &str = "example.com/log";

    struct Fixture {
        log: SignerKey,
        tree: MemoryHashStore,
        witness: Arc<Witness>,
        _dir: tempfile::TempDir,
    }

    fn fixture(dir: tempfile::TempDir) -> Fixture {
        let log = SignerKey::from_seed(ORIGIN, &[1; 32]).unwrap();
        let mut tree = MemoryHashStore::new();
        for i in 0..64u32 {
            tree.append(leaf_hash(&i.to_be_bytes()));
        }
        let store = Arc::new(WitnessStateStore::open(&dir.path().join(STATE_DIR)).unwrap());
        let logs = [PolicyLog {
            key: log.verifier_key(),
            url: None,
        }];
        let key = CosignerKey::from_seed("witness.example/w1", &[2; 32]).unwrap();
        Fixture {
            witness: Arc::new(Witness::new(key, &logs, store).unwrap()),
            log,
            tree,
            _dir: dir,
        }
    }

    impl Fixture {
        fn checkpoint(&self, size: u64) -> tlog::Note {
            let root = tree_hash(size, &self.tree).unwrap();
            Checkpoint::new(ORIGIN, size, root).sign(&self.log).unwrap()
        }

        fn request(&self, old: u64, size: u64) -> Vec<u8> {
            AddCheckpointRequest {
                old_size: old,
                consistency_proof: prove_consistency(old, size, &self.tree).unwrap(),
                checkpoint: self.checkpoint(size).to_bytes(),
            }
            .to_bytes()
        }

        fn stored_size(&self) -> Option<u64> {
            self.witness.latest(ORIGIN).unwrap().map(|s| s.size)
        }
    }

    fn status(r: &Result<Cosigned, Refusal>) -> u16 {
        match r {
            Ok(_) => 200,
            Err(Refusal::Check(e)) => e.http_status(),
            Err(Refusal::Internal(e)) => panic!("internal error: {e}"),
        }
    }

    #[tokio::test]
    async fn refusals_change_nothing_and_the_state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let f = fixture(dir);
        let c = f.witness.add_checkpoint(&f.request(0, 3)).await.unwrap();
        assert_eq!((c.origin.as_str(), c.old_size, c.size), (ORIGIN, 0, 3));
        let text = f.checkpoint(3).text().to_owned();
        f.witness.verifier().verify(&text, &c.cosignature).unwrap();

        let mut bad_proof = AddCheckpointRequest::parse(&f.request(3, 9)).unwrap();
        bad_proof.consistency_proof.pop();
        for (body, want) in [
            (f.request(0, 9), 409),
            (f.request(5, 9), 409),
            (bad_proof.to_bytes(), 422),
            (b"old 3\n\nnot a checkpoint\n".to_vec(), 400),
        ] {
            assert_eq!(status(&f.witness.add_checkpoint(&body).await), want);
            assert_eq!(f.stored_size(), Some(3));
        }
        // Reopening the store (a restart) reads the state back.
        let Fixture { witness, _dir, .. } = f;
        drop(witness);
        let store = WitnessStateStore::open(&path.join(STATE_DIR)).unwrap();
        assert_eq!(store.latest(ORIGIN).unwrap().map(|s| s.size), Some(3));
        assert_eq!(store.latest("other.example/log").unwrap(), None);
    }

    /// Every request claims the same old size: with the check and the
    /// write atomic, exactly one wins and the others see its size.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_winner_among_racing_requests_from_one_size() {
        let f = Arc::new(fixture(tempfile::tempdir().unwrap()));
        f.witness.add_checkpoint(&f.request(0, 1)).await.unwrap();
        let tasks: Vec<_> = (2..22)
            .map(|size| {
                let f = f.clone();
                tokio::spawn(async move {
                    let r = f.witness.add_checkpoint(&f.request(1, size)).await;
                    (size, r)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut conflicts = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (size, Ok(_)) => winners.push(size),
                (_, Err(Refusal::Check(AddCheckpointError::Conflict { latest_size, .. }))) => {
                    conflicts.push(latest_size);
                }
                (size, Err(e)) => panic!("size {size}: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert_eq!(f.stored_size(), Some(winners[0]));
        assert!(conflicts.iter().all(|&s| s == winners[0]), "{conflicts:?}");
    }

    #[test]
    fn the_witness_key_is_not_a_log_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(WitnessStateStore::open(&dir.path().join(STATE_DIR)).unwrap());
        let key = CosignerKey::from_seed("witness.example/w1", &[7; 32]).unwrap();
        let same = SignerKey::from_seed(ORIGIN, &[7; 32])
            .unwrap()
            .verifier_key();
        let other = SignerKey::from_seed(ORIGIN, &[8; 32])
            .unwrap()
            .verifier_key();
        let log = |key: &VerifierKey| PolicyLog {
            key: key.clone(),
            url: None,
        };
        assert!(matches!(
            Witness::new(key.clone(), &[log(&other), log(&same)], store.clone()),
            Err(SetupError::KeyIsALogKey { .. })
        ));
        assert!(matches!(
            Witness::new(key.clone(), &[], store.clone()),
            Err(SetupError::NoLogs)
        ));
        assert!(check_not_log_key(&key, &same).is_err());
        assert!(check_not_log_key(&key, &other).is_ok());
        assert!(Witness::new(key, &[log(&other)], store).is_ok());
    }
}
