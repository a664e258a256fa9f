//! The library API as the log server embeds it: an in-process
//! [`CheckpointSource`] over the log's own state, [`publisher::run`] spawned
//! on the server's runtime with its shutdown signal, and a `dir:` target.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use publisher::{BoxError, CheckpointSource, Error, Outcome, PublishConfig, RefusalReason, Target};
use tlog::{Checkpoint, Hash, MemoryHashStore, SignerKey, leaf_hash};

const ORIGIN: &str = "embed.test/log";

/// The log's state as a server holds it, with a switch to make it fail.
struct MemLog {
    key: SignerKey,
    tree: Mutex<MemoryHashStore>,
    /// Fail this many `latest_checkpoint` calls (the log being unavailable).
    failures: AtomicU32,
}

impl MemLog {
    fn new(n: usize) -> Arc<Self> {
        let log = Arc::new(MemLog {
            key: SignerKey::from_seed(ORIGIN, &[3; 32]).unwrap(),
            tree: Mutex::new(MemoryHashStore::new()),
            failures: AtomicU32::new(0),
        });
        log.append("a", n);
        log
    }

    fn append(&self, prefix: &str, n: usize) {
        let mut tree = self.tree.lock().unwrap();
        for i in 0..n {
            tree.append(leaf_hash(format!("{prefix}-{i}").as_bytes()));
        }
    }

    fn reset(&self, prefix: &str, n: usize) {
        *self.tree.lock().unwrap() = MemoryHashStore::new();
        self.append(prefix, n);
    }

    fn size(&self) -> u64 {
        self.tree.lock().unwrap().size()
    }
}

impl CheckpointSource for MemLog {
    async fn latest_checkpoint(&self) -> Result<Vec<u8>, BoxError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
            .is_ok()
        {
            return Err("the log is unavailable".into());
        }
        let tree = self.tree.lock().map_err(|_| "poisoned")?;
        let cp = Checkpoint::new(ORIGIN, tree.size(), tree.root());
        Ok(cp.sign(&self.key)?.to_bytes())
    }

    async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, BoxError> {
        let tree = self.tree.lock().map_err(|_| "poisoned")?;
        Ok(tlog::prove_consistency(first, second, &*tree)?)
    }
}

fn config(log: &MemLog, dir: &Path) -> PublishConfig {
    let target: Target = format!("dir:{}", dir.join("roots").display())
        .parse()
        .unwrap();
    let mut cfg = PublishConfig::new(target, log.key.verifier_key());
    cfg.evidence_dir = dir.join("evidence");
    cfg
}

fn published_size(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("roots/checkpoint")).ok()?;
    text.lines().nth(1)?.parse().ok()
}

async fn wait_for_size(dir: &Path, size: u64) {
    for _ in 0..400 {
        if published_size(dir) == Some(size) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("size {size} was not published");
}

/// Spawned like the server does (`tokio::spawn` needs a `Send + 'static`
/// future), it publishes on schedule, rides out an unavailable log, and
/// returns `Ok` on shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_spawned_publishes_on_schedule_and_stops_on_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let log = MemLog::new(2);
    let cfg = config(&log, tmp.path());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let log = log.clone();
        let cfg = cfg.clone();
        async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            publisher::run(&cfg, &*log, Duration::from_millis(50), shutdown).await
        }
    });
    wait_for_size(tmp.path(), 2).await;
    log.failures.store(3, Ordering::SeqCst);
    log.append("b", 3);
    wait_for_size(tmp.path(), 5).await;
    assert_eq!(
        log.failures.load(Ordering::SeqCst),
        0,
        "the failures were met"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// A fork stops `run` with the refusal, and the evidence is on disk.
#[tokio::test]
async fn run_stops_on_a_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let log = MemLog::new(3);
    let cfg = config(&log, tmp.path());
    assert!(matches!(
        publisher::publish_once(&cfg, &*log).await.unwrap(),
        Outcome::Published {
            tree_size: 3,
            previous: None,
            ..
        }
    ));
    log.reset("b", 3);
    let err = publisher::run(
        &cfg,
        &*log,
        Duration::from_millis(10),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    // Pin the variant: a fork must stay a fatal refusal, never a retry.
    assert!(err.is_fatal());
    let refusal = err.refusal().unwrap();
    assert_eq!(refusal.reason, RefusalReason::Fork { tree_size: 3 });
    let path = refusal.evidence_file.as_ref().unwrap();
    assert!(path.starts_with(tmp.path().join("evidence")));
    let ev: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(ev["reason"], "fork");
    assert_eq!(published_size(tmp.path()), Some(3));
}

/// A source error is not fatal and publishes nothing.
#[tokio::test]
async fn source_errors_are_transient() {
    let tmp = tempfile::tempdir().unwrap();
    let log = MemLog::new(1);
    log.failures.store(1, Ordering::SeqCst);
    let cfg = config(&log, tmp.path());
    let err = publisher::publish_once(&cfg, &*log).await.unwrap_err();
    assert!(matches!(err, Error::Source { .. }), "{err:?}");
    assert!(!err.is_fatal());
    assert_eq!(published_size(tmp.path()), None);
}

/// Publishers racing on one `dir:` repository: every write is a
/// compare-and-swap of `HEAD`, so each publication lands on top of the one
/// before, sizes only grow, and no commit is lost or overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_publishers_on_one_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let log = MemLog::new(1);
    let mut cfg = config(&log, tmp.path());
    cfg.retry.base_delay = Duration::from_millis(10);
    let mut tasks = Vec::new();
    for p in 0..3 {
        let (log, cfg) = (log.clone(), cfg.clone());
        tasks.push(tokio::spawn(async move {
            let mut published = 0;
            for i in 0..6 {
                if p == 0 {
                    log.append(&format!("r{i}"), 1);
                }
                // A publisher that keeps losing the race under load may run
                // out of conflict retries: that is a retryable error, not a
                // safety failure. What must hold is checked below: the history.
                match publisher::publish_once(&cfg, &*log).await {
                    Ok(Outcome::Published { .. }) => published += 1,
                    Ok(_) => {}
                    Err(e) if !e.is_fatal() => {}
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, Error>(published)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap().unwrap();
    }
    // Follow the first-parent chain: one commit per publication, sizes
    // strictly growing.
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(tmp.path().join("roots"))
        .args(["log", "--format=%s"])
        .output()
        .unwrap();
    let subjects = String::from_utf8(out.stdout).unwrap();
    let sizes: Vec<u64> = subjects
        .lines()
        .map(|s| {
            let s = s.split("tree size ").nth(1).unwrap();
            s.split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(sizes.len(), total, "{subjects}");
    assert!(sizes.windows(2).all(|w| w[0] > w[1]), "{sizes:?}");
    assert_eq!(sizes.first().copied(), Some(log.size()));
}
