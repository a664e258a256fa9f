//! A project's controls (`spec/compliance.md` §2): who counts as a bot, how
//! long an exception may live, which second signals count, the GitHub
//! connection, the gate engine's rule configuration and the monitoring
//! thresholds. Every change of them is a `project_settings_changed` record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::principal::Role;

/// The kinds of second signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

/// A project's controls: who counts as a bot, how long an exception may
/// live, which second signals count, and its GitHub connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// Principal names or IDs, and GitHub logins, treated as bots: they can
    /// neither request nor approve.
    pub bot_deny_list: Vec<String>,
    /// Longest time from filing to expiry.
    pub max_exception_lifetime_seconds: u64,
    /// The kinds of second signal the project accepts (by default
    /// `codeowner_approval` and `github_review`; `consumer_test` is opt-in).
    #[serde(default = "default_accepted_signals")]
    pub accepted_signals: Vec<SignalKind>,
    /// The GitHub repository the project is connected to, if any.
    #[serde(default)]
    pub github: Option<GitHubConnection>,
    /// How the gate engine classifies the project's changes (severity
    /// overrides, deprecation policy).
    #[serde(default)]
    pub gate: gate::Config,
    /// Monitoring thresholds.
    #[serde(default)]
    pub monitoring: MonitorConfig,
    /// A change that weakens the controls ([`weakening`]) waits for a
    /// second project admin's approval instead of taking effect. Off by
    /// default; left out of records and headers while off, so that the
    /// controls recorded before it existed keep their bytes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub second_admin_for_weakening: bool,
    /// How the project's people sign in to the cockpit: `any` (the
    /// default), or `sso_only` (with the identity provider or GitHub; an
    /// API key opens a cockpit session only for a bot). Left out of
    /// records and headers while `any`, so that the controls recorded
    /// before it existed keep their bytes.
    #[serde(default, skip_serializing_if = "PeopleSignIn::is_any")]
    pub people_sign_in: PeopleSignIn,
    /// Groups of the log's identity provider whose members get project
    /// roles at sign-in (`{"payments-owners": ["codeowner"]}`): a member
    /// without a principal gets one (bound to their subject), and the
    /// roles of such a principal follow their groups at each sign-in, by
    /// records (`spec/cockpit.md`). Only `codeowner`, `auditor` and
    /// `admin`. Left out of records and headers while empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub idp_groups: BTreeMap<String, Vec<Role>>,
}

impl ProjectSettings {
    /// The roles the identity provider's `groups` grant in this project
    /// (sorted, each once), and the groups that grant them.
    #[must_use]
    pub fn roles_of_groups(&self, groups: &[String]) -> (Vec<Role>, Vec<String>) {
        let mut roles = Vec::new();
        let mut granting = Vec::new();
        for g in groups {
            if let Some(rs) = self.idp_groups.get(g) {
                roles.extend(rs.iter().copied());
                granting.push(g.clone());
            }
        }
        roles.sort();
        roles.dedup();
        granting.sort();
        granting.dedup();
        (roles, granting)
    }
}

/// How a project's people sign in to the cockpit (`people_sign_in`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeopleSignIn {
    /// With the identity provider or GitHub, or with an API key.
    #[default]
    Any,
    /// With the identity provider or GitHub only: API keys are for
    /// automation (bots).
    SsoOnly,
}

impl PeopleSignIn {
    /// Whether this is the default, `any`.
    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if
    #[must_use]
    pub fn is_any(&self) -> bool {
        *self == PeopleSignIn::Any
    }

    /// The name used in bodies and records.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PeopleSignIn::Any => "any",
            PeopleSignIn::SsoOnly => "sso_only",
        }
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if
fn is_false(b: &bool) -> bool {
    !*b
}

/// The signals a project accepts unless it says otherwise.
#[must_use]
pub fn default_accepted_signals() -> Vec<SignalKind> {
    vec![SignalKind::CodeownerApproval, SignalKind::GithubReview]
}

/// How a change of a project's controls weakens them: every way in which
/// `after` makes an exception's activation easier, blocks fewer changes or
/// lets monitoring see less than `before`, one line each (`control: what`,
/// e.g. `accepted_signals: consumer_test added`), in the order of the
/// fields of [`ProjectSettings`]. Empty if the change only tightens them
/// or changes nothing that matters (`spec/compliance.md` §2, "Controls
/// that cannot be quietly weakened").
#[must_use]
pub fn weakening(before: &ProjectSettings, after: &ProjectSettings) -> Vec<String> {
    let mut out = Vec::new();
    for d in &before.bot_deny_list {
        if !after.bot_deny_list.contains(d) {
            out.push(format!("bot_deny_list: {d:?} removed"));
        }
    }
    if after.max_exception_lifetime_seconds > before.max_exception_lifetime_seconds {
        out.push(format!(
            "max_exception_lifetime_seconds: raised from {} to {}",
            before.max_exception_lifetime_seconds, after.max_exception_lifetime_seconds
        ));
    }
    for s in &after.accepted_signals {
        if !before.accepted_signals.contains(s) {
            out.push(format!("accepted_signals: {} added", s.as_str()));
        }
    }
    match (&before.github, &after.github) {
        (Some(b), None) => out.push(format!("github: disconnected from {}", b.repository)),
        (Some(b), Some(a)) if !b.repository.eq_ignore_ascii_case(&a.repository) => out.push(
            format!("github: moved from {} to {}", b.repository, a.repository),
        ),
        _ => {}
    }
    gate_weakening(&before.gate, &after.gate, &mut out);
    monitoring_weakening(&before.monitoring, &after.monitoring, &mut out);
    if before.second_admin_for_weakening && !after.second_admin_for_weakening {
        out.push("second_admin_for_weakening: turned off".to_owned());
    }
    if before.people_sign_in == PeopleSignIn::SsoOnly && after.people_sign_in == PeopleSignIn::Any {
        out.push("people_sign_in: API keys allowed again for people".to_owned());
    }
    for (group, roles) in &after.idp_groups {
        for r in roles {
            if !before.idp_groups.get(group).is_some_and(|b| b.contains(r)) {
                out.push(format!(
                    "idp_groups: members of {group:?} get the role {}",
                    r.as_str()
                ));
            }
        }
    }
    out
}

/// How strongly a rule is reported: `none` 0, `info` 1, `warn` 2, `err` 3.
fn level_rank(l: gate::Level) -> u8 {
    match l {
        gate::Level::None => 0,
        gate::Level::Info => 1,
        gate::Level::Warn => 2,
        gate::Level::Err => 3,
    }
}

/// A rule's level in force: its override, or the catalogue's default.
fn level_of(config: &gate::Config, rule: &str) -> Option<gate::Level> {
    if let Some(l) = config.severity_overrides.get(rule) {
        return Some(*l);
    }
    gate::catalogue::find(rule).map(|r| match r.level {
        gate::Severity::Err => gate::Level::Err,
        gate::Severity::Warn => gate::Level::Warn,
        gate::Severity::Info => gate::Level::Info,
    })
}

fn level_name(l: Option<gate::Level>) -> &'static str {
    match l {
        Some(gate::Level::Err) => "err",
        Some(gate::Level::Warn) => "warn",
        Some(gate::Level::Info) => "info",
        Some(gate::Level::None) => "none",
        None => "unknown",
    }
}

/// The gate's rule configuration: a rule reported at a lower level (an
/// override lowered, added below the default, or removed from above it),
/// a shorter deprecation policy, or one of the engine's differences from
/// oasdiff switched the way that reports fewer changes.
fn gate_weakening(before: &gate::Config, after: &gate::Config, out: &mut Vec<String>) {
    let rules: std::collections::BTreeSet<&String> = before
        .severity_overrides
        .keys()
        .chain(after.severity_overrides.keys())
        .collect();
    for rule in rules {
        let (b, a) = (level_of(before, rule), level_of(after, rule));
        // An unknown rule (not in this engine's catalogue) counts as
        // weakened by any change: fail closed.
        let lower = match (b, a) {
            (Some(b), Some(a)) => level_rank(a) < level_rank(b),
            _ => b != a,
        };
        if lower {
            out.push(format!(
                "gate: rule {rule} lowered from {} to {}",
                level_name(b),
                level_name(a)
            ));
        }
    }
    for (name, b, a) in [
        (
            "deprecation_days_stable",
            before.deprecation_days_stable,
            after.deprecation_days_stable,
        ),
        (
            "deprecation_days_beta",
            before.deprecation_days_beta,
            after.deprecation_days_beta,
        ),
    ] {
        if a < b {
            out.push(format!("gate: {name} lowered from {b} to {a}"));
        }
    }
    let (b, a) = (before.differences(), after.differences());
    // Each difference reports more when on (`true`), except the two that
    // exist to report less: effective schemas and normalized bounds.
    for (name, b, a, reports_more_when_on) in [
        (
            "path_level_parameters",
            b.path_level_parameters,
            a.path_level_parameters,
            true,
        ),
        (
            "sunset_moved_earlier",
            b.sunset_moved_earlier,
            a.sunset_moved_earlier,
            true,
        ),
        ("status_ranges", b.status_ranges, a.status_ranges, true),
        (
            "oauth_all_flows",
            b.oauth_all_flows,
            a.oauth_all_flows,
            true,
        ),
        (
            "effective_schemas",
            b.effective_schemas,
            a.effective_schemas,
            false,
        ),
        (
            "normalized_bounds",
            b.normalized_bounds,
            a.normalized_bounds,
            false,
        ),
    ] {
        if b != a && a != reports_more_when_on {
            out.push(format!(
                "gate: difference {name} turned {}",
                if a { "on" } else { "off" }
            ));
        }
    }
}

/// Monitoring: a threshold moved so that fewer anomalies are found. A
/// change of `baseline_days` moves the spike thresholds either way, so it
/// counts as weakening in both directions.
fn monitoring_weakening(before: &MonitorConfig, after: &MonitorConfig, out: &mut Vec<String>) {
    let (b, a) = (before, after);
    let mut push = |name: &str, from: u64, to: u64| {
        out.push(format!("monitoring: {name} changed from {from} to {to}"));
    };
    if a.baseline_days != b.baseline_days {
        push(
            "baseline_days",
            b.baseline_days.into(),
            a.baseline_days.into(),
        );
    }
    // Higher is quieter.
    for (name, from, to) in [
        (
            "spike_mads",
            u64::from(b.spike_mads),
            u64::from(a.spike_mads),
        ),
        ("min_spike_count", b.min_spike_count, a.min_spike_count),
        (
            "warn_recurrence_runs",
            b.warn_recurrence_runs,
            a.warn_recurrence_runs,
        ),
        ("renewal_count", b.renewal_count, a.renewal_count),
        ("anergic_hours", b.anergic_hours, a.anergic_hours),
    ] {
        if to > from {
            push(name, from, to);
        }
    }
    // Lower is quieter.
    for (name, from, to) in [
        (
            "warn_window_days",
            u64::from(b.warn_window_days),
            u64::from(a.warn_window_days),
        ),
        (
            "renewal_window_days",
            u64::from(b.renewal_window_days),
            u64::from(a.renewal_window_days),
        ),
        (
            "expiry_warning_hours",
            b.expiry_warning_hours,
            a.expiry_warning_hours,
        ),
    ] {
        if to < from {
            push(name, from, to);
        }
    }
    if b.flag_ci_classified && !a.flag_ci_classified {
        out.push("monitoring: flag_ci_classified turned off".to_owned());
    }
}

/// A project's connection to a GitHub repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConnection {
    /// `owner/name`.
    pub repository: String,
    /// When the connection was established (RFC 3339 UTC).
    pub connected_at: String,
}

/// A project's monitoring thresholds (`settings.monitoring`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Days of history a spike is measured against.
    pub baseline_days: u32,
    /// How many scaled MADs above the median is a spike.
    pub spike_mads: u32,
    /// The least daily count that can be a spike.
    pub min_spike_count: u64,
    /// Runs with the same WARN that make it recurring.
    pub warn_recurrence_runs: u64,
    /// The window those runs are counted in, days.
    pub warn_window_days: u32,
    /// Exceptions for one (kind, endpoint) that make a renewal pattern.
    pub renewal_count: u64,
    /// The window they are counted in, days.
    pub renewal_window_days: u32,
    /// Hours an exception may wait for its second signal.
    pub anergic_hours: u64,
    /// Hours before expiry in which applying an exception is an anomaly.
    pub expiry_warning_hours: u64,
    /// Whether runs whose findings CI supplied are an anomaly.
    pub flag_ci_classified: bool,
    /// A principal approving within this many days of being added is an
    /// anomaly (a principal made for the occasion). Written only when it
    /// is not the default (7), so the controls recorded before it existed
    /// keep their bytes.
    #[serde(skip_serializing_if = "is_default_new_approver_days")]
    pub new_approver_days: u32,
}

/// The default of [`MonitorConfig::new_approver_days`].
const DEFAULT_NEW_APPROVER_DAYS: u32 = 7;

fn is_default_new_approver_days(days: &u32) -> bool {
    *days == DEFAULT_NEW_APPROVER_DAYS
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            baseline_days: 28,
            spike_mads: 3,
            min_spike_count: 5,
            warn_recurrence_runs: 5,
            warn_window_days: 14,
            renewal_count: 3,
            renewal_window_days: 90,
            anergic_hours: 72,
            expiry_warning_hours: 48,
            flag_ci_classified: true,
            new_approver_days: DEFAULT_NEW_APPROVER_DAYS,
        }
    }
}

impl MonitorConfig {
    /// Days of records [`detect`] needs before the day it looks at.
    #[must_use]
    pub fn lookback_days(&self) -> i64 {
        i64::from(
            self.baseline_days
                .max(self.warn_window_days)
                .max(self.renewal_window_days)
                .max(self.new_approver_days),
        )
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    /// `before` -> `after` weakens (with a line naming `control`), and the
    /// reverse does not.
    fn weakens_one_way(before: &ProjectSettings, after: &ProjectSettings, control: &str) {
        let w = weakening(before, after);
        assert!(w.iter().any(|l| l.starts_with(control)), "{control}: {w:?}");
        let back = weakening(after, before);
        assert!(back.is_empty(), "{control} tightened: {back:?}");
    }

    fn with(f: impl FnOnce(&mut ProjectSettings)) -> ProjectSettings {
        let mut s = ProjectSettings::default();
        f(&mut s);
        s
    }

    #[test]
    fn every_control_weakens_one_way_only() {
        let base = ProjectSettings::default();
        assert!(weakening(&base, &base).is_empty());
        // A deny-list entry removed.
        let denied = with(|s| s.bot_deny_list = vec!["dependabot".into()]);
        weakens_one_way(&denied, &base, "bot_deny_list");
        // A longer lifetime.
        let longer = with(|s| s.max_exception_lifetime_seconds *= 2);
        weakens_one_way(&base, &longer, "max_exception_lifetime_seconds");
        // A signal added.
        let more = with(|s| s.accepted_signals.push(SignalKind::ConsumerTest));
        weakens_one_way(&base, &more, "accepted_signals: consumer_test added");
        // GitHub disconnected; moved to another repository weakens both ways.
        let connected = with(|s| {
            s.github = Some(GitHubConnection {
                repository: "acme/api".into(),
                connected_at: "2026-01-01T00:00:00Z".into(),
            });
        });
        weakens_one_way(&connected, &base, "github: disconnected");
        let mut moved = connected.clone();
        moved.github.as_mut().unwrap().repository = "acme/other".into();
        assert!(!weakening(&connected, &moved).is_empty());
        assert!(!weakening(&moved, &connected).is_empty());
        let mut recased = connected.clone();
        recased.github.as_mut().unwrap().repository = "ACME/api".into();
        assert!(weakening(&connected, &recased).is_empty());
        // The control itself turned off.
        let on = with(|s| s.second_admin_for_weakening = true);
        weakens_one_way(&on, &base, "second_admin_for_weakening");
        // People allowed to sign in with API keys again.
        let sso = with(|s| s.people_sign_in = PeopleSignIn::SsoOnly);
        weakens_one_way(&sso, &base, "people_sign_in");
        // A group that grants a role, or a role more for a group.
        let owners = with(|s| {
            s.idp_groups
                .insert("api-owners".into(), vec![Role::Codeowner]);
        });
        weakens_one_way(
            &base,
            &owners,
            "idp_groups: members of \"api-owners\" get the role codeowner",
        );
        let admins = with(|s| {
            s.idp_groups
                .insert("api-owners".into(), vec![Role::Codeowner, Role::Admin]);
        });
        weakens_one_way(
            &owners,
            &admins,
            "idp_groups: members of \"api-owners\" get the role admin",
        );
    }

    #[test]
    fn people_sign_in_is_left_out_of_records_while_any() {
        let any = serde_json::to_value(ProjectSettings::default()).unwrap();
        assert!(any.get("people_sign_in").is_none(), "{any}");
        let sso = serde_json::to_value(with(|s| s.people_sign_in = PeopleSignIn::SsoOnly)).unwrap();
        assert_eq!(sso["people_sign_in"], "sso_only");
        let back: ProjectSettings = serde_json::from_value(sso).unwrap();
        assert_eq!(back.people_sign_in, PeopleSignIn::SsoOnly);
    }

    #[test]
    fn gate_rules_weaken_when_reported_lower() {
        let base = ProjectSettings::default();
        // response-body-type-changed is ERR in the catalogue.
        let rule = "response-body-type-changed";
        assert_eq!(
            gate::catalogue::find(rule).unwrap().level,
            gate::Severity::Err
        );
        let lowered = with(|s| {
            s.gate
                .severity_overrides
                .insert(rule.into(), gate::Level::Warn);
        });
        weakens_one_way(
            &base,
            &lowered,
            "gate: rule response-body-type-changed lowered from err to warn",
        );
        let off = with(|s| {
            s.gate
                .severity_overrides
                .insert(rule.into(), gate::Level::None);
        });
        weakens_one_way(&lowered, &off, "gate: rule");
        // An override at the default level changes nothing.
        let same = with(|s| {
            s.gate
                .severity_overrides
                .insert(rule.into(), gate::Level::Err);
        });
        assert!(weakening(&base, &same).is_empty());
        assert!(weakening(&same, &base).is_empty());
        // Raised above the default, then removed: lowered back to it.
        let info_rule = gate::catalogue::RULES
            .iter()
            .find(|r| r.level == gate::Severity::Info)
            .unwrap()
            .id;
        let raised = with(|s| {
            s.gate
                .severity_overrides
                .insert(info_rule.into(), gate::Level::Err);
        });
        weakens_one_way(&raised, &base, "gate: rule");
        // Deprecation policy: shorter is weaker.
        for f in [
            |s: &mut ProjectSettings| s.gate.deprecation_days_stable = 30,
            |s: &mut ProjectSettings| s.gate.deprecation_days_beta = 30,
        ] {
            weakens_one_way(&with(f), &base, "gate: deprecation_days");
        }
        // Differences: off for the four that report more, on for the two
        // that report less; oasdiff mode turns all off.
        let diff = |f: fn(&mut gate::Differences)| with(|s| f(&mut s.gate.differences));
        for f in [
            (|d: &mut gate::Differences| d.path_level_parameters = false) as fn(&mut _),
            |d| d.sunset_moved_earlier = false,
            |d| d.status_ranges = false,
            |d| d.oauth_all_flows = false,
        ] {
            weakens_one_way(&base, &diff(f), "gate: difference");
        }
        for f in [
            (|d: &mut gate::Differences| d.effective_schemas = false) as fn(&mut _),
            |d| d.normalized_bounds = false,
        ] {
            weakens_one_way(&diff(f), &base, "gate: difference");
        }
        // oasdiff's mode turns every difference off, and back on: both
        // ways weaken (four report less off, two report less on).
        let oasdiff = with(|s| s.gate.compat = gate::Compat::Oasdiff);
        let w = weakening(&base, &oasdiff);
        assert!(
            w.contains(&"gate: difference path_level_parameters turned off".to_owned()),
            "{w:?}"
        );
        let w = weakening(&oasdiff, &base);
        assert!(
            w.contains(&"gate: difference effective_schemas turned on".to_owned()),
            "{w:?}"
        );
    }

    #[test]
    fn monitoring_weakens_when_it_would_see_less() {
        let base = ProjectSettings::default();
        let m = |f: fn(&mut MonitorConfig)| with(|s| f(&mut s.monitoring));
        // Higher is quieter.
        for f in [
            (|c: &mut MonitorConfig| c.spike_mads += 1) as fn(&mut _),
            |c| c.min_spike_count += 1,
            |c| c.warn_recurrence_runs += 1,
            |c| c.renewal_count += 1,
            |c| c.anergic_hours += 1,
        ] {
            weakens_one_way(&base, &m(f), "monitoring:");
        }
        // Lower is quieter.
        for f in [
            (|c: &mut MonitorConfig| c.warn_window_days -= 1) as fn(&mut _),
            |c| c.renewal_window_days -= 1,
            |c| c.expiry_warning_hours -= 1,
            |c| c.flag_ci_classified = false,
        ] {
            weakens_one_way(&base, &m(f), "monitoring:");
        }
        // The baseline moves the thresholds both ways.
        let longer = m(|c| c.baseline_days += 7);
        assert!(!weakening(&base, &longer).is_empty());
        assert!(!weakening(&longer, &base).is_empty());
    }

    #[test]
    fn the_control_stays_out_of_records_while_off() {
        let off = serde_json::to_value(ProjectSettings::default()).unwrap();
        assert!(off.get("second_admin_for_weakening").is_none(), "{off}");
        let on = serde_json::to_value(with(|s| s.second_admin_for_weakening = true)).unwrap();
        assert_eq!(on["second_admin_for_weakening"], true);
        let back: ProjectSettings = serde_json::from_value(off).unwrap();
        assert!(!back.second_admin_for_weakening);
    }
}
