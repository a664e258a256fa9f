//! Command-line interface: every flag, its help, and a worked example per command.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  verified: every check passed
  1  verification failed: what failed is printed and the evidence is written
     to a file (see --evidence-dir)
  2  usage, network or I/O error: nothing was decided

The log's verifier key is always given by you (--key or --key-file, or the
log line of a --policy file); a key served by the log under audit is never
trusted. With --policy FILE (c2sp.org/tlog-policy), a checkpoint counts only
if it is also cosigned by a quorum of the policy's witnesses; with --key
alone, no witness is required, and the output says so.

Example:
  stateanchor-verify checkpoint --key 'example.com/log+33d7b496+AeHT...' https://log.example.com/checkpoint";

/// Verify a StateAnchor transparency log (or any C2SP tlog-tiles log) without trusting it.
#[derive(Parser, Debug)]
#[command(
    name = "stateanchor-verify",
    version,
    about,
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    /// Print one machine-readable JSON object on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Directory in which to write the evidence file of a failed verification
    /// [default: the current directory].
    #[arg(long, global = true, value_name = "DIR")]
    pub evidence_dir: Option<PathBuf>,

    /// Witness policy (c2sp.org/tlog-policy): every checkpoint the command
    /// relies on must be signed by one of the policy's logs and cosigned by a
    /// quorum of its witnesses [default: no witness required].
    ///
    /// With --key too, the key must be one of the policy's logs (a policy
    /// with no log line takes the key as its log); alone, a policy with one
    /// log names the log's key. Cosignatures from keys the policy does not
    /// list are ignored; a witness that cosigned twice counts once; a
    /// cosignature from a policy witness that does not verify, or dated more
    /// than 60 s after this computer's clock, fails the verification.
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Timeout of each HTTP request (e.g. 30s, 2m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The log's verifier key, given by the user (required unless --policy
/// names the log).
#[derive(Args, Debug, Clone)]
#[group(required = false, multiple = false)]
pub struct KeyArgs {
    /// The log's verifier key, `<origin>+<key ID hex>+<base64>` (C2SP signed-note text form).
    #[arg(long, value_name = "VKEY")]
    pub key: Option<String>,

    /// A file holding the log's verifier key in text form.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

/// Where proofs come from.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofSourceArg {
    /// The log's proof API (`/v1/proof/...`) if it has one, else proofs built from its tiles.
    Auto,
    /// Only the log's proof API.
    Api,
    /// Only proofs built from the log's tlog-tiles (works on any tlog-tiles log).
    Tiles,
}

/// The log to talk to, and how to get proofs from it.
#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// The log: its base URL (`https://log.example.com`) or a directory laid out as tlog-tiles.
    #[arg(long, value_name = "URL|DIR")]
    pub log: String,

    /// Where proofs come from; they are verified the same way whatever their source.
    #[arg(long, value_name = "SOURCE", value_enum, default_value_t = ProofSourceArg::Auto)]
    pub proof_source: ProofSourceArg,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Verify a checkpoint's signature and print its origin, tree size and root hash.
    #[command(after_help = "\
The input is a file, `-` for stdin, or an http(s) URL. Signature lines from
other keys (witness cosignatures, say) are listed but not verified.

Example:
  stateanchor-verify checkpoint --key-file log.vkey https://log.example.com/checkpoint")]
    Checkpoint {
        /// The log's verifier key.
        #[command(flatten)]
        key: KeyArgs,
        /// The checkpoint: a file, `-` for stdin, or an http(s) URL.
        #[arg(value_name = "FILE|URL")]
        input: String,
    },

    /// Prove that an entry is in the log, against the log's latest verified checkpoint.
    #[command(after_help = "\
Give the entry by --index, by --leaf-hash, or by --entry-file (its leaf hash
is computed here; add --index on a log without a proof API to skip the search).

Example:
  stateanchor-verify inclusion --log https://log.example.com --policy log.policy --entry-file envelope.json --save envelope.tlog-proof")]
    Inclusion {
        /// The log's verifier key.
        #[command(flatten)]
        key: KeyArgs,
        /// The log.
        #[command(flatten)]
        log: LogArgs,
        /// Index of the entry in the log.
        #[arg(long, value_name = "I", required_unless_present_any = ["leaf_hash", "entry_file"])]
        index: Option<u64>,
        /// The entry's RFC 6962 leaf hash, standard base64.
        #[arg(long, value_name = "B64", conflicts_with = "entry_file")]
        leaf_hash: Option<String>,
        /// A file holding the entry's exact bytes.
        #[arg(long, value_name = "FILE")]
        entry_file: Option<PathBuf>,
        /// Verify against this checkpoint file instead of the log's latest one.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Once verified, save the entry's proof as a c2sp.org/tlog-proof
        /// file (the checkpoint as served, with its cosignatures), for
        /// `stateanchor-verify proof` or any tlog-proof verifier, offline.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },

    /// Prove that a newer checkpoint (by default the log's current one) extends an older one.
    #[command(after_help = "\
Example:
  stateanchor-verify consistency --log https://log.example.com --key-file log.vkey --old checkpoint.saved")]
    Consistency {
        /// The log's verifier key.
        #[command(flatten)]
        key: KeyArgs,
        /// The log.
        #[command(flatten)]
        log: LogArgs,
        /// The older checkpoint.
        #[arg(long, value_name = "FILE")]
        old: PathBuf,
        /// The newer checkpoint [default: the log's current one].
        #[arg(long, value_name = "FILE")]
        new: Option<PathBuf>,
    },

    /// Read the whole log through tlog-tiles and recompute every hash.
    #[command(after_help = "\
Every entry bundle is read and hashed, every tile is compared with the hashes
recomputed from the entries, and the root must match the log's checkpoint.
Memory does not grow with the log. With --state, progress is saved every few
seconds and a later run continues from it (also once the log has grown).

Example:
  stateanchor-verify audit --log https://log.example.com --key-file log.vkey --state audit.state")]
    Audit {
        /// The log's verifier key.
        #[command(flatten)]
        key: KeyArgs,
        /// The log: base URL or tlog-tiles directory.
        #[arg(long, value_name = "URL|DIR")]
        log: String,
        /// Progress file: continue from it if it exists, save progress to it.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Entry bundles fetched in parallel [default: 1 for a directory, 8 over HTTP].
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// Never draw a progress bar (it is drawn only on a terminal anyway).
        #[arg(long)]
        no_progress: bool,
    },

    /// Check a publication repository: every checkpoint signed and all consistent with the log (split view).
    #[command(after_help = "\
The repository holds `checkpoint`, `checkpoints/<tree size>` and `log.json`
under PREFIX. `github:` reads it through the GitHub REST contents API (token
from GITHUB_TOKEN if set); `dir:` reads the files of a directory.

Example:
  stateanchor-verify published --log https://log.example.com --key-file log.vkey --repo github:example/stateanchor-roots/prod")]
    Published {
        /// The log's verifier key.
        #[command(flatten)]
        key: KeyArgs,
        /// The log.
        #[command(flatten)]
        log: LogArgs,
        /// `github:OWNER/NAME[/PREFIX]` or `dir:PATH`.
        #[arg(long, value_name = "REPO")]
        repo: String,
        /// Base URL of the GitHub REST API.
        #[arg(long, value_name = "URL", default_value = "https://api.github.com")]
        github_api: String,
        /// Branch, tag or commit to read [default: the repository's default branch].
        #[arg(long, value_name = "REF")]
        github_ref: Option<String>,
    },

    /// Keep the last verified checkpoint in a state file and prove consistency at every step.
    #[command(after_help = "\
The first run records the log's checkpoint (trust on first use; give
--initial FILE to start from a checkpoint you obtained elsewhere). Each later
step verifies the new checkpoint and proves it extends the recorded one; only
then is the state file updated. Without --once, steps repeat every
--interval; a network error is reported and retried at the next step, a
verification failure stops the monitor with exit 1.

Example:
  stateanchor-verify monitor --log https://log.example.com --key-file log.vkey --state log.monitor --once")]
    Monitor {
        /// The log's verifier key.
        #[command(flatten)]
        key: KeyArgs,
        /// The log.
        #[command(flatten)]
        log: LogArgs,
        /// State file holding the last verified checkpoint.
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// Time between steps (e.g. 30s, 5m, 1h).
        #[arg(long, value_name = "D", default_value = "60s", value_parser = parse_duration)]
        interval: Duration,
        /// Run one step and exit.
        #[arg(long)]
        once: bool,
        /// Checkpoint to start from when the state file does not exist yet.
        #[arg(long, value_name = "FILE")]
        initial: Option<PathBuf>,
    },

    /// Verify a c2sp.org/tlog-proof file offline: the entry is in the log, under a witnessed checkpoint.
    #[command(after_help = "\
Nothing is fetched. The proof's checkpoint must be signed by the log (--key,
or a log of --policy) and, with --policy, cosigned by a quorum of the
policy's witnesses; the entry's RFC 6962 leaf hash must be included at the
proof's index. Exit 0 if all of this holds, 1 (with the reason) if not.
The proof's optional extra data is not authenticated and not used.

Example:
  stateanchor-verify proof envelope.tlog-proof --entry envelope.json --policy log.policy")]
    Proof {
        /// The log's verifier key (alone: no witness required).
        #[command(flatten)]
        key: KeyArgs,
        /// The proof file (`.tlog-proof`).
        #[arg(value_name = "PROOF")]
        file: PathBuf,
        /// A file holding the entry's exact bytes.
        #[arg(long, value_name = "FILE", alias = "entry-file")]
        entry: PathBuf,
    },

    /// Verify a compliance export (JSON or Markdown) offline: every record, its envelope, its inclusion and the checkpoint.
    #[command(after_help = "\
Every record's digest is recomputed, its envelope rebuilt and its inclusion
proven under the export's checkpoint, whose signature is verified with your
key; the whole file is then rendered again from the verified records and
compared byte for byte. With --specs DIR, every server-classified run must
be classified again from its documents in DIR with the recorded findings:
each run that is not (a document absent, a file that does not match the
recorded SHA-256, different findings) is named and verification fails;
--allow-missing-specs lets runs whose documents are absent through, listed.
With --log, the checkpoint must also be consistent with the log's current
one; with --repo, with the published checkpoints.

Example:
  stateanchor-verify export stateanchor-soc2-evidence-prj_x-2026-01-01-2026-03-31.json --key-file log.vkey")]
    Export(ExportArgs),

    /// Test tool: write a valid tlog-tiles log directory with deterministic entries.
    #[command(
        hide = true,
        after_help = "\
Example:
  stateanchor-verify write-test-log --out /tmp/log --entries 10000000"
    )]
    WriteTestLog {
        /// Output directory (created).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Number of entries.
        #[arg(long, value_name = "N")]
        entries: u64,
        /// Signer key file (`PRIVATE+KEY+...`) [default: a fixed test key named by --origin].
        #[arg(long, value_name = "FILE")]
        signer_key_file: Option<PathBuf>,
        /// Origin of the default test key.
        #[arg(long, default_value = "example.com/stateanchor-test")]
        origin: String,
        /// Also write `checkpoint.<size>` for these sizes.
        #[arg(long, value_name = "SIZES", value_delimiter = ',')]
        checkpoint_at: Vec<u64>,
        /// Entry `i` is this prefix followed by `i` in decimal.
        #[arg(long, default_value = "entry ")]
        entry_prefix: String,
    },
}

/// Arguments of `stateanchor-verify export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The log's verifier key.
    #[command(flatten)]
    pub key: KeyArgs,
    /// The export: `stateanchor-soc2-evidence-<project>-<from>-<to>.json` or `.md`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Also prove that the export's checkpoint is consistent with this log's current one.
    #[arg(long, value_name = "URL|DIR")]
    pub log: Option<String>,
    /// With --log: also check the publication repository, as `published` does
    /// (`github:OWNER/NAME[/PREFIX]` or `dir:PATH`).
    #[arg(long, value_name = "REPO", requires = "log")]
    pub repo: Option<String>,
    /// Base URL of the GitHub REST API (with --repo github:...).
    #[arg(long, value_name = "URL", default_value = "https://api.github.com")]
    pub github_api: String,
    /// Branch, tag or commit of the publication repository.
    #[arg(long, value_name = "REF")]
    pub github_ref: Option<String>,
    /// Reproduce the verdicts the log classified: every server-classified
    /// run is classified again from its two OpenAPI documents in DIR (found
    /// by the SHA-256 of their bytes, whatever the file names), with the
    /// engine and rule configuration it records, and its findings must be
    /// the recorded ones. Verification fails (exit 1), naming each run, if a
    /// run's document is absent from DIR, if a file named after a document
    /// (`<sha256>[.ext]` or the file name the run records) does not match
    /// the recorded SHA-256, or if the findings differ.
    #[arg(long, value_name = "DIR")]
    pub specs: Option<PathBuf>,
    /// With --specs: check only the runs whose documents are in DIR; runs
    /// whose documents are absent are listed as not reproduced instead of
    /// failing. An edited document or different findings still fail.
    #[arg(long, requires = "specs")]
    pub allow_missing_specs: bool,
}

/// Parses durations such as `500ms`, `30s`, `5m`, `1h`, or plain seconds.
///
/// # Errors
/// A message for clap if the text is not such a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration like 500ms, 30s, 5m or 1h");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(format!("{text:?}: the duration must not be zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "1d", "-1s", "0s", "1.5s", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
