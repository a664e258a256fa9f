//! Budgets against hostile input.

/// Resource limits for reading documents. The defaults bound memory and time
/// for any input: a document of at most 16 MiB, nesting of at most 256, at
/// most 4 million nodes after alias expansion (YAML alias bombs stop here),
/// at most 64 referenced files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes (each file).
    pub max_document_bytes: usize,
    /// Deepest accepted nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes in one file, counting every alias expansion.
    pub max_nodes: usize,
    /// Most files one document may reference (besides itself).
    pub max_files: usize,
    /// Most bytes of all files of one document together.
    pub max_total_bytes: usize,
}

impl Limits {
    /// 16 MiB per document, as the server accepts.
    pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: Self::DEFAULT_MAX_DOCUMENT_BYTES,
            max_depth: 256,
            max_nodes: 4_000_000,
            max_files: 64,
            max_total_bytes: 64 * 1024 * 1024,
        }
    }
}
