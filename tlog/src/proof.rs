//! Pure, panic-free verification of inclusion and consistency proofs
//! (RFC 9162 §2.1.3.2 and §2.1.4.2).
//!
//! Hashes are [`Hash`] values, so a hash of the wrong length cannot reach
//! these functions: it is rejected when decoded (see `spec/formats.md`).

use crate::Error;
use crate::hash::{Hash, node_hash};

/// Computes the root hash implied by an inclusion proof.
///
/// # Errors
/// [`Error::IndexOutOfRange`] if `index >= tree_size`;
/// [`Error::InvalidInclusionProof`] if the proof has the wrong length.
pub fn root_from_inclusion_proof(
    index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
) -> Result<Hash, Error> {
    if index >= tree_size {
        return Err(Error::IndexOutOfRange { index, tree_size });
    }
    let mut fn_ = index;
    let mut sn = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(Error::InvalidInclusionProof {
                reason: "proof is too long",
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(Error::InvalidInclusionProof {
            reason: "proof is too short",
        });
    }
    Ok(r)
}

/// Verifies that `leaf_hash` is leaf `index` of the tree of `tree_size`
/// leaves whose root hash is `root`.
///
/// `tree_size` and `root` must come from a verified checkpoint.
///
/// # Errors
/// [`Error::IndexOutOfRange`] or [`Error::InvalidInclusionProof`].
pub fn verify_inclusion(
    index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), Error> {
    let computed = root_from_inclusion_proof(index, tree_size, leaf_hash, proof)?;
    if computed != *root {
        return Err(Error::InvalidInclusionProof {
            reason: "computed root hash does not match",
        });
    }
    Ok(())
}

/// Verifies that the tree of `second` leaves with root `second_root` extends
/// the tree of `first` leaves with root `first_root`.
///
/// Rules beyond RFC 9162 (decided in `spec/formats.md`):
/// - from size 0 only the empty proof is valid, and `first_root` must be the
///   empty tree's hash, `SHA-256("")`;
/// - equal sizes need an empty proof and equal roots.
///
/// # Errors
/// [`Error::SizesOutOfOrder`] or [`Error::InvalidConsistencyProof`].
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), Error> {
    if first > second {
        return Err(Error::SizesOutOfOrder { first, second });
    }
    if first == 0 {
        if !proof.is_empty() {
            return Err(Error::InvalidConsistencyProof {
                reason: "proof from the empty tree must be empty",
            });
        }
        if *first_root != Hash::EMPTY {
            return Err(Error::InvalidConsistencyProof {
                reason: "root hash of an empty tree must be SHA-256 of nothing",
            });
        }
        if second == 0 && *second_root != Hash::EMPTY {
            return Err(Error::InvalidConsistencyProof {
                reason: "root hash of an empty tree must be SHA-256 of nothing",
            });
        }
        return Ok(());
    }
    if first == second {
        if !proof.is_empty() {
            return Err(Error::InvalidConsistencyProof {
                reason: "proof between equal sizes must be empty",
            });
        }
        if first_root != second_root {
            return Err(Error::InvalidConsistencyProof {
                reason: "different root hashes at the same tree size",
            });
        }
        return Ok(());
    }
    let Some((head, rest)) = proof.split_first() else {
        return Err(Error::InvalidConsistencyProof {
            reason: "proof is empty",
        });
    };
    // If `first` is a power of two, the old root is the first node of the path.
    let (start, path) = if first.is_power_of_two() {
        (first_root, proof)
    } else {
        (head, rest)
    };
    let mut fn_ = first - 1;
    let mut sn = second - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = *start;
    let mut sr = *start;
    for c in path {
        if sn == 0 {
            return Err(Error::InvalidConsistencyProof {
                reason: "proof is too long",
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(Error::InvalidConsistencyProof {
            reason: "proof is too short",
        });
    }
    if fr != *first_root {
        return Err(Error::InvalidConsistencyProof {
            reason: "computed first root hash does not match",
        });
    }
    if sr != *second_root {
        return Err(Error::InvalidConsistencyProof {
            reason: "computed second root hash does not match",
        });
    }
    Ok(())
}
