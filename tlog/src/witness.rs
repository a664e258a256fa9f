//! C2SP tlog-witness (<https://c2sp.org/tlog-witness>), the pure parts:
//! the `add-checkpoint` request and response bodies, and the witness's
//! decision on a request.
//!
//! Request body:
//!
//! ```text
//! old <size>
//! <consistency proof hash, base64>   (zero to 63 lines)
//!
//! <checkpoint: a signed note>
//! ```
//!
//! Response body (200): one or more cosignature lines, `— <name> <base64>`,
//! each ending in a newline.
//!
//! The witness keeps, per origin, only the latest size and root hash it
//! cosigned ([`WitnessState`]). [`check_add_checkpoint`] decides a request
//! from that state alone; the caller reads the state, calls it, and writes
//! the new state, atomically with respect to other requests for the same
//! origin, before it cosigns (the spec's rollback race).

use crate::Error;
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::hash::Hash;
use crate::note::{MAX_SIGNATURES, Note, NoteSignature, VerifierKey, parse_signature_line};
use crate::proof::verify_consistency;

/// Most consistency proof lines a request may carry.
pub const MAX_CONSISTENCY_PROOF_LINES: usize = 63;

/// A parsed `add-checkpoint` request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// The size of the checkpoint the client believes the witness cosigned last.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub consistency_proof: Vec<Hash>,
    /// The checkpoint, a signed note, as sent.
    pub checkpoint: Vec<u8>,
}

/// Parses a canonical unsigned decimal: digits only, no leading zeros.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

impl AddCheckpointRequest {
    /// Parses a request body strictly: `old <size>` (canonical decimal),
    /// at most 63 proof lines each a 32-byte hash in canonical standard
    /// base64, an empty line, then the checkpoint (kept as bytes, checked
    /// by [`check_add_checkpoint`]). Every line ends in a newline. The
    /// proof must be empty when the old size is 0.
    ///
    /// # Errors
    /// [`Error::MalformedWitnessRequest`].
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let bad = |reason| Error::MalformedWitnessRequest { reason };
        let mut rest = body;
        let next_line = |rest: &mut &[u8]| -> Result<String, Error> {
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or(bad("a line does not end in a newline"))?;
            let line = std::str::from_utf8(&rest[..end])
                .map_err(|_| bad("a line is not valid UTF-8"))?
                .to_owned();
            *rest = &rest[end + 1..];
            Ok(line)
        };
        let old = next_line(&mut rest)?;
        let old_size = old
            .strip_prefix("old ")
            .ok_or(bad("first line is not `old <size>`"))
            .and_then(|n| parse_decimal(n).ok_or(bad("old size is not a canonical decimal")))?;
        let mut consistency_proof = Vec::new();
        loop {
            let line = next_line(&mut rest)?;
            if line.is_empty() {
                break;
            }
            if consistency_proof.len() == MAX_CONSISTENCY_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let hash = Hash::from_base64(&line)
                .map_err(|_| bad("a proof line is not a 32-byte hash in standard base64"))?;
            if hash.to_base64() != line {
                return Err(bad("a proof line is not canonical base64"));
            }
            consistency_proof.push(hash);
        }
        if old_size == 0 && !consistency_proof.is_empty() {
            return Err(bad(
                "the consistency proof must be empty when the old size is 0",
            ));
        }
        if rest.is_empty() {
            return Err(bad("no checkpoint after the empty line"));
        }
        Ok(AddCheckpointRequest {
            old_size,
            consistency_proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The request body.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size).into_bytes();
        for h in &self.consistency_proof {
            out.extend_from_slice(h.to_base64().as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// The checkpoint's origin (its first line), unauthenticated: for the
    /// caller to find the state to pass to [`check_add_checkpoint`].
    ///
    /// # Errors
    /// [`AddCheckpointError::Malformed`] if the checkpoint is not a signed
    /// note or its first line is empty.
    pub fn origin(&self) -> Result<String, AddCheckpointError> {
        let note = Note::from_bytes(&self.checkpoint).map_err(AddCheckpointError::Malformed)?;
        origin_of(&note)
    }
}

fn origin_of(note: &Note) -> Result<String, AddCheckpointError> {
    match note.text().split('\n').next() {
        Some(o) if !o.is_empty() => Ok(o.to_owned()),
        _ => Err(AddCheckpointError::Malformed(Error::MalformedCheckpoint {
            reason: "origin line is empty",
        })),
    }
}

/// What a witness keeps per origin: the latest checkpoint it cosigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WitnessState {
    /// Its tree size.
    pub size: u64,
    /// Its root hash.
    pub root_hash: Hash,
}

/// Why a witness refuses an `add-checkpoint` request, each with the HTTP
/// status the specification mandates ([`AddCheckpointError::http_status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddCheckpointError {
    /// The request or its checkpoint is malformed (400).
    #[error("malformed request: {0}")]
    Malformed(Error),
    /// The witness trusts no key for the checkpoint's origin (404).
    #[error("unknown log origin {origin:?}")]
    UnknownOrigin {
        /// The checkpoint's origin line.
        origin: String,
    },
    /// No signature verifies with a key trusted for the origin, or one
    /// from a trusted key does not verify (403).
    #[error("no valid signature from a trusted log key: {0}")]
    NoTrustedSignature(Error),
    /// The old size is larger than the checkpoint's size (400).
    #[error("old size {old_size} is larger than the checkpoint's tree size {tree_size}")]
    OldSizeTooLarge {
        /// The request's old size.
        old_size: u64,
        /// The checkpoint's tree size.
        tree_size: u64,
    },
    /// The old size is not the size of the latest checkpoint cosigned for
    /// the origin, or the checkpoint has that size and another root hash
    /// (409). The response body is `latest_size` in decimal and a newline,
    /// content type `text/x.tlog.size`.
    #[error("conflict with the latest cosigned tree size {latest_size}: {reason}")]
    Conflict {
        /// The size of the latest checkpoint cosigned for the origin (0 if none).
        latest_size: u64,
        /// Which conflict.
        reason: &'static str,
    },
    /// The consistency proof does not verify (422).
    #[error("consistency proof does not verify: {0}")]
    InconsistentProof(Error),
}

impl AddCheckpointError {
    /// The HTTP status code c2sp.org/tlog-witness mandates.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            AddCheckpointError::Malformed(_) | AddCheckpointError::OldSizeTooLarge { .. } => 400,
            AddCheckpointError::NoTrustedSignature(_) => 403,
            AddCheckpointError::UnknownOrigin { .. } => 404,
            AddCheckpointError::Conflict { .. } => 409,
            AddCheckpointError::InconsistentProof(_) => 422,
        }
    }
}

/// Decides an `add-checkpoint` request, with the checks of
/// c2sp.org/tlog-witness in its order:
///
/// 1. the checkpoint is a signed note (else 400);
/// 2. `log_keys` has keys named for its origin (else 404, [`AddCheckpointError::UnknownOrigin`]);
/// 3. a signature by one of them verifies, and none of theirs fails (else 403);
/// 4. the checkpoint body is valid (else 400);
/// 5. the old size is at most the checkpoint's size (else 400);
/// 6. the old size is the latest cosigned size, 0 if none (else 409);
/// 7. the consistency proof from the latest cosigned checkpoint verifies
///    (else 422); for equal sizes the proof must be empty (else 422) and
///    the root hashes equal (else 409).
///
/// `latest` is the state stored for the checkpoint's origin (see
/// [`AddCheckpointRequest::origin`]), `None` if the witness never cosigned
/// for it. On success the caller persists the returned checkpoint's size
/// and root hash as the new state, then cosigns it.
///
/// # Errors
/// As listed.
pub fn check_add_checkpoint(
    latest: Option<&WitnessState>,
    request: &AddCheckpointRequest,
    log_keys: &[VerifierKey],
) -> Result<SignedCheckpoint, AddCheckpointError> {
    let note = Note::from_bytes(&request.checkpoint).map_err(AddCheckpointError::Malformed)?;
    let origin = origin_of(&note)?;
    let keys: Vec<VerifierKey> = log_keys
        .iter()
        .filter(|k| k.name() == origin)
        .cloned()
        .collect();
    if keys.is_empty() {
        return Err(AddCheckpointError::UnknownOrigin { origin });
    }
    note.verify(&keys)
        .map_err(AddCheckpointError::NoTrustedSignature)?;
    let checkpoint = Checkpoint::from_body(note.text()).map_err(AddCheckpointError::Malformed)?;
    let (old, size) = (request.old_size, checkpoint.tree_size);
    if old > size {
        return Err(AddCheckpointError::OldSizeTooLarge {
            old_size: old,
            tree_size: size,
        });
    }
    let latest = latest.copied().unwrap_or(WitnessState {
        size: 0,
        root_hash: Hash::EMPTY,
    });
    if old != latest.size {
        return Err(AddCheckpointError::Conflict {
            latest_size: latest.size,
            reason: "old size is not the latest cosigned size",
        });
    }
    let proof = &request.consistency_proof;
    if old == size {
        if !proof.is_empty() {
            return Err(AddCheckpointError::InconsistentProof(
                Error::InvalidConsistencyProof {
                    reason: "proof between equal sizes must be empty",
                },
            ));
        }
        if checkpoint.root_hash != latest.root_hash {
            return Err(AddCheckpointError::Conflict {
                latest_size: latest.size,
                reason: "same tree size as the latest cosigned checkpoint, another root hash",
            });
        }
    } else {
        verify_consistency(old, size, &latest.root_hash, &checkpoint.root_hash, proof)
            .map_err(AddCheckpointError::InconsistentProof)?;
    }
    Ok(SignedCheckpoint { checkpoint, note })
}

/// A 200 response body: the cosignature lines, each ending in a newline.
#[must_use]
pub fn cosignature_response(signatures: &[NoteSignature]) -> Vec<u8> {
    signatures
        .iter()
        .flat_map(|s| s.to_line().into_bytes())
        .collect()
}

/// Parses a 200 response body: one or more note signature lines, each
/// starting with `— ` and ending in a newline. Which of them are
/// cosignatures from trusted witness keys is the caller's to check
/// ([`CosignerVerifier::verify`](crate::CosignerVerifier::verify)); lines
/// from unknown keys must be ignored.
///
/// # Errors
/// [`Error::MalformedWitnessResponse`].
pub fn parse_cosignature_response(body: &[u8]) -> Result<Vec<NoteSignature>, Error> {
    let bad = |reason| Error::MalformedWitnessResponse { reason };
    let text = std::str::from_utf8(body).map_err(|_| bad("not valid UTF-8"))?;
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(bad("contains a control character"));
    }
    let Some(lines) = text.strip_suffix('\n') else {
        return Err(bad(if text.is_empty() {
            "no signature line"
        } else {
            "last line does not end in a newline"
        }));
    };
    let mut sigs = Vec::new();
    for line in lines.split('\n') {
        if sigs.len() == MAX_SIGNATURES {
            return Err(bad("too many signature lines"));
        }
        sigs.push(parse_signature_line(line).map_err(|_| bad("malformed signature line"))?);
    }
    Ok(sigs)
}
