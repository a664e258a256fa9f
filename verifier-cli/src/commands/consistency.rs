//! `consistency`: prove that a newer checkpoint (by default the log's
//! current one) extends an older one.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, json};
use tlog::Hash;

use crate::cli::{KeyArgs, LogArgs};
use crate::context::Ctx;
use crate::proofs::{self, Source};
use crate::report::Report;
use crate::sources::Log;
use crate::trust::{
    current_checkpoint, describe_checkpoint, file_checkpoint, load_trust, prove_extends,
};

/// Runs `consistency`: proves that a newer checkpoint extends an older one.
///
/// # Errors
/// A [`Failure`](crate::report::Failure) for a rollback or a fork; network and I/O errors.
pub fn run(
    ctx: &Ctx,
    key: &KeyArgs,
    log_args: &LogArgs,
    old: &Path,
    new: Option<&Path>,
) -> anyhow::Result<Report> {
    const CMD: &str = "consistency";
    let trust = load_trust(key, ctx.policy.as_deref())?;
    let key = trust.key()?.clone();
    let log = Log::parse(&log_args.log, &ctx.http)?;
    proofs::check_usage(&log, log_args.proof_source)?;
    let log_text = log_args.log.as_str();
    let old = file_checkpoint(CMD, "old", old, &ctx.http, &trust, Some(log_text))?;
    let new = match new {
        Some(p) => file_checkpoint(CMD, "new", p, &ctx.http, &trust, Some(log_text))?,
        None => current_checkpoint(CMD, &log, log_text, &trust)?,
    };
    let source = if tlog::consistency_proof_needed(old.tree_size(), new.tree_size()) {
        proofs::choose(&log, log_args.proof_source)?
    } else {
        Source::Tiles
    };
    let proof = prove_extends(CMD, &log, log_text, &key, source, &old, &new)?;
    let mut text = format!(
        "verified: the checkpoint of size {} extends the one of size {}\n",
        new.tree_size(),
        old.tree_size()
    );
    describe_checkpoint(&mut text, "old checkpoint (signature verified)", &old);
    describe_checkpoint(&mut text, "new checkpoint (signature verified)", &new);
    match &proof {
        Some(p) => {
            let _ = writeln!(
                text,
                "proof: {} hashes, {}",
                p.hashes.len(),
                p.source.describe()
            );
        }
        None => {
            let _ = writeln!(text, "proof: none needed (equal sizes or empty old tree)");
        }
    }
    let mut json = Map::new();
    json.insert("old".into(), old.json());
    json.insert("new".into(), new.json());
    json.insert(
        "proof_source".into(),
        proof
            .as_ref()
            .map_or(json!("none"), |p| json!(p.source.name())),
    );
    json.insert(
        "proof".into(),
        json!(
            proof
                .map(|p| p.hashes.iter().map(Hash::to_base64).collect::<Vec<_>>())
                .unwrap_or_default()
        ),
    );
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}
