//! The budget of request bytes in flight (`spec/http-api.md`, "Limits and
//! the budget of bytes in flight").
//!
//! Every request that carries a body reserves bytes here before its body
//! is read: the declared `Content-Length` (or, for a body sent without a
//! length, each chunk as it arrives) times its route's factor, which covers
//! what the request holds while it lives (for a gate decision: the body,
//! the parsed documents and the findings). The reservation is released
//! when the response has been produced. A reservation that does not fit
//! in the whole budget, or in the caller's share of it, is refused: the
//! HTTP layer answers 503 with `Retry-After`, and nothing is recorded.
//!
//! The accounting is a mutex over two counters (the total and the bytes
//! held per key); it is taken twice per request (reserve, release) plus
//! once per chunk of a body sent without a length.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::metrics::Metrics;
use crate::{Error, Result};

/// Smallest default budget, whatever the machine: one largest decision
/// (48 MiB at the decision factor of 8: 384 MiB) must fit in one key's
/// default share (half).
pub const MIN_DEFAULT_BUDGET: u64 = 768 << 20;
/// Largest default budget: 4 GiB holds about twenty of the largest
/// decisions at once, more than the cores of most machines classify.
pub const MAX_DEFAULT_BUDGET: u64 = 4 << 30;
/// The share of the machine's memory given to request bytes in flight by
/// default: a thirty-second. The rest is for the server itself (RocksDB's
/// block cache and memtables, the tile cache, the allocator's slack, about
/// 60 MiB idle), the page cache RocksDB reads through, and whatever else
/// runs on the machine; and the factor of 8 is a bound, not an average.
pub const MEMORY_FRACTION: u64 = 32;
/// Default share of the budget one API key may hold, in percent.
pub const DEFAULT_KEY_SHARE_PERCENT: u64 = 50;

/// The default budget for a machine with `mem_total` bytes of memory
/// (`None`: unknown): a thirty-second of it, clamped to
/// [`MIN_DEFAULT_BUDGET`, `MAX_DEFAULT_BUDGET`].
#[must_use]
pub fn default_budget_for(mem_total: Option<u64>) -> u64 {
    mem_total.map_or(MIN_DEFAULT_BUDGET, |m| {
        (m / MEMORY_FRACTION).clamp(MIN_DEFAULT_BUDGET, MAX_DEFAULT_BUDGET)
    })
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
#[must_use]
pub fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// The default budget of this machine (from `/proc/meminfo`).
#[must_use]
pub fn default_budget() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    default_budget_for(meminfo.as_deref().and_then(mem_total))
}

/// The budget of request bytes in flight, shared by every route with a body.
pub struct Budget {
    total: u64,
    key_share: u64,
    metrics: Arc<Metrics>,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: u64,
    by_key: HashMap<String, u64>,
}

impl Budget {
    /// A budget of `total` bytes, of which one key may hold
    /// `key_share_percent` percent (1 to 100); its gauges go to `metrics`.
    #[must_use]
    pub fn new(total: u64, key_share_percent: u64, metrics: Arc<Metrics>) -> Self {
        let percent = u128::from(key_share_percent.clamp(1, 100));
        let key_share = u64::try_from(u128::from(total) * percent / 100).unwrap_or(total);
        metrics.inflight_budget_bytes.store(total, Relaxed);
        Budget {
            total,
            key_share,
            metrics,
            held: Mutex::new(Held::default()),
        }
    }

    /// The whole budget, in bytes.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The most one key may hold, in bytes.
    #[must_use]
    pub fn key_share(&self) -> u64 {
        self.key_share
    }

    /// Whether a reservation of `bytes` could ever be granted (when nothing
    /// else is held). One that cannot is too large, not a pushback.
    #[must_use]
    pub fn can_ever_hold(&self, bytes: u64) -> bool {
        bytes <= self.key_share.min(self.total)
    }

    /// Reserves `bytes` for `key`, released when the reservation is dropped.
    ///
    /// # Errors
    /// [`Error::BudgetSpent`] when the budget has no room,
    /// [`Error::KeyShareSpent`] when `key` holds its share already.
    pub fn reserve(self: &Arc<Self>, key: &str, bytes: u64) -> Result<Reservation> {
        self.take(key, bytes)?;
        Ok(Reservation {
            budget: self.clone(),
            key: key.to_owned(),
            bytes: AtomicU64::new(bytes),
        })
    }

    fn take(&self, key: &str, bytes: u64) -> Result<()> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let of_key = held.by_key.get(key).copied().unwrap_or(0);
        if of_key.saturating_add(bytes) > self.key_share {
            return Err(Error::KeyShareSpent);
        }
        if held.total.saturating_add(bytes) > self.total {
            return Err(Error::BudgetSpent);
        }
        held.total += bytes;
        *held.by_key.entry(key.to_owned()).or_insert(0) += bytes;
        self.metrics.inflight_bytes.store(held.total, Relaxed);
        Ok(())
    }

    fn release(&self, key: &str, bytes: u64) {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.total = held.total.saturating_sub(bytes);
        if let Some(n) = held.by_key.get_mut(key) {
            *n = n.saturating_sub(bytes);
            if *n == 0 {
                held.by_key.remove(key);
            }
        }
        self.metrics.inflight_bytes.store(held.total, Relaxed);
    }

    /// Bytes held now, in total and by `key`.
    #[must_use]
    pub fn held(&self, key: &str) -> (u64, u64) {
        let held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (held.total, held.by_key.get(key).copied().unwrap_or(0))
    }
}

/// Bytes held in a [`Budget`] for one request, until dropped.
pub struct Reservation {
    budget: Arc<Budget>,
    key: String,
    bytes: AtomicU64,
}

impl Reservation {
    /// Holds `more` bytes too (a body sent without a length, as it arrives).
    ///
    /// # Errors
    /// As [`Budget::reserve`]; the bytes held already stay held.
    pub fn grow(&self, more: u64) -> Result<()> {
        self.budget.take(&self.key, more)?;
        self.bytes.fetch_add(more, Relaxed);
        Ok(())
    }

    /// The bytes held.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(&self.key, self.bytes.load(Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(total: u64, share: u64) -> Arc<Budget> {
        Arc::new(Budget::new(total, share, Arc::new(Metrics::default())))
    }

    #[test]
    fn reservations_are_released_on_drop() {
        let b = budget(1000, 100);
        let r = b.reserve("a", 600).unwrap();
        assert_eq!(b.held("a"), (600, 600));
        // Pin the variant: the whole budget, not the key's share, is spent.
        assert!(matches!(b.reserve("b", 500), Err(Error::BudgetSpent)));
        drop(r);
        assert_eq!(b.held("a"), (0, 0));
        assert!(b.reserve("b", 1000).is_ok());
    }

    #[test]
    fn one_key_holds_at_most_its_share() {
        let b = budget(1000, 50);
        let _r = b.reserve("ci", 400).unwrap();
        assert!(matches!(b.reserve("ci", 200), Err(Error::KeyShareSpent)));
        // Another key still gets through.
        let _o = b.reserve("other", 500).unwrap();
        assert!(!b.can_ever_hold(501));
        assert!(b.can_ever_hold(500));
    }

    #[test]
    fn growth_is_refused_without_losing_what_is_held() {
        let b = budget(1000, 100);
        let r = b.reserve("a", 0).unwrap();
        r.grow(700).unwrap();
        assert!(r.grow(400).is_err());
        assert_eq!(r.bytes(), 700);
        drop(r);
        assert_eq!(b.held("a"), (0, 0));
    }

    #[test]
    fn the_default_is_a_clamped_fraction_of_memory() {
        let gib = 1u64 << 30;
        assert_eq!(
            mem_total("MemTotal:       24542180 kB\nMemFree: 1 kB\n"),
            Some(24_542_180 * 1024)
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(default_budget_for(None), MIN_DEFAULT_BUDGET);
        assert_eq!(default_budget_for(Some(gib)), MIN_DEFAULT_BUDGET);
        assert_eq!(default_budget_for(Some(64 * gib)), 2 * gib);
        assert_eq!(default_budget_for(Some(256 * gib)), MAX_DEFAULT_BUDGET);
    }
}
