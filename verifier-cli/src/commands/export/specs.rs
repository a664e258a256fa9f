//! `export --specs DIR`: classify the server-classified runs of section A
//! again from their OpenAPI documents and compare the findings.
//!
//! A document is found in DIR by the SHA-256 of its bytes, whatever the
//! file's name. When no file holds its bytes, the files that carry its name
//! tell an edited copy from an absent document: a file named after its
//! SHA-256 (`<sha256>` or `<sha256>.<ext>`, as `GET .../specs/{sha256}`
//! serves it), or after the file name its run records, unless that file's
//! bytes are another document of the export (base and revision often share
//! a name). Every run that is not reproduced is kept, with its reason, and
//! judged once section A has been read: all of them are reported together.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use compliance::record::{Classifier, SpecRef, sha256_hex};
use serde_json::{Value, json};

use crate::term::escape;

/// A regular file of DIR and the SHA-256 of its bytes.
#[derive(Clone, Debug)]
struct DirFile {
    path: PathBuf,
    sha256: String,
}

/// A document of a run that no file of DIR holds.
#[derive(Debug)]
struct MissingDoc {
    /// `base` or `revision`.
    role: &'static str,
    name: String,
    sha256: String,
    /// Files named after its SHA-256.
    by_sha_name: Vec<DirFile>,
    /// The file named as the run names the document, if any.
    by_name: Option<DirFile>,
}

#[derive(Debug)]
enum Why {
    /// Some documents are not in DIR (judged at the end: edited or absent).
    Documents(Vec<MissingDoc>),
    /// Classified again, the run does not give its recorded findings (or
    /// could not be classified again).
    Failed(String),
}

#[derive(Debug)]
struct Pending {
    run: String,
    line: usize,
    raw: String,
    why: Why,
}

/// Why a run was not reproduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A document is not in DIR and no file carries its name: allowed with
    /// `--allow-missing-specs`.
    Absent,
    /// A file carries a document's name but not its bytes.
    Sha256Mismatch,
    /// The findings differ, or the documents no longer classify.
    Findings,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Absent => "absent",
            Reason::Sha256Mismatch => "sha256_mismatch",
            Reason::Findings => "findings",
        }
    }
}

/// A run that was not reproduced.
#[derive(Debug)]
pub struct NotReproduced {
    /// Its run ID.
    pub run: String,
    /// Its line in the export (0-based).
    pub line: usize,
    /// Its record line, as the export gives it.
    pub raw: String,
    /// Why, as a category.
    pub reason: Reason,
    /// Why, in words.
    pub message: String,
}

impl NotReproduced {
    /// `run ID (line N): why`.
    pub fn describe(&self) -> String {
        format!(
            "run {} (line {}): {}",
            escape(&self.run),
            self.line + 1,
            self.message
        )
    }

    /// The JSON form of the report and the evidence file.
    pub fn json(&self) -> Value {
        json!({
            "run_id": self.run,
            "line": self.line + 1,
            "reason": self.reason.as_str(),
            "message": self.message,
        })
    }
}

/// The outcome of `--specs`.
#[derive(Debug)]
pub struct Outcome {
    /// Server-classified runs of section A.
    pub runs: u64,
    /// Those classified again with the recorded findings.
    pub reproduced: u64,
    /// The others, in the export's order.
    pub not_reproduced: Vec<NotReproduced>,
}

/// A classification: base and revision SHA-256, configuration digest, date.
type ClassificationKey = (String, String, String, String);

/// OpenAPI documents of DIR, by SHA-256 and by name.
pub struct Specs {
    dir: PathBuf,
    by_sha256: HashMap<String, PathBuf>,
    /// File name → file.
    by_name: HashMap<String, DirFile>,
    /// The 64 hex digits a file name starts with (before its first `.`) → files.
    by_sha_name: HashMap<String, Vec<DirFile>>,
    /// SHA-256 of every document a run of the export names.
    recorded: HashSet<String>,
    /// Findings of a classification already made.
    done: HashMap<ClassificationKey, Result<Vec<Value>, String>>,
    runs: u64,
    reproduced: u64,
    pending: Vec<Pending>,
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The last component of a recorded document name (`specs/openapi.yaml` →
/// `openapi.yaml`), if it can name a file.
fn file_name_of(name: &str) -> Option<&str> {
    let last = name.rsplit(['/', '\\']).next()?;
    (!last.is_empty() && last != "." && last != "..").then_some(last)
}

impl Specs {
    /// Reads every regular file of `dir` and hashes it.
    ///
    /// # Errors
    /// If `dir` or one of its files cannot be read.
    pub fn open(dir: &Path) -> anyhow::Result<Specs> {
        let mut by_sha256 = HashMap::new();
        let mut by_name = HashMap::new();
        let mut by_sha_name: HashMap<String, Vec<DirFile>> = HashMap::new();
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("reading the documents directory {}", dir.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading the documents directory {}", dir.display()))?
                .path();
            if !path.is_file() {
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let file = DirFile {
                sha256: sha256_hex(&bytes),
                path: path.clone(),
            };
            by_sha256.insert(file.sha256.clone(), path.clone());
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                let stem = name.split('.').next().unwrap_or(name);
                if is_sha256_hex(stem) {
                    by_sha_name
                        .entry(stem.to_owned())
                        .or_default()
                        .push(file.clone());
                }
                by_name.insert(name.to_owned(), file);
            }
        }
        for files in by_sha_name.values_mut() {
            files.sort_by(|a, b| a.path.cmp(&b.path));
        }
        Ok(Specs {
            dir: dir.to_owned(),
            by_sha256,
            by_name,
            by_sha_name,
            recorded: HashSet::new(),
            done: HashMap::new(),
            runs: 0,
            reproduced: 0,
            pending: Vec::new(),
        })
    }

    fn missing(&self, role: &'static str, doc: &SpecRef) -> MissingDoc {
        MissingDoc {
            role,
            name: doc.name.clone(),
            sha256: doc.sha256.clone(),
            by_sha_name: self
                .by_sha_name
                .get(&doc.sha256)
                .cloned()
                .unwrap_or_default(),
            by_name: file_name_of(&doc.name).and_then(|n| self.by_name.get(n).cloned()),
        }
    }

    /// Classifies a section A record again if the log classified it; a run
    /// that is not reproduced is kept with its reason.
    pub fn reproduce(&mut self, line: usize, raw: &str, record: &Value) {
        let Some(c) = record.get("classifier").filter(|c| !c.is_null()) else {
            return;
        };
        self.runs += 1;
        let run = record
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let why = match self.check(record, c) {
            Ok(()) => {
                self.reproduced += 1;
                return;
            }
            Err(why) => why,
        };
        self.pending.push(Pending {
            run,
            line,
            raw: raw.to_owned(),
            why,
        });
    }

    fn check(&mut self, record: &Value, c: &Value) -> Result<(), Why> {
        let c: Classifier = serde_json::from_value(c.clone())
            .map_err(|e| Why::Failed(format!("its classifier is malformed: {e}")))?;
        self.recorded.insert(c.base.sha256.clone());
        self.recorded.insert(c.revision.sha256.clone());
        let (base, revision) = (
            self.by_sha256.get(&c.base.sha256).cloned(),
            self.by_sha256.get(&c.revision.sha256).cloned(),
        );
        let (Some(base), Some(revision)) = (base, revision) else {
            let mut docs = Vec::new();
            if !self.by_sha256.contains_key(&c.base.sha256) {
                docs.push(self.missing("base", &c.base));
            }
            if !self.by_sha256.contains_key(&c.revision.sha256) {
                docs.push(self.missing("revision", &c.revision));
            }
            return Err(Why::Documents(docs));
        };
        let key = (
            c.base.sha256.clone(),
            c.revision.sha256.clone(),
            c.config_digest.clone(),
            c.date.clone(),
        );
        let want = self
            .done
            .entry(key)
            .or_insert_with(|| classify(&c, &base, &revision))
            .clone()
            .map_err(Why::Failed)?;
        let got = record
            .get("findings")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if let Some(diff) = super::first_difference(&json!(want), &json!(got), "findings") {
            return Err(Why::Failed(format!(
                "its recorded findings differ from a new classification of its documents with {} {} (recorded: {} {}): {diff}",
                compliance::record::gate_engine().0,
                compliance::record::gate_engine().1,
                escape(&c.engine),
                escape(&c.engine_version)
            )));
        }
        Ok(())
    }

    /// Judges the runs that were not reproduced, now that every document
    /// the export names is known.
    pub fn finish(self) -> Outcome {
        let dir = self.dir.display().to_string();
        let not_reproduced = self
            .pending
            .into_iter()
            .map(|p| {
                let (reason, message) = match p.why {
                    Why::Failed(msg) => (Reason::Findings, msg),
                    Why::Documents(docs) => judge(&docs, &self.recorded, &dir),
                };
                NotReproduced {
                    run: p.run,
                    line: p.line,
                    raw: p.raw,
                    reason,
                    message,
                }
            })
            .collect();
        Outcome {
            runs: self.runs,
            reproduced: self.reproduced,
            not_reproduced,
        }
    }
}

/// Classifies a run's documents again.
fn classify(c: &Classifier, base: &Path, revision: &Path) -> Result<Vec<Value>, String> {
    let read = |p: &Path| {
        std::fs::read(p)
            .map_err(|e| format!("reading {}: {e}", p.display()))
            .and_then(|b| String::from_utf8(b).map_err(|_| format!("{} is not UTF-8", p.display())))
    };
    let (b, r) = (read(base)?, read(revision)?);
    let again = compliance::verdict::classify(
        (&c.base.name, &b),
        (&c.revision.name, &r),
        &c.config,
        &c.date,
    )
    .map_err(|e| format!("its documents no longer classify: {e}"))?;
    if again.classifier.config_digest != c.config_digest {
        return Err(format!(
            "its rule configuration digests to {}, the record says {}",
            again.classifier.config_digest,
            escape(&c.config_digest)
        ));
    }
    again
        .findings
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// Whether a run's documents that no file holds were edited or are absent.
fn judge(docs: &[MissingDoc], recorded: &HashSet<String>, dir: &str) -> (Reason, String) {
    let mut edited = String::new();
    let mut absent = Vec::new();
    for d in docs {
        let files: Vec<&DirFile> = d
            .by_sha_name
            .iter()
            .chain(d.by_name.iter().filter(|f| {
                !recorded.contains(&f.sha256) && !d.by_sha_name.iter().any(|g| g.path == f.path)
            }))
            .collect();
        if files.is_empty() {
            absent.push(d);
            continue;
        }
        for f in files {
            if !edited.is_empty() {
                edited.push_str("; ");
            }
            let _ = write!(
                edited,
                "{} has the name of its {} document {} but does not match the recorded SHA-256: its SHA-256 is {}, the record says {}",
                escape(&f.path.display().to_string()),
                d.role,
                escape(&d.name),
                f.sha256,
                escape(&d.sha256)
            );
        }
    }
    if !edited.is_empty() {
        return (Reason::Sha256Mismatch, edited);
    }
    let list = absent
        .iter()
        .map(|d| {
            format!(
                "its {} document {} (SHA-256 {})",
                d.role,
                escape(&d.name),
                escape(&d.sha256)
            )
        })
        .collect::<Vec<_>>();
    let verb = if list.len() == 1 { "is" } else { "are" };
    (
        Reason::Absent,
        format!(
            "{} {verb} absent from {} (no file holds its bytes or carries its name)",
            list.join(" and "),
            escape(dir)
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BASE: &str = "openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /a:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                required: [id, name]
                properties:
                  id: {type: string}
                  name: {type: string}
";

    fn revision() -> String {
        BASE.replace("required: [id, name]", "required: [id]")
    }

    /// A server-classified record of the two documents, as the log makes it.
    fn record(id: &str, base: (&str, &str), revision: (&str, &str)) -> Value {
        let c = compliance::verdict::classify(
            base,
            revision,
            &serde_json::from_value(json!({})).unwrap(),
            "2026-01-01",
        )
        .unwrap();
        json!({"id": id, "classifier": c.classifier, "findings": c.findings})
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn run(dir: &Path, records: &[Value]) -> Outcome {
        let mut specs = Specs::open(dir).unwrap();
        for (i, r) in records.iter().enumerate() {
            specs.reproduce(i, &r.to_string(), r);
        }
        specs.finish()
    }

    #[test]
    fn documents_are_found_by_their_bytes_whatever_their_names() {
        let rev = revision();
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "x", BASE);
        write(tmp.path(), "y.json", &rev);
        let r = record("run_1", ("openapi.yaml", BASE), ("openapi.yaml", &rev));
        let out = run(
            tmp.path(),
            &[r, json!({"id": "run_ci", "classifier": null})],
        );
        assert_eq!((out.runs, out.reproduced), (1, 1));
        assert!(out.not_reproduced.is_empty(), "{out:?}");
    }

    #[test]
    fn absent_documents_and_edited_copies_are_told_apart() {
        let rev = revision();
        let tmp = tempfile::tempdir().unwrap();
        let r = record("run_1", ("base.yaml", BASE), ("openapi.yaml", &rev));
        let base_sha = sha256_hex(BASE.as_bytes());
        let rev_sha = sha256_hex(rev.as_bytes());

        // Neither is there.
        let out = run(tmp.path(), std::slice::from_ref(&r));
        assert_eq!((out.runs, out.reproduced), (1, 0));
        let n = &out.not_reproduced[0];
        assert_eq!(n.reason, Reason::Absent);
        assert!(
            n.message.contains("its base document base.yaml"),
            "{}",
            n.message
        );
        assert!(
            n.message.contains("and its revision document openapi.yaml"),
            "{}",
            n.message
        );
        assert!(n.message.contains(&rev_sha), "{}", n.message);
        assert!(
            n.describe().starts_with("run run_1 (line 1): "),
            "{}",
            n.describe()
        );

        // The base by its SHA-256 name, the revision edited by one byte under its SHA-256 name.
        write(tmp.path(), &format!("{base_sha}.yaml"), BASE);
        write(
            tmp.path(),
            &format!("{rev_sha}.yaml"),
            &rev.replace("ok", "OK"),
        );
        let out = run(tmp.path(), std::slice::from_ref(&r));
        let n = &out.not_reproduced[0];
        assert_eq!(n.reason, Reason::Sha256Mismatch, "{}", n.message);
        assert!(
            n.message.contains("does not match the recorded SHA-256"),
            "{}",
            n.message
        );
        assert!(
            n.message.contains(&format!("the record says {rev_sha}")),
            "{}",
            n.message
        );
        let edited = sha256_hex(rev.replace("ok", "OK").as_bytes());
        assert!(
            n.message.contains(&format!("its SHA-256 is {edited}")),
            "{}",
            n.message
        );

        // Edited under the name the run records.
        std::fs::remove_file(tmp.path().join(format!("{rev_sha}.yaml"))).unwrap();
        write(tmp.path(), "openapi.yaml", &rev.replace("ok", "OK"));
        let out = run(tmp.path(), std::slice::from_ref(&r));
        assert_eq!(out.not_reproduced[0].reason, Reason::Sha256Mismatch);
        assert!(
            out.not_reproduced[0]
                .message
                .contains("openapi.yaml has the name of its revision document")
        );

        // A file of that name that is another document of the export is
        // not an edited copy: the revision is absent.
        write(tmp.path(), "openapi.yaml", BASE);
        let out = run(tmp.path(), std::slice::from_ref(&r));
        let n = &out.not_reproduced[0];
        assert_eq!(n.reason, Reason::Absent, "{}", n.message);
        assert!(
            n.message.contains("its revision document openapi.yaml"),
            "{}",
            n.message
        );
        assert!(!n.message.contains("base document"), "{}", n.message);
    }

    #[test]
    fn different_findings_are_a_failure() {
        let rev = revision();
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "a", BASE);
        write(tmp.path(), "b", &rev);
        let mut r = record("run_1", ("a", BASE), ("b", &rev));
        r["findings"] = json!([]);
        let ok = record("run_2", ("a", BASE), ("b", &rev));
        let out = run(tmp.path(), &[r, ok]);
        assert_eq!((out.runs, out.reproduced), (2, 1));
        let n = &out.not_reproduced[0];
        assert_eq!((n.reason, n.run.as_str()), (Reason::Findings, "run_1"));
        assert!(
            n.message.contains("its recorded findings differ"),
            "{}",
            n.message
        );
    }
}
