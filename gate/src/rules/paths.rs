//! Paths and operations: endpoints added and removed (with deprecation and
//! sunset), operation ids and tags.

use std::collections::BTreeSet;

use serde_json::Value;

use super::lifecycle::{Stability, stability, sunset};
use super::{Cx, Op, as_bool, endpoint};

/// An operation of the base is gone (`whole_path`: its path is gone too).
pub(crate) fn endpoint_removed(cx: &mut Cx<'_>, op: &Op<'_>, whole_path: bool) {
    let ep = endpoint(op.method, &op.path);
    match stability(op.op.v) {
        // Out of oasdiff's default scope (beta): removed freely.
        Ok(Stability::Draft | Stability::Alpha) => return,
        Err(bad) => {
            cx.emit(
                "api-invalid-stability-level",
                &ep,
                "x-stability-level (base)",
                format!(
                    "the stability level {bad:?} is not one of draft, alpha, beta, stable (in the base)"
                ),
                Some(&op.op),
                None,
            );
            return;
        }
        Ok(_) => {}
    }
    let (without, with, before) = if whole_path {
        (
            "api-path-removed-without-deprecation",
            "api-path-removed-with-deprecation",
            "api-path-removed-before-sunset",
        )
    } else {
        (
            "api-removed-without-deprecation",
            "api-removed-with-deprecation",
            "api-removed-before-sunset",
        )
    };
    let what = if whole_path {
        "the path was removed"
    } else {
        "the operation was removed"
    };
    if !as_bool(op.op.v.get("deprecated")) {
        cx.emit(
            without,
            &ep,
            "",
            format!("{what} without being deprecated first"),
            Some(&op.op),
            None,
        );
        return;
    }
    match sunset(op.op.v) {
        None => {
            cx.emit(
                with,
                &ep,
                "",
                format!("{what} after being deprecated"),
                Some(&op.op),
                None,
            );
        }
        Some(Err(s)) => {
            cx.emit(
                "api-path-sunset-parse",
                &ep,
                "",
                format!("{what}, and its x-sunset {s:?} is not a date"),
                Some(&op.op),
                None,
            );
        }
        Some(Ok(d)) => {
            if cx.today < d {
                cx.emit(
                    before,
                    &ep,
                    "",
                    format!("{what} before its sunset date {d}"),
                    Some(&op.op),
                    None,
                );
            }
        }
    }
}

/// An operation that the base did not have.
pub(crate) fn endpoint_added(cx: &mut Cx<'_>, op: &Op<'_>) {
    let ep = endpoint(op.method, &op.path);
    cx.emit(
        "endpoint-added",
        &ep,
        "",
        "the endpoint was added",
        None,
        Some(&op.op),
    );
}

/// Operation id and tags.
pub(crate) fn operation_meta(cx: &mut Cx<'_>, b: &Op<'_>, r: &Op<'_>, ep: &str) {
    // An empty operation id is no id (oasdiff reads both as "").
    fn id(v: &Value) -> Option<&str> {
        v.get("operationId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
    let (bid, rid) = (id(b.op.v), id(r.op.v));
    match (bid, rid) {
        (Some(x), y) if Some(x) != y => {
            let detail = match y {
                Some(y) => format!("the operation id {x} was replaced with {y}"),
                None => format!("the operation id {x} was removed"),
            };
            cx.emit(
                "api-operation-id-removed",
                ep,
                "operationId",
                detail,
                Some(&b.op),
                Some(&r.op),
            );
        }
        (None, Some(y)) => {
            cx.emit(
                "api-operation-id-added",
                ep,
                "operationId",
                format!("the operation id {y} was added"),
                Some(&b.op),
                Some(&r.op),
            );
        }
        _ => {}
    }
    let tags = |v: &Value| -> BTreeSet<String> {
        v.get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (bt, rt) = (tags(b.op.v), tags(r.op.v));
    for t in bt.difference(&rt) {
        cx.emit(
            "api-tag-removed",
            ep,
            &format!("tag {t}"),
            format!("the tag {t} was removed"),
            Some(&b.op),
            Some(&r.op),
        );
    }
    for t in rt.difference(&bt) {
        cx.emit(
            "api-tag-added",
            ep,
            &format!("tag {t}"),
            format!("the tag {t} was added"),
            Some(&b.op),
            Some(&r.op),
        );
    }
}
