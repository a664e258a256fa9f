//! `stateanchor-verify`: the auditors' verifier for StateAnchor transparency
//! logs (and any C2SP tlog-tiles log).
//!
//! It trusts nothing the log serves: the verifier key always comes from the
//! user (`--key`, or the log line of a `--policy`), every checkpoint is
//! verified with it (and, with a witness policy, must be cosigned by a
//! quorum of the policy's witnesses), and every proof is checked with the
//! `tlog` crate's pure verification functions. See
//! `spec/verifier.md` for the commands, exit codes and file formats.
//!
//! The modules, from the bottom up (each uses only those above it):
//!
//! | module | what |
//! |---|---|
//! | `term` | escaping untrusted text; output that survives a closed pipe |
//! | `cli` | every flag, its help, a worked example per command |
//! | `report` | outcomes (report, failure with evidence, error with hints) and how they print |
//! | `sources` | I/O at the edge: a log over HTTP or in a directory, a publication repository, user inputs |
//! | `context` | what every command gets: the output settings and the HTTP client |
//! | `proofs` | inclusion and consistency proofs, from the log's API or its tiles, not yet verified |
//! | `trust` | the user's key and witness policy, checkpoints verified with them, the proof that one extends another |
//! | `state` | the state files of `audit` and `monitor` |
//! | `tree` | rebuilding a tree leaf by leaf from its right edge |
//! | `commands` | one module per command, and the dispatch |
//!
//! The binary's `main` only maps [`run`] to an exit code.

mod cli;
mod commands;
mod context;
mod proofs;
mod report;
mod sources;
mod state;
mod term;
mod tree;
mod trust;

use clap::Parser as _;

use crate::context::Ctx;
use crate::report::Failure;
pub use crate::report::Status;

/// Parses the command line, runs the command and prints its outcome: a
/// report on stdout, or what failed (with the evidence file written) or
/// the error on stderr.
#[must_use]
pub fn run() -> Status {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors exit 2.
            let status = if e.use_stderr() {
                Status::Error
            } else {
                Status::Verified
            };
            let _ = e.print();
            return status;
        }
    };
    let ctx = Ctx::new(&cli);
    match commands::run(&ctx, cli.command) {
        Ok(report) => {
            ctx.output.print_report(&report);
            Status::Verified
        }
        Err(err) => match err.downcast::<Failure>() {
            Ok(failure) => {
                ctx.output.report_failure(&failure);
                Status::Failed
            }
            Err(err) => {
                ctx.output.report_error(&err);
                Status::Error
            }
        },
    }
}
