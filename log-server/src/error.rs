//! The log server library's one error type.

/// Why an operation of the log, its storage or its services failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A compliance rule refused the request; nothing was recorded.
    #[error(transparent)]
    Refused(#[from] compliance::Error),
    /// An unknown record, exception or key.
    #[error("{0}")]
    NotFound(String),
    /// The sequencer's queue is full: retry later. Nothing was recorded.
    #[error("the log's queue is full")]
    Pushback,
    /// The budget of request bytes in flight has no room for this request:
    /// retry later. Its body was not read; nothing was recorded.
    #[error("the server holds as many request bytes as it may; retry later")]
    BudgetSpent,
    /// The caller's API key holds its share of the budget of request bytes
    /// in flight: retry later. Its body was not read; nothing was recorded.
    #[error("this API key holds its share of the request bytes in flight; retry later")]
    KeyShareSpent,
    /// The log is not accepting writes (stopping, or stopped after a
    /// storage failure). Nothing was acknowledged.
    #[error("the log is not accepting writes")]
    Stopped,
    /// The log is witnessed and no checkpoint has met its witness policy
    /// yet: there is no checkpoint to serve. Retry later.
    #[error("no checkpoint has met the log's witness policy yet")]
    NotWitnessed,
    /// A configuration the server cannot run with (a witness policy that
    /// does not name the log, say).
    #[error("{0}")]
    Config(String),
    /// GitHub could not be read (transport, rate limit, 5xx).
    #[error("could not read the reviews from GitHub: {0}")]
    GitHub(String),
    /// The identity provider (OIDC) could not be reached, or answered
    /// something that is not OpenID Connect (discovery, keys, tokens).
    #[error("identity provider: {0}")]
    IdentityProvider(String),
    /// The mail server refused or could not be reached.
    #[error("could not send mail: {0}")]
    Mail(String),
    /// A storage operation failed.
    #[error("storage failure")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store holds data that cannot be what was written.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// A backup that does not prove itself, a backup or restore refused
    /// (a target that exists, another log's key); nothing was changed.
    #[error("{0}")]
    Backup(String),
    /// The store's tree is shorter than a checkpoint the log has already
    /// signed and published (an older database restored): starting would
    /// roll it back (`crate::rollback`).
    #[error(
        "the database holds {stored} entries, but the log has signed a checkpoint of {signed} entries ({file}): starting on it would roll the tree back below a checkpoint the log has published"
    )]
    Rollback {
        /// Entries in the store.
        stored: u64,
        /// Size of the latest checkpoint the log signed.
        signed: u64,
        /// Where it is recorded: the data directory's `latest-checkpoint`,
        /// or the bucket's `checkpoint` (its `s3://` URL).
        file: String,
    },
    /// A transparency-log computation failed (a missing hash, a bad size).
    #[error(transparent)]
    Tlog(#[from] tlog::Error),
}

impl Error {
    /// A storage failure with context.
    pub fn storage(context: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        Error::Storage(format!("{context}: {e}").into())
    }
}

/// An error and its sources, `: `-separated (the [`Error::Storage`]
/// message alone says only `storage failure`).
#[must_use]
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The result of the library's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
