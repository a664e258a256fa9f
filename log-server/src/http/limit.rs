//! Rate limits (`spec/http-api.md`, "Rate limits"): how often one client
//! address may try to sign in to the cockpit or open share links, and how
//! many write requests one API key may make to the JSON API, each a
//! generic cell rate (GCRA, the `governor` crate) with a burst. Past a
//! limit the answer is 429 with `Retry-After` (whole seconds until the
//! next request would pass), before anything else is done: no key is read,
//! no body, no record.
//!
//! Limiting by client address counts the address the connection comes
//! from: behind a reverse proxy, every client shares the proxy's address,
//! and the proxy should limit instead (the limits can be raised or turned
//! off with `serve`'s flags).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use super::error::ApiError;
use super::ui::UiError;
use crate::keys::key_hash;
use crate::metrics::Refused;

/// Sign-in attempts a client address may make per minute (and at once).
pub const DEFAULT_SIGNIN_PER_MINUTE: u32 = 30;
/// Share-link views a client address may make per minute (a third of them
/// at once).
pub const DEFAULT_SHARE_PER_MINUTE: u32 = 120;
/// Write requests (POST, PUT, PATCH, DELETE under `/api/` and `/v1/admin/`)
/// one API key may make per second (twice as many at once). The log's raw
/// entries (`POST /v1/entries`) are limited by its sequencer's pushback
/// instead.
pub const DEFAULT_WRITES_PER_SECOND: u32 = 1_000;

/// The limits' rates; 0 turns one off.
#[derive(Clone, Copy, Debug)]
pub struct LimitConfig {
    /// Sign-in attempts per client address per minute.
    pub signin_per_minute: u32,
    /// Share-link views per client address per minute.
    pub share_per_minute: u32,
    /// Write requests per API key per second.
    pub writes_per_second: u32,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            signin_per_minute: DEFAULT_SIGNIN_PER_MINUTE,
            share_per_minute: DEFAULT_SHARE_PER_MINUTE,
            writes_per_second: DEFAULT_WRITES_PER_SECOND,
        }
    }
}

/// The keyed limiters.
pub struct Limits {
    signin: Option<DefaultKeyedRateLimiter<IpAddr>>,
    share: Option<DefaultKeyedRateLimiter<IpAddr>>,
    writes: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    /// Checks since the limiters last forgot idle keys.
    checks: AtomicU64,
}

/// Keys idle long enough to be back at a full burst are forgotten every
/// this many checks, so that memory follows the active clients.
const FORGET_EVERY: u64 = 4_096;

fn limiter<K>(quota: Option<Quota>) -> Option<DefaultKeyedRateLimiter<K>>
where
    K: std::hash::Hash + Eq + Clone,
{
    quota.map(RateLimiter::keyed)
}

impl Limits {
    /// Limiters with `config`'s rates.
    #[must_use]
    pub fn new(config: LimitConfig) -> Self {
        let per_minute = |n: u32, burst: u32| {
            NonZeroU32::new(n).map(|n| {
                Quota::per_minute(n).allow_burst(NonZeroU32::new(burst.max(1)).unwrap_or(n))
            })
        };
        let per_second = |n: u32| {
            NonZeroU32::new(n).map(|n| {
                Quota::per_second(n)
                    .allow_burst(NonZeroU32::new(n.get().saturating_mul(2)).unwrap_or(n))
            })
        };
        Limits {
            signin: limiter(per_minute(
                config.signin_per_minute,
                config.signin_per_minute,
            )),
            share: limiter(per_minute(
                config.share_per_minute,
                config.share_per_minute / 3,
            )),
            writes: limiter(per_second(config.writes_per_second)),
            checks: AtomicU64::new(0),
        }
    }

    fn forget_idle(&self) {
        if self.checks.fetch_add(1, Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            for l in [&self.signin, &self.share].into_iter().flatten() {
                l.retain_recent();
            }
            if let Some(l) = &self.writes {
                l.retain_recent();
            }
        }
    }
}

/// What a request is limited as.
enum Limited {
    SignIn(IpAddr),
    Share(IpAddr),
    Write([u8; 32]),
}

fn classify(req: &Request) -> Option<Limited> {
    let path = req.uri().path();
    let client = || {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
    };
    let method = req.method();
    // The API-key form, and both steps of a provider's sign-in.
    let provider = path.starts_with("/ui/oidc/") || path.starts_with("/ui/github/");
    if provider || path.starts_with("/ui/signin") {
        return (method == Method::POST || provider).then(|| Limited::SignIn(client()));
    }
    if path.starts_with("/share/") {
        return Some(Limited::Share(client()));
    }
    let write = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if write && (path.starts_with("/api/") || path.starts_with("/v1/admin/")) {
        // By the key's hash, before it is looked up: an unknown key is
        // limited like a known one (and then refused).
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        return Some(Limited::Write(key_hash(token)));
    }
    None
}

/// The middleware: 429 with `Retry-After` past a limit.
pub async fn limit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let limits = &s.intake.limits;
    let Some(kind) = classify(&req) else {
        return next.run(req).await;
    };
    limits.forget_idle();
    let (verdict, what) = match &kind {
        Limited::SignIn(ip) => (
            limits.signin.as_ref().map(|l| l.check_key(ip)),
            "sign-in attempts from this address",
        ),
        Limited::Share(ip) => (
            limits.share.as_ref().map(|l| l.check_key(ip)),
            "share-link views from this address",
        ),
        Limited::Write(k) => (
            limits.writes.as_ref().map(|l| l.check_key(k)),
            "write requests with this API key",
        ),
    };
    let Some(Err(not_until)) = verdict else {
        return next.run(req).await;
    };
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0 || wait == Duration::ZERO);
    s.log.metrics.refused(Refused::RateLimited);
    if let Limited::SignIn(ip) = kind {
        tracing::warn!(client = %ip, "sign-in attempts over the limit");
    }
    let msg = format!("too many {what}; retry in {secs} s");
    let ui = req.uri().path().starts_with("/ui/") || req.uri().path().starts_with("/share/");
    let mut resp = if ui {
        UiError(ApiError::RateLimited(msg)).into_response()
    } else {
        ApiError::RateLimited(msg).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if super::extract::has_body(&req) {
        resp = super::extract::unread_body(resp);
    }
    resp
}
