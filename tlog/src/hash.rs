//! RFC 6962 hashing: leaf hashes, node hashes and the [`Hash`] type.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::Error;

/// Size in bytes of every hash in the log.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 hash of a leaf or interior node of the tree.
///
/// Exactly 32 bytes; any other length is rejected when decoding.
/// `Debug` and `Display` print standard base64, as the log's APIs do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl Hash {
    /// The root hash of the empty tree, `SHA-256("")` (RFC 6962 §2.1).
    pub const EMPTY: Hash = Hash([
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ]);

    /// Decodes a hash from a byte slice that must be exactly 32 bytes long.
    ///
    /// # Errors
    /// [`Error::MalformedHash`] for any other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        let arr: [u8; HASH_SIZE] = bytes.try_into().map_err(|_| Error::MalformedHash {
            reason: "not 32 bytes",
        })?;
        Ok(Hash(arr))
    }

    /// Decodes a hash from standard (padded) base64.
    ///
    /// # Errors
    /// [`Error::MalformedHash`] if the text is not base64 or not 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = B64.decode(text).map_err(|_| Error::MalformedHash {
            reason: "not valid base64",
        })?;
        Self::from_slice(&bytes)
    }

    /// Encodes the hash as standard base64.
    #[must_use]
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Encodes the hash as lowercase hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        let mut s = String::with_capacity(2 * HASH_SIZE);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_base64())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// The RFC 6962 leaf hash of an entry: `SHA-256(0x00 || entry)`.
#[must_use]
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// The RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 1 + 2 * HASH_SIZE];
    buf[0] = 0x01;
    buf[1..=HASH_SIZE].copy_from_slice(&left.0);
    buf[1 + HASH_SIZE..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_sha256_of_nothing() {
        assert_eq!(Hash::EMPTY.0, <[u8; 32]>::from(Sha256::digest([])));
    }

    #[test]
    fn strict_length() {
        assert!(Hash::from_slice(&[0; 31]).is_err());
        assert!(Hash::from_slice(&[0; 33]).is_err());
        // 12 bytes of base64 garbage used by upstream probes.
        assert!(Hash::from_base64("ZG9uJ3QgY2FyZSAy").is_err());
        assert!(Hash::from_base64("not base64!").is_err());
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
    }
}
