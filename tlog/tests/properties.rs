//! Property tests over random trees: every proof verifies, every tampered
//! proof, root, size or index is rejected (or, for a changed size, accepted
//! exactly when RFC 9162 cannot tell the two sizes apart), stored-hash reads
//! agree with the frontier, and proofs built from tiles equal proofs built
//! from the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use tlog::{
    Error, Frontier, Hash, MemoryHashStore, TileHashReader, TileId, TileReader, leaf_hash,
    node_hash, prove_consistency, prove_inclusion, root_from_inclusion_proof, tile_bytes,
    tiles_for_size, tree_hash, verify_consistency, verify_inclusion,
};

/// A random tree: distinct leaves of random length, and the root at every size.
struct Tree {
    leaves: Vec<Hash>,
    store: MemoryHashStore,
    /// `roots[s]` is the root hash of the first `s` leaves, from the frontier.
    roots: Vec<Hash>,
}

impl Tree {
    fn new(size: u64, seed: u64) -> Tree {
        let mut store = MemoryHashStore::new();
        let mut leaves = Vec::new();
        let mut roots = vec![store.root()];
        let mut x = seed | 1;
        for i in 0..size {
            // xorshift: leaf contents and lengths vary, and the index makes
            // every leaf distinct.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 100) as usize;
            let mut entry = i.to_be_bytes().to_vec();
            entry.extend(std::iter::repeat_n(x as u8, len));
            let h = leaf_hash(&entry);
            store.append(h);
            leaves.push(h);
            roots.push(store.root());
        }
        Tree {
            leaves,
            store,
            roots,
        }
    }

    fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    fn root(&self, size: u64) -> Hash {
        self.roots[usize::try_from(size).unwrap()]
    }
}

/// The RFC 6962 definition of the tree hash, recursively, for cross-checking.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash::EMPTY,
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// Largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]), straight from the definition.
fn ref_inclusion(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n as u64) as usize;
    if m < k {
        let mut p = ref_inclusion(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = ref_inclusion(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b), straight from the definition.
fn ref_subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { vec![] } else { vec![mth(leaves)] };
    }
    let k = split(n as u64) as usize;
    if m <= k {
        let mut p = ref_subproof(m, &leaves[..k], b);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = ref_subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// What a verifier computes from a proof, symbolically: `P(j)` is the
/// proof's `j`-th hash, `Leaf` the leaf hash, `Old` the old root it is given.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sym {
    Leaf,
    Old,
    P(usize),
    Node(Box<Sym>, Box<Sym>),
}

fn node(l: Sym, r: Sym) -> Sym {
    Sym::Node(Box::new(l), Box::new(r))
}

impl Sym {
    fn replace_old(&self, with: &Sym) -> Sym {
        match self {
            Sym::Old => with.clone(),
            Sym::Node(l, r) => node(l.replace_old(with), r.replace_old(with)),
            s => s.clone(),
        }
    }
}

/// The root that the proof of leaf `m` in a tree of `n` leaves yields, as an
/// expression of the leaf and the proof's hashes; and the proof's length.
fn inclusion_shape(m: u64, n: u64) -> (Sym, usize) {
    fn go(m: u64, n: u64, next: &mut usize) -> Sym {
        if n == 1 {
            return Sym::Leaf;
        }
        let k = split(n);
        let (sub, left) = if m < k {
            (go(m, k, next), true)
        } else {
            (go(m - k, n - k, next), false)
        };
        let p = Sym::P(*next);
        *next += 1;
        if left { node(sub, p) } else { node(p, sub) }
    }
    let mut next = 0;
    let root = go(m, n, &mut next);
    (root, next)
}

/// The (old root, new root) that the consistency proof from `m` to `n`
/// leaves yields, as expressions of the given old root and the proof's
/// hashes; and the proof's length. `0 < m <= n`.
fn consistency_shape(m: u64, n: u64) -> (Sym, Sym, usize) {
    fn go(m: u64, n: u64, b: bool, next: &mut usize) -> (Sym, Sym) {
        if m == n {
            if b {
                return (Sym::Old, Sym::Old);
            }
            let p = Sym::P(*next);
            *next += 1;
            return (p.clone(), p);
        }
        let k = split(n);
        if m <= k {
            let (o, nw) = go(m, k, b, next);
            let p = Sym::P(*next);
            *next += 1;
            (o, node(nw, p))
        } else {
            let (o, nw) = go(m - k, n - k, false, next);
            let p = Sym::P(*next);
            *next += 1;
            (node(p.clone(), o), node(p, nw))
        }
    }
    let mut next = 0;
    let (o, nw) = go(m, n, true, &mut next);
    (o, nw, next)
}

/// Whether an honest inclusion proof for (`m`, `n`) must also verify when
/// checked as (`m2`, `n2`) with the same leaf and root: exactly when both
/// yield the same expression (else the roots differ, barring a collision).
fn inclusion_indistinguishable(m: u64, n: u64, m2: u64, n2: u64) -> bool {
    m2 < n2 && inclusion_shape(m, n) == inclusion_shape(m2, n2)
}

/// The same for an honest consistency proof for (`m`, `n`), `0 < m < n`,
/// checked as (`m2`, `n2`) with the same roots: the old and new roots the
/// verifier computes, with the given old root substituted, must be the
/// honest ones.
fn consistency_indistinguishable(m: u64, n: u64, m2: u64, n2: u64) -> bool {
    if m2 == 0 || m2 > n2 {
        return false;
    }
    let (old, new, len) = consistency_shape(m, n);
    let (old2, new2, len2) = consistency_shape(m2, n2);
    if len != len2 {
        return false;
    }
    // The value of the old root: its expression, or a fresh symbol if the
    // verifier takes it as given (old size a power of two).
    let old_value = if old == Sym::Old {
        Sym::P(usize::MAX)
    } else {
        old
    };
    let new_value = new.replace_old(&old_value);
    old2.replace_old(&old_value) == old_value && new2.replace_old(&old_value) == new_value
}

/// Every way we perturb a size or an index: ±1 and each single bit flip.
fn perturb(x: u64) -> Vec<u64> {
    let mut v = vec![x.wrapping_add(1), x.wrapping_sub(1)];
    v.extend((0..64).map(|b| x ^ (1 << b)));
    v
}

fn flip_bit(h: &Hash, bit: usize) -> Hash {
    let mut h = *h;
    h.0[bit / 8] ^= 1 << (bit % 8);
    h
}

/// A [`TileReader`] that serves the tiles of a store, as a log would.
struct StoreTiles<'a>(&'a MemoryHashStore);

impl TileReader for StoreTiles<'_> {
    fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, Error> {
        tiles.iter().map(|t| tile_bytes(*t, self.0)).collect()
    }
}

#[test]
fn shapes_match_reference_proof_lengths() {
    // The symbolic shapes above are used as an oracle; check them against
    // the reference definitions and the library on a real tree first.
    let t = Tree::new(70, 1);
    for n in 1..=70u64 {
        for m in 0..n {
            let (root, len) = inclusion_shape(m, n);
            assert_eq!(
                len,
                ref_inclusion(m as usize, &t.leaves[..n as usize]).len()
            );
            assert!(root != Sym::Leaf || n == 1);
        }
        for m in 1..=n {
            let (_, _, len) = consistency_shape(m, n);
            assert_eq!(
                len,
                ref_subproof(m as usize, &t.leaves[..n as usize], true).len()
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Small trees: every inclusion proof and every consistency proof, at
    /// every size, equals the RFC definition and verifies.
    #[test]
    fn small_trees_every_proof(size in 1u64..=64, seed: u64) {
        let t = Tree::new(size, seed);
        for n in 0..=size {
            let leaves = &t.leaves[..n as usize];
            prop_assert_eq!(t.roots[n as usize], mth(leaves));
            prop_assert_eq!(tree_hash(n, &t.store).unwrap(), t.roots[n as usize]);
            for m in 0..n {
                let proof = prove_inclusion(m, n, &t.store).unwrap();
                prop_assert_eq!(&proof, &ref_inclusion(m as usize, leaves));
                verify_inclusion(m, n, &t.leaves[m as usize], &proof, &t.roots[n as usize])
                    .unwrap();
            }
            for m in 0..=n {
                let proof = prove_consistency(m, n, &t.store).unwrap();
                if m > 0 {
                    prop_assert_eq!(&proof, &ref_subproof(m as usize, leaves, true));
                } else {
                    prop_assert!(proof.is_empty());
                }
                verify_consistency(m, n, &t.roots[m as usize], &t.roots[n as usize], &proof)
                    .unwrap();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Larger trees: every inclusion proof at the final size and at a random
    /// earlier size, every consistency proof into both, the tree hash at
    /// every size from stored hashes, and the frontier reloaded from storage.
    #[test]
    fn large_trees_every_proof(size in 256u64..=4096, seed: u64, n2_frac in 0.0f64..1.0) {
        let t = Tree::new(size, seed);
        prop_assert_eq!(t.store.root(), t.roots[size as usize]);
        for s in 0..=size {
            prop_assert_eq!(tree_hash(s, &t.store).unwrap(), t.roots[s as usize]);
        }
        let n2 = 1 + ((size - 1) as f64 * n2_frac) as u64;
        for n in [size, n2] {
            let root = t.roots[n as usize];
            for m in 0..n {
                let proof = prove_inclusion(m, n, &t.store).unwrap();
                verify_inclusion(m, n, &t.leaves[m as usize], &proof, &root).unwrap();
            }
            for m in 0..=n {
                let proof = prove_consistency(m, n, &t.store).unwrap();
                verify_consistency(m, n, &t.roots[m as usize], &root, &proof).unwrap();
            }
            let f = Frontier::from_reader(n, &t.store).unwrap();
            prop_assert_eq!(f.size(), n);
            prop_assert_eq!(f.root(), root);
        }
    }

    /// Proofs built from tiles alone (of the tree at some size, partial tiles
    /// included) are the proofs built from the store.
    #[test]
    fn tile_reader_matches_store(size in 1u64..=3000, seed: u64, picks in prop::collection::vec(any::<u64>(), 24)) {
        let t = Tree::new(size, seed);
        // The tree at the final size and at a size derived from the picks.
        for n in [size, 1 + picks[0] % size] {
            let tiles = StoreTiles(&t.store);
            let reader = TileHashReader::new(n, &tiles);
            prop_assert_eq!(tree_hash(n, &reader).unwrap(), t.roots[n as usize]);
            for (i, p) in picks.iter().enumerate() {
                let m = p % n;
                prop_assert_eq!(
                    prove_inclusion(m, n, &reader).unwrap(),
                    prove_inclusion(m, n, &t.store).unwrap()
                );
                let m = if i == 0 { n } else { p % (n + 1) };
                prop_assert_eq!(
                    prove_consistency(m, n, &reader).unwrap(),
                    prove_consistency(m, n, &t.store).unwrap()
                );
            }
            // Nothing beyond the tree at size n can be read from its tiles.
            let beyond = tree_hash(n + 1, &reader);
            prop_assert!(matches!(beyond, Err(Error::HashUnavailable { .. })), "{:?}", beyond);
        }
    }

    /// Any single-bit change to an inclusion proof, its leaf hash or its root
    /// makes verification fail; so does a truncated or extended proof, and
    /// any other index. A changed tree size fails unless RFC 9162 cannot tell
    /// it from the real one (same proof shape), which is why tree sizes must
    /// come from a signed checkpoint.
    #[test]
    fn inclusion_tampering_fails(size in 1u64..=2000, seed: u64, pick: u64, extra in any::<[u8; 32]>()) {
        let t = Tree::new(size, seed);
        let (m, n) = (pick % size, size);
        let (leaf, root) = (t.leaves[m as usize], t.roots[n as usize]);
        let proof = prove_inclusion(m, n, &t.store).unwrap();
        verify_inclusion(m, n, &leaf, &proof, &root).unwrap();
        prop_assert_eq!(proof.len(), inclusion_shape(m, n).1);

        for i in 0..proof.len() {
            for bit in 0..256 {
                let mut bad = proof.clone();
                bad[i] = flip_bit(&bad[i], bit);
                prop_assert!(verify_inclusion(m, n, &leaf, &bad, &root).is_err());
            }
        }
        for bit in 0..256 {
            prop_assert!(verify_inclusion(m, n, &flip_bit(&leaf, bit), &proof, &root).is_err());
            prop_assert!(verify_inclusion(m, n, &leaf, &proof, &flip_bit(&root, bit)).is_err());
        }
        // Truncated (at either end) and extended (at either end) proofs.
        if !proof.is_empty() {
            prop_assert!(verify_inclusion(m, n, &leaf, &proof[1..], &root).is_err());
            prop_assert!(verify_inclusion(m, n, &leaf, &proof[..proof.len() - 1], &root).is_err());
        }
        for h in [Hash(extra), root, leaf] {
            let mut longer = proof.clone();
            longer.push(h);
            prop_assert!(verify_inclusion(m, n, &leaf, &longer, &root).is_err());
            let mut longer = vec![h];
            longer.extend_from_slice(&proof);
            prop_assert!(verify_inclusion(m, n, &leaf, &longer, &root).is_err());
        }
        // Another index in the same tree never verifies.
        for m2 in perturb(m) {
            let got = verify_inclusion(m2, n, &leaf, &proof, &root);
            prop_assert!(got.is_err(), "index {} accepted as {}", m, m2);
            if m2 >= n {
                prop_assert_eq!(got, Err(Error::IndexOutOfRange { index: m2, tree_size: n }));
            }
        }
        // Another tree size verifies exactly when it is indistinguishable.
        for n2 in perturb(n) {
            let got = verify_inclusion(m, n2, &leaf, &proof, &root);
            prop_assert_eq!(
                got.is_ok(),
                inclusion_indistinguishable(m, n, m, n2),
                "size {} checked as {}: {:?}", n, n2, got
            );
            // When it does, it computes the same root: nothing is learnt
            // about a different tree.
            if got.is_ok() {
                prop_assert_eq!(root_from_inclusion_proof(m, n2, &leaf, &proof), Ok(root));
            }
        }
        for (m2, n2) in perturb(m).into_iter().zip(perturb(n)) {
            let got = verify_inclusion(m2, n2, &leaf, &proof, &root);
            prop_assert_eq!(got.is_ok(), inclusion_indistinguishable(m, n, m2, n2));
        }
    }

    /// The same for consistency proofs: any bit flip in the proof or either
    /// root, any truncation or extension fails; changed sizes fail unless
    /// indistinguishable.
    #[test]
    fn consistency_tampering_fails(size in 2u64..=2000, seed: u64, pick: u64, extra in any::<[u8; 32]>()) {
        let t = Tree::new(size, seed);
        let n = size;
        let m = 1 + pick % (n - 1); // 0 < m < n
        let (r1, r2) = (t.roots[m as usize], t.roots[n as usize]);
        let proof = prove_consistency(m, n, &t.store).unwrap();
        verify_consistency(m, n, &r1, &r2, &proof).unwrap();
        prop_assert_eq!(proof.len(), consistency_shape(m, n).2);

        for i in 0..proof.len() {
            for bit in 0..256 {
                let mut bad = proof.clone();
                bad[i] = flip_bit(&bad[i], bit);
                prop_assert!(verify_consistency(m, n, &r1, &r2, &bad).is_err());
            }
        }
        for bit in 0..256 {
            prop_assert!(verify_consistency(m, n, &flip_bit(&r1, bit), &r2, &proof).is_err());
            prop_assert!(verify_consistency(m, n, &r1, &flip_bit(&r2, bit), &proof).is_err());
        }
        prop_assert!(verify_consistency(m, n, &r1, &r2, &proof[1..]).is_err());
        prop_assert!(verify_consistency(m, n, &r1, &r2, &proof[..proof.len() - 1]).is_err());
        prop_assert!(verify_consistency(m, n, &r1, &r2, &[]).is_err());
        for h in [Hash(extra), r1, r2] {
            let mut longer = proof.clone();
            longer.push(h);
            prop_assert!(verify_consistency(m, n, &r1, &r2, &longer).is_err());
            let mut longer = vec![h];
            longer.extend_from_slice(&proof);
            prop_assert!(verify_consistency(m, n, &r1, &r2, &longer).is_err());
        }
        // Roots swapped.
        prop_assert!(verify_consistency(m, n, &r2, &r1, &proof).is_err());
        let sizes: Vec<(u64, u64)> = perturb(m)
            .into_iter()
            .map(|m2| (m2, n))
            .chain(perturb(n).into_iter().map(|n2| (m, n2)))
            .chain(perturb(m).into_iter().zip(perturb(n)))
            .collect();
        for (m2, n2) in sizes {
            let got = verify_consistency(m2, n2, &r1, &r2, &proof);
            prop_assert_eq!(
                got.is_ok(),
                consistency_indistinguishable(m, n, m2, n2),
                "sizes ({}, {}) checked as ({}, {}): {:?}", m, n, m2, n2, got
            );
            if m2 > n2 {
                prop_assert_eq!(got, Err(Error::SizesOutOfOrder { first: m2, second: n2 }));
            }
        }
    }
}

/// RFC 9162 verification does not pin the tree size: an honest proof also
/// verifies under some other sizes with the same proof shape. Pin one
/// example of each, and check that the oracle used above is not vacuous.
#[test]
fn size_is_bound_by_the_checkpoint_not_the_proof() {
    let t = Tree::new(32, 5);
    // Leaf 0 of 5 leaves has the same path as leaf 0 of 6 leaves.
    let proof = prove_inclusion(0, 5, &t.store).unwrap();
    verify_inclusion(0, 6, &t.leaves[0], &proof, &t.root(5)).unwrap();
    assert!(inclusion_indistinguishable(0, 5, 0, 6));
    // 4 to 5 leaves: the old tree is a complete subtree, and the proof is
    // the same as the one from 4 to 6 leaves... of the tree of 5 leaves.
    let proof = prove_consistency(4, 5, &t.store).unwrap();
    verify_consistency(4, 6, &t.root(4), &t.root(5), &proof).unwrap();
    assert!(consistency_indistinguishable(4, 5, 4, 6));

    let (mut incl, mut cons) = (0, 0);
    for n in 2..=t.size() {
        for m in 0..n {
            let proof = prove_inclusion(m, n, &t.store).unwrap();
            for n2 in perturb(n) {
                let ok = verify_inclusion(m, n2, &t.leaves[m as usize], &proof, &t.root(n)).is_ok();
                assert_eq!(
                    ok,
                    inclusion_indistinguishable(m, n, m, n2),
                    "({m},{n}) as ({m},{n2})"
                );
                incl += usize::from(ok);
            }
        }
        for m in 1..n {
            let proof = prove_consistency(m, n, &t.store).unwrap();
            for (m2, n2) in perturb(m)
                .into_iter()
                .map(|m2| (m2, n))
                .chain(perturb(n).into_iter().map(|n2| (m, n2)))
            {
                let ok = verify_consistency(m2, n2, &t.root(m), &t.root(n), &proof).is_ok();
                assert_eq!(
                    ok,
                    consistency_indistinguishable(m, n, m2, n2),
                    "({m},{n}) as ({m2},{n2})"
                );
                cons += usize::from(ok);
            }
        }
    }
    assert!(incl > 0 && cons > 0, "{incl} {cons}");
    eprintln!("accepted under another size: {incl} inclusion, {cons} consistency checks");
}

/// A tree with tiles on three levels (70,000 leaves: level 2 has a partial
/// tile of one hash): proofs from tiles equal proofs from the store.
#[test]
fn tile_reader_three_levels() {
    let t = Tree::new(70_000, 7);
    let tiles = StoreTiles(&t.store);
    for n in [70_000u64, 65_536, 65_537, 65_535, 256 * 256 + 256 * 17 + 3] {
        let reader = TileHashReader::new(n, &tiles);
        assert_eq!(tree_hash(n, &reader).unwrap(), t.roots[n as usize]);
        for m in [0, 1, 255, 256, 65_535, n / 2, n - 1] {
            if m < n {
                let proof = prove_inclusion(m, n, &reader).unwrap();
                assert_eq!(proof, prove_inclusion(m, n, &t.store).unwrap());
                verify_inclusion(m, n, &t.leaves[m as usize], &proof, &t.roots[n as usize])
                    .unwrap();
            }
            let proof = prove_consistency(m, n, &reader).unwrap();
            assert_eq!(proof, prove_consistency(m, n, &t.store).unwrap());
        }
    }
    let levels: Vec<u8> = tiles_for_size(70_000).iter().map(|t| t.level).collect();
    assert_eq!(levels.iter().max(), Some(&2));
}
