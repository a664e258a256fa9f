//! A private tokio runtime that runs the async clients of the PostgreSQL
//! and object-storage backends behind the blocking storage traits.
//!
//! The storage traits are blocking (see `storage`, "Where blocking storage
//! calls run"), and their callers may be async workers of the server's own
//! runtime, where `block_on` is not allowed. So a call spawns its future on
//! this runtime and waits for the result on a plain channel; every call has
//! a deadline, so an unreachable service is an error, never a hang.

use std::future::Future;
use std::time::Duration;

use crate::{Error, Result};

/// The runtime, shut down in the background when dropped (dropping a runtime
/// from an async context would panic).
pub(crate) struct Bridge {
    rt: Option<tokio::runtime::Runtime>,
    timeout: Duration,
}

impl Bridge {
    /// A runtime of two worker threads; each call fails after `timeout`.
    pub(crate) fn new(name: &str, timeout: Duration) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| Error::storage("starting the storage runtime", e))?;
        Ok(Bridge {
            rt: Some(rt),
            timeout,
        })
    }

    /// Runs `f` on the runtime and waits for it, at most the deadline.
    pub(crate) fn run<T, F>(&self, what: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| Error::storage(what, "the storage runtime is shut down"))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let timeout = self.timeout;
        rt.spawn(async move {
            let out = match tokio::time::timeout(timeout, f).await {
                Ok(r) => r,
                Err(_) => Err(Error::storage(
                    what,
                    format!("no answer within {}", humantime::format_duration(timeout)),
                )),
            };
            let _ = tx.send(out);
        });
        rx.recv()
            .map_err(|_| Error::storage(what, "the storage task was dropped"))?
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
