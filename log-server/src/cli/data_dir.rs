//! The data directory's files: the log's signing key and the first admin
//! API key, each readable by its owner only.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use compliance::principal::{KeyRecord, Role};
use rand_core::OsRng;
use tlog::SignerKey;

use crate::keys::create_key;
use crate::storage::KeyStore;

pub use crate::backup::{ADMIN_KEY_FILE, SIGNING_KEY_FILE};

/// Writes `contents` to a new file readable only by its owner.
///
/// # Errors
/// If the file exists or cannot be written.
pub fn write_private_file(path: &Path, contents: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Reads a file that must be readable by its owner only (a private key).
///
/// # Errors
/// If it cannot be read, or its mode lets others read or write it.
pub fn read_private_file(path: &Path) -> Result<String> {
    let mode = fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Loads the log's signing key from the data directory, or generates one
/// named `origin` on first start. Returns the key and whether it is new.
///
/// # Errors
/// An unreadable, malformed or world-readable key file, or a different origin.
pub fn load_or_create_signing_key(
    data_dir: &Path,
    origin: Option<&str>,
) -> Result<(SignerKey, bool)> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    if path.exists() {
        let text = read_private_file(&path)?;
        let key = SignerKey::from_text(text.trim())
            .with_context(|| format!("parsing {}", path.display()))?;
        if let Some(o) = origin
            && o != key.name()
        {
            bail!(
                "the data directory holds the log with origin {:?}, not {o:?}; a log's origin never changes",
                key.name()
            );
        }
        return Ok((key, false));
    }
    let origin = origin.unwrap_or(DEFAULT_ORIGIN);
    let key = SignerKey::generate(origin, &mut OsRng)
        .with_context(|| format!("{origin:?} cannot be an origin (no spaces or '+')"))?;
    write_private_file(&path, &format!("{}\n", key.to_text()))?;
    Ok((key, true))
}

/// Origin of a log started without `--origin`.
pub const DEFAULT_ORIGIN: &str = "localhost/stateanchor-log";

/// On first start: creates the admin key and writes it to `<data-dir>/admin-api-key`.
///
/// # Errors
/// Storage and file system failures.
pub fn ensure_admin_key(store: &dyn KeyStore, data_dir: &Path) -> Result<bool> {
    let path = data_dir.join(ADMIN_KEY_FILE);
    if path.exists() {
        return Ok(false);
    }
    let (secret, _) = create_key(
        store,
        KeyRecord {
            id: String::new(),
            name: "admin (created at first start)".into(),
            roles: vec![Role::Admin],
            project: None,
            bot: false,
            created_at: String::new(),
            revoked_at: None,
        },
    )?;
    write_private_file(&path, &format!("{secret}\n"))?;
    Ok(true)
}
