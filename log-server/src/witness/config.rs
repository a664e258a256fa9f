//! The list of logs a witness follows: a C2SP tlog-policy file
//! (<https://c2sp.org/tlog-policy>, parsed by [`tlog::Policy`]) with one
//! `log` line per log key and `quorum none`.
//!
//! ```text
//! # comments and blank lines are ignored
//! log example.com/log+1a2b3c4d+AQ... https://example.com/log
//! log other.example/log+5e6f7a8b+AQ...
//! quorum none
//! ```
//!
//! Each vkey's name is the log's origin. Two lines with one public key are
//! refused (tlog-policy); two keys with one name are two keys of one log
//! (a rotation), and a checkpoint signed by either is accepted. Witness
//! and group lines, and any quorum other than `none`, are refused: they
//! would say something about cosigners, and a witness has no use for it.

use tlog::{Policy, PolicyLog};

/// Parses the list of logs.
///
/// # Errors
/// A message naming the problem: the policy's own errors (with their line
/// numbers), or witness, group or quorum lines that a list of logs does
/// not have.
pub fn parse_log_list(text: &str) -> Result<Vec<PolicyLog>, String> {
    let policy = Policy::parse(text).map_err(|e| e.to_string())?;
    if !policy.witnesses().is_empty() || !policy.groups().is_empty() || !policy.quorum_is_none() {
        return Err(
            "a witness's list of logs has `log` lines and `quorum none` only (no witness or group lines)"
                .to_owned(),
        );
    }
    Ok(policy.logs().to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tlog::{CosignerKey, SignerKey};

    fn vkey(name: &str, seed: u8) -> String {
        SignerKey::from_seed(name, &[seed; 32])
            .unwrap()
            .verifier_key()
            .to_text()
    }

    #[test]
    fn parses_log_lines() {
        let (a, b) = (vkey("a.example/log", 1), vkey("b.example/log", 2));
        let text = format!("# logs\n\n  log {a} https://a.example/log\nlog\t{b}\t\nquorum none\n");
        let logs = parse_log_list(&text).unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[0].key.name(), "a.example/log");
        assert_eq!(logs[0].url.as_deref(), Some("https://a.example/log"));
        assert_eq!(logs[1].key.name(), "b.example/log");
        assert_eq!(logs[1].url, None);
    }

    #[test]
    fn refuses_what_a_list_of_logs_does_not_have() {
        let a = vkey("a.example/log", 1);
        let renamed = vkey("other.example/log", 1);
        let w = CosignerKey::from_seed("w.example", &[3; 32])
            .unwrap()
            .verifier()
            .to_text();
        for (text, want) in [
            (format!("log {a}\n"), "quorum"),
            (
                format!("log {a}\nwitness W {w}\nquorum none\n"),
                "`log` lines",
            ),
            (format!("log {a}\nwitness W {w}\nquorum W\n"), "`log` lines"),
            ("log nonsense\nquorum none\n".to_owned(), "line 1"),
            (format!("\nlog {a}\nlog {renamed}\nquorum none\n"), "line 3"),
            (format!("log {a}\r\nquorum none\n"), "line 1"),
        ] {
            let err = parse_log_list(&text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
