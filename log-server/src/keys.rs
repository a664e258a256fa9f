//! The log's signing key file and the API keys of its callers.
//!
//! API keys are random 256-bit secrets shown once; the store keeps only their
//! SHA-256, mapped to a [`KeyRecord`] with the key's roles.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tlog::SignerKey;

use crate::storage::Store;

/// File name of the log's signing key in the data directory.
pub const SIGNING_KEY_FILE: &str = "log-signing-key";
/// File name of the first admin API key in the data directory.
pub const ADMIN_KEY_FILE: &str = "admin-api-key";

/// Writes `contents` to a new file readable only by its owner.
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

/// Loads the log's signing key from the data directory, or generates one
/// named `origin` on first start. Returns the key and whether it is new.
pub fn load_or_create_signing_key(
    data_dir: &Path,
    origin: Option<&str>,
) -> Result<(SignerKey, bool)> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    if path.exists() {
        let mode = fs::metadata(&path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            );
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
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

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including managing keys.
    Admin,
    /// Append entries.
    Submitter,
    /// Submit gate decisions and consumer-test signals (per project).
    Ci,
    /// File, approve and revoke exceptions (per project).
    Codeowner,
    /// Read records and compliance exports (per project).
    Auditor,
}

impl std::str::FromStr for Role {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            anyhow::anyhow!("unknown role {s:?} (admin, submitter, ci, codeowner, auditor)")
        })
    }
}

/// A stored API key (never the key itself).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public identifier of the key.
    pub id: String,
    /// Who or what holds it.
    pub name: String,
    /// What it may do.
    pub roles: Vec<Role>,
    /// The project it belongs to, for project principals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Whether the holder is a bot.
    #[serde(default)]
    pub bot: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl KeyRecord {
    /// Whether the key has `role` (admin implies every role). A project
    /// principal's roles hold only within its project: it never has the
    /// log-wide roles `admin` and `submitter`, and its `admin` implies nothing.
    pub fn has(&self, role: Role) -> bool {
        if self.project.is_some() {
            return !matches!(role, Role::Admin | Role::Submitter) && self.roles.contains(&role);
        }
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }
}

/// Current time in RFC 3339, UTC, seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn key_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A random identifier with a prefix, e.g. `key_3f9a...`.
pub fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 9];
    OsRng.fill_bytes(&mut b);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(b))
}

/// Creates an API key; returns the secret (shown once) and its record.
pub fn create_key(store: &Store, record_template: KeyRecord) -> Result<(String, KeyRecord)> {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let secret = format!("sa_{}", URL_SAFE_NO_PAD.encode(secret));
    let record = KeyRecord {
        id: random_id("key"),
        created_at: now_rfc3339(),
        revoked_at: None,
        ..record_template
    };
    store.put_synced(
        Store::api_keys_cf(),
        &key_hash(&secret),
        &serde_json::to_vec(&record)?,
    )?;
    Ok((secret, record))
}

/// The record of an API key secret, if it exists and is not revoked.
pub fn authenticate(store: &Store, secret: &str) -> Result<Option<KeyRecord>> {
    let Some(v) = store.get(Store::api_keys_cf(), &key_hash(secret))? else {
        return Ok(None);
    };
    let record: KeyRecord = serde_json::from_slice(&v).context("corrupt key record")?;
    Ok(record.revoked_at.is_none().then_some(record))
}

/// Every key record.
pub fn list_keys(store: &Store) -> Result<Vec<KeyRecord>> {
    store
        .scan_prefix(Store::api_keys_cf(), &[])?
        .into_iter()
        .map(|(_, v)| serde_json::from_slice(&v).context("corrupt key record"))
        .collect()
}

/// Revokes the key with `id`; returns its record, or `None` if there is none.
pub fn revoke_key(store: &Store, id: &str) -> Result<Option<KeyRecord>> {
    for (k, v) in store.scan_prefix(Store::api_keys_cf(), &[])? {
        let mut record: KeyRecord = serde_json::from_slice(&v).context("corrupt key record")?;
        if record.id == id {
            if record.revoked_at.is_none() {
                record.revoked_at = Some(now_rfc3339());
                store.put_synced(Store::api_keys_cf(), &k, &serde_json::to_vec(&record)?)?;
            }
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// On first start: creates the admin key and writes it to `<data-dir>/admin-api-key`.
pub fn ensure_admin_key(store: &Store, data_dir: &Path) -> Result<bool> {
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
