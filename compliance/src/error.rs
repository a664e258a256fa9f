//! The compliance crate's one error type.

/// Why a compliance request is refused, or a record or export is malformed.
/// A refused request records nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Malformed or out-of-range input.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The current state does not allow it (an exception already active,
    /// revoked or expired, a name already taken).
    #[error("{0}")]
    Conflict(String),
    /// No such project, or one the caller may not know of.
    #[error("no project {project:?}")]
    NoProject {
        /// The project ID asked for.
        project: String,
    },
    /// A record is not a JSON object.
    #[error("a record must be a JSON object")]
    NotAnObject,
    /// A record lacks a string field of the envelope.
    #[error("the record has no string field {0:?}")]
    MissingField(&'static str),
    /// A record's time is not RFC 3339 UTC.
    #[error("the record's time {0:?} is not RFC 3339 UTC")]
    BadTime(String),
    /// JSON could not be serialized canonically.
    #[error("JSON canonicalization failed: {0}")]
    Json(String),
}
