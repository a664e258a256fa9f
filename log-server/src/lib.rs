//! The StateAnchor log server (`stateanchor-log`), as a library so that
//! tests drive its parts in-process: the HTTP router over an in-memory
//! backend, the sequencer over a store that fails on purpose.
//!
//! Dependencies point one way, from the top of this table down:
//!
//! | module | job |
//! |---|---|
//! | [`cli`] | the clap tree, `serve` wiring (picks the backend), the admin client |
//! | [`http`] | routes, extractors, handlers, errors to statuses (the only module that names axum) |
//! | [`service`] | the compliance service: projects, gate, ledger, export (its rules live in the `compliance` crate) |
//! | [`keys`] | API keys: creation, authentication, revocation |
//! | [`log`] | the sequencer and the checkpointer, and the log's reads |
//! | [`storage`] | traits and their contracts; the RocksDB and in-memory backends |
//! | [`rollback`] | the rule both modes apply at start: never on a tree shorter than (or other than) a published checkpoint |
//! | [`budget`] | the budget of request bytes in flight, shared by every route with a body, with a share per API key |
//! | [`metrics`] | counters and histograms (Prometheus text) |
//! | [`publish`] | the publisher running inside `serve` |
//! | [`witness`] | witness mode: cosigning other logs' checkpoints (C2SP tlog-witness) |
//!
//! See `docs/architecture.md`, `spec/http-api.md` and `spec/durability.md`.

pub mod backup;
pub mod budget;
pub mod cli;
mod error;
pub mod http;
pub mod keys;
pub mod log;
pub mod metrics;
pub mod publish;
pub mod rollback;
pub mod service;
pub mod storage;
pub mod witness;

pub use error::{Error, Result, error_chain};
