//! Interoperability with a log written by another implementation: the
//! 15-entry tlog-tiles log of transparency-dev/tessera's POSIX example, in
//! `testdata/interop/tessera-testdata-log` (see `testdata/README.md`). We must accept
//! it as it is, byte for byte, and reject it after any byte is changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tlog::{
    BundleId, Checkpoint, Error, Hash, MemoryHashStore, TileHashReader, TileId, TilePath,
    TileReader, VerifierKey, bundles_for_size, decode_bundle, encode_bundle, leaf_hash,
    open_checkpoint, parse_tile, parse_tile_path, prove_consistency, prove_inclusion, tile_bytes,
    tiles_for_size, tree_hash, verify_consistency, verify_inclusion,
};

const VKEY: &str = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
const ORIGIN: &str = "example.com/log/testdata";
const ENTRIES: [&str; 15] = [
    "one", "two", "three", "four", "five", "six", "seven", "eit", "nain", "ten", "ileven", "twelf",
    "threeten", "fourten", "fivten",
];
const FINAL_ROOT: &str = "rKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs=";
const LATEST: u64 = 15;

fn log_dir() -> PathBuf {
    // CARGO_MANIFEST_DIR at run time, not at build time: a test binary reused
    // from a target directory shared with another checkout (CI) must read
    // this checkout's files.
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    Path::new(&manifest).join("../testdata/interop/tessera-testdata-log")
}

/// Every file of the log, by path relative to the log's root (`checkpoint`,
/// `checkpoint.N`, `tile/...`).
fn read_log() -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let root = log_dir();
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

fn vkey() -> VerifierKey {
    VerifierKey::from_text(VKEY).unwrap()
}

/// Serves tiles from the log's files, as an HTTP client would.
struct FileTiles<'a>(&'a BTreeMap<String, Vec<u8>>);

impl TileReader for FileTiles<'_> {
    fn read_tiles(&self, tiles: &[TileId]) -> Result<Vec<Vec<u8>>, Error> {
        tiles
            .iter()
            .map(|t| {
                self.0
                    .get(&t.path())
                    .cloned()
                    .ok_or(Error::HashUnavailable {
                        level: t.level * 8,
                        index: t.index * 256,
                    })
            })
            .collect()
    }
}

fn checkpoint_name(size: u64) -> String {
    format!("checkpoint.{size}")
}

#[test]
fn checkpoints_open_with_the_log_key() {
    let files = read_log();
    let key = vkey();
    assert_eq!(key.name(), ORIGIN);
    for size in 0..=LATEST {
        let bytes = &files[&checkpoint_name(size)];
        let cp = open_checkpoint(bytes, &key).unwrap().checkpoint;
        assert_eq!(cp.origin, ORIGIN);
        assert_eq!(cp.tree_size, size);
        assert!(cp.extensions.is_empty());
        // Our serialization of the body is Tessera's, byte for byte.
        let note = tlog::Note::from_bytes(bytes).unwrap();
        assert_eq!(note.to_bytes(), *bytes);
        assert_eq!(
            Checkpoint::from_body(note.text()).unwrap().to_body(),
            note.text()
        );
    }
    let latest = open_checkpoint(&files["checkpoint"], &key)
        .unwrap()
        .checkpoint;
    assert_eq!(latest.tree_size, LATEST);
    assert_eq!(latest.root_hash, Hash::from_base64(FINAL_ROOT).unwrap());
    assert_eq!(files["checkpoint"], files[&checkpoint_name(LATEST)]);
}

#[test]
fn tree_tiles_and_bundles_match_byte_for_byte() {
    let files = read_log();
    let key = vkey();

    // The entries, from the latest bundle.
    let bundle = &files["tile/entries/000.p/15"];
    let entries = decode_bundle(bundle).unwrap();
    let want: Vec<&[u8]> = ENTRIES.iter().map(|e| e.as_bytes()).collect();
    assert_eq!(entries, want);

    let mut store = MemoryHashStore::new();
    let mut expected_files: BTreeSet<String> = BTreeSet::new();
    for size in 0..=LATEST {
        if size > 0 {
            store.append(leaf_hash(ENTRIES[size as usize - 1].as_bytes()));
        }
        let cp = open_checkpoint(&files[&checkpoint_name(size)], &key)
            .unwrap()
            .checkpoint;
        assert_eq!(store.root(), cp.root_hash, "root at size {size}");
        assert_eq!(tree_hash(size, &store).unwrap(), cp.root_hash);
        expected_files.insert(checkpoint_name(size));

        // Every tile of the tree at this size is served, and equals ours.
        for tile in tiles_for_size(size) {
            let path = tile.path();
            let got = files
                .get(&path)
                .unwrap_or_else(|| panic!("size {size}: tile {path} missing"));
            assert_eq!(*got, tile_bytes(tile, &store).unwrap(), "{path}");
            assert_eq!(parse_tile_path(&path), Ok(TilePath::Tile(tile)));
            expected_files.insert(path);
        }
        // Every entry bundle too.
        for b in bundles_for_size(size) {
            let path = b.path();
            let got = files
                .get(&path)
                .unwrap_or_else(|| panic!("size {size}: bundle {path} missing"));
            let first = usize::try_from(b.first_entry()).unwrap();
            let mine = &ENTRIES[first..first + usize::from(b.width)];
            assert_eq!(*got, encode_bundle(mine).unwrap(), "{path}");
            assert_eq!(decode_bundle(got).unwrap().len(), usize::from(b.width));
            assert_eq!(parse_tile_path(&path), Ok(TilePath::Bundle(b)));
            expected_files.insert(path);
        }
    }
    expected_files.insert("checkpoint".into());
    // Every file in the log is one we expect, and there is nothing else.
    let present: BTreeSet<String> = files.keys().cloned().collect();
    assert_eq!(present, expected_files);
    assert_eq!(present.len(), 1 + 16 + 15 + 15);
}

#[test]
fn every_checkpoint_is_consistent_with_every_later_one() {
    let files = read_log();
    let key = vkey();
    let mut store = MemoryHashStore::new();
    for e in ENTRIES {
        store.append(leaf_hash(e.as_bytes()));
    }
    let cps: Vec<Checkpoint> = (0..=LATEST)
        .map(|s| {
            open_checkpoint(&files[&checkpoint_name(s)], &key)
                .unwrap()
                .checkpoint
        })
        .collect();
    for n in 0..=LATEST {
        for m in 0..=n {
            let (old, new) = (&cps[m as usize], &cps[n as usize]);
            // From our store...
            let proof = prove_consistency(m, n, &store).unwrap();
            verify_consistency(m, n, &old.root_hash, &new.root_hash, &proof)
                .unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
            // ...and from Tessera's tiles alone, at the newer size.
            let tiles = FileTiles(&files);
            let from_tiles = prove_consistency(m, n, &TileHashReader::new(n, &tiles)).unwrap();
            assert_eq!(from_tiles, proof, "{m} -> {n}");
            // Not consistent with the wrong root.
            if m > 0 && m < n {
                assert!(verify_consistency(m, n, &new.root_hash, &old.root_hash, &proof).is_err());
            }
        }
    }
}

#[test]
fn inclusion_proofs_from_tessera_tiles() {
    let files = read_log();
    let key = vkey();
    let tiles = FileTiles(&files);
    let mut checked = 0;
    for n in 1..=LATEST {
        let cp = open_checkpoint(&files[&checkpoint_name(n)], &key)
            .unwrap()
            .checkpoint;
        let reader = TileHashReader::new(n, &tiles);
        assert_eq!(tree_hash(n, &reader).unwrap(), cp.root_hash);
        // The entries, from the bundle of this size.
        let bundle = BundleId::for_size(0, n).unwrap();
        let entries = decode_bundle(&files[&bundle.path()]).unwrap();
        for m in 0..n {
            let proof = prove_inclusion(m, n, &reader).unwrap();
            let leaf = leaf_hash(entries[m as usize]);
            verify_inclusion(m, n, &leaf, &proof, &cp.root_hash).unwrap();
            checked += 1;
        }
    }
    assert_eq!(checked, 15 * 16 / 2);
}

/// What an auditor checks of one file of the log, given the (already
/// verified) checkpoints' roots: a checkpoint must open with the log's key
/// and carry its size; a tile and a bundle must lead to the root of the
/// checkpoint of their size.
fn check_file(
    path: &str,
    bytes: &[u8],
    files: &BTreeMap<String, Vec<u8>>,
    roots: &[Hash],
    key: &VerifierKey,
) -> Result<(), String> {
    let size_of = |p: &str| -> u64 { p.rsplit('/').next().unwrap().parse().unwrap() };
    if let Some(rest) = path.strip_prefix("checkpoint") {
        let want = match rest.strip_prefix('.') {
            Some(n) => n.parse::<u64>().unwrap(),
            None => LATEST,
        };
        let cp = open_checkpoint(bytes, key)
            .map_err(|e| e.to_string())?
            .checkpoint;
        if cp.tree_size != want || cp.root_hash != roots[want as usize] {
            return Err(format!(
                "checkpoint of size {} does not match",
                cp.tree_size
            ));
        }
        return Ok(());
    }
    match parse_tile_path(path).map_err(|e| e.to_string())? {
        TilePath::Tile(tile) => {
            // Compute the root from the (possibly changed) tile, with the
            // other tiles as they are.
            parse_tile(tile, bytes).map_err(|e| e.to_string())?;
            let n = size_of(path);
            let mut patched = files.clone();
            patched.insert(path.to_owned(), bytes.to_vec());
            let tiles = FileTiles(&patched);
            let root = tree_hash(n, &TileHashReader::new(n, &tiles)).map_err(|e| e.to_string())?;
            if root != roots[n as usize] {
                return Err(format!("tile {path}: root does not match"));
            }
        }
        TilePath::Bundle(b) => {
            let entries = decode_bundle(bytes).map_err(|e| e.to_string())?;
            if entries.len() != usize::from(b.width) {
                return Err(format!("bundle {path}: {} entries", entries.len()));
            }
            let mut store = MemoryHashStore::new();
            for e in entries {
                store.append(leaf_hash(e));
            }
            if store.root() != roots[size_of(path) as usize] {
                return Err(format!("bundle {path}: root does not match"));
            }
        }
    }
    Ok(())
}

#[test]
fn any_changed_byte_is_detected() {
    let files = read_log();
    let key = vkey();
    let roots: Vec<Hash> = (0..=LATEST)
        .map(|s| {
            open_checkpoint(&files[&checkpoint_name(s)], &key)
                .unwrap()
                .checkpoint
                .root_hash
        })
        .collect();
    let mut flips = 0;
    for (path, bytes) in &files {
        check_file(path, bytes, &files, &roots, &key).unwrap_or_else(|e| panic!("{path}: {e}"));
        // The lowest bit (often a still-valid character), and for tiles and
        // bundles the whole byte too (checkpoints cost a signature check
        // each, slow in debug builds).
        let masks: &[u8] = if path.starts_with("checkpoint") {
            &[0x01]
        } else {
            &[0x01, 0xff]
        };
        for i in 0..bytes.len() {
            for &mask in masks {
                let mut changed = bytes.clone();
                changed[i] ^= mask;
                assert!(
                    check_file(path, &changed, &files, &roots, &key).is_err(),
                    "{path}: byte {i} ^ {mask:#04x} not detected"
                );
                flips += 1;
            }
        }
        // Truncation and trailing garbage.
        if !bytes.is_empty() {
            assert!(check_file(path, &bytes[..bytes.len() - 1], &files, &roots, &key).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(b'\n');
        assert!(
            check_file(path, &longer, &files, &roots, &key).is_err(),
            "{path}: trailing byte not detected"
        );
    }
    assert!(flips > 5_000, "{flips}");
}
