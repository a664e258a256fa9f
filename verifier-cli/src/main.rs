//! `stateanchor-verify`: the auditors' verifier for StateAnchor transparency
//! logs (and any C2SP tlog-tiles log).
//!
//! It trusts nothing the log serves: the verifier key always comes from the
//! user, every checkpoint is verified with it, and every proof is checked
//! with the `tlog` crate's pure verification functions. See
//! `spec/verifier.md` for the commands, exit codes and file formats.
//!
//! `main` only maps [`run`] to an exit code; the commands live in their
//! own modules.

mod audit;
mod cli;
mod commands;
mod export;
mod fetch;
mod generate;
mod monitor;
mod outcome;
mod proofs;
mod published;
mod term;
mod tree;

use std::process::ExitCode;

use clap::Parser as _;

use crate::outcome::{Ctx, Failure, Status};

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors exit 2.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let ctx = Ctx::new(&cli);
    let status = match commands::run(&ctx, cli.command) {
        Ok(report) => {
            ctx.print_report(&report);
            Status::Verified
        }
        Err(err) => match err.downcast::<Failure>() {
            Ok(failure) => {
                ctx.report_failure(&failure);
                Status::Failed
            }
            Err(err) => {
                ctx.report_error(&err);
                Status::Error
            }
        },
    };
    ExitCode::from(status as u8)
}
