//! A project's controls (`spec/compliance.md` §2): who counts as a bot, how
//! long an exception may live, which second signals count, the GitHub
//! connection, the gate engine's rule configuration and the monitoring
//! thresholds. Every change of them is a `project_settings_changed` record.

use serde::{Deserialize, Serialize};

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
}

/// The signals a project accepts unless it says otherwise.
#[must_use]
pub fn default_accepted_signals() -> Vec<SignalKind> {
    vec![SignalKind::CodeownerApproval, SignalKind::GithubReview]
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
