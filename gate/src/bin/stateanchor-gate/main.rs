//! `stateanchor-gate`: classify OpenAPI changes in CI. Exit status: 0 when no
//! finding is at or above `--fail-on`, 1 when one is, 2 on any error.

mod check;
mod cli;
mod input;
mod output;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!(
                "stateanchor-gate: error: {}",
                gate::report::sanitize(&format!("{e:#}"))
            );
            ExitCode::from(2)
        }
    }
}
