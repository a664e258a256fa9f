//! `allOf`/`anyOf`/`oneOf`, a body wrapped into `oneOf`, and discriminators.

use std::collections::BTreeSet;

use serde_json::Value;

use super::normalize::*;
use super::{Dir, Walk, join_list};
use crate::document::At;

impl<'d> Walk<'_, '_, '_, 'd> {
    /// oasdiff's `OneOfWrappingDiff` (`diff/`): a schema with properties and
    /// no `oneOf` becomes a `oneOf` with no type or properties of its own,
    /// and some of the old properties are in its alternatives. The body's
    /// `…-wrapped-in-one-of` is then the one finding (the moved properties
    /// are not removed); below the body there is no rule for it.
    pub(super) fn wrapped_in_one_of(&mut self, b: &At<'d>, r: &At<'d>, path: &str) -> bool {
        let has = |v: &Value, k: &str| {
            v.get(k).is_some_and(|x| {
                x.as_array().is_some_and(|a| !a.is_empty())
                    || x.as_object().is_some_and(|m| !m.is_empty())
            })
        };
        if has(b.v, "oneOf") || !has(b.v, "properties") {
            return false;
        }
        if !has(r.v, "oneOf") || has(r.v, "properties") || !types(r.v).is_empty() || nullable(r.v) {
            return false;
        }
        let Some(one) = self.rd.get(r, "oneOf") else {
            return false;
        };
        let alts = self.rd.items(&one);
        let names: Vec<&String> =
            b.v.get("properties")
                .and_then(Value::as_object)
                .map(|m| m.keys().collect())
                .unwrap_or_default();
        let moved = names.iter().any(|n| {
            alts.iter().any(|a| {
                a.v.get("properties")
                    .and_then(|p| p.get(n.as_str()))
                    .is_some()
            })
        });
        if !moved {
            return false;
        }
        if path.is_empty() {
            let id = if self.scope.dir == Dir::Request {
                "request-body-wrapped-in-one-of"
            } else {
                "response-body-wrapped-in-one-of"
            };
            let detail = format!("{} was restructured into a oneOf", self.what(""));
            self.emit_id(id, "", detail, Some(b), Some(r));
        }
        true
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
            let (mut pairs, mut removed, mut added) = match_subschemas(&bl, &rl);
            if self.cx.config.differences().effective_schemas {
                // A member renamed, extracted into a `$ref` or inlined, and
                // changed: compared with the member it replaces, so the
                // change itself is reported, not a removal and an addition.
                pair_by_shape(&bl, &rl, &mut pairs, &mut removed, &mut added);
            }
            // A member is below the root: oasdiff's property walk
            // (`CheckModifiedPropertiesDiff`) reports a change inside an
            // `allOf`/`anyOf`/`oneOf` member with the `*-property-*` rules.
            for (i, j) in pairs {
                // oasdiff walks a modified member as a property of its own
                // (`/allOf[A]`): changes in it are `…-property-…` findings.
                let p = super::join(path, &format!("{kw}[{}]", sub_name(&bl[i], i)));
                self.node(&bl[i], &rl[j], &p, depth + 1);
            }
            // One finding per list and kind (oasdiff lists every member in it).
            let groups = |idx: &[usize], list: &[At<'d>]| {
                let (mut plain, mut ann) = (Vec::new(), Vec::new());
                for &i in idx {
                    if kw == "allOf" && annotation_only(list[i].v) {
                        ann.push(i);
                    } else {
                        plain.push(i);
                    }
                }
                [(plain, ""), (ann, "-annotation-only")]
            };
            for (idx, suffix) in groups(&removed, &bl) {
                let Some(&first) = idx.first() else { continue };
                let names: Vec<String> = idx.iter().map(|&i| sub_name(&bl[i], i)).collect();
                let n = join_list(&names);
                let sub = format!("{path} {kw} removed {n}");
                self.emit_enum(
                    &format!("{name}-removed{suffix}"),
                    path,
                    &sub,
                    format!("{n} removed from {what}'s {kw} list"),
                    &bl[first],
                    r,
                );
            }
            for (idx, suffix) in groups(&added, &rl) {
                let Some(&first) = idx.first() else { continue };
                let names: Vec<String> = idx.iter().map(|&j| sub_name(&rl[j], j)).collect();
                let n = join_list(&names);
                let sub = format!("{path} {kw} added {n}");
                self.emit_enum(
                    &format!("{name}-added{suffix}"),
                    path,
                    &sub,
                    format!("{n} added to {what}'s {kw} list"),
                    b,
                    &rl[first],
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

/// Pairs subschemas of two lists as oasdiff's `diff/subschemas_diff.go`
/// does: `$ref` members by their `$ref` (a different `$ref`, even of the same
/// shape, is a removal and an addition); members of the same content where
/// one side at least is inline, then inline ones by equal non-empty `title`, then, if exactly one inline member without
/// a title is left on each side, those two. Returns (pairs, removed, added).
pub(super) fn match_subschemas(
    bl: &[At<'_>],
    rl: &[At<'_>],
) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let mut pairs = Vec::new();
    let mut used_r = vec![false; rl.len()];
    let mut left_b = Vec::new();
    for (i, b) in bl.iter().enumerate() {
        let by_ref = b
            .via
            .and_then(|br| (0..rl.len()).find(|&j| !used_r[j] && rl[j].via == Some(br)));
        match by_ref {
            Some(j) => {
                used_r[j] = true;
                pairs.push((i, j));
            }
            None => left_b.push(i),
        }
    }
    // The same content, where one side at least is inline (an inline member
    // replaced by a `$ref` to the same schema is not a change; two different
    // `$ref`s are a removal and an addition whatever their shape).
    let mut rest_b = Vec::new();
    for i in left_b {
        let bv = validation_view(bl[i].v);
        match (0..rl.len()).find(|&j| {
            !used_r[j]
                && (bl[i].via.is_none() || rl[j].via.is_none())
                && validation_view(rl[j].v) == bv
        }) {
            Some(j) => {
                used_r[j] = true;
                pairs.push((i, j));
            }
            None => rest_b.push(i),
        }
    }
    let (mut removed, inline_b): (Vec<usize>, Vec<usize>) =
        rest_b.into_iter().partition(|&i| bl[i].via.is_some());
    let inline_r: Vec<usize> = (0..rl.len()).filter(|&j| rl[j].via.is_none()).collect();
    // The same title.
    let title = |v: &Value| {
        v.get("title")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let mut still_b = Vec::new();
    for i in inline_b {
        let t = title(bl[i].v);
        let found = (!t.is_empty())
            .then(|| {
                inline_r
                    .iter()
                    .copied()
                    .find(|&j| !used_r[j] && title(rl[j].v) == t)
            })
            .flatten();
        match found {
            Some(j) => {
                used_r[j] = true;
                pairs.push((i, j));
            }
            None => still_b.push(i),
        }
    }
    let still_r: Vec<usize> = inline_r.iter().copied().filter(|&j| !used_r[j]).collect();
    // One untitled inline member left on each side: a modification.
    if still_b.len() == 1
        && still_r.len() == 1
        && title(bl[still_b[0]].v).is_empty()
        && title(rl[still_r[0]].v).is_empty()
    {
        pairs.push((still_b[0], still_r[0]));
        used_r[still_r[0]] = true;
        still_b.clear();
    }
    removed.extend(still_b);
    removed.sort_unstable();
    let added: Vec<usize> = (0..rl.len()).filter(|&j| !used_r[j]).collect();
    (pairs, removed, added)
}

/// The property names of a member, if it describes an object.
fn shape(v: &Value) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let props: BTreeSet<String> = v
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    (!props.is_empty()).then(|| (types(v), props))
}

/// Pairs the members left over by [`match_subschemas`] by what they
/// describe, whatever their names: two objects whose property names mostly
/// agree (at least half of all names are shared), the closest first; then a
/// single leftover on each side of the same non-object type.
pub(super) fn pair_by_shape(
    bl: &[At<'_>],
    rl: &[At<'_>],
    pairs: &mut Vec<(usize, usize)>,
    removed: &mut Vec<usize>,
    added: &mut Vec<usize>,
) {
    let mut candidates: Vec<(usize, usize, usize, usize)> = Vec::new();
    for &i in removed.iter() {
        let Some((bt, bp)) = shape(bl[i].v) else {
            continue;
        };
        for &j in added.iter() {
            let Some((rt, rp)) = shape(rl[j].v) else {
                continue;
            };
            if bt != rt {
                continue;
            }
            let common = bp.intersection(&rp).count();
            let all = bp.union(&rp).count();
            if common > 0 && common * 2 >= all {
                // Most shared names first; ties by position.
                candidates.push((all - common, i, j, common));
            }
        }
    }
    candidates.sort_by_key(|&(miss, i, j, common)| (miss, std::cmp::Reverse(common), i, j));
    for (_, i, j, _) in candidates {
        if removed.contains(&i) && added.contains(&j) {
            removed.retain(|&x| x != i);
            added.retain(|&x| x != j);
            pairs.push((i, j));
        }
    }
    if let ([i], [j]) = (removed.as_slice(), added.as_slice()) {
        let (bt, rt) = (types(bl[*i].v), types(rl[*j].v));
        let plain = |v: &Value| v.get("properties").is_none();
        if !bt.is_empty() && bt == rt && plain(bl[*i].v) && plain(rl[*j].v) {
            pairs.push((*i, *j));
            removed.clear();
            added.clear();
        }
    }
}
