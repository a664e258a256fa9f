//! `audit`: read the whole log through tlog-tiles, recompute every hash from
//! the entry bundles, check every tile and the checkpoint.
//!
//! Memory does not grow with the log: worker threads read entry bundle `i`
//! and level-0 tile `i`, hash the entries and compare; the main thread feeds
//! the leaf hashes, in order, into a [`TreeBuilder`] (a `tlog::Frontier`),
//! compares every stored hash of tree levels 8, 16, ... with the log's tile
//! as it is produced, and finally the root with the checkpoint. Progress
//! (tree size verified and the frontier's hashes) is saved to the state file
//! every few seconds so that a later run goes on from there.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use tlog::{BundleId, Hash, NodeId, TILE_WIDTH, TileId, VerifierKey};

use crate::cli::KeyArgs;
use crate::context::Ctx;
use crate::report::{Failure, Report, unix_now};
use crate::sources::{Fetched, Log};
use crate::state::{StateFile, read_state, state_error, write_atomic};
use crate::tree::TreeBuilder;
use crate::trust::{
    Trust, VerifiedCheckpoint, current_checkpoint, describe_checkpoint, load_trust, open_verified,
};

const CMD: &str = "audit";
const STATE_FORMAT: &str = "stateanchor-verify/audit-state/v1";
/// How often progress is saved.
const SAVE_EVERY: Duration = Duration::from_secs(5);

/// The audit state file (see `spec/verifier.md`).
#[derive(Serialize, Deserialize)]
struct AuditState {
    format: String,
    log: String,
    verifier_key: String,
    /// The checkpoint being audited (note text).
    checkpoint: String,
    /// Earlier checkpoints whose root must still be met on the way (note texts).
    #[serde(default)]
    pending: Vec<String>,
    /// Leaves verified so far.
    verified_size: u64,
    /// Whether `checkpoint` was fully verified.
    complete: bool,
    /// The right edge of the tree of `verified_size` leaves.
    frontier: Vec<EdgeHash>,
    updated_unix: u64,
}

#[derive(Serialize, Deserialize)]
struct EdgeHash {
    level: u8,
    index: u64,
    hash: String,
}

/// What a failure needs to carry its evidence.
struct Ev<'a> {
    log_text: &'a str,
    key: &'a VerifierKey,
    cp: &'a VerifiedCheckpoint,
}

impl Ev<'_> {
    fn fail(&self, check: &'static str, message: String) -> Failure {
        Failure::new(CMD, check, message)
            .log(self.log_text, self.key)
            .checkpoint("audited", &self.cp.source, &self.cp.bytes)
    }
}

/// Leaf hashes of one entry bundle, checked against its level-0 tile.
struct Chunk {
    leaves: Vec<Hash>,
}

/// Reads bundle `index` and its level-0 tile, hashes and compares.
fn check_bundle(log: &Log, index: u64, n: u64, ev: &Ev<'_>) -> anyhow::Result<Chunk> {
    let (Some(bid), Some(tid)) = (BundleId::for_size(index, n), TileId::for_size(0, index, n))
    else {
        bail!("unreachable: bundle {index} is beyond tree size {n}");
    };
    let Some(bundle) = log.bundle(bid)? else {
        return Err(ev
            .fail(
                "missing",
                format!(
                    "the log does not serve entry bundle {}, which its checkpoint commits to",
                    log.locate(&bid.path())
                ),
            )
            .into());
    };
    let entries = bundle.entries(bid).map_err(|e| {
        ev.fail(
            "bundle",
            format!("entry bundle {} is malformed: {e}", bundle.source),
        )
        .data("entry bundle", &bundle.source, &bundle.bytes)
    })?;
    let (tile_bytes, tile_src) = match log.tile(tid)? {
        Fetched::Found(b, s) => (b, s),
        Fetched::NotFound(s) => {
            return Err(ev
                .fail(
                    "missing",
                    format!("the log does not serve tile {s}, which its checkpoint commits to"),
                )
                .into());
        }
    };
    let tile = tlog::parse_tile(tid, &tile_bytes).map_err(|e| {
        ev.fail("tile", format!("tile {tile_src} is malformed: {e}"))
            .data("tile", &tile_src, &tile_bytes)
    })?;
    let mut leaves = Vec::with_capacity(entries.len());
    for (j, (entry, want)) in entries.iter().zip(&tile).enumerate() {
        let h = tlog::leaf_hash(entry);
        if h != *want {
            let leaf = bid.first_entry() + j as u64;
            return Err(ev
                .fail(
                    "tile",
                    format!(
                        "entry {leaf} in {} hashes to {h}, but tile {tile_src} holds {want} for it (the entry or the tile was altered)",
                        bundle.source
                    ),
                )
                .data("entry bundle", &bundle.source, &bundle.bytes)
                .data("tile", &tile_src, &tile_bytes)
                .data("entry", format!("entry {leaf}"), entry)
                .detail("leaf_index", leaf)
                .detail("computed_leaf_hash", h.to_base64())
                .detail("tile_leaf_hash", want.to_base64())
                .into());
        }
        leaves.push(h);
    }
    Ok(Chunk { leaves })
}

/// A tile loaded for comparison: its ID, hashes, bytes and source.
type LoadedTile = (TileId, Vec<Hash>, Vec<u8>, String);

/// The tile of each level above 0 being compared, loaded when first needed.
struct UpperTiles<'a> {
    log: &'a Log,
    n: u64,
    loaded: Vec<Option<LoadedTile>>,
    checked: u64,
}

impl UpperTiles<'_> {
    fn check(&mut self, level: u8, index: u64, h: Hash, ev: &Ev<'_>) -> anyhow::Result<()> {
        let tile_index = index / TILE_WIDTH;
        let slot = usize::from(level);
        if self.loaded.len() <= slot {
            self.loaded.resize_with(slot + 1, || None);
        }
        if self.loaded[slot]
            .as_ref()
            .is_none_or(|l| l.0.index != tile_index)
        {
            let id = TileId::for_size(level, tile_index, self.n).ok_or_else(|| {
                anyhow!(
                    "unreachable: tile {level}/{tile_index} beyond tree size {}",
                    self.n
                )
            })?;
            let (bytes, src) = match self.log.tile(id)? {
                Fetched::Found(b, s) => (b, s),
                Fetched::NotFound(s) => {
                    return Err(ev
                        .fail(
                            "missing",
                            format!(
                                "the log does not serve tile {s}, which its checkpoint commits to"
                            ),
                        )
                        .into());
                }
            };
            let hashes = tlog::parse_tile(id, &bytes).map_err(|e| {
                ev.fail("tile", format!("tile {src} is malformed: {e}"))
                    .data("tile", &src, &bytes)
            })?;
            self.checked += 1;
            self.loaded[slot] = Some((id, hashes, bytes, src));
        }
        let Some((_, hashes, bytes, src)) = &self.loaded[slot] else {
            bail!("unreachable: tile loaded above");
        };
        let pos = usize::try_from(index % TILE_WIDTH)?;
        if hashes.get(pos) != Some(&h) {
            let held = hashes
                .get(pos)
                .map_or_else(|| "nothing".to_owned(), Hash::to_base64);
            return Err(ev
                .fail(
                    "tile",
                    format!(
                        "tile {src} holds {held} at position {pos}, but the entries give {h} for tree level {} node {index}",
                        u32::from(level) * 8
                    ),
                )
                .data("tile", src, bytes)
                .detail("tree_level", u32::from(level) * 8)
                .detail("node_index", index)
                .detail("computed_hash", h.to_base64())
                .into());
        }
        Ok(())
    }
}

fn save_state(
    path: &Path,
    log_text: &str,
    key: &VerifierKey,
    cp: &VerifiedCheckpoint,
    pending: &VecDeque<VerifiedCheckpoint>,
    builder: &TreeBuilder,
) -> anyhow::Result<()> {
    let edge = builder
        .saved_edge()
        .context("saving the tree's right edge")?;
    let state = AuditState {
        format: STATE_FORMAT.into(),
        log: log_text.into(),
        verifier_key: key.to_text(),
        checkpoint: String::from_utf8_lossy(&cp.bytes).into_owned(),
        pending: pending
            .iter()
            .map(|p| String::from_utf8_lossy(&p.bytes).into_owned())
            .collect(),
        verified_size: builder.size(),
        complete: builder.size() == cp.tree_size(),
        frontier: edge
            .iter()
            .map(|(id, h)| EdgeHash {
                level: id.level,
                index: id.index,
                hash: h.to_base64(),
            })
            .collect(),
        updated_unix: unix_now(),
    };
    let mut body = serde_json::to_vec_pretty(&state)?;
    body.push(b'\n');
    write_atomic(path, &body).context("saving the audit state")
}

/// A state file read back: where to go on from.
struct Resume {
    builder: TreeBuilder,
    checkpoint: VerifiedCheckpoint,
    pending: Vec<VerifiedCheckpoint>,
}

impl StateFile for AuditState {
    const FORMAT: &'static str = STATE_FORMAT;
    const HINT: &'static str = "the state file is not usable; move it away to start the audit over";
    fn format(&self) -> &str {
        &self.format
    }
    fn verifier_key(&self) -> &str {
        &self.verifier_key
    }
}

fn load_state(path: &Path, trust: &Trust) -> anyhow::Result<Option<Resume>> {
    let Some(st) = read_state::<AuditState>(path, trust.key()?)? else {
        return Ok(None);
    };
    let corrupt = |what: String| state_error::<AuditState>(path, what);
    let open = |text: &str| {
        open_verified(
            CMD,
            "saved",
            text.as_bytes().to_vec(),
            path.display().to_string(),
            trust,
            None,
        )
        .map_err(|e| corrupt(format!("its checkpoint does not verify: {e:#}")))
    };
    let checkpoint = open(&st.checkpoint)?;
    let pending = st
        .pending
        .iter()
        .map(|t| open(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if st.verified_size > checkpoint.tree_size() {
        return Err(corrupt("verified size is beyond its checkpoint".into()));
    }
    let edge = st
        .frontier
        .iter()
        .map(|e| Ok((NodeId::new(e.level, e.index), Hash::from_base64(&e.hash)?)))
        .collect::<Result<Vec<_>, tlog::Error>>()
        .map_err(|e| corrupt(format!("bad frontier: {e}")))?;
    let builder = TreeBuilder::restore(st.verified_size, &edge)
        .map_err(|e| corrupt(format!("bad frontier: {e}")))?;
    if st.verified_size == checkpoint.tree_size() && builder.root() != checkpoint.root_hash() {
        return Err(corrupt(
            "its frontier does not give its checkpoint's root".into(),
        ));
    }
    Ok(Some(Resume {
        builder,
        checkpoint,
        pending,
    }))
}

/// Runs `audit`.
///
/// # Errors
/// A [`Failure`] for anything the log got wrong; network and I/O errors.
pub fn run(
    ctx: &Ctx,
    key: &KeyArgs,
    log_text: &str,
    state_path: Option<&Path>,
    jobs: Option<usize>,
    no_progress: bool,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let trust = load_trust(key, ctx.policy.as_deref())?;
    let key = trust.key()?.clone();
    let log = Log::parse(log_text, &ctx.http)?;
    // Step 1: saved progress, if any (written for this key).
    let resume = match state_path {
        // Saved checkpoints were verified (witnesses included) when saved;
        // they are checked again with the log's key only.
        Some(p) => load_state(p, &trust.key_only()?)?,
        None => None,
    };
    // Step 2: the checkpoint to audit, verified with the user's key; going on
    // from saved progress, the log must not have rolled back or forked.
    let cp = current_checkpoint(CMD, &log, log_text, &trust)?;
    let n = cp.tree_size();
    let ev = Ev {
        log_text,
        key: &key,
        cp: &cp,
    };
    let mut pending: VecDeque<VerifiedCheckpoint> = VecDeque::new();
    let (mut builder, resumed_from) = match resume {
        None => (TreeBuilder::new(), None),
        Some(r) => {
            let saved = r.checkpoint;
            let mut checks = r.pending;
            checks.push(saved.clone());
            for s in &checks {
                // Growth is proven on the way, when the entries meet the
                // saved root; a rollback or a fork at the same size shows
                // from the two checkpoints alone.
                let failed = if tlog::consistency_proof_needed(s.tree_size(), n) {
                    None
                } else {
                    tlog::verify_extends(&s.signed, &cp.signed, &[]).err()
                };
                if let Some(e) = failed {
                    let (check, what) = match e {
                        tlog::Error::Rollback { old_size, .. } => (
                            "rollback",
                            format!(
                                "rollback: the log's checkpoint has tree size {n}, smaller than the saved one's {old_size}"
                            ),
                        ),
                        _ => (
                            "fork",
                            format!(
                                "fork: the log's checkpoint and the saved one both have tree size {n} but different root hashes"
                            ),
                        ),
                    };
                    return Err(Failure::new(CMD, check, what)
                        .log(log_text, &key)
                        .checkpoint("saved", &s.source, &s.bytes)
                        .checkpoint("log's current", &cp.source, &cp.bytes)
                        .into());
                }
                if s.tree_size() > r.builder.size() {
                    pending.push_back(s.clone());
                }
            }
            let from = r.builder.size();
            (r.builder, Some(from))
        }
    };
    pending
        .make_contiguous()
        .sort_by_key(VerifiedCheckpoint::tree_size);
    let start_size = builder.size();
    // Step 3: every entry bundle and tile, in order.
    let first_bundle = start_size / TILE_WIDTH;
    let skip_first = usize::try_from(start_size % TILE_WIDTH)?;
    let nbundles = n.div_ceil(TILE_WIDTH);
    let workers = jobs
        .unwrap_or(if log.is_http() { 8 } else { 1 })
        .clamp(1, 64);
    let progress = if no_progress
        || ctx.output.json
        || !std::io::IsTerminal::is_terminal(&std::io::stderr())
    {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::with_draw_target(Some(n - start_size), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{wide_bar} {human_pos}/{human_len} entries ({rate} entries/s, eta {eta})",
        ) {
            pb.set_style(style.with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}", s.per_sec());
                },
            ));
        }
        pb
    };
    let mut upper = UpperTiles {
        log: &log,
        n,
        loaded: Vec::new(),
        checked: 0,
    };
    let stop = AtomicBool::new(false);
    let mut last_save = Instant::now();
    let result: anyhow::Result<()> = std::thread::scope(|s| {
        let mut rxs: Vec<Receiver<anyhow::Result<Chunk>>> = Vec::with_capacity(workers);
        for k in 0..workers as u64 {
            let (tx, rx) = sync_channel(16);
            rxs.push(rx);
            let (log, ev, stop) = (&log, &ev, &stop);
            s.spawn(move || {
                let mut i = first_bundle + k;
                while i < nbundles && !stop.load(Ordering::Relaxed) {
                    let msg = check_bundle(log, i, n, ev);
                    let failed = msg.is_err();
                    if tx.send(msg).is_err() || failed {
                        break;
                    }
                    i += workers as u64;
                }
            });
        }
        let res = (|| {
            for i in first_bundle..nbundles {
                let rx = &rxs[usize::try_from((i - first_bundle) % workers as u64)?];
                let chunk = rx
                    .recv()
                    .map_err(|_| anyhow!("a reader thread stopped unexpectedly"))??;
                let skip = if i == first_bundle { skip_first } else { 0 };
                let mut err = None;
                for h in chunk.leaves.iter().skip(skip) {
                    builder.append(*h, |level, index, hash| {
                        if level > 0 && err.is_none() {
                            err = upper.check(level, index, hash, &ev).err();
                        }
                    });
                    if let Some(p) = pending.front()
                        && p.tree_size() == builder.size()
                    {
                        if p.root_hash() != builder.root() {
                            return Err(ev
                                .fail(
                                    "fork",
                                    format!(
                                        "fork: the saved checkpoint of size {} has root {}, but the log's entries give {}",
                                        p.tree_size(),
                                        p.root_hash(),
                                        builder.root()
                                    ),
                                )
                                .checkpoint("saved", &p.source, &p.bytes)
                                .into());
                        }
                        pending.pop_front();
                    }
                }
                if let Some(e) = err {
                    return Err(e);
                }
                progress.inc(chunk.leaves.len().saturating_sub(skip) as u64);
                if let Some(path) = state_path
                    && last_save.elapsed() >= SAVE_EVERY
                {
                    save_state(path, log_text, &key, &cp, &pending, &builder)?;
                    last_save = Instant::now();
                }
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        drop(rxs);
        res
    });
    progress.finish_and_clear();
    if let Err(e) = result {
        // Keep what was verified before the failure or error.
        if let Some(path) = state_path
            && builder.size() > start_size
            && e.downcast_ref::<Failure>().is_none()
        {
            let _ = save_state(path, log_text, &key, &cp, &pending, &builder);
        }
        return Err(e);
    }
    // Step 4: the root of everything read must be the checkpoint's.
    if builder.size() != n || builder.root() != cp.root_hash() {
        return Err(ev
            .fail(
                "root",
                format!(
                    "the log's entries give root hash {} for tree size {}, but its checkpoint says {} for {n}",
                    builder.root(),
                    builder.size(),
                    cp.root_hash()
                ),
            )
            .detail("computed_root_hash", builder.root().to_base64())
            .into());
    }
    if let Some(path) = state_path {
        save_state(path, log_text, &key, &cp, &pending, &builder)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let verified_now = n - start_size;
    let rate = if elapsed > 0.0 {
        verified_now as f64 / elapsed
    } else {
        0.0
    };
    let level0_tiles = nbundles - first_bundle;
    let tiles = level0_tiles + upper.checked;
    let mut text = format!(
        "verified: every entry, tile and the root of the log's checkpoint (tree size {n})\n"
    );
    describe_checkpoint(&mut text, "checkpoint (signature verified)", &cp);
    if let Some(from) = resumed_from {
        let _ = writeln!(text, "resumed from:   tree size {from}");
    }
    let _ = writeln!(text, "entries hashed: {verified_now}");
    let _ = writeln!(text, "entry bundles:  {level0_tiles}");
    let _ = writeln!(text, "tiles checked:  {tiles}");
    let _ = writeln!(text, "time:           {elapsed:.2} s ({rate:.0} entries/s)");
    let mut json = Map::new();
    json.insert("checkpoint".into(), cp.json());
    json.insert("resumed_from".into(), json!(resumed_from));
    json.insert("entries_verified".into(), json!(verified_now));
    json.insert("entry_bundles".into(), json!(level0_tiles));
    json.insert("tiles_checked".into(), json!(tiles));
    json.insert("seconds".into(), json!(elapsed));
    json.insert("entries_per_second".into(), json!(rate));
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}
