//! The witness policy a publication may require: a C2SP tlog-policy
//! (<https://c2sp.org/tlog-policy>) that every checkpoint must meet, log
//! signature and witness quorum, before it is published.

use tlog::{Policy, VerifierKey, WitnessedCheckpoint};

use crate::Error;

/// A witness policy, parsed, with its text as given (the text is what
/// `log.json` and `README.md` publish).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPolicy {
    policy: Policy,
    text: String,
}

impl WitnessPolicy {
    /// Parses a policy file's text (C2SP tlog-policy, strictly: see
    /// [`tlog::Policy::parse`]).
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] with the line and the problem.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let policy = Policy::parse(text).map_err(|error| Error::InvalidPolicy { error })?;
        Ok(WitnessPolicy {
            policy,
            text: text.to_owned(),
        })
    }

    /// The parsed policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The policy file's text, as given.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Checks that one of the policy's `log` lines has the log's key: a
    /// policy that does not name the log would refuse every checkpoint.
    ///
    /// # Errors
    /// [`Error::PolicyOmitsLog`].
    pub fn check_names_log(&self, log_key: &VerifierKey) -> Result<(), Error> {
        if self.policy.logs().iter().any(|l| &l.key == log_key) {
            Ok(())
        } else {
            Err(Error::PolicyOmitsLog {
                verifier_key: log_key.to_text(),
            })
        }
    }

    /// Verifies a checkpoint note under the policy at time `now` (POSIX
    /// seconds): signed by one of its logs, cosigned by a quorum of its
    /// witnesses. A checkpoint that does not meet it is not published.
    ///
    /// # Errors
    /// [`Error::NotWitnessed`] with the policy's reason.
    pub(crate) fn verify(
        &self,
        note: &[u8],
        tree_size: u64,
        now: u64,
    ) -> Result<WitnessedCheckpoint, Error> {
        self.policy
            .verify_checkpoint(note, now)
            .map_err(|error| Error::NotWitnessed { tree_size, error })
    }
}
