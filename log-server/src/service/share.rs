//! Share links: an auditor or admin of a project gives someone without a
//! key (an external auditor) a read-only, expiring, revocable view of the
//! runs and the exception ledger of a period: no keys, no controls.
//!
//! Creating a link, using it (at most one record per link per
//! [`SHARE_USE_RECORD_MS`], so that a reader cannot flood the log) and
//! revoking it are records in the log (`share_token_created`,
//! `share_token_used`, `share_token_revoked`). The link's secret is random
//! (256 bits), kept by the server only as its SHA-256 and never recorded.
//! Links live in the service's memory: a restart ends every link (their
//! records stay in the log).

use std::collections::HashMap;
use std::sync::Mutex;

use compliance::principal::{Access, KeyRecord};
use compliance::record::{RecordBody, ShareTokenCreated, ShareTokenRevoked, ShareTokenUsed};
use compliance::time::{format_date, format_time};
use serde::Serialize;

use super::cockpit::PeriodView;
use super::export::ExportRequest;
use super::{Compliance, conflict, invalid};
use crate::keys::{key_hash, random_id, random_secret};
use crate::{Error, Result};

/// Longest life of a share link (30 days).
pub const MAX_SHARE_LIFETIME_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// A use of a link is recorded at most once per this long (1 hour).
pub const SHARE_USE_RECORD_MS: i64 = 60 * 60 * 1000;

/// A share link as the server keeps it (never its secret).
#[derive(Clone, Debug, Serialize)]
pub struct ShareLink {
    /// Public ID (`shr_…`).
    pub id: String,
    /// The project.
    pub project: String,
    /// First day shown (`YYYY-MM-DD`).
    pub period_from: String,
    /// Last day shown.
    pub period_to: String,
    /// Created (RFC 3339) and by whom (name).
    pub created_at: String,
    /// Its creator's name.
    pub created_by_name: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    #[serde(skip)]
    from: i64,
    #[serde(skip)]
    to: i64,
    #[serde(skip)]
    expires_ms: i64,
    #[serde(skip)]
    last_use_recorded: Option<i64>,
}

/// The share links of every project, by the SHA-256 of their secret.
#[derive(Default)]
pub struct ShareLinks {
    rows: Mutex<HashMap<[u8; 32], ShareLink>>,
}

impl ShareLinks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], ShareLink>> {
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A link just created: its secret (shown once) and the link.
pub struct NewShare {
    /// The secret part of the link's URL (`/share/{secret}`).
    pub secret: String,
    /// The link.
    pub link: ShareLink,
}

/// What a share link shows.
pub struct SharedPeriod {
    /// The link.
    pub link: ShareLink,
    /// The project's name.
    pub project_name: String,
    /// The runs and ledger events of the period.
    pub view: PeriodView,
}

impl Compliance {
    /// Creates a share link of days `from..=to` (`YYYY-MM-DD`, defaults as
    /// for an export) that works for `lifetime_ms` (auditor or admin of the
    /// project), and records it.
    ///
    /// # Errors
    /// Refusals (bad period or lifetime); pushback; storage failures.
    pub async fn create_share(
        &self,
        caller: &KeyRecord,
        project: &str,
        (from, to): (Option<&str>, Option<&str>),
        lifetime_ms: i64,
    ) -> Result<NewShare> {
        let p = self.project_for(caller, project, Access::Export).await?;
        let req = ExportRequest::parse(from, to, None, self.today())?;
        if !(1..=MAX_SHARE_LIFETIME_MS).contains(&lifetime_ms) {
            return Err(invalid(format!(
                "a share link lives at most {} days",
                MAX_SHARE_LIFETIME_MS / compliance::time::DAY_MS
            )));
        }
        let id = random_id("shr");
        let secret = random_secret("sat");
        let staged = self
            .under_lock(&p, |ps, now| {
                let body = RecordBody::ShareTokenCreated(ShareTokenCreated {
                    token_id: id.clone(),
                    created_by: caller.id.clone(),
                    created_by_name: caller.name.clone(),
                    period_from: format_date(req.from),
                    period_to: format_date(req.to),
                    expires_at: format_time(now + lifetime_ms),
                });
                self.stage(ps, random_id("evt"), body, now)
            })
            .await?;
        let (record, _, _) = staged.wait().await?;
        let RecordBody::ShareTokenCreated(c) = &record.body else {
            return Err(Error::Corrupt(
                "a share link staged as another record".into(),
            ));
        };
        let link = ShareLink {
            id,
            project: project.to_owned(),
            period_from: c.period_from.clone(),
            period_to: c.period_to.clone(),
            created_at: record.time.clone(),
            created_by_name: caller.name.clone(),
            expires_at: c.expires_at.clone(),
            revoked_at: None,
            from: req.from,
            to: req.to,
            expires_ms: compliance::time::parse_time(&c.expires_at).unwrap_or(0),
            last_use_recorded: None,
        };
        self.shares.lock().insert(key_hash(&secret), link.clone());
        Ok(NewShare { secret, link })
    }

    /// The project's share links, newest first (auditor or admin).
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn shares(&self, caller: &KeyRecord, project: &str) -> Result<Vec<ShareLink>> {
        self.project_for(caller, project, Access::Export).await?;
        let mut list: Vec<ShareLink> = self
            .shares
            .lock()
            .values()
            .filter(|l| l.project == project)
            .cloned()
            .collect();
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(list)
    }

    /// Revokes a share link (auditor or admin of its project) and records it.
    ///
    /// # Errors
    /// [`Error::NotFound`]; 409 if already revoked; pushback; storage failures.
    pub async fn revoke_share(&self, caller: &KeyRecord, project: &str, id: &str) -> Result<()> {
        let p = self.project_for(caller, project, Access::Export).await?;
        let staged = self
            .under_lock(&p, |ps, now| {
                let mut links = self.shares.lock();
                let link = links
                    .values_mut()
                    .find(|l| l.id == id && l.project == project)
                    .ok_or_else(|| Error::NotFound(format!("no share link {id:?}")))?;
                if link.revoked_at.is_some() {
                    return Err(conflict(format!("share link {id} is already revoked")));
                }
                let body = RecordBody::ShareTokenRevoked(ShareTokenRevoked {
                    token_id: id.to_owned(),
                    revoked_by: caller.id.clone(),
                    revoked_by_name: caller.name.clone(),
                });
                let staged = self.stage(ps, random_id("evt"), body, now)?;
                link.revoked_at = Some(format_time(now));
                Ok(staged)
            })
            .await?;
        staged.wait().await?;
        Ok(())
    }

    /// What the link of `secret` shows, if it exists, is not revoked and
    /// has not expired; records its use (at most once an hour).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown, revoked or expired link (one
    /// answer for all three); pushback; storage failures.
    pub async fn open_share(&self, secret: &str) -> Result<SharedPeriod> {
        let gone =
            || Error::NotFound("this share link does not exist, expired or was revoked".into());
        let hash = key_hash(secret);
        let link = self.shares.lock().get(&hash).cloned().ok_or_else(gone)?;
        let p = self.project(&link.project).await?;
        let (staged, name) = self
            .under_lock(&p, |ps, now| {
                let mut links = self.shares.lock();
                let l = links.get_mut(&hash).ok_or_else(gone)?;
                if l.revoked_at.is_some() || now >= l.expires_ms {
                    return Err(gone());
                }
                let due = l
                    .last_use_recorded
                    .is_none_or(|t| now - t >= SHARE_USE_RECORD_MS);
                let staged = if due {
                    let body = RecordBody::ShareTokenUsed(ShareTokenUsed {
                        token_id: l.id.clone(),
                    });
                    let s = self.stage(ps, random_id("evt"), body, now)?;
                    l.last_use_recorded = Some(now);
                    Some(s)
                } else {
                    None
                };
                Ok((staged, ps.row.name.clone()))
            })
            .await?;
        if let Some(s) = staged {
            s.wait().await?;
        }
        let view = self.period_view(&link.project, link.from, link.to).await?;
        Ok(SharedPeriod {
            link,
            project_name: name,
            view,
        })
    }
}
