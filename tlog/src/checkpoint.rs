//! C2SP tlog-checkpoint (<https://c2sp.org/tlog-checkpoint>).
//!
//! A checkpoint is the body of a signed note:
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, base64>
//! [extension lines]
//! ```

use crate::Error;
use crate::hash::Hash;
use crate::note::{Note, SignerKey, VerifierKey};
use crate::proof::verify_consistency;

/// A checkpoint body: the log's origin, tree size and root hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin, a unique identifier such as `example.com/log`.
    pub origin: String,
    /// Number of leaves in the tree.
    pub tree_size: u64,
    /// Root hash of the tree.
    pub root_hash: Hash,
    /// Optional extension lines, without their newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Creates a checkpoint without extension lines.
    #[must_use]
    pub fn new(origin: impl Into<String>, tree_size: u64, root_hash: Hash) -> Self {
        Checkpoint {
            origin: origin.into(),
            tree_size,
            root_hash,
            extensions: Vec::new(),
        }
    }

    /// The note text of the checkpoint.
    #[must_use]
    pub fn to_body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            self.root_hash.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body strictly: non-empty origin, a canonical
    /// decimal tree size, a 32-byte root hash in canonical standard base64
    /// (for tree size 0, the empty tree's hash `SHA-256("")`), and non-empty
    /// extension lines.
    ///
    /// # Errors
    /// [`Error::MalformedCheckpoint`].
    pub fn from_body(text: &str) -> Result<Self, Error> {
        let body = text.strip_suffix('\n').ok_or(Error::MalformedCheckpoint {
            reason: "body does not end in a newline",
        })?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(Error::MalformedCheckpoint {
                reason: "origin line is empty",
            });
        }
        if origin.chars().any(char::is_control) {
            return Err(Error::MalformedCheckpoint {
                reason: "origin contains a control character",
            });
        }
        let size = lines.next().ok_or(Error::MalformedCheckpoint {
            reason: "no tree size line",
        })?;
        let tree_size = parse_decimal(size).ok_or(Error::MalformedCheckpoint {
            reason: "tree size is not a canonical decimal number",
        })?;
        let root = lines.next().ok_or(Error::MalformedCheckpoint {
            reason: "no root hash line",
        })?;
        let root_hash = Hash::from_base64(root).map_err(|_| Error::MalformedCheckpoint {
            reason: "root hash is not 32 bytes of standard base64",
        })?;
        if root_hash.to_base64() != root {
            return Err(Error::MalformedCheckpoint {
                reason: "root hash is not canonical base64",
            });
        }
        if tree_size == 0 && root_hash != Hash::EMPTY {
            return Err(Error::MalformedCheckpoint {
                reason: "root hash of the empty tree is not SHA-256 of nothing",
            });
        }
        let mut extensions = Vec::new();
        for line in lines {
            if line.is_empty() {
                return Err(Error::MalformedCheckpoint {
                    reason: "empty extension line",
                });
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree_size,
            root_hash,
            extensions,
        })
    }

    /// Signs the checkpoint, giving the signed note. The key's name should be
    /// the origin.
    ///
    /// # Errors
    /// [`Error::MalformedNote`] if the origin or an extension holds characters
    /// a note cannot carry.
    pub fn sign(&self, key: &SignerKey) -> Result<Note, Error> {
        let mut note = Note::new(self.to_body())?;
        note.sign(key);
        Ok(note)
    }
}

/// Parses a canonical unsigned decimal: digits only, no sign, no leading zeros.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// A checkpoint whose signature by the log's key has been verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed body.
    pub checkpoint: Checkpoint,
    /// The note, with every signature it carried (verified or not).
    pub note: Note,
}

impl SignedCheckpoint {
    /// The serialized note.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }
}

/// Opens a signed checkpoint: parses the note, verifies it carries a valid
/// signature by `log_key`, and parses the body strictly. The checkpoint's
/// origin must be the key's name. Signatures by other keys (witness
/// cosignatures, say) are kept and ignored.
///
/// # Errors
/// [`Error::MalformedNote`], [`Error::NoVerifiedSignature`],
/// [`Error::InvalidSignature`], [`Error::MalformedCheckpoint`] or
/// [`Error::OriginMismatch`].
pub fn open_checkpoint(bytes: &[u8], log_key: &VerifierKey) -> Result<SignedCheckpoint, Error> {
    let note = Note::from_bytes(bytes)?;
    note.verify(std::slice::from_ref(log_key))?;
    let checkpoint = Checkpoint::from_body(note.text())?;
    if checkpoint.origin != log_key.name() {
        return Err(Error::OriginMismatch {
            got: checkpoint.origin,
            want: log_key.name().to_owned(),
        });
    }
    Ok(SignedCheckpoint { checkpoint, note })
}

/// The evidence of [`Error::Inconsistent`]: two checkpoints, each signed by
/// the log's key, that cannot both describe one append-only tree, and the
/// proof that was checked between them. Anyone holding the log's verifier
/// key can check it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inconsistency {
    /// The older checkpoint (the smaller or equal tree size), as verified.
    pub old: SignedCheckpoint,
    /// The newer checkpoint, as verified.
    pub new: SignedCheckpoint,
    /// The consistency proof from the older tree size to the newer one
    /// (empty when none is needed: equal sizes or an empty older tree).
    pub proof: Vec<Hash>,
}

/// Whether proving that a checkpoint of `new_size` extends one of
/// `old_size` takes a consistency proof: only when `0 < old_size < new_size`.
/// Otherwise [`verify_extends`] decides from the two checkpoints alone, with
/// an empty proof (equal sizes need equal roots, the empty tree is extended
/// by every tree, and a smaller new size is a rollback).
#[must_use]
pub fn consistency_proof_needed(old_size: u64, new_size: u64) -> bool {
    0 < old_size && old_size < new_size
}

/// Verifies that the verified checkpoint `new` extends the verified
/// checkpoint `old` of the same log: the tree of `new` holds the tree of
/// `old` as its prefix, as `proof` (the consistency proof from the old tree
/// size to the new one) shows. Equal sizes must have equal root hashes and
/// an empty proof; a smaller new size is a rollback.
///
/// Both checkpoints must have been opened with the log's key
/// ([`open_checkpoint`]); the proof may come from anywhere, it is only data
/// until this returns `Ok`. See [`consistency_proof_needed`] for when a
/// proof has to be fetched at all.
///
/// ```
/// use tlog::{Checkpoint, Error, MemoryHashStore, SignerKey, leaf_hash, open_checkpoint};
///
/// let key = SignerKey::from_seed("example.com/log", &[42; 32])?;
/// let mut store = MemoryHashStore::new();
/// let mut checkpoints = Vec::new();
/// for entry in ["one", "two", "three"] {
///     store.append(leaf_hash(entry.as_bytes()));
///     let note = Checkpoint::new(key.name(), store.size(), store.root()).sign(&key)?;
///     checkpoints.push(open_checkpoint(&note.to_bytes(), &key.verifier_key())?);
/// }
/// let (old, new) = (&checkpoints[1], &checkpoints[2]);
/// assert!(tlog::consistency_proof_needed(2, 3));
/// let proof = tlog::prove_consistency(2, 3, &store)?;
/// tlog::verify_extends(old, new, &proof)?;
/// // The other way round, the log would have rolled back.
/// assert_eq!(
///     tlog::verify_extends(new, old, &[]),
///     Err(Error::Rollback { old_size: 3, new_size: 2 })
/// );
/// # Ok::<(), tlog::Error>(())
/// ```
///
/// # Errors
/// [`Error::OriginMismatch`] if the two checkpoints are of different logs;
/// [`Error::Rollback`] if `new` has the smaller tree;
/// [`Error::Inconsistent`], with both checkpoints and the proof as
/// evidence, if they have different roots at the same size or the proof
/// does not verify.
pub fn verify_extends(
    old: &SignedCheckpoint,
    new: &SignedCheckpoint,
    proof: &[Hash],
) -> Result<(), Error> {
    let (o, n) = (&old.checkpoint, &new.checkpoint);
    if o.origin != n.origin {
        return Err(Error::OriginMismatch {
            got: n.origin.clone(),
            want: o.origin.clone(),
        });
    }
    if n.tree_size < o.tree_size {
        return Err(Error::Rollback {
            old_size: o.tree_size,
            new_size: n.tree_size,
        });
    }
    verify_consistency(o.tree_size, n.tree_size, &o.root_hash, &n.root_hash, proof).map_err(|e| {
        match e {
            Error::InvalidConsistencyProof { reason } => Error::Inconsistent {
                evidence: Box::new(Inconsistency {
                    old: old.clone(),
                    new: new.clone(),
                    proof: proof.to_vec(),
                }),
                reason,
            },
            other => other,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_body() {
        let root = Hash::EMPTY.to_base64();
        assert!(Checkpoint::from_body(&format!("o\n0\n{root}\n")).is_ok());
        assert!(Checkpoint::from_body(&format!("o\n5\n{root}\next\n")).is_ok());
        for bad in [
            format!("o\n0\n{root}"),
            format!("\n0\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n1\n{}\n", &root[..root.len() - 1]),
            "o\n1\nZG9uJ3QgY2FyZSAy\n".to_string(),
            format!("o\n0\n{}\n", Hash([0; 32]).to_base64()),
            format!("o\n1\n{root}\n\n"),
            "o\n1\n".to_string(),
            "o\n".to_string(),
        ] {
            assert!(Checkpoint::from_body(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sign_and_open() {
        let key = SignerKey::from_seed("example.com/log", &[1; 32]).unwrap();
        let other = SignerKey::from_seed("example.com/log", &[2; 32]).unwrap();
        let cp = Checkpoint::new("example.com/log", 3, Hash([9; 32]));
        let note = cp.sign(&key).unwrap();
        let opened = open_checkpoint(&note.to_bytes(), &key.verifier_key()).unwrap();
        assert_eq!(opened.checkpoint, cp);
        assert_eq!(
            open_checkpoint(&note.to_bytes(), &other.verifier_key()),
            Err(Error::NoVerifiedSignature)
        );
        let wrong_origin = SignerKey::from_seed("example.com/other", &[1; 32]).unwrap();
        let note = cp.sign(&wrong_origin).unwrap();
        assert!(matches!(
            open_checkpoint(&note.to_bytes(), &wrong_origin.verifier_key()),
            Err(Error::OriginMismatch { .. })
        ));
    }

    /// The log's checkpoints at sizes 0..=`n`, opened with its key, and the tree.
    fn log(n: u64) -> (Vec<SignedCheckpoint>, crate::MemoryHashStore) {
        let key = SignerKey::from_seed("example.com/log", &[1; 32]).unwrap();
        let mut store = crate::MemoryHashStore::new();
        let mut cps = Vec::new();
        for i in 0..=n {
            if i > 0 {
                store.append(crate::leaf_hash(&i.to_be_bytes()));
            }
            let note = Checkpoint::new(key.name(), i, store.root())
                .sign(&key)
                .unwrap();
            cps.push(open_checkpoint(&note.to_bytes(), &key.verifier_key()).unwrap());
        }
        (cps, store)
    }

    /// A checkpoint of the same log (same key) with another root: a fork.
    fn forked(size: u64) -> SignedCheckpoint {
        let key = SignerKey::from_seed("example.com/log", &[1; 32]).unwrap();
        let note = Checkpoint::new(key.name(), size, Hash([7; 32]))
            .sign(&key)
            .unwrap();
        open_checkpoint(&note.to_bytes(), &key.verifier_key()).unwrap()
    }

    #[test]
    fn extends_table() {
        let (cps, store) = log(9);
        let proof = |m: u64, n: u64| crate::prove_consistency(m, n, &store).unwrap();
        let other = SignerKey::from_seed("example.com/other", &[1; 32]).unwrap();
        let other_note = Checkpoint::new("example.com/other", 9, cps[9].checkpoint.root_hash)
            .sign(&other)
            .unwrap();
        let other_log = open_checkpoint(&other_note.to_bytes(), &other.verifier_key()).unwrap();
        let (fork5, fork9) = (forked(5), forked(9));
        // (old, new, proof, want): `Ok`, or the error variant's name. The
        // variants are pinned so that a shortcut cannot turn a fork into a
        // rollback, or either into a malformed-input error.
        let cases: Vec<(&SignedCheckpoint, &SignedCheckpoint, Vec<Hash>, &str)> = vec![
            (&cps[3], &cps[9], proof(3, 9), "ok"),
            (&cps[8], &cps[9], proof(8, 9), "ok"),
            (&cps[0], &cps[9], vec![], "ok"),
            (&cps[0], &cps[0], vec![], "ok"),
            (&cps[5], &cps[5], vec![], "ok"),
            (&cps[9], &cps[3], vec![], "rollback"),
            (&cps[9], &cps[0], vec![], "rollback"),
            (&cps[9], &cps[3], proof(3, 9), "rollback"),
            (&cps[5], &fork5, vec![], "inconsistent"),
            (&fork5, &cps[9], proof(5, 9), "inconsistent"),
            (&cps[5], &fork9, proof(5, 9), "inconsistent"),
            (&cps[3], &cps[9], vec![], "inconsistent"),
            (&cps[3], &cps[9], proof(4, 9), "inconsistent"),
            (&cps[5], &cps[5], vec![Hash::EMPTY], "inconsistent"),
            (&cps[0], &cps[9], vec![Hash::EMPTY], "inconsistent"),
            (&cps[3], &other_log, proof(3, 9), "origin"),
        ];
        for (old, new, proof, want) in cases {
            let got = match verify_extends(old, new, &proof) {
                Ok(()) => "ok",
                Err(Error::Rollback { old_size, new_size }) => {
                    assert_eq!(
                        (old_size, new_size),
                        (old.checkpoint.tree_size, new.checkpoint.tree_size)
                    );
                    "rollback"
                }
                Err(Error::Inconsistent { evidence, .. }) => {
                    assert_eq!(
                        *evidence,
                        Inconsistency {
                            old: old.clone(),
                            new: new.clone(),
                            proof: proof.clone()
                        }
                    );
                    "inconsistent"
                }
                Err(Error::OriginMismatch { .. }) => "origin",
                Err(e) => panic!("unexpected {e:?}"),
            };
            assert_eq!(
                got, want,
                "{} -> {}",
                old.checkpoint.tree_size, new.checkpoint.tree_size
            );
        }
    }

    #[test]
    fn extends_probes() {
        // Every tampered proof is rejected as an inconsistency: truncated,
        // with a hash added before or after, or with one bit flipped.
        let (cps, store) = log(13);
        for (m, n) in [(1, 13), (4, 13), (5, 12), (7, 8)] {
            let good = crate::prove_consistency(m, n, &store).unwrap();
            let (old, new) = (&cps[m as usize], &cps[n as usize]);
            verify_extends(old, new, &good).unwrap();
            let mut probes = vec![good[..good.len() - 1].to_vec()];
            probes.push([good.as_slice(), &[Hash::EMPTY]].concat());
            probes.push([&[Hash::EMPTY], good.as_slice()].concat());
            for i in 0..good.len() {
                for bit in [0, 7 * 8 + 3, 31 * 8 + 7] {
                    let mut p = good.clone();
                    p[i].0[bit / 8] ^= 1 << (bit % 8);
                    probes.push(p);
                }
            }
            for p in probes {
                let err = verify_extends(old, new, &p).unwrap_err();
                assert!(
                    matches!(err, Error::Inconsistent { ref evidence, .. } if evidence.proof == p),
                    "{m} -> {n}: {err:?}"
                );
                assert!(err.to_string().starts_with("invalid consistency proof: "));
            }
        }
    }

    #[test]
    fn proof_needed_only_between_growing_non_empty_trees() {
        assert!(consistency_proof_needed(1, 2));
        assert!(!consistency_proof_needed(0, 2));
        assert!(!consistency_proof_needed(2, 2));
        assert!(!consistency_proof_needed(3, 2));
    }
}
