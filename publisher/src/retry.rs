//! Retries with exponential backoff, shared by the GitHub client and the
//! HTTP checkpoint source.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

use crate::Error;

/// How requests to GitHub and to the log are retried.
///
/// A request is retried on HTTP 5xx, timeouts, transport errors and rate
/// limits; never on other 4xx. The delay before retry `n` (from 0) is
/// `base_delay * 2^n`, at most `max_delay`, less a random part of up to
/// half (jitter), unless the server said how long
/// to wait (`Retry-After`, or GitHub's `x-ratelimit-reset`), which is
/// honoured up to `max_wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a request is tried in all (at least 1).
    pub attempts: u32,
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// Largest delay between two tries when the server did not say.
    pub max_delay: Duration,
    /// Longest wait the server may ask for before the request gives up.
    pub max_wait: Duration,
    /// Timeout of each try.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_wait: Duration::from_secs(15 * 60),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The backoff delay before retry number `n` (from 0).
    #[must_use]
    pub fn backoff(&self, n: u32) -> Duration {
        self.base_delay
            .saturating_mul(2u32.saturating_pow(n))
            .min(self.max_delay)
    }
}

/// A random delay between half of `d` and `d` ("equal jitter"), so that
/// clients that failed together do not retry together.
pub(crate) fn jitter(d: Duration) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    // RandomState is seeded randomly per instance: enough randomness for
    // spreading retries, without a dependency.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = d / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(random % nanos.max(1))
}

/// The result of one failed try.
pub(crate) enum Attempt {
    /// Worth trying again, after `after` if the server said so.
    Retry {
        /// The server's requested delay.
        after: Option<Duration>,
        /// The error to report if no try is left.
        error: Error,
    },
    /// Not worth trying again.
    Fail(Error),
}

/// Runs `op` until it succeeds, fails for good, or the policy's tries are
/// used up. Each try is bounded by `policy.request_timeout`.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    operation: &str,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt>>,
{
    let attempts = policy.attempts.max(1);
    let mut n = 0;
    loop {
        let (after, error) = match tokio::time::timeout(policy.request_timeout, op()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(Attempt::Fail(e))) => return Err(e),
            Ok(Err(Attempt::Retry { after, error })) => (after, error),
            Err(_) => (
                None,
                Error::Timeout {
                    operation: operation.to_owned(),
                    after: policy.request_timeout,
                },
            ),
        };
        if let Some(wait) = after
            && wait > policy.max_wait
        {
            return Err(Error::RateLimited {
                operation: operation.to_owned(),
                wait,
                max_wait: policy.max_wait,
            });
        }
        n += 1;
        if n >= attempts {
            return Err(error);
        }
        let delay = after.unwrap_or_else(|| jitter(policy.backoff(n - 1)));
        tracing::warn!(
            %error, try_ = n, of = attempts, delay_ms = delay.as_millis(),
            "{operation}: retrying"
        );
        tokio::time::sleep(delay).await;
    }
}

/// The `Retry-After` header, in seconds (the HTTP-date form is not used by
/// GitHub or the log, and is ignored).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_u64(headers, "retry-after").map(Duration::from_secs)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long a rate-limited response asks to wait: `Retry-After` (seconds),
/// else, when `x-ratelimit-remaining` is 0, until `x-ratelimit-reset` (Unix
/// seconds) plus one second. `None` if the headers say neither.
pub(crate) fn rate_limit_wait(headers: &HeaderMap, now_unix: u64) -> Option<Duration> {
    if let Some(wait) = retry_after(headers) {
        return Some(wait);
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0)
        && let Some(reset) = header_u64(headers, "x-ratelimit-reset")
    {
        return Some(Duration::from_secs(reset.saturating_sub(now_unix) + 1));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        let got: Vec<_> = (0..4).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(got, [100, 200, 350, 350]);
        assert_eq!(p.backoff(100), Duration::from_millis(350));
    }

    #[test]
    fn jitter_stays_between_half_and_whole() {
        let d = Duration::from_millis(100);
        for _ in 0..100 {
            let j = jitter(d);
            assert!(j >= d / 2 && j < d, "{j:?}");
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn rate_limit_headers() {
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, v.parse().unwrap());
            }
            m
        };
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Headers, Option<u64>)] = &[
            (&[("retry-after", "7")], Some(7)),
            (
                &[("retry-after", "7"), ("x-ratelimit-remaining", "0")],
                Some(7),
            ),
            (
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1010"),
                ],
                Some(11),
            ),
            // A reset in the past still waits a second.
            (
                &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "900")],
                Some(1),
            ),
            (
                &[
                    ("x-ratelimit-remaining", "3"),
                    ("x-ratelimit-reset", "1010"),
                ],
                None,
            ),
            (&[("retry-after", "soon")], None),
            (&[], None),
        ];
        for (headers, want) in cases {
            assert_eq!(
                rate_limit_wait(&h(headers), 1000),
                want.map(Duration::from_secs),
                "{headers:?}"
            );
        }
    }
}
