//! Document-wide components: component schemas and 3.1 webhooks.

use super::{Cx, METHODS, Op, endpoint, operation, paths};
use crate::document::{At, Document};

fn section<'d>(doc: &'d Document, path: &[&str]) -> Vec<(&'d str, At<'d>)> {
    let mut at = doc.root();
    for k in path {
        match doc.get(&at, k) {
            Some(x) => at = x,
            None => return Vec::new(),
        }
    }
    doc.entries(&at)
}

/// `components.schemas` entries removed (INFO: operations are checked on their own).
pub(crate) fn schemas(cx: &mut Cx<'_>) {
    let bs = section(cx.b, &["components", "schemas"]);
    let rs = section(cx.r, &["components", "schemas"]);
    for (name, b) in &bs {
        if !rs.iter().any(|(k, _)| k == name) {
            cx.emit(
                "api-schema-removed",
                "",
                &format!("schema {name}"),
                format!("the component schema {name} was removed"),
                Some(b),
                None,
            );
        }
    }
}

/// 3.1 `webhooks`: added, removed, and their operations compared like endpoints.
pub(crate) fn webhooks(cx: &mut Cx<'_>) {
    let bw = section(cx.b, &["webhooks"]);
    let rw = section(cx.r, &["webhooks"]);
    for (name, b) in &bw {
        match rw.iter().find(|(k, _)| k == name) {
            None => {
                cx.emit(
                    "webhook-removed",
                    "",
                    &format!("webhook {name}"),
                    format!("the webhook {name} was removed"),
                    Some(b),
                    None,
                );
            }
            Some((_, r)) => {
                // oasdiff runs every operation check on the operations of a
                // webhook in both documents, as the path `webhook:<name>`.
                let path = format!("webhook:{name}");
                for m in METHODS {
                    match (method_of(cx.b, b, m), method_of(cx.r, r, m)) {
                        (Some(bo), Some(ro)) => {
                            let bop = Op {
                                method: m,
                                path: path.clone(),
                                path_item: b.clone(),
                                op: bo,
                            };
                            let rop = Op {
                                method: m,
                                path: path.clone(),
                                path_item: r.clone(),
                                op: ro,
                            };
                            operation(cx, &bop, &rop, &endpoint(m, &path));
                        }
                        (Some(bo), None) => {
                            let bop = Op {
                                method: m,
                                path: path.clone(),
                                path_item: b.clone(),
                                op: bo,
                            };
                            paths::endpoint_removed(cx, &bop, false);
                        }
                        (None, Some(ro)) => {
                            let rop = Op {
                                method: m,
                                path: path.clone(),
                                path_item: r.clone(),
                                op: ro,
                            };
                            paths::endpoint_added(cx, &rop);
                        }
                        (None, None) => {}
                    }
                }
            }
        }
    }
    for (name, r) in &rw {
        if !bw.iter().any(|(k, _)| k == name) {
            cx.emit(
                "webhook-added",
                "",
                &format!("webhook {name}"),
                format!("the webhook {name} was added"),
                None,
                Some(r),
            );
        }
    }
}

fn method_of<'d>(doc: &'d Document, item: &At<'d>, m: &str) -> Option<At<'d>> {
    doc.get(item, m).filter(|o| o.v.is_object())
}

/// A semantic version (semver.org's grammar, an optional leading `v`):
/// (major, minor, patch). oasdiff judges only versions that parse.
fn semver(s: &str) -> Option<(u64, u64, u64)> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let (rest, build) = match s.split_once('+') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let ident = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let numeric = |x: &str| {
        !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()) && (x == "0" || !x.starts_with('0'))
    };
    if let Some(b) = build
        && !b.split('.').all(ident)
    {
        return None;
    }
    if let Some(p) = pre
        && !p
            .split('.')
            .all(|x| ident(x) && (numeric(x) || !x.chars().all(|c| c.is_ascii_digit())))
    {
        return None;
    }
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|x| numeric(x)) {
        return None;
    }
    Some((
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        parts[2].parse().ok()?,
    ))
}

/// The versioning policy (`info.version` against the verdict), INFO unless raised.
pub(crate) fn version_policy(cx: &mut Cx<'_>) {
    let breaking = |f: &super::Raw| match cx.config.severity_overrides.get(f.rule.id) {
        Some(l) => *l == crate::Level::Err,
        None => f.rule.level == crate::Severity::Err,
    };
    if !cx.raw.iter().any(breaking) {
        return;
    }
    let (b, r) = (cx.b.root(), cx.r.root());
    let get = |at: &At<'_>| {
        at.v.get("info")
            .and_then(|i| i.get("version"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let (Some(bv), Some(rv)) = (get(&b), get(&r)) else {
        return;
    };
    let (Some(x), Some(y)) = (semver(&bv), semver(&rv)) else {
        return; // only semantic versions are judged
    };
    let (bi, ri) = (cx.b.get(&b, "info"), cx.r.get(&r, "info"));
    if bv == rv {
        cx.emit(
            "api-version-not-bumped",
            "",
            "info.version",
            format!("a breaking change was made but the version is still {bv}"),
            bi.as_ref(),
            ri.as_ref(),
        );
    } else if y <= x {
        cx.emit(
            "api-version-decreased",
            "",
            "info.version",
            format!("a breaking change was made and the version decreased from {bv} to {rv}"),
            bi.as_ref(),
            ri.as_ref(),
        );
    } else if (x.0 == 0 && y.0 == 0 && y.1 <= x.1) || (!(x.0 == 0 && y.0 == 0) && y.0 <= x.0) {
        cx.emit(
            "api-major-version-not-bumped",
            "",
            "info.version",
            format!(
                "a breaking change was made but the major version did not increase, from {bv} to {rv}"
            ),
            bi.as_ref(),
            ri.as_ref(),
        );
    }
}
