//! Signals bound to the change (`spec/compliance.md`, "Exceptions name
//! their blocked run"): an exception is filed for a blocked gate decision,
//! its change kind has one normal form (the kind the gate's findings
//! carry), and its `github_review` and `consumer_test` signals must name
//! that run's pull request and commits. Pure: the server checks a signal
//! with these functions before recording it, and the verifier checks the
//! recorded evidence with the same ones, offline.

use serde_json::Value;

use crate::Error;
use crate::endpoint::{self, Endpoint};
use crate::record::{BlockedRun, ExceptionRequested, ExceptionSignal, GateDecision, Severity};
use crate::settings::SignalKind;

/// How many catalogue entries a refused kind suggests.
const SUGGESTIONS: usize = 3;

/// The (rule id, kind) of every rule the project's gate configuration can
/// produce: the catalogue's rules that the engine emits and that the
/// configuration does not turn off (`none`).
#[must_use]
pub fn producible_kinds(config: &gate::Config) -> Vec<(&'static str, String)> {
    gate::catalogue::RULES
        .iter()
        .filter(|r| !gate::NEVER_EMITTED.contains(&r.id))
        .filter(|r| {
            let level = config
                .severity_overrides
                .get(r.id)
                .or_else(|| config.severity_overrides.get(&gate::kind_of(r.id)));
            level != Some(&gate::Level::None)
        })
        .map(|r| (r.id, gate::kind_of(r.id)))
        .collect()
}

/// The one form of a change kind given by its oasdiff rule id
/// (`response-required-property-removed`) or its snake_case kind
/// (`response_required_property_removed`), in any case: the kind the
/// gate's findings carry. `run_kinds` are the kinds of the blocked run's
/// findings, taken as they are (a run whose findings CI supplied may carry
/// kinds of its own).
///
/// # Errors
/// [`Error::Invalid`] when no rule of `config` can produce the kind, with
/// the nearest catalogue entries (by edit distance) as suggestions.
pub fn normalize_kind(
    input: &str,
    config: &gate::Config,
    run_kinds: &[&str],
) -> Result<String, Error> {
    let given = input.trim();
    if let Some(k) = run_kinds.iter().find(|k| **k == given) {
        return Ok((*k).to_owned());
    }
    let snake = given.to_ascii_lowercase().replace('-', "_");
    if let Some(k) = run_kinds.iter().find(|k| **k == snake) {
        return Ok((*k).to_owned());
    }
    let producible = producible_kinds(config);
    if let Some((_, kind)) = producible.iter().find(|(_, k)| *k == snake) {
        return Ok(kind.clone());
    }
    let mut near: Vec<(usize, String)> = producible
        .iter()
        .map(|(id, kind)| (edit_distance(&snake, kind), format!("{kind} ({id})")))
        .chain(
            run_kinds
                .iter()
                .map(|k| (edit_distance(&snake, k), (*k).to_owned())),
        )
        .collect();
    near.sort();
    near.dedup_by(|a, b| a.1 == b.1);
    let names: Vec<String> = near.into_iter().take(SUGGESTIONS).map(|(_, n)| n).collect();
    let why = if gate::catalogue::find(&snake.replace('_', "-")).is_some() {
        "the project's gate configuration turns its rule off (or the engine never emits it)"
    } else {
        "no rule of the gate's catalogue produces it"
    };
    Err(Error::Invalid(format!(
        "unknown change kind {given:?}: {why}; did you mean {}? (give a kind of the blocked run's findings, or its oasdiff rule id)",
        names.join(", ")
    )))
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The scope of an exception filed for `run`: its (kind, endpoint) is one
/// of the run's `ERR` findings. `kind` is normalized first
/// ([`normalize_kind`]); the endpoint is the finding's, matched as the gate
/// matches (`METHOD /path`, path-parameter names aside, or the very same
/// text). Both may be empty when the run has exactly one `ERR` finding.
///
/// # Errors
/// [`Error::Invalid`]: the run was not blocked, the kind is unknown, or no
/// `ERR` finding of the run has that kind and endpoint (the message lists
/// the run's blocking findings).
pub fn scope_of(
    run_id: &str,
    run: &GateDecision,
    kind: &str,
    endpoint: &str,
    config: &gate::Config,
) -> Result<(String, String), Error> {
    if !run.blocked {
        return Err(Error::Invalid(format!(
            "run {run_id} was not blocked (verdict {}); an exception is filed for a blocked gate decision",
            run.verdict
        )));
    }
    let errs: Vec<_> = run
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Err)
        .collect();
    let listed = || {
        errs.iter()
            .map(|f| format!("{} on {}", f.kind, f.endpoint))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if kind.trim().is_empty() && endpoint.trim().is_empty() {
        return match errs.as_slice() {
            [only] => Ok((only.kind.clone(), only.endpoint.clone())),
            _ => Err(Error::Invalid(format!(
                "run {run_id} was blocked by several findings; give the kind and endpoint of one: {}",
                listed()
            ))),
        };
    }
    let run_kinds: Vec<&str> = errs.iter().map(|f| f.kind.as_str()).collect();
    let kind = normalize_kind(kind, config, &run_kinds)?;
    let wanted = Endpoint::parse(endpoint).ok().map(|e| e.to_string());
    let found = errs.iter().find(|f| {
        f.kind == kind
            && (f.endpoint == endpoint
                || wanted
                    .as_deref()
                    .is_some_and(|w| endpoint::matches(&f.endpoint, w)))
    });
    match found {
        Some(f) => Ok((f.kind.clone(), f.endpoint.clone())),
        None => {
            // Say what is wrong with the endpoint itself, if anything.
            if wanted.is_none() && !errs.iter().any(|f| f.endpoint == endpoint) {
                Endpoint::parse(endpoint)?;
            }
            Err(Error::Invalid(format!(
                "run {run_id} was not blocked by {kind} on {endpoint}; its blocking findings: {}",
                listed()
            )))
        }
    }
}

/// Whether two commit IDs name the same commit: equal without case, or
/// one an abbreviation (at least 7 hex digits) of the other.
#[must_use]
pub fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    short.len() >= 7 && long.starts_with(short.as_str())
}

/// The commits of a pull request from the blocked run's commit to its head
/// (GitHub lists a pull request's commits oldest first, the last being its
/// head): the run's commit and every later one.
///
/// # Errors
/// [`Error::Forbidden`] when the pull request does not contain the run's
/// commit, or its head is not its last commit.
pub fn commits_since<'a>(
    pr_commits: &'a [String],
    head: &str,
    run: &BlockedRun,
    pull_request: &str,
) -> Result<&'a [String], Error> {
    let Some(at) = pr_commits
        .iter()
        .position(|c| same_commit(c, &run.commit_sha))
    else {
        return Err(Error::Forbidden(format!(
            "{pull_request} does not contain commit {} of the blocked run {}: its signals count only on the pull request of the blocked change",
            run.commit_sha, run.run_id
        )));
    };
    let since = &pr_commits[at..];
    if !since.last().is_some_and(|c| same_commit(c, head)) {
        return Err(Error::Forbidden(format!(
            "{pull_request}: its head {head} is not the last of its commits; try again"
        )));
    }
    Ok(since)
}

/// What a signal of an exception is bound to: the exception's ID, its
/// blocked run and its pull request.
#[derive(Clone, Copy, Debug)]
pub struct Bound<'a> {
    /// The exception's ID.
    pub id: &'a str,
    /// The blocked run it was filed for (`None` before filings named it).
    pub blocked_run: Option<&'a BlockedRun>,
    /// The pull request it names: repository and number.
    pub pull_request: Option<(&'a str, u64)>,
}

impl<'a> Bound<'a> {
    /// What an `exception_requested` record (of ID `id`) binds.
    #[must_use]
    pub fn of_requested(id: &'a str, r: &'a ExceptionRequested) -> Self {
        Bound {
            id,
            blocked_run: r.blocked_run.as_ref(),
            pull_request: r.repository.as_deref().zip(r.pull_request),
        }
    }
}

/// Checks, offline, that a recorded signal is bound to the exception's
/// blocked run: a `github_review` names the exception's pull request, the
/// run's commit, the pull request's commits from it to the head, and a
/// review of that head by someone other than the pull request's author; a
/// `consumer_test` came from a `consumer` principal (`is_consumer` answers
/// for a principal ID; `None` if it is unknown) and names a commit of the
/// pull request at or after the run's (or, without a pull request, the
/// run's commit). Exceptions filed before filings named their run
/// (`blocked_run` absent) are not checked. The server checks what it
/// records with this, and the verifier checks exports with it.
///
/// # Errors
/// [`Error::Invalid`] naming what is not bound.
pub fn check_binding(
    exception: &Bound<'_>,
    signal: &ExceptionSignal,
    is_consumer: impl Fn(&str) -> Option<bool>,
) -> Result<(), Error> {
    let exception_id = exception.id;
    let Some(run) = exception.blocked_run else {
        return Ok(());
    };
    let ev = &signal.evidence;
    let text = |name: &str| ev.get(name).and_then(Value::as_str).unwrap_or_default();
    let fail = |what: String| {
        Err(Error::Invalid(format!(
            "the {} signal of exception {exception_id} {what}",
            signal.signal.as_str()
        )))
    };
    let commits: Vec<&str> = ev
        .get("commits")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let from_run = commits
        .first()
        .is_some_and(|c| same_commit(c, &run.commit_sha));
    if matches!(
        signal.signal,
        SignalKind::GithubReview | SignalKind::ConsumerTest
    ) && text("run_id") != run.run_id
    {
        return fail(format!(
            "names run {:?}, not the blocked run {}",
            text("run_id"),
            run.run_id
        ));
    }
    match signal.signal {
        SignalKind::CodeownerApproval => Ok(()),
        SignalKind::GithubReview => {
            let same_pr = exception.pull_request.is_some_and(|(r, n)| {
                r.eq_ignore_ascii_case(text("repository"))
                    && ev.get("pull_request").and_then(Value::as_u64) == Some(n)
            });
            if !same_pr {
                return fail("is not a review of the exception's pull request".into());
            }
            if !from_run {
                return fail(format!(
                    "does not show the pull request's commits from the blocked run's commit {}",
                    run.commit_sha
                ));
            }
            let head = text("head_commit");
            if !commits.last().is_some_and(|c| same_commit(c, head))
                || !same_commit(text("review_commit"), head)
            {
                return fail(
                    "is not a review of the pull request's head, at or after the blocked run's commit"
                        .into(),
                );
            }
            let (author, reviewer) = (
                ev.get("pr_author_id").and_then(Value::as_u64),
                ev.get("reviewer_id").and_then(Value::as_u64),
            );
            match (author, reviewer) {
                (Some(a), Some(r)) if a != r => Ok(()),
                (Some(_), Some(_)) => fail("is a review by the pull request's author".into()),
                _ => fail("does not name the reviewer's and the author's GitHub ids".into()),
            }
        }
        SignalKind::ConsumerTest => {
            match is_consumer(&signal.submitted_by) {
                Some(true) => {}
                Some(false) => {
                    return fail(format!(
                        "was submitted by {} ({}), which is not a consumer principal",
                        signal.submitted_by_name, signal.submitted_by
                    ));
                }
                None => {
                    return fail(format!(
                        "was submitted by {}, which is not a principal of the project",
                        signal.submitted_by
                    ));
                }
            }
            let commit = text("commit_sha");
            let bound = if exception.pull_request.is_some() {
                from_run && commits.iter().any(|c| same_commit(c, commit))
            } else {
                same_commit(commit, &run.commit_sha)
            };
            if bound {
                Ok(())
            } else {
                fail(format!(
                    "ran on commit {commit:?}, not a commit of the blocked change (run {} on {})",
                    run.run_id, run.commit_sha
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Finding;

    fn run(blocked: bool) -> GateDecision {
        GateDecision {
            submitted_by: "key_ci".into(),
            submitted_by_name: "ci".into(),
            commit_sha: "9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
            branch: "main".into(),
            author: "a".into(),
            findings: vec![
                Finding {
                    kind: "response_property_became_optional".into(),
                    endpoint: "GET /users/{id}".into(),
                    severity: Severity::Err,
                    detail: String::new(),
                },
                Finding {
                    kind: "endpoint_added".into(),
                    endpoint: "GET /x".into(),
                    severity: Severity::Info,
                    detail: String::new(),
                },
            ],
            artifacts: vec![],
            verdict: "ERR".into(),
            blocked,
            blocked_reasons: vec![],
            exceptions_applied: vec![],
            classified_by: "ci".into(),
            classifier: None,
            summary: None,
        }
    }

    #[test]
    fn kinds_have_one_normal_form_and_typos_get_suggestions() {
        let c = gate::Config::default();
        for given in [
            "response-required-property-removed",
            "response_required_property_removed",
            "RESPONSE-REQUIRED-PROPERTY-REMOVED",
        ] {
            assert_eq!(
                normalize_kind(given, &c, &[]).unwrap(),
                "response_required_property_removed"
            );
        }
        let Err(Error::Invalid(m)) = normalize_kind("response-requird-property-removd", &c, &[])
        else {
            panic!("a misspelled kind is refused");
        };
        assert!(
            m.contains("did you mean response_required_property_removed (response-required-property-removed)"),
            "{m}"
        );
        // A rule turned off cannot be excepted.
        let mut off = gate::Config::default();
        off.severity_overrides.insert(
            "response-required-property-removed".into(),
            gate::Level::None,
        );
        assert!(matches!(
            normalize_kind("response_required_property_removed", &off, &[]),
            Err(Error::Invalid(m)) if m.contains("turns its rule off")
        ));
        // The run's own kinds stand as they are.
        assert_eq!(
            normalize_kind("custom_kind", &c, &["custom_kind"]).unwrap(),
            "custom_kind"
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn the_scope_comes_from_the_blocked_run() {
        let c = gate::Config::default();
        let r = run(true);
        let want = (
            "response_property_became_optional".to_owned(),
            "GET /users/{id}".to_owned(),
        );
        assert_eq!(scope_of("run_1", &r, "", "", &c).unwrap(), want);
        assert_eq!(
            scope_of(
                "run_1",
                &r,
                "response-property-became-optional",
                "get /users/{userId}",
                &c
            )
            .unwrap(),
            want
        );
        assert!(matches!(
            scope_of("run_1", &r, "response-property-became-optional", "GET /orders", &c),
            Err(Error::Invalid(m)) if m.contains("its blocking findings: response_property_became_optional on GET /users/{id}")
        ));
        assert!(matches!(
            scope_of("run_1", &r, "endpoint_added", "GET /x", &c),
            Err(Error::Invalid(m)) if m.contains("was not blocked by")
        ));
        assert!(matches!(
            scope_of("run_1", &run(false), "", "", &c),
            Err(Error::Invalid(m)) if m.contains("was not blocked")
        ));
    }

    #[test]
    fn commits_are_taken_from_the_runs_on() {
        let run = BlockedRun {
            run_id: "run_1".into(),
            seq: Some(3),
            digest: format!("sha256:{}", "0".repeat(64)),
            commit_sha: "bbbbbbb".into(),
        };
        let list: Vec<String> = ["aaaaaaa1", "bbbbbbb2", "ccccccc3"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(
            commits_since(&list, "ccccccc3", &run, "pr").unwrap(),
            &list[1..]
        );
        assert!(commits_since(&list[..1], "aaaaaaa1", &run, "pr").is_err());
        assert!(same_commit("ABCDEF0", "abcdef0123") && !same_commit("abc", "abcdef"));
    }
}
