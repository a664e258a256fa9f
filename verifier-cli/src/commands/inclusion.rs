//! `inclusion`: prove that an entry is in the log, against a checkpoint
//! verified with the user's key (and witness policy); optionally save the
//! proof as a c2sp.org/tlog-proof file.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, anyhow};
use serde_json::{Map, json};
use tlog::{Hash, ProofFile};

use crate::cli::{KeyArgs, LogArgs};
use crate::context::Ctx;
use crate::proofs::{self, Source};
use crate::report::{Failure, ProofEvidence, Report, hinted};
use crate::sources::Log;
use crate::state::write_atomic;
use crate::term::escape;
use crate::trust::{
    current_checkpoint, describe_checkpoint, file_checkpoint, load_trust, proof_failure,
};

/// The entry to prove, as the user named it.
pub struct Entry<'a> {
    /// `--index`.
    pub index: Option<u64>,
    /// `--leaf-hash`.
    pub leaf_hash: Option<&'a str>,
    /// `--entry-file`.
    pub entry_file: Option<&'a Path>,
}

/// Runs `inclusion`: proves that an entry is in the log under a verified
/// checkpoint, and saves the proof to `save` as a tlog-proof file.
///
/// # Errors
/// A [`Failure`] if the entry is not proven; network and I/O errors.
pub fn run(
    ctx: &Ctx,
    key: &KeyArgs,
    log_args: &LogArgs,
    entry: &Entry<'_>,
    checkpoint_file: Option<&Path>,
    save: Option<&Path>,
) -> anyhow::Result<Report> {
    const CMD: &str = "inclusion";
    let Entry {
        index,
        leaf_hash,
        entry_file,
    } = *entry;
    let trust = load_trust(key, ctx.policy.as_deref())?;
    let key = trust.key()?.clone();
    let log = Log::parse(&log_args.log, &ctx.http)?;
    proofs::check_usage(&log, log_args.proof_source)?;
    let log_text = log_args.log.as_str();
    // Step 1: the checkpoint, verified with the user's key.
    let cp = match checkpoint_file {
        Some(p) => file_checkpoint(CMD, "given", p, &ctx.http, &trust, Some(log_text))?,
        None => current_checkpoint(CMD, &log, log_text, &trust)?,
    };
    let n = cp.tree_size();
    let base = |check: &'static str, msg: String| {
        Failure::new(CMD, check, msg)
            .log(log_text, &key)
            .checkpoint("checkpoint", &cp.source, &cp.bytes)
    };
    // Step 2: the leaf hash we are looking for, computed or given here.
    let mut entry_bytes: Option<(Vec<u8>, String)> = None;
    let mut leaf: Option<Hash> = match (leaf_hash, entry_file) {
        (Some(b64), _) => Some(Hash::from_base64(b64).map_err(|e| {
            anyhow::Error::new(e).context(hinted(
                format!("--leaf-hash {b64:?} is not a hash"),
                "a leaf hash is 32 bytes in standard base64 (44 characters ending in =)",
            ))
        })?),
        (None, Some(f)) => {
            let bytes = std::fs::read(f)
                .with_context(|| format!("reading --entry-file {}", f.display()))?;
            let h = tlog::leaf_hash(&bytes);
            entry_bytes = Some((bytes, f.display().to_string()));
            Some(h)
        }
        (None, None) => None,
    };
    if let Some(i) = index
        && i >= n
    {
        return Err(base(
            "inclusion",
            format!("leaf index {i} is not in the checkpoint's tree of size {n}"),
        )
        .into());
    }
    let source = proofs::choose(&log, log_args.proof_source)?;
    // Step 3: the index and the proof.
    let leaf_desc = |l: &Option<Hash>| l.map_or_else(|| "?".to_owned(), |h| h.to_base64());
    let (index, proof, found_by) = match (index, leaf) {
        (Some(i), _) => {
            if leaf.is_none() {
                let e = proofs::entry(&log, source, i, n).map_err(|e| {
                    proof_failure(e, |m| {
                        base("inclusion", format!("cannot read entry {i}: {m}"))
                    })
                })?;
                leaf = Some(e.leaf_hash);
                entry_bytes = Some((e.bytes, e.source));
            }
            let p = proofs::inclusion(&log, source, i, n).map_err(|e| {
                proof_failure(e, |m| {
                    base("inclusion", format!("no inclusion proof for leaf {i}: {m}"))
                })
            })?;
            (i, p, "given")
        }
        (None, Some(h)) if source == Source::Api => {
            let (i, p) = proofs::inclusion_by_hash(&log, &h, n).map_err(|e| {
                proof_failure(e, |m| {
                    base(
                        "inclusion",
                        format!("leaf hash {h} is not proven in tree size {n}: {m}"),
                    )
                })
            })?;
            if i >= n {
                return Err(base(
                    "inclusion",
                    format!("the log gave leaf index {i}, beyond tree size {n}"),
                )
                .into());
            }
            (i, p, "the log's index by leaf hash")
        }
        (None, Some(h)) => {
            let found = proofs::find_leaf_in_bundles(&log, &h, n).map_err(|e| {
                proof_failure(e, |m| {
                    base("inclusion", format!("cannot search the entry bundles: {m}"))
                })
            })?;
            let Some(i) = found else {
                return Err(base(
                    "inclusion",
                    format!("no entry of the checkpoint's tree (size {n}) has leaf hash {h}"),
                )
                .detail("leaf_hash", h.to_base64())
                .into());
            };
            let p = proofs::inclusion(&log, source, i, n).map_err(|e| {
                proof_failure(e, |m| {
                    base("inclusion", format!("no inclusion proof for leaf {i}: {m}"))
                })
            })?;
            (i, p, "a search of the entry bundles")
        }
        (None, None) => return Err(anyhow!("give --index, --leaf-hash or --entry-file")),
    };
    let leaf = leaf.ok_or_else(|| anyhow!("unreachable: leaf hash known by now"))?;
    // Step 4: verify.
    if let Err(e) = tlog::verify_inclusion(index, n, &leaf, &proof.hashes, &cp.root_hash()) {
        let mut f = base(
            "inclusion",
            format!(
                "leaf {index} ({}) is not proven in tree size {n} (proof {}): {e}",
                leaf_desc(&Some(leaf)),
                source.describe()
            ),
        )
        .proof(ProofEvidence {
            leaf_index: Some(index),
            leaf_hash: Some(leaf.to_base64()),
            ..proof.evidence("inclusion", n, None)
        });
        if let Some((b, src)) = &entry_bytes {
            f = f.data("entry", src, b);
        }
        return Err(proof.attach_raw(f).into());
    }
    // Step 5: save the proof, as it was verified.
    let saved = match save {
        Some(path) => {
            let file = ProofFile {
                extra: None,
                index,
                inclusion_proof: proof.hashes.clone(),
                checkpoint: cp.bytes.clone(),
            };
            write_atomic(path, &file.to_bytes())
                .with_context(|| format!("saving the proof to --save {}", path.display()))?;
            Some(path.display().to_string())
        }
        None => None,
    };
    let mut text = format!("verified: leaf {index} is included in the log\n");
    describe_checkpoint(&mut text, "checkpoint (signature verified)", &cp);
    let _ = writeln!(text, "leaf index: {index} (from {found_by})");
    let _ = writeln!(text, "leaf hash:  {leaf}");
    if let Some((b, src)) = &entry_bytes {
        let shown = String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned();
        let more = if b.len() > 300 { " ..." } else { "" };
        let _ = writeln!(text, "entry:      {}{more}", escape(&shown));
        let _ = writeln!(text, "entry from: {}", escape(src));
    }
    let _ = writeln!(
        text,
        "proof:      {} hashes, {}",
        proof.hashes.len(),
        source.describe()
    );
    if let Some(path) = &saved {
        let _ = writeln!(
            text,
            "saved:      {} (c2sp.org/tlog-proof@v1; check it offline with `stateanchor-verify proof`)",
            escape(path)
        );
    }
    let mut json = Map::new();
    json.insert("checkpoint".into(), cp.json());
    json.insert("saved".into(), json!(saved));
    json.insert("leaf_index".into(), json!(index));
    json.insert("leaf_hash".into(), json!(leaf.to_base64()));
    if let Some((b, src)) = &entry_bytes {
        use base64::Engine as _;
        json.insert(
            "entry".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(b)),
        );
        json.insert("entry_source".into(), json!(src));
    }
    json.insert("proof_source".into(), json!(source.name()));
    json.insert(
        "proof".into(),
        json!(proof.hashes.iter().map(Hash::to_base64).collect::<Vec<_>>()),
    );
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}
