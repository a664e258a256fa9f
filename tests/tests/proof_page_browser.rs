//! The proof page (`GET /entries/<index>`) checks itself in a real browser:
//! headless Chromium over WebDriver, the real `stateanchor-log` on
//! 127.0.0.1, and the log's own `/assets/verify.js`.
//!
//! On the log's own pages: every entry of a 7-entry tree verifies with the
//! key pinned in the address (and with the key typed into the form); the
//! server's own key verifies but is said not to be independent; a wrong or
//! malformed pinned key fails; a pinned witness that did not cosign fails
//! ("missing cosignature").
//!
//! Through a small rewriting proxy on another port, which serves the log's
//! real pages and script with one change: a flipped byte of the proof, a
//! different entry text, or cosignature lines added to the real checkpoint
//! (made here over `cosignature/v1`, as a witness would): a valid
//! cosignature (who and when, UTC), one by the wrong key, one dated in the
//! future, and quorums.
//!
//! And on a log cosigned by a real `stateanchor-log witness serve`: the
//! witness's cosignature verifies in the browser, and the page's offline
//! proof file and entry bytes verify with `stateanchor-verify proof --policy`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use fantoccini::{Client, Locator};
use integration_tests::LogServer;
use integration_tests::browser::{browser, serious_accessibility_violations, start_driver, text};
use integration_tests::witness::{WitnessServer, generate_witness_key};
use sha2::{Digest, Sha256};
use tlog::SignerKey;

/// A witness's `cosignature/v1` key (signature type 0x04).
struct Witness {
    name: String,
    key: SignerKey,
}

impl Witness {
    fn new(name: &str, seed: u8) -> Self {
        Witness {
            name: name.to_owned(),
            key: SignerKey::from_seed(name, &[seed; 32]).unwrap(),
        }
    }

    fn public_key(&self) -> [u8; 32] {
        *self.key.verifier_key().public_key()
    }

    /// `SHA-256(name || "\n" || 0x04 || public key)[:4]`.
    fn key_id(&self) -> [u8; 4] {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        h.update([b'\n', 0x04]);
        h.update(self.public_key());
        let d = h.finalize();
        [d[0], d[1], d[2], d[3]]
    }

    /// The verifier key's text form: `<name>+<key ID>+base64(0x04 || key)`.
    fn vkey(&self) -> String {
        let mut data = vec![0x04];
        data.extend_from_slice(&self.public_key());
        let id: String = self.key_id().iter().map(|b| format!("{b:02x}")).collect();
        format!("{}+{id}+{}", self.name, B64.encode(data))
    }

    /// A cosignature line over the checkpoint body `text` at `time`,
    /// signed by `signer` (this witness's key, or another one to forge it).
    fn cosignature_line(&self, text: &str, time: u64, signer: &SignerKey) -> String {
        let message = format!("cosignature/v1\ntime {time}\n{text}");
        let sig = signer.sign(message.as_bytes()).signature;
        assert_eq!(sig.len(), 64);
        let mut data = self.key_id().to_vec();
        data.extend_from_slice(&time.to_be_bytes());
        data.extend_from_slice(&sig);
        format!("\u{2014} {} {}\n", self.name, B64.encode(data))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

type Rewrite = dyn Fn(&str) -> String + Send + Sync;

/// A proxy of the log on another port of 127.0.0.1: every GET is forwarded
/// (status, content type and CSP kept) and the HTML of `/entries/...` pages
/// goes through `rewrite`. Returns its base URL.
fn rewriting_proxy(log: &str, rewrite: impl Fn(&str) -> String + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = log.to_owned();
    let rewrite: Arc<Rewrite> = Arc::new(rewrite);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (log, rewrite) = (log.clone(), rewrite.clone());
            std::thread::spawn(move || proxy_one(stream, &log, &*rewrite));
        }
    });
    url
}

fn proxy_one(mut s: std::net::TcpStream, log: &str, rewrite: &Rewrite) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let resp = reqwest::blocking::get(format!("{log}{path}")).unwrap();
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let csp = header("content-security-policy");
    let mut body = resp.bytes().unwrap().to_vec();
    if path.starts_with("/entries/") && status == 200 {
        body = rewrite(std::str::from_utf8(&body).unwrap()).into_bytes();
    }
    let mut out = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(csp) = csp {
        out.push_str(&format!("content-security-policy: {csp}\r\n"));
    }
    out.push_str("\r\n");
    let _ = s.write_all(out.as_bytes());
    let _ = s.write_all(&body);
}

const NOTE_START: &str = "<pre id=\"checkpoint-note\">\n";

/// The signed checkpoint shown on a page (its note text has nothing that
/// HTML-escaping changes).
fn note_on_page(html: &str) -> String {
    let start = html.find(NOTE_START).expect("the page shows a checkpoint") + NOTE_START.len();
    let len = html[start..].find("</pre>").unwrap();
    let note = &html[start..start + len];
    assert!(!note.contains('&'), "{note}");
    note.to_owned()
}

/// A page whose checkpoint carries `lines` more (cosignature lines made by
/// `make` from the checkpoint's body).
fn with_cosignatures(html: &str, make: &dyn Fn(&str) -> String) -> String {
    let note = note_on_page(html);
    let body = &note[..=note.find("\n\n").unwrap()];
    let lines = make(body);
    html.replacen(
        &format!("{NOTE_START}{note}"),
        &format!("{NOTE_START}{note}{lines}"),
        1,
    )
}

/// Opens `url` and waits for the in-browser check's verdict: the
/// `data-state` of `#verify-status` (`verified` or `failed`) and its text.
async fn verdict(c: &Client, url: &str) -> (String, String) {
    c.goto(url).await.unwrap();
    wait_verdict(c).await
}

async fn wait_verdict(c: &Client) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(e) = c.find(Locator::Css("#verify-status")).await {
            let state = e.attr("data-state").await.unwrap().unwrap_or_default();
            if state == "verified" || state == "failed" {
                return (state, e.text().await.unwrap());
            }
        }
        if Instant::now() > deadline {
            let status = text(c, "#verify-status").await;
            panic!(
                "no verdict in 20 s on {:?}: {status}",
                c.current_url().await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The result (`data-result`) of each step, in order.
async fn step_results(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for id in [
        "step-entry",
        "step-inclusion",
        "step-signature",
        "step-cosignatures",
    ] {
        let e = c.find(Locator::Id(id)).await.unwrap();
        out.push(e.attr("data-result").await.unwrap().unwrap_or_default());
    }
    out
}

fn with_query(base: &str, path: &str, params: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(&format!("{base}{path}"), params)
        .unwrap()
        .to_string()
}

#[test]
fn proof_page_checks_itself_in_headless_chromium() {
    let driver = start_driver();
    let server = LogServer::start(&[]);
    let base = server.url.clone();
    let vkey = server.verifier_key.clone();
    let entries: Vec<Vec<u8>> = vec![
        br#"{"id":"run_1","note":"a JSON entry","project":"p","time":"2025-01-01T00:00:00Z","v":1}"#
            .to_vec(),
        b"\nstarts with a line feed, has <b>markup</b> & \"quotes\" 'too'\n".to_vec(),
        vec![0, 1, 2, 0xff, 0x1b],
        b"entry 3".to_vec(),
        b"entry 4".to_vec(),
        b"entry 5".to_vec(),
        "entry 6, \u{e9}t\u{e9}".as_bytes().to_vec(),
    ];
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(server.append(e), i as u64);
    }
    server.wait_for_checkpoint(7);

    // Without a browser: the page's headers, no inline script, and what it
    // says without JavaScript; the script and style sheet are served with
    // revalidation.
    let http = reqwest::blocking::Client::new();
    let resp = http.get(format!("{base}/entries/1")).send().unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("style-src 'self'")
            && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let html = resp.text().unwrap();
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"../assets/verify.js\" defer></script>"));
    assert!(html.contains("data-state=\"unchecked\">not checked"));
    assert!(html.contains("id=\"verify-command\">stateanchor-verify inclusion"));
    assert!(html.contains("/v1/entries/1\">JSON</a>"));
    for (asset, kind) in [("verify.js", "text/javascript"), ("proof.css", "text/css")] {
        let resp = http.get(format!("{base}/assets/{asset}")).send().unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        let etag = resp.headers()["etag"].clone();
        let again = http
            .get(format!("{base}/assets/{asset}"))
            .header("if-none-match", etag)
            .send()
            .unwrap();
        assert_eq!(again.status(), 304);
    }

    let w1 = Arc::new(Witness::new("witness.example/w1", 1));
    let w2 = Arc::new(Witness::new("witness.example/w2", 2));
    let (w1_vkey, w2_vkey) = (w1.vkey(), w2.vkey());
    let (vk, w1k, w2k) = (vkey.as_str(), w1_vkey.as_str(), w2_vkey.as_str());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let downloads = tempfile::tempdir().unwrap();
        let c = browser(&driver, downloads.path()).await;

        // Every entry of the tree (proofs of every shape) verifies with the
        // log's key pinned in the address.
        for i in 0..entries.len() {
            let url = with_query(&base, &format!("/entries/{i}"), &[("key", vk)]);
            let (state, status) = verdict(&c, &url).await;
            assert_eq!(state, "verified", "entry {i}: {status}");
            assert!(
                status.starts_with(&format!(
                    "verified: entry {i} is in the checkpoint of tree size 7 of {}",
                    server.origin
                )),
                "{status}"
            );
            assert_eq!(step_results(&c).await, ["ok", "ok", "ok", "ok"]);
            if i == 0 {
                let violations = serious_accessibility_violations(&c).await;
                assert!(
                    violations.is_empty(),
                    "axe-core on the proof page:\n{}",
                    violations.join("\n")
                );
            }
            assert!(
                text(&c, "#verify-key-source")
                    .await
                    .contains("pinned in the address")
            );
            assert_eq!(
                c.find(Locator::Id("pin-key"))
                    .await
                    .unwrap()
                    .prop("value")
                    .await
                    .unwrap()
                    .as_deref(),
                Some(vkey.as_str()),
                "the form shows the pinned key"
            );
        }
        let steps = text(&c, "#verify-steps").await;
        assert!(
            steps.contains("Witness cosignatures: ok, none required"),
            "{steps}"
        );

        // A '+' left unencoded in the address still means '+'.
        let (state, status) = verdict(&c, &format!("{base}/entries/3?key={vkey}")).await;
        assert_eq!(state, "verified", "{status}");

        // No key pinned: verified with the server's key, said to be not
        // independent.
        let (state, status) = verdict(&c, &format!("{base}/entries/0")).await;
        assert_eq!(state, "verified", "{status}");
        assert!(status.contains("not an independent check"), "{status}");
        let source = text(&c, "#verify-key-source").await;
        assert!(
            source.contains("comes from this server") && source.contains("independent"),
            "{source}"
        );

        // The key typed into the form pins it in the address.
        c.goto(&format!("{base}/entries/4")).await.unwrap();
        wait_verdict(&c).await;
        let field = c.find(Locator::Id("pin-key")).await.unwrap();
        field.send_keys(&vkey).await.unwrap();
        c.find(Locator::Id("pin-submit"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !c
            .current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or_default()
            .contains("key=")
        {
            assert!(Instant::now() < deadline, "the form did not load the page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (state, status) = wait_verdict(&c).await;
        assert_eq!(state, "verified", "{status}");
        assert!(status.starts_with("verified: entry 4"), "{status}");

        // A wrong pinned key (same name, another key) fails visibly.
        let other = SignerKey::from_seed(&server.origin, &[7; 32])
            .unwrap()
            .verifier_key()
            .to_text();
        let (state, status) = verdict(
            &c,
            &with_query(&base, "/entries/2", &[("key", other.as_str())]),
        )
        .await;
        assert_eq!(state, "failed");
        assert!(
            status.starts_with("failed: the checkpoint carries no signature by the pinned key"),
            "{status}"
        );
        assert_eq!(step_results(&c).await, ["ok", "ok", "failed", "ok"]);
        let violations = serious_accessibility_violations(&c).await;
        assert!(
            violations.is_empty(),
            "axe-core on a failed proof page:\n{}",
            violations.join("\n")
        );

        // A malformed key fails (fail closed), as do two log keys.
        let (state, status) =
            verdict(&c, &with_query(&base, "/entries/2", &[("key", "garbage")])).await;
        assert_eq!(state, "failed");
        assert!(
            status.contains("the pinned key is not a verifier key"),
            "{status}"
        );
        let (_, status) = verdict(
            &c,
            &with_query(&base, "/entries/2", &[("key", vk), ("key", other.as_str())]),
        )
        .await;
        assert!(status.contains("pins 2 log keys"), "{status}");

        // A pinned witness that did not cosign: missing cosignature.
        let (state, status) = verdict(
            &c,
            &with_query(&base, "/entries/5", &[("key", vk), ("witness", w1k)]),
        )
        .await;
        assert_eq!(state, "failed");
        assert!(
            status.starts_with(&format!("failed: missing cosignature from {}", w1.name)),
            "{status}"
        );
        assert!(
            text(&c, "#step-cosignatures")
                .await
                .contains("no cosignature"),
            "{}",
            text(&c, "#step-cosignatures").await
        );
        // A witness key of the wrong type (a signed-note key, 0x01).
        let (_, status) = verdict(
            &c,
            &with_query(
                &base,
                "/entries/5",
                &[("key", vk), ("witness", other.as_str())],
            ),
        )
        .await;
        assert!(status.contains("not 0x04"), "{status}");

        // Tampered pages, through the proxy: the real script, data changed.
        let flipped = rewriting_proxy(&base, |html| {
            let at = html.find("<ol id=\"inclusion-proof\"").unwrap();
            let h = at + html[at..].find("<li><code>").unwrap() + "<li><code>".len();
            let c = if &html[h..=h] == "A" { "B" } else { "A" };
            format!("{}{c}{}", &html[..h], &html[h + 1..])
        });
        let (state, status) =
            verdict(&c, &with_query(&flipped, "/entries/0", &[("key", vk)])).await;
        assert_eq!(state, "failed");
        assert!(
            status.starts_with("failed: the inclusion proof gives the root"),
            "{status}"
        );
        assert_eq!(step_results(&c).await, ["ok", "failed", "ok", "ok"]);

        let edited = rewriting_proxy(&base, |html| {
            html.replacen(
                "<pre id=\"entry-text\">\nentry 3<",
                "<pre id=\"entry-text\">\nentry 9<",
                1,
            )
        });
        let (state, status) = verdict(&c, &with_query(&edited, "/entries/3", &[("key", vk)])).await;
        assert_eq!(state, "failed");
        assert!(
            status.contains("the entry text shown is not the entry that was hashed"),
            "{status}"
        );

        // A page served for another entry than its address names.
        let moved = rewriting_proxy(&base, |html| {
            html.replacen("id=\"entry-index\">3<", "id=\"entry-index\">4<", 1)
        });
        let (_, status) = verdict(&c, &with_query(&moved, "/entries/3", &[("key", vk)])).await;
        assert!(status.starts_with("failed:"), "{status}");

        // Cosigned checkpoints: the real checkpoint, with cosignature lines
        // made here as the witnesses would.
        const THEN: u64 = 1_700_000_000; // 2023-11-14 22:13:20 UTC
        let (a, b) = (w1.clone(), w2.clone());
        let cosigned = rewriting_proxy(&base, move |html| {
            with_cosignatures(html, &|body| a.cosignature_line(body, THEN, &a.key))
        });
        let (state, status) = verdict(
            &c,
            &with_query(&cosigned, "/entries/2", &[("key", vk), ("witness", w1k)]),
        )
        .await;
        assert_eq!(state, "verified", "{status}");
        assert!(
            status.ends_with("cosigned by 1 of 1 pinned witness(es)"),
            "{status}"
        );
        let cosigs = text(&c, "#step-cosignatures").await;
        let w1_id: String = w1.key_id().iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            cosigs.contains(&format!(
                "{}+{w1_id}: cosigned at 2023-11-14 22:13:20 UTC",
                w1.name
            )),
            "{cosigs}"
        );
        // Two pinned, one cosigned: the default quorum (all) fails, a
        // quorum of 1 verifies, a quorum of 3 is refused.
        let two = [("key", vk), ("witness", w1k), ("witness", w2k)];
        let (state, status) = verdict(&c, &with_query(&cosigned, "/entries/2", &two)).await;
        assert_eq!(state, "failed");
        assert!(
            status.starts_with(&format!(
                "failed: missing cosignature from {} (1 of the 2 required)",
                w2.name
            )),
            "{status}"
        );
        let mut q1 = two.to_vec();
        q1.push(("quorum", "1"));
        let (state, status) = verdict(&c, &with_query(&cosigned, "/entries/2", &q1)).await;
        assert_eq!(state, "verified", "{status}");
        assert!(
            status.ends_with("cosigned by 1 of 2 pinned witness(es)"),
            "{status}"
        );
        q1.pop();
        q1.push(("quorum", "3"));
        let (_, status) = verdict(&c, &with_query(&cosigned, "/entries/2", &q1)).await;
        assert!(
            status.contains("the quorum 3 is not between 1 and the 2"),
            "{status}"
        );
        // The witness textarea: one key a line, in one parameter.
        let lines = format!("{w1k}\r\n{w2k}");
        let (_, status) = verdict(
            &c,
            &with_query(
                &cosigned,
                "/entries/2",
                &[("key", vk), ("witness", lines.as_str()), ("quorum", "1")],
            ),
        )
        .await;
        assert!(
            status.ends_with("cosigned by 1 of 2 pinned witness(es)"),
            "{status}"
        );

        // A cosignature line under w1's name and key ID, signed by w2's key.
        let (a, b2) = (w1.clone(), b.clone());
        let forged = rewriting_proxy(&base, move |html| {
            with_cosignatures(html, &|body| a.cosignature_line(body, THEN, &b2.key))
        });
        let (state, status) = verdict(
            &c,
            &with_query(&forged, "/entries/2", &[("key", vk), ("witness", w1k)]),
        )
        .await;
        assert_eq!(state, "failed");
        assert!(
            status.starts_with(&format!(
                "failed: the cosignature of {}+{w1_id} does not verify",
                w1.name
            )),
            "{status}"
        );

        // A valid cosignature dated an hour ahead.
        let a = w1.clone();
        let future = rewriting_proxy(&base, move |html| {
            with_cosignatures(html, &|body| a.cosignature_line(body, now() + 3600, &a.key))
        });
        let (state, status) = verdict(
            &c,
            &with_query(&future, "/entries/2", &[("key", vk), ("witness", w1k)]),
        )
        .await;
        assert_eq!(state, "failed");
        assert!(status.contains("is dated in the future"), "{status}");

        c.close().await.unwrap();
    });
}

/// A log cosigned by a real witness (`stateanchor-log witness serve`, its
/// policy given with `--witness-policy`): the page shows the witnessed
/// checkpoint, the browser verifies the witness's cosignature with the
/// witness's key pinned, and the page's download links (the proof file and
/// the entry's bytes) verify offline with `stateanchor-verify proof --policy`.
#[test]
fn a_witnessed_log_page_verifies_its_real_witness_and_offers_an_offline_proof() {
    const ORIGIN: &str = "proof-page.example/witnessed";
    let tmp = tempfile::tempdir().unwrap();
    let (log_dir, w_dir) = (tmp.path().join("log"), tmp.path().join("w1"));
    std::fs::create_dir_all(&w_dir).unwrap();
    let out = std::process::Command::new(integration_tests::bin("stateanchor-log"))
        .args(["key", "generate", "--origin", ORIGIN, "--data-dir"])
        .arg(&log_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log_vkey = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let w_vkey = generate_witness_key(&w_dir, "witness.example/real");
    let logs = tmp.path().join("logs.txt");
    std::fs::write(&logs, format!("log {log_vkey}\nquorum none\n")).unwrap();
    let witness = WitnessServer::start_in(&w_dir, &logs, &[]);
    assert_eq!(witness.verifier_key, w_vkey);
    let policy = tmp.path().join("policy.txt");
    std::fs::write(
        &policy,
        format!(
            "log {log_vkey}\nwitness w1 {w_vkey} {}\nquorum w1\n",
            witness.url
        ),
    )
    .unwrap();
    let server = LogServer::start_in(&log_dir, &["--witness-policy", policy.to_str().unwrap()]);
    assert_eq!(server.verifier_key, log_vkey);
    let entry = b"a witnessed entry".to_vec();
    assert_eq!(server.append(&entry), 0);
    assert_eq!(server.append(b"another"), 1);
    let note = server.wait_for_checkpoint(2);
    let w_name = w_vkey.split('+').next().unwrap();
    assert!(
        note.lines()
            .any(|l| l.starts_with(&format!("\u{2014} {w_name} "))),
        "the served checkpoint carries no cosignature of the witness:\n{note}"
    );

    // The page's download links: the proof file and the entry's bytes.
    let base = server.url.clone();
    let http = reqwest::blocking::Client::new();
    let html = http
        .get(format!("{base}/entries/0"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let href = |id: &str| {
        let at = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id}"));
        let rest = &html[at..];
        let start = rest.find("href=\"").unwrap() + 6;
        let end = start + rest[start..].find('"').unwrap();
        rest[start..end].to_owned()
    };
    let proof_url = href("proof-download");
    assert_eq!(proof_url, format!("{base}/v1/entries/0/proof.tlog-proof"));
    let data_url = href("entry-download");
    let b64 = data_url
        .strip_prefix("data:application/octet-stream;base64,")
        .unwrap();
    assert_eq!(B64.decode(b64).unwrap(), entry);
    let proof = http.get(&proof_url).send().unwrap();
    assert_eq!(proof.status(), 200);
    assert!(
        proof.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with("-0.tlog-proof\"")
    );
    let proof_file = tmp.path().join("entry-0.tlog-proof");
    std::fs::write(&proof_file, proof.bytes().unwrap()).unwrap();
    let entry_file = tmp.path().join("entry-0.bin");
    std::fs::write(&entry_file, &entry).unwrap();
    let verify = |args: &[&str]| {
        std::process::Command::new(integration_tests::bin("stateanchor-verify"))
            .arg("--evidence-dir")
            .arg(tmp.path())
            .arg("proof")
            .arg(&proof_file)
            .arg("--entry")
            .arg(&entry_file)
            .args(args)
            .output()
            .unwrap()
    };
    let ok = verify(&["--policy", policy.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(
        ok.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(said.contains(w_name), "the report names no witness: {said}");
    // A policy requiring a witness that did not cosign fails closed.
    let other = tmp.path().join("w2");
    std::fs::create_dir_all(&other).unwrap();
    let w2_vkey = generate_witness_key(&other, "witness.example/absent");
    let strict = tmp.path().join("strict.txt");
    std::fs::write(
        &strict,
        format!(
            "log {log_vkey}\nwitness w1 {w_vkey}\nwitness w2 {w2_vkey}\ngroup both all w1 w2\nquorum both\n"
        ),
    )
    .unwrap();
    let refused = verify(&["--policy", strict.to_str().unwrap()]);
    assert!(!refused.status.success());

    // In the browser: the witness's cosignature verifies with its key pinned.
    let driver = start_driver();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let downloads = tempfile::tempdir().unwrap();
        let c = browser(&driver, downloads.path()).await;
        let url = with_query(
            &base,
            "/entries/0",
            &[("key", log_vkey.as_str()), ("witness", w_vkey.as_str())],
        );
        let (state, status) = verdict(&c, &url).await;
        assert_eq!(state, "verified", "{status}");
        assert!(
            status.ends_with("cosigned by 1 of 1 pinned witness(es)"),
            "{status}"
        );
        assert_eq!(step_results(&c).await, ["ok", "ok", "ok", "ok"]);
        // The witness pinned, but a quorum of two with a witness that never
        // cosigned: the check fails.
        let url = with_query(
            &base,
            "/entries/0",
            &[
                ("key", log_vkey.as_str()),
                ("witness", w_vkey.as_str()),
                ("witness", w2_vkey.as_str()),
                ("quorum", "2"),
            ],
        );
        let (state, status) = verdict(&c, &url).await;
        assert_eq!(state, "failed", "{status}");
        c.close().await.unwrap();
    });
}
