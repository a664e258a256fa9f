//! Request parameters: added, removed, requiredness, deprecation and sunset,
//! and their schemas. Path-level and operation-level parameters are merged
//! (the operation's win), so moving a parameter between the two levels is no
//! change; path parameters are matched by their position in the path, so
//! renaming `{id}` to `{userId}` is no change either.

use std::collections::BTreeMap;

use serde_json::Value;

use super::lifecycle::{self, Kind, sunset};
use super::schema::{self, Dir, Owner, Scope};
use super::{Cx, Op, as_bool};
use crate::document::{At, Document};

/// One effective parameter of an operation.
struct Param<'d> {
    at: At<'d>,
    name: String,
    location: String,
    /// Defined at path level (not overridden by the operation).
    from_path: bool,
}

/// The key parameters are matched by.
fn key(p: &Param<'_>, path: &str) -> (String, String) {
    match p.location.as_str() {
        "path" => {
            let pos = path_param_names(path).iter().position(|n| *n == p.name);
            (
                p.location.clone(),
                pos.map_or_else(|| p.name.clone(), |i| format!("#{i}")),
            )
        }
        "header" => (p.location.clone(), p.name.to_ascii_lowercase()),
        _ => (p.location.clone(), p.name.clone()),
    }
}

fn path_param_names(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n))
        .collect()
}

/// The parameters of an operation: with `merge`, the path item's merged in
/// (the operation's win); without, only the operation's own.
fn params<'d>(
    doc: &'d Document,
    op: &Op<'d>,
    merge: bool,
) -> BTreeMap<(String, String), Param<'d>> {
    let mut out = BTreeMap::new();
    let levels: &[(bool, &At<'d>)] = if merge {
        &[(true, &op.path_item), (false, &op.op)]
    } else {
        &[(false, &op.op)]
    };
    for &(from_path, holder) in levels {
        let Some(list) = doc.get(holder, "parameters") else {
            continue;
        };
        for at in doc.items(&list) {
            let (Some(name), Some(location)) = (
                at.v.get("name").and_then(Value::as_str),
                at.v.get("in").and_then(Value::as_str),
            ) else {
                continue;
            };
            let p = Param {
                name: name.to_owned(),
                location: location.to_owned(),
                at,
                from_path,
            };
            out.insert(key(&p, &op.path), p);
        }
    }
    out
}

/// The schema of a parameter: `schema`, or the first media type's schema under `content`.
pub(crate) fn param_schema<'d>(doc: &'d Document, at: &At<'d>) -> Option<At<'d>> {
    if let Some(s) = doc.get(at, "schema") {
        return Some(s);
    }
    let content = doc.get(at, "content")?;
    let (_, mt) = doc.entries(&content).into_iter().next()?;
    doc.get(&mt, "schema")
}

/// Is the parameter serialized in the form style with explode (the default
/// for query and cookie parameters)?
fn form_explode(location: &str, v: &Value) -> bool {
    let style = v
        .get("style")
        .and_then(Value::as_str)
        .unwrap_or(match location {
            "query" | "cookie" => "form",
            _ => "simple",
        });
    style == "form" && v.get("explode").and_then(Value::as_bool).unwrap_or(true)
}

/// Reports parameter changes of an operation.
pub(crate) fn diff(cx: &mut Cx<'_>, b: &Op<'_>, r: &Op<'_>, ep: &str) {
    // oasdiff (without --flatten-params) compares an operation's own
    // parameters only, and of the path item's only the added ones.
    let merge = cx.config.differences().path_level_parameters;
    let bp = params(cx.b, b, merge);
    let rp = params(cx.r, r, merge);
    let base_path_level: Vec<(String, String)> = bp
        .iter()
        .filter(|(_, p)| p.from_path)
        .map(|(k, _)| k.clone())
        .collect();
    for (k, p) in &bp {
        if rp.contains_key(k) {
            continue;
        }
        let what = format!("{} parameter {}", p.location, p.name);
        let subject = what.clone();
        if !as_bool(p.at.v.get("deprecated")) {
            cx.emit(
                "request-parameter-removed",
                ep,
                &subject,
                format!("the {what} was removed"),
                Some(&p.at),
                Some(&r.op),
            );
            continue;
        }
        match sunset(p.at.v) {
            None => {
                cx.emit(
                    "request-parameter-removed-with-deprecation",
                    ep,
                    &subject,
                    format!("the deprecated {what} was removed"),
                    Some(&p.at),
                    Some(&r.op),
                );
            }
            Some(Err(s)) => {
                cx.emit(
                    "request-parameter-sunset-parse",
                    ep,
                    &subject,
                    format!("the {what} was removed, and its x-sunset {s:?} is not a date"),
                    Some(&p.at),
                    Some(&r.op),
                );
            }
            Some(Ok(d)) if cx.today < d => {
                cx.emit(
                    "request-parameter-removed-before-sunset",
                    ep,
                    &subject,
                    format!("the {what} was removed before its sunset date {d}"),
                    Some(&p.at),
                    Some(&r.op),
                );
            }
            // Removed after its sunset date: as planned, nothing to report.
            Some(Ok(_)) => {}
        }
    }
    for (k, p) in &rp {
        let what = format!("{} parameter {}", p.location, p.name);
        let Some(bparam) = bp.get(k) else {
            let required = as_bool(p.at.v.get("required")) || p.location == "path";
            let id = if p.location == "path" {
                "new-request-path-parameter"
            } else if p.from_path && !base_path_level.contains(k) {
                if required {
                    "new-required-request-default-parameter-to-existing-path"
                } else {
                    "new-optional-request-default-parameter-to-existing-path"
                }
            } else if required {
                "new-required-request-parameter"
            } else {
                "new-optional-request-parameter"
            };
            cx.emit(
                id,
                ep,
                &what,
                format!(
                    "the {} {what} was added",
                    if required { "required" } else { "optional" }
                ),
                Some(&b.op),
                Some(&p.at),
            );
            continue;
        };
        let (breq, rreq) = (
            as_bool(bparam.at.v.get("required")),
            as_bool(p.at.v.get("required")),
        );
        if p.location != "path" {
            if !breq && rreq {
                cx.emit(
                    "request-parameter-became-required",
                    ep,
                    &what,
                    format!("the {what} became required"),
                    Some(&bparam.at),
                    Some(&p.at),
                );
            } else if breq && !rreq {
                cx.emit(
                    "request-parameter-became-optional",
                    ep,
                    &what,
                    format!("the {what} became optional"),
                    Some(&bparam.at),
                    Some(&p.at),
                );
            }
        }
        lifecycle::deprecation(
            cx,
            ep,
            &bparam.at,
            &p.at,
            Kind::Parameter(&what),
            &what,
            lifecycle::stability(r.op.v),
        );
        if let (Some(bs), Some(rs)) = (param_schema(cx.b, &bparam.at), param_schema(cx.r, &p.at)) {
            let scope = Scope {
                dir: Dir::Request,
                owner: Owner::Parameter {
                    header: p.location == "header",
                    form: form_explode(&p.location, p.at.v),
                },
                endpoint: ep,
                context: what.clone(),
            };
            schema::diff(cx, &scope, &bs, &rs);
            items_max_items(cx, ep, &what, &bs, &rs);
        }
    }
}

/// oasdiff reads a parameter's maxItems change from its `items` when the
/// parameter's own maxItems did not change (both set).
fn items_max_items(cx: &mut Cx<'_>, ep: &str, what: &str, b: &At<'_>, r: &At<'_>) {
    let max = |v: &Value| v.get("maxItems").and_then(Value::as_f64);
    if max(b.v) != max(r.v) {
        return;
    }
    let (Some(bi), Some(ri)) = (cx.b.get(b, "items"), cx.r.get(r, "items")) else {
        return;
    };
    let (Some(x), Some(y)) = (max(bi.v), max(ri.v)) else {
        return;
    };
    if x == y {
        return;
    }
    let (id, how) = if y > x {
        ("request-parameter-max-items-increased", "increased")
    } else {
        ("request-parameter-max-items-decreased", "decreased")
    };
    cx.emit(
        id,
        ep,
        &format!("{what} items"),
        format!("the maxItems of the {what}'s items was {how} from {x} to {y}"),
        Some(&bi),
        Some(&ri),
    );
}

/// The non-path parameters a path item gained, reported on each operation
/// of the revision's path item (oasdiff's
/// `check_new_request_non_path_default_parameter.go`, whatever the
/// operations' stability), when the path-level parameters are not merged
/// into the operations' (`Differences::path_level_parameters` off).
pub(crate) fn path_level_added(cx: &mut Cx<'_>, bitem: &At<'_>, ritem: &At<'_>, rops: &[Op<'_>]) {
    if cx.config.differences().path_level_parameters {
        return;
    }
    let level = |doc: &Document, item: &At<'_>| -> Vec<(String, String)> {
        doc.get(item, "parameters")
            .map(|list| {
                doc.items(&list)
                    .iter()
                    .filter_map(|at| {
                        Some((
                            at.v.get("in")?.as_str()?.to_owned(),
                            at.v.get("name")?.as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let base = level(cx.b, bitem);
    let Some(list) = cx.r.get(ritem, "parameters") else {
        return;
    };
    for at in cx.r.items(&list) {
        let (Some(location), Some(name)) = (
            at.v.get("in").and_then(Value::as_str),
            at.v.get("name").and_then(Value::as_str),
        ) else {
            continue;
        };
        if location == "path" || base.contains(&(location.to_owned(), name.to_owned())) {
            continue;
        }
        let required = as_bool(at.v.get("required"));
        let id = if required {
            "new-required-request-default-parameter-to-existing-path"
        } else {
            "new-optional-request-default-parameter-to-existing-path"
        };
        let what = format!("{location} parameter {name}");
        for op in rops {
            cx.emit(
                id,
                &super::endpoint(op.method, &op.path),
                &what,
                format!(
                    "the {} {what} was added at path level",
                    if required { "required" } else { "optional" }
                ),
                Some(bitem),
                Some(&at),
            );
        }
    }
}
