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
    /// Records of a project's chain are missing from an export: the
    /// sequence numbers `first` to `last` (inclusive).
    #[error("{}{context}", missing_text(*first, *last))]
    MissingRecords {
        /// The first missing sequence number.
        first: u64,
        /// The last missing sequence number.
        last: u64,
        /// Where the export goes on, and other gaps (`": ..."`).
        context: String,
    },
    /// A project's chain, as an export gives it, does not hold together
    /// (a record's `prev` is not the digest of the record before it, a
    /// boundary record is missing or dated in the period, a sequence
    /// number appears twice).
    #[error("{0}")]
    Chain(String),
    /// A decision of section A applied an exception that section B does
    /// not show active at the decision's time.
    #[error("{run} ({place}) applied exception {exception}, which {why}")]
    ExceptionNotShown {
        /// The exception's ID.
        exception: String,
        /// The decision's run ID.
        run: String,
        /// Where the decision is in the export.
        place: String,
        /// What section B lacks.
        why: String,
    },
    /// A record of an export names, as who acted, someone who was not a
    /// principal of the project then, or an approver who is the requester.
    #[error("{0}")]
    People(String),
}

fn missing_text(first: u64, last: u64) -> String {
    if first == last {
        format!("record seq {first} of the project's chain is missing from the export")
    } else {
        format!("records seq {first} to {last} of the project's chain are missing from the export")
    }
}
