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
