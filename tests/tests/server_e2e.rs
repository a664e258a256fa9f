//! End-to-end tests of `stateanchor-log serve`: the real binary on
//! 127.0.0.1:0 with RocksDB in a temporary directory, driven over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use integration_tests::LogServer;
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use tlog::{Hash, VerifierKey, leaf_hash, open_checkpoint};

fn get(url: &str) -> Response {
    Client::new().get(url).send().unwrap()
}

fn get_json(url: &str) -> (u16, Value) {
    let r = get(url);
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect()
}

fn post_entry(s: &LogServer, key: &str, body: Vec<u8>, query: &str) -> Response {
    Client::new()
        .post(format!("{}/v1/entries{query}", s.url))
        .bearer_auth(key)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .unwrap()
}

#[test]
fn append_prove_and_serve_tiles() {
    let s = LogServer::start(&[]);
    let vkey = VerifierKey::from_text(&s.verifier_key).unwrap();
    let entries: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("entry {i}").into_bytes())
        .collect();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(s.append(e), i as u64);
    }
    let text = s.wait_for_checkpoint(300);
    let cp = open_checkpoint(text.as_bytes(), &vkey).unwrap().checkpoint;
    assert_eq!(cp.tree_size, 300);
    assert_eq!(cp.origin, s.origin);

    // The root matches a tree rebuilt from the entries.
    let mut store = tlog::MemoryHashStore::new();
    for e in &entries {
        store.append(leaf_hash(e));
    }
    assert_eq!(store.root(), cp.root_hash);

    // Inclusion by index and by leaf hash, against the latest and an older size.
    for i in [0u64, 1, 255, 256, 299] {
        let (st, v) = get_json(&format!("{}/v1/proof/inclusion?index={i}", s.url));
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["tree_size"], 300);
        assert!(v["checkpoint"].as_str().unwrap().starts_with(&s.origin));
        let proof = hashes(&v["proof"]);
        tlog::verify_inclusion(
            i,
            300,
            &leaf_hash(&entries[i as usize]),
            &proof,
            &cp.root_hash,
        )
        .unwrap();
    }
    let lh = leaf_hash(b"entry 7").to_base64();
    let url = format!(
        "{}/v1/proof/inclusion?leaf_hash={}&tree_size=100",
        s.url,
        urlencode(&lh)
    );
    let (st, v) = get_json(&url);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["leaf_index"], 7);
    let root100 = tlog::tree_hash(100, &store).unwrap();
    tlog::verify_inclusion(
        7,
        100,
        &leaf_hash(b"entry 7"),
        &hashes(&v["proof"]),
        &root100,
    )
    .unwrap();

    // Consistency between sizes.
    for (m, n) in [(0u64, 300u64), (1, 300), (100, 300), (256, 300), (300, 300)] {
        let (st, v) = get_json(&format!(
            "{}/v1/proof/consistency?first={m}&second={n}",
            s.url
        ));
        assert_eq!(st, 200, "{v}");
        tlog::verify_consistency(
            m,
            n,
            &tlog::tree_hash(m, &store).unwrap(),
            &cp.root_hash,
            &hashes(&v["proof"]),
        )
        .unwrap();
    }

    // Tiles and entry bundles, byte for byte, with cache headers.
    for t in tlog::tiles_for_size(300) {
        let r = get(&format!("{}/{}", s.url, t.path()));
        assert_eq!(r.status().as_u16(), 200, "{}", t.path());
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            r.bytes().unwrap().to_vec(),
            tlog::tile_bytes(t, &store).unwrap()
        );
    }
    for b in tlog::bundles_for_size(300) {
        let r = get(&format!("{}/{}", s.url, b.path()));
        assert_eq!(r.status().as_u16(), 200);
        let start = b.first_entry() as usize;
        let want = tlog::encode_bundle(&entries[start..start + usize::from(b.width)]).unwrap();
        assert_eq!(r.bytes().unwrap().to_vec(), want);
    }
    let r = get(&format!("{}/checkpoint", s.url));
    assert_eq!(r.headers()["cache-control"], "no-cache");

    // Entries, one and a page.
    let (st, v) = get_json(&format!("{}/v1/entries/5", s.url));
    assert_eq!(st, 200);
    assert_eq!(
        B64.decode(v["entry"].as_str().unwrap()).unwrap(),
        b"entry 5"
    );
    assert_eq!(v["leaf_hash"], leaf_hash(b"entry 5").to_base64());
    let (st, v) = get_json(&format!("{}/v1/entries?start=290&end=400", s.url));
    assert_eq!(st, 200);
    assert_eq!(v["entries"].as_array().unwrap().len(), 10);
    assert_eq!(v["entries"][0]["index"], 290);

    // /v1/log
    let (_, v) = get_json(&format!("{}/v1/log", s.url));
    assert_eq!(v["origin"], s.origin.as_str());
    assert_eq!(v["verifier_key"], s.verifier_key.as_str());
    assert_eq!(v["tree_size"], 300);

    // Duplicates are allowed; look-up by hash finds the first.
    assert_eq!(s.append(b"entry 7"), 300);
    let (_, v) = get_json(&url.replace("tree_size=100", "tree_size=300"));
    assert_eq!(v["leaf_index"], 7);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[test]
fn wait_for_checkpoint_returns_a_verifying_proof() {
    let s = LogServer::start(&[]);
    let vkey = VerifierKey::from_text(&s.verifier_key).unwrap();
    for i in 0..5 {
        let r = post_entry(
            &s,
            &s.admin_key,
            format!("w{i}").into_bytes(),
            "?wait=checkpoint",
        );
        assert_eq!(r.status().as_u16(), 201);
        let v: Value = r.json().unwrap();
        let cp = open_checkpoint(v["checkpoint"].as_str().unwrap().as_bytes(), &vkey)
            .unwrap()
            .checkpoint;
        let index = v["index"].as_u64().unwrap();
        assert!(cp.tree_size > index);
        tlog::verify_inclusion(
            index,
            cp.tree_size,
            &Hash::from_base64(v["leaf_hash"].as_str().unwrap()).unwrap(),
            &hashes(&v["proof"]),
            &cp.root_hash,
        )
        .unwrap();
    }
}

#[test]
fn bad_requests_get_documented_errors_and_change_nothing() {
    let s = LogServer::start(&[]);
    s.append(b"only entry");
    let before = s.wait_for_checkpoint(1);
    let c = Client::new();
    let cases: Vec<(&str, &str, u16)> = vec![
        ("GET", "/v1/entries/1", 404),
        ("GET", "/v1/entries/-1", 400),
        ("GET", "/v1/entries/abc", 400),
        ("GET", "/v1/entries?start=5", 404),
        ("GET", "/v1/entries?start=1&end=0", 400),
        ("GET", "/v1/entries", 400),
        ("GET", "/v1/proof/inclusion?index=1", 404),
        ("GET", "/v1/proof/inclusion?index=0&tree_size=2", 404),
        ("GET", "/v1/proof/inclusion?leaf_hash=not-base64", 400),
        ("GET", "/v1/proof/inclusion?leaf_hash=ZG9uJ3QgY2FyZSAy", 400),
        ("GET", "/v1/proof/inclusion?index=0&leaf_hash=ZG9u", 400),
        ("GET", "/v1/proof/inclusion", 400),
        ("GET", "/v1/proof/inclusion?index=0&bogus=1", 400),
        (
            "GET",
            "/v1/proof/inclusion?leaf_hash=47DEQpj8HBSa%2B%2FTImW%2B5JCeuQeRkm5NMpJWZG3hSuFU%3D",
            404,
        ),
        ("GET", "/v1/proof/consistency?first=2&second=1", 400),
        ("GET", "/v1/proof/consistency?first=1&second=5", 404),
        ("GET", "/v1/proof/consistency?first=x&second=1", 400),
        ("GET", "/v1/proof/consistency?second=1", 400),
        ("GET", "/tile/0/000", 404),
        ("GET", "/tile/0/000.p/2", 404),
        ("GET", "/tile/1/000.p/1", 404),
        ("GET", "/tile/entries/000.p/2", 404),
        ("GET", "/tile/0/0", 400),
        ("GET", "/tile/9/000", 400),
        ("GET", "/tile/0/x000/000", 400),
        ("GET", "/no/such/route", 404),
        ("GET", "/entries/99", 404),
    ];
    for (method, path, want) in cases {
        let r = c
            .request(method.parse().unwrap(), format!("{}{path}", s.url))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = r.text().unwrap();
        assert_eq!(status, want, "{method} {path}: {body}");
        if !path.starts_with("/entries/") {
            assert_eq!(ct.as_deref(), Some("application/json"), "{path}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert!(
                v["error"].is_string() && v["code"].is_string(),
                "{path}: {body}"
            );
        }
    }

    // Writes: auth, content type, size.
    let entry = || b"x".to_vec();
    let send = |key: Option<&str>, ct: &str, body: Vec<u8>| {
        let mut r = c
            .post(format!("{}/v1/entries", s.url))
            .header("content-type", ct)
            .body(body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send().unwrap()
    };
    assert_eq!(
        send(None, "application/octet-stream", entry())
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        send(Some("sa_nope"), "application/octet-stream", entry())
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        send(Some(&s.admin_key), "application/json", entry())
            .status()
            .as_u16(),
        415
    );
    let big = send(
        Some(&s.admin_key),
        "application/octet-stream",
        vec![0; 65_536],
    );
    assert_eq!(big.status().as_u16(), 413);
    let v: Value = big.json().unwrap();
    assert_eq!(v["code"], "too_large");
    assert_eq!(
        send(
            Some(&s.admin_key),
            "application/octet-stream",
            vec![0; 65_535]
        )
        .status()
        .as_u16(),
        201
    );
    assert_eq!(
        post_entry(&s, &s.admin_key, entry(), "?wait=later")
            .status()
            .as_u16(),
        400
    );

    // Nothing but the one valid append changed the log (read once settled:
    // in the shared mode the tree size is the integrated one).
    let size = integration_tests::settled(|| {
        get_json(&format!("{}/healthz", s.url)).1["tree_size"].clone()
    });
    assert_eq!(size, 2);
    assert!(before.contains("\n1\n"));
}

#[test]
fn api_keys_roles_and_revocation() {
    let s = LogServer::start(&[]);
    let c = Client::new();
    let create = |key: &str, body: Value| {
        c.post(format!("{}/v1/admin/keys", s.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .unwrap()
    };
    let r = create(
        &s.admin_key,
        serde_json::json!({"name": "ci", "role": "submitter"}),
    );
    assert_eq!(r.status().as_u16(), 201);
    let v: Value = r.json().unwrap();
    let submitter = v["api_key"].as_str().unwrap().to_owned();
    let id = v["id"].as_str().unwrap().to_owned();

    assert_eq!(
        post_entry(&s, &submitter, b"a".to_vec(), "")
            .status()
            .as_u16(),
        201
    );
    // A submitter may not manage keys.
    assert_eq!(
        create(
            &submitter,
            serde_json::json!({"name": "x", "role": "admin"})
        )
        .status()
        .as_u16(),
        403
    );
    // Malformed bodies.
    assert_eq!(
        create(&s.admin_key, serde_json::json!({"name": "x"}))
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        create(
            &s.admin_key,
            serde_json::json!({"name": "x", "role": "wizard"})
        )
        .status()
        .as_u16(),
        400
    );
    let r = c
        .post(format!("{}/v1/admin/keys", s.url))
        .bearer_auth(&s.admin_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // The list never shows secrets.
    let list = c
        .get(format!("{}/v1/admin/keys", s.url))
        .bearer_auth(&s.admin_key)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(list.contains(&id) && !list.contains(&submitter) && !list.contains(&s.admin_key));

    let r = c
        .delete(format!("{}/v1/admin/keys/{id}", s.url))
        .bearer_auth(&s.admin_key)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        post_entry(&s, &submitter, b"b".to_vec(), "")
            .status()
            .as_u16(),
        401
    );
    let r = c
        .delete(format!("{}/v1/admin/keys/key_unknown", s.url))
        .bearer_auth(&s.admin_key)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // The CLI: key show prints the verifier key; key list works over HTTP.
    let out = std::process::Command::new(integration_tests::bin("stateanchor-log"))
        .args(["key", "show", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        s.verifier_key
    );
    let out = std::process::Command::new(integration_tests::bin("stateanchor-log"))
        .args([
            "key",
            "create",
            "--name",
            "bot",
            "--role",
            "submitter",
            "--url",
            &s.url,
            "--data-dir",
        ])
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("api key: "))
        .unwrap();
    assert_eq!(
        post_entry(&s, key, b"c".to_vec(), "").status().as_u16(),
        201
    );
    let out = std::process::Command::new(integration_tests::bin("stateanchor-log"))
        .args(["key", "list", "--url", &s.url, "--admin-key", "sa_wrong"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

#[test]
fn restart_keeps_the_log_and_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut s = LogServer::start_in(&dir, &["--origin", "example.com/restart"]);
    for i in 0..10 {
        s.append(format!("r{i}").as_bytes());
    }
    let old = s.wait_for_checkpoint(10);
    let vkey_text = s.verifier_key.clone();
    s.stop();
    assert!(s.child.try_wait().unwrap().is_some());

    // A different origin is refused, and changes nothing.
    let out = std::process::Command::new(integration_tests::bin("stateanchor-log"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--origin",
            "example.com/other",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("origin"));

    let s = LogServer::start_in(&dir, &[]);
    assert_eq!(s.verifier_key, vkey_text);
    assert_eq!(s.origin, "example.com/restart");
    let vkey = VerifierKey::from_text(&vkey_text).unwrap();
    let old = open_checkpoint(old.as_bytes(), &vkey).unwrap().checkpoint;
    assert_eq!(s.append(b"after restart"), 10);
    let new = open_checkpoint(s.wait_for_checkpoint(11).as_bytes(), &vkey)
        .unwrap()
        .checkpoint;
    let (_, v) = get_json(&format!(
        "{}/v1/proof/consistency?first=10&second=11",
        s.url
    ));
    tlog::verify_consistency(10, 11, &old.root_hash, &new.root_hash, &hashes(&v["proof"])).unwrap();
}

#[test]
fn proof_page_is_readable_and_escaped() {
    let s = LogServer::start(&[]);
    s.append(b"<script>alert(1)</script> gate decision");
    s.append(&[0xff, 0x00, 0x01]);
    s.wait_for_checkpoint(2);
    let r = get(&format!("{}/entries/0", s.url));
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().unwrap();
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;"));
    assert!(html.contains("stateanchor-verify inclusion"));
    assert!(html.contains(&s.verifier_key));
    assert!(html.contains(&leaf_hash(b"<script>alert(1)</script> gate decision").to_base64()));
    let html = get(&format!("{}/entries/1", s.url)).text().unwrap();
    assert!(html.contains(&B64.encode([0xff, 0x00, 0x01])));
    let r = get(&format!("{}/entries/7", s.url));
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn metrics_and_health() {
    let s = LogServer::start(&[]);
    s.append(b"m");
    // The tree size is the integrated one: in the PostgreSQL + object
    // storage mode it follows the acknowledgement by up to one integration.
    s.wait_for_checkpoint(1);
    let text = get(&format!("{}/metrics", s.url)).text().unwrap();
    for name in [
        "stateanchor_appends_total 1",
        "stateanchor_batch_size_count",
        "stateanchor_fsync_seconds_bucket",
        "stateanchor_queue_depth",
        "stateanchor_tree_size 1",
        "stateanchor_http_request_duration_seconds_bucket{route=\"POST /v1/entries\"",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
    let (st, v) = get_json(&format!("{}/healthz", s.url));
    assert_eq!(st, 200);
    assert_eq!(v["status"], "ok");
}

#[test]
fn sigterm_drains_and_signs_a_final_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // A long interval: only the shutdown can sign the checkpoint covering the entries.
    let mut s = LogServer::start_in(&dir, &["--checkpoint-interval", "1h"]);
    for i in 0..20 {
        s.append(format!("t{i}").as_bytes());
    }
    s.stop();
    let s = LogServer::start_in(&dir, &["--checkpoint-interval", "1h"]);
    let text = get(&format!("{}/checkpoint", s.url)).text().unwrap();
    let vkey = VerifierKey::from_text(&s.verifier_key).unwrap();
    assert_eq!(
        open_checkpoint(text.as_bytes(), &vkey)
            .unwrap()
            .checkpoint
            .tree_size,
        20
    );
}
