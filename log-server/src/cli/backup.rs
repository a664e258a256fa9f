//! `backup`, `backup verify` and `restore`: the CLI of [`crate::backup`].
//! An online backup asks the running server (`POST /v1/admin/backup`, the
//! admin key); `--offline` opens the store itself (the server stopped).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::{AdminArgs, call_with_timeout};
use crate::backup::{self, Manifest};
use crate::storage::rocksdb::RocksDb;

/// Settings of `backup`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    cmd: Option<BackupCmd>,
    /// The new directory to write the backup to. Online, it must be under
    /// the server's backup root (`serve --backup-root`, default
    /// <data-dir>/backups) on the server's host.
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
    /// An earlier backup of this log to make an incremental one from: the
    /// table and blob files it holds with the same bytes are hard-linked
    /// from it (when it is on the file system of --to), only the rest is
    /// written. The new backup is complete: deleting the base later leaves
    /// it whole. Online, it must be under the server's backup root too.
    #[arg(long, value_name = "DIR")]
    base: Option<PathBuf>,
    /// The server is stopped: open the data directory's store directly.
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    admin: AdminArgs,
}

#[derive(clap::Subcommand)]
enum BackupCmd {
    /// Prove a backup without restoring it (read-only): every file's
    /// SHA-256, the manifest's signed checkpoint, and the tree recomputed
    /// from the backup's entries. Exit status 1 if it does not verify.
    ///
    /// Example:
    ///   stateanchor-log backup verify /var/backups/stateanchor/2025-01-31 --verifier-key "$(cat log.vkey)"
    #[command(verbatim_doc_comment)]
    Verify {
        /// The backup directory.
        dir: PathBuf,
        /// The log's verifier key as published (recommended: a backup
        /// cannot vouch for its own key).
        #[arg(long, value_name = "VKEY")]
        verifier_key: Option<String>,
    },
}

/// Settings of `restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The backup directory.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The data directory to restore into; it must hold no `db`. If it is
    /// the old data directory (its `db` moved aside), its
    /// `latest-checkpoint` is checked: a backup older than what the log has
    /// signed is refused unless --accept-rollback.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// The log's verifier key as published.
    #[arg(long, value_name = "VKEY")]
    verifier_key: Option<String>,
    /// Restore even though the log has signed a checkpoint of a larger tree
    /// than the backup holds: those entries are lost, and whoever holds
    /// such a checkpoint will see that the log cannot prove its new
    /// checkpoints consistent with it.
    #[arg(long)]
    accept_rollback: bool,
}

fn trusted_key(text: Option<&str>) -> Result<Option<tlog::VerifierKey>> {
    text.map(|t| tlog::VerifierKey::from_text(t.trim()).context("parsing --verifier-key"))
        .transpose()
}

fn print_manifest(m: &Manifest) {
    println!("origin: {}", m.origin);
    println!("tree size: {}", m.tree_size);
    println!("root hash: {}", m.root_hash);
    println!("created: {}", m.created);
    println!(
        "files: {} ({})",
        m.files.len(),
        megabytes(m.files.iter().map(|f| f.size).sum())
    );
    if let Some(b) = &m.base {
        println!(
            "base: {} (tree size {}, created {})",
            b.path, b.tree_size, b.created
        );
    }
}

/// Bytes in MB, one decimal.
fn megabytes(bytes: u64) -> String {
    // Display only: the precision of f64 is plenty.
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / 1e6;
    format!("{mb:.1} MB")
}

/// What a backup wrote and, if incremental, what it linked from its base.
fn print_made(m: &Manifest) {
    let total: u64 = m.files.iter().map(|f| f.size).sum();
    let (files, bytes) = m
        .base
        .as_ref()
        .map_or((0, 0), |b| (b.linked_files, b.linked_bytes));
    let written = m.files.len() as u64 - files;
    match &m.base {
        Some(b) => println!(
            "{files} files linked from {} ({}), {written} written ({})",
            b.path,
            megabytes(bytes),
            megabytes(total - bytes)
        ),
        None => println!("{written} files written ({})", megabytes(total)),
    }
}

/// Runs `backup`.
///
/// # Errors
/// Usage errors, and whatever the backup fails with.
pub fn run_backup(args: BackupArgs) -> Result<()> {
    if let Some(BackupCmd::Verify { dir, verifier_key }) = args.cmd {
        let trusted = trusted_key(verifier_key.as_deref())?;
        let v = backup::verify(&dir, trusted.as_ref())?;
        print_manifest(&v.manifest);
        println!("entries in the backup: {}", v.stored_size);
        println!("latest stored checkpoint: size {}", v.latest_checkpoint);
        println!(
            "verified: the backup's tree has root {} at size {}, as its signed checkpoint says",
            v.manifest.root_hash, v.manifest.tree_size
        );
        return Ok(());
    }
    let Some(to) = args.to else {
        bail!("say where the backup goes: backup --to DIR (or backup verify DIR)");
    };
    let manifest = if args.offline {
        let store =
            RocksDb::open(&args.admin.data_dir.join(backup::DB_DIR)).with_context(|| {
                format!(
                    "opening the store in {} (if the server is running, leave out --offline)",
                    args.admin.data_dir.display()
                )
            })?;
        backup::create(
            &store,
            &args.admin.data_dir,
            &to,
            args.base.as_deref(),
            crate::service::now_ms(),
        )?
    } else {
        let to = absolute(&to)?;
        let mut body = serde_json::json!({ "to": to });
        if let Some(base) = &args.base {
            body["base"] = serde_json::json!(absolute(base)?);
        }
        // A backup takes as long as its files take to copy: no deadline.
        let v = call_with_timeout(
            &args.admin,
            reqwest::Method::POST,
            "/v1/admin/backup",
            Some(body),
            None,
        )?;
        serde_json::from_value(v).context("reading the server's manifest")?
    };
    println!("backup: {}", to.display());
    print_manifest(&manifest);
    print_made(&manifest);
    Ok(())
}

/// `to` made absolute from the working directory; its parent must exist.
fn absolute(to: &Path) -> Result<PathBuf> {
    let name = to
        .file_name()
        .with_context(|| format!("{} names no directory", to.display()))?;
    let parent = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = parent
        .canonicalize()
        .with_context(|| format!("the parent of {} does not exist", to.display()))?;
    Ok(parent.join(name))
}

/// Runs `restore`.
///
/// # Errors
/// Whatever the restore fails with; nothing is changed then.
pub fn run_restore(args: &RestoreArgs) -> Result<()> {
    let trusted = trusted_key(args.verifier_key.as_deref())?;
    let r = backup::restore(
        &args.from,
        &args.data_dir,
        args.accept_rollback,
        trusted.as_ref(),
    )
    .map_err(|e| match e {
        crate::Error::Rollback { .. } => anyhow::anyhow!(e).context(
            "restore refused; if the later entries are really lost, run it again with --accept-rollback (see docs/operations.md)",
        ),
        other => other.into(),
    })?;
    if let Some(n) = &r.rollback_notice {
        eprintln!("stateanchor-log: {n}");
    }
    print_manifest(&r.verified.manifest);
    println!(
        "restored into {}: {} entries; root {} at size {} proved against the signed checkpoint",
        args.data_dir.display(),
        r.verified.stored_size,
        r.verified.manifest.root_hash,
        r.verified.manifest.tree_size
    );
    Ok(())
}
