//! Outcomes of a command: a [`Report`] (exit 0), a verification [`Failure`]
//! with its [`Evidence`] (exit 1), or an error (exit 2), with [`Hinted`]
//! errors; and how each is printed ([`Output`]).

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::term::{escape, print_stderr, print_stdout};

/// The process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every check passed.
    Verified = 0,
    /// A check failed; evidence was written.
    Failed = 1,
    /// Usage, network or I/O error: nothing was decided.
    Error = 2,
}

/// How outcomes are printed: plain text or JSON, and where evidence files go.
pub struct Output {
    /// `--json`.
    pub json: bool,
    /// Where evidence files are written.
    pub evidence_dir: PathBuf,
    /// The command line, recorded in evidence files.
    pub command_line: Vec<String>,
}

impl Output {
    /// Prints a successful report.
    pub fn print_report(&self, report: &Report) {
        if self.json {
            let mut obj = Map::new();
            obj.insert("status".into(), json!("verified"));
            obj.insert("command".into(), json!(report.command));
            obj.extend(report.json.clone());
            print_stdout(&format!("{}\n", pretty(&Value::Object(obj))));
        } else {
            print_stdout(&report.text);
        }
    }

    /// Writes the evidence of a failure and prints what failed.
    pub fn report_failure(&self, failure: &Failure) {
        let written = write_evidence(&self.evidence_dir, failure, &self.command_line);
        let mut text = format!(
            "stateanchor-verify: verification failed: {}\n",
            escape(&failure.message)
        );
        match &written {
            Ok(path) => text.push_str(&format!(
                "stateanchor-verify: evidence written to {}\n",
                path.display()
            )),
            Err(e) => text.push_str(&format!(
                "stateanchor-verify: error: could not write the evidence file: {}\n",
                escape(&format!("{e:#}"))
            )),
        }
        print_stderr(&text);
        if self.json {
            let mut obj = Map::new();
            obj.insert("status".into(), json!("failed"));
            obj.insert("command".into(), json!(failure.command));
            obj.insert("check".into(), json!(failure.check));
            obj.insert("failure".into(), json!(failure.message));
            obj.insert(
                "evidence".into(),
                written
                    .as_ref()
                    .map_or(Value::Null, |p| json!(p.display().to_string())),
            );
            print_stdout(&format!("{}\n", pretty(&Value::Object(obj))));
        } else if !failure.partial_text.is_empty() {
            print_stdout(&failure.partial_text);
        }
    }

    /// Prints an error (exit 2): the cause chain and any hints.
    pub fn report_error(&self, err: &anyhow::Error) {
        let (message, hints) = describe_error(err);
        let mut text = format!("stateanchor-verify: error: {}\n", escape(&message));
        for h in &hints {
            text.push_str(&format!("stateanchor-verify: hint: {}\n", escape(h)));
        }
        print_stderr(&text);
        if self.json {
            let obj = json!({"status": "error", "error": message, "hints": hints});
            print_stdout(&format!("{}\n", pretty(&obj)));
        }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// A successful command's output.
pub struct Report {
    /// The command's name.
    pub command: &'static str,
    /// Plain output (untrusted parts already escaped).
    pub text: String,
    /// Fields of the JSON output.
    pub json: Map<String, Value>,
}

/// An error whose message comes with a hint on how to fix it.
#[derive(Debug)]
pub struct Hinted {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Creates a [`Hinted`] error.
pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.into(),
        hint: hint.into(),
    })
}

/// The cause chain as one line, and hints: the explicit ones and some for
/// well-known causes.
fn describe_error(err: &anyhow::Error) -> (String, Vec<String>) {
    let message = format!("{err:#}");
    let mut hints = Vec::new();
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>() {
            hints.push(h.hint.clone());
        } else if let Some(e) = cause.downcast_ref::<reqwest::Error>() {
            if e.is_connect() {
                hints.push("is the log running, and is the URL right?".into());
            } else if e.is_timeout() {
                hints.push("the log did not answer in time; try a larger --timeout".into());
            }
        } else if let Some(tlog::Error::MalformedKey { .. } | tlog::Error::InvalidKeyName { .. }) =
            cause.downcast_ref::<tlog::Error>()
        {
            hints.push(
                "a verifier key looks like example.com/log+1234abcd+AeHTu4Q3hEIM... (name+key ID+base64)"
                    .into(),
            );
        }
    }
    hints.dedup();
    (message, hints)
}

/// A verification that ran and failed (exit 1). It carries the evidence.
#[derive(Debug)]
pub struct Failure {
    /// The command that failed.
    pub command: &'static str,
    /// The check that failed, e.g. `consistency`, `tile`, `signature`.
    pub check: &'static str,
    /// What failed, in words.
    pub message: String,
    /// The evidence to save.
    pub evidence: Evidence,
    /// Plain output of the steps that passed before the failure.
    pub partial_text: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The evidence of a failed verification, written as JSON (see `spec/verifier.md`).
#[derive(Debug, Default, Serialize)]
pub struct Evidence {
    /// The log as given on the command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The verifier key the user gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifier_key: Option<String>,
    /// The checkpoints involved (exact bytes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<Blob>,
    /// The proof involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<ProofEvidence>,
    /// Offending data: tiles, entry bundles, entries, responses (exact bytes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<Blob>,
    /// Values computed by the verifier (expected and computed hashes, sizes).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
}

/// Bytes kept as evidence: exact base64, and the text when it is UTF-8.
#[derive(Debug, Clone, Serialize)]
pub struct Blob {
    /// What it is (`old`, `new`, `published checkpoints/12`, `tile`, ...).
    pub role: String,
    /// Where it came from (URL, path).
    pub source: String,
    /// The bytes as text, if valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The exact bytes, standard base64.
    pub base64: String,
}

impl Blob {
    /// Keeps `bytes`.
    pub fn new(role: impl Into<String>, source: impl Into<String>, bytes: &[u8]) -> Self {
        Blob {
            role: role.into(),
            source: source.into(),
            text: std::str::from_utf8(bytes).ok().map(str::to_owned),
            base64: B64.encode(bytes),
        }
    }
}

/// A proof kept as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct ProofEvidence {
    /// `inclusion` or `consistency`.
    pub kind: &'static str,
    /// `api` (the log's proof API) or `tiles` (built here from the log's tiles).
    pub source: &'static str,
    /// Inclusion: the leaf index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_index: Option<u64>,
    /// Inclusion: the leaf hash (base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_hash: Option<String>,
    /// Inclusion: the tree size; consistency: the older size.
    pub first: u64,
    /// Consistency: the newer size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second: Option<u64>,
    /// The proof hashes, base64.
    pub hashes: Vec<String>,
}

impl Failure {
    /// A failure of `check` in `command`.
    pub fn new(command: &'static str, check: &'static str, message: impl Into<String>) -> Self {
        Failure {
            command,
            check,
            message: message.into(),
            evidence: Evidence::default(),
            partial_text: String::new(),
        }
    }

    /// Records the log and key.
    #[must_use]
    pub fn log(mut self, log: &str, key: &tlog::VerifierKey) -> Self {
        self.evidence.log = Some(log.to_owned());
        self.evidence.verifier_key = Some(key.to_text());
        self
    }

    /// Adds a checkpoint.
    #[must_use]
    pub fn checkpoint(
        mut self,
        role: impl Into<String>,
        source: impl Into<String>,
        bytes: &[u8],
    ) -> Self {
        self.evidence
            .checkpoints
            .push(Blob::new(role, source, bytes));
        self
    }

    /// Sets the proof.
    #[must_use]
    pub fn proof(mut self, proof: ProofEvidence) -> Self {
        self.evidence.proof = Some(proof);
        self
    }

    /// Adds offending data.
    #[must_use]
    pub fn data(
        mut self,
        role: impl Into<String>,
        source: impl Into<String>,
        bytes: &[u8],
    ) -> Self {
        self.evidence.data.push(Blob::new(role, source, bytes));
        self
    }

    /// Adds a computed value.
    #[must_use]
    pub fn detail(mut self, key: &str, value: impl Serialize) -> Self {
        self.evidence.details.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }
}

/// The evidence file's top-level object.
#[derive(Serialize)]
struct EvidenceFile<'a> {
    format: &'static str,
    created_unix: u64,
    tool: String,
    command_line: &'a [String],
    command: &'static str,
    check: &'static str,
    failure: &'a str,
    #[serde(flatten)]
    evidence: &'a Evidence,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes `failure`'s evidence to a new file in `dir` and returns its path.
fn write_evidence(
    dir: &Path,
    failure: &Failure,
    command_line: &[String],
) -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    let now = unix_now();
    let file = EvidenceFile {
        format: "stateanchor-evidence/v1",
        created_unix: now,
        tool: format!("stateanchor-verify {}", env!("CARGO_PKG_VERSION")),
        command_line,
        command: failure.command,
        check: failure.check,
        failure: &failure.message,
        evidence: &failure.evidence,
    };
    let mut body = serde_json::to_vec_pretty(&file).context("encoding the evidence")?;
    body.push(b'\n');
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    for n in 0..1000 {
        let name = if n == 0 {
            format!("stateanchor-evidence-{now}.json")
        } else {
            format!("stateanchor-evidence-{now}-{n}.json")
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(&body)
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("writing {}", path.display()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    }
    anyhow::bail!("no free evidence file name in {}", dir.display())
}
