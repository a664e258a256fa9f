//! `checkpoint`: verify a checkpoint's signature with the user's key and
//! print what it says.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::cli::KeyArgs;
use crate::context::Ctx;
use crate::report::Report;
use crate::sources::{MAX_CHECKPOINT, read_input};
use crate::term::escape;
use crate::trust::{load_key, open_verified};

/// Runs `checkpoint`: verifies a checkpoint's signature with the user's key.
///
/// # Errors
/// A [`Failure`](crate::report::Failure) if it does not verify; unreadable input.
pub fn run(ctx: &Ctx, key: &KeyArgs, input: &str) -> anyhow::Result<Report> {
    let key = load_key(key)?;
    let (bytes, source) = read_input(input, &ctx.http, MAX_CHECKPOINT)?;
    let cp = open_verified("checkpoint", "given", bytes, source, &key, None)?;
    let c = &cp.signed.checkpoint;
    let mut text = format!(
        "verified: checkpoint signed by {}+{:08x}\n",
        escape(key.name()),
        key.key_id()
    );
    let _ = writeln!(text, "origin:    {}", escape(&c.origin));
    let _ = writeln!(text, "tree size: {}", c.tree_size);
    let _ = writeln!(text, "root hash: {}", c.root_hash);
    for e in &c.extensions {
        let _ = writeln!(text, "extension: {}", escape(e));
    }
    let others: Vec<Value> = cp
        .signed
        .note
        .signatures()
        .iter()
        .filter(|s| !(s.name == key.name() && s.key_id == key.key_id()))
        .map(|s| {
            let _ = writeln!(
                text,
                "other signature (not verified): {}+{:08x}",
                escape(&s.name),
                s.key_id
            );
            json!({"name": s.name, "key_id": format!("{:08x}", s.key_id)})
        })
        .collect();
    let mut json = Map::new();
    json.insert("verified_by".into(), json!(key.to_text()));
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
