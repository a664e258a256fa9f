//! Request bodies: added, removed, requiredness, media types and their schemas.

use super::schema::{self, Dir, Owner, Scope};
use super::{Cx, Op, as_bool};

/// Reports request body changes of an operation.
pub(crate) fn diff(cx: &mut Cx<'_>, b: &Op<'_>, r: &Op<'_>, ep: &str) {
    let bb = cx.b.get(&b.op, "requestBody").filter(|x| x.v.is_object());
    let rb = cx.r.get(&r.op, "requestBody").filter(|x| x.v.is_object());
    match (bb, rb) {
        (None, Some(rb)) => {
            if as_bool(rb.v.get("required")) {
                cx.emit(
                    "request-body-added-required",
                    ep,
                    "request body",
                    "a required request body was added",
                    Some(&b.op),
                    Some(&rb),
                );
            } else {
                cx.emit(
                    "request-body-added-optional",
                    ep,
                    "request body",
                    "an optional request body was added",
                    Some(&b.op),
                    Some(&rb),
                );
            }
        }
        (Some(bb), None) => {
            cx.emit(
                "request-body-removed",
                ep,
                "request body",
                "the request body was removed",
                Some(&bb),
                Some(&r.op),
            );
        }
        (Some(bb), Some(rb)) => {
            let (x, y) = (as_bool(bb.v.get("required")), as_bool(rb.v.get("required")));
            if !x && y {
                cx.emit(
                    "request-body-became-required",
                    ep,
                    "request body",
                    "the request body became required",
                    Some(&bb),
                    Some(&rb),
                );
            } else if x && !y {
                cx.emit(
                    "request-body-became-optional",
                    ep,
                    "request body",
                    "the request body became optional",
                    Some(&bb),
                    Some(&rb),
                );
            }
            let bc =
                cx.b.get(&bb, "content")
                    .map(|c| cx.b.entries(&c))
                    .unwrap_or_default();
            let rc =
                cx.r.get(&rb, "content")
                    .map(|c| cx.r.entries(&c))
                    .unwrap_or_default();
            for (mt, bm) in &bc {
                match rc.iter().find(|(k, _)| k == mt) {
                    None => {
                        cx.emit(
                            "request-body-media-type-removed",
                            ep,
                            &format!("media type {mt}"),
                            format!("the media type {mt} was removed from the request body"),
                            Some(bm),
                            Some(&rb),
                        );
                    }
                    Some((_, rm)) => {
                        let (bs, rs) = (cx.b.get(bm, "schema"), cx.r.get(rm, "schema"));
                        match (bs, rs) {
                            (None, Some(rs)) => {
                                cx.emit(
                                    "request-body-media-type-schema-added",
                                    ep,
                                    &format!("media type {mt}"),
                                    format!("a schema was added to the request media type {mt}"),
                                    Some(bm),
                                    Some(&rs),
                                );
                            }
                            (Some(bs), None) => {
                                cx.emit(
                                    "request-body-media-type-schema-removed",
                                    ep,
                                    &format!("media type {mt}"),
                                    format!(
                                        "the schema was removed from the request media type {mt}"
                                    ),
                                    Some(&bs),
                                    Some(rm),
                                );
                            }
                            (Some(bs), Some(rs)) => {
                                let scope = Scope {
                                    dir: Dir::Request,
                                    owner: Owner::Body,
                                    endpoint: ep,
                                    context: format!("media type {mt}"),
                                };
                                schema::diff(cx, &scope, &bs, &rs);
                            }
                            (None, None) => {}
                        }
                    }
                }
            }
            for (mt, rm) in &rc {
                if !bc.iter().any(|(k, _)| k == mt) {
                    cx.emit(
                        "request-body-media-type-added",
                        ep,
                        &format!("media type {mt}"),
                        format!("the media type {mt} was added to the request body"),
                        Some(&bb),
                        Some(rm),
                    );
                }
            }
        }
        (None, None) => {}
    }
}
