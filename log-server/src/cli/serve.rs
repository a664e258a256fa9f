//! `stateanchor-log serve`: opens the store, starts the log and serves HTTP
//! until SIGTERM or Ctrl-C, then drains and signs a final checkpoint. The
//! wiring of the binary: the one place that picks the storage backend.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tokio::sync::watch;

use super::data_dir;
use crate::backup;
use crate::budget::Budget;
use crate::http::intake::Intake;
use crate::http::limit::{LimitConfig, Limits};
use crate::http::{self, AppState};
use crate::log::{Log, LogConfig, WitnessingConfig};
use crate::metrics::Metrics;
use crate::service::Compliance;
use crate::service::export::Site;
use crate::service::github::GitHub;
use crate::service::github_signin::{GitHubAppConfig, GitHubSignIn};
use crate::service::oidc::{OidcConfig, OidcSignIn, PendingSignIns};
use crate::storage::Storage;
use crate::storage::cluster::{Cluster, ClusterConfig};
use crate::storage::rocksdb::RocksDb;

/// Settings of `serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Directory of the log's RocksDB store, signing key and admin API key.
    #[arg(long, env = "STATEANCHOR_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "STATEANCHOR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The log's origin (its name, and the signing key's name). Fixed at
    /// first start; later starts must give the same origin or none.
    #[arg(long, env = "STATEANCHOR_ORIGIN")]
    pub origin: Option<String>,
    /// Shortest time between two signed checkpoints. The default, 500ms,
    /// covers every acknowledged entry within one second with margin (an
    /// entry waits up to one interval, plus signing and an fsync).
    #[arg(long, env = "STATEANCHOR_CHECKPOINT_INTERVAL", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub checkpoint_interval: Duration,
    /// The URL the log is reached at, shown on proof pages (default: http://<listen address>).
    #[arg(long, env = "STATEANCHOR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Most appends waiting for the sequencer before the log answers 503.
    #[arg(long, default_value_t = 65_536, hide_short_help = true)]
    pub queue_capacity: usize,
    /// Most entries committed in one batch.
    #[arg(long, default_value_t = 8_192, hide_short_help = true)]
    pub max_batch: usize,
    /// Log format on stderr: text or json.
    #[arg(long, env = "STATEANCHOR_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Base URL of the GitHub REST API, for `github_review` signals.
    #[arg(
        long,
        env = "STATEANCHOR_GITHUB_API",
        default_value = "https://api.github.com"
    )]
    pub github_api: String,
    /// Publish signed checkpoints to this target: `github:OWNER/NAME[/PREFIX]`
    /// or `dir:PATH` (a local git repository). See spec/publication.md.
    #[arg(long, env = "STATEANCHOR_PUBLISH")]
    pub publish: Option<publisher::Target>,
    /// How often to publish (only when the tree has grown).
    #[arg(long, env = "STATEANCHOR_PUBLISH_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub publish_interval: Duration,
    /// Environment variable that holds the token for a `github:` publication target.
    #[arg(long, default_value = "GITHUB_TOKEN")]
    pub publish_token_env: String,
    /// Run on PostgreSQL (sequencing, records, keys, the integrator lease)
    /// and object storage (tiles, bundles, checkpoint) instead of RocksDB:
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DBNAME`. Needs `--objects`.
    /// Any number of frontends may share one database and bucket; each
    /// still needs the log's signing key in its data directory.
    #[arg(
        long,
        env = "STATEANCHOR_DATABASE",
        hide_env_values = true,
        requires = "objects"
    )]
    pub database: Option<String>,
    /// The bucket of the PostgreSQL mode: `s3://BUCKET[/PREFIX]`, with the
    /// endpoint and credentials of the standard `AWS_*` environment variables
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`). The bucket is itself a tlog-tiles log.
    #[arg(long, env = "STATEANCHOR_OBJECTS", requires = "database")]
    pub objects: Option<String>,
    /// PostgreSQL mode: a PEM file of CA certificates to trust for TLS to
    /// the database, besides the system's (e.g. the RDS or Cloud SQL server
    /// CA). TLS is used as the URL's `sslmode` says (`prefer`, the default,
    /// or `require`); the certificate and host name are always verified.
    #[arg(
        long,
        env = "STATEANCHOR_DATABASE_CA",
        value_name = "FILE",
        requires = "database"
    )]
    pub database_ca: Option<PathBuf>,
    /// PostgreSQL mode: how long the integrator lease lasts without renewal
    /// (the longest a dead integrator stalls integration).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, hide_short_help = true)]
    pub lease_ttl: Duration,
    /// GitHub token for reading pull-request reviews.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
    /// When the daily monitoring runs, UTC (HH:MM); days missed while the
    /// server was down are caught up at start-up.
    #[arg(long, value_name = "HH:MM", default_value = "00:15", value_parser = parse_hhmm)]
    pub monitor_at: u32,
    /// Do not run monitoring inside the server (run `stateanchor-log monitor run` from cron instead).
    #[arg(long)]
    pub no_monitor: bool,
    /// Mail server for the weekly digest: smtp://HOST:PORT (or smtps://, credentials in the URL).
    #[arg(long, value_name = "URL", requires = "smtp_from")]
    pub smtp_url: Option<String>,
    /// The digest's sender address.
    #[arg(long, value_name = "ADDRESS", requires = "smtp_url")]
    pub smtp_from: Option<String>,
    /// Ask witnesses to cosign every checkpoint, and serve only checkpoints
    /// that meet the quorum of this C2SP tlog-policy file (`log` line with
    /// the log's key, `witness NAME VKEY URL` lines with each witness's
    /// submission prefix, `group` lines, one `quorum` line). See
    /// spec/witnessing.md.
    #[arg(long, env = "STATEANCHOR_WITNESS_POLICY", value_name = "FILE")]
    pub witness_policy: Option<PathBuf>,
    /// Deadline of one add-checkpoint request to a witness.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, hide_short_help = true)]
    pub witness_timeout: Duration,
    /// Start even though the database holds fewer entries than the latest
    /// checkpoint the log signed (`<data-dir>/latest-checkpoint`; in the
    /// PostgreSQL mode, the bucket's `checkpoint`), i.e. an older backup
    /// was restored: the entries after it are lost, and whoever holds a
    /// checkpoint of a larger tree will see that the log cannot prove its
    /// new checkpoints consistent with it. See docs/operations.md.
    #[arg(long)]
    pub accept_rollback: bool,
    /// Directory under which `POST /v1/admin/backup` (`stateanchor-log
    /// backup`) may make backups (default: <data-dir>/backups). Backups on
    /// the data directory's file system are hard links: cheap, but copy
    /// them off the machine.
    #[arg(long, env = "STATEANCHOR_BACKUP_ROOT", value_name = "DIR")]
    pub backup_root: Option<PathBuf>,
    /// Delay before a failed webhook delivery is retried (doubling each time, 4 attempts).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration, hide_short_help = true)]
    pub webhook_retry: Duration,
    /// The budget of request bytes in flight, in bytes (suffixes K, M, G:
    /// binary), shared by every route that takes a body; past it, requests
    /// are answered 503 with Retry-After before their body is read
    /// [default: a thirty-second of the machine's memory, between 768 MiB
    /// and 4 GiB; see spec/http-api.md].
    #[arg(long, env = "STATEANCHOR_INFLIGHT_BUDGET", value_name = "BYTES", value_parser = parse_bytes)]
    pub inflight_budget: Option<u64>,
    /// The share of the budget one API key may hold, in percent (1-100).
    #[arg(long, value_name = "PERCENT", default_value_t = crate::budget::DEFAULT_KEY_SHARE_PERCENT, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub inflight_key_share: u64,
    /// How long a client has to send a whole request body (408 after it),
    /// apart from the time its handler takes.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,
    /// Cockpit sign-in attempts one client address may make per minute
    /// (429 with Retry-After past it; 0: no limit).
    #[arg(long, value_name = "N", default_value_t = crate::http::limit::DEFAULT_SIGNIN_PER_MINUTE)]
    pub signin_rate: u32,
    /// Share-link views one client address may make per minute (0: no
    /// limit).
    #[arg(long, value_name = "N", default_value_t = crate::http::limit::DEFAULT_SHARE_PER_MINUTE)]
    pub share_rate: u32,
    /// Write requests to the JSON API (`/api/`, `/v1/admin/`) one API key
    /// may make per second, twice as many at once (0: no limit).
    #[arg(long, value_name = "N", default_value_t = crate::http::limit::DEFAULT_WRITES_PER_SECOND)]
    pub write_rate: u32,
    /// The OpenID Connect identity provider people sign in to the cockpit
    /// with: its issuer URL (https; http only on 127.0.0.1, localhost or
    /// [::1]). The provider sends people back to
    /// <public URL>/ui/oidc/callback: register that redirect URI with the
    /// log's client. See spec/cockpit.md.
    #[arg(long, env = "STATEANCHOR_OIDC_ISSUER", value_name = "URL", requires_all = ["oidc_client_id", "oidc_client_secret_file"])]
    pub oidc_issuer: Option<String>,
    /// The log's client ID at the identity provider.
    #[arg(
        long,
        env = "STATEANCHOR_OIDC_CLIENT_ID",
        value_name = "ID",
        requires = "oidc_issuer"
    )]
    pub oidc_client_id: Option<String>,
    /// A file holding the log's client secret at the identity provider
    /// (keep it readable by the server's user only).
    #[arg(
        long,
        env = "STATEANCHOR_OIDC_CLIENT_SECRET_FILE",
        value_name = "FILE",
        requires = "oidc_issuer"
    )]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// The identity provider's name on the sign-in button ("Sign in with
    /// NAME") [default: the issuer's host].
    #[arg(
        long,
        env = "STATEANCHOR_OIDC_NAME",
        value_name = "NAME",
        requires = "oidc_issuer"
    )]
    pub oidc_name: Option<String>,
    /// The ID token claim that lists a person's groups (e.g. `groups`),
    /// for the projects' `idp_groups`, which grant project roles to a
    /// group's members. Unset: groups are not read and grant nothing.
    #[arg(
        long,
        env = "STATEANCHOR_OIDC_GROUPS_CLAIM",
        value_name = "CLAIM",
        requires = "oidc_issuer"
    )]
    pub oidc_groups_claim: Option<String>,
    /// Sign-in with GitHub: the client ID of the log's GitHub OAuth app
    /// (its callback URL: <public URL>/ui/github/callback). People map to
    /// principals by their numeric GitHub ID (`github_id`).
    #[arg(
        long,
        env = "STATEANCHOR_GITHUB_OAUTH_CLIENT_ID",
        value_name = "ID",
        requires = "github_oauth_client_secret_file"
    )]
    pub github_oauth_client_id: Option<String>,
    /// A file holding the GitHub OAuth app's client secret.
    #[arg(
        long,
        env = "STATEANCHOR_GITHUB_OAUTH_CLIENT_SECRET_FILE",
        value_name = "FILE",
        requires = "github_oauth_client_id"
    )]
    pub github_oauth_client_secret_file: Option<PathBuf>,
    /// GitHub's web URL, for sign-in (a GitHub Enterprise Server's, or
    /// https://github.com).
    #[arg(
        long,
        env = "STATEANCHOR_GITHUB_WEB_URL",
        value_name = "URL",
        default_value = "https://github.com"
    )]
    pub github_web_url: String,
}

/// Sign-in with GitHub, if `--github-oauth-client-id` is given.
fn github_sign_in(
    args: &ServeArgs,
    public_url: &str,
    pending: &PendingSignIns,
) -> Result<Option<GitHubSignIn>> {
    let (Some(client_id), Some(secret_file)) = (
        &args.github_oauth_client_id,
        &args.github_oauth_client_secret_file,
    ) else {
        return Ok(None);
    };
    let client_secret = std::fs::read_to_string(secret_file)
        .with_context(|| {
            format!(
                "reading the GitHub OAuth app's secret from {}",
                secret_file.display()
            )
        })?
        .trim()
        .to_owned();
    let github = GitHubSignIn::new(
        GitHubAppConfig {
            client_id: client_id.clone(),
            client_secret,
            web_url: args.github_web_url.clone(),
            api_url: args.github_api.clone(),
            redirect_url: format!("{public_url}/ui/github/callback"),
        },
        pending.clone(),
    )
    .context("configuring sign-in with GitHub (--github-oauth-client-id)")?;
    tracing::info!(web = %args.github_web_url, "cockpit sign-in with GitHub");
    Ok(Some(github))
}

/// The identity provider of `--oidc-issuer`, if given.
fn oidc_sign_in(
    args: &ServeArgs,
    public_url: &str,
    pending: &PendingSignIns,
) -> Result<Option<OidcSignIn>> {
    let (Some(issuer), Some(client_id), Some(secret_file)) = (
        &args.oidc_issuer,
        &args.oidc_client_id,
        &args.oidc_client_secret_file,
    ) else {
        return Ok(None);
    };
    let client_secret = std::fs::read_to_string(secret_file)
        .with_context(|| {
            format!(
                "reading the OIDC client secret from {}",
                secret_file.display()
            )
        })?
        .trim()
        .to_owned();
    let provider_name = args.oidc_name.clone().unwrap_or_else(|| {
        issuer
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', ':']).next())
            .unwrap_or(issuer.as_str())
            .to_owned()
    });
    let oidc = OidcSignIn::new(
        OidcConfig {
            // Exactly as given: the ID token's `iss` must equal it.
            issuer: issuer.clone(),
            client_id: client_id.clone(),
            client_secret,
            redirect_url: format!("{public_url}/ui/oidc/callback"),
            provider_name,
            groups_claim: args.oidc_groups_claim.clone(),
        },
        pending.clone(),
    )
    .context("configuring the identity provider (--oidc-issuer)")?;
    tracing::info!(issuer = %oidc.issuer(), "cockpit sign-in with an identity provider");
    Ok(Some(oidc))
}

/// Parses a byte count with an optional binary suffix (`512M`, `1G`).
fn parse_bytes(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&t[..t.len() - 1], 10),
        Some(b'M') => (&t[..t.len() - 1], 20),
        Some(b'G') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| {
            format!("expected a number of bytes such as 536870912, 512M or 1G, got {s:?}")
        })
}

/// Parses `HH:MM` into minutes after midnight.
fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("{s:?} is not a UTC time like 00:15");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// The daily monitoring: catch up at start-up, then every day at `at`
/// (minutes after midnight, UTC); the weekly digests go out on Mondays.
async fn run_monitoring(compliance: Arc<Compliance>, at: u32) {
    let run = |compliance: Arc<Compliance>| async move {
        match compliance.monitor_all(None).await {
            Ok(days) => {
                let found: usize = days.iter().map(|d| d.recorded.len()).sum();
                tracing::info!(days = days.len(), anomalies = found, "monitoring ran");
            }
            Err(e) => tracing::error!(error = %e, "monitoring failed"),
        }
    };
    run(compliance.clone()).await;
    loop {
        let now = crate::service::now_ms();
        let day_ms = compliance::time::DAY_MS;
        let today_at = now.div_euclid(day_ms) * day_ms + i64::from(at) * 60_000;
        let next = if today_at > now {
            today_at
        } else {
            today_at + day_ms
        };
        let wait = u64::try_from(next - now).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        run(compliance.clone()).await;
        // Days since the epoch: 1970-01-01 was a Thursday, so Monday is 4.
        if next.div_euclid(day_ms).rem_euclid(7) == 4 {
            compliance.send_weekly_digests().await;
        }
    }
}

/// Waits for SIGTERM or Ctrl-C.
pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Reads and parses `--witness-policy`.
fn load_witness_policy(path: &std::path::Path, args: &ServeArgs) -> Result<WitnessingConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the witness policy {}", path.display()))?;
    let policy = tlog::Policy::parse(&text)
        .with_context(|| format!("parsing the witness policy {}", path.display()))?;
    Ok(WitnessingConfig {
        policy,
        policy_text: text,
        request_timeout: args.witness_timeout,
        min_backoff: Duration::from_secs(1),
    })
}

/// The store, and the embedded RocksDB store again (for online backups).
type OpenedStore = (Arc<dyn Storage>, Option<Arc<RocksDb>>);

/// Opens the backend the flags name: the one place that picks it. Each is
/// checked against the latest checkpoint the log published
/// (`crate::rollback`: the RocksDB store against `latest-checkpoint`, the
/// PostgreSQL database against the bucket's `checkpoint`); the RocksDB
/// store is also returned for online backups.
fn open_store(args: &ServeArgs, vkey: &tlog::VerifierKey) -> Result<OpenedStore> {
    Ok(match (&args.database, &args.objects) {
        (Some(database), Some(objects)) => {
            let cluster = Cluster::open(
                database,
                objects,
                ClusterConfig {
                    lease_ttl: args.lease_ttl,
                    database_ca: args.database_ca.clone(),
                    witnessed: args.witness_policy.is_some(),
                    ..ClusterConfig::default()
                },
            )
            .context("opening the PostgreSQL and object storage backend")?;
            // The database against the bucket's published checkpoint.
            let notice = cluster
                .check_published(vkey, args.accept_rollback)
                .map_err(refuse_rollback)?;
            announce_rollback(notice);
            (Arc::new(cluster), None)
        }
        (None, None) => {
            let store = Arc::new(
                RocksDb::open(&args.data_dir.join(backup::DB_DIR))?
                    .keep_latest_checkpoint_in(args.data_dir.join(backup::LATEST_CHECKPOINT_FILE)),
            );
            let notice =
                backup::check_rollback(&args.data_dir, &*store, vkey, args.accept_rollback)
                    .map_err(refuse_rollback)?;
            announce_rollback(notice);
            (store.clone(), Some(store))
        }
        _ => anyhow::bail!("--database and --objects go together"),
    })
}

/// A refusal of the rollback rule (`crate::rollback`), with what to do.
fn refuse_rollback(e: crate::Error) -> anyhow::Error {
    match e {
        crate::Error::Rollback { .. } => anyhow::anyhow!(e).context(
            "refusing to start; if the later entries are really lost, start with --accept-rollback (see docs/operations.md)",
        ),
        other => other.into(),
    }
}

/// Prints and logs (as an alert) the notice of an accepted rollback.
fn announce_rollback(notice: Option<String>) {
    if let Some(n) = notice {
        eprintln!("stateanchor-log: {n}");
        tracing::warn!(alert = true, "{n}");
    }
}

/// Runs `serve`.
pub async fn serve(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let (signer, new_key) =
        data_dir::load_or_create_signing_key(&args.data_dir, args.origin.as_deref())?;
    let (store, embedded) = open_store(&args, &signer.verifier_key())?;
    let backups = match embedded {
        Some(store) => {
            let root = args
                .backup_root
                .clone()
                .unwrap_or_else(|| args.data_dir.join("backups"));
            std::fs::create_dir_all(&root)
                .with_context(|| format!("creating the backup root {}", root.display()))?;
            Some(Arc::new(backup::Backups::new(
                store,
                args.data_dir.clone(),
                root,
            )))
        }
        None => None,
    };
    let new_admin = data_dir::ensure_admin_key(&*store, &args.data_dir)?;
    let metrics = Arc::new(Metrics::default());
    let witnessing = match &args.witness_policy {
        Some(path) => Some(load_witness_policy(path, &args)?),
        None => None,
    };
    let log = Log::start_witnessed(
        store.clone(),
        signer,
        LogConfig {
            queue_capacity: args.queue_capacity,
            max_batch: args.max_batch,
            checkpoint_interval: args.checkpoint_interval,
        },
        metrics,
        witnessing,
    )?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let mailer = match (&args.smtp_url, &args.smtp_from) {
        (Some(url), Some(from)) => Some(crate::service::digest::Mailer::new(url, from)?),
        _ => None,
    };
    let mut compliance = Compliance::new(
        log.clone(),
        store.clone(),
        store.clone(),
        GitHub::new(&args.github_api, args.github_token.clone()),
    )
    .with_alerting(&public_url, args.webhook_retry, mailer);
    // Sign-ins started and not finished, in the store: any frontend of a
    // shared store finishes what another started.
    let pending = PendingSignIns::new(store.clone());
    if let Some(oidc) = oidc_sign_in(&args, &public_url, &pending)? {
        compliance = compliance.with_oidc(oidc);
    }
    if let Some(github) = github_sign_in(&args, &public_url, &pending)? {
        compliance = compliance.with_github_sign_in(github);
    }
    let state = AppState {
        log: log.clone(),
        compliance: Arc::new(compliance),
        keys: store.clone(),
        site: Site {
            public_url: public_url.clone(),
            form_origin: args
                .public_url
                .as_deref()
                .map(|u| {
                    crate::http::ui::origin_of(u).with_context(|| {
                        format!("--public-url {u:?} is not an http(s) URL with a host")
                    })
                })
                .transpose()?,
            publication: args.publish.as_ref().map(ToString::to_string),
        },
        intake: Intake {
            budget: Arc::new(Budget::new(
                args.inflight_budget
                    .unwrap_or_else(crate::budget::default_budget),
                args.inflight_key_share,
                log.metrics.clone(),
            )),
            body_read_timeout: args.body_read_timeout,
            limits: Arc::new(Limits::new(LimitConfig {
                signin_per_minute: args.signin_rate,
                share_per_minute: args.share_rate,
                writes_per_second: args.write_rate,
            })),
        },
        backups,
    };
    tracing::info!(
        budget = state.intake.budget.total(),
        key_share = state.intake.budget.key_share(),
        "budget of request bytes in flight"
    );

    if new_key {
        tracing::info!(origin = log.origin(), "generated the log's signing key");
    }
    if new_admin {
        eprintln!(
            "stateanchor-log: created an admin API key in {}",
            args.data_dir.join(data_dir::ADMIN_KEY_FILE).display()
        );
    }
    println!("origin: {}", log.origin());
    println!("verifier key: {}", log.verifier_key());
    println!("tree size: {}", log.tree().size);
    println!("listening: {public_url}");
    tracing::info!(
        tree_size = log.tree().size,
        startup_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        %addr,
        "serving"
    );

    // The upgrade to chains (spec/compliance.md, section 1): every project
    // whose records were all written before chains starts its chain now
    // (one that is written first starts it with that write).
    {
        let compliance = state.compliance.clone();
        tokio::spawn(async move {
            match compliance.start_chains().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(projects = n, "started the chains of legacy projects"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "starting the chains of legacy projects (each starts with its next record)"
                ),
            }
            // Then the principals created before principal records.
            match compliance.record_principals().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(principals = n, "recorded the principals of before"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "recording the principals created before principal records (retried at the next start)"
                ),
            }
        });
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let checkpointer = tokio::spawn(log.clone().run_checkpointer({
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }));
    let witnessing = log.witnessing().is_some().then(|| {
        let mut rx = stop_rx.clone();
        tokio::spawn(log.clone().run_witnessing(async move {
            let _ = rx.wait_for(|s| *s).await;
        }))
    });
    // The embedded publisher checks the witness policy too.
    let publish_policy = log.witnessing().map(|w| w.policy_text().to_owned());
    let publisher = args.publish.clone().map(|target| {
        let (log, args) = (log.clone(), args.clone());
        let mut rx = stop_rx.clone();
        let public_url = public_url.clone();
        tokio::spawn(async move {
            let settings = crate::publish::Settings {
                target,
                interval: args.publish_interval,
                public_url: &public_url,
                data_dir: &args.data_dir,
                github_api: &args.github_api,
                token_env: &args.publish_token_env,
                witness_policy: publish_policy.as_deref(),
            };
            crate::publish::run(log, settings, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
        })
    });
    let monitor = (!args.no_monitor).then(|| {
        let (compliance, mut rx, at) = (state.compliance.clone(), stop_rx.clone(), args.monitor_at);
        tokio::spawn(async move {
            tokio::select! {
                () = run_monitoring(compliance, at) => {}
                _ = rx.wait_for(|s| *s) => {}
            }
        })
    });
    http::serve(listener, state, async {
        shutdown_signal().await;
        tracing::info!("shutting down: draining requests");
    })
    .await
    .context("serving HTTP")?;
    // Every request has been answered: commit what is queued, stop the
    // sequencer, and sign a final checkpoint.
    log.stop_sequencer().await;
    let _ = stop_tx.send(true);
    let _ = checkpointer.await;
    if let Some(w) = witnessing {
        let _ = w.await;
    }
    if let Some(p) = publisher {
        let _ = p.await;
    }
    if let Some(m) = monitor {
        let _ = m.await;
    }
    log.flush()?;
    tracing::info!(tree_size = log.tree().size, "stopped");
    Ok(())
}
