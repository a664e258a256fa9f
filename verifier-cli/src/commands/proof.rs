//! `proof`: verify a c2sp.org/tlog-proof file offline, with nothing but the
//! entry, the proof file and what the user trusts (`--key` or `--policy`).
//!
//! 1. Parse the proof file strictly.
//! 2. Verify its checkpoint: the log's signature and, with `--policy`, a
//!    quorum of the policy's witnesses, at the current time.
//! 3. Verify that the entry's RFC 6962 leaf hash is included at the proof's
//!    index in the checkpoint's tree.
//!
//! The proof's `extra` data is not authenticated; it is reported, never used.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::{Map, json};
use tlog::{Hash, ProofFile};

use crate::cli::KeyArgs;
use crate::context::Ctx;
use crate::report::{Failure, Report};
use crate::sources::{MAX_CHECKPOINT, read_file_limited};
use crate::term::escape;
use crate::trust::{describe_checkpoint, load_trust, open_verified};

const CMD: &str = "proof";
/// Largest proof file: a checkpoint and 64 hashes of 45 bytes, and some.
const MAX_PROOF_FILE: usize = MAX_CHECKPOINT + 64 * 45 + 4096;
/// Largest entry accepted (the log's entries are far smaller).
const MAX_ENTRY: usize = 64 << 20;

/// Runs `proof`.
///
/// # Errors
/// A [`Failure`] if the file is malformed or does not prove the entry;
/// unreadable files and bad keys or policies.
pub fn run(ctx: &Ctx, key: &KeyArgs, file: &Path, entry: &Path) -> anyhow::Result<Report> {
    let trust = load_trust(key, ctx.policy.as_deref())?;
    let source = file.display().to_string();
    let bytes = read_file_limited(file, MAX_PROOF_FILE)?
        .with_context(|| format!("{source}: no such file"))?;
    let entry_bytes = read_file_limited(entry, MAX_ENTRY)?
        .with_context(|| format!("--entry {}: no such file", entry.display()))?;
    let entry_source = entry.display().to_string();
    let fail = |check: &'static str, msg: String| {
        let mut f = Failure::new(CMD, check, msg)
            .data("proof file", &source, &bytes)
            .data("entry", &entry_source, &entry_bytes);
        if let Ok(k) = trust.key() {
            f.evidence.verifier_key = Some(k.to_text());
        }
        if let Some(p) = &trust.policy {
            f = f.data("witness policy", &p.source, &p.bytes);
        }
        f
    };
    // Step 1: the file.
    let proof = ProofFile::parse(&bytes).map_err(|e| {
        fail(
            "proof-file",
            format!("{source} is not a valid c2sp.org/tlog-proof@v1 file: {e}"),
        )
    })?;
    // Step 2: its checkpoint.
    let cp = open_verified(
        CMD,
        "proof file's",
        proof.checkpoint.clone(),
        format!("{source} (checkpoint)"),
        &trust,
        None,
    )
    .map_err(|e| match e.downcast::<Failure>() {
        Ok(f) => {
            let mut f = f;
            f.evidence.data.push(crate::report::Blob::new(
                "entry",
                &entry_source,
                &entry_bytes,
            ));
            anyhow::Error::new(f)
        }
        Err(e) => e,
    })?;
    // Step 3: the entry's inclusion.
    let leaf = tlog::leaf_hash(&entry_bytes);
    let n = cp.tree_size();
    if let Err(e) = tlog::verify_inclusion(
        proof.index,
        n,
        &leaf,
        &proof.inclusion_proof,
        &cp.root_hash(),
    ) {
        return Err(fail(
            "inclusion",
            format!(
                "the entry ({entry_source}, leaf hash {leaf}) is not proven at index {} in the checkpoint's tree of size {n}: {e}",
                proof.index
            ),
        )
        .detail("leaf_hash", leaf.to_base64())
        .into());
    }
    let mut text = format!(
        "verified: the entry is included at index {} of the log {}\n",
        proof.index,
        escape(&cp.signed.checkpoint.origin)
    );
    describe_checkpoint(&mut text, "checkpoint", &cp);
    let _ = writeln!(text, "leaf index: {}", proof.index);
    let _ = writeln!(text, "leaf hash:  {leaf}");
    let _ = writeln!(text, "entry from: {}", escape(&entry_source));
    let _ = writeln!(text, "proof:      {} hashes", proof.inclusion_proof.len());
    if let Some(extra) = &proof.extra {
        let _ = writeln!(
            text,
            "extra:      {} bytes (not authenticated, not used)",
            extra.len()
        );
    }
    let mut json = Map::new();
    json.insert("file".into(), json!(source));
    json.insert("checkpoint".into(), cp.json());
    json.insert("leaf_index".into(), json!(proof.index));
    json.insert("leaf_hash".into(), json!(leaf.to_base64()));
    json.insert("entry_source".into(), json!(entry_source));
    json.insert(
        "proof".into(),
        json!(
            proof
                .inclusion_proof
                .iter()
                .map(Hash::to_base64)
                .collect::<Vec<_>>()
        ),
    );
    json.insert(
        "extra".into(),
        json!(proof.extra.as_ref().map(|e| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(e)
        })),
    );
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}
