//! The exception ledger's rules, pure: functions of (ledger state, input,
//! now). The service, storage and the clock are in the log server.
//!
//! An exception is filed by a codeowner (`ANERGIC`), activates only on a
//! second, independent signal (`ACTIVE`), and ends when it expires
//! (`EXPIRED`, checked at every use) or is revoked (`REVOKED`). Nothing is
//! edited: the state of an exception is the fold of its records
//! ([`Exception::apply`]).

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::principal::{KeyRecord, Role};
use crate::record::{BlockedRun, GateDecision, Record, RecordBody};
pub use crate::settings::{
    GitHubConnection, PeopleSignIn, ProjectSettings, SignalKind, default_accepted_signals,
};
use crate::time::{format_time, parse_time};

/// Default longest lifetime of an exception: 90 days.
pub const DEFAULT_MAX_LIFETIME_SECONDS: u64 = 90 * 86_400;
/// Longest text field of an exception or signal.
pub const MAX_TEXT: usize = 2_000;

/// Longest maximum exception lifetime a project may set: one year.
pub const MAX_LIFETIME_LIMIT_SECONDS: u64 = 365 * 86_400;

/// A project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRow {
    /// Opaque ID (`prj_...`), public in every envelope.
    pub id: String,
    /// Name (private: never in the log).
    pub name: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Settings.
    pub settings: ProjectSettings,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            bot_deny_list: Vec::new(),
            max_exception_lifetime_seconds: DEFAULT_MAX_LIFETIME_SECONDS,
            accepted_signals: default_accepted_signals(),
            github: None,
            gate: gate::Config::default(),
            monitoring: crate::settings::MonitorConfig::default(),
            second_admin_for_weakening: false,
            people_sign_in: PeopleSignIn::Any,
            idp_groups: std::collections::BTreeMap::new(),
        }
    }
}

impl ProjectSettings {
    /// The names of the controls that differ in `other`.
    #[must_use]
    pub fn changes(&self, other: &ProjectSettings) -> Vec<String> {
        let mut out = Vec::new();
        if self.bot_deny_list != other.bot_deny_list {
            out.push("bot_deny_list".to_owned());
        }
        if self.max_exception_lifetime_seconds != other.max_exception_lifetime_seconds {
            out.push("max_exception_lifetime_seconds".to_owned());
        }
        if self.accepted_signals != other.accepted_signals {
            out.push("accepted_signals".to_owned());
        }
        if self.github != other.github {
            out.push("github".to_owned());
        }
        if self.gate != other.gate {
            out.push("gate".to_owned());
        }
        if self.monitoring != other.monitoring {
            out.push("monitoring".to_owned());
        }
        if self.second_admin_for_weakening != other.second_admin_for_weakening {
            out.push("second_admin_for_weakening".to_owned());
        }
        if self.people_sign_in != other.people_sign_in {
            out.push("people_sign_in".to_owned());
        }
        if self.idp_groups != other.idp_groups {
            out.push("idp_groups".to_owned());
        }
        out
    }

    /// Whether a principal is a bot: marked so, or on the deny-list by ID
    /// or by name (compared after Unicode case folding,
    /// [`crate::principal::fold`]).
    pub fn is_bot(&self, key: &KeyRecord) -> bool {
        key.bot
            || self
                .bot_deny_list
                .iter()
                .any(|b| *b == key.id || crate::principal::same_text(b, &key.name))
    }

    /// [`ProjectSettings::is_bot`], and also a principal whose GitHub login
    /// is a bot's ([`ProjectSettings::is_bot_login`]) or whose GitHub
    /// numeric ID is on the deny-list (an entry of digits only).
    pub fn is_bot_principal(&self, key: &KeyRecord, profile: &crate::principal::Profile) -> bool {
        self.is_bot(key)
            || profile
                .github_login
                .as_deref()
                .is_some_and(|l| self.is_bot_login(l))
            || profile.github_id.is_some_and(|id| {
                self.bot_deny_list
                    .iter()
                    .any(|b| b.trim().parse::<u64>().ok() == Some(id))
            })
    }

    /// Whether a GitHub login is a bot: an app (`...[bot]`, any case) or on
    /// the deny-list (compared after Unicode case folding).
    pub fn is_bot_login(&self, login: &str) -> bool {
        crate::principal::fold(login).ends_with("[bot]")
            || self
                .bot_deny_list
                .iter()
                .any(|b| crate::principal::same_text(b, login))
    }
}

/// A change of a project's settings; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// The whole bot deny-list.
    #[serde(default)]
    pub bot_deny_list: Option<Vec<String>>,
    /// Longest time from filing to expiry, 1 s to one year.
    #[serde(default)]
    pub max_exception_lifetime_seconds: Option<u64>,
    /// The kinds of second signal the project accepts (at least one).
    #[serde(default)]
    pub accepted_signals: Option<Vec<SignalKind>>,
    /// Connects the project to a GitHub repository (`owner/name`), or
    /// disconnects it (`null`).
    #[serde(default, deserialize_with = "present")]
    pub github_repository: Option<Option<String>>,
    /// The gate engine's rule configuration, whole (severity overrides by
    /// oasdiff rule id: `err`, `warn`, `info` or `none`; deprecation policy).
    #[serde(default)]
    pub gate: Option<gate::Config>,
    /// The monitoring thresholds, whole (`spec/monitoring.md`).
    #[serde(default)]
    pub monitoring: Option<crate::settings::MonitorConfig>,
    /// Whether a weakening change waits for a second project admin.
    #[serde(default)]
    pub second_admin_for_weakening: Option<bool>,
    /// How the project's people sign in to the cockpit.
    #[serde(default)]
    pub people_sign_in: Option<PeopleSignIn>,
    /// The identity provider's groups that grant project roles, whole
    /// (`{}` removes every one).
    #[serde(default)]
    pub idp_groups: Option<std::collections::BTreeMap<String, Vec<crate::principal::Role>>>,
}

/// A field that is present (possibly `null`), as opposed to absent.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl SettingsPatch {
    /// Applies the patch at `now` (RFC 3339, the time a GitHub connection
    /// is established); a bad patch changes nothing. Returns the names of
    /// the controls it changed (empty if it changed nothing).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad field.
    pub fn apply(&self, settings: &mut ProjectSettings, now: &str) -> Result<Vec<String>, Error> {
        let mut next = settings.clone();
        match &self.github_repository {
            Some(Some(repository)) => {
                check_repository(repository)?;
                let same = next
                    .github
                    .as_ref()
                    .is_some_and(|g| g.repository.eq_ignore_ascii_case(repository));
                if !same {
                    next.github = Some(GitHubConnection {
                        repository: repository.clone(),
                        connected_at: now.to_owned(),
                    });
                }
            }
            Some(None) => next.github = None,
            None => {}
        }
        if let Some(secs) = self.max_exception_lifetime_seconds {
            if !(1..=MAX_LIFETIME_LIMIT_SECONDS).contains(&secs) {
                return Err(Error::Invalid(format!(
                    "max_exception_lifetime_seconds must be 1 to {MAX_LIFETIME_LIMIT_SECONDS} (365 days)"
                )));
            }
            next.max_exception_lifetime_seconds = secs;
        }
        if let Some(kinds) = &self.accepted_signals {
            if kinds.is_empty() {
                return Err(Error::Invalid(
                    "accepted_signals must name at least one of codeowner_approval, consumer_test, github_review"
                        .into(),
                ));
            }
            let mut kinds = kinds.clone();
            kinds.sort();
            kinds.dedup();
            next.accepted_signals = kinds;
        }
        if let Some(deny) = &self.bot_deny_list {
            for d in deny {
                check_text("bot_deny_list entry", d, 200, false)?;
            }
            let mut deny = deny.clone();
            deny.sort();
            deny.dedup();
            next.bot_deny_list = deny;
        }
        if let Some(config) = &self.gate {
            next.gate = config
                .normalized()
                .map_err(|e| Error::Invalid(format!("gate: {e}")))?;
        }
        if let Some(m) = &self.monitoring {
            next.monitoring = m.clone();
        }
        if let Some(on) = self.second_admin_for_weakening {
            next.second_admin_for_weakening = on;
        }
        if let Some(p) = self.people_sign_in {
            next.people_sign_in = p;
        }
        if let Some(groups) = &self.idp_groups {
            next.idp_groups = check_idp_groups(groups)?;
        }
        let changed = settings.changes(&next);
        *settings = next;
        Ok(changed)
    }
}

/// Most identity provider groups a project maps to roles.
pub const MAX_IDP_GROUPS: usize = 100;

/// `idp_groups` as a project keeps it: at most [`MAX_IDP_GROUPS`] groups,
/// each named (1 to 200 characters), each with at least one of the roles
/// a person may get from a group (`codeowner`, `auditor`, `admin`: never
/// `ci` or `consumer`, which are automation's), sorted, each once.
fn check_idp_groups(
    groups: &std::collections::BTreeMap<String, Vec<crate::principal::Role>>,
) -> Result<std::collections::BTreeMap<String, Vec<crate::principal::Role>>, Error> {
    use crate::principal::Role;
    if groups.len() > MAX_IDP_GROUPS {
        return Err(Error::Invalid(format!(
            "idp_groups maps at most {MAX_IDP_GROUPS} groups"
        )));
    }
    let mut out = std::collections::BTreeMap::new();
    for (group, roles) in groups {
        check_text("idp_groups group", group, 200, false)?;
        if roles.is_empty() {
            return Err(Error::Invalid(format!(
                "idp_groups: the group {group:?} grants no role (give at least one, or leave the group out)"
            )));
        }
        if let Some(r) = roles
            .iter()
            .find(|r| !matches!(r, Role::Codeowner | Role::Auditor | Role::Admin))
        {
            return Err(Error::Invalid(format!(
                "idp_groups: the group {group:?} grants {}; a group grants codeowner, auditor or admin (ci and consumer are automation's keys)",
                r.as_str()
            )));
        }
        let mut roles = roles.clone();
        roles.sort();
        roles.dedup();
        out.insert(group.clone(), roles);
    }
    Ok(out)
}

/// State of an exception at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Filed, waiting for a second signal; does not let anything through.
    Anergic,
    /// Lets an ERR on its exact (kind, endpoint) through.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

impl Status {
    /// `ANERGIC`, `ACTIVE`, `EXPIRED` or `REVOKED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Anergic => "ANERGIC",
            Status::Active => "ACTIVE",
            Status::Expired => "EXPIRED",
            Status::Revoked => "REVOKED",
        }
    }
}

/// An exception: the fold of its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    /// Exception ID.
    pub id: String,
    /// Change kind.
    pub kind: String,
    /// Endpoint, e.g. `GET /users/{id}`.
    pub endpoint: String,
    /// Requester's principal ID.
    pub requested_by: String,
    /// Requester's principal name (a principal is a person: another key of
    /// the same name is the same person).
    pub requested_by_name: String,
    /// The pull request it is for, if it names one: repository and number.
    pub pull_request: Option<(String, u64)>,
    /// Filed, ms since the epoch.
    pub created_at: i64,
    /// Expiry, ms since the epoch.
    pub expires_at: i64,
    /// Activation, if any.
    pub activated_at: Option<i64>,
    /// Revocation, if any.
    pub revoked_at: Option<i64>,
    /// Whether an `exception_expired` record exists.
    pub expiry_recorded: bool,
    /// The blocked gate decision it was filed for (`None` for exceptions
    /// filed before filings named their run).
    pub blocked_run: Option<BlockedRun>,
}

impl Exception {
    /// The exception an `exception_requested` record creates (`None` for
    /// any other record, or one whose times are not RFC 3339 UTC).
    #[must_use]
    pub fn from_requested(record: &Record) -> Option<Exception> {
        let RecordBody::ExceptionRequested(r) = &record.body else {
            return None;
        };
        Some(Exception {
            id: record.id.clone(),
            kind: r.kind.clone(),
            endpoint: r.endpoint.clone(),
            requested_by: r.requested_by.clone(),
            requested_by_name: r.requested_by_name.clone(),
            pull_request: r.repository.clone().zip(r.pull_request),
            created_at: parse_time(&record.time)?,
            expires_at: parse_time(&r.expires_at)?,
            activated_at: None,
            revoked_at: None,
            expiry_recorded: false,
            blocked_run: r.blocked_run.clone(),
        })
    }

    /// Applies a later record of this exception (signals change nothing by
    /// themselves: the activation that follows an accepted one does).
    pub fn apply(&mut self, record: &Record) {
        let time = parse_time(&record.time);
        match record.body {
            RecordBody::ExceptionActivated(_) => self.activated_at = self.activated_at.or(time),
            RecordBody::ExceptionRevoked(_) => self.revoked_at = self.revoked_at.or(time),
            RecordBody::ExceptionExpired(_) => self.expiry_recorded = true,
            _ => {}
        }
    }

    /// The state at `now`. Expiry wins over activation as soon as `now`
    /// reaches `expires_at`, whether or not it was recorded yet.
    pub fn status_at(&self, now: i64) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if now >= self.expires_at || self.expiry_recorded {
            Status::Expired
        } else if self.activated_at.is_some() {
            Status::Active
        } else {
            Status::Anergic
        }
    }

    /// Whether it is past expiry with no `exception_expired` record yet.
    pub fn expiry_due(&self, now: i64) -> bool {
        self.revoked_at.is_none() && !self.expiry_recorded && now >= self.expires_at
    }

    /// What its signals are bound to (see [`crate::signals::check_binding`]).
    #[must_use]
    pub fn bound(&self) -> crate::signals::Bound<'_> {
        crate::signals::Bound {
            id: &self.id,
            blocked_run: self.blocked_run.as_ref(),
            pull_request: self.pull_request.as_ref().map(|(r, n)| (r.as_str(), *n)),
        }
    }

    /// Filing to activation, ms.
    pub fn approval_latency_ms(&self, activated_at: i64) -> u64 {
        u64::try_from(activated_at - self.created_at).unwrap_or(0)
    }
}

/// Body of `POST .../exceptions`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    /// Change kind: a kind of the blocked run's findings, by its
    /// snake_case kind or its oasdiff rule id (`response-required-property-removed`).
    /// May be empty (with `endpoint`) when the run has one `ERR` finding.
    #[serde(default)]
    pub kind: String,
    /// Endpoint, e.g. `GET /users/{id}`: one of the blocked run's findings'.
    #[serde(default)]
    pub endpoint: String,
    /// Why the bypass is needed.
    pub reason: String,
    /// Expiry, RFC 3339 UTC.
    pub expires_at: String,
    /// The GitHub repository (`owner/name`) of the pull request the
    /// exception is for; with `pull_request`, required for `github_review`.
    #[serde(default)]
    pub repository: Option<String>,
    /// The pull request's number.
    #[serde(default)]
    pub pull_request: Option<u64>,
    /// The blocked gate decision (`run_…`) the exception is for: required.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// Checks a GitHub repository name, `owner/name`.
///
/// # Errors
/// [`Error::Invalid`].
pub fn check_repository(repository: &str) -> Result<(), Error> {
    let ok = repository
        .split_once('/')
        .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        && repository.len() <= 200
        && repository
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "repository must be owner/name, got {repository:?}"
        )))
    }
}

fn has(key: &KeyRecord, role: Role) -> bool {
    key.roles.contains(&role)
}

/// Checks a text field: 1 to `max` characters (empty allowed if `may_be_empty`),
/// no control characters.
pub fn check_text(name: &str, value: &str, max: usize, may_be_empty: bool) -> Result<(), Error> {
    if (!may_be_empty && value.trim().is_empty()) || value.chars().count() > max {
        let range = if may_be_empty { "0" } else { "1" };
        return Err(Error::Invalid(format!(
            "{name} must be {range} to {max} characters"
        )));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::Invalid(format!(
            "{name} must not contain control characters"
        )));
    }
    Ok(())
}

/// Rules for filing an exception. Codeowners file exceptions; bots cannot;
/// it names the blocked gate decision it is for (`run`: what identifies
/// the record, and the decision), whose `ERR` findings give its scope
/// ([`crate::signals::scope_of`]: the kind in its one form, the finding's
/// endpoint); the expiry is required, in the future, and at most the
/// project's maximum lifetime away; a pull request is one of the project's
/// connected repository.
///
/// # Errors
/// The [`Error`].
pub fn check_filing(
    settings: &ProjectSettings,
    caller: &KeyRecord,
    req: &NewException,
    run: Option<(&BlockedRun, &GateDecision)>,
    now: i64,
) -> Result<Filing, Error> {
    if !has(caller, Role::Codeowner) {
        return Err(Error::Forbidden(
            "only a codeowner can file an exception".into(),
        ));
    }
    if settings.is_bot(caller) {
        return Err(Error::Forbidden(format!(
            "{} is a bot; bots can neither request nor approve exceptions",
            caller.name
        )));
    }
    check_text("kind", &req.kind, 200, true)?;
    check_text("endpoint", &req.endpoint, 500, true)?;
    let Some((blocked_run, decision)) = run else {
        return Err(Error::Invalid(
            "run_id is required: name the blocked gate decision (run_…) the exception is for"
                .into(),
        ));
    };
    let (kind, endpoint) = crate::signals::scope_of(
        &blocked_run.run_id,
        decision,
        &req.kind,
        &req.endpoint,
        &settings.gate,
    )?;
    // Only a project connected to GitHub names pull requests, of its
    // repository; the message is the same whatever the repository named
    // (nothing is asked of GitHub).
    let connected = settings.github.as_ref().map(|g| g.repository.as_str());
    if connected.is_none() && (req.repository.is_some() || req.pull_request.is_some()) {
        return Err(Error::Invalid(
            "this project is not connected to a GitHub repository: its exceptions name no pull request (a project admin can connect one with github_repository)".into(),
        ));
    }
    let repository = req.repository.as_deref().or(connected);
    let pull_request = match (repository, req.pull_request) {
        (None, None) => None,
        (Some(r), Some(n)) if n > 0 => {
            check_repository(r)?;
            if let Some(c) = connected
                && !c.eq_ignore_ascii_case(r)
            {
                return Err(Error::Invalid(format!(
                    "the project is connected to the GitHub repository {c}; its exceptions name pull requests of {c}, not of {r}"
                )));
            }
            Some((r.to_owned(), n))
        }
        (Some(_), None) if req.repository.is_none() => None,
        _ => {
            return Err(Error::Invalid(
                "give both repository (owner/name) and pull_request (a positive number), or neither"
                    .into(),
            ));
        }
    };
    check_text("reason", &req.reason, MAX_TEXT, false)?;
    let expires = parse_time(&req.expires_at).ok_or_else(|| {
        Error::Invalid(format!(
            "expires_at must be RFC 3339 UTC like 2026-01-31T00:00:00Z, got {:?}",
            req.expires_at
        ))
    })?;
    if expires <= now {
        return Err(Error::Invalid(format!(
            "expires_at ({}) must be in the future (now is {})",
            req.expires_at,
            format_time(now)
        )));
    }
    let max_ms = i64::try_from(settings.max_exception_lifetime_seconds.saturating_mul(1000))
        .unwrap_or(i64::MAX);
    if expires - now > max_ms {
        return Err(Error::Invalid(format!(
            "expires_at ({}) is beyond the project's maximum exception lifetime of {} s (latest allowed: {})",
            req.expires_at,
            settings.max_exception_lifetime_seconds,
            format_time(now.saturating_add(max_ms))
        )));
    }
    Ok(Filing {
        kind,
        endpoint,
        expires_at: expires,
        pull_request,
        blocked_run: blocked_run.clone(),
    })
}

/// What a filing accepted by [`check_filing`] records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filing {
    /// The change kind in its one form: the blocked run's finding's.
    pub kind: String,
    /// The endpoint: the blocked run's finding's.
    pub endpoint: String,
    /// The expiry, ms since the epoch.
    pub expires_at: i64,
    /// The pull request it is for: repository and number.
    pub pull_request: Option<(String, u64)>,
    /// The blocked gate decision it is for.
    pub blocked_run: BlockedRun,
}

fn check_state(exc: &Exception, now: i64, action: &str) -> Result<(), Error> {
    match exc.status_at(now) {
        Status::Anergic => Ok(()),
        Status::Active if action == "revoke" => Ok(()),
        Status::Active => Err(Error::Conflict(format!(
            "exception {} is already ACTIVE",
            exc.id
        ))),
        Status::Expired => Err(Error::Conflict(format!(
            "exception {} expired at {}; file a new one",
            exc.id,
            format_time(exc.expires_at)
        ))),
        Status::Revoked => Err(Error::Conflict(format!("exception {} is revoked", exc.id))),
    }
}

/// Rules for a second signal. `submitter` is the caller; `approver` is the
/// principal whose approval the signal carries (the caller itself, or for a
/// GitHub review the project principal of the reviewer). The exception must
/// be `ANERGIC` at `now`; neither may be a bot; the approver may not be the
/// requester; `codeowner_approval` needs a codeowner, `consumer_test` a
/// `consumer` key, `github_review` a codeowner reviewer submitted by a codeowner or
/// `ci` key.
///
/// # Errors
/// The [`Error`].
pub fn check_signal(
    settings: &ProjectSettings,
    exc: &Exception,
    kind: SignalKind,
    submitter: &KeyRecord,
    approver: &KeyRecord,
    now: i64,
) -> Result<(), Error> {
    check_submitter(settings, kind, submitter)?;
    if settings.is_bot(approver) {
        return Err(Error::Forbidden(format!(
            "{} is a bot; bots can neither request nor approve exceptions",
            approver.name
        )));
    }
    if approver.id == exc.requested_by || approver.name.eq_ignore_ascii_case(&exc.requested_by_name)
    {
        return Err(Error::Forbidden(format!(
            "{} requested exception {}; the second signal must come from someone else",
            approver.name, exc.id
        )));
    }
    if kind == SignalKind::GithubReview && !has(approver, Role::Codeowner) {
        return Err(Error::Forbidden(format!(
            "the approving reviewer {} is not a codeowner of this project",
            approver.name
        )));
    }
    check_state(exc, now, "signal")
}

/// The part of [`check_signal`] about the caller alone: its role for this
/// kind of signal, and that it is not a bot.
///
/// # Errors
/// [`Error::Forbidden`].
pub fn check_submitter(
    settings: &ProjectSettings,
    kind: SignalKind,
    submitter: &KeyRecord,
) -> Result<(), Error> {
    if !settings.accepted_signals.contains(&kind) {
        let accepted: Vec<&str> = settings
            .accepted_signals
            .iter()
            .map(|k| k.as_str())
            .collect();
        return Err(Error::Forbidden(format!(
            "this project does not accept {} signals (it accepts {}); a project admin can change accepted_signals",
            kind.as_str(),
            accepted.join(", ")
        )));
    }
    let role_ok = match kind {
        SignalKind::CodeownerApproval => has(submitter, Role::Codeowner),
        SignalKind::ConsumerTest => has(submitter, Role::Consumer),
        SignalKind::GithubReview => has(submitter, Role::Codeowner) || has(submitter, Role::Ci),
    };
    if !role_ok {
        let need = match kind {
            SignalKind::CodeownerApproval => "a codeowner",
            SignalKind::ConsumerTest => "a consumer key (a downstream team's principal)",
            SignalKind::GithubReview => "a codeowner or ci key",
        };
        return Err(Error::Forbidden(format!(
            "a {} signal must come from {need}; {} is not one",
            kind.as_str(),
            submitter.name
        )));
    }
    if settings.is_bot(submitter) {
        return Err(Error::Forbidden(format!(
            "{} is a bot; bots can neither request nor approve exceptions",
            submitter.name
        )));
    }
    Ok(())
}

/// Whether a signal could still activate the exception at `now` (it is `ANERGIC`).
///
/// # Errors
/// [`Error::Conflict`] saying why not.
pub fn check_open(exc: &Exception, now: i64) -> Result<(), Error> {
    check_state(exc, now, "signal")
}

/// The binding of a `consumer_test` signal: the (kind, endpoint) the test
/// validates must be the exception's (parameter names aside).
///
/// # Errors
/// [`Error::Forbidden`] saying what differs.
pub fn check_consumer_test(exc: &Exception, kind: &str, endpoint: &str) -> Result<(), Error> {
    if kind != exc.kind || !crate::endpoint::matches(&exc.endpoint, endpoint) {
        return Err(Error::Forbidden(format!(
            "the consumer test validates {kind} on {endpoint}; exception {} is for {} on {}",
            exc.id, exc.kind, exc.endpoint
        )));
    }
    Ok(())
}

/// Rules for revoking: a codeowner (not a bot), with a reason, of an
/// exception that is `ANERGIC` or `ACTIVE` at `now`.
///
/// # Errors
/// The [`Error`].
pub fn check_revoke(
    settings: &ProjectSettings,
    exc: &Exception,
    caller: &KeyRecord,
    reason: &str,
    now: i64,
) -> Result<(), Error> {
    if !has(caller, Role::Codeowner) {
        return Err(Error::Forbidden(
            "only a codeowner can revoke an exception".into(),
        ));
    }
    if settings.is_bot(caller) {
        return Err(Error::Forbidden(format!(
            "{} is a bot; bots cannot revoke exceptions",
            caller.name
        )));
    }
    check_text("reason", reason, MAX_TEXT, false)?;
    check_state(exc, now, "revoke")
}

/// One pull-request review, as GitHub reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// Review ID.
    pub id: u64,
    /// Reviewer's login.
    pub login: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    /// The commit the review was made on.
    pub commit_id: String,
    /// When it was submitted (ms since the epoch), if GitHub says.
    pub submitted_at: Option<i64>,
    /// The reviewer's GitHub numeric id, if GitHub says.
    pub user_id: Option<u64>,
}

/// What GitHub says of the pull request an exception names, and of the
/// requester, for its `github_review` signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullFacts {
    /// The pull request's current head commit.
    pub head_sha: String,
    /// The GitHub numeric id of the pull request's author.
    pub author_id: u64,
    /// The requester's GitHub numeric id (by their principal's GitHub
    /// login), if they have one.
    pub requester_id: Option<u64>,
}

/// A project principal with a GitHub login, for matching reviewers.
#[derive(Clone, Debug)]
pub struct Reviewer<'a> {
    /// The principal's GitHub login.
    pub login: &'a str,
    /// Its key record.
    pub key: &'a KeyRecord,
}

/// The review that stands as the `github_review` signal of `exc`, and the
/// principal whose approval it is: the first standing approval (see
/// [`standing_approvals`]) on the pull request's current head commit
/// `head_sha` (an approval of an older commit is stale, as GitHub's
/// "dismiss stale reviews" would have it), submitted after the exception
/// was filed, by an active codeowner principal (matched by GitHub login,
/// without case) who is not the requester and not a bot, and whose GitHub
/// numeric id is neither the pull request's author's nor the requester's.
///
/// # Errors
/// [`Error::Forbidden`] saying, for each standing approval, why it does not
/// count.
pub fn github_approval<'a>(
    settings: &ProjectSettings,
    exc: &Exception,
    reviews: &'a [Review],
    pr: &PullFacts,
    reviewers: &[Reviewer<'_>],
) -> Result<(&'a Review, KeyRecord), Error> {
    let head_sha = pr.head_sha.as_str();
    let mut why = Vec::new();
    for r in standing_approvals(reviews) {
        if settings.is_bot_login(&r.login) {
            why.push(format!("{} is a bot", r.login));
            continue;
        }
        let Some(reviewer_id) = r.user_id else {
            why.push(format!(
                "GitHub does not say who {} is (no user id)",
                r.login
            ));
            continue;
        };
        if reviewer_id == pr.author_id {
            why.push(format!("{} authored the pull request", r.login));
            continue;
        }
        if pr.requester_id == Some(reviewer_id) {
            why.push(format!("{} requested the exception", r.login));
            continue;
        }
        let Some(p) = reviewers
            .iter()
            .find(|p| p.key.revoked_at.is_none() && p.login.eq_ignore_ascii_case(&r.login))
        else {
            why.push(format!("{} is not a principal of this project", r.login));
            continue;
        };
        if p.key.id == exc.requested_by || p.key.name.eq_ignore_ascii_case(&exc.requested_by_name) {
            why.push(format!("{} requested the exception", r.login));
            continue;
        }
        if !p.key.roles.contains(&Role::Codeowner) {
            why.push(format!("{} is not a codeowner", r.login));
            continue;
        }
        if settings.is_bot(p.key) {
            why.push(format!("{} is a bot", r.login));
            continue;
        }
        if r.commit_id != head_sha {
            why.push(format!(
                "{}'s approval is of commit {}, not the pull request's head {head_sha} (stale)",
                r.login, r.commit_id
            ));
            continue;
        }
        if r.submitted_at.is_none_or(|t| t <= exc.created_at) {
            why.push(format!(
                "{}'s approval was submitted before the exception was filed",
                r.login
            ));
            continue;
        }
        return Ok((r, p.key.clone()));
    }
    let why = if why.is_empty() {
        "it has no standing APPROVED review".to_owned()
    } else {
        why.join("; ")
    };
    let (repo, n) = exc
        .pull_request
        .as_ref()
        .map_or(("?", 0), |(r, n)| (r.as_str(), *n));
    Err(Error::Forbidden(format!(
        "no approving review by a codeowner of this project on {repo} pull request {n}: {why}"
    )))
}

/// The reviews that stand as approvals: each reviewer's latest deciding
/// review (approved, changes requested or dismissed; comments do not
/// change a verdict), kept when it is `APPROVED`. In GitHub's order.
pub fn standing_approvals(reviews: &[Review]) -> Vec<&Review> {
    let deciding = |r: &&Review| {
        matches!(
            r.state.as_str(),
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
        )
    };
    let mut out: Vec<&Review> = Vec::new();
    for r in reviews.iter().filter(deciding) {
        out.retain(|o| o.login != r.login);
        out.push(r);
    }
    out.retain(|r| r.state == "APPROVED");
    out
}

/// Checks the history of a project's controls as an export gives it
/// (section C, in log order): every change that weakened controls under
/// which `second_admin_for_weakening` was on carries a second admin's
/// approval, and the changes follow each other. Fed one record at a time;
/// records of other types are ignored.
#[derive(Debug, Default)]
pub struct ControlHistory {
    /// The controls after the last change seen.
    last: Option<ProjectSettings>,
    /// Held changes proposed in the period: proposer ID and name, and the
    /// controls proposed.
    proposals: std::collections::BTreeMap<String, (String, String, ProjectSettings)>,
    /// Approvals seen: change ID → approver ID.
    approvals: std::collections::BTreeMap<String, String>,
}

fn text<'a>(record: &'a serde_json::Value, field: &str) -> &'a str {
    record
        .get(field)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

impl ControlHistory {
    /// The controls after the last change seen, if any.
    #[must_use]
    pub fn last(&self) -> Option<&ProjectSettings> {
        self.last.as_ref()
    }

    /// Adds the next record of the section.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] saying what is wrong with the record.
    pub fn add(&mut self, record: &serde_json::Value) -> Result<(), crate::Error> {
        use crate::record::{
            PROJECT_SETTINGS_CHANGED, SETTINGS_CHANGE_APPROVED, SETTINGS_CHANGE_PROPOSED,
        };
        let bad = |msg: String| crate::Error::Invalid(msg);
        let settings_of = |field: &str| -> Result<Option<ProjectSettings>, crate::Error> {
            match record.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => serde_json::from_value(v.clone())
                    .map(Some)
                    .map_err(|e| bad(format!("its {field} are not a project's controls: {e}"))),
            }
        };
        match text(record, "type") {
            SETTINGS_CHANGE_PROPOSED => {
                let settings = settings_of("settings")?
                    .ok_or_else(|| bad("a proposed change without its settings".into()))?;
                self.proposals.insert(
                    text(record, "id").to_owned(),
                    (
                        text(record, "proposed_by").to_owned(),
                        text(record, "proposed_by_name").to_owned(),
                        settings,
                    ),
                );
            }
            SETTINGS_CHANGE_APPROVED => {
                let (by, by_name) = (
                    text(record, "approved_by"),
                    text(record, "approved_by_name"),
                );
                let (proposer, proposer_name) = (
                    text(record, "proposed_by"),
                    text(record, "proposed_by_name"),
                );
                if by.is_empty()
                    || by == proposer
                    || crate::principal::same_text(by_name, proposer_name)
                {
                    return Err(bad(format!(
                        "change {} was approved by its proposer {proposer_name:?}: a weakening change needs a second, different admin",
                        text(record, "change_id")
                    )));
                }
                if let Some((p, _, _)) = self.proposals.get(text(record, "change_id"))
                    && p != proposer
                {
                    return Err(bad(format!(
                        "the approval of change {} names another proposer than its proposal",
                        text(record, "change_id")
                    )));
                }
                self.approvals
                    .insert(text(record, "change_id").to_owned(), by.to_owned());
            }
            PROJECT_SETTINGS_CHANGED => {
                let settings = settings_of("settings")?
                    .ok_or_else(|| bad("a change of controls without its settings".into()))?;
                let recorded_previous = settings_of("previous")?;
                if let (Some(p), Some(last)) = (&recorded_previous, &self.last)
                    && p != last
                {
                    return Err(bad(
                        "the controls it says were in force before it are not those the previous change of the section left".into(),
                    ));
                }
                let prior = recorded_previous.or_else(|| self.last.clone());
                if let Some(prior) = prior
                    && prior.second_admin_for_weakening
                {
                    let weakened = crate::settings::weakening(&prior, &settings);
                    if !weakened.is_empty() {
                        self.check_approved(record, &settings, &weakened)?;
                    }
                }
                self.last = Some(settings);
            }
            _ => {}
        }
        Ok(())
    }

    /// A weakening change under the control: approved by another admin.
    fn check_approved(
        &self,
        record: &serde_json::Value,
        settings: &ProjectSettings,
        weakened: &[String],
    ) -> Result<(), crate::Error> {
        let what = weakened.join("; ");
        let fail = |why: &str| {
            Err(crate::Error::Invalid(format!(
                "a change that weakened the controls ({what}) took effect while second_admin_for_weakening was on, {why}"
            )))
        };
        let (Some(change), Some(approver)) = (
            record.get("change_id").and_then(serde_json::Value::as_str),
            record
                .get("approved_by")
                .and_then(serde_json::Value::as_str),
        ) else {
            return fail("without a second admin's approval");
        };
        let (by, by_name) = (text(record, "changed_by"), text(record, "changed_by_name"));
        if approver == by || crate::principal::same_text(text(record, "approved_by_name"), by_name)
        {
            return fail("approved by the admin who proposed it");
        }
        if self.approvals.get(change).map(String::as_str) != Some(approver) {
            return fail(&format!(
                "and the section has no settings_change_approved record of change {change} by {approver}"
            ));
        }
        if let Some((p, _, proposed)) = self.proposals.get(change)
            && (p != by || proposed != settings)
        {
            return fail(&format!(
                "and it is not the change {change} proposed (proposer or controls differ)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn event(time: &str, body: RecordBody) -> Record {
        Record {
            id: "evt_x".into(),
            project: "prj_a".into(),
            time: time.into(),
            salt: "00".repeat(16),
            seq: None,
            prev: None,
            body,
        }
    }

    fn key(id: &str, roles: &[Role], bot: bool) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            name: format!("{id}-name"),
            roles: roles.to_vec(),
            project: Some("prj_a".into()),
            bot,
            created_at: String::new(),
            revoked_at: None,
        }
    }

    fn exc() -> Exception {
        Exception {
            id: "exc_1".into(),
            kind: "field_removed".into(),
            endpoint: "GET /users/{id}".into(),
            requested_by: "alice".into(),
            requested_by_name: "alice-name".into(),
            pull_request: Some(("example/api".into(), 7)),
            created_at: 0,
            expires_at: 10 * H,
            activated_at: None,
            revoked_at: None,
            expiry_recorded: false,
            blocked_run: None,
        }
    }

    fn blocked() -> (BlockedRun, GateDecision) {
        let run = BlockedRun {
            run_id: "run_1".into(),
            seq: Some(1),
            digest: format!("sha256:{}", "0".repeat(64)),
            commit_sha: "abcdef0".into(),
        };
        let decision = GateDecision {
            submitted_by: "ci".into(),
            submitted_by_name: "ci".into(),
            commit_sha: "abcdef0".into(),
            branch: "main".into(),
            author: "a".into(),
            findings: vec![crate::record::Finding {
                kind: "field_removed".into(),
                endpoint: "GET /users/{id}".into(),
                severity: crate::record::Severity::Err,
                detail: String::new(),
            }],
            artifacts: vec![],
            verdict: "ERR".into(),
            blocked: true,
            blocked_reasons: vec![],
            exceptions_applied: vec![],
            classified_by: "ci".into(),
            classifier: None,
            summary: None,
        };
        (run, decision)
    }

    fn new_exc(expires_at: &str) -> NewException {
        NewException {
            kind: "field_removed".into(),
            endpoint: "GET /users/{id}".into(),
            reason: "consumers migrated".into(),
            expires_at: expires_at.into(),
            repository: None,
            pull_request: None,
            run_id: Some("run_1".into()),
        }
    }

    #[test]
    fn status_follows_the_records_and_the_clock() {
        let mut e = exc();
        assert_eq!(e.status_at(0), Status::Anergic);
        e.apply(&event(
            "1970-01-01T01:00:00Z",
            RecordBody::ExceptionActivated(crate::record::ExceptionActivated {
                exception_id: "exc_1".into(),
                signal_id: "evt_1".into(),
                approver: "bob".into(),
                approval_latency_ms: 3_600_000,
            }),
        ));
        assert_eq!(e.activated_at, Some(H));
        assert_eq!(e.approval_latency_ms(H), 3_600_000);
        assert_eq!(e.status_at(H), Status::Active);
        assert_eq!(e.status_at(10 * H - 1), Status::Active);
        // Expiry is checked at every use, recorded or not.
        assert_eq!(e.status_at(10 * H), Status::Expired);
        assert!(e.expiry_due(10 * H));
        assert!(!e.expiry_due(10 * H - 1));
        e.apply(&event(
            "1970-01-01T11:00:00Z",
            RecordBody::ExceptionExpired(crate::record::ExceptionExpired {
                exception_id: "exc_1".into(),
                expires_at: "1970-01-01T10:00:00Z".into(),
                status_before: "ACTIVE".into(),
            }),
        ));
        assert!(!e.expiry_due(11 * H));
        let mut r = exc();
        r.apply(&event(
            "1970-01-01T02:00:00Z",
            RecordBody::ExceptionRevoked(crate::record::ExceptionRevoked {
                exception_id: "exc_1".into(),
                revoked_by: "alice".into(),
                revoked_by_name: "Alice".into(),
                reason: "done".into(),
            }),
        ));
        assert_eq!(r.status_at(H * 3), Status::Revoked);
        assert!(
            !r.expiry_due(11 * H),
            "a revoked exception never gets an expiry record"
        );
    }

    #[test]
    fn filing_rules() {
        let (br, gd) = blocked();
        let st = ProjectSettings::default();
        let gh = ProjectSettings {
            github: Some(GitHubConnection {
                repository: "example/api".into(),
                connected_at: "2026-01-01T00:00:00Z".into(),
            }),
            ..ProjectSettings::default()
        };
        let alice = key("alice", &[Role::Codeowner], false);
        let now = parse_time("2026-01-01T00:00:00Z").unwrap();
        let ok = check_filing(
            &st,
            &alice,
            &new_exc("2026-01-02T00:00:00Z"),
            Some((&br, &gd)),
            now,
        )
        .unwrap();
        assert_eq!(ok.expires_at, now + 24 * H);
        assert_eq!(ok.endpoint, "GET /users/{id}");
        let mut lower = new_exc("2026-01-02T00:00:00Z");
        lower.endpoint = "get /users/{id}".into();
        assert_eq!(
            check_filing(&st, &alice, &lower, Some((&br, &gd)), now)
                .unwrap()
                .endpoint,
            "GET /users/{id}"
        );
        let mut pr = new_exc("2026-01-02T00:00:00Z");
        pr.repository = Some("example/api".into());
        pr.pull_request = Some(7);
        // Without a GitHub connection, no pull request (whatever it names).
        assert!(matches!(
            check_filing(&st, &alice, &pr, Some((&br, &gd)), now),
            Err(Error::Invalid(m)) if m.contains("not connected")
        ));
        assert_eq!(
            check_filing(&gh, &alice, &pr, Some((&br, &gd)), now)
                .unwrap()
                .pull_request,
            Some(("example/api".to_owned(), 7))
        );
        pr.pull_request = None;
        assert!(
            matches!(check_filing(&gh, &alice, &pr, Some((&br, &gd)), now), Err(Error::Invalid(m)) if m.contains("both"))
        );
        pr.pull_request = Some(7);
        pr.repository = Some("example".into());
        assert!(
            matches!(check_filing(&gh, &alice, &pr, Some((&br, &gd)), now), Err(Error::Invalid(m)) if m.contains("owner/name"))
        );
        lower.endpoint = "/users/{id}".into();
        assert!(matches!(
            check_filing(&st, &alice, &lower, Some((&br, &gd)), now),
            Err(Error::Invalid(m)) if m.contains("METHOD /path")
        ));
        // Exactly the maximum is allowed; one second more is not.
        assert!(
            check_filing(
                &st,
                &alice,
                &new_exc("2026-04-01T00:00:00Z"),
                Some((&br, &gd)),
                now
            )
            .is_ok()
        );
        assert!(matches!(
            check_filing(&st, &alice, &new_exc("2026-04-01T00:00:01Z"), Some((&br, &gd)), now),
            Err(Error::Invalid(m)) if m.contains("maximum exception lifetime")
        ));
        for past in ["2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z"] {
            assert!(matches!(
                check_filing(&st, &alice, &new_exc(past), Some((&br, &gd)), now),
                Err(Error::Invalid(m)) if m.contains("in the future")
            ));
        }
        assert!(matches!(
            check_filing(&st, &alice, &new_exc("tomorrow"), Some((&br, &gd)), now),
            Err(Error::Invalid(m)) if m.contains("RFC 3339")
        ));
        let short = ProjectSettings {
            max_exception_lifetime_seconds: 5,
            ..ProjectSettings::default()
        };
        assert!(
            check_filing(
                &short,
                &alice,
                &new_exc("2026-01-01T00:00:05Z"),
                Some((&br, &gd)),
                now
            )
            .is_ok()
        );
        assert!(
            check_filing(
                &short,
                &alice,
                &new_exc("2026-01-01T00:00:06Z"),
                Some((&br, &gd)),
                now
            )
            .is_err()
        );
        // Roles and bots.
        let ci = key("ci", &[Role::Ci], false);
        let admin = key("adm", &[Role::Admin], false);
        let bot = key("dependabot", &[Role::Codeowner], true);
        for k in [&ci, &admin] {
            assert!(matches!(
                check_filing(
                    &st,
                    k,
                    &new_exc("2026-01-02T00:00:00Z"),
                    Some((&br, &gd)),
                    now
                ),
                Err(Error::Forbidden(_))
            ));
        }
        assert!(matches!(
            check_filing(&st, &bot, &new_exc("2026-01-02T00:00:00Z"), Some((&br, &gd)), now),
            Err(Error::Forbidden(m)) if m.contains("bot")
        ));
        let denied = ProjectSettings {
            bot_deny_list: vec!["alice-name".into()],
            ..ProjectSettings::default()
        };
        assert!(matches!(
            check_filing(&denied, &alice, &new_exc("2026-01-02T00:00:00Z"), Some((&br, &gd)), now),
            Err(Error::Forbidden(m)) if m.contains("bot")
        ));
        assert!(matches!(
            check_filing(&st, &alice, &new_exc("2026-01-02T00:00:00Z"), None, now),
            Err(Error::Invalid(m)) if m.contains("run_id is required")
        ));
        let mut empty = new_exc("2026-01-02T00:00:00Z");
        empty.reason = "  ".into();
        assert!(matches!(
            check_filing(&st, &alice, &empty, Some((&br, &gd)), now),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn signal_rules() {
        let st = ProjectSettings {
            accepted_signals: vec![
                SignalKind::CodeownerApproval,
                SignalKind::ConsumerTest,
                SignalKind::GithubReview,
            ],
            ..ProjectSettings::default()
        };
        let e = exc();
        // By default a project does not accept consumer tests.
        let ci_key = key("ci", &[Role::Ci], false);
        assert!(matches!(
            check_signal(&ProjectSettings::default(), &e, SignalKind::ConsumerTest, &ci_key, &ci_key, H),
            Err(Error::Forbidden(m)) if m.contains("does not accept consumer_test")
        ));
        // A consumer test is bound to the exception's kind and endpoint.
        assert_eq!(
            check_consumer_test(&e, "field_removed", "GET /users/{userId}"),
            Ok(())
        );
        for (k, ep) in [
            ("field_removed", "GET /users"),
            ("other", "GET /users/{id}"),
        ] {
            assert!(matches!(
                check_consumer_test(&e, k, ep),
                Err(Error::Forbidden(_))
            ));
        }
        let alice = key("alice", &[Role::Codeowner], false);
        let bob = key("bob", &[Role::Codeowner], false);
        let ci = key("ci", &[Role::Ci], false);
        let auditor = key("aud", &[Role::Auditor], false);
        let admin = key("adm", &[Role::Admin], false);
        let bot = key("renovate", &[Role::Codeowner], true);
        let ca = SignalKind::CodeownerApproval;
        assert_eq!(check_signal(&st, &e, ca, &bob, &bob, H), Ok(()));
        // Pinned: self-approval, bots and non-codeowners are 403, never 409 or 400.
        assert!(
            matches!(check_signal(&st, &e, ca, &alice, &alice, H), Err(Error::Forbidden(m)) if m.contains("requested"))
        );
        assert!(
            matches!(check_signal(&st, &e, ca, &bot, &bot, H), Err(Error::Forbidden(m)) if m.contains("bot"))
        );
        for k in [&ci, &auditor, &admin] {
            assert!(
                matches!(check_signal(&st, &e, ca, k, k, H), Err(Error::Forbidden(m)) if m.contains("codeowner"))
            );
        }
        // Pinned: another key of the same person (same name, any case) is
        // still the requester.
        let alice_again = key("alice2", &[Role::Codeowner], false);
        let alice_again = KeyRecord {
            name: "ALICE-name".into(),
            ..alice_again
        };
        assert!(
            matches!(check_signal(&st, &e, ca, &alice_again, &alice_again, H), Err(Error::Forbidden(m)) if m.contains("someone else"))
        );
        let ct = SignalKind::ConsumerTest;
        // Only a downstream team's consumer key reports consumer tests;
        // the project's own CI never vouches for itself.
        let consumer = key("mobile", &[Role::Consumer], false);
        assert_eq!(check_signal(&st, &e, ct, &consumer, &consumer, H), Ok(()));
        for k in [&bob, &ci] {
            assert!(
                matches!(check_signal(&st, &e, ct, k, k, H), Err(Error::Forbidden(m)) if m.contains("consumer key"))
            );
        }
        let bot_ci = key("ci-bot", &[Role::Consumer], true);
        assert!(matches!(
            check_signal(&st, &e, ct, &bot_ci, &bot_ci, H),
            Err(Error::Forbidden(_))
        ));
        let gr = SignalKind::GithubReview;
        assert_eq!(check_signal(&st, &e, gr, &ci, &bob, H), Ok(()));
        assert_eq!(
            check_signal(&st, &e, gr, &alice, &bob, H),
            Ok(()),
            "the requester may relay another's review"
        );
        assert!(
            matches!(check_signal(&st, &e, gr, &ci, &alice, H), Err(Error::Forbidden(m)) if m.contains("requested"))
        );
        assert!(
            matches!(check_signal(&st, &e, gr, &ci, &auditor, H), Err(Error::Forbidden(m)) if m.contains("not a codeowner"))
        );
        assert!(matches!(
            check_signal(&st, &e, gr, &auditor, &bob, H),
            Err(Error::Forbidden(_))
        ));
        // State.
        let mut active = exc();
        active.activated_at = Some(H);
        assert!(
            matches!(check_signal(&st, &active, ca, &bob, &bob, 2 * H), Err(Error::Conflict(m)) if m.contains("already ACTIVE"))
        );
        assert!(
            matches!(check_signal(&st, &e, ca, &bob, &bob, 10 * H), Err(Error::Conflict(m)) if m.contains("expired"))
        );
        let mut revoked = exc();
        revoked.revoked_at = Some(H);
        assert!(
            matches!(check_signal(&st, &revoked, ca, &bob, &bob, 2 * H), Err(Error::Conflict(m)) if m.contains("revoked"))
        );
    }

    const T0: &str = "2026-01-01T00:00:00Z";

    /// Pinned: connecting GitHub records when; reconnecting the same
    /// repository keeps that date; `null` disconnects; a connected
    /// project's exceptions name pull requests of its repository.
    #[test]
    fn the_github_connection_is_a_setting() {
        let mut st = ProjectSettings::default();
        let connect = |r: Option<&str>| SettingsPatch {
            github_repository: Some(r.map(str::to_owned)),
            ..SettingsPatch::default()
        };
        assert_eq!(
            connect(Some("acme/api")).apply(&mut st, T0).unwrap(),
            ["github"]
        );
        assert!(
            connect(Some("ACME/api"))
                .apply(&mut st, "2026-02-01T00:00:00Z")
                .unwrap()
                .is_empty()
        );
        assert_eq!(st.github.as_ref().unwrap().connected_at, T0);
        assert!(matches!(
            connect(Some("nope")).apply(&mut st, T0),
            Err(Error::Invalid(_))
        ));
        let patch: SettingsPatch = serde_json::from_str(r#"{"github_repository":null}"#).unwrap();
        assert_eq!(patch.github_repository, Some(None));
        let absent: SettingsPatch = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.github_repository, None);
        let alice = KeyRecord {
            id: "key_a".into(),
            name: "alice".into(),
            roles: vec![Role::Codeowner],
            project: Some("prj_1".into()),
            bot: false,
            created_at: T0.into(),
            revoked_at: None,
        };
        let (br, gd) = blocked();
        let filing = |repository: Option<&str>, pull_request: Option<u64>| NewException {
            kind: "field_removed".into(),
            endpoint: "GET /users/{id}".into(),
            reason: "r".into(),
            expires_at: "2026-01-02T00:00:00Z".into(),
            repository: repository.map(str::to_owned),
            pull_request,
            run_id: Some("run_1".into()),
        };
        let now = parse_time(T0).unwrap();
        let f = check_filing(&st, &alice, &filing(None, Some(7)), Some((&br, &gd)), now).unwrap();
        assert_eq!(f.pull_request, Some(("acme/api".to_owned(), 7)));
        assert!(
            check_filing(&st, &alice, &filing(None, None), Some((&br, &gd)), now)
                .unwrap()
                .pull_request
                .is_none()
        );
        assert!(matches!(
            check_filing(&st, &alice, &filing(Some("other/repo"), Some(7)), Some((&br, &gd)), now),
            Err(Error::Invalid(m)) if m.contains("connected to the GitHub repository acme/api")
        ));
        connect(None).apply(&mut st, T0).unwrap();
        assert!(st.github.is_none());
        assert!(matches!(
            check_filing(&st, &alice, &filing(None, Some(7)), Some((&br, &gd)), now),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn accepted_signals_are_a_setting() {
        let mut st = ProjectSettings::default();
        let patch = SettingsPatch {
            accepted_signals: Some(vec![SignalKind::ConsumerTest, SignalKind::ConsumerTest]),
            ..SettingsPatch::default()
        };
        assert_eq!(patch.apply(&mut st, T0).unwrap(), ["accepted_signals"]);
        assert_eq!(st.accepted_signals, [SignalKind::ConsumerTest]);
        assert!(patch.apply(&mut st, T0).unwrap().is_empty(), "no change");
        let empty = SettingsPatch {
            accepted_signals: Some(vec![]),
            max_exception_lifetime_seconds: Some(60),
            ..SettingsPatch::default()
        };
        assert!(matches!(empty.apply(&mut st, T0), Err(Error::Invalid(_))));
        assert_eq!(
            st.max_exception_lifetime_seconds, DEFAULT_MAX_LIFETIME_SECONDS,
            "a bad patch changes nothing"
        );
        // Rows written before the setting existed read with the default.
        let old: ProjectSettings =
            serde_json::from_str(r#"{"bot_deny_list":[],"max_exception_lifetime_seconds":60}"#)
                .unwrap();
        assert_eq!(old.accepted_signals, default_accepted_signals());
    }

    #[test]
    fn revoke_rules() {
        let st = ProjectSettings::default();
        let alice = key("alice", &[Role::Codeowner], false);
        let ci = key("ci", &[Role::Ci], false);
        let mut e = exc();
        assert_eq!(check_revoke(&st, &e, &alice, "done", H), Ok(()));
        e.activated_at = Some(H);
        assert_eq!(check_revoke(&st, &e, &alice, "done", 2 * H), Ok(()));
        assert!(matches!(
            check_revoke(&st, &e, &alice, "", 2 * H),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            check_revoke(&st, &e, &ci, "done", 2 * H),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            check_revoke(&st, &e, &alice, "done", 10 * H),
            Err(Error::Conflict(_))
        ));
        e.revoked_at = Some(3 * H);
        assert!(matches!(
            check_revoke(&st, &e, &alice, "again", 4 * H),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn github_approvals_stand_until_changed() {
        let r = |id, login: &str, state: &str| Review {
            id,
            login: login.into(),
            state: state.into(),
            commit_id: "head".into(),
            submitted_at: Some(10 * H),
            user_id: Some(id + 100),
        };
        let reviews = [
            r(1, "bob", "APPROVED"),
            r(2, "carol", "APPROVED"),
            r(3, "carol", "CHANGES_REQUESTED"),
            r(4, "bob", "COMMENTED"),
            r(5, "dave", "CHANGES_REQUESTED"),
            r(6, "dave", "APPROVED"),
        ];
        let ids: Vec<u64> = standing_approvals(&reviews).iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 6]);
        assert!(standing_approvals(&[r(1, "bob", "DISMISSED")]).is_empty());
        let st = ProjectSettings {
            bot_deny_list: vec!["ci-user".into()],
            ..ProjectSettings::default()
        };
        assert!(st.is_bot_login("dependabot[bot]"));
        // Binding: head commit, time, requester, role.
        let alice = key("alice", &[Role::Codeowner], false);
        let bob = key("bob", &[Role::Codeowner], false);
        let aud = key("aud", &[Role::Auditor], false);
        let reviewers = [
            Reviewer {
                login: "Alice",
                key: &alice,
            },
            Reviewer {
                login: "bob",
                key: &bob,
            },
            Reviewer {
                login: "aud",
                key: &aud,
            },
        ];
        let e = exc();
        let one = |mut rev: Review| {
            rev.state = "APPROVED".into();
            vec![rev]
        };
        let pr = |head: &str| PullFacts {
            head_sha: head.into(),
            author_id: 7,
            requester_id: Some(8),
        };
        let ok = one(r(1, "BOB", "APPROVED"));
        // Neither the pull request's author nor the requester, by GitHub id.
        for (id, words) in [(7, "authored the pull request"), (8, "requested")] {
            let mut by = r(1, "bob", "APPROVED");
            by.user_id = Some(id);
            let err = github_approval(&st, &e, &one(by), &pr("head"), &reviewers).unwrap_err();
            assert!(
                matches!(&err, Error::Forbidden(m) if m.contains(words)),
                "{err}"
            );
        }
        assert_eq!(
            github_approval(&st, &e, &ok, &pr("head"), &reviewers)
                .unwrap()
                .1
                .id,
            "bob"
        );
        let stale = github_approval(&st, &e, &ok, &pr("newer"), &reviewers).unwrap_err();
        assert!(
            matches!(&stale, Error::Forbidden(m) if m.contains("stale")),
            "{stale}"
        );
        let mut early = r(1, "bob", "APPROVED");
        early.submitted_at = Some(0);
        let early = github_approval(&st, &e, &one(early), &pr("head"), &reviewers).unwrap_err();
        assert!(
            matches!(&early, Error::Forbidden(m) if m.contains("before the exception was filed"))
        );
        for (login, words) in [
            ("alice", "requested"),
            ("aud", "not a codeowner"),
            ("carol", "not a principal"),
        ] {
            let err = github_approval(
                &st,
                &e,
                &one(r(1, login, "APPROVED")),
                &pr("head"),
                &reviewers,
            )
            .unwrap_err();
            assert!(
                matches!(&err, Error::Forbidden(m) if m.contains(words)),
                "{login}: {err}"
            );
        }
        assert!(st.is_bot_login("ci-user"));
        assert!(!st.is_bot_login("bob"));
    }

    mod control_history {
        use serde_json::json;

        use super::super::*;

        fn with(f: impl FnOnce(&mut ProjectSettings)) -> ProjectSettings {
            let mut s = ProjectSettings::default();
            f(&mut s);
            s
        }

        fn changed(settings: &ProjectSettings, extra: serde_json::Value) -> serde_json::Value {
            let mut r = json!({"type": "project_settings_changed", "id": "evt_1",
            "changed_by": "key_alice", "changed_by_name": "alice",
            "settings": settings});
            if let (Some(o), Some(e)) = (r.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            r
        }

        #[test]
        fn a_weakening_change_under_the_control_needs_a_second_admin() {
            let on = with(|s| s.second_admin_for_weakening = true);
            let mut weaker = on.clone();
            weaker.max_exception_lifetime_seconds *= 2;
            // Without the control: nothing to approve.
            let mut h = ControlHistory::default();
            h.add(&changed(&ProjectSettings::default(), json!({})))
                .unwrap();
            h.add(&changed(
                &with(|s| s.max_exception_lifetime_seconds *= 2),
                json!({}),
            ))
            .unwrap();
            // Under it, unapproved: refused.
            let mut h = ControlHistory::default();
            h.add(&changed(&on, json!({}))).unwrap();
            let err = h.add(&changed(&weaker, json!({}))).unwrap_err().to_string();
            assert!(err.contains("without a second admin's approval"), "{err}");
            // Under it, `previous` recorded (the first change of a period).
            let mut h = ControlHistory::default();
            assert!(h.add(&changed(&weaker, json!({"previous": on}))).is_err());
            // Approved by the proposer: refused, both as the approval and as
            // the change.
            let mut h = ControlHistory::default();
            h.add(&changed(&on, json!({}))).unwrap();
            let self_approval = json!({"type": "settings_change_approved", "change_id": "chg_1",
            "proposed_by": "key_alice", "proposed_by_name": "alice",
            "approved_by": "key_alice2", "approved_by_name": "Alice "});
            assert!(h.add(&self_approval).is_err(), "same name, other key");
            let approved = json!({"change_id": "chg_1", "approved_by": "key_bob",
            "approved_by_name": "bob"});
            let err = h
                .add(&changed(&weaker, approved.clone()))
                .unwrap_err()
                .to_string();
            assert!(err.contains("no settings_change_approved record"), "{err}");
            // Proposed, approved by another admin, applied: verified.
            let mut h = ControlHistory::default();
            h.add(&changed(&on, json!({}))).unwrap();
            h.add(&json!({"type": "settings_change_proposed", "id": "chg_1",
            "proposed_by": "key_alice", "proposed_by_name": "alice",
            "settings": weaker, "previous": on}))
                .unwrap();
            h.add(
                &json!({"type": "settings_change_approved", "change_id": "chg_1",
            "proposed_by": "key_alice", "proposed_by_name": "alice",
            "approved_by": "key_bob", "approved_by_name": "bob"}),
            )
            .unwrap();
            let mut other = weaker.clone();
            other.max_exception_lifetime_seconds += 1;
            assert!(
                h.add(&changed(&other, approved.clone())).is_err(),
                "not what was proposed"
            );
            h.add(&changed(&weaker, approved)).unwrap();
            assert_eq!(h.last(), Some(&weaker));
            // A change whose recorded previous controls break the history.
            assert!(h.add(&changed(&on, json!({"previous": on}))).is_err());
        }
    }
}
