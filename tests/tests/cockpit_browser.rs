//! The project cockpit in a real browser: headless Chromium, driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`, which
//! `scripts/prereqs.sh` installs), against the real `stateanchor-log` on
//! 127.0.0.1.
//!
//! The flow of issue 14: codeowner A signs in and files an exception; A's
//! approval is refused with the rule's message; B approves; the blocked run
//! passes on resubmission; the auditor downloads the evidence package and
//! `stateanchor-verify export` accepts the downloaded file; a share link
//! shows the exception and stops working once revoked; an admin changes a
//! control. Also: a forged cross-site form changes nothing, a `<script>` in
//! a branch and a reason is shown as text, the cookie's flags, the CSP.
//!
//! With `STATEANCHOR_COCKPIT_SCREENSHOTS=DIR`, a PNG of each page is written
//! to DIR (`docs/cockpit/` holds the committed ones).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use integration_tests::browser::{browser, serious_accessibility_violations, start_driver, text};
use integration_tests::{LogServer, bin};
use serde_json::{Value, json};

/// The API, as CI and the log admin use it.
struct Api {
    url: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn principal(&self, admin: &str, project: &str, name: &str, roles: &[&str]) -> String {
        let (st, v) = self
            .send(
                "POST",
                &format!("/v1/admin/projects/{project}/principals"),
                admin,
                Some(json!({"name": name, "roles": roles})),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        v["api_key"].as_str().unwrap().to_owned()
    }

    /// Creates the project `name`; returns its ID.
    async fn project(&self, admin: &str, name: &str) -> String {
        let (st, v) = self
            .send(
                "POST",
                "/v1/admin/projects",
                admin,
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        v["project_id"].as_str().unwrap().to_owned()
    }
}

const XSS_BRANCH: &str = "<script>window.pwned=1</script>";
const XSS_REASON: &str = "clients migrated <script>window.pwned=2</script> & <b>done</b>";

struct Shots(Option<PathBuf>);

impl Shots {
    /// A page the flow reached: axe-core finds no serious or critical
    /// accessibility violation on it; and its screenshot, if asked for.
    async fn take(&self, c: &Client, name: &str) {
        let violations = serious_accessibility_violations(c).await;
        assert!(
            violations.is_empty(),
            "axe-core on the {name} page:\n{}",
            violations.join("\n")
        );
        if let Some(dir) = &self.0 {
            std::fs::create_dir_all(dir).unwrap();
            let png = c.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }
}

async fn sign_in(c: &Client, base: &str, key: &str) {
    c.goto(&format!("{base}/ui/signin")).await.unwrap();
    c.find(Locator::Css("#api_key"))
        .await
        .unwrap()
        .send_keys(key)
        .await
        .unwrap();
    click(c, "#signin").await;
}

async fn sign_out(c: &Client) {
    click(c, "#signout").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/ui/signin")
    );
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Clicks a button that submits a form, and waits for the next page.
async fn click(c: &Client, css: &str) {
    c.execute("window.__before_click = true;", vec![])
        .await
        .unwrap();
    click_only(c, css).await;
    wait_for_new_page(c).await;
}

async fn click_only(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until the document marked before a click is replaced and loaded.
async fn wait_for_new_page(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = c
            .execute(
                "return window.__before_click === undefined && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(v, Ok(Value::Bool(true))) {
            return;
        }
        assert!(Instant::now() < deadline, "no new page after a click");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Not run by XSS payloads: nothing set `window.pwned`.
async fn assert_not_pwned(c: &Client) {
    let v = c
        .execute("return typeof window.pwned;", vec![])
        .await
        .unwrap();
    assert_eq!(v, json!("undefined"), "a <script> from the data ran");
}

/// A page on another origin (another port) whose form posts to the
/// cockpit: the forged cross-site request of a CSRF attack.
fn attacker_site(target: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(4) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = format!(
                "<!doctype html><form id=f method=post action=\"{target}\">\
                 <input name=reason value=forged></form>\
                 <script>document.getElementById('f').submit()</script>"
            );
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

async fn wait_for_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if path.is_file() {
            return path;
        }
        let present: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "no download {name} in 30 s; the folder has {present:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn cockpit_flow_in_headless_chromium() {
    let driver = start_driver();
    let server = LogServer::start(&[]);
    let downloads = tempfile::tempdir().unwrap();
    let shots = Shots(std::env::var_os("STATEANCHOR_COCKPIT_SCREENSHOTS").map(PathBuf::from));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = server.url.clone();
        let api = Api {
            url: base.clone(),
            http: reqwest::Client::new(),
        };
        let admin = server.admin_key.clone();
        let project = api.project(&admin, "payments-api").await;
        let alice = api
            .principal(&admin, &project, "alice", &["codeowner"])
            .await;
        let bob = api.principal(&admin, &project, "bob", &["codeowner"]).await;
        let auditor = api.principal(&admin, &project, "audra", &["auditor"]).await;
        let dana = api.principal(&admin, &project, "dana", &["admin"]).await;
        let ci = api.principal(&admin, &project, "ci", &["ci"]).await;
        let decision = json!({
            "commit_sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "branch": XSS_BRANCH, "author": "alice",
            "findings": [{"kind": "response_field_removed", "endpoint": "GET /users/{id}",
                          "severity": "ERR", "detail": "id removed"}],
            "artifacts": [{"name": "openapi.yaml", "sha256": "0".repeat(64)}],
        });
        let decisions = format!("/api/projects/{project}/decisions");
        let (st, v) = api
            .send("POST", &decisions, &ci, Some(decision.clone()))
            .await;
        assert_eq!((st, &v["blocked"]), (201, &json!(true)), "{v}");
        let blocked_run = v["run_id"].as_str().unwrap().to_owned();

        let c = browser(&driver, downloads.path()).await;

        // The accessibility check finds what it should: an unlabelled
        // field and an image without a text alternative.
        c.goto("data:text/html,<!doctype html><html lang=en><title>t</title><main><img src=x.png><input></main></html>")
            .await
            .unwrap();
        let found = serious_accessibility_violations(&c).await.join("\n");
        assert!(found.contains("image-alt") && found.contains("label"), "{found}");

        // The sign-in page; a wrong key is refused.
        c.goto(&format!("{base}/ui/p/{project}")).await.unwrap();
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/ui/signin")
        );
        shots.take(&c, "signin").await;
        sign_in(&c, &base, "sa_not-a-key").await;
        let refused = text(&c, "#error").await;
        assert!(refused.contains("unknown or revoked API key"), "{refused}");
        shots.take(&c, "signin-refused").await;

        // Codeowner A signs in: the overview. The cookie is HttpOnly and
        // SameSite=Strict, and holds a session, not the key.
        sign_in(&c, &base, &alice).await;
        assert_eq!(
            c.current_url().await.unwrap().path(),
            format!("/ui/p/{project}"),
            "{}",
            text(&c, "main").await
        );
        assert_eq!(text(&c, "#runs-30").await, "1");
        assert_eq!(text(&c, "#blocked-30").await, "1");
        let cookies = c.get_all_cookies().await.unwrap();
        let session = cookies.iter().find(|k| k.name() == "sa_session").unwrap();
        assert_eq!(session.http_only(), Some(true));
        assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
        assert!(
            !session.value().contains(&alice)
                && !cookies.iter().any(|k| k.value().contains(&alice))
        );
        assert_not_pwned(&c).await;
        shots.take(&c, "overview").await;

        // A page that does not exist: the error page.
        c.goto(&format!("{base}/ui/p/{project}/exceptions/exc_none"))
            .await
            .unwrap();
        assert!(text(&c, "main").await.contains("exc_none"));
        shots.take(&c, "not-found").await;

        // Runs: the malicious branch is text; filters; the run page.
        c.goto(&format!(
            "{base}/ui/p/{project}/runs?blocked=yes&verdict=ERR"
        ))
        .await
        .unwrap();
        assert_eq!(text(&c, "td.branch").await, XSS_BRANCH);
        assert_not_pwned(&c).await;
        shots.take(&c, "runs").await;
        c.goto(&format!("{base}/ui/p/{project}/runs?blocked=no"))
            .await
            .unwrap();
        assert!(text(&c, "table.runs").await.contains("No runs."));
        c.goto(&format!("{base}/ui/p/{project}/runs/{blocked_run}"))
            .await
            .unwrap();
        assert_eq!(text(&c, "#run-branch").await, XSS_BRANCH);
        assert!(text(&c, "#why").await.contains("Why it was blocked"));
        let cmd = text(&c, "#verify-command").await;
        assert!(
            cmd.starts_with("stateanchor-verify inclusion --log"),
            "{cmd}"
        );
        let proof = c
            .find(Locator::Css("#proof-link"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(proof.starts_with("/entries/"), "{proof}");
        shots.take(&c, "run").await;

        // A files an exception for the blocked run, from its page: the form
        // offers the run's ERR finding; the maximum lifetime is shown.
        click(&c, "#file-for-run").await;
        assert_eq!(text(&c, "#max-lifetime").await, "90 days");
        let finding = text(&c, "#finding").await;
        assert!(
            finding.contains("response_field_removed on GET /users/{id}"),
            "{finding}"
        );
        fill(&c, "#reason", XSS_REASON).await;
        shots.take(&c, "exceptions").await;
        click(&c, "#file-exception").await;
        let exc_url = c.current_url().await.unwrap();
        let exc_id = exc_url.path().rsplit('/').next().unwrap().to_owned();
        assert!(exc_id.starts_with("exc_"), "{exc_url}");
        assert_eq!(text(&c, "#status").await, "ANERGIC");
        assert_eq!(text(&c, "#reason-text").await, XSS_REASON);
        assert_not_pwned(&c).await;

        // A's own approval is refused with the rule's message; nothing changes.
        click(&c, "#approve").await;
        let refusal = text(&c, "#error").await;
        assert!(
            refusal.contains(&format!("alice requested exception {exc_id}"))
                && refusal.contains("the second signal must come from someone else"),
            "{refusal}"
        );
        assert_eq!(text(&c, "#status").await, "ANERGIC");
        shots.take(&c, "exception-refused").await;

        // A forged cross-site form post (the CSRF attack) changes nothing,
        // although the browser is signed in.
        let attacker = attacker_site(format!("{base}/ui/p/{project}/exceptions/{exc_id}/revoke"));
        c.goto(&attacker).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, v) = api
            .send(
                "GET",
                &format!("/api/projects/{project}/exceptions/{exc_id}"),
                &alice,
                None,
            )
            .await;
        assert_eq!(v["status"], "ANERGIC", "a forged form revoked it: {v}");

        // Sign-out ends the session.
        c.goto(&format!("{base}/ui/p/{project}")).await.unwrap();
        sign_out(&c).await;
        c.goto(&format!("{base}/ui/p/{project}/exceptions/{exc_id}"))
            .await
            .unwrap();
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/ui/signin")
        );

        // Codeowner B approves: ACTIVE, and the blocked change passes.
        sign_in(&c, &base, &bob).await;
        c.goto(&format!("{base}/ui/p/{project}/exceptions/{exc_id}"))
            .await
            .unwrap();
        fill(&c, "#comment", "checked with the consumers").await;
        click(&c, "#approve").await;
        assert_eq!(text(&c, "#status").await, "ACTIVE");
        let history = text(&c, "#history").await;
        assert!(
            history.contains("exception_signal") && history.contains("bob"),
            "{history}"
        );
        shots.take(&c, "exception").await;
        let (st, v) = api
            .send("POST", &decisions, &ci, Some(decision.clone()))
            .await;
        assert_eq!(st, 201);
        assert_eq!(v["blocked"], false, "{v}");
        assert_eq!(v["exceptions_applied"], json!([exc_id]));
        sign_out(&c).await;

        // The auditor downloads the evidence package; the verifier accepts it.
        sign_in(&c, &base, &auditor).await;
        c.goto(&format!("{base}/ui/p/{project}/settings"))
            .await
            .unwrap();
        let from = c
            .find(Locator::Css("#from"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        let to = c
            .find(Locator::Css("#to"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        shots.take(&c, "settings").await;
        click_only(&c, "#download").await;
        let name = format!("stateanchor-soc2-evidence-{project}-{from}-{to}.json");
        let file = wait_for_file(downloads.path(), &name).await;
        let out = Command::new(bin("stateanchor-verify"))
            .arg("export")
            .arg(&file)
            .args(["--key", &server.verifier_key])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "stateanchor-verify export refused the download: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        // A share link shows the exception, without keys or settings.
        c.goto(&format!("{base}/ui/p/{project}/settings"))
            .await
            .unwrap();
        click(&c, "#create-share").await;
        let link = c
            .find(Locator::Css("#new-share"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(link.contains("/share/sat_"), "{link}");
        sign_out(&c).await;
        c.goto(&link).await.unwrap();
        let ledger = text(&c, "#ledger").await;
        assert!(ledger.contains(&exc_id), "{ledger}");
        assert!(!c.source().await.unwrap().contains("csrf"));
        assert_not_pwned(&c).await;
        shots.take(&c, "share").await;

        // Revoked, it stops working.
        sign_in(&c, &base, &auditor).await;
        c.goto(&format!("{base}/ui/p/{project}/settings"))
            .await
            .unwrap();
        click(&c, "button.revoke-share").await;
        assert!(text(&c, "#shares").await.contains("revoked"));
        sign_out(&c).await;
        c.goto(&link).await.unwrap();
        assert!(
            text(&c, "#error").await.contains("expired or was revoked"),
            "the revoked link still works"
        );

        // An admin changes a control, recorded as the API records it.
        sign_in(&c, &base, &dana).await;
        c.goto(&format!("{base}/ui/p/{project}/settings"))
            .await
            .unwrap();
        fill(&c, "#max_exception_lifetime_seconds", "604800").await;
        click(&c, "#save-controls").await;
        let (_, v) = api
            .send(
                "GET",
                &format!("/v1/admin/projects/{project}"),
                &admin,
                None,
            )
            .await;
        assert_eq!(
            v["settings"]["max_exception_lifetime_seconds"], 604_800,
            "{v}"
        );
        sign_out(&c).await;

        // B revokes the exception with a reason (confirmed in a dialog,
        // the page's one piece of JavaScript).
        sign_in(&c, &base, &bob).await;
        c.goto(&format!("{base}/ui/p/{project}/exceptions/{exc_id}"))
            .await
            .unwrap();
        fill(&c, "#revoke-reason", "consumers broke after all").await;
        c.execute("window.__before_click = true;", vec![])
            .await
            .unwrap();
        click_only(&c, "#revoke").await;
        c.accept_alert().await.unwrap();
        wait_for_new_page(&c).await;
        assert_eq!(text(&c, "#status").await, "REVOKED");
        c.goto(&format!("{base}/ui/p/{project}/exceptions?status=REVOKED"))
            .await
            .unwrap();
        assert!(text(&c, "table").await.contains(&exc_id));
        c.goto(&format!("{base}/ui/p/{project}/exceptions?status=ACTIVE"))
            .await
            .unwrap();
        assert!(!text(&c, "table").await.contains(&exc_id));

        // The CSP forbids inline scripts.
        let resp = api
            .http
            .get(format!("{base}/ui/signin"))
            .send()
            .await
            .unwrap();
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );

        c.close().await.unwrap();
    });
}

const TAB: &str = "\u{e004}";
const ENTER: &str = "\u{e007}";

/// Presses Tab (from the focused element, or the page) until the element
/// with `id` has the focus, at most 40 times; checks that the focused
/// element shows it (an outline).
async fn tab_to(c: &Client, id: &str) {
    for _ in 0..40 {
        let focused = c.active_element().await.unwrap();
        if focused.attr("id").await.unwrap().as_deref() == Some(id) {
            let outline = c
                .execute(
                    "const s = getComputedStyle(document.activeElement); return s.outlineStyle + ' ' + s.outlineWidth;",
                    vec![],
                )
                .await
                .unwrap();
            let outline = outline.as_str().unwrap().to_owned();
            assert!(
                !outline.starts_with("none") && !outline.ends_with(" 0px"),
                "#{id} has the focus but shows no outline: {outline}"
            );
            return;
        }
        focused.send_keys(TAB).await.unwrap();
    }
    panic!("#{id} cannot be reached with Tab");
}

/// Types into the focused element.
async fn type_keys(c: &Client, keys: &str) {
    c.active_element()
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

/// Approve and revoke with the keyboard alone (issue 22): sign-in, the
/// approval and the revocation (with its reason and its confirmation) are
/// reached with Tab, each focused control shows its focus, and Enter
/// submits.
#[test]
fn approve_and_revoke_with_the_keyboard_alone() {
    let driver = start_driver();
    let server = LogServer::start(&[]);
    let downloads = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = server.url.clone();
        let api = Api {
            url: base.clone(),
            http: reqwest::Client::new(),
        };
        let admin = server.admin_key.clone();
        let project = api.project(&admin, "orders-api").await;
        let alice = api
            .principal(&admin, &project, "alice", &["codeowner"])
            .await;
        let bob = api.principal(&admin, &project, "bob", &["codeowner"]).await;
        let ci = api.principal(&admin, &project, "ci", &["ci"]).await;
        let (st, v) = api
            .send(
                "POST",
                &format!("/api/projects/{project}/decisions"),
                &ci,
                Some(json!({
                    "commit_sha": "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "branch": "main",
                    "author": "alice",
                    "findings": [{"kind": "response_field_removed", "endpoint": "GET /orders/{id}",
                                  "severity": "ERR", "detail": "total removed"}],
                    "artifacts": [],
                })),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let run = v["run_id"].as_str().unwrap().to_owned();
        let out = Command::new("date")
            .args(["-u", "-d", "5 days", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap();
        let expires = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let (st, v) = api
            .send(
                "POST",
                &format!("/api/projects/{project}/exceptions"),
                &alice,
                Some(json!({"run_id": run, "kind": "response_field_removed",
                            "endpoint": "GET /orders/{id}", "reason": "clients migrated",
                            "expires_at": expires})),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let exc_id = v["exception_id"].as_str().unwrap().to_owned();

        let c = browser(&driver, downloads.path()).await;
        // Sign in: Tab to the key field, type it, Enter.
        c.goto(&format!("{base}/ui/signin")).await.unwrap();
        tab_to(&c, "api_key").await;
        type_keys(&c, &bob).await;
        c.execute("window.__before_click = true;", vec![])
            .await
            .unwrap();
        type_keys(&c, ENTER).await;
        wait_for_new_page(&c).await;
        assert_eq!(
            c.current_url().await.unwrap().path(),
            format!("/ui/p/{project}")
        );

        // Approve: Tab to the button, Enter.
        c.goto(&format!("{base}/ui/p/{project}/exceptions/{exc_id}"))
            .await
            .unwrap();
        tab_to(&c, "approve").await;
        c.execute("window.__before_click = true;", vec![])
            .await
            .unwrap();
        type_keys(&c, ENTER).await;
        wait_for_new_page(&c).await;
        assert_eq!(text(&c, "#status").await, "ACTIVE");

        // Revoke: Tab to the reason, type it, Tab to the button, Enter, and
        // confirm the dialog (Enter on a dialog is its accept).
        tab_to(&c, "revoke-reason").await;
        type_keys(&c, "consumers broke after all").await;
        tab_to(&c, "revoke").await;
        c.execute("window.__before_click = true;", vec![])
            .await
            .unwrap();
        type_keys(&c, ENTER).await;
        c.accept_alert().await.unwrap();
        wait_for_new_page(&c).await;
        assert_eq!(text(&c, "#status").await, "REVOKED");
        let (_, v) = api
            .send(
                "GET",
                &format!("/api/projects/{project}/exceptions/{exc_id}"),
                &alice,
                None,
            )
            .await;
        assert_eq!(v["status"], "REVOKED", "{v}");
        c.close().await.unwrap();
    });
}
