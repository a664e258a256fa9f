//! Monitoring end to end (`spec/monitoring.md`): a project with a synthetic
//! month of activity, on the log server's HTTP API in process with its
//! clock pinned to each moment of the month, gets exactly the anomalies its
//! history implies; each is a record in the log, in the export (verified by
//! the real `stateanchor-verify`), and delivered to signed webhooks (a
//! failing one retried); re-running a day records nothing; days missed are
//! caught up; the digest's figures are the export's; and the digest is
//! mailed to a local SMTP sink (aiosmtpd).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use integration_tests::in_process::{InProcess, Options};
use integration_tests::{bin, check_schema};
use serde_json::{Value, json};
use sha2::Sha256;

const DOC: &str = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n";
const SECRET: &str = "a-webhook-secret-of-some-length";

/// Requests a webhook receiver got: path, headers, body.
type Received = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

/// A webhook receiver on 127.0.0.1: `/ok` answers 200, `/flaky` 500 to its
/// first request and 200 after.
fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let state = got.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let handler = |path: &'static str, state: Received| {
                move |headers: HeaderMap, body: Bytes| {
                    let state = state.clone();
                    async move {
                        let mut all = state.lock().unwrap();
                        let first_flaky =
                            path == "/flaky" && !all.iter().any(|(p, _, _)| p == "/flaky");
                        all.push((path.to_owned(), headers, body));
                        if first_flaky {
                            StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            StatusCode::OK
                        }
                    }
                }
            };
            let app = Router::new()
                .route("/ok", post(handler("/ok", state.clone())))
                .route("/flaky", post(handler("/flaky", state.clone())));
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", l.local_addr().unwrap()))
                .unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), got)
}

/// aiosmtpd writing every message into a Maildir.
struct SmtpSink {
    child: Child,
    url: String,
    maildir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = tempfile::tempdir().unwrap();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/prereqs.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        SmtpSink {
            child,
            url: format!("smtp://127.0.0.1:{port}"),
            maildir,
        }
    }

    fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("mail").join("new");
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn day(d: u32) -> String {
    format!("2026-03-{d:02}")
}

#[test]
fn a_synthetic_month_gets_exactly_the_anomalies_its_history_implies() {
    let smtp = SmtpSink::start();
    let s = InProcess::start_with(Options {
        webhook_retry: Duration::from_millis(50),
        smtp: Some((smtp.url.clone(), "StateAnchor <log@example.com>".to_owned())),
    });
    let (hooks, received) = receiver();
    s.set_time("2026-03-01T08:00:00Z");
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
    let (st, v) = s.call(
        "PUT",
        &format!("/v1/admin/projects/{project}/alerts"),
        &s.admin,
        Some(&json!({"webhooks": [
                {"url": format!("{hooks}/ok"), "format": "json", "secret": SECRET},
                {"url": format!("{hooks}/flaky"), "format": "slack", "secret": SECRET}],
            "digest_recipients": ["team@example.com"]})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["webhooks"][0]["secret"], "(set)",
        "secrets are never shown"
    );
    // Bad alert settings change nothing.
    for (bad, words) in [
        (
            json!({"webhooks": [{"url": "ftp://x", "secret": SECRET}]}),
            "http or https",
        ),
        (
            json!({"webhooks": [{"url": "http://x", "secret": "short"}]}),
            "16 characters",
        ),
        (
            json!({"digest_recipients": ["not an address"]}),
            "mail address",
        ),
    ] {
        let (st, v) = s.call(
            "PUT",
            &format!("/v1/admin/projects/{project}/alerts"),
            &s.admin,
            Some(&bad),
        );
        assert_eq!(st, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains(words), "{v}");
    }

    let decisions = format!("/api/projects/{project}/decisions");
    let exceptions = format!("/api/projects/{project}/exceptions");
    let classified = |time: &str| {
        s.set_time(time);
        s.post(
            &decisions,
            ci,
            &json!({"commit_sha": "abcdef0", "branch": "main", "author": "dev",
            "base_spec": DOC, "revision_spec": DOC}),
        )
    };
    let supplied = |time: &str, severity: &str, kind: &str, endpoint: &str| {
        s.set_time(time);
        s.post(
            &decisions,
            ci,
            &json!({"commit_sha": "abcdef1", "branch": "main", "author": "dev",
            "findings": [{"kind": kind, "endpoint": endpoint, "severity": severity}]}),
        )
    };
    // Every exception below is filed for the run CI's (k, GET /a) ERR
    // blocked on the 3rd, an hour before the first filing.
    let blocked = std::cell::OnceCell::new();
    let file = |time: &str, expires: &str| {
        let run: &String = blocked.get_or_init(|| {
            let v = supplied("2026-03-03T08:00:00Z", "ERR", "k", "GET /a");
            assert_eq!(v["blocked"], true, "{v}");
            v["run_id"].as_str().unwrap().to_owned()
        });
        s.set_time(time);
        s.post(
            &exceptions,
            alice,
            &json!({"run_id": run, "kind": "k", "endpoint": "GET /a", "reason": "migration",
            "expires_at": expires}),
        )["exception_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let approve = |time: &str, exc: &str| {
        s.set_time(time);
        s.post(
            &format!("{exceptions}/{exc}/signals"),
            bob,
            &json!({"type": "codeowner_approval"}),
        );
    };
    let monitor = |date: Option<&str>| {
        let (st, v) = s.call(
            "POST",
            "/v1/admin/monitor/run",
            &s.admin,
            Some(&json!({"date": date})),
        );
        assert_eq!(st, 200, "{v}");
        v["days"].as_array().unwrap().clone()
    };

    // March 1-15: two classified changes a day; WARNs supplied by CI on the
    // 10th to the 14th (the same endpoint, parameter names aside);
    // exceptions for (k, GET /a) on the 3rd, 8th and 12th, the last never approved.
    for d in 1..=15 {
        classified(&format!("{}T10:00:00Z", day(d)));
        classified(&format!("{}T11:00:00Z", day(d)));
        if (10..=14).contains(&d) {
            let ep = if d % 2 == 0 {
                "GET /users/{id}"
            } else {
                "get /users/{userId}"
            };
            supplied(&format!("{}T12:00:00Z", day(d)), "WARN", "w", ep);
        }
        match d {
            3 => {
                let e = file("2026-03-03T09:00:00Z", "2026-03-07T00:00:00Z");
                approve("2026-03-03T10:00:00Z", &e);
            }
            8 => {
                let e = file("2026-03-08T09:00:00Z", "2026-03-20T09:00:00Z");
                approve("2026-03-08T10:00:00Z", &e);
            }
            12 => {
                file("2026-03-12T09:00:00Z", "2026-04-12T00:00:00Z");
            }
            _ => {}
        }
    }

    // The 16th, 00:15: the server catches up on the 1st to the 15th.
    s.set_time("2026-03-16T00:15:00Z");
    let days = monitor(None);
    assert_eq!(days.len(), 15, "{days:?}");
    let first: usize = days
        .iter()
        .map(|d| d["recorded"].as_array().unwrap().len())
        .sum();
    // (The 3rd: bob, added on the 1st, approves: a principal approving
    // within 7 days of being added; and the CI-supplied ERR that blocked
    // the run the exceptions are filed for.)
    assert_eq!(first, 10, "{days:?}");
    // A day that is not over is refused; one monitored again records nothing.
    let (st, v) = s.call(
        "POST",
        "/v1/admin/monitor/run",
        &s.admin,
        Some(&json!({"date": "2026-03-16"})),
    );
    assert_eq!(st, 400, "{v}");
    let again = monitor(Some("2026-03-14"));
    assert_eq!(again[0]["already_monitored"], true);
    assert!(again[0]["recorded"].as_array().unwrap().is_empty());

    // March 16-31: two classified changes a day; on the 19th CI applies the
    // exception of the 8th 21 hours before it expires; ten more changes on the 20th.
    for d in 16..=31 {
        classified(&format!("{}T10:00:00Z", day(d)));
        classified(&format!("{}T11:00:00Z", day(d)));
        if d == 19 {
            let v = supplied("2026-03-19T12:00:00Z", "ERR", "k", "GET /a");
            assert_eq!(v["blocked"], false, "{v}");
        }
        if d == 20 {
            for h in 0..10 {
                classified(&format!("2026-03-20T{:02}:30:00Z", 12 + h));
            }
        }
    }
    // Down for a day: on April 2 it catches up on the 16th to April 1.
    s.set_time("2026-04-02T08:00:00Z");
    let days = monitor(None);
    assert_eq!(days.first().unwrap()["day"], "2026-03-16");
    assert_eq!(days.last().unwrap()["day"], "2026-04-01");
    let second: usize = days
        .iter()
        .map(|d| d["recorded"].as_array().unwrap().len())
        .sum();
    assert_eq!(second, 3, "{days:?}");
    assert!(monitor(None).is_empty(), "nothing left to monitor");

    // Exactly the anomalies the history implies.
    let (st, list) = s.call(
        "GET",
        &format!("/api/projects/{project}/anomalies?from=2026-03-01&to=2026-04-02"),
        auditor,
        None,
    );
    assert_eq!(st, 200, "{list}");
    let got: BTreeSet<(String, String)> = list["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_owned(),
                a["day"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("approval_by_new_principal", 3),
        // The blocked run the exceptions are filed for: CI supplied its findings.
        ("findings_supplied_by_ci", 3),
        ("exception_renewal_pattern", 12),
        ("findings_supplied_by_ci", 10),
        ("findings_supplied_by_ci", 11),
        ("findings_supplied_by_ci", 12),
        ("findings_supplied_by_ci", 13),
        ("findings_supplied_by_ci", 14),
        ("recurring_warning", 14),
        ("exception_waiting_too_long", 15),
        ("findings_supplied_by_ci", 19),
        ("exception_expiring_in_use", 19),
        ("change_velocity_spike", 20),
    ]
    .into_iter()
    .map(|(r, d)| (r.to_owned(), day(d)))
    .collect();
    assert_eq!(got, want);

    // Acknowledging: a codeowner with a note, once; not CI.
    let spike = list["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "change_velocity_spike")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ack = format!("/api/projects/{project}/anomalies/{spike}/acknowledge");
    let (st, _) = s.call("POST", &ack, ci, Some(&json!({"note": "x"})));
    assert_eq!(st, 403);
    let (st, _) = s.call("POST", &ack, alice, Some(&json!({"note": ""})));
    assert_eq!(st, 400);
    let (st, v) = s.call(
        "POST",
        &ack,
        alice,
        Some(&json!({"note": "release day: ten services migrated"})),
    );
    assert_eq!(st, 201, "{v}");
    let (st, _) = s.call("POST", &ack, bob, Some(&json!({"note": "again"})));
    assert_eq!(st, 409);
    let (st, _) = s.call(
        "POST",
        &format!("/api/projects/{project}/anomalies/anm_nope/acknowledge"),
        alice,
        Some(&json!({"note": "x"})),
    );
    assert_eq!(st, 404);
    let (_, open) = s.call(
        "GET",
        &format!("/api/projects/{project}/anomalies?from=2026-03-01&to=2026-04-02&status=open"),
        auditor,
        None,
    );
    // Thirteen anomalies (a new principal's approval, the blocked run's
    // CI-supplied findings), one acknowledged.
    assert_eq!(open["anomalies"].as_array().unwrap().len(), 12);

    // Webhooks: every anomaly to each, signed; the flaky one retried.
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().len() < 25 {
        assert!(
            Instant::now() < deadline,
            "webhooks: {} requests",
            received.lock().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = received.lock().unwrap().clone();
    let ok: Vec<_> = got.iter().filter(|(p, _, _)| p == "/ok").collect();
    assert_eq!(ok.len(), 13, "one per anomaly");
    let flaky: Vec<_> = got.iter().filter(|(p, _, _)| p == "/flaky").collect();
    assert_eq!(flaky.len(), 14, "one per anomaly, and the first one twice");
    for (_, headers, body) in &got {
        let ts = headers["x-stateanchor-timestamp"].to_str().unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(body);
        let want: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            headers["x-stateanchor-signature"].to_str().unwrap(),
            format!("sha256={want}")
        );
    }
    let first_ok: Value = serde_json::from_slice(&ok[0].2).unwrap();
    assert_eq!(first_ok["project"], project.as_str());
    assert!(
        first_ok["anomaly"]["id"]
            .as_str()
            .unwrap()
            .starts_with("anm_")
    );
    let slack: Value = serde_json::from_slice(&flaky[0].2).unwrap();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("StateAnchor anomaly in "),
        "{slack}"
    );
    let (_, view) = s.call(
        "GET",
        &format!("/v1/admin/projects/{project}/alerts"),
        &s.admin,
        None,
    );
    let attempts = view["deliveries"].as_array().unwrap();
    assert_eq!(attempts.len(), 27);
    assert!(
        attempts
            .iter()
            .any(|a| a["attempt"] == 2 && a["status"] == 200),
        "{view}"
    );
    assert!(
        attempts
            .iter()
            .any(|a| a["attempt"] == 1 && a["status"] == 500 && a["error"].is_string())
    );

    // The export of the month and the day after: every anomaly, each
    // resolved or open, and 32 days monitored; it verifies.
    let tmp = tempfile::tempdir().unwrap();
    let export = s.download(
        &format!("/api/projects/{project}/compliance-export?from=2026-03-01&to=2026-04-02"),
        auditor,
        tmp.path(),
        "export.json",
    );
    let e: Value = serde_json::from_str(&std::fs::read_to_string(&export).unwrap()).unwrap();
    check_schema(&export);
    let m = &e["section_c_access_and_authorization"]["monitoring"];
    assert_eq!(m["days_monitored"], 32);
    // With the anomalies of the new principal's approval and of the
    // blocked run the exceptions are filed for.
    assert_eq!(m["anomalies"].as_object().unwrap().len(), 13);
    assert_eq!(m["open"], 12);
    assert_eq!(m["anomalies"][&spike]["acknowledged"]["by_name"], "alice");
    let md = s.download(
        &format!("/api/projects/{project}/compliance-export?from=2026-03-01&to=2026-04-02&format=markdown"),
        auditor,
        tmp.path(),
        "export.md",
    );
    let md_text = std::fs::read_to_string(&md).unwrap();
    assert!(md_text.contains("### Monitoring"), "{md_text}");
    assert!(md_text.contains("acknowledged by alice"), "{md_text}");
    for f in [&export, &md] {
        let out = Command::new(bin("stateanchor-verify"))
            .args([
                "export",
                f.to_str().unwrap(),
                "--key",
                &InProcess::verifier_key(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The digest's figures are the export's for the same period.
    let (st, digest) = s.call(
        "GET",
        &format!("/api/projects/{project}/digest?from=2026-03-01&to=2026-04-02&format=json"),
        auditor,
        None,
    );
    assert_eq!(st, 200, "{digest}");
    let c = &e["section_c_access_and_authorization"];
    assert_eq!(digest["runs"], c["decisions"]["total"]);
    assert_eq!(digest["blocked_runs"], c["decisions"]["blocked"]);
    assert_eq!(digest["exceptions_filed"], c["exception_counts"]["created"]);
    assert_eq!(
        digest["exceptions_approved"],
        c["exception_counts"]["activated"]
    );
    assert_eq!(
        digest["p95_approval_latency_ms"],
        c["approval_latency"]["p95_ms"]
    );
    assert_eq!(digest["open_anomalies"].as_array().unwrap().len(), 12);
    // 78, and the blocked run the exceptions are filed for.
    assert_eq!(digest["runs"], 79);
    let (_, html) = s.call(
        "GET",
        &format!("/api/projects/{project}/digest?format=html"),
        auditor,
        None,
    );
    assert!(
        html.as_str().unwrap().starts_with("<!doctype html>"),
        "{html}"
    );

    // Mailed to the sink.
    let (st, v) = s.call(
        "POST",
        &format!("/v1/admin/projects/{project}/digest/send"),
        &s.admin,
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["sent_to"], json!(["team@example.com"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while smtp.messages().is_empty() {
        assert!(Instant::now() < deadline, "no mail arrived");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mail = smtp.messages().remove(0);
    assert!(
        mail.contains("Subject: StateAnchor weekly digest: payments (2026-03-26 to 2026-04-01)"),
        "{mail}"
    );
    assert!(mail.contains("To: team@example.com"), "{mail}");
    assert!(mail.contains("text/html"), "{mail}");
}

/// The real binary: `stateanchor-log monitor run` for cron, idempotent, and
/// the refusals a user can hit.
#[test]
fn monitoring_from_the_command_line_on_the_real_server() {
    let s = integration_tests::LogServer::start(&["--no-monitor"]);
    let http = reqwest::blocking::Client::new();
    let call = |method: &str, path: &str, body: Option<Value>| {
        let mut req = http
            .request(method.parse().unwrap(), format!("{}{path}", s.url))
            .bearer_auth(&s.admin_key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap_or(Value::Null))
    };
    let (_, p) = call("POST", "/v1/admin/projects", Some(json!({"name": "cron"})));
    let project = p["project_id"].as_str().unwrap().to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let today = i64::try_from(now)
        .unwrap()
        .div_euclid(compliance::time::DAY_MS);
    let (yesterday, today) = (
        compliance::time::format_date(today - 1),
        compliance::time::format_date(today),
    );
    let monitor = |extra: &[&str]| {
        let out = Command::new(bin("stateanchor-log"))
            .args(["monitor", "run", "--url", &s.url, "--data-dir"])
            .arg(&s.data_dir)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, errs) = monitor(&["--project", &project, "--date", &yesterday]);
    assert_eq!(code, 0, "{errs}");
    assert_eq!(
        out,
        format!("{project} {yesterday}: 0 anomalies recorded\n")
    );
    let (code, out, _) = monitor(&["--project", &project, "--date", &yesterday]);
    assert_eq!(code, 0);
    assert!(out.contains("already monitored, nothing recorded"), "{out}");
    let (code, _, errs) = monitor(&["--date", &today]);
    assert_ne!(code, 0);
    assert!(errs.contains("is not over yet"), "{errs}");
    let (code, _, errs) = monitor(&["--project", "prj_nope"]);
    assert_ne!(code, 0);
    assert!(errs.contains("404"), "{errs}");
    let (code, _, errs) = monitor(&["--date", "yesterday"]);
    assert_ne!(code, 0);
    assert!(errs.contains("YYYY-MM-DD"), "{errs}");
    // Without --smtp-url the digest is served, not mailed.
    let (st, v) = call(
        "POST",
        &format!("/v1/admin/projects/{project}/digest/send"),
        None,
    );
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("--smtp-url"), "{v}");
    let (st, v) = call(
        "GET",
        &format!("/api/projects/{project}/digest?format=json"),
        None,
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["runs"], 0);
    let (st, _) = call(
        "GET",
        &format!("/api/projects/{project}/digest?format=pdf"),
        None,
    );
    assert_eq!(st, 400);
    let (st, _) = call(
        "POST",
        &format!("/api/projects/{project}/anomalies/anm_nope/acknowledge"),
        Some(json!({"note": "x"})),
    );
    assert_eq!(st, 403, "the log admin is no codeowner");
}
