//! The evidence file written when a publication is refused.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use tlog::Hash;

/// Evidence of a refused publication, as written to the evidence file
/// (`spec/publication.md`, "Evidence").
///
/// Checkpoints are kept byte for byte: as text when they are UTF-8, as
/// standard base64 (in the `*_base64` field) when they are not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Format version, 1.
    pub stateanchor_evidence: u32,
    /// The reason code, e.g. `fork` ([`RefusalReason::code`](crate::RefusalReason::code)).
    pub reason: String,
    /// The reason in words.
    pub detail: String,
    /// The log's origin (the verifier key's name).
    pub origin: String,
    /// The log's verifier key, in text form.
    pub verifier_key: String,
    /// The target, e.g. `github:owner/name/prefix`.
    pub target: String,
    /// When the refusal happened, in seconds since the Unix epoch.
    pub detected_at: u64,
    /// The checkpoint read from the target (the last published one), if any.
    pub published_checkpoint: Option<String>,
    /// The same, in base64, if it was not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_checkpoint_base64: Option<String>,
    /// The checkpoint the log served.
    pub latest_checkpoint: Option<String>,
    /// The same, in base64, if it was not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_checkpoint_base64: Option<String>,
    /// The consistency proof the log served, if one was fetched.
    pub consistency_proof: Option<ProofEvidence>,
}

/// A consistency proof, in the log's read-API JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProofEvidence {
    /// The smaller tree size.
    pub first: u64,
    /// The larger tree size.
    pub second: u64,
    /// The proof's hashes, standard base64.
    pub proof: Vec<String>,
}

impl ProofEvidence {
    pub(crate) fn new(first: u64, second: u64, proof: &[Hash]) -> Self {
        ProofEvidence {
            first,
            second,
            proof: proof.iter().map(Hash::to_base64).collect(),
        }
    }
}

/// Splits raw checkpoint bytes into (text, base64-if-not-UTF-8).
pub(crate) fn checkpoint_fields(bytes: Option<&[u8]>) -> (Option<String>, Option<String>) {
    match bytes.map(std::str::from_utf8) {
        None => (None, None),
        Some(Ok(text)) => (Some(text.to_owned()), None),
        Some(Err(_)) => (None, bytes.map(|b| B64.encode(b))),
    }
}

impl Evidence {
    /// The file name: `stateanchor-evidence-<time>-<reason>.json`, with a
    /// counter before `.json` if that name is taken.
    fn file_name(&self, n: u32) -> String {
        let counter = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        format!(
            "stateanchor-evidence-{}-{}{counter}.json",
            self.detected_at, self.reason
        )
    }

    /// Writes the evidence as pretty JSON into `dir` (created if missing),
    /// never overwriting a file; returns the file's path.
    ///
    /// # Errors
    /// The I/O error, with the path.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, (PathBuf, std::io::Error)> {
        std::fs::create_dir_all(dir).map_err(|e| (dir.to_owned(), e))?;
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| (dir.to_owned(), e.into()))?;
        json.push(b'\n');
        for n in 0.. {
            let path = dir.join(self.file_name(n));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(&json)
                        .and_then(|()| f.sync_all())
                        .map_err(|e| (path.clone(), e))?;
                    return Ok(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {}
                Err(e) => return Err((path, e)),
            }
        }
        Err((
            dir.to_owned(),
            std::io::Error::other("no free evidence file name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let ev = Evidence {
            stateanchor_evidence: 1,
            reason: "fork".into(),
            detail: "d".into(),
            origin: "o".into(),
            verifier_key: "k".into(),
            target: "dir:/x".into(),
            detected_at: 7,
            published_checkpoint: Some("a\n".into()),
            published_checkpoint_base64: None,
            latest_checkpoint: None,
            latest_checkpoint_base64: Some("/w==".into()),
            consistency_proof: Some(ProofEvidence::new(1, 2, &[Hash::EMPTY])),
        };
        let a = ev.write_to(dir.path()).unwrap();
        let b = ev.write_to(dir.path()).unwrap();
        assert_ne!(a, b);
        assert!(a.ends_with("stateanchor-evidence-7-fork.json"));
        assert!(b.ends_with("stateanchor-evidence-7-fork-1.json"));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&a).unwrap()).unwrap();
        assert_eq!(v["reason"], "fork");
        assert_eq!(v["consistency_proof"]["proof"][0], Hash::EMPTY.to_base64());
        assert!(v.get("published_checkpoint_base64").is_none());
        assert_eq!(
            checkpoint_fields(Some(&[0xff])),
            (None, Some("/w==".into()))
        );
    }
}
