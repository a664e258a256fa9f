//! Share links, end to end on the real `stateanchor-log` binary: a link
//! dies with its creator's key (revoked, the link answers 404 like an
//! expired one), and a share view covers at most 366 days ending no later
//! than today (refused at creation with a clear message, nothing created);
//! a period's view is computed at most once per 30 seconds, and links dead
//! for 7 days are deleted from the store (their records stay in the log).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use integration_tests::cockpit::{Cockpit, csrf_of, find_in};
use integration_tests::in_process::InProcess;
use integration_tests::ledger::blocked_decision;
use integration_tests::{Api, LogServer};
use serde_json::json;

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
    let id = api.create_project(&s.admin_key, "payments-api");
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
    let ui = Cockpit::new(&s.url);
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

#[test]
fn a_share_view_is_cached_for_seconds_and_dead_links_are_pruned() {
    let p = InProcess::start();
    p.set_time("2026-12-01T12:00:00Z");
    let (id, keys) = p.project(
        &json!({"name": "ledger-api"}),
        &[("audra", "auditor"), ("ci", "ci")],
    );
    let (auditor, ci) = (&keys[0], &keys[1]);
    let ui = Cockpit::new(&p.url);
    let sign_in = || {
        let (st, cookie) = ui.form("/ui/signin", None, &format!("api_key={auditor}"));
        assert_eq!(st, 303, "{cookie}");
        let (st, html) = ui.get(&format!("/ui/p/{id}/settings"), Some(&cookie));
        assert_eq!(st, 200, "{html}");
        (cookie, csrf_of(&html))
    };
    let create = |cookie: &str, token: &str| {
        let (st, html) = ui.form(
            &format!("/ui/p/{id}/shares"),
            Some(cookie),
            &format!("csrf={token}&days=1&from=2026-11-01&to=2026-12-01"),
        );
        assert_eq!(st, 200, "{html}");
        format!("/share/sat_{}", find_in(&html, "/share/sat_", '"'))
    };
    let decide = |commit: &str| {
        p.post(
            &format!("/api/projects/{id}/decisions"),
            ci,
            &blocked_decision(commit, &[("response_field_removed", "GET /a")]),
        );
    };
    decide("aaaa111");
    let (cookie, token) = sign_in();
    let link = create(&cookie, &token);
    let (st, view) = ui.get(&link, None);
    assert_eq!(st, 200, "{view}");
    assert!(view.contains("aaaa111"), "{view}");

    // A run recorded now is not in the view for up to 30 seconds...
    decide("bbbb222");
    p.set_time("2026-12-01T12:00:29Z");
    let (st, view) = ui.get(&link, None);
    assert_eq!(st, 200, "{view}");
    assert!(
        view.contains("aaaa111") && !view.contains("bbbb222"),
        "{view}"
    );
    // ...then it is.
    p.set_time("2026-12-01T12:00:31Z");
    let (_, view) = ui.get(&link, None);
    assert!(view.contains("bbbb222"), "{view}");

    // The checks are made at every request: revoked, the cached view is
    // not shown.
    let (_, html) = ui.get(&format!("/ui/p/{id}/settings"), Some(&cookie));
    let shr = format!("shr_{}", find_in(&html, "/shares/shr_", '/'));
    let (st, _) = ui.form(
        &format!("/ui/p/{id}/shares/{shr}/revoke"),
        Some(&cookie),
        &format!("csrf={token}"),
    );
    assert_eq!(st, 303);
    let (st, body) = ui.get(&link, None);
    assert_eq!(st, 404, "{body}");

    // Six days later the revoked link is still listed; eight days later a
    // new link's creation deletes it from the store (the log keeps it).
    p.set_time("2026-12-07T12:00:00Z");
    let (cookie, token) = sign_in();
    create(&cookie, &token);
    let (_, html) = ui.get(&format!("/ui/p/{id}/settings"), Some(&cookie));
    assert!(html.contains(&shr), "{html}");
    p.set_time("2026-12-09T12:00:00Z");
    let (cookie, token) = sign_in();
    create(&cookie, &token);
    let (_, html) = ui.get(&format!("/ui/p/{id}/settings"), Some(&cookie));
    assert!(!html.contains(&shr), "{html}");
    assert_eq!(html.matches("/shares/shr_").count(), 2, "{html}");
}
