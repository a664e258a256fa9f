//! Sources: I/O at the edge. A log over HTTP or in a directory (its
//! checkpoint, tiles, entry bundles and proof API), a publication
//! repository on GitHub or in a directory, and the inputs a user names.
//!
//! Nothing here verifies anything; callers verify every byte they get with
//! `tlog` against a checkpoint verified with the user's key (see `trust`).

mod file;
mod http;
mod input;
mod log;
mod repo;

pub use file::read_file_limited;
pub use http::Http;
pub use input::read_input;
pub use log::{Bundle, Fetched, Log, LogTiles, MissingData};
pub use repo::Repo;

/// Largest checkpoint accepted (a note with many cosignatures is still far smaller).
pub const MAX_CHECKPOINT: usize = 1 << 20;
/// Largest API response accepted.
pub const MAX_JSON: usize = 8 << 20;
