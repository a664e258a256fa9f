//! Monitoring of change management, pure: from a project's records, the
//! anomalies of one UTC day (`spec/monitoring.md`). The log server runs it
//! daily, records each anomaly, and alerts; the same inputs always give the
//! same anomalies, with the same IDs, so a day re-run records nothing new.
//!
//! - **Velocity spikes**: a day's spec changes (gate decisions), ERR
//!   findings, exceptions filed or blocked runs well above the project's own
//!   baseline: the median of the previous `baseline_days` days plus
//!   `spike_mads` scaled median absolute deviations (at least 1), and at
//!   least `min_spike_count`, so that a quiet project does not alert on its
//!   second change.
//! - **Accumulating drift**: a WARN finding on the same (kind, endpoint) in
//!   `warn_recurrence_runs` runs or more over `warn_window_days` days;
//!   `renewal_count` exceptions or more for the same (kind, endpoint) within
//!   `renewal_window_days` days (a bypass becoming permanent); an exception
//!   waiting (`ANERGIC`) longer than `anergic_hours`; an `ACTIVE` exception
//!   applied within `expiry_warning_hours` of its expiry (the change it
//!   covers is still being made); runs whose findings CI supplied rather
//!   than the log's gate engine.
//! - **People**: a principal approving an exception within
//!   `new_approver_days` of being added (a principal made for the
//!   occasion), and two principals sharing an identity (a folded name or
//!   GitHub login, a GitHub ID, an identity provider subject), as legacy
//!   data may hold.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest as _, Sha256};

use crate::endpoint;
use crate::ledger::{Exception, Status};
use crate::record::{AnomalyDetected, CLASSIFIED_BY_CI, Record, RecordBody, Severity};
pub use crate::settings::MonitorConfig;
use crate::time::{DAY_MS, format_date};

/// What happened on one day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayActivity {
    /// Gate decisions (spec changes).
    pub decisions: u64,
    /// ERR findings.
    pub err_findings: u64,
    /// Exceptions filed.
    pub exceptions_filed: u64,
    /// Blocked runs.
    pub blocked_runs: u64,
    /// Runs whose findings CI supplied.
    pub ci_classified_runs: u64,
    /// Runs with a WARN on (kind, endpoint).
    pub warn_runs: BTreeMap<(String, String), u64>,
    /// Exceptions applied by a run, with the time of the last such run.
    pub applied: BTreeMap<String, i64>,
}

/// A project's history, folded from its records in log order.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Activity by day (days since the epoch).
    pub days: BTreeMap<i64, DayActivity>,
    /// Every exception seen, by ID.
    pub exceptions: BTreeMap<String, Exception>,
    /// The principals, from the principal records seen.
    pub people: crate::people::People,
    /// Approvals by day: (approver, time, exception).
    pub approvals: BTreeMap<i64, Vec<(String, i64, String)>>,
    /// Records added so far (their order, for the principal records).
    seen: u64,
}

impl History {
    /// Adds one record (in log order).
    pub fn add(&mut self, record: &Record, time_ms: i64) {
        let day = time_ms.div_euclid(DAY_MS);
        self.seen += 1;
        match &record.body {
            RecordBody::PrincipalAdded(_)
            | RecordBody::PrincipalChanged(_)
            | RecordBody::PrincipalRevoked(_) => {
                // A malformed principal record is not monitoring's to judge.
                let _ = self.people.add(record, self.seen);
            }
            RecordBody::ExceptionSignal(s) => {
                self.approvals.entry(day).or_default().push((
                    s.approver.clone(),
                    time_ms,
                    s.exception_id.clone(),
                ));
                if let Some(e) = self.exceptions.get_mut(&s.exception_id) {
                    e.apply(record);
                }
            }
            RecordBody::GateDecision(d) => {
                let a = self.days.entry(day).or_default();
                a.decisions += 1;
                a.blocked_runs += u64::from(d.blocked);
                a.ci_classified_runs += u64::from(d.classified_by == CLASSIFIED_BY_CI);
                let mut warned = BTreeSet::new();
                for f in &d.findings {
                    match f.severity {
                        Severity::Err => a.err_findings += 1,
                        Severity::Warn => {
                            warned.insert((f.kind.clone(), canonical_endpoint(&f.endpoint)));
                        }
                        Severity::Info => {}
                    }
                }
                for w in warned {
                    *a.warn_runs.entry(w).or_default() += 1;
                }
                for e in &d.exceptions_applied {
                    a.applied.insert(e.clone(), time_ms);
                }
            }
            RecordBody::ExceptionRequested(_) => {
                self.days.entry(day).or_default().exceptions_filed += 1;
                if let Some(e) = Exception::from_requested(record) {
                    self.exceptions.insert(e.id.clone(), e);
                }
            }
            body => {
                if let Some(e) = body
                    .exception_id()
                    .and_then(|id| self.exceptions.get_mut(id))
                {
                    e.apply(record);
                }
            }
        }
    }
}

/// An endpoint as monitoring groups it: its one form where it parses
/// (method upper-case, parameter names aside), else as given.
fn canonical_endpoint(e: &str) -> String {
    endpoint::Endpoint::parse(e).map_or_else(|_| e.to_owned(), |p| p.match_key())
}

/// The monitoring rules, by ID.
pub mod rule {
    /// A day's spec changes well above the baseline.
    pub const CHANGE_SPIKE: &str = "change_velocity_spike";
    /// A day's ERR findings well above the baseline.
    pub const ERR_SPIKE: &str = "breaking_change_spike";
    /// A day's exceptions filed well above the baseline.
    pub const EXCEPTION_SPIKE: &str = "exception_filing_spike";
    /// A day's blocked runs well above the baseline.
    pub const BLOCKED_SPIKE: &str = "blocked_run_spike";
    /// A WARN that keeps coming back on one endpoint.
    pub const RECURRING_WARN: &str = "recurring_warning";
    /// Exceptions renewed again and again for one (kind, endpoint).
    pub const RENEWED_EXCEPTION: &str = "exception_renewal_pattern";
    /// An exception waiting for its second signal too long.
    pub const STALE_ANERGIC: &str = "exception_waiting_too_long";
    /// An exception applied close to its expiry.
    pub const EXPIRING_IN_USE: &str = "exception_expiring_in_use";
    /// Runs whose findings CI supplied.
    pub const CI_CLASSIFIED: &str = "findings_supplied_by_ci";
    /// An approval by a principal added shortly before.
    pub const NEW_APPROVER: &str = "approval_by_new_principal";
    /// Two principals sharing an identity.
    pub const SHARED_IDENTITY: &str = "principals_share_identity";
    /// A change that weakened the project's controls (raised at once, by
    /// the change itself, not by the daily run: not in [`ALL`]).
    pub const CONTROLS_WEAKENED: &str = "controls_weakened";
    /// Every rule of the daily run.
    pub const ALL: [&str; 11] = [
        CHANGE_SPIKE,
        ERR_SPIKE,
        EXCEPTION_SPIKE,
        BLOCKED_SPIKE,
        RECURRING_WARN,
        RENEWED_EXCEPTION,
        STALE_ANERGIC,
        EXPIRING_IN_USE,
        CI_CLASSIFIED,
        NEW_APPROVER,
        SHARED_IDENTITY,
    ];
}

/// One anomaly of a day, with its deterministic ID (`anm_...`: a re-run
/// finds the same one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// The record ID it is logged under.
    pub id: String,
    /// What was found.
    pub finding: AnomalyDetected,
}

impl Anomaly {
    /// An anomaly and its ID: per (rule, `day`, subject) for the daily
    /// rules, per (rule, subject) for those that fire once per subject
    /// (`day` `None`).
    #[must_use]
    pub fn new(day: Option<i64>, finding: AnomalyDetected) -> Anomaly {
        Anomaly {
            id: anomaly_id(&finding.rule, day, &finding.subject),
            finding,
        }
    }
}

/// The ID of an anomaly: per (rule, subject) for the rules that fire once
/// per subject, per (rule, day, subject) for the daily ones.
fn anomaly_id(rule: &str, day: Option<i64>, subject: &str) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_bytes());
    h.update([0]);
    if let Some(d) = day {
        h.update(d.to_be_bytes());
    }
    h.update([0]);
    h.update(subject.as_bytes());
    let d = h.finalize();
    let hex: String = d.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("anm_{hex}")
}

/// Median and scaled median absolute deviation of `xs` (sorted copy).
fn median_mad(xs: &[u64]) -> (f64, f64) {
    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            return 0.0;
        }
        if n % 2 == 1 {
            v[n / 2]
        } else {
            f64::midpoint(v[n / 2 - 1], v[n / 2])
        }
    }
    let mut v: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
    let m = median(&mut v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    (m, 1.4826 * median(&mut dev))
}

/// The anomalies of `day` (days since the epoch) in `history`, in rule
/// order. `history` must hold the records of at least
/// [`MonitorConfig::lookback_days`] days before `day`, and `day` itself.
#[must_use]
pub fn detect(history: &History, day: i64, config: &MonitorConfig) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let date = format_date(day);
    let empty = DayActivity::default();
    let today = history.days.get(&day).unwrap_or(&empty);
    let (day_start, day_end) = (day * DAY_MS, (day + 1) * DAY_MS);

    // Velocity spikes against the project's own baseline.
    let baseline_days = i64::from(config.baseline_days.max(1));
    type Metric = fn(&DayActivity) -> u64;
    let metrics: [(&str, &str, Metric); 4] = [
        (rule::CHANGE_SPIKE, "spec changes", |a| a.decisions),
        (rule::ERR_SPIKE, "breaking (ERR) findings", |a| {
            a.err_findings
        }),
        (rule::EXCEPTION_SPIKE, "exceptions filed", |a| {
            a.exceptions_filed
        }),
        (rule::BLOCKED_SPIKE, "blocked runs", |a| a.blocked_runs),
    ];
    for (id, what, metric) in metrics {
        let observed = metric(today);
        let past: Vec<u64> = (day - baseline_days..day)
            .map(|d| history.days.get(&d).map_or(0, metric))
            .collect();
        let (median, mad) = median_mad(&past);
        let band = median + f64::from(config.spike_mads) * mad.max(1.0);
        let threshold = (band.floor() as u64 + 1).max(config.min_spike_count);
        if observed >= threshold {
            out.push(Anomaly::new(
                Some(day),
                AnomalyDetected {
                rule: id.to_owned(),
                day: date.clone(),
                subject: what.to_owned(),
                observed,
                threshold,
                detail: format!(
                    "{observed} {what} on {date}, against a median of {median:.1} a day over the previous {baseline_days} days (threshold {threshold})"
                ),
                },
            ));
        }
    }

    // A WARN that keeps coming back on one endpoint (counted on the days it came back).
    let window = i64::from(config.warn_window_days.max(1));
    for (kind, ep) in today.warn_runs.keys() {
        let key = (kind.clone(), ep.clone());
        let runs: u64 = (day - window + 1..=day)
            .filter_map(|d| history.days.get(&d)?.warn_runs.get(&key))
            .sum();
        if runs >= config.warn_recurrence_runs {
            let subject = format!("{kind} on {ep}");
            out.push(Anomaly::new(
                Some(day),
                AnomalyDetected {
                rule: rule::RECURRING_WARN.to_owned(),
                day: date.clone(),
                subject: subject.clone(),
                observed: runs,
                threshold: config.warn_recurrence_runs,
                detail: format!(
                    "WARN {subject} in {runs} runs over the {window} days up to {date}, still unresolved"
                ),
                },
            ));
        }
    }

    // Exceptions renewed again and again for one (kind, endpoint): on the
    // day one more is filed, counted over the window.
    let renewal_start = day_end - i64::from(config.renewal_window_days.max(1)) * DAY_MS;
    let mut by_change: BTreeMap<(String, String), Vec<&Exception>> = BTreeMap::new();
    for e in history.exceptions.values() {
        if e.created_at >= renewal_start && e.created_at < day_end {
            by_change
                .entry((e.kind.clone(), canonical_endpoint(&e.endpoint)))
                .or_default()
                .push(e);
        }
    }
    for ((kind, ep), list) in &by_change {
        let filed_today = list.iter().any(|e| e.created_at >= day_start);
        let n = list.len() as u64;
        if filed_today && n >= config.renewal_count {
            let subject = format!("{kind} on {ep}");
            out.push(Anomaly::new(
                Some(day),
                AnomalyDetected {
                rule: rule::RENEWED_EXCEPTION.to_owned(),
                day: date.clone(),
                subject: subject.clone(),
                observed: n,
                threshold: config.renewal_count,
                detail: format!(
                    "{n} exceptions filed for {subject} within {} days: the bypass is becoming permanent",
                    config.renewal_window_days
                ),
                },
            ));
        }
    }

    // Exceptions waiting too long, once each, on the day they cross the line.
    let wait_ms = i64::try_from(config.anergic_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    for e in history.exceptions.values() {
        let crossed = e.created_at.saturating_add(wait_ms);
        let still_waiting =
            e.status_at(crossed) == Status::Anergic && e.activated_at.is_none_or(|t| t > crossed);
        if still_waiting && (day_start..day_end).contains(&crossed) {
            out.push(Anomaly::new(
                None,
                AnomalyDetected {
                    rule: rule::STALE_ANERGIC.to_owned(),
                    day: date.clone(),
                    subject: e.id.clone(),
                    observed: config.anergic_hours,
                    threshold: config.anergic_hours,
                    detail: format!(
                        "exception {} ({} on {}) has waited {} hours for a second signal",
                        e.id, e.kind, e.endpoint, config.anergic_hours
                    ),
                },
            ));
        }
    }

    // Exceptions applied close to their expiry: the change is still being made.
    let warn_ms =
        i64::try_from(config.expiry_warning_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    for (id, &at) in &today.applied {
        if let Some(e) = history.exceptions.get(id)
            && e.expires_at - at <= warn_ms
        {
            let hours_left = u64::try_from((e.expires_at - at).max(0) / 3_600_000).unwrap_or(0);
            out.push(Anomaly::new(
                None,
                AnomalyDetected {
                rule: rule::EXPIRING_IN_USE.to_owned(),
                day: date.clone(),
                subject: id.clone(),
                observed: hours_left,
                threshold: config.expiry_warning_hours,
                detail: format!(
                    "exception {id} ({} on {}) was applied {hours_left} hours before it expires: the change it covers is still being made",
                    e.kind, e.endpoint
                ),
                },
            ));
        }
    }

    // Runs whose findings CI supplied.
    if config.flag_ci_classified && today.ci_classified_runs > 0 {
        let n = today.ci_classified_runs;
        out.push(Anomaly::new(
            Some(day),
            AnomalyDetected {
            rule: rule::CI_CLASSIFIED.to_owned(),
            day: date.clone(),
            subject: "runs".to_owned(),
            observed: n,
            threshold: 1,
            detail: format!(
                "{n} runs on {date} carried findings CI supplied instead of documents the log classified"
            ),
            },
        ));
    }

    // Approvals by principals added shortly before.
    let new_ms = i64::from(config.new_approver_days) * DAY_MS;
    for (approver, at, exception) in history.approvals.get(&day).into_iter().flatten() {
        if let Some(added) = history.people.added_at(approver)
            && at - added < new_ms
        {
            let days = u64::try_from((at - added).max(0) / DAY_MS).unwrap_or(0);
            out.push(Anomaly::new(
                None,
                AnomalyDetected {
                    rule: rule::NEW_APPROVER.to_owned(),
                    day: date.clone(),
                    subject: format!("{approver} on {exception}"),
                    observed: days,
                    threshold: u64::from(config.new_approver_days),
                    detail: format!(
                        "{approver} approved exception {exception} {days} days after being added as a principal (less than {} days): a principal made for the occasion?",
                        config.new_approver_days
                    ),
                },
            ));
        }
    }

    // Two principals of one person (legacy data, or identities added later).
    for (a, b, what) in history.people.shared_identities() {
        out.push(Anomaly::new(
            None,
            AnomalyDetected {
                rule: rule::SHARED_IDENTITY.to_owned(),
                day: date.clone(),
                subject: format!("{a} and {b}"),
                observed: 2,
                threshold: 1,
                detail: format!(
                    "principals {a} and {b} share {what}: one person holds two principals, and could approve their own exception"
                ),
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ExceptionActivated, ExceptionRequested, Finding, GateDecision};
    use crate::time::format_time;

    const D0: i64 = 20_000; // a day, days since the epoch

    fn rec(time: i64, id: &str, body: RecordBody) -> (Record, i64) {
        (
            Record {
                id: id.into(),
                project: "prj_1".into(),
                time: format_time(time),
                salt: "00".repeat(16),
                seq: None,
                prev: None,
                body,
            },
            time,
        )
    }

    fn decision(findings: Vec<Finding>, blocked: bool, applied: &[&str], by: &str) -> RecordBody {
        RecordBody::GateDecision(GateDecision {
            submitted_by: "key_ci".into(),
            submitted_by_name: "ci".into(),
            commit_sha: "abcdef0".into(),
            branch: "main".into(),
            author: "dev".into(),
            findings,
            artifacts: vec![],
            verdict: "PASS".into(),
            blocked,
            blocked_reasons: vec![],
            exceptions_applied: applied.iter().map(|s| (*s).to_owned()).collect(),
            classified_by: by.into(),
            classifier: None,
            summary: None,
        })
    }

    fn finding(sev: Severity, kind: &str, ep: &str) -> Finding {
        Finding {
            kind: kind.into(),
            endpoint: ep.into(),
            severity: sev,
            detail: String::new(),
        }
    }

    fn filed(kind: &str, ep: &str, expires: i64) -> RecordBody {
        RecordBody::ExceptionRequested(ExceptionRequested {
            requested_by: "key_a".into(),
            requested_by_name: "alice".into(),
            kind: kind.into(),
            endpoint: ep.into(),
            reason: "r".into(),
            expires_at: format_time(expires),
            repository: None,
            pull_request: None,
            blocked_run: None,
        })
    }

    fn history(records: &[(Record, i64)]) -> History {
        let mut h = History::default();
        for (r, t) in records {
            h.add(r, *t);
        }
        h
    }

    fn rules(a: &[Anomaly]) -> Vec<&str> {
        a.iter().map(|x| x.finding.rule.as_str()).collect()
    }

    fn quiet_config() -> MonitorConfig {
        MonitorConfig {
            flag_ci_classified: false,
            ..MonitorConfig::default()
        }
    }

    /// Two server-classified decisions a day for 28 days, then `n` on D0.
    fn steady_then(n: usize) -> Vec<(Record, i64)> {
        let mut out = Vec::new();
        for d in D0 - 28..D0 {
            for i in 0..2 {
                out.push(rec(
                    d * DAY_MS + i,
                    &format!("run_{d}_{i}"),
                    decision(vec![], false, &[], "server"),
                ));
            }
        }
        for i in 0..n {
            out.push(rec(
                D0 * DAY_MS + i as i64,
                &format!("run_x{i}"),
                decision(vec![], false, &[], "server"),
            ));
        }
        out
    }

    #[test]
    fn a_spike_alerts_and_ordinary_days_do_not() {
        let c = quiet_config();
        assert!(
            detect(&history(&steady_then(2)), D0, &c).is_empty(),
            "a day like the others"
        );
        assert!(
            detect(&history(&steady_then(5)), D0, &c).is_empty(),
            "within the band"
        );
        let a = detect(&history(&steady_then(9)), D0, &c);
        assert_eq!(rules(&a), [rule::CHANGE_SPIKE]);
        assert_eq!((a[0].finding.observed, a[0].finding.threshold), (9, 6));
        // Same inputs, same anomaly, same ID.
        assert_eq!(a, detect(&history(&steady_then(9)), D0, &c));
    }

    #[test]
    fn a_quiet_project_does_not_alert_on_its_second_change() {
        let c = quiet_config();
        let mut r = vec![rec(
            D0 * DAY_MS - 5 * DAY_MS,
            "run_1",
            decision(vec![], false, &[], "server"),
        )];
        r.push(rec(
            D0 * DAY_MS,
            "run_2",
            decision(vec![], false, &[], "server"),
        ));
        assert!(detect(&history(&r), D0, &c).is_empty());
        // Five changes on a first busy day are a spike (the minimum count).
        for i in 0..4 {
            r.push(rec(
                D0 * DAY_MS + 1 + i,
                &format!("run_b{i}"),
                decision(vec![], false, &[], "server"),
            ));
        }
        assert_eq!(rules(&detect(&history(&r), D0, &c)), [rule::CHANGE_SPIKE]);
    }

    #[test]
    fn breaking_and_blocked_spikes() {
        let c = quiet_config();
        let mut r = Vec::new();
        for i in 0..6 {
            r.push(rec(
                D0 * DAY_MS + i,
                &format!("run_{i}"),
                decision(
                    vec![finding(Severity::Err, "k", "GET /a")],
                    true,
                    &[],
                    "server",
                ),
            ));
        }
        let got = detect(&history(&r), D0, &c);
        assert_eq!(
            rules(&got),
            [rule::CHANGE_SPIKE, rule::ERR_SPIKE, rule::BLOCKED_SPIKE]
        );
    }

    #[test]
    fn a_recurring_warning_alerts_once_it_has_come_back_enough() {
        let c = quiet_config();
        let warn = |d: i64, ep: &str| {
            rec(
                d * DAY_MS + 7,
                &format!("run_{d}_{ep}"),
                decision(vec![finding(Severity::Warn, "w", ep)], false, &[], "server"),
            )
        };
        // Parameter names do not make another endpoint.
        let mut r: Vec<_> = (0..4)
            .map(|i| warn(D0 - 10 + i * 2, "GET /u/{id}"))
            .collect();
        assert!(
            detect(&history(&r), D0 - 4, &c).is_empty(),
            "four runs: not yet"
        );
        r.push(warn(D0, "GET /u/{userId}"));
        let a = detect(&history(&r), D0, &c);
        assert_eq!(rules(&a), [rule::RECURRING_WARN]);
        assert_eq!(a[0].finding.subject, "w on GET /u/{}");
        // Old runs outside the window do not count.
        let old: Vec<_> = (0..4)
            .map(|i| warn(D0 - 40 + i, "GET /u/{id}"))
            .chain([warn(D0, "GET /u/{id}")])
            .collect();
        assert!(detect(&history(&old), D0, &c).is_empty());
    }

    #[test]
    fn renewals_waiting_and_expiring_exceptions() {
        let c = quiet_config();
        let h = 3_600_000;
        let t0 = D0 * DAY_MS;
        let mut r = vec![
            rec(
                t0 - 60 * DAY_MS,
                "exc_1",
                filed("k", "GET /a", t0 - 50 * DAY_MS),
            ),
            rec(
                t0 - 30 * DAY_MS,
                "exc_2",
                filed("k", "get /a", t0 - 20 * DAY_MS),
            ),
        ];
        assert!(detect(&history(&r), D0, &c).is_empty());
        r.push(rec(t0 + h, "exc_3", filed("k", "GET /a", t0 + 10 * DAY_MS)));
        let a = detect(&history(&r), D0, &c);
        assert_eq!(rules(&a), [rule::RENEWED_EXCEPTION], "the third in 90 days");
        assert_eq!(a[0].finding.observed, 3);
        // exc_3 waits: 72 hours later it is an anomaly, once, on that day.
        let later = detect(&history(&r), D0 + 3, &c);
        assert_eq!(rules(&later), [rule::STALE_ANERGIC]);
        assert_eq!(later[0].finding.subject, "exc_3");
        assert!(detect(&history(&r), D0 + 4, &c).is_empty());
        // Activated in time: no anomaly.
        r.push(rec(
            t0 + 2 * h,
            "evt_a",
            RecordBody::ExceptionActivated(ExceptionActivated {
                exception_id: "exc_3".into(),
                signal_id: "evt_s".into(),
                approver: "key_b".into(),
                approval_latency_ms: h as u64,
            }),
        ));
        assert!(detect(&history(&r), D0 + 3, &c).is_empty());
        // Applied a day before it expires: the change is still being made.
        r.push(rec(
            t0 + 9 * DAY_MS,
            "run_late",
            decision(
                vec![finding(Severity::Err, "k", "GET /a")],
                false,
                &["exc_3"],
                "server",
            ),
        ));
        let a = detect(&history(&r), D0 + 9, &c);
        assert_eq!(rules(&a), [rule::EXPIRING_IN_USE]);
        assert_eq!(a[0].finding.observed, 24);
        // Applied long before expiry: nothing.
        r.pop();
        r.push(rec(
            t0 + DAY_MS,
            "run_early",
            decision(vec![], false, &["exc_3"], "server"),
        ));
        assert!(detect(&history(&r), D0 + 1, &c).is_empty());
    }

    #[test]
    fn runs_classified_by_ci_are_flagged_when_the_project_asks() {
        let r = vec![rec(
            D0 * DAY_MS,
            "run_1",
            decision(vec![], false, &[], "ci"),
        )];
        let a = detect(&history(&r), D0, &MonitorConfig::default());
        assert_eq!(rules(&a), [rule::CI_CLASSIFIED]);
        assert!(detect(&history(&r), D0, &quiet_config()).is_empty());
    }
}
