//! The compliance product end to end, over HTTP on the real `stateanchor-log`
//! binary: projects and principals, the CI gate, the exception ledger
//! (filing, refused and accepted signals, expiry, revocation, GitHub
//! reviews against a fake GitHub API), and compliance exports in both
//! formats, verified offline by the real `stateanchor-verify` (and refused
//! once tampered with).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use integration_tests::fake_github::Server;
use integration_tests::ledger::{Pull, blocked_run, gh_review, pulls_server};
use integration_tests::{Api, LogServer, bin, check_schema, settled};
use serde_json::{Value, json};

/// A project and the keys of its principals.
struct Project {
    id: String,
    ci: String,
    alice: String,
    bob: String,
    bot: String,
    consumer: String,
    auditor: String,
    admin: String,
    alice_id: String,
    bob_id: String,
}

fn principal(api: &Api, admin: &str, project: &str, body: Value) -> (String, String) {
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{project}/principals"),
        admin,
        &body,
    );
    assert_eq!(st, 201, "{v}");
    (
        v["api_key"].as_str().unwrap().to_owned(),
        v["principal_id"].as_str().unwrap().to_owned(),
    )
}

fn project(api: &Api, admin: &str, name: &str) -> Project {
    let (st, v) = api.post(
        "/v1/admin/projects",
        admin,
        &json!({"name": name, "bot_deny_list": ["renovate"],
                "accepted_signals": ["codeowner_approval", "consumer_test", "github_review"]}),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["settings"]["max_exception_lifetime_seconds"], 90 * 86_400);
    let id = v["project_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("prj_") && !id.contains(name));
    let p = |body| principal(api, admin, &id, body);
    let (ci, _) = p(json!({"name": "ci", "roles": ["ci"], "bot": false}));
    let (alice, alice_id) =
        p(json!({"name": "alice", "roles": ["codeowner"], "github_login": "alice-gh"}));
    let (bob, bob_id) = p(json!({"name": "bob", "roles": ["codeowner"], "github_login": "bob-gh"}));
    let (bot, _) = p(json!({"name": "dependabot", "roles": ["codeowner"], "bot": true}));
    let (consumer, _) = p(json!({"name": "mobile team", "roles": ["consumer"]}));
    let (auditor, _) = p(json!({"name": "auditor", "roles": ["auditor"]}));
    let (admin_key, _) = p(json!({"name": "project admin", "roles": ["admin"]}));
    Project {
        id,
        ci,
        alice,
        bob,
        bot,
        consumer,
        auditor,
        admin: admin_key,
        alice_id,
        bob_id,
    }
}

fn decision(findings: Value) -> Value {
    json!({
        "commit_sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "branch": "main",
        "author": "Alice Example <alice@example.com>",
        "findings": findings,
        "artifacts": [{"name": "openapi.yaml", "sha256": "a".repeat(64)}],
    })
}

fn err(kind: &str, endpoint: &str) -> Value {
    json!([{"kind": kind, "endpoint": endpoint, "severity": "ERR", "detail": "field id removed"},
           {"kind": "doc_changed", "endpoint": endpoint, "severity": "INFO"}])
}

fn unix_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// RFC 3339 UTC of a Unix time in ms, by the `date` command's rules (no date crate here).
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

fn today(offset_days: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("{offset_days} days"), "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Submits (CI) a decision on [`HEAD`] blocked by `response_field_removed`
/// on each of `endpoints`: the run exceptions for them are filed for.
fn blocked(api: &Api, p: &Project, endpoints: &[&str]) -> String {
    let errs: Vec<(&str, &str)> = endpoints
        .iter()
        .map(|e| ("response_field_removed", *e))
        .collect();
    blocked_run(api, &p.id, &p.ci, HEAD, &errs)
}

fn file_exception(
    api: &Api,
    p: &Project,
    key: &str,
    run: &str,
    endpoint: &str,
    expires_ms: i64,
) -> (u16, Value) {
    api.post(
        &format!("/api/projects/{}/exceptions", p.id),
        key,
        &json!({"run_id": run, "kind": "response_field_removed", "endpoint": endpoint,
                "reason": "mobile clients migrated to v2", "expires_at": rfc3339(expires_ms)}),
    )
}

fn signal(api: &Api, p: &Project, key: &str, exc: &str, body: &Value) -> (u16, Value) {
    api.post(
        &format!("/api/projects/{}/exceptions/{exc}/signals", p.id),
        key,
        body,
    )
}

fn decide(api: &Api, p: &Project, findings: Value) -> Value {
    let (st, v) = api.post(
        &format!("/api/projects/{}/decisions", p.id),
        &p.ci,
        &decision(findings),
    );
    assert_eq!(st, 201, "{v}");
    v
}

/// The head commit of every pull request of the fake GitHub.
const HEAD: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";

/// The GitHub ids of the fake GitHub's users; dave-gh authors every pull
/// request (a review counts only from someone who is neither its author
/// nor the requester).
const GH_USERS: [(&str, u64); 5] = [
    ("alice-gh", 101),
    ("bob-gh", 102),
    ("carol", 103),
    ("dependabot[bot]", 104),
    ("dave-gh", 105),
];

/// A fake GitHub that serves pull requests 7 to 11 of example/api (their
/// author, their one commit [`HEAD`] (the blocked run's), their reviews)
/// and its users.
fn fake_github() -> Server {
    fn review(id: u64, login: &str, state: &str) -> Value {
        // Submitted a minute from now: after any exception of the test was filed.
        let later = rfc3339(unix_ms() + 60_000);
        review_at(id, login, state, HEAD, &later)
    }
    fn review_at(id: u64, login: &str, state: &str, commit: &str, at: &str) -> Value {
        let uid = GH_USERS.iter().find(|(l, _)| *l == login).unwrap().1;
        gh_review(id, login, uid, state, commit, at)
    }
    pulls_server(
        |repo, n| {
            if repo != "example/api" {
                return None;
            }
            let reviews = match n {
                7 => vec![
                    review(1, "carol", "COMMENTED"),
                    review(2, "bob-gh", "APPROVED"),
                ],
                8 => vec![
                    review(3, "alice-gh", "APPROVED"),
                    review(4, "dependabot[bot]", "APPROVED"),
                ],
                9 => vec![
                    review(5, "bob-gh", "APPROVED"),
                    review(6, "bob-gh", "CHANGES_REQUESTED"),
                ],
                // An approval of an older commit (stale).
                10 => vec![review_at(
                    7,
                    "bob-gh",
                    "APPROVED",
                    "0000000",
                    &rfc3339(unix_ms() + 60_000),
                )],
                // An approval from before the exception was filed.
                11 => vec![review_at(
                    8,
                    "bob-gh",
                    "APPROVED",
                    HEAD,
                    "2020-01-01T00:00:00Z",
                )],
                _ => return None,
            };
            Some(Pull {
                author: ("dave-gh".into(), 105),
                commits: vec![HEAD.into()],
                reviews,
            })
        },
        &GH_USERS,
    )
}

fn verify(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin("stateanchor-verify"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn export(
    api: &Api,
    p: &Project,
    key: &str,
    query: &str,
    dir: &Path,
) -> (std::path::PathBuf, String) {
    let resp = api
        .http
        .get(format!(
            "{}/api/projects/{}/compliance-export?{query}",
            api.url, p.id
        ))
        .bearer_auth(key)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let cd = resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let name = cd
        .strip_prefix("attachment; filename=\"")
        .and_then(|s| s.strip_suffix('"'))
        .unwrap()
        .to_owned();
    let body = resp.bytes().unwrap();
    let path = dir.join(&name);
    std::fs::write(&path, &body).unwrap();
    (path, name)
}

/// Changes the first occurrence of `from` after `after` into `to`.
fn tamper(src: &Path, dst: &Path, after: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(src).unwrap();
    let start = text
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in the export"));
    let at = start
        + text[start..]
            .find(from)
            .unwrap_or_else(|| panic!("{from:?} not after {after:?}"));
    let mut out = text[..at].to_owned();
    out.push_str(to);
    out.push_str(&text[at + from.len()..]);
    std::fs::write(dst, out).unwrap();
}

#[test]
fn the_whole_lifecycle_and_verified_exports() {
    let gh = fake_github();
    let s = LogServer::start(&["--github-api", &gh.url]);
    let api = Api::new(&s);
    let p = project(&api, &s.admin_key, "payments-api");
    let ep = "GET /users/{id}";

    // The blocked run every exception below is filed for: one ERR finding
    // for each of their endpoints.
    let run = blocked(
        &api,
        &p,
        &[
            ep,
            "DELETE /users/{id}",
            "PATCH /users/{id}",
            "GET /plain",
            "GET /x",
        ],
    );

    // File: ANERGIC; the requester is the caller.
    let expires = unix_ms() + 6_000;
    let (st, e1) = file_exception(&api, &p, &p.alice, &run, ep, expires);
    assert_eq!(st, 201, "{e1}");
    assert_eq!(e1["status"], "ANERGIC");
    assert_eq!(e1["requested_by"], p.alice_id.as_str());
    let e1_id = e1["exception_id"].as_str().unwrap().to_owned();

    // An ANERGIC exception lets nothing through.
    let v = decide(&api, &p, err("response_field_removed", ep));
    assert_eq!(
        (v["verdict"].as_str(), v["blocked"].as_bool()),
        (Some("ERR"), Some(true))
    );
    assert!(
        v["blocked_reasons"][0]
            .as_str()
            .unwrap()
            .contains("ANERGIC"),
        "{v}"
    );

    // Refused with 403 and a reason: the requester, a bot, a non-codeowner.
    let approve = json!({"type": "codeowner_approval", "comment": "LGTM"});
    let (st, v) = signal(&api, &p, &p.alice, &e1_id, &approve);
    assert_eq!(st, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("requested"), "{v}");
    let (st, v) = signal(&api, &p, &p.bot, &e1_id, &approve);
    assert_eq!(st, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("bot"), "{v}");
    for key in [&p.auditor, &p.ci, &p.admin] {
        let (st, v) = signal(&api, &p, key, &e1_id, &approve);
        assert_eq!(st, 403, "{v}");
        assert!(v["error"].as_str().unwrap().contains("codeowner"), "{v}");
    }
    let (st, v) = signal(
        &api,
        &p,
        &p.bob,
        &e1_id,
        &json!({"type": "consumer_test", "test_name": "t", "run_url": "https://ci/1",
                "commit_sha": "abcdef0", "kind": "response_field_removed", "endpoint": "GET /users/{id}"}),
    );
    assert_eq!(st, 403, "a consumer test from a codeowner key: {v}");

    // A second codeowner activates it.
    let (st, v) = signal(&api, &p, &p.bob, &e1_id, &approve);
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["status"], "ACTIVE");
    assert_eq!(v["approver"], p.bob_id.as_str());
    assert!(v["approval_latency_ms"].as_u64().is_some());
    let (st, v) = signal(&api, &p, &p.bob, &e1_id, &approve);
    assert_eq!(st, 409, "already active: {v}");

    // The matching ERR passes and names the exception; the same kind elsewhere blocks.
    let v = decide(&api, &p, err("response_field_removed", ep));
    assert_eq!(v["blocked"], false, "{v}");
    assert_eq!(v["verdict"], "ERR");
    assert_eq!(v["exceptions_applied"], json!([e1_id]));
    let passed_run = v["run_id"].as_str().unwrap().to_owned();
    let v = decide(&api, &p, err("response_field_removed", "GET /users"));
    assert_eq!(v["blocked"], true, "{v}");
    let v = decide(&api, &p, json!([]));
    assert_eq!(
        (v["verdict"].as_str(), v["blocked"].as_bool()),
        (Some("PASS"), Some(false))
    );
    let (st, v) = api.post(
        &format!("/api/projects/{}/decisions?wait=checkpoint", p.id),
        &p.ci,
        &decision(json!([{"kind": "x", "endpoint": "GET /", "severity": "WARN"}])),
    );
    assert_eq!(st, 201);
    assert_eq!(v["verdict"], "WARN");
    check_inclusion(&s, &v, v["log_index"].as_u64().unwrap());

    // GET a decision: record, envelope, log index, proof, checkpoint.
    let (st, d) = api.get(
        &format!("/api/projects/{}/decisions/{passed_run}", p.id),
        &p.auditor,
    );
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["record"]["exceptions_applied"], json!([e1_id]));
    let env: Value = serde_json::from_str(
        d["envelope"]
            .as_str()
            .unwrap()
            .strip_prefix("stateanchor-envelope/v2\n")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(env["project"], p.id.as_str());
    assert_eq!(env["type"], "gate_decision");
    assert!(
        !d["envelope"].as_str().unwrap().contains("alice"),
        "no customer content in the public leaf"
    );
    check_inclusion(&s, &d, d["log_index"].as_u64().unwrap());
    let (_, entry) = api.get(&format!("/v1/entries/{}", d["log_index"]), &p.auditor);
    use base64::Engine as _;
    let public = base64::engine::general_purpose::STANDARD
        .decode(entry["entry"].as_str().unwrap())
        .unwrap();
    assert_eq!(public, d["envelope"].as_str().unwrap().as_bytes());

    // After expiry it blocks again, and the expiry is recorded.
    std::thread::sleep(Duration::from_millis(
        u64::try_from(expires - unix_ms() + 300).unwrap_or(0),
    ));
    let v = decide(&api, &p, err("response_field_removed", ep));
    assert_eq!(v["blocked"], true, "{v}");
    assert!(
        v["blocked_reasons"][0]
            .as_str()
            .unwrap()
            .contains("EXPIRED"),
        "{v}"
    );
    let (st, ex) = api.get(
        &format!("/api/projects/{}/exceptions/{e1_id}", p.id),
        &p.auditor,
    );
    assert_eq!(st, 200);
    assert_eq!(ex["status"], "EXPIRED");
    let types: Vec<&str> = ex["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "exception_requested",
            "exception_signal",
            "exception_activated",
            "exception_expired"
        ]
    );
    assert!(
        ex["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["log_index"].as_u64().is_some())
    );
    let (st, _) = signal(&api, &p, &p.bob, &e1_id, &approve);
    assert_eq!(st, 409, "an expired exception cannot be activated");

    // A consumer test from a downstream team's consumer key (on the
    // blocked run's commit) activates; revocation ends it.
    let (_, e2) = file_exception(
        &api,
        &p,
        &p.alice,
        &run,
        "DELETE /users/{id}",
        unix_ms() + 86_400_000,
    );
    let e2_id = e2["exception_id"].as_str().unwrap().to_owned();
    let (st, v) = signal(
        &api,
        &p,
        &p.consumer,
        &e2_id,
        &json!({"type": "consumer_test", "test_name": "mobile-contract", "run_url": "https://ci.example/runs/42",
                "commit_sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
                "kind": "response_field_removed", "endpoint": "DELETE /users/{userId}"}),
    );
    assert_eq!(st, 201, "{v}");
    let v = decide(
        &api,
        &p,
        err("response_field_removed", "DELETE /users/{id}"),
    );
    assert_eq!(v["blocked"], false);
    let (st, v) = api.post(
        &format!("/api/projects/{}/exceptions/{e2_id}/revoke", p.id),
        &p.alice,
        &json!({"reason": "rolled back"}),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["status"], "REVOKED");
    let v = decide(
        &api,
        &p,
        err("response_field_removed", "DELETE /users/{id}"),
    );
    assert_eq!(v["blocked"], true);
    assert!(
        v["blocked_reasons"][0]
            .as_str()
            .unwrap()
            .contains("REVOKED"),
        "{v}"
    );
    let (st, _) = api.post(
        &format!("/api/projects/{}/exceptions/{e2_id}/revoke", p.id),
        &p.alice,
        &json!({"reason": "again"}),
    );
    assert_eq!(st, 409);

    // GitHub reviews: a signal is read from the pull request the exception
    // names; only a standing approval by another codeowner, of the pull
    // request's head commit, submitted after the filing, counts. Pull
    // requests name the project's connected repository: connecting GitHub
    // is a change of the project's controls, recorded with the date it was
    // established.
    let settings_path = format!("/v1/admin/projects/{}/settings", p.id);
    let (st, v) = api.send(
        "PATCH",
        &settings_path,
        Some(&s.admin_key),
        Some(&json!({"github_repository": "example/api"})),
    );
    assert_eq!(st, 200, "{v}");
    let connected_at = v["settings"]["github"]["connected_at"].clone();
    let for_pr = |pr: u64| {
        let (st, v) = api.post(
            &format!("/api/projects/{}/exceptions", p.id),
            &p.alice,
            &json!({"run_id": run, "kind": "response_field_removed", "endpoint": "PATCH /users/{id}",
                    "reason": "mobile clients migrated to v2", "expires_at": rfc3339(unix_ms() + 86_400_000),
                    "repository": "example/api", "pull_request": pr}),
        );
        assert_eq!(st, 201, "{v}");
        assert_eq!(
            (v["repository"].as_str(), v["pull_request"].as_u64()),
            (Some("example/api"), Some(pr))
        );
        v["exception_id"].as_str().unwrap().to_owned()
    };
    let gr = json!({"type": "github_review"});
    let (st, v) = signal(&api, &p, &p.ci, &for_pr(8), &gr);
    assert_eq!(st, 403, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("alice-gh requested") && msg.contains("dependabot[bot] is a bot"),
        "{msg}"
    );
    let (st, v) = signal(&api, &p, &p.ci, &for_pr(9), &gr);
    assert_eq!(st, 403, "changes requested after the approval: {v}");
    let (st, v) = signal(&api, &p, &p.ci, &for_pr(10), &gr);
    assert_eq!(st, 403, "a stale approval: {v}");
    assert!(v["error"].as_str().unwrap().contains("stale"), "{v}");
    let (st, v) = signal(&api, &p, &p.ci, &for_pr(11), &gr);
    assert_eq!(st, 403, "an approval older than the exception: {v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("before the exception was filed"),
        "{v}"
    );
    let (st, v) = signal(&api, &p, &p.ci, &for_pr(404), &gr);
    assert_eq!(st, 400, "{v}");
    let (st, v) = api.post(
        &format!("/api/projects/{}/exceptions", p.id),
        &p.alice,
        &json!({"run_id": run, "kind": "response_field_removed", "endpoint": "GET /x", "reason": "r",
                "expires_at": rfc3339(unix_ms() + 86_400_000), "repository": "example/api"}),
    );
    assert_eq!(st, 400, "a repository without a pull request: {v}");
    let e3_id = for_pr(7);
    let (st, v) = signal(
        &api,
        &p,
        &p.alice,
        &e3_id,
        &json!({"type": "github_review", "repository": "example/api", "pull_request": 8}),
    );
    assert_eq!(st, 400, "another pull request than the exception's: {v}");
    let (_, plain) = file_exception(
        &api,
        &p,
        &p.alice,
        &run,
        "GET /plain",
        unix_ms() + 86_400_000,
    );
    let plain = plain["exception_id"].as_str().unwrap().to_owned();
    let (st, v) = signal(&api, &p, &p.ci, &plain, &gr);
    assert_eq!(st, 400, "an exception that names no pull request: {v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("names no pull request"),
        "{v}"
    );
    let (st, v) = signal(&api, &p, &p.alice, &e3_id, &gr);
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["approver"], p.bob_id.as_str());
    let (_, v) = api.get(
        &format!("/api/projects/{}/exceptions/{e3_id}", p.id),
        &p.auditor,
    );
    let evidence = &v["events"][1]["record"]["evidence"];
    assert_eq!(evidence["review_commit"], HEAD, "{v}");
    assert_eq!(evidence["head_commit"], HEAD);
    assert!(evidence["review_submitted_at"].is_string());

    // Listing by status.
    let (_, l) = api.get(
        &format!("/api/projects/{}/exceptions?status=ACTIVE", p.id),
        &p.auditor,
    );
    let ids: Vec<&str> = l["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["exception_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [e3_id.as_str()]);
    let (_, l) = api.get(&format!("/api/projects/{}/exceptions", p.id), &p.ci);
    assert_eq!(l["exceptions"].as_array().unwrap().len(), 9);

    // A connected project's exceptions name pull requests of its repository.
    let (st, v) = api.post(
        &format!("/api/projects/{}/exceptions", p.id),
        &p.alice,
        &json!({"run_id": run, "kind": "response_field_removed", "endpoint": "GET /x", "reason": "r",
            "expires_at": rfc3339(unix_ms() + 3_600_000), "repository": "other/repo", "pull_request": 3}),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("connected to the GitHub repository example/api"),
        "{v}"
    );

    // Exports in both formats verify offline, and with the log.
    let dir = tempfile::tempdir().unwrap();
    let q = format!("from={}&to={}", today(-1), today(0));
    let (json_file, name) = export(
        &api,
        &p,
        &p.auditor,
        &format!("{q}&format=json"),
        dir.path(),
    );
    assert_eq!(
        name,
        format!(
            "stateanchor-soc2-evidence-{}-{}-{}.json",
            p.id,
            today(-1),
            today(0)
        )
    );
    let (md_file, name) = export(
        &api,
        &p,
        &p.admin,
        &format!("{q}&format=markdown"),
        dir.path(),
    );
    assert!(name.ends_with(".md"));
    let md = std::fs::read_to_string(&md_file).unwrap();
    for want in [
        "## A. Change-management records",
        "## B. Exception authorization records",
        "## C. Access and authorization summary",
        "## D. Audit-trail integrity",
        "payments-api",
        "**P95",
        // Section B: by name, with the justification and the activation signal.
        "| Exception | Change kind | Endpoint | Requested by | Filed | Justification | Approved by | Activation signal |",
        "codeowner_approval by bob at ",
        "github_review by bob at ",
        // Section C: the project, its GitHub connection, the counts, the changes.
        "| Project created | ",
        "| GitHub connection | example/api since ",
        "| Exceptions resolved | ",
        "| Approvers (second signals accepted) | 2: bob (2 approvals), mobile team (1 approval) |",
        "| Second signals accepted | codeowner_approval, consumer_test, github_review |",
        "Changes of the project's controls in the period: 2.",
    ] {
        assert!(
            md.contains(want),
            "{want} missing from the Markdown export:\n{md}"
        );
    }
    let exported: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    check_schema(&json_file);
    assert_eq!(
        exported["section_a_change_management"]
            .as_array()
            .unwrap()
            .len(),
        9,
        "8, and the blocked run the exceptions were filed for"
    );
    // Every record type: the envelope holds no private field (no string of
    // the record but its envelope fields), and every record is salted.
    let mut proven: Vec<&Value> = Vec::new();
    for key in [
        "section_a_change_management",
        "section_b_exception_authorization",
        "section_c_control_changes",
    ] {
        proven.extend(exported[key].as_array().unwrap());
    }
    proven.push(&exported["section_d_audit_trail_integrity"]["export_record"]);
    let mut types = std::collections::BTreeSet::new();
    for r in proven {
        let (record, envelope) = (&r["record"], r["envelope"].as_str().unwrap());
        types.insert(record["type"].as_str().unwrap().to_owned());
        assert!(record["salt"].as_str().unwrap().len() >= 32, "{record}");
        let env: Value =
            serde_json::from_str(envelope.strip_prefix("stateanchor-envelope/v2\n").unwrap())
                .unwrap();
        let keys: Vec<&String> = env.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["digest", "id", "project", "seq", "time", "type", "v"]
        );
        fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::String(s) => out.push(s),
                Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
                Value::Object(o) => o.values().for_each(|x| strings(x, out)),
                _ => {}
            }
        }
        let mut private = Vec::new();
        for (k, v) in record.as_object().unwrap() {
            if !["id", "project", "time", "type"].contains(&k.as_str()) {
                strings(v, &mut private);
            }
        }
        // (A value equal to a public envelope field, such as the time a
        // GitHub connection was made, which is the record's time, is public.)
        let public = |t: &str| {
            ["id", "project", "time"]
                .iter()
                .any(|k| env[*k].as_str().unwrap().contains(t))
        };
        for text in private.into_iter().filter(|t| t.len() > 3 && !public(t)) {
            assert!(
                !envelope.contains(text),
                "{text:?} of {record} leaks into {envelope}"
            );
        }
    }
    let all = [
        "compliance_export",
        "exception_activated",
        "exception_expired",
        "exception_requested",
        "exception_revoked",
        "exception_signal",
        "gate_decision",
        "project_settings_changed",
    ];
    assert_eq!(types.iter().map(String::as_str).collect::<Vec<_>>(), all);
    let summary = &exported["section_c_access_and_authorization"];
    assert_eq!(summary["approval_latency"]["activations"], 3);
    assert_eq!(
        exported["header"]["settings"]["github"]["connected_at"],
        connected_at
    );
    assert!(exported["header"]["project_created_at"].is_string());
    let changes: Vec<&Value> = exported["section_c_control_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["record"]["changed"])
        .collect();
    assert_eq!(changes, [&json!(["created"]), &json!(["github"])]);
    assert_eq!(summary["control_changes"], 2);
    assert_eq!(summary["exception_counts"]["activated"], 3);
    // The consumer test came from the downstream team's consumer key.
    assert_eq!(summary["approvers"], json!({"bob": 2, "mobile team": 1}));
    for e in summary["exceptions"].as_object().unwrap().values() {
        assert!(
            e["requested_by_name"].is_string() && e["reason"].is_string(),
            "{e}"
        );
        if let Some(a) = e["activation"].as_object() {
            assert!(
                ["bob", "mobile team"].contains(&a["approver_name"].as_str().unwrap()),
                "{e}"
            );
            assert!(a["signal"].is_string(), "{e}");
        }
    }
    let key = s.verifier_key.clone();
    for f in [&json_file, &md_file] {
        let (code, out, errs) = verify(&["export", f.to_str().unwrap(), "--key", &key]);
        assert_eq!(code, 0, "{out}{errs}");
        // 8, and the blocked run the exceptions were filed for.
        assert!(out.contains("9 gate decisions"), "{out}");
        let (code, out, errs) = verify(&[
            "export",
            f.to_str().unwrap(),
            "--key",
            &key,
            "--log",
            &s.url,
        ]);
        assert_eq!(code, 0, "{out}{errs}");
    }

    // One changed byte anywhere: exit 1, naming the record.
    let ev = dir.path().join("evidence");
    let verify_bad = |bad: &Path| {
        let (ev, bad) = (ev.to_str().unwrap(), bad.to_str().unwrap());
        verify(&["--evidence-dir", ev, "export", bad, "--key", &key])
    };
    let check_tampered = |src: &Path, after: &str, from: &str, to: &str, names: &str| {
        let bad = dir.path().join("tampered");
        tamper(src, &bad, after, from, to);
        let (code, out, errs) = verify_bad(&bad);
        assert_eq!(code, 1, "{after} {from}->{to}: {out}{errs}");
        assert!(errs.contains(names), "{from}->{to}: {errs}");
    };
    check_tampered(
        &json_file,
        &passed_run,
        "\"branch\":\"main\"",
        "\"branch\":\"mair\"",
        &passed_run,
    );
    check_tampered(
        &json_file,
        &passed_run,
        "\"log_index\":",
        "\"log_index\":1",
        &passed_run,
    );
    check_tampered(
        &json_file,
        "\"header\":",
        "payments-api",
        "payments-apj",
        "header",
    );
    check_tampered(
        &json_file,
        "section_c_access",
        "\"blocked\":",
        "\"blocked\":1",
        "section C.decisions.blocked is 1",
    );
    check_tampered(
        &json_file,
        "section_c_access",
        "\"approvers\":{\"bob\"",
        "\"approvers\":{\"bop\"",
        "section C.approvers.bob is missing",
    );
    check_tampered(
        &json_file,
        "section_c_control_changes",
        "\"changed\":[\"github\"]",
        "\"changed\":[\"bot_deny_list\"]",
        "section C record",
    );
    check_tampered(
        &md_file,
        &format!("| {passed_run} |"),
        "| main |",
        "| mair |",
        &passed_run,
    );
    check_tampered(
        &md_file,
        "```stateanchor-records-a",
        &passed_run,
        &passed_run.replace("run_", "run-"),
        "section A record",
    );
    check_tampered(&md_file, "## C. Access", "alice", "alicf", "rendered again");
    // A record removed from the export.
    let text = std::fs::read_to_string(&json_file).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(&passed_run) && l.starts_with("{\"envelope\""))
        .unwrap()
        .to_owned();
    let bad = dir.path().join("removed.json");
    std::fs::write(&bad, text.replace(&format!("{line}\n"), "")).unwrap();
    let (code, _, errs) = verify_bad(&bad);
    assert_eq!(code, 1, "{errs}");
    // The chain names the gap (before the section digests would).
    assert!(
        errs.contains("of the project's chain is missing from the export"),
        "{errs}"
    );
    // The wrong key is a failure; a file that is no export is a usage error.
    let (code, _, _) = verify(&[
        "export",
        json_file.to_str().unwrap(),
        "--key",
        "other.example/log+12345678+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ]);
    assert_ne!(code, 0);
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    let (code, _, _) = verify(&["export", junk.to_str().unwrap(), "--key", &key]);
    assert_eq!(code, 2);
}

fn check_inclusion(s: &LogServer, v: &Value, index: u64) {
    let vkey = tlog::VerifierKey::from_text(&s.verifier_key).unwrap();
    let cp = tlog::open_checkpoint(v["checkpoint"].as_str().unwrap().as_bytes(), &vkey)
        .unwrap()
        .checkpoint;
    let env = match v["envelope"].as_str() {
        Some(e) => e.as_bytes().to_vec(),
        None => {
            let leaf = tlog::Hash::from_base64(v["leaf_hash"].as_str().unwrap()).unwrap();
            let proof: Vec<tlog::Hash> = v["inclusion_proof"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| tlog::Hash::from_base64(h.as_str().unwrap()).unwrap())
                .collect();
            tlog::verify_inclusion(index, cp.tree_size, &leaf, &proof, &cp.root_hash).unwrap();
            return;
        }
    };
    let proof: Vec<tlog::Hash> = v["inclusion_proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| tlog::Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    tlog::verify_inclusion(
        index,
        cp.tree_size,
        &tlog::leaf_hash(&env),
        &proof,
        &cp.root_hash,
    )
    .unwrap();
}

#[test]
fn isolation_roles_and_bad_input() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let a = project(&api, &s.admin_key, "project-a");
    let b = project(&api, &s.admin_key, "project-b");
    let v = decide(&api, &b, json!([]));
    let b_run = v["run_id"].as_str().unwrap().to_owned();
    let b_blocked = blocked(&api, &b, &["GET /b"]);
    let (_, be) = file_exception(
        &api,
        &b,
        &b.alice,
        &b_blocked,
        "GET /b",
        unix_ms() + 3_600_000,
    );
    let b_exc = be["exception_id"].as_str().unwrap().to_owned();

    // A key of project A sees nothing of project B: 404, as for an unknown project.
    for (method, path, body) in [
        (
            "POST",
            format!("/api/projects/{}/decisions", b.id),
            Some(decision(json!([]))),
        ),
        (
            "GET",
            format!("/api/projects/{}/decisions/{b_run}", b.id),
            None,
        ),
        ("GET", format!("/api/projects/{}/exceptions", b.id), None),
        (
            "GET",
            format!("/api/projects/{}/exceptions/{b_exc}", b.id),
            None,
        ),
        (
            "GET",
            format!("/api/projects/{}/compliance-export", b.id),
            None,
        ),
        (
            "POST",
            format!("/api/projects/{}/exceptions/{b_exc}/signals", b.id),
            Some(json!({"type": "codeowner_approval"})),
        ),
    ] {
        for key in [&a.ci, &a.bob, &a.auditor, &a.admin] {
            let (st, v) = api.send(method, &path, Some(key), body.as_ref());
            assert_eq!(st, 404, "{method} {path}: {v}");
        }
    }
    // B's records looked up through A's project: 404 too.
    let (st, _) = api.get(
        &format!("/api/projects/{}/decisions/{b_run}", a.id),
        &a.auditor,
    );
    assert_eq!(st, 404);
    let (st, _) = api.get(
        &format!("/api/projects/{}/exceptions/{b_exc}", a.id),
        &a.auditor,
    );
    assert_eq!(st, 404);
    let (st, _) = api.get("/api/projects/prj_unknown/exceptions", &s.admin_key);
    assert_eq!(st, 404);

    // A role only does what it is for: 403.
    let dpath = format!("/api/projects/{}/decisions", a.id);
    for key in [&a.alice, &a.auditor, &a.admin, &s.admin_key] {
        let (st, v) = api.post(&dpath, key, &decision(json!([])));
        assert_eq!(st, 403, "{v}");
    }
    let epath = format!("/api/projects/{}/exceptions", a.id);
    // Filings that would be valid but for the key, or the expiry: for a
    // blocked run of A's.
    let a_run = blocked(&api, &a, &["GET /", "GET /a"]);
    let body = json!({"run_id": a_run, "kind": "response_field_removed", "endpoint": "GET /", "reason": "r",
                      "expires_at": rfc3339(unix_ms() + 3_600_000)});
    for key in [&a.ci, &a.auditor, &a.admin, &a.bot, &s.admin_key] {
        let (st, v) = api.post(&epath, key, &body);
        assert_eq!(st, 403, "{v}");
    }
    let xpath = format!("/api/projects/{}/compliance-export", a.id);
    for key in [&a.ci, &a.alice] {
        let (st, _) = api.get(&xpath, key);
        assert_eq!(st, 403);
    }
    // Project keys never act on the log or on projects.
    let (st, _) = api.send("GET", "/v1/admin/keys", Some(&a.admin), None);
    assert_eq!(st, 403);
    let (st, _) = api.post("/v1/admin/projects", &a.admin, &json!({"name": "x"}));
    assert_eq!(st, 403);
    assert_eq!(
        api.post_raw("/v1/entries", &a.admin, "application/octet-stream", "x"),
        403
    );
    let (st, _) = api.send("GET", &epath, None, None);
    assert_eq!(st, 401);

    // Malformed bodies, unknown IDs, bad dates: 400/404/415, and nothing is recorded.
    let tree_size = |api: &Api| {
        settled(|| {
            api.send("GET", "/healthz", None, None).1["tree_size"]
                .as_u64()
                .unwrap()
        })
    };
    let size_before = tree_size(&api);
    assert_eq!(
        api.post_raw(&dpath, &a.ci, "application/json", "{not json"),
        400
    );
    assert_eq!(api.post_raw(&dpath, &a.ci, "text/plain", "{}"), 415);
    for bad in [
        json!({"commit_sha": "xyz", "branch": "main", "author": "a", "findings": []}),
        json!({"commit_sha": "abcdef0", "branch": "main", "author": "a"}),
        json!({"commit_sha": "abcdef0", "branch": "main", "author": "a", "findings": [], "extra": 1}),
        json!({"commit_sha": "abcdef0", "branch": "main", "author": "a", "findings": [{"kind": "k", "endpoint": "e", "severity": "FATAL"}]}),
        json!({"commit_sha": "abcdef0", "branch": "", "author": "a", "findings": []}),
    ] {
        let (st, v) = api.post(&dpath, &a.ci, &bad);
        assert_eq!(st, 400, "{bad}: {v}");
    }
    let (st, _) = api.post(&format!("{dpath}?wait=soon"), &a.ci, &decision(json!([])));
    assert_eq!(st, 400);
    for expires in [
        "tomorrow",
        "2020-01-01T00:00:00Z",
        &rfc3339(unix_ms() + 91 * 86_400_000),
    ] {
        let (st, v) = api.post(
            &epath,
            &a.alice,
            &json!({"run_id": a_run, "kind": "response_field_removed", "endpoint": "GET /",
                    "reason": "r", "expires_at": expires}),
        );
        assert_eq!(st, 400, "{expires}: {v}");
    }
    let (st, _) = api.post(
        &epath,
        &a.alice,
        &json!({"run_id": a_run, "kind": "response_field_removed", "endpoint": "GET /", "reason": "r"}),
    );
    assert_eq!(st, 400, "expiry is required");
    let (st, _) = api.post(
        &format!("{epath}/exc_nope/signals"),
        &a.bob,
        &json!({"type": "codeowner_approval"}),
    );
    assert_eq!(st, 404);
    let (st, _) = api.post(
        &format!("{epath}/exc_nope/revoke"),
        &a.alice,
        &json!({"reason": "x"}),
    );
    assert_eq!(st, 404);
    let (_, ae) = file_exception(&api, &a, &a.alice, &a_run, "GET /a", unix_ms() + 3_600_000);
    let a_exc = ae["exception_id"].as_str().unwrap().to_owned();
    for bad in [
        json!({"type": "telepathy"}),
        json!({"type": "consumer_test", "test_name": "t", "run_url": "ftp://x"}),
        json!({"comment": "no type"}),
    ] {
        let (st, v) = api.post(&format!("{epath}/{a_exc}/signals"), &a.bob, &bad);
        assert_eq!(st, 400, "{bad}: {v}");
    }
    let (st, _) = api.post(&format!("{epath}/{a_exc}/revoke"), &a.alice, &json!({}));
    assert_eq!(st, 400);
    let (st, _) = api.get(&format!("{dpath}/run_nope"), &a.auditor);
    assert_eq!(st, 404);
    let (st, _) = api.get(&format!("{epath}?status=SLEEPING"), &a.auditor);
    assert_eq!(st, 400);
    for q in [
        "from=2024-13-01",
        "to=2024-02-30",
        "from=2024-03-02&to=2024-03-01",
        "format=pdf",
        "from=yesterday",
        "since=2024-01-01",
    ] {
        let (st, v) = api.get(&format!("{xpath}?{q}"), &a.auditor);
        assert_eq!(st, 400, "{q}: {v}");
    }
    // Admin API: bad principals and settings.
    let ppath = format!("/v1/admin/projects/{}/principals", a.id);
    for bad in [
        json!({"name": "x", "roles": []}),
        json!({"name": "x", "roles": ["submitter"]}),
        json!({"name": "x", "roles": ["wizard"]}),
        json!({"name": "x", "roles": ["codeowner"], "github_login": "bob-gh"}),
    ] {
        let (st, v) = api.post(&ppath, &s.admin_key, &bad);
        assert!(st == 400 || st == 409, "{bad}: {st} {v}");
    }
    let (st, _) = api.post(
        "/v1/admin/projects/prj_nope/principals",
        &s.admin_key,
        &json!({"name": "x", "roles": ["ci"]}),
    );
    assert_eq!(st, 404);
    let (st, _) = api.send(
        "PATCH",
        &format!("/v1/admin/projects/{}/settings", a.id),
        Some(&s.admin_key),
        Some(&json!({"max_exception_lifetime_seconds": 0})),
    );
    assert_eq!(st, 400);
    // Of all the requests above, only the one filing was logged.
    assert_eq!(tree_size(&api), size_before + 1);
    // The log admin may export any project; the export of B holds only B.
    let dir = tempfile::tempdir().unwrap();
    let (f, _) = export(&api, &b, &s.admin_key, "", dir.path());
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(!text.contains(&a.id) && text.contains(&b_run));
    let (code, out, errs) = verify(&["export", f.to_str().unwrap(), "--key", &s.verifier_key]);
    assert_eq!(code, 0, "{out}{errs}");
}

#[test]
fn project_settings_and_cli() {
    let s = LogServer::start(&[]);
    let run = |args: &[&str]| {
        let out = Command::new(bin("stateanchor-log"))
            .args(args)
            .args(["--url", &s.url, "--admin-key", &s.admin_key])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let out = run(&[
        "project",
        "create",
        "--name",
        "cli-project",
        "--max-exception-lifetime",
        "1h",
    ]);
    let id = out.trim().strip_prefix("project id: ").unwrap().to_owned();
    let out = run(&[
        "project",
        "add-principal",
        &id,
        "--name",
        "carol",
        "--role",
        "codeowner",
        "--github-login",
        "carol",
    ]);
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("api key: "))
        .unwrap()
        .to_owned();
    run(&["project", "settings", &id, "--bot-deny-list", "carol"]);
    let shown = run(&["project", "show", &id]);
    assert!(shown.contains("\"bot\": true"), "{shown}");
    assert!(run(&["project", "list"]).contains(&id));
    let api = Api::new(&s);
    // The blocked run the filings name, from a CI key.
    let (ci, _) = principal(
        &api,
        &s.admin_key,
        &id,
        json!({"name": "ci", "roles": ["ci"]}),
    );
    let run_id = blocked_run(&api, &id, &ci, HEAD, &[("k", "GET /")]);
    let body = |h: i64| {
        json!({"run_id": run_id, "kind": "k", "endpoint": "GET /", "reason": "r",
                               "expires_at": rfc3339(unix_ms() + h * 60_000)})
    };
    // carol is on the deny-list now: a bot.
    let (st, v) = api.post(&format!("/api/projects/{id}/exceptions"), &key, &body(30));
    assert_eq!(st, 403, "{v}");
    run(&["project", "settings", &id, "--bot-deny-list", ""]);
    let (st, v) = api.post(&format!("/api/projects/{id}/exceptions"), &key, &body(30));
    assert_eq!(st, 201, "{v}");
    // The maximum lifetime is the project's: 1 hour.
    let (st, v) = api.post(&format!("/api/projects/{id}/exceptions"), &key, &body(61));
    assert_eq!(st, 400, "{v}");
    // The GitHub connection, from the command line: connected, then not.
    let shown = run(&[
        "project",
        "settings",
        &id,
        "--github-repository",
        "acme/api",
    ]);
    assert!(shown.contains("\"repository\": \"acme/api\""), "{shown}");
    assert!(shown.contains("\"connected_at\""), "{shown}");
    let shown = run(&["project", "settings", &id, "--github-repository", ""]);
    assert!(shown.contains("\"github\": null"), "{shown}");
    // Restarting the server keeps projects, principals, the ledger and the controls.
    let dir = s.data_dir.clone();
    let mut s = s;
    s.stop();
    let s2 = LogServer::start_in(&dir, &[]);
    let api = Api::new(&s2);
    let (st, l) = api.get(
        &format!("/api/projects/{id}/exceptions?status=ANERGIC"),
        &key,
    );
    assert_eq!(st, 200);
    assert_eq!(l["exceptions"].as_array().unwrap().len(), 1);
}

/// An export whose checkpoint is consistent with the log and with the roots
/// the server published (`--publish dir:`), checked with `--log` and `--repo`;
/// the header names the publication target.
#[test]
fn export_checked_against_the_log_and_the_published_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let roots = tmp.path().join("roots");
    let target = format!("dir:{}", roots.display());
    let s = LogServer::start(&["--publish", &target, "--publish-interval", "200ms"]);
    let api = Api::new(&s);
    let p = project(&api, &s.admin_key, "published-project");
    for _ in 0..3 {
        decide(&api, &p, json!([]));
    }
    let (f, _) = export(&api, &p, &p.auditor, "format=json", tmp.path());
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    assert_eq!(exported["header"]["publication"], target.as_str());
    let size = exported["section_d_audit_trail_integrity"]["tree_size"]
        .as_u64()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(roots.join("checkpoint"))
        .ok()
        .and_then(|t| t.lines().nth(1).and_then(|l| l.parse::<u64>().ok()))
        .unwrap_or(0)
        < size
    {
        assert!(
            std::time::Instant::now() < deadline,
            "size {size} was not published"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, out, errs) = verify(&[
        "export",
        f.to_str().unwrap(),
        "--key",
        &s.verifier_key,
        "--log",
        &s.url,
        "--repo",
        &target,
    ]);
    assert_eq!(code, 0, "{out}{errs}");
    assert!(out.contains("extends the export's"), "{out}");
}

/// Issue 11, point 2: every record is salted, so a public envelope cannot
/// be confirmed by guessing the record (two decisions of identical content
/// have different digests), and the envelope holds no private field.
#[test]
fn records_are_salted_and_envelopes_hold_nothing_private() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let p = project(&api, &s.admin_key, "salted");
    let same = json!([{"kind": "doc_changed", "endpoint": "GET /users", "severity": "INFO"}]);
    let runs: Vec<String> = (0..2)
        .map(|_| {
            decide(&api, &p, same.clone())["run_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let fetched: Vec<Value> = runs
        .iter()
        .map(|run| {
            let (st, v) = api.get(
                &format!("/api/projects/{}/decisions/{run}", p.id),
                &p.auditor,
            );
            assert_eq!(st, 200, "{v}");
            v
        })
        .collect();
    let mut digests = Vec::new();
    for v in &fetched {
        let salt = v["record"]["salt"].as_str().unwrap();
        assert!(
            salt.len() >= 32 && salt.bytes().all(|b| b.is_ascii_hexdigit()),
            "{salt}"
        );
        let env: Value = serde_json::from_str(
            v["envelope"]
                .as_str()
                .unwrap()
                .strip_prefix("stateanchor-envelope/v2\n")
                .unwrap(),
        )
        .unwrap();
        let keys: Vec<&str> = env
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["digest", "id", "project", "seq", "time", "type", "v"]
        );
        for private in ["salt", "Alice Example", "9fceb02d", "doc_changed"] {
            assert!(
                !v["envelope"].as_str().unwrap().contains(private),
                "{private}"
            );
        }
        digests.push(env["digest"].clone());
    }
    assert_ne!(fetched[0]["record"]["salt"], fetched[1]["record"]["salt"]);
    assert_ne!(
        digests[0], digests[1],
        "identical content, different digests"
    );
}

/// Issue 11, point 4: endpoints are `METHOD /path`, the method upper-cased;
/// a malformed endpoint is refused at filing and records nothing; parameter
/// names do not matter for matching; a blocked ERR names the near misses.
#[test]
fn endpoints_match_as_the_gate_sends_them() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let p = project(&api, &s.admin_key, "endpoints");
    let size = |api: &Api| {
        settled(|| {
            api.get("/v1/log", &s.admin_key).1["tree_size"]
                .as_u64()
                .unwrap()
        })
    };
    let run = blocked(&api, &p, &["GET /users/{id}"]);
    let before = size(&api);
    for bad in ["/users/{id}", "FETCH /users", "GET users", "GET /users/{id"] {
        let (st, v) = file_exception(&api, &p, &p.alice, &run, bad, unix_ms() + 3_600_000);
        assert_eq!(st, 400, "{bad}: {v}");
        assert!(v["error"].as_str().unwrap().contains("METHOD /path"), "{v}");
    }
    assert_eq!(size(&api), before, "refused filings record nothing");

    let (st, v) = file_exception(
        &api,
        &p,
        &p.alice,
        &run,
        "get /users/{id}",
        unix_ms() + 3_600_000,
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        v["endpoint"], "GET /users/{id}",
        "the method is upper-cased"
    );
    let exc = v["exception_id"].as_str().unwrap().to_owned();
    let (st, v) = signal(
        &api,
        &p,
        &p.bob,
        &exc,
        &json!({"type": "codeowner_approval"}),
    );
    assert_eq!(st, 201, "{v}");

    let v = decide(
        &api,
        &p,
        err("response_field_removed", "GET /users/{userId}"),
    );
    assert_eq!(v["blocked"], false, "parameter names do not matter: {v}");
    assert_eq!(v["exceptions_applied"], json!([exc]));

    let v = decide(&api, &p, err("response_field_removed", "GET /Users/{id}/"));
    assert_eq!(v["blocked"], true);
    let reason = v["blocked_reasons"][0].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "near misses: {exc} (ACTIVE) is for GET /users/{{id}}"
        )),
        "{reason}"
    );
    let v = decide(&api, &p, err("request_param_removed", "GET /users/{id}"));
    let reason = v["blocked_reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("is for another change kind, response_field_removed"),
        "{reason}"
    );
}

/// Issue 11, point 1: projects choose the signals they accept (consumer
/// tests are opt-in), a consumer test is bound to the exception's (kind,
/// endpoint), one person cannot hold two principals, and concurrent
/// approvals activate an exception exactly once.
#[test]
fn signals_are_bound_and_accepted_once() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let (st, v) = api.post(
        "/v1/admin/projects",
        &s.admin_key,
        &json!({"name": "defaults"}),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        v["settings"]["accepted_signals"],
        json!(["codeowner_approval", "github_review"])
    );
    let id = v["project_id"].as_str().unwrap().to_owned();
    let (ci, _) = principal(
        &api,
        &s.admin_key,
        &id,
        json!({"name": "ci", "roles": ["ci"]}),
    );
    let (alice, _) = principal(
        &api,
        &s.admin_key,
        &id,
        json!({"name": "alice", "roles": ["codeowner"]}),
    );
    // One person, one principal: the same name in another case is refused.
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{id}/principals"),
        &s.admin_key,
        &json!({"name": "Alice", "roles": ["codeowner"]}),
    );
    assert_eq!(st, 409, "{v}");
    // Consumer tests come from a downstream team's consumer key.
    let (consumer, _) = principal(
        &api,
        &s.admin_key,
        &id,
        json!({"name": "mobile team", "roles": ["consumer"]}),
    );
    let p = Project {
        id: id.clone(),
        ci: ci.clone(),
        alice: alice.clone(),
        bob: String::new(),
        bot: String::new(),
        consumer: consumer.clone(),
        auditor: String::new(),
        admin: String::new(),
        alice_id: String::new(),
        bob_id: String::new(),
    };
    let run = blocked(&api, &p, &["DELETE /users/{id}"]);
    let (_, e) = file_exception(
        &api,
        &p,
        &alice,
        &run,
        "DELETE /users/{id}",
        unix_ms() + 3_600_000,
    );
    let exc = e["exception_id"].as_str().unwrap().to_owned();
    let test = |endpoint: &str| {
        json!({"type": "consumer_test", "test_name": "contract", "run_url": "https://ci.example/1",
               "commit_sha": HEAD, "kind": "response_field_removed", "endpoint": endpoint})
    };
    let (st, v) = signal(&api, &p, &consumer, &exc, &test("DELETE /users/{id}"));
    assert_eq!(st, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("does not accept consumer_test"),
        "{v}"
    );
    let (st, v) = api.send(
        "PATCH",
        &format!("/v1/admin/projects/{id}/settings"),
        Some(&s.admin_key),
        Some(&json!({"accepted_signals": ["codeowner_approval", "consumer_test"]})),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = signal(&api, &p, &consumer, &exc, &test("DELETE /orders/{id}"));
    assert_eq!(st, 403, "a test of another endpoint: {v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("consumer test validates"),
        "{v}"
    );
    let (st, v) = signal(
        &api,
        &p,
        &consumer,
        &exc,
        &json!({"type": "consumer_test", "test_name": "t", "run_url": "https://ci.example/1"}),
    );
    assert_eq!(st, 400, "an unbound consumer test: {v}");

    // Two approvals at the same moment: exactly one activates.
    let (bob, _) = principal(
        &api,
        &s.admin_key,
        &id,
        json!({"name": "bob", "roles": ["codeowner"]}),
    );
    let (carol, _) = principal(
        &api,
        &s.admin_key,
        &id,
        json!({"name": "carol", "roles": ["codeowner"]}),
    );
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let handles: Vec<_> = [bob, carol, consumer]
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let (url, id, exc, barrier) = (s.url.clone(), id.clone(), exc.clone(), barrier.clone());
            let body = if i == 2 {
                test("DELETE /users/{userId}")
            } else {
                json!({"type": "codeowner_approval"})
            };
            std::thread::spawn(move || {
                let api = Api::at(url);
                barrier.wait();
                api.post(
                    &format!("/api/projects/{id}/exceptions/{exc}/signals"),
                    &key,
                    &body,
                )
                .0
            })
        })
        .collect();
    let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 409, 409],
        "one activation, the others see it ACTIVE"
    );
    let (_, v) = api.get(&format!("/api/projects/{id}/exceptions/{exc}"), &alice);
    let kinds: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "exception_requested",
            "exception_signal",
            "exception_activated"
        ]
    );
}

/// Issue 11, point 1: a signal racing a revocation gives one consistent
/// outcome: either the approval came first (activated, then revoked) or the
/// revocation did (the approval is refused); the exception ends REVOKED and
/// its events in the log say which.
#[test]
fn a_signal_racing_a_revocation_has_one_outcome() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let p = project(&api, &s.admin_key, "race");
    let run = blocked(&api, &p, &["GET /race"]);
    for _ in 0..5 {
        let (st, e) = file_exception(&api, &p, &p.alice, &run, "GET /race", unix_ms() + 3_600_000);
        assert_eq!(st, 201, "{e}");
        let exc = e["exception_id"].as_str().unwrap().to_owned();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let run = |key: String, path: String, body: Value| {
            let (url, barrier) = (s.url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let api = Api::at(url);
                barrier.wait();
                api.post(&path, &key, &body).0
            })
        };
        let base = format!("/api/projects/{}/exceptions/{exc}", p.id);
        let approve = run(
            p.bob.clone(),
            format!("{base}/signals"),
            json!({"type": "codeowner_approval"}),
        );
        let revoke = run(
            p.alice.clone(),
            format!("{base}/revoke"),
            json!({"reason": "changed our mind"}),
        );
        let (approved, revoked) = (approve.join().unwrap(), revoke.join().unwrap());
        assert_eq!(
            revoked, 201,
            "a revocation of an ANERGIC or ACTIVE exception succeeds"
        );
        let (_, v) = api.get(&base, &p.auditor);
        assert_eq!(v["status"], "REVOKED", "{v}");
        let kinds: Vec<&str> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        match approved {
            201 => assert_eq!(
                kinds,
                [
                    "exception_requested",
                    "exception_signal",
                    "exception_activated",
                    "exception_revoked"
                ]
            ),
            409 => assert_eq!(kinds, ["exception_requested", "exception_revoked"]),
            other => panic!("the approval answered {other}"),
        }
    }
}
