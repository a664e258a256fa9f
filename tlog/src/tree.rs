//! The tree: stored-hash layout, tree hashes and proof generation.
//!
//! Every complete subtree of the log has a hash that never changes once the
//! subtree is full. Such a hash is addressed by a [`NodeId`]: its level (0 for
//! leaves) and its index among the subtrees of that level. These are the only
//! hashes a log needs to store; every tree hash and every proof is computed
//! from them. Appending leaf `n` adds `1 + trailing_ones(n)` of them (two on
//! average), which [`Frontier::append`] yields without reading storage.
//!
//! Storage is reached through [`HashReader`]; [`MemoryHashStore`] is an
//! in-memory implementation.

use std::fmt;
use std::sync::OnceLock;

use crate::Error;
use crate::hash::{Hash, node_hash};

/// The address of a stored hash: the complete subtree of `2^level` leaves
/// that covers leaves `index << level` to `((index + 1) << level) - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height of the subtree; 0 is a leaf.
    pub level: u8,
    /// Position of the subtree among those of its level, from the left.
    pub index: u64,
}

impl NodeId {
    /// Creates a node ID.
    #[must_use]
    pub const fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }
}

/// Reads stored hashes by [`NodeId`].
///
/// Implementations MUST return exactly one hash per requested ID, in the
/// order requested, and MUST return [`Error::HashUnavailable`] (never a
/// made-up hash) for an ID they do not hold.
pub trait HashReader {
    /// Returns the hashes at `ids`, in order.
    ///
    /// # Errors
    /// [`Error::HashUnavailable`] or an implementation's own failure.
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Error>;

    /// The tree hash of leaves `lo..hi`, if the reader knows it without
    /// reading storage; `None` otherwise (the default).
    ///
    /// Proofs ask for it for ranges that are not one complete subtree, which
    /// are on the ragged right edge of the tree (`hi` is the tree size), and
    /// would otherwise read and hash several stored hashes. A reader that
    /// keeps the [`Frontier`] of its tree can answer with
    /// [`Frontier::range_hash`]. Implementations MUST return either `None` or
    /// exactly the tree hash of those leaves.
    fn range_hash(&self, lo: u64, hi: u64) -> Option<Hash> {
        let _ = (lo, hi);
        None
    }
}

impl<T: HashReader + ?Sized> HashReader for &T {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Error> {
        (**self).read_hashes(ids)
    }

    fn range_hash(&self, lo: u64, hi: u64) -> Option<Hash> {
        (**self).range_hash(lo, hi)
    }
}

/// Position of a stored hash in a flat array that holds every stored hash in
/// the order they are created (the layout of Go's `golang.org/x/mod/sumdb/tlog`).
///
/// Useful for storage that wants one sequence instead of one per level.
#[must_use]
pub fn stored_hash_index(id: NodeId) -> u64 {
    let mut n = id.index;
    for _ in 0..id.level {
        n = 2 * n + 1;
    }
    let mut i = 0u64;
    let mut m = n;
    while m > 0 {
        i += m;
        m >>= 1;
    }
    i + u64::from(id.level)
}

/// Number of stored hashes in a tree of `tree_size` leaves.
#[must_use]
pub fn stored_hash_count(tree_size: u64) -> u64 {
    // Each leaf n adds 1 + trailing_ones(n) hashes; summed that is 2n - popcount(n).
    2 * tree_size - u64::from(tree_size.count_ones())
}

/// Largest power of two strictly less than `n` (`n >= 2`): the RFC 6962 split point.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Calls `f` with the IDs of the complete subtrees that make up leaves
/// `lo..hi`, from left to right (so largest first).
fn for_each_subtree(mut lo: u64, hi: u64, mut f: impl FnMut(NodeId)) {
    while lo < hi {
        let len = hi - lo;
        let mut level = 63 - len.leading_zeros();
        if lo != 0 {
            level = level.min(lo.trailing_zeros());
        }
        // level < 64 always holds, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        f(NodeId::new(level as u8, lo >> level));
        lo += 1u64 << level;
    }
}

/// Appends to `out` the IDs of the complete subtrees that make up leaves
/// `lo..hi`, from left to right (so largest first).
fn subtree_ids(lo: u64, hi: u64, out: &mut Vec<NodeId>) {
    for_each_subtree(lo, hi, |id| out.push(id));
}

/// The number of complete subtrees that make up leaves `lo..hi`.
fn subtree_count(lo: u64, hi: u64) -> usize {
    let mut n = 0;
    for_each_subtree(lo, hi, |_| n += 1);
    n
}

/// Folds the hashes of a left-to-right subtree decomposition into one hash.
fn fold_right(hashes: &[Hash]) -> Hash {
    let mut it = hashes.iter().rev();
    let Some(mut acc) = it.next().copied() else {
        return Hash::EMPTY;
    };
    for h in it {
        acc = node_hash(h, &acc);
    }
    acc
}

/// Computes the hash of each range of leaves in `ranges`, reading all the
/// stored hashes they need in one call.
///
/// This is the hot path of proof generation. A range that is not one
/// complete subtree is first asked of [`HashReader::range_hash`], which saves
/// reading and hashing its subtrees when the reader knows it.
fn range_hashes(ranges: &[(u64, u64)], reader: &impl HashReader) -> Result<Vec<Hash>, Error> {
    let mut ids = Vec::with_capacity(ranges.len() + 64);
    // Ranges whose hash the reader knew, by position (usually none or one).
    let mut known: Vec<(usize, Hash)> = Vec::new();
    for (i, &(lo, hi)) in ranges.iter().enumerate() {
        if subtree_count(lo, hi) > 1
            && let Some(h) = reader.range_hash(lo, hi)
        {
            known.push((i, h));
            continue;
        }
        subtree_ids(lo, hi, &mut ids);
    }
    let hashes = reader.read_hashes(&ids)?;
    if hashes.len() != ids.len() {
        return Err(Error::ShortRead {
            got: hashes.len(),
            want: ids.len(),
        });
    }
    let mut out = Vec::with_capacity(ranges.len());
    let mut known = known.into_iter().peekable();
    let mut start = 0;
    for (i, &(lo, hi)) in ranges.iter().enumerate() {
        if let Some((_, h)) = known.next_if(|(k, _)| *k == i) {
            out.push(h);
            continue;
        }
        let end = start + subtree_count(lo, hi);
        out.push(match hashes.get(start..end) {
            Some([one]) => *one,
            Some(several) => fold_right(several),
            None => {
                return Err(Error::ShortRead {
                    got: hashes.len(),
                    want: end,
                });
            }
        });
        start = end;
    }
    Ok(out)
}

/// The root hash of the tree of the first `tree_size` leaves.
///
/// Reads at most 64 stored hashes.
///
/// # Errors
/// Whatever the reader returns.
pub fn tree_hash(tree_size: u64, reader: &impl HashReader) -> Result<Hash, Error> {
    if tree_size == 0 {
        return Ok(Hash::EMPTY);
    }
    Ok(range_hashes(&[(0, tree_size)], reader)?[0])
}

/// The inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree of
/// `tree_size` leaves, ordered from the leaf up.
///
/// # Errors
/// [`Error::IndexOutOfRange`] if `index >= tree_size`; whatever the reader returns.
pub fn prove_inclusion(
    index: u64,
    tree_size: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, Error> {
    if index >= tree_size {
        return Err(Error::IndexOutOfRange { index, tree_size });
    }
    let mut ranges = Vec::with_capacity(64);
    inclusion_ranges(index, 0, tree_size, &mut ranges);
    range_hashes(&ranges, reader)
}

fn inclusion_ranges(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    if hi - lo <= 1 {
        return;
    }
    let k = split_point(hi - lo);
    if m < lo + k {
        inclusion_ranges(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        inclusion_ranges(m, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// The consistency proof (RFC 9162 §2.1.4.1) from the tree of `first` leaves
/// to the tree of `second` leaves.
///
/// The proof is empty when `first == second` and when `first == 0` (every
/// tree extends the empty tree; see `spec/formats.md`).
///
/// # Errors
/// [`Error::SizesOutOfOrder`] if `first > second`; whatever the reader returns.
pub fn prove_consistency(
    first: u64,
    second: u64,
    reader: &impl HashReader,
) -> Result<Vec<Hash>, Error> {
    if first > second {
        return Err(Error::SizesOutOfOrder { first, second });
    }
    if first == 0 || first == second {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::with_capacity(64);
    consistency_ranges(first, 0, second, true, &mut ranges);
    range_hashes(&ranges, reader)
}

fn consistency_ranges(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push((lo, hi));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        consistency_ranges(m, lo, lo + k, whole, out);
        out.push((lo + k, hi));
    } else {
        consistency_ranges(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// The right edge of a tree: the hashes of the complete subtrees that make up
/// the whole tree (one per set bit of the tree size).
///
/// It is all a sequencer needs to keep in memory to append leaves and compute
/// root hashes without reading storage.
///
/// The root hash is computed on demand (at most 63 node hashes) and cached
/// until the next append.
#[derive(Clone, Default)]
pub struct Frontier {
    size: u64,
    /// Largest (leftmost) subtree first.
    hashes: Vec<Hash>,
    /// The hashes of the ragged right edge (see `range_hash`), the root hash
    /// first, once computed for the current size.
    root: OnceLock<Vec<Hash>>,
}

impl PartialEq for Frontier {
    fn eq(&self, other: &Self) -> bool {
        self.size == other.size && self.hashes == other.hashes
    }
}

impl Eq for Frontier {}

impl fmt::Debug for Frontier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frontier")
            .field("size", &self.size)
            .field("hashes", &self.hashes)
            .finish()
    }
}

impl Frontier {
    /// The frontier of the empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the frontier of the tree of `tree_size` leaves from storage,
    /// reading at most 64 hashes.
    ///
    /// # Errors
    /// Whatever the reader returns.
    pub fn from_reader(tree_size: u64, reader: &impl HashReader) -> Result<Self, Error> {
        let mut ids = Vec::with_capacity(64);
        subtree_ids(0, tree_size, &mut ids);
        let hashes = reader.read_hashes(&ids)?;
        if hashes.len() != ids.len() {
            return Err(Error::ShortRead {
                got: hashes.len(),
                want: ids.len(),
            });
        }
        Ok(Frontier {
            size: tree_size,
            hashes,
            root: OnceLock::new(),
        })
    }

    /// The number of leaves in the tree.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.suffix_hashes().first().copied().unwrap_or(Hash::EMPTY)
    }

    /// The hash of leaves `lo..hi` if it is a range on the right edge of the
    /// tree that this frontier knows: `hi` is the tree size and `lo` is where
    /// one of the frontier's subtrees starts. `None` otherwise.
    ///
    /// These are the ranges that proofs at this tree size need but that are
    /// not one complete subtree. They are computed with the root hash (at
    /// most 63 node hashes) and cached until the next append.
    #[must_use]
    pub fn range_hash(&self, lo: u64, hi: u64) -> Option<Hash> {
        if hi != self.size || lo >= hi {
            return None;
        }
        // The subtrees after the one starting at `lo` are the set bits of the
        // size below the highest bit of `hi - lo`; `lo` is a start exactly
        // when those low bits of the size are `hi - lo`.
        let len = hi - lo;
        let top = 63 - len.leading_zeros();
        let low_mask = u64::MAX >> (63 - top);
        if self.size & low_mask != len {
            return None;
        }
        let before = (self.size & !low_mask).count_ones() as usize;
        self.suffix_hashes().get(before).copied()
    }

    /// For each subtree of the frontier, the hash of it and every subtree
    /// after it (so the first is the root hash).
    fn suffix_hashes(&self) -> &[Hash] {
        self.root.get_or_init(|| {
            let mut out = self.hashes.clone();
            for i in (0..out.len().saturating_sub(1)).rev() {
                out[i] = node_hash(&out[i], &out[i + 1]);
            }
            out
        })
    }

    /// Appends a leaf and calls `store` with every new stored hash, the leaf
    /// first, then each subtree it completed, lowest first.
    pub fn append(&mut self, leaf_hash: Hash, mut store: impl FnMut(NodeId, Hash)) {
        let n = self.size;
        self.root.take();
        let mut carry = leaf_hash;
        store(NodeId::new(0, n), carry);
        let mut level = 0u8;
        while n.checked_shr(u32::from(level)).is_some_and(|v| v & 1 == 1) {
            // A set bit at `level` means a complete left sibling sits on the stack.
            let Some(left) = self.hashes.pop() else {
                break;
            };
            carry = node_hash(&left, &carry);
            level += 1;
            store(NodeId::new(level, n >> level), carry);
        }
        self.hashes.push(carry);
        self.size += 1;
    }
}

/// The stored hashes that appending `leaf_hash` as leaf `index` creates,
/// reading the left siblings it needs from `reader`.
///
/// This is what a stateless appender uses; a sequencer that keeps a
/// [`Frontier`] needs no reads.
///
/// # Errors
/// Whatever the reader returns.
pub fn stored_hashes_for_append(
    index: u64,
    leaf_hash: Hash,
    reader: &impl HashReader,
) -> Result<Vec<(NodeId, Hash)>, Error> {
    let completed = index.trailing_ones();
    let mut ids = Vec::with_capacity(completed as usize);
    for level in 0..completed {
        // `level` < 64, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        ids.push(NodeId::new(level as u8, (index >> level) - 1));
    }
    let left = reader.read_hashes(&ids)?;
    if left.len() != ids.len() {
        return Err(Error::ShortRead {
            got: left.len(),
            want: ids.len(),
        });
    }
    let mut out = Vec::with_capacity(ids.len() + 1);
    let mut carry = leaf_hash;
    out.push((NodeId::new(0, index), carry));
    for (level, l) in (1u8..).zip(left.iter()) {
        carry = node_hash(l, &carry);
        out.push((NodeId::new(level, index >> level), carry));
    }
    Ok(out)
}

/// Stored hashes kept in memory, one vector per level.
#[derive(Clone, Debug, Default)]
pub struct MemoryHashStore {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryHashStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash and stores every hash it completes.
    pub fn append(&mut self, leaf_hash: Hash) {
        let levels = &mut self.levels;
        self.frontier.append(leaf_hash, |id, h| {
            let l = usize::from(id.level);
            if levels.len() <= l {
                levels.resize_with(l + 1, Vec::new);
            }
            levels[l].push(h);
        });
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The root hash of the whole tree.
    #[must_use]
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The frontier of the whole tree.
    #[must_use]
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The stored hash at `id`, if present.
    #[must_use]
    pub fn get(&self, id: NodeId) -> Option<Hash> {
        let idx = usize::try_from(id.index).ok()?;
        self.levels.get(usize::from(id.level))?.get(idx).copied()
    }
}

impl HashReader for MemoryHashStore {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            out.push(self.get(id).ok_or(Error::HashUnavailable {
                level: id.level,
                index: id.index,
            })?);
        }
        Ok(out)
    }

    fn range_hash(&self, lo: u64, hi: u64) -> Option<Hash> {
        self.frontier.range_hash(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    /// The RFC 6962 definition, recursively, for cross-checking.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Hash::EMPTY,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn stored_hash_index_matches_go_layout() {
        // Go: StoredHashIndex(0,0)=0, (0,1)=1, (1,0)=2, (0,2)=3, (0,3)=4, (1,1)=5, (2,0)=6.
        let want = [
            ((0, 0), 0),
            ((0, 1), 1),
            ((1, 0), 2),
            ((0, 2), 3),
            ((0, 3), 4),
            ((1, 1), 5),
            ((2, 0), 6),
        ];
        for ((l, n), i) in want {
            assert_eq!(stored_hash_index(NodeId::new(l, n)), i, "({l},{n})");
        }
        for n in 0..200u64 {
            let mut count = 0;
            let mut f = Frontier::new();
            for i in 0..n {
                f.append(leaf_hash(&i.to_be_bytes()), |_, _| count += 1);
            }
            assert_eq!(stored_hash_count(n), count);
        }
    }

    #[test]
    fn frontier_and_store_agree_with_definition() {
        let mut store = MemoryHashStore::new();
        let mut leaves = Vec::new();
        for i in 0..300u64 {
            let h = leaf_hash(&i.to_le_bytes());
            let via_reader = stored_hashes_for_append(i, h, &store).unwrap();
            let mut via_frontier = Vec::new();
            store
                .frontier
                .clone()
                .append(h, |id, h| via_frontier.push((id, h)));
            assert_eq!(via_reader, via_frontier);
            store.append(h);
            leaves.push(h);
            assert_eq!(store.root(), mth(&leaves));
            for size in [0, i / 2, i + 1] {
                assert_eq!(
                    tree_hash(size, &store).unwrap(),
                    mth(&leaves[..size as usize])
                );
            }
            let reloaded = Frontier::from_reader(i + 1, &store).unwrap();
            assert_eq!(&reloaded, store.frontier());
        }
    }

    #[test]
    fn frontier_range_hash_is_the_right_edge() {
        let mut store = MemoryHashStore::new();
        let mut leaves = Vec::new();
        for n in 1..=140u64 {
            let h = leaf_hash(&n.to_le_bytes());
            store.append(h);
            leaves.push(h);
            let f = store.frontier();
            let mut known = 0;
            for lo in 0..=n {
                for hi in lo..=n + 1 {
                    let got = f.range_hash(lo, hi);
                    if let Some(h) = got {
                        assert_eq!(
                            h,
                            mth(&leaves[lo as usize..hi as usize]),
                            "{lo}..{hi} of {n}"
                        );
                        known += 1;
                    }
                }
            }
            // One range per subtree of the frontier.
            assert_eq!(known, n.count_ones());
            assert_eq!(f.range_hash(0, n), Some(mth(&leaves)));
        }
    }

    #[test]
    fn proofs_reject_bad_arguments() {
        let mut store = MemoryHashStore::new();
        store.append(leaf_hash(b"a"));
        assert_eq!(
            prove_inclusion(1, 1, &store),
            Err(Error::IndexOutOfRange {
                index: 1,
                tree_size: 1
            })
        );
        assert_eq!(
            prove_consistency(2, 1, &store),
            Err(Error::SizesOutOfOrder {
                first: 2,
                second: 1
            })
        );
        assert!(matches!(
            prove_inclusion(0, 2, &store),
            Err(Error::HashUnavailable { .. })
        ));
    }
}
