//! `stateanchor-verify` with witness policies (`--policy`), `inclusion
//! --save` and `proof`, run as a binary on a tlog-tiles directory written
//! by `write-test-log`, whose checkpoints get cosignatures here.
//!
//! Exit codes: 0 verified, 1 verification failed, 2 usage or I/O error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use tlog::{CosignerKey, Note, ProofFile, SignerKey};

const ORIGIN: &str = "example.com/stateanchor-test";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stateanchor-verify")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The fixed test key of `write-test-log`.
fn log_key() -> SignerKey {
    SignerKey::from_seed(ORIGIN, &[0x5a; 32]).unwrap()
}

fn witness(i: u8) -> CosignerKey {
    CosignerKey::from_seed(&format!("w{i}.example.net/witness"), &[i; 32]).unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    Run {
        code: status.code().unwrap(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

#[track_caller]
fn expect(r: &Run, code: i32, needles: &[&str]) {
    let all = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, code, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    for n in needles {
        assert!(all.contains(n), "missing {n:?} in:\n{all}");
    }
}

/// A test directory: a 300-entry log with checkpoints at 100 and 300,
/// both cosigned by witnesses 1 and 2 ten seconds ago, and policies.
struct Env {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        expect(
            &run(
                &dir,
                &[
                    "write-test-log",
                    "--out",
                    "log",
                    "--entries",
                    "300",
                    "--checkpoint-at",
                    "100",
                ],
            ),
            0,
            &[],
        );
        let env = Env { _tmp: tmp, dir };
        // Keep the log's own, uncosigned checkpoints beside the log.
        for name in ["checkpoint", "checkpoint.100"] {
            std::fs::copy(
                env.dir.join("log").join(name),
                env.dir.join(format!("{name}.plain")),
            )
            .unwrap();
        }
        for name in ["checkpoint", "checkpoint.100"] {
            env.cosign(&format!("log/{name}"), &[(1, now() - 10), (2, now() - 10)]);
        }
        env.write("policy", &policy(&log_key().verifier_key().to_text()));
        env.write(
            "none.policy",
            &format!("log {}\nquorum none\n", log_key().verifier_key().to_text()),
        );
        std::fs::write(env.dir.join("entry7"), "entry 7").unwrap();
        std::fs::write(env.dir.join("entry8"), "entry 8").unwrap();
        env
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }

    /// Replaces the checkpoint file `rel` with the log's signed note plus
    /// cosignatures of witnesses `(i, timestamp)`.
    fn cosign(&self, rel: &str, cosigs: &[(u8, u64)]) {
        let plain = rel
            .strip_prefix("log/")
            .map_or(rel.to_owned(), |n| format!("{n}.plain"));
        let bytes = std::fs::read(self.path(&plain)).unwrap();
        let mut note = Note::from_bytes(&bytes).unwrap();
        let body = note.text().to_owned();
        for (i, ts) in cosigs {
            note.push_signature(witness(*i).cosign(&body, *ts));
        }
        std::fs::write(self.path(rel), note.to_bytes()).unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        run(&self.dir, args)
    }
}

/// Witnesses A, B, C (keys 1, 2, 3); two of them must cosign.
fn policy(log_vkey: &str) -> String {
    format!(
        "# test policy\nlog {log_vkey}\nwitness A {}\nwitness B {}\nwitness C {}\ngroup G 2 A B C\nquorum G\n",
        witness(1).verifier().to_text(),
        witness(2).verifier().to_text(),
        witness(3).verifier().to_text()
    )
}

#[test]
fn checkpoint_with_policy_names_the_cosigners() {
    let env = Env::new();
    let r = env.run(&["checkpoint", "--policy", "policy", "log/checkpoint"]);
    expect(
        &r,
        0,
        &[
            "cosigned by a quorum of the policy's witnesses",
            "witnesses: quorum met under policy policy",
            "quorum:    G = 2 of (A, B, C)",
            "A (w1.example.net/witness) at ",
            "B (w2.example.net/witness) at ",
        ],
    );
    // --key alone: today's behaviour, and it says no witness was required.
    let key = log_key().verifier_key().to_text();
    let r = env.run(&["checkpoint", "--key", &key, "log/checkpoint"]);
    expect(
        &r,
        0,
        &[
            "witnesses: none required (no --policy given",
            "other signature (not verified: not a key you trust): w1.example.net/witness+",
        ],
    );
    // --key with --policy: the key is one of the policy's logs.
    let r = env.run(&[
        "checkpoint",
        "--key",
        &key,
        "--policy",
        "policy",
        "log/checkpoint",
    ]);
    expect(&r, 0, &["quorum met"]);
    // JSON names who cosigned and when.
    let r = env.run(&[
        "--json",
        "checkpoint",
        "--policy",
        "policy",
        "log/checkpoint",
    ]);
    expect(&r, 0, &[]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let cosigners = v["witnesses"]["cosigners"].as_array().unwrap();
    assert_eq!(cosigners.len(), 2);
    assert_eq!(cosigners[0]["name"], "A");
    let ts = cosigners[0]["timestamp"].as_u64().unwrap();
    assert!(ts <= now() && ts + 60 >= now(), "{ts}");
    assert_eq!(v["witnesses"]["quorum"], "G = 2 of (A, B, C)");
}

#[test]
fn witness_failures() {
    let env = Env::new();
    let cp = "log/checkpoint";
    let check = |env: &Env| env.run(&["checkpoint", "--policy", "policy", cp]);

    // One cosignature: the quorum needs two.
    env.cosign(cp, &[(1, now() - 10)]);
    expect(
        &check(&env),
        1,
        &[
            "verification failed",
            "does not meet the witness policy policy",
            "witness quorum not met: cosigned by A; the quorum needs G = 2 of (A, B, C)",
            "evidence written to",
        ],
    );
    // None at all.
    env.cosign(cp, &[]);
    expect(&check(&env), 1, &["cosigned by no witness of the policy"]);
    // A witness the policy does not know is ignored, and does not count.
    env.cosign(cp, &[(1, now()), (9, now())]);
    expect(&check(&env), 1, &["cosigned by A;"]);
    env.cosign(cp, &[(1, now()), (9, now()), (3, now())]);
    expect(&check(&env), 0, &["A (w1", "C (w3"]);
    // A witness that cosigned twice counts once.
    env.cosign(cp, &[(1, now() - 20), (1, now() - 10)]);
    expect(&check(&env), 1, &["cosigned by A;"]);
    // A cosignature dated in the future (beyond the minute allowed).
    env.cosign(cp, &[(1, now()), (2, now() + 3600)]);
    expect(
        &check(&env),
        1,
        &[
            "cosignature from B is timestamped",
            "more than 60 s after the current time",
            "clock",
        ],
    );
    // A policy witness's cosignature that does not verify: refused, even
    // though the quorum is met without it.
    env.cosign(cp, &[(1, now()), (2, now())]);
    let mut note = Note::from_bytes(&std::fs::read(env.path(cp)).unwrap()).unwrap();
    let mut bad = witness(3).cosign(note.text(), now());
    bad.signature[30] ^= 1;
    note.push_signature(bad);
    std::fs::write(env.path(cp), note.to_bytes()).unwrap();
    expect(
        &check(&env),
        1,
        &[
            "invalid cosignature from w3.example.net/witness+",
            "signature does not verify",
        ],
    );
    // The evidence file holds the policy.
    let evidence: Vec<_> = std::fs::read_dir(&env.dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("stateanchor-evidence-")
                .then_some(p)
        })
        .collect();
    assert!(!evidence.is_empty());
    let text = std::fs::read_to_string(&evidence[0]).unwrap();
    assert!(text.contains("\"witness policy\""), "{text}");
    assert!(text.contains("\"check\": \"witness\""), "{text}");
}

#[test]
fn policy_usage_errors() {
    let env = Env::new();
    let cp = "log/checkpoint";
    // Neither a key nor a policy.
    expect(
        &env.run(&["checkpoint", cp]),
        2,
        &["--key or --key-file, or a witness policy with --policy"],
    );
    // A key that is not one of the policy's logs.
    let other = SignerKey::from_seed(ORIGIN, &[1; 32])
        .unwrap()
        .verifier_key()
        .to_text();
    expect(
        &env.run(&["checkpoint", "--key", &other, "--policy", "policy", cp]),
        2,
        &[
            "is not one of the logs of --policy policy",
            "the policy's logs are: example.com/stateanchor-test+",
        ],
    );
    // A malformed policy: the line and the reason.
    env.write("bad.policy", "quorum none\nwitness A notakey\n");
    expect(
        &env.run(&["checkpoint", "--policy", "bad.policy", cp]),
        2,
        &[
            "--policy bad.policy is not a valid witness policy",
            "policy line 2: invalid vkey",
        ],
    );
    // A witness with a log (Ed25519, 0x01) key.
    env.write(
        "type.policy",
        &format!(
            "witness A {}\nquorum A\n",
            log_key().verifier_key().to_text()
        ),
    );
    expect(
        &env.run(&["checkpoint", "--policy", "type.policy", cp]),
        2,
        &["a witness key must have signature type 0x04 (cosignature/v1), this one has 0x01"],
    );
    // No quorum line.
    env.write(
        "noquorum.policy",
        &format!("log {}\n", log_key().verifier_key().to_text()),
    );
    expect(
        &env.run(&["checkpoint", "--policy", "noquorum.policy", cp]),
        2,
        &["no quorum line"],
    );
    expect(
        &env.run(&["checkpoint", "--policy", "missing.policy", cp]),
        2,
        &["missing.policy"],
    );
    // A policy with two logs: `checkpoint` takes either; a log-bound
    // command needs --key to say which.
    let second = SignerKey::from_seed("example.com/other", &[2; 32]).unwrap();
    env.write(
        "two.policy",
        &format!(
            "log {}\n{}",
            second.verifier_key().to_text(),
            policy(&log_key().verifier_key().to_text())
        ),
    );
    expect(
        &env.run(&["checkpoint", "--policy", "two.policy", cp]),
        0,
        &["quorum met"],
    );
    expect(
        &env.run(&[
            "inclusion",
            "--policy",
            "two.policy",
            "--log",
            "log",
            "--index",
            "1",
        ]),
        2,
        &["lists 2 logs", "--key"],
    );
    let key = log_key().verifier_key().to_text();
    expect(
        &env.run(&[
            "inclusion",
            "--policy",
            "two.policy",
            "--key",
            &key,
            "--log",
            "log",
            "--index",
            "1",
        ]),
        0,
        &["quorum met"],
    );
    // A policy without log lines takes the log from --key.
    env.write(
        "nolog.policy",
        &format!("witness A {}\nquorum A\n", witness(1).verifier().to_text()),
    );
    expect(
        &env.run(&["checkpoint", "--policy", "nolog.policy", cp]),
        2,
        &["lists no log"],
    );
    expect(
        &env.run(&["checkpoint", "--policy", "nolog.policy", "--key", &key, cp]),
        0,
        &["quorum met", "A (w1"],
    );
    let other_signed = SignerKey::from_seed(ORIGIN, &[1; 32])
        .unwrap()
        .verifier_key()
        .to_text();
    expect(
        &env.run(&[
            "checkpoint",
            "--policy",
            "nolog.policy",
            "--key",
            &other_signed,
            cp,
        ]),
        1,
        &["does not verify with key"],
    );
}

#[test]
fn inclusion_save_and_offline_proof() {
    let env = Env::new();
    let r = env.run(&[
        "inclusion",
        "--policy",
        "policy",
        "--log",
        "log",
        "--entry-file",
        "entry7",
        "--save",
        "e7.tlog-proof",
    ]);
    expect(
        &r,
        0,
        &[
            "verified: leaf 7 is included",
            "saved:      e7.tlog-proof",
            "quorum met",
            "A (w1",
        ],
    );
    // The file is a tlog-proof with the checkpoint as served, cosignatures included.
    let bytes = std::fs::read(env.path("e7.tlog-proof")).unwrap();
    assert!(bytes.starts_with(b"c2sp.org/tlog-proof@v1\nindex 7\n"));
    let file = ProofFile::parse(&bytes).unwrap();
    assert_eq!(
        file.checkpoint,
        std::fs::read(env.path("log/checkpoint")).unwrap()
    );
    file.verify(
        b"entry 7",
        &tlog::Policy::parse(&std::fs::read_to_string(env.path("policy")).unwrap()).unwrap(),
        now(),
    )
    .unwrap();

    // Offline: the proof command, with the policy, with the key alone.
    let proof = |extra: &[&str]| {
        let mut args = vec!["proof", "e7.tlog-proof"];
        args.extend_from_slice(extra);
        env.run(&args)
    };
    expect(
        &proof(&["--entry", "entry7", "--policy", "policy"]),
        0,
        &[
            "verified: the entry is included at index 7 of the log example.com/stateanchor-test",
            "quorum met",
            "B (w2",
        ],
    );
    let key = log_key().verifier_key().to_text();
    expect(
        &proof(&["--entry", "entry7", "--key", &key]),
        0,
        &["witnesses: none required"],
    );
    expect(
        &proof(&["--entry", "entry7", "--policy", "none.policy"]),
        0,
        &["`quorum none`"],
    );
    // Another entry: exit 1, why.
    expect(
        &proof(&["--entry", "entry8", "--policy", "policy"]),
        1,
        &[
            "is not proven at index 7",
            "computed root hash does not match",
        ],
    );
    // Not witnessed enough for a stricter policy.
    env.write(
        "strict.policy",
        &policy(&key).replace("group G 2 A B C", "group G all A B C"),
    );
    expect(
        &proof(&["--entry", "entry7", "--policy", "strict.policy"]),
        1,
        &["witness quorum not met: cosigned by A, B; the quorum needs G = all of (A, B, C)"],
    );
    // A tampered file: a proof hash, the index, the checkpoint.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let tampered = [
        text.replacen("index 7", "index 8", 1),
        text.replacen("index 7\n", "index 07\n", 1),
        text.replacen("\n\nexample.com", "\nexample.com", 1),
        text.replacen("\n300\n", "\n301\n", 1),
        {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines[2] = tlog::Hash([0; 32]).to_base64();
            lines.join("\n") + "\n"
        },
        text.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
    ];
    for (i, t) in tampered.iter().enumerate() {
        env.write("t.tlog-proof", t);
        let r = env.run(&[
            "proof",
            "t.tlog-proof",
            "--entry",
            "entry7",
            "--policy",
            "policy",
        ]);
        expect(&r, 1, &["verification failed"]);
        assert!(!r.stdout.contains("verified:"), "probe {i}");
    }
    // Usage: neither key nor policy; a missing file.
    expect(&proof(&["--entry", "entry7"]), 2, &["--policy"]);
    expect(
        &env.run(&[
            "proof",
            "missing.tlog-proof",
            "--entry",
            "entry7",
            "--policy",
            "policy",
        ]),
        2,
        &["missing.tlog-proof"],
    );
}

#[test]
fn consistency_audit_monitor_with_policy() {
    let env = Env::new();
    let key = log_key().verifier_key().to_text();
    // Both checkpoints cosigned: consistent.
    expect(
        &env.run(&[
            "consistency",
            "--policy",
            "policy",
            "--log",
            "log",
            "--old",
            "log/checkpoint.100",
        ]),
        0,
        &["extends the one of size 100", "quorum met"],
    );
    // The old checkpoint without cosignatures does not count under the policy.
    expect(
        &env.run(&[
            "consistency",
            "--policy",
            "policy",
            "--log",
            "log",
            "--old",
            "checkpoint.100.plain",
        ]),
        1,
        &["the old checkpoint", "witness quorum not met"],
    );
    // With the key alone it does.
    expect(
        &env.run(&[
            "consistency",
            "--key",
            &key,
            "--log",
            "log",
            "--old",
            "checkpoint.100.plain",
        ]),
        0,
        &["witnesses: none required"],
    );
    expect(
        &env.run(&[
            "audit",
            "--policy",
            "policy",
            "--log",
            "log",
            "--no-progress",
        ]),
        0,
        &["quorum met"],
    );
    // The monitor: first use, then a step; saved state is re-read with the key.
    for want in [
        "recorded: first checkpoint",
        "verified: the log's checkpoint of size 300",
    ] {
        expect(
            &env.run(&[
                "monitor", "--policy", "policy", "--log", "log", "--state", "m.state", "--once",
            ]),
            0,
            &[want, "quorum met"],
        );
    }
    // The log's current checkpoint loses a cosignature: the monitor fails.
    env.cosign("log/checkpoint", &[(2, now())]);
    expect(
        &env.run(&[
            "monitor", "--policy", "policy", "--log", "log", "--state", "m.state", "--once",
        ]),
        1,
        &["witness quorum not met: cosigned by B"],
    );
    expect(
        &env.run(&[
            "audit",
            "--policy",
            "policy",
            "--log",
            "log",
            "--no-progress",
        ]),
        1,
        &["witness quorum not met"],
    );
}

#[test]
fn published_with_policy() {
    let env = Env::new();
    let repo = env.path("repo");
    std::fs::create_dir_all(repo.join("checkpoints")).unwrap();
    std::fs::copy(env.path("log/checkpoint.100"), repo.join("checkpoints/100")).unwrap();
    std::fs::copy(env.path("log/checkpoint"), repo.join("checkpoint")).unwrap();
    let repo_arg = format!("dir:{}", repo.display());
    expect(
        &env.run(&[
            "published",
            "--policy",
            "policy",
            "--log",
            "log",
            "--repo",
            &repo_arg,
        ]),
        0,
        &[
            "2 published checkpoints are signed by the key and consistent",
            "quorum met",
        ],
    );
    // A published checkpoint without its cosignatures does not count.
    std::fs::copy(
        env.path("checkpoint.100.plain"),
        repo.join("checkpoints/100"),
    )
    .unwrap();
    expect(
        &env.run(&[
            "published",
            "--policy",
            "policy",
            "--log",
            "log",
            "--repo",
            &repo_arg,
        ]),
        1,
        &["published checkpoints/100", "witness quorum not met"],
    );
}
