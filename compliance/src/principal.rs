//! Principals and their roles: who holds an API key, and what it may do.
//!
//! A key is either log-wide (roles `admin`, `submitter`) or a project
//! principal's (roles `ci`, `codeowner`, `auditor`, `admin` of that project
//! only). The store keeps only the SHA-256 of a key's secret, mapped to its
//! [`KeyRecord`].

use serde::{Deserialize, Serialize};

use crate::Error;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including managing keys.
    Admin,
    /// Append entries.
    Submitter,
    /// Submit gate decisions and consumer-test signals (per project).
    Ci,
    /// File, approve and revoke exceptions (per project).
    Codeowner,
    /// Read records and compliance exports (per project).
    Auditor,
    /// A downstream team's key (per project): reports `consumer_test`
    /// signals; never submits gate decisions.
    Consumer,
}

impl Role {
    /// The role's name: `admin`, `submitter`, `ci`, `codeowner`, `auditor`
    /// or `consumer`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Submitter => "submitter",
            Role::Ci => "ci",
            Role::Codeowner => "codeowner",
            Role::Auditor => "auditor",
            Role::Consumer => "consumer",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        [
            Role::Admin,
            Role::Submitter,
            Role::Ci,
            Role::Codeowner,
            Role::Auditor,
            Role::Consumer,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "unknown role {s:?} (admin, submitter, ci, codeowner, auditor, consumer)"
            ))
        })
    }
}

/// A stored API key (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public identifier of the key.
    pub id: String,
    /// Who or what holds it.
    pub name: String,
    /// What it may do.
    pub roles: Vec<Role>,
    /// The project it belongs to, for project principals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Whether the holder is a bot.
    #[serde(default)]
    pub bot: bool,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl KeyRecord {
    /// Whether the key has `role` (admin implies every role). A project
    /// principal's roles hold only within its project: it never has the
    /// log-wide roles `admin` and `submitter`, and its `admin` implies nothing.
    #[must_use]
    pub fn has(&self, role: Role) -> bool {
        if self.project.is_some() {
            return !matches!(role, Role::Admin | Role::Submitter) && self.roles.contains(&role);
        }
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }

    /// Whether this is a log-wide admin key (not a project principal).
    #[must_use]
    pub fn is_log_admin(&self) -> bool {
        self.project.is_none() && self.has(Role::Admin)
    }
}

/// A principal's profile beside its key record: its GitHub login and its
/// stable identities (the person behind the key). Profiles stored before
/// identities read back without them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// GitHub login, for `github_review` signals.
    #[serde(default)]
    pub github_login: Option<String>,
    /// GitHub's numeric user ID: stable across login renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_id: Option<u64>,
    /// The identity provider's subject (OIDC `iss` and `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<IdpSubject>,
    /// An e-mail address that invites the person to sign in with the log's
    /// identity provider: at the first sign-in in which the provider
    /// vouches for it (`email_verified`), the subject it signed in with is
    /// bound as [`Profile::idp`] (a `principal_changed` record), and only
    /// that subject signs in from then on. Never an identity by itself:
    /// addresses are reassigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The principal was created by an identity provider group of the
    /// project's `idp_groups`, and its roles follow the person's groups at
    /// each sign-in (by records).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub roles_from_idp_groups: bool,
}

/// Whether two e-mail addresses are the same mailbox as far as the log
/// compares them: equal once trimmed and ASCII-lowercased (providers treat
/// the domain, and in practice the local part, without case).
#[must_use]
pub fn same_email(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// An identity provider's subject: the OIDC issuer and the subject it
/// gives the person (stable; never an e-mail address or display name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpSubject {
    /// The issuer, e.g. `https://login.example.com`.
    pub issuer: String,
    /// The subject the issuer gives the person.
    pub subject: String,
}

/// The form in which names, logins and identities are compared: trimmed,
/// then Unicode compatibility caseless matching (D146 of the Unicode
/// standard: NFKC, full case folding, twice, from NFD), after mapping the
/// capital I with dot above (U+0130) to `i` as Turkic folding does. So
/// `STRASSE` and `straße`, `ALİCE` and `alice`, `Ａｌｉｃｅ` (full width)
/// and `alice` are one name.
#[must_use]
pub fn fold(text: &str) -> String {
    use caseless::Caseless as _;
    use unicode_normalization::UnicodeNormalization as _;
    let dotted = text.trim().replace('\u{130}', "i");
    dotted
        .chars()
        .nfd()
        .default_case_fold()
        .nfkc()
        .default_case_fold()
        .nfkc()
        .collect()
}

/// Whether two texts are the same once [`fold`]ed.
#[must_use]
pub fn same_text(a: &str, b: &str) -> bool {
    a == b || fold(a) == fold(b)
}

/// What makes a principal a person: its ID, name, GitHub login, GitHub ID
/// and identity provider subject (as in a `principal_added` record).
#[derive(Clone, Copy, Debug)]
pub struct Person<'a> {
    /// Principal ID.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
    /// The profile (login and identities).
    pub profile: &'a Profile,
}

impl<'a> Person<'a> {
    /// The person of a principal.
    #[must_use]
    pub fn of(p: &'a Principal) -> Self {
        Person {
            id: &p.key.id,
            name: &p.key.name,
            profile: &p.profile,
        }
    }

    /// What `self` and `other` share that makes them one person, in words
    /// (`"the GitHub ID 583231"`), or `None` if they are two people. The
    /// same principal ID, a name or GitHub login equal once [`fold`]ed, the
    /// same GitHub ID or the same identity provider subject.
    #[must_use]
    pub fn shared_with(&self, other: &Person<'_>) -> Option<String> {
        if self.id == other.id {
            return Some(format!("the principal ID {}", self.id));
        }
        if same_text(self.name, other.name) {
            return Some(format!("the name {:?}", other.name));
        }
        self.shared_identity(other)
    }

    /// What `self` and `other` share among the GitHub login, GitHub ID and
    /// identity provider subject (not the name), in words.
    #[must_use]
    pub fn shared_identity(&self, other: &Person<'_>) -> Option<String> {
        let (a, b) = (self.profile, other.profile);
        if let (Some(x), Some(y)) = (a.github_id, b.github_id)
            && x == y
        {
            return Some(format!("the GitHub ID {x}"));
        }
        if let (Some(x), Some(y)) = (&a.idp, &b.idp)
            && x.issuer == y.issuer
            && same_text(&x.subject, &y.subject)
        {
            return Some(format!(
                "the identity provider subject {:?} of {}",
                y.subject, y.issuer
            ));
        }
        if let (Some(x), Some(y)) = (&a.github_login, &b.github_login)
            && same_text(x, y)
        {
            return Some(format!("the GitHub login {y:?}"));
        }
        if let (Some(x), Some(y)) = (&a.email, &b.email)
            && same_email(x, y)
        {
            return Some(format!("the e-mail address {y:?}"));
        }
        None
    }
}

/// The first of `existing` (a project's principals, active **and**
/// revoked) that `new` would duplicate, and what they share: one person
/// holds one principal, ever. `None` if `new` is another person.
#[must_use]
pub fn duplicate<'a>(
    existing: impl IntoIterator<Item = Person<'a>>,
    new: &Person<'_>,
) -> Option<(Person<'a>, String)> {
    existing
        .into_iter()
        .find_map(|p| new.shared_with(&p).map(|what| (p, what)))
}

/// A principal: its key record and profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The key record (roles, bot flag, revocation).
    pub key: KeyRecord,
    /// The profile.
    pub profile: Profile,
}

/// What a caller wants to do in a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read decisions and exceptions: any project role, or a log admin.
    Read,
    /// Export evidence: `auditor` or `admin` of the project, or a log admin.
    Export,
    /// Submit gate decisions: `ci`.
    Decide,
    /// File, approve or revoke exceptions: project principals; the ledger's
    /// rules check the roles.
    Ledger,
    /// Acknowledge monitoring's anomalies: `codeowner` or `admin`.
    Acknowledge,
    /// Change the project's controls (bot deny-list, maximum lifetime,
    /// accepted signals, GitHub connection, gate rules): `admin` of the
    /// project, or a log admin. The project's `admin` role reaches only its
    /// own project's controls, never log-wide rights.
    Control,
}

/// Checks that `caller` may do `access` in `project`. A key of another
/// project gets [`Error::NoProject`], as if the project did not exist; a
/// role that is not for this gets [`Error::Forbidden`].
///
/// # Errors
/// [`Error::NoProject`] or [`Error::Forbidden`].
pub fn authorize(caller: &KeyRecord, project: &str, access: Access) -> Result<(), Error> {
    let log_admin = caller.is_log_admin();
    match caller.project.as_deref() {
        Some(p) if p != project => {
            return Err(Error::NoProject {
                project: project.to_owned(),
            });
        }
        None if !log_admin => {
            return Err(Error::Forbidden(
                "the project API needs a key of one of the project's principals".into(),
            ));
        }
        _ => {}
    }
    let has = |r: Role| caller.project.is_some() && caller.roles.contains(&r);
    let ok = match access {
        Access::Read => log_admin || !caller.roles.is_empty(),
        Access::Export => log_admin || has(Role::Auditor) || has(Role::Admin),
        // A downstream team's key never vouches for the change it tests.
        Access::Decide => has(Role::Ci) && !has(Role::Consumer),
        Access::Ledger => caller.project.is_some(),
        Access::Acknowledge => has(Role::Codeowner) || has(Role::Admin),
        Access::Control => log_admin || has(Role::Admin),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Forbidden(match access {
            Access::Read => "this key has no role in the project".into(),
            Access::Export => "exports need the auditor or admin role".into(),
            Access::Decide if has(Role::Consumer) => {
                "a consumer key (a downstream team's) can never submit gate decisions".into()
            }
            Access::Decide => "only a ci key submits gate decisions".into(),
            Access::Ledger => "the exception ledger takes keys of the project's principals".into(),
            Access::Acknowledge => "anomalies are acknowledged by a codeowner or admin".into(),
            Access::Control => "changing the project's controls needs the admin role".into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(project: Option<&str>, roles: &[Role]) -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            name: "k".into(),
            roles: roles.to_vec(),
            project: project.map(str::to_owned),
            bot: false,
            created_at: String::new(),
            revoked_at: None,
        }
    }

    #[test]
    fn roles_round_trip_through_text_and_json() {
        for r in [
            Role::Admin,
            Role::Submitter,
            Role::Ci,
            Role::Codeowner,
            Role::Auditor,
            Role::Consumer,
        ] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert!(matches!("root".parse::<Role>(), Err(Error::Invalid(m)) if m.contains("root")));
    }

    #[test]
    fn access_rules() {
        let admin = key(None, &[Role::Admin]);
        let submitter = key(None, &[Role::Submitter]);
        let ci = key(Some("prj_a"), &[Role::Ci]);
        let auditor = key(Some("prj_a"), &[Role::Auditor]);
        let owner = key(Some("prj_a"), &[Role::Codeowner]);
        for a in [Access::Read, Access::Export] {
            assert_eq!(authorize(&admin, "prj_a", a), Ok(()));
        }
        assert_eq!(authorize(&ci, "prj_a", Access::Decide), Ok(()));
        assert_eq!(authorize(&auditor, "prj_a", Access::Export), Ok(()));
        assert_eq!(authorize(&owner, "prj_a", Access::Ledger), Ok(()));
        let project_admin = key(Some("prj_a"), &[Role::Admin]);
        assert_eq!(authorize(&project_admin, "prj_a", Access::Control), Ok(()));
        assert_eq!(authorize(&admin, "prj_a", Access::Control), Ok(()));
        // A project admin reaches its own project's controls only.
        assert!(matches!(
            authorize(&project_admin, "prj_b", Access::Control),
            Err(Error::NoProject { .. })
        ));
        assert!(matches!(
            authorize(&owner, "prj_a", Access::Control),
            Err(Error::Forbidden(_))
        ));
        // Pinned: a foreign project's key sees no project at all (404, not 403).
        assert!(matches!(
            authorize(&ci, "prj_b", Access::Read),
            Err(Error::NoProject { project }) if project == "prj_b"
        ));
        for (k, a) in [
            (&submitter, Access::Read),
            (&owner, Access::Decide),
            (&owner, Access::Export),
            (&admin, Access::Decide),
            (&admin, Access::Ledger),
            (&key(Some("prj_a"), &[Role::Consumer]), Access::Decide),
            (
                &key(Some("prj_a"), &[Role::Ci, Role::Consumer]),
                Access::Decide,
            ),
        ] {
            assert!(
                matches!(authorize(k, "prj_a", a), Err(Error::Forbidden(_))),
                "{a:?}"
            );
        }
        assert!(!owner.has(Role::Admin) && admin.has(Role::Codeowner));
    }
}
