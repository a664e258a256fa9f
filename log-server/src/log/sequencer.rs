//! The sequencer: one thread that takes every append waiting in the queue
//! (up to `max_batch`), assigns indexes, computes leaf hashes and the new
//! stored hashes from its in-memory frontier, commits them in one atomic
//! durable write, and only then acknowledges them.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tlog::{Frontier, Hash, NodeId, leaf_hash};
use tokio::sync::{mpsc, oneshot, watch};

use super::TreeState;
use crate::metrics::Metrics;
use crate::storage::{Batch, LogStore, NewEntry, NewRecord, Sequenced};
use crate::{Error, Result};

pub(super) struct AppendRequest {
    pub(super) data: Vec<u8>,
    pub(super) record: Option<NewRecord>,
    pub(super) reply: oneshot::Sender<Result<(u64, Hash)>>,
}

/// What the sequencer's queue carries.
pub(super) enum Message {
    Append(AppendRequest),
    /// Commit what is queued before this, then stop.
    Stop,
}

pub(super) struct Sequencer {
    pub(super) store: Arc<dyn LogStore>,
    pub(super) frontier: Frontier,
    pub(super) queue: mpsc::Receiver<Message>,
    pub(super) tree: watch::Sender<TreeState>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) max_batch: usize,
}

impl Sequencer {
    /// A batch of a log shared by several processes: the store assigns the
    /// indexes in its own transaction (its commit is the commit point) and
    /// the tree is built later by the integrator. Returns whether to go on:
    /// always, since no in-memory state here depends on the outcome. A
    /// failed batch is refused (503); a record the store fenced (another
    /// frontend wrote its project meanwhile) is refused with a conflict
    /// (409) and nothing of it is stored. The compliance service reloads
    /// the state of a project whose record failed either way.
    fn sequence_shared(&self, batch: &mut Vec<AppendRequest>, leaves: &mut Vec<Hash>) -> bool {
        let Some(shared) = self.store.shared() else {
            return false;
        };
        leaves.clear();
        leaves.extend(batch.iter().map(|r| leaf_hash(&r.data)));
        let entries: Vec<NewEntry<'_>> = batch
            .iter()
            .zip(leaves.iter())
            .map(|(req, &leaf_hash)| NewEntry {
                index: 0,
                data: &req.data,
                leaf_hash,
                record: req.record.as_ref(),
            })
            .collect();
        let t = Instant::now();
        let result = shared.sequence(&entries);
        drop(entries);
        self.metrics.fsync_seconds.observe_duration(t.elapsed());
        match result {
            Ok(sequenced) if sequenced.len() == batch.len() => {
                let n = sequenced
                    .iter()
                    .filter(|s| matches!(s, Sequenced::At(_)))
                    .count();
                self.metrics.appends.fetch_add(n as u64, Relaxed);
                #[allow(clippy::cast_precision_loss)]
                self.metrics.batch_size.observe(n as f64);
                for ((req, leaf), s) in batch.drain(..).zip(leaves.iter()).zip(sequenced) {
                    let reply = match s {
                        Sequenced::At(index) => Ok((index, *leaf)),
                        Sequenced::Fenced => Err(Error::Refused(compliance::Error::Conflict(
                            "another frontend of the log recorded an event of this project \
                             at the same time; nothing was recorded, retry"
                                .into(),
                        ))),
                    };
                    let _ = req.reply.send(reply);
                }
            }
            result => {
                let error = match result {
                    Err(e) => format!("{e:#}"),
                    Ok(s) => format!(
                        "the store answered for {} of {} entries",
                        s.len(),
                        batch.len()
                    ),
                };
                tracing::error!(error, "sequencing a batch failed; its appends are refused");
                for req in batch.drain(..) {
                    let _ = req.reply.send(Err(Error::Stopped));
                }
            }
        }
        true
    }

    pub(super) fn run(mut self) {
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
            if self.store.shared().is_some() {
                if !self.sequence_shared(&mut batch, &mut leaves) {
                    break;
                }
                continue;
            }
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
                    record: req.record.as_ref(),
                })
                .collect();
            let t = Instant::now();
            // The commit point: once `commit` returns Ok, a crash loses nothing
            // of this batch; until then, nothing of it is acknowledged.
            let result = self.store.commit(&Batch {
                entries: &entries,
                hashes: &hashes,
                new_size: frontier.size(),
            });
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
                    // The write's outcome is unknown (it may or may not have
                    // persisted; RocksDB stops accepting writes after a failed
                    // sync). Fail stop: refuse every pending and future
                    // append; a restart recovers from what is stored.
                    tracing::error!(
                        error = format!("{e:#}"),
                        "committing a batch failed; the sequencer stops"
                    );
                    for req in batch.drain(..) {
                        let _ = req.reply.send(Err(Error::Stopped));
                    }
                    break;
                }
            }
        }
        self.queue.close();
        while let Ok(msg) = self.queue.try_recv() {
            if let Message::Append(req) = msg {
                let _ = req.reply.send(Err(Error::Stopped));
            }
        }
    }
}
