//! The publication procedure, the same for every target: read the target,
//! verify, prove consistency, write with a precondition, retry on conflict.

use std::future::Future;
use std::path::Path;

use tlog::{SignedCheckpoint, VerifierKey, open_checkpoint};

use crate::error::{Refusal, RefusalReason};
use crate::evidence::{Evidence, ProofEvidence, checkpoint_fields};
use crate::policy::WitnessPolicy;
use crate::readme;
use crate::retry::{RetryPolicy, jitter, unix_now};
use crate::target::{LogInfo, publish_message};
use crate::{CheckpointSource, Error, Outcome};

/// How many times a publication is re-read, re-verified and retried when
/// another writer changed the target in between.
pub(crate) const MAX_CONFLICTS: u32 = 5;

/// What a target held when it was read.
pub(crate) struct Snapshot<V> {
    /// `checkpoint`, if present.
    pub checkpoint: Option<Vec<u8>>,
    /// `log.json`, if present.
    pub log_json: Option<Vec<u8>>,
    /// `README.md`, if present.
    pub readme: Option<Vec<u8>>,
    /// What the writes' preconditions compare against.
    pub version: V,
}

/// What to write.
pub(crate) struct Publication {
    pub origin: String,
    pub tree_size: u64,
    /// The checkpoint note, byte for byte as verified.
    pub checkpoint: Vec<u8>,
    /// `log.json`, if it must be (re)written.
    pub log_json: Option<Vec<u8>>,
    /// `README.md`, if it must be (re)written.
    pub readme: Option<Vec<u8>>,
    /// Whether `checkpoints/<tree size>` must be written.
    pub write_history: bool,
    pub message: String,
}

/// The result of a write with a precondition.
pub(crate) enum Written {
    Done {
        commit: Option<String>,
    },
    /// The target changed since the snapshot; nothing of this write happened
    /// after the point of conflict.
    Conflict,
}

/// A publication target. Every write is conditional on the snapshot it is
/// given: it fails with [`Written::Conflict`] rather than overwrite a change
/// made since.
pub(crate) trait Store {
    type Version: Send + Sync;

    fn snapshot(&self) -> impl Future<Output = Result<Snapshot<Self::Version>, Error>> + Send;

    fn read_history(
        &self,
        snapshot: &Snapshot<Self::Version>,
        tree_size: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// Writes a publication; `checkpoint` last among the files a reader
    /// trusts, so it is the commit point.
    fn publish(
        &self,
        snapshot: &Snapshot<Self::Version>,
        p: &Publication,
    ) -> impl Future<Output = Result<Written, Error>> + Send;

    /// Writes `checkpoints/<tree size>` alone (a repair after a crash
    /// between the commit point and the history file).
    fn write_history(
        &self,
        snapshot: &Snapshot<Self::Version>,
        tree_size: u64,
        checkpoint: &[u8],
        origin: &str,
    ) -> impl Future<Output = Result<Written, Error>> + Send;
}

/// Why [`tlog::verify_extends`] refused the step from the published tree
/// size `first` to the latest `second`, as a refusal: a smaller tree is a
/// rollback, another root at the same size a fork, anything else an
/// inconsistent proof. The pure half of steps 4 and 5.
pub(crate) fn refusal_reason(first: u64, second: u64, error: tlog::Error) -> RefusalReason {
    match error {
        tlog::Error::Rollback { old_size, new_size } => RefusalReason::Rollback {
            published: old_size,
            latest: new_size,
        },
        tlog::Error::Inconsistent { .. } if first == second => {
            RefusalReason::Fork { tree_size: second }
        }
        error => RefusalReason::InconsistentProof {
            first,
            second,
            error,
        },
    }
}

/// Everything the procedure needs besides the store and the source.
pub(crate) struct Context<'a> {
    pub key: &'a VerifierKey,
    pub target: String,
    pub log_info: LogInfo,
    /// The `README.md` this configuration writes.
    pub readme: Vec<u8>,
    /// The witness policy the latest checkpoint must meet, if any.
    pub policy: Option<&'a WitnessPolicy>,
    pub evidence_dir: &'a Path,
    /// Its backoff also spaces the attempts after a conflict.
    pub retry: &'a RetryPolicy,
}

impl Context<'_> {
    /// Builds the refusal, writes its evidence, and returns the error.
    fn refuse(
        &self,
        reason: RefusalReason,
        published: Option<&[u8]>,
        latest: Option<&[u8]>,
        proof: Option<ProofEvidence>,
    ) -> Error {
        let (published_checkpoint, published_checkpoint_base64) = checkpoint_fields(published);
        let (latest_checkpoint, latest_checkpoint_base64) = checkpoint_fields(latest);
        let evidence = Evidence {
            stateanchor_evidence: 1,
            reason: reason.code().to_owned(),
            detail: reason.to_string(),
            origin: self.key.name().to_owned(),
            verifier_key: self.key.to_text(),
            target: self.target.clone(),
            detected_at: unix_now(),
            published_checkpoint,
            published_checkpoint_base64,
            latest_checkpoint,
            latest_checkpoint_base64,
            consistency_proof: proof,
        };
        let evidence_file = evidence
            .write_to(self.evidence_dir)
            .map_err(|(path, e)| format!("{}: {e}", path.display()));
        tracing::error!(
            reason = %reason,
            evidence = ?evidence_file,
            target = %self.target,
            "ALERT: refused to publish"
        );
        Error::Refused(Box::new(Refusal {
            reason,
            evidence,
            evidence_file,
        }))
    }

    /// Refuses a target whose `log.json` names another log. A `log.json`
    /// that does not parse is rewritten with the next publication.
    fn check_log_json(&self, log_json: Option<&[u8]>) -> Result<(), Error> {
        let Some(info) = log_json.and_then(|b| serde_json::from_slice::<LogInfo>(b).ok()) else {
            return Ok(());
        };
        let checks = [
            ("origin", info.origin, &self.log_info.origin),
            (
                "verifier_key",
                info.verifier_key,
                &self.log_info.verifier_key,
            ),
        ];
        for (field, published, expected) in checks {
            if &published != expected {
                return Err(Error::TargetOfAnotherLog {
                    target: self.target.clone(),
                    field,
                    published,
                    expected: expected.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Publishes the source's latest checkpoint to `store` if it is safe to.
///
/// The steps, in order (each logged at `debug`):
/// 1. read the target: `checkpoint`, `log.json` and `README.md`;
/// 2. check `log.json` names this log, and verify the published checkpoint;
/// 3. fetch the log's latest checkpoint and verify its signature;
/// 4. decide: first publication, or whether the latest checkpoint extends
///    the published one ([`tlog::verify_extends`]): no growth, rollback, fork;
/// 5. on growth, fetch the consistency proof for it ([`refusal_reason`] names
///    a failure);
/// 6. with a witness policy, check that the latest checkpoint meets it
///    ([`Error::NotWitnessed`] if not: not a refusal, no evidence). After
///    the consistency checks, so that a log that forked is refused with
///    evidence whatever its witnesses did;
/// 7. check `checkpoints/<tree size>`, if already there, agrees;
/// 8. write, conditional on what step 1 read; on conflict, start again.
pub(crate) async fn publish_with<S: Store + Sync>(
    store: &S,
    cx: &Context<'_>,
    source: &impl CheckpointSource,
) -> Result<Outcome, Error> {
    let log_json = cx.log_info.to_bytes();
    for attempt in 1..=MAX_CONFLICTS {
        // 1.
        let snapshot = store.snapshot().await?;
        tracing::debug!(
            attempt,
            has_checkpoint = snapshot.checkpoint.is_some(),
            "1. read the target"
        );
        // 2.
        cx.check_log_json(snapshot.log_json.as_deref())?;
        let published_bytes = snapshot.checkpoint.as_deref();
        let published = match published_bytes {
            None => None,
            Some(b) => Some(open_checkpoint(b, cx.key).map_err(|error| {
                cx.refuse(
                    RefusalReason::PublishedDoesNotVerify { error },
                    Some(b),
                    None,
                    None,
                )
            })?),
        };
        tracing::debug!(published = ?published.as_ref().map(|p| p.checkpoint.tree_size), "2. verified the published checkpoint");
        // 3.
        let latest_bytes = source
            .latest_checkpoint()
            .await
            .map_err(|source| Error::Source {
                operation: "fetch the latest checkpoint".to_owned(),
                source,
            })?;
        let latest = open_checkpoint(&latest_bytes, cx.key).map_err(|error| {
            cx.refuse(
                RefusalReason::BadSignature { error },
                published_bytes,
                Some(&latest_bytes),
                None,
            )
        })?;
        let latest_size = latest.checkpoint.tree_size;
        tracing::debug!(latest_size, "3. verified the latest checkpoint's signature");
        // 4. and 5.
        let previous = published.as_ref().map(|p| p.checkpoint.tree_size);
        match &published {
            None if latest_size == 0 => {
                tracing::debug!("4. nothing published, and the log is empty");
                return Ok(Outcome::Unchanged {
                    tree_size: 0,
                    repaired: false,
                });
            }
            None => tracing::debug!(latest_size, "4. first publication"),
            Some(published) => {
                let first = published.checkpoint.tree_size;
                let proof = if tlog::consistency_proof_needed(first, latest_size) {
                    source
                        .consistency_proof(first, latest_size)
                        .await
                        .map_err(|source| Error::Source {
                            operation: format!(
                                "fetch the consistency proof from tree size {first} to {latest_size}"
                            ),
                            source,
                        })?
                } else {
                    Vec::new()
                };
                tlog::verify_extends(published, &latest, &proof).map_err(|error| {
                    let reason = refusal_reason(first, latest_size, error);
                    let proof = matches!(reason, RefusalReason::InconsistentProof { .. })
                        .then(|| ProofEvidence::new(first, latest_size, &proof));
                    cx.refuse(reason, published_bytes, Some(&latest_bytes), proof)
                })?;
                if first == latest_size {
                    tracing::debug!(latest_size, "4. no growth");
                    let repaired =
                        repair_history(store, cx, &snapshot, &latest, &latest_bytes).await?;
                    return Ok(Outcome::Unchanged {
                        tree_size: latest_size,
                        repaired,
                    });
                }
                tracing::debug!(
                    first,
                    second = latest_size,
                    "5. verified that the latest checkpoint extends the published one"
                );
            }
        }
        // 6.
        check_witnessed(cx, &latest_bytes, latest_size)?;
        // 7.
        let existing = store.read_history(&snapshot, latest_size).await?;
        let write_history = match existing {
            None => true,
            Some(existing) => {
                check_history_agrees(cx, &existing, &latest, &latest_bytes)?;
                false
            }
        };
        tracing::debug!(write_history, "7. checked the history file");
        // 8.
        let p = Publication {
            origin: cx.key.name().to_owned(),
            tree_size: latest_size,
            checkpoint: latest_bytes,
            log_json: (snapshot.log_json.as_deref() != Some(&log_json)).then(|| log_json.clone()),
            readme: readme_to_write(snapshot.readme.as_deref(), &cx.readme),
            write_history,
            message: publish_message(cx.key.name(), latest_size, previous),
        };
        match store.publish(&snapshot, &p).await? {
            Written::Done { commit } => {
                tracing::info!(target = %cx.target, tree_size = latest_size, ?previous, ?commit, "published");
                return Ok(Outcome::Published {
                    tree_size: latest_size,
                    previous,
                    commit,
                });
            }
            Written::Conflict => {
                // Another writer got there first (or GitHub served a stale
                // read): back off, then start again from the read.
                let delay = jitter(cx.retry.backoff(attempt - 1));
                tracing::info!(attempt, target = %cx.target, ?delay,
                    "the target changed while publishing; re-reading");
                tokio::time::sleep(delay).await;
            }
        }
    }
    Err(Error::Contention {
        attempts: MAX_CONFLICTS,
    })
}

/// With a witness policy, checks that the checkpoint about to be written
/// meets it (step 6).
fn check_witnessed(cx: &Context<'_>, note: &[u8], tree_size: u64) -> Result<(), Error> {
    let Some(policy) = cx.policy else {
        return Ok(());
    };
    let witnessed = policy.verify(note, tree_size, unix_now())?;
    tracing::debug!(
        tree_size,
        cosigners = ?witnessed.cosigners,
        "6. the latest checkpoint meets the witness policy"
    );
    Ok(())
}

/// The `README.md` to write: the wanted one if there is none, or if the one
/// there is an older publisher's and differs. A `README.md` someone else
/// wrote (see [`readme::MARKER`]) is left as it is.
pub(crate) fn readme_to_write(existing: Option<&[u8]>, wanted: &[u8]) -> Option<Vec<u8>> {
    match existing {
        Some(e) if e == wanted => None,
        Some(e) if !readme::is_ours(e) => {
            tracing::debug!("README.md was not written by a publisher; left as it is");
            None
        }
        _ => Some(wanted.to_vec()),
    }
}

/// A `checkpoints/<tree size>` file already there must be a checkpoint of
/// this log with the same root hash (it is never rewritten).
fn check_history_agrees(
    cx: &Context<'_>,
    existing: &[u8],
    latest: &SignedCheckpoint,
    latest_bytes: &[u8],
) -> Result<(), Error> {
    if existing == latest_bytes {
        return Ok(());
    }
    match open_checkpoint(existing, cx.key) {
        Ok(e)
            if e.checkpoint.tree_size == latest.checkpoint.tree_size
                && e.checkpoint.root_hash == latest.checkpoint.root_hash =>
        {
            Ok(())
        }
        Ok(_) => Err(cx.refuse(
            RefusalReason::Fork {
                tree_size: latest.checkpoint.tree_size,
            },
            Some(existing),
            Some(latest_bytes),
            None,
        )),
        Err(error) => Err(cx.refuse(
            RefusalReason::PublishedDoesNotVerify { error },
            Some(existing),
            Some(latest_bytes),
            None,
        )),
    }
}

/// With no growth, writes `checkpoints/<tree size>` if a crash left it out.
async fn repair_history<S: Store + Sync>(
    store: &S,
    cx: &Context<'_>,
    snapshot: &Snapshot<S::Version>,
    latest: &SignedCheckpoint,
    latest_bytes: &[u8],
) -> Result<bool, Error> {
    let size = latest.checkpoint.tree_size;
    if size == 0 || snapshot.checkpoint.is_none() {
        return Ok(false);
    }
    match store.read_history(snapshot, size).await? {
        Some(existing) => {
            check_history_agrees(cx, &existing, latest, latest_bytes)?;
            Ok(false)
        }
        None => {
            check_witnessed(cx, latest_bytes, size)?;
            tracing::info!(tree_size = size, "writing the missing history file");
            let written = store
                .write_history(snapshot, size, latest_bytes, cx.key.name())
                .await?;
            Ok(matches!(written, Written::Done { .. }))
        }
    }
}

#[cfg(test)]
mod tests {
    use tlog::{Checkpoint, Hash, SignerKey};

    use super::*;

    fn cp(size: u64, root: u8) -> SignedCheckpoint {
        let key = SignerKey::from_seed("o", &[1; 32]).unwrap();
        let root = if size == 0 {
            Hash::EMPTY
        } else {
            Hash([root; 32])
        };
        let note = Checkpoint::new("o", size, root).sign(&key).unwrap();
        open_checkpoint(&note.to_bytes(), &key.verifier_key()).unwrap()
    }

    /// What steps 4 and 5 decide when the target already holds a checkpoint
    /// (`None`: publish, or nothing to do at the same size).
    fn decide(published: &SignedCheckpoint, latest: &SignedCheckpoint) -> Option<RefusalReason> {
        let (first, second) = (published.checkpoint.tree_size, latest.checkpoint.tree_size);
        // A proof that cannot join two different trees.
        let proof = if tlog::consistency_proof_needed(first, second) {
            vec![Hash::EMPTY]
        } else {
            Vec::new()
        };
        tlog::verify_extends(published, latest, &proof)
            .err()
            .map(|e| refusal_reason(first, second, e))
    }

    #[test]
    fn refusals() {
        assert_eq!(decide(&cp(3, 1), &cp(3, 1)), None);
        assert_eq!(decide(&cp(0, 0), &cp(5, 2)), None);
        assert_eq!(
            decide(&cp(3, 1), &cp(3, 2)),
            Some(RefusalReason::Fork { tree_size: 3 })
        );
        assert_eq!(
            decide(&cp(3, 1), &cp(2, 1)),
            Some(RefusalReason::Rollback {
                published: 3,
                latest: 2
            })
        );
        let Some(RefusalReason::InconsistentProof {
            first: 3,
            second: 5,
            error,
        }) = decide(&cp(3, 1), &cp(5, 2))
        else {
            panic!("a bad proof must be an inconsistent proof");
        };
        // The message the evidence file and spec/publication.md show.
        assert_eq!(
            error.to_string(),
            "invalid consistency proof: proof is too short"
        );
    }
}
