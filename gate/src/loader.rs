//! How the library reaches files that a document's `$ref`s name: through a
//! [`Loader`] the caller supplies. The library itself does no I/O.

use std::collections::BTreeMap;

/// Supplies the files that relative `$ref`s name.
///
/// The library calls [`Loader::load`] with a path that it has already
/// normalized lexically: relative to the directory of the main document,
/// `/`-separated, with no `.` or `..` segment, never absolute and never
/// leaving that directory. A loader MUST NOT fetch anything over a network
/// and MUST refuse to follow a path (a symbolic link, for one) that leads
/// outside the base directory. It MUST return the file's bytes unchanged; the
/// library checks size, encoding and syntax itself.
pub trait Loader {
    /// The bytes of the file at `path`, or a one-line reason it cannot be had.
    ///
    /// # Errors
    /// A message that the library wraps in [`crate::Error::Load`].
    fn load(&self, path: &str) -> Result<Vec<u8>, String>;
}

/// A loader that refuses every file: the document must be self-contained
/// (what the server uses for documents submitted as text).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFiles;

impl Loader for NoFiles {
    fn load(&self, path: &str) -> Result<Vec<u8>, String> {
        Err(format!(
            "external file references are not available here ({path})"
        ))
    }
}

/// A loader over files held in memory, keyed by their normalized path.
#[derive(Debug, Default, Clone)]
pub struct MemoryFiles(pub BTreeMap<String, Vec<u8>>);

impl Loader for MemoryFiles {
    fn load(&self, path: &str) -> Result<Vec<u8>, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| "no such file".to_owned())
    }
}

/// Joins `reference` (a relative path) to the directory of `from` (a
/// normalized path), and normalizes: `None` if the result leaves the base
/// directory or is absolute.
pub(crate) fn join(from: &str, reference: &str) -> Option<String> {
    if reference.starts_with('/') || reference.starts_with('\\') || reference.contains('\\') {
        return None;
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop(); // the file name
    parts.retain(|p| !p.is_empty());
    for seg in reference.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn joins_inside_the_base_only() {
        assert_eq!(
            join("openapi.yaml", "schemas/a.yaml").as_deref(),
            Some("schemas/a.yaml")
        );
        assert_eq!(
            join("dir/main.yaml", "../b.yaml").as_deref(),
            Some("b.yaml")
        );
        assert_eq!(
            join("dir/main.yaml", "./c/./d.yaml").as_deref(),
            Some("dir/c/d.yaml")
        );
        assert_eq!(join("main.yaml", "../etc/passwd"), None);
        assert_eq!(join("main.yaml", "/etc/passwd"), None);
        assert_eq!(join("main.yaml", "..\\x"), None);
    }
}
