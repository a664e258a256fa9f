//! C2SP tlog-policy (<https://c2sp.org/tlog-policy>): which logs and
//! witnesses are trusted, and which witnesses must cosign a checkpoint.
//!
//! ```text
//! log <vkey> [<url>]
//! witness <name> <vkey> [<url>]
//! group <name> all|any|<k> <member>...
//! quorum <name>|none
//! ```
//!
//! # Decisions the specification leaves open
//!
//! - Every line, the last included, must end in a newline; a carriage
//!   return is a control character and is refused.
//! - A log key must have signature type `0x01` (Ed25519) and a witness key
//!   `0x04` (`cosignature/v1`); a witness line with a `0x01` key (or a log
//!   line with a `0x04` key) is refused with
//!   [`PolicyProblem::WrongKeyType`], never reinterpreted.
//! - Duplicate keys are refused within logs and within witnesses (the same
//!   Ed25519 public key, whatever the names). A log and a witness may share
//!   a public key: the signed messages are domain-separated and the
//!   specification does not forbid it.
//! - A numeric threshold is decimal digits (leading zeros allowed, as
//!   "written in decimal" allows them) with `1 <= k <= n`.
//! - The input is text (`&str`): names with octets above 0x7F must be
//!   UTF-8, and are compared as octets (no Unicode normalization).
//! - Limits: [`MAX_POLICY_LOGS`], [`MAX_POLICY_WITNESSES`] and
//!   [`MAX_POLICY_GROUPS`] (the specification recommends at least 32 each).
//!
//! # Verifying a checkpoint
//!
//! [`Policy::verify_checkpoint`] follows signed-note's rules for every key:
//! signature lines whose key name and key ID match no policy key are
//! ignored; a line that matches a policy key must verify, or the whole
//! checkpoint is refused (fail closed, as [`Note::verify`] does). A
//! cosignature timestamped more than [`MAX_COSIGNATURE_CLOCK_SKEW`] seconds
//! after `now` is refused. A witness that cosigned twice counts once.

use crate::Error;
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::cosignature::{ALG_COSIGNATURE_V1, CosignerVerifier, Vkey};
use crate::note::{ALG_ED25519, Note, VerifierKey};

/// Most `log` lines a policy may have.
pub const MAX_POLICY_LOGS: usize = 1024;
/// Most `witness` lines a policy may have.
pub const MAX_POLICY_WITNESSES: usize = 1024;
/// Most `group` lines a policy may have.
pub const MAX_POLICY_GROUPS: usize = 1024;

/// How far in the future (seconds after the verifier's `now`) a
/// cosignature's timestamp may be before it is refused: one minute, for
/// witnesses whose clocks run a little ahead.
pub const MAX_COSIGNATURE_CLOCK_SKEW: u64 = 60;

/// What is wrong with one line of a policy file ([`Error::MalformedPolicy`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyProblem {
    /// An octet the format does not allow (a control character other than
    /// tab and newline, or DEL).
    #[error("character 0x{byte:02x} is not allowed (only tab, newline, 0x20-0x7e and 0x80-0xff)")]
    ForbiddenCharacter {
        /// The octet.
        byte: u8,
    },
    /// The line is not valid UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// The file's last line has no newline.
    #[error("the last line does not end in a newline")]
    NoFinalNewline,
    /// A line starts with a word that is not a keyword.
    #[error("unknown keyword {keyword:?} (want log, witness, group or quorum)")]
    UnknownKeyword {
        /// The word.
        keyword: String,
    },
    /// A line has too few or too many items.
    #[error("wrong number of items: want `{usage}`")]
    WrongArity {
        /// The line's form.
        usage: &'static str,
    },
    /// A key could not be parsed.
    #[error("invalid vkey: {0}")]
    InvalidKey(Box<Error>),
    /// A key has the signature type of the other role.
    #[error(
        "a {role} key must have signature type 0x{want:02x} ({want_name}), this one has 0x{got:02x}",
        want_name = if *want == ALG_COSIGNATURE_V1 { "cosignature/v1" } else { "Ed25519" }
    )]
    WrongKeyType {
        /// `log` or `witness`.
        role: &'static str,
        /// The type byte the role needs.
        want: u8,
        /// The key's type byte.
        got: u8,
    },
    /// Two logs, or two witnesses, have the same public key.
    #[error("duplicate {role}: same public key as line {first_line}")]
    DuplicateKey {
        /// `log` or `witness`.
        role: &'static str,
        /// The line that defined it first.
        first_line: usize,
    },
    /// A witness or group name is already defined (or is `none`).
    #[error("name {name:?} is already defined{}", match first_line { Some(l) => format!(" on line {l}"), None => " (it is predefined)".to_owned() })]
    DuplicateName {
        /// The name.
        name: String,
        /// The line that defined it, `None` for the predefined `none`.
        first_line: Option<usize>,
    },
    /// A group member or the quorum names nothing defined on an earlier line.
    #[error("name {name:?} is not defined on an earlier line")]
    UndefinedName {
        /// The name.
        name: String,
    },
    /// `none` is listed as a group member.
    #[error("`none` cannot be a group member")]
    NoneAsMember,
    /// A group lists a member twice.
    #[error("group member {name:?} is listed twice")]
    DuplicateMember {
        /// The member's name.
        name: String,
    },
    /// A group's threshold is not `all`, `any` or a decimal number.
    #[error("threshold {text:?} is not all, any or a decimal number")]
    MalformedThreshold {
        /// The threshold as written.
        text: String,
    },
    /// A group's numeric threshold is not between 1 and its member count.
    #[error("threshold {k} is not between 1 and the group's {n} members")]
    ThresholdOutOfRange {
        /// The threshold as written.
        k: String,
        /// How many members the group lists.
        n: usize,
    },
    /// A second `quorum` line.
    #[error("second quorum line (the first is line {first_line})")]
    SecondQuorum {
        /// The first quorum line.
        first_line: usize,
    },
    /// More logs, witnesses or groups than this implementation supports.
    #[error("more than {max} {what}")]
    TooMany {
        /// `logs`, `witnesses` or `groups`.
        what: &'static str,
        /// The limit.
        max: usize,
    },
}

/// A `log` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyLog {
    /// The log's key; its name is the log's origin.
    pub key: VerifierKey,
    /// The URL, if given (its meaning is the application's).
    pub url: Option<String>,
}

/// A `witness` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyWitness {
    /// The witness's name in the policy (not its key's name).
    pub name: String,
    /// The witness's cosigner key.
    pub key: CosignerVerifier,
    /// The URL, if given (for tlog-witness, its submission prefix).
    pub url: Option<String>,
}

/// A `group` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyGroup {
    /// The group's name.
    pub name: String,
    /// How many members must have witnessed (`all` is the member count,
    /// `any` is 1).
    pub threshold: usize,
    /// The members' names, as listed.
    pub members: Vec<String>,
}

/// A witness that cosigned a checkpoint, as verified under a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosigner {
    /// The witness's name in the policy.
    pub name: String,
    /// The name of its key (the name on the signature line).
    pub key_name: String,
    /// The cosignature's timestamp, POSIX seconds (the latest, if the
    /// witness cosigned more than once).
    pub timestamp: u64,
}

/// A checkpoint verified under a policy: signed by one of its logs, and
/// cosigned by a quorum of its witnesses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessedCheckpoint {
    /// The checkpoint and its note, with every signature line it carried.
    pub checkpoint: SignedCheckpoint,
    /// The policy's log whose signature verified.
    pub log: VerifierKey,
    /// The policy's witnesses whose cosignatures verified, in policy order.
    pub cosigners: Vec<Cosigner>,
}

/// A witness or a group, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Witness(usize),
    Group(usize),
}

/// A parsed, valid policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<PolicyGroup>,
    /// Each group's members, resolved (same order as `groups`).
    group_nodes: Vec<Vec<Node>>,
    /// `None` for `quorum none`.
    quorum: Option<Node>,
}

/// Items of a line: split on runs of spaces and tabs.
fn items(line: &str) -> Vec<&str> {
    line.split([' ', '\t']).filter(|s| !s.is_empty()).collect()
}

fn allowed_octet(b: u8) -> bool {
    matches!(b, 0x09 | 0x0a | 0x20..=0x7e | 0x80..=0xff)
}

/// What a name is bound to while parsing.
struct Names {
    /// `(name, line, node)`.
    defined: Vec<(String, usize, Node)>,
}

impl Names {
    fn get(&self, name: &str) -> Option<&(String, usize, Node)> {
        self.defined.iter().find(|(n, _, _)| n == name)
    }

    fn check_new(&self, name: &str) -> Result<(), PolicyProblem> {
        if name == "none" {
            return Err(PolicyProblem::DuplicateName {
                name: name.to_owned(),
                first_line: None,
            });
        }
        if let Some((_, line, _)) = self.get(name) {
            return Err(PolicyProblem::DuplicateName {
                name: name.to_owned(),
                first_line: Some(*line),
            });
        }
        Ok(())
    }
}

fn parse_threshold(text: &str, n: usize) -> Result<usize, PolicyProblem> {
    match text {
        "all" => return Ok(n),
        "any" => return Ok(1),
        _ => {}
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PolicyProblem::MalformedThreshold {
            text: text.to_owned(),
        });
    }
    match text.parse::<usize>() {
        Ok(k) if (1..=n).contains(&k) => Ok(k),
        _ => Err(PolicyProblem::ThresholdOutOfRange {
            k: text.to_owned(),
            n,
        }),
    }
}

fn parse_vkey(text: &str, role: &'static str, want: u8) -> Result<Vkey, PolicyProblem> {
    let key = Vkey::from_text(text).map_err(|e| PolicyProblem::InvalidKey(Box::new(e)))?;
    if key.signature_type() != want {
        return Err(PolicyProblem::WrongKeyType {
            role,
            want,
            got: key.signature_type(),
        });
    }
    Ok(key)
}

impl Policy {
    /// Parses a policy file strictly (see the module docs for the
    /// decisions the specification leaves open).
    ///
    /// ```
    /// use tlog::{CosignerKey, Policy, SignerKey};
    ///
    /// let log = SignerKey::from_seed("example.com/log", &[1; 32])?.verifier_key();
    /// let w = |i: u8| CosignerKey::from_seed(&format!("w{i}.example"), &[i; 32]).unwrap().verifier();
    /// let text = format!(
    ///     "log {}\n\nwitness A {}\nwitness B {}\nwitness C {}\n# two of three\ngroup G 2 A B C\nquorum G\n",
    ///     log.to_text(), w(2).to_text(), w(3).to_text(), w(4).to_text(),
    /// );
    /// let policy = Policy::parse(&text)?;
    /// assert_eq!(policy.logs()[0].key, log);
    /// assert!(policy.satisfied_by(&["A", "C"]));
    /// assert!(!policy.satisfied_by(&["B"]));
    /// # Ok::<(), tlog::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MalformedPolicy`] with the line number and the problem;
    /// [`Error::PolicyWithoutQuorum`].
    pub fn parse(text: &str) -> Result<Policy, Error> {
        let mut line_no = 0;
        let fail = |line, problem| Error::MalformedPolicy { line, problem };
        let mut logs: Vec<(PolicyLog, usize)> = Vec::new();
        let mut witnesses: Vec<(PolicyWitness, usize)> = Vec::new();
        let mut groups: Vec<PolicyGroup> = Vec::new();
        let mut group_nodes: Vec<Vec<Node>> = Vec::new();
        let mut names = Names {
            defined: Vec::new(),
        };
        let mut quorum: Option<(Option<Node>, usize)> = None;

        let mut rest = text;
        while !rest.is_empty() {
            line_no += 1;
            let Some((line, after)) = rest.split_once('\n') else {
                if let Some(b) = rest.bytes().find(|b| !allowed_octet(*b)) {
                    return Err(fail(line_no, PolicyProblem::ForbiddenCharacter { byte: b }));
                }
                return Err(fail(line_no, PolicyProblem::NoFinalNewline));
            };
            rest = after;
            if let Some(b) = line.bytes().find(|b| !allowed_octet(*b)) {
                return Err(fail(line_no, PolicyProblem::ForbiddenCharacter { byte: b }));
            }
            let items = items(line);
            let Some(&keyword) = items.first() else {
                continue;
            };
            if keyword.starts_with('#') {
                continue;
            }
            let args = &items[1..];
            match keyword {
                "log" => {
                    let (key, url) = match args {
                        [k] => (k, None),
                        [k, u] => (k, Some(u)),
                        _ => {
                            return Err(fail(
                                line_no,
                                PolicyProblem::WrongArity {
                                    usage: "log <vkey> [<url>]",
                                },
                            ));
                        }
                    };
                    let Vkey::Log(key) =
                        parse_vkey(key, "log", ALG_ED25519).map_err(|p| fail(line_no, p))?
                    else {
                        return Err(fail(
                            line_no,
                            PolicyProblem::WrongKeyType {
                                role: "log",
                                want: ALG_ED25519,
                                got: ALG_COSIGNATURE_V1,
                            },
                        ));
                    };
                    if let Some((_, first_line)) = logs
                        .iter()
                        .find(|(l, _)| l.key.public_key() == key.public_key())
                    {
                        return Err(fail(
                            line_no,
                            PolicyProblem::DuplicateKey {
                                role: "log",
                                first_line: *first_line,
                            },
                        ));
                    }
                    if logs.len() == MAX_POLICY_LOGS {
                        return Err(fail(
                            line_no,
                            PolicyProblem::TooMany {
                                what: "logs",
                                max: MAX_POLICY_LOGS,
                            },
                        ));
                    }
                    logs.push((
                        PolicyLog {
                            key,
                            url: url.map(|u| (*u).to_owned()),
                        },
                        line_no,
                    ));
                }
                "witness" => {
                    let (name, key, url) = match args {
                        [n, k] => (n, k, None),
                        [n, k, u] => (n, k, Some(u)),
                        _ => {
                            return Err(fail(
                                line_no,
                                PolicyProblem::WrongArity {
                                    usage: "witness <name> <vkey> [<url>]",
                                },
                            ));
                        }
                    };
                    names.check_new(name).map_err(|p| fail(line_no, p))?;
                    let Vkey::Cosigner(key) = parse_vkey(key, "witness", ALG_COSIGNATURE_V1)
                        .map_err(|p| fail(line_no, p))?
                    else {
                        return Err(fail(
                            line_no,
                            PolicyProblem::WrongKeyType {
                                role: "witness",
                                want: ALG_COSIGNATURE_V1,
                                got: ALG_ED25519,
                            },
                        ));
                    };
                    if let Some((_, first_line)) = witnesses
                        .iter()
                        .find(|(w, _)| w.key.public_key() == key.public_key())
                    {
                        return Err(fail(
                            line_no,
                            PolicyProblem::DuplicateKey {
                                role: "witness",
                                first_line: *first_line,
                            },
                        ));
                    }
                    if witnesses.len() == MAX_POLICY_WITNESSES {
                        return Err(fail(
                            line_no,
                            PolicyProblem::TooMany {
                                what: "witnesses",
                                max: MAX_POLICY_WITNESSES,
                            },
                        ));
                    }
                    names.defined.push((
                        (*name).to_owned(),
                        line_no,
                        Node::Witness(witnesses.len()),
                    ));
                    witnesses.push((
                        PolicyWitness {
                            name: (*name).to_owned(),
                            key,
                            url: url.map(|u| (*u).to_owned()),
                        },
                        line_no,
                    ));
                }
                "group" => {
                    let [name, threshold, members @ ..] = args else {
                        return Err(fail(
                            line_no,
                            PolicyProblem::WrongArity {
                                usage: "group <name> all|any|<k> <member>...",
                            },
                        ));
                    };
                    if members.is_empty() {
                        return Err(fail(
                            line_no,
                            PolicyProblem::WrongArity {
                                usage: "group <name> all|any|<k> <member>...",
                            },
                        ));
                    }
                    names.check_new(name).map_err(|p| fail(line_no, p))?;
                    let mut nodes = Vec::with_capacity(members.len());
                    for (i, m) in members.iter().enumerate() {
                        if *m == "none" {
                            return Err(fail(line_no, PolicyProblem::NoneAsMember));
                        }
                        let Some((_, _, node)) = names.get(m) else {
                            return Err(fail(
                                line_no,
                                PolicyProblem::UndefinedName {
                                    name: (*m).to_owned(),
                                },
                            ));
                        };
                        if members[..i].contains(m) {
                            return Err(fail(
                                line_no,
                                PolicyProblem::DuplicateMember {
                                    name: (*m).to_owned(),
                                },
                            ));
                        }
                        nodes.push(*node);
                    }
                    let threshold =
                        parse_threshold(threshold, members.len()).map_err(|p| fail(line_no, p))?;
                    if groups.len() == MAX_POLICY_GROUPS {
                        return Err(fail(
                            line_no,
                            PolicyProblem::TooMany {
                                what: "groups",
                                max: MAX_POLICY_GROUPS,
                            },
                        ));
                    }
                    names
                        .defined
                        .push(((*name).to_owned(), line_no, Node::Group(groups.len())));
                    groups.push(PolicyGroup {
                        name: (*name).to_owned(),
                        threshold,
                        members: members.iter().map(|m| (*m).to_owned()).collect(),
                    });
                    group_nodes.push(nodes);
                }
                "quorum" => {
                    let [name] = args else {
                        return Err(fail(
                            line_no,
                            PolicyProblem::WrongArity {
                                usage: "quorum <name>",
                            },
                        ));
                    };
                    if let Some((_, first_line)) = quorum {
                        return Err(fail(line_no, PolicyProblem::SecondQuorum { first_line }));
                    }
                    let node = if *name == "none" {
                        None
                    } else {
                        let Some((_, _, node)) = names.get(name) else {
                            return Err(fail(
                                line_no,
                                PolicyProblem::UndefinedName {
                                    name: (*name).to_owned(),
                                },
                            ));
                        };
                        Some(*node)
                    };
                    quorum = Some((node, line_no));
                }
                other => {
                    return Err(fail(
                        line_no,
                        PolicyProblem::UnknownKeyword {
                            keyword: other.to_owned(),
                        },
                    ));
                }
            }
        }
        let Some((quorum, _)) = quorum else {
            return Err(Error::PolicyWithoutQuorum);
        };
        Ok(Policy {
            logs: logs.into_iter().map(|(l, _)| l).collect(),
            witnesses: witnesses.into_iter().map(|(w, _)| w).collect(),
            groups,
            group_nodes,
            quorum,
        })
    }

    /// Parses a policy file given as bytes. Octets above 0x7F must form
    /// UTF-8.
    ///
    /// # Errors
    /// As [`Policy::parse`]; [`Error::MalformedPolicy`] naming the line of
    /// the first invalid UTF-8 sequence.
    pub fn from_bytes(bytes: &[u8]) -> Result<Policy, Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Policy::parse(text),
            Err(e) => {
                let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
                Err(Error::MalformedPolicy {
                    line: valid.iter().filter(|b| **b == b'\n').count() + 1,
                    problem: PolicyProblem::InvalidUtf8,
                })
            }
        }
    }

    /// The `log` lines, in order.
    #[must_use]
    pub fn logs(&self) -> &[PolicyLog] {
        &self.logs
    }

    /// The `witness` lines, in order.
    #[must_use]
    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }

    /// The `group` lines, in order.
    #[must_use]
    pub fn groups(&self) -> &[PolicyGroup] {
        &self.groups
    }

    /// Whether the quorum is `none`: no cosignature is required.
    #[must_use]
    pub fn quorum_is_none(&self) -> bool {
        self.quorum.is_none()
    }

    /// The quorum's name (a witness or a group), `None` for `quorum none`.
    #[must_use]
    pub fn quorum(&self) -> Option<&str> {
        self.quorum.map(|n| self.node_name(n))
    }

    fn node_name(&self, node: Node) -> &str {
        match node {
            Node::Witness(i) => &self.witnesses[i].name,
            Node::Group(i) => &self.groups[i].name,
        }
    }

    /// Whether witnesses with these policy names (unknown names are
    /// ignored) meet the quorum: a witness meets it by being named, a group
    /// when at least its threshold of members do.
    #[must_use]
    pub fn satisfied_by(&self, cosigned: &[&str]) -> bool {
        let Some(quorum) = self.quorum else {
            return true;
        };
        let witnessed: Vec<bool> = self
            .witnesses
            .iter()
            .map(|w| cosigned.contains(&w.name.as_str()))
            .collect();
        // Groups name only earlier groups: one pass in order decides all.
        let mut groups_ok = Vec::with_capacity(self.groups.len());
        for (g, nodes) in self.groups.iter().zip(&self.group_nodes) {
            let count = nodes
                .iter()
                .filter(|n| match **n {
                    Node::Witness(i) => witnessed[i],
                    Node::Group(i) => groups_ok[i],
                })
                .count();
            groups_ok.push(count >= g.threshold);
        }
        match quorum {
            Node::Witness(i) => witnessed[i],
            Node::Group(i) => groups_ok[i],
        }
    }

    /// What the quorum needs, in words: `none`, a witness's name, or the
    /// quorum group followed by every group it reaches, each once:
    /// `G = 2 of (A, B, H); H = any of (C, D)`.
    #[must_use]
    pub fn describe_quorum(&self) -> String {
        let Some(quorum) = self.quorum else {
            return "none (no cosignature)".to_owned();
        };
        let Node::Group(top) = quorum else {
            return format!("a cosignature from witness {}", self.node_name(quorum));
        };
        let mut order = vec![top];
        let mut i = 0;
        while let Some(&g) = order.get(i) {
            for n in &self.group_nodes[g] {
                if let Node::Group(sub) = *n
                    && !order.contains(&sub)
                {
                    order.push(sub);
                }
            }
            i += 1;
        }
        let parts: Vec<String> = order
            .iter()
            .map(|&g| {
                let group = &self.groups[g];
                let n = group.members.len();
                let k = match group.threshold {
                    k if k == n && n > 1 => "all".to_owned(),
                    1 => "any".to_owned(),
                    k => k.to_string(),
                };
                format!("{} = {k} of ({})", group.name, group.members.join(", "))
            })
            .collect();
        parts.join("; ")
    }

    /// Verifies the cosignatures of `note` (its text is the checkpoint
    /// body) by the policy's witnesses, whatever the quorum, and returns
    /// those that verified, in policy order. The log's signature is not
    /// checked: a log uses this on its own checkpoints.
    ///
    /// Signature lines matching no witness (by key name and key ID) are
    /// ignored; a matching line must verify.
    ///
    /// # Errors
    /// [`Error::InvalidCosignature`] if a line of a policy witness does not
    /// verify; [`Error::CosignatureInFuture`] if a witness's timestamp is
    /// more than [`MAX_COSIGNATURE_CLOCK_SKEW`] seconds after `now`.
    pub fn cosigners(&self, note: &Note, now: u64) -> Result<Vec<Cosigner>, Error> {
        let mut latest: Vec<Option<u64>> = vec![None; self.witnesses.len()];
        for sig in note.signatures() {
            // Normally at most one witness matches a line; were two keys'
            // names and key IDs to collide, the line counts for the one it
            // verifies with.
            let mut refusal = None;
            let mut verified = None;
            for (i, w) in self.witnesses.iter().enumerate() {
                if !w.key.matches(sig) {
                    continue;
                }
                match w.key.verify(note.text(), sig) {
                    Ok(ts) => {
                        verified = Some((i, ts));
                        break;
                    }
                    Err(e) => {
                        refusal.get_or_insert(e);
                    }
                }
            }
            let (i, ts) = match (verified, refusal) {
                (Some(v), _) => v,
                (None, Some(e)) => return Err(e),
                (None, None) => continue,
            };
            if ts > now.saturating_add(MAX_COSIGNATURE_CLOCK_SKEW) {
                return Err(Error::CosignatureInFuture {
                    name: self.witnesses[i].name.clone(),
                    timestamp: ts,
                    now,
                    skew: MAX_COSIGNATURE_CLOCK_SKEW,
                });
            }
            latest[i] = Some(latest[i].map_or(ts, |t| t.max(ts)));
        }
        Ok(self
            .witnesses
            .iter()
            .zip(latest)
            .filter_map(|(w, ts)| {
                ts.map(|timestamp| Cosigner {
                    name: w.name.clone(),
                    key_name: w.key.name().to_owned(),
                    timestamp,
                })
            })
            .collect())
    }

    /// Verifies a checkpoint under the policy: the note must carry a valid
    /// signature of one of the policy's logs, whose key name is the
    /// checkpoint's origin; the cosignatures of the policy's witnesses are
    /// verified as [`Policy::cosigners`] does; and those witnesses must
    /// meet the quorum. `now` is the current time, POSIX seconds.
    ///
    /// # Errors
    /// [`Error::MalformedNote`] or [`Error::MalformedCheckpoint`];
    /// [`Error::NoVerifiedSignature`] if no policy log signed it (also when
    /// the policy lists no log); [`Error::InvalidSignature`] if a policy
    /// log's signature line does not verify; [`Error::OriginMismatch`];
    /// the errors of [`Policy::cosigners`]; [`Error::QuorumNotMet`].
    pub fn verify_checkpoint(
        &self,
        note_bytes: &[u8],
        now: u64,
    ) -> Result<WitnessedCheckpoint, Error> {
        let note = Note::from_bytes(note_bytes)?;
        let keys: Vec<VerifierKey> = self.logs.iter().map(|l| l.key.clone()).collect();
        let verified = note.verify(&keys)?;
        let checkpoint = Checkpoint::from_body(note.text())?;
        let Some(log) = verified.into_iter().find(|k| k.name() == checkpoint.origin) else {
            return Err(Error::OriginMismatch {
                got: checkpoint.origin,
                want: self
                    .logs
                    .iter()
                    .map(|l| l.key.name())
                    .collect::<Vec<_>>()
                    .join(" or "),
            });
        };
        let cosigners = self.cosigners(&note, now)?;
        let names: Vec<&str> = cosigners.iter().map(|c| c.name.as_str()).collect();
        if !self.satisfied_by(&names) {
            return Err(Error::QuorumNotMet {
                have: cosigners.iter().map(|c| c.name.clone()).collect(),
                quorum: self.describe_quorum(),
            });
        }
        Ok(WitnessedCheckpoint {
            checkpoint: SignedCheckpoint { checkpoint, note },
            log,
            cosigners,
        })
    }
}
