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
}
