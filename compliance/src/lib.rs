//! The compliance domain of StateAnchor, pure: what a gate decision and an
//! exception-ledger event are, how they are sealed into public envelopes,
//! who may do what, how a verdict is reached, how an exception's state
//! follows from its records, and how a SOC 2 CC8.1 evidence export is
//! modelled and rendered. See `spec/compliance.md`.
//!
//! What it does **not** do: no I/O, no clock, no threads, no HTTP, no
//! storage. Times are passed in (milliseconds since the Unix epoch),
//! records come from a [`export::RecordSource`] the caller implements, and
//! output goes to a `Write`. The log server (`log-server`) holds the
//! service around it (storage, per-project ordering, the clock), and the
//! verifier (`verifier-cli`) re-renders exports with the same code, so the
//! two can never disagree.
//!
//! | module | what |
//! |---|---|
//! | [`time`] | RFC 3339 UTC times and dates |
//! | [`endpoint`] | `METHOD /path`, and how endpoints match |
//! | [`record`] | record types, JCS digests and envelopes |
//! | [`chain`] | a project's chain of records, and how an export proves it complete |
//! | [`principal`] | roles, API key records, access rules |
//! | [`settings`] | a project's controls |
//! | [`ledger`] | the exception ledger's rules and state fold |
//! | [`signals`] | exceptions bound to their blocked run: kinds' normal form, signals' evidence |
//! | [`verdict`] | the gate's decision input and verdict |
//! | [`export`] | the compliance export's model and rendering |
//! | [`changelog`] | the API changelog: the runs that passed the gate |
//! | [`monitor`] | monitoring: the anomalies of a day |
//!
//! ```
//! use compliance::record::seal;
//! let record = serde_json::json!({
//!     "type": "gate_decision", "id": "run_1", "project": "prj_1",
//!     "time": "2026-01-02T03:04:05Z", "commit_sha": "abc1234",
//!     "salt": "6c0e5e1b3a8f4d2c9b7a6e5d4c3b2a19",
//! });
//! let (jcs, envelope) = seal(&record).unwrap();
//! let envelope: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
//! assert_eq!(envelope["digest"], compliance::record::sha256_digest(&jcs));
//! assert!(envelope.get("commit_sha").is_none(), "no customer content in the envelope");
//! assert!(envelope.get("salt").is_none(), "nor the salt");
//! ```

pub mod chain;
pub mod changelog;
pub mod endpoint;
mod error;
pub mod export;
pub mod ledger;
pub mod monitor;
pub mod people;
pub mod principal;
pub mod record;
pub mod settings;
pub mod signals;
pub mod time;
pub mod verdict;

pub use error::Error;
