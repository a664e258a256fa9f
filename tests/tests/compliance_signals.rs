//! Issue 25, items 3 and 5, end to end on the real `stateanchor-log` and
//! `stateanchor-verify` with a fake GitHub: an exception names its blocked
//! run, its kind has one normal form, a `github_review` counts only on the
//! pull request of the blocked commit (or a later commit of it), from
//! neither its author nor the requester, and a `consumer_test` comes only
//! from a downstream team's `consumer` key, on a commit of that pull request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use integration_tests::fake_github::Server;
use integration_tests::ledger::{Pull, gh_review, pulls_server};
use integration_tests::{Api, LogServer, bin, check_schema, download};
use serde_json::{Value, json};

/// The commit the blocked run gated.
const RUN: &str = "1111111111111111111111111111111111111111";
/// A later commit of the same pull request.
const LATER: &str = "2222222222222222222222222222222222222222";
/// A commit of an unrelated pull request.
const OTHER: &str = "3333333333333333333333333333333333333333";
/// GitHub ids: alice (the requester), bob, carol (every pull request's author).
const ALICE: u64 = 101;
const BOB: u64 = 102;
const CAROL: u64 = 103;

fn unix_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn rfc3339(ms: i64) -> String {
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}", ms / 1000),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn review(id: u64, login: &str, uid: u64, commit: &str) -> Value {
    // A minute from now: after every filing of the test.
    gh_review(
        id,
        login,
        uid,
        "APPROVED",
        commit,
        &rfc3339(unix_ms() + 60_000),
    )
}

/// Pull requests of acme/api: (commits oldest first, reviews).
fn pull(n: u64) -> Option<(Vec<&'static str>, Vec<Value>)> {
    Some(match n {
        // The blocked commit is the head; approved by its author and by the requester.
        1 => (
            vec![RUN],
            vec![
                review(11, "carol-gh", CAROL, RUN),
                review(12, "alice-gh", ALICE, RUN),
            ],
        ),
        // An unrelated pull request, approved by bob.
        2 => (vec![OTHER], vec![review(21, "bob-gh", BOB, OTHER)]),
        // The blocked commit and a later one; bob approved the later one.
        3 => (vec![RUN, LATER], vec![review(31, "bob-gh", BOB, LATER)]),
        _ => return None,
    })
}

type Seen = Arc<Mutex<Vec<String>>>;

/// A fake GitHub serving acme/api's pull requests (carol-gh authors them
/// all), commits, reviews and users; it remembers every pull request asked.
fn fake_github(seen: Seen) -> Server {
    pulls_server(
        move |repo, n| {
            seen.lock().unwrap().push(format!("{repo}#{n}"));
            let (commits, reviews) = pull(n).filter(|_| repo == "acme/api")?;
            Some(Pull {
                author: ("carol-gh".into(), CAROL),
                commits: commits.into_iter().map(str::to_owned).collect(),
                reviews,
            })
        },
        &[("alice-gh", ALICE), ("bob-gh", BOB), ("carol-gh", CAROL)],
    )
}

struct Keys {
    ci: String,
    alice: String,
    consumer: String,
    auditor: String,
}

fn principal(api: &Api, admin: &str, project: &str, body: &Value) -> (u16, Value) {
    api.post(
        &format!("/v1/admin/projects/{project}/principals"),
        admin,
        body,
    )
}

fn setup(api: &Api, admin: &str) -> (String, Keys) {
    let (st, v) = api.post(
        "/v1/admin/projects",
        admin,
        &json!({"name": "signals",
                "accepted_signals": ["codeowner_approval", "consumer_test", "github_review"]}),
    );
    assert_eq!(st, 201, "{v}");
    let id = v["project_id"].as_str().unwrap().to_owned();
    let (st, v) = api.send(
        "PATCH",
        &format!("/v1/admin/projects/{id}/settings"),
        Some(admin),
        Some(&json!({"github_repository": "acme/api"})),
    );
    assert_eq!(st, 200, "{v}");
    let key = |body: Value| {
        let (st, v) = principal(api, admin, &id, &body);
        assert_eq!(st, 201, "{v}");
        v["api_key"].as_str().unwrap().to_owned()
    };
    let keys = Keys {
        ci: key(json!({"name": "ci", "roles": ["ci"]})),
        alice: key(json!({"name": "alice", "roles": ["codeowner"], "github_login": "alice-gh"})),
        consumer: key(json!({"name": "mobile team", "roles": ["consumer"]})),
        auditor: key(json!({"name": "auditor", "roles": ["auditor"]})),
    };
    key(json!({"name": "bob", "roles": ["codeowner"], "github_login": "bob-gh"}));
    key(json!({"name": "carol", "roles": ["codeowner"], "github_login": "carol-gh"}));
    (id, keys)
}

fn decision(commit: &str, severity: &str) -> Value {
    json!({
        "commit_sha": commit, "branch": "feature", "author": "carol",
        "findings": [{"kind": "response_property_became_optional", "endpoint": "GET /users/{id}",
                      "severity": severity, "detail": "name became optional"}],
        "artifacts": [],
    })
}

#[test]
fn signals_are_bound_to_the_blocked_change() {
    let seen: Seen = Arc::default();
    let gh = fake_github(seen.clone());
    let s = LogServer::start(&["--github-api", &gh.url]);
    let api = Api::new(&s);
    let (project, k) = setup(&api, &s.admin_key);
    let decisions = format!("/api/projects/{project}/decisions");
    let exceptions = format!("/api/projects/{project}/exceptions");

    // A consumer key is a downstream team's: it never submits decisions,
    // and no key is both ci and consumer.
    let (st, v) = api.post(&decisions, &k.consumer, &decision(RUN, "ERR"));
    assert_eq!(st, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("consumer key"), "{v}");
    let (st, v) = principal(
        &api,
        &s.admin_key,
        &project,
        &json!({"name": "both", "roles": ["ci", "consumer"]}),
    );
    assert_eq!(st, 400, "{v}");

    let (st, run) = api.post(&decisions, &k.ci, &decision(RUN, "ERR"));
    assert_eq!((st, run["blocked"].as_bool()), (201, Some(true)), "{run}");
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let (st, passed) = api.post(&decisions, &k.ci, &decision(RUN, "WARN"));
    assert_eq!(st, 201, "{passed}");
    let passed_id = passed["run_id"].as_str().unwrap().to_owned();

    let filing = |kind: &str, run: Option<&str>, pr: Option<u64>, repo: Option<&str>| {
        let mut body = json!({"kind": kind, "endpoint": "get /users/{userId}",
                              "reason": "mobile clients read name as optional already",
                              "expires_at": rfc3339(unix_ms() + 86_400_000)});
        if let Some(r) = run {
            body["run_id"] = json!(r);
        }
        if let Some(n) = pr {
            body["pull_request"] = json!(n);
        }
        if let Some(r) = repo {
            body["repository"] = json!(r);
        }
        api.post(&exceptions, &k.alice, &body)
    };
    let count = || {
        let (_, l) = api.get(&exceptions, &k.auditor);
        l["exceptions"].as_array().unwrap().len()
    };

    // Refused filings record nothing: no run, an unknown run, a run that
    // passed, a misspelled kind (with suggestions), a kind of no finding.
    let (st, v) = filing("response_property_became_optional", None, Some(1), None);
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("run_id is required"),
        "{v}"
    );
    let (st, v) = filing(
        "response_property_became_optional",
        Some("run_nope"),
        None,
        None,
    );
    assert_eq!(st, 400, "{v}");
    let (st, v) = filing(
        "response_property_became_optional",
        Some(&passed_id),
        None,
        None,
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("was not blocked"),
        "{v}"
    );
    let (st, v) = filing(
        "response-property-becam-optional",
        Some(&run_id),
        None,
        None,
    );
    assert_eq!(st, 400, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("unknown change kind")
            && msg.contains("did you mean response_property_became_optional"),
        "{msg}"
    );
    let (st, v) = filing(
        "response-required-property-removed",
        Some(&run_id),
        None,
        None,
    );
    assert_eq!(st, 400, "a kind the run was not blocked by: {v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("its blocking findings"),
        "{v}"
    );
    // A repository the project is not connected to: the same answer
    // whether or not it exists, and GitHub is not asked.
    let asked = seen.lock().unwrap().len();
    let (st, a) = filing(
        "response_property_became_optional",
        Some(&run_id),
        Some(1),
        Some("acme/secret"),
    );
    let (st2, b) = filing(
        "response_property_became_optional",
        Some(&run_id),
        Some(1),
        Some("acme/nothing"),
    );
    assert_eq!((st, st2), (400, 400), "{a} {b}");
    assert_eq!(
        a["error"].as_str().unwrap().replace("acme/secret", "X"),
        b["error"].as_str().unwrap().replace("acme/nothing", "X")
    );
    assert_eq!(seen.lock().unwrap().len(), asked, "GitHub was not asked");
    assert_eq!(count(), 0, "a refused filing records nothing");

    // Filed by the oasdiff rule id: the gate's kind and the run's endpoint
    // are stored, with the run.
    let file = |pr: u64| {
        let (st, v) = filing(
            "response-property-became-optional",
            Some(&run_id),
            Some(pr),
            None,
        );
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["kind"], "response_property_became_optional");
        assert_eq!(v["endpoint"], "GET /users/{id}");
        assert_eq!(v["blocked_run"]["run_id"], run_id.as_str());
        assert_eq!(v["blocked_run"]["commit_sha"], RUN);
        assert_eq!(v["repository"], "acme/api");
        v["exception_id"].as_str().unwrap().to_owned()
    };
    let signal = |key: &str, exc: &str, body: &Value| {
        api.post(&format!("{exceptions}/{exc}/signals"), key, body)
    };
    let review = json!({"type": "github_review"});

    // An unrelated pull request's approval does not activate.
    let unrelated = file(2);
    let (st, v) = signal(&k.alice, &unrelated, &review);
    assert_eq!(st, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("does not contain commit"),
        "{v}"
    );
    // The pull request's author and the requester do not count.
    let own = file(1);
    let (st, v) = signal(&k.ci, &own, &review);
    assert_eq!(st, 403, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("carol-gh authored the pull request") && msg.contains("alice-gh requested"),
        "{msg}"
    );
    // A review of a later commit of the same pull request counts.
    let later = file(3);
    let (st, v) = signal(&k.ci, &later, &review);
    assert_eq!(st, 201, "{v}");
    let (_, e) = api.get(&format!("{exceptions}/{later}"), &k.auditor);
    let ev = &e["events"][1]["record"]["evidence"];
    assert_eq!(ev["commits"], json!([RUN, LATER]), "{e}");
    assert_eq!(
        (ev["reviewer_id"].as_u64(), ev["pr_author_id"].as_u64()),
        (Some(BOB), Some(CAROL))
    );
    assert_eq!(ev["run_id"], run_id.as_str());

    // Consumer tests: a ci key's is refused, a consumer key's on a commit
    // that is not of the pull request is refused, on a later one accepted.
    let test = |commit: &str| {
        json!({"type": "consumer_test", "test_name": "mobile-contract", "run_url": "https://ci.example/7",
               "commit_sha": commit, "kind": "response_property_became_optional",
               "endpoint": "GET /users/{id}"})
    };
    let consumed = file(3);
    let (st, v) = signal(&k.ci, &consumed, &test(LATER));
    assert_eq!(st, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("consumer key"), "{v}");
    let (st, v) = signal(&k.consumer, &consumed, &test(OTHER));
    assert_eq!(st, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not a commit of pull request"),
        "{v}"
    );
    let (st, v) = signal(&k.consumer, &consumed, &test(LATER));
    assert_eq!(st, 201, "{v}");
    for (exc, status) in [
        (&unrelated, "ANERGIC"),
        (&own, "ANERGIC"),
        (&later, "ACTIVE"),
        (&consumed, "ACTIVE"),
    ] {
        let (_, e) = api.get(&format!("{exceptions}/{exc}"), &k.auditor);
        assert_eq!(e["status"], status, "{e}");
    }

    // The change now passes; the export verifies offline, bindings included.
    let (st, v) = api.post(&decisions, &k.ci, &decision(LATER, "ERR"));
    assert_eq!((st, v["blocked"].as_bool()), (201, Some(false)), "{v}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    download(
        &s.url,
        &format!("/api/projects/{project}/compliance-export"),
        &k.auditor,
        &path,
    );
    check_schema(&path);
    let out = Command::new(bin("stateanchor-verify"))
        .args(["export", path.to_str().unwrap(), "--key", &s.verifier_key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
