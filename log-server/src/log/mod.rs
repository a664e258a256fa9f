//! The log: one sequencer thread with group commit, and a checkpoint signer.
//!
//! Appends go through a bounded queue to the sequencer, which takes every
//! request waiting in the queue (up to `max_batch`), assigns indexes, computes
//! leaf hashes and the new stored hashes from its in-memory [`Frontier`], and
//! commits them all in one atomic, durable write ([`LogStore::commit`], the
//! commit point). Only then are the appends acknowledged. A full queue is
//! pushback, never an unbounded wait. A commit that fails stops the
//! sequencer (fail-stop): the batch and everything queued after it are
//! refused with [`Error::Stopped`], and a restart recovers from the last
//! committed batch.
//!
//! The checkpointer signs a checkpoint when the tree has grown, at most every
//! `checkpoint_interval`, stores it (fsync'd), and only then serves it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tlog::{Checkpoint, Frontier, Hash, SignerKey, open_checkpoint};
use tokio::sync::{mpsc, oneshot, watch};

use crate::metrics::Metrics;
use crate::storage::{LogStore, NewRecord};
use crate::{Error, Result};

mod sequencer;
pub mod witnessing;

use sequencer::{AppendRequest, Message, Sequencer};
pub use witnessing::{WitnessHealth, Witnessing, WitnessingConfig};

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
    /// The signed note text (with the witnesses' cosignature lines, once
    /// witnessed).
    pub note: String,
    /// When it was signed (for the signing-to-witnessed latency).
    pub signed_at: Instant,
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
    store: Arc<dyn LogStore>,
    signer: SignerKey,
    queue: mpsc::Sender<Message>,
    sequencer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    tree: watch::Receiver<TreeState>,
    /// In the shared mode, the integrated tree (set by the checkpointer).
    shared_tree: Option<watch::Sender<TreeState>>,
    /// The latest checkpoint the log signed.
    signed_tx: watch::Sender<Arc<LatestCheckpoint>>,
    /// The checkpoint the log serves: the signed one, or with a witness
    /// policy the newest that met its quorum (none before the first).
    checkpoint_tx: watch::Sender<Option<Arc<LatestCheckpoint>>>,
    checkpoint: watch::Receiver<Option<Arc<LatestCheckpoint>>>,
    witnessing: Option<Arc<Witnessing>>,
    /// In the shared mode, whether this process holds the integrator lease
    /// (only the integrator asks the witnesses).
    integrator: AtomicBool,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    config: LogConfig,
}

impl Log {
    /// Opens the log over `store`: loads the frontier (at most 64 reads),
    /// checks the latest checkpoint against the stored tree, starts the
    /// sequencer thread, and signs a first checkpoint if there is none.
    ///
    /// # Errors
    /// Storage failures, and a stored latest checkpoint that does not verify
    /// with `signer`'s key or does not match the stored tree.
    pub fn start(
        store: Arc<dyn LogStore>,
        signer: SignerKey,
        config: LogConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Log>> {
        Self::start_witnessed(store, signer, config, metrics, None)
    }

    /// [`Log::start`], asking witnesses to cosign its checkpoints when
    /// `witnessing` is given (run [`Log::run_witnessing`] beside the
    /// checkpointer): the log then serves only checkpoints that met the
    /// policy's quorum.
    ///
    /// # Errors
    /// As [`Log::start`]; a policy that does not name the log.
    pub fn start_witnessed(
        store: Arc<dyn LogStore>,
        signer: SignerKey,
        config: LogConfig,
        metrics: Arc<Metrics>,
        witnessing: Option<WitnessingConfig>,
    ) -> Result<Arc<Log>> {
        let witnessing = match witnessing {
            Some(w) => {
                let w = Witnessing::new(w, &signer.verifier_key())?;
                w.load_sizes(&store.witness_sizes()?);
                Some(Arc::new(w))
            }
            None => None,
        };
        if store.shared().is_some() {
            return Self::start_shared(store, signer, config, metrics, witnessing);
        }
        let size = store.tree_size()?;
        let frontier = Frontier::from_reader(size, &&*store)?;
        let tree = TreeState {
            size,
            root: frontier.root(),
        };
        let vkey = signer.verifier_key();
        let latest = match store.latest_checkpoint()? {
            Some((cp_size, note)) => {
                let cp = open_checkpoint(&note, &vkey)
                    .map_err(|e| {
                        Error::Corrupt(format!(
                            "the stored latest checkpoint does not verify with the log's key: {e}"
                        ))
                    })?
                    .checkpoint;
                if cp_size != cp.tree_size || cp.tree_size > size {
                    return Err(Error::Corrupt(format!(
                        "latest checkpoint (size {}) is beyond the stored tree (size {size})",
                        cp.tree_size
                    )));
                }
                let root = tlog::tree_hash(cp.tree_size, &&*store)?;
                if root != cp.root_hash {
                    return Err(Error::Corrupt(format!(
                        "stored tree does not match the latest checkpoint at size {}",
                        cp.tree_size
                    )));
                }
                LatestCheckpoint {
                    tree_size: cp.tree_size,
                    root_hash: cp.root_hash,
                    note: String::from_utf8(note)
                        .map_err(|_| Error::Corrupt("the latest checkpoint is not UTF-8".into()))?,
                    signed_at: Instant::now(),
                }
            }
            None => sign_and_store(&*store, &signer, tree)?,
        };
        let (tree_tx, tree_rx) = watch::channel(tree);
        Self::spawn(
            store, signer, config, metrics, frontier, latest, tree_tx, tree_rx, None, witnessing,
        )
    }

    /// [`Log::start`] on a store shared by several processes: the tree and
    /// the checkpoint are the integrated ones (integrating first if this
    /// process gets the lease); the sequencer sequences through the store.
    fn start_shared(
        store: Arc<dyn LogStore>,
        signer: SignerKey,
        config: LogConfig,
        metrics: Arc<Metrics>,
        witnessing: Option<Arc<Witnessing>>,
    ) -> Result<Arc<Log>> {
        let shared = store.shared().ok_or(Error::Stopped)?;
        let integrated = shared.integrate(&signer)?;
        let latest = match &integrated.checkpoint {
            Some(note) => open_shared_checkpoint(note, &signer, &integrated)?,
            // Nobody published yet (another process holds the lease): the
            // empty tree's checkpoint, which is the same bytes whoever
            // signs it (Ed25519 is deterministic).
            None if integrated.size == 0 => LatestCheckpoint {
                tree_size: 0,
                root_hash: integrated.root,
                note: Checkpoint::new(signer.name(), 0, integrated.root)
                    .sign(&signer)?
                    .to_string(),
                signed_at: Instant::now(),
            },
            None => {
                return Err(Error::Corrupt(
                    "the integrated tree has no checkpoint".into(),
                ));
            }
        };
        let tree = TreeState {
            size: integrated.size,
            root: integrated.root,
        };
        let (shared_tx, tree_rx) = watch::channel(tree);
        // The sequencer's own tree channel is unused in this mode.
        let (seq_tx, _) = watch::channel(tree);
        Self::spawn(
            store,
            signer,
            config,
            metrics,
            Frontier::default(),
            latest,
            seq_tx,
            tree_rx,
            Some(shared_tx),
            witnessing,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn(
        store: Arc<dyn LogStore>,
        signer: SignerKey,
        config: LogConfig,
        metrics: Arc<Metrics>,
        frontier: Frontier,
        latest: LatestCheckpoint,
        tree_tx: watch::Sender<TreeState>,
        tree_rx: watch::Receiver<TreeState>,
        shared_tree: Option<watch::Sender<TreeState>>,
        witnessing: Option<Arc<Witnessing>>,
    ) -> Result<Arc<Log>> {
        metrics.tree_size.store(tree_rx.borrow().size, Relaxed);
        metrics.checkpoint_size.store(latest.tree_size, Relaxed);
        let latest = Arc::new(latest);
        let served = match &witnessing {
            None => Some(latest.clone()),
            Some(w) => stored_witnessed(&*store, w, tree_rx.borrow().size)?,
        };
        if let Some(cp) = &served {
            metrics.witnessed_size.store(cp.tree_size, Relaxed);
        }
        let (signed_tx, _) = watch::channel(latest);
        let (checkpoint_tx, checkpoint_rx) = watch::channel(served);
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
            .map_err(|e| Error::storage("starting the sequencer thread", e))?;
        Ok(Arc::new(Log {
            store,
            signer,
            queue: queue_tx,
            sequencer: std::sync::Mutex::new(Some(sequencer)),
            tree: tree_rx,
            shared_tree,
            signed_tx,
            checkpoint_tx,
            checkpoint: checkpoint_rx,
            witnessing,
            integrator: AtomicBool::new(false),
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

    /// The checkpoint the log serves: the latest signed one, or with a
    /// witness policy the newest that met its quorum, with its
    /// cosignatures.
    ///
    /// # Errors
    /// [`Error::NotWitnessed`] while no checkpoint has met the policy.
    pub fn checkpoint(&self) -> Result<Arc<LatestCheckpoint>> {
        self.checkpoint.borrow().clone().ok_or(Error::NotWitnessed)
    }

    /// The latest checkpoint the log signed (witnessed or not).
    pub fn signed_checkpoint(&self) -> Arc<LatestCheckpoint> {
        self.signed_tx.borrow().clone()
    }

    /// The witnesses, when the log has a witness policy.
    pub fn witnessing(&self) -> Option<&Witnessing> {
        self.witnessing.as_deref()
    }

    /// Appends an entry; returns its index and leaf hash once it is durable.
    ///
    /// # Errors
    /// [`Error::Pushback`] when the queue is full, [`Error::Stopped`] when
    /// the log does not accept writes; nothing is appended then.
    pub async fn append(&self, data: Vec<u8>) -> Result<(u64, Hash)> {
        self.enqueue(data, None)?.await
    }

    /// Queues an entry, with the private record whose envelope it is
    /// (committed in the same atomic write), and returns at once with a
    /// future of its index and leaf hash, which resolves once it is durable.
    /// Entries are sequenced in queue order, so a caller that queues under a
    /// lock gets log order = lock order.
    ///
    /// # Errors
    /// As [`Log::append`]; the future fails with [`Error::Stopped`] if the
    /// commit fails.
    pub fn enqueue(
        &self,
        data: Vec<u8>,
        record: Option<NewRecord>,
    ) -> Result<impl Future<Output = Result<(u64, Hash)>> + Send + 'static> {
        let mut all = self.enqueue_all(vec![(data, record)])?;
        all.pop().ok_or(Error::Stopped)
    }

    /// Queues several entries all or none: either the queue has room for
    /// every one of them and they are queued together, in order, or none is
    /// queued ([`Error::Pushback`]). So a request that must log two records
    /// (a signal and the activation it causes) never logs one alone.
    ///
    /// # Errors
    /// As [`Log::enqueue`].
    pub fn enqueue_all(
        &self,
        items: Vec<(Vec<u8>, Option<NewRecord>)>,
    ) -> Result<Vec<impl Future<Output = Result<(u64, Hash)>> + Send + 'static + use<>>> {
        let permits = match self.queue.try_reserve_many(items.len()) {
            Ok(permits) => permits,
            Err(mpsc::error::TrySendError::Full(())) => {
                self.metrics.pushbacks.fetch_add(1, Relaxed);
                return Err(Error::Pushback);
            }
            Err(mpsc::error::TrySendError::Closed(())) => return Err(Error::Stopped),
        };
        let mut out = Vec::with_capacity(items.len());
        for (permit, (data, record)) in permits.zip(items) {
            let (reply, rx) = oneshot::channel();
            permit.send(Message::Append(AppendRequest {
                data,
                record,
                reply,
            }));
            self.metrics.queue_depth.fetch_add(1, Relaxed);
            out.push(async move { rx.await.unwrap_or(Err(Error::Stopped)) });
        }
        Ok(out)
    }

    /// Stops the sequencer once everything queued before this call is
    /// committed, and waits for its thread to end (so that no thread but the
    /// caller's still holds the store when the process exits). Later appends
    /// fail with [`Error::Stopped`].
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
        rx.wait_for(|cp| cp.as_ref().is_some_and(|cp| cp.tree_size > index))
            .await
            .ok()
            .and_then(|cp| cp.clone())
    }

    // ------------------------------------------------------------ reads
    //
    // Each read is a bounded number of point reads and runs on the caller's
    // thread (see `storage`, "Where blocking storage calls run").

    /// The entry at `index`, if the tree has it.
    ///
    /// # Errors
    /// Storage failures.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        if index >= self.tree().size {
            return Ok(None);
        }
        self.store.entry(index)
    }

    /// Entries `start..end`, which must be in the tree.
    ///
    /// # Errors
    /// Storage failures.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        self.store.entries(start, end)
    }

    /// The lowest index below `below` whose leaf hash is `leaf_hash`.
    ///
    /// # Errors
    /// Storage failures.
    pub fn index_of(&self, leaf_hash: &Hash, below: u64) -> Result<Option<u64>> {
        self.store.index_of(leaf_hash, below)
    }

    /// `width` stored hashes of `level` from `start`, concatenated.
    ///
    /// # Errors
    /// Storage failures.
    pub fn hash_range(&self, level: u8, start: u64, width: u64) -> Result<Vec<u8>> {
        self.store.hash_range(level, start, width)
    }

    /// The inclusion proof of leaf `index` in the tree of size `tree_size`.
    ///
    /// # Errors
    /// A size beyond the stored tree; storage failures.
    pub fn prove_inclusion(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>> {
        Ok(tlog::prove_inclusion(index, tree_size, &&*self.store)?)
    }

    /// The consistency proof from tree size `first` to `second`.
    ///
    /// # Errors
    /// A size beyond the stored tree; storage failures.
    pub fn prove_consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>> {
        Ok(tlog::prove_consistency(first, second, &&*self.store)?)
    }

    /// A prover of many inclusion proofs to one tree size (an export's):
    /// the right edge of that tree comes from its frontier, computed once.
    ///
    /// # Errors
    /// Storage failures.
    pub fn prover(&self, tree_size: u64) -> Result<Prover> {
        let frontier = Frontier::from_reader(tree_size, &&*self.store)?;
        Ok(Prover {
            store: self.store.clone(),
            tree_size,
            frontier,
        })
    }

    /// Waits for the first checkpoint that covers `index` and proves the
    /// entry's inclusion in it. With a witness policy the wait is bounded
    /// ([`WITNESSED_WAIT`]): witnesses that are down must not hold requests.
    ///
    /// # Errors
    /// [`Error::Stopped`] if no checkpoint will come;
    /// [`Error::NotWitnessed`] if no witnessed checkpoint covers the entry
    /// in time; storage failures.
    pub async fn inclusion_at_checkpoint(
        &self,
        index: u64,
    ) -> Result<(Arc<LatestCheckpoint>, Vec<Hash>)> {
        let cp = if self.witnessing.is_some() {
            tokio::time::timeout(WITNESSED_WAIT, self.wait_for_checkpoint(index))
                .await
                .map_err(|_| Error::NotWitnessed)?
        } else {
            self.wait_for_checkpoint(index).await
        }
        .ok_or(Error::Stopped)?;
        let proof = self.prove_inclusion(index, cp.tree_size)?;
        Ok((cp, proof))
    }

    /// Flushes the store (on an orderly stop, after the final checkpoint).
    ///
    /// # Errors
    /// Storage failures.
    pub fn flush(&self) -> Result<()> {
        self.store.flush()
    }

    /// Signs a checkpoint if the tree has grown since the latest one.
    ///
    /// # Errors
    /// Signing or storage failures; the latest checkpoint is unchanged.
    pub async fn sign_if_grown(&self) -> Result<()> {
        if let Some(shared_tree) = &self.shared_tree {
            return self.integrate(shared_tree).await;
        }
        let tree = self.tree();
        if tree.size <= self.signed_tx.borrow().tree_size {
            return Ok(());
        }
        let store = self.store.clone();
        let signer = self.signer.clone();
        let cp = tokio::task::spawn_blocking(move || sign_and_store(&*store, &signer, tree))
            .await
            .map_err(|e| Error::storage("signing a checkpoint", e))??;
        self.signed(Arc::new(cp));
        Ok(())
    }

    /// A checkpoint was signed: served at once, or without a witness
    /// policy, handed to the witnessing task.
    fn signed(&self, cp: Arc<LatestCheckpoint>) {
        self.metrics.checkpoints_signed.fetch_add(1, Relaxed);
        self.metrics.checkpoint_size.store(cp.tree_size, Relaxed);
        if self.witnessing.is_none() {
            self.checkpoint_tx.send_replace(Some(cp.clone()));
        }
        self.signed_tx.send_replace(cp);
    }

    /// The shared mode's checkpointer step: integrates if this process
    /// holds (or takes) the lease, and serves the integrated tree and its
    /// checkpoint, whoever published them.
    async fn integrate(&self, shared_tree: &watch::Sender<TreeState>) -> Result<()> {
        let store = self.store.clone();
        let signer = self.signer.clone();
        let integrated = tokio::task::spawn_blocking(move || {
            store.shared().ok_or(Error::Stopped)?.integrate(&signer)
        })
        .await
        .map_err(|e| Error::storage("integrating", e))??;
        self.integrator.store(integrated.integrator, Relaxed);
        if let Some(w) = &self.witnessing
            && !integrated.integrator
        {
            // Another frontend asks the witnesses: serve what it kept.
            self.refresh_witnessed(w).await?;
        }
        if integrated.size <= self.signed_tx.borrow().tree_size {
            return Ok(());
        }
        let Some(note) = &integrated.checkpoint else {
            return Ok(());
        };
        let cp = open_shared_checkpoint(note, &self.signer, &integrated)?;
        shared_tree.send_replace(TreeState {
            size: integrated.size,
            root: integrated.root,
        });
        self.metrics.tree_size.store(integrated.size, Relaxed);
        self.signed(Arc::new(cp));
        Ok(())
    }

    /// Serves the witnessed checkpoint another frontend kept, if newer.
    async fn refresh_witnessed(&self, w: &Arc<Witnessing>) -> Result<()> {
        let (store, w) = (self.store.clone(), w.clone());
        let size = self.tree().size;
        let kept = tokio::task::spawn_blocking(move || stored_witnessed(&*store, &w, size))
            .await
            .map_err(|e| Error::storage("reading the witnessed checkpoint", e))??;
        if let Some(cp) = kept {
            self.serve_witnessed(cp);
        }
        Ok(())
    }

    /// Serves a witnessed checkpoint unless a newer one is served.
    fn serve_witnessed(&self, cp: Arc<LatestCheckpoint>) {
        let size = cp.tree_size;
        let newer = self.checkpoint_tx.send_if_modified(|served| {
            if served.as_ref().is_some_and(|s| s.tree_size >= size) {
                return false;
            }
            *served = Some(cp);
            true
        });
        if newer {
            self.metrics.witnessed_size.store(size, Relaxed);
        }
    }

    /// Runs witnessing until `shutdown` (with a witness policy; returns at
    /// once without one): each newly signed checkpoint is sent to every
    /// witness, and served once its cosignatures meet the quorum. Appends
    /// go on meanwhile; a witness that fails is asked again after a
    /// backoff, with the newest checkpoint then.
    pub async fn run_witnessing(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let Some(w) = self.witnessing.clone() else {
            return;
        };
        let mut signed = self.signed_tx.subscribe();
        tokio::pin!(shutdown);
        let mut retry: Option<Duration> = Some(Duration::ZERO);
        loop {
            let sleep = tokio::time::sleep(retry.unwrap_or(Duration::from_secs(3600)));
            tokio::select! {
                changed = signed.changed() => if changed.is_err() { break },
                () = sleep => {},
                () = &mut shutdown => break,
            }
            retry = None;
            if self.shared_tree.is_some() && !self.integrator.load(Relaxed) {
                continue;
            }
            let cp = self.signed_checkpoint();
            let served = self.checkpoint.borrow().as_ref().map_or(0, |c| c.tree_size);
            let first = self.checkpoint.borrow().is_none();
            if cp.tree_size <= served && !first {
                continue;
            }
            if let Some(note) = self.witness_round(&w, &cp).await {
                let witnessed = Arc::new(LatestCheckpoint {
                    tree_size: cp.tree_size,
                    root_hash: cp.root_hash,
                    note,
                    signed_at: cp.signed_at,
                });
                let (store, kept) = (self.store.clone(), witnessed.clone());
                let stored = tokio::task::spawn_blocking(move || {
                    store.put_witnessed_checkpoint(kept.tree_size, kept.note.as_bytes())
                })
                .await;
                match stored {
                    Ok(Ok(())) => {
                        self.metrics
                            .witnessing_seconds
                            .observe_duration(cp.signed_at.elapsed());
                        tracing::debug!(tree_size = cp.tree_size, "serving a witnessed checkpoint");
                        self.serve_witnessed(witnessed);
                    }
                    Ok(Err(e)) => {
                        tracing::error!(
                            error = format!("{e:#}"),
                            "keeping the witnessed checkpoint failed"
                        );
                        retry = Some(Duration::from_secs(1));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "keeping the witnessed checkpoint failed");
                        retry = Some(Duration::from_secs(1));
                    }
                }
            } else {
                // Ask again when the first failing witness may be asked,
                // or at the next signed checkpoint, whichever is first.
                retry = Some(
                    w.next_retry()
                        .unwrap_or(Duration::from_secs(1))
                        .max(Duration::from_millis(50)),
                );
            }
        }
    }

    /// One witnessing round for `cp`; the cosigned note if it met the quorum.
    async fn witness_round(&self, w: &Witnessing, cp: &LatestCheckpoint) -> Option<String> {
        let store = &self.store;
        let prove = |old: u64, new: u64| -> Result<Vec<Hash>> {
            Ok(tlog::prove_consistency(old, new, &&**store)?)
        };
        let keep = |key: &str, size: u64| {
            if let Err(e) = store.put_witness_size(key, size) {
                tracing::warn!(error = format!("{e:#}"), "keeping a witness's size failed");
            }
        };
        w.round(&cp.note, cp.tree_size, &self.metrics, prove, keep)
            .await
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
        if self.shared_tree.is_some() {
            let store = self.store.clone();
            let released =
                tokio::task::spawn_blocking(move || store.shared().map_or(Ok(()), |s| s.release()))
                    .await;
            if let Ok(Err(e)) = released {
                tracing::warn!(error = format!("{e:#}"), "releasing the lease failed");
            }
        }
    }
}

/// Opens a shared log's published checkpoint: it must verify with the
/// log's key and name the integrated tree.
fn open_shared_checkpoint(
    note: &[u8],
    signer: &SignerKey,
    integrated: &crate::storage::Integrated,
) -> Result<LatestCheckpoint> {
    let cp = open_checkpoint(note, &signer.verifier_key())
        .map_err(|e| {
            Error::Corrupt(format!(
                "the published checkpoint does not verify with the log's key: {e}"
            ))
        })?
        .checkpoint;
    if cp.tree_size != integrated.size || cp.root_hash != integrated.root {
        return Err(Error::Corrupt(format!(
            "the published checkpoint (size {}) does not name the integrated tree (size {})",
            cp.tree_size, integrated.size
        )));
    }
    Ok(LatestCheckpoint {
        tree_size: cp.tree_size,
        root_hash: cp.root_hash,
        note: String::from_utf8(note.to_vec())
            .map_err(|_| Error::Corrupt("the published checkpoint is not UTF-8".into()))?,
        signed_at: Instant::now(),
    })
}

/// How long a request that waits for its entry's checkpoint waits for a
/// witnessed one before it is answered without.
pub const WITNESSED_WAIT: Duration = Duration::from_secs(20);

/// The witnessed checkpoint kept in the store, if it still meets the
/// policy and names the stored tree (of `tree_size` entries or more).
fn stored_witnessed(
    store: &dyn LogStore,
    w: &Witnessing,
    tree_size: u64,
) -> Result<Option<Arc<LatestCheckpoint>>> {
    let Some((size, note)) = store.witnessed_checkpoint()? else {
        return Ok(None);
    };
    let verified = match w.policy().verify_checkpoint(&note, witnessing::unix_now()) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(
                size,
                error = %e,
                "the kept witnessed checkpoint no longer meets the witness policy; waiting for a new one"
            );
            return Ok(None);
        }
    };
    let cp = verified.checkpoint.checkpoint;
    if cp.tree_size != size || cp.tree_size > tree_size.max(store.tree_size()?) {
        return Err(Error::Corrupt(format!(
            "the witnessed checkpoint (size {}) is beyond the stored tree",
            cp.tree_size
        )));
    }
    if tlog::tree_hash(cp.tree_size, &store)? != cp.root_hash {
        return Err(Error::Corrupt(format!(
            "the stored tree does not match the witnessed checkpoint at size {}",
            cp.tree_size
        )));
    }
    Ok(Some(Arc::new(LatestCheckpoint {
        tree_size: cp.tree_size,
        root_hash: cp.root_hash,
        note: String::from_utf8(note)
            .map_err(|_| Error::Corrupt("the witnessed checkpoint is not UTF-8".into()))?,
        signed_at: Instant::now(),
    })))
}

/// Signs a checkpoint of `tree` and stores it durably.
fn sign_and_store(
    store: &dyn LogStore,
    signer: &SignerKey,
    tree: TreeState,
) -> Result<LatestCheckpoint> {
    let note = Checkpoint::new(signer.name(), tree.size, tree.root)
        .sign(signer)?
        .to_string();
    store.put_checkpoint(tree.size, note.as_bytes())?;
    Ok(LatestCheckpoint {
        tree_size: tree.size,
        root_hash: tree.root,
        note,
        signed_at: Instant::now(),
    })
}

/// Inclusion proofs to one tree size, for callers that make many (see
/// [`Log::prover`]). Every hash but the tree's right edge comes from the
/// store, which keeps the upper levels in memory and reads the lower half
/// of a proof as one tile row.
pub struct Prover {
    store: Arc<dyn LogStore>,
    tree_size: u64,
    frontier: Frontier,
}

impl Prover {
    /// The tree size proofs lead to.
    #[must_use]
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The lowest index of `leaf_hash` in the tree.
    ///
    /// # Errors
    /// Storage failures.
    pub fn index_of(&self, leaf_hash: &Hash) -> Result<Option<u64>> {
        self.store.index_of(leaf_hash, self.tree_size)
    }

    /// The inclusion proof of leaf `index`.
    ///
    /// # Errors
    /// An index beyond the tree; storage failures.
    pub fn prove_inclusion(&self, index: u64) -> Result<Vec<Hash>> {
        Ok(tlog::prove_inclusion(index, self.tree_size, self)?)
    }
}

impl tlog::HashReader for Prover {
    fn read_hashes(&self, ids: &[tlog::NodeId]) -> std::result::Result<Vec<Hash>, tlog::Error> {
        self.store.read_hashes(ids)
    }

    fn range_hash(&self, lo: u64, hi: u64) -> Option<Hash> {
        self.frontier.range_hash(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::{CommitMode, Memory};

    fn config() -> LogConfig {
        LogConfig {
            queue_capacity: 1024,
            max_batch: 7,
            checkpoint_interval: Duration::from_millis(10),
        }
    }

    fn signer() -> SignerKey {
        SignerKey::from_seed("test.example/log", &[7; 32]).unwrap()
    }

    fn start(store: &Arc<Memory>) -> Arc<Log> {
        Log::start(
            store.clone(),
            signer(),
            config(),
            Arc::new(Metrics::default()),
        )
        .unwrap()
    }

    async fn append_n(log: &Log, from: u32, n: u32) -> Vec<u64> {
        let mut out = Vec::new();
        for i in from..from + n {
            out.push(log.append(i.to_be_bytes().to_vec()).await.unwrap().0);
        }
        out
    }

    #[tokio::test]
    async fn stopping_commits_what_is_queued_then_refuses_appends() {
        let store = Arc::new(Memory::new());
        let log = start(&store);
        let pending: Vec<_> = (0..300u32)
            .map(|i| log.enqueue(i.to_be_bytes().to_vec(), None).unwrap())
            .collect();
        log.stop_sequencer().await;
        // Everything queued before the stop is committed, in queue order.
        for (i, p) in pending.into_iter().enumerate() {
            let (index, leaf) = p.await.unwrap();
            assert_eq!(index, i as u64);
            assert_eq!(
                leaf,
                tlog::leaf_hash(&u32::try_from(i).unwrap().to_be_bytes())
            );
        }
        assert_eq!(log.tree().size, 300);
        assert_eq!(store.tree_size().unwrap(), 300);
        store.check().unwrap();
        // The sequencer is gone: appends fail, and stopping again is harmless.
        assert!(matches!(
            log.append(b"late".to_vec()).await,
            Err(Error::Stopped)
        ));
        log.stop_sequencer().await;
        // The final checkpoint covers everything committed.
        log.sign_if_grown().await.unwrap();
        assert_eq!(log.checkpoint().unwrap().tree_size, 300);
    }

    /// A failed commit, persisted or not: the log stops, acknowledges
    /// nothing of the failed batch or after it, and a restart on the same
    /// store comes back consistent with every checkpoint signed before.
    #[tokio::test]
    async fn a_failed_commit_stops_the_log_and_a_restart_is_consistent() {
        for persist in [false, true] {
            let store = Arc::new(Memory::new());
            let log = start(&store);
            let acked = append_n(&log, 0, 20).await;
            assert_eq!(acked, (0..20).collect::<Vec<u64>>());
            log.sign_if_grown().await.unwrap();
            let mut signed = vec![log.checkpoint().unwrap()];
            append_n(&log, 20, 5).await;
            log.sign_if_grown().await.unwrap();
            signed.push(log.checkpoint().unwrap());
            let before = store.tree_size().unwrap();

            store.fail_commits(CommitMode::Fail { persist });
            let refused = log.append(b"doomed".to_vec()).await;
            assert!(matches!(refused, Err(Error::Stopped)), "{refused:?}");
            // Stopped for good: later appends are refused at once.
            assert!(matches!(
                log.append(b"after".to_vec()).await,
                Err(Error::Stopped)
            ));
            assert!(matches!(
                log.enqueue(b"after".to_vec(), None).map(drop),
                Err(Error::Stopped)
            ));
            // The in-memory tree never moved past the last good commit.
            assert_eq!(log.tree().size, before);
            let attempts = store.commits();
            let stored = store.tree_size().unwrap();
            assert_eq!(stored, if persist { before + 1 } else { before });
            store.check().unwrap();
            drop(log);

            // Restart on the same store.
            store.fail_commits(CommitMode::Ok);
            let log = start(&store);
            assert_eq!(log.tree().size, stored);
            for cp in &signed {
                assert_eq!(
                    tlog::tree_hash(cp.tree_size, &&*store).unwrap(),
                    cp.root_hash,
                    "checkpoint at {} no longer matches",
                    cp.tree_size
                );
                let proof = log.prove_consistency(cp.tree_size, stored).unwrap();
                tlog::verify_consistency(
                    cp.tree_size,
                    stored,
                    &cp.root_hash,
                    &tlog::tree_hash(stored, &&*store).unwrap(),
                    &proof,
                )
                .unwrap();
            }
            // And it goes on appending after what is stored.
            let (index, _) = log.append(b"next".to_vec()).await.unwrap();
            assert_eq!(index, stored);
            assert_eq!(store.commits(), attempts + 1);
            store.check().unwrap();
        }
    }
}
