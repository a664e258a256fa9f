//! `published`: the split-view check. Every checkpoint in the publication
//! repository must be signed by the user's key, and all of them and the
//! log's current checkpoint must be mutually consistent.

use anyhow::anyhow;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::cli::{KeyArgs, LogArgs};
use crate::context::Ctx;
use crate::proofs;
use crate::report::{Failure, Report, hinted};
use crate::sources::{Log, Repo};
use crate::term::escape;
use crate::trust::{
    VerifiedCheckpoint, current_checkpoint, describe_checkpoint, load_trust, open_verified,
    prove_extends,
};

const CMD: &str = "published";

/// A canonical decimal tree size: digits, no leading zeros.
fn parse_size(name: &str) -> Option<u64> {
    if name.is_empty()
        || !name.bytes().all(|b| b.is_ascii_digit())
        || (name.len() > 1 && name.starts_with('0'))
    {
        return None;
    }
    name.parse().ok()
}

/// Runs `published`.
///
/// # Errors
/// A [`Failure`] for a bad or inconsistent publication; network and I/O errors.
pub fn run(
    ctx: &Ctx,
    key: &KeyArgs,
    log_args: &LogArgs,
    repo_text: &str,
    github_api: &str,
    github_ref: Option<&str>,
) -> anyhow::Result<Report> {
    let trust = load_trust(key, ctx.policy.as_deref())?;
    let key = trust.key()?.clone();
    let log = Log::parse(&log_args.log, &ctx.http)?;
    proofs::check_usage(&log, log_args.proof_source)?;
    let log_text = log_args.log.as_str();
    let repo = Repo::parse(repo_text, github_api, github_ref, &ctx.http)?;
    let mut warnings: Vec<String> = Vec::new();
    let base = |check: &'static str, msg: String| Failure::new(CMD, check, msg).log(log_text, &key);

    // Step 1: log.json, if any, must name the key the user trusts.
    if let Some((bytes, src)) = repo.read("log.json")? {
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            base("log.json", format!("{src} is not JSON: {e}")).data("log.json", &src, &bytes)
        })?;
        let named_key = v.get("verifier_key").and_then(Value::as_str);
        let named_origin = v.get("origin").and_then(Value::as_str);
        if named_key.is_some_and(|k| k.trim() != key.to_text())
            || named_origin.is_some_and(|o| o != key.name())
        {
            return Err(base(
                "log.json",
                format!(
                    "{src} names another log (origin {:?}, key {:?}) than the verifier key given ({})",
                    named_origin.unwrap_or(""),
                    named_key.unwrap_or(""),
                    key.to_text()
                ),
            )
            .data("log.json", &src, &bytes)
            .into());
        }
        if named_key.is_none() {
            warnings.push(format!("{src} names no verifier_key"));
        }
    } else {
        warnings.push(format!("{} does not exist", repo.describe("log.json")));
    }

    // Step 2: every archived checkpoint is signed by the key and filed under its size.
    let mut published: BTreeMap<u64, VerifiedCheckpoint> = BTreeMap::new();
    let names = repo.list("checkpoints")?;
    let latest = repo.read("checkpoint")?;
    if names.is_none() && latest.is_none() {
        return Err(hinted(
            format!(
                "no publication at {}: neither checkpoint nor checkpoints/ exist",
                repo.describe("")
            ),
            "check --repo (and the PREFIX after OWNER/NAME)",
        ));
    }
    let mut names: Vec<(u64, String)> = names
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| match parse_size(&n) {
            Some(s) => Some((s, n)),
            None => {
                warnings.push(format!(
                    "ignored {}: not a tree size",
                    repo.describe(&format!("checkpoints/{n}"))
                ));
                None
            }
        })
        .collect();
    names.sort_unstable();
    for (size, name) in &names {
        let rel = format!("checkpoints/{name}");
        let (bytes, src) = repo
            .read(&rel)?
            .ok_or_else(|| anyhow!("{} was listed but cannot be read", repo.describe(&rel)))?;
        let cp = open_verified(
            CMD,
            &format!("published {rel}"),
            bytes,
            src,
            &trust,
            Some(log_text),
        )?;
        if cp.tree_size() != *size {
            return Err(base(
                "published",
                format!(
                    "{} holds a checkpoint of tree size {}, not {size}",
                    cp.source,
                    cp.tree_size()
                ),
            )
            .checkpoint(format!("published {rel}"), &cp.source, &cp.bytes)
            .into());
        }
        published.insert(*size, cp);
    }
    // Step 3: the latest checkpoint agrees with the archive.
    let mut latest_size = None;
    if let Some((bytes, src)) = latest {
        let cp = open_verified(CMD, "published latest", bytes, src, &trust, Some(log_text))?;
        latest_size = Some(cp.tree_size());
        match published.get(&cp.tree_size()) {
            Some(archived) if archived.root_hash() != cp.root_hash() => {
                return Err(base(
                    "fork",
                    format!(
                        "fork: {} and {} are different checkpoints of tree size {}",
                        cp.source,
                        archived.source,
                        cp.tree_size()
                    ),
                )
                .checkpoint("published latest", &cp.source, &cp.bytes)
                .checkpoint("published archive", &archived.source, &archived.bytes)
                .into());
            }
            Some(_) => {}
            None => {
                warnings.push(format!(
                    "{} (tree size {}) is not in checkpoints/",
                    cp.source,
                    cp.tree_size()
                ));
                published.insert(cp.tree_size(), cp);
            }
        }
        if let Some((&max, _)) = published.last_key_value()
            && Some(max) != latest_size
        {
            warnings.push(format!(
                "{} has tree size {}, but checkpoints/ holds a larger one ({max})",
                repo.describe("checkpoint"),
                latest_size.unwrap_or(0)
            ));
        }
    } else {
        warnings.push(format!("{} does not exist", repo.describe("checkpoint")));
    }

    // Step 4: the log's current checkpoint extends every published one.
    let current = current_checkpoint(CMD, &log, log_text, &trust)?;
    let needs_proof = published
        .keys()
        .any(|&s| tlog::consistency_proof_needed(s, current.tree_size()));
    let source = if needs_proof {
        proofs::choose(&log, log_args.proof_source)?
    } else {
        proofs::Source::Tiles
    };
    let mut proofs_checked = 0u64;
    for p in published.values() {
        if prove_extends(CMD, &log, log_text, &key, source, p, &current)?.is_some() {
            proofs_checked += 1;
        }
    }

    let mut text = format!(
        "verified: {} published checkpoints are signed by the key and consistent with the log\n",
        published.len()
    );
    describe_checkpoint(
        &mut text,
        "log's current checkpoint (signature verified)",
        &current,
    );
    let sizes: Vec<u64> = published.keys().copied().collect();
    let _ = writeln!(text, "repository:      {}", escape(&repo.describe("")));
    let _ = writeln!(
        text,
        "published sizes: {}",
        match (sizes.first(), sizes.last()) {
            (Some(a), Some(b)) => format!("{a} .. {b} ({} checkpoints)", sizes.len()),
            _ => "none".into(),
        }
    );
    let _ = writeln!(
        text,
        "proofs:          {proofs_checked} consistency proofs verified{}",
        if proofs_checked > 0 {
            format!(", {}", source.describe())
        } else {
            String::new()
        }
    );
    for w in &warnings {
        let _ = writeln!(text, "warning: {}", escape(w));
    }
    let mut json = Map::new();
    json.insert("repository".into(), json!(repo.describe("")));
    json.insert("log_checkpoint".into(), current.json());
    json.insert("published_sizes".into(), json!(sizes));
    json.insert("latest_published_size".into(), json!(latest_size));
    json.insert("consistency_proofs_verified".into(), json!(proofs_checked));
    json.insert("proof_source".into(), json!(source.name()));
    json.insert("warnings".into(), json!(warnings));
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}
