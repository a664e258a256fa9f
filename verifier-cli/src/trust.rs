//! Trust: the user's verifier key and witness policy, checkpoints verified
//! with them, and the proof that a newer verified checkpoint extends an
//! older one. Nothing the log serves is trusted until it has been through
//! here (or through `tlog`'s verification functions against a checkpoint
//! from here).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, anyhow};
use serde_json::{Value, json};
use tlog::{Cosigner, Hash, Policy, SignedCheckpoint, VerifierKey};

use crate::cli::KeyArgs;
use crate::proofs::{self, Proof, ProofProblem, Source};
use crate::report::{Failure, hinted, unix_now};
use crate::sources::{Http, Log, MAX_CHECKPOINT, read_input};
use crate::term::escape;

/// Largest policy file accepted.
const MAX_POLICY: usize = 1 << 20;

/// Loads the user's verifier key from `--key` or `--key-file`, if given.
///
/// # Errors
/// Unreadable files and malformed keys, with a hint.
fn load_key(args: &KeyArgs) -> anyhow::Result<Option<VerifierKey>> {
    let (text, from) = match (&args.key, &args.key_file) {
        (Some(k), _) => (k.clone(), "--key".to_owned()),
        (None, Some(f)) => (
            std::fs::read_to_string(f)
                .with_context(|| format!("reading --key-file {}", f.display()))?,
            format!("--key-file {}", f.display()),
        ),
        (None, None) => return Ok(None),
    };
    let text = text.trim();
    if text.starts_with("PRIVATE+KEY+") {
        return Err(hinted(
            format!("{from} holds a private signing key, not a verifier key"),
            "give the log's public verifier key (<origin>+<key ID>+<base64>); keep the private key secret",
        ));
    }
    VerifierKey::from_text(text)
        .map(Some)
        .with_context(|| format!("{from} is not a valid verifier key"))
}

/// A witness policy (c2sp.org/tlog-policy) given with `--policy`.
pub struct PolicyFile {
    /// The parsed policy.
    pub policy: Policy,
    /// Its path, as given.
    pub source: String,
    /// Its bytes, for evidence.
    pub bytes: Vec<u8>,
}

/// What the user trusts: the log's verifier key (`--key`, or the only log
/// of the policy) and, with `--policy`, the witnesses that must cosign.
pub struct Trust {
    key: Option<VerifierKey>,
    /// The witness policy, if given.
    pub policy: Option<PolicyFile>,
}

/// Loads what the user trusts from `--key`/`--key-file` and `--policy`.
/// With both, the key must be one of the policy's logs (a policy that
/// lists no log takes the key as its log); with `--policy` alone, a
/// policy with one log names the key.
///
/// # Errors
/// Neither given; unreadable or malformed key or policy; a key that is
/// not one of the policy's logs; a policy without logs and no key. Each
/// with a hint.
pub fn load_trust(args: &KeyArgs, policy: Option<&Path>) -> anyhow::Result<Trust> {
    let key = load_key(args)?;
    let Some(path) = policy else {
        if key.is_none() {
            return Err(hinted(
                "a verifier key is required: give the log's verifier key with --key or --key-file, or a witness policy with --policy",
                "--key checks the log's signature only; --policy FILE (c2sp.org/tlog-policy) also requires the witnesses' cosignatures",
            ));
        }
        return Ok(Trust { key, policy: None });
    };
    let source = path.display().to_string();
    let bytes = crate::sources::read_file_limited(path, MAX_POLICY)?
        .ok_or_else(|| anyhow!("--policy {source}: no such file"))?;
    let parsed = Policy::from_bytes(&bytes).map_err(|e| {
        anyhow::Error::new(e).context(hinted(
            format!("--policy {source} is not a valid witness policy"),
            "a policy (c2sp.org/tlog-policy) has `log <vkey>`, `witness <name> <vkey>`, `group <name> <k|all|any> <names>` lines and one `quorum <name>|none` line",
        ))
    })?;
    let logs: Vec<String> = parsed.logs().iter().map(|l| l.key.to_text()).collect();
    let key = match key {
        Some(k) if logs.is_empty() || parsed.logs().iter().any(|l| l.key == k) => Some(k),
        Some(k) => {
            return Err(hinted(
                format!(
                    "the log key {}+{:08x} is not one of the logs of --policy {source}",
                    k.name(),
                    k.key_id()
                ),
                format!(
                    "the policy's logs are: {}; give one of them with --key, or none",
                    logs.join(", ")
                ),
            ));
        }
        None if parsed.logs().len() == 1 => Some(parsed.logs()[0].key.clone()),
        None if parsed.logs().is_empty() => {
            return Err(hinted(
                format!("--policy {source} lists no log"),
                "give the log's verifier key with --key",
            ));
        }
        None => None,
    };
    Ok(Trust {
        key,
        policy: Some(PolicyFile {
            policy: parsed,
            source,
            bytes,
        }),
    })
}

impl Trust {
    /// The log's verifier key, for commands about one log.
    ///
    /// # Errors
    /// When the policy lists several logs and no `--key` picked one.
    pub fn key(&self) -> anyhow::Result<&VerifierKey> {
        self.key.as_ref().ok_or_else(|| {
            let (source, n) = self
                .policy
                .as_ref()
                .map_or(("", 0), |p| (p.source.as_str(), p.policy.logs().len()));
            hinted(
                format!("--policy {source} lists {n} logs; this command checks one log"),
                "give that log's verifier key with --key (it must be one of the policy's logs)",
            )
        })
    }

    /// The same log key without the witness policy: for checkpoints this
    /// tool saved itself (state files), which were verified when saved.
    pub fn key_only(&self) -> anyhow::Result<Trust> {
        Ok(Trust {
            key: Some(self.key()?.clone()),
            policy: None,
        })
    }
}

/// How a verified checkpoint was witnessed.
#[derive(Clone)]
pub struct Witnessed {
    /// The policy's witnesses whose cosignatures verified.
    pub cosigners: Vec<Cosigner>,
    /// What the policy's quorum needs, in words.
    pub quorum: String,
    /// Whether the policy's quorum is `none`.
    pub quorum_none: bool,
    /// The policy file.
    pub policy: String,
}

/// A checkpoint verified with the user's key (and witness policy), with
/// its exact bytes.
#[derive(Clone)]
pub struct VerifiedCheckpoint {
    /// The opened checkpoint.
    pub signed: SignedCheckpoint,
    /// The bytes as read.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub source: String,
    /// The log key whose signature verified.
    pub log_key: VerifierKey,
    /// The quorum of cosignatures that verified under `--policy`; `None`
    /// when no policy was given (no witness was required).
    pub witnessed: Option<Witnessed>,
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a POSIX timestamp.
pub fn utc(ts: u64) -> String {
    i64::try_from(ts)
        .ok()
        .and_then(|t| t.checked_mul(1000))
        .map_or_else(
            || format!("{ts} (POSIX seconds)"),
            |ms| compliance::time::format_time(ms).replace(".000Z", "Z"),
        )
}

/// `X1 (w1.example) at 2026-...Z, ...`, or `none`.
fn describe_cosigners(cosigners: &[Cosigner]) -> String {
    if cosigners.is_empty() {
        return "none".into();
    }
    cosigners
        .iter()
        .map(|c| {
            format!(
                "{} ({}) at {}",
                escape(&c.name),
                escape(&c.key_name),
                utc(c.timestamp)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl VerifiedCheckpoint {
    /// Its tree size.
    pub fn tree_size(&self) -> u64 {
        self.signed.checkpoint.tree_size
    }

    /// Its root hash.
    pub fn root_hash(&self) -> Hash {
        self.signed.checkpoint.root_hash
    }

    /// JSON summary. `witnesses` is `null` when no policy was given.
    pub fn json(&self) -> Value {
        json!({
            "origin": self.signed.checkpoint.origin,
            "tree_size": self.tree_size(),
            "root_hash": self.root_hash().to_base64(),
            "source": self.source,
            "log_key": self.log_key.to_text(),
            "witnesses": self.witnessed.as_ref().map(|w| json!({
                "policy": w.policy,
                "quorum": w.quorum,
                "cosigners": w.cosigners.iter().map(|c| json!({
                    "name": c.name,
                    "key_name": c.key_name,
                    "timestamp": c.timestamp,
                    "time": utc(c.timestamp),
                })).collect::<Vec<_>>(),
            })),
        })
    }
}

/// Whether bytes look like a signed note at all (text, blank line, a
/// signature line), so that a broken one is a verification failure and
/// anything else (an HTML page, an empty file) a usage error.
fn looks_like_note(bytes: &[u8]) -> bool {
    bytes.windows(5).any(|w| w == "\n\n\u{2014}".as_bytes())
}

/// Verifies the cosignatures of a checkpoint opened with `key` under the
/// policy, at `now`: with the policy's logs, as [`Policy::verify_checkpoint`]
/// does; for a policy without logs, the witnesses and the quorum alone.
fn witness(
    policy: &Policy,
    signed: &SignedCheckpoint,
    bytes: &[u8],
    now: u64,
) -> Result<Vec<Cosigner>, tlog::Error> {
    if !policy.logs().is_empty() {
        return Ok(policy.verify_checkpoint(bytes, now)?.cosigners);
    }
    let cosigners = policy.cosigners(&signed.note, now)?;
    let names: Vec<&str> = cosigners.iter().map(|c| c.name.as_str()).collect();
    if !policy.satisfied_by(&names) {
        return Err(tlog::Error::QuorumNotMet {
            have: cosigners.into_iter().map(|c| c.name).collect(),
            quorum: policy.describe_quorum(),
        });
    }
    Ok(cosigners)
}

/// Opens a checkpoint with what the user trusts: the log's signature with
/// the user's key (or, with a policy of several logs and no `--key`, any
/// of the policy's logs), then, with `--policy`, the witnesses'
/// cosignatures and the quorum at the current time. A signed note that
/// does not verify (bad signature, other key, malformed body, wrong origin,
/// quorum not met, a bad or future cosignature) is a [`Failure`]; bytes
/// that are not a signed note at all are an error.
///
/// # Errors
/// As described.
pub fn open_verified(
    command: &'static str,
    role: &str,
    bytes: Vec<u8>,
    source: String,
    trust: &Trust,
    log: Option<&str>,
) -> anyhow::Result<VerifiedCheckpoint> {
    let now = unix_now();
    // Step 1: the log's signature.
    let opened = match (&trust.key, &trust.policy) {
        (Some(key), _) => tlog::open_checkpoint(&bytes, key).map(|s| (s, key.clone(), None)),
        (None, Some(p)) => p
            .policy
            .verify_checkpoint(&bytes, now)
            .map(|w| (w.checkpoint, w.log, Some(w.cosigners))),
        (None, None) => return Err(anyhow!("unreachable: no key and no policy")),
    };
    let (signed, log_key, cosigners) = match opened {
        Ok(o) => o,
        Err(e) if !looks_like_note(&bytes) => {
            return Err(anyhow::Error::new(e).context(hinted(
                format!("{source} is not a signed checkpoint"),
                "a checkpoint is a C2SP signed note: origin, tree size, root hash, a blank line, signature lines",
            )));
        }
        Err(e) if trust.key.is_none() && is_witness_error(&e) => {
            return Err(witness_failure(command, role, &bytes, &source, trust, log, &e).into());
        }
        Err(e) => {
            let by = match &trust.key {
                Some(key) => format!("with key {}+{:08x}", key.name(), key.key_id()),
                None => format!(
                    "with any log of the policy {}",
                    trust.policy.as_ref().map_or("", |p| p.source.as_str())
                ),
            };
            let mut f = Failure::new(
                command,
                "checkpoint",
                format!("the {role} checkpoint ({source}) does not verify {by}: {e}"),
            )
            .checkpoint(role, &source, &bytes);
            f.evidence.verifier_key = trust.key.as_ref().map(VerifierKey::to_text);
            f.evidence.log = log.map(str::to_owned);
            return Err(f.into());
        }
    };
    // Step 2: the witnesses, if a policy was given.
    let witnessed = match &trust.policy {
        None => None,
        Some(p) => {
            let cosigners = match cosigners {
                Some(c) => c,
                None => witness(&p.policy, &signed, &bytes, now).map_err(|e| {
                    anyhow::Error::from(witness_failure(
                        command, role, &bytes, &source, trust, log, &e,
                    ))
                })?,
            };
            Some(Witnessed {
                cosigners,
                quorum: p.policy.describe_quorum(),
                quorum_none: p.policy.quorum_is_none(),
                policy: p.source.clone(),
            })
        }
    };
    Ok(VerifiedCheckpoint {
        signed,
        bytes,
        source,
        log_key,
        witnessed,
    })
}

/// Whether a verification error is about the witnesses (not the log).
fn is_witness_error(e: &tlog::Error) -> bool {
    matches!(
        e,
        tlog::Error::QuorumNotMet { .. }
            | tlog::Error::CosignatureInFuture { .. }
            | tlog::Error::InvalidCosignature { .. }
    )
}

/// The failure of a checkpoint whose log signature verified but whose
/// witnesses do not meet the policy.
fn witness_failure(
    command: &'static str,
    role: &str,
    bytes: &[u8],
    source: &str,
    trust: &Trust,
    log: Option<&str>,
    e: &tlog::Error,
) -> Failure {
    let policy = trust.policy.as_ref();
    let hint = match e {
        tlog::Error::CosignatureInFuture { .. } => {
            " (is this computer's clock right? a witness's may be ahead)"
        }
        tlog::Error::InvalidCosignature { .. } => {
            " (a cosignature from a key of the policy that does not verify makes the checkpoint unusable)"
        }
        _ => "",
    };
    let mut f = Failure::new(
        command,
        "witness",
        format!(
            "the {role} checkpoint ({source}) does not meet the witness policy {}: {e}{hint}",
            policy.map_or("", |p| p.source.as_str())
        ),
    )
    .checkpoint(role, source, bytes);
    if let Some(p) = policy {
        f = f.data("witness policy", &p.source, &p.bytes);
    }
    if let tlog::Error::QuorumNotMet { have, quorum } = e {
        f = f.detail("cosigned_by", have).detail("quorum", quorum);
    }
    f.evidence.verifier_key = trust.key.as_ref().map(VerifierKey::to_text);
    f.evidence.log = log.map(str::to_owned);
    f
}

/// Plain lines describing a checkpoint.
pub fn describe_checkpoint(out: &mut String, label: &str, cp: &VerifiedCheckpoint) {
    let c = &cp.signed.checkpoint;
    let _ = writeln!(out, "{label}:");
    let _ = writeln!(out, "  origin:    {}", escape(&c.origin));
    let _ = writeln!(out, "  tree size: {}", c.tree_size);
    let _ = writeln!(out, "  root hash: {}", c.root_hash);
    let _ = writeln!(out, "  source:    {}", escape(&cp.source));
    describe_witnesses(out, "  ", cp);
}

/// Plain lines naming the log key that signed `cp` and how it was
/// witnessed, each starting with `indent`.
pub fn describe_witnesses(out: &mut String, indent: &str, cp: &VerifiedCheckpoint) {
    let _ = writeln!(
        out,
        "{indent}log key:   {}+{:08x}",
        escape(cp.log_key.name()),
        cp.log_key.key_id()
    );
    match &cp.witnessed {
        Some(w) if w.quorum_none => {
            let _ = writeln!(
                out,
                "{indent}witnesses: none required (policy {} has `quorum none`)",
                escape(&w.policy)
            );
            let _ = writeln!(
                out,
                "{indent}cosigned:  {}",
                describe_cosigners(&w.cosigners)
            );
        }
        Some(w) => {
            let _ = writeln!(
                out,
                "{indent}witnesses: quorum met under policy {}",
                escape(&w.policy)
            );
            let _ = writeln!(out, "{indent}quorum:    {}", escape(&w.quorum));
            let _ = writeln!(
                out,
                "{indent}cosigned:  {}",
                describe_cosigners(&w.cosigners)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{indent}witnesses: none required (no --policy given: only the log's signature was checked)"
            );
        }
    }
}

/// Turns a [`ProofProblem`] into a [`Failure`] with the given evidence base;
/// passes other errors through.
pub fn proof_failure(err: anyhow::Error, base: impl FnOnce(String) -> Failure) -> anyhow::Error {
    match err.downcast::<ProofProblem>() {
        Ok(p) => {
            let mut f = base(p.message);
            for (src, bytes) in p.raw {
                f = f.data("log response", src, &bytes);
            }
            f.into()
        }
        Err(e) => e,
    }
}

/// Proves that checkpoint `new` extends checkpoint `old`, both verified:
/// fetches the consistency proof if one is needed and lets
/// [`tlog::verify_extends`] decide. Returns the proof used (`None` when the
/// sizes are equal or `old` is empty).
///
/// # Errors
/// A [`Failure`] for a rollback, a fork, a refused or invalid proof; network
/// and I/O errors.
pub fn prove_extends(
    command: &'static str,
    log: &Log,
    log_text: &str,
    key: &VerifierKey,
    source: Source,
    old: &VerifiedCheckpoint,
    new: &VerifiedCheckpoint,
) -> anyhow::Result<Option<Proof>> {
    let base = |check: &'static str, msg: String| {
        Failure::new(command, check, msg)
            .log(log_text, key)
            .checkpoint("old", &old.source, &old.bytes)
            .checkpoint("new", &new.source, &new.bytes)
    };
    let (m, n) = (old.tree_size(), new.tree_size());
    let proof = if tlog::consistency_proof_needed(m, n) {
        let proof = proofs::consistency(log, source, m, n).map_err(|e| {
            proof_failure(e, |msg| {
                base(
                    "consistency",
                    format!("no consistency proof from {m} to {n}: {msg}"),
                )
            })
        })?;
        Some(proof)
    } else {
        None
    };
    let hashes = proof.as_ref().map_or(&[][..], |p| p.hashes.as_slice());
    let failure = match tlog::verify_extends(&old.signed, &new.signed, hashes) {
        Ok(()) => return Ok(proof),
        Err(tlog::Error::Rollback { old_size, new_size }) => base(
            "rollback",
            format!(
                "rollback: the newer checkpoint has tree size {new_size}, smaller than the older one's {old_size}"
            ),
        ),
        Err(e) => match &proof {
            Some(p) => p.attach_raw(
                base(
                    "consistency",
                    format!(
                        "fork: the checkpoint of size {n} does not extend the one of size {m} (proof {}): {e}",
                        source.describe()
                    ),
                )
                .proof(p.evidence("consistency", m, Some(n))),
            ),
            None if m == n => base(
                "fork",
                format!(
                    "fork: two different checkpoints of tree size {n} ({} and {}): {e}",
                    old.root_hash(),
                    new.root_hash()
                ),
            ),
            None => base(
                "consistency",
                format!("the old checkpoint of size 0 is invalid: {e}"),
            ),
        },
    };
    Err(failure.into())
}

/// Reads and verifies the log's current checkpoint.
///
/// # Errors
/// As [`open_verified`] and [`Log::checkpoint`].
pub fn current_checkpoint(
    command: &'static str,
    log: &Log,
    log_text: &str,
    trust: &Trust,
) -> anyhow::Result<VerifiedCheckpoint> {
    let (bytes, source) = log.checkpoint()?;
    open_verified(
        command,
        "log's current",
        bytes,
        source,
        trust,
        Some(log_text),
    )
}

/// Reads and verifies a checkpoint file the user gave.
///
/// # Errors
/// As [`open_verified`]; unreadable files.
pub fn file_checkpoint(
    command: &'static str,
    role: &str,
    path: &Path,
    http: &Http,
    trust: &Trust,
    log_text: Option<&str>,
) -> anyhow::Result<VerifiedCheckpoint> {
    let input = path
        .to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))?;
    let (bytes, source) = read_input(input, http, MAX_CHECKPOINT)?;
    open_verified(command, role, bytes, source, trust, log_text)
}
