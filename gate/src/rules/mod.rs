//! The rules, one module per family, over a common walk of the two documents.
//!
//! [`run`] matches endpoints (path-parameter names ignored), then hands each
//! pair of operations to the families. Every family reports through
//! [`Cx::emit`] with an oasdiff rule id; ids that are not in the catalogue are
//! dropped there, which lets the schema walk compose ids
//! (`{request,response}-{body,property}-{change}`) without a table per family.

pub(crate) mod components;
pub(crate) mod lifecycle;
pub(crate) mod parameters;
pub(crate) mod paths;
pub(crate) mod request_body;
pub(crate) mod responses;
pub(crate) mod same;
pub(crate) mod schema;
pub(crate) mod security;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::catalogue::{self, RuleInfo};
use crate::config::{Config, Date};
use crate::document::{At, Document};

/// HTTP methods of a path item, in report order.
pub(crate) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A finding before severity, positions and fingerprint are attached.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub rule: &'static RuleInfo,
    pub endpoint: String,
    pub subject: String,
    pub detail: String,
    pub base: Option<(usize, String)>,
    pub rev: Option<(usize, String)>,
}

/// The state of one diff: both documents, the configuration, the day, the output.
pub(crate) struct Cx<'a> {
    pub b: &'a Document,
    pub r: &'a Document,
    pub config: &'a Config,
    pub today: Date,
    pub raw: Vec<Raw>,
    /// The `$ref` targets that are the same in both documents.
    pub same: same::Same,
    /// The effective (merged) schemas of the base and the revision.
    pub eff_b: &'a schema::effective::Effective<'a>,
    pub eff_r: &'a schema::effective::Effective<'a>,
    /// The stability of the revision's operation being compared, which
    /// picks the deprecation policy's days for its parameters and properties.
    pub op_stability: Result<lifecycle::Stability, String>,
}

impl<'a> Cx<'a> {
    /// Reports `id` if the catalogue has it. Returns whether it did.
    pub fn emit(
        &mut self,
        id: &str,
        endpoint: &str,
        subject: &str,
        detail: impl Into<String>,
        b: Option<&At<'_>>,
        r: Option<&At<'_>>,
    ) -> bool {
        let Some(rule) = catalogue::find(id) else {
            return false;
        };
        if crate::NEVER_EMITTED.contains(&id) {
            return false;
        }
        self.raw.push(Raw {
            rule,
            endpoint: endpoint.to_owned(),
            subject: subject.to_owned(),
            detail: detail.into(),
            base: b.map(|a| (a.file, a.ptr.clone())),
            rev: r.map(|a| (a.file, a.ptr.clone())),
        });
        true
    }
}

/// One operation of one document.
#[derive(Debug, Clone)]
pub(crate) struct Op<'d> {
    pub method: &'static str,
    /// The path as written in this document.
    pub path: String,
    pub path_item: At<'d>,
    pub op: At<'d>,
}

/// `/users/{id}` → `/users/{}`: the key endpoints are matched by.
pub(crate) fn normalize_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push('{');
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push('}');
                }
            }
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

pub(crate) fn endpoint(method: &str, path: &str) -> String {
    format!("{} {}", method.to_ascii_uppercase(), path)
}

/// The paths of a document by normalized key (the first in key order wins
/// when two differ only in parameter names).
pub(crate) fn paths_of<'d>(doc: &'d Document) -> BTreeMap<String, (String, At<'d>)> {
    let mut out = BTreeMap::new();
    let root = doc.root();
    if let Some(paths) = doc.get(&root, "paths") {
        for (k, item) in doc.entries(&paths) {
            if !item.v.is_object() {
                continue;
            }
            out.entry(normalize_path(k)).or_insert((k.to_owned(), item));
        }
    }
    out
}

/// The operations of a path item.
pub(crate) fn ops_of<'d>(doc: &'d Document, path: &str, item: &At<'d>) -> Vec<Op<'d>> {
    METHODS
        .iter()
        .filter_map(|m| {
            let op = doc.get(item, m)?;
            op.v.is_object().then(|| Op {
                method: m,
                path: path.to_owned(),
                path_item: item.clone(),
                op,
            })
        })
        .collect()
}

pub(crate) fn as_bool(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

/// Runs every family over the two documents.
pub(crate) fn run(cx: &mut Cx<'_>) {
    let bp = paths_of(cx.b);
    let rp = paths_of(cx.r);
    let keys: std::collections::BTreeSet<&String> = bp.keys().chain(rp.keys()).collect();
    for k in keys {
        match (bp.get(k), rp.get(k)) {
            (Some((bpath, bitem)), None) => {
                for op in ops_of(cx.b, bpath, bitem) {
                    paths::endpoint_removed(cx, &op, true);
                }
            }
            (None, Some((rpath, ritem))) => {
                for op in ops_of(cx.r, rpath, ritem) {
                    paths::endpoint_added(cx, &op);
                }
            }
            (Some((bpath, bitem)), Some((rpath, ritem))) => {
                let bops = ops_of(cx.b, bpath, bitem);
                let rops = ops_of(cx.r, rpath, ritem);
                parameters::path_level_added(cx, bitem, ritem, &rops);
                for m in METHODS {
                    let bo = bops.iter().find(|o| o.method == m);
                    let ro = rops.iter().find(|o| o.method == m);
                    match (bo, ro) {
                        (Some(b), None) => paths::endpoint_removed(cx, b, false),
                        (None, Some(r)) => {
                            // oasdiff names a path in both documents by the base's spelling.
                            let named = Op {
                                path: bpath.clone(),
                                ..r.clone()
                            };
                            paths::endpoint_added(cx, &named);
                        }
                        (Some(b), Some(r)) => operation(cx, b, r, &endpoint(m, bpath)),
                        (None, None) => {}
                    }
                }
            }
            (None, None) => {}
        }
    }
    components::webhooks(cx);
    components::schemas(cx);
    security::global(cx);
    security::components(cx);
    components::version_policy(cx);
}

/// The rules for one operation present in both documents.
pub(crate) fn operation(cx: &mut Cx<'_>, b: &Op<'_>, r: &Op<'_>, ep: &str) {
    let checked = lifecycle::operation(cx, b, r, ep);
    if !checked {
        return; // draft and alpha endpoints may change freely
    }
    let level = lifecycle::stability(r.op.v);
    cx.op_stability = level.clone();
    lifecycle::deprecation(cx, ep, &b.op, &r.op, lifecycle::Kind::Endpoint, "", level);
    paths::operation_meta(cx, b, r, ep);
    parameters::diff(cx, b, r, ep);
    request_body::diff(cx, b, r, ep);
    responses::diff(cx, b, r, ep);
    security::operation(cx, b, r, ep);
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::{Config, Date, Document, Finding, Limits, NoFiles, diff};

    pub fn doc(yaml: &str) -> Document {
        Document::from_bytes(yaml.as_bytes(), "t.yaml", &NoFiles, &Limits::default()).unwrap()
    }

    pub fn run(base: &str, rev: &str) -> Vec<Finding> {
        diff(
            &doc(base),
            &doc(rev),
            &Config::default(),
            Date {
                year: 2025,
                month: 6,
                day: 1,
            },
        )
        .findings
    }

    pub fn rules(base: &str, rev: &str) -> Vec<String> {
        // The versioning policy (INFO) is left out, as the corpus does.
        let mut v: Vec<String> = run(base, rev)
            .into_iter()
            .map(|f| f.rule)
            .filter(|r| !r.starts_with("api-version") && r != "api-major-version-not-bumped")
            .collect();
        v.sort();
        v
    }

    /// A 3.0 document with one `POST /items` whose request body schema and
    /// 200 response schema are given (YAML, indented for that place).
    pub fn body_doc(req: &str, resp: &str) -> String {
        format!(
            "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n  /items:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n{}\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema:\n{}\n",
            indent(req, 14),
            indent(resp, 16)
        )
    }

    pub fn indent(s: &str, n: usize) -> String {
        s.lines()
            .map(|l| format!("{}{}", " ".repeat(n), l))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod family_tests;

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn parameter_names_are_ignored_in_paths() {
        assert_eq!(
            normalize_path("/users/{id}"),
            normalize_path("/users/{userId}")
        );
        assert_eq!(normalize_path("/a/{x}/b/{y}"), "/a/{}/b/{}");
    }
}
