//! Trust: the user's verifier key, checkpoints verified with it, and the
//! proof that a newer verified checkpoint extends an older one. Nothing the
//! log serves is trusted until it has been through here (or through `tlog`'s
//! verification functions against a checkpoint from here).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, anyhow};
use serde_json::{Value, json};
use tlog::{Hash, SignedCheckpoint, VerifierKey};

use crate::cli::KeyArgs;
use crate::proofs::{self, Proof, ProofProblem, Source};
use crate::report::{Failure, hinted};
use crate::sources::{Http, Log, MAX_CHECKPOINT, read_input};
use crate::term::escape;

/// Loads the user's verifier key from `--key` or `--key-file`.
///
/// # Errors
/// Unreadable files and malformed keys, with a hint.
pub fn load_key(args: &KeyArgs) -> anyhow::Result<VerifierKey> {
    let (text, from) = match (&args.key, &args.key_file) {
        (Some(k), _) => (k.clone(), "--key".to_owned()),
        (None, Some(f)) => (
            std::fs::read_to_string(f)
                .with_context(|| format!("reading --key-file {}", f.display()))?,
            format!("--key-file {}", f.display()),
        ),
        (None, None) => {
            return Err(anyhow!(
                "give the log's verifier key with --key or --key-file"
            ));
        }
    };
    let text = text.trim();
    if text.starts_with("PRIVATE+KEY+") {
        return Err(hinted(
            format!("{from} holds a private signing key, not a verifier key"),
            "give the log's public verifier key (<origin>+<key ID>+<base64>); keep the private key secret",
        ));
    }
    VerifierKey::from_text(text).with_context(|| format!("{from} is not a valid verifier key"))
}

/// A checkpoint verified with the user's key, with its exact bytes.
#[derive(Clone)]
pub struct VerifiedCheckpoint {
    /// The opened checkpoint.
    pub signed: SignedCheckpoint,
    /// The bytes as read.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub source: String,
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

    /// JSON summary.
    pub fn json(&self) -> Value {
        json!({
            "origin": self.signed.checkpoint.origin,
            "tree_size": self.tree_size(),
            "root_hash": self.root_hash().to_base64(),
            "source": self.source,
        })
    }
}

/// Whether bytes look like a signed note at all (text, blank line, a
/// signature line), so that a broken one is a verification failure and
/// anything else (an HTML page, an empty file) a usage error.
fn looks_like_note(bytes: &[u8]) -> bool {
    bytes.windows(5).any(|w| w == "\n\n\u{2014}".as_bytes())
}

/// Opens a checkpoint with the user's key. A signed note that does not
/// verify (bad signature, other key, malformed body, wrong origin) is a
/// [`Failure`]; bytes that are not a signed note at all are an error.
///
/// # Errors
/// As described.
pub fn open_verified(
    command: &'static str,
    role: &str,
    bytes: Vec<u8>,
    source: String,
    key: &VerifierKey,
    log: Option<&str>,
) -> anyhow::Result<VerifiedCheckpoint> {
    match tlog::open_checkpoint(&bytes, key) {
        Ok(signed) => Ok(VerifiedCheckpoint {
            signed,
            bytes,
            source,
        }),
        Err(e) if !looks_like_note(&bytes) => Err(anyhow::Error::new(e).context(hinted(
            format!("{source} is not a signed checkpoint"),
            "a checkpoint is a C2SP signed note: origin, tree size, root hash, a blank line, signature lines",
        ))),
        Err(e) => {
            let mut f = Failure::new(
                command,
                "checkpoint",
                format!(
                    "the {role} checkpoint ({source}) does not verify with key {}+{:08x}: {e}",
                    key.name(),
                    key.key_id()
                ),
            )
            .checkpoint(role, &source, &bytes);
            f.evidence.verifier_key = Some(key.to_text());
            f.evidence.log = log.map(str::to_owned);
            Err(f.into())
        }
    }
}

/// Plain lines describing a checkpoint.
pub fn describe_checkpoint(out: &mut String, label: &str, cp: &VerifiedCheckpoint) {
    let c = &cp.signed.checkpoint;
    let _ = writeln!(out, "{label}:");
    let _ = writeln!(out, "  origin:    {}", escape(&c.origin));
    let _ = writeln!(out, "  tree size: {}", c.tree_size);
    let _ = writeln!(out, "  root hash: {}", c.root_hash);
    let _ = writeln!(out, "  source:    {}", escape(&cp.source));
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
    key: &VerifierKey,
) -> anyhow::Result<VerifiedCheckpoint> {
    let (bytes, source) = log.checkpoint()?;
    open_verified(command, "log's current", bytes, source, key, Some(log_text))
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
    key: &VerifierKey,
    log_text: Option<&str>,
) -> anyhow::Result<VerifiedCheckpoint> {
    let input = path
        .to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))?;
    let (bytes, source) = read_input(input, http, MAX_CHECKPOINT)?;
    open_verified(command, role, bytes, source, key, log_text)
}
