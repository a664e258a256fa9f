//! Cockpit sessions: a project principal signs in with its API key once and
//! gets a random session secret (the cookie); the key itself is never sent
//! back to the browser (see `spec/cockpit.md`).
//!
//! Sessions are kept in the store
//! ([`SessionStore`](crate::storage::SessionStore)), by the SHA-256 of their
//! secret, so that every frontend of a shared store knows them and a restart
//! keeps them. A session ends after [`SESSION_IDLE_MS`] without a
//! request, [`SESSION_ABSOLUTE_MS`] after sign-in whatever happens, at
//! sign-out, and as soon as its API key is revoked (the key record is read
//! again, by its hash, at every request).
//!
//! A request does not write: the stored `last_seen` is moved forward only
//! when it is [`SESSION_RENEW_MS`] old or older, so it lags the last request
//! by less than that, and a session ends between `SESSION_IDLE_MS -
//! SESSION_RENEW_MS` and `SESSION_IDLE_MS` after its last request (29 to 30
//! minutes). Expired sessions are deleted when read, and at most
//! [`PRUNE_BATCH`] of them at each sign-in.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use compliance::ledger::PeopleSignIn;
use compliance::principal::{IdpSubject, KeyRecord, Profile, same_email};

use super::oidc::same_issuer;
use super::{Compliance, blocking, forbidden};
use crate::Result;
use crate::keys::{key_hash, random_secret, to_hex as hex};
use crate::storage::SessionRow;

/// A session ends after this long without a request (30 minutes).
pub const SESSION_IDLE_MS: i64 = 30 * 60 * 1000;
/// A session ends this long after sign-in (12 hours).
pub const SESSION_ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;
/// A request renews a session's stored idle time only when it is this old
/// (1 minute): the precision of the idle expiry.
pub const SESSION_RENEW_MS: i64 = 60 * 1000;
/// Most expired sessions deleted at one sign-in.
pub const PRUNE_BATCH: usize = 256;
/// Most sessions one principal holds at once: a sign-in beyond it ends the
/// least recently used of the principal's sessions (and any expired one).
pub const MAX_SESSIONS_PER_KEY: usize = 10;

/// A live session: who, and the token its forms must carry.
#[derive(Clone, Debug)]
pub struct Session {
    /// The principal (its key record, read at this request).
    pub principal: KeyRecord,
    /// The session's CSRF token.
    pub csrf: String,
    /// The session's ID (the SHA-256 of its secret).
    pub id: [u8; 32],
    /// The SHA-256 of the principal's API key.
    pub key_hash: [u8; 32],
}

/// One of a principal's sessions, as the cockpit lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's ID, hex (the SHA-256 of its secret, never the secret).
    pub id: String,
    /// Sign-in time (ms since the epoch).
    pub created_at: i64,
    /// Time of a recent request (ms; within [`SESSION_RENEW_MS`] of the
    /// last one).
    pub last_seen: i64,
    /// Whether it is the session asking.
    pub current: bool,
}

/// Who an identity provider or GitHub vouched for.
#[derive(Clone, Debug)]
pub enum Identity {
    /// An OpenID Connect issuer and subject, and the e-mail address the
    /// provider vouched for (`email_verified`), if any.
    Idp {
        /// The issuer and subject.
        subject: IdpSubject,
        /// A verified e-mail address (never an unverified one).
        email: Option<String>,
        /// The token's groups (`serve --oidc-groups-claim`); `None` when
        /// the log does not read groups.
        groups: Option<Vec<String>>,
    },
    /// A GitHub user, by numeric ID (never by login: logins are renamed
    /// and reused); the login is for messages only.
    GitHub {
        /// GitHub's numeric user ID.
        id: u64,
        /// The login it has now.
        login: String,
    },
}

impl Identity {
    /// Whether a principal's profile is bound to this identity.
    #[must_use]
    pub fn binds(&self, profile: &Profile) -> bool {
        match self {
            Identity::Idp { subject: want, .. } => profile
                .idp
                .as_ref()
                .is_some_and(|b| same_issuer(&b.issuer, &want.issuer) && b.subject == want.subject),
            Identity::GitHub { id, .. } => profile.github_id == Some(*id),
        }
    }

    /// Whether a principal's profile invites this identity: no subject
    /// bound yet, and its e-mail address is the one the provider vouched
    /// for.
    #[must_use]
    pub fn invited(&self, profile: &Profile) -> bool {
        match self {
            Identity::Idp {
                email: Some(email), ..
            } => {
                profile.idp.is_none()
                    && profile
                        .email
                        .as_deref()
                        .is_some_and(|invited| same_email(invited, email))
            }
            _ => false,
        }
    }

    /// Who vouched: "the identity provider https://..." or "GitHub".
    #[must_use]
    pub fn vouched_by(&self) -> String {
        match self {
            Identity::Idp { subject: i, .. } => format!("the identity provider {}", i.issuer),
            Identity::GitHub { .. } => "GitHub".to_owned(),
        }
    }

    /// The identity in words.
    #[must_use]
    pub fn described(&self) -> String {
        match self {
            Identity::Idp { subject: i, .. } => format!("the subject {:?}", i.subject),
            Identity::GitHub { id, login } => format!("the GitHub user {login} (ID {id})"),
        }
    }

    /// What a log admin binds to a principal, in the API's words.
    #[must_use]
    pub fn binding(&self) -> String {
        match self {
            Identity::Idp { subject: i, .. } => format!(
                "this subject (\"idp\": {{\"issuer\": {:?}, \"subject\": {:?}}})",
                i.issuer, i.subject
            ),
            Identity::GitHub { id, .. } => format!("this GitHub ID (\"github_id\": {id})"),
        }
    }
}

/// A new session: the secret to set as the cookie, and the session.
pub struct SignedIn {
    /// The cookie's value (shown to the browser only, never stored in clear).
    pub secret: String,
    /// The session.
    pub session: Session,
}

impl Compliance {
    /// Exchanges a project principal's API key for a session, stored
    /// durably; prunes up to [`PRUNE_BATCH`] expired sessions.
    ///
    /// # Errors
    /// [`compliance::Error::Forbidden`] for an unknown, revoked or log-wide
    /// key (the cockpit is a project's); storage failures.
    pub async fn sign_in(&self, api_key: &str) -> Result<SignedIn> {
        let refused = || forbidden("unknown or revoked API key");
        let api_key = api_key.trim();
        if api_key.is_empty() || api_key.len() > 200 {
            return Err(refused());
        }
        // One point read (inline is fine, as for an API key).
        let principal = crate::keys::authenticate(&*self.keys, api_key)?.ok_or_else(refused)?;
        let Some(project) = principal.project.clone() else {
            return Err(forbidden(
                "sign in with the API key of one of a project's principals; log-wide keys have no cockpit",
            ));
        };
        // `people_sign_in: sso_only`: a person's key opens no session (a
        // bot's does).
        let (records, key) = (self.records.clone(), principal.clone());
        let person_refused = blocking(move || {
            let Some(row) = records.project(&project)? else {
                return Ok(false);
            };
            if row.settings.people_sign_in != PeopleSignIn::SsoOnly {
                return Ok(false);
            }
            let profile = records.profile(&project, &key.id)?.unwrap_or_default();
            Ok(!row.settings.is_bot_principal(&key, &profile))
        })
        .await?;
        if person_refused {
            return Err(forbidden(
                "this project's people sign in with the identity provider or GitHub (people_sign_in: sso_only); API keys are for automation",
            ));
        }
        self.open_session(key_hash(api_key), principal).await
    }

    /// Opens a session for the active project principal bound to
    /// `identity` (its profile's `idp`: the same issuer, exactly the same
    /// subject; or its `github_id`), as [`Compliance::sign_in`] does for a
    /// key; `project` narrows the search when the identity is bound in
    /// several projects. Nothing is created for an identity no principal is
    /// bound to.
    ///
    /// # Errors
    /// [`compliance::Error::Forbidden`] when no active principal is bound
    /// to the identity (the message says who to ask), or several are and
    /// `project` does not choose one; storage failures.
    pub async fn sign_in_identity(
        &self,
        identity: &Identity,
        project: Option<&str>,
    ) -> Result<SignedIn> {
        let (keys, records, want) = (self.keys.clone(), self.records.clone(), identity.clone());
        let wanted_project = project.map(str::to_owned);
        // A scan of the keys and one read of each project's profiles: run
        // it off the async workers.
        let (found, invited, synced) = blocking(move || {
            let (mut bound, mut invited, mut synced) = (Vec::new(), Vec::new(), Vec::new());
            let mut profiles: HashMap<String, HashMap<String, Profile>> = HashMap::new();
            for (hash, key) in keys.keys()? {
                let Some(p) = key.project.clone() else {
                    continue;
                };
                if key.revoked_at.is_some() || wanted_project.as_ref().is_some_and(|w| *w != p) {
                    continue;
                }
                let of_project = match profiles.entry(p) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => {
                        let read = records.profiles(e.key())?.into_iter().collect();
                        e.insert(read)
                    }
                };
                let Some(profile) = of_project.remove(&key.id) else {
                    continue;
                };
                if want.binds(&profile) {
                    if profile.roles_from_idp_groups {
                        synced.push(key.id.clone());
                    }
                    bound.push((hash, key));
                } else if want.invited(&profile) {
                    invited.push((hash, key));
                }
            }
            Ok((bound, invited, synced))
        })
        .await?;
        // No principal has this subject yet: one whose e-mail address the
        // provider vouched for gets it bound now (a `principal_changed`
        // record), once; else the project whose `idp_groups` grant the
        // person's groups a role gets a principal for them.
        let mut found = if found.is_empty() {
            self.bind_invited(identity, invited, project).await?
        } else {
            found
        };
        if found.is_empty() {
            found.extend(self.grant_by_groups(identity, project).await?);
        } else if let [(_, key)] = found.as_mut_slice()
            && synced.contains(&key.id)
        {
            self.sync_group_roles(identity, key).await?;
        }
        let mut found = found.into_iter();
        match (found.next(), found.next()) {
            (None, _) => Err(forbidden(format!(
                "{} vouched for {}, but no principal {}is bound to it: nothing was created. Ask a log admin to bind {} to your principal",
                identity.vouched_by(),
                identity.described(),
                project.map_or_else(String::new, |p| format!("of project {p} ")),
                identity.binding()
            ))),
            (Some((hash, principal)), None) => self.open_session(hash, principal).await,
            (Some((_, first)), Some((_, second))) => {
                let projects: Vec<String> = [first, second]
                    .into_iter()
                    .chain(found.map(|(_, k)| k))
                    .filter_map(|k| k.project)
                    .collect();
                Err(forbidden(format!(
                    "{} is bound to principals of several projects ({}); sign in from /ui/signin?project=<project ID>",
                    identity.described(),
                    projects.join(", ")
                )))
            }
        }
    }

    /// Binds the subject of `identity` to the one principal of `invited`
    /// (active, no subject yet, the verified e-mail address of the ID
    /// token): a `principal_changed` record "by" the principal itself, with
    /// the provider and address in its name. Several invited principals
    /// (several projects) and no `project` to choose: nothing is bound.
    async fn bind_invited(
        &self,
        identity: &Identity,
        invited: Vec<([u8; 32], KeyRecord)>,
        project: Option<&str>,
    ) -> Result<Vec<([u8; 32], KeyRecord)>> {
        let (
            Identity::Idp {
                subject,
                email: Some(email),
                ..
            },
            [(_, key)],
        ) = (identity, invited.as_slice())
        else {
            // None, or several: the caller's messages say what to do.
            return Ok(invited);
        };
        let Some(p) = key.project.as_deref() else {
            return Ok(Vec::new());
        };
        if project.is_some_and(|want| want != p) {
            return Ok(Vec::new());
        }
        let by_name = format!(
            "{} at first sign-in ({} vouched for {email})",
            key.name, subject.issuer
        );
        self.apply_principal_change(
            p,
            &key.id,
            super::admin::PrincipalPatch {
                idp: Some(subject.clone()),
                ..Default::default()
            },
            (&key.id, &by_name),
        )
        .await?;
        tracing::info!(principal = %key.id, project = %p, issuer = %subject.issuer, subject = %subject.subject, "identity provider subject bound at first sign-in (verified e-mail address)");
        Ok(invited)
    }

    /// A principal for a person none is bound to, from the project whose
    /// `idp_groups` grant the person's groups a role (`project` chooses
    /// among several): added by a `principal_added` record "by"
    /// `idp_groups`, bound to the subject, with the roles of the groups,
    /// marked so that its roles follow the groups. Its API key is not kept
    /// (its holder signs in with the provider). `None` when no project's
    /// groups grant anything (the caller refuses).
    async fn grant_by_groups(
        &self,
        identity: &Identity,
        project: Option<&str>,
    ) -> Result<Option<([u8; 32], KeyRecord)>> {
        let Identity::Idp {
            subject,
            email,
            groups: Some(groups),
        } = identity
        else {
            return Ok(None);
        };
        if groups.is_empty() {
            return Ok(None);
        }
        let (records, groups_of, wanted) = (
            self.records.clone(),
            groups.clone(),
            project.map(str::to_owned),
        );
        let candidates = blocking(move || {
            let mut out = Vec::new();
            for row in records.projects()? {
                if wanted.as_ref().is_some_and(|w| *w != row.id) {
                    continue;
                }
                let (roles, granting) = row.settings.roles_of_groups(&groups_of);
                if !roles.is_empty() {
                    out.push((row.id, roles, granting));
                }
            }
            Ok(out)
        })
        .await?;
        let (p, roles, granting) = match <[_; 1]>::try_from(candidates) {
            Ok([one]) => one,
            Err(v) if v.is_empty() => return Ok(None),
            Err(v) => {
                let ids: Vec<String> = v.into_iter().map(|(p, _, _)| p).collect();
                return Err(forbidden(format!(
                    "your identity provider's groups grant roles in several projects ({}); sign in from /ui/signin?project=<project ID>",
                    ids.join(", ")
                )));
            }
        };
        let name = email.clone().unwrap_or_else(|| subject.subject.clone());
        let by_name = format!(
            "{} groups {} at first sign-in",
            subject.issuer,
            granting.join(", ")
        );
        let (principal, secret) = self
            .add_principal(
                &p,
                super::admin::NewPrincipal {
                    name,
                    roles,
                    bot: false,
                    github_login: None,
                    github_id: None,
                    idp: Some(subject.clone()),
                    email: email.clone(),
                },
                ("idp_groups", &by_name),
                true,
            )
            .await?;
        tracing::info!(principal = %principal.key.id, project = %p, subject = %subject.subject, groups = %granting.join(", "), "principal added by the identity provider's groups at first sign-in");
        Ok(Some((key_hash(&secret), principal.key)))
    }

    /// Brings the roles of a principal whose roles follow the identity
    /// provider's groups in line with the groups of this sign-in (a
    /// `principal_changed` record "by" `idp_groups` when they differ); a
    /// person no group grants a role any more is refused, and the
    /// principal keeps its roles until the next sign-in that has some. The
    /// log does not read groups (`--oidc-groups-claim` unset): nothing.
    async fn sync_group_roles(&self, identity: &Identity, key: &mut KeyRecord) -> Result<()> {
        let Identity::Idp {
            subject,
            groups: Some(groups),
            ..
        } = identity
        else {
            return Ok(());
        };
        let Some(p) = key.project.clone() else {
            return Ok(());
        };
        let records = self.records.clone();
        let q = p.clone();
        let row = blocking(move || records.project(&q))
            .await?
            .ok_or_else(|| forbidden("the project is gone"))?;
        let (roles, granting) = row.settings.roles_of_groups(groups);
        if roles.is_empty() {
            return Err(forbidden(format!(
                "none of your identity provider's groups grants a role in project {p} any more (its idp_groups); ask its admin"
            )));
        }
        if roles != key.roles {
            let by_name = format!(
                "{} groups {} at sign-in",
                subject.issuer,
                granting.join(", ")
            );
            self.apply_principal_change(
                &p,
                &key.id,
                super::admin::PrincipalPatch {
                    roles: Some(roles.clone()),
                    ..Default::default()
                },
                ("idp_groups", &by_name),
            )
            .await?;
            key.roles = roles;
        }
        Ok(())
    }

    /// Stores a new session for the principal whose key's SHA-256 is
    /// `key_hash`; prunes up to [`PRUNE_BATCH`] expired sessions.
    async fn open_session(
        &self,
        key_hash_of_key: [u8; 32],
        principal: KeyRecord,
    ) -> Result<SignedIn> {
        let now = self.now();
        let secret = random_secret("sas");
        let csrf = random_secret("csrf");
        let id = key_hash(&secret);
        let row = SessionRow {
            key_hash: key_hash_of_key,
            csrf: csrf.clone(),
            created_at: now,
            last_seen: now,
        };
        let keys = self.keys.clone();
        blocking(move || {
            keys.prune_sessions(
                now - SESSION_IDLE_MS,
                now - SESSION_ABSOLUTE_MS,
                PRUNE_BATCH,
            )?;
            keys.put_session(&id, &row)?;
            // The cap: this principal's expired sessions, and its least
            // recently used ones beyond MAX_SESSIONS_PER_KEY, end (never
            // the one just opened).
            let mut mine = keys.sessions_of_key(&key_hash_of_key)?;
            mine.sort_by_key(|(other, r)| {
                (
                    *other != id,
                    std::cmp::Reverse(r.last_seen),
                    std::cmp::Reverse(r.created_at),
                )
            });
            let mut kept = 0;
            for (other, r) in mine {
                if live(&r, now) && kept < MAX_SESSIONS_PER_KEY {
                    kept += 1;
                } else {
                    keys.delete_session(&other)?;
                }
            }
            Ok(())
        })
        .await?;
        Ok(SignedIn {
            secret,
            session: Session {
                principal,
                csrf,
                id,
                key_hash: key_hash_of_key,
            },
        })
    }

    /// The live session of a cookie's secret, if any. A request renews its
    /// idle time (a write only once per [`SESSION_RENEW_MS`]). The
    /// principal's key is read again: a revoked key ends its sessions.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>> {
        let now = self.now();
        let id = key_hash(secret);
        // Point reads (inline is fine, as for an API key).
        let Some(row) = self.keys.session(&id)? else {
            return Ok(None);
        };
        if !live(&row, now) {
            self.end_session(id).await?;
            return Ok(None);
        }
        let principal = self
            .keys
            .key(&row.key_hash)?
            .filter(|k| k.revoked_at.is_none() && k.project.is_some());
        let Some(principal) = principal else {
            self.end_session(id).await?;
            return Ok(None);
        };
        if now - row.last_seen >= SESSION_RENEW_MS {
            let keys = self.keys.clone();
            blocking(move || keys.touch_session(&id, now)).await?;
        }
        Ok(Some(Session {
            principal,
            csrf: row.csrf,
            id,
            key_hash: row.key_hash,
        }))
    }

    /// The live sessions of `session`'s principal (at most
    /// [`MAX_SESSIONS_PER_KEY`]), most recently used first.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn sessions_of(&self, session: &Session) -> Result<Vec<SessionInfo>> {
        let (keys, key_hash, me, now) =
            (self.keys.clone(), session.key_hash, session.id, self.now());
        let mut out: Vec<SessionInfo> = blocking(move || keys.sessions_of_key(&key_hash))
            .await?
            .into_iter()
            .filter(|(_, r)| live(r, now))
            .map(|(id, r)| SessionInfo {
                id: hex(&id),
                created_at: r.created_at,
                last_seen: r.last_seen,
                current: id == me,
            })
            .collect();
        out.sort_by_key(|s| {
            (
                !s.current,
                std::cmp::Reverse(s.last_seen),
                std::cmp::Reverse(s.created_at),
            )
        });
        Ok(out)
    }

    /// Ends one of `session`'s principal's sessions by its ID (hex), or
    /// every one but `session` for `others`; returns how many ended. A
    /// session of another principal is never ended here.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn end_sessions(&self, session: &Session, which: EndSessions<'_>) -> Result<usize> {
        let (keys, key_hash, me) = (self.keys.clone(), session.key_hash, session.id);
        let which = match which {
            EndSessions::One(id) => Some(id.to_ascii_lowercase()),
            EndSessions::Others => None,
        };
        blocking(move || {
            let mut n = 0;
            for (id, _) in keys.sessions_of_key(&key_hash)? {
                let end = match &which {
                    Some(want) => hex(&id) == *want,
                    None => id != me,
                };
                if end {
                    keys.delete_session(&id)?;
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
    }

    /// Ends the session of a cookie's secret (nothing if there is none).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn sign_out(&self, secret: &str) -> Result<()> {
        self.end_session(key_hash(secret)).await
    }

    async fn end_session(&self, id: [u8; 32]) -> Result<()> {
        let keys = self.keys.clone();
        blocking(move || keys.delete_session(&id)).await
    }
}

/// Which sessions [`Compliance::end_sessions`] ends.
#[derive(Clone, Copy, Debug)]
pub enum EndSessions<'a> {
    /// The one of this ID (hex).
    One(&'a str),
    /// Every one but the asking session.
    Others,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Pin the binding rules: the subject exactly (an OIDC subject is
    /// case-sensitive), the issuer up to a trailing `/`, GitHub by numeric
    /// ID and never by login.
    #[test]
    fn identities_bind_by_issuer_and_subject_or_by_github_id() {
        let profile = Profile {
            github_login: Some("carol".into()),
            github_id: Some(583_231),
            idp: Some(IdpSubject {
                issuer: "https://login.example.com/".into(),
                subject: "00u1carol".into(),
            }),
            email: Some("carol@example.com".into()),
            roles_from_idp_groups: false,
        };
        let idp = |issuer: &str, subject: &str| Identity::Idp {
            subject: IdpSubject {
                issuer: issuer.into(),
                subject: subject.into(),
            },
            email: Some("carol@example.com".into()),
            groups: None,
        };
        assert!(idp("https://login.example.com", "00u1carol").binds(&profile));
        assert!(!idp("https://login.example.com", "00U1CAROL").binds(&profile));
        assert!(!idp("https://other.example.com", "00u1carol").binds(&profile));
        let gh = |id: u64, login: &str| Identity::GitHub {
            id,
            login: login.into(),
        };
        assert!(gh(583_231, "carol-renamed").binds(&profile));
        assert!(!gh(99_999, "carol").binds(&profile), "never by login");
        assert!(!gh(583_231, "carol").binds(&Profile::default()));
    }
}
