//! Pages that scale (issue 22, item 5), end to end on the real
//! `stateanchor-log`: the cockpit's runs and exceptions lists and the API's
//! exceptions list are pages with a cursor (`before`, `after`) instead of
//! every item ever created; following the cursors visits every item once,
//! newest first, with the filters kept; a forged cursor is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::process::Command;

use integration_tests::cockpit::{Cockpit, find_in};
use integration_tests::ledger::blocked_decision;
use integration_tests::{Api, LogServer};
use serde_json::{Value, json};

fn in_days(days: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("{days} days"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The values of `attr="…"` of a page, in order, after `marker`.
fn all_after(html: &str, marker: &str, end: char) -> Vec<String> {
    html.split(marker)
        .skip(1)
        .map(|rest| rest[..rest.find(end).unwrap()].to_owned())
        .collect()
}

#[test]
fn runs_and_exceptions_are_listed_by_pages_with_a_cursor() {
    let s = LogServer::start(&[]);
    let api = Api::new(&s);
    let admin = s.admin_key.as_str();
    let project = api.create_project(admin, "big-api");
    let key = |name: &str, role: &str| {
        let (st, v) = api.post(
            &format!("/v1/admin/projects/{project}/principals"),
            admin,
            &json!({"name": name, "roles": [role]}),
        );
        assert_eq!(st, 201, "{v}");
        v["api_key"].as_str().unwrap().to_owned()
    };
    let (alice, ci) = (key("alice", "codeowner"), key("ci", "ci"));

    // 130 runs: 65 blocked, 65 passing, alternately; the first one blocked
    // by 60 findings, the exceptions' run.
    let endpoints: Vec<String> = (0..60).map(|i| format!("GET /items/{i}")).collect();
    let mut runs = Vec::new();
    for i in 0..130 {
        let body = if i == 0 {
            let errs: Vec<(&str, &str)> = endpoints
                .iter()
                .map(|e| ("response_field_removed", e.as_str()))
                .collect();
            blocked_decision(&format!("c{i:06}"), &errs)
        } else if i % 2 == 0 {
            blocked_decision(&format!("c{i:06}"), &[("response_field_removed", "GET /a")])
        } else {
            blocked_decision(&format!("c{i:06}"), &[])
        };
        let (st, v) = api.post(&format!("/api/projects/{project}/decisions"), &ci, &body);
        assert_eq!(st, 201, "{v}");
        runs.push(v["run_id"].as_str().unwrap().to_owned());
    }
    // 60 exceptions, one per finding of the first run.
    let mut exceptions = Vec::new();
    for e in &endpoints {
        let (st, v) = api.post(
            &format!("/api/projects/{project}/exceptions"),
            &alice,
            &json!({"run_id": runs[0], "kind": "response_field_removed", "endpoint": e,
                    "reason": "migrated", "expires_at": in_days(3)}),
        );
        assert_eq!(st, 201, "{v}");
        exceptions.push(v["exception_id"].as_str().unwrap().to_owned());
    }

    let ui = Cockpit::new(&s.url);
    let (st, cookie) = ui.form("/ui/signin", None, &format!("api_key={alice}"));
    assert_eq!(st, 303, "{cookie}");

    // Runs: pages of 50, newest first, every run once, by the cursor.
    let pages = |filter: &str| {
        let mut seen = Vec::new();
        let mut path = format!("/ui/p/{project}/runs?{filter}");
        let mut n = 0;
        loop {
            n += 1;
            let (st, html) = ui.get(&path, Some(&cookie));
            assert_eq!(st, 200, "{html}");
            let page = all_after(&html, &format!("/ui/p/{project}/runs/"), '"');
            assert!(page.len() <= 50, "{}", page.len());
            seen.extend(page);
            if !html.contains("id=\"older-runs\"") {
                assert_eq!(html.contains("id=\"newest-runs\""), n > 1);
                return (seen, n);
            }
            let before = find_in(&html, "name=\"before\" value=\"", '"');
            path = format!("/ui/p/{project}/runs?{filter}&before={before}");
        }
    };
    let (seen, n) = pages("");
    assert_eq!(n, 3);
    let newest_first: Vec<String> = runs.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    // With a filter the cursor keeps it: the 65 blocked runs, 2 pages.
    let (seen, n) = pages("blocked=yes");
    assert_eq!(n, 2);
    let blocked: Vec<String> = newest_first
        .iter()
        .filter(|r| runs.iter().position(|x| x == *r).unwrap() % 2 == 0)
        .cloned()
        .collect();
    assert_eq!(seen, blocked);
    // A cursor that is not a sequence number: 400.
    let (st, html) = ui.get(&format!("/ui/p/{project}/runs?before=x"), Some(&cookie));
    assert_eq!(st, 400, "{html}");

    // Exceptions, in the API: `limit` and `after`, `next` until the end;
    // newest filed first (ties of one millisecond by ID), each once.
    let mut got = Vec::new();
    let mut times = Vec::new();
    let mut path = format!("/api/projects/{project}/exceptions?status=ANERGIC&limit=25");
    loop {
        let (st, v) = api.get(&path, &alice);
        assert_eq!(st, 200, "{v}");
        let list = v["exceptions"].as_array().unwrap();
        assert!(list.len() <= 25);
        for e in list {
            got.push(e["exception_id"].as_str().unwrap().to_owned());
            times.push(e["created_at"].as_str().unwrap().to_owned());
        }
        match &v["next"] {
            Value::String(next) => {
                path = format!(
                    "/api/projects/{project}/exceptions?status=ANERGIC&limit=25&after={next}"
                );
            }
            Value::Null => break,
            other => panic!("next is {other}"),
        }
    }
    assert_eq!(got.len(), 60);
    assert_eq!(
        got.iter().collect::<HashSet<_>>(),
        exceptions.iter().collect::<HashSet<_>>()
    );
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // Exceptions, in the cockpit: 50 and 10, in the same order.
    let (_, html) = ui.get(&format!("/ui/p/{project}/exceptions"), Some(&cookie));
    let first = all_after(
        &html,
        &format!("<a href=\"/ui/p/{project}/exceptions/"),
        '"',
    );
    assert_eq!(first.len(), 50);
    let after = find_in(&html, "name=\"after\" value=\"", '"');
    assert_eq!(&after, first.last().unwrap());
    let (_, html) = ui.get(
        &format!("/ui/p/{project}/exceptions?status=&after={after}"),
        Some(&cookie),
    );
    let second = all_after(
        &html,
        &format!("<a href=\"/ui/p/{project}/exceptions/"),
        '"',
    );
    assert_eq!(second.len(), 10);
    assert!(!html.contains("id=\"older-exceptions\""));
    let listed: Vec<String> = first.into_iter().chain(second).collect();
    assert_eq!(listed, got);
    for (query, says) in [
        ("after=exc_forged", "exc_forged"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
    ] {
        let (st, v) = api.get(
            &format!("/api/projects/{project}/exceptions?{query}"),
            &alice,
        );
        assert_eq!(st, 400, "{query}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{v}");
    }
}
