//! The crate's one error type, and the refusal that carries the evidence.

use std::path::PathBuf;
use std::time::Duration;

use crate::evidence::Evidence;

/// A boxed error from a [`CheckpointSource`](crate::CheckpointSource) or a
/// transport.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while publishing.
///
/// [`Error::is_fatal`] sorts the variants: a fatal error needs a person (a
/// refusal, a bad token, a wrong target), any other one may clear by itself
/// (the network, GitHub or the log being unavailable), and
/// [`run`](crate::run) retries it at the next interval.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The safety checks failed: nothing was published. The evidence is in
    /// the refusal, and was written to a file if that was possible.
    #[error("{0}")]
    Refused(Box<Refusal>),

    /// The log's latest checkpoint does not meet the witness policy (its
    /// witnesses' cosignatures do not make the quorum, or one of them does
    /// not verify): it is not published. This is not a refusal: nothing
    /// shows that the log misbehaved, and a later checkpoint, once its
    /// witnesses cosigned it, may meet the policy. No evidence is written.
    #[error(
        "not published: the log's checkpoint at tree size {tree_size} does not meet the witness policy: {error}"
    )]
    NotWitnessed {
        /// The checkpoint's tree size.
        tree_size: u64,
        /// Why the policy refused it (e.g. [`tlog::Error::QuorumNotMet`]).
        error: tlog::Error,
    },

    /// The witness policy could not be parsed.
    #[error("invalid witness policy: {error}")]
    InvalidPolicy {
        /// The parse error, with the line.
        error: tlog::Error,
    },

    /// The witness policy has no `log` line with the log's key.
    #[error("the witness policy has no log line with this log's key {verifier_key}")]
    PolicyOmitsLog {
        /// The log's verifier key, in text form.
        verifier_key: String,
    },

    /// A target string could not be parsed.
    #[error("invalid target {target:?}: {reason}")]
    InvalidTarget {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The GitHub token is missing.
    #[error("no GitHub token: environment variable {var} is not set or empty")]
    MissingToken {
        /// The environment variable the token was to be read from.
        var: String,
    },

    /// GitHub rejected the token (HTTP 401).
    #[error("github rejected the token from {var} (401 bad credentials) for {repo}")]
    GitHubUnauthorized {
        /// `OWNER/NAME`.
        repo: String,
        /// Where the token came from.
        var: String,
    },

    /// GitHub refused the request (HTTP 403 that is not a rate limit).
    #[error("github refused access to {repo} (403): {message}")]
    GitHubForbidden {
        /// `OWNER/NAME`.
        repo: String,
        /// GitHub's message.
        message: String,
    },

    /// The repository does not exist, or the token cannot see it (HTTP 404).
    #[error("github repository {repo} not found (404), or the token cannot see it")]
    GitHubNotFound {
        /// `OWNER/NAME`.
        repo: String,
    },

    /// The token can read the repository but not push to it.
    #[error("the token cannot push to github repository {repo}")]
    GitHubNoPushAccess {
        /// `OWNER/NAME`.
        repo: String,
    },

    /// GitHub answered with an error this publisher does not retry.
    #[error("github {operation} failed with status {status}: {message}")]
    GitHub {
        /// What was being done, e.g. `PUT checkpoint`.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message.
        message: String,
    },

    /// A response (from GitHub or the log) could not be understood.
    #[error("{operation}: unexpected response: {reason}")]
    BadResponse {
        /// What was being done.
        operation: String,
        /// What was wrong with the response.
        reason: String,
    },

    /// The log answered with an error status (after every retry, for 5xx).
    #[error("{operation}: status {status}: {message}")]
    HttpStatus {
        /// What was being done, e.g. `GET https://log/checkpoint`.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// The `error` field of the log's JSON error body, or the body.
        message: String,
    },

    /// The log URL is not an `http://` or `https://` URL.
    #[error("invalid log URL {url:?}: want http:// or https://")]
    InvalidLogUrl {
        /// The URL as given.
        url: String,
    },

    /// Rate limited for longer than the retry policy allows to wait.
    #[error("{operation}: rate limited for {wait:?}, longer than the allowed {max_wait:?}")]
    RateLimited {
        /// What was being done.
        operation: String,
        /// How long the server asked to wait.
        wait: Duration,
        /// The longest wait allowed by the retry policy.
        max_wait: Duration,
    },

    /// A request failed at the transport level after every retry.
    #[error("{operation}: {source}")]
    Transport {
        /// What was being done.
        operation: String,
        /// The transport error.
        #[source]
        source: BoxError,
    },

    /// A request timed out after every retry.
    #[error("{operation}: timed out after {after:?}")]
    Timeout {
        /// What was being done.
        operation: String,
        /// The per-request timeout.
        after: Duration,
    },

    /// The checkpoint source (the log) failed.
    #[error("log: {operation}")]
    Source {
        /// What was being fetched.
        operation: String,
        /// Why it failed.
        #[source]
        source: BoxError,
    },

    /// The target already holds another log's publication (`log.json` names
    /// another origin or verifier key).
    #[error(
        "target {target} publishes another log: its log.json has {field} {published:?}, want {expected:?}"
    )]
    TargetOfAnotherLog {
        /// The target.
        target: String,
        /// `origin` or `verifier_key`.
        field: &'static str,
        /// The value in the target.
        published: String,
        /// This log's value.
        expected: String,
    },

    /// A `dir:` target is a non-empty directory that is not a git repository.
    #[error("{path} is not empty and is not a git repository")]
    NotAGitRepository {
        /// The directory.
        path: PathBuf,
    },

    /// A `git` command failed.
    #[error("git {command} failed: {stderr}")]
    Git {
        /// The git subcommand and its arguments.
        command: String,
        /// What git wrote on stderr.
        stderr: String,
    },

    /// Other publishers kept changing the target while this one tried to
    /// publish.
    #[error("the target changed under this publisher {attempts} times in a row; giving up")]
    Contention {
        /// How many attempts were made.
        attempts: u32,
    },

    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the error needs a person: a refusal, or a configuration that
    /// can never work (bad token, missing repository, wrong target, a policy
    /// that does not name the log). Other errors may clear by themselves,
    /// [`Error::NotWitnessed`] too: witnesses cosign later checkpoints.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Error::GitHub { .. }
                | Error::BadResponse { .. }
                | Error::HttpStatus { .. }
                | Error::RateLimited { .. }
                | Error::Transport { .. }
                | Error::Timeout { .. }
                | Error::Source { .. }
                | Error::NotWitnessed { .. }
                | Error::Git { .. }
                | Error::Contention { .. }
                | Error::Io { .. }
        )
    }

    /// The refusal, if this error is one.
    #[must_use]
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused(r) => Some(r),
            _ => None,
        }
    }

    /// A hint that names the fix, for the errors that have one.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::MissingToken { var } => format!(
                "set {var} to a GitHub token that can write the repository's contents \
                 (fine-grained: \"Contents: Read and write\"; classic: \"repo\" or \"public_repo\"), \
                 or name another variable with --token-env"
            ),
            Error::GitHubUnauthorized { var, .. } => format!(
                "the token in {var} is invalid, expired or revoked: create a new one \
                 with \"Contents: Read and write\" on the repository and put it in {var}"
            ),
            Error::GitHubForbidden { repo, .. } | Error::GitHubNoPushAccess { repo } => format!(
                "give the token write access to {repo}'s contents \
                 (fine-grained: \"Contents: Read and write\"; classic: \"repo\" or \"public_repo\")"
            ),
            Error::GitHubNotFound { repo } => format!(
                "check the target's OWNER/NAME, that {repo} exists, that the token can see it, \
                 and --github-api for GitHub Enterprise (e.g. https://HOST/api/v3)"
            ),
            Error::TargetOfAnotherLog { .. } => {
                "use another repository or prefix for this log, or check --key".to_owned()
            }
            Error::NotAGitRepository { .. } => {
                "give an empty or missing directory (it is created with git init) \
                 or an existing git repository"
                    .to_owned()
            }
            Error::NotWitnessed { .. } => {
                "the log's witnesses have not cosigned this checkpoint as the policy requires (yet): \
                 check that the log asks them (stateanchor-log serve --witness-policy) and that they \
                 are reachable, then publish again; nothing was written"
                    .to_owned()
            }
            Error::InvalidPolicy { .. } => {
                "fix the policy file (c2sp.org/tlog-policy: log, witness, group and quorum lines, \
                 each ending in a newline)"
                    .to_owned()
            }
            Error::PolicyOmitsLog { verifier_key } => format!(
                "add the line `log {verifier_key}` to the policy, or check --key"
            ),
            Error::Refused(r) => r.reason.hint().to_owned(),
            _ => return None,
        })
    }
}

/// A refused publication: why, and the evidence.
#[derive(Debug)]
pub struct Refusal {
    /// Why nothing was published.
    pub reason: RefusalReason,
    /// Both checkpoints and the proof, as written to the evidence file.
    pub evidence: Evidence,
    /// Where the evidence was written, or why it could not be.
    pub evidence_file: Result<PathBuf, String>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused to publish: {}", self.reason)?;
        match &self.evidence_file {
            Ok(path) => write!(f, "; evidence written to {}", path.display()),
            Err(e) => write!(f, "; the evidence could not be written: {e}"),
        }
    }
}

/// Why a publication was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefusalReason {
    /// The log's latest checkpoint does not carry a valid signature by the
    /// log's key, or does not parse.
    #[error("the log's latest checkpoint does not verify: {error}")]
    BadSignature {
        /// The verification error.
        error: tlog::Error,
    },
    /// The checkpoint already published in the target does not verify with
    /// the log's key.
    #[error("the checkpoint published in the target does not verify: {error}")]
    PublishedDoesNotVerify {
        /// The verification error.
        error: tlog::Error,
    },
    /// The log's tree is smaller than the published one.
    #[error(
        "the log rolled back: its latest tree size {latest} is smaller than the published tree size {published}"
    )]
    Rollback {
        /// The published tree size.
        published: u64,
        /// The log's latest tree size.
        latest: u64,
    },
    /// Two checkpoints of the same size with different root hashes.
    #[error("the log forked: two different root hashes at tree size {tree_size}")]
    Fork {
        /// The tree size.
        tree_size: u64,
    },
    /// The consistency proof between the published and the latest
    /// checkpoint does not verify.
    #[error("the consistency proof from tree size {first} to {second} does not verify: {error}")]
    InconsistentProof {
        /// The published tree size.
        first: u64,
        /// The latest tree size.
        second: u64,
        /// The verification error.
        error: tlog::Error,
    },
}

impl RefusalReason {
    /// The short code written in the evidence file's `reason` field.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            RefusalReason::BadSignature { .. } => "bad_signature",
            RefusalReason::PublishedDoesNotVerify { .. } => "published_does_not_verify",
            RefusalReason::Rollback { .. } => "rollback",
            RefusalReason::Fork { .. } => "fork",
            RefusalReason::InconsistentProof { .. } => "inconsistent_proof",
        }
    }

    fn hint(&self) -> &'static str {
        match self {
            RefusalReason::BadSignature { .. } => {
                "if --key is not the log's verifier key, fix it; otherwise the log is serving \
                 checkpoints it did not sign: keep the evidence and investigate"
            }
            RefusalReason::PublishedDoesNotVerify { .. } => {
                "the target holds a checkpoint this log's key did not sign: check --target and \
                 --key, and who else writes to the target"
            }
            _ => {
                "the log is not append-only as published: keep the evidence file, stop the \
                 log's clients, and investigate before publishing anything"
            }
        }
    }
}
