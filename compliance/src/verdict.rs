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
pub use crate::record::{Artifact, Classifier, Finding, Severity, SpecRef, sha256_hex};

/// Most findings in one decision.
pub const MAX_FINDINGS: usize = 10_000;
/// Most artifacts in one decision.
pub const MAX_ARTIFACTS: usize = 1_000;

/// Longest OpenAPI document a decision may carry (each of the two).
pub const MAX_SPEC_BYTES: usize = 16 * 1024 * 1024;
/// Longest developer's summary of a change.
pub const MAX_SUMMARY: usize = 2_000;

/// Body of `POST /api/projects/{projectId}/decisions`: CI either supplies
/// the `findings`, or sends both OpenAPI documents (`base_spec`,
/// `revision_spec`) for the log's gate engine to classify.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// The commit gated.
    pub commit_sha: String,
    /// Its branch.
    pub branch: String,
    /// Its author.
    pub author: String,
    /// What CI's diff found (instead of the documents).
    #[serde(default)]
    pub findings: Option<Vec<Finding>>,
    /// Artifacts and their hashes.
    #[serde(default)]
    pub artifacts: Vec<Artifact>,
    /// The developer's summary of the change, for the API changelog.
    #[serde(default)]
    pub summary: Option<String>,
    /// The OpenAPI document before the change (JSON or YAML text).
    #[serde(default)]
    pub base_spec: Option<String>,
    /// The OpenAPI document after the change.
    #[serde(default)]
    pub revision_spec: Option<String>,
    /// The base document's file name, for locations (default `base.yaml`).
    #[serde(default)]
    pub base_name: Option<String>,
    /// The revision's file name (default `revision.yaml`).
    #[serde(default)]
    pub revision_name: Option<String>,
}

/// What a decision is classified from.
#[derive(Clone, Copy, Debug)]
pub enum Changes<'a> {
    /// Findings CI supplied.
    Findings(&'a [Finding]),
    /// The two documents, for the server to classify.
    Specs {
        /// Before.
        base: &'a str,
        /// After.
        revision: &'a str,
    },
}

impl DecisionInput {
    /// What the decision is classified from.
    ///
    /// # Errors
    /// [`Error::Invalid`] unless it carries either findings or both documents.
    pub fn changes(&self) -> Result<Changes<'_>, Error> {
        match (&self.findings, &self.base_spec, &self.revision_spec) {
            (Some(f), None, None) => Ok(Changes::Findings(f)),
            (None, Some(base), Some(revision)) => Ok(Changes::Specs { base, revision }),
            (Some(_), _, _) => Err(Error::Invalid(
                "give either findings or base_spec and revision_spec, not both".into(),
            )),
            _ => Err(Error::Invalid(
                "give findings, or both base_spec and revision_spec (the OpenAPI documents before and after the change) for the server to classify"
                    .into(),
            )),
        }
    }
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
    if let Some(summary) = &d.summary {
        check_summary(summary)?;
    }
    match d.changes()? {
        Changes::Findings(findings) => {
            if findings.len() > MAX_FINDINGS {
                return Err(Error::Invalid(format!("at most {MAX_FINDINGS} findings")));
            }
            for (i, f) in findings.iter().enumerate() {
                check_text(&format!("findings[{i}].kind"), &f.kind, 200, false)?;
                check_text(&format!("findings[{i}].endpoint"), &f.endpoint, 500, false)?;
                check_text(&format!("findings[{i}].detail"), &f.detail, 4_000, true)?;
            }
        }
        Changes::Specs { base, revision } => {
            for (name, doc) in [("base_spec", base), ("revision_spec", revision)] {
                if doc.len() > MAX_SPEC_BYTES {
                    return Err(Error::Invalid(format!(
                        "{name} is {} bytes; at most {MAX_SPEC_BYTES} (16 MiB)",
                        doc.len()
                    )));
                }
            }
            for (name, v) in [
                ("base_name", &d.base_name),
                ("revision_name", &d.revision_name),
            ] {
                if let Some(v) = v {
                    check_text(name, v, 255, false)?;
                }
            }
        }
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

/// Checks a developer's summary: at most [`MAX_SUMMARY`] characters; line
/// breaks allowed, other control characters not.
///
/// # Errors
/// [`Error::Invalid`].
pub fn check_summary(summary: &str) -> Result<(), Error> {
    if summary.chars().count() > MAX_SUMMARY
        || summary
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::Invalid(format!(
            "summary must be at most {MAX_SUMMARY} characters, without control characters but line breaks"
        )));
    }
    Ok(())
}

/// The result of classifying a change with the gate engine.
#[derive(Clone, Debug)]
pub struct Classified {
    /// The findings, in the engine's order.
    pub findings: Vec<Finding>,
    /// How they were obtained (recorded with the decision).
    pub classifier: Classifier,
}

/// Classifies the change from `base` to `revision` with the gate engine and
/// the project's rule configuration, on `today` (the decision's UTC date:
/// `x-sunset` dates are compared with it). Pure and deterministic: the
/// verifier runs it again to reproduce a recorded verdict.
///
/// # Errors
/// [`Error::Invalid`] naming the document that is not OpenAPI 3.0/3.1 or
/// breaks a limit (size, depth, aliases, references).
pub fn classify(
    base: (&str, &str),
    revision: (&str, &str),
    config: &gate::Config,
    today: &str,
) -> Result<Classified, Error> {
    let limits = gate::Limits::default();
    let parse = |field: &str, (name, text): (&str, &str)| {
        gate::Document::from_bytes(text.as_bytes(), name, &gate::NoFiles, &limits)
            .map_err(|e| Error::Invalid(format!("{field}: {e}")))
    };
    let b = parse("base_spec", base)?;
    let r = parse("revision_spec", revision)?;
    let date = gate::Date::parse(today)
        .map_err(|e| Error::Invalid(format!("the decision's date {today:?}: {e}")))?;
    let report = gate::diff(&b, &r, config, date);
    let findings = report
        .findings
        .into_iter()
        .map(|f| Finding {
            kind: f.kind,
            endpoint: f.endpoint,
            severity: f.severity,
            detail: f.detail,
        })
        .collect();
    let config_digest = config
        .digest()
        .map_err(|e| Error::Invalid(format!("the project's rule configuration: {e}")))?;
    Ok(Classified {
        findings,
        classifier: Classifier {
            engine: gate::ENGINE_NAME.to_owned(),
            engine_version: gate::ENGINE_VERSION.to_owned(),
            config: config.clone(),
            config_digest,
            date: today.to_owned(),
            base: SpecRef {
                name: base.0.to_owned(),
                sha256: sha256_hex(base.1.as_bytes()),
            },
            revision: SpecRef {
                name: revision.0.to_owned(),
                sha256: sha256_hex(revision.1.as_bytes()),
            },
        },
    })
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
            blocked_run: None,
        }
    }

    #[test]
    fn a_project_in_oasdiff_mode_is_classified_as_oasdiff_would() {
        // The project's settings.gate as the admin API receives it.
        let oasdiff: gate::Config = serde_json::from_str(r#"{"compat": "oasdiff"}"#).unwrap();
        let base = "openapi: 3.0.3\ninfo: {title: t, version: '1.0.0'}\npaths:\n  /a:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {type: object, properties: {x: {type: string}}}\n      responses: {'200': {description: ok}}\n";
        // The body split into allOf: the same documents are accepted.
        let revision = base.replace(
            "schema: {type: object, properties: {x: {type: string}}}",
            "schema: {allOf: [{type: object}, {type: object, properties: {x: {type: string}}}]}",
        );
        let kinds = |config: &gate::Config| {
            classify(
                ("b.yaml", base),
                ("r.yaml", &revision),
                config,
                "2025-06-01",
            )
            .unwrap()
            .findings
            .into_iter()
            .map(|f| f.kind)
            .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&gate::Config::default()), Vec::<String>::new());
        assert!(kinds(&oasdiff).contains(&"request_body_all_of_added".to_owned()));
        // The configuration recorded with the decision says which mode it was.
        let c = classify(
            ("b.yaml", base),
            ("r.yaml", &revision),
            &oasdiff,
            "2025-06-01",
        )
        .unwrap();
        assert_ne!(
            c.classifier.config_digest,
            gate::Config::default().digest().unwrap()
        );
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
            findings: Some(vec![finding("a", "GET /", Severity::Err)]),
            artifacts: vec![Artifact {
                name: "openapi.yaml".into(),
                sha256: "a".repeat(64),
            }],
            summary: None,
            base_spec: None,
            revision_spec: None,
            base_name: None,
            revision_name: None,
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
            matches!(bad(|d| d.findings.as_mut().unwrap()[0].endpoint = String::new()), Err(Error::Invalid(m)) if m.contains("findings[0].endpoint"))
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
        assert!(
            matches!(bad(|d| d.base_spec = Some("x".into())), Err(Error::Invalid(m)) if m.contains("not both"))
        );
        assert!(
            matches!(bad(|d| d.findings = None), Err(Error::Invalid(m)) if m.contains("base_spec and revision_spec"))
        );
        assert!(matches!(
            bad(|d| {
                d.findings = None;
                d.base_spec = Some("x".repeat(MAX_SPEC_BYTES + 1));
                d.revision_spec = Some(String::new());
            }),
            Err(Error::Invalid(m)) if m.contains("base_spec is")
        ));
        assert!(
            matches!(bad(|d| d.summary = Some("a\u{1b}[2J".into())), Err(Error::Invalid(m)) if m.contains("summary"))
        );
        let body = r#"{"commit_sha":"abcdef0","branch":"b","author":"a","findings":[],"extra":1}"#;
        assert!(
            serde_json::from_str::<DecisionInput>(body).is_err(),
            "unknown field"
        );
    }
}
