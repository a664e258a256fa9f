//! `stateanchor-log`: the StateAnchor transparency log server.
//!
//! See `spec/http-api.md` for the HTTP API and `spec/durability.md` for what
//! happens when the process dies.

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match log_server::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stateanchor-log: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
