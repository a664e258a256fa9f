//! Signing in to the cockpit with GitHub (issue 22 item 2), against the
//! real `stateanchor-log` and the fake GitHub of the tests, which speaks an
//! OAuth app's web flow (`/login/oauth/authorize`, `/login/oauth/access_token`)
//! and `GET /user`.
//!
//! Principals map to GitHub users by the **numeric** user ID: carol, whose
//! account was renamed at GitHub, still signs in as her principal and
//! approves alice's exception through the cockpit's form, and the record
//! names her principal; someone who took the login `carol` (another ID) is
//! refused and nothing is created. A replayed callback, a code GitHub
//! refuses, and a code injected from another sign-in (PKCE) are refused
//! too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::fake_github::FakeGitHub;
use integration_tests::ledger::filed_exception;
use integration_tests::oidc::Agent;
use integration_tests::{Api, LogServer};
use serde_json::json;

const APP_ID: &str = "Iv1.stateanchortest";
const APP_SECRET: &str = "github-app-secret-51c2";
const CAROL_ID: u64 = 583_231;

#[test]
fn github_sign_in_maps_by_numeric_id_never_by_login() {
    let github = FakeGitHub::start();
    github.add_oauth_app(APP_ID, APP_SECRET);
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("github-secret");
    std::fs::write(&secret_file, APP_SECRET).unwrap();
    let log = LogServer::start(&[
        "--github-api",
        &github.api_url(),
        "--github-web-url",
        &github.api_url(),
        "--github-oauth-client-id",
        APP_ID,
        "--github-oauth-client-secret-file",
        secret_file.to_str().unwrap(),
    ]);
    let api = Api::new(&log);
    let admin = &log.admin_key;
    let project = api.create_project(admin, "payments-api");
    let principal = |body: serde_json::Value| {
        let (st, v) = api.post(
            &format!("/v1/admin/projects/{project}/principals"),
            admin,
            &body,
        );
        assert_eq!(st, 201, "{v}");
        v
    };
    let alice = principal(json!({"name": "alice", "roles": ["codeowner"]}));
    let alice = alice["api_key"].as_str().unwrap().to_owned();
    let carol = principal(json!({"name": "carol", "roles": ["codeowner"],
        "github_login": "carol", "github_id": CAROL_ID}));
    let carol_id = carol["principal_id"].as_str().unwrap().to_owned();
    let ci = principal(json!({"name": "ci", "roles": ["ci"]}));
    let bot = principal(json!({"name": "evidence-bot", "roles": ["auditor"], "bot": true}));
    let bot = bot["api_key"].as_str().unwrap().to_owned();
    let ci = ci["api_key"].as_str().unwrap().to_owned();
    let exc = filed_exception(
        &api,
        &project,
        &ci,
        &alice,
        "abc1234",
        ("response_field_removed", "GET /users/{id}"),
    );

    let start = format!("{}/ui/github/start", log.url);
    let callback = format!("{}/ui/github/callback", log.url);

    // The sign-in page offers GitHub.
    let page = Agent::new().get(&format!("{}/ui/signin", log.url));
    assert!(page.body.contains("Sign in with GitHub"), "{}", page.body);

    // Carol renamed her GitHub account: her numeric ID still signs her in.
    github.sign_in_as("carol-renamed", CAROL_ID);
    let agent = Agent::new();
    let back = agent.follow_to(start.clone(), &callback, "");
    let a = agent.get(&back);
    assert_eq!(a.status, 200, "{}", a.body);
    // A page that moves on to the project (minijinja escapes its `/`).
    assert!(
        a.body.contains("http-equiv=\"refresh\"")
            && a.body.contains(&format!("p&#x2f;{project}\"")),
        "{}",
        a.body
    );
    assert!(agent.cookie("sa_session").is_some());
    assert_eq!(
        github.oauth_pkce_exchanges(),
        1,
        "the code was exchanged with the PKCE verifier of its sign-in"
    );

    // She approves alice's exception through the cockpit's form.
    let page = agent.get(&format!("{}/ui/p/{project}/exceptions/{exc}", log.url));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("carol (codeowner)"), "{}", page.body);
    let csrf = Agent::csrf_of(&page.body);
    let done = agent.post_form(
        &format!("{}/ui/p/{project}/exceptions/{exc}/approve", log.url),
        &[("csrf", &csrf), ("comment", "checked with the consumers")],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    let (_, v) = api.get(&format!("/api/projects/{project}/exceptions/{exc}"), &alice);
    assert_eq!(v["status"], "ACTIVE", "{v}");
    assert!(
        v.to_string().contains(&carol_id),
        "the approval names carol's principal: {v}"
    );

    // The same callback again: refused.
    let replay = Agent::new().get(&back);
    assert_eq!(replay.status, 403, "{}", replay.body);
    assert!(
        replay
            .body
            .contains("unknown or already used sign-in state")
    );

    // Someone else now holds the login "carol" (another ID): refused, and
    // nothing is created.
    let (_, before) = api.get(&format!("/v1/admin/projects/{project}/principals"), admin);
    github.sign_in_as("carol", 99_999);
    let mallory = Agent::new();
    let back = mallory.follow_to(start.clone(), &callback, "");
    let m = mallory.get(&back);
    assert_eq!(m.status, 403, "{}", m.body);
    assert!(
        m.body.contains("GitHub user carol (ID 99999)") && m.body.contains("no principal"),
        "{}",
        m.body
    );
    assert!(mallory.cookie("sa_session").is_none());
    let (_, after) = api.get(&format!("/v1/admin/projects/{project}/principals"), admin);
    assert_eq!(before, after);

    // A code GitHub refuses (forged): refused, with no session.
    let forger = Agent::new();
    let back = forger.follow_to(start.clone(), &callback, "");
    let forged = back.replace("code=", "code=forged");
    let f = forger.get(&forged);
    assert_eq!(f.status, 403, "{}", f.body);
    assert!(f.body.contains("GitHub refused the code"), "{}", f.body);
    assert!(forger.cookie("sa_session").is_none());

    // The person cancelled at GitHub (an `error` in the callback): refused,
    // saying what GitHub answered, with no session.
    let canceller = Agent::new();
    let back = canceller.follow_to(start.clone(), &callback, "");
    let c = canceller.get(&back.replace("code=", "error=access_denied&code="));
    assert_eq!(c.status, 403, "{}", c.body);
    assert!(
        c.body.contains("GitHub answered &quot;access_denied&quot;")
            || c.body.contains("GitHub answered \"access_denied\""),
        "{}",
        c.body
    );
    assert!(canceller.cookie("sa_session").is_none());

    // A code issued to carol's sign-in, injected into another browser's
    // sign-in (its own state and binding): the verifier of that sign-in
    // does not match the code's challenge, GitHub refuses the exchange, and
    // no session opens. Without PKCE it would sign that browser in as carol.
    github.sign_in_as("carol-renamed", CAROL_ID);
    let code_of = |url: &str| {
        reqwest::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    };
    let carols = Agent::new().follow_to(start.clone(), &callback, "");
    let injector = Agent::new();
    let own = injector.follow_to(start, &callback, "");
    let injected = own.replace(&code_of(&own), &code_of(&carols));
    let i = injector.get(&injected);
    assert_eq!(i.status, 403, "{}", i.body);
    assert!(i.body.contains("GitHub refused the code"), "{}", i.body);
    assert!(injector.cookie("sa_session").is_none());

    // people_sign_in: sso_only. A person's API key opens no cockpit session;
    // a bot's does; GitHub sign-in does. Turning it off again is a
    // weakening. Both changes are records of the project.
    let settings = format!("/v1/admin/projects/{project}/settings");
    let patch = |body: serde_json::Value| {
        let (st, v) = api.send("PATCH", &settings, Some(admin), Some(&body));
        assert_eq!(st, 200, "{v}");
        v
    };
    let v = patch(json!({"people_sign_in": "sso_only"}));
    assert_eq!(v["settings"]["people_sign_in"], "sso_only", "{v}");
    let with_key = |key: &str| {
        let a = Agent::new();
        let answer = a.post_form(&format!("{}/ui/signin", log.url), &[("api_key", key)]);
        (answer, a.cookie("sa_session"))
    };
    let (r, session) = with_key(&alice);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("people_sign_in: sso_only"), "{}", r.body);
    assert!(session.is_none());
    let (r, session) = with_key(&bot);
    assert_eq!(
        r.status, 303,
        "a bot's key still opens the cockpit: {}",
        r.body
    );
    assert!(session.is_some());
    github.sign_in_as("carol-renamed", CAROL_ID);
    let agent = Agent::new();
    let back = agent.follow_to(format!("{}/ui/github/start", log.url), &callback, "");
    assert_eq!(agent.get(&back).status, 200);
    let v = patch(json!({"people_sign_in": "any"}));
    assert!(v["settings"].get("people_sign_in").is_none(), "{v}");
    assert_eq!(with_key(&alice).0.status, 303);
    let resp = reqwest::blocking::Client::new()
        .get(format!(
            "{}/api/projects/{project}/compliance-export",
            log.url
        ))
        .bearer_auth(&bot)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let export: serde_json::Value = resp.json().unwrap();
    // Every project_settings_changed record of people_sign_in, wherever
    // the export lists it, once per record ID.
    fn collect<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("type") == Some(&json!("project_settings_changed"))
                    && m.get("changed") == Some(&json!(["people_sign_in"]))
                    && !out.iter().any(|o| o["id"] == m["id"])
                {
                    out.push(v);
                }
                m.values().for_each(|x| collect(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
            _ => {}
        }
    }
    let mut changes = Vec::new();
    collect(&export, &mut changes);
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["settings"]["people_sign_in"], "sso_only");
    assert_eq!(
        changes[1]["weakening"],
        json!(["people_sign_in: API keys allowed again for people"])
    );
}
