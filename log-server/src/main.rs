//! `stateanchor-log`: the StateAnchor transparency log server.
//!
//! See `spec/http-api.md` for the HTTP API and `spec/durability.md` for what
//! happens when the process dies.

mod api;
mod cli;
mod compliance;
mod error;
mod gate;
mod keys;
mod ledger;
mod log;
mod metrics;
mod page;
mod projects;
mod publish;
mod server;
mod storage;

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stateanchor-log: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
