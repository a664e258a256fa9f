//! `serve --publish <target>`: the publisher of `publisher/` running inside
//! the server, reading the log's own state instead of its HTTP API.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use publisher::{BoxError, CheckpointSource, PublishConfig, Target};
use tlog::Hash;

use crate::log::Log;

/// The log as a [`CheckpointSource`]: its latest signed checkpoint, and
/// consistency proofs from its store.
pub struct LogSource(pub Arc<Log>);

impl CheckpointSource for LogSource {
    async fn latest_checkpoint(&self) -> Result<Vec<u8>, BoxError> {
        Ok(self.0.checkpoint()?.note.clone().into_bytes())
    }

    async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, BoxError> {
        let log = self.0.clone();
        let proof =
            tokio::task::spawn_blocking(move || log.prove_consistency(first, second)).await??;
        Ok(proof)
    }
}

/// Settings of the embedded publisher.
pub struct Settings<'a> {
    /// Where to publish.
    pub target: Target,
    /// How often.
    pub interval: Duration,
    /// The log's public URL, for `log.json`.
    pub public_url: &'a str,
    /// The data directory; evidence goes to `<data-dir>/publication-evidence`.
    pub data_dir: &'a Path,
    /// GitHub API base URL.
    pub github_api: &'a str,
    /// Environment variable holding the GitHub token.
    pub token_env: &'a str,
    /// The witness policy's text (`serve --witness-policy`), if any: then
    /// only checkpoints that meet it are published, and `log.json` and
    /// `README.md` publish it.
    pub witness_policy: Option<&'a str>,
}

/// Runs the publisher until `shutdown`; a refusal (a checkpoint it cannot
/// prove consistent with what it published) stops it with an alert in the log.
pub async fn run(log: Arc<Log>, s: Settings<'_>, shutdown: impl Future<Output = ()>) {
    let vkey = match tlog::VerifierKey::from_text(&log.verifier_key()) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "publisher: the log's verifier key does not parse");
            return;
        }
    };
    let mut cfg = PublishConfig::new(s.target.clone(), vkey);
    cfg.log_url = Some(s.public_url.to_owned());
    cfg.evidence_dir = s.data_dir.join("publication-evidence");
    cfg.github = publisher::GitHubConfig::from_env(s.token_env);
    s.github_api.clone_into(&mut cfg.github.api_url);
    if let Some(text) = s.witness_policy {
        match publisher::WitnessPolicy::parse(text) {
            Ok(policy) => cfg.witness_policy = Some(policy),
            Err(e) => {
                tracing::error!(alert = true, error = %e, "publisher: not started");
                return;
            }
        }
    }
    tracing::info!(target = %s.target, interval = ?s.interval, "publishing checkpoints");
    if let Err(e) = publisher::run(&cfg, &LogSource(log), s.interval, shutdown).await {
        tracing::error!(
            alert = true,
            target = %s.target,
            error = format!("{e:#}"),
            "publication stopped: the publisher refused or failed; see the evidence directory {}",
            cfg.evidence_dir.display()
        );
    }
}
