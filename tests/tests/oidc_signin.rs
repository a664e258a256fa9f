//! Signing in to the cockpit with OpenID Connect (issue 22), against the
//! real `stateanchor-log` on 127.0.0.1 and a real OpenID provider: npm's
//! `oidc-provider` (OpenID Certified), started by the test from
//! `tests/oidc/provider.mjs`.
//!
//! - In headless Chromium: carol signs in with the provider, approves a
//!   colleague's exception, and the export names her principal as the
//!   approver and lists its identity provider subject.
//! - Over plain HTTP (a cookie-keeping client in place of the browser): a
//!   replayed callback (`state` used twice) is refused; a callback brought
//!   to another browser is refused; a subject no principal is bound to
//!   creates nothing and the page says who to ask; a new sign-in ends the
//!   browser's previous session; a sign-in started before the log restarts
//!   finishes after it; the provider restarted with a new signing
//!   key (rotation) still signs people in, because the log fetches the
//!   JWKS again on the unknown key ID.
//! - Against `tests/oidc/hostile-op.mjs`, a provider that speaks the code
//!   flow honestly (client authentication, single-use codes, PKCE) but signs
//!   ID tokens with a chosen defect: a wrong audience, an expired token, a
//!   token issued in the future, a wrong nonce, another issuer, an unknown
//!   key, an altered signature are each refused, with no session; a token
//!   expired 30 s ago passes (the 60 s of clock skew); the same provider
//!   without a defect signs in (so each refusal is the defect's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use integration_tests::browser::{browser, start_driver, text};
use integration_tests::ledger::filed_exception;
use integration_tests::oidc::{Agent, WithProvider, log_with_provider};
use integration_tests::{Api, bin, check_schema, download};
use serde_json::{Value, json};

/// A project with alice (codeowner, API key only), carol (codeowner,
/// bound to the provider's subject `carol`), an auditor and CI.
struct Project {
    id: String,
    alice: String,
    carol_id: String,
    auditor: String,
    ci: String,
}

fn project(w: &WithProvider) -> Project {
    let api = Api::new(&w.log);
    let admin = &w.log.admin_key;
    let id = api.create_project(admin, "payments-api");
    let principal = |body: Value| {
        let (st, v) = api.post(&format!("/v1/admin/projects/{id}/principals"), admin, &body);
        assert_eq!(st, 201, "{v}");
        v
    };
    let alice = principal(json!({"name": "alice", "roles": ["codeowner"]}));
    let carol = principal(json!({"name": "carol", "roles": ["codeowner"],
        "idp": {"issuer": w.provider.issuer, "subject": "carol"}}));
    let auditor = principal(json!({"name": "audra", "roles": ["auditor"]}));
    let ci = principal(json!({"name": "ci", "roles": ["ci"]}));
    Project {
        id,
        alice: alice["api_key"].as_str().unwrap().to_owned(),
        carol_id: carol["principal_id"].as_str().unwrap().to_owned(),
        auditor: auditor["api_key"].as_str().unwrap().to_owned(),
        ci: ci["api_key"].as_str().unwrap().to_owned(),
    }
}

/// Alice files an exception for a blocked run; returns its ID.
fn file_exception(api: &Api, p: &Project) -> String {
    filed_exception(
        api,
        &p.id,
        &p.ci,
        &p.alice,
        "abc1234",
        ("response_field_removed", "GET /users/{id}"),
    )
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until the browser is on a page whose path ends with `suffix`.
async fn wait_for_path(c: &Client, suffix: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = c.current_url().await.unwrap();
        let ready = c
            .execute("return document.readyState === 'complete';", vec![])
            .await;
        if url.path().ends_with(suffix) && matches!(ready, Ok(Value::Bool(true))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the browser stayed at {url}: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_person_signs_in_with_the_provider_and_approves_as_themself_in_chromium() {
    let driver = start_driver();
    let w = log_with_provider("provider.mjs");
    let p = project(&w);
    let api = Api::new(&w.log);
    let exc = file_exception(&api, &p);
    let base = w.log.url.clone();
    let downloads = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver, downloads.path()).await;
        // The sign-in page offers the provider; its button leads to the
        // provider's login page.
        c.goto(&format!("{base}/ui/signin")).await.unwrap();
        assert_eq!(text(&c, "#oidc-signin").await, "Sign in with Test IdP");
        // With STATEANCHOR_COCKPIT_SCREENSHOTS=DIR, the page is saved as
        // DIR/signin-sso.png (docs/cockpit/ holds the committed one).
        if let Some(dir) = std::env::var_os("STATEANCHOR_COCKPIT_SCREENSHOTS") {
            let dir = std::path::PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("signin-sso.png"), c.screenshot().await.unwrap()).unwrap();
        }
        click(&c, "#oidc-signin").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while c.find(Locator::Css("#provider-signin")).await.is_err() {
            assert!(Instant::now() < deadline, "no login page at the provider");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            c.current_url()
                .await
                .unwrap()
                .as_str()
                .starts_with(&w.provider.issuer)
        );
        c.find(Locator::Css("#login"))
            .await
            .unwrap()
            .send_keys("carol")
            .await
            .unwrap();
        click(&c, "#provider-signin").await;
        // Back at the log: signed in as carol, in her project.
        wait_for_path(&c, &format!("/ui/p/{}", p.id)).await;
        let who = text(&c, ".who").await;
        assert!(who.starts_with("carol"), "{who}");
        let cookies = c.get_all_cookies().await.unwrap();
        let session = cookies.iter().find(|k| k.name() == "sa_session").unwrap();
        assert_eq!(session.http_only(), Some(true));
        assert!(
            !cookies.iter().any(|k| k.name() == "sa_oidc"),
            "the sign-in's binding cookie is cleared"
        );
        // Carol approves alice's exception.
        c.goto(&format!("{base}/ui/p/{}/exceptions/{exc}", p.id))
            .await
            .unwrap();
        c.find(Locator::Css("#comment"))
            .await
            .unwrap()
            .send_keys("checked with the consumers")
            .await
            .unwrap();
        click(&c, "#approve").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(e) = c.find(Locator::Css("#status")).await
                && e.text().await.unwrap_or_default() == "ACTIVE"
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the exception did not become ACTIVE"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.close().await.unwrap();
    });
    // The export names carol's principal as the approver, and lists its
    // identity provider subject.
    let export = verified_export(&w, &p);
    let signal = find(&export, &|r| {
        r["type"] == "exception_signal" && r["exception_id"] == exc.as_str()
    })
    .expect("the approval's record in the export");
    assert_eq!(signal["approver"], p.carol_id.as_str(), "{signal}");
    assert_eq!(signal["approver_name"], "carol", "{signal}");
    let carol = export["header"]["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == p.carol_id.as_str())
        .unwrap();
    assert_eq!(carol["idp"]["subject"], "carol", "{carol}");
    assert_eq!(
        carol["idp"]["issuer"],
        w.provider.issuer.as_str(),
        "{carol}"
    );
}

/// The project's evidence export (the auditor's), checked against its
/// JSON schema and verified offline by `stateanchor-verify export`.
fn verified_export(w: &WithProvider, p: &Project) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    let export = download(
        &w.log.url,
        &format!("/api/projects/{}/compliance-export", p.id),
        &p.auditor,
        &path,
    );
    check_schema(&path);
    let out = Command::new(bin("stateanchor-verify"))
        .arg("--evidence-dir")
        .arg(dir.path())
        .args([
            "export",
            path.to_str().unwrap(),
            "--key",
            &w.log.verifier_key,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    export
}

/// The first object in `v` (depth first) that `pred` accepts: a record,
/// wherever the export lists it.
fn find<'a>(v: &'a Value, pred: &dyn Fn(&Value) -> bool) -> Option<&'a Value> {
    if pred(v) {
        return Some(v);
    }
    match v {
        Value::Object(m) => m.values().find_map(|x| find(x, pred)),
        Value::Array(a) => a.iter().find_map(|x| find(x, pred)),
        _ => None,
    }
}

/// Signs `agent` in as `login` through the provider; returns the
/// callback's answer and the callback URL.
fn sign_in(
    agent: &Agent,
    w: &WithProvider,
    login: &str,
) -> (integration_tests::oidc::Answer, String) {
    let callback = agent.to_callback(&w.log.url, "", login);
    (agent.get(&callback), callback)
}

/// Whether the session cookie `secret` opens the project's overview.
fn session_works(w: &WithProvider, project: &str, secret: &str) -> bool {
    let a = Agent::new();
    a.set_cookie("sa_session", Some(secret));
    let answer = a.get(&format!("{}/ui/p/{project}", w.log.url));
    answer.status == 200
}

#[test]
fn replayed_state_another_browser_and_unbound_subject_are_refused_over_http() {
    let w = log_with_provider("provider.mjs");
    let p = project(&w);
    let api = Api::new(&w.log);

    // Carol signs in: the page moves on to her project, with a session.
    let agent = Agent::new();
    let (a, callback) = sign_in(&agent, &w, "carol");
    assert_eq!(a.status, 200, "{}", a.body);
    // A page that moves on to the project (minijinja escapes its `/`).
    assert!(
        a.body.contains("http-equiv=\"refresh\"") && a.body.contains(&format!("p&#x2f;{}\"", p.id)),
        "{}",
        a.body
    );
    let first = agent.cookie("sa_session").expect("a session cookie");
    assert!(
        agent.cookie("sa_oidc").is_none(),
        "the binding cookie is cleared"
    );
    let overview = agent.get(&format!("{}/ui/p/{}", w.log.url, p.id));
    assert_eq!(overview.status, 200);
    assert!(
        overview.body.contains("carol (codeowner)"),
        "{}",
        overview.body
    );

    // The same callback again (a replayed `state`), even with the binding
    // cookie put back: refused, and no new session.
    let replayer = Agent::new();
    let b = replayer.get(&callback);
    assert_eq!(b.status, 403, "{}", b.body);
    assert!(
        b.body.contains("unknown or already used sign-in state"),
        "{}",
        b.body
    );
    assert!(replayer.cookie("sa_session").is_none());

    // A callback brought to another browser (without the binding cookie of
    // the browser that started it): refused.
    let started = Agent::new();
    let callback = started.to_callback(&w.log.url, "", "carol");
    let other = Agent::new();
    let c = other.get(&callback);
    assert_eq!(c.status, 403, "{}", c.body);
    assert!(c.body.contains("started in another browser"), "{}", c.body);
    assert!(other.cookie("sa_session").is_none());
    // ... and the state is used up: the right browser cannot use it after.
    let d = started.get(&callback);
    assert_eq!(d.status, 403, "{}", d.body);

    // A new sign-in ends the browser's previous session.
    let (e, _) = sign_in(&agent, &w, "carol");
    assert_eq!(e.status, 200, "{}", e.body);
    let second = agent.cookie("sa_session").unwrap();
    assert_ne!(first, second);
    assert!(
        !session_works(&w, &p.id, &first),
        "the previous session ended"
    );
    assert!(session_works(&w, &p.id, &second));

    // A subject no principal is bound to: nothing is created, and the page
    // says who to ask.
    let (_, before) = api.get(
        &format!("/v1/admin/projects/{}/principals", p.id),
        &w.log.admin_key,
    );
    let mallory = Agent::new();
    let (f, _) = sign_in(&mallory, &w, "mallory");
    assert_eq!(f.status, 403, "{}", f.body);
    assert!(
        f.body.contains("no principal") && f.body.contains("Ask a log admin"),
        "{}",
        f.body
    );
    assert!(f.body.contains("mallory"), "{}", f.body);
    assert!(mallory.cookie("sa_session").is_none());
    let (_, after) = api.get(
        &format!("/v1/admin/projects/{}/principals", p.id),
        &w.log.admin_key,
    );
    assert_eq!(before, after, "an unbound subject created nothing");

    // A callback without state, and a start with no provider configured
    // elsewhere, are refused plainly.
    let g = Agent::new().get(&format!("{}/ui/oidc/callback?code=x", w.log.url));
    assert_eq!(g.status, 403, "{}", g.body);
}

/// A sign-in started before the log restarts finishes after it: the
/// pending sign-in is kept in the store, not in the process's memory
/// (behind several frontends, any of them finishes it: tests/cluster.rs).
#[test]
fn a_sign_in_started_before_a_restart_finishes_after_it() {
    let mut w = log_with_provider("provider.mjs");
    let p = project(&w);
    let agent = Agent::new();
    let callback = agent.to_callback(&w.log.url, "", "carol");
    w.restart_log();
    let a = agent.get(&callback);
    assert_eq!(a.status, 200, "{}", a.body);
    let session = agent.cookie("sa_session").expect("a session cookie");
    assert!(session_works(&w, &p.id, &session));
    // And it was used up by that callback.
    let again = agent.get(&callback);
    assert_eq!(again.status, 403, "{}", again.body);
}

#[test]
fn the_providers_rotated_key_is_fetched_again() {
    let mut w = log_with_provider("provider.mjs");
    let p = project(&w);
    let (a, _) = sign_in(&Agent::new(), &w, "carol");
    assert_eq!(a.status, 200, "{}", a.body);
    // The provider restarts with a new signing key (a new `kid`): the log's
    // cached JWKS lacks it; the log fetches the JWKS again and signs carol in.
    w.provider.restart();
    let agent = Agent::new();
    let (b, _) = sign_in(&agent, &w, "carol");
    assert_eq!(b.status, 200, "{}", b.body);
    let secret = agent.cookie("sa_session").unwrap();
    assert!(session_works(&w, &p.id, &secret));
}

#[test]
fn id_tokens_with_a_defect_are_refused() {
    let w = log_with_provider("hostile-op.mjs");
    let p = project(&w);
    let attempt = |defect: &str| {
        w.provider
            .control(&json!({"defect": defect, "subject": "carol"}));
        let agent = Agent::new();
        let (a, _) = sign_in(&agent, &w, "carol");
        (a, agent.cookie("sa_session"))
    };
    // Each defect is refused with its reason, and opens no session.
    for (defect, reason) in [
        ("wrong_audience", "for another client (aud)"),
        ("expired", "the ID token has expired"),
        ("issued_in_future", "issued in the future"),
        ("wrong_nonce", "nonce is not this sign-in"),
        ("wrong_issuer", "from another issuer (iss)"),
        (
            "unknown_key",
            "signed with a key the identity provider does not publish",
        ),
        ("bad_signature", "signature does not verify"),
        // Hostile and malformed tokens: refused, whatever the crate calls
        // the defect.
        ("alg_none", "sign-in refused"),
        ("hs256", "sign-in refused"),
        ("no_subject", "sign-in refused"),
        ("extra_audience", "sign-in refused"),
        ("not_a_jwt", "sign-in refused"),
        ("payload_not_json", "sign-in refused"),
    ] {
        let (a, session) = attempt(defect);
        assert_eq!(a.status, 403, "{defect}: {}", a.body);
        assert!(a.body.contains(reason), "{defect}: {}", a.body);
        assert!(session.is_none(), "{defect} opened a session");
    }
    // A 200 kB claim: refused or accepted, but the log stays up and signs
    // the next person in.
    let (a, _) = attempt("huge_claim");
    assert!(matches!(a.status, 200 | 403), "{}: {}", a.status, a.body);
    // Without a defect, the same provider signs carol in: the refusals
    // above were the defects'. A token expired 30 s ago passes (skew).
    for defect in ["none", "expired_recently"] {
        let (a, session) = attempt(defect);
        assert_eq!(a.status, 200, "{defect}: {}", a.body);
        assert!(session.is_some_and(|s| session_works(&w, &p.id, &s)));
    }
    // The provider rotates its key: the log fetches the JWKS once more and
    // signs carol in.
    let fetched = w.provider.jwks_fetches();
    w.provider
        .control(&json!({"defect": "none", "rotate": true}));
    let (a, session) = attempt("none");
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(session.is_some());
    assert_eq!(w.provider.jwks_fetches(), fetched + 1);
    // A key no JWKS holds is fetched for once per sign-in, then refused.
    let (a, _) = attempt("unknown_key");
    assert_eq!(a.status, 403);
    assert_eq!(w.provider.jwks_fetches(), fetched + 2);
}

/// A principal a log admin created with an e-mail address and no subject
/// is invited: the first sign-in in which the provider vouches for that
/// address (`email_verified`) binds the subject it signed in with, by a
/// `principal_changed` record; from then on only that subject signs in as
/// the principal, and the address binds nothing again.
#[test]
fn a_verified_email_binds_the_subject_at_the_first_sign_in_and_only_once() {
    let w = log_with_provider("hostile-op.mjs");
    let p = project(&w);
    let api = Api::new(&w.log);
    let admin = &w.log.admin_key;
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{}/principals", p.id),
        admin,
        &json!({"name": "dave", "roles": ["codeowner"], "email": "Dave@Corp.example"}),
    );
    assert_eq!(st, 201, "{v}");
    let dave = v["principal_id"].as_str().unwrap().to_owned();
    // The address is one person's: a second principal with it is refused.
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{}/principals", p.id),
        admin,
        &json!({"name": "dave2", "roles": ["codeowner"], "email": "dave@corp.example"}),
    );
    assert_eq!(st, 409, "{v}");
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{}/principals", p.id),
        admin,
        &json!({"name": "erin", "roles": ["codeowner"], "email": "not an address"}),
    );
    assert_eq!(st, 400, "{v}");
    let principal = |id: &str| {
        let (st, v) = api.get(&format!("/v1/admin/projects/{}/principals", p.id), admin);
        assert_eq!(st, 200, "{v}");
        v["principals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap()
    };
    let attempt = |subject: &str, claims: Value| {
        w.provider
            .control(&json!({"defect": "none", "subject": subject, "claims": claims}));
        let agent = Agent::new();
        let (a, _) = sign_in(&agent, &w, subject);
        (a, agent.cookie("sa_session"))
    };

    // An address the provider does not vouch for binds nothing.
    for claims in [
        json!({"email": "dave@corp.example", "email_verified": false}),
        json!({"email": "dave@corp.example"}),
        json!({"email": "dave@corp.example", "email_verified": "true"}),
    ] {
        let (a, session) = attempt("00udave", claims.clone());
        assert_eq!(a.status, 403, "{claims}: {}", a.body);
        assert!(session.is_none());
        assert!(principal(&dave).get("idp").is_none(), "{claims}");
    }

    // Verified: the subject is bound, recorded, and dave is signed in.
    let (a, session) = attempt(
        "00udave",
        json!({"email": "DAVE@corp.example", "email_verified": true}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(session.is_some_and(|s| session_works(&w, &p.id, &s)));
    let d = principal(&dave);
    assert_eq!(d["idp"]["subject"], "00udave", "{d}");
    assert_eq!(d["idp"]["issuer"], w.provider.issuer.as_str(), "{d}");
    let export = verified_export(&w, &p);
    let change = find(&export, &|r| {
        r["type"] == "principal_changed" && r["principal_id"] == dave.as_str()
    })
    .expect("the binding's record in the export");
    assert_eq!(change["changed"], json!(["idp"]), "{change}");
    assert_eq!(change["idp"]["subject"], "00udave", "{change}");
    assert!(
        change["changed_by_name"]
            .as_str()
            .unwrap()
            .contains("vouched for DAVE@corp.example"),
        "{change}"
    );

    // Another subject with the same verified address: refused (the
    // address was an invitation, used once).
    let (a, session) = attempt(
        "00uimposter",
        json!({"email": "dave@corp.example", "email_verified": true}),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(session.is_none());
    assert_eq!(principal(&dave)["idp"]["subject"], "00udave");
    // Dave's subject signs in without any address.
    let (a, session) = attempt("00udave", json!({}));
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(session.is_some());
    // Once bound, the address is not changed.
    let (st, v) = api.send(
        "PATCH",
        &format!("/v1/admin/projects/{}/principals/{dave}", p.id),
        Some(admin),
        Some(&json!({"email": "dave@elsewhere.example"})),
    );
    assert_eq!(st, 409, "{v}");
}

/// A project's `idp_groups` grant roles to the members of identity
/// provider groups (`serve --oidc-groups-claim groups`): a member none is
/// bound to gets a principal at the first sign-in (a `principal_added`
/// record "by" `idp_groups`), its roles follow the person's groups at each
/// sign-in (`principal_changed` records), a person no group grants a role
/// any more is refused, and a principal a log admin made keeps its roles.
#[test]
fn identity_provider_groups_grant_project_roles_by_records() {
    let w = log_with_provider("hostile-op.mjs");
    let p = project(&w);
    let api = Api::new(&w.log);
    let admin = &w.log.admin_key;
    let settings = format!("/v1/admin/projects/{}/settings", p.id);
    for (bad, why) in [
        (json!({"bots": ["ci"]}), "ci and consumer"),
        (json!({"empty": []}), "grants no role"),
        (json!({"": ["codeowner"]}), "idp_groups group"),
    ] {
        let (st, v) = api.send(
            "PATCH",
            &settings,
            Some(admin),
            Some(&json!({"idp_groups": bad})),
        );
        assert_eq!(st, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains(why), "{v}");
    }
    let (st, v) = api.send(
        "PATCH",
        &settings,
        Some(admin),
        Some(&json!({"idp_groups": {"api-owners": ["codeowner"], "auditors": ["auditor"]}})),
    );
    assert_eq!(st, 200, "{v}");
    let principals = || {
        let (st, v) = api.get(&format!("/v1/admin/projects/{}/principals", p.id), admin);
        assert_eq!(st, 200, "{v}");
        v["principals"].as_array().unwrap().clone()
    };
    let frank = || {
        principals()
            .into_iter()
            .find(|x| x["idp"]["subject"] == "00ufrank")
    };
    let attempt = |subject: &str, claims: Value| {
        w.provider
            .control(&json!({"defect": "none", "subject": subject, "claims": claims}));
        let agent = Agent::new();
        let (a, _) = sign_in(&agent, &w, subject);
        (a, agent.cookie("sa_session"))
    };
    let before = principals().len();

    // No group of the project's: nothing is created.
    let (a, _) = attempt("00ufrank", json!({"groups": ["unrelated"]}));
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(principals().len(), before);
    // A groups claim that is not a list of names grants nothing.
    let (a, _) = attempt("00ufrank", json!({"groups": "api-owners"}));
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("not a list of group names"), "{}", a.body);
    assert_eq!(principals().len(), before);

    // A member of api-owners: a principal, named by the verified address.
    let (a, session) = attempt(
        "00ufrank",
        json!({"groups": ["unrelated", "api-owners"], "email": "frank@corp.example", "email_verified": true}),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(session.is_some_and(|s| session_works(&w, &p.id, &s)));
    let f = frank().expect("a principal for frank");
    assert_eq!(f["name"], "frank@corp.example", "{f}");
    assert_eq!(f["roles"], json!(["codeowner"]), "{f}");
    assert_eq!(f["roles_from_idp_groups"], true, "{f}");
    assert_eq!(principals().len(), before + 1);
    // Added to auditors too: the roles follow, by a record.
    let (a, _) = attempt("00ufrank", json!({"groups": ["api-owners", "auditors"]}));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(frank().unwrap()["roles"], json!(["codeowner", "auditor"]));
    // Out of every group: refused, and the roles stay as recorded.
    let (a, session) = attempt("00ufrank", json!({"groups": []}));
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body.contains("none of your identity provider"),
        "{}",
        a.body
    );
    assert!(session.is_none());
    assert_eq!(principals().len(), before + 1, "nothing created");
    // Carol, whom a log admin made a codeowner, keeps her roles whatever
    // her groups say.
    let (a, _) = attempt("carol", json!({"groups": ["auditors"]}));
    assert_eq!(a.status, 200, "{}", a.body);
    let carol = principals()
        .into_iter()
        .find(|x| x["id"] == p.carol_id.as_str())
        .unwrap();
    assert_eq!(carol["roles"], json!(["codeowner"]), "{carol}");

    // The export states all of it.
    let export = verified_export(&w, &p);
    let id = frank().unwrap()["id"].as_str().unwrap().to_owned();
    let added = find(&export, &|r| {
        r["type"] == "principal_added" && r["principal_id"] == id.as_str()
    })
    .expect("frank's principal_added");
    assert_eq!(added["added_by"], "idp_groups", "{added}");
    assert!(
        added["added_by_name"]
            .as_str()
            .unwrap()
            .contains("groups api-owners"),
        "{added}"
    );
    let changed = find(&export, &|r| {
        r["type"] == "principal_changed" && r["principal_id"] == id.as_str()
    })
    .expect("frank's principal_changed");
    assert_eq!(changed["changed"], json!(["roles"]), "{changed}");
}
