//! End-to-end tests of `stateanchor-log witness serve` (C2SP tlog-witness):
//! the real binary on 127.0.0.1:0 with its RocksDB state in a temporary
//! directory, fed checkpoints of a log built here with tlog.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use integration_tests::bin;
use integration_tests::witness::{WitnessServer, generate_witness_key};
use reqwest::blocking::Client;
use tlog::{
    AddCheckpointRequest, Checkpoint, CosignerKey, CosignerVerifier, Hash, MemoryHashStore, Note,
    SignerKey, leaf_hash, parse_cosignature_response, prove_consistency, tree_hash,
};

const ORIGIN: &str = "example.com/witnessed-log";
const WITNESS: &str = "witness.example/w1";

/// A log: its key and its tree, grown to `size` leaves.
struct TestLog {
    key: SignerKey,
    tree: MemoryHashStore,
}

impl TestLog {
    fn new(origin: &str, seed: u8, size: u64) -> Self {
        let mut tree = MemoryHashStore::new();
        for i in 0..size {
            tree.append(leaf_hash(format!("{origin} entry {i}").as_bytes()));
        }
        TestLog {
            key: SignerKey::from_seed(origin, &[seed; 32]).unwrap(),
            tree,
        }
    }

    fn root(&self, size: u64) -> Hash {
        tree_hash(size, &self.tree).unwrap()
    }

    /// The checkpoint of `size`, signed by the log's key.
    fn checkpoint(&self, size: u64) -> Note {
        Checkpoint::new(self.key.name(), size, self.root(size))
            .sign(&self.key)
            .unwrap()
    }

    /// An add-checkpoint body from `old` to `size`, with the right proof.
    fn request(&self, old: u64, size: u64) -> Vec<u8> {
        AddCheckpointRequest {
            old_size: old,
            consistency_proof: prove_consistency(old, size, &self.tree).unwrap(),
            checkpoint: self.checkpoint(size).to_bytes(),
        }
        .to_bytes()
    }
}

/// A witness data directory with a key, and a logs file listing `logs`;
/// also the verifier key `witness key generate` printed.
fn witness_dir(dir: &Path, logs: &[&SignerKey]) -> (PathBuf, PathBuf, String) {
    let data = dir.join("witness");
    let vkey = generate_witness_key(&data, WITNESS);
    let list = dir.join("logs.txt");
    let mut text = "# logs this witness follows\n".to_owned();
    for k in logs {
        text.push_str(&format!(
            "log {} https://log.example\n",
            k.verifier_key().to_text()
        ));
    }
    text.push_str("quorum none\n");
    std::fs::write(&list, text).unwrap();
    (data, list, vkey)
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn post(client: &Client, url: &str, body: Vec<u8>) -> Answer {
    let r = client.post(url).body(body).send().unwrap();
    Answer {
        status: r.status().as_u16(),
        content_type: r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        body: r.text().unwrap(),
    }
}

/// Checks a 200's body: one cosignature line by the witness over
/// `checkpoint`, with a timestamp of now; returns the timestamp.
fn check_cosigned(a: &Answer, checkpoint: &Note, witness: &CosignerVerifier) -> u64 {
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.content_type.starts_with("text/plain"),
        "{}",
        a.content_type
    );
    let lines = parse_cosignature_response(a.body.as_bytes()).unwrap();
    assert_eq!(lines.len(), 1, "{:?}", a.body);
    assert!(witness.matches(&lines[0]), "{:?}", a.body);
    // As a client does: the response appended to the checkpoint is a note.
    let mut cosigned = checkpoint.to_string();
    cosigned.push_str(&a.body);
    let note = Note::from_bytes(cosigned.as_bytes()).unwrap();
    let sigs: Vec<_> = note
        .signatures()
        .iter()
        .filter(|s| s.name == WITNESS)
        .collect();
    assert_eq!(sigs.len(), 1, "{:?}", a.body);
    let ts = witness.verify(checkpoint.text(), sigs[0]).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts <= now && now - ts < 120, "timestamp {ts}, now {now}");
    ts
}

fn check_conflict(a: &Answer, latest: u64) {
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.content_type, "text/x.tlog.size");
    assert_eq!(a.body, format!("{latest}\n"));
}

fn check_refused(a: &Answer, status: u16) {
    assert_eq!(a.status, status, "{}", a.body);
    assert!(
        a.content_type.starts_with("text/plain"),
        "{}",
        a.content_type
    );
    assert!(a.body.len() < 250 && a.body.ends_with('\n'), "{:?}", a.body);
}

#[test]
fn add_checkpoint_follows_the_spec_and_keeps_its_state() {
    let tmp = tempfile::tempdir().unwrap();
    let log = TestLog::new(ORIGIN, 1, 40);
    let (data, list, generated) = witness_dir(tmp.path(), &[&log.key]);
    let mut w = WitnessServer::start_in(&data, &list, &[]);
    let witness = CosignerVerifier::from_text(&w.verifier_key).unwrap();
    assert_eq!(witness.name(), WITNESS);
    // It serves with the key `witness key generate` made and printed.
    assert_eq!(w.verifier_key, generated);
    let client = Client::new();
    let url = format!("{}/add-checkpoint", w.url);

    // The key file is the owner's only, and `key show` prints its vkey.
    let mode = std::fs::metadata(data.join("witness-key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let shown = Command::new(bin("stateanchor-log"))
        .args(["witness", "key", "show", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(shown.stdout).unwrap().trim(),
        w.verifier_key
    );

    // First submission: old 0, empty proof.
    let a = post(&client, &url, log.request(0, 5));
    check_cosigned(&a, &log.checkpoint(5), &witness);

    // A wrong old size: 409 with the stored size.
    check_conflict(&post(&client, &url, log.request(3, 8)), 5);
    check_conflict(&post(&client, &url, log.request(0, 8)), 5);

    // Old size above the checkpoint's: 400.
    let body = AddCheckpointRequest {
        old_size: 9,
        consistency_proof: vec![],
        checkpoint: log.checkpoint(8).to_bytes(),
    }
    .to_bytes();
    check_refused(&post(&client, &url, body), 400);

    // An origin the witness does not follow: 404.
    let other = TestLog::new("other.example/log", 2, 8);
    check_refused(&post(&client, &url, other.request(0, 8)), 404);

    // An unknown origin is not echoed back at length.
    let long = TestLog::new(&format!("example.com/{}", "x".repeat(10_000)), 2, 8);
    check_refused(&post(&client, &url, long.request(0, 8)), 404);

    // The right origin signed by a key the witness does not trust: 403.
    let impostor = TestLog::new(ORIGIN, 3, 40);
    check_refused(&post(&client, &url, impostor.request(5, 8)), 403);

    // A bad consistency proof: 422, and the state is unchanged.
    let mut proof = prove_consistency(5, 8, &log.tree).unwrap();
    proof[0].0[0] ^= 1;
    let body = AddCheckpointRequest {
        old_size: 5,
        consistency_proof: proof,
        checkpoint: log.checkpoint(8).to_bytes(),
    }
    .to_bytes();
    check_refused(&post(&client, &url, body), 422);

    // A fork: the log's key on another root at the stored size: 409.
    let fork = TestLog {
        key: log.key.clone(),
        tree: TestLog::new("fork.example/log", 1, 5).tree,
    };
    assert_ne!(fork.root(5), log.root(5));
    check_conflict(&post(&client, &url, fork.request(5, 5)), 5);

    // The right proof moves it on; a checkpoint carrying signatures of
    // unknown keys (another witness's, another log's) is still accepted.
    let mut cp = log.checkpoint(8);
    cp.push_signature(
        SignerKey::from_seed("stranger.example/w9", &[9; 32])
            .unwrap()
            .sign(cp.text().as_bytes()),
    );
    cp.push_signature(other.key.sign(cp.text().as_bytes()));
    let body = AddCheckpointRequest {
        old_size: 5,
        consistency_proof: prove_consistency(5, 8, &log.tree).unwrap(),
        checkpoint: cp.to_bytes(),
    }
    .to_bytes();
    check_cosigned(&post(&client, &url, body), &log.checkpoint(8), &witness);
    // The same checkpoint again is cosigned again.
    check_cosigned(
        &post(&client, &url, log.request(8, 8)),
        &log.checkpoint(8),
        &witness,
    );

    // Oversized and malformed bodies.
    let mut huge = log.request(8, 8);
    huge.resize(65 << 10, b'x');
    check_refused(&post(&client, &url, huge), 413);
    let good = String::from_utf8(log.request(8, 12)).unwrap();
    for bad in [
        String::new(),
        "old 8\n".to_owned(),
        good.replacen("old 8", "old 08", 1),
        good.replacen("old 8", "old -1", 1),
        good.replacen("old 8\n", "old 8\nnot base64!\n", 1),
        good.replacen("old 8\n", "old 8\nAAAA\n", 1),
        good.replacen("\n\n", "\n", 1),
        good.replacen(
            "old 8\n",
            &format!(
                "old 8\n{}",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".repeat(64)
            ),
            1,
        ),
        format!("{good}trailing"),
    ] {
        let a = post(&client, &url, bad.clone().into_bytes());
        assert_eq!(a.status, 400, "{bad:?}: {}", a.body);
        check_refused(&a, 400);
    }

    // Other routes: health, metrics with the outcomes, 404, 405.
    let r = client.get(format!("{}/healthz", w.url)).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let metrics = client
        .get(format!("{}/metrics", w.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for status in [200, 400, 403, 404, 409, 413, 422] {
        assert!(
            metrics.contains(&format!(
                "route=\"POST /add-checkpoint\",status=\"{status}\""
            )),
            "{status}: {metrics}"
        );
    }
    assert_eq!(client.get(&url).send().unwrap().status().as_u16(), 405);
    let r = client.get(format!("{}/nothing", w.url)).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // A restart (SIGTERM) keeps the state.
    w.stop();
    let w = WitnessServer::start_in(&data, &list, &[]);
    let url = format!("{}/add-checkpoint", w.url);
    check_conflict(&post(&client, &url, log.request(0, 12)), 8);
    check_cosigned(
        &post(&client, &url, log.request(8, 12)),
        &log.checkpoint(12),
        &witness,
    );
    // So does SIGKILL right after a 200: the state was on disk before it.
    drop(w);
    let w = WitnessServer::start_in(&data, &list, &[]);
    let url = format!("{}/add-checkpoint", w.url);
    check_conflict(&post(&client, &url, log.request(0, 12)), 12);
}

#[test]
fn a_submission_prefix_moves_add_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let log = TestLog::new(ORIGIN, 1, 3);
    let (data, list, _) = witness_dir(tmp.path(), &[&log.key]);
    let w = WitnessServer::start_in(&data, &list, &["--prefix", "/w1"]);
    let witness = CosignerVerifier::from_text(&w.verifier_key).unwrap();
    let client = Client::new();
    let a = post(
        &client,
        &format!("{}/add-checkpoint", w.url),
        log.request(0, 3),
    );
    check_refused(&a, 404);
    let a = post(
        &client,
        &format!("{}/w1/add-checkpoint", w.url),
        log.request(0, 3),
    );
    check_cosigned(&a, &log.checkpoint(3), &witness);
}

/// One 200 seen by a racing client: what it asked and when.
#[derive(Clone, Copy, Debug)]
struct Cosigning {
    old: u64,
    size: u64,
    sent: Instant,
    answered: Instant,
}

#[test]
fn racing_requests_never_roll_the_state_back() {
    const CLIENTS: u64 = 20;
    let tmp = tempfile::tempdir().unwrap();
    let log = Arc::new(TestLog::new(ORIGIN, 1, 64));
    let (data, list, _) = witness_dir(tmp.path(), &[&log.key]);
    let w = WitnessServer::start_in(&data, &list, &[]);
    let witness = Arc::new(CosignerVerifier::from_text(&w.verifier_key).unwrap());
    let url = format!("{}/add-checkpoint", w.url);
    check_cosigned(
        &post(&Client::new(), &url, log.request(0, 1)),
        &log.checkpoint(1),
        &witness,
    );

    // Client i wants size 2 + 3i (interleaved so that they race from the
    // start): it starts from old size 1 and, on a 409, retries from the
    // size the witness answered, until it is cosigned or the witness is
    // past its size.
    let barrier = Arc::new(Barrier::new(usize::try_from(CLIENTS).unwrap()));
    let conflicts = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (log, witness, url, barrier, conflicts) = (
                log.clone(),
                witness.clone(),
                url.clone(),
                barrier.clone(),
                conflicts.clone(),
            );
            std::thread::spawn(move || {
                let size = 2 + 3 * ((i * 7) % CLIENTS);
                let client = Client::new();
                let mut old = 1;
                barrier.wait();
                for _ in 0..200 {
                    let sent = Instant::now();
                    let a = post(&client, &url, log.request(old, size));
                    let answered = Instant::now();
                    match a.status {
                        200 => {
                            check_cosigned(&a, &log.checkpoint(size), &witness);
                            return Some(Cosigning {
                                old,
                                size,
                                sent,
                                answered,
                            });
                        }
                        409 => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                            assert_eq!(a.content_type, "text/x.tlog.size");
                            old = a.body.trim_end().parse().unwrap();
                            if old >= size {
                                return None;
                            }
                        }
                        s => panic!("client {i} (size {size}, old {old}): {s} {}", a.body),
                    }
                }
                panic!("client {i} did not finish")
            })
        })
        .collect();
    let mut won: Vec<Cosigning> = threads
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    won.sort_by_key(|c| c.size);
    assert!(!won.is_empty());
    // They raced: all started from old size 1, and at most one can move
    // the witness on from it.
    assert!(conflicts.load(Ordering::Relaxed) >= CLIENTS - 1);

    // Each 200 moved the witness on from exactly the size the previous one
    // stored: one chain 1 -> s1 -> s2 -> ..., sizes strictly increasing.
    // Two requests both accepted from one old size (the check and the
    // write not atomic) would break it.
    let mut prev = 1;
    for c in &won {
        assert_eq!(c.old, prev, "cosignings: {won:?}");
        assert!(c.size > prev);
        prev = c.size;
    }
    // A cosigning answered before another was sent is for a smaller size:
    // no 200 is ever for a size below one already persisted.
    for a in &won {
        for b in &won {
            if b.answered < a.sent {
                assert!(a.size >= b.size, "{a:?} after {b:?}");
            }
        }
    }
    // The stored size is the largest cosigned.
    let max = won.last().unwrap().size;
    check_conflict(&post(&Client::new(), &url, log.request(0, max)), max);
    // Every client that did not win learned of a size at least its own,
    // so the largest size asked for was cosigned.
    assert_eq!(max, 2 + 3 * (CLIENTS - 1));
}

/// Writes a private key file as `witness key generate` does (mode 0600).
fn write_key(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    writeln!(f, "{text}").unwrap();
}

fn witness_serve_fails(data: &Path, list: &Path) -> String {
    let out = Command::new(bin("stateanchor-log"))
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--logs")
        .arg(list)
        .output()
        .unwrap();
    assert!(!out.status.success(), "witness serve started");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn the_witness_key_is_never_a_log_key() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = [5; 32];
    let data = tmp.path().join("witness");
    std::fs::create_dir_all(&data).unwrap();
    write_key(
        &data.join("witness-key"),
        &CosignerKey::from_seed(WITNESS, &seed).unwrap().to_text(),
    );

    // A listed log with the witness's public key (whatever its name).
    let same = SignerKey::from_seed(ORIGIN, &seed).unwrap();
    let list = tmp.path().join("logs.txt");
    std::fs::write(
        &list,
        format!("log {}\nquorum none\n", same.verifier_key().to_text()),
    )
    .unwrap();
    let err = witness_serve_fails(&data, &list);
    assert!(err.contains("witness key is the key of the log"), "{err}");

    // The log key of the data directory it shares with a log.
    let log = SignerKey::from_seed(ORIGIN, &[6; 32]).unwrap();
    std::fs::write(
        &list,
        format!("log {}\nquorum none\n", log.verifier_key().to_text()),
    )
    .unwrap();
    write_key(&data.join("log-signing-key"), &same.to_text());
    let err = witness_serve_fails(&data, &list);
    assert!(err.contains("witness key is the key of the log"), "{err}");

    // No logs, a bad line, no key: refused with the reason.
    std::fs::remove_file(data.join("log-signing-key")).unwrap();
    std::fs::write(&list, "quorum none\n").unwrap();
    assert!(witness_serve_fails(&data, &list).contains("follows no log"));
    std::fs::write(&list, "# no quorum line\n").unwrap();
    assert!(witness_serve_fails(&data, &list).contains("quorum"));
    std::fs::write(&list, "log nonsense\nquorum none\n").unwrap();
    assert!(witness_serve_fails(&data, &list).contains("line 1"));
    let empty = tmp.path().join("empty");
    std::fs::write(
        &list,
        format!("log {}\nquorum none\n", log.verifier_key().to_text()),
    )
    .unwrap();
    assert!(witness_serve_fails(&empty, &list).contains("witness key generate"));

    // `key generate` never replaces a key.
    let out = Command::new(bin("stateanchor-log"))
        .args([
            "witness",
            "key",
            "generate",
            "--name",
            WITNESS,
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
}
