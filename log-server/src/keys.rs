//! The API keys of the log's callers.
//!
//! API keys are random 256-bit secrets shown once; the store keeps only their
//! SHA-256, mapped to a [`KeyRecord`] with the key's roles.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use compliance::principal::KeyRecord;
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};

use crate::Result;
use crate::storage::KeyStore;

/// Current time in RFC 3339, UTC, seconds.
#[must_use]
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// SHA-256 of a secret (API keys, cockpit sessions and share links are
/// stored by it, never in clear).
pub(crate) fn key_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A random identifier with a prefix, e.g. `key_3f9a...`.
pub fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 9];
    OsRng.fill_bytes(&mut b);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(b))
}

/// A random 256-bit secret with a prefix, base64url (`sa_` API keys, `sas_`
/// cockpit sessions, `sat_` share links, `csrf_` form tokens).
#[must_use]
pub fn random_secret(prefix: &str) -> String {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(secret))
}

/// A record's salt: [`compliance::record::SALT_BYTES`] random bytes, hex.
#[must_use]
pub fn random_salt() -> String {
    let mut b = [0u8; compliance::record::SALT_BYTES];
    OsRng.fill_bytes(&mut b);
    to_hex(&b)
}

/// Bytes as lowercase hex digits.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Creates an API key; returns the secret (shown once) and its record.
/// The template's ID is kept if it has one (a principal's, named in its
/// `principal_added` record first), else a new one is drawn. Blocks on a
/// durable write.
///
/// # Errors
/// Storage failures.
pub fn create_key(store: &dyn KeyStore, record_template: KeyRecord) -> Result<(String, KeyRecord)> {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let secret = format!("sa_{}", URL_SAFE_NO_PAD.encode(secret));
    let record = KeyRecord {
        id: if record_template.id.is_empty() {
            random_id("key")
        } else {
            record_template.id.clone()
        },
        created_at: now_rfc3339(),
        revoked_at: None,
        ..record_template
    };
    store.put_key(&key_hash(&secret), &record)?;
    Ok((secret, record))
}

/// The record of an API key secret, if it exists and is not revoked (one
/// point read: fine on an async worker).
///
/// # Errors
/// Storage failures.
pub fn authenticate(store: &dyn KeyStore, secret: &str) -> Result<Option<KeyRecord>> {
    Ok(store
        .key(&key_hash(secret))?
        .filter(|record| record.revoked_at.is_none()))
}

/// Every key record (a scan: run it off the async workers).
///
/// # Errors
/// Storage failures.
pub fn list_keys(store: &dyn KeyStore) -> Result<Vec<KeyRecord>> {
    Ok(store.keys()?.into_iter().map(|(_, r)| r).collect())
}

/// The record of the key with `id`, revoked or not (a scan: run it off the
/// async workers).
///
/// # Errors
/// Storage failures.
pub fn find_key(store: &dyn KeyStore, id: &str) -> Result<Option<KeyRecord>> {
    Ok(list_keys(store)?.into_iter().find(|r| r.id == id))
}

/// Changes the record of the key with `id` (its secret stays); returns
/// the new record, or `None` if there is none (a scan and a durable write:
/// run it off the async workers).
///
/// # Errors
/// Storage failures.
pub fn update_key(
    store: &dyn KeyStore,
    id: &str,
    change: impl FnOnce(&mut KeyRecord),
) -> Result<Option<KeyRecord>> {
    for (hash, mut record) in store.keys()? {
        if record.id == id {
            change(&mut record);
            store.put_key(&hash, &record)?;
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// Revokes the key with `id`; returns its record, or `None` if there is
/// none (a scan and a durable write: run it off the async workers).
///
/// # Errors
/// Storage failures.
pub fn revoke_key(store: &dyn KeyStore, id: &str) -> Result<Option<KeyRecord>> {
    for (hash, mut record) in store.keys()? {
        if record.id == id {
            if record.revoked_at.is_none() {
                record.revoked_at = Some(now_rfc3339());
                store.put_key(&hash, &record)?;
            }
            return Ok(Some(record));
        }
    }
    Ok(None)
}
