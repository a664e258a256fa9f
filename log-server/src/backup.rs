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
//! [`create`] makes the checkpoint in the data directory's [`STAGING_DIR`]
//! and moves its files into the backup; an incremental backup (`--base`)
//! hard-links the table and blob files an earlier backup holds with the
//! same bytes instead of writing them. Every backup holds all its files.
//!
//! The data directory's `latest-checkpoint` file holds the latest checkpoint
//! the log signed, written after each one is stored (outside RocksDB, so a
//! restored older database does not carry it): [`check_rollback`] compares
//! the store with it at every start and restore.

use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tlog::{Frontier, Hash, SignerKey, VerifierKey, open_checkpoint};

use crate::rollback::{check_against_signed, open_signed, rollback_notice};
use crate::storage::rocksdb::{FORMAT_VERSION, RocksDb};
use crate::storage::{LogStore, write_file_atomically};
use crate::{Error, Result, error_chain};

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
/// The latest backup layout this release writes and reads: version 2 is
/// version 1 plus the manifest's `base` (an incremental backup, `backup
/// --base`). A backup without a base is still written as version 1, which
/// every release reads; releases before version 2 refuse an incremental
/// backup's manifest, naming its version.
pub const BACKUP_VERSION: u32 = 2;
/// The directory, in the data directory, where a backup's RocksDB
/// checkpoint is made (hard links on the store's file system) before its
/// files go to the backup; removed when the backup ends.
pub const STAGING_DIR: &str = "backup-staging";
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
    /// The backup this one was made from (`backup --base`), if any
    /// (backup version 2). The backup holds all of its files either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseRef>,
}

/// The base an incremental backup was made from: which backup, and what
/// was hard-linked from it (files of the same name and bytes).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseRef {
    /// The base backup's directory, as given.
    pub path: String,
    /// SHA-256 of the base's `manifest.json`, lowercase hex.
    pub manifest_sha256: String,
    /// The base's `created`.
    pub created: String,
    /// The base's tree size.
    pub tree_size: u64,
    /// Files hard-linked from the base (0 if it is on another file system).
    pub linked_files: u64,
    /// Their bytes.
    pub linked_bytes: u64,
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
/// not exist; returns its manifest. Appends may go on meanwhile.
///
/// RocksDB's checkpoint is made in the data directory's
/// [`STAGING_DIR`] (hard links on the store's file system, so it costs
/// little), and its files are then moved into `to` (renamed on the same
/// file system, copied across file systems), hashing each one. With a
/// `base` (an earlier backup of the same log, see [`Base::open`]), every
/// table or blob file the base holds with the same name and the same bytes
/// (compared, not assumed) is hard-linked from the base instead, when the
/// base is on `to`'s file system: only the rest is written.
///
/// Only one backup of a store runs at a time ([`Backups`] serializes the
/// server's; the offline CLI holds RocksDB's lock), so a staging directory
/// found at the start is a failed backup's leftover and is removed. On
/// failure `to` and the staging directory are removed again.
///
/// # Errors
/// `to` exists or its parent does not, the store has no checkpoint yet, a
/// base that is not a backup of this log or whose files changed, and
/// storage or file system failures.
pub fn create(
    store: &RocksDb,
    data_dir: &Path,
    to: &Path,
    base: Option<&Path>,
    now_ms: i64,
) -> Result<Manifest> {
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
    let checkpoint = String::from_utf8(note)
        .map_err(|_| Error::Corrupt("the latest checkpoint is not UTF-8".into()))?;
    let base = base
        .map(|b| Base::open(b, &cp.origin, &vkey, to))
        .transpose()?;
    let staging = data_dir.join(STAGING_DIR);
    remove_staging(&staging)?;
    fs::create_dir(to).map_err(io(format_args!("creating {}", to.display())))?;
    let made: Result<Manifest> = (|| {
        store.create_checkpoint(&staging)?;
        let db = to.join(DB_DIR);
        fs::create_dir(&db).map_err(io(format_args!("creating {}", db.display())))?;
        let mut names = Vec::new();
        for e in
            fs::read_dir(&staging).map_err(io(format_args!("listing {}", staging.display())))?
        {
            let e = e.map_err(io(format_args!("listing {}", staging.display())))?;
            let name = e.file_name().into_string().map_err(|n| {
                Error::Corrupt(format!("RocksDB made a file named {}", n.to_string_lossy()))
            })?;
            names.push(name);
        }
        names.sort();
        let mut files = Vec::new();
        let (mut linked_files, mut linked_bytes) = (0, 0);
        for name in names {
            let (src, dst) = (staging.join(&name), db.join(&name));
            let rel = format!("{DB_DIR}/{name}");
            if let Some(base) = &base
                && is_immutable(&name)
                && let Some(d) = base.link(&rel, &src, &dst)?
            {
                linked_files += 1;
                linked_bytes += d.size;
                files.push(d);
                continue;
            }
            let (size, sha256) = place(&src, &dst)?;
            files.push(FileDigest {
                path: rel,
                size,
                sha256,
            });
        }
        sync_dir(&db)?;
        for name in [SIGNING_KEY_FILE, ADMIN_KEY_FILE] {
            let from = data_dir.join(name);
            if from.exists() {
                let (size, sha256) = copy_hashing(&from, &to.join(name))
                    .map_err(io(format_args!("copying {}", from.display())))?;
                files.push(FileDigest {
                    path: name.to_owned(),
                    size,
                    sha256,
                });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = Manifest {
            backup_version: if base.is_some() { BACKUP_VERSION } else { 1 },
            data_format: FORMAT_VERSION,
            created: compliance::time::format_time(now_ms),
            origin: cp.origin.clone(),
            verifier_key: vkey.to_text(),
            tree_size: cp.tree_size,
            root_hash: cp.root_hash.to_base64(),
            checkpoint,
            files,
            base: base.as_ref().map(|b| BaseRef {
                path: b.dir.display().to_string(),
                manifest_sha256: b.manifest_sha256.clone(),
                created: b.manifest.created.clone(),
                tree_size: b.manifest.tree_size,
                linked_files,
                linked_bytes,
            }),
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::storage("serializing the manifest", e))?;
        write_file_atomically(&to.join(MANIFEST_FILE), &json)?;
        Ok(manifest)
    })();
    let staged = remove_staging(&staging);
    match made {
        Ok(m) => {
            // The backup is whole; the next one removes the leftover.
            if let Err(e) = staged {
                tracing::warn!("{e}");
            }
            Ok(m)
        }
        Err(e) => {
            let mut what = format!("the backup to {} failed: {}", to.display(), error_chain(&e));
            if let Err(s) = staged {
                what = format!("{what}; {s}");
            }
            Err(Error::Backup(match fs::remove_dir_all(to) {
                Ok(()) => format!("{what}; nothing was kept"),
                Err(r) => format!(
                    "{what}; {} could not be removed ({r}): remove it by hand",
                    to.display()
                ),
            }))
        }
    }
}

/// Removes a backup's staging directory (and RocksDB's `.tmp` of it).
fn remove_staging(staging: &Path) -> Result<()> {
    let mut tmp = staging.as_os_str().to_owned();
    tmp.push(".tmp");
    for dir in [staging, Path::new(&tmp)] {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| {
                Error::Backup(format!(
                    "the staging directory {} could not be removed ({e}): remove it by hand",
                    dir.display()
                ))
            })?;
        }
    }
    Ok(())
}

/// Whether RocksDB never changes a file of this name once written: table
/// (`.sst`) and blob (`.blob`) files. `MANIFEST-*`, `OPTIONS-*`, `CURRENT`
/// and the WAL (`.log`) change, and are always written.
fn is_immutable(name: &str) -> bool {
    name.ends_with(".sst") || name.ends_with(".blob")
}

/// Whether an I/O error is a rename or link across file systems.
fn crosses_devices(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::CrossesDevices
}

/// Moves the staged file `src` to `dst`: renamed on the same file system,
/// else copied (fsync'd). Returns its size and SHA-256.
fn place(src: &Path, dst: &Path) -> Result<(u64, String)> {
    let fail = |e| {
        Error::storage(
            format_args!("moving {} to {}", src.display(), dst.display()),
            e,
        )
    };
    match fs::rename(src, dst) {
        Ok(()) => hash_file(dst).map_err(fail),
        Err(e) if crosses_devices(&e) => copy_hashing(src, dst).map_err(fail),
        Err(e) => Err(fail(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format_args!("syncing {}", dir.display())))
}

/// Lowercase hex of a digest.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes read at a time while files are hashed, copied and compared.
const CHUNK: usize = 1 << 20;

/// Reads `r` to its end in chunks, calling `each` with every chunk.
fn read_chunks(
    r: &mut impl std::io::Read,
    each: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        each(&buf[..n])?;
    }
}

/// The size and SHA-256 (hex) of a file, read in chunks.
fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut size = 0;
    read_chunks(&mut fs::File::open(path)?, &mut |c| {
        h.update(c);
        size += c.len() as u64;
        Ok(())
    })?;
    Ok((size, hex(&h.finalize())))
}

/// Copies `from` to the new file `to` with its permissions (a key file
/// stays 0600), fsync'd; returns the size and SHA-256 of what it wrote.
fn copy_hashing(from: &Path, to: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Write as _;
    let mut src = fs::File::open(from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    dst.set_permissions(src.metadata()?.permissions())?;
    let mut h = Sha256::new();
    let mut size = 0;
    read_chunks(&mut src, &mut |c| {
        h.update(c);
        size += c.len() as u64;
        dst.write_all(c)
    })?;
    dst.sync_all()?;
    Ok((size, hex(&h.finalize())))
}

/// Whether files `a` and `b` hold the same bytes, and the SHA-256 of `a`
/// (read to its end either way).
fn compare_hashing(a: &Path, b: &Path) -> std::io::Result<(bool, String)> {
    use std::io::Read as _;
    let mut other = std::io::BufReader::with_capacity(CHUNK, fs::File::open(b)?);
    let mut h = Sha256::new();
    let mut same = true;
    let mut theirs = vec![0u8; CHUNK];
    read_chunks(&mut fs::File::open(a)?, &mut |c| {
        h.update(c);
        if same {
            let mine = &mut theirs[..c.len()];
            same = other.read_exact(mine).is_ok() && mine == c;
        }
        Ok(())
    })?;
    let at_end = same && other.read(&mut theirs)? == 0;
    Ok((at_end, hex(&h.finalize())))
}

/// As [`compare_hashing`], reading `a` only if `b` is the same file (the
/// store's table file and a base made on its file system share it).
fn compare_or_hash(a: &Path, b: &Path) -> std::io::Result<(bool, String)> {
    use std::os::unix::fs::MetadataExt as _;
    let (ma, mb) = (fs::metadata(a)?, fs::metadata(b)?);
    if (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
        return Ok((true, hash_file(a)?.1));
    }
    compare_hashing(a, b)
}

/// The base of an incremental backup (`backup --base`): an earlier backup
/// of the same log, whose manifest is read and checked (the log's origin
/// and key, its signed checkpoint) before anything is made. Its files are
/// checked one by one as they are linked ([`Base::link`]); the full proof
/// of a backup is [`verify`].
struct Base {
    dir: PathBuf,
    manifest: Manifest,
    manifest_sha256: String,
    files: HashMap<String, FileDigest>,
    /// Whether the base's `db/` is on the file system of the new backup.
    same_fs: bool,
}

impl Base {
    /// Reads the base backup in `dir` for a backup of the log `origin`
    /// with key `vkey` to be made in `to` (whose parent exists).
    fn open(dir: &Path, origin: &str, vkey: &VerifierKey, to: &Path) -> Result<Self> {
        let bad =
            |m: String| Error::Backup(format!("the base backup {} is refused: {m}", dir.display()));
        let (manifest, bytes) = read_manifest(dir).map_err(bad)?;
        if manifest.origin != origin || manifest.verifier_key != vkey.to_text() {
            return Err(bad(format!(
                "it is a backup of the log {} (key {}), not of this log {origin} (key {})",
                manifest.origin,
                manifest.verifier_key,
                vkey.to_text()
            )));
        }
        manifest_checkpoint(&manifest, vkey).map_err(bad)?;
        let dev = |p: &Path| {
            use std::os::unix::fs::MetadataExt as _;
            fs::metadata(p).map(|m| m.dev())
        };
        let parent = to
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let theirs =
            dev(&dir.join(DB_DIR)).map_err(|e| bad(format!("{DB_DIR} cannot be read: {e}")))?;
        let ours = dev(parent).map_err(io(format_args!("reading {}", parent.display())))?;
        let files = manifest
            .files
            .iter()
            .map(|f| (f.path.clone(), f.clone()))
            .collect();
        Ok(Base {
            dir: dir.to_owned(),
            manifest_sha256: compliance::record::sha256_hex(&bytes),
            manifest,
            files,
            same_fs: theirs == ours,
        })
    }

    /// Hard-links the base's file `rel` to `dst` if the base lists it with
    /// the size of the staged file `src` and holds the same bytes (which
    /// must also be the bytes its manifest records); returns its digest,
    /// computed from the bytes read. `None`: the base has no such file,
    /// holds other bytes (a store restored from an older backup reuses
    /// file numbers), or is on another file system; the caller writes it.
    ///
    /// # Errors
    /// [`Error::Backup`]: the base's file is missing or changed since the
    /// base was made.
    fn link(&self, rel: &str, src: &Path, dst: &Path) -> Result<Option<FileDigest>> {
        let Some(listed) = self.files.get(rel) else {
            return Ok(None);
        };
        let size = fs::metadata(src)
            .map_err(io(format_args!("reading {}", src.display())))?
            .len();
        if !self.same_fs || size != listed.size {
            return Ok(None);
        }
        let bad = |m: String| {
            Error::Backup(format!(
                "the base backup {} is refused: {m}",
                self.dir.display()
            ))
        };
        let theirs = self.dir.join(rel);
        let (same, sha256) = compare_or_hash(&theirs, src).map_err(|e| {
            bad(if e.kind() == std::io::ErrorKind::NotFound {
                format!("{rel} is missing")
            } else {
                format!("{rel} cannot be read: {e}")
            })
        })?;
        if sha256 != listed.sha256 {
            return Err(bad(format!(
                "{rel} has changed since the backup was made (SHA-256 {sha256}; the manifest says {}): verify it (backup verify), or make a backup without --base",
                listed.sha256
            )));
        }
        if !same {
            return Ok(None);
        }
        match fs::hard_link(&theirs, dst) {
            Ok(()) => Ok(Some(FileDigest {
                path: rel.to_owned(),
                size,
                sha256,
            })),
            Err(e) if crosses_devices(&e) => Ok(None),
            Err(e) => Err(Error::storage(
                format_args!("linking {} to {}", theirs.display(), dst.display()),
                e,
            )),
        }
    }
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
    let (manifest, _) = read_manifest(dir).map_err(bad)?;
    // 2. The files.
    for f in &manifest.files {
        let rel = Path::new(&f.path);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad(format!("the manifest names the path {:?}", f.path)));
        }
        let (size, sha256) = hash_file(&dir.join(rel)).map_err(|e| {
            bad(if e.kind() == std::io::ErrorKind::NotFound {
                format!("{} is missing", f.path)
            } else {
                format!("{} cannot be read: {e}", f.path)
            })
        })?;
        if size != f.size || sha256 != f.sha256 {
            return Err(bad(format!(
                "{} has changed since the backup was made (SHA-256 {sha256}, {size} bytes; the manifest says {}, {} bytes)",
                f.path, f.sha256, f.size
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
    let cp = manifest_checkpoint(&manifest, &vkey).map_err(bad)?;
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

/// Reads and parses the manifest of the backup in `dir`, of a backup
/// version and data format this release reads; returns it and its bytes.
/// The error says why, for the caller to say whose manifest it is.
fn read_manifest(dir: &Path) -> std::result::Result<(Manifest, Vec<u8>), String> {
    let path = dir.join(MANIFEST_FILE);
    let len = fs::metadata(&path)
        .map_err(|e| format!("{MANIFEST_FILE} cannot be read: {e}"))?
        .len();
    if len > MAX_MANIFEST {
        return Err(format!(
            "{MANIFEST_FILE} is larger than {MAX_MANIFEST} bytes"
        ));
    }
    let bytes = fs::read(&path).map_err(|e| format!("{MANIFEST_FILE} cannot be read: {e}"))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{MANIFEST_FILE} is not a backup manifest: {e}"))?;
    if !(1..=BACKUP_VERSION).contains(&manifest.backup_version) {
        return Err(format!(
            "backup version {} (this release reads 1 to {BACKUP_VERSION})",
            manifest.backup_version
        ));
    }
    if manifest.data_format > FORMAT_VERSION {
        return Err(format!(
            "its data format is {}, of a later release (this release reads 1 to {FORMAT_VERSION})",
            manifest.data_format
        ));
    }
    Ok((manifest, bytes))
}

/// The manifest's signed checkpoint, verified with the log's key; its
/// size and root must be the manifest's `tree_size` and `root_hash`.
fn manifest_checkpoint(
    manifest: &Manifest,
    vkey: &VerifierKey,
) -> std::result::Result<tlog::Checkpoint, String> {
    let cp = open_checkpoint(manifest.checkpoint.as_bytes(), vkey)
        .map_err(|e| format!("its checkpoint does not verify with the log's key: {e}"))?
        .checkpoint;
    if cp.tree_size != manifest.tree_size || cp.root_hash.to_base64() != manifest.root_hash {
        return Err(format!(
            "the manifest's tree_size and root_hash ({}, {}) are not its signed checkpoint's ({}, {})",
            manifest.tree_size,
            manifest.root_hash,
            cp.tree_size,
            cp.root_hash.to_base64()
        ));
    }
    Ok(cp)
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
/// into directories under `root`, from bases under it, one at a time.
pub struct Backups {
    store: Arc<RocksDb>,
    data_dir: PathBuf,
    root: PathBuf,
    /// Held while a backup is made: one at a time (they share the staging
    /// directory).
    running: Mutex<()>,
}

impl Backups {
    /// Backups of `store`, the running log's store in `data_dir`, under
    /// `root` (created at start).
    #[must_use]
    pub fn new(store: Arc<RocksDb>, data_dir: PathBuf, root: PathBuf) -> Self {
        Backups {
            store,
            data_dir,
            root,
            running: Mutex::new(()),
        }
    }

    /// Makes a backup in `to`: an absolute path under the backup root, whose
    /// parent exists and which does not; incremental from `base`, a backup
    /// under the root, if given.
    ///
    /// # Errors
    /// A target or base outside the root, as [`create`].
    pub fn create(&self, to: &Path, base: Option<&Path>, now_ms: i64) -> Result<Manifest> {
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
        let base = base
            .map(|b| {
                let bad = |m: String| {
                    Error::Backup(format!("the base backup {} is refused: {m}", b.display()))
                };
                let canonical = b
                    .canonicalize()
                    .map_err(|e| bad(format!("it cannot be read ({e})")))?;
                if !b.is_absolute() || !canonical.starts_with(&root) {
                    return Err(bad(format!(
                        "it is not under the backup root {} (serve --backup-root)",
                        self.root.display()
                    )));
                }
                Ok(canonical)
            })
            .transpose()?;
        let _running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        create(
            &self.store,
            &self.data_dir,
            &parent.join(name),
            base.as_deref(),
            now_ms,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn compare_hashing_tells_equal_files_and_hashes_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..CHUNK * 2 + 17).map(|i| (i % 251) as u8).collect();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            fs::write(&p, bytes).unwrap();
            p
        };
        let a = write("a", &big);
        let same = write("same", &big);
        let mut flipped = big.clone();
        flipped[CHUNK + 3] ^= 1;
        let flipped = write("flipped", &flipped);
        let shorter = write("shorter", &big[..big.len() - 1]);
        let want = compliance::record::sha256_hex(&big);
        assert_eq!(compare_hashing(&a, &same).unwrap(), (true, want.clone()));
        assert_eq!(compare_or_hash(&a, &a).unwrap(), (true, want.clone()));
        assert_eq!(
            compare_hashing(&a, &flipped).unwrap(),
            (false, want.clone())
        );
        assert_eq!(
            compare_hashing(&a, &shorter).unwrap(),
            (false, want.clone())
        );
        assert!(!compare_hashing(&shorter, &a).unwrap().0);
        assert_eq!(hash_file(&a).unwrap(), (big.len() as u64, want.clone()));
        let copy = dir.path().join("copy");
        assert_eq!(copy_hashing(&a, &copy).unwrap(), (big.len() as u64, want));
        assert_eq!(fs::read(&copy).unwrap(), big);
        assert!(
            copy_hashing(&a, &copy).is_err(),
            "never over an existing file"
        );
    }

    #[test]
    fn only_table_and_blob_files_are_linked() {
        for name in ["000012.sst", "000013.blob"] {
            assert!(is_immutable(name), "{name}");
        }
        for name in [
            "MANIFEST-000005",
            "OPTIONS-000007",
            "CURRENT",
            "000004.log",
            "LOCK",
        ] {
            assert!(!is_immutable(name), "{name}");
        }
    }
}
