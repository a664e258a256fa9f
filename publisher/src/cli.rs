//! Command-line flags of `stateanchor-publish`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Publish a StateAnchor log's signed checkpoints to GitHub or a git directory.
///
/// Before every publication the publisher verifies the new checkpoint's
/// signature, reads the last published checkpoint from the target itself,
/// and verifies the log's consistency proof between the two. If any check
/// fails it publishes nothing, writes the evidence to a file, and exits 1.
///
/// With --policy, the checkpoint must also carry the log's witnesses'
/// cosignatures that meet the policy's quorum, or it is not published.
///
/// Exit codes: 0 published or nothing to publish; 1 refused (evidence
/// written); 2 usage, configuration, network or I/O error; 3 not published:
/// the checkpoint does not meet the witness policy (yet).
#[derive(Debug, Parser)]
#[command(name = "stateanchor-publish", version, after_help = EXAMPLES, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "\
Examples:
  # From cron: publish once to github.com/acme/log-roots under roots/prod/
  GITHUB_TOKEN=... stateanchor-publish once --log https://log.example.com \\
      --key \"$(cat log.vkey)\" --target github:acme/log-roots/roots/prod

  # Every hour, to a local git repository
  stateanchor-publish run --log https://log.example.com --key log.vkey \\
      --target dir:/srv/log-roots --interval 1h

  # Only checkpoints cosigned by a quorum of the policy's witnesses
  stateanchor-publish once --log https://log.example.com --key log.vkey \\
      --policy witness-policy.txt --target dir:/srv/log-roots";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish the log's latest checkpoint if it grew, then exit (for cron).
    Once(Common),
    /// Publish at once, then every --interval, until stopped (SIGTERM or
    /// Ctrl-C); stop with an alert on a refusal or a configuration error.
    Run {
        #[command(flatten)]
        common: Common,
        /// Time between publications, e.g. 30s, 15m, 1h.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
        interval: Duration,
    },
}

#[derive(Debug, Args)]
pub struct Common {
    /// The log's base URL (its public read API).
    #[arg(long, value_name = "URL")]
    pub log: String,

    /// The log's verifier key (`<origin>+<key ID>+<key>`), or a file holding it.
    ///
    /// Every checkpoint is verified with this key; it is never taken from
    /// the log itself.
    #[arg(long, value_name = "VKEY")]
    pub key: String,

    /// Where to publish: `github:OWNER/NAME[/PREFIX]` or `dir:PATH`.
    ///
    /// `dir:PATH` is a local git repository, created with `git init` if the
    /// directory is missing or empty; each publication is one commit.
    #[arg(long, value_name = "TARGET")]
    pub target: String,

    /// GitHub REST API URL (GitHub Enterprise Server: https://HOST/api/v3).
    #[arg(long, value_name = "URL", default_value = "https://api.github.com")]
    pub github_api: String,

    /// Environment variable holding the GitHub token (needs "Contents: Read
    /// and write" on the repository).
    #[arg(long, value_name = "VAR", default_value = "GITHUB_TOKEN")]
    pub token_env: String,

    /// Directory where evidence files are written when a publication is refused.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub evidence_dir: PathBuf,

    /// A C2SP tlog-policy file: publish only checkpoints signed by the log
    /// and cosigned by a quorum of its witnesses.
    ///
    /// Its `log` lines must include --key. The policy's text is published
    /// in log.json and README.md. A checkpoint that does not meet it is not
    /// published (exit 3; in `run`, tried again at the next interval).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// The log's public URL, written to log.json [default: --log].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// How many times each request to GitHub or the log is tried.
    #[arg(long, value_name = "N", default_value_t = 5, hide_short_help = true)]
    pub retries: u32,

    /// Delay before the first retry; it doubles with each retry, up to 60s.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration,
          default_value = "1s", hide_short_help = true)]
    pub retry_delay: Duration,

    /// Timeout of each request.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration,
          default_value = "30s", hide_short_help = true)]
    pub request_timeout: Duration,

    /// Longest rate-limit wait (Retry-After, x-ratelimit-reset) to honour
    /// before giving up.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration,
          default_value = "15m", hide_short_help = true)]
    pub max_wait: Duration,
}
