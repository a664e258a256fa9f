//! Cockpit sessions: a project principal signs in with its API key once and
//! gets a random session secret (the cookie); the key itself is never sent
//! back to the browser (see `spec/cockpit.md`).
//!
//! Sessions live in the service's memory, by the SHA-256 of their secret:
//! a restart of the server signs everyone out. A session ends after
//! [`SESSION_IDLE_MS`] without a request, [`SESSION_ABSOLUTE_MS`] after
//! sign-in whatever happens, at sign-out, and as soon as its API key is
//! revoked (the key record is read again, by its hash, at every request).

use std::collections::HashMap;
use std::sync::Mutex;

use compliance::principal::KeyRecord;

use super::{Compliance, forbidden};
use crate::Result;
use crate::keys::{key_hash, random_secret};

/// A session ends after this long without a request (30 minutes).
pub const SESSION_IDLE_MS: i64 = 30 * 60 * 1000;
/// A session ends this long after sign-in (12 hours).
pub const SESSION_ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;
/// Most sessions kept at once; the oldest are dropped beyond it.
pub const MAX_SESSIONS: usize = 10_000;

/// A signed-in principal's session, as the server keeps it.
#[derive(Clone, Debug)]
struct SessionRow {
    /// SHA-256 of the principal's API key (to read its record again).
    key_hash: [u8; 32],
    /// The form token of the session (CSRF).
    csrf: String,
    created_at: i64,
    last_seen: i64,
}

/// The sessions of the cockpit, in memory.
#[derive(Default)]
pub struct Sessions {
    rows: Mutex<HashMap<[u8; 32], SessionRow>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], SessionRow>> {
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A live session: who, and the token its forms must carry.
#[derive(Clone, Debug)]
pub struct Session {
    /// The principal (its key record, read at this request).
    pub principal: KeyRecord,
    /// The session's CSRF token.
    pub csrf: String,
}

/// A new session: the secret to set as the cookie, and the session.
pub struct SignedIn {
    /// The cookie's value (shown to the browser only, never stored in clear).
    pub secret: String,
    /// The session.
    pub session: Session,
}

impl Compliance {
    /// Exchanges a project principal's API key for a session.
    ///
    /// # Errors
    /// [`compliance::Error::Forbidden`] for an unknown, revoked or log-wide
    /// key (the cockpit is a project's); storage failures.
    pub fn sign_in(&self, api_key: &str) -> Result<SignedIn> {
        let refused = || forbidden("unknown or revoked API key");
        let api_key = api_key.trim();
        if api_key.is_empty() || api_key.len() > 200 {
            return Err(refused());
        }
        let principal = crate::keys::authenticate(&*self.keys, api_key)?.ok_or_else(refused)?;
        if principal.project.is_none() {
            return Err(forbidden(
                "sign in with the API key of one of a project's principals; log-wide keys have no cockpit",
            ));
        }
        let now = self.now();
        let secret = random_secret("sas");
        let csrf = random_secret("csrf");
        let mut rows = self.sessions.lock();
        rows.retain(|_, r| live(r, now));
        if rows.len() >= MAX_SESSIONS
            && let Some(oldest) = rows
                .iter()
                .min_by_key(|(_, r)| r.created_at)
                .map(|(k, _)| *k)
        {
            rows.remove(&oldest);
        }
        rows.insert(
            key_hash(&secret),
            SessionRow {
                key_hash: key_hash(api_key),
                csrf: csrf.clone(),
                created_at: now,
                last_seen: now,
            },
        );
        Ok(SignedIn {
            secret,
            session: Session { principal, csrf },
        })
    }

    /// The live session of a cookie's secret, if any; a request renews its
    /// idle time. The principal's key is read again: a revoked key ends
    /// its sessions.
    ///
    /// # Errors
    /// Storage failures.
    pub fn session(&self, secret: &str) -> Result<Option<Session>> {
        let now = self.now();
        let id = key_hash(secret);
        let row = {
            let mut rows = self.sessions.lock();
            match rows.get_mut(&id) {
                Some(r) if live(r, now) => {
                    r.last_seen = now;
                    r.clone()
                }
                Some(_) => {
                    rows.remove(&id);
                    return Ok(None);
                }
                None => return Ok(None),
            }
        };
        // One point read (inline is fine, as for an API key).
        let principal = self
            .keys
            .key(&row.key_hash)?
            .filter(|k| k.revoked_at.is_none() && k.project.is_some());
        match principal {
            Some(principal) => Ok(Some(Session {
                principal,
                csrf: row.csrf,
            })),
            None => {
                self.sessions.lock().remove(&id);
                Ok(None)
            }
        }
    }

    /// Ends the session of a cookie's secret (nothing if there is none).
    pub fn sign_out(&self, secret: &str) {
        self.sessions.lock().remove(&key_hash(secret));
    }
}

fn live(r: &SessionRow, now: i64) -> bool {
    now - r.last_seen < SESSION_IDLE_MS && now - r.created_at < SESSION_ABSOLUTE_MS
}

/// Constant-time comparison of two tokens.
#[must_use]
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
