//! Proof verification on arbitrary input never panics. Half the inputs are
//! fully arbitrary (sizes, index, hashes, proof); the other half start from
//! an honest proof of a small tree and change it, and must then verify
//! exactly when nothing was changed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::{
    Hash, MemoryHashStore, leaf_hash, prove_consistency, prove_inclusion,
    root_from_inclusion_proof, verify_consistency, verify_inclusion,
};

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let n = self.0.len().min(8);
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        u64::from_le_bytes(b)
    }
    fn hash(&mut self) -> Hash {
        let mut b = [0u8; 32];
        let n = self.0.len().min(32);
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Hash(b)
    }
    fn hashes(&mut self) -> Vec<Hash> {
        let mut v = Vec::new();
        while !self.0.is_empty() && v.len() < 70 {
            v.push(self.hash());
        }
        v
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut input = Input(rest);
    if mode & 1 == 0 {
        let (a, b, c) = (input.u64(), input.u64(), input.u64());
        let (h1, h2) = (input.hash(), input.hash());
        let proof = input.hashes();
        let _ = verify_inclusion(a, b, &h1, &proof, &h2);
        let _ = root_from_inclusion_proof(a, b, &h1, &proof);
        let _ = verify_consistency(a, c, &h1, &h2, &proof);
        return;
    }
    // An honest proof in a tree of up to 300 leaves, then changes.
    let size = 1 + input.u64() % 300;
    let mut store = MemoryHashStore::new();
    for i in 0..size {
        store.append(leaf_hash(&i.to_le_bytes()));
    }
    let (m, old) = (input.u64() % size, input.u64() % (size + 1));
    let (dm, dsize, dold) = (input.u64(), input.u64(), input.u64());
    let flip = input.u64();
    let leaf = leaf_hash(&m.to_le_bytes());
    let root = store.root();
    let old_root = tlog::tree_hash(old, &store).unwrap();

    let mut proof = prove_inclusion(m, size, &store).unwrap();
    let changed = dm != 0 || dsize != 0 || (flip != 0 && !proof.is_empty());
    if flip != 0 && !proof.is_empty() {
        let i = (flip as usize / 256) % proof.len();
        proof[i].0[(flip as usize / 8) % 32] ^= 1 << (flip % 8);
    }
    let got = verify_inclusion(m ^ dm, size ^ dsize, &leaf, &proof, &root);
    if !changed {
        got.unwrap();
    } else if dsize == 0 {
        // Same tree size: another index or a changed hash never verifies.
        assert!(got.is_err());
    }

    let mut proof = prove_consistency(old, size, &store).unwrap();
    let changed = dold != 0 || dsize != 0 || (flip != 0 && !proof.is_empty());
    if flip != 0 && !proof.is_empty() {
        let i = (flip as usize / 256) % proof.len();
        proof[i].0[(flip as usize / 8) % 32] ^= 1 << (flip % 8);
    }
    let got = verify_consistency(old ^ dold, size ^ dsize, &old_root, &root, &proof);
    if !changed {
        got.unwrap();
    } else if dold == 0 && dsize == 0 && old != 0 && old != size {
        assert!(got.is_err());
    }
});
