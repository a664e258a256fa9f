//! Publication under a witness policy, through the library, to a `dir:`
//! target: only checkpoints cosigned by a quorum are published, with their
//! cosignature lines; one without quorum is not published and is not a
//! refusal; `log.json` and `README.md` name the policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use publisher::{BoxError, CheckpointSource, Error, Outcome, PublishConfig, Target, WitnessPolicy};
use tlog::{Checkpoint, CosignerKey, Hash, MemoryHashStore, Note, SignerKey, leaf_hash};

const ORIGIN: &str = "witnessed.test/log";

/// A log whose checkpoints carry the cosignatures of the witnesses chosen.
struct Log {
    key: SignerKey,
    witnesses: Vec<CosignerKey>,
    tree: Mutex<MemoryHashStore>,
    /// Indexes into `witnesses` of those that cosign.
    cosigners: Mutex<Vec<usize>>,
    /// Added to the current time in cosignatures' timestamps.
    clock_offset: Mutex<u64>,
    /// Append a line of witness C that does not verify (signed over
    /// another body).
    forged: Mutex<bool>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Log {
    fn new(entries: usize) -> Self {
        let log = Log {
            key: SignerKey::from_seed(ORIGIN, &[7; 32]).unwrap(),
            witnesses: (1..=3)
                .map(|i| CosignerKey::from_seed(&format!("w{i}.test"), &[i; 32]).unwrap())
                .collect(),
            tree: Mutex::new(MemoryHashStore::new()),
            cosigners: Mutex::new(Vec::new()),
            clock_offset: Mutex::new(0),
            forged: Mutex::new(false),
        };
        log.append(entries);
        log
    }

    fn append(&self, n: usize) {
        let mut tree = self.tree.lock().unwrap();
        for _ in 0..n {
            let i = tree.size();
            tree.append(leaf_hash(format!("entry {i}").as_bytes()));
        }
    }

    /// Replaces the tree: a fork.
    fn fork(&self, n: usize) {
        let mut tree = MemoryHashStore::new();
        for i in 0..n {
            tree.append(leaf_hash(format!("other {i}").as_bytes()));
        }
        *self.tree.lock().unwrap() = tree;
    }

    fn cosigned_by(&self, witnesses: &[usize]) {
        *self.cosigners.lock().unwrap() = witnesses.to_vec();
    }

    /// The policy: the log; witnesses A, B, C; two of them.
    fn policy_text(&self) -> String {
        let mut text = format!(
            "log {} https://log.test\n",
            self.key.verifier_key().to_text()
        );
        for (name, w) in ["A", "B", "C"].iter().zip(&self.witnesses) {
            text += &format!("witness {name} {}\n", w.verifier().to_text());
        }
        text + "group two 2 A B C\nquorum two\n"
    }

    fn note(&self) -> Vec<u8> {
        let tree = self.tree.lock().unwrap();
        let mut note: Note = Checkpoint::new(ORIGIN, tree.size(), tree.root())
            .sign(&self.key)
            .unwrap();
        let ts = now() + *self.clock_offset.lock().unwrap();
        for &i in self.cosigners.lock().unwrap().iter() {
            let sig = self.witnesses[i].cosign(note.text(), ts);
            note.push_signature(sig);
        }
        if *self.forged.lock().unwrap() {
            note.push_signature(self.witnesses[2].cosign("another\nbody\n", ts));
        }
        note.to_bytes()
    }
}

impl CheckpointSource for Log {
    async fn latest_checkpoint(&self) -> Result<Vec<u8>, BoxError> {
        Ok(self.note())
    }
    async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, BoxError> {
        let tree = self.tree.lock().unwrap();
        Ok(tlog::prove_consistency(first, second, &*tree)?)
    }
}

struct World {
    log: Log,
    tmp: tempfile::TempDir,
    cfg: PublishConfig,
    rt: tokio::runtime::Runtime,
}

impl World {
    fn new(entries: usize, with_policy: bool) -> Self {
        let log = Log::new(entries);
        let tmp = tempfile::tempdir().unwrap();
        let target: Target = format!("dir:{}", tmp.path().join("roots").display())
            .parse()
            .unwrap();
        let mut cfg = PublishConfig::new(target, log.key.verifier_key());
        cfg.log_url = Some("https://log.test".to_owned());
        cfg.evidence_dir = tmp.path().join("evidence");
        if with_policy {
            cfg.witness_policy = Some(WitnessPolicy::parse(&log.policy_text()).unwrap());
        }
        World {
            log,
            tmp,
            cfg,
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn publish(&self) -> Result<Outcome, Error> {
        self.rt
            .block_on(publisher::publish_once(&self.cfg, &self.log))
    }

    fn repo(&self) -> std::path::PathBuf {
        self.tmp.path().join("roots")
    }

    fn file(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.repo().join(path)).ok()
    }

    fn text(&self, path: &str) -> String {
        String::from_utf8(self.file(path).unwrap()).unwrap()
    }

    fn head(&self) -> Option<String> {
        git(&self.repo(), &["rev-parse", "-q", "--verify", "HEAD"])
    }

    fn evidence_files(&self) -> usize {
        std::fs::read_dir(self.tmp.path().join("evidence")).map_or(0, Iterator::count)
    }
}

fn git(repo: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Pins the error: not witnessed, with the policy's reason, not fatal, not a
/// refusal.
fn assert_not_witnessed(r: Result<Outcome, Error>, size: u64, reason: &str) {
    let e = r.unwrap_err();
    assert!(
        matches!(&e, Error::NotWitnessed { tree_size, .. } if *tree_size == size),
        "{e:?}"
    );
    assert!(e.to_string().contains(reason), "{e}");
    assert!(!e.is_fatal(), "witnesses may cosign later: retried in run");
    assert!(e.refusal().is_none());
}

#[test]
fn only_checkpoints_that_meet_the_quorum_are_published() {
    let w = World::new(3, true);

    // No cosignature: not published, nothing written, no evidence.
    assert_not_witnessed(w.publish(), 3, "witness quorum not met");
    assert_eq!(w.head(), None, "no commit");
    assert_eq!(w.evidence_files(), 0);

    // One of the two needed.
    w.log.cosigned_by(&[1]);
    assert_not_witnessed(
        w.publish(),
        3,
        "cosigned by B; the quorum needs two = 2 of (A, B, C)",
    );
    assert_eq!(w.head(), None);

    // Two: published, byte for byte with both cosignature lines.
    w.log.cosigned_by(&[0, 2]);
    let served = w.log.note();
    let out = w.publish().unwrap();
    assert!(
        matches!(
            out,
            Outcome::Published {
                tree_size: 3,
                previous: None,
                ..
            }
        ),
        "{out:?}"
    );
    let published = w.file("checkpoint").unwrap();
    assert_eq!(published, w.file("checkpoints/3").unwrap());
    let text = String::from_utf8(published).unwrap();
    assert_eq!(
        text.matches("\n\u{2014} ").count(),
        3,
        "log + 2 witnesses:\n{text}"
    );
    assert!(text.contains("\u{2014} w1.test ") && text.contains("\u{2014} w3.test "));
    // Same tree, same root as served (the timestamps may differ by a second).
    assert_eq!(
        text.split("\n\n").next(),
        String::from_utf8(served).unwrap().split("\n\n").next()
    );

    // log.json and README.md name the policy; one commit for everything.
    let info: serde_json::Value = serde_json::from_slice(&w.file("log.json").unwrap()).unwrap();
    assert_eq!(info["witness_policy"], w.log.policy_text());
    let readme = w.text("README.md");
    assert!(
        readme.contains(&format!("```\n{}```\n", w.log.policy_text())),
        "{readme}"
    );
    assert!(
        readme.contains("Quorum: two = 2 of (A, B, C).\n"),
        "{readme}"
    );
    assert!(readme.contains("--policy policy.txt"), "{readme}");
    assert_eq!(
        git(&w.repo(), &["show", "--name-only", "--format=", "HEAD"]).unwrap(),
        "README.md\ncheckpoint\ncheckpoints/3\nlog.json"
    );

    // Growth without quorum is not published; with quorum it is, and the
    // description is not rewritten.
    let head = w.head();
    w.log.append(2);
    w.log.cosigned_by(&[2]);
    assert_not_witnessed(w.publish(), 5, "cosigned by C;");
    assert_eq!(w.head(), head);
    w.log.cosigned_by(&[0, 1, 2]);
    let out = w.publish().unwrap();
    assert!(
        matches!(
            out,
            Outcome::Published {
                tree_size: 5,
                previous: Some(3),
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(
        git(&w.repo(), &["show", "--name-only", "--format=", "HEAD"]).unwrap(),
        "checkpoint\ncheckpoints/5"
    );
    assert_eq!(w.evidence_files(), 0);
}

#[test]
fn a_bad_or_future_cosignature_is_not_witnessed_either() {
    let w = World::new(2, true);
    // Cosigned an hour ahead of the publisher's clock.
    w.log.cosigned_by(&[0, 1]);
    *w.log.clock_offset.lock().unwrap() = 3600;
    assert_not_witnessed(w.publish(), 2, "after the current time");
    // A cosignature line of a policy witness that does not verify fails
    // closed, even though A and B make the quorum.
    *w.log.clock_offset.lock().unwrap() = 0;
    *w.log.forged.lock().unwrap() = true;
    assert_not_witnessed(w.publish(), 2, "invalid cosignature from w3.test+");
    assert_eq!(w.evidence_files(), 0);
    assert_eq!(w.head(), None);
}

#[test]
fn a_fork_is_refused_with_evidence_whatever_the_witnesses() {
    let w = World::new(3, true);
    w.log.cosigned_by(&[0, 1]);
    w.publish().unwrap();
    let head = w.head();
    // Same size, another root, and no cosignature: the fork is what counts.
    w.log.fork(3);
    w.log.cosigned_by(&[]);
    let e = w.publish().unwrap_err();
    let refusal = e.refusal().expect("a refusal");
    assert_eq!(refusal.reason.code(), "fork");
    assert!(e.is_fatal());
    assert_eq!(w.evidence_files(), 1);
    assert_eq!(w.head(), head);
}

#[test]
fn the_policy_must_name_the_log() {
    let mut w = World::new(1, false);
    let other = SignerKey::from_seed("other.test/log", &[8; 32]).unwrap();
    let text = w.log.policy_text().replace(
        &w.log.key.verifier_key().to_text(),
        &other.verifier_key().to_text(),
    );
    w.cfg.witness_policy = Some(WitnessPolicy::parse(&text).unwrap());
    let e = w.publish().unwrap_err();
    assert!(matches!(e, Error::PolicyOmitsLog { .. }), "{e:?}");
    assert!(e.is_fatal());
    assert!(
        e.hint()
            .unwrap()
            .contains(&w.log.key.verifier_key().to_text())
    );
    assert!(!w.repo().exists(), "nothing created");

    let e = WitnessPolicy::parse("log nonsense\nquorum none\n").unwrap_err();
    assert!(matches!(e, Error::InvalidPolicy { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("invalid witness policy: policy line 1:"),
        "{e}"
    );
}

#[test]
fn without_a_policy_log_json_is_unchanged_and_the_readme_says_none() {
    let mut w = World::new(2, false);
    w.publish().unwrap();
    assert_eq!(
        w.text("log.json"),
        format!(
            "{{\n  \"origin\": \"{ORIGIN}\",\n  \"verifier_key\": \"{}\",\n  \"log_url\": \"https://log.test\"\n}}\n",
            w.log.key.verifier_key().to_text()
        )
    );
    let readme = w.text("README.md");
    assert!(readme.contains("- Witness policy: none\n"), "{readme}");
    assert!(!readme.contains("--policy"), "{readme}");
    assert_eq!(w.text("README.md"), w.cfg.readme());

    // A policy configured later is published with the next checkpoint, in
    // the same commit.
    w.cfg.witness_policy = Some(WitnessPolicy::parse(&w.log.policy_text()).unwrap());
    w.log.append(1);
    w.log.cosigned_by(&[0, 1]);
    w.publish().unwrap();
    assert_eq!(
        git(&w.repo(), &["show", "--name-only", "--format=", "HEAD"]).unwrap(),
        "README.md\ncheckpoint\ncheckpoints/3\nlog.json"
    );
    assert!(
        w.text("README.md")
            .contains("Quorum: two = 2 of (A, B, C).")
    );
    // The checkpoint published before the policy (no cosignature) is kept.
    assert!(!w.text("checkpoints/2").contains("w1.test"));
}

#[test]
fn a_readme_someone_else_wrote_is_left_alone() {
    let w = World::new(1, false);
    let repo = w.repo();
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]).unwrap();
    std::fs::write(repo.join("README.md"), "Our roots.\n").unwrap();
    git(&repo, &["add", "README.md"]).unwrap();
    git(
        &repo,
        &[
            "-c",
            "user.name=Op",
            "-c",
            "user.email=op@x.invalid",
            "commit",
            "-qm",
            "readme",
        ],
    )
    .unwrap();
    w.publish().unwrap();
    assert_eq!(w.text("README.md"), "Our roots.\n");
    assert_eq!(
        git(&repo, &["show", "--name-only", "--format=", "HEAD"]).unwrap(),
        "checkpoint\ncheckpoints/1\nlog.json"
    );
}
