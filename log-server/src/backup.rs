//! Backups of the RocksDB mode, the proof that a backup is the log, restore,
//! and the check that a log never starts on a tree shorter than one it has
//! signed. The operator's guide is `docs/operations.md`.
//!
//! A backup is a directory:
//! - `db/`: a RocksDB checkpoint of the store (consistent: every batch
//!   committed before it started, none after);
//! - `log-signing-key`, `admin-api-key`: the data directory's key files
//!   (mode 0600: a backup holds the log's private key);
//! - `manifest.json`: [`Manifest`], with the latest checkpoint the log had
//!   signed when the backup started, and the size and SHA-256 of every file.
//!
//! The data directory's `latest-checkpoint` file holds the latest checkpoint
//! the log signed, written after each one is stored (outside RocksDB, so a
//! restored older database does not carry it): [`check_rollback`] compares
//! the store with it at every start and restore.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tlog::{Frontier, Hash, SignerKey, VerifierKey, open_checkpoint};

use crate::rollback::{check_against_signed, open_signed, rollback_notice};
use crate::storage::rocksdb::{FORMAT_VERSION, RocksDb};
use crate::storage::{LogStore, write_file_atomically};
use crate::{Error, Result};

/// The RocksDB store's directory in a data directory and in a backup.
pub const DB_DIR: &str = "db";
/// File name of the log's signing key in the data directory.
pub const SIGNING_KEY_FILE: &str = "log-signing-key";
/// File name of the first admin API key in the data directory.
pub const ADMIN_KEY_FILE: &str = "admin-api-key";
/// File name, in the data directory, of the latest checkpoint the log signed.
pub const LATEST_CHECKPOINT_FILE: &str = "latest-checkpoint";
/// File name of a backup's manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The version of the backup layout this release writes and reads.
pub const BACKUP_VERSION: u32 = 1;
/// Entries read per page while a backup's tree is recomputed.
const PAGE: u64 = 4_096;
/// Largest manifest read (a store of 1M table files stays far below).
const MAX_MANIFEST: u64 = 256 << 20;

/// A backup's `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`BACKUP_VERSION`].
    pub backup_version: u32,
    /// The store's data format ([`FORMAT_VERSION`] of the release that made it).
    pub data_format: u32,
    /// When the backup was made (RFC 3339, UTC).
    pub created: String,
    /// The log's origin.
    pub origin: String,
    /// The log's verifier key (text form).
    pub verifier_key: String,
    /// Tree size of [`Manifest::checkpoint`].
    pub tree_size: u64,
    /// Root hash of [`Manifest::checkpoint`] (base64).
    pub root_hash: String,
    /// The latest checkpoint the log had signed when the backup started
    /// (the signed note): the backup's tree extends it.
    pub checkpoint: String,
    /// Every file of the backup but the manifest, sorted by path.
    pub files: Vec<FileDigest>,
}

/// A file of a backup: its path (relative, `/`-separated), size and SHA-256.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// Path relative to the backup directory.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// What a verified backup holds.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The manifest, checked.
    pub manifest: Manifest,
    /// Entries in the backup's store (at least the manifest's tree size).
    pub stored_size: u64,
    /// The latest checkpoint stored in the backup (its size), checked too.
    pub latest_checkpoint: u64,
}

fn io(context: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::storage(context, e)
}

/// Reads the log's key from a data directory or a backup.
fn read_signer(dir: &Path) -> Result<SignerKey> {
    let path = dir.join(SIGNING_KEY_FILE);
    let text = fs::read_to_string(&path).map_err(io(format_args!("reading {}", path.display())))?;
    SignerKey::from_text(text.trim())
        .map_err(|e| Error::Backup(format!("{} is not a log's key: {e}", path.display())))
}

/// Makes a backup of `store` (the store of `data_dir`) in `to`, which must
/// not exist; returns its manifest. Appends may go on meanwhile. On failure
/// `to` is removed again.
///
/// # Errors
/// `to` exists or its parent does not, the store has no checkpoint yet, and
/// storage or file system failures.
pub fn create(store: &RocksDb, data_dir: &Path, to: &Path, now_ms: i64) -> Result<Manifest> {
    if to.exists() {
        return Err(Error::Backup(format!(
            "{} exists; a backup goes to a new directory",
            to.display()
        )));
    }
    // The checkpoint is read before the copy starts, so the copy holds its tree.
    let (_, note) = store.latest_checkpoint()?.ok_or_else(|| {
        Error::Backup("the log has signed no checkpoint yet; start it once first".into())
    })?;
    let signer = read_signer(data_dir)?;
    let vkey = signer.verifier_key();
    let cp = open_checkpoint(&note, &vkey)
        .map_err(|e| {
            Error::Corrupt(format!(
                "the latest checkpoint does not verify with the log's key: {e}"
            ))
        })?
        .checkpoint;
    fs::create_dir(to).map_err(io(format_args!("creating {}", to.display())))?;
    let made = (|| {
        store.create_checkpoint(&to.join(DB_DIR))?;
        for name in [SIGNING_KEY_FILE, ADMIN_KEY_FILE] {
            let from = data_dir.join(name);
            if from.exists() {
                // fs::copy keeps the mode (0600).
                fs::copy(&from, to.join(name))
                    .map_err(io(format_args!("copying {}", from.display())))?;
            }
        }
        let manifest = Manifest {
            backup_version: BACKUP_VERSION,
            data_format: FORMAT_VERSION,
            created: compliance::time::format_time(now_ms),
            origin: cp.origin.clone(),
            verifier_key: vkey.to_text(),
            tree_size: cp.tree_size,
            root_hash: cp.root_hash.to_base64(),
            checkpoint: String::from_utf8(note.clone())
                .map_err(|_| Error::Corrupt("the latest checkpoint is not UTF-8".into()))?,
            files: digests(to)?,
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::storage("serializing the manifest", e))?;
        write_file_atomically(&to.join(MANIFEST_FILE), &json)?;
        Ok(manifest)
    })();
    if made.is_err() {
        let _ = fs::remove_dir_all(to);
    }
    made
}

/// The size and SHA-256 of every file under `dir` but the manifest.
fn digests(dir: &Path) -> Result<Vec<FileDigest>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        for e in fs::read_dir(&abs).map_err(io(format_args!("listing {}", abs.display())))? {
            let e = e.map_err(io(format_args!("listing {}", abs.display())))?;
            let path = rel.join(e.file_name());
            let ty = e
                .file_type()
                .map_err(io(format_args!("reading {}", path.display())))?;
            if ty.is_dir() {
                stack.push(path);
            } else if path != Path::new(MANIFEST_FILE) {
                let bytes = fs::read(dir.join(&path))
                    .map_err(io(format_args!("reading {}", path.display())))?;
                out.push(FileDigest {
                    path: path.to_string_lossy().into_owned(),
                    size: bytes.len() as u64,
                    sha256: compliance::record::sha256_hex(&bytes),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Proves a backup without changing it: opens its store read-only, and
/// 1. reads the manifest;
/// 2. checks the size and SHA-256 of every file it lists;
/// 3. takes the log's key from the backup, which must be `trusted` if given
///    (the key published with the log: a backup cannot vouch for itself);
/// 4. verifies the manifest's checkpoint with it;
/// 5. recomputes the tree from every stored entry: its root at the
///    checkpoint's size must be the checkpoint's, and the stored hashes and
///    the latest stored checkpoint must agree with the entries.
///
/// # Errors
/// [`Error::Backup`] saying which step failed, or a storage failure.
pub fn verify(dir: &Path, trusted: Option<&VerifierKey>) -> Result<Verified> {
    let bad = |m: String| Error::Backup(format!("the backup in {} is refused: {m}", dir.display()));
    // 1. The manifest.
    let path = dir.join(MANIFEST_FILE);
    let len = fs::metadata(&path)
        .map_err(|e| bad(format!("{MANIFEST_FILE} cannot be read: {e}")))?
        .len();
    if len > MAX_MANIFEST {
        return Err(bad(format!(
            "{MANIFEST_FILE} is larger than {MAX_MANIFEST} bytes"
        )));
    }
    let bytes = fs::read(&path).map_err(io(format_args!("reading {}", path.display())))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("{MANIFEST_FILE} is not a backup manifest: {e}")))?;
    if manifest.backup_version != BACKUP_VERSION {
        return Err(bad(format!(
            "backup version {} (this release reads {BACKUP_VERSION})",
            manifest.backup_version
        )));
    }
    if manifest.data_format > FORMAT_VERSION {
        return Err(bad(format!(
            "its data format is {}, of a later release (this release reads 1 to {FORMAT_VERSION})",
            manifest.data_format
        )));
    }
    // 2. The files.
    for f in &manifest.files {
        let rel = Path::new(&f.path);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad(format!("the manifest names the path {:?}", f.path)));
        }
        let bytes = fs::read(dir.join(rel)).map_err(|e| {
            bad(if e.kind() == std::io::ErrorKind::NotFound {
                format!("{} is missing", f.path)
            } else {
                format!("{} cannot be read: {e}", f.path)
            })
        })?;
        let sha256 = compliance::record::sha256_hex(&bytes);
        if bytes.len() as u64 != f.size || sha256 != f.sha256 {
            return Err(bad(format!(
                "{} has changed since the backup was made (SHA-256 {sha256}, {} bytes; the manifest says {}, {} bytes)",
                f.path,
                bytes.len(),
                f.sha256,
                f.size
            )));
        }
    }
    // 3. The key.
    let vkey = read_signer(dir)?.verifier_key();
    if vkey.to_text() != manifest.verifier_key {
        return Err(bad(format!(
            "its key file is not the key its manifest names ({})",
            manifest.verifier_key
        )));
    }
    if let Some(t) = trusted
        && t.to_text() != vkey.to_text()
    {
        return Err(bad(format!(
            "it is the backup of the log with key {}, not {}",
            vkey.to_text(),
            t.to_text()
        )));
    }
    // 4. The checkpoint.
    let cp = open_checkpoint(manifest.checkpoint.as_bytes(), &vkey)
        .map_err(|e| {
            bad(format!(
                "its checkpoint does not verify with the log's key: {e}"
            ))
        })?
        .checkpoint;
    if cp.tree_size != manifest.tree_size || cp.root_hash.to_base64() != manifest.root_hash {
        return Err(bad(format!(
            "the manifest's tree_size and root_hash ({}, {}) are not its signed checkpoint's ({}, {})",
            manifest.tree_size,
            manifest.root_hash,
            cp.tree_size,
            cp.root_hash.to_base64()
        )));
    }
    // 5. The tree.
    let store = RocksDb::open_read_only(&dir.join(DB_DIR))
        .map_err(|e| bad(format!("its database does not open: {e}")))?;
    let (stored_size, latest_checkpoint) =
        prove_tree(&store, cp.tree_size, cp.root_hash, &vkey).map_err(|e| bad(e.to_string()))?;
    Ok(Verified {
        manifest,
        stored_size,
        latest_checkpoint,
    })
}

/// Recomputes the tree of `store` from its entries; checks that its root at
/// `size` is `root`, that the stored hashes give the same roots, and that
/// the latest stored checkpoint verifies and matches. Returns the store's
/// size and the latest checkpoint's.
fn prove_tree(
    store: &dyn LogStore,
    size: u64,
    root: Hash,
    vkey: &VerifierKey,
) -> Result<(u64, u64)> {
    let stored = store.tree_size()?;
    if stored < size {
        return Err(Error::Backup(format!(
            "its database holds {stored} entries, fewer than its checkpoint's {size}"
        )));
    }
    let mut frontier = Frontier::new();
    let mut root_at_size = (size == 0).then(|| frontier.root());
    let mut start = 0;
    while start < stored {
        let end = stored.min(start + PAGE);
        let entries = store.entries(start, end)?;
        if entries.len() as u64 != end - start {
            return Err(Error::Backup(format!(
                "its database lacks entries between {start} and {end}"
            )));
        }
        for e in entries {
            frontier.append(tlog::leaf_hash(&e), |_, _| {});
            if frontier.size() == size {
                root_at_size = Some(frontier.root());
            }
        }
        start = end;
    }
    if root_at_size != Some(root) {
        return Err(Error::Backup(format!(
            "the root of its entries at size {size} is not the root of its signed checkpoint"
        )));
    }
    if tlog::tree_hash(size, &store)? != root || tlog::tree_hash(stored, &store)? != frontier.root()
    {
        return Err(Error::Backup(
            "its stored tree hashes do not match its entries".into(),
        ));
    }
    let latest = match store.latest_checkpoint()? {
        None => 0,
        Some((at, note)) => {
            let cp = open_checkpoint(&note, vkey)
                .map_err(|e| {
                    Error::Backup(format!(
                        "its latest stored checkpoint does not verify with the log's key: {e}"
                    ))
                })?
                .checkpoint;
            if cp.tree_size != at || at > stored || tlog::tree_hash(at, &store)? != cp.root_hash {
                return Err(Error::Backup(format!(
                    "its tree is not consistent with its latest stored checkpoint (size {at})"
                )));
            }
            at
        }
    };
    Ok((stored, latest))
}

/// Compares `store` with the latest checkpoint the log has signed, as the
/// data directory's `latest-checkpoint` file records it, before the log
/// starts on it ([`check_against_signed`], the rule of both modes); an accepted rollback keeps the
/// file as evidence beside it. Then the file is brought up to the store's
/// latest checkpoint. Returns the notice of an accepted rollback.
///
/// # Errors
/// [`Error::Rollback`], [`Error::Backup`] (a file not signed by the log's
/// key, another tree), storage failures.
pub fn check_rollback(
    data_dir: &Path,
    store: &dyn LogStore,
    vkey: &VerifierKey,
    accept_rollback: bool,
) -> Result<Option<String>> {
    let file = data_dir.join(LATEST_CHECKPOINT_FILE);
    let stored = store.tree_size()?;
    let mut notice = None;
    let mut recorded = 0;
    if file.exists() {
        let note = fs::read(&file).map_err(io(format_args!("reading {}", file.display())))?;
        let source = file.display().to_string();
        let cp = open_signed(&note, vkey, &source)?;
        let rolled_back = check_against_signed(
            stored,
            &cp,
            &source,
            &mut |size| Ok(tlog::tree_hash(size, &store)?),
            accept_rollback,
        )?;
        if rolled_back {
            let evidence = data_dir.join(format!(
                "{LATEST_CHECKPOINT_FILE}.rolled-back-from-{}",
                cp.tree_size
            ));
            fs::rename(&file, &evidence)
                .map_err(io(format_args!("moving {} aside", file.display())))?;
            notice = Some(rollback_notice(
                stored,
                cp.tree_size,
                &evidence.display().to_string(),
            ));
        } else {
            recorded = cp.tree_size;
        }
    }
    if let Some((size, note)) = store.latest_checkpoint()?
        && (size > recorded || !file.exists())
    {
        write_file_atomically(&file, &note)?;
    }
    Ok(notice)
}

/// A finished restore.
#[derive(Debug)]
pub struct Restored {
    /// The backup, as verified.
    pub verified: Verified,
    /// The notice of an accepted rollback, if there was one.
    pub rollback_notice: Option<String>,
}

/// Restores the backup in `from` into `data_dir`, which must hold no
/// database (its key, if any, must be the backup's): verifies the backup
/// ([`verify`]), copies its store, proves the copy again, and checks it
/// against the checkpoint the data directory records ([`check_rollback`]).
/// Nothing is changed when it fails.
///
/// # Errors
/// As [`verify`] and [`check_rollback`]; a data directory with a database
/// or another log's key; file system failures.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    accept_rollback: bool,
    trusted: Option<&VerifierKey>,
) -> Result<Restored> {
    let verified = verify(from, trusted)?;
    let db = data_dir.join(DB_DIR);
    if db.exists() {
        return Err(Error::Backup(format!(
            "{} exists; restore into a data directory without a database (move it aside first)",
            db.display()
        )));
    }
    let signer = read_signer(from)?;
    let vkey = signer.verifier_key();
    if data_dir.join(SIGNING_KEY_FILE).exists() {
        let own = read_signer(data_dir)?.verifier_key();
        if own.to_text() != vkey.to_text() {
            return Err(Error::Backup(format!(
                "{} holds the key of another log ({}); the backup is of {}",
                data_dir.display(),
                own.to_text(),
                vkey.to_text()
            )));
        }
    }
    fs::create_dir_all(data_dir).map_err(io(format_args!("creating {}", data_dir.display())))?;
    let tmp = data_dir.join("db.restoring");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(format_args!("removing {}", tmp.display())))?;
    }
    let cp = open_checkpoint(verified.manifest.checkpoint.as_bytes(), &vkey)?.checkpoint;
    let copied = (|| {
        copy_dir(&from.join(DB_DIR), &tmp)?;
        let store = RocksDb::open(&tmp)?;
        prove_tree(&store, cp.tree_size, cp.root_hash, &vkey)?;
        check_rollback(data_dir, &store, &vkey, accept_rollback)
    })();
    let rollback_notice = match copied {
        Ok(n) => n,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    fs::rename(&tmp, &db).map_err(io(format_args!("moving {} into place", tmp.display())))?;
    for name in [SIGNING_KEY_FILE, ADMIN_KEY_FILE] {
        let (src, dst) = (from.join(name), data_dir.join(name));
        if src.exists() && !dst.exists() {
            fs::copy(&src, &dst).map_err(io(format_args!("copying {}", src.display())))?;
        }
    }
    fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format_args!("syncing {}", data_dir.display())))?;
    Ok(Restored {
        verified,
        rollback_notice,
    })
}

/// Copies the files of `from` (no subdirectories: a RocksDB directory) into
/// the new directory `to`, fsync'd.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir(to).map_err(io(format_args!("creating {}", to.display())))?;
    for e in fs::read_dir(from).map_err(io(format_args!("listing {}", from.display())))? {
        let e = e.map_err(io(format_args!("listing {}", from.display())))?;
        let dst = to.join(e.file_name());
        fs::copy(e.path(), &dst).map_err(io(format_args!("copying {}", e.path().display())))?;
        fs::File::open(&dst)
            .and_then(|f| f.sync_all())
            .map_err(io(format_args!("syncing {}", dst.display())))?;
    }
    Ok(())
}

/// Online backups of a running server (`POST /v1/admin/backup`): only
/// into directories under `root`.
pub struct Backups {
    /// The running log's store.
    pub store: Arc<RocksDb>,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// The directory backups may be made in (created at start).
    pub root: PathBuf,
}

impl Backups {
    /// Makes a backup in `to`: an absolute path under the backup root, whose
    /// parent exists and which does not.
    ///
    /// # Errors
    /// A target outside the root, as [`create`].
    pub fn create(&self, to: &Path, now_ms: i64) -> Result<Manifest> {
        let outside = || {
            Error::Backup(format!(
                "{} is not a new directory under the backup root {} (serve --backup-root)",
                to.display(),
                self.root.display()
            ))
        };
        let (Some(parent), Some(name)) = (to.parent(), to.file_name()) else {
            return Err(outside());
        };
        if !to.is_absolute() || name == ".." {
            return Err(outside());
        }
        let root = self.root.canonicalize().map_err(|_| outside())?;
        let parent = parent.canonicalize().map_err(|_| outside())?;
        if !parent.starts_with(&root) {
            return Err(outside());
        }
        create(&self.store, &self.data_dir, &parent.join(name), now_ms)
    }
}
