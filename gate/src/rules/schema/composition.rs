//! `allOf`/`anyOf`/`oneOf`, a body wrapped into `oneOf`, and discriminators.

use serde_json::Value;

use super::normalize::*;
use super::{Dir, Walk, join_list};
use crate::document::At;

impl<'d> Walk<'_, '_, '_, 'd> {
    pub(super) fn wrapped_in_one_of(&mut self, b: &At<'d>, r: &At<'d>) -> bool {
        if b.v.get("oneOf").is_some() || b.v.get("anyOf").is_some() {
            return false;
        }
        let Some(one) = self.rd.get(r, "oneOf") else {
            return false;
        };
        if r.v.get("properties").is_some() {
            return false;
        }
        let bview = validation_view(b.v);
        let wrapped = self
            .rd
            .items(&one)
            .iter()
            .any(|m| (m.via.is_some() && m.via == b.via) || validation_view(m.v) == bview);
        if wrapped {
            let id = if self.scope.dir == Dir::Request {
                "request-body-wrapped-in-one-of"
            } else {
                "response-body-wrapped-in-one-of"
            };
            let detail = format!("{} was restructured into a oneOf", self.what(""));
            self.emit_id(id, "", detail, Some(b), Some(r));
        }
        wrapped
    }

    pub(super) fn discriminator(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let what = self.what(path);
        let (bd, rd) = (b.v.get("discriminator"), r.v.get("discriminator"));
        match (bd, rd) {
            (None, Some(_)) => {
                self.emit(
                    "discriminator-added",
                    path,
                    format!("a discriminator was added to {what}"),
                    b,
                    r,
                );
            }
            (Some(_), None) => {
                self.emit(
                    "discriminator-removed",
                    path,
                    format!("the discriminator was removed from {what}"),
                    b,
                    r,
                );
            }
            (Some(x), Some(y)) if x != y => {
                let (xp, yp) = (
                    x.get("propertyName").and_then(Value::as_str),
                    y.get("propertyName").and_then(Value::as_str),
                );
                if xp != yp {
                    self.emit(
                        "discriminator-property-name-changed",
                        path,
                        format!(
                            "{what}'s discriminator property changed from {} to {}",
                            xp.unwrap_or(""),
                            yp.unwrap_or("")
                        ),
                        b,
                        r,
                    );
                }
                let empty = serde_json::Map::new();
                let xm = x
                    .get("mapping")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
                let ym = y
                    .get("mapping")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
                let added: Vec<&String> = ym.keys().filter(|k| !xm.contains_key(*k)).collect();
                let removed: Vec<&String> = xm.keys().filter(|k| !ym.contains_key(*k)).collect();
                if !added.is_empty() {
                    self.emit(
                        "discriminator-mapping-added",
                        path,
                        format!(
                            "the discriminator mapping keys {} were added to {what}",
                            join_list(&added)
                        ),
                        b,
                        r,
                    );
                }
                if !removed.is_empty() {
                    self.emit(
                        "discriminator-mapping-deleted",
                        path,
                        format!(
                            "the discriminator mapping keys {} were removed from {what}",
                            join_list(&removed)
                        ),
                        b,
                        r,
                    );
                }
                for (k, xv) in xm {
                    if let Some(yv) = ym.get(k)
                        && xv != yv
                    {
                        self.emit(
                            "discriminator-mapping-changed",
                            path,
                            format!(
                                "{what}'s discriminator mapping {k} changed from {} to {}",
                                show(xv),
                                show(yv)
                            ),
                            b,
                            r,
                        );
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn composition(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
        let what = self.what(path);
        for (kw, name) in [
            ("allOf", "all-of"),
            ("anyOf", "any-of"),
            ("oneOf", "one-of"),
        ] {
            let bl = self
                .bd
                .get(b, kw)
                .map(|a| self.bd.items(&a))
                .unwrap_or_default();
            let rl = self
                .rd
                .get(r, kw)
                .map(|a| self.rd.items(&a))
                .unwrap_or_default();
            if bl.is_empty() && rl.is_empty() {
                continue;
            }
            if kw != "allOf"
                && (type_union(self.bd, b).is_some() || type_union(self.rd, r).is_some())
            {
                continue; // compared as a list of types
            }
            let (pairs, removed, added) = match_subschemas(&bl, &rl);
            // A member is below the root: oasdiff's property walk
            // (`CheckModifiedPropertiesDiff`) reports a change inside an
            // `allOf`/`anyOf`/`oneOf` member with the `*-property-*` rules.
            for (i, j) in pairs {
                let p = super::join(path, &format!("{kw}[{j}]"));
                self.node(&bl[i], &rl[j], &p, depth + 1);
            }
            for i in removed {
                let n = sub_name(&bl[i], i);
                let ann = kw == "allOf" && annotation_only(bl[i].v);
                let change = if ann {
                    format!("{name}-removed-annotation-only")
                } else {
                    format!("{name}-removed")
                };
                let sub = format!("{path} {kw} {n}");
                self.emit_enum(
                    &change,
                    path,
                    &sub,
                    format!("{n} was removed from {what}'s {kw} list"),
                    &bl[i],
                    r,
                );
            }
            for j in added {
                let n = sub_name(&rl[j], j);
                let ann = kw == "allOf" && annotation_only(rl[j].v);
                let change = if ann {
                    format!("{name}-added-annotation-only")
                } else {
                    format!("{name}-added")
                };
                let sub = format!("{path} {kw} {n}");
                self.emit_enum(
                    &change,
                    path,
                    &sub,
                    format!("{n} was added to {what}'s {kw} list"),
                    b,
                    &rl[j],
                );
            }
        }
    }
}

/// Names a subschema: its `$ref` target's last segment, or its position.
pub(super) fn sub_name(at: &At<'_>, i: usize) -> String {
    match at.via {
        Some(r) => r.rsplit('/').next().unwrap_or(r).to_owned(),
        None => format!("subschema #{}", i + 1),
    }
}

/// Pairs subschemas of two lists: the same `$ref`, then equal validation, then
/// by position among the rest when the counts allow. Returns (pairs, removed, added).
pub(super) fn match_subschemas(
    bl: &[At<'_>],
    rl: &[At<'_>],
) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let mut pairs = Vec::new();
    let mut used_r = vec![false; rl.len()];
    let mut unmatched_b = Vec::new();
    for (i, b) in bl.iter().enumerate() {
        let by_ref = b.via.and_then(|br| {
            rl.iter().enumerate().position(|(j, r)| {
                !used_r[j] && r.via.map(|x| x.rsplit('/').next()) == Some(br.rsplit('/').next())
            })
        });
        if let Some(j) = by_ref {
            used_r[j] = true;
            pairs.push((i, j));
        } else {
            unmatched_b.push(i);
        }
    }
    let mut still_b = Vec::new();
    for i in unmatched_b {
        let bv = validation_view(bl[i].v);
        if let Some(j) = (0..rl.len()).find(|&j| !used_r[j] && validation_view(rl[j].v) == bv) {
            used_r[j] = true;
            pairs.push((i, j));
        } else {
            still_b.push(i);
        }
    }
    let still_r: Vec<usize> = (0..rl.len()).filter(|&j| !used_r[j]).collect();
    // Inline subschemas of the same shape at the same place: a modification.
    let mut removed = Vec::new();
    let mut added: Vec<usize> = Vec::new();
    let mut rest_r = still_r.clone();
    for i in still_b {
        let same_kind = rest_r.iter().position(|&j| {
            bl[i].via.is_none()
                && rl[j].via.is_none()
                && types(bl[i].v) == types(rl[j].v)
                && !types(bl[i].v).is_empty()
        });
        match same_kind {
            Some(k) => {
                pairs.push((i, rest_r.remove(k)));
            }
            None => removed.push(i),
        }
    }
    added.extend(rest_r);
    (pairs, removed, added)
}
