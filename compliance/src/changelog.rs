//! The API changelog (the product's "continuous change record"): every run
//! that passed the gate in a period, newest first, with its commit, author,
//! the developer's summary, its verdict and its changes grouped by
//! endpoint, each linked to its proof page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::export::md_cell;
use crate::record::{Finding, GateDecision, Record, RecordBody, Severity};

/// The changes of one endpoint in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointChanges {
    /// `METHOD /path` (empty for a change of the whole document).
    pub endpoint: String,
    /// The highest severity among them.
    pub severity: Severity,
    /// The findings, in the run's order.
    pub findings: Vec<Finding>,
}

/// One run that passed the gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangelogEntry {
    /// Run ID.
    pub run_id: String,
    /// Its time (RFC 3339 UTC).
    pub time: String,
    /// The commit.
    pub commit_sha: String,
    /// Its branch.
    pub branch: String,
    /// Its author.
    pub author: String,
    /// The developer's summary, if given.
    pub summary: Option<String>,
    /// `PASS`, `INFO`, `WARN` or `ERR` (an ERR that passed thanks to an exception).
    pub verdict: String,
    /// `server` or `ci`.
    pub classified_by: String,
    /// The exceptions that let it through.
    pub exceptions_applied: Vec<String>,
    /// Its index in the log.
    pub log_index: u64,
    /// Its proof page.
    pub proof_url: String,
    /// Its changes by endpoint, endpoints in order, document-wide last.
    pub changes: Vec<EndpointChanges>,
}

impl ChangelogEntry {
    /// The entry of a gate decision that passed (`None` for any other
    /// record, and for a blocked decision).
    #[must_use]
    pub fn of(record: &Record, log_index: u64, log_url: &str) -> Option<ChangelogEntry> {
        let RecordBody::GateDecision(d) = &record.body else {
            return None;
        };
        if d.blocked {
            return None;
        }
        Some(ChangelogEntry {
            run_id: record.id.clone(),
            time: record.time.clone(),
            commit_sha: d.commit_sha.clone(),
            branch: d.branch.clone(),
            author: d.author.clone(),
            summary: d.summary.clone(),
            verdict: d.verdict.clone(),
            classified_by: d.classified_by.clone(),
            exceptions_applied: d.exceptions_applied.clone(),
            log_index,
            proof_url: format!("{}/entries/{log_index}", log_url.trim_end_matches('/')),
            changes: by_endpoint(d),
        })
    }
}

/// A decision's findings grouped by endpoint: endpoints in order, changes
/// of the whole document (no endpoint) last (the changelog's and the
/// cockpit's run page's).
#[must_use]
pub fn by_endpoint(d: &GateDecision) -> Vec<EndpointChanges> {
    let mut by: BTreeMap<(bool, &str), Vec<Finding>> = BTreeMap::new();
    for f in &d.findings {
        by.entry((f.endpoint.is_empty(), &f.endpoint))
            .or_default()
            .push(f.clone());
    }
    by.into_iter()
        .map(|((_, endpoint), findings)| EndpointChanges {
            endpoint: endpoint.to_owned(),
            severity: findings
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Info),
            findings,
        })
        .collect()
}

/// The changelog of a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changelog {
    /// Opaque project ID.
    pub project_id: String,
    /// First day (UTC, inclusive).
    pub from: String,
    /// Last day (UTC, inclusive).
    pub to: String,
    /// The runs that passed, newest first.
    pub runs: Vec<ChangelogEntry>,
    /// Whether older runs of the period were left out (see `limit`).
    pub truncated: bool,
}

impl Changelog {
    /// Markdown for people.
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "# API changelog\n\nProject `{}`, {} to {} (UTC): {} changes that passed the gate, newest first{}.",
            md_cell(&self.project_id),
            md_cell(&self.from),
            md_cell(&self.to),
            self.runs.len(),
            if self.truncated {
                " (older ones left out: raise `limit`)"
            } else {
                ""
            }
        );
        for r in &self.runs {
            let sha = r.commit_sha.get(..12).unwrap_or(&r.commit_sha);
            let _ = writeln!(
                t,
                "\n## {} · `{}` on {} by {}\n",
                md_cell(&r.time),
                md_cell(sha),
                md_cell(&r.branch),
                md_cell(&r.author)
            );
            if let Some(s) = &r.summary {
                let _ = writeln!(t, "{}\n", md_cell(s));
            }
            let _ = writeln!(
                t,
                "Verdict {} (classified by {}){}. [Proof: log index {}]({})\n",
                md_cell(&r.verdict),
                md_cell(&r.classified_by),
                if r.exceptions_applied.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", through exception {}",
                        md_cell(&r.exceptions_applied.join(", "))
                    )
                },
                r.log_index,
                r.proof_url
            );
            if r.changes.is_empty() {
                let _ = writeln!(t, "No API changes.");
            }
            for e in &r.changes {
                let name = if e.endpoint.is_empty() {
                    "the whole document".to_owned()
                } else {
                    format!("`{}`", md_cell(&e.endpoint))
                };
                let _ = writeln!(t, "- {name} ({})", e.severity.as_str());
                for f in &e.findings {
                    let _ = writeln!(
                        t,
                        "  - {} `{}`: {}",
                        f.severity.as_str(),
                        md_cell(&f.kind),
                        md_cell(&f.detail)
                    );
                }
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passed_runs_group_their_changes_by_endpoint() {
        let record: Record = serde_json::from_value(serde_json::json!({
            "type": "gate_decision", "id": "run_1", "project": "prj_1",
            "time": "2026-01-02T03:04:05Z", "salt": "00000000000000000000000000000000",
            "submitted_by": "key_ci", "submitted_by_name": "ci", "commit_sha": "abcdef0",
            "branch": "main", "author": "dev", "summary": "adds paging",
            "findings": [
                {"kind": "b", "endpoint": "GET /users", "severity": "INFO", "detail": "x"},
                {"kind": "c", "endpoint": "", "severity": "INFO", "detail": "y"},
                {"kind": "a", "endpoint": "GET /users", "severity": "WARN", "detail": "z"}],
            "artifacts": [], "verdict": "WARN", "blocked": false, "blocked_reasons": [],
            "exceptions_applied": [], "classified_by": "server"}))
        .unwrap();
        let e = ChangelogEntry::of(&record, 7, "https://log.example/").unwrap();
        assert_eq!(e.proof_url, "https://log.example/entries/7");
        let endpoints: Vec<(&str, Severity, usize)> = e
            .changes
            .iter()
            .map(|c| (c.endpoint.as_str(), c.severity, c.findings.len()))
            .collect();
        assert_eq!(
            endpoints,
            [("GET /users", Severity::Warn, 2), ("", Severity::Info, 1)]
        );
        let md = Changelog {
            project_id: "prj_1".into(),
            from: "2026-01-01".into(),
            to: "2026-01-31".into(),
            runs: vec![e],
            truncated: false,
        }
        .to_markdown();
        assert!(md.contains("adds paging"), "{md}");
        assert!(md.contains("- `GET /users` (WARN)"), "{md}");
        assert!(
            md.contains("[Proof: log index 7](https://log.example/entries/7)"),
            "{md}"
        );
    }
}
