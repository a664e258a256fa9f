//! The gate engine: classifies the changes between two OpenAPI 3.0 or 3.1
//! documents into findings, each with oasdiff's rule id, a snake_case kind,
//! the endpoint (`METHOD /path`), a severity (ERR, WARN, INFO), one sentence,
//! where it is in each document and a stable fingerprint.
//!
//! The rules follow oasdiff's catalogue (`catalogue::RULES`: 509 rules)
//! for what a change means and how severe it is; `spec/gate.md` lists the
//! rules and the few that are not covered.
//!
//! This crate does no I/O: documents come in as bytes, files named by
//! relative `$ref`s through a [`Loader`] the caller supplies, and the day
//! (for `x-sunset` dates) as an argument. The binary `stateanchor-gate`
//! (in `src/bin/`) reads files and git, and prints reports.
//!
//! ```
//! use gate::{Config, Date, Document, Limits, NoFiles, Severity};
//!
//! let base = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /users/{id}:\n    get:\n      responses:\n        '200': {description: ok}\n";
//! let revision = "openapi: 3.0.3\ninfo: {title: t, version: '2'}\npaths: {}\n";
//! let b = Document::from_bytes(base.as_bytes(), "base.yaml", &NoFiles, &Limits::default()).unwrap();
//! let r = Document::from_bytes(revision.as_bytes(), "revision.yaml", &NoFiles, &Limits::default()).unwrap();
//! let report = gate::diff(&b, &r, &Config::default(), Date::parse("2025-01-01").unwrap());
//! assert_eq!(report.findings.len(), 1);
//! let f = &report.findings[0];
//! assert_eq!(f.rule, "api-path-removed-without-deprecation");
//! assert_eq!(f.kind, "api_path_removed_without_deprecation");
//! assert_eq!(f.endpoint, "GET /users/{id}");
//! assert_eq!(f.severity, Severity::Err);
//! ```

pub mod catalogue;
mod changelog;
mod config;
mod document;
mod error;
mod finding;
mod json;
mod limits;
mod loader;
mod place;
pub mod report;
mod rules;
mod source;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use changelog::{Changelog, EndpointChanges, changelog};
pub use config::{Compat, Config, Date, Differences, Level};
pub use document::{Document, Version};
pub use error::Error;
pub use finding::{Finding, Location, Severity, fingerprint, kind_of};
pub use limits::Limits;
pub use loader::{Loader, MemoryFiles, NoFiles};
pub use source::Position;

/// The engine's name, as decisions record it.
pub const ENGINE_NAME: &str = "stateanchor-gate";
/// The engine's version (the crate's); findings may change between versions.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Catalogue rules the engine never reports. Empty: every rule of the
/// catalogue has a check (how closely each follows oasdiff is in `spec/gate.md`).
pub const NOT_COVERED: &[&str] = &[];

/// Catalogue rules that oasdiff can never emit (its checker has no path to
/// them at the catalogue's version), so the engine never emits them either.
/// `spec/gate-conformance.md` says why for each.
pub const NEVER_EMITTED: &[&str] = &[
    // paths, operations, security, components; JSON Schema 2020-12 keywords

    // parameters, headers, lifecycle
    "request-parameter-min-items-set",
    // request bodies and properties
    "request-body-min-items-set",
    "request-property-min-items-set",
    // response bodies and properties
    "response-body-min-items-unset",
    "response-property-min-items-unset",
];

/// The findings of one diff, sorted by endpoint, rule and location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Every finding, deterministic order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The highest severity among the findings, if any.
    #[must_use]
    pub fn highest(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether any finding is at or above `level`.
    #[must_use]
    pub fn fails(&self, level: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= level)
    }
}

/// Classifies the changes from `base` to `revision`.
///
/// `today` is the day the diff is made (UTC); it only matters for `x-sunset`
/// dates. The same inputs always give the same report.
#[must_use]
pub fn diff(base: &Document, revision: &Document, config: &Config, today: Date) -> Report {
    let (eff_b, eff_r) = if config.differences().effective_schemas {
        (
            rules::schema::effective::Effective::of(base),
            rules::schema::effective::Effective::of(revision),
        )
    } else {
        (
            rules::schema::effective::Effective::none(),
            rules::schema::effective::Effective::none(),
        )
    };
    let mut cx = rules::Cx {
        b: base,
        r: revision,
        config,
        today,
        raw: Vec::new(),
        same: rules::same::Same::new(base, revision),
        eff_b: &eff_b,
        eff_r: &eff_r,
        op_stability: Ok(rules::lifecycle::Stability::Stable),
    };
    rules::run(&mut cx);
    let raw = cx.raw;

    let mut want_b: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    let mut want_r: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for f in &raw {
        if let Some((file, p)) = &f.base {
            want_b.entry(*file).or_default().insert(p.clone());
        }
        if let Some((file, p)) = &f.rev {
            want_r.entry(*file).or_default().insert(p.clone());
        }
    }
    let pos_b = base.positions(&want_b);
    let pos_r = revision.positions(&want_r);
    let loc = |doc: &Document,
               pos: &std::collections::HashMap<(usize, String), Position>,
               at: &Option<(usize, String)>| {
        at.as_ref().map(|(file, p)| {
            let here = pos.get(&(*file, p.clone()));
            Location {
                file: doc.file_name(*file).to_owned(),
                pointer: p.clone(),
                line: here.map(|x| x.line),
                column: here.map(|x| x.column),
            }
        })
    };

    let mut findings: Vec<Finding> = Vec::with_capacity(raw.len());
    for f in &raw {
        let id = f.rule.id;
        let level = config
            .severity_overrides
            .get(id)
            .or_else(|| config.severity_overrides.get(&kind_of(id)))
            .copied();
        let severity = match level {
            Some(Level::None) => continue,
            Some(Level::Err) => Severity::Err,
            Some(Level::Warn) => Severity::Warn,
            Some(Level::Info) => Severity::Info,
            None => f.rule.level,
        };
        let bp = f.base.as_ref().map_or("", |x| x.1.as_str());
        let rp = f.rev.as_ref().map_or("", |x| x.1.as_str());
        findings.push(Finding {
            rule: id.to_owned(),
            kind: kind_of(id),
            endpoint: f.endpoint.clone(),
            severity,
            detail: f.detail.clone(),
            subject: f.subject.clone(),
            fingerprint: fingerprint(id, &f.endpoint, &f.subject, bp, rp),
            base: loc(base, &pos_b, &f.base),
            revision: loc(revision, &pos_r, &f.rev),
        });
    }
    findings.sort_by(|a, b| {
        (
            &a.endpoint,
            &a.rule,
            &a.subject,
            &a.base,
            &a.revision,
            &a.detail,
        )
            .cmp(&(
                &b.endpoint,
                &b.rule,
                &b.subject,
                &b.base,
                &b.revision,
                &b.detail,
            ))
    });
    findings.dedup_by(|a, b| a.fingerprint == b.fingerprint && a.detail == b.detail);
    Report { findings }
}
