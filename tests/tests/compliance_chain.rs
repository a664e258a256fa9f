//! The chain of a project's records (issue 25, item 1), end to end on the
//! real `stateanchor-log` and `stateanchor-verify`: every record carries its
//! `seq` and `prev`, and its envelope the `seq`, so that an export proves it
//! holds every record of its period. An export from which one exception and
//! its events are dropped, with everything recomputed that can be without
//! the log's key, names the gap; an exception applied in section A but
//! missing from section B is named; the raw write API cannot mint an
//! envelope; `seq` has no gap or repeat when fifty decisions arrive at once;
//! a log written before chains starts them at start-up and its legacy
//! records verify, said to be unproven complete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use compliance::export::{
    ExportFormat, ExportHeader, ExportParts, Integrity, ProvenRecord, RecordSource, Section,
    SectionHasher, SummaryBuilder, render,
};
use compliance::record::seal;
use integration_tests::in_process::InProcess;
use integration_tests::ledger::{blocked_run, rfc3339_in};
use integration_tests::{Api, LogServer, bin, check_schema, download, settled};
use serde_json::{Value, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

const SECTIONS: [&str; 3] = [
    "section_a_change_management",
    "section_b_exception_authorization",
    "section_c_control_changes",
];

fn verify(file: &Path, key: &str, evidence: &Path) -> (i32, String, String) {
    let out = Command::new(bin("stateanchor-verify"))
        .arg("--evidence-dir")
        .arg(evidence)
        .args(["export", file.to_str().unwrap(), "--key", key])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

/// A project with a CI key, two codeowners and an auditor.
struct Project {
    id: String,
    ci: String,
    alice: String,
    bob: String,
    auditor: String,
}

fn project(api: &Api, admin: &str) -> Project {
    let id = api.create_project(admin, "payments-api");
    let key = |name: &str, role: &str| {
        let (st, v) = api.post(
            &format!("/v1/admin/projects/{id}/principals"),
            admin,
            &json!({"name": name, "roles": [role]}),
        );
        assert_eq!(st, 201, "{v}");
        v["api_key"].as_str().unwrap().to_owned()
    };
    Project {
        ci: key("ci", "ci"),
        alice: key("alice", "codeowner"),
        bob: key("bob", "codeowner"),
        auditor: key("auditor", "auditor"),
        id,
    }
}

fn decision(endpoint: &str) -> Value {
    json!({
        "commit_sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "branch": "main",
        "author": "Alice Example <alice@example.com>",
        "findings": [{"kind": "response_field_removed", "endpoint": endpoint,
                      "severity": "ERR", "detail": "field id removed"}],
    })
}

fn decide(api: &Api, p: &Project, endpoint: &str) -> Value {
    let (st, v) = api.post(
        &format!("/api/projects/{}/decisions", p.id),
        &p.ci,
        &decision(endpoint),
    );
    assert_eq!(st, 201, "{v}");
    v
}

/// Files an exception (alice) for the blocked `run` (one of whose ERR
/// findings is `response_field_removed` on `endpoint`) and has bob approve
/// it: its ID.
fn file_and_approve(api: &Api, p: &Project, run: &str, endpoint: &str, approve: bool) -> String {
    let (st, v) = api.post(
        &format!("/api/projects/{}/exceptions", p.id),
        &p.alice,
        &json!({"run_id": run, "kind": "response_field_removed", "endpoint": endpoint,
                "reason": "clients migrated", "expires_at": rfc3339_in(5)}),
    );
    assert_eq!(st, 201, "{v}");
    let id = v["exception_id"].as_str().unwrap().to_owned();
    if approve {
        let (st, v) = api.post(
            &format!("/api/projects/{}/exceptions/{id}/signals", p.id),
            &p.bob,
            &json!({"type": "codeowner_approval", "comment": "LGTM"}),
        );
        assert_eq!(st, 201, "{v}");
    }
    id
}

/// Every record of an export (sections A to C, section D's records of no
/// section if any, and the export record).
fn all_records(export: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for s in SECTIONS {
        out.extend(export[s].as_array().unwrap().iter().cloned());
    }
    let d = &export["section_d_audit_trail_integrity"];
    if let Some(rs) = d["chain"]["records"].as_array() {
        out.extend(rs.iter().cloned());
    }
    out.push(d["export_record"].clone());
    out
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

fn leaf(r: &Value) -> [u8; 32] {
    B64.decode(r["leaf_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

/// What someone who holds an export, and a log-wide submitter key, but not
/// the log's signing key can do to make an export without some records
/// look complete: drop the records `drop` picks, recompute the sections'
/// digests and the summary, seal the export record again and append it
/// through the raw write API, prove every record to the checkpoint that
/// covers it, and render the export again. Returns the raw API's status
/// (201 before chains; 400 since, and then the rest is done anyway, with
/// the old checkpoint and proofs).
fn forge_without(
    export: &Value,
    drop: &dyn Fn(&Value) -> bool,
    url: &str,
    submitter: &str,
    out: &Path,
) -> u16 {
    let http = reqwest::blocking::Client::new();
    let mut e = export.clone();
    for s in SECTIONS {
        e[s].as_array_mut().unwrap().retain(|r| !drop(&r["record"]));
    }
    let digests: Vec<Value> = SECTIONS
        .iter()
        .map(|s| {
            let mut h = SectionHasher::default();
            for r in e[*s].as_array().unwrap() {
                h.add(&leaf(r));
            }
            serde_json::to_value(h.finish()).unwrap()
        })
        .collect();
    let d = "section_d_audit_trail_integrity";
    {
        let er = &mut e[d]["export_record"];
        for (field, digest) in ["section_a", "section_b", "section_c"].iter().zip(digests) {
            er["record"][*field] = digest;
        }
        let (_, envelope) = seal(&er["record"]).unwrap();
        er["envelope"] = json!(String::from_utf8(envelope.clone()).unwrap());
        er["leaf_hash"] = json!(tlog::leaf_hash(&envelope).to_base64());
    }
    let envelope = e[d]["export_record"]["envelope"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = http
        .post(format!("{url}/v1/entries?wait=checkpoint"))
        .bearer_auth(submitter)
        .header("content-type", "application/octet-stream")
        .body(envelope)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    if status == 201 {
        // Logged: every proof to the checkpoint that covers it.
        let v: Value = resp.json().unwrap();
        let n = v["tree_size"].as_u64().unwrap();
        let note = v["checkpoint"].as_str().unwrap().to_owned();
        e[d]["checkpoint"] = json!(note);
        e[d]["tree_size"] = json!(n);
        e[d]["root_hash"] = json!(note.lines().nth(2).unwrap());
        e[d]["export_record"]["log_index"] = v["index"].clone();
        e[d]["export_record"]["inclusion_proof"] = v["proof"].clone();
        fn reprove(v: &mut Value, http: &reqwest::blocking::Client, url: &str, n: u64) {
            match v {
                Value::Object(o) => {
                    if let (Some(i), true) = (
                        o.get("log_index").and_then(Value::as_u64),
                        o.contains_key("inclusion_proof"),
                    ) {
                        let p: Value = http
                            .get(format!("{url}/v1/proof/inclusion?index={i}&tree_size={n}"))
                            .send()
                            .unwrap()
                            .json()
                            .unwrap();
                        o.insert("inclusion_proof".into(), p["proof"].clone());
                    }
                    for (k, x) in o.iter_mut() {
                        if k != "record" {
                            reprove(x, http, url, n);
                        }
                    }
                }
                Value::Array(a) => a.iter_mut().for_each(|x| reprove(x, http, url, n)),
                _ => {}
            }
        }
        let index = e[d]["export_record"]["log_index"].clone();
        for s in SECTIONS {
            reprove(&mut e[s], &http, url, n);
        }
        let er = e[d]["export_record"].clone();
        reprove(&mut e[d], &http, url, n);
        // The export record's own proof came with the append.
        assert_eq!(e[d]["export_record"]["log_index"], index);
        e[d]["export_record"] = er;
    }
    // The summary, recomputed from what is left; then the whole file.
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
    let integrity: Integrity = serde_json::from_value(e[d].clone()).unwrap();
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
    status
}

/// The attack of the issue: one exception and all its events dropped from
/// an export, everything recomputed that can be without the log's key.
/// Before chains the forged export verified; now the verifier names the
/// missing sequence numbers (and the raw API refuses the forged export
/// record, `raw_entries_shaped_like_envelopes_are_refused`).
#[test]
fn an_export_without_one_exception_names_the_gap() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let p = project(&api, &s.admin_key);
    decide(&api, &p, "GET /a");
    decide(&api, &p, "GET /b");
    // Each exception is filed for the decision its endpoint blocked.
    let run = decide(&api, &p, "GET /dropped")["run_id"].clone();
    let dropped = file_and_approve(&api, &p, run.as_str().unwrap(), "GET /dropped", false);
    decide(&api, &p, "GET /c");
    let (st, v) = api.post(
        &format!("/api/projects/{}/exceptions/{dropped}/signals", p.id),
        &p.bob,
        &json!({"type": "codeowner_approval", "comment": "LGTM"}),
    );
    assert_eq!(st, 201, "{v}");
    let run = decide(&api, &p, "GET /kept")["run_id"].clone();
    file_and_approve(&api, &p, run.as_str().unwrap(), "GET /kept", true);
    decide(&api, &p, "GET /d");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    let export = download(
        &s.url,
        &format!("/api/projects/{}/compliance-export", p.id),
        &p.auditor,
        &path,
    );
    check_schema(&path);
    let (code, out, errs) = verify(&path, &s.verifier_key, dir.path());
    assert_eq!(code, 0, "{out}{errs}");

    let is_dropped =
        |r: &Value| r["id"] == dropped.as_str() || r["exception_id"] == dropped.as_str();
    let forged = dir.path().join("forged.json");
    let status = forge_without(&export, &is_dropped, &s.url, &s.admin_key, &forged);
    let (code, out, errs) = verify(&forged, &s.verifier_key, dir.path());
    assert_eq!(
        code, 1,
        "an export without exception {dropped} verified (the raw API answered {status}): {out}{errs}"
    );
    // Named: the missing sequence numbers (the filing, then the signal and
    // the activation, with a decision between them).
    let seqs: Vec<u64> = export["section_b_exception_authorization"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| is_dropped(&r["record"]))
        .map(|r| r["record"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 3, "{seqs:?}");
    assert_eq!(
        seqs[1],
        seqs[0] + 2,
        "a decision between filing and approval"
    );
    assert!(
        errs.contains(&format!(
            "record seq {} of the project's chain is missing from the export",
            seqs[0]
        )),
        "{errs}"
    );
    assert!(
        errs.contains(&format!(
            "2 ranges are missing in all (3 records): {}, {}-{}",
            seqs[0], seqs[1], seqs[2]
        )),
        "{errs}"
    );
    assert_eq!(status, 400, "the raw API refuses the forged export record");
}

/// An exception filed and activated the day before the period and applied
/// by a decision of the period, dropped from section B with its events
/// (which are all before the period: no gap in the period's chain): the
/// verifier names it.
#[test]
fn an_exception_applied_in_section_a_must_be_in_section_b() {
    let s = InProcess::start();
    let dir = tempfile::tempdir().unwrap();
    s.set_time("2026-03-10T12:00:00Z");
    let (project, keys) = s.project(
        &json!({"name": "payments"}),
        &[
            ("ci", "ci"),
            ("alice", "codeowner"),
            ("bob", "codeowner"),
            ("auditor", "auditor"),
        ],
    );
    let (ci, alice, bob, auditor) = (&keys[0], &keys[1], &keys[2], &keys[3]);
    let ep = "GET /users/{id}";
    // The run the exception is filed for, blocked before the period.
    let run = s.post(
        &format!("/api/projects/{project}/decisions"),
        ci,
        &decision(ep),
    )["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let exc = s.post(
        &format!("/api/projects/{project}/exceptions"),
        alice,
        &json!({"run_id": run, "kind": "response_field_removed", "endpoint": ep,
                "reason": "clients migrated", "expires_at": "2026-04-30T00:00:00Z"}),
    )["exception_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.set_time("2026-03-10T13:00:00Z");
    s.post(
        &format!("/api/projects/{project}/exceptions/{exc}/signals"),
        bob,
        &json!({"type": "codeowner_approval", "comment": "LGTM"}),
    );
    s.set_time("2026-03-11T09:00:00Z");
    let d = s.post(
        &format!("/api/projects/{project}/decisions"),
        ci,
        &decision(ep),
    );
    assert_eq!(d["exceptions_applied"], json!([exc]), "{d}");
    s.set_time("2026-03-11T10:00:00Z");
    s.post(
        &format!("/api/projects/{project}/decisions"),
        ci,
        &decision("GET /other"),
    );
    // The period is over when it is exported.
    s.set_time("2026-03-12T08:00:00Z");
    let path = dir.path().join("export.json");
    let export = download(
        &s.url,
        &format!("/api/projects/{project}/compliance-export?from=2026-03-11&to=2026-03-11"),
        auditor,
        &path,
    );
    check_schema(&path);
    let key = InProcess::verifier_key();
    let (code, out, errs) = verify(&path, &key, dir.path());
    assert_eq!(code, 0, "{out}{errs}");
    assert!(
        out.contains("the record after it is dated after the period"),
        "{out}"
    );
    let b = export["section_b_exception_authorization"]
        .as_array()
        .unwrap();
    assert_eq!(b.len(), 3, "the exception's earlier events: {b:?}");

    let forged = dir.path().join("forged.json");
    let is_exc = |r: &Value| r["id"] == exc.as_str() || r["exception_id"] == exc.as_str();
    let status = forge_without(&export, &is_exc, &s.url, &s.admin, &forged);
    let (code, out, errs) = verify(&forged, &key, dir.path());
    assert_eq!(
        code, 1,
        "an export without the applied exception verified (raw API: {status}): {out}{errs}"
    );
    let run = d["run_id"].as_str().unwrap();
    assert!(
        errs.contains(&format!(
            "{run} (section A, line 4) applied exception {exc}, which is not in section B"
        )),
        "{errs}"
    );
}

/// `POST /v1/entries` refuses, with 400 and appending nothing, every entry
/// a verifier would read as a record's envelope; other entries are taken.
#[test]
fn raw_entries_shaped_like_envelopes_are_refused() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let p = project(&api, &s.admin_key);
    let d = decide(&api, &p, "GET /a");
    let (st, v) = api.get(
        &format!(
            "/api/projects/{}/decisions/{}",
            p.id,
            d["run_id"].as_str().unwrap()
        ),
        &p.auditor,
    );
    assert_eq!(st, 200, "{v}");
    let envelope = v["envelope"].as_str().unwrap().to_owned();
    assert!(
        envelope.starts_with("stateanchor-envelope/v2\n{"),
        "{envelope}"
    );
    let record = &v["record"];
    assert_eq!(
        record["seq"], 6,
        "the project's creation, its four principals (principal_added), then this decision"
    );
    assert!(envelope.contains("\"seq\":6"), "{envelope}");
    let tree = || {
        let (st, v) = api.send("GET", "/v1/log", None, None);
        assert_eq!(st, 200);
        v["tree_size"].as_u64().unwrap()
    };
    let before = settled(tree);
    // The decision's own envelope again, one of a made-up record with the
    // next seq, and the legacy form: all refused.
    let next = envelope.replace("\"seq\":2", "\"seq\":3");
    let legacy = format!(
        r#"{{"digest":"sha256:{}","id":"run_forged","project":"{}","time":"2026-01-01T00:00:00.000Z","type":"gate_decision","v":1}}"#,
        "0".repeat(64),
        p.id
    );
    let http = reqwest::blocking::Client::new();
    let post = |body: &[u8]| {
        let resp = http
            .post(format!("{}/v1/entries", s.url))
            .bearer_auth(&s.admin_key)
            .header("content-type", "application/octet-stream")
            .body(body.to_vec())
            .send()
            .unwrap();
        let st = resp.status().as_u16();
        (st, resp.json::<Value>().unwrap_or_default())
    };
    for body in [
        envelope.as_bytes(),
        next.as_bytes(),
        legacy.as_bytes(),
        b"stateanchor-envelope/v3\nanything",
    ] {
        let (st, v) = post(body);
        assert_eq!(st, 400, "{}: {v}", String::from_utf8_lossy(body));
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("would be read as a compliance record's"),
            "{v}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(settled(tree), before, "nothing was appended");
    // Anything else is a raw entry, as before.
    let (st, v) = post(b"{\"type\":\"gate_decision\",\"digest\":\"sha256:00\"}");
    assert_eq!(st, 201, "{v}");
    // It is the next entry: nothing refused above took an index. (The tree
    // size of /v1/log is the checkpoint's, which may not cover it yet.)
    assert_eq!(v["index"].as_u64(), Some(before), "{v}");
}

/// Fifty decisions (and five filings) at once: the project's records are
/// seq 1 to N without a gap or a repeat, each `prev` is the digest of the
/// record before, and the export says so and verifies.
#[test]
fn seq_is_gap_free_under_concurrent_writes() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let p = project(&api, &s.admin_key);
    // The run the five exceptions are filed for, blocked by GET /e/50 to /e/54.
    let errs: Vec<String> = (50..55).map(|i| format!("GET /e/{i}")).collect();
    let errs: Vec<(&str, &str)> = errs
        .iter()
        .map(|e| ("response_field_removed", e.as_str()))
        .collect();
    let run = blocked_run(&api, &p.id, &p.ci, "abcdef0", &errs);
    let barrier = std::sync::Barrier::new(55);
    std::thread::scope(|scope| {
        for i in 0..55 {
            let (barrier, p, url, run) = (&barrier, &p, s.url.clone(), &run);
            scope.spawn(move || {
                let api = Api::at(url);
                barrier.wait();
                if i < 50 {
                    decide(&api, p, &format!("GET /c/{i}"));
                } else {
                    file_and_approve(&api, p, run, &format!("GET /e/{i}"), false);
                }
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    let export = download(
        &s.url,
        &format!("/api/projects/{}/compliance-export", p.id),
        &p.auditor,
        &path,
    );
    check_schema(&path);
    let mut records: Vec<(u64, Value)> = all_records(&export)
        .into_iter()
        .map(|r| (r["record"]["seq"].as_u64().unwrap(), r))
        .collect();
    records.sort_by_key(|(seq, _)| *seq);
    let seqs: Vec<u64> = records.iter().map(|(s, _)| *s).collect();
    // The creation, 4 principals, the run the filings name, 50 decisions,
    // 5 filings, the export.
    assert_eq!(seqs, (1..=62).collect::<Vec<_>>());
    let mut prev: Option<String> = None;
    for (seq, r) in &records {
        let (jcs, envelope) = seal(&r["record"]).unwrap();
        assert_eq!(r["envelope"].as_str().unwrap().as_bytes(), envelope);
        assert_eq!(
            r["record"].get("prev").and_then(Value::as_str),
            prev.as_deref(),
            "seq {seq}"
        );
        prev = Some(compliance::record::sha256_digest(&jcs));
    }
    assert_eq!(export["header"]["chain"]["first_seq"], 1);
    assert_eq!(export["header"]["chain"]["last_seq"], 61);
    let (code, out, errs) = verify(&path, &s.verifier_key, dir.path());
    assert_eq!(code, 0, "{out}{errs}");
    assert!(
        out.contains(
            "chain: the period's records are seq 1 to 61 of the project's chain, with no gap"
        ),
        "{out}"
    );
}

/// A RocksDB log written before chains (records without `seq`, legacy
/// envelopes): at start-up the server starts the project's chain with a
/// `chain_started` record that commits to the legacy records, later records
/// follow it, and an export of a period that holds both verifies, saying
/// that the legacy records' completeness is not proven.
#[test]
fn a_log_written_before_chains_starts_them_at_start_up() {
    use compliance::ledger::{ProjectRow, ProjectSettings};
    use compliance::record::{
        ExceptionRequested, GateDecision, ProjectSettingsChanged, Record, RecordBody,
    };
    use log_server::storage::rocksdb::RocksDb;
    use log_server::storage::{Batch, LogStore, NewEntry, NewRecord, RecordStore};

    if std::env::var("STATEANCHOR_TEST_BACKEND").as_deref() == Ok("cluster") {
        eprintln!("skipped: the legacy log is built in RocksDB");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let id = "prj_legacyLegacy";
    let now = unix_ms();
    let time = |ago_min: i64| compliance::time::format_time(now - ago_min * 60_000);
    let bodies = [
        RecordBody::ProjectSettingsChanged(ProjectSettingsChanged {
            changed_by: "key_admin".into(),
            changed_by_name: "admin".into(),
            changed: vec!["created".into()],
            settings: ProjectSettings::default(),
            previous: None,
            weakening: Vec::new(),
            change_id: None,
            approved_by: None,
            approved_by_name: None,
        }),
        RecordBody::GateDecision(GateDecision {
            submitted_by: "key_ci".into(),
            submitted_by_name: "ci".into(),
            commit_sha: "9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
            branch: "main".into(),
            author: "alice".into(),
            findings: vec![],
            artifacts: vec![],
            verdict: "PASS".into(),
            blocked: false,
            blocked_reasons: vec![],
            exceptions_applied: vec![],
            classified_by: "ci".into(),
            classifier: None,
            summary: None,
        }),
        RecordBody::ExceptionRequested(ExceptionRequested {
            requested_by: "key_alice".into(),
            requested_by_name: "alice".into(),
            kind: "response_field_removed".into(),
            endpoint: "GET /users/{id}".into(),
            reason: "clients migrated".into(),
            expires_at: rfc3339_in(5),
            repository: None,
            pull_request: None,
            blocked_run: None,
        }),
    ];
    let mut digests = Vec::new();
    {
        let store = RocksDb::open(&dir.join("db")).unwrap();
        store
            .put_project(&ProjectRow {
                id: id.into(),
                name: "legacy".into(),
                created_at: time(30),
                settings: ProjectSettings::default(),
            })
            .unwrap();
        let mut frontier = tlog::Frontier::default();
        for (i, body) in (1u64..).zip(bodies) {
            let record = Record {
                id: format!("evt_legacy{i}"),
                project: id.into(),
                time: time(30 - i64::try_from(i).unwrap()),
                salt: "ab".repeat(16),
                seq: None,
                prev: None,
                body,
            };
            let (jcs, envelope) = record.seal().unwrap();
            assert!(envelope.starts_with(b"{\"digest\":"), "a legacy envelope");
            digests.push(sha2_of(&jcs));
            let new = NewRecord {
                project: id.into(),
                seq: i,
                time_ms: compliance::time::parse_time(&record.time).unwrap(),
                id: record.id.clone(),
                kind: record.body.kind(),
                exception: record.exception().map(str::to_owned),
                record: jcs,
                follows: None,
                project_row: None,
            };
            let leaf_hash = tlog::leaf_hash(&envelope);
            let mut hashes = Vec::new();
            let index = frontier.size();
            frontier.append(leaf_hash, |n, h| hashes.push((n, h)));
            store
                .commit(&Batch {
                    entries: &[NewEntry {
                        index,
                        data: &envelope,
                        leaf_hash,
                        record: Some(&new),
                    }],
                    hashes: &hashes,
                    new_size: frontier.size(),
                })
                .unwrap();
        }
        store.flush().unwrap();
    }

    let s = LogServer::start_in(&dir, &[]);
    let api = Api::new(&s);
    // The chain starts at start-up: the legacy records, then chain_started.
    let tree = || {
        let (_, v) = api.send("GET", "/v1/log", None, None);
        v["tree_size"].as_u64().unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tree() < 4 {
        assert!(std::time::Instant::now() < deadline, "no chain_started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let key = |name: &str, role: &str| {
        let (st, v) = api.post(
            &format!("/v1/admin/projects/{id}/principals"),
            &s.admin_key,
            &json!({"name": name, "roles": [role]}),
        );
        assert_eq!(st, 201, "{v}");
        v["api_key"].as_str().unwrap().to_owned()
    };
    let (ci, auditor) = (key("ci", "ci"), key("auditor", "auditor"));
    let (st, v) = api.post(
        &format!("/api/projects/{id}/decisions"),
        &ci,
        &decision("GET /new"),
    );
    assert_eq!(st, 201, "{v}");
    // The legacy exception was loaded from its record: the ERR of its
    // endpoint is blocked (it is not active), the ledger knows it.
    let (st, v) = api.get(&format!("/api/projects/{id}/exceptions"), &auditor);
    assert_eq!(st, 200, "{v}");
    assert!(v.to_string().contains("evt_legacy3"), "{v}");

    let path = tmp.path().join("export.json");
    let export = download(
        &s.url,
        &format!("/api/projects/{id}/compliance-export"),
        &auditor,
        &path,
    );
    check_schema(&path);
    let chain = &export["header"]["chain"];
    assert_eq!(chain["legacy_records"], 3, "{chain}");
    // chain_started, the two principals' principal_added records, the decision.
    assert_eq!(
        (chain["first_seq"].as_u64(), chain["last_seq"].as_u64()),
        (Some(4), Some(7))
    );
    let started = &export["section_d_audit_trail_integrity"]["chain"]["records"][0];
    assert_eq!(started["record"]["type"], "chain_started", "{started}");
    assert_eq!(started["record"]["seq"], 4);
    assert_eq!(started["record"]["legacy_records"], 3);
    // prev: the last legacy record; legacy_digest: all of them, in order.
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        started["record"]["prev"],
        format!("sha256:{}", hex(&digests[2]))
    );
    assert_eq!(
        started["record"]["legacy_digest"],
        format!("sha256:{}", hex(&sha2_of(&digests.concat())))
    );
    let (code, out, errs) = verify(&path, &s.verifier_key, tmp.path());
    assert_eq!(code, 0, "{out}{errs}");
    assert!(
        out.contains(
            "legacy: 3 records of the period were written before the project's chain started"
        ),
        "{out}"
    );
    assert!(out.contains("seq 4 to 7"), "{out}");
}

fn sha2_of(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}
