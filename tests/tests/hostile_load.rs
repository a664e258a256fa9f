//! The log under hostile request bodies (issue 24; issue 23 item 4), with
//! the real server: a declared body over the route's limit is refused at
//! once, before a byte of it is sent; a body without a valid key is not
//! read; the budget of bytes in flight pushes back with 503 + Retry-After
//! and records nothing it refused; one key cannot hold more than its share;
//! a slow body is cut by the body-read deadline while `/checkpoint` keeps
//! answering; and `stateanchor-gate check` retries a pushback.
//!
//! Nothing here is timed: the socket read timeouts only keep a broken
//! server from hanging the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use integration_tests::{Api, LogServer, bin};
use serde_json::{Value, json};

/// An answer read off a raw socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::String(self.body.clone()))
    }
}

fn connect(s: &LogServer) -> TcpStream {
    let stream = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    stream
}

/// Writes a request's head: `POST path`, the key, the declared length.
fn send_head(
    stream: &mut TcpStream,
    path: &str,
    key: Option<&str>,
    length: u64,
    expect_continue: bool,
) {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
    );
    if let Some(k) = key {
        head.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    if expect_continue {
        head.push_str("Expect: 100-continue\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
}

/// Reads one answer's status line and headers, and its body unless it is a
/// `100 Continue`.
fn read_answer(reader: &mut BufReader<TcpStream>) -> Answer {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut answer = Answer {
        status,
        headers,
        body: String::new(),
    };
    if status != 100 {
        let len: usize = answer
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        answer.body = String::from_utf8_lossy(&body).into_owned();
    }
    answer
}

/// A POST as curl sends large bodies: the head with `Expect: 100-continue`,
/// and the body only once the server asks for it.
fn post_expecting(s: &LogServer, path: &str, key: &str, body: &[u8]) -> Answer {
    let mut stream = connect(s);
    send_head(&mut stream, path, Some(key), body.len() as u64, true);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let first = read_answer(&mut reader);
    if first.status != 100 {
        return first;
    }
    stream.write_all(body).unwrap();
    read_answer(&mut reader)
}

/// An OpenAPI document of about `paths` * 700 bytes.
fn document(paths: usize) -> String {
    let mut p = serde_json::Map::new();
    for i in 0..paths {
        p.insert(
            format!("/things{i}/{{id}}"),
            json!({"get": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "a thing", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["id"],
                    "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "size": {"type": "integer"}}
                }}}}}
            }}),
        );
    }
    json!({"openapi": "3.0.3", "info": {"title": "things", "version": "1.0.0"}, "paths": p})
        .to_string()
}

fn decision_body(doc: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "commit_sha": "0123456789abcdef", "branch": "main", "author": "dev",
        "base_spec": doc, "revision_spec": doc,
    }))
    .unwrap()
}

/// A project with one `ci` key per name.
fn project(s: &LogServer, ci: &[&str]) -> (String, Vec<String>) {
    let api = Api::new(s);
    let (st, p) = api.post(
        "/v1/admin/projects",
        &s.admin_key,
        &json!({"name": "payments"}),
    );
    assert_eq!(st, 201, "{p}");
    let id = p["project_id"].as_str().unwrap().to_owned();
    let keys = ci
        .iter()
        .map(|name| {
            let (st, k) = api.post(
                &format!("/v1/admin/projects/{id}/principals"),
                &s.admin_key,
                &json!({"name": name, "roles": ["ci"]}),
            );
            assert_eq!(st, 201, "{k}");
            k["api_key"].as_str().unwrap().to_owned()
        })
        .collect();
    (id, keys)
}

/// Decisions the project's export holds.
fn recorded_decisions(s: &LogServer, project: &str) -> u64 {
    let (st, v) = Api::new(s).get(
        &format!("/api/projects/{project}/compliance-export"),
        &s.admin_key,
    );
    assert_eq!(st, 200, "{v}");
    let d = &v["section_c_access_and_authorization"]["decisions"];
    d["classified_by_server"].as_u64().unwrap() + d["findings_from_ci"].as_u64().unwrap()
}

fn metric(s: &LogServer, name: &str) -> u64 {
    let text = reqwest::blocking::get(format!("{}/metrics", s.url))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Waits until the server holds `bytes` of its budget (the reservation of
/// a request on another connection).
fn held(s: &LogServer, bytes: u64) {
    while metric(s, "stateanchor_inflight_bytes") != bytes {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_declared_body_over_the_routes_limit_is_refused_before_it_is_sent() {
    let s = LogServer::start(&[]);
    for (path, length) in [
        // 100 GB to a decision; nothing of it is ever sent.
        ("/api/projects/prj_x/decisions", 100_000_000_000_u64),
        ("/v1/entries", 65_536),
        ("/api/projects/prj_x/exceptions", 2 << 20),
    ] {
        let mut stream = connect(&s);
        send_head(&mut stream, path, None, length, false);
        let a = read_answer(&mut BufReader::new(stream));
        assert_eq!(a.status, 413, "{path}: {a:?}");
        assert_eq!(a.json()["code"], "too_large", "{a:?}");
    }
    // A body sent without a length is counted as it arrives: refused once
    // it passes the limit.
    let mut stream = connect(&s);
    stream
        .write_all(
            format!(
                "POST /v1/entries HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
                s.admin_key
            )
            .as_bytes(),
        )
        .unwrap();
    for _ in 0..5 {
        stream.write_all(b"4000\r\n").unwrap();
        stream.write_all(&[b'x'; 0x4000]).unwrap();
        stream.write_all(b"\r\n").unwrap();
    }
    let a = read_answer(&mut BufReader::new(stream));
    assert_eq!(a.status, 413, "{a:?}");
    // Without a key, a body under the limit is not read either: 401.
    let mut stream = connect(&s);
    send_head(&mut stream, "/v1/entries", None, 1000, false);
    let a = read_answer(&mut BufReader::new(stream));
    assert_eq!(a.status, 401, "{a:?}");
    assert_eq!(
        metric(
            &s,
            "stateanchor_request_refusals_total{reason=\"too_large\"}"
        ),
        4
    );
    assert_eq!(
        metric(
            &s,
            "stateanchor_request_refusals_total{reason=\"unauthenticated\"}"
        ),
        1
    );
}

#[test]
fn past_the_budget_decisions_are_pushed_back_and_nothing_refused_is_recorded() {
    // 32 MiB, 16 MiB per key: one decision of ~1.6 MB (reserved eight
    // times over) at a time per key.
    let s = Arc::new(LogServer::start(&["--inflight-budget", "32M"]));
    let (id, keys) = project(&s, &["ci"]);
    let body = Arc::new(decision_body(&document(2100)));
    assert!(body.len() > (1 << 20) && body.len() < (2 << 20));
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let answers: Vec<Answer> = (0..n)
        .map(|_| {
            let (s, body, barrier, key, id) = (
                s.clone(),
                body.clone(),
                barrier.clone(),
                keys[0].clone(),
                id.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                post_expecting(&s, &format!("/api/projects/{id}/decisions"), &key, &body)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let created = answers.iter().filter(|a| a.status == 201).count();
    let pushed = answers.iter().filter(|a| a.status == 503).count();
    assert_eq!(created + pushed, n, "{answers:?}");
    assert!(created >= 1 && pushed >= 1, "{answers:?}");
    for a in answers.iter().filter(|a| a.status == 503) {
        assert_eq!(a.header("retry-after"), Some("2"), "{a:?}");
        assert_eq!(a.json()["code"], "overloaded", "{a:?}");
    }
    // Recorded: exactly the 201s.
    assert_eq!(recorded_decisions(&s, &id), created as u64);
    assert_eq!(
        metric(
            &s,
            "stateanchor_request_refusals_total{reason=\"key_share\"}"
        ) + metric(&s, "stateanchor_request_refusals_total{reason=\"budget\"}"),
        pushed as u64
    );
    // Everything was released.
    assert_eq!(metric(&s, "stateanchor_inflight_bytes"), 0);
}

#[test]
fn one_keys_flood_does_not_starve_another_key_and_slow_bodies_are_cut() {
    let s = LogServer::start(&["--inflight-budget", "32M", "--body-read-timeout", "3s"]);
    let (id, keys) = project(&s, &["runaway", "other"]);
    let path = format!("/api/projects/{id}/decisions");
    // The runaway key declares 2 MiB and sends one byte of it: it holds
    // its whole share (2 MiB times eight) while the body does not come.
    let mut slow = connect(&s);
    send_head(&mut slow, &path, Some(&keys[0]), 2 << 20, false);
    slow.write_all(b"{").unwrap();
    held(&s, 16 << 20);
    let small = decision_body(&document(2));
    // Its next decision is pushed back; the other key's goes through.
    let a = post_expecting(&s, &path, &keys[0], &small);
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(a.header("retry-after"), Some("2"));
    let b = post_expecting(&s, &path, &keys[1], &small);
    assert_eq!(b.status, 201, "{b:?}");
    // /checkpoint answers while the slow body holds its reservation.
    let cp = reqwest::blocking::get(format!("{}/checkpoint", s.url)).unwrap();
    assert_eq!(cp.status().as_u16(), 200);
    // The slow body is cut by the body-read deadline, and released.
    let cut = read_answer(&mut BufReader::new(slow));
    assert_eq!(cut.status, 408, "{cut:?}");
    assert_eq!(cut.json()["code"], "body_timeout");
    assert_eq!(metric(&s, "stateanchor_inflight_bytes"), 0);
    let a = post_expecting(&s, &path, &keys[0], &small);
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(recorded_decisions(&s, &id), 2);
}

#[test]
fn the_gate_cli_retries_a_pushback_and_says_so() {
    let s = LogServer::start(&["--inflight-budget", "32M", "--body-read-timeout", "3s"]);
    let (id, keys) = project(&s, &["ci"]);
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("openapi.json");
    std::fs::write(&doc, document(2)).unwrap();
    // A stalled body of the same key holds its share until the deadline.
    let mut slow = connect(&s);
    send_head(
        &mut slow,
        &format!("/api/projects/{id}/decisions"),
        Some(&keys[0]),
        2 << 20,
        false,
    );
    held(&s, 16 << 20);
    let doc = doc.to_str().unwrap();
    let out = Command::new(bin("stateanchor-gate"))
        .args([
            "check",
            "--log",
            &s.url,
            "--project",
            &id,
            "--base",
            doc,
            "--revision",
            doc,
            "--commit-sha",
            "0123456789abcdef",
            "--branch",
            "main",
            "--author",
            "dev",
        ])
        .env("STATEANCHOR_API_KEY", &keys[0])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the log is busy (503, nothing recorded); retry 1 of 8 in"),
        "{stderr}"
    );
    assert_eq!(read_answer(&mut BufReader::new(slow)).status, 408);
    assert_eq!(recorded_decisions(&s, &id), 1);
}
