//! People, not names (issue 25, item 2), end to end on the real
//! `stateanchor-log` and `stateanchor-verify`: a principal is a person with
//! a stable identity (GitHub numeric ID, identity provider subject); names,
//! logins and identities are unique across active and revoked principals
//! after Unicode case folding; principals' creation and revocation are
//! records in the log and the export lists the principals from them; the
//! verifier refuses an export whose approver is not among them; the
//! deny-list matches folded names and GitHub IDs; monitoring flags an
//! approval by a principal added days before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use compliance::export::{
    ExportFormat, ExportHeader, ExportParts, Integrity, ProvenRecord, RecordSource, Section,
    SummaryBuilder, render,
};
use integration_tests::in_process::InProcess;
use integration_tests::ledger::{blocked_decision, filed_exception};
use integration_tests::{Api, LogServer, bin, check_schema, download};
use serde_json::{Value, json};

const SECTIONS: [&str; 3] = [
    "section_a_change_management",
    "section_b_exception_authorization",
    "section_c_control_changes",
];

fn verify(file: &Path, key: &str, evidence: &Path) -> (i32, String) {
    let out = Command::new(bin("stateanchor-verify"))
        .arg("--evidence-dir")
        .arg(evidence)
        .args(["export", file.to_str().unwrap(), "--key", key])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

struct Sections(Vec<Vec<ProvenRecord>>);

impl RecordSource for Sections {
    fn for_each(
        &mut self,
        section: Section,
        _with_proofs: bool,
        f: &mut dyn FnMut(&ProvenRecord) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        for r in &self.0[section as usize] {
            f(r)?;
        }
        Ok(())
    }
}

/// Writes `e` as an export file again (the summary recomputed).
fn rewrite(e: &Value, out: &Path) {
    let header: ExportHeader = serde_json::from_value(e["header"].clone()).unwrap();
    let day = |d: &str| compliance::time::parse_date(d).unwrap() * compliance::time::DAY_MS;
    let period = day(&header.period_from)..day(&header.period_to) + compliance::time::DAY_MS;
    let mut summary = SummaryBuilder::new(&header.principals, period);
    let mut sections = Vec::new();
    for s in SECTIONS {
        let records: Vec<ProvenRecord> = serde_json::from_value(e[s].clone()).unwrap();
        for r in &records {
            summary.add(&r.record);
        }
        sections.push(records);
    }
    let summary = summary.finish();
    let integrity: Integrity =
        serde_json::from_value(e["section_d_audit_trail_integrity"].clone()).unwrap();
    let mut file = std::fs::File::create(out).unwrap();
    render(
        ExportFormat::Json,
        &ExportParts {
            header: &header,
            summary: &summary,
            integrity: &integrity,
        },
        &mut Sections(sections),
        &mut file,
    )
    .unwrap();
}

fn add(api: &Api, admin: &str, project: &str, body: &Value) -> (u16, Value) {
    api.post(
        &format!("/v1/admin/projects/{project}/principals"),
        admin,
        body,
    )
}

fn principal_count(api: &Api, admin: &str, project: &str) -> usize {
    let (st, v) = api.get(&format!("/v1/admin/projects/{project}/principals"), admin);
    assert_eq!(st, 200, "{v}");
    v["principals"].as_array().unwrap().len()
}

#[test]
fn one_person_one_principal_in_the_log_and_in_the_export() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let admin = s.admin_key.as_str();
    let project = api.create_project(admin, "payments-api");
    let key = |body: Value| {
        let (st, v) = add(&api, admin, &project, &body);
        assert_eq!(st, 201, "{v}");
        (
            v["principal_id"].as_str().unwrap().to_owned(),
            v["api_key"].as_str().unwrap().to_owned(),
        )
    };
    let (alice_id, alice) = key(json!({"name": "alice", "roles": ["codeowner"],
        "github_login": "alice-gh", "github_id": 583_231}));
    let (bob_id, bob) = key(json!({"name": "bob", "roles": ["codeowner"], "github_id": 2}));
    let (_, auditor) = key(json!({"name": "auditor", "roles": ["auditor"]}));
    let (carol_id, _) = key(json!({"name": "Carol", "roles": ["codeowner"],
        "idp": {"issuer": "https://login.example.com", "subject": "00u1carol"}}));
    key(json!({"name": "Straße", "roles": ["auditor"]}));
    let (_, ci) = key(json!({"name": "ci", "roles": ["ci"]}));
    let before = principal_count(&api, admin, &project);

    // A second principal of alice, by her GitHub ID: refused, naming hers.
    let (st, v) = add(
        &api,
        admin,
        &project,
        &json!({"name": "alice-laptop", "roles": ["codeowner"], "github_id": 583_231}),
    );
    assert_eq!(st, 409, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains(&alice_id) && msg.contains("GitHub ID 583231"),
        "{msg}"
    );
    // Her login in another case; her name folded ("ALİCE"); "STRASSE".
    for (body, what) in [
        (
            json!({"name": "al", "roles": ["codeowner"], "github_login": "ALICE-GH"}),
            "GitHub login",
        ),
        (json!({"name": "ALİCE", "roles": ["codeowner"]}), "name"),
        (json!({"name": " STRASSE ", "roles": ["auditor"]}), "name"),
    ] {
        let (st, v) = add(&api, admin, &project, &body);
        assert_eq!(st, 409, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(what), "{v}");
    }

    // A revoked principal's name and identity are never reused.
    let (st, v) = api.send(
        "DELETE",
        &format!("/v1/admin/keys/{carol_id}"),
        Some(admin),
        None,
    );
    assert_eq!(st, 200, "{v}");
    for body in [
        json!({"name": "carol", "roles": ["codeowner"]}),
        json!({"name": "dave", "roles": ["codeowner"],
               "idp": {"issuer": "https://login.example.com", "subject": "00U1CAROL"}}),
    ] {
        let (st, v) = add(&api, admin, &project, &body);
        assert_eq!(st, 409, "{body}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(&carol_id) && msg.contains("revoked"), "{msg}");
    }
    // Bad identities: 400, nothing created.
    for body in [
        json!({"name": "erin", "roles": ["codeowner"], "github_id": 0}),
        json!({"name": "erin", "roles": ["codeowner"], "github_id": "12"}),
        json!({"name": "erin", "roles": ["codeowner"],
               "idp": {"issuer": "http://idp.example", "subject": "x"}}),
        json!({"name": "erin", "roles": ["codeowner"], "idp": {"issuer": "https://idp.example"}}),
    ] {
        let (st, v) = add(&api, admin, &project, &body);
        assert!(st == 400 || st == 422, "{body}: {st} {v}");
    }
    assert_eq!(principal_count(&api, admin, &project), before);

    // alice files for a blocked run; the deny-list names bob's GitHub ID:
    // he cannot approve.
    let exc = filed_exception(
        &api,
        &project,
        &ci,
        &alice,
        "abc1234",
        ("response_field_removed", "GET /users/{id}"),
    );
    let deny = |list: Value| {
        let (st, v) = api.send(
            "PATCH",
            &format!("/v1/admin/projects/{project}/settings"),
            Some(admin),
            Some(&json!({"bot_deny_list": list})),
        );
        assert_eq!(st, 200, "{v}");
    };
    let approve = |who: &str| {
        api.post(
            &format!("/api/projects/{project}/exceptions/{exc}/signals"),
            who,
            &json!({"type": "codeowner_approval", "comment": "LGTM"}),
        )
    };
    deny(json!(["2"]));
    let (st, v) = approve(&bob);
    assert_eq!(st, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("bot"), "{v}");
    deny(json!(["BOB"]));
    assert_eq!(approve(&bob).0, 403, "the deny-list folds case");
    deny(json!([]));
    let (st, v) = approve(&bob);
    assert_eq!(st, 201, "{v}");

    // The export lists the principals from their records in the log.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    let export = download(
        &s.url,
        &format!("/api/projects/{project}/compliance-export"),
        &auditor,
        &path,
    );
    check_schema(&path);
    let (code, out) = verify(&path, &s.verifier_key, dir.path());
    assert_eq!(code, 0, "{out}");
    let d = &export["section_d_audit_trail_integrity"];
    let records = d["chain"]["records"].as_array().unwrap();
    let of = |kind: &str| -> Vec<&Value> {
        records
            .iter()
            .map(|r| &r["record"])
            .filter(|r| r["type"] == kind)
            .collect()
    };
    assert_eq!(of("principal_added").len(), 6, "{records:?}");
    let added_alice = of("principal_added")
        .into_iter()
        .find(|r| r["principal_id"] == alice_id.as_str())
        .unwrap();
    assert_eq!(added_alice["github_id"], 583_231);
    assert!(
        added_alice["added_by"]
            .as_str()
            .unwrap()
            .starts_with("key_")
    );
    let revoked = of("principal_revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["principal_id"], carol_id.as_str());
    let header_principals = export["header"]["principals"].as_array().unwrap();
    assert_eq!(header_principals.len(), 6);
    assert!(
        header_principals
            .iter()
            .any(|p| p["id"] == carol_id.as_str() && p["revoked_at"].is_string())
    );

    // An export whose approver is not among the period's principals fails.
    let mut forged = export.clone();
    forged["section_d_audit_trail_integrity"]["chain"]["records"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["record"]["principal_id"] != bob_id.as_str());
    forged["header"]["principals"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["id"] != bob_id.as_str());
    let forged_path = dir.path().join("forged.json");
    rewrite(&forged, &forged_path);
    let (code, out) = verify(&forged_path, &s.verifier_key, dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&bob_id) && out.contains("not among the project's principals"),
        "{out}"
    );
    // The header's list must be the records': a principal left out of it fails.
    let mut forged = export.clone();
    forged["header"]["principals"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["id"] != carol_id.as_str());
    rewrite(&forged, &forged_path);
    let (code, out) = verify(&forged_path, &s.verifier_key, dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("principals"), "{out}");
}

#[test]
fn an_approval_days_after_the_approver_was_added_is_an_anomaly() {
    let s = InProcess::start();
    s.set_time("2026-03-01T09:00:00Z");
    let (project, keys) = s.project(
        &json!({"name": "payments-api"}),
        &[("alice", "codeowner"), ("bob", "codeowner"), ("ci", "ci")],
    );
    // The run every exception below is filed for, blocked on the 1st.
    let run = s.post(
        &format!("/api/projects/{project}/decisions"),
        &keys[2],
        &blocked_decision("abc1234", &[("k", "GET /a")]),
    )["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let exceptions = format!("/api/projects/{project}/exceptions");
    let file = |time: &str| {
        s.set_time(time);
        s.post(
            &exceptions,
            &keys[0],
            &json!({"run_id": run, "kind": "k", "endpoint": "GET /a", "reason": "r",
                    "expires_at": "2026-05-01T00:00:00Z"}),
        )["exception_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let approve = |time: &str, exc: &str| {
        s.set_time(time);
        s.post(
            &format!("{exceptions}/{exc}/signals"),
            &keys[1],
            &json!({"type": "codeowner_approval"}),
        );
    };
    // Bob approves on the 3rd (2 days after being added) and on the 20th.
    let early = file("2026-03-03T09:00:00Z");
    approve("2026-03-03T10:00:00Z", &early);
    let late = file("2026-03-20T09:00:00Z");
    approve("2026-03-20T10:00:00Z", &late);
    s.set_time("2026-03-21T00:15:00Z");
    let (st, v) = s.call(
        "POST",
        "/v1/admin/monitor/run",
        &s.admin,
        Some(&json!({"project": project})),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.call(
        "GET",
        &format!("/api/projects/{project}/anomalies?from=2026-03-01&to=2026-03-21"),
        &keys[0],
        None,
    );
    assert_eq!(st, 200, "{v}");
    let found: Vec<&Value> = v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "approval_by_new_principal")
        .collect();
    assert_eq!(found.len(), 1, "{v}");
    assert_eq!(found[0]["day"], "2026-03-03");
    assert!(
        found[0]["subject"].as_str().unwrap().ends_with(&early),
        "{v}"
    );
}

#[test]
fn a_principal_changes_by_a_record_and_stays_one_person() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let admin = s.admin_key.as_str();
    let project = api.create_project(admin, "orders-api");
    let key = |body: Value| {
        let (st, v) = add(&api, admin, &project, &body);
        assert_eq!(st, 201, "{v}");
        (
            v["principal_id"].as_str().unwrap().to_owned(),
            v["api_key"].as_str().unwrap().to_owned(),
        )
    };
    let (_, alice) = key(json!({"name": "alice", "roles": ["codeowner"], "github_id": 583_231}));
    let (dave_id, dave) = key(json!({"name": "dave", "roles": ["auditor"]}));
    let (erin_id, _) = key(json!({"name": "erin", "roles": ["auditor"]}));
    let (gone_id, _) = key(json!({"name": "gone", "roles": ["auditor"]}));
    let (_, ci) = key(json!({"name": "ci", "roles": ["ci"]}));
    let patch = |id: &str, who: &str, body: Value| {
        api.send(
            "PATCH",
            &format!("/v1/admin/projects/{project}/principals/{id}"),
            Some(who),
            Some(&body),
        )
    };

    // dave, an auditor, becomes a codeowner and is bound to his GitHub ID.
    let (st, v) = patch(
        &dave_id,
        admin,
        json!({"roles": ["codeowner"], "github_id": 77}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["changed"], json!(["roles", "github_id"]), "{v}");
    assert_eq!(v["roles"], json!(["codeowner"]), "{v}");
    // The same values again: nothing changes, nothing is logged.
    let (st, v) = patch(
        &dave_id,
        admin,
        json!({"roles": ["codeowner"], "github_id": 77}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["changed"], json!([]), "{v}");

    // Refusals, each changing nothing.
    for (id, who, body, status, says) in [
        // An identity is bound once: never re-pointed to another person.
        (
            &dave_id,
            admin,
            json!({"github_id": 78}),
            409,
            "never re-pointed",
        ),
        // alice's GitHub ID for erin: two principals of one person.
        (
            &erin_id,
            admin,
            json!({"github_id": 583_231}),
            409,
            "GitHub ID 583231",
        ),
        // Only a log admin changes principals, not the principal itself.
        (
            &dave_id,
            dave.as_str(),
            json!({"roles": ["admin"]}),
            403,
            "log admin",
        ),
        (
            &"key_nobody".to_owned(),
            admin,
            json!({"bot": true}),
            404,
            "key_nobody",
        ),
        (&dave_id, admin, json!({"name": "david"}), 400, ""),
        (&dave_id, admin, json!({"roles": []}), 400, "roles"),
        (
            &dave_id,
            admin,
            json!({"roles": ["ci", "consumer"]}),
            400,
            "consumer",
        ),
    ] {
        let (st, v) = patch(id, who, body.clone());
        let st = if st == 422 { 400 } else { st };
        assert_eq!(st, status, "{body}: {v}");
        assert!(
            v["error"].as_str().unwrap_or_default().contains(says),
            "{body}: {v}"
        );
    }
    let (st, v) = api.send(
        "DELETE",
        &format!("/v1/admin/keys/{gone_id}"),
        Some(admin),
        None,
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = patch(&gone_id, admin, json!({"roles": ["codeowner"]}));
    assert_eq!(st, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("revoked"), "{v}");

    // The change took effect on dave's key: he approves alice's exception.
    let exc = filed_exception(
        &api,
        &project,
        &ci,
        &alice,
        "def5678",
        ("response_field_removed", "GET /orders/{id}"),
    );
    let (st, v) = api.post(
        &format!("/api/projects/{project}/exceptions/{exc}/signals"),
        &dave,
        &json!({"type": "codeowner_approval", "comment": "LGTM"}),
    );
    assert_eq!(st, 201, "{v}");

    // The export carries the one change, and verifies with dave approving
    // as the codeowner the change made him.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    let export = download(
        &s.url,
        &format!("/api/projects/{project}/compliance-export"),
        admin,
        &path,
    );
    check_schema(&path);
    let (code, out) = verify(&path, &s.verifier_key, dir.path());
    assert_eq!(code, 0, "{out}");
    let changes: Vec<&Value> = export["section_d_audit_trail_integrity"]["chain"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["record"])
        .filter(|r| r["type"] == "principal_changed")
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["principal_id"], dave_id.as_str());
    assert_eq!(changes[0]["changed"], json!(["roles", "github_id"]));
    assert_eq!(changes[0]["github_id"], 77);
    assert!(
        changes[0]["changed_by"]
            .as_str()
            .unwrap()
            .starts_with("key_")
    );
    let header_dave = export["header"]["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == dave_id.as_str())
        .unwrap();
    assert_eq!(header_dave["roles"], json!(["codeowner"]), "{header_dave}");
}
