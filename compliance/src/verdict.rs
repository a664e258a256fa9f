//! The gate's verdict, pure: validating a decision and computing its
//! verdict from the findings and the exception ledger at a moment. The
//! service, storage and the clock are in the log server.
//!
//! The verdict is the highest severity of the findings (`PASS` when there
//! are none). An `ERR` blocks unless an exception that is `ACTIVE` at the
//! decision's time matches its exact (change kind, endpoint).

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::endpoint;
use crate::ledger::{Exception, Status, check_text};
pub use crate::record::{Artifact, Finding, Severity};

/// Most findings in one decision.
pub const MAX_FINDINGS: usize = 10_000;
/// Most artifacts in one decision.
pub const MAX_ARTIFACTS: usize = 1_000;

/// Body of `POST /api/projects/{projectId}/decisions`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// The commit gated.
    pub commit_sha: String,
    /// Its branch.
    pub branch: String,
    /// Its author.
    pub author: String,
    /// What the diff found.
    pub findings: Vec<Finding>,
    /// Artifacts and their hashes.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks a commit SHA: 7 to 64 hex digits.
///
/// # Errors
/// [`Error::Invalid`].
pub fn check_commit_sha(sha: &str) -> Result<(), Error> {
    if !(7..=64).contains(&sha.len()) || !is_hex(sha) {
        return Err(Error::Invalid(format!(
            "commit_sha must be 7 to 64 hex digits, got {sha:?}"
        )));
    }
    Ok(())
}

/// Checks a decision's fields.
///
/// # Errors
/// [`Error::Invalid`] naming the first bad field.
pub fn validate(d: &DecisionInput) -> Result<(), Error> {
    check_commit_sha(&d.commit_sha)?;
    check_text("branch", &d.branch, 255, false)?;
    check_text("author", &d.author, 255, false)?;
    if d.findings.len() > MAX_FINDINGS {
        return Err(Error::Invalid(format!("at most {MAX_FINDINGS} findings")));
    }
    for (i, f) in d.findings.iter().enumerate() {
        check_text(&format!("findings[{i}].kind"), &f.kind, 200, false)?;
        check_text(&format!("findings[{i}].endpoint"), &f.endpoint, 500, false)?;
        check_text(&format!("findings[{i}].detail"), &f.detail, 4_000, true)?;
    }
    if d.artifacts.len() > MAX_ARTIFACTS {
        return Err(Error::Invalid(format!("at most {MAX_ARTIFACTS} artifacts")));
    }
    for (i, a) in d.artifacts.iter().enumerate() {
        check_text(&format!("artifacts[{i}].name"), &a.name, 500, false)?;
        if a.sha256.len() != 64
            || !a
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::Invalid(format!(
                "artifacts[{i}].sha256 must be 64 lowercase hex digits"
            )));
        }
    }
    Ok(())
}

/// The gate's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `PASS`, `INFO`, `WARN` or `ERR`.
    pub verdict: &'static str,
    /// Whether the change is blocked.
    pub blocked: bool,
    /// Why, one line per blocking finding.
    pub blocked_reasons: Vec<String>,
    /// IDs of the exceptions that let an ERR through, sorted, once each.
    pub exceptions_applied: Vec<String>,
}

/// Computes the verdict of `findings` against the project's exceptions at
/// `now`. For each ERR, the matching ACTIVE exception filed first (then the
/// lowest ID) is applied.
pub fn evaluate<'a>(
    findings: &[Finding],
    exceptions: impl Iterator<Item = &'a Exception> + Clone,
    now: i64,
) -> Verdict {
    let verdict = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .map_or("PASS", Severity::as_str);
    let mut reasons = Vec::new();
    let mut applied: Vec<String> = Vec::new();
    for f in findings.iter().filter(|f| f.severity == Severity::Err) {
        let matching = exceptions
            .clone()
            .filter(|e| e.kind == f.kind && endpoint::matches(&e.endpoint, &f.endpoint));
        let active = matching
            .clone()
            .filter(|e| e.status_at(now) == Status::Active)
            .min_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        match active {
            Some(e) => applied.push(e.id.clone()),
            None => {
                let others: Vec<String> = matching
                    .map(|e| format!("{} is {}", e.id, e.status_at(now).as_str()))
                    .collect();
                let mut reason = format!("ERR {} on {}: no ACTIVE exception", f.kind, f.endpoint);
                if !others.is_empty() {
                    reason.push_str(&format!(" ({})", others.join(", ")));
                }
                // Near misses: an exception the codeowner may have meant.
                let near: Vec<String> = exceptions
                    .clone()
                    .filter_map(|e| {
                        let status = e.status_at(now).as_str();
                        if e.kind == f.kind && endpoint::near_miss(&e.endpoint, &f.endpoint) {
                            Some(format!(
                                "{} ({status}) is for {}, which differs in case or a trailing slash",
                                e.id, e.endpoint
                            ))
                        } else if e.kind != f.kind && endpoint::matches(&e.endpoint, &f.endpoint) {
                            Some(format!(
                                "{} ({status}) is for another change kind, {}",
                                e.id, e.kind
                            ))
                        } else {
                            None
                        }
                    })
                    .collect();
                if !near.is_empty() {
                    reason.push_str(&format!("; near misses: {}", near.join("; ")));
                }
                reasons.push(reason);
            }
        }
    }
    applied.sort();
    applied.dedup();
    Verdict {
        verdict,
        blocked: !reasons.is_empty(),
        blocked_reasons: reasons,
        exceptions_applied: applied,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: &str, endpoint: &str, severity: Severity) -> Finding {
        Finding {
            kind: kind.into(),
            endpoint: endpoint.into(),
            severity,
            detail: String::new(),
        }
    }

    fn exception(id: &str, kind: &str, endpoint: &str, created_at: i64) -> Exception {
        Exception {
            id: id.into(),
            kind: kind.into(),
            endpoint: endpoint.into(),
            requested_by: "alice".into(),
            requested_by_name: "alice".into(),
            pull_request: None,
            created_at,
            expires_at: 1_000,
            activated_at: Some(created_at + 1),
            revoked_at: None,
            expiry_recorded: false,
        }
    }

    #[test]
    fn verdict_is_the_highest_severity() {
        let none: [Exception; 0] = [];
        let v = evaluate(&[], none.iter(), 0);
        assert_eq!((v.verdict, v.blocked), ("PASS", false));
        let f = [
            finding("a", "GET /", Severity::Info),
            finding("b", "GET /", Severity::Warn),
        ];
        let v = evaluate(&f, none.iter(), 0);
        assert_eq!((v.verdict, v.blocked), ("WARN", false));
        let f = [
            finding("a", "GET /", Severity::Err),
            finding("b", "GET /", Severity::Info),
        ];
        let v = evaluate(&f, none.iter(), 0);
        assert_eq!(v.verdict, "ERR");
        assert!(v.blocked);
        assert_eq!(v.blocked_reasons, ["ERR a on GET /: no ACTIVE exception"]);
    }

    #[test]
    fn only_an_active_exception_on_the_exact_kind_and_endpoint_lets_an_err_through() {
        let exc = [
            exception("exc_b", "removed", "GET /users/{id}", 20),
            exception("exc_a", "removed", "GET /users/{id}", 10),
        ];
        let err = |k: &str, e: &str| [finding(k, e, Severity::Err)];
        let v = evaluate(&err("removed", "GET /users/{id}"), exc.iter(), 100);
        assert!(!v.blocked);
        assert_eq!(
            v.verdict, "ERR",
            "the verdict stays ERR; only blocking changes"
        );
        assert_eq!(v.exceptions_applied, ["exc_a"], "the first filed applies");
        for (k, e) in [
            ("removed", "GET /users"),
            ("removed", "POST /users/{id}"),
            ("renamed", "GET /users/{id}"),
        ] {
            assert!(evaluate(&err(k, e), exc.iter(), 100).blocked, "{k} {e}");
        }
        // After expiry, and when anergic or revoked: blocked, saying why.
        let v = evaluate(&err("removed", "GET /users/{id}"), exc.iter(), 1_000);
        assert!(v.blocked);
        assert_eq!(
            v.blocked_reasons,
            [
                "ERR removed on GET /users/{id}: no ACTIVE exception (exc_b is EXPIRED, exc_a is EXPIRED)"
            ]
        );
        let mut anergic = exception("exc_c", "x", "GET /", 0);
        anergic.activated_at = None;
        let mut revoked = exception("exc_d", "x", "GET /", 0);
        revoked.revoked_at = Some(5);
        let v = evaluate(&err("x", "GET /"), [anergic, revoked].iter(), 10);
        assert_eq!(
            v.blocked_reasons,
            ["ERR x on GET /: no ACTIVE exception (exc_c is ANERGIC, exc_d is REVOKED)"]
        );
        // Several ERRs: each needs its own exception; each applied exception is listed once.
        let f = [
            finding("removed", "GET /users/{id}", Severity::Err),
            finding("removed", "GET /users/{id}", Severity::Err),
            finding("removed", "GET /orders", Severity::Err),
        ];
        let v = evaluate(&f, exc.iter(), 100);
        assert!(v.blocked);
        assert_eq!(v.exceptions_applied, ["exc_a"]);
        assert_eq!(v.blocked_reasons.len(), 1);
    }

    #[test]
    fn endpoints_match_whatever_the_parameter_names_and_near_misses_are_named() {
        let exc = [
            exception("exc_a", "removed", "GET /users/{id}", 10),
            exception("exc_b", "removed", "GET /Orders/", 10),
            exception("exc_c", "renamed", "GET /carts/{cartId}", 10),
        ];
        let err = |k: &str, e: &str| [finding(k, e, Severity::Err)];
        let v = evaluate(&err("removed", "GET /users/{userId}"), exc.iter(), 100);
        assert!(!v.blocked, "parameter names do not matter");
        assert_eq!(v.exceptions_applied, ["exc_a"]);
        let v = evaluate(&err("removed", "GET /orders"), exc.iter(), 100);
        assert_eq!(
            v.blocked_reasons,
            [
                "ERR removed on GET /orders: no ACTIVE exception; near misses: exc_b (ACTIVE) is for GET /Orders/, which differs in case or a trailing slash"
            ]
        );
        let v = evaluate(&err("removed", "GET /carts/{id}"), exc.iter(), 100);
        assert_eq!(
            v.blocked_reasons,
            [
                "ERR removed on GET /carts/{id}: no ACTIVE exception; near misses: exc_c (ACTIVE) is for another change kind, renamed"
            ]
        );
    }

    #[test]
    fn validation() {
        let ok = DecisionInput {
            commit_sha: "0123456789abcdef0123456789abcdef01234567".into(),
            branch: "main".into(),
            author: "alice".into(),
            findings: vec![finding("a", "GET /", Severity::Err)],
            artifacts: vec![Artifact {
                name: "openapi.yaml".into(),
                sha256: "a".repeat(64),
            }],
        };
        assert_eq!(validate(&ok), Ok(()));
        let bad = |f: fn(&mut DecisionInput)| {
            let mut d = ok.clone();
            f(&mut d);
            validate(&d)
        };
        assert!(
            matches!(bad(|d| d.commit_sha = "xyz".into()), Err(Error::Invalid(m)) if m.contains("commit_sha"))
        );
        assert!(
            matches!(bad(|d| d.branch = String::new()), Err(Error::Invalid(m)) if m.contains("branch"))
        );
        assert!(
            matches!(bad(|d| d.findings[0].endpoint = String::new()), Err(Error::Invalid(m)) if m.contains("findings[0].endpoint"))
        );
        assert!(
            matches!(bad(|d| d.artifacts[0].sha256 = "A".repeat(64)), Err(Error::Invalid(m)) if m.contains("sha256"))
        );
        assert!(matches!(
            bad(|d| d.author = "a\u{0}b".into()),
            Err(Error::Invalid(_))
        ));
        let body = r#"{"commit_sha":"abcdef0","branch":"b","author":"a","findings":[{"kind":"k","endpoint":"e","severity":"FATAL"}]}"#;
        assert!(
            serde_json::from_str::<DecisionInput>(body).is_err(),
            "unknown severity"
        );
        let body = r#"{"commit_sha":"abcdef0","branch":"b","author":"a","findings":[],"extra":1}"#;
        assert!(
            serde_json::from_str::<DecisionInput>(body).is_err(),
            "unknown field"
        );
    }
}
