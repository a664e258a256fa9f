//! Reading local files with a size limit.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};

/// Reads a file of at most `limit` bytes; `None` if it does not exist.
///
/// # Errors
/// I/O errors, and files over `limit`.
pub fn read_file_limited(path: &Path, limit: usize) -> anyhow::Result<Option<Vec<u8>>> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    let mut body = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut body)
        .with_context(|| format!("reading {}", path.display()))?;
    if body.len() > limit {
        bail!(
            "{} is larger than the {limit} bytes allowed",
            path.display()
        );
    }
    Ok(Some(body))
}
