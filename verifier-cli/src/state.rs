//! State files of `audit` and `monitor`: JSON written for one verifier key,
//! read back strictly, replaced atomically.

use std::path::Path;

use anyhow::{Context as _, anyhow};
use tlog::VerifierKey;

use crate::report::hinted;

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename.
///
/// # Errors
/// I/O errors.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// A state file: JSON with a `format` and the `verifier_key` it was written for.
pub trait StateFile: serde::de::DeserializeOwned {
    /// The `format` this type reads.
    const FORMAT: &'static str;
    /// What a person should do when the file is unusable.
    const HINT: &'static str;
    /// The file's `format` field.
    fn format(&self) -> &str;
    /// The file's `verifier_key` field.
    fn verifier_key(&self) -> &str;
}

/// An unusable state file: exit 2, with the state's hint.
pub fn state_error<T: StateFile>(path: &Path, what: impl std::fmt::Display) -> anyhow::Error {
    hinted(format!("--state {}: {what}", path.display()), T::HINT)
}

/// Reads a state file: `None` if it does not exist; an error if it is not
/// of format `T::FORMAT` or was written for another key than `key`.
///
/// # Errors
/// As described, and I/O errors.
pub fn read_state<T: StateFile>(path: &Path, key: &VerifierKey) -> anyhow::Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading --state {}", path.display())),
    };
    let st: T = serde_json::from_slice(&bytes)
        .map_err(|e| state_error::<T>(path, format!("not a {} file: {e}", T::FORMAT)))?;
    if st.format() != T::FORMAT {
        return Err(state_error::<T>(
            path,
            format!("unknown format {:?}", st.format()),
        ));
    }
    if st.verifier_key() != key.to_text() {
        return Err(state_error::<T>(
            path,
            format!(
                "it was written for another verifier key ({})",
                st.verifier_key()
            ),
        ));
    }
    Ok(Some(st))
}
