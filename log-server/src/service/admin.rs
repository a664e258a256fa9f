//! Administration: the log's API keys (log admins), and projects with their
//! principals (`/v1/admin/...`, log admin keys only).
//!
//! A principal is an API key bound to one project, with project roles
//! (`ci`, `codeowner`, `auditor`, `admin`), a bot flag and, for GitHub
//! review signals, a GitHub login. Project IDs are random and opaque: they
//! are public in every envelope, names never are.

use compliance::export::PrincipalSummary;
use compliance::ledger::{ProjectRow, ProjectSettings, SettingsPatch, check_text};
use compliance::principal::{
    Access, IdpSubject, KeyRecord, Person, Principal, Profile, Role, duplicate,
};
use compliance::record::{
    PRINCIPALS_INDEX, PrincipalAdded, PrincipalChanged, PrincipalFacts, PrincipalRevoked, Record,
    RecordBody,
};
use compliance::settings::weakening;

use super::controls::{project_json, settings_record};
use compliance::time::format_time;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Compliance, blocking, conflict, forbidden, invalid, no_project};
use crate::keys;
use crate::{Error, Result};

/// What a change of a project's controls did.
#[derive(Debug)]
pub enum SettingsOutcome {
    /// It took effect (or changed nothing): the project.
    Applied(Value),
    /// It weakens the controls and waits for a second admin: the held change.
    Held(Value),
}

/// Body of `POST /v1/admin/keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Who or what holds it.
    pub name: String,
    /// `admin` or `submitter`.
    pub role: Role,
}

/// Body of `POST /v1/admin/projects`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// The project's name (private).
    pub name: String,
    /// Principals (names or IDs) and GitHub logins treated as bots.
    #[serde(default)]
    pub bot_deny_list: Option<Vec<String>>,
    /// Longest exception lifetime.
    #[serde(default)]
    pub max_exception_lifetime_seconds: Option<u64>,
    /// The kinds of second signal the project accepts.
    #[serde(default)]
    pub accepted_signals: Option<Vec<compliance::ledger::SignalKind>>,
    /// The GitHub repository (`owner/name`) the project is connected to.
    #[serde(default)]
    pub github_repository: Option<String>,
    /// The gate engine's rule configuration.
    #[serde(default)]
    pub gate: Option<gate::Config>,
    /// Whether a weakening change of the controls waits for a second
    /// project admin's approval.
    #[serde(default)]
    pub second_admin_for_weakening: Option<bool>,
    /// How the project's people sign in to the cockpit.
    #[serde(default)]
    pub people_sign_in: Option<compliance::ledger::PeopleSignIn>,
}

/// Body of `POST /v1/admin/projects/{projectId}/principals`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipal {
    /// Who holds the key.
    pub name: String,
    /// Project roles.
    pub roles: Vec<Role>,
    /// The holder is a bot.
    #[serde(default)]
    pub bot: bool,
    /// GitHub login, for `github_review` signals.
    #[serde(default)]
    pub github_login: Option<String>,
    /// GitHub's numeric user ID (the person, whatever their login).
    #[serde(default)]
    pub github_id: Option<u64>,
    /// The identity provider's issuer and subject.
    #[serde(default)]
    pub idp: Option<IdpSubject>,
    /// An e-mail address the identity provider must vouch for at the
    /// person's first sign-in, which then binds its subject.
    #[serde(default)]
    pub email: Option<String>,
}

/// Body of `PATCH /v1/admin/projects/{projectId}/principals/{principalId}`:
/// the fields to change (absent: unchanged). A principal's name never
/// changes, and an identity (GitHub ID, identity provider subject) may be
/// bound once but never re-pointed or removed: a principal is one person.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalPatch {
    /// New project roles.
    #[serde(default)]
    pub roles: Option<Vec<Role>>,
    /// Whether the holder is a bot.
    #[serde(default)]
    pub bot: Option<bool>,
    /// GitHub login (a person's login may be renamed; `null` removes it).
    #[serde(default, deserialize_with = "present")]
    pub github_login: Option<Option<String>>,
    /// GitHub's numeric user ID, bound once.
    #[serde(default)]
    pub github_id: Option<u64>,
    /// The identity provider's issuer and subject, bound once.
    #[serde(default)]
    pub idp: Option<IdpSubject>,
    /// The e-mail address that binds the subject at the first sign-in;
    /// changed only while no subject is bound.
    #[serde(default)]
    pub email: Option<String>,
}

/// A field that may be `null`: absent is `None`, `null` is `Some(None)`.
fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Who added and revoked the principals of the migration.
pub const MIGRATION: &str = "migration";

/// A principal's project roles, sorted and checked.
fn project_roles(mut roles: Vec<Role>) -> Result<Vec<Role>> {
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(invalid(
            "roles must name at least one of ci, codeowner, auditor, admin, consumer",
        ));
    }
    if roles.contains(&Role::Submitter) {
        return Err(invalid(
            "project roles are ci, codeowner, auditor, admin and consumer; submitter is a log key role",
        ));
    }
    if roles.contains(&Role::Consumer) && roles.contains(&Role::Ci) {
        return Err(invalid(
            "a consumer key is a downstream team's: it cannot also have the ci role (a key that submits decisions never vouches for them)",
        ));
    }
    Ok(roles)
}

/// A principal's GitHub login and identities, checked.
fn check_profile(
    github_login: Option<&str>,
    github_id: Option<u64>,
    idp: Option<&IdpSubject>,
    email: Option<&str>,
) -> Result<()> {
    if let Some(e) = email {
        check_email(e)?;
    }
    if let Some(l) = github_login
        && !valid_github_login(l)
    {
        return Err(invalid(format!("{l:?} is not a GitHub login")));
    }
    if let Some(idp) = idp {
        check_idp(idp)?;
    }
    if github_id == Some(0) {
        return Err(invalid(
            "github_id must be GitHub's numeric user ID (1 or more)",
        ));
    }
    Ok(())
}

/// An e-mail address as the log accepts one: `local@domain`, at most 254
/// bytes, no spaces or control characters (the provider is the judge of
/// the rest: only an address it marks verified binds).
fn check_email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("{email:?} is not an e-mail address")))
    }
}

fn check_idp(idp: &IdpSubject) -> Result<()> {
    // https, or http on a loopback host only (a provider on the log's own
    // machine, as in the tests): the same rule as `serve --oidc-issuer`.
    if !super::oidc::acceptable_issuer(&idp.issuer) {
        return Err(invalid(format!(
            "idp.issuer must be the identity provider's https URL (http only on 127.0.0.1, localhost or [::1]), got {:?}",
            idp.issuer
        )));
    }
    check_text("idp.subject", &idp.subject, 255, false)?;
    Ok(())
}

pub(crate) fn require_log_admin(caller: &KeyRecord) -> Result<()> {
    if caller.is_log_admin() {
        Ok(())
    } else {
        Err(forbidden("project administration needs a log admin key"))
    }
}

fn require_key_admin(caller: &KeyRecord) -> Result<()> {
    if caller.has(Role::Admin) {
        Ok(())
    } else {
        Err(forbidden("this API key lacks the admin role"))
    }
}

fn valid_github_login(l: &str) -> bool {
    (1..=39).contains(&l.len())
        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !l.starts_with('-')
}

impl Compliance {
    /// Creates a log-wide API key (admin); returns the answer with the
    /// secret, shown once.
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn create_key(&self, caller: &KeyRecord, req: NewKey) -> Result<Value> {
        require_key_admin(caller)?;
        if req.name.trim().is_empty() || req.name.len() > 200 {
            return Err(invalid("name must be 1 to 200 characters"));
        }
        if !matches!(req.role, Role::Admin | Role::Submitter) {
            return Err(invalid(
                "log keys have role admin or submitter; project roles are given to project principals",
            ));
        }
        let keys = self.keys.clone();
        let role = req.role;
        let template = KeyRecord {
            id: String::new(),
            name: req.name,
            roles: vec![role],
            project: None,
            bot: false,
            created_at: String::new(),
            revoked_at: None,
        };
        let (secret, record) = blocking(move || keys::create_key(&*keys, template)).await?;
        Ok(json!({
            "id": record.id,
            "api_key": secret,
            "name": record.name,
            "role": role,
            "created_at": record.created_at,
        }))
    }

    /// Every API key record (admin).
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn list_keys(&self, caller: &KeyRecord) -> Result<Value> {
        require_key_admin(caller)?;
        let keys = self.keys.clone();
        let list = blocking(move || keys::list_keys(&*keys)).await?;
        Ok(json!({ "keys": list }))
    }

    /// Revokes a key (admin); a key cannot revoke itself.
    ///
    /// # Errors
    /// Refusals, [`Error::NotFound`]; storage failures.
    pub async fn revoke_key(&self, caller: &KeyRecord, id: &str) -> Result<Value> {
        require_key_admin(caller)?;
        if id == caller.id {
            return Err(conflict("a key cannot revoke itself"));
        }
        let (keys, owned) = (self.keys.clone(), id.to_owned());
        let found = blocking(move || keys::find_key(&*keys, &owned))
            .await?
            .ok_or_else(|| Error::NotFound(format!("no key with id {id:?}")))?;
        // A project principal's revocation is a record of its project,
        // logged before the key stops working (under the project's lock).
        let principal_of = match (&found.project, &found.revoked_at) {
            (Some(project), None) => Some(self.project(project).await?),
            _ => None,
        };
        let _guard = match &principal_of {
            Some(p) => {
                let mut ps = self.write_lock(p).await?;
                let now = ps.clock(self.now());
                let body = RecordBody::PrincipalRevoked(PrincipalRevoked {
                    principal_id: found.id.clone(),
                    name: found.name.clone(),
                    revoked_by: caller.id.clone(),
                    revoked_by_name: caller.name.clone(),
                    migrated_from: None,
                });
                let staged = self.stage(&mut ps, keys::random_id("evt"), body, now)?;
                staged.wait().await?;
                Some(ps)
            }
            _ => None,
        };
        let (keys, owned) = (self.keys.clone(), id.to_owned());
        let record = blocking(move || keys::revoke_key(&*keys, &owned))
            .await?
            .ok_or_else(|| Error::NotFound(format!("no key with id {id:?}")))?;
        Ok(json!(record))
    }

    async fn existing(&self, id: &str) -> Result<ProjectRow> {
        let (records, owned) = (self.records.clone(), id.to_owned());
        blocking(move || records.project(&owned))
            .await?
            .ok_or_else(|| no_project(id))
    }

    async fn summaries(
        &self,
        id: &str,
        settings: &ProjectSettings,
    ) -> Result<Vec<PrincipalSummary>> {
        let (records, keys, owned) = (self.records.clone(), self.keys.clone(), id.to_owned());
        let list = blocking(move || super::principals(&*records, &*keys, &owned)).await?;
        Ok(list
            .iter()
            .map(|p| PrincipalSummary::of(p, settings))
            .collect())
    }

    /// Creates a project (log admin), and records its first controls in
    /// the log (a `project_settings_changed` record, `changed: ["created"]`).
    ///
    /// # Errors
    /// Refusals; pushback; storage failures.
    pub async fn create_project(&self, caller: &KeyRecord, req: NewProject) -> Result<Value> {
        require_log_admin(caller)?;
        check_text("name", &req.name, 200, false)?;
        let now = format_time(self.now());
        let mut settings = ProjectSettings::default();
        SettingsPatch {
            bot_deny_list: req.bot_deny_list,
            max_exception_lifetime_seconds: req.max_exception_lifetime_seconds,
            accepted_signals: req.accepted_signals,
            github_repository: req.github_repository.map(Some),
            gate: req.gate,
            monitoring: None,
            second_admin_for_weakening: req.second_admin_for_weakening,
            people_sign_in: req.people_sign_in,
            idp_groups: None,
        }
        .apply(&mut settings, &now)?;
        let row = ProjectRow {
            id: keys::random_id("prj"),
            name: req.name,
            created_at: now,
            settings,
        };
        let (records, saved) = (self.records.clone(), row.clone());
        blocking(move || records.put_project(&saved)).await?;
        let p = self.project(&row.id).await?;
        let staged = {
            let mut ps = self.write_lock(&p).await?;
            let now = ps.clock(self.now());
            let body = RecordBody::ProjectSettingsChanged(settings_record(
                caller,
                vec!["created".to_owned()],
                &row.settings,
                None,
            ));
            self.stage(&mut ps, keys::random_id("evt"), body, now)?
        };
        staged.wait().await?;
        Ok(project_json(&row))
    }

    /// Every project (log admin).
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn list_projects(&self, caller: &KeyRecord) -> Result<Value> {
        require_log_admin(caller)?;
        let records = self.records.clone();
        let rows = blocking(move || records.projects()).await?;
        let list: Vec<Value> = rows.iter().map(project_json).collect();
        Ok(json!({ "projects": list }))
    }

    /// A project and its principals (log admin).
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn project_view(&self, caller: &KeyRecord, id: &str) -> Result<Value> {
        require_log_admin(caller)?;
        let row = self.existing(id).await?;
        let list = self.summaries(id, &row.settings).await?;
        let mut v = project_json(&row);
        v["principals"] = json!(list);
        Ok(v)
    }

    /// Changes a project's controls (a log admin, or an `admin` principal
    /// of the project: [`Access::Control`]); a bad patch changes nothing.
    /// A change is a `project_settings_changed` record in the log, saved
    /// with the project's row in one atomic write. A change that weakens
    /// the controls ([`weakening`]) raises a `controls_weakened` anomaly at
    /// once (webhooks too) and, while `second_admin_for_weakening` is on,
    /// does not take effect: it is held for a second project admin
    /// ([`Compliance::approve_settings_change`]).
    ///
    /// # Errors
    /// Refusals; pushback; storage failures.
    pub async fn patch_settings(
        &self,
        caller: &KeyRecord,
        id: &str,
        patch: SettingsPatch,
    ) -> Result<SettingsOutcome> {
        let p = self.project_for(caller, id, Access::Control).await?;
        let (staged, anomaly, outcome) = {
            // Under the lock: the project's next evaluation sees the new
            // controls, logged before it.
            let mut ps = self.write_lock(&p).await?;
            let now = ps.clock(self.now());
            let before = ps.row.settings.clone();
            let mut row = ps.row.clone();
            let changed = patch.apply(&mut row.settings, &format_time(now))?;
            if changed.is_empty() {
                return Ok(SettingsOutcome::Applied(project_json(&row)));
            }
            let weakened = weakening(&before, &row.settings);
            if before.second_admin_for_weakening && !weakened.is_empty() {
                let (staged, anomaly, held) =
                    self.hold_change(&mut ps, caller, changed, weakened, row.settings, now)?;
                (staged, anomaly, SettingsOutcome::Held(held))
            } else {
                let body = settings_record(caller, changed, &row.settings, Some(&before));
                let record_id = keys::random_id("evt");
                let mut items = vec![(record_id.clone(), RecordBody::ProjectSettingsChanged(body))];
                let anomaly = (!weakened.is_empty()).then(|| {
                    super::controls::weakened_anomaly(caller, &record_id, &weakened, false, now)
                });
                if let Some(a) = &anomaly {
                    items.push((a.id.clone(), RecordBody::AnomalyDetected(a.finding.clone())));
                }
                let staged = self.stage_all_with_row(&mut ps, items, now, Some(row.clone()))?;
                ps.row = row.clone();
                (
                    staged,
                    anomaly,
                    SettingsOutcome::Applied(project_json(&row)),
                )
            }
        };
        super::settle_all(staged).await?;
        if let Some(a) = anomaly {
            self.alert(id, &[a]).await;
        }
        Ok(outcome)
    }

    /// Adds a principal to a project (log admin); the answer holds its API
    /// key, shown once.
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn create_principal(
        &self,
        caller: &KeyRecord,
        id: &str,
        req: NewPrincipal,
    ) -> Result<Value> {
        require_log_admin(caller)?;
        let row = self.existing(id).await?;
        let (principal, secret) = self
            .add_principal(id, req, (&caller.id, &caller.name), false)
            .await?;
        let sum = PrincipalSummary::of(&principal, &row.settings);
        let mut v = json!(sum);
        v["principal_id"] = json!(sum.id);
        v["api_key"] = json!(secret);
        v["project_id"] = json!(id);
        Ok(v)
    }

    /// [`Compliance::create_principal`] without the caller's check:
    /// `added_by` (an ID and a name) is who the record says added it, and
    /// `from_groups` marks a principal whose roles follow the identity
    /// provider's groups. Returns the principal and its API key.
    pub(crate) async fn add_principal(
        &self,
        id: &str,
        req: NewPrincipal,
        added_by: (&str, &str),
        from_groups: bool,
    ) -> Result<(Principal, String)> {
        check_text("name", &req.name, 200, false)?;
        let roles = project_roles(req.roles)?;
        check_profile(
            req.github_login.as_deref(),
            req.github_id,
            req.idp.as_ref(),
            req.email.as_deref(),
        )?;
        let p = self.project(id).await?;
        // Under the project's lock: two creations cannot both pass the
        // uniqueness check, and the record is logged before the key works.
        let mut ps = self.write_lock(&p).await?;
        let (records, keys) = (self.records.clone(), self.keys.clone());
        let project = id.to_owned();
        let existing = blocking(move || super::principals(&*records, &*keys, &project)).await?;
        let principal = Principal {
            key: KeyRecord {
                id: keys::random_id("key"),
                name: req.name.trim().to_owned(),
                roles,
                project: Some(id.to_owned()),
                bot: req.bot,
                created_at: String::new(),
                revoked_at: None,
            },
            profile: Profile {
                github_login: req.github_login,
                github_id: req.github_id,
                idp: req.idp,
                email: req.email.map(|e| e.trim().to_owned()),
                roles_from_idp_groups: from_groups,
            },
        };
        // A principal is a person: names, GitHub logins and identities are
        // unique among the project's principals, revoked ones included,
        // compared after Unicode case folding, so that "another principal"
        // always means another person.
        if let Some((held, what)) =
            duplicate(existing.iter().map(Person::of), &Person::of(&principal))
        {
            let revoked = existing
                .iter()
                .find(|p| p.key.id == held.id)
                .is_some_and(|p| p.key.revoked_at.is_some());
            return Err(conflict(format!(
                "principal {} ({:?}{}) already has {what}; one person holds one principal, and names and identities are never reused",
                held.id,
                held.name,
                if revoked { ", revoked" } else { "" }
            )));
        }
        let now = ps.clock(self.now());
        let body = RecordBody::PrincipalAdded(PrincipalAdded {
            principal: PrincipalFacts::of(&principal),
            added_by: added_by.0.to_owned(),
            added_by_name: added_by.1.to_owned(),
            migrated_from: None,
        });
        let staged = self.stage(&mut ps, keys::random_id("evt"), body, now)?;
        staged.wait().await?;
        let (records, keys, project) = (self.records.clone(), self.keys.clone(), id.to_owned());
        let (principal, secret) = blocking(move || {
            let (secret, record) = keys::create_key(&*keys, principal.key)?;
            records.put_profile(&project, &record.id, &principal.profile)?;
            Ok((
                Principal {
                    key: record,
                    profile: principal.profile,
                },
                secret,
            ))
        })
        .await?;
        drop(ps);
        Ok((principal, secret))
    }

    /// Changes a principal (log admin): its roles, bot flag, GitHub login,
    /// or binds an identity it does not have yet. The change is a
    /// `principal_changed` record, logged before it takes effect. A
    /// revoked principal, a name, or an identity already bound are never
    /// changed; an identity another principal holds (revoked ones
    /// included) is refused.
    ///
    /// # Errors
    /// Refusals, [`Error::NotFound`]; pushback; storage failures.
    pub async fn change_principal(
        &self,
        caller: &KeyRecord,
        id: &str,
        principal_id: &str,
        req: PrincipalPatch,
    ) -> Result<Value> {
        require_log_admin(caller)?;
        self.apply_principal_change(id, principal_id, req, (&caller.id, &caller.name))
            .await
    }

    /// [`Compliance::change_principal`] without the caller's check:
    /// `changed_by` (an ID and a name) is who the record says changed it.
    pub(crate) async fn apply_principal_change(
        &self,
        id: &str,
        principal_id: &str,
        req: PrincipalPatch,
        changed_by: (&str, &str),
    ) -> Result<Value> {
        let row = self.existing(id).await?;
        let roles = req.roles.map(project_roles).transpose()?;
        let login = req.github_login.as_ref().and_then(|l| l.as_deref());
        check_profile(login, req.github_id, req.idp.as_ref(), req.email.as_deref())?;
        let p = self.project(id).await?;
        let mut ps = self.write_lock(&p).await?;
        let (records, keys) = (self.records.clone(), self.keys.clone());
        let project = id.to_owned();
        let existing = blocking(move || super::principals(&*records, &*keys, &project)).await?;
        let Some(before) = existing.iter().find(|p| p.key.id == principal_id).cloned() else {
            return Err(Error::NotFound(format!(
                "project {id} has no principal {principal_id:?}"
            )));
        };
        if before.key.revoked_at.is_some() {
            return Err(conflict(format!(
                "principal {principal_id} is revoked; a revoked principal is never changed"
            )));
        }
        let mut after = before.clone();
        let mut changed = Vec::new();
        if let Some(roles) = roles
            && roles != before.key.roles
        {
            after.key.roles = roles;
            changed.push("roles");
        }
        if let Some(bot) = req.bot
            && bot != before.key.bot
        {
            after.key.bot = bot;
            changed.push("bot");
        }
        if let Some(login) = req.github_login
            && login != before.profile.github_login
        {
            after.profile.github_login = login;
            changed.push("github_login");
        }
        if let Some(gid) = req.github_id
            && Some(gid) != before.profile.github_id
        {
            if let Some(held) = before.profile.github_id {
                return Err(conflict(format!(
                    "principal {principal_id} is GitHub user {held}; an identity is bound once and never re-pointed (revoke the principal and add one for the other person)"
                )));
            }
            after.profile.github_id = Some(gid);
            changed.push("github_id");
        }
        if let Some(idp) = req.idp
            && Some(&idp) != before.profile.idp.as_ref()
        {
            if let Some(held) = &before.profile.idp {
                return Err(conflict(format!(
                    "principal {principal_id} is subject {:?} of {}; an identity is bound once and never re-pointed (revoke the principal and add one for the other person)",
                    held.subject, held.issuer
                )));
            }
            after.profile.idp = Some(idp);
            changed.push("idp");
        }
        if let Some(email) = req.email.map(|e| e.trim().to_owned())
            && before
                .profile
                .email
                .as_deref()
                .is_none_or(|held| held != email)
        {
            if before.profile.idp.is_some() {
                return Err(conflict(format!(
                    "principal {principal_id} has signed in with the identity provider already (its subject is bound): its e-mail address only invited it and is not changed"
                )));
            }
            after.profile.email = Some(email);
            changed.push("email");
        }
        if after.key.roles.contains(&Role::Consumer) && after.key.roles.contains(&Role::Ci) {
            return Err(invalid(
                "a consumer key is a downstream team's: it cannot also have the ci role (a key that submits decisions never vouches for them)",
            ));
        }
        if changed.is_empty() {
            let sum = PrincipalSummary::of(&before, &row.settings);
            let mut v = json!(sum);
            v["changed"] = json!([]);
            return Ok(v);
        }
        let others = existing.iter().filter(|p| p.key.id != principal_id);
        if let Some((held, what)) = duplicate(others.map(Person::of), &Person::of(&after)) {
            return Err(conflict(format!(
                "principal {} ({:?}) already has {what}; one person holds one principal",
                held.id, held.name
            )));
        }
        let now = ps.clock(self.now());
        let body = RecordBody::PrincipalChanged(PrincipalChanged {
            principal: PrincipalFacts::of(&after),
            changed: changed.iter().map(|c| (*c).to_owned()).collect(),
            changed_by: changed_by.0.to_owned(),
            changed_by_name: changed_by.1.to_owned(),
        });
        let staged = self.stage(&mut ps, keys::random_id("evt"), body, now)?;
        staged.wait().await?;
        let (records, keys, project) = (self.records.clone(), self.keys.clone(), id.to_owned());
        let stored = after.clone();
        blocking(move || {
            keys::update_key(&*keys, &stored.key.id, |k| {
                k.roles.clone_from(&stored.key.roles);
                k.bot = stored.key.bot;
            })?;
            records.put_profile(&project, &stored.key.id, &stored.profile)
        })
        .await?;
        drop(ps);
        let sum = PrincipalSummary::of(&after, &row.settings);
        let mut v = json!(sum);
        v["changed"] = json!(changed);
        Ok(v)
    }

    /// Records the principals created before principal records (the
    /// upgrade's migration step, run by `serve` at start-up after
    /// [`Compliance::start_chains`]): for every project principal without
    /// a `principal_added` record, one with `migrated_from` (the key's
    /// creation time), and for a revoked one a `principal_revoked` with
    /// its revocation time. Returns how many principals it recorded.
    ///
    /// # Errors
    /// Storage failures; pushback.
    pub async fn record_principals(&self) -> Result<u64> {
        let (records, keys) = (self.records.clone(), self.keys.clone());
        let missing: Vec<(String, Vec<Principal>)> = blocking(move || {
            let mut out = Vec::new();
            for row in records.projects()? {
                let mut recorded = std::collections::HashSet::new();
                for seq in records.exception_seqs(&row.id, PRINCIPALS_INDEX)? {
                    let Some(stored) = records.record(&row.id, seq)? else {
                        continue;
                    };
                    if let Ok(r) = Record::from_slice(&stored.record)
                        && let RecordBody::PrincipalAdded(a) = r.body
                    {
                        recorded.insert(a.principal.principal_id);
                    }
                }
                let todo: Vec<Principal> = super::principals(&*records, &*keys, &row.id)?
                    .into_iter()
                    .filter(|p| !recorded.contains(&p.key.id))
                    .collect();
                if !todo.is_empty() {
                    out.push((row.id, todo));
                }
            }
            Ok(out)
        })
        .await?;
        let mut done = 0;
        for (id, todo) in missing {
            let p = self.project(&id).await?;
            let staged = {
                let mut ps = self.write_lock(&p).await?;
                let now = ps.clock(self.now());
                let mut bodies = Vec::new();
                for principal in &todo {
                    bodies.push((
                        keys::random_id("evt"),
                        RecordBody::PrincipalAdded(PrincipalAdded {
                            principal: PrincipalFacts::of(principal),
                            added_by: MIGRATION.to_owned(),
                            added_by_name: MIGRATION.to_owned(),
                            migrated_from: Some(principal.key.created_at.clone()),
                        }),
                    ));
                    if let Some(at) = &principal.key.revoked_at {
                        bodies.push((
                            keys::random_id("evt"),
                            RecordBody::PrincipalRevoked(PrincipalRevoked {
                                principal_id: principal.key.id.clone(),
                                name: principal.key.name.clone(),
                                revoked_by: MIGRATION.to_owned(),
                                revoked_by_name: MIGRATION.to_owned(),
                                migrated_from: Some(at.clone()),
                            }),
                        ));
                    }
                }
                self.stage_all(&mut ps, bodies, now)?
            };
            super::settle_all(staged).await?;
            tracing::info!(
                project = id,
                principals = todo.len(),
                "recorded the project's principals"
            );
            done += todo.len() as u64;
        }
        Ok(done)
    }

    /// A project's principals (log admin).
    ///
    /// # Errors
    /// Refusals; storage failures.
    pub async fn list_principals(&self, caller: &KeyRecord, id: &str) -> Result<Value> {
        require_log_admin(caller)?;
        let row = self.existing(id).await?;
        let list = self.summaries(id, &row.settings).await?;
        Ok(json!({ "principals": list }))
    }
}
