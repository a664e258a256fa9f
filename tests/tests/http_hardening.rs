//! What a company's security review asks of the HTTP surface (issue 22,
//! item 4), on the real `stateanchor-log`: rate limits per client address
//! (cockpit sign-in, share links) and per API key (the JSON API's writes),
//! answered 429 with `Retry-After` and counted; `X-Robots-Tag` on share
//! pages; over https (its public URL), `Strict-Transport-Security` and a
//! `__Host-` session cookie that is `Secure`, the plain cookie name being
//! ignored; and request logs that name routes, never a share link's
//! secret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use integration_tests::cockpit::Cockpit;
use integration_tests::{Api, LogServer, bin};
use serde_json::json;

fn retry_after(resp: &reqwest::blocking::Response) -> u64 {
    resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn sign_in_share_links_and_writes_are_rate_limited_with_retry_after() {
    let s = LogServer::start(&[
        "--signin-rate",
        "3",
        "--share-rate",
        "3",
        "--write-rate",
        "2",
    ]);
    let ui = Cockpit::new(&s.url);
    // Sign-in: three attempts a minute from one address, then 429.
    for _ in 0..3 {
        let resp = ui.post_form("/ui/signin", None, "api_key=sa_wrong");
        assert_eq!(resp.status().as_u16(), 403);
    }
    let resp = ui.post_form("/ui/signin", None, "api_key=sa_wrong");
    assert_eq!(resp.status().as_u16(), 429);
    let wait = retry_after(&resp);
    assert!((1..=60).contains(&wait), "{wait}");
    let page = resp.text().unwrap();
    assert!(
        page.contains("too many sign-in attempts from this address"),
        "{page}"
    );

    // Share links: one at once, then 429; the pages are not for robots.
    let http = reqwest::blocking::Client::new();
    let resp = http
        .get(format!("{}/share/sat_unknown", s.url))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(resp.headers()["x-robots-tag"], "noindex, nofollow");
    let resp = http
        .get(format!("{}/share/sat_unknown", s.url))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(retry_after(&resp) >= 1);

    // Writes: two a second per key, four at once; another key is not held
    // up; a read is never limited.
    let api = Api::new(&s);
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (st, _) = api.post(
            "/v1/admin/projects",
            &s.admin_key,
            &json!({"name": format!("p{i}")}),
        );
        statuses.push(st);
    }
    assert_eq!(&statuses[..4], [201, 201, 201, 201], "{statuses:?}");
    assert!(statuses[4..].contains(&429), "{statuses:?}");
    let resp = http
        .post(format!("{}/v1/admin/projects", s.url))
        .bearer_auth(&s.admin_key)
        .json(&json!({"name": "again"}))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(retry_after(&resp) >= 1);
    let body: serde_json::Value = resp.json().unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
    let (st, _) = api.get("/v1/admin/projects", &s.admin_key);
    assert_eq!(st, 200, "reads are not limited");
    // An unknown key is limited on its own (and refused).
    let (st, _) = api.post("/v1/admin/projects", "sa_unknown", &json!({"name": "x"}));
    assert_eq!(st, 401);
    // Nothing limited was done: 4 projects.
    let (_, v) = api.get("/v1/admin/projects", &s.admin_key);
    assert_eq!(v["projects"].as_array().unwrap().len(), 4, "{v}");
    let metrics = http
        .get(format!("{}/metrics", s.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let limited = metrics
        .lines()
        .find(|l| l.starts_with("stateanchor_request_refusals_total{reason=\"rate_limited\"}"))
        .unwrap();
    let n: u64 = limited.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 5, "{limited}");
}

#[test]
fn over_https_the_session_cookie_is_host_only_and_secure_and_hsts_is_sent() {
    // Behind a TLS proxy: the server listens here, its public URL is https.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut s = LogServer::start(&[
        "--listen",
        &listen,
        "--public-url",
        "https://log.example.test",
    ]);
    s.url = format!("http://{listen}");
    let api = Api::new(&s);
    let project = api.create_project(&s.admin_key, "secure");
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{project}/principals"),
        &s.admin_key,
        &json!({"name": "alice", "roles": ["codeowner"]}),
    );
    assert_eq!(st, 201, "{v}");
    let key = v["api_key"].as_str().unwrap().to_owned();
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http.get(format!("{}/checkpoint", s.url)).send().unwrap();
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let resp = http
        .post(format!("{}/ui/signin", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(format!("api_key={key}"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-sa_session=sas_"), "{cookie}");
    for attr in ["; Path=/", "; HttpOnly", "; SameSite=Strict", "; Secure"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let page = |c: String| {
        http.get(format!("{}/ui/p/{project}", s.url))
            .header("cookie", c)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(page(format!("__Host-sa_session={value}")), 200);
    // The same secret under the plain name (a cookie any subdomain could
    // set) is not a session here.
    assert_eq!(page(format!("sa_session={value}")), 303);
}

#[test]
fn request_logs_name_the_route_not_a_share_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin("stateanchor-log"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(u) = line.strip_prefix("listening: ") {
            break u.to_owned();
        }
    };
    let secret = "sat_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJK";
    let resp = reqwest::blocking::get(format!("{url}/share/{secret}")).unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = reqwest::blocking::get(format!("{url}/checkpoint")).unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("/share/{secret}"),
        "the route is logged: {log}"
    );
    assert!(!log.contains(secret), "the secret is not: {log}");
}
