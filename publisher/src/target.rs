//! Publication targets (`github:OWNER/NAME[/PREFIX]`, `dir:PATH`) and the
//! layout written into them: pure, no I/O.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Where checkpoints are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A GitHub repository, written through the REST contents API.
    GitHub {
        /// Repository owner (user or organization).
        owner: String,
        /// Repository name.
        name: String,
        /// Folder inside the repository, without leading or trailing `/`;
        /// empty for the repository's root.
        prefix: String,
    },
    /// A local git repository; each publication is one commit on `HEAD`.
    Dir {
        /// The repository's working directory.
        path: PathBuf,
    },
}

fn invalid(target: &str, reason: &'static str) -> Error {
    Error::InvalidTarget {
        target: target.to_owned(),
        reason,
    }
}

/// GitHub owner and repository names: ASCII letters, digits, `-`, `_`, `.`,
/// and not `.` or `..`.
fn valid_github_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl FromStr for Target {
    type Err = Error;

    /// Parses `github:OWNER/NAME[/PREFIX]` or `dir:PATH`.
    fn from_str(s: &str) -> Result<Self, Error> {
        if let Some(rest) = s.strip_prefix("github:") {
            let rest = rest.trim_end_matches('/');
            let mut parts = rest.splitn(3, '/');
            let owner = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            let prefix = parts.next().unwrap_or_default();
            if !valid_github_name(owner) || !valid_github_name(name) {
                return Err(invalid(
                    s,
                    "want github:OWNER/NAME[/PREFIX] with OWNER and NAME made of letters, digits, '-', '_' and '.'",
                ));
            }
            if !prefix.is_empty() && !prefix.split('/').all(valid_github_name) {
                return Err(invalid(
                    s,
                    "PREFIX must be folder names made of letters, digits, '-', '_' and '.', separated by '/'",
                ));
            }
            Ok(Target::GitHub {
                owner: owner.to_owned(),
                name: name.to_owned(),
                prefix: prefix.to_owned(),
            })
        } else if let Some(path) = s.strip_prefix("dir:") {
            if path.is_empty() {
                return Err(invalid(s, "want dir:PATH"));
            }
            Ok(Target::Dir { path: path.into() })
        } else {
            Err(invalid(s, "want github:OWNER/NAME[/PREFIX] or dir:PATH"))
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::GitHub {
                owner,
                name,
                prefix,
            } if prefix.is_empty() => write!(f, "github:{owner}/{name}"),
            Target::GitHub {
                owner,
                name,
                prefix,
            } => write!(f, "github:{owner}/{name}/{prefix}"),
            Target::Dir { path } => write!(f, "dir:{}", path.display()),
        }
    }
}

/// File paths of a publication, relative to the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    prefix: String,
}

impl Layout {
    /// The layout under `prefix` (empty for the root).
    pub(crate) fn new(prefix: &str) -> Self {
        Layout {
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }
    }

    /// `checkpoint`: the latest published checkpoint.
    pub(crate) fn checkpoint(&self) -> String {
        format!("{}checkpoint", self.prefix)
    }

    /// `checkpoints/<tree size>`: every published checkpoint.
    pub(crate) fn history(&self, tree_size: u64) -> String {
        format!("{}checkpoints/{tree_size}", self.prefix)
    }

    /// `log.json`: what log this is.
    pub(crate) fn log_json(&self) -> String {
        format!("{}log.json", self.prefix)
    }

    /// `README.md`: what the publication is and how to verify it.
    pub(crate) fn readme(&self) -> String {
        format!("{}README.md", self.prefix)
    }
}

/// The contents of `log.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogInfo {
    /// The log's origin.
    pub origin: String,
    /// The log's verifier key, in text form (`<name>+<key ID>+<key>`).
    pub verifier_key: String,
    /// The log's public URL, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
    /// The witness policy's text (C2SP tlog-policy) that published
    /// checkpoints must meet, if one is configured. Absent otherwise, so
    /// that a publication without a policy is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_policy: Option<String>,
}

impl LogInfo {
    /// The file's bytes: pretty JSON with a final newline.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// Commit message of a publication.
pub(crate) fn publish_message(origin: &str, tree_size: u64, previous: Option<u64>) -> String {
    match previous {
        Some(p) => format!("{origin}: publish checkpoint at tree size {tree_size} (was {p})"),
        None => {
            format!("{origin}: publish checkpoint at tree size {tree_size} (first publication)")
        }
    }
}

/// Commit message of a `checkpoints/<tree size>` file written on its own.
pub(crate) fn history_message(origin: &str, tree_size: u64) -> String {
    format!("{origin}: archive checkpoint at tree size {tree_size}")
}

/// Commit message of a `log.json` written on its own.
pub(crate) fn log_json_message(origin: &str, tree_size: u64) -> String {
    format!("{origin}: describe the log in log.json (tree size {tree_size})")
}

/// Commit message of a `README.md` written on its own.
pub(crate) fn readme_message(origin: &str, tree_size: u64) -> String {
    format!("{origin}: describe the publication in README.md (tree size {tree_size})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_targets() {
        let gh = |o: &str, n: &str, p: &str| Target::GitHub {
            owner: o.into(),
            name: n.into(),
            prefix: p.into(),
        };
        let ok: &[(&str, Target)] = &[
            ("github:acme/roots", gh("acme", "roots", "")),
            ("github:acme/roots/", gh("acme", "roots", "")),
            (
                "github:acme/roots/logs/prod",
                gh("acme", "roots", "logs/prod"),
            ),
            ("github:a-b/c.d_e/x", gh("a-b", "c.d_e", "x")),
            (
                "dir:/tmp/x y",
                Target::Dir {
                    path: "/tmp/x y".into(),
                },
            ),
        ];
        for (s, want) in ok {
            let got: Target = s.parse().unwrap();
            assert_eq!(&got, want, "{s}");
            assert_eq!(got.to_string(), s.trim_end_matches('/'));
        }
        for bad in [
            "github:",
            "github:acme",
            "github:acme/",
            "github:/roots",
            "github:acme/roots//x",
            "github:acme/roots/../x",
            "github:acme/ro ots",
            "github:acme/roots/a?b",
            "dir:",
            "file:/tmp",
            "/tmp",
        ] {
            // Pin the variant: a bad target is a usage error, never a refusal.
            assert!(
                matches!(bad.parse::<Target>(), Err(Error::InvalidTarget { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn layout_paths() {
        let l = Layout::new("");
        assert_eq!(l.checkpoint(), "checkpoint");
        assert_eq!(l.history(12), "checkpoints/12");
        assert_eq!(l.log_json(), "log.json");
        assert_eq!(l.readme(), "README.md");
        let l = Layout::new("logs/prod");
        assert_eq!(l.checkpoint(), "logs/prod/checkpoint");
        assert_eq!(l.history(0), "logs/prod/checkpoints/0");
        assert_eq!(l.log_json(), "logs/prod/log.json");
        assert_eq!(l.readme(), "logs/prod/README.md");
    }

    #[test]
    fn log_json_bytes() {
        let info = LogInfo {
            origin: "example.com/log".into(),
            verifier_key: "k".into(),
            log_url: None,
            witness_policy: None,
        };
        assert_eq!(
            String::from_utf8(info.to_bytes()).unwrap(),
            "{\n  \"origin\": \"example.com/log\",\n  \"verifier_key\": \"k\"\n}\n"
        );
        // With a URL and a policy: the fields in this order, the policy's
        // text as given (newlines escaped by JSON).
        let info = LogInfo {
            log_url: Some("https://log.example.com".into()),
            witness_policy: Some("log k\nquorum none\n".into()),
            ..info
        };
        assert_eq!(
            String::from_utf8(info.to_bytes()).unwrap(),
            "{\n  \"origin\": \"example.com/log\",\n  \"verifier_key\": \"k\",\n  \"log_url\": \"https://log.example.com\",\n  \"witness_policy\": \"log k\\nquorum none\\n\"\n}\n"
        );
        // A log.json written before policies existed still parses.
        let old: LogInfo =
            serde_json::from_str("{\"origin\": \"o\", \"verifier_key\": \"k\"}").unwrap();
        assert_eq!(old.witness_policy, None);
    }

    #[test]
    fn messages_name_origin_and_size() {
        assert_eq!(
            publish_message("example.com/log", 7, None),
            "example.com/log: publish checkpoint at tree size 7 (first publication)"
        );
        assert_eq!(
            publish_message("example.com/log", 9, Some(7)),
            "example.com/log: publish checkpoint at tree size 9 (was 7)"
        );
    }
}
