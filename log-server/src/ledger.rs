//! The exception ledger's rules, pure: functions of (ledger state, input,
//! now). The HTTP handlers, storage and the clock are in `compliance`.
//!
//! An exception is filed by a codeowner (`ANERGIC`), activates only on a
//! second, independent signal (`ACTIVE`), and ends when it expires
//! (`EXPIRED`, checked at every use) or is revoked (`REVOKED`). Nothing is
//! edited: the state of an exception is the fold of its records
//! ([`Exception::apply`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compliance::format::{
    self, EXCEPTION_ACTIVATED, EXCEPTION_EXPIRED, EXCEPTION_REQUESTED, EXCEPTION_REVOKED,
};
use crate::keys::{KeyRecord, Role};

/// Default longest lifetime of an exception: 90 days.
pub const DEFAULT_MAX_LIFETIME_SECONDS: u64 = 90 * 86_400;
/// Longest text field of an exception or signal.
pub const MAX_TEXT: usize = 2_000;

/// Per-project settings of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// Principal names or IDs, and GitHub logins, treated as bots: they can
    /// neither request nor approve.
    pub bot_deny_list: Vec<String>,
    /// Longest time from filing to expiry.
    pub max_exception_lifetime_seconds: u64,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            bot_deny_list: Vec::new(),
            max_exception_lifetime_seconds: DEFAULT_MAX_LIFETIME_SECONDS,
        }
    }
}

impl ProjectSettings {
    /// Whether a principal is a bot: marked so, or on the deny-list by name or ID.
    pub fn is_bot(&self, key: &KeyRecord) -> bool {
        key.bot
            || self
                .bot_deny_list
                .iter()
                .any(|b| *b == key.name || *b == key.id)
    }

    /// Whether a GitHub login is a bot: an app (`...[bot]`) or on the deny-list.
    pub fn is_bot_login(&self, login: &str) -> bool {
        login.ends_with("[bot]") || self.bot_deny_list.iter().any(|b| b == login)
    }
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

/// Why a ledger request is refused; nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed or out-of-range input (400).
    Invalid(String),
    /// The caller may not do this (403).
    Forbidden(String),
    /// The exception's state does not allow it (409).
    Conflict(String),
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
}

fn s(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn t(v: &Value, key: &str) -> Option<i64> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(format::parse_time)
}

impl Exception {
    /// The exception an `exception_requested` record creates.
    pub fn from_requested(record: &Value) -> Option<Exception> {
        (s(record, "type") == EXCEPTION_REQUESTED).then_some(())?;
        Some(Exception {
            id: s(record, "id"),
            kind: s(record, "kind"),
            endpoint: s(record, "endpoint"),
            requested_by: s(record, "requested_by"),
            created_at: t(record, "time")?,
            expires_at: t(record, "expires_at")?,
            activated_at: None,
            revoked_at: None,
            expiry_recorded: false,
        })
    }

    /// Applies a later record of this exception (signals change nothing by
    /// themselves: the activation that follows an accepted one does).
    pub fn apply(&mut self, record: &Value) {
        let time = t(record, "time");
        match s(record, "type").as_str() {
            EXCEPTION_ACTIVATED => self.activated_at = self.activated_at.or(time),
            EXCEPTION_REVOKED => self.revoked_at = self.revoked_at.or(time),
            EXCEPTION_EXPIRED => self.expiry_recorded = true,
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

    /// Filing to activation, ms.
    pub fn approval_latency_ms(&self, activated_at: i64) -> u64 {
        u64::try_from(activated_at - self.created_at).unwrap_or(0)
    }
}

/// Body of `POST .../exceptions`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    /// Change kind, e.g. `response_field_removed`.
    pub kind: String,
    /// Endpoint, e.g. `GET /users/{id}`.
    pub endpoint: String,
    /// Why the bypass is needed.
    pub reason: String,
    /// Expiry, RFC 3339 UTC.
    pub expires_at: String,
}

fn has(key: &KeyRecord, role: Role) -> bool {
    key.roles.contains(&role)
}

/// Checks a text field: 1 to `max` characters (empty allowed if `may_be_empty`),
/// no control characters.
pub fn check_text(name: &str, value: &str, max: usize, may_be_empty: bool) -> Result<(), Refusal> {
    if (!may_be_empty && value.trim().is_empty()) || value.chars().count() > max {
        let range = if may_be_empty { "0" } else { "1" };
        return Err(Refusal::Invalid(format!(
            "{name} must be {range} to {max} characters"
        )));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Refusal::Invalid(format!(
            "{name} must not contain control characters"
        )));
    }
    Ok(())
}

/// Rules for filing an exception; returns the expiry (ms). Codeowners file
/// exceptions; bots cannot; the expiry is required, in the future, and at
/// most the project's maximum lifetime away.
///
/// # Errors
/// The [`Refusal`].
pub fn check_filing(
    settings: &ProjectSettings,
    caller: &KeyRecord,
    req: &NewException,
    now: i64,
) -> Result<i64, Refusal> {
    if !has(caller, Role::Codeowner) {
        return Err(Refusal::Forbidden(
            "only a codeowner can file an exception".into(),
        ));
    }
    if settings.is_bot(caller) {
        return Err(Refusal::Forbidden(format!(
            "{} is a bot; bots can neither request nor approve exceptions",
            caller.name
        )));
    }
    check_text("kind", &req.kind, 200, false)?;
    check_text("endpoint", &req.endpoint, 500, false)?;
    check_text("reason", &req.reason, MAX_TEXT, false)?;
    let expires = format::parse_time(&req.expires_at).ok_or_else(|| {
        Refusal::Invalid(format!(
            "expires_at must be RFC 3339 UTC like 2026-01-31T00:00:00Z, got {:?}",
            req.expires_at
        ))
    })?;
    if expires <= now {
        return Err(Refusal::Invalid(format!(
            "expires_at ({}) must be in the future (now is {})",
            req.expires_at,
            format::format_time(now)
        )));
    }
    let max_ms = i64::try_from(settings.max_exception_lifetime_seconds.saturating_mul(1000))
        .unwrap_or(i64::MAX);
    if expires - now > max_ms {
        return Err(Refusal::Invalid(format!(
            "expires_at ({}) is beyond the project's maximum exception lifetime of {} s (latest allowed: {})",
            req.expires_at,
            settings.max_exception_lifetime_seconds,
            format::format_time(now.saturating_add(max_ms))
        )));
    }
    Ok(expires)
}

/// The kinds of second signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A second codeowner approves.
    CodeownerApproval,
    /// CI reports a consumer test passed.
    ConsumerTest,
    /// A codeowner's approving GitHub review.
    GithubReview,
}

impl SignalKind {
    /// The name used in bodies and records.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::CodeownerApproval => "codeowner_approval",
            SignalKind::ConsumerTest => "consumer_test",
            SignalKind::GithubReview => "github_review",
        }
    }
}

fn check_state(exc: &Exception, now: i64, action: &str) -> Result<(), Refusal> {
    match exc.status_at(now) {
        Status::Anergic => Ok(()),
        Status::Active if action == "revoke" => Ok(()),
        Status::Active => Err(Refusal::Conflict(format!(
            "exception {} is already ACTIVE",
            exc.id
        ))),
        Status::Expired => Err(Refusal::Conflict(format!(
            "exception {} expired at {}; file a new one",
            exc.id,
            format::format_time(exc.expires_at)
        ))),
        Status::Revoked => Err(Refusal::Conflict(format!(
            "exception {} is revoked",
            exc.id
        ))),
    }
}

/// Rules for a second signal. `submitter` is the caller; `approver` is the
/// principal whose approval the signal carries (the caller itself, or for a
/// GitHub review the project principal of the reviewer). The exception must
/// be `ANERGIC` at `now`; neither may be a bot; the approver may not be the
/// requester; `codeowner_approval` needs a codeowner, `consumer_test` a `ci`
/// key, `github_review` a codeowner reviewer submitted by a codeowner or
/// `ci` key.
///
/// # Errors
/// The [`Refusal`].
pub fn check_signal(
    settings: &ProjectSettings,
    exc: &Exception,
    kind: SignalKind,
    submitter: &KeyRecord,
    approver: &KeyRecord,
    now: i64,
) -> Result<(), Refusal> {
    check_submitter(settings, kind, submitter)?;
    if settings.is_bot(approver) {
        return Err(Refusal::Forbidden(format!(
            "{} is a bot; bots can neither request nor approve exceptions",
            approver.name
        )));
    }
    if approver.id == exc.requested_by {
        return Err(Refusal::Forbidden(format!(
            "{} requested exception {}; the second signal must come from someone else",
            approver.name, exc.id
        )));
    }
    if kind == SignalKind::GithubReview && !has(approver, Role::Codeowner) {
        return Err(Refusal::Forbidden(format!(
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
/// [`Refusal::Forbidden`].
pub fn check_submitter(
    settings: &ProjectSettings,
    kind: SignalKind,
    submitter: &KeyRecord,
) -> Result<(), Refusal> {
    let role_ok = match kind {
        SignalKind::CodeownerApproval => has(submitter, Role::Codeowner),
        SignalKind::ConsumerTest => has(submitter, Role::Ci),
        SignalKind::GithubReview => has(submitter, Role::Codeowner) || has(submitter, Role::Ci),
    };
    if !role_ok {
        let need = match kind {
            SignalKind::CodeownerApproval => "a codeowner",
            SignalKind::ConsumerTest => "a ci key",
            SignalKind::GithubReview => "a codeowner or ci key",
        };
        return Err(Refusal::Forbidden(format!(
            "a {} signal must come from {need}; {} is not one",
            kind.as_str(),
            submitter.name
        )));
    }
    if settings.is_bot(submitter) {
        return Err(Refusal::Forbidden(format!(
            "{} is a bot; bots can neither request nor approve exceptions",
            submitter.name
        )));
    }
    Ok(())
}

/// Whether a signal could still activate the exception at `now` (it is `ANERGIC`).
///
/// # Errors
/// [`Refusal::Conflict`] saying why not.
pub fn check_open(exc: &Exception, now: i64) -> Result<(), Refusal> {
    check_state(exc, now, "signal")
}

/// Rules for revoking: a codeowner (not a bot), with a reason, of an
/// exception that is `ANERGIC` or `ACTIVE` at `now`.
///
/// # Errors
/// The [`Refusal`].
pub fn check_revoke(
    settings: &ProjectSettings,
    exc: &Exception,
    caller: &KeyRecord,
    reason: &str,
    now: i64,
) -> Result<(), Refusal> {
    if !has(caller, Role::Codeowner) {
        return Err(Refusal::Forbidden(
            "only a codeowner can revoke an exception".into(),
        ));
    }
    if settings.is_bot(caller) {
        return Err(Refusal::Forbidden(format!(
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

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

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
            created_at: 0,
            expires_at: 10 * H,
            activated_at: None,
            revoked_at: None,
            expiry_recorded: false,
        }
    }

    fn new_exc(expires_at: &str) -> NewException {
        NewException {
            kind: "field_removed".into(),
            endpoint: "GET /users/{id}".into(),
            reason: "consumers migrated".into(),
            expires_at: expires_at.into(),
        }
    }

    #[test]
    fn status_follows_the_records_and_the_clock() {
        let mut e = exc();
        assert_eq!(e.status_at(0), Status::Anergic);
        e.apply(
            &serde_json::json!({"type": "exception_activated", "time": "1970-01-01T01:00:00Z"}),
        );
        assert_eq!(e.activated_at, Some(H));
        assert_eq!(e.approval_latency_ms(H), 3_600_000);
        assert_eq!(e.status_at(H), Status::Active);
        assert_eq!(e.status_at(10 * H - 1), Status::Active);
        // Expiry is checked at every use, recorded or not.
        assert_eq!(e.status_at(10 * H), Status::Expired);
        assert!(e.expiry_due(10 * H));
        assert!(!e.expiry_due(10 * H - 1));
        e.apply(&serde_json::json!({"type": "exception_expired", "time": "1970-01-01T11:00:00Z"}));
        assert!(!e.expiry_due(11 * H));
        let mut r = exc();
        r.apply(&serde_json::json!({"type": "exception_revoked", "time": "1970-01-01T02:00:00Z"}));
        assert_eq!(r.status_at(H * 3), Status::Revoked);
        assert!(
            !r.expiry_due(11 * H),
            "a revoked exception never gets an expiry record"
        );
    }

    #[test]
    fn filing_rules() {
        let st = ProjectSettings::default();
        let alice = key("alice", &[Role::Codeowner], false);
        let now = format::parse_time("2026-01-01T00:00:00Z").unwrap();
        let ok = check_filing(&st, &alice, &new_exc("2026-01-02T00:00:00Z"), now).unwrap();
        assert_eq!(ok, now + 24 * H);
        // Exactly the maximum is allowed; one second more is not.
        assert!(check_filing(&st, &alice, &new_exc("2026-04-01T00:00:00Z"), now).is_ok());
        assert!(matches!(
            check_filing(&st, &alice, &new_exc("2026-04-01T00:00:01Z"), now),
            Err(Refusal::Invalid(m)) if m.contains("maximum exception lifetime")
        ));
        for past in ["2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z"] {
            assert!(matches!(
                check_filing(&st, &alice, &new_exc(past), now),
                Err(Refusal::Invalid(m)) if m.contains("in the future")
            ));
        }
        assert!(matches!(
            check_filing(&st, &alice, &new_exc("tomorrow"), now),
            Err(Refusal::Invalid(m)) if m.contains("RFC 3339")
        ));
        let short = ProjectSettings {
            max_exception_lifetime_seconds: 5,
            ..ProjectSettings::default()
        };
        assert!(check_filing(&short, &alice, &new_exc("2026-01-01T00:00:05Z"), now).is_ok());
        assert!(check_filing(&short, &alice, &new_exc("2026-01-01T00:00:06Z"), now).is_err());
        // Roles and bots.
        let ci = key("ci", &[Role::Ci], false);
        let admin = key("adm", &[Role::Admin], false);
        let bot = key("dependabot", &[Role::Codeowner], true);
        for k in [&ci, &admin] {
            assert!(matches!(
                check_filing(&st, k, &new_exc("2026-01-02T00:00:00Z"), now),
                Err(Refusal::Forbidden(_))
            ));
        }
        assert!(matches!(
            check_filing(&st, &bot, &new_exc("2026-01-02T00:00:00Z"), now),
            Err(Refusal::Forbidden(m)) if m.contains("bot")
        ));
        let denied = ProjectSettings {
            bot_deny_list: vec!["alice-name".into()],
            ..ProjectSettings::default()
        };
        assert!(matches!(
            check_filing(&denied, &alice, &new_exc("2026-01-02T00:00:00Z"), now),
            Err(Refusal::Forbidden(m)) if m.contains("bot")
        ));
        let mut empty = new_exc("2026-01-02T00:00:00Z");
        empty.reason = "  ".into();
        assert!(matches!(
            check_filing(&st, &alice, &empty, now),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn signal_rules() {
        let st = ProjectSettings::default();
        let e = exc();
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
            matches!(check_signal(&st, &e, ca, &alice, &alice, H), Err(Refusal::Forbidden(m)) if m.contains("requested"))
        );
        assert!(
            matches!(check_signal(&st, &e, ca, &bot, &bot, H), Err(Refusal::Forbidden(m)) if m.contains("bot"))
        );
        for k in [&ci, &auditor, &admin] {
            assert!(
                matches!(check_signal(&st, &e, ca, k, k, H), Err(Refusal::Forbidden(m)) if m.contains("codeowner"))
            );
        }
        let ct = SignalKind::ConsumerTest;
        assert_eq!(check_signal(&st, &e, ct, &ci, &ci, H), Ok(()));
        assert!(
            matches!(check_signal(&st, &e, ct, &bob, &bob, H), Err(Refusal::Forbidden(m)) if m.contains("ci key"))
        );
        let bot_ci = key("ci-bot", &[Role::Ci], true);
        assert!(matches!(
            check_signal(&st, &e, ct, &bot_ci, &bot_ci, H),
            Err(Refusal::Forbidden(_))
        ));
        let gr = SignalKind::GithubReview;
        assert_eq!(check_signal(&st, &e, gr, &ci, &bob, H), Ok(()));
        assert_eq!(
            check_signal(&st, &e, gr, &alice, &bob, H),
            Ok(()),
            "the requester may relay another's review"
        );
        assert!(
            matches!(check_signal(&st, &e, gr, &ci, &alice, H), Err(Refusal::Forbidden(m)) if m.contains("requested"))
        );
        assert!(
            matches!(check_signal(&st, &e, gr, &ci, &auditor, H), Err(Refusal::Forbidden(m)) if m.contains("not a codeowner"))
        );
        assert!(matches!(
            check_signal(&st, &e, gr, &auditor, &bob, H),
            Err(Refusal::Forbidden(_))
        ));
        // State.
        let mut active = exc();
        active.activated_at = Some(H);
        assert!(
            matches!(check_signal(&st, &active, ca, &bob, &bob, 2 * H), Err(Refusal::Conflict(m)) if m.contains("already ACTIVE"))
        );
        assert!(
            matches!(check_signal(&st, &e, ca, &bob, &bob, 10 * H), Err(Refusal::Conflict(m)) if m.contains("expired"))
        );
        let mut revoked = exc();
        revoked.revoked_at = Some(H);
        assert!(
            matches!(check_signal(&st, &revoked, ca, &bob, &bob, 2 * H), Err(Refusal::Conflict(m)) if m.contains("revoked"))
        );
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
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            check_revoke(&st, &e, &ci, "done", 2 * H),
            Err(Refusal::Forbidden(_))
        ));
        assert!(matches!(
            check_revoke(&st, &e, &alice, "done", 10 * H),
            Err(Refusal::Conflict(_))
        ));
        e.revoked_at = Some(3 * H);
        assert!(matches!(
            check_revoke(&st, &e, &alice, "again", 4 * H),
            Err(Refusal::Conflict(_))
        ));
    }

    #[test]
    fn github_approvals_stand_until_changed() {
        let r = |id, login: &str, state: &str| Review {
            id,
            login: login.into(),
            state: state.into(),
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
        assert!(st.is_bot_login("ci-user"));
        assert!(!st.is_bot_login("bob"));
    }
}
