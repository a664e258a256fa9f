//! Share links, end to end on the real `stateanchor-log` binary: a link
//! dies with its creator's key (revoked, the link answers 404 like an
//! expired one), and a share view covers at most 366 days ending no later
//! than today (refused at creation with a clear message, nothing created).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::{Api, LogServer};
use serde_json::json;

/// A cockpit client: forms from the server's own origin, no redirects.
struct Cockpit {
    url: String,
    http: reqwest::blocking::Client,
}

impl Cockpit {
    fn new(s: &LogServer) -> Self {
        Cockpit {
            url: s.url.clone(),
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> (u16, String) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    }

    fn form(&self, path: &str, cookie: Option<&str>, body: &str) -> (u16, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.url)
            .header("sec-fetch-site", "same-origin")
            .body(body.to_owned());
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().unwrap();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        let status = resp.status().as_u16();
        (status, cookie.unwrap_or_else(|| resp.text().unwrap()))
    }
}

fn find_in(html: &str, before: &str, end: char) -> String {
    let html = html.replace("&#x2f;", "/");
    let at = html
        .find(before)
        .unwrap_or_else(|| panic!("no {before} in {html}"))
        + before.len();
    html[at..at + html[at..].find(end).unwrap()].to_owned()
}

fn csrf_of(html: &str) -> String {
    find_in(html, "name=\"csrf\" value=\"", '"')
}

fn today() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    i64::try_from(now)
        .unwrap()
        .div_euclid(compliance::time::DAY_MS)
}

#[test]
fn a_share_link_dies_with_its_creators_key_and_its_period_is_bounded() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let (st, v) = api.post(
        "/v1/admin/projects",
        &s.admin_key,
        &json!({"name": "payments-api"}),
    );
    assert_eq!(st, 201, "{v}");
    let id = v["project_id"].as_str().unwrap().to_owned();
    let (st, v) = api.post(
        &format!("/v1/admin/projects/{id}/principals"),
        &s.admin_key,
        &json!({"name": "audra", "roles": ["auditor"]}),
    );
    assert_eq!(st, 201, "{v}");
    let (auditor, auditor_id) = (
        v["api_key"].as_str().unwrap().to_owned(),
        v["principal_id"].as_str().unwrap().to_owned(),
    );
    let ui = Cockpit::new(&s);
    let (st, cookie) = ui.form("/ui/signin", None, &format!("api_key={auditor}"));
    assert_eq!(st, 303, "{cookie}");
    let settings = format!("/ui/p/{id}/settings");
    let (st, html) = ui.get(&settings, Some(&cookie));
    assert_eq!(st, 200);
    let token = csrf_of(&html);
    let shares = format!("/ui/p/{id}/shares");
    let date = compliance::time::format_date;

    // 400 days: refused, saying why; nothing created.
    let (st, html) = ui.form(
        &shares,
        Some(&cookie),
        &format!(
            "csrf={token}&days=1&from={}&to={}",
            date(today() - 399),
            date(today())
        ),
    );
    assert_eq!(st, 400, "{html}");
    assert!(
        html.contains("a share view covers at most 366 days"),
        "{html}"
    );
    // Ending after today: refused.
    let (st, html) = ui.form(
        &shares,
        Some(&cookie),
        &format!(
            "csrf={token}&days=1&from={}&to={}",
            date(today()),
            date(today() + 1)
        ),
    );
    assert_eq!(st, 400, "{html}");
    assert!(
        html.contains("a share view ends no later than today"),
        "{html}"
    );
    let (_, html) = ui.get(&settings, Some(&cookie));
    assert!(!html.contains("/shares/shr_"), "no link was created");

    // 366 days ending today: made, and it works.
    let (st, html) = ui.form(
        &shares,
        Some(&cookie),
        &format!(
            "csrf={token}&days=1&from={}&to={}",
            date(today() - 365),
            date(today())
        ),
    );
    assert_eq!(st, 200, "{html}");
    let link = format!("/share/sat_{}", find_in(&html, "/share/sat_", '"'));
    let (st, view) = ui.get(&link, None);
    assert_eq!(st, 200, "{view}");
    assert!(view.contains("payments-api"));

    // Its creator's key revoked: the link answers as an expired one.
    let (st, v) = api.send(
        "DELETE",
        &format!("/v1/admin/keys/{auditor_id}"),
        Some(&s.admin_key),
        None,
    );
    assert_eq!(st, 200, "{v}");
    let (st, body) = ui.get(&link, None);
    assert_eq!(st, 404, "{body}");
    assert!(
        body.contains("does not exist, expired or was revoked"),
        "{body}"
    );
}
