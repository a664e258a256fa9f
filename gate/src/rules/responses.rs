//! Responses: status codes, media types, headers and body schemas.

use super::schema::{self, Dir, Owner, Scope};
use super::{Cx, Op, as_bool};
use crate::document::At;

/// Does media range `general` cover `specific` (`*/*`, `application/*`)?
fn covers(general: &str, specific: &str) -> bool {
    let base = |m: &str| {
        m.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let (g, s) = (base(general), base(specific));
    if g == s {
        return false;
    }
    if g == "*/*" {
        return true;
    }
    match (g.split_once('/'), s.split_once('/')) {
        (Some((gt, "*")), Some((st, _))) => gt == st,
        (Some((gt, gs)), Some((st, ss))) => gt == st && (ss.ends_with(&format!("+{gs}"))),
        _ => false,
    }
}

/// `application/json` and `application/vnd.x+json`, or the same type with parameters.
fn same_family(a: &str, b: &str) -> bool {
    let suffix = |m: &str| {
        let m = m
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let sub = m
            .split_once('/')
            .map(|(_, s)| s.to_owned())
            .unwrap_or_default();
        sub.rsplit('+').next().unwrap_or("").to_owned()
    };
    let base = |m: &str| {
        m.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    base(a) == base(b)
        || (!suffix(a).is_empty()
            && suffix(a) == suffix(b)
            && a.split('/').next() == b.split('/').next())
}

fn is_success(status: &str) -> bool {
    status.starts_with('2')
}

/// Reports response changes of an operation.
pub(crate) fn diff(cx: &mut Cx<'_>, b: &Op<'_>, r: &Op<'_>, ep: &str) {
    let bl =
        cx.b.get(&b.op, "responses")
            .map(|x| cx.b.entries(&x))
            .unwrap_or_default();
    let rl =
        cx.r.get(&r.op, "responses")
            .map(|x| cx.r.entries(&x))
            .unwrap_or_default();
    for (status, bresp) in &bl {
        let st = status.to_ascii_uppercase();
        match rl.iter().find(|(k, _)| k.eq_ignore_ascii_case(status)) {
            None => {
                let id = if is_success(&st) {
                    "response-success-status-removed"
                } else {
                    "response-non-success-status-removed"
                };
                cx.emit(
                    id,
                    ep,
                    &format!("status {status}"),
                    format!("the response with status {status} was removed"),
                    Some(bresp),
                    Some(&r.op),
                );
            }
            Some((_, rresp)) => response(cx, ep, status, bresp, rresp),
        }
    }
    for (status, rresp) in &rl {
        if !bl.iter().any(|(k, _)| k.eq_ignore_ascii_case(status)) {
            let id = if is_success(status) {
                "response-success-status-added"
            } else {
                "response-non-success-status-added"
            };
            cx.emit(
                id,
                ep,
                &format!("status {status}"),
                format!("a response with status {status} was added"),
                Some(&b.op),
                Some(rresp),
            );
        }
    }
}

fn response(cx: &mut Cx<'_>, ep: &str, status: &str, b: &At<'_>, r: &At<'_>) {
    let bc =
        cx.b.get(b, "content")
            .map(|c| cx.b.entries(&c))
            .unwrap_or_default();
    let rc =
        cx.r.get(r, "content")
            .map(|c| cx.r.entries(&c))
            .unwrap_or_default();
    let removed: Vec<&str> = bc
        .iter()
        .filter(|(k, _)| !rc.iter().any(|(x, _)| x == k))
        .map(|(k, _)| *k)
        .collect();
    let added: Vec<&str> = rc
        .iter()
        .filter(|(k, _)| !bc.iter().any(|(x, _)| x == k))
        .map(|(k, _)| *k)
        .collect();
    // One media type replaced by a related one: a rename, not a removal.
    let mut renamed: Option<(&str, &str)> = None;
    if let ([x], [y]) = (removed.as_slice(), added.as_slice()) {
        let id = if covers(y, x) {
            Some("response-media-type-name-generalized")
        } else if covers(x, y) {
            Some("response-media-type-name-specialized")
        } else if same_family(x, y) {
            Some("response-media-type-name-changed")
        } else {
            None
        };
        if let Some(id) = id {
            renamed = Some((x, y));
            let bm = bc.iter().find(|(k, _)| k == x).map(|(_, a)| a);
            let rm = rc.iter().find(|(k, _)| k == y).map(|(_, a)| a);
            cx.emit(
                id,
                ep,
                &format!("status {status} media type {x}"),
                format!(
                    "the media type {x} of the response with status {status} was changed to {y}"
                ),
                bm,
                rm,
            );
        }
    }
    let pairs: Vec<(&str, &str)> = bc
        .iter()
        .filter_map(|(k, _)| {
            if rc.iter().any(|(x, _)| x == k) {
                Some((*k, *k))
            } else {
                renamed.filter(|(x, _)| x == k)
            }
        })
        .collect();
    for mt in &removed {
        if renamed.is_some_and(|(x, _)| x == *mt) {
            continue;
        }
        let subject = format!("status {status} media type {mt}");
        let bm = bc.iter().find(|(k, _)| k == mt).map(|(_, a)| a);
        cx.emit(
            "response-media-type-removed",
            ep,
            &subject,
            format!("the media type {mt} was removed from the response with status {status}"),
            bm,
            Some(r),
        );
    }
    for (bk, rk) in pairs {
        let subject = format!("status {status} media type {bk}");
        let (Some(bm), Some(rm)) = (
            bc.iter().find(|(k, _)| *k == bk).map(|(_, a)| a),
            rc.iter().find(|(k, _)| *k == rk).map(|(_, a)| a),
        ) else {
            continue;
        };
        let mt = rk;
        match (cx.b.get(bm, "schema"), cx.r.get(rm, "schema")) {
            (None, Some(rs)) => {
                cx.emit("response-body-media-type-schema-added", ep, &subject, format!("a schema was added to the media type {mt} of the response with status {status}"), Some(bm), Some(&rs));
            }
            (Some(bs), None) => {
                cx.emit("response-body-media-type-schema-removed", ep, &subject, format!("the schema was removed from the media type {mt} of the response with status {status}"), Some(&bs), Some(rm));
            }
            (Some(bs), Some(rs)) => {
                let scope = Scope {
                    dir: Dir::Response,
                    owner: Owner::Body,
                    endpoint: ep,
                    context: format!("status {status}, media type {mt}"),
                };
                schema::diff(cx, &scope, &bs, &rs);
            }
            (None, None) => {}
        }
    }
    for mt in &added {
        if renamed.is_some_and(|(_, y)| y == *mt) {
            continue;
        }
        let rm = rc.iter().find(|(k, _)| k == mt).map(|(_, a)| a);
        cx.emit(
            "response-media-type-added",
            ep,
            &format!("status {status} media type {mt}"),
            format!("the media type {mt} was added to the response with status {status}"),
            Some(b),
            rm,
        );
    }
    headers(cx, ep, status, b, r);
}

fn headers(cx: &mut Cx<'_>, ep: &str, status: &str, b: &At<'_>, r: &At<'_>) {
    let bh =
        cx.b.get(b, "headers")
            .map(|c| cx.b.entries(&c))
            .unwrap_or_default();
    let rh =
        cx.r.get(r, "headers")
            .map(|c| cx.r.entries(&c))
            .unwrap_or_default();
    for (name, bhd) in &bh {
        let subject = format!("status {status} header {name}");
        match rh.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            None => {
                let id = if as_bool(bhd.v.get("required")) {
                    "required-response-header-removed"
                } else {
                    "optional-response-header-removed"
                };
                cx.emit(
                    id,
                    ep,
                    &subject,
                    format!("the response header {name} was removed from status {status}"),
                    Some(bhd),
                    Some(r),
                );
            }
            Some((_, rhd)) => {
                if as_bool(bhd.v.get("required")) && !as_bool(rhd.v.get("required")) {
                    cx.emit(
                        "response-header-became-optional",
                        ep,
                        &subject,
                        format!("the response header {name} became optional for status {status}"),
                        Some(bhd),
                        Some(rhd),
                    );
                }
                if let (Some(bs), Some(rs)) = (
                    super::parameters::param_schema(cx.b, bhd),
                    super::parameters::param_schema(cx.r, rhd),
                ) {
                    let scope = Scope {
                        dir: Dir::Response,
                        owner: Owner::Header,
                        endpoint: ep,
                        context: format!("response header {name} of status {status}"),
                    };
                    schema::diff(cx, &scope, &bs, &rs);
                }
            }
        }
    }
    for (name, rhd) in &rh {
        if !bh.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
            cx.emit(
                "response-header-added",
                ep,
                &format!("status {status} header {name}"),
                format!("the response header {name} was added to status {status}"),
                Some(b),
                Some(rhd),
            );
        }
    }
}
