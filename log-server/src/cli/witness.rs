//! `stateanchor-log witness`: run a C2SP tlog-witness for other logs
//! (`serve`), and create or print its cosigner key (`key generate`,
//! `key show`). See spec/witnessing.md, "Witness mode".

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use rand_core::OsRng;
use tlog::{CosignerKey, SignerKey};

use super::data_dir::{self, read_private_file, write_private_file};
use crate::http::witness::{self as http, WitnessApp};
use crate::metrics::Metrics;
use crate::witness::{STATE_DIR, Witness, WitnessStateStore, check_not_log_key, parse_log_list};

/// File name of the witness's cosigner key in its data directory.
pub const WITNESS_KEY_FILE: &str = "witness-key";

#[derive(Subcommand)]
pub enum WitnessCmd {
    /// Cosign other logs' checkpoints: serve C2SP tlog-witness add-checkpoint
    ///
    /// Serves `POST <prefix>/add-checkpoint` for the logs listed in --logs,
    /// signing with the key of `witness key generate`.
    ///
    /// The --logs file is a C2SP tlog-policy with one `log <vkey> [<url>]`
    /// line per log key and `quorum none` (`#` comments and blank lines are
    /// ignored); each vkey's name is a log's origin. The latest cosigned
    /// size and root of each log are kept in <data-dir>/witness-db.
    ///
    /// Example:
    ///   stateanchor-log witness key generate --name witness.example.com/w1 --data-dir ./witness-data
    ///   printf 'log %s\nquorum none\n' "$(stateanchor-log key show --data-dir ./data)" > logs.txt
    ///   stateanchor-log witness serve --data-dir ./witness-data --logs logs.txt --listen 127.0.0.1:8081
    #[command(verbatim_doc_comment)]
    Serve(WitnessServeArgs),
    /// Create or print the witness's cosigner key.
    Key {
        #[command(subcommand)]
        cmd: WitnessKeyCmd,
    },
}

#[derive(Subcommand)]
pub enum WitnessKeyCmd {
    /// Create the witness's Ed25519 cosigner key (cosignature/v1) in
    /// <data-dir>/witness-key, readable by its owner only, and print its
    /// verifier key. Refuses to replace an existing key.
    ///
    /// Example:
    ///   stateanchor-log witness key generate --name witness.example.com/w1 --data-dir ./witness-data
    Generate {
        /// The witness's name, e.g. a schema-less URL (witness.example.com/w1).
        #[arg(long)]
        name: String,
        /// The witness's data directory.
        #[arg(
            long,
            env = "STATEANCHOR_WITNESS_DATA_DIR",
            default_value = "./witness-data"
        )]
        data_dir: PathBuf,
    },
    /// Print the witness's verifier key (for the logs' policies).
    ///
    /// Example:
    ///   stateanchor-log witness key show --data-dir ./witness-data
    Show {
        /// The witness's data directory.
        #[arg(
            long,
            env = "STATEANCHOR_WITNESS_DATA_DIR",
            default_value = "./witness-data"
        )]
        data_dir: PathBuf,
    },
}

/// Settings of `witness serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct WitnessServeArgs {
    /// The witness's data directory: its key (witness-key) and state
    /// (witness-db). It may be a log's data directory too.
    #[arg(
        long,
        env = "STATEANCHOR_WITNESS_DATA_DIR",
        default_value = "./witness-data"
    )]
    pub data_dir: PathBuf,
    /// File listing the logs to witness: `log <vkey> [<url>]` lines and
    /// `quorum none` (tlog-policy syntax).
    #[arg(long, env = "STATEANCHOR_WITNESS_LOGS", value_name = "FILE")]
    pub logs: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "STATEANCHOR_WITNESS_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub listen: SocketAddr,
    /// The submission prefix: add-checkpoint is served at <prefix>/add-checkpoint.
    #[arg(long, env = "STATEANCHOR_WITNESS_PREFIX", default_value = "")]
    pub prefix: String,
    /// Log format on stderr: text or json.
    #[arg(long, env = "STATEANCHOR_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

/// Runs a `witness` subcommand.
///
/// # Errors
/// Whatever the command fails with.
pub fn run(cmd: WitnessCmd) -> Result<()> {
    match cmd {
        WitnessCmd::Serve(args) => {
            super::init_tracing(&args.log_format)?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve(args))
        }
        WitnessCmd::Key {
            cmd: WitnessKeyCmd::Generate { name, data_dir },
        } => {
            let key = CosignerKey::generate(&name, &mut OsRng)
                .with_context(|| format!("{name:?} cannot be a key name (no spaces or '+')"))?;
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let path = data_dir.join(WITNESS_KEY_FILE);
            if path.exists() {
                bail!(
                    "{} exists; a witness keeps its key (remove the file to replace it)",
                    path.display()
                );
            }
            write_private_file(&path, &format!("{}\n", key.to_text()))?;
            eprintln!(
                "stateanchor-log: wrote the witness key to {}",
                path.display()
            );
            println!("{}", key.verifier().to_text());
            Ok(())
        }
        WitnessCmd::Key {
            cmd: WitnessKeyCmd::Show { data_dir },
        } => {
            println!("{}", load_key(&data_dir)?.verifier().to_text());
            Ok(())
        }
    }
}

/// The witness's key from its data directory.
fn load_key(data_dir: &Path) -> Result<CosignerKey> {
    let path = data_dir.join(WITNESS_KEY_FILE);
    if !path.exists() {
        bail!(
            "{} does not exist; create it with `stateanchor-log witness key generate --name <name> --data-dir {}`",
            path.display(),
            data_dir.display()
        );
    }
    CosignerKey::from_text(read_private_file(&path)?.trim())
        .with_context(|| format!("parsing {}", path.display()))
}

/// The submission prefix, checked: empty, or `/segment[/segment...]`.
fn check_prefix(prefix: &str) -> Result<String> {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return Ok(String::new());
    }
    if !prefix.starts_with('/')
        || prefix.contains("//")
        || prefix.contains(['{', '}', '*', '?', '#', ' '])
    {
        bail!("--prefix must be empty or a path like /witness, not {prefix:?}");
    }
    Ok(prefix.to_owned())
}

/// Runs `witness serve` until SIGTERM or Ctrl-C, then lets the requests in
/// flight finish (each state written before its answer).
async fn serve(args: WitnessServeArgs) -> Result<()> {
    let prefix = check_prefix(&args.prefix)?;
    let key = load_key(&args.data_dir)?;
    let text = std::fs::read_to_string(&args.logs)
        .with_context(|| format!("reading the list of logs {}", args.logs.display()))?;
    let logs =
        parse_log_list(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.logs.display()))?;
    // A witness that shares a log's data directory must not sign with the
    // log's key either (nor be configured with it as a log, checked below).
    if args.data_dir.join(data_dir::SIGNING_KEY_FILE).exists() {
        let path = args.data_dir.join(data_dir::SIGNING_KEY_FILE);
        let log_key = SignerKey::from_text(read_private_file(&path)?.trim())
            .with_context(|| format!("parsing {}", path.display()))?;
        check_not_log_key(&key, &log_key.verifier_key())?;
    }
    let store = Arc::new(WitnessStateStore::open(&args.data_dir.join(STATE_DIR))?);
    let witness = Arc::new(Witness::new(key, &logs, store)?);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("witness key: {}", witness.verifier().to_text());
    for origin in witness.origins() {
        let size = witness.latest(origin)?.map_or(0, |s| s.size);
        println!("log: {origin} (cosigned size {size})");
    }
    println!("add-checkpoint: http://{addr}{prefix}/add-checkpoint");
    println!("listening: http://{addr}");
    tracing::info!(%addr, logs = logs.len(), "witness serving");

    let state = WitnessApp {
        witness,
        metrics: Arc::new(Metrics::default()),
    };
    http::serve(listener, state, &prefix, async {
        super::serve::shutdown_signal().await;
        tracing::info!("shutting down: draining requests");
    })
    .await
    .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::check_prefix;

    #[test]
    fn prefixes() {
        assert_eq!(check_prefix("").unwrap(), "");
        assert_eq!(check_prefix("/").unwrap(), "");
        assert_eq!(check_prefix("/w1/").unwrap(), "/w1");
        assert_eq!(check_prefix("/a/b").unwrap(), "/a/b");
        for bad in ["w1", "/a//b", "/{x}", "/a b", "/*x"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }
}
