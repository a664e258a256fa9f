//! C2SP tlog-proof@v1 (<https://c2sp.org/tlog-proof>): an entry's
//! offline-verifiable proof of inclusion, conventionally saved as
//! `<name>.tlog-proof`.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>                      (optional, unauthenticated)
//! index <decimal>
//! <inclusion proof hash, base64>      (zero or more lines)
//!
//! <checkpoint: a signed note, verbatim, with its cosignatures>
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::Error;
use crate::checkpoint::{SignedCheckpoint, open_checkpoint};
use crate::hash::{Hash, leaf_hash};
use crate::note::{Note, VerifierKey};
use crate::policy::{Policy, WitnessedCheckpoint};
use crate::proof::verify_inclusion;

/// The first line of a proof file.
pub const PROOF_FILE_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most inclusion proof lines a proof file may carry (a tree of up to
/// 2^64 - 1 leaves needs at most 64).
pub const MAX_PROOF_FILE_HASHES: usize = 64;

/// A parsed `c2sp.org/tlog-proof@v1` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofFile {
    /// Opaque extra data. It is not authenticated: never trust it.
    pub extra: Option<Vec<u8>>,
    /// The entry's index in the log.
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up to the root's child.
    pub inclusion_proof: Vec<Hash>,
    /// The checkpoint, a signed note, verbatim (cosignatures included).
    pub checkpoint: Vec<u8>,
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

impl ProofFile {
    /// Parses a proof file strictly: the header line; optionally
    /// `extra <base64>` (canonical standard base64); `index <decimal>`
    /// (no leading zeros); zero to 64 hashes in canonical standard base64;
    /// an empty line; then a signed note, which must parse
    /// ([`Note::from_bytes`]) and ends the file. Every line ends in a
    /// newline.
    ///
    /// # Errors
    /// [`Error::MalformedProofFile`] with the line; [`Error::MalformedNote`]
    /// for the checkpoint.
    pub fn parse(bytes: &[u8]) -> Result<ProofFile, Error> {
        let mut rest = bytes;
        let mut line_no = 0;
        let mut next_line = |rest: &mut &[u8]| -> Result<(usize, String), Error> {
            line_no += 1;
            let bad = |reason| Error::MalformedProofFile {
                line: line_no,
                reason,
            };
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or(bad("line does not end in a newline"))?;
            let line = std::str::from_utf8(&rest[..end])
                .map_err(|_| bad("line is not valid UTF-8"))?
                .to_owned();
            *rest = &rest[end + 1..];
            Ok((line_no, line))
        };
        let bad = |line, reason| Error::MalformedProofFile { line, reason };
        let (n, header) = next_line(&mut rest)?;
        if header != PROOF_FILE_HEADER {
            return Err(bad(n, "first line is not c2sp.org/tlog-proof@v1"));
        }
        let (mut n, mut line) = next_line(&mut rest)?;
        let mut extra = None;
        if let Some(data) = line.strip_prefix("extra ") {
            let decoded = B64
                .decode(data)
                .map_err(|_| bad(n, "extra data is not standard base64"))?;
            if B64.encode(&decoded) != data {
                return Err(bad(n, "extra data is not canonical base64"));
            }
            extra = Some(decoded);
            (n, line) = next_line(&mut rest)?;
        }
        let index = line
            .strip_prefix("index ")
            .ok_or(bad(n, "want `index <decimal>`"))
            .and_then(|i| parse_decimal(i).ok_or(bad(n, "index is not a canonical decimal")))?;
        let mut inclusion_proof = Vec::new();
        loop {
            let (n, line) = next_line(&mut rest)?;
            if line.is_empty() {
                break;
            }
            if inclusion_proof.len() == MAX_PROOF_FILE_HASHES {
                return Err(bad(n, "more than 64 inclusion proof lines"));
            }
            let hash = Hash::from_base64(&line)
                .map_err(|_| bad(n, "not a 32-byte hash in standard base64"))?;
            if hash.to_base64() != line {
                return Err(bad(n, "hash is not canonical base64"));
            }
            inclusion_proof.push(hash);
        }
        Note::from_bytes(rest)?;
        Ok(ProofFile {
            extra,
            index,
            inclusion_proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The file's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{PROOF_FILE_HEADER}\n").into_bytes();
        if let Some(extra) = &self.extra {
            out.extend_from_slice(format!("extra {}\n", B64.encode(extra)).as_bytes());
        }
        out.extend_from_slice(format!("index {}\n", self.index).as_bytes());
        for h in &self.inclusion_proof {
            out.extend_from_slice(h.to_base64().as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// Verifies the proof offline under a policy: the checkpoint as
    /// [`Policy::verify_checkpoint`] does (a policy log's signature, the
    /// witnesses' cosignatures, the quorum; `now` in POSIX seconds), then
    /// that `entry`'s leaf hash is leaf `index` of the checkpoint's tree.
    ///
    /// # Errors
    /// Those of [`Policy::verify_checkpoint`]; [`Error::IndexOutOfRange`]
    /// or [`Error::InvalidInclusionProof`].
    pub fn verify(
        &self,
        entry: &[u8],
        policy: &Policy,
        now: u64,
    ) -> Result<WitnessedCheckpoint, Error> {
        let witnessed = policy.verify_checkpoint(&self.checkpoint, now)?;
        self.verify_inclusion_in(entry, &witnessed.checkpoint)?;
        Ok(witnessed)
    }

    /// Verifies the proof offline with the log's key only: no witness is
    /// required, cosignatures are kept unverified.
    ///
    /// # Errors
    /// Those of [`open_checkpoint`]; [`Error::IndexOutOfRange`] or
    /// [`Error::InvalidInclusionProof`].
    pub fn verify_with_key(
        &self,
        entry: &[u8],
        log_key: &VerifierKey,
    ) -> Result<SignedCheckpoint, Error> {
        let signed = open_checkpoint(&self.checkpoint, log_key)?;
        self.verify_inclusion_in(entry, &signed)?;
        Ok(signed)
    }

    fn verify_inclusion_in(&self, entry: &[u8], signed: &SignedCheckpoint) -> Result<(), Error> {
        let cp = &signed.checkpoint;
        verify_inclusion(
            self.index,
            cp.tree_size,
            &leaf_hash(entry),
            &self.inclusion_proof,
            &cp.root_hash,
        )
    }
}
