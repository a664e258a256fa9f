//! Export periods at their edges, and exceptions that outlive a period:
//! the log server's HTTP API (in process, on the in-memory store, with its
//! clock pinned to chosen instants) and the real `stateanchor-verify`.
//!
//! A record at 23:59:59.999 on the last day is in the period, one at
//! 00:00:00.000 the next day is in the next one; an exception filed and
//! approved in March and still in effect in April is in April's section B
//! with its whole history, marked as filed before the period, and April's
//! export verifies offline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::bin;
use integration_tests::in_process::InProcess;
use integration_tests::ledger::blocked_decision;
use serde_json::{Value, json};

struct Server(InProcess);

impl std::ops::Deref for Server {
    type Target = InProcess;
    fn deref(&self) -> &InProcess {
        &self.0
    }
}

impl Server {
    fn start() -> Self {
        Server(InProcess::start())
    }

    fn export(&self, project: &str, key: &str, query: &str, dir: &Path) -> PathBuf {
        let name = format!("{}.out", query.replace(['&', '='], "_"));
        self.download(
            &format!("/api/projects/{project}/compliance-export?{query}"),
            key,
            dir,
            &name,
        )
    }
}

fn verify(file: &Path, evidence: &Path) -> (i32, String, String) {
    let key = InProcess::verifier_key();
    let out = Command::new(bin("stateanchor-verify"))
        .arg("--evidence-dir")
        .arg(evidence)
        .args(["export", file.to_str().unwrap(), "--key", &key])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ids(export: &Value, section: &str) -> Vec<String> {
    export[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn periods_have_inclusive_edges_and_carry_open_exceptions_in() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    s.set_time("2026-03-10T12:00:00Z");
    let p = s.post(
        "/v1/admin/projects",
        &s.admin,
        &json!({"name": "payments", "github_repository": "acme/api"}),
    );
    let project = p["project_id"].as_str().unwrap().to_owned();
    let key = |name: &str, role: &str| {
        s.post(
            &format!("/v1/admin/projects/{project}/principals"),
            &s.admin,
            &json!({"name": name, "roles": [role]}),
        )["api_key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ci, alice, bob, auditor) = (
        key("ci", "ci"),
        key("alice", "codeowner"),
        key("bob", "codeowner"),
        key("auditor", "auditor"),
    );
    let exceptions = format!("/api/projects/{project}/exceptions");
    // An exception is filed for a blocked run: CI's, an hour before.
    s.set_time("2026-03-15T08:00:00Z");
    let blocked = s.post(
        &format!("/api/projects/{project}/decisions"),
        &ci,
        &blocked_decision(
            "1234567",
            &[("response_property_removed", "GET /users/{id}")],
        ),
    )["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.set_time("2026-03-15T09:00:00Z");
    let exc = s.post(
        &exceptions,
        &alice,
        &json!({"run_id": blocked, "kind": "response_property_removed", "endpoint": "GET /users/{id}",
            "reason": "clients migrated", "expires_at": "2026-04-10T00:00:00Z", "pull_request": 12}),
    )["exception_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.set_time("2026-03-16T10:00:00Z");
    s.post(
        &format!("{exceptions}/{exc}/signals"),
        &bob,
        &json!({"type": "codeowner_approval", "comment": "ok"}),
    );
    let decide = |time: &str, sha: &str| {
        s.set_time(time);
        let d = s.post(
            &format!("/api/projects/{project}/decisions"),
            &ci,
            &json!({"commit_sha": sha, "branch": "main", "author": "dev",
                "findings": [{"kind": "response_property_removed", "endpoint": "GET /users/{userId}", "severity": "ERR"}]}),
        );
        assert_eq!(d["blocked"], false, "{d}");
        d["run_id"].as_str().unwrap().to_owned()
    };
    let last_of_march = decide("2026-03-31T23:59:59.999Z", "aaaaaaa");
    let first_of_april = decide("2026-04-01T00:00:00.000Z", "bbbbbbb");
    s.set_time("2026-04-01T08:00:00Z");
    let (st, v) = s.call(
        "PATCH",
        &format!("/v1/admin/projects/{project}/settings"),
        &s.admin,
        Some(&json!({"bot_deny_list": ["renovate"]})),
    );
    assert_eq!(st, 200, "{v}");
    s.set_time("2026-04-20T08:00:00Z");

    let read =
        |f: &Path| -> Value { serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap() };
    let march_file = s.export(
        &project,
        &auditor,
        "from=2026-03-01&to=2026-03-31",
        dir.path(),
    );
    let march = read(&march_file);
    // The blocked run the exception was filed for is March's too.
    assert_eq!(
        ids(&march, "section_a_change_management"),
        [blocked, last_of_march]
    );
    assert_eq!(ids(&march, "section_b_exception_authorization").len(), 3);
    assert_eq!(
        ids(&march, "section_c_control_changes").len(),
        1,
        "the creation"
    );
    let e = &march["section_c_access_and_authorization"]["exceptions"][&exc];
    assert_eq!(e["filed_before_period"], false);
    assert_eq!(e["last_status"], "ACTIVE", "it expires in April");
    assert_eq!(e["pull_request"], "acme/api#12", "the connected repository");

    let april_file = s.export(
        &project,
        &auditor,
        "from=2026-04-01&to=2026-04-30",
        dir.path(),
    );
    let april = read(&april_file);
    assert_eq!(ids(&april, "section_a_change_management"), [first_of_april]);
    let b = &april["section_b_exception_authorization"];
    let types: Vec<&str> = b
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "exception_requested",
            "exception_signal",
            "exception_activated",
            "exception_expired"
        ],
        "the March history, then the expiry recorded in April"
    );
    let summary = &april["section_c_access_and_authorization"];
    let e = &summary["exceptions"][&exc];
    assert_eq!(e["filed_before_period"], true);
    assert_eq!(e["requested_by_name"], "alice");
    assert_eq!(e["reason"], "clients migrated");
    assert_eq!(e["approvers"], json!(["bob"]));
    assert_eq!(e["activation"]["signal"], "codeowner_approval");
    assert_eq!(e["activation"]["approver_name"], "bob");
    assert_eq!(e["activation"]["at"], "2026-03-16T10:00:00.000Z");
    assert_eq!(e["last_status"], "EXPIRED");
    let counts = &summary["exception_counts"];
    assert_eq!(
        (
            counts["created"].as_u64(),
            counts["activated"].as_u64(),
            counts["expired"].as_u64(),
            counts["carried_in"].as_u64()
        ),
        (Some(0), Some(0), Some(1), Some(1)),
        "{counts}"
    );
    assert_eq!(
        summary["approval_latency"]["activations"], 0,
        "March's activation"
    );
    assert_eq!(ids(&april, "section_c_control_changes").len(), 1);
    assert_eq!(
        april["header"]["settings"]["github"]["repository"],
        "acme/api"
    );
    assert_eq!(
        april["header"]["project_created_at"],
        "2026-03-10T12:00:00.000Z"
    );

    let md_file = s.export(
        &project,
        &auditor,
        "from=2026-04-01&to=2026-04-30&format=markdown",
        dir.path(),
    );
    let md = std::fs::read_to_string(&md_file).unwrap();
    assert!(
        md.contains("| 2026-03-15T09:00:00.000Z (earlier) |"),
        "the filing, marked"
    );
    assert!(md.contains("| alice | 2026-03-15T09:00:00.000Z (earlier) | clients migrated | bob | codeowner_approval by bob at 2026-03-16T10:00:00.000Z"), "{md}");
    assert!(md.contains("| GitHub connection | acme/api since 2026-03-10T12:00:00.000Z |"));

    let ev = dir.path().join("evidence");
    for f in [&march_file, &april_file, &md_file] {
        let (code, out, errs) = verify(f, &ev);
        assert_eq!(code, 0, "{}: {out}{errs}", f.display());
    }
    let (_, out, _) = verify(&april_file, &ev);
    assert!(out.contains("(1 filed before the period)"), "{out}");

    // Without the earlier filing, the export no longer verifies.
    let text = std::fs::read_to_string(&april_file).unwrap();
    let filing = text
        .lines()
        .find(|l| l.contains("\"type\":\"exception_requested\""))
        .unwrap()
        .to_owned();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, text.replace(&format!("{filing}\n"), "")).unwrap();
    let (code, _, errs) = verify(&bad, &ev);
    assert_eq!(code, 1, "{errs}");
    assert!(errs.contains("section B"), "{errs}");
}
