//! What every command gets: how to print ([`Output`]), the HTTP client and
//! the witness policy's path.

use std::path::PathBuf;

use crate::cli::Cli;
use crate::report::Output;
use crate::sources::Http;

/// What every command gets: output mode, where evidence goes, the HTTP client.
pub struct Ctx {
    /// How outcomes are printed.
    pub output: Output,
    /// The HTTP client.
    pub http: Http,
    /// `--policy`: the witness policy file, loaded by each command with its key.
    pub policy: Option<PathBuf>,
}

impl Ctx {
    /// The context for a parsed command line.
    pub fn new(cli: &Cli) -> Self {
        Ctx {
            output: Output {
                json: cli.json,
                evidence_dir: cli
                    .evidence_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(".")),
                command_line: std::env::args().collect(),
            },
            http: Http::new(cli.timeout),
            policy: cli.policy.clone(),
        }
    }
}
