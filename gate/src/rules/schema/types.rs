//! Type, format and nullability changes.

use serde_json::Value;

use super::normalize::*;
use super::{Dir, Owner, Walk, join_list};
use crate::document::At;

impl<'d> Walk<'_, '_, '_, 'd> {
    pub(super) fn types(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let (bt, rt) = (effective_types(self.bd, b), effective_types(self.rd, r));
        let bf = b.v.get("format").and_then(Value::as_str).unwrap_or("");
        let rf = r.v.get("format").and_then(Value::as_str).unwrap_or("");
        if bt.is_empty() != rt.is_empty() && self.scope.dir == Dir::Request {
            self.type_set_or_dropped(b, r, path, &bt, &rt);
        }
        if bt.is_empty() || rt.is_empty() {
            return;
        }
        let what = self.what(path);
        if bt.len() > 1 || rt.len() > 1 {
            let removed: Vec<&String> = bt.difference(&rt).collect();
            let added: Vec<&String> = rt.difference(&bt).collect();
            if !removed.is_empty() {
                let d = format!(
                    "{what}'s list of types was narrowed by removing {}",
                    join_list(&removed)
                );
                self.emit("list-of-types-narrowed", path, d, b, r);
            }
            if !added.is_empty() {
                let d = format!(
                    "{what}'s list of types was widened by adding {}",
                    join_list(&added)
                );
                self.emit("list-of-types-widened", path, d, b, r);
            }
            return;
        }
        let (Some(bty), Some(rty)) = (bt.first(), rt.first()) else {
            return;
        };
        if bty == rty && bf == rf {
            return;
        }
        let from = if bf.is_empty() {
            bty.clone()
        } else {
            format!("{bty}/{bf}")
        };
        let to = if rf.is_empty() {
            rty.clone()
        } else {
            format!("{rty}/{rf}")
        };
        let mut widening = is_widening(bty, bf, rty, rf);
        let narrowing = is_widening(rty, rf, bty, bf);
        // A parameter that became an unconstrained array of its old type
        // still accepts the old single value.
        if matches!(self.scope.owner, Owner::Parameter { .. })
            && path.is_empty()
            && rty == "array"
            && bty != "array"
            && let Some(items) = self.rd.get(r, "items")
        {
            let plain = items.v.as_object().is_some_and(|m| {
                m.keys()
                    .all(|k| k == "type" || k == "format" || ANNOTATIONS.contains(&k.as_str()))
            });
            let limited =
                r.v.get("maxItems").is_some() || num(r.v, "minItems").is_some_and(|n| n > 1.0);
            if plain && !limited && types(items.v).iter().any(|t| t == bty) {
                widening = true;
            }
        }
        // A media type that is not JSON carries text: any value can be read
        // as a string, so a type swapped for `string` in a request (from
        // `string` in a response) still accepts (returns) what it did
        // (oasdiff's isStronglyTyped / isTypeContained).
        let ctx = &self.scope.context;
        let mt = ctx
            .find("media type ")
            .map_or("", |i| &ctx[i + "media type ".len()..]);
        let json = mt == "application/json" || mt.ends_with("+json");
        let loose = self.scope.owner == Owner::Body
            && !json
            && bty != rty
            && match self.scope.dir {
                Dir::Request => rty == "string",
                Dir::Response => bty == "string",
            };
        if loose && !widening && !narrowing {
            let d = format!(
                "{}'s type changed from {from} to {to} (a text payload either way)",
                self.what(path)
            );
            self.emit("type-compatible", path, d, b, r);
            return;
        }
        let change = match (self.scope.dir, widening, narrowing) {
            (Dir::Request, true, _) => "type-generalized",
            (Dir::Response, _, true) => "type-specialized",
            (Dir::Response, true, _) => "type-generalized",
            (Dir::Request, _, true) if self.prefix(path) == "request-parameter-property" => {
                "type-specialized"
            }
            _ => "type-changed",
        };
        let d = format!("{what}'s type changed from {from} to {to}");
        if !self.emit(change, path, d.clone(), b, r) && change != "type-changed" {
            self.emit("type-changed", path, d, b, r);
        }
    }

    /// A request schema's `type` dropped or set (neither side a composition):
    /// as oasdiff's requestTypeFormatBreaking, dropping it accepts anything
    /// (generalized); setting one rejects other values (changed), except a
    /// `string` in a media type that is not JSON.
    fn type_set_or_dropped(
        &mut self,
        b: &At<'d>,
        r: &At<'d>,
        path: &str,
        bt: &std::collections::BTreeSet<String>,
        rt: &std::collections::BTreeSet<String>,
    ) {
        let composed = |v: &Value| {
            ["oneOf", "anyOf", "allOf"]
                .iter()
                .any(|k| v.get(k).is_some())
        };
        if self.scope.owner != Owner::Body || composed(b.v) || composed(r.v) {
            return;
        }
        let ctx = &self.scope.context;
        let mt = ctx
            .find("media type ")
            .map_or("", |i| &ctx[i + "media type ".len()..]);
        let json = mt == "application/json" || mt.ends_with("+json");
        let (change, d) = if rt.is_empty() {
            (
                "type-generalized",
                format!(
                    "{}'s type {} was removed",
                    self.what(path),
                    join_list(&bt.iter().collect::<Vec<_>>())
                ),
            )
        } else {
            let to_string = rt.len() == 1 && rt.contains("string");
            (
                if !json && to_string {
                    "type-generalized"
                } else {
                    "type-changed"
                },
                format!(
                    "{}'s type was set to {}",
                    self.what(path),
                    join_list(&rt.iter().collect::<Vec<_>>())
                ),
            )
        };
        self.emit(change, path, d, b, r);
    }

    pub(super) fn nullable(
        &mut self,
        b: &At<'d>,
        r: &At<'d>,
        path: &str,
        bnull: bool,
        rnull: bool,
    ) {
        let (bn, rn) = (nullable(b.v) || bnull, nullable(r.v) || rnull);
        if bn == rn {
            return;
        }
        let what = self.what(path);
        if rn {
            self.emit(
                "became-nullable",
                path,
                format!("{what} became nullable"),
                b,
                r,
            );
        } else {
            self.emit(
                "became-not-nullable",
                path,
                format!("{what} became not nullable"),
                b,
                r,
            );
        }
    }
}

/// Is `(t2, f2)` a wider type than `(t1, f1)`?
pub(super) fn is_widening(t1: &str, f1: &str, t2: &str, f2: &str) -> bool {
    if t1 == "integer" && t2 == "number" && (f2.is_empty() || f2 == "double" || f2 == "float") {
        return true;
    }
    if t1 == t2 && f1 != f2 {
        if f2.is_empty() {
            return true; // a format dropped accepts more
        }
        // oasdiff's isFormatContained.
        return matches!(
            (t1, f1, f2),
            ("integer", "int32", "int64" | "bigint")
                | ("integer", "int64", "bigint")
                | ("number", "float", "double")
                | ("string", "date" | "time", "date-time")
        );
    }
    false
}
