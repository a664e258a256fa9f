//! Controls that cannot be quietly weakened, end to end on the real
//! `stateanchor-log` binary (`spec/compliance.md` §2): a weakening change
//! raises a `controls_weakened` anomaly and a webhook at once; with
//! `second_admin_for_weakening` on it is held until a second, different
//! admin of the project approves it (the proposer, a codeowner and a log
//! admin key cannot); a held change can be withdrawn; the export shows the
//! controls in force at the period's end and their history, and the real
//! `stateanchor-verify` verifies it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use integration_tests::{Api, LogServer, bin, check_schema};
use serde_json::{Value, json};

const SECRET: &str = "a-webhook-secret-of-some-length";

/// Bodies a webhook receiver on 127.0.0.1 got (`/ok` answers 200).
type Received = Arc<Mutex<Vec<Value>>>;

fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let state = got.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let app = Router::new().route(
                "/ok",
                post(move |body: Bytes| {
                    let state = state.clone();
                    async move {
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        state.lock().unwrap().push(v);
                        StatusCode::OK
                    }
                }),
            );
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", l.local_addr().unwrap()))
                .unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), got)
}

/// Waits for a webhook whose anomaly is about `subject`.
fn webhook_about(got: &Received, subject: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = got
            .lock()
            .unwrap()
            .iter()
            .find(|v| v["anomaly"]["subject"] == subject)
        {
            return v.clone();
        }
        assert!(Instant::now() < deadline, "no webhook about {subject}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Project {
    id: String,
    keys: Vec<String>,
}

fn project(api: &Api, admin: &str, body: &Value, principals: &[(&str, &str)]) -> Project {
    let (st, v) = api.post("/v1/admin/projects", admin, body);
    assert_eq!(st, 201, "{v}");
    let id = v["project_id"].as_str().unwrap().to_owned();
    let keys = principals
        .iter()
        .map(|(name, role)| {
            let (st, v) = api.post(
                &format!("/v1/admin/projects/{id}/principals"),
                admin,
                &json!({"name": name, "roles": [role]}),
            );
            assert_eq!(st, 201, "{v}");
            v["api_key"].as_str().unwrap().to_owned()
        })
        .collect();
    Project { id, keys }
}

fn settings(api: &Api, admin: &str, project: &str) -> Value {
    let (st, v) = api.get(&format!("/v1/admin/projects/{project}"), admin);
    assert_eq!(st, 200, "{v}");
    v["settings"].clone()
}

fn anomalies(api: &Api, key: &str, project: &str) -> Vec<Value> {
    let (st, v) = api.get(&format!("/api/projects/{project}/anomalies"), key);
    assert_eq!(st, 200, "{v}");
    v["anomalies"].as_array().unwrap().clone()
}

#[test]
fn a_weakening_change_is_alerted_held_and_applied_after_a_second_admin() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let admin = s.admin_key.as_str();
    let (hooks, received) = receiver();
    let p = project(
        &api,
        admin,
        &json!({"name": "payments", "second_admin_for_weakening": true}),
        &[
            ("alice", "admin"),
            ("bob", "admin"),
            ("carol", "codeowner"),
            ("audit", "auditor"),
        ],
    );
    let (alice, bob, carol, auditor) = (&p.keys[0], &p.keys[1], &p.keys[2], &p.keys[3]);
    let (st, v) = api.send(
        "PUT",
        &format!("/v1/admin/projects/{}/alerts", p.id),
        Some(admin),
        Some(&json!({"webhooks": [{"url": format!("{hooks}/ok"), "format": "json", "secret": SECRET}]})),
    );
    assert_eq!(st, 200, "{v}");
    let settings_path = format!("/v1/admin/projects/{}/settings", p.id);
    let changes_path = format!("/v1/admin/projects/{}/settings/changes", p.id);
    let patch = |key: &str, body: Value| api.send("PATCH", &settings_path, Some(key), Some(&body));
    let before = settings(&api, admin, &p.id);
    assert_eq!(before["second_admin_for_weakening"], true, "{before}");

    // Bad input changes nothing and holds nothing.
    let (st, v) = patch(alice, json!({"max_exception_lifetime_seconds": 0}));
    assert_eq!(st, 400, "{v}");
    let (st, v) = patch(alice, json!({"accepted_signals": ["no_such_signal"]}));
    assert_eq!(st, 400, "{v}");
    let (st, v) = patch(carol, json!({"max_exception_lifetime_seconds": 60}));
    assert_eq!(st, 403, "a codeowner cannot change the controls: {v}");
    assert_eq!(settings(&api, admin, &p.id), before);
    assert_eq!(api.get(&changes_path, alice).1["changes"], json!([]));

    // Tightening takes effect at once, with no anomaly.
    let (st, v) = patch(alice, json!({"max_exception_lifetime_seconds": 86_400}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["settings"]["max_exception_lifetime_seconds"], 86_400);
    assert!(anomalies(&api, auditor, &p.id).is_empty());

    // A signal added weakens: held (202), alerted, not in effect.
    let (st, held) = patch(
        alice,
        json!({"accepted_signals": ["codeowner_approval", "consumer_test", "github_review"]}),
    );
    assert_eq!(st, 202, "{held}");
    assert_eq!(held["status"], "PENDING", "{held}");
    let change = held["change_id"].as_str().unwrap().to_owned();
    assert!(change.starts_with("chg_"), "{held}");
    assert_eq!(
        held["weakening"],
        json!(["accepted_signals: consumer_test added"]),
        "{held}"
    );
    let now = settings(&api, admin, &p.id);
    assert_eq!(
        now["accepted_signals"],
        json!(["codeowner_approval", "github_review"]),
        "not in effect while held"
    );
    let found = anomalies(&api, auditor, &p.id);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["rule"], "controls_weakened");
    assert_eq!(found[0]["subject"], change.as_str());
    let hook = webhook_about(&received, &change);
    assert_eq!(hook["anomaly"]["rule"], "controls_weakened", "{hook}");
    assert!(
        hook["anomaly"]["detail"]
            .as_str()
            .unwrap()
            .contains("alice weakened the project's controls (held for a second admin's approval): accepted_signals: consumer_test added"),
        "{hook}"
    );
    let (st, list) = api.get(&changes_path, bob);
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["changes"][0]["change_id"], change.as_str(), "{list}");
    assert_eq!(list["changes"][0]["proposed_by_name"], "alice", "{list}");

    // Who cannot approve it: the proposer, a codeowner, a log admin key;
    // an unknown change is 404. None of them changes anything.
    let approve = |key: &str, change: &str| {
        api.post(&format!("{changes_path}/{change}/approve"), key, &json!({}))
    };
    let (st, v) = approve(alice, &change);
    assert_eq!(st, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("another admin of the project must approve it"),
        "{v}"
    );
    assert_eq!(approve(carol, &change).0, 403);
    let (st, v) = approve(admin, &change);
    assert_eq!(st, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("second admin principal"),
        "{v}"
    );
    assert_eq!(approve(bob, "chg_nope").0, 404);
    assert_eq!(settings(&api, admin, &p.id), now);

    // A second admin approves: in effect, and recorded.
    let (st, v) = approve(bob, &change);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "APPLIED", "{v}");
    let applied = settings(&api, admin, &p.id);
    assert_eq!(
        applied["accepted_signals"],
        json!(["codeowner_approval", "consumer_test", "github_review"])
    );
    assert_eq!(approve(bob, &change).0, 404, "approved once");
    assert_eq!(api.get(&changes_path, alice).1["changes"], json!([]));

    // Turning the control off is itself weakening: held; withdrawn by the
    // other admin, it never takes effect.
    let (st, off) = patch(bob, json!({"second_admin_for_weakening": false}));
    assert_eq!(st, 202, "{off}");
    assert_eq!(
        off["weakening"],
        json!(["second_admin_for_weakening: turned off"])
    );
    let off_id = off["change_id"].as_str().unwrap();
    let withdraw = format!("{changes_path}/{off_id}/withdraw");
    let (st, v) = api.post(&withdraw, alice, &json!({}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "WITHDRAWN");
    assert_eq!(api.post(&withdraw, alice, &json!({})).0, 404);
    assert_eq!(
        approve(alice, off_id).0,
        404,
        "withdrawn: nothing to approve"
    );
    assert_eq!(settings(&api, admin, &p.id), applied);
    assert_eq!(anomalies(&api, auditor, &p.id).len(), 2);

    // The export: the controls in force at the period's end, the history
    // of the period (proposals, approval, withdrawal, changes), verified.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("export.json");
    let resp = api
        .http
        .get(format!("{}/api/projects/{}/compliance-export", s.url, p.id))
        .bearer_auth(auditor)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    std::fs::write(&file, resp.bytes().unwrap()).unwrap();
    check_schema(&file);
    let text = std::fs::read_to_string(&file).unwrap();
    let header: Value = serde_json::from_str(
        text.lines()
            .find_map(|l| l.strip_prefix("\"header\":"))
            .unwrap()
            .trim_end_matches(','),
    )
    .unwrap();
    assert_eq!(
        header["settings"], applied,
        "the controls at the period's end"
    );
    let types: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("\"section_c_control_changes\""))
        .take_while(|l| !l.starts_with("],"))
        .filter_map(|l| serde_json::from_str::<Value>(l.trim_end_matches(',')).ok())
        .map(|v| v["record"]["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    for t in [
        "project_settings_changed",
        "settings_change_proposed",
        "settings_change_approved",
        "settings_change_withdrawn",
        "anomaly_detected",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} in section C: {types:?}");
    }
    let applied_record = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim_end_matches(',')).ok())
        .map(|v| v["record"].clone())
        .find(|r| r["change_id"] == change.as_str() && r["type"] == "project_settings_changed")
        .expect("the record applying the change");
    assert_eq!(applied_record["changed_by_name"], "alice");
    assert_eq!(applied_record["approved_by_name"], "bob");
    let out = Command::new(bin("stateanchor-verify"))
        .args(["export", file.to_str().unwrap(), "--key", &s.verifier_key])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn without_the_control_a_weakening_change_applies_and_is_alerted_at_once() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let admin = s.admin_key.as_str();
    let (hooks, received) = receiver();
    let p = project(
        &api,
        admin,
        &json!({"name": "ledger", "bot_deny_list": ["dependabot"]}),
        &[("alice", "admin"), ("audit", "auditor")],
    );
    let (st, _) = api.send(
        "PUT",
        &format!("/v1/admin/projects/{}/alerts", p.id),
        Some(admin),
        Some(&json!({"webhooks": [{"url": format!("{hooks}/ok"), "format": "json", "secret": SECRET}]})),
    );
    assert_eq!(st, 200);
    let (st, v) = api.send(
        "PATCH",
        &format!("/v1/admin/projects/{}/settings", p.id),
        Some(&p.keys[0]),
        Some(&json!({"bot_deny_list": [], "gate": {"severity_overrides": {"response-body-type-changed": "info"}}})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["settings"]["bot_deny_list"], json!([]));
    let found = anomalies(&api, &p.keys[1], &p.id);
    assert_eq!(found.len(), 1, "{found:?}");
    let detail = found[0]["detail"].as_str().unwrap();
    assert!(detail.contains("(in effect)"), "{detail}");
    assert!(
        detail.contains("bot_deny_list: \"dependabot\" removed"),
        "{detail}"
    );
    assert!(
        detail.contains("gate: rule response-body-type-changed lowered from err to info"),
        "{detail}"
    );
    let hook = webhook_about(&received, found[0]["subject"].as_str().unwrap());
    assert_eq!(hook["project"], p.id.as_str());
}

/// The cockpit's controls form: the second-admin control is a checkbox, a
/// weakening change is held (the page says so, with its ID), the held
/// change is listed to the project's admins with approve and withdraw
/// forms, the proposer cannot approve it, another admin can; roles that
/// cannot change the controls see neither the form nor the held changes.
#[test]
fn the_cockpit_holds_a_weakening_change_until_a_second_admin_approves_it() {
    use integration_tests::cockpit::{Cockpit, csrf_of, find_in};
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let p = project(
        &api,
        &s.admin_key,
        &json!({"name": "payments", "second_admin_for_weakening": true}),
        &[
            ("alice", "admin"),
            ("bob", "admin"),
            ("audra", "auditor"),
            ("cody", "codeowner"),
        ],
    );
    let (alice, bob, audra, cody) = (&p.keys[0], &p.keys[1], &p.keys[2], &p.keys[3]);
    let ui = Cockpit::new(&s.url);
    let settings_path = format!("/ui/p/{}/settings", p.id);
    let sign_in = |key: &str| {
        let (st, cookie) = ui.form("/ui/signin", None, &format!("api_key={key}"));
        assert_eq!(st, 303, "{cookie}");
        let (st, html) = ui.get(&settings_path, Some(&cookie));
        assert_eq!(st, 200, "{html}");
        (cookie, html)
    };
    let (alice_cookie, html) = sign_in(alice);
    assert!(
        html.contains(r#"id="second_admin_for_weakening" name="second_admin_for_weakening" value="on" checked"#),
        "{html}"
    );
    let token = csrf_of(&html);
    // alice adds consumer_test (weakening), keeping the rest as it is.
    let form = |token: &str, extra: &str| {
        format!(
            "csrf={token}&bot_deny_list=&max_exception_lifetime_seconds=7776000\
             &codeowner_approval=on&github_repository={extra}"
        )
    };
    let resp = ui.post_form(
        &format!("/ui/p/{}/settings/controls", p.id),
        Some(&alice_cookie),
        &form(&token, "&consumer_test=on&second_admin_for_weakening=on"),
    );
    assert_eq!(resp.status().as_u16(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("?held=chg_"), "{location}");
    assert!(
        !settings(&api, &s.admin_key, &p.id)["accepted_signals"]
            .as_array()
            .unwrap()
            .contains(&json!("consumer_test")),
        "a held change is not in force"
    );
    let (_, html) = ui.get(&location, Some(&alice_cookie));
    assert!(html.contains("it is held as chg_"), "{html}");
    let change = format!("chg_{}", find_in(&html, "/settings/changes/chg_", '/'));
    // The proposer cannot approve it: refused, saying why, nothing applied.
    let approve = format!("/ui/p/{}/settings/changes/{change}/approve", p.id);
    let (st, html) = ui.form(&approve, Some(&alice_cookie), &format!("csrf={token}"));
    assert_eq!(st, 403, "{html}");
    assert!(
        html.contains("another admin of the project must approve it"),
        "{html}"
    );
    // An auditor sees neither the controls form nor the held changes.
    let (_, html) = sign_in(audra);
    assert!(
        !html.contains("/settings/controls") && !html.contains(&change),
        "{html}"
    );
    assert!(
        html.contains("Second admin for weakening changes"),
        "{html}"
    );
    // A codeowner does not see the controls at all (the API shows them to
    // no project role but admins; auditors read them in exports).
    let (_, html) = sign_in(cody);
    assert!(
        !html.contains("Bot deny-list") && !html.contains(&change),
        "{html}"
    );
    // bob approves it: in force.
    let (bob_cookie, html) = sign_in(bob);
    assert!(html.contains(&change), "{html}");
    let (st, location) = ui.form(
        &approve,
        Some(&bob_cookie),
        &format!("csrf={}", csrf_of(&html)),
    );
    assert_eq!(st, 303, "{location}");
    let (_, html) = ui.get(&format!("{settings_path}?approved=1"), Some(&bob_cookie));
    assert!(
        html.contains("was approved") && !html.contains(&change),
        "{html}"
    );
    let accepted = settings(&api, &s.admin_key, &p.id)["accepted_signals"].clone();
    assert!(
        accepted
            .as_array()
            .unwrap()
            .contains(&json!("consumer_test")),
        "{accepted}"
    );
}
