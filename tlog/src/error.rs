//! The crate's one error type.

use crate::checkpoint::Inconsistency;
use crate::policy::PolicyProblem;

/// Everything that can go wrong in this crate.
///
/// Verification failures are distinct variants so that callers can tell a
/// malformed input from a well-formed input that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hash was not exactly 32 bytes, or not valid base64.
    #[error("malformed hash: {reason}")]
    MalformedHash {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A leaf index is not below the tree size it was checked against.
    #[error("leaf index {index} is not below tree size {tree_size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        tree_size: u64,
    },
    /// A tree size is larger than the tree that is available.
    #[error("tree size {requested} is beyond the available tree size {available}")]
    SizeBeyondTree {
        /// The size that was asked for.
        requested: u64,
        /// The size of the tree that is available.
        available: u64,
    },
    /// A consistency proof was asked for between sizes in the wrong order.
    #[error("first tree size {first} is larger than second tree size {second}")]
    SizesOutOfOrder {
        /// The first (older) size.
        first: u64,
        /// The second (newer) size.
        second: u64,
    },
    /// An inclusion proof did not verify.
    #[error("invalid inclusion proof: {reason}")]
    InvalidInclusionProof {
        /// Why the proof was rejected.
        reason: &'static str,
    },
    /// A consistency proof did not verify.
    #[error("invalid consistency proof: {reason}")]
    InvalidConsistencyProof {
        /// Why the proof was rejected.
        reason: &'static str,
    },
    /// A newer checkpoint of a log has a smaller tree than an older one: the
    /// log rolled back (see [`verify_extends`](crate::verify_extends)).
    #[error("tree size {new_size} is smaller than the earlier tree size {old_size}")]
    Rollback {
        /// The older checkpoint's tree size.
        old_size: u64,
        /// The newer checkpoint's tree size.
        new_size: u64,
    },
    /// Two verified checkpoints of one log that no append-only tree can
    /// have: different root hashes at one tree size, or a consistency proof
    /// that does not join them (see [`verify_extends`](crate::verify_extends)).
    /// It carries the evidence of the split view: both signed checkpoints
    /// and the proof.
    ///
    /// It reads as [`Error::InvalidConsistencyProof`] does, with the same
    /// reasons.
    #[error("invalid consistency proof: {reason}")]
    Inconsistent {
        /// The two checkpoints and the proof.
        evidence: Box<Inconsistency>,
        /// Why the proof was rejected.
        reason: &'static str,
    },
    /// A hash reader did not return what was asked of it.
    #[error("hash reader returned {got} hashes for {want} requested")]
    ShortRead {
        /// How many hashes came back.
        got: usize,
        /// How many were asked for.
        want: usize,
    },
    /// The caller's storage failed to read hashes or tiles.
    #[error("storage read failed: {reason}")]
    Storage {
        /// The storage layer's description of the failure.
        reason: String,
    },
    /// A hash that the caller's storage does not hold.
    #[error("hash at level {level} index {index} is not available")]
    HashUnavailable {
        /// Tree level of the missing hash.
        level: u8,
        /// Index at that level.
        index: u64,
    },
    /// A signed note could not be parsed.
    #[error("malformed note: {reason}")]
    MalformedNote {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A key in text form could not be parsed.
    #[error("malformed key: {reason}")]
    MalformedKey {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A key name is not allowed (empty, or contains `+`, space or a newline).
    #[error("invalid key name {name:?}")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },
    /// A note carries no valid signature from any of the given keys.
    #[error("note has no verified signature from a known key")]
    NoVerifiedSignature,
    /// A note carries a signature from a known key that does not verify.
    #[error("invalid signature from known key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// A checkpoint body could not be parsed.
    #[error("malformed checkpoint: {reason}")]
    MalformedCheckpoint {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A checkpoint's origin does not match the expected one.
    #[error("checkpoint origin {got:?} does not match expected origin {want:?}")]
    OriginMismatch {
        /// The origin in the checkpoint.
        got: String,
        /// The origin that was expected.
        want: String,
    },
    /// A tile path could not be parsed.
    #[error("malformed tile path: {reason}")]
    MalformedTilePath {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// Tile data has the wrong length for its tile.
    #[error("tile data is {got} bytes, want {want}")]
    MalformedTile {
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        want: usize,
    },
    /// An entry bundle could not be parsed, or an entry is too large for one.
    #[error("malformed entry bundle: {reason}")]
    MalformedBundle {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// An entry is larger than the 65,535 bytes an entry bundle can carry.
    #[error("entry is {size} bytes, larger than the maximum of 65535")]
    EntryTooLarge {
        /// The entry's size.
        size: usize,
    },
    /// A witness cosignature (c2sp.org/tlog-cosignature) was refused by the
    /// cosigner key it claims: another key's name or key ID, the wrong
    /// length, a timestamp above 2^63 - 1, or a signature that does not
    /// verify.
    #[error("invalid cosignature from {name}+{key_id:08x}: {reason}")]
    InvalidCosignature {
        /// The key name on the signature line.
        name: String,
        /// The key ID on the signature line.
        key_id: u32,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A valid cosignature whose timestamp is later than the verifier's
    /// clock allows (see [`MAX_COSIGNATURE_CLOCK_SKEW`](crate::MAX_COSIGNATURE_CLOCK_SKEW)).
    #[error(
        "cosignature from {name} is timestamped {timestamp}, more than {skew} s after the current time {now}"
    )]
    CosignatureInFuture {
        /// The witness's name in the policy.
        name: String,
        /// The cosignature's timestamp (POSIX seconds).
        timestamp: u64,
        /// The time it was checked at (POSIX seconds).
        now: u64,
        /// The clock skew allowed, in seconds.
        skew: u64,
    },
    /// A policy file (c2sp.org/tlog-policy) is not valid.
    #[error("policy line {line}: {problem}")]
    MalformedPolicy {
        /// The line, counted from 1.
        line: usize,
        /// What is wrong with it.
        problem: PolicyProblem,
    },
    /// A policy file has no `quorum` line.
    #[error("policy has no quorum line (write `quorum none` to require no witness)")]
    PolicyWithoutQuorum,
    /// A checkpoint's cosignatures do not meet the policy's quorum.
    #[error(
        "witness quorum not met: cosigned by {cosigned}; the quorum needs {quorum}",
        cosigned = if have.is_empty() { "no witness of the policy".to_owned() } else { have.join(", ") }
    )]
    QuorumNotMet {
        /// The policy names of the witnesses whose cosignatures verified.
        have: Vec<String>,
        /// What the quorum needs, described from the policy.
        quorum: String,
    },
    /// An `add-checkpoint` request body (c2sp.org/tlog-witness) is malformed.
    #[error("malformed add-checkpoint request: {reason}")]
    MalformedWitnessRequest {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// An `add-checkpoint` response body (c2sp.org/tlog-witness) is malformed.
    #[error("malformed add-checkpoint response: {reason}")]
    MalformedWitnessResponse {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// A proof file (c2sp.org/tlog-proof) is malformed.
    #[error("malformed tlog-proof file, line {line}: {reason}")]
    MalformedProofFile {
        /// The line, counted from 1.
        line: usize,
        /// What was wrong with it.
        reason: &'static str,
    },
}
