//! The log asks witnesses to cosign its checkpoints (`serve
//! --witness-policy`, spec/witnessing.md), against witnesses the test
//! fakes: well-behaved ones and ones that misbehave (5xx, slow, 409 loops,
//! a cosignature by the wrong key or from the future, a witness that was
//! shown a fork). The log serves only checkpoints that meet the quorum,
//! keeps appending while witnesses are down, keeps each witness's size
//! across a restart, and says what happened on `/healthz` and `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use integration_tests::{LogServer, bin};
use serde_json::Value;
use tlog::{AddCheckpointRequest, CosignerKey, Policy, VerifierKey, WitnessState};

/// How a fake witness behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// As the spec says.
    Good,
    /// 500 to everything.
    Broken,
    /// Answers after `SLOW`.
    Slow,
    /// 409 naming a size other than the one asked, every time.
    Conflicts,
    /// Cosigns with a key other than the policy's.
    WrongKey,
    /// Cosigns with a timestamp a day ahead.
    Future,
}

const SLOW: Duration = Duration::from_secs(3);

struct Fake {
    key: CosignerKey,
    other: CosignerKey,
    log_keys: Vec<VerifierKey>,
    mode: Mode,
    state: Option<WitnessState>,
    /// Every `old` size the log sent, in order.
    olds: Vec<u64>,
}

/// A witness on 127.0.0.1 driven by the test.
struct FakeWitness {
    url: String,
    name: String,
    inner: Arc<Mutex<Fake>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

async fn add_checkpoint(State(f): State<Arc<Mutex<Fake>>>, body: Bytes) -> Response {
    let mode = f.lock().expect("lock").mode;
    match mode {
        Mode::Broken => return (StatusCode::INTERNAL_SERVER_ERROR, "broken\n").into_response(),
        Mode::Slow => tokio::time::sleep(SLOW).await,
        _ => {}
    }
    let Ok(req) = AddCheckpointRequest::parse(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed\n").into_response();
    };
    let mut f = f.lock().expect("lock");
    f.olds.push(req.old_size);
    if mode == Mode::Conflicts {
        let size = req.old_size + 1;
        return (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, "text/x.tlog.size")],
            format!("{size}\n"),
        )
            .into_response();
    }
    let signed = match tlog::check_add_checkpoint(f.state.as_ref(), &req, &f.log_keys) {
        Ok(s) => s,
        Err(tlog::AddCheckpointError::Conflict { latest_size, .. }) => {
            return (
                StatusCode::CONFLICT,
                [(header::CONTENT_TYPE, "text/x.tlog.size")],
                format!("{latest_size}\n"),
            )
                .into_response();
        }
        Err(e) => {
            let status = StatusCode::from_u16(e.http_status()).expect("status");
            return (status, format!("{e}\n")).into_response();
        }
    };
    f.state = Some(WitnessState {
        size: signed.checkpoint.tree_size,
        root_hash: signed.checkpoint.root_hash,
    });
    let body_text = signed.note.text();
    let sig = match mode {
        Mode::WrongKey => {
            // Signed by another key, under the policy key's name and ID.
            let mut s = f.other.cosign(body_text, now());
            s.name = f.key.name().to_owned();
            s.key_id = f.key.key_id();
            s
        }
        Mode::Future => f.key.cosign(body_text, now() + 86_400),
        _ => f.key.cosign(body_text, now()),
    };
    (StatusCode::OK, sig.to_line()).into_response()
}

impl FakeWitness {
    fn start(name: &str, log_key: &str) -> Self {
        let seed: [u8; 32] = rand_seed(name);
        let inner = Arc::new(Mutex::new(Fake {
            key: CosignerKey::from_seed(&format!("witness.test/{name}"), &seed).expect("key"),
            other: CosignerKey::from_seed(&format!("witness.test/{name}"), &[0xEE; 32])
                .expect("key"),
            log_keys: vec![VerifierKey::from_text(log_key).expect("log key")],
            mode: Mode::Good,
            state: None,
            olds: Vec::new(),
        }));
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        let state = inner.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route("/add-checkpoint", axum::routing::post(add_checkpoint))
                    .with_state(state);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send");
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("fake witness address");
        FakeWitness {
            url: format!("http://{addr}"),
            name: name.to_owned(),
            inner,
        }
    }

    fn vkey(&self) -> String {
        self.inner.lock().expect("lock").key.verifier().to_text()
    }

    fn set(&self, mode: Mode) {
        self.inner.lock().expect("lock").mode = mode;
    }

    fn olds(&self) -> Vec<u64> {
        self.inner.lock().expect("lock").olds.clone()
    }

    fn line(&self) -> String {
        format!("witness {} {} {}\n", self.name, self.vkey(), self.url)
    }
}

fn rand_seed(name: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(name.as_bytes()).into()
}

/// Creates the log's key in `dir` and returns its verifier key.
fn generate_log_key(dir: &Path) -> String {
    let out = std::process::Command::new(bin("stateanchor-log"))
        .args([
            "key",
            "generate",
            "--origin",
            "witnessed.test/log",
            "--data-dir",
        ])
        .arg(dir)
        .output()
        .expect("key generate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

fn get(url: &str) -> (u16, String) {
    let resp = reqwest::blocking::Client::new()
        .get(url)
        .send()
        .expect("GET");
    let status = resp.status().as_u16();
    (status, resp.text().unwrap_or_default())
}

fn health(log: &LogServer) -> Value {
    serde_json::from_str(&get(&format!("{}/healthz", log.url)).1).expect("healthz json")
}

/// Waits until the served checkpoint covers `size`, verifies it under
/// `policy` and returns the names of its cosigners.
fn witnessed(log: &LogServer, policy: &Policy, size: u64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, text) = get(&format!("{}/checkpoint", log.url));
        if status == 200 {
            let v = policy
                .verify_checkpoint(text.as_bytes(), now())
                .expect("the served checkpoint meets the policy");
            if v.checkpoint.checkpoint.tree_size >= size {
                return v.cosigners.into_iter().map(|c| c.name).collect();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no witnessed checkpoint of size {size}; last: {status} {text}; health: {}",
            health(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn served_size(log: &LogServer) -> Option<u64> {
    let (status, text) = get(&format!("{}/checkpoint", log.url));
    (status == 200).then(|| text.lines().nth(1).and_then(|l| l.parse().ok()))?
}

fn witness_state<'a>(h: &'a Value, name: &str) -> &'a Value {
    h["witnessing"]["witnesses"]
        .as_array()
        .expect("witnesses")
        .iter()
        .find(|w| w["name"] == name)
        .expect("witness in healthz")
}

/// Polls `/healthz` until `cond` holds (at most 15 s).
fn eventually(log: &LogServer, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = health(log);
        if cond(&h) {
            return h;
        }
        assert!(Instant::now() < deadline, "never: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_witnessed(dir: &Path, policy: &Path) -> LogServer {
    LogServer::start_in(
        dir,
        &[
            "--witness-policy",
            policy.to_str().expect("utf8"),
            "--witness-timeout",
            "1s",
        ],
    )
}

#[test]
fn a_witnessed_log_serves_only_checkpoints_that_meet_its_quorum() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let log_key = generate_log_key(&dir);
    let ws: Vec<FakeWitness> = ["a", "b", "c"]
        .iter()
        .map(|n| FakeWitness::start(n, &log_key))
        .collect();
    let mut text = format!("log {log_key}\n");
    for w in &ws {
        text.push_str(&w.line());
    }
    text.push_str("group two-of-three 2 a b c\nquorum two-of-three\n");
    let policy_path = tmp.path().join("policy");
    std::fs::write(&policy_path, &text).expect("policy");
    let policy = Policy::parse(&text).expect("policy parses");

    let mut log = start_witnessed(&dir, &policy_path);
    for i in 0..5 {
        log.append(format!("entry {i}").as_bytes());
    }
    let cosigners = witnessed(&log, &policy, 5);
    assert_eq!(cosigners, ["a", "b", "c"]);
    // /v1/log names the policy.
    let v: Value = serde_json::from_str(&get(&format!("{}/v1/log", log.url)).1).expect("json");
    assert_eq!(v["witness_policy"], text);

    // The auditor's side: the real verifier requires the quorum, saves the
    // entry's proof file and checks it again with no network.
    let verify = |args: &[&str]| {
        // Evidence of failures goes to the temporary directory, not the
        // working directory.
        let out = std::process::Command::new(bin("stateanchor-verify"))
            .arg("--evidence-dir")
            .arg(tmp.path())
            .args(args)
            .output()
            .expect("stateanchor-verify");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let p = policy_path.to_str().expect("utf8");
    let cp_url = format!("{}/checkpoint", log.url);
    let (code, out) = verify(&["checkpoint", &cp_url, "--policy", p]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("a") && out.contains("quorum"), "{out}");
    let entry = tmp.path().join("entry");
    std::fs::write(&entry, b"entry 2").expect("entry");
    let saved = tmp.path().join("entry.tlog-proof");
    let (code, out) = verify(&[
        "inclusion",
        "--log",
        &log.url,
        "--policy",
        p,
        "--entry-file",
        entry.to_str().expect("utf8"),
        "--save",
        saved.to_str().expect("utf8"),
    ]);
    assert_eq!(code, Some(0), "{out}");
    let e = entry.to_str().expect("utf8");
    let (code, out) = verify(&[
        "proof",
        saved.to_str().expect("utf8"),
        "--entry",
        e,
        "--policy",
        p,
    ]);
    assert_eq!(code, Some(0), "{out}");
    // The log's own proof file verifies the same way.
    let served = tmp.path().join("served.tlog-proof");
    let resp = reqwest::blocking::get(format!("{}/v1/entries/2/proof.tlog-proof", log.url))
        .expect("proof file");
    assert_eq!(resp.status().as_u16(), 200);
    std::fs::write(&served, resp.bytes().expect("body")).expect("write");
    let (code, out) = verify(&[
        "proof",
        served.to_str().expect("utf8"),
        "--entry",
        e,
        "--policy",
        p,
    ]);
    assert_eq!(code, Some(0), "{out}");
    // A policy that needs a witness that did not cosign: refused.
    let stricter = tmp.path().join("stricter");
    std::fs::write(
        &stricter,
        format!(
            "log {log_key}\n{}witness z {} http://127.0.0.1:9\ngroup all4 all a b c z\nquorum all4\n",
            ws.iter().map(FakeWitness::line).collect::<String>(),
            CosignerKey::from_seed("witness.test/z", &[9; 32]).expect("key").verifier().to_text()
        ),
    )
    .expect("policy");
    let s = stricter.to_str().expect("utf8");
    let (code, out) = verify(&[
        "proof",
        served.to_str().expect("utf8"),
        "--entry",
        e,
        "--policy",
        s,
    ]);
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = verify(&["checkpoint", &cp_url, "--policy", s]);
    assert_eq!(code, Some(1), "{out}");

    // Two of three down (one broken, one cosigning with a wrong key): the
    // log keeps appending, but serves no checkpoint beyond the last
    // witnessed one.
    ws[1].set(Mode::Broken);
    ws[2].set(Mode::WrongKey);
    for i in 5..10 {
        log.append(format!("entry {i}").as_bytes());
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        served_size(&log),
        Some(5),
        "a checkpoint without quorum was served"
    );
    let h = health(&log);
    assert_eq!(h["witnessing"]["witnessed_tree_size"], 5);
    assert_eq!(h["witnessing"]["signed_tree_size"], 10);
    assert!(
        witness_state(&h, "b")["failures"].as_u64().unwrap_or(0) >= 1,
        "{h}"
    );
    assert!(
        witness_state(&h, "b")["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("500"),
        "{h}"
    );
    assert!(
        witness_state(&h, "c")["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("does not verify"),
        "{h}"
    );
    let metrics = get(&format!("{}/metrics", log.url)).1;
    assert!(
        metrics
            .contains("stateanchor_witness_requests_total{witness=\"b\",outcome=\"server_error\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "stateanchor_witness_requests_total{witness=\"c\",outcome=\"bad_cosignature\"}"
        ),
        "{metrics}"
    );

    // A cosignature from the future does not count either.
    ws[2].set(Mode::Future);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(served_size(&log), Some(5));

    // One comes back: quorum again, with the newest checkpoint, from the
    // size that witness holds (a consistency proof from 5, not from 0).
    ws[1].set(Mode::Good);
    let cosigners = witnessed(&log, &policy, 10);
    assert_eq!(cosigners, ["a", "b"]);
    assert!(ws[1].olds().contains(&5), "{:?}", ws[1].olds());

    // Restarted, the log remembers each witness's size: its first request
    // to `a` is from the size `a` cosigned, not from 0.
    log.stop();
    let before = ws[0].olds().len();
    let log = start_witnessed(&dir, &policy_path);
    log.append(b"after the restart");
    witnessed(&log, &policy, 11);
    let olds = ws[0].olds();
    assert!(
        olds[before..].iter().all(|&o| o >= 10),
        "the restarted log asked from {:?}",
        &olds[before..]
    );
}

#[test]
fn slow_conflicting_and_forked_witnesses_never_make_a_quorum() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let log_key = generate_log_key(&dir);
    let good = FakeWitness::start("good", &log_key);
    let slow = FakeWitness::start("slow", &log_key);
    let loops = FakeWitness::start("loops", &log_key);
    slow.set(Mode::Slow);
    loops.set(Mode::Conflicts);
    let text = format!(
        "log {log_key}\n{}{}{}group all3 all good slow loops\nquorum all3\n",
        good.line(),
        slow.line(),
        loops.line()
    );
    let policy_path = tmp.path().join("policy");
    std::fs::write(&policy_path, &text).expect("policy");
    let log = start_witnessed(&dir, &policy_path);
    log.append(b"one");
    // Never met: nothing is served, and the log says why.
    let h = eventually(&log, |h| {
        witness_state(h, "slow")["last_error"].is_string()
            && witness_state(h, "loops")["last_error"].is_string()
            && witness_state(h, "good")["cosigned_size"] == 1
    });
    let (status, body) = get(&format!("{}/checkpoint", log.url));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("witness policy"), "{body}");
    assert_eq!(h["status"], "degraded");
    assert!(
        witness_state(&h, "slow")["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("POST"),
        "{h}"
    );
    assert!(
        witness_state(&h, "loops")["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("409"),
        "{h}"
    );
    // The 409 loop is bounded: a handful of requests per round, not a storm.
    assert!(loops.olds().len() < 20, "{} requests", loops.olds().len());
    // The good witness cosigned; appends went on.
    assert!(
        witness_state(&h, "good")["cosigned_size"]
            .as_u64()
            .is_some(),
        "{h}"
    );
    let metrics = get(&format!("{}/metrics", log.url)).1;
    assert!(metrics.contains("outcome=\"timeout\""), "{metrics}");
    assert!(metrics.contains("outcome=\"conflict\""), "{metrics}");
}

#[test]
fn a_witness_shown_a_fork_refuses_and_the_log_never_reaches_quorum() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    let log_key = generate_log_key(&dir);
    let w = FakeWitness::start("only", &log_key);
    // The witness already cosigned another tree of size 1 of this log (a
    // split view someone else was shown): signed by the log's own key.
    let forked = tlog::leaf_hash(b"what others were shown");
    w.inner.lock().expect("lock").state = Some(WitnessState {
        size: 1,
        root_hash: forked,
    });
    let text = format!("log {log_key}\n{}quorum only\n", w.line());
    let policy_path = tmp.path().join("policy");
    std::fs::write(&policy_path, &text).expect("policy");
    let log = start_witnessed(&dir, &policy_path);
    log.append(b"the real entry");
    eventually(&log, |h| {
        witness_state(h, "only")["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("different checkpoint of size 1")
    });
    assert_eq!(get(&format!("{}/checkpoint", log.url)).0, 503);
}

#[test]
fn a_policy_that_does_not_name_the_log_is_refused_at_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    generate_log_key(&dir);
    let other = tlog::SignerKey::from_seed("other.test/log", &[1; 32]).expect("key");
    let w = FakeWitness::start("w", &other.verifier_key().to_text());
    for (text, want) in [
        (
            format!(
                "log {}\n{}quorum w\n",
                other.verifier_key().to_text(),
                w.line()
            ),
            "does not list this log's key",
        ),
        ("quorum none\nquorum none\n".to_owned(), "witness policy"),
    ] {
        let policy_path = tmp.path().join("policy");
        std::fs::write(&policy_path, &text).expect("policy");
        let out = std::process::Command::new(bin("stateanchor-log"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .arg("--witness-policy")
            .arg(&policy_path)
            .output()
            .expect("serve");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
    }
}

/// The PostgreSQL mode: two frontends of one witnessed log. The integrator
/// asks the witnesses; both frontends and the bucket's `checkpoint` object
/// (the bucket is itself a tlog-tiles log) serve only witnessed checkpoints.
#[test]
fn both_frontends_and_the_bucket_serve_witnessed_checkpoints() {
    if !integration_tests::cluster_services_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let log_key = generate_log_key(&dir_a);
    std::fs::create_dir_all(&dir_b).expect("dir b");
    std::fs::copy(dir_a.join("log-signing-key"), dir_b.join("log-signing-key")).expect("copy key");
    let w1 = FakeWitness::start("one", &log_key);
    let w2 = FakeWitness::start("two", &log_key);
    let text = format!(
        "log {log_key}\n{}{}group both all one two\nquorum both\n",
        w1.line(),
        w2.line()
    );
    let policy_path = tmp.path().join("policy");
    std::fs::write(&policy_path, &text).expect("policy");
    let policy = Policy::parse(&text).expect("policy");
    let (db, objects) = integration_tests::new_cluster_log();
    let p = policy_path.to_str().expect("utf8");
    let frontend = |dir: &Path| {
        LogServer::start_in(
            dir,
            &[
                "--database",
                &db,
                "--objects",
                &objects,
                "--lease-ttl",
                "1s",
                "--witness-policy",
                p,
                "--witness-timeout",
                "1s",
            ],
        )
    };
    let a = frontend(&dir_a);
    let b = frontend(&dir_b);
    for i in 0..4 {
        a.append(format!("a{i}").as_bytes());
        b.append(format!("b{i}").as_bytes());
    }
    assert_eq!(witnessed(&a, &policy, 8), ["one", "two"]);
    assert_eq!(witnessed(&b, &policy, 8), ["one", "two"]);
    let bucket =
        log_server::storage::objects::Objects::open(&objects, 1 << 20, Duration::from_secs(10))
            .expect("bucket");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let note = bucket
            .get("checkpoint")
            .expect("get")
            .expect("a checkpoint object");
        let v = policy
            .verify_checkpoint(&note, now())
            .expect("the bucket's checkpoint meets the policy");
        if v.checkpoint.checkpoint.tree_size >= 8 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bucket's checkpoint stays below 8"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // One witness down: appends go on through both frontends; neither the
    // frontends nor the bucket move past the last witnessed size.
    w2.set(Mode::Broken);
    std::thread::sleep(Duration::from_millis(500));
    let served = served_size(&a).expect("served");
    for i in 4..8 {
        a.append(format!("a{i}").as_bytes());
    }
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(served_size(&a), Some(served));
    assert_eq!(served_size(&b), Some(served));
    let note = bucket.get("checkpoint").expect("get").expect("object");
    policy
        .verify_checkpoint(&note, now())
        .expect("still witnessed");
    // Back: both frontends serve the newest, witnessed.
    w2.set(Mode::Good);
    witnessed(&a, &policy, 12);
    witnessed(&b, &policy, 12);
}
