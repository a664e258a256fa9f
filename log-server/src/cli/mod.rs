//! Command-line interface: `serve`, the `key` and `project` subcommands,
//! which call the admin HTTP API of a running server with a blocking client,
//! and `witness` (a witness for other logs).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use compliance::principal::Role;

mod backup;
mod data_dir;
mod migrate;
mod project;
mod serve;
mod witness;

pub use serve::ServeArgs;
pub use witness::WitnessServeArgs;

/// The StateAnchor transparency log server.
#[derive(Parser)]
#[command(name = "stateanchor-log", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the log server (embedded RocksDB, or PostgreSQL and object storage
    /// with --database and --objects).
    ///
    /// Example:
    ///   stateanchor-log serve --data-dir ./data --listen 127.0.0.1:8080 --origin log.example.com/api-changes
    Serve(Box<ServeArgs>),
    /// Copy a RocksDB log into PostgreSQL and object storage, and prove
    /// that the copy's root is the original's.
    ///
    /// Example:
    ///   stateanchor-log migrate --data-dir ./data --database postgres://sa@127.0.0.1/sa --objects s3://bucket/log
    Migrate(migrate::MigrateArgs),
    /// Back up the log (RocksDB mode): online through the running server,
    /// or --offline; --base PREV makes it incremental (unchanged table files
    /// hard-linked from PREV); `backup verify DIR` proves a backup without
    /// restoring it.
    ///
    /// Example:
    ///   stateanchor-log backup --to /var/lib/stateanchor/backups/2025-01-31
    ///   stateanchor-log backup --to /var/lib/stateanchor/backups/2025-02-01 --base /var/lib/stateanchor/backups/2025-01-31
    ///   stateanchor-log backup verify /var/lib/stateanchor/backups/2025-01-31
    #[command(verbatim_doc_comment)]
    Backup(Box<backup::BackupArgs>),
    /// Restore a backup into a data directory without a database, and prove
    /// the restored tree against the backup's signed checkpoint.
    ///
    /// Example:
    ///   stateanchor-log restore --from /var/backups/stateanchor/2025-01-31 --data-dir /var/lib/stateanchor
    Restore(backup::RestoreArgs),
    /// Show the verifier key, or manage API keys.
    Key {
        #[command(subcommand)]
        cmd: KeyCmd,
    },
    /// Manage projects, their settings and their principals.
    Project {
        #[command(subcommand)]
        cmd: project::ProjectCmd,
    },
    /// Be a witness for other logs (C2SP tlog-witness), with a key of its own.
    ///
    /// Example:
    ///   stateanchor-log witness key generate --name witness.example.com/w1 --data-dir ./witness-data
    ///   stateanchor-log witness serve --data-dir ./witness-data --logs logs.txt --listen 127.0.0.1:8081
    #[command(verbatim_doc_comment)]
    Witness {
        #[command(subcommand)]
        cmd: witness::WitnessCmd,
    },
    /// Run monitoring (spec/monitoring.md) on a running server, e.g. from cron.
    Monitor {
        #[command(subcommand)]
        cmd: MonitorCmd,
    },
}

#[derive(Subcommand)]
enum MonitorCmd {
    /// Monitor complete days now: by default every project, every day not
    /// monitored yet up to yesterday (UTC). A day already monitored records
    /// nothing new.
    ///
    /// Example (cron, daily at 00:30 UTC):
    ///   30 0 * * * stateanchor-log monitor run --url http://127.0.0.1:8080 --data-dir /var/lib/stateanchor
    Run {
        /// One project.
        #[arg(long, value_name = "ID")]
        project: Option<String>,
        /// One day, YYYY-MM-DD (UTC; it must be over).
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// Where a running server is, and the admin key to call it with.
#[derive(clap::Args)]
pub(crate) struct AdminArgs {
    /// URL of the running log server.
    #[arg(long, env = "STATEANCHOR_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Admin API key (default: read from <data-dir>/admin-api-key).
    #[arg(long, env = "STATEANCHOR_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// Data directory holding admin-api-key.
    #[arg(long, env = "STATEANCHOR_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Print the log's verifier key (from the data directory).
    ///
    /// Example:
    ///   stateanchor-log key show --data-dir ./data
    Show {
        /// Data directory of the log.
        #[arg(long, env = "STATEANCHOR_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Create the log's signing key before the first start, and print its
    /// verifier key (for the `log` line of a witness policy, say).
    ///
    /// Example:
    ///   stateanchor-log key generate --data-dir ./data --origin log.example.com/api-changes
    Generate {
        /// Data directory of the log.
        #[arg(long, env = "STATEANCHOR_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The log's origin.
        #[arg(long, env = "STATEANCHOR_ORIGIN")]
        origin: Option<String>,
    },
    /// Create an API key (role admin or submitter); prints it once.
    ///
    /// Example:
    ///   stateanchor-log key create --name ci-bot --role submitter
    Create {
        /// Who or what will hold the key.
        #[arg(long)]
        name: String,
        /// admin or submitter.
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List API keys (never the secrets).
    ///
    /// Example:
    ///   stateanchor-log key list
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Revoke an API key by its ID.
    ///
    /// Example:
    ///   stateanchor-log key revoke key_AbCdEfGh
    Revoke {
        /// The key's ID (from `key list`).
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// Parses the command line and runs it.
///
/// # Errors
/// Whatever the command fails with, with its causes.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve(args) => {
            init_tracing(&args.log_format)?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve::serve(*args))
        }
        Cmd::Migrate(args) => migrate::run(&args),
        Cmd::Backup(args) => backup::run_backup(*args),
        Cmd::Restore(args) => backup::run_restore(&args),
        Cmd::Key { cmd } => key_cmd(cmd),
        Cmd::Project { cmd } => project::run(cmd),
        Cmd::Witness { cmd } => witness::run(cmd),
        Cmd::Monitor {
            cmd:
                MonitorCmd::Run {
                    project,
                    date,
                    admin,
                },
        } => {
            let v = call(
                &admin,
                reqwest::Method::POST,
                "/v1/admin/monitor/run",
                Some(serde_json::json!({"project": project, "date": date})),
            )?;
            for d in v["days"].as_array().into_iter().flatten() {
                let recorded = d["recorded"].as_array().map_or(0, Vec::len);
                println!(
                    "{} {}: {}",
                    d["project"].as_str().unwrap_or("?"),
                    d["day"].as_str().unwrap_or("?"),
                    if d["already_monitored"] == true {
                        "already monitored, nothing recorded".to_owned()
                    } else {
                        format!("{recorded} anomalies recorded")
                    }
                );
            }
            Ok(())
        }
    }
}

fn init_tracing(format: &str) -> Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => bail!("--log-format must be text or json, not {other:?}"),
    }
    Ok(())
}

fn admin_key(a: &AdminArgs) -> Result<String> {
    if let Some(k) = &a.admin_key {
        return Ok(k.clone());
    }
    let path = a.data_dir.join(data_dir::ADMIN_KEY_FILE);
    Ok(std::fs::read_to_string(&path)
        .with_context(|| {
            format!(
                "reading the admin key from {} (or pass --admin-key)",
                path.display()
            )
        })?
        .trim()
        .to_owned())
}

pub(crate) fn call(
    a: &AdminArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value> {
    call_with_timeout(
        a,
        method,
        path,
        body,
        Some(std::time::Duration::from_secs(30)),
    )
}

/// As [`call`], waiting `timeout` for the answer (`None`: as long as it
/// takes, for a request whose work grows with the store, a backup).
pub(crate) fn call_with_timeout(
    a: &AdminArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
    timeout: Option<std::time::Duration>,
) -> Result<serde_json::Value> {
    let url = format!("{}{path}", a.url.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .context("making the HTTP client")?;
    let mut req = client.request(method, &url).bearer_auth(admin_key(a)?);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().with_context(|| format!("calling {url}"))?;
    let status = resp.status();
    let value: serde_json::Value = resp
        .json()
        .with_context(|| format!("reading the answer of {url}"))?;
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            value["error"].as_str().unwrap_or("no error message")
        );
    }
    Ok(value)
}

fn verifier_key(data_dir: &Path) -> Result<String> {
    let path = data_dir.join(data_dir::SIGNING_KEY_FILE);
    if !path.exists() {
        bail!(
            "{} does not exist; start the server once to create the log's key",
            path.display()
        );
    }
    let (key, _) = data_dir::load_or_create_signing_key(data_dir, None)?;
    Ok(key.verifier_key().to_text())
}

fn key_cmd(cmd: KeyCmd) -> Result<()> {
    match cmd {
        KeyCmd::Show { data_dir } => println!("{}", verifier_key(&data_dir)?),
        KeyCmd::Generate { data_dir, origin } => {
            if data_dir.join(data_dir::SIGNING_KEY_FILE).exists() {
                bail!(
                    "{} already holds a log's key; `stateanchor-log key show` prints it",
                    data_dir.display()
                );
            }
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("creating {}", data_dir.display()))?;
            let (key, _) = data_dir::load_or_create_signing_key(&data_dir, origin.as_deref())?;
            println!("{}", key.verifier_key().to_text());
        }
        KeyCmd::Create { name, role, admin } => {
            let v = call(
                &admin,
                reqwest::Method::POST,
                "/v1/admin/keys",
                Some(serde_json::json!({"name": name, "role": role})),
            )?;
            println!("id: {}", v["id"].as_str().unwrap_or_default());
            println!("api key: {}", v["api_key"].as_str().unwrap_or_default());
            eprintln!("stateanchor-log: the API key is shown only once; store it now");
        }
        KeyCmd::List { admin } => {
            let v = call(&admin, reqwest::Method::GET, "/v1/admin/keys", None)?;
            for k in v["keys"].as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}\t{}",
                    k["id"].as_str().unwrap_or_default(),
                    k["roles"],
                    k["name"].as_str().unwrap_or_default(),
                    k["revoked_at"]
                        .as_str()
                        .map_or("active".to_owned(), |t| format!("revoked {t}")),
                );
            }
        }
        KeyCmd::Revoke { id, admin } => {
            call(
                &admin,
                reqwest::Method::DELETE,
                &format!("/v1/admin/keys/{id}"),
                None,
            )?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
