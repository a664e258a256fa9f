//! `write-test-log` (hidden): writes a valid tlog-tiles directory with
//! deterministic entries and signed checkpoints, for tests and benchmarks.
//! It is not a log implementation: it writes once, from nothing.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Map, json};
use tlog::{BundleId, Checkpoint, SignerKey, TILE_WIDTH, TileId};

use crate::report::Report;
use crate::tree::TreeBuilder;

fn write(out: &Path, rel: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = out.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn sign(key: &SignerKey, size: u64, b: &TreeBuilder) -> anyhow::Result<Vec<u8>> {
    Ok(Checkpoint::new(key.name(), size, b.root())
        .sign(key)?
        .to_bytes())
}

/// What to write.
pub struct Params<'a> {
    /// Output directory.
    pub out: &'a Path,
    /// Number of entries.
    pub entries: u64,
    /// Signer key file, or the fixed test key.
    pub key_file: Option<&'a Path>,
    /// Origin of the fixed test key.
    pub origin: &'a str,
    /// Sizes at which to also write `checkpoint.<size>`.
    pub checkpoint_at: &'a [u64],
    /// Entry `i` is `entry_prefix` followed by `i`.
    pub entry_prefix: &'a str,
}

/// Writes the log.
///
/// # Errors
/// I/O errors and bad keys.
pub fn run(p: &Params<'_>) -> anyhow::Result<Report> {
    let Params {
        out,
        entries,
        key_file,
        origin,
        checkpoint_at,
        entry_prefix,
    } = *p;
    let key = match key_file {
        Some(f) => SignerKey::from_text(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading {}", f.display()))?
                .trim(),
        )?,
        // A fixed, public test key: never for a real log.
        None => SignerKey::from_seed(origin, &[0x5a; 32])?,
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut b = TreeBuilder::new();
    let mut bundle: Vec<Vec<u8>> = Vec::with_capacity(256);
    let mut tiles: Vec<Vec<u8>> = vec![Vec::new(); 8];
    let mut full_tiles: Vec<(u8, u64)> = Vec::new();
    for i in 0..entries {
        let entry = format!("{entry_prefix}{i}").into_bytes();
        let leaf = tlog::leaf_hash(&entry);
        bundle.push(entry);
        b.append(leaf, |level, index, h| {
            let buf = &mut tiles[usize::from(level)];
            buf.extend_from_slice(&h.0);
            if buf.len() == 256 * 32 {
                full_tiles.push((level, index / TILE_WIDTH));
            }
        });
        for (level, index) in full_tiles.drain(..) {
            let id = TileId {
                level,
                index,
                width: 256,
            };
            write(out, &id.path(), &tiles[usize::from(level)])?;
            tiles[usize::from(level)].clear();
        }
        if bundle.len() == 256 {
            let id = BundleId {
                index: i / TILE_WIDTH,
                width: 256,
            };
            write(out, &id.path(), &tlog::encode_bundle(&bundle)?)?;
            bundle.clear();
        }
        if checkpoint_at.contains(&(i + 1)) {
            write(
                out,
                &format!("checkpoint.{}", i + 1),
                &sign(&key, i + 1, &b)?,
            )?;
        }
    }
    // The partial tiles and bundle of the final size.
    for (level, buf) in (0u8..).zip(&tiles) {
        if !buf.is_empty() {
            let id = TileId::for_size(
                level,
                (entries >> (8 * u32::from(level))) / TILE_WIDTH,
                entries,
            )
            .context("unreachable: partial tile of the final size")?;
            write(out, &id.path(), buf)?;
        }
    }
    if !bundle.is_empty()
        && let Some(id) = BundleId::for_size(entries / TILE_WIDTH, entries)
    {
        write(out, &id.path(), &tlog::encode_bundle(&bundle)?)?;
    }
    let cp = sign(&key, entries, &b)?;
    write(out, "checkpoint", &cp)?;
    if checkpoint_at.contains(&0) {
        write(out, "checkpoint.0", &sign(&key, 0, &TreeBuilder::new())?)?;
    }
    let mut text = String::new();
    let _ = writeln!(text, "wrote {entries} entries to {}", out.display());
    let _ = writeln!(text, "verifier key: {}", key.verifier_key().to_text());
    let _ = writeln!(text, "root hash: {}", b.root());
    let mut json = Map::new();
    json.insert("entries".into(), json!(entries));
    json.insert("verifier_key".into(), json!(key.verifier_key().to_text()));
    json.insert("root_hash".into(), json!(b.root().to_base64()));
    Ok(Report {
        command: "write-test-log",
        text,
        json,
    })
}
