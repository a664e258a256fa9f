//! RFC 6962 hashing: leaf hashes, node hashes and the [`Hash`] type.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

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
///
/// Like [`node_hash`], it runs SHA-256's block function directly: the
/// `0x00` prefix and the first 63 bytes make the first block, whole blocks
/// of the entry are hashed in place, and the rest is padded here.
#[must_use]
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut state = SHA256_IV;
    let mut block = Block::default();
    // Message length in bits, modulo 2^64 as SHA-256 defines it.
    let bits = (entry.len() as u64).wrapping_add(1).wrapping_mul(8);
    let (head, rest) = entry.split_at(entry.len().min(63));
    block[1..=head.len()].copy_from_slice(head);
    let tail = if head.len() == 63 {
        sha2::compress256(&mut state, std::slice::from_ref(&block));
        let mut blocks = rest.chunks_exact(64);
        for b in &mut blocks {
            sha2::compress256(&mut state, std::slice::from_ref(Block::from_slice(b)));
        }
        let tail = blocks.remainder();
        block = Block::default();
        block[..tail.len()].copy_from_slice(tail);
        tail.len()
    } else {
        1 + head.len()
    };
    // `tail` < 64 bytes of message are in `block`; then 0x80, zeros, and the
    // length in the last 8 bytes, spilling into one more block if needed.
    block[tail] = 0x80;
    if tail >= 56 {
        sha2::compress256(&mut state, std::slice::from_ref(&block));
        block = Block::default();
    }
    block[56..].copy_from_slice(&bits.to_be_bytes());
    sha2::compress256(&mut state, std::slice::from_ref(&block));
    let mut out = [0u8; HASH_SIZE];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    Hash(out)
}

/// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
///
/// The input is always 65 bytes, so this runs SHA-256's block function on
/// its two padded blocks directly, without the streaming API's buffering:
/// proof verification and appends are mostly node hashes.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut blocks = [Block::default(); 2];
    // Block 1: 0x01, left (32 bytes), the first 31 bytes of right.
    blocks[0][0] = 0x01;
    blocks[0][1..=HASH_SIZE].copy_from_slice(&left.0);
    blocks[0][1 + HASH_SIZE..].copy_from_slice(&right.0[..HASH_SIZE - 1]);
    // Block 2: the last byte of right, the 0x80 terminator, zeros, and the
    // message length in bits (65 * 8 = 520) as a big-endian u64.
    blocks[1][0] = right.0[HASH_SIZE - 1];
    blocks[1][1] = 0x80;
    blocks[1][56..].copy_from_slice(&520u64.to_be_bytes());
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, &blocks);
    let mut out = [0u8; HASH_SIZE];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    Hash(out)
}

/// One 64-byte SHA-256 block, as `sha2::compress256` takes it.
type Block = sha2::digest::generic_array::GenericArray<u8, sha2::digest::consts::U64>;

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn empty_is_sha256_of_nothing() {
        assert_eq!(Hash::EMPTY.0, <[u8; 32]>::from(Sha256::digest([])));
    }

    #[test]
    fn node_hash_is_sha256_of_the_65_bytes() {
        for i in 0u8..=255 {
            let (l, r) = (leaf_hash(&[i]), leaf_hash(&[i, i]));
            let mut buf = vec![0x01];
            buf.extend_from_slice(&l.0);
            buf.extend_from_slice(&r.0);
            assert_eq!(node_hash(&l, &r).0, <[u8; 32]>::from(Sha256::digest(&buf)));
        }
    }

    #[test]
    fn leaf_hash_is_sha256_with_the_prefix() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in (0..=300).chain([511, 512, 513, 999, 1000]) {
            let entry = &data[..len];
            let mut h = Sha256::new();
            h.update([0x00]);
            h.update(entry);
            assert_eq!(leaf_hash(entry).0, <[u8; 32]>::from(h.finalize()), "{len}");
        }
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
