//! The commands: `checkpoint`, `inclusion`, `consistency`, and the helpers
//! every command shares (the user's key, verified checkpoints, consistency).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, anyhow};
use serde_json::{Map, Value, json};
use tlog::{Hash, SignedCheckpoint, VerifierKey};

use crate::cli::{Command, KeyArgs, LogArgs};
use crate::fetch::{Log, MAX_CHECKPOINT, read_input};
use crate::outcome::{Ctx, Failure, ProofEvidence, Report, hinted};
use crate::proofs::{self, Proof, ProofProblem, Source};
use crate::term::escape;

/// Runs a parsed command.
///
/// # Errors
/// A [`Failure`] (exit 1) or any other error (exit 2).
pub fn run(ctx: &Ctx, command: Command) -> anyhow::Result<Report> {
    match command {
        Command::Checkpoint { key, input } => checkpoint(ctx, &key, &input),
        Command::Inclusion {
            key,
            log,
            index,
            leaf_hash,
            entry_file,
            checkpoint,
        } => inclusion(
            ctx,
            &key,
            &log,
            index,
            leaf_hash.as_deref(),
            entry_file.as_deref(),
            checkpoint.as_deref(),
        ),
        Command::Consistency { key, log, old, new } => {
            consistency(ctx, &key, &log, &old, new.as_deref())
        }
        Command::Audit {
            key,
            log,
            state,
            jobs,
            no_progress,
        } => crate::audit::run(ctx, &key, &log, state.as_deref(), jobs, no_progress),
        Command::Published {
            key,
            log,
            repo,
            github_api,
            github_ref,
        } => crate::published::run(ctx, &key, &log, &repo, &github_api, github_ref.as_deref()),
        Command::Monitor {
            key,
            log,
            state,
            interval,
            once,
            initial,
        } => crate::monitor::run(ctx, &key, &log, &state, interval, once, initial.as_deref()),
        Command::Export(args) => crate::export::run(ctx, &args),
        Command::WriteTestLog {
            out,
            entries,
            signer_key_file,
            origin,
            checkpoint_at,
            entry_prefix,
        } => crate::generate::run(&crate::generate::Params {
            out: &out,
            entries,
            key_file: signer_key_file.as_deref(),
            origin: &origin,
            checkpoint_at: &checkpoint_at,
            entry_prefix: &entry_prefix,
        }),
    }
}

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
pub struct Cp {
    /// The opened checkpoint.
    pub signed: SignedCheckpoint,
    /// The bytes as read.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub source: String,
}

impl Cp {
    /// Tree size.
    pub fn size(&self) -> u64 {
        self.signed.checkpoint.tree_size
    }

    /// Root hash.
    pub fn root(&self) -> Hash {
        self.signed.checkpoint.root_hash
    }

    /// JSON summary.
    pub fn json(&self) -> Value {
        json!({
            "origin": self.signed.checkpoint.origin,
            "tree_size": self.size(),
            "root_hash": self.root().to_base64(),
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
) -> anyhow::Result<Cp> {
    match tlog::open_checkpoint(&bytes, key) {
        Ok(signed) => Ok(Cp { signed, bytes, source }),
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
pub fn describe_cp(out: &mut String, label: &str, cp: &Cp) {
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

/// Proves that checkpoint `new` extends checkpoint `old`, both verified.
/// Returns the proof used (`None` when the sizes are equal or `old` is empty).
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
    old: &Cp,
    new: &Cp,
) -> anyhow::Result<Option<Proof>> {
    let base = |check: &'static str, msg: String| {
        Failure::new(command, check, msg)
            .log(log_text, key)
            .checkpoint("old", &old.source, &old.bytes)
            .checkpoint("new", &new.source, &new.bytes)
    };
    let (m, n) = (old.size(), new.size());
    if n < m {
        return Err(base(
            "rollback",
            format!(
                "rollback: the newer checkpoint has tree size {n}, smaller than the older one's {m}"
            ),
        )
        .into());
    }
    if m == n || m == 0 {
        return match tlog::verify_consistency(m, n, &old.root(), &new.root(), &[]) {
            Ok(()) => Ok(None),
            Err(e) if m == n => Err(base(
                "fork",
                format!(
                    "fork: two different checkpoints of tree size {n} ({} and {}): {e}",
                    old.root(),
                    new.root()
                ),
            )
            .into()),
            Err(e) => Err(base(
                "consistency",
                format!("the old checkpoint of size 0 is invalid: {e}"),
            )
            .into()),
        };
    }
    let proof = proofs::consistency(log, source, m, n).map_err(|e| {
        proof_failure(e, |msg| {
            base(
                "consistency",
                format!("no consistency proof from {m} to {n}: {msg}"),
            )
        })
    })?;
    if let Err(e) = tlog::verify_consistency(m, n, &old.root(), &new.root(), &proof.hashes) {
        let f = base(
            "consistency",
            format!(
                "fork: the checkpoint of size {n} does not extend the one of size {m} (proof {}): {e}",
                source.describe()
            ),
        )
        .proof(proof.evidence("consistency", m, Some(n)));
        return Err(proof.attach_raw(f).into());
    }
    Ok(Some(proof))
}

fn checkpoint(ctx: &Ctx, key: &KeyArgs, input: &str) -> anyhow::Result<Report> {
    let key = load_key(key)?;
    let (bytes, source) = read_input(input, &ctx.http, MAX_CHECKPOINT)?;
    let cp = open_verified("checkpoint", "given", bytes, source, &key, None)?;
    let c = &cp.signed.checkpoint;
    let mut text = format!(
        "verified: checkpoint signed by {}+{:08x}\n",
        escape(key.name()),
        key.key_id()
    );
    let _ = writeln!(text, "origin:    {}", escape(&c.origin));
    let _ = writeln!(text, "tree size: {}", c.tree_size);
    let _ = writeln!(text, "root hash: {}", c.root_hash);
    for e in &c.extensions {
        let _ = writeln!(text, "extension: {}", escape(e));
    }
    let others: Vec<Value> = cp
        .signed
        .note
        .signatures()
        .iter()
        .filter(|s| !(s.name == key.name() && s.key_id == key.key_id()))
        .map(|s| {
            let _ = writeln!(
                text,
                "other signature (not verified): {}+{:08x}",
                escape(&s.name),
                s.key_id
            );
            json!({"name": s.name, "key_id": format!("{:08x}", s.key_id)})
        })
        .collect();
    let mut json = Map::new();
    json.insert("verified_by".into(), json!(key.to_text()));
    json.insert("origin".into(), json!(c.origin));
    json.insert("tree_size".into(), json!(c.tree_size));
    json.insert("root_hash".into(), json!(c.root_hash.to_base64()));
    json.insert("extensions".into(), json!(c.extensions));
    json.insert("source".into(), json!(cp.source));
    json.insert("unverified_signatures".into(), Value::Array(others));
    Ok(Report {
        command: "checkpoint",
        text,
        json,
    })
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
) -> anyhow::Result<Cp> {
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
    ctx: &Ctx,
    key: &VerifierKey,
    log_text: Option<&str>,
) -> anyhow::Result<Cp> {
    let input = path
        .to_str()
        .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))?;
    let (bytes, source) = read_input(input, &ctx.http, MAX_CHECKPOINT)?;
    open_verified(command, role, bytes, source, key, log_text)
}

#[allow(clippy::too_many_arguments)]
fn inclusion(
    ctx: &Ctx,
    key: &KeyArgs,
    log_args: &LogArgs,
    index: Option<u64>,
    leaf_hash: Option<&str>,
    entry_file: Option<&Path>,
    checkpoint_file: Option<&Path>,
) -> anyhow::Result<Report> {
    const CMD: &str = "inclusion";
    let key = load_key(key)?;
    let log = Log::parse(&log_args.log, &ctx.http)?;
    proofs::check_usage(&log, log_args.proof_source)?;
    let log_text = log_args.log.as_str();
    // Step 1: the checkpoint, verified with the user's key.
    let cp = match checkpoint_file {
        Some(p) => file_checkpoint(CMD, "given", p, ctx, &key, Some(log_text))?,
        None => current_checkpoint(CMD, &log, log_text, &key)?,
    };
    let n = cp.size();
    let base = |check: &'static str, msg: String| {
        Failure::new(CMD, check, msg)
            .log(log_text, &key)
            .checkpoint("checkpoint", &cp.source, &cp.bytes)
    };
    // Step 2: the leaf hash we are looking for, computed or given here.
    let mut entry_bytes: Option<(Vec<u8>, String)> = None;
    let mut leaf: Option<Hash> = match (leaf_hash, entry_file) {
        (Some(b64), _) => Some(Hash::from_base64(b64).map_err(|e| {
            anyhow::Error::new(e).context(hinted(
                format!("--leaf-hash {b64:?} is not a hash"),
                "a leaf hash is 32 bytes in standard base64 (44 characters ending in =)",
            ))
        })?),
        (None, Some(f)) => {
            let bytes = std::fs::read(f)
                .with_context(|| format!("reading --entry-file {}", f.display()))?;
            let h = tlog::leaf_hash(&bytes);
            entry_bytes = Some((bytes, f.display().to_string()));
            Some(h)
        }
        (None, None) => None,
    };
    if let Some(i) = index
        && i >= n
    {
        return Err(base(
            "inclusion",
            format!("leaf index {i} is not in the checkpoint's tree of size {n}"),
        )
        .into());
    }
    let source = proofs::choose(&log, log_args.proof_source)?;
    // Step 3: the index and the proof.
    let leaf_desc = |l: &Option<Hash>| l.map_or_else(|| "?".to_owned(), |h| h.to_base64());
    let (index, proof, found_by) = match (index, leaf) {
        (Some(i), _) => {
            if leaf.is_none() {
                let e = proofs::entry(&log, source, i, n).map_err(|e| {
                    proof_failure(e, |m| {
                        base("inclusion", format!("cannot read entry {i}: {m}"))
                    })
                })?;
                leaf = Some(e.leaf_hash);
                entry_bytes = Some((e.bytes, e.source));
            }
            let p = proofs::inclusion(&log, source, i, n).map_err(|e| {
                proof_failure(e, |m| {
                    base("inclusion", format!("no inclusion proof for leaf {i}: {m}"))
                })
            })?;
            (i, p, "given")
        }
        (None, Some(h)) if source == Source::Api => {
            let (i, p) = proofs::inclusion_by_hash(&log, &h, n).map_err(|e| {
                proof_failure(e, |m| {
                    base(
                        "inclusion",
                        format!("leaf hash {h} is not proven in tree size {n}: {m}"),
                    )
                })
            })?;
            if i >= n {
                return Err(base(
                    "inclusion",
                    format!("the log gave leaf index {i}, beyond tree size {n}"),
                )
                .into());
            }
            (i, p, "the log's index by leaf hash")
        }
        (None, Some(h)) => {
            let found = proofs::find_leaf_in_bundles(&log, &h, n).map_err(|e| {
                proof_failure(e, |m| {
                    base("inclusion", format!("cannot search the entry bundles: {m}"))
                })
            })?;
            let Some(i) = found else {
                return Err(base(
                    "inclusion",
                    format!("no entry of the checkpoint's tree (size {n}) has leaf hash {h}"),
                )
                .detail("leaf_hash", h.to_base64())
                .into());
            };
            let p = proofs::inclusion(&log, source, i, n).map_err(|e| {
                proof_failure(e, |m| {
                    base("inclusion", format!("no inclusion proof for leaf {i}: {m}"))
                })
            })?;
            (i, p, "a search of the entry bundles")
        }
        (None, None) => return Err(anyhow!("give --index, --leaf-hash or --entry-file")),
    };
    let leaf = leaf.ok_or_else(|| anyhow!("unreachable: leaf hash known by now"))?;
    // Step 4: verify.
    if let Err(e) = tlog::verify_inclusion(index, n, &leaf, &proof.hashes, &cp.root()) {
        let mut f = base(
            "inclusion",
            format!(
                "leaf {index} ({}) is not proven in tree size {n} (proof {}): {e}",
                leaf_desc(&Some(leaf)),
                source.describe()
            ),
        )
        .proof(ProofEvidence {
            leaf_index: Some(index),
            leaf_hash: Some(leaf.to_base64()),
            ..proof.evidence("inclusion", n, None)
        });
        if let Some((b, src)) = &entry_bytes {
            f = f.data("entry", src, b);
        }
        return Err(proof.attach_raw(f).into());
    }
    let mut text = format!("verified: leaf {index} is included in the log\n");
    describe_cp(&mut text, "checkpoint (signature verified)", &cp);
    let _ = writeln!(text, "leaf index: {index} (from {found_by})");
    let _ = writeln!(text, "leaf hash:  {leaf}");
    if let Some((b, src)) = &entry_bytes {
        let shown = String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned();
        let more = if b.len() > 300 { " ..." } else { "" };
        let _ = writeln!(text, "entry:      {}{more}", escape(&shown));
        let _ = writeln!(text, "entry from: {}", escape(src));
    }
    let _ = writeln!(
        text,
        "proof:      {} hashes, {}",
        proof.hashes.len(),
        source.describe()
    );
    let mut json = Map::new();
    json.insert("checkpoint".into(), cp.json());
    json.insert("leaf_index".into(), json!(index));
    json.insert("leaf_hash".into(), json!(leaf.to_base64()));
    if let Some((b, src)) = &entry_bytes {
        use base64::Engine as _;
        json.insert(
            "entry".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(b)),
        );
        json.insert("entry_source".into(), json!(src));
    }
    json.insert("proof_source".into(), json!(source.name()));
    json.insert(
        "proof".into(),
        json!(proof.hashes.iter().map(Hash::to_base64).collect::<Vec<_>>()),
    );
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}

fn consistency(
    ctx: &Ctx,
    key: &KeyArgs,
    log_args: &LogArgs,
    old: &Path,
    new: Option<&Path>,
) -> anyhow::Result<Report> {
    const CMD: &str = "consistency";
    let key = load_key(key)?;
    let log = Log::parse(&log_args.log, &ctx.http)?;
    proofs::check_usage(&log, log_args.proof_source)?;
    let log_text = log_args.log.as_str();
    let old = file_checkpoint(CMD, "old", old, ctx, &key, Some(log_text))?;
    let new = match new {
        Some(p) => file_checkpoint(CMD, "new", p, ctx, &key, Some(log_text))?,
        None => current_checkpoint(CMD, &log, log_text, &key)?,
    };
    let source = if new.size() > old.size() && old.size() > 0 {
        proofs::choose(&log, log_args.proof_source)?
    } else {
        Source::Tiles
    };
    let proof = prove_extends(CMD, &log, log_text, &key, source, &old, &new)?;
    let mut text = format!(
        "verified: the checkpoint of size {} extends the one of size {}\n",
        new.size(),
        old.size()
    );
    describe_cp(&mut text, "old checkpoint (signature verified)", &old);
    describe_cp(&mut text, "new checkpoint (signature verified)", &new);
    match &proof {
        Some(p) => {
            let _ = writeln!(
                text,
                "proof: {} hashes, {}",
                p.hashes.len(),
                p.source.describe()
            );
        }
        None => {
            let _ = writeln!(text, "proof: none needed (equal sizes or empty old tree)");
        }
    }
    let mut json = Map::new();
    json.insert("old".into(), old.json());
    json.insert("new".into(), new.json());
    json.insert(
        "proof_source".into(),
        proof
            .as_ref()
            .map_or(json!("none"), |p| json!(p.source.name())),
    );
    json.insert(
        "proof".into(),
        json!(
            proof
                .map(|p| p.hashes.iter().map(Hash::to_base64).collect::<Vec<_>>())
                .unwrap_or_default()
        ),
    );
    Ok(Report {
        command: CMD,
        text,
        json,
    })
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename.
///
/// # Errors
/// I/O errors.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// A state file: JSON with a `format` and the `verifier_key` it was written for.
pub trait StateFile: serde::de::DeserializeOwned {
    /// The `format` this type reads.
    const FORMAT: &'static str;
    /// What a person should do when the file is unusable.
    const HINT: &'static str;
    /// The file's `format` field.
    fn format(&self) -> &str;
    /// The file's `verifier_key` field.
    fn verifier_key(&self) -> &str;
}

/// An unusable state file: exit 2, with the state's hint.
pub fn state_error<T: StateFile>(path: &Path, what: impl std::fmt::Display) -> anyhow::Error {
    hinted(format!("--state {}: {what}", path.display()), T::HINT)
}

/// Reads a state file: `None` if it does not exist; an error if it is not
/// of format `T::FORMAT` or was written for another key than `key`.
///
/// # Errors
/// As described, and I/O errors.
pub fn read_state<T: StateFile>(path: &Path, key: &VerifierKey) -> anyhow::Result<Option<T>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading --state {}", path.display())),
    };
    let st: T = serde_json::from_slice(&bytes)
        .map_err(|e| state_error::<T>(path, format!("not a {} file: {e}", T::FORMAT)))?;
    if st.format() != T::FORMAT {
        return Err(state_error::<T>(
            path,
            format!("unknown format {:?}", st.format()),
        ));
    }
    if st.verifier_key() != key.to_text() {
        return Err(state_error::<T>(
            path,
            format!(
                "it was written for another verifier key ({})",
                st.verifier_key()
            ),
        ));
    }
    Ok(Some(st))
}
