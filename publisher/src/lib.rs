//! Publishes a StateAnchor log's signed checkpoints where anyone can see
//! them and nobody can quietly rewrite them: a GitHub repository (through
//! the REST contents API) or a local git repository. The layout, the safety
//! rules and the evidence format are specified in `spec/publication.md`.
//!
//! Before every publication the publisher
//! 1. reads the last published checkpoint **from the target itself**,
//! 2. verifies the log's latest checkpoint's signature with the log's key,
//! 3. fetches and verifies the consistency proof between the two,
//!
//! and publishes nothing if any check fails: it writes the evidence (both
//! checkpoints and the proof) to a file and returns [`Error::Refused`].
//! With a witness policy ([`PublishConfig::witness_policy`], C2SP
//! tlog-policy), it also checks that the latest checkpoint is cosigned by a
//! quorum of the policy's witnesses; one that is not is not published
//! either, but that is [`Error::NotWitnessed`], not a refusal: nothing shows
//! the log misbehaved, no evidence is written, and [`run`] tries again.
//!
//! A publication writes `checkpoint`, `checkpoints/<tree size>`, and, when
//! their bytes change, `log.json` and `README.md` (what the publication is,
//! how to verify it, and the witness policy: [`PublishConfig::readme`]).
//! A publication with no growth writes nothing. Every write is conditional
//! on what was read (the contents API's `sha`, or a compare-and-swap of the
//! git `HEAD`), so two publishers racing never overwrite each other.
//!
//! What this crate does not do: Merkle math, note and checkpoint parsing
//! (all in [`tlog`]), or serve anything. The log is reached through the
//! [`CheckpointSource`] trait: the `stateanchor-publish` binary uses
//! [`HttpSource`] (the log's public read API); the log server implements it
//! over its own state and runs [`run`] in-process.
//!
//! # Embedding
//!
//! Implement [`CheckpointSource`] over the log's state, then call
//! [`publish_once`] or spawn [`run`]:
//!
//! ```
//! use std::sync::Mutex;
//! use std::time::Duration;
//! use publisher::{BoxError, CheckpointSource, Outcome, PublishConfig, Target};
//! use tlog::{Checkpoint, Hash, MemoryHashStore, SignerKey, leaf_hash};
//!
//! /// The log's state, as a server holds it.
//! struct Log {
//!     key: SignerKey,
//!     tree: Mutex<MemoryHashStore>,
//! }
//!
//! impl CheckpointSource for Log {
//!     async fn latest_checkpoint(&self) -> Result<Vec<u8>, BoxError> {
//!         let tree = self.tree.lock().map_err(|_| "poisoned")?;
//!         let cp = Checkpoint::new(self.key.name(), tree.size(), tree.root());
//!         Ok(cp.sign(&self.key)?.to_bytes())
//!     }
//!     async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, BoxError> {
//!         let tree = self.tree.lock().map_err(|_| "poisoned")?;
//!         Ok(tlog::prove_consistency(first, second, &*tree)?)
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SignerKey::from_seed("example.com/log", &[7; 32])?;
//! let log = Log { key: key.clone(), tree: Mutex::new(MemoryHashStore::new()) };
//! log.tree.lock().unwrap().append(leaf_hash(b"first entry"));
//!
//! let dir = tempfile::tempdir()?;
//! let target: Target = format!("dir:{}", dir.path().join("roots").display()).parse()?;
//! let mut cfg = PublishConfig::new(target, key.verifier_key());
//! cfg.log_url = Some("https://log.example.com".to_owned());
//! cfg.evidence_dir = dir.path().join("evidence");
//!
//! let rt = tokio::runtime::Runtime::new()?;
//! let outcome = rt.block_on(publisher::publish_once(&cfg, &log))?;
//! assert_eq!(outcome, Outcome::Published { tree_size: 1, previous: None, commit: outcome.commit() });
//!
//! // No growth, no commit.
//! let again = rt.block_on(publisher::publish_once(&cfg, &log))?;
//! assert_eq!(again, Outcome::Unchanged { tree_size: 1, repaired: false });
//!
//! // On a schedule until shutdown (a server passes its shutdown signal).
//! log.tree.lock().unwrap().append(leaf_hash(b"second entry"));
//! rt.block_on(async {
//!     let shutdown = tokio::time::sleep(Duration::from_millis(300));
//!     publisher::run(&cfg, &log, Duration::from_millis(50), shutdown).await
//! })?;
//! let published = std::fs::read_to_string(dir.path().join("roots/checkpoint"))?;
//! assert_eq!(published.lines().nth(1), Some("2"));
//! # Ok(())
//! # }
//! ```
//!
//! In `stateanchor-log serve --publish <target> --publish-interval <d>`, the
//! server's source answers from its own state (the latest signed note, and
//! `tlog::prove_consistency` over its store), [`PublishConfig::log_url`] is
//! its public URL, the evidence goes to a folder of its data directory, and
//! [`run`] is spawned with the server's shutdown signal. [`run`] returns
//! only on shutdown or on a fatal error ([`Error::is_fatal`]), which it has
//! already logged as an alert; the server decides what else to do (it keeps
//! serving, so that auditors can see what happened).

mod error;
mod evidence;
mod git_dir;
mod github;
mod policy;
mod publish;
mod readme;
mod retry;
mod source;
mod target;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tlog::VerifierKey;

pub use error::{BoxError, Error, Refusal, RefusalReason};
pub use evidence::{Evidence, ProofEvidence};
pub use github::GitHubConfig;
pub use policy::WitnessPolicy;
pub use retry::RetryPolicy;
pub use source::{CheckpointSource, HttpSource};
pub use target::{LogInfo, Target};

use git_dir::GitDir;
use github::GitHubStore;
use publish::{Context, publish_with};

/// Author (and, for `dir:`, committer) name of publication commits.
pub const AUTHOR_NAME: &str = "StateAnchor Publisher";
/// Author (and, for `dir:`, committer) email of publication commits.
pub const AUTHOR_EMAIL: &str = "publisher@stateanchor.invalid";

/// What to publish where.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishConfig {
    /// Where to publish.
    pub target: Target,
    /// The log's verifier key; its name is the log's origin. Every
    /// checkpoint is verified with it.
    pub log_key: VerifierKey,
    /// The log's public URL, written to `log.json` if known.
    pub log_url: Option<String>,
    /// GitHub API URL and token, for `github:` targets.
    pub github: GitHubConfig,
    /// Where evidence files are written when a publication is refused.
    pub evidence_dir: PathBuf,
    /// Retries of requests to GitHub (and, for [`HttpSource`], to the log).
    pub retry: RetryPolicy,
    /// The witness policy every published checkpoint must meet, if any:
    /// the log's signature and a quorum of witness cosignatures. Its text
    /// is published in `log.json` and `README.md`. Its `log` lines must
    /// include [`PublishConfig::log_key`].
    pub witness_policy: Option<WitnessPolicy>,
}

impl PublishConfig {
    /// A configuration with defaults: no log URL, GitHub at
    /// `https://api.github.com` with the token from `GITHUB_TOKEN`,
    /// evidence in the current directory, [`RetryPolicy::default`], no
    /// witness policy.
    #[must_use]
    pub fn new(target: Target, log_key: VerifierKey) -> Self {
        PublishConfig {
            target,
            log_key,
            log_url: None,
            github: GitHubConfig::from_env("GITHUB_TOKEN"),
            evidence_dir: PathBuf::from("."),
            retry: RetryPolicy::default(),
            witness_policy: None,
        }
    }

    /// The contents of `log.json`.
    #[must_use]
    pub fn log_info(&self) -> LogInfo {
        LogInfo {
            origin: self.log_key.name().to_owned(),
            verifier_key: self.log_key.to_text(),
            log_url: self.log_url.clone(),
            witness_policy: self.witness_policy.as_ref().map(|p| p.text().to_owned()),
        }
    }

    /// The contents of `README.md`: what the publication is, how to verify
    /// it, and the witness policy. It depends on the configuration alone.
    #[must_use]
    pub fn readme(&self) -> String {
        let default_api = GitHubConfig::default().api_url;
        let api = self.github.api_url.trim_end_matches('/');
        readme::render(&readme::ReadmeInput {
            info: &self.log_info(),
            target: &self.target,
            github_api: (api != default_api).then_some(api),
            policy: self.witness_policy.as_ref(),
        })
    }
}

/// What a publication did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The log's latest checkpoint is now the published one.
    Published {
        /// Its tree size.
        tree_size: u64,
        /// The tree size published before, if any.
        previous: Option<u64>,
        /// The commit that made `checkpoint` point at it, if known.
        commit: Option<String>,
    },
    /// The log did not grow: nothing was published.
    Unchanged {
        /// The tree size, as published.
        tree_size: u64,
        /// Whether a missing `checkpoints/<tree size>` was written (after a
        /// crash between the two writes of a GitHub publication).
        repaired: bool,
    },
}

impl Outcome {
    /// The published tree size.
    #[must_use]
    pub fn tree_size(&self) -> u64 {
        match self {
            Outcome::Published { tree_size, .. } | Outcome::Unchanged { tree_size, .. } => {
                *tree_size
            }
        }
    }

    /// The commit of a publication.
    #[must_use]
    pub fn commit(&self) -> Option<String> {
        match self {
            Outcome::Published { commit, .. } => commit.clone(),
            Outcome::Unchanged { .. } => None,
        }
    }
}

/// An opened target.
enum Backend {
    GitHub(Box<GitHubStore>),
    Dir(GitDir),
}

/// A publisher connected to its target: reuse it to publish many times.
pub struct Publisher {
    cfg: PublishConfig,
    backend: Backend,
}

impl Publisher {
    /// Opens the target: for `github:`, checks that the repository exists
    /// and the token may push to it; for `dir:`, creates the repository if
    /// the directory is missing or empty.
    ///
    /// # Errors
    /// [`Error::MissingToken`], [`Error::GitHubUnauthorized`],
    /// [`Error::GitHubForbidden`], [`Error::GitHubNotFound`],
    /// [`Error::GitHubNoPushAccess`], [`Error::NotAGitRepository`], or a
    /// transport, git or I/O error; [`Error::PolicyOmitsLog`] if the witness
    /// policy has no `log` line with the log's key.
    pub async fn connect(cfg: PublishConfig) -> Result<Self, Error> {
        if let Some(policy) = &cfg.witness_policy {
            policy.check_names_log(&cfg.log_key)?;
        }
        let backend = match &cfg.target {
            Target::GitHub {
                owner,
                name,
                prefix,
            } => Backend::GitHub(Box::new(
                GitHubStore::connect(owner, name, prefix, &cfg.github, &cfg.retry).await?,
            )),
            Target::Dir { path } => Backend::Dir(GitDir::open(path).await?),
        };
        Ok(Publisher { cfg, backend })
    }

    /// Publishes the source's latest checkpoint if the log grew and every
    /// check passes. See [`publish_once`].
    ///
    /// # Errors
    /// As [`publish_once`].
    pub async fn publish_once(&self, source: &impl CheckpointSource) -> Result<Outcome, Error> {
        let cx = Context {
            key: &self.cfg.log_key,
            target: self.cfg.target.to_string(),
            log_info: self.cfg.log_info(),
            readme: self.cfg.readme().into_bytes(),
            policy: self.cfg.witness_policy.as_ref(),
            evidence_dir: &self.cfg.evidence_dir,
            retry: &self.cfg.retry,
        };
        match &self.backend {
            Backend::GitHub(store) => publish_with(&**store, &cx, source).await,
            Backend::Dir(store) => publish_with(store, &cx, source).await,
        }
    }
}

/// Publishes the log's latest checkpoint to `cfg.target` if the log grew
/// since the last publication, it is safe to, and (with a witness policy)
/// the checkpoint meets the policy.
///
/// # Errors
/// [`Error::NotWitnessed`] (nothing written, no evidence: not a refusal)
/// if the latest checkpoint does not meet `cfg.witness_policy`;
/// [`Error::Refused`] (with the evidence, also written to
/// `cfg.evidence_dir`) if the latest checkpoint's signature does not
/// verify, the published one does not verify, the tree is smaller than
/// published (rollback), has another root at the published size (fork), or
/// the consistency proof fails; the errors of [`Publisher::connect`];
/// [`Error::Source`] if the log cannot be read; [`Error::Contention`] if
/// other writers kept changing the target; transport, GitHub, git and I/O
/// errors. [`Error::is_fatal`] tells which need a person.
pub async fn publish_once(
    cfg: &PublishConfig,
    source: &impl CheckpointSource,
) -> Result<Outcome, Error> {
    Publisher::connect(cfg.clone())
        .await?
        .publish_once(source)
        .await
}

/// Publishes at once, then every `interval`, until `shutdown` completes
/// (then returns `Ok`) or a fatal error (a refusal, a bad token, a wrong
/// target: see [`Error::is_fatal`]) stops it, logged as an alert and
/// returned. Other errors are logged and retried at the next interval.
///
/// A publication in progress when `shutdown` completes is abandoned; that is
/// safe (see "If the publisher dies" in `spec/publication.md`).
///
/// # Errors
/// The fatal error that stopped it.
pub async fn run(
    cfg: &PublishConfig,
    source: &impl CheckpointSource,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    tokio::pin!(shutdown);
    let mut publisher: Option<Publisher> = None;
    loop {
        let attempt = async {
            let p = match publisher.take() {
                Some(p) => p,
                None => Publisher::connect(cfg.clone()).await?,
            };
            let result = p.publish_once(source).await;
            publisher = Some(p);
            result
        };
        let result = tokio::select! {
            () = &mut shutdown => return Ok(()),
            result = attempt => result,
        };
        match result {
            Ok(Outcome::Published {
                tree_size,
                previous,
                ..
            }) => tracing::info!(target = %cfg.target, tree_size, ?previous, "published"),
            Ok(Outcome::Unchanged { tree_size, .. }) => {
                tracing::debug!(target = %cfg.target, tree_size, "no growth");
            }
            Err(e) if e.is_fatal() => {
                tracing::error!(target = %cfg.target, error = %e, hint = ?e.hint(),
                    "ALERT: the publisher stopped");
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(target = %cfg.target, error = %e, ?interval,
                    "publication failed; trying again at the next interval");
            }
        }
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}
