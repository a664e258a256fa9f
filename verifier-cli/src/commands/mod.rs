//! The commands, one module each, and [`run`], which dispatches a parsed
//! command line to them. The commands share nothing through this module:
//! what they share lives in `trust`, `sources`, `proofs`, `state` and
//! `report`.

mod audit;
mod checkpoint;
mod consistency;
mod export;
mod inclusion;
mod monitor;
mod proof;
mod published;
mod write_test_log;

use crate::cli::Command;
use crate::context::Ctx;
use crate::report::Report;

/// Runs a parsed command.
///
/// # Errors
/// A [`Failure`](crate::report::Failure) (exit 1) or any other error (exit 2).
pub fn run(ctx: &Ctx, command: Command) -> anyhow::Result<Report> {
    match command {
        Command::Checkpoint { key, input } => checkpoint::run(ctx, &key, &input),
        Command::Inclusion {
            key,
            log,
            index,
            leaf_hash,
            entry_file,
            checkpoint,
            save,
        } => inclusion::run(
            ctx,
            &key,
            &log,
            &inclusion::Entry {
                index,
                leaf_hash: leaf_hash.as_deref(),
                entry_file: entry_file.as_deref(),
            },
            checkpoint.as_deref(),
            save.as_deref(),
        ),
        Command::Consistency { key, log, old, new } => {
            consistency::run(ctx, &key, &log, &old, new.as_deref())
        }
        Command::Audit {
            key,
            log,
            state,
            jobs,
            no_progress,
        } => audit::run(ctx, &key, &log, state.as_deref(), jobs, no_progress),
        Command::Published {
            key,
            log,
            repo,
            github_api,
            github_ref,
        } => published::run(ctx, &key, &log, &repo, &github_api, github_ref.as_deref()),
        Command::Monitor {
            key,
            log,
            state,
            interval,
            once,
            initial,
        } => monitor::run(ctx, &key, &log, &state, interval, once, initial.as_deref()),
        Command::Proof { key, file, entry } => proof::run(ctx, &key, &file, &entry),
        Command::Export(args) => export::run(ctx, &args),
        Command::WriteTestLog {
            out,
            entries,
            signer_key_file,
            origin,
            checkpoint_at,
            entry_prefix,
        } => write_test_log::run(&write_test_log::Params {
            out: &out,
            entries,
            key_file: signer_key_file.as_deref(),
            origin: &origin,
            checkpoint_at: &checkpoint_at,
            entry_prefix: &entry_prefix,
        }),
    }
}
