//! The conformance suite's model: each catalogue rule with the sentence that
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // test helpers
//! says what triggers it in oasdiff's checker, and its cases: at least one
//! that fires (right rule, count, severity, endpoint) and one near miss that
//! must not fire. Rules oasdiff can never emit are marked instead, with why.
//!
//! Cases are written from oasdiff's checker source (`checker/check_*.go`,
//! `diff/`, kin-openapi's defaults), never from the corpus pairs.

use gate::{Compat, Config, Date, Document, Limits, NoFiles, Severity};

/// One rule of the catalogue and how it is tested.
pub struct Rule {
    /// oasdiff's rule id.
    pub id: &'static str,
    /// What triggers it in oasdiff's checker, in one sentence.
    pub trigger: &'static str,
    /// `Some(why)`: oasdiff can never emit it (and neither do we).
    pub never: Option<&'static str>,
    pub cases: Vec<Case>,
}

/// One pair of documents and what the rule must do on it.
pub struct Case {
    /// A short name, unique within the rule.
    pub name: &'static str,
    pub expect: Expect,
    pub base: String,
    pub revision: String,
    /// The configuration (default: `compat: oasdiff`, as conformance is scored).
    pub config: Config,
    /// The day of the diff (default 2025-06-01).
    pub today: Date,
}

pub enum Expect {
    /// The rule fires `count` times, each at `severity` on `endpoint`
    /// (`""` for document-wide findings).
    Fires {
        count: usize,
        severity: Severity,
        endpoint: &'static str,
    },
    /// The rule does not fire.
    Quiet,
}

pub const TODAY: Date = Date {
    year: 2025,
    month: 6,
    day: 1,
};

pub fn oasdiff() -> Config {
    Config {
        compat: Compat::Oasdiff,
        ..Config::default()
    }
}

/// A rule with its trigger; add cases with [`Rule::fires`] and [`Rule::quiet`].
pub fn rule(id: &'static str, trigger: &'static str) -> Rule {
    Rule {
        id,
        trigger,
        never: None,
        cases: Vec::new(),
    }
}

/// A rule oasdiff can never emit, and why.
pub fn never(id: &'static str, trigger: &'static str, why: &'static str) -> Rule {
    Rule {
        id,
        trigger,
        never: Some(why),
        cases: Vec::new(),
    }
}

fn sev(s: &str) -> Severity {
    Severity::parse(s).unwrap_or_else(|| panic!("bad severity {s}"))
}

impl Rule {
    /// A firing case: `count` findings of this rule at `severity` (`ERR`,
    /// `WARN`, `INFO`) on `endpoint`.
    pub fn fires(
        mut self,
        name: &'static str,
        count: usize,
        severity: &str,
        endpoint: &'static str,
        base: impl Into<String>,
        revision: impl Into<String>,
    ) -> Rule {
        self.cases.push(Case {
            name,
            expect: Expect::Fires {
                count,
                severity: sev(severity),
                endpoint,
            },
            base: base.into(),
            revision: revision.into(),
            config: oasdiff(),
            today: TODAY,
        });
        self
    }

    /// A near miss: the rule must not fire.
    pub fn quiet(
        mut self,
        name: &'static str,
        base: impl Into<String>,
        revision: impl Into<String>,
    ) -> Rule {
        self.cases.push(Case {
            name,
            expect: Expect::Quiet,
            base: base.into(),
            revision: revision.into(),
            config: oasdiff(),
            today: TODAY,
        });
        self
    }

    /// Changes the configuration of the last case added.
    pub fn with_config(mut self, config: Config) -> Rule {
        if let Some(c) = self.cases.last_mut() {
            c.config = config;
        }
        self
    }

    /// Changes the day of the last case added.
    pub fn on(mut self, day: &str) -> Rule {
        if let Some(c) = self.cases.last_mut() {
            c.today = Date::parse(day).expect("a YYYY-MM-DD day");
        }
        self
    }
}

/// The findings of one case, as (rule, severity, endpoint).
pub fn run(case: &Case) -> Result<Vec<(String, Severity, String)>, String> {
    let b = Document::from_bytes(
        case.base.as_bytes(),
        "base.yaml",
        &NoFiles,
        &Limits::default(),
    )
    .map_err(|e| format!("base: {e}"))?;
    let r = Document::from_bytes(
        case.revision.as_bytes(),
        "revision.yaml",
        &NoFiles,
        &Limits::default(),
    )
    .map_err(|e| format!("revision: {e}"))?;
    Ok(gate::diff(&b, &r, &case.config, case.today)
        .findings
        .into_iter()
        .map(|f| (f.rule, f.severity, f.endpoint))
        .collect())
}

/// Checks one case of `rule`; `Err` says what went wrong.
pub fn check(rule: &Rule, case: &Case) -> Result<(), String> {
    let got = run(case)?;
    let mine: Vec<&(String, Severity, String)> = got.iter().filter(|f| f.0 == rule.id).collect();
    let all = || {
        got.iter()
            .map(|(r, s, e)| format!("{r} {s:?} {e}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match &case.expect {
        Expect::Quiet if mine.is_empty() => Ok(()),
        Expect::Quiet => Err(format!("fired {} times: [{}]", mine.len(), all())),
        Expect::Fires {
            count,
            severity,
            endpoint,
        } => {
            if mine.len() != *count {
                return Err(format!(
                    "expected {count} finding(s), got {}: [{}]",
                    mine.len(),
                    all()
                ));
            }
            for (_, s, e) in mine {
                if s != severity || e != endpoint {
                    return Err(format!(
                        "expected {severity:?} on {endpoint:?}, got {s:?} on {e:?}"
                    ));
                }
            }
            Ok(())
        }
    }
}

// --- Document builders, so that a case shows only what it is about. ---

/// An OpenAPI 3.0.3 document with `rest` after `info` (`paths:` and so on).
pub fn v30(rest: &str) -> String {
    format!("openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\n{rest}")
}

/// An OpenAPI 3.1.0 document with `rest` after `info`.
pub fn v31(rest: &str) -> String {
    format!("openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\n{rest}")
}

/// A 3.0 document with one operation; `op` is the operation's YAML body
/// (indented by 6 spaces in the result, so write it unindented).
pub fn op(method: &str, path: &str, op: &str) -> String {
    v30(&format!(
        "paths:\n  {path}:\n    {method}:\n{}\n",
        indent(op, 6)
    ))
}

/// The same with OpenAPI 3.1.
pub fn op31(method: &str, path: &str, op: &str) -> String {
    v31(&format!(
        "paths:\n  {path}:\n    {method}:\n{}\n",
        indent(op, 6)
    ))
}

/// `POST /items` whose JSON request body has `schema` (unindented YAML), and
/// a bare 200 response.
pub fn request_body(schema: &str) -> String {
    op(
        "post",
        "/items",
        &format!(
            "requestBody:\n  content:\n    application/json:\n      schema:\n{}\nresponses:\n  '200': {{description: ok}}",
            indent(schema, 8)
        ),
    )
}

/// `GET /items` whose 200 JSON response has `schema` (unindented YAML).
pub fn response_body(schema: &str) -> String {
    op(
        "get",
        "/items",
        &format!(
            "responses:\n  '200':\n    description: ok\n    content:\n      application/json:\n        schema:\n{}",
            indent(schema, 10)
        ),
    )
}

/// `GET /items` with one parameter (unindented YAML of the parameter object).
pub fn parameter(param: &str) -> String {
    op(
        "get",
        "/items",
        &format!(
            "parameters:\n{}\nresponses:\n  '200': {{description: ok}}",
            indent(&format!("- {}", indent(param, 2).trim_start()), 0)
        ),
    )
}

pub fn indent(s: &str, n: usize) -> String {
    s.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{}{l}", " ".repeat(n))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`request_body`] in an OpenAPI 3.1 document.
pub fn request_body31(schema: &str) -> String {
    request_body(schema).replacen("openapi: 3.0.3", "openapi: 3.1.0", 1)
}

/// [`response_body`] in an OpenAPI 3.1 document.
pub fn response_body31(schema: &str) -> String {
    response_body(schema).replacen("openapi: 3.0.3", "openapi: 3.1.0", 1)
}
