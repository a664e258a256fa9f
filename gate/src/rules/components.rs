//! Document-wide components: component schemas and 3.1 webhooks.

use super::{Cx, METHODS, Op, endpoint, operation};
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
                let path = if name.starts_with('/') {
                    (*name).to_owned()
                } else {
                    format!("/{name}")
                };
                for m in METHODS {
                    if let (Some(bo), Some(ro)) = (cx.b.get(b, m), cx.r.get(r, m)) {
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

fn semver(s: &str) -> Option<(u64, u64, u64)> {
    let s = s.trim().trim_start_matches(['v', 'V']);
    let core = s.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|x| x.parse::<u64>());
    let major = it.next()?.ok()?;
    let minor = it.next().unwrap_or(Ok(0)).ok()?;
    let patch = it.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
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
        return;
    }
    let (Some(x), Some(y)) = (semver(&bv), semver(&rv)) else {
        return;
    };
    if y < x {
        cx.emit(
            "api-version-decreased",
            "",
            "info.version",
            format!("a breaking change was made and the version decreased from {bv} to {rv}"),
            bi.as_ref(),
            ri.as_ref(),
        );
    } else if (x.0 > 0 && y.0 == x.0) || (x.0 == 0 && y.0 == 0 && y.1 == x.1) {
        cx.emit("api-major-version-not-bumped", "", "info.version", format!("a breaking change was made but the major version did not increase, from {bv} to {rv}"), bi.as_ref(), ri.as_ref());
    }
}
