//! `monitor`: keep the last verified checkpoint in a state file and prove,
//! at every step, that the log's new checkpoint extends it.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use tlog::VerifierKey;

use crate::cli::{KeyArgs, LogArgs};
use crate::context::Ctx;
use crate::proofs;
use crate::report::{Failure, Report, unix_now};
use crate::sources::Log;
use crate::state::{StateFile, read_state, state_error, write_atomic};
use crate::trust::{
    Trust, VerifiedCheckpoint, current_checkpoint, describe_checkpoint, file_checkpoint,
    load_trust, open_verified, prove_extends,
};

const CMD: &str = "monitor";
const STATE_FORMAT: &str = "stateanchor-verify/monitor-state/v1";

/// The monitor state file (see `spec/verifier.md`).
#[derive(Serialize, Deserialize)]
struct MonitorState {
    format: String,
    log: String,
    verifier_key: String,
    /// The last verified checkpoint (note text).
    checkpoint: String,
    tree_size: u64,
    root_hash: String,
    updated_unix: u64,
}

impl StateFile for MonitorState {
    const FORMAT: &'static str = STATE_FORMAT;
    const HINT: &'static str = "the state file is not usable; restore it from a backup, or move it away to start over (trust on first use)";
    fn format(&self) -> &str {
        &self.format
    }
    fn verifier_key(&self) -> &str {
        &self.verifier_key
    }
}

/// Loads the saved checkpoint. It was verified (witnesses included) when
/// saved; it is checked again with the log's key only, so that a changed
/// policy does not strand the monitor.
fn load(path: &Path, trust: &Trust) -> anyhow::Result<Option<VerifiedCheckpoint>> {
    let trust = trust.key_only()?;
    let Some(st) = read_state::<MonitorState>(path, trust.key()?)? else {
        return Ok(None);
    };
    let corrupt = |what: String| state_error::<MonitorState>(path, what);
    let cp = open_verified(
        CMD,
        "saved",
        st.checkpoint.into_bytes(),
        path.display().to_string(),
        &trust,
        None,
    )
    .map_err(|e| corrupt(format!("its checkpoint does not verify: {e:#}")))?;
    Ok(Some(cp))
}

fn save(
    path: &Path,
    log_text: &str,
    key: &VerifierKey,
    cp: &VerifiedCheckpoint,
) -> anyhow::Result<()> {
    let st = MonitorState {
        format: STATE_FORMAT.into(),
        log: log_text.into(),
        verifier_key: key.to_text(),
        checkpoint: String::from_utf8_lossy(&cp.bytes).into_owned(),
        tree_size: cp.tree_size(),
        root_hash: cp.root_hash().to_base64(),
        updated_unix: unix_now(),
    };
    let mut body = serde_json::to_vec_pretty(&st)?;
    body.push(b'\n');
    write_atomic(path, &body).context("saving the monitor state")
}

/// One step: verify the log's checkpoint, prove it extends the saved one, save it.
fn step(
    ctx: &Ctx,
    trust: &Trust,
    log: &Log,
    log_args: &LogArgs,
    state: &Path,
    initial: Option<&Path>,
) -> anyhow::Result<Report> {
    let log_text = log_args.log.as_str();
    let key = trust.key()?;
    let saved = match load(state, trust)? {
        Some(cp) => Some(cp),
        None => match initial {
            Some(p) => Some(file_checkpoint(
                CMD,
                "initial",
                p,
                &ctx.http,
                trust,
                Some(log_text),
            )?),
            None => None,
        },
    };
    let current = current_checkpoint(CMD, log, log_text, trust)?;
    let mut text = String::new();
    let mut json = Map::new();
    json.insert("checkpoint".into(), current.json());
    match &saved {
        None => {
            let _ = writeln!(
                text,
                "recorded: first checkpoint of the log (trust on first use), tree size {}",
                current.tree_size()
            );
            json.insert("first_use".into(), json!(true));
        }
        Some(old) => {
            let needs_proof = tlog::consistency_proof_needed(old.tree_size(), current.tree_size());
            let source = if needs_proof {
                proofs::choose(log, log_args.proof_source)?
            } else {
                proofs::Source::Tiles
            };
            let proof = prove_extends(CMD, log, log_text, key, source, old, &current)?;
            let _ = writeln!(
                text,
                "verified: the log's checkpoint of size {} extends the saved one of size {}",
                current.tree_size(),
                old.tree_size()
            );
            json.insert("first_use".into(), json!(false));
            json.insert("previous".into(), old.json());
            json.insert(
                "proof_source".into(),
                json!(proof.as_ref().map_or("none", |p| p.source.name())),
            );
            if let Some(p) = &proof {
                let _ = writeln!(
                    text,
                    "proof: {} hashes, {}",
                    p.hashes.len(),
                    p.source.describe()
                );
            }
        }
    }
    describe_checkpoint(&mut text, "checkpoint (signature verified)", &current);
    save(state, log_text, key, &current)?;
    let _ = writeln!(text, "state saved to {}", state.display());
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}

/// Runs `monitor`.
///
/// # Errors
/// A [`Failure`] (rollback, fork, bad signature); with `--once`, network and
/// I/O errors too (without it they are reported and retried).
pub fn run(
    ctx: &Ctx,
    key: &KeyArgs,
    log_args: &LogArgs,
    state: &Path,
    interval: Duration,
    once: bool,
    initial: Option<&Path>,
) -> anyhow::Result<Report> {
    let trust = load_trust(key, ctx.policy.as_deref())?;
    trust.key()?;
    let log = Log::parse(&log_args.log, &ctx.http)?;
    proofs::check_usage(&log, log_args.proof_source)?;
    if once {
        return step(ctx, &trust, &log, log_args, state, initial);
    }
    loop {
        match step(ctx, &trust, &log, log_args, state, initial) {
            Ok(report) => ctx.output.print_report(&report),
            Err(e) if e.downcast_ref::<Failure>().is_some() => return Err(e),
            Err(e) => ctx
                .output
                .report_error(&e.context("this step was not performed; retrying at the next one")),
        }
        std::thread::sleep(interval);
    }
}
