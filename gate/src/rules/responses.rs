//! Responses: status codes, media types, headers and body schemas.

use super::schema::{self, Dir, Owner, Scope};
use super::{Cx, Op, as_bool};
use crate::document::At;

/// A media type name read as oasdiff's `diff/media_type_name.go` reads it:
/// type, subtype, `+` suffixes and parameters (names lower-cased).
struct MediaName {
    ty: String,
    subtype: String,
    suffixes: Vec<String>,
    params: std::collections::BTreeMap<String, String>,
}

fn media_name(m: &str) -> Option<MediaName> {
    let mut parts = m.split(';');
    let bare = parts.next()?.trim().to_ascii_lowercase();
    let mut params = std::collections::BTreeMap::new();
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (k, v) = p.split_once('=')?;
        params.insert(
            k.trim().to_ascii_lowercase(),
            v.trim().trim_matches('"').to_owned(),
        );
    }
    let (ty, sub) = bare.split_once('/')?;
    let (ty, sub) = (ty.trim(), sub.trim());
    if ty.is_empty() || sub.is_empty() || sub.contains('/') {
        return None;
    }
    let mut it = sub.split('+').map(str::trim);
    let subtype = it.next()?.to_owned();
    let suffixes: Vec<String> = it.map(str::to_owned).collect();
    if subtype.is_empty() || suffixes.iter().any(String::is_empty) {
        return None;
    }
    Some(MediaName {
        ty: ty.to_owned(),
        subtype,
        suffixes,
        params,
    })
}

/// Is `specific` a specialization of `general` (oasdiff's
/// `IsMediaTypeNameContained`): the same type, and either `general` is a
/// bare `x/y` and `specific`'s last suffix is `y` (`application/json`
/// contains `application/problem+json`), or the same subtype with
/// `general`'s suffixes a prefix of `specific`'s. Parameters are ignored;
/// wildcards are not ranges here (`*/*` contains nothing but itself).
fn contained(general: &str, specific: &str) -> bool {
    let (Some(g), Some(s)) = (media_name(general), media_name(specific)) else {
        return false;
    };
    if g.ty != s.ty {
        return false;
    }
    if g.suffixes.is_empty() && s.suffixes.last() == Some(&g.subtype) {
        return true;
    }
    g.subtype == s.subtype && s.suffixes.starts_with(&g.suffixes)
}

/// A removed and an added media type that oasdiff pairs as one renamed
/// media type: one contains the other.
fn related(a: &str, b: &str) -> bool {
    contained(a, b) || contained(b, a)
}

/// The class of a response status for the `response-*-status-*` rules:
/// `Some(true)` success, `Some(false)` non-success, `None` not reported.
/// oasdiff reads the status as an integer (200-299 is success) and skips
/// the rest (`2XX`, `default`); with the `status_ranges` difference those
/// count too, a `2XX` range as success.
fn status_class(cx: &Cx<'_>, status: &str) -> Option<bool> {
    if let Ok(n) = status.trim().parse::<i64>() {
        return Some((200..=299).contains(&n));
    }
    if cx.config.differences().status_ranges {
        return Some(status.starts_with('2'));
    }
    None
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
                let Some(success) = status_class(cx, &st) else {
                    continue;
                };
                let id = if success {
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
            let Some(success) = status_class(cx, status) else {
                continue;
            };
            let id = if success {
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
    // A removed media type and an added one where one contains the other
    // are one media type renamed (oasdiff's `diff/content_diff.go`): each
    // added media type pairs with the first unpaired removed one related to it.
    let mut renames: Vec<(&str, &str)> = Vec::new();
    for y in &added {
        if let Some(x) = removed
            .iter()
            .find(|x| !renames.iter().any(|(p, _)| p == *x) && related(x, y))
        {
            renames.push((x, y));
        }
    }
    for (x, y) in &renames {
        let (x, y) = (*x, *y);
        let same_params = match (media_name(x), media_name(y)) {
            (Some(a), Some(b)) => a.params == b.params,
            _ => true,
        };
        let id = if !same_params {
            "response-media-type-name-changed"
        } else if contained(x, y) {
            "response-media-type-name-specialized"
        } else {
            "response-media-type-name-generalized"
        };
        let bm = bc.iter().find(|(k, _)| *k == x).map(|(_, a)| a);
        let rm = rc.iter().find(|(k, _)| *k == y).map(|(_, a)| a);
        cx.emit(
            id,
            ep,
            &format!("status {status} media type {x}"),
            format!("the media type {x} of the response with status {status} was changed to {y}"),
            bm,
            rm,
        );
    }
    let pairs: Vec<(&str, &str)> = bc
        .iter()
        .filter_map(|(k, _)| {
            if rc.iter().any(|(x, _)| x == k) {
                Some((*k, *k))
            } else {
                renames.iter().find(|(x, _)| x == k).copied()
            }
        })
        .collect();
    for mt in &removed {
        if renames.iter().any(|(x, _)| x == mt) {
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
        if renames.iter().any(|(_, y)| y == mt) {
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
