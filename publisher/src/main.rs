//! `stateanchor-publish`: publishes a log's signed checkpoints to GitHub or a
//! local git repository. See `stateanchor-publish --help` and
//! `spec/publication.md`.

mod cli;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use publisher::{Error, HttpSource, Outcome, PublishConfig, RetryPolicy, Target};

use cli::{Cli, Command, Common};

/// Exit code: published, or nothing to publish.
const EXIT_OK: u8 = 0;
/// Exit code: a safety check failed; nothing published; evidence written.
const EXIT_REFUSED: u8 = 1;
/// Exit code: usage, configuration, network or I/O error.
const EXIT_ERROR: u8 = 2;
/// Exit code: the log's checkpoint does not meet the witness policy (yet);
/// nothing published, no evidence.
const EXIT_NOT_WITNESSED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Once(_) => "warn",
        Command::Run { .. } => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match real_main(cli) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(err) => {
            eprintln!(
                "stateanchor-publish: error: {}",
                sanitize(&format!("{err:#}"))
            );
            let publisher_err = err.chain().find_map(|e| e.downcast_ref::<Error>());
            if let Some(hint) = publisher_err.and_then(Error::hint) {
                eprintln!("stateanchor-publish: hint: {hint}");
            }
            match publisher_err {
                Some(Error::Refused(r)) => {
                    if let Ok(path) = &r.evidence_file {
                        println!("evidence: {}", path.display());
                    }
                    ExitCode::from(EXIT_REFUSED)
                }
                Some(Error::NotWitnessed { .. }) => ExitCode::from(EXIT_NOT_WITNESSED),
                _ => ExitCode::from(EXIT_ERROR),
            }
        }
    }
}

/// Escapes control characters (other than newlines) in text that may come
/// from GitHub or the log, before it reaches a terminal.
fn sanitize(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() && c != '\n' {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn real_main(cli: Cli) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("start the async runtime")?;
    match cli.command {
        Command::Once(common) => {
            let (cfg, source) = config(&common)?;
            let outcome = rt.block_on(publisher::publish_once(&cfg, &source))?;
            print_outcome(&cfg, &outcome);
            Ok(())
        }
        Command::Run { common, interval } => {
            let (cfg, source) = config(&common)?;
            rt.block_on(publisher::run(&cfg, &source, interval, shutdown_signal()))?;
            Ok(())
        }
    }
}

fn print_outcome(cfg: &PublishConfig, outcome: &Outcome) {
    let origin = sanitize(cfg.log_key.name());
    match outcome {
        Outcome::Published {
            tree_size,
            previous: Some(p),
            ..
        } => println!(
            "published {origin} at tree size {tree_size} to {} (was {p})",
            cfg.target
        ),
        Outcome::Published { tree_size, .. } => println!(
            "published {origin} at tree size {tree_size} to {} (first publication)",
            cfg.target
        ),
        Outcome::Unchanged {
            tree_size,
            repaired,
        } => println!(
            "unchanged: {} already has {origin} at tree size {tree_size}{}",
            cfg.target,
            if *repaired {
                format!(" (wrote the missing checkpoints/{tree_size})")
            } else {
                String::new()
            }
        ),
        _ => println!("{outcome:?}"),
    }
}

/// Builds the configuration and the HTTP source from the flags.
fn config(c: &Common) -> anyhow::Result<(PublishConfig, HttpSource)> {
    let key = read_key(&c.key)?;
    let target: Target = c.target.parse()?;
    let retry = RetryPolicy {
        attempts: c.retries.max(1),
        base_delay: c.retry_delay,
        max_wait: c.max_wait,
        request_timeout: c.request_timeout,
        ..RetryPolicy::default()
    };
    let source = HttpSource::new(&c.log, retry.clone())?;
    let mut cfg = PublishConfig::new(target, key);
    cfg.log_url = Some(
        c.public_url
            .clone()
            .unwrap_or_else(|| source.url().to_owned()),
    );
    cfg.github = publisher::GitHubConfig {
        api_url: c.github_api.clone(),
        ..publisher::GitHubConfig::from_env(&c.token_env)
    };
    cfg.evidence_dir.clone_from(&c.evidence_dir);
    cfg.retry = retry;
    if let Some(path) = &c.policy {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the witness policy {}", path.display()))?;
        let policy = publisher::WitnessPolicy::parse(&text)
            .with_context(|| format!("--policy {}", path.display()))?;
        policy.check_names_log(&cfg.log_key)?;
        cfg.witness_policy = Some(policy);
    }
    Ok((cfg, source))
}

/// `--key`: the key's text form, or a file holding it.
fn read_key(arg: &str) -> anyhow::Result<tlog::VerifierKey> {
    if let Ok(key) = tlog::VerifierKey::from_text(arg.trim()) {
        return Ok(key);
    }
    let text = std::fs::read_to_string(arg).with_context(|| {
        format!(
            "--key {arg:?} is neither a verifier key (<origin>+<key ID>+<key>) nor a readable file"
        )
    })?;
    tlog::VerifierKey::from_text(text.trim())
        .with_context(|| format!("--key file {arg} does not hold a verifier key"))
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("stopping");
}
