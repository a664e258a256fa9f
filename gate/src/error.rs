//! The gate's one error type.

/// Everything that can go wrong while reading or diffing OpenAPI documents.
///
/// Messages are short and lowercase; the fields carry the evidence. Specs are
/// untrusted input, so every failure is an error value, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The document is larger than [`crate::Limits::max_document_bytes`].
    #[error("document {file} is too large: {size} bytes, the limit is {limit}")]
    TooLarge {
        /// The file (the main document or a referenced one).
        file: String,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The bytes are not UTF-8.
    #[error("document {file} is not valid UTF-8 (at byte {offset})")]
    InvalidUtf8 {
        /// The file.
        file: String,
        /// The offset of the first invalid byte.
        offset: usize,
    },
    /// The text is neither valid YAML nor valid JSON.
    #[error("document {file} is not valid YAML or JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A budget against hostile input was exceeded (nesting, nodes, aliases, files).
    #[error("document {file} exceeds the {what} limit of {limit}")]
    LimitExceeded {
        /// The file.
        file: String,
        /// Which budget: `nesting depth`, `node count`, `referenced files`, `$ref chain`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A YAML construct the gate does not accept (complex keys, duplicate keys, unknown aliases).
    #[error("document {file} has an unsupported YAML construct at line {line}: {message}")]
    Unsupported {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What it is.
        message: String,
    },
    /// The document parsed but is not an OpenAPI 3.0 or 3.1 document.
    #[error("document {file} is not an OpenAPI 3.0 or 3.1 document: {reason}")]
    NotOpenApi {
        /// The file.
        file: String,
        /// Why not.
        reason: String,
    },
    /// A `$ref` names a URL: the gate never fetches anything.
    #[error(
        "remote $ref {reference} at {file}#{pointer} is not allowed: the gate never fetches over the network"
    )]
    RemoteRef {
        /// The reference text.
        reference: String,
        /// The file that holds it.
        file: String,
        /// Where in that file.
        pointer: String,
    },
    /// A `$ref` points to a file outside the document's directory.
    #[error("$ref {reference} at {file}#{pointer} leaves the document's directory")]
    RefOutsideBase {
        /// The reference text.
        reference: String,
        /// The file that holds it.
        file: String,
        /// Where in that file.
        pointer: String,
    },
    /// A `$ref` target does not exist.
    #[error("$ref {reference} at {file}#{pointer} does not resolve")]
    UnresolvedRef {
        /// The reference text.
        reference: String,
        /// The file that holds it.
        file: String,
        /// Where in that file.
        pointer: String,
    },
    /// A chain of `$ref`s that only points to itself.
    #[error("$ref {reference} at {file}#{pointer} is a circular chain of references")]
    CircularRef {
        /// The reference text.
        reference: String,
        /// The file that holds it.
        file: String,
        /// Where in that file.
        pointer: String,
    },
    /// The caller's [`crate::Loader`] could not provide a referenced file.
    #[error("cannot load {path}, referenced from {file}: {message}")]
    Load {
        /// The normalized relative path asked for.
        path: String,
        /// The file that references it.
        file: String,
        /// The loader's message.
        message: String,
    },
    /// A severity override names an unknown rule or level.
    #[error("invalid severity override {entry:?}: {reason}")]
    InvalidOverride {
        /// The offending entry.
        entry: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A date was not `YYYY-MM-DD`.
    #[error("invalid date {0:?}: expected YYYY-MM-DD")]
    InvalidDate(String),
    /// A bug: please report it.
    #[error("internal error: {0}")]
    Unreachable(&'static str),
}
