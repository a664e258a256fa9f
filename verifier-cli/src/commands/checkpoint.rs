//! `checkpoint`: verify a checkpoint's signature with the user's key (and
//! its cosignatures under the witness policy) and print what it says.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::cli::KeyArgs;
use crate::context::Ctx;
use crate::report::Report;
use crate::sources::{MAX_CHECKPOINT, read_input};
use crate::term::escape;
use crate::trust::{describe_witnesses, load_trust, open_verified};

/// Runs `checkpoint`: verifies a checkpoint's signature with the user's key
/// and, with `--policy`, its witnesses.
///
/// # Errors
/// A [`Failure`](crate::report::Failure) if it does not verify; unreadable input.
pub fn run(ctx: &Ctx, key: &KeyArgs, input: &str) -> anyhow::Result<Report> {
    let trust = load_trust(key, ctx.policy.as_deref())?;
    let (bytes, source) = read_input(input, &ctx.http, MAX_CHECKPOINT)?;
    let cp = open_verified("checkpoint", "given", bytes, source, &trust, None)?;
    let c = &cp.signed.checkpoint;
    let key = &cp.log_key;
    let mut text = format!(
        "verified: checkpoint signed by {}+{:08x}{}\n",
        escape(key.name()),
        key.key_id(),
        if cp.witnessed.as_ref().is_some_and(|w| !w.quorum_none) {
            " and cosigned by a quorum of the policy's witnesses"
        } else {
            ""
        }
    );
    let _ = writeln!(text, "origin:    {}", escape(&c.origin));
    let _ = writeln!(text, "tree size: {}", c.tree_size);
    let _ = writeln!(text, "root hash: {}", c.root_hash);
    for e in &c.extensions {
        let _ = writeln!(text, "extension: {}", escape(e));
    }
    describe_witnesses(&mut text, "", &cp);
    // The key IDs of the witnesses whose cosignatures verified.
    let cosigned: Vec<(String, u32)> = match (&cp.witnessed, &trust.policy) {
        (Some(w), Some(p)) => p
            .policy
            .witnesses()
            .iter()
            .filter(|pw| w.cosigners.iter().any(|c| c.name == pw.name))
            .map(|pw| (pw.key.name().to_owned(), pw.key.key_id()))
            .collect(),
        _ => Vec::new(),
    };
    let others: Vec<Value> = cp
        .signed
        .note
        .signatures()
        .iter()
        .filter(|s| !(s.name == key.name() && s.key_id == key.key_id()))
        .filter(|s| !cosigned.contains(&(s.name.clone(), s.key_id)))
        .map(|s| {
            let _ = writeln!(
                text,
                "other signature (not verified: not a key you trust): {}+{:08x}",
                escape(&s.name),
                s.key_id
            );
            json!({"name": s.name, "key_id": format!("{:08x}", s.key_id)})
        })
        .collect();
    let mut json = Map::new();
    json.insert("verified_by".into(), json!(key.to_text()));
    json.insert(
        "witnesses".into(),
        cp.json().get("witnesses").cloned().unwrap_or(Value::Null),
    );
    json.insert("origin".into(), json!(c.origin));
    json.insert("tree_size".into(), json!(c.tree_size));
    json.insert("root_hash".into(), json!(c.root_hash.to_base64()));
    json.insert("extensions".into(), json!(c.extensions));
    json.insert("source".into(), json!(cp.source));
    json.insert("unverified_signatures".into(), Value::Array(others));
    Ok(Report {
        command: "checkpoint",
        text,
        json,
    })
}
