//! The rollback rule of both modes: a log never starts (or integrates) on a
//! database whose tree is shorter than a checkpoint it has signed and
//! published, or that is another tree, unless told explicitly that the
//! later entries are lost (`--accept-rollback`). The RocksDB mode compares
//! its store with the data directory's `latest-checkpoint`
//! (`backup::check_rollback`); the PostgreSQL mode compares its database
//! with the bucket's `checkpoint` (`storage::cluster`). The operator's
//! guide is `docs/operations.md`, "Rollbacks".

use tlog::{Hash, VerifierKey, open_checkpoint};

use crate::{Error, Result};

/// What an operator must tell auditors after a rollback was accepted
/// (the RocksDB mode's `backup::check_rollback`, or the PostgreSQL mode's
/// check against the bucket): the log had signed a checkpoint of `signed` entries, kept as
/// `evidence`; its database now holds `stored`.
#[must_use]
pub fn rollback_notice(stored: u64, signed: u64, evidence: &str) -> String {
    format!(
        "ROLLBACK ACCEPTED: the log had signed a checkpoint of {signed} entries (kept in {evidence}); its database now holds {stored}. \
Entries {stored} to {} are lost. The log will sign new checkpoints whose trees do not extend the lost ones: \
an auditor, witness or publication repository that holds a checkpoint of a size above {stored} \
(the one of size {signed}, say) will find that the log cannot prove its new checkpoints consistent with it, \
which is the evidence of a rollback (a split view). Tell them before they find it; \
the publisher refuses to publish until its repository is dealt with (docs/operations.md).",
        signed.saturating_sub(1)
    )
}

/// Opens `note`, the latest checkpoint the log has signed as `source` (a
/// file, the bucket's object) records it, with the log's key.
///
/// # Errors
/// [`Error::Backup`]: it is not this log's checkpoint.
pub fn open_signed(note: &[u8], vkey: &VerifierKey, source: &str) -> Result<tlog::Checkpoint> {
    Ok(open_checkpoint(note, vkey)
        .map_err(|e| {
            Error::Backup(format!(
                "{source} does not verify with the log's key ({e}): it is not this log's checkpoint"
            ))
        })?
        .checkpoint)
}

/// **The rollback rule of both modes**: compares a database that holds
/// `stored` entries with `signed`, the latest checkpoint the log has
/// signed and published (as `source` records it: the data directory's
/// `latest-checkpoint`, the bucket's `checkpoint`):
/// - a database with at least as many entries must have the checkpoint's
///   root at its size (`root_at`), or it is another tree: refused, and no
///   flag accepts that;
/// - a database with fewer is a rollback: [`Error::Rollback`], unless
///   `accept_rollback`; then `Ok(true)`, and the caller keeps the evidence
///   and prints [`rollback_notice`].
///
/// `Ok(false)`: the database holds the signed tree.
///
/// # Errors
/// As above; `root_at`'s failures.
pub fn check_against_signed(
    stored: u64,
    signed: &tlog::Checkpoint,
    source: &str,
    root_at: &mut dyn FnMut(u64) -> Result<Hash>,
    accept_rollback: bool,
) -> Result<bool> {
    if signed.tree_size > stored {
        if accept_rollback {
            return Ok(true);
        }
        return Err(Error::Rollback {
            stored,
            signed: signed.tree_size,
            file: source.to_owned(),
        });
    }
    if root_at(signed.tree_size)? != signed.root_hash {
        return Err(Error::Backup(format!(
            "the database is not the tree of the checkpoint the log signed at size {} ({source}): it is another tree; refusing to start on it",
            signed.tree_size
        )));
    }
    Ok(false)
}
