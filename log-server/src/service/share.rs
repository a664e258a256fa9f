//! Share links: an auditor or admin of a project gives someone without a
//! key (an external auditor) a read-only, expiring, revocable view of the
//! runs and the exception ledger of a period: no keys, no controls.
//!
//! Creating a link, using it (at most one record per link per
//! [`SHARE_USE_RECORD_MS`], so that a reader cannot flood the log) and
//! revoking it are records in the log (`share_token_created`,
//! `share_token_used`, `share_token_revoked`). The link's secret is random
//! (256 bits), kept by the server only as its SHA-256 and never recorded.
//! Links are kept in the store
//! ([`SessionStore`](crate::storage::SessionStore)), by the SHA-256 of their
//! secret, so that every frontend of a shared store serves them and a
//! restart keeps them. The time of a link's last use record is kept there
//! too and set with a compare-and-set before a use is recorded, so that two
//! frontends never both record a use of a link within the hour.

use compliance::principal::{Access, KeyRecord};
use compliance::record::{RecordBody, ShareTokenCreated, ShareTokenRevoked, ShareTokenUsed};
use compliance::time::{format_date, format_time, parse_date, parse_time};
use serde::Serialize;

use super::cockpit::{Page, PeriodView, page_after};
use super::export::ExportRequest;
use super::{Compliance, blocking, conflict, invalid};
use crate::keys::{key_hash, random_id, random_secret};
use crate::storage::ShareRow;
use crate::{Error, Result};

/// Longest life of a share link (30 days).
pub const MAX_SHARE_LIFETIME_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Longest period a share view covers (366 days, a leap year).
pub const MAX_SHARE_PERIOD_DAYS: i64 = 366;
/// A use of a link is recorded at most once per this long (1 hour).
pub const SHARE_USE_RECORD_MS: i64 = 60 * 60 * 1000;
/// A link is deleted from the store this long after it expired or was
/// revoked (7 days; until then the settings page lists it). Its creation,
/// uses and revocation stay in the log.
pub const SHARE_PRUNE_AFTER_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Most dead links deleted at one creation of a link.
pub const SHARE_PRUNE_BATCH: usize = 256;
/// A period's share view is computed at most once per this long (30 s),
/// whoever opens a link of it: a link passed around, or a page reloaded,
/// costs one computation of the period.
pub const SHARE_VIEW_CACHE_MS: i64 = 30 * 1000;
/// Periods whose views are kept at once.
const SHARE_VIEW_CACHE_ENTRIES: usize = 32;

/// A share view's key: the project and the period's first and last days.
type ViewKey = (String, i64, i64);

/// Recently computed share views, with when they were computed.
#[derive(Default)]
pub(crate) struct ViewCache {
    views: std::sync::Mutex<std::collections::HashMap<ViewKey, (i64, PeriodView)>>,
}

impl ViewCache {
    fn get(&self, key: &ViewKey, now: i64) -> Option<PeriodView> {
        let views = self
            .views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        views
            .get(key)
            .filter(|(at, _)| (0..SHARE_VIEW_CACHE_MS).contains(&(now - at)))
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: ViewKey, now: i64, view: &PeriodView) {
        let mut views = self
            .views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        views.retain(|_, (at, _)| (0..SHARE_VIEW_CACHE_MS).contains(&(now - *at)));
        if views.len() >= SHARE_VIEW_CACHE_ENTRIES
            && let Some(oldest) = views
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
        {
            views.remove(&oldest);
        }
        views.insert(key, (now, view.clone()));
    }
}

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
}

impl ShareLink {
    /// The link of a stored row.
    fn from_row(row: ShareRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Corrupt(format!("share link {}: {what}", row.id));
        let from = parse_date(&row.period_from).ok_or_else(|| corrupt("its first day"))?;
        let to = parse_date(&row.period_to).ok_or_else(|| corrupt("its last day"))?;
        let expires_ms = parse_time(&row.expires_at).ok_or_else(|| corrupt("its expiry"))?;
        Ok(ShareLink {
            id: row.id,
            project: row.project,
            period_from: row.period_from,
            period_to: row.period_to,
            created_at: row.created_at,
            created_by_name: row.created_by_name,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            from,
            to,
            expires_ms,
        })
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
        let today = self.today();
        let req = ExportRequest::parse(from, to, None, today)?;
        if req.to > today {
            return Err(invalid(format!(
                "a share view ends no later than today (UTC, {}): to is {}",
                format_date(today),
                format_date(req.to)
            )));
        }
        let days = req.to - req.from + 1;
        if days > MAX_SHARE_PERIOD_DAYS {
            return Err(invalid(format!(
                "a share view covers at most {MAX_SHARE_PERIOD_DAYS} days; {} to {} is {days} days",
                format_date(req.from),
                format_date(req.to)
            )));
        }
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
        let row = ShareRow {
            id,
            project: project.to_owned(),
            period_from: c.period_from.clone(),
            period_to: c.period_to.clone(),
            created_at: record.time.clone(),
            created_by_name: caller.name.clone(),
            expires_at: c.expires_at.clone(),
            revoked_at: None,
            last_use_recorded: None,
            created_by: caller.id.clone(),
        };
        let link = ShareLink::from_row(row.clone())?;
        // Recorded first: if this write fails, the record names a link that
        // never worked.
        let keys = self.keys.clone();
        let hash = key_hash(&secret);
        blocking(move || keys.put_share(&hash, &row)).await?;
        self.prune_shares(project).await?;
        Ok(NewShare { secret, link })
    }

    /// Deletes up to [`SHARE_PRUNE_BATCH`] of the project's links that
    /// expired or were revoked [`SHARE_PRUNE_AFTER_MS`] ago or more.
    async fn prune_shares(&self, project: &str) -> Result<()> {
        let now = self.now();
        let (keys, p) = (self.keys.clone(), project.to_owned());
        let pruned = blocking(move || {
            let mut n = 0;
            for (hash, row) in keys.shares(&p)? {
                let dead_since = [Some(row.expires_at.as_str()), row.revoked_at.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter_map(parse_time)
                    .min();
                if dead_since.is_some_and(|t| now - t >= SHARE_PRUNE_AFTER_MS) {
                    keys.delete_share(&hash)?;
                    n += 1;
                    if n == SHARE_PRUNE_BATCH {
                        break;
                    }
                }
            }
            Ok(n)
        })
        .await?;
        if pruned > 0 {
            tracing::info!(project, pruned, "deleted share links dead for 7 days");
        }
        Ok(())
    }

    /// A page of the project's share links, newest first: at most
    /// `limit`, after link `after` (auditor or admin).
    ///
    /// # Errors
    /// Refusals; an unknown `after` (400); storage failures.
    pub async fn shares(
        &self,
        caller: &KeyRecord,
        project: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<ShareLink>> {
        self.project_for(caller, project, Access::Export).await?;
        let keys = self.keys.clone();
        let p = project.to_owned();
        let rows = blocking(move || keys.shares(&p)).await?;
        let mut list = rows
            .into_iter()
            .map(|(_, row)| ShareLink::from_row(row))
            .collect::<Result<Vec<_>>>()?;
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        page_after(list, |l| l.id.as_str(), after, limit)
    }

    /// Revokes a share link (auditor or admin of its project) and records it.
    ///
    /// # Errors
    /// [`Error::NotFound`]; 409 if already revoked; pushback; storage failures.
    pub async fn revoke_share(&self, caller: &KeyRecord, project: &str, id: &str) -> Result<()> {
        let p = self.project_for(caller, project, Access::Export).await?;
        let keys = self.keys.clone();
        let (pr, wanted) = (project.to_owned(), id.to_owned());
        let found =
            blocking(move || Ok(keys.shares(&pr)?.into_iter().find(|(_, l)| l.id == wanted)))
                .await?;
        let (hash, link) = found.ok_or_else(|| Error::NotFound(format!("no share link {id:?}")))?;
        let already = || conflict(format!("share link {id} is already revoked"));
        if link.revoked_at.is_some() {
            return Err(already());
        }
        // The link stops working before its revocation is recorded (fail
        // closed: if the record fails, the link stays revoked and the
        // answer is the error). Of two frontends revoking it at once, one
        // revokes it and records it; the other gets 409.
        let keys = self.keys.clone();
        let at = format_time(self.now());
        if !blocking(move || keys.revoke_share(&hash, &at)).await? {
            return Err(already());
        }
        let staged = self
            .under_lock(&p, |ps, now| {
                let body = RecordBody::ShareTokenRevoked(ShareTokenRevoked {
                    token_id: id.to_owned(),
                    revoked_by: caller.id.clone(),
                    revoked_by_name: caller.name.clone(),
                });
                self.stage(ps, random_id("evt"), body, now)
            })
            .await?;
        staged.wait().await?;
        Ok(())
    }

    /// What the link of `secret` shows, if it exists, is not revoked and
    /// has not expired; records its use (at most once an hour, whichever
    /// frontend serves it).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown, revoked or expired link (one
    /// answer for all three); pushback; storage failures.
    pub async fn open_share(&self, secret: &str) -> Result<SharedPeriod> {
        let gone =
            || Error::NotFound("this share link does not exist, expired or was revoked".into());
        let hash = key_hash(secret);
        // One point read (inline is fine, as for an API key).
        let row = self.keys.share(&hash)?.ok_or_else(gone)?;
        // A link dies with its creator's key (fail closed: a link stored
        // before its creator's key was kept with it has none).
        let (keys, creator) = (self.keys.clone(), row.created_by.clone());
        let creator_active = !creator.is_empty()
            && blocking(move || {
                Ok(crate::keys::list_keys(&*keys)?
                    .into_iter()
                    .any(|k| k.id == creator && k.revoked_at.is_none()))
            })
            .await?;
        if !creator_active {
            return Err(gone());
        }
        let last_use = row.last_use_recorded;
        let link = ShareLink::from_row(row)?;
        let now = self.now();
        if link.revoked_at.is_some() || now >= link.expires_ms {
            return Err(gone());
        }
        let p = self.project(&link.project).await?;
        if last_use.is_none_or(|t| now - t >= SHARE_USE_RECORD_MS) {
            // Claim this hour's use record in the store first: of several
            // frontends serving the link at once, one records it.
            let keys = self.keys.clone();
            let claimed = blocking(move || keys.swap_share_use(&hash, last_use, Some(now))).await?;
            if claimed && let Err(e) = self.record_share_use(&p, &link.id).await {
                // Give the claim back, so that the next use is recorded.
                let keys = self.keys.clone();
                let undo = blocking(move || keys.swap_share_use(&hash, Some(now), last_use)).await;
                if let Err(u) = undo {
                    tracing::warn!(error = %u, link = %link.id, "a share link's use claim was not given back");
                }
                return Err(e);
            }
        }
        let project_name = p.lock().await.row.name.clone();
        let key = (link.project.clone(), link.from, link.to);
        let view = match self.share_views.get(&key, now) {
            Some(v) => v,
            None => {
                let v = self.period_view(&link.project, link.from, link.to).await?;
                self.share_views.put(key, now, &v);
                v
            }
        };
        Ok(SharedPeriod {
            link,
            project_name,
            view,
        })
    }

    /// Records a use of link `id` (a `share_token_used` record) and waits
    /// until it is durable.
    async fn record_share_use(&self, p: &super::Project, id: &str) -> Result<()> {
        let staged = self
            .under_lock(p, |ps, now| {
                let body = RecordBody::ShareTokenUsed(ShareTokenUsed {
                    token_id: id.to_owned(),
                });
                self.stage(ps, random_id("evt"), body, now)
            })
            .await?;
        staged.wait().await?;
        Ok(())
    }
}
