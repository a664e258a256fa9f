//! `stateanchor-verify`: see the `verifier_cli` library for what it does,
//! and `spec/verifier.md` for its commands, exit codes and file formats.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(verifier_cli::run() as u8)
}
