//! Criterion benchmarks of the `tlog` library, with ct-merkle 0.3 side by side
//! on the operations it also has. Figures and machine: `docs/benchmarks.md`.
//!
//! Run: `cargo bench -p tlog --bench tlog -- --warm-up-time 1 --measurement-time 3`
//! (add a filter such as `proofs/16M` to run one group). The proof groups
//! build a tree of 1,000,000 and of 16,000,000 leaves (not powers of two,
//! so that the right edge of the tree is ragged) once per group, for each
//! library, only if the filter selects them; the 16M group needs about
//! 4 GB of memory and a minute or two to set up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use sha2_011::Sha256;
use tlog::{
    Checkpoint, Frontier, Hash, HashReader, MemoryHashStore, NodeId, SignerKey, leaf_hash,
    node_hash, open_checkpoint, prove_consistency, prove_inclusion, tree_hash, verify_consistency,
    verify_inclusion,
};

/// Bytes per leaf in every benchmark.
const LEAF_SIZE: usize = 100;
/// Leaves appended per iteration of the append benchmarks.
const APPENDS: u64 = 1 << 20;

/// Whether this is a real benchmark run (`cargo bench` passes `--bench`),
/// rather than `cargo test --all-targets` running each benchmark once in a
/// debug build: that gets trees 1,000 times smaller.
fn full_size() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `n`, or `n / 1000` when only testing the benchmarks.
fn scaled(n: u64) -> u64 {
    if full_size() { n } else { (n / 1000).max(2) }
}

type Leaf = [u8; LEAF_SIZE];
type CtTree = MemoryBackedTree<Sha256, Leaf>;

/// Leaf `i`: 100 bytes, distinct for every `i`, not all alike.
fn leaf(i: u64) -> Leaf {
    let mut l = [0u8; LEAF_SIZE];
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for chunk in l.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    l[..8].copy_from_slice(&i.to_be_bytes());
    l
}

/// Deterministic pseudo-random numbers below `bound`.
fn picks(count: usize, bound: u64, seed: u64) -> Vec<u64> {
    let mut x = seed | 1;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % bound
        })
        .collect()
}

/// A reader of the store's stored hashes only: it does not offer the
/// frontier's cached right-edge hashes ([`HashReader::range_hash`]).
struct Stateless<'a>(&'a MemoryHashStore);

impl HashReader for Stateless<'_> {
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, tlog::Error> {
        self.0.read_hashes(ids)
    }
}

fn ct_root_of(h: &Hash, size: u64) -> RootHash<Sha256> {
    RootHash::new(ct_merkle::digest::Output::<Sha256>::from(h.0), size)
}

fn bench_append(c: &mut Criterion) {
    let appends = scaled(APPENDS);
    let leaves: Vec<Leaf> = (0..appends).map(leaf).collect();
    let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();

    let mut g = c.benchmark_group("append");
    g.sample_size(10);
    g.throughput(Throughput::Elements(appends));
    g.bench_function("tlog/leaf_hash+MemoryHashStore::append", |b| {
        b.iter(|| {
            let mut store = MemoryHashStore::new();
            for l in &leaves {
                store.append(leaf_hash(l));
            }
            black_box(store.root())
        });
    });
    g.bench_function("tlog/Frontier::append", |b| {
        b.iter(|| {
            let mut f = Frontier::new();
            for h in &hashes {
                f.append(*h, |id, h| {
                    black_box((id, h));
                });
            }
            black_box(f.root())
        });
    });
    g.bench_function("tlog/leaf_hash", |b| {
        b.iter(|| {
            for l in &leaves {
                black_box(leaf_hash(l));
            }
        });
    });
    g.bench_function("ct-merkle/push", |b| {
        b.iter(|| {
            let mut t = CtTree::new();
            for l in &leaves {
                t.push(*l);
            }
            black_box(t.root())
        });
    });
    g.finish();
}

/// Both libraries' trees of one size, with random leaves, old sizes and
/// their proofs to verify.
struct Fixture {
    size: u64,
    store: MemoryHashStore,
    ct: CtTree,
    root: Hash,
    ct_root: RootHash<Sha256>,
    indexes: Vec<u64>,
    olds: Vec<u64>,
    old_roots: Vec<Hash>,
    ct_old_roots: Vec<RootHash<Sha256>>,
    incl: Vec<Vec<Hash>>,
    cons: Vec<Vec<Hash>>,
    ct_incl: Vec<InclusionProof<Sha256>>,
    ct_cons: Vec<ConsistencyProof<Sha256>>,
}

/// How many random leaves and old sizes each proof benchmark cycles through.
const PICKS: usize = 1024;

impl Fixture {
    fn new(size: u64) -> Fixture {
        let mut store = MemoryHashStore::new();
        let mut ct = CtTree::new();
        for i in 0..size {
            let l = leaf(i);
            store.append(leaf_hash(&l));
            ct.push(l);
        }
        let root = store.root();
        let ct_root = ct.root();
        assert_eq!(ct_root.as_bytes().as_slice(), root.0.as_slice());

        let indexes = picks(PICKS, size, 1);
        let olds: Vec<u64> = picks(PICKS, size - 1, 2).iter().map(|m| m + 1).collect();
        let old_roots: Vec<Hash> = olds
            .iter()
            .map(|&m| tree_hash(m, &store).unwrap())
            .collect();
        let ct_old_roots = olds
            .iter()
            .zip(&old_roots)
            .map(|(&m, h)| ct_root_of(h, m))
            .collect();
        let incl: Vec<Vec<Hash>> = indexes
            .iter()
            .map(|&i| prove_inclusion(i, size, &store).unwrap())
            .collect();
        let cons: Vec<Vec<Hash>> = olds
            .iter()
            .map(|&m| prove_consistency(m, size, &store).unwrap())
            .collect();
        let ct_incl: Vec<InclusionProof<Sha256>> = indexes
            .iter()
            .map(|&i| ct.prove_inclusion(usize::try_from(i).unwrap()))
            .collect();
        let ct_cons: Vec<ConsistencyProof<Sha256>> = olds
            .iter()
            .map(|&m| ct.prove_consistency(usize::try_from(size - m).unwrap()))
            .collect();
        // Both libraries produce the same proofs.
        for (p, q) in incl.iter().zip(&ct_incl) {
            assert_eq!(
                p.iter().flat_map(|h| h.0).collect::<Vec<u8>>(),
                q.as_bytes()
            );
        }
        for (p, q) in cons.iter().zip(&ct_cons) {
            assert_eq!(
                p.iter().flat_map(|h| h.0).collect::<Vec<u8>>(),
                q.as_bytes()
            );
        }
        Fixture {
            size,
            store,
            ct,
            root,
            ct_root,
            indexes,
            olds,
            old_roots,
            ct_old_roots,
            incl,
            cons,
            ct_incl,
            ct_cons,
        }
    }
}

fn bench_proofs(c: &mut Criterion, label: &str, size: u64) {
    // Built once for the whole group, and only if a benchmark of the group
    // is selected by the command line's filter.
    let fixture = OnceCell::new();
    let fx = || fixture.get_or_init(|| Fixture::new(size));
    let mut k = 0usize;
    let mut next = move || {
        k = (k + 1) % PICKS;
        k
    };

    let mut g = c.benchmark_group(format!("proofs/{label}"));
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("tlog", "prove_inclusion"), |b| {
        let f = fx();
        b.iter(|| {
            let i = next();
            black_box(prove_inclusion(f.indexes[i], f.size, &f.store).unwrap())
        });
    });
    g.bench_function(BenchmarkId::new("ct-merkle", "prove_inclusion"), |b| {
        let f = fx();
        b.iter(|| {
            let i = next();
            black_box(f.ct.prove_inclusion(f.indexes[i] as usize))
        });
    });
    // Verification includes hashing the 100-byte leaf, as ct-merkle's does.
    g.bench_function(BenchmarkId::new("tlog", "verify_inclusion"), |b| {
        let f = fx();
        let leaves: Vec<Leaf> = f.indexes.iter().map(|&i| leaf(i)).collect();
        b.iter(|| {
            let i = next();
            let h = leaf_hash(&leaves[i]);
            verify_inclusion(f.indexes[i], f.size, &h, &f.incl[i], &f.root).unwrap();
        });
    });
    g.bench_function(BenchmarkId::new("ct-merkle", "verify_inclusion"), |b| {
        let f = fx();
        let leaves: Vec<Leaf> = f.indexes.iter().map(|&i| leaf(i)).collect();
        b.iter(|| {
            let i = next();
            f.ct_root
                .verify_inclusion(&leaves[i], f.indexes[i], &f.ct_incl[i])
                .unwrap();
        });
    });
    g.bench_function(BenchmarkId::new("tlog", "prove_consistency"), |b| {
        let f = fx();
        b.iter(|| {
            let i = next();
            black_box(prove_consistency(f.olds[i], f.size, &f.store).unwrap())
        });
    });
    g.bench_function(BenchmarkId::new("ct-merkle", "prove_consistency"), |b| {
        let f = fx();
        b.iter(|| {
            let i = next();
            black_box(f.ct.prove_consistency((f.size - f.olds[i]) as usize))
        });
    });
    g.bench_function(BenchmarkId::new("tlog", "verify_consistency"), |b| {
        let f = fx();
        b.iter(|| {
            let i = next();
            verify_consistency(f.olds[i], f.size, &f.old_roots[i], &f.root, &f.cons[i]).unwrap();
        });
    });
    g.bench_function(BenchmarkId::new("ct-merkle", "verify_consistency"), |b| {
        let f = fx();
        b.iter(|| {
            let i = next();
            f.ct_root
                .verify_consistency(&f.ct_old_roots[i], &f.ct_cons[i])
                .unwrap();
        });
    });
    g.bench_function(BenchmarkId::new("tlog", "root"), |b| {
        let f = fx();
        b.iter(|| black_box(f.store.root()));
    });
    g.bench_function(BenchmarkId::new("ct-merkle", "root"), |b| {
        let f = fx();
        b.iter(|| black_box(f.ct.root()));
    });
    // The same with a reader that only reads stored hashes (as a storage
    // backend without the tree's frontier in memory would): ragged ranges on
    // the right edge are read and hashed each time.
    g.bench_function(BenchmarkId::new("tlog-stateless", "prove_inclusion"), |b| {
        let f = fx();
        let r = Stateless(&f.store);
        b.iter(|| {
            let i = next();
            black_box(prove_inclusion(f.indexes[i], f.size, &r).unwrap())
        });
    });
    g.bench_function(
        BenchmarkId::new("tlog-stateless", "prove_consistency"),
        |b| {
            let f = fx();
            let r = Stateless(&f.store);
            b.iter(|| {
                let i = next();
                black_box(prove_consistency(f.olds[i], f.size, &r).unwrap())
            });
        },
    );
    g.bench_function(BenchmarkId::new("tlog-stateless", "tree_hash"), |b| {
        let f = fx();
        let r = Stateless(&f.store);
        b.iter(|| black_box(tree_hash(f.size, &r).unwrap()));
    });
    g.finish();
}

fn bench_proofs_1m(c: &mut Criterion) {
    bench_proofs(c, "1M", scaled(1_000_000));
}

fn bench_proofs_16m(c: &mut Criterion) {
    bench_proofs(c, "16M", scaled(16_000_000));
}

/// The hash primitives: ours (SHA-256's block function from sha2 0.10), the
/// same through sha2 0.10's streaming API, and as ct-merkle computes them
/// (sha2 0.11 through the `digest` 0.11 API).
fn bench_hashes(c: &mut Criterion) {
    use sha2_011::Digest as _;
    let (a, b2) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let l = leaf(42);
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tlog/node_hash", |b| {
        b.iter(|| black_box(node_hash(black_box(&a), black_box(&b2))));
    });
    g.bench_function("sha2-0.11/node_hash", |b| {
        b.iter(|| {
            let mut h = Sha256::new_with_prefix([1u8]);
            h.update(black_box(&a.0));
            h.update(black_box(&b2.0));
            black_box(h.finalize())
        });
    });
    // What tlog did before calling the block function directly: sha2 0.10's
    // streaming API.
    g.bench_function("sha2-0.10-digest/node_hash", |b| {
        use sha2::Digest as _;
        b.iter(|| {
            let mut buf = [0u8; 65];
            buf[0] = 1;
            buf[1..33].copy_from_slice(&black_box(&a).0);
            buf[33..].copy_from_slice(&black_box(&b2).0);
            black_box(sha2::Sha256::digest(buf))
        });
    });
    g.bench_function("sha2-0.10-digest/leaf_hash_100B", |b| {
        use sha2::Digest as _;
        b.iter(|| {
            let mut h = sha2::Sha256::new();
            h.update([0u8]);
            h.update(black_box(&l));
            black_box(h.finalize())
        });
    });
    g.bench_function("tlog/leaf_hash_100B", |b| {
        b.iter(|| black_box(leaf_hash(black_box(&l))));
    });
    g.bench_function("sha2-0.11/leaf_hash_100B", |b| {
        b.iter(|| {
            let mut h = Sha256::new_with_prefix([0u8]);
            h.update(black_box(&l));
            black_box(h.finalize())
        });
    });
    g.finish();
}

fn bench_checkpoint(c: &mut Criterion) {
    let key = SignerKey::from_seed("example.com/log", &[7; 32]).unwrap();
    let vkey = key.verifier_key();
    let cp = Checkpoint::new("example.com/log", 16_777_216, leaf_hash(b"root"));
    let bytes = cp.sign(&key).unwrap().to_bytes();

    let mut g = c.benchmark_group("checkpoint");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tlog/sign", |b| {
        b.iter(|| black_box(cp.sign(&key).unwrap().to_bytes()));
    });
    g.bench_function("tlog/open_checkpoint", |b| {
        b.iter(|| black_box(open_checkpoint(&bytes, &vkey).unwrap()));
    });
    g.finish();
}

fn main() {
    // What `criterion_group!`/`criterion_main!` expand to, written out so
    // that the generated functions need no lint exceptions.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    bench_hashes(&mut c);
    bench_append(&mut c);
    bench_checkpoint(&mut c);
    bench_proofs_1m(&mut c);
    bench_proofs_16m(&mut c);
    c.final_summary();
}
