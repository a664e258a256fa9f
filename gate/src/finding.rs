//! Findings: what the gate reports, and their stable fingerprints.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How severe a change is (oasdiff's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// Non-breaking.
    #[serde(rename = "INFO")]
    Info,
    /// Potentially breaking; cannot be decided from the documents alone.
    #[serde(rename = "WARN")]
    Warn,
    /// Breaking.
    #[serde(rename = "ERR")]
    Err,
}

impl Severity {
    /// `ERR`, `WARN` or `INFO`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Err => "ERR",
            Severity::Warn => "WARN",
            Severity::Info => "INFO",
        }
    }

    /// Parses `ERR`/`WARN`/`INFO` (any case; `error`, `warning` too).
    #[must_use]
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "err" | "error" => Some(Severity::Err),
            "warn" | "warning" => Some(Severity::Warn),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a finding is in one document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The file: the document's name, or the referenced file's normalized path.
    pub file: String,
    /// RFC 6901 JSON pointer into that file.
    pub pointer: String,
    /// 1-based line, where the input was text that the YAML reader could place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// oasdiff's rule id, e.g. `response-required-property-removed`.
    pub rule: String,
    /// The same id in snake_case: what exceptions are filed against.
    pub kind: String,
    /// `METHOD /path` (method upper-case), or `/path` style names for
    /// document-wide changes (`components`, `security`, `webhooks NAME`).
    pub endpoint: String,
    /// The severity after the configuration's overrides.
    pub severity: Severity,
    /// One human sentence.
    pub detail: String,
    /// What the finding is about inside the endpoint (a property path, a
    /// parameter, a status code); part of the fingerprint.
    pub subject: String,
    /// Where in the base document, if the change has a place there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<Location>,
    /// Where in the revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<Location>,
    /// Stable id: see [`fingerprint`].
    pub fingerprint: String,
}

/// The fingerprint of a finding: the first 16 hex digits of
/// `SHA-256(rule 0x00 endpoint 0x00 subject 0x00 base_pointer 0x00 revision_pointer)`,
/// where a missing location is the empty string. Line numbers and file names
/// are not part of it, so it survives edits elsewhere in the document.
#[must_use]
pub fn fingerprint(
    rule: &str,
    endpoint: &str,
    subject: &str,
    base_pointer: &str,
    revision_pointer: &str,
) -> String {
    let mut h = Sha256::new();
    for (i, part) in [rule, endpoint, subject, base_pointer, revision_pointer]
        .iter()
        .enumerate()
    {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(part.as_bytes());
    }
    let d = h.finalize();
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `request-property-removed` → `request_property_removed`.
#[must_use]
pub fn kind_of(rule: &str) -> String {
    rule.replace('-', "_")
}
