//! The log: one sequencer thread with group commit, and a checkpoint signer.
//!
//! Appends go through a bounded queue to the sequencer, which takes every
//! request waiting in the queue (up to `max_batch`), assigns indexes, computes
//! leaf hashes and the new stored hashes from its in-memory [`Frontier`], and
//! commits them all in one fsync'd RocksDB write batch
//! ([`Store::commit_batch`], the commit point). Only then are the appends
//! acknowledged. A full queue is pushback, never an unbounded wait.
//!
//! The checkpointer signs a checkpoint when the tree has grown, at most every
//! `checkpoint_interval`, stores it (fsync'd), and only then serves it.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use tlog::{Checkpoint, Frontier, Hash, NodeId, SignerKey, leaf_hash, open_checkpoint};
use tokio::sync::{mpsc, oneshot, watch};

use crate::metrics::Metrics;
use crate::storage::{NewEntry, Store};

/// The durable tree: size and root hash after the last committed batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeState {
    /// Entries durably in the tree.
    pub size: u64,
    /// Root hash of that tree.
    pub root: Hash,
}

/// The latest signed checkpoint.
#[derive(Clone, Debug)]
pub struct LatestCheckpoint {
    /// Its tree size.
    pub tree_size: u64,
    /// Its root hash.
    pub root_hash: Hash,
    /// The signed note text.
    pub note: String,
}

/// Why an append was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The queue is full: retry later.
    #[error("sequencer queue is full")]
    Pushback,
    /// The sequencer has stopped (shutdown or a storage failure).
    #[error("sequencer is not running")]
    Stopped,
    /// Storage failed; the entry was not appended.
    #[error("storage failure")]
    Storage,
}

/// Rows of the `records` column family committed in the same atomic write
/// batch as an entry (the compliance records behind an envelope).
pub type PrivateRows = Vec<(Vec<u8>, Vec<u8>)>;

struct AppendRequest {
    data: Vec<u8>,
    private: PrivateRows,
    reply: oneshot::Sender<Result<(u64, Hash), AppendError>>,
}

/// What the sequencer's queue carries.
enum Message {
    Append(AppendRequest),
    /// Commit what is queued before this, then stop.
    Stop,
}

/// Tuning of the log.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Most appends waiting for the sequencer before pushback.
    pub queue_capacity: usize,
    /// Most entries in one committed batch.
    pub max_batch: usize,
    /// Shortest time between two checkpoints.
    pub checkpoint_interval: Duration,
}

/// A running log.
pub struct Log {
    /// The store.
    pub store: Arc<Store>,
    signer: SignerKey,
    queue: mpsc::Sender<Message>,
    sequencer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    tree: watch::Receiver<TreeState>,
    checkpoint_tx: watch::Sender<Arc<LatestCheckpoint>>,
    checkpoint: watch::Receiver<Arc<LatestCheckpoint>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    config: LogConfig,
}

impl Log {
    /// Opens the log over `store`: loads the frontier (at most 64 reads),
    /// checks the latest checkpoint against the stored tree, starts the
    /// sequencer thread, and signs a first checkpoint if there is none.
    pub fn start(
        store: Store,
        signer: SignerKey,
        config: LogConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Log>> {
        let store = Arc::new(store);
        let size = store.tree_size()?;
        let frontier =
            Frontier::from_reader(size, &*store).context("loading the tree's frontier")?;
        let tree = TreeState {
            size,
            root: frontier.root(),
        };
        let vkey = signer.verifier_key();
        let latest = match store.latest_checkpoint()? {
            Some((cp_size, note)) => {
                let cp = open_checkpoint(&note, &vkey)
                    .context("the stored latest checkpoint does not verify with the log's key")?
                    .checkpoint;
                anyhow::ensure!(
                    cp_size == cp.tree_size && cp.tree_size <= size,
                    "latest checkpoint (size {}) is beyond the stored tree (size {size})",
                    cp.tree_size
                );
                let root = tlog::tree_hash(cp.tree_size, &*store)?;
                anyhow::ensure!(
                    root == cp.root_hash,
                    "stored tree does not match the latest checkpoint at size {}",
                    cp.tree_size
                );
                LatestCheckpoint {
                    tree_size: cp.tree_size,
                    root_hash: cp.root_hash,
                    note: String::from_utf8(note).context("checkpoint is not UTF-8")?,
                }
            }
            None => sign_and_store(&store, &signer, tree)?,
        };
        metrics.tree_size.store(size, Relaxed);
        metrics.checkpoint_size.store(latest.tree_size, Relaxed);
        let (tree_tx, tree_rx) = watch::channel(tree);
        let (checkpoint_tx, checkpoint_rx) = watch::channel(Arc::new(latest));
        let (queue_tx, queue_rx) = mpsc::channel(config.queue_capacity);
        let seq = Sequencer {
            store: store.clone(),
            frontier,
            queue: queue_rx,
            tree: tree_tx,
            metrics: metrics.clone(),
            max_batch: config.max_batch,
        };
        let sequencer = std::thread::Builder::new()
            .name("sequencer".into())
            .spawn(move || seq.run())
            .context("starting the sequencer thread")?;
        Ok(Arc::new(Log {
            store,
            signer,
            queue: queue_tx,
            sequencer: std::sync::Mutex::new(Some(sequencer)),
            tree: tree_rx,
            checkpoint_tx,
            checkpoint: checkpoint_rx,
            metrics,
            config,
        }))
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The log's verifier key in text form.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key().to_text()
    }

    /// The durable tree.
    pub fn tree(&self) -> TreeState {
        *self.tree.borrow()
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Arc<LatestCheckpoint> {
        self.checkpoint.borrow().clone()
    }

    /// Appends an entry; returns its index and leaf hash once it is durable.
    pub async fn append(&self, data: Vec<u8>) -> Result<(u64, Hash), AppendError> {
        self.enqueue(data, Vec::new())?.await
    }

    /// Queues an entry, with private rows committed in the same write batch,
    /// and returns at once with a future of its index and leaf hash, which
    /// resolves once it is durable. Entries are sequenced in queue order, so
    /// a caller that queues under a lock gets log order = lock order.
    pub fn enqueue(
        &self,
        data: Vec<u8>,
        private: PrivateRows,
    ) -> Result<impl Future<Output = Result<(u64, Hash), AppendError>> + Send + 'static, AppendError>
    {
        let (reply, rx) = oneshot::channel();
        match self.queue.try_send(Message::Append(AppendRequest {
            data,
            private,
            reply,
        })) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.pushbacks.fetch_add(1, Relaxed);
                return Err(AppendError::Pushback);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(AppendError::Stopped),
        }
        self.metrics.queue_depth.fetch_add(1, Relaxed);
        Ok(async move { rx.await.unwrap_or(Err(AppendError::Stopped)) })
    }

    /// Stops the sequencer once everything queued before this call is
    /// committed, and waits for its thread to end (so that no thread but the
    /// caller's still holds the store when the process exits). Later appends
    /// fail with [`AppendError::Stopped`].
    pub async fn stop_sequencer(&self) {
        let _ = self.queue.send(Message::Stop).await;
        let handle = self
            .sequencer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    /// Waits until a signed checkpoint covers `index` (that is, its tree size
    /// is larger), and returns it.
    pub async fn wait_for_checkpoint(&self, index: u64) -> Option<Arc<LatestCheckpoint>> {
        let mut rx = self.checkpoint.clone();
        rx.wait_for(|cp| cp.tree_size > index)
            .await
            .ok()
            .map(|cp| cp.clone())
    }

    /// Signs a checkpoint if the tree has grown since the latest one.
    pub async fn sign_if_grown(&self) -> Result<()> {
        let tree = self.tree();
        if tree.size <= self.checkpoint.borrow().tree_size {
            return Ok(());
        }
        let store = self.store.clone();
        let signer = self.signer.clone();
        let cp =
            tokio::task::spawn_blocking(move || sign_and_store(&store, &signer, tree)).await??;
        self.metrics.checkpoints_signed.fetch_add(1, Relaxed);
        self.metrics.checkpoint_size.store(cp.tree_size, Relaxed);
        self.checkpoint_tx.send_replace(Arc::new(cp));
        Ok(())
    }

    /// Runs the checkpointer until `shutdown` resolves, then signs a final
    /// checkpoint covering everything acknowledged.
    pub async fn run_checkpointer(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(self.config.checkpoint_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.sign_if_grown().await {
                        tracing::error!(error = format!("{e:#}"), "signing a checkpoint failed");
                    }
                }
                () = &mut shutdown => break,
            }
        }
        if let Err(e) = self.sign_if_grown().await {
            tracing::error!(
                error = format!("{e:#}"),
                "signing the final checkpoint failed"
            );
        }
    }
}

/// Signs a checkpoint of `tree` and stores it durably.
fn sign_and_store(store: &Store, signer: &SignerKey, tree: TreeState) -> Result<LatestCheckpoint> {
    let note = Checkpoint::new(signer.name(), tree.size, tree.root)
        .sign(signer)
        .context("signing a checkpoint")?
        .to_string();
    store.put_checkpoint(tree.size, note.as_bytes())?;
    Ok(LatestCheckpoint {
        tree_size: tree.size,
        root_hash: tree.root,
        note,
    })
}

struct Sequencer {
    store: Arc<Store>,
    frontier: Frontier,
    queue: mpsc::Receiver<Message>,
    tree: watch::Sender<TreeState>,
    metrics: Arc<Metrics>,
    max_batch: usize,
}

impl Sequencer {
    fn run(mut self) {
        let mut batch: Vec<AppendRequest> = Vec::with_capacity(self.max_batch);
        let mut hashes: Vec<(NodeId, Hash)> = Vec::with_capacity(self.max_batch * 2);
        let mut leaves: Vec<Hash> = Vec::with_capacity(self.max_batch);
        let mut stopping = false;
        while !stopping {
            match self.queue.blocking_recv() {
                Some(Message::Append(first)) => batch.push(first),
                Some(Message::Stop) | None => break,
            }
            while batch.len() < self.max_batch {
                match self.queue.try_recv() {
                    Ok(Message::Append(r)) => batch.push(r),
                    Ok(Message::Stop) => {
                        stopping = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.metrics
                .queue_depth
                .fetch_sub(batch.len() as u64, Relaxed);
            let start = self.frontier.size();
            let mut frontier = self.frontier.clone();
            hashes.clear();
            leaves.clear();
            for req in &batch {
                let h = leaf_hash(&req.data);
                leaves.push(h);
                frontier.append(h, |id, h| hashes.push((id, h)));
            }
            let entries: Vec<NewEntry<'_>> = batch
                .iter()
                .zip(&leaves)
                .zip(start..)
                .map(|((req, &leaf_hash), index)| NewEntry {
                    index,
                    data: &req.data,
                    leaf_hash,
                    private: &req.private,
                })
                .collect();
            let t = Instant::now();
            let result = self.store.commit_batch(&entries, &hashes, frontier.size());
            drop(entries);
            self.metrics.fsync_seconds.observe_duration(t.elapsed());
            match result {
                Ok(()) => {
                    // Committed: from here on a crash loses nothing of this batch.
                    self.frontier = frontier;
                    let tree = TreeState {
                        size: self.frontier.size(),
                        root: self.frontier.root(),
                    };
                    self.tree.send_replace(tree);
                    self.metrics.tree_size.store(tree.size, Relaxed);
                    self.metrics.appends.fetch_add(batch.len() as u64, Relaxed);
                    #[allow(clippy::cast_precision_loss)]
                    self.metrics.batch_size.observe(batch.len() as f64);
                    for ((req, leaf), index) in batch.drain(..).zip(&leaves).zip(start..) {
                        let _ = req.reply.send(Ok((index, *leaf)));
                    }
                }
                Err(e) => {
                    // The write's outcome is unknown (RocksDB stops accepting
                    // writes after a failed sync). Fail stop: refuse every
                    // pending and future append; a restart recovers from the
                    // last committed batch.
                    tracing::error!(
                        error = format!("{e:#}"),
                        "committing a batch failed; the sequencer stops"
                    );
                    for req in batch.drain(..) {
                        let _ = req.reply.send(Err(AppendError::Storage));
                    }
                    break;
                }
            }
        }
        self.queue.close();
        while let Ok(msg) = self.queue.try_recv() {
            if let Message::Append(req) = msg {
                let _ = req.reply.send(Err(AppendError::Stopped));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stopping_commits_what_is_queued_then_refuses_appends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let signer = SignerKey::from_seed("test.example/log", &[7; 32]).unwrap();
        let config = LogConfig {
            queue_capacity: 1024,
            max_batch: 7,
            checkpoint_interval: Duration::from_millis(10),
        };
        let log = Log::start(store, signer, config, Arc::new(Metrics::default())).unwrap();
        let pending: Vec<_> = (0..300u32)
            .map(|i| log.enqueue(i.to_be_bytes().to_vec(), Vec::new()).unwrap())
            .collect();
        log.stop_sequencer().await;
        // Everything queued before the stop is committed, in queue order.
        for (i, p) in pending.into_iter().enumerate() {
            let (index, leaf) = p.await.unwrap();
            assert_eq!(index, i as u64);
            assert_eq!(leaf, leaf_hash(&u32::try_from(i).unwrap().to_be_bytes()));
        }
        assert_eq!(log.tree().size, 300);
        assert_eq!(log.store.tree_size().unwrap(), 300);
        // The sequencer is gone: appends fail, and stopping again is harmless.
        assert!(matches!(
            log.append(b"late".to_vec()).await,
            Err(AppendError::Stopped)
        ));
        log.stop_sequencer().await;
        // The final checkpoint covers everything committed.
        log.sign_if_grown().await.unwrap();
        assert_eq!(log.checkpoint().tree_size, 300);
    }
}
