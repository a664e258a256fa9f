//! `README.md`: what a publication is, how to verify it, and the witness
//! policy its checkpoints meet. Pure: the text is a function of the
//! configuration alone (no tree size, no date), so it is rewritten only when
//! the configuration changes.

use crate::Target;
use crate::policy::WitnessPolicy;
use crate::target::LogInfo;

/// The first line of every `README.md` the publisher writes. A `README.md`
/// that does not start with it is someone else's and is never overwritten.
pub(crate) const MARKER: &str = "<!-- Written by stateanchor-publish.";

/// Whether a `README.md` found in the target was written by a publisher
/// (and may be rewritten).
pub(crate) fn is_ours(readme: &[u8]) -> bool {
    readme.starts_with(MARKER.as_bytes())
}

/// What the README describes.
pub(crate) struct ReadmeInput<'a> {
    pub info: &'a LogInfo,
    pub target: &'a Target,
    /// `--github-api`, when it is not GitHub's own.
    pub github_api: Option<&'a str>,
    pub policy: Option<&'a WitnessPolicy>,
}

/// The longest run of backticks in `s`.
fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// `s` as a Markdown code span, whatever backticks it holds.
fn code(s: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(s) + 1);
    if s.starts_with('`') || s.ends_with('`') {
        format!("{fence} {s} {fence}")
    } else {
        format!("{fence}{s}{fence}")
    }
}

/// `text` as a fenced Markdown code block (the fence longer than any run of
/// backticks in it), with a final newline.
fn code_block(info: &str, text: &str) -> String {
    let fence = "`".repeat(longest_backtick_run(text).max(2) + 1);
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{info}\n{text}{newline}{fence}\n")
}

/// `s` quoted for a POSIX shell, bare when it needs no quotes.
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "+/=.,:_-@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The README's text.
pub(crate) fn render(r: &ReadmeInput<'_>) -> String {
    let info = r.info;
    let origin = code(&info.origin);
    let mut out = format!(
        "{MARKER} It is rewritten when the log's description or witness policy changes: \
         change the publisher's configuration, not this file. -->\n\
         # Checkpoints of the transparency log {origin}\n\n"
    );
    let log = info
        .log_url
        .as_deref()
        .map_or(String::new(), |u| format!(" ({u})"));
    let checks = if r.policy.is_some() {
        "verifying the log's signature, checking that its witnesses' cosignatures meet the \
         witness policy below,"
    } else {
        "verifying the log's signature"
    };
    out += &format!(
        "This directory publishes the signed checkpoints (tree heads) of the transparency log \
         {origin}{log}. `stateanchor-publish` writes a checkpoint here only after {checks} and \
         proving that the log's tree extends the checkpoint published before it, so anyone can \
         check that the log never rewrote its history or showed different histories to \
         different people.\n\n"
    );
    out += &format!("- Origin: {origin}\n");
    out += &format!("- Verifier key: {}\n", code(&info.verifier_key));
    if let Some(url) = &info.log_url {
        out += &format!("- Log: <{url}>\n");
    }
    out += &format!(
        "- Witness policy: {}\n\n",
        match r.policy {
            Some(p) => format!("quorum {}", p.policy().describe_quorum()),
            None => "none".to_owned(),
        }
    );

    let cosigned = if r.policy.is_some() {
        ", with its witnesses' `cosignature/v1` lines"
    } else {
        ""
    };
    let described = if r.policy.is_some() {
        "the origin, verifier key, log URL and witness policy"
    } else {
        "the origin, verifier key and log URL"
    };
    out += "## Layout\n\n";
    out += "| path | contents |\n|---|---|\n";
    out += &format!(
        "| `checkpoint` | the latest published checkpoint (a C2SP tlog-checkpoint signed note), \
         byte for byte as the log served it{cosigned} |\n"
    );
    out += "| `checkpoints/<tree size>` | every published checkpoint, by tree size; never rewritten |\n";
    out += &format!("| `log.json` | {described}, as JSON |\n");
    out += "| `README.md` | this file |\n\n";

    out += "## How to verify\n\n";
    let trusted = if r.policy.is_some() {
        "the log's verifier key and the witness policy (saved as `policy.txt`)"
    } else {
        "the log's verifier key"
    };
    let (repo, where_) = match r.target {
        Target::Dir { .. } => ("dir:.".to_owned(), " in a clone of this repository"),
        Target::GitHub { .. } => (r.target.to_string(), ""),
    };
    out += &format!(
        "Take {trusted} from a source you trust: the copies here are for reference, and \
         whoever can write this repository can change them. Then run{where_}:\n\n"
    );
    let mut cmd = format!(
        "stateanchor-verify published --log {} --key {}",
        info.log_url
            .as_deref()
            .map_or("LOG_URL".to_owned(), shell_word),
        shell_word(&info.verifier_key),
    );
    if r.policy.is_some() {
        cmd += " --policy policy.txt";
    }
    cmd += &format!(" --repo {}", shell_word(&repo));
    if let (Target::GitHub { .. }, Some(api)) = (r.target, r.github_api) {
        cmd += &format!(" --github-api {}", shell_word(api));
    }
    out += &code_block("sh", &cmd);
    out += "\nIt checks that every checkpoint here is signed by the log's key and filed under its \
            tree size, and that they are all consistent with each other and with the log.";
    if r.policy.is_some() {
        out += " With `--policy`, it also checks the witnesses' cosignatures against the policy.";
    }
    out += "\n\n## Witness policy\n\n";
    match r.policy {
        Some(p) => {
            out += "Every checkpoint published here since this policy was configured was verified, \
                    before it was published, to be signed by the log and cosigned by a quorum of \
                    the policy's witnesses (C2SP tlog-policy, <https://c2sp.org/tlog-policy>):\n\n";
            out += &code_block("", p.text());
            out += &format!("\nQuorum: {}.\n", p.policy().describe_quorum());
        }
        None => {
            out += "None: checkpoints are published with the log's signature alone; no witness \
                    cosignature is required.\n";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_and_blocks_hold_any_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(code_block("", "x\n"), "```\nx\n```\n");
        assert_eq!(code_block("sh", "x"), "```sh\nx\n```\n");
        assert_eq!(code_block("", "# ````\n"), "`````\n# ````\n`````\n");
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_word("log.example.com+1a2b3c4d+AeHT/u4Q3h="),
            "log.example.com+1a2b3c4d+AeHT/u4Q3h="
        );
        assert_eq!(
            shell_word("https://log.example.com"),
            "https://log.example.com"
        );
        assert_eq!(shell_word("https://x/?a=1&b=2"), "'https://x/?a=1&b=2'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn ours_or_not() {
        assert!(is_ours(format!("{MARKER} x -->\n# y\n").as_bytes()));
        assert!(!is_ours(b"roots\n"));
        assert!(!is_ours(b""));
    }
}

#[cfg(test)]
mod render_tests {
    use tlog::{CosignerKey, SignerKey};

    use super::*;

    fn log_key() -> tlog::VerifierKey {
        SignerKey::from_seed("log.example.com", &[1; 32])
            .unwrap()
            .verifier_key()
    }

    /// A policy: the log, four witnesses, two groups, with comments.
    fn policy_text(comment: &str) -> String {
        let w = |i: u8| {
            CosignerKey::from_seed(&format!("w{i}.example"), &[i; 32])
                .unwrap()
                .verifier()
                .to_text()
        };
        format!(
            "# {comment}\nlog {} https://log.example.com\n\nwitness A {} https://a.example/\nwitness B {}\nwitness C {}\nwitness D {}\ngroup CD any C D\ngroup G 2 A B CD\nquorum G\n",
            log_key().to_text(),
            w(2),
            w(3),
            w(4),
            w(5)
        )
    }

    fn info(policy: Option<&WitnessPolicy>) -> LogInfo {
        LogInfo {
            origin: "log.example.com".into(),
            verifier_key: log_key().to_text(),
            log_url: Some("https://log.example.com".into()),
            witness_policy: policy.map(|p| p.text().to_owned()),
        }
    }

    /// Compares with a golden file in `publisher/testdata/`; set
    /// `UPDATE_GOLDEN=1` to rewrite it (then review the diff).
    fn golden(name: &str, got: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap();
        assert!(got == want, "{} differs; got:\n{got}", path.display());
    }

    #[test]
    fn readme_with_a_policy_names_it_and_its_quorum() {
        let policy = WitnessPolicy::parse(&policy_text("two of A, B and (C or D)")).unwrap();
        let info = info(Some(&policy));
        let target: Target = "github:example/roots/prod".parse().unwrap();
        let got = render(&ReadmeInput {
            info: &info,
            target: &target,
            github_api: None,
            policy: Some(&policy),
        });
        golden("README.github-policy.md", &got);
        // What the golden file must show, spelled out.
        assert!(is_ours(got.as_bytes()));
        assert!(got.contains(&format!("```\n{}```\n", policy.text())));
        assert!(got.contains("Quorum: G = 2 of (A, B, CD); CD = any of (C, D).\n"));
        assert!(got.contains(&format!(
            "stateanchor-verify published --log https://log.example.com --key {} --policy policy.txt --repo github:example/roots/prod\n",
            log_key().to_text()
        )));
    }

    #[test]
    fn readme_without_a_policy_says_none() {
        let target: Target = "dir:/srv/roots".parse().unwrap();
        let got = render(&ReadmeInput {
            info: &info(None),
            target: &target,
            github_api: None,
            policy: None,
        });
        golden("README.dir.md", &got);
        assert!(!got.contains("--policy"));
        assert!(
            !got.contains("/srv/roots"),
            "the publisher's own path is not published"
        );
        assert!(got.contains("--repo dir:.\n"));
        assert!(got.contains("- Witness policy: none\n"));
    }

    #[test]
    fn readme_edge_cases() {
        // A comment with backticks cannot close the policy's code block.
        let policy = WitnessPolicy::parse(&policy_text("not ``` the end")).unwrap();
        let target: Target = "github:example/roots".parse().unwrap();
        let got = render(&ReadmeInput {
            info: &LogInfo {
                log_url: None,
                ..info(Some(&policy))
            },
            target: &target,
            github_api: Some("https://ghe.example/api/v3"),
            policy: Some(&policy),
        });
        assert!(got.contains(&format!("````\n{}````\n", policy.text())));
        // No URL: a placeholder; GitHub Enterprise: its API.
        assert!(got.contains(
            "--log LOG_URL --key log.example.com+04603546+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c --policy policy.txt --repo github:example/roots --github-api https://ghe.example/api/v3\n"
        ));
        assert!(!got.contains("- Log:"));
        // `quorum none`: said in words.
        let none = format!("log {}\nquorum none\n", log_key().to_text());
        let policy = WitnessPolicy::parse(&none).unwrap();
        let got = render(&ReadmeInput {
            info: &info(Some(&policy)),
            target: &target,
            github_api: None,
            policy: Some(&policy),
        });
        assert!(got.contains("- Witness policy: quorum none (no cosignature)\n"));
    }
}
