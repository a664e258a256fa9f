//! Type, format and nullability changes.

use std::collections::BTreeSet;

use serde_json::Value;

use super::normalize::*;
use super::{Dir, Owner, Walk, join_list};
use crate::document::{At, Document};

impl<'d> Walk<'_, '_, '_, 'd> {
    pub(super) fn types(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        if matches!(self.scope.owner, Owner::Parameter { .. } | Owner::Header) {
            self.text_types(b, r, path);
            return;
        }
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
        let union = type_union(self.bd, b).is_some() || type_union(self.rd, r).is_some();
        if !union && (bt.len() > 1 || rt.len() > 1) {
            // A 3.1 type array: oasdiff's TypeDiff, read as a set (its
            // requestTypeFormatBreaking / responseTypeFormatBreaking): a
            // request that accepts every type it did is generalized; a
            // response that returns only types it did is specialized.
            let change = match self.scope.dir {
                Dir::Request if subset(&bt, &rt) => "type-generalized",
                Dir::Request => "type-changed",
                Dir::Response if subset(&rt, &bt) => "type-specialized",
                Dir::Response if subset(&bt, &rt) => "type-generalized",
                Dir::Response => "type-changed",
            };
            let list = |t: &BTreeSet<String>| join_list(&t.iter().collect::<Vec<_>>());
            let d = format!("{what}'s types changed from {} to {}", list(&bt), list(&rt));
            if !self.emit(change, path, d.clone(), b, r) && change != "type-changed" {
                self.emit("type-changed", path, d, b, r);
            }
            return;
        }
        if bt.len() > 1 || rt.len() > 1 {
            // oasdiff's list-of-types pattern: a oneOf/anyOf of members that
            // only name a type, on one side at least.
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
        let widening = is_widening(bty, bf, rty, rf);
        let narrowing = is_widening(rty, rf, bty, bf);
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
            _ => "type-changed",
        };
        let d = format!("{what}'s type changed from {from} to {to}");
        if !self.emit(change, path, d.clone(), b, r) && change != "type-changed" {
            self.emit("type-changed", path, d, b, r);
        }
    }

    /// Type and format changes of a parameter's or a response header's
    /// schema, as oasdiff classifies them (`checker/type_format.go`,
    /// `check_request_parameters_type_changed.go`,
    /// `check_response_header_type_changed.go`): the value travels as text,
    /// so it is not strongly typed (anything may become a string), except a
    /// parameter's object properties, whose serialization is unknown (they
    /// fork three ways). A `oneOf`/`anyOf` of plain types on either side is
    /// a list-of-types change instead; a 3.1 type array is a type change.
    fn text_types(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let union = |doc: &Document, at: &At<'_>| {
            if types(at.v).is_empty() {
                type_union(doc, at)
            } else {
                None
            }
        };
        let (bu, ru) = (union(self.bd, b), union(self.rd, r));
        let (bt, rt) = (
            bu.clone().unwrap_or_else(|| types(b.v)),
            ru.clone().unwrap_or_else(|| types(r.v)),
        );
        let what = self.what(path);
        if bu.is_some() || ru.is_some() {
            if bu.is_none() && bt.is_empty() || ru.is_none() && rt.is_empty() {
                return;
            }
            let removed: Vec<&String> = bt.difference(&rt).collect();
            let added: Vec<&String> = rt.difference(&bt).collect();
            let narrowed = if self.scope.dir == Dir::Request {
                !removed.is_empty()
            } else {
                added.is_empty()
            };
            if removed.is_empty() && added.is_empty() {
                return;
            }
            let d = if narrowed {
                format!(
                    "{what}'s list of types was narrowed by removing {}",
                    join_list(&removed)
                )
            } else {
                format!(
                    "{what}'s list of types was widened by adding {}",
                    join_list(&added)
                )
            };
            let change = if narrowed {
                "list-of-types-narrowed"
            } else {
                "list-of-types-widened"
            };
            self.emit(change, path, d, b, r);
            return;
        }
        let bf = b.v.get("format").and_then(Value::as_str).unwrap_or("");
        let rf = r.v.get("format").and_then(Value::as_str).unwrap_or("");
        let added: Vec<&str> = rt.difference(&bt).map(String::as_str).collect();
        let deleted: Vec<&str> = bt.difference(&rt).map(String::as_str).collect();
        let type_changed = !added.is_empty() || !deleted.is_empty();
        let format_changed = bf != rf;
        if !type_changed && !format_changed {
            return;
        }
        let show = |t: &BTreeSet<String>, f: &str| {
            let t = if t.is_empty() {
                "any".to_owned()
            } else {
                join_list(&t.iter().collect::<Vec<_>>())
            };
            if f.is_empty() { t } else { format!("{t}/{f}") }
        };
        let (from, to) = (show(&bt, bf), show(&rt, rf));
        let change = if self.scope.owner == Owner::Header {
            // A response: covariant, the direction reversed.
            let narrowed = type_changed && subset(&rt, &bt);
            let breaking = if type_changed && !narrowed && bt.is_empty() {
                false
            } else {
                let tdiff = (type_changed && !narrowed).then_some((&deleted, &added));
                type_or_format_breaking(tdiff, (format_changed).then_some((bf, rf)), false, &bt)
            };
            if breaking {
                if type_changed && subset(&bt, &rt) {
                    "type-generalized"
                } else {
                    "type-changed"
                }
            } else if type_changed && !bt.is_empty() && !rt.is_empty() && !narrowed {
                "type-compatible"
            } else {
                "type-specialized"
            }
        } else {
            let tdiff = type_changed.then_some((&added, &deleted));
            let fdiff = format_changed.then_some((rf, bf));
            if path.is_empty() {
                let form_array = matches!(self.scope.owner, Owner::Parameter { form: true, .. })
                    && self.scalar_to_array(b, r, &added, &deleted);
                if type_or_format_breaking(tdiff, fdiff, false, &rt) && !form_array {
                    "type-changed"
                } else {
                    "type-generalized"
                }
            } else {
                let strong = type_or_format_breaking(tdiff, fdiff, true, &rt);
                let loose = type_or_format_breaking(tdiff, fdiff, false, &rt);
                match (strong, loose) {
                    (true, true) => "type-specialized",
                    (false, false) => "type-generalized",
                    _ => "type-changed",
                }
            }
        };
        let d = format!("{what}'s type/format changed from {from} to {to}");
        self.emit(change, path, d, b, r);
    }

    /// A scalar that became an array whose items are that scalar, nothing
    /// else changed: one value on the wire is a one-element array.
    fn scalar_to_array(&self, b: &At<'d>, r: &At<'d>, added: &[&str], deleted: &[&str]) -> bool {
        if added != ["array"] || deleted.len() != 1 || deleted[0] == "array" {
            return false;
        }
        let Some(items) = self.rd.get(r, "items") else {
            return false;
        };
        let strip = |v: &Value| {
            let mut v = validation_view(v);
            if let Some(m) = v.as_object_mut() {
                m.remove("nullable");
                m.remove("deprecated");
                m.remove("readOnly");
                m.remove("writeOnly");
                if let Some(Value::Array(a)) = m.get_mut("type") {
                    a.retain(|t| t.as_str() != Some("null"));
                    if a.len() == 1 {
                        let t = a[0].clone();
                        m.insert("type".to_owned(), t);
                    }
                }
            }
            v
        };
        strip(b.v) == strip(items.v)
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

/// `integer` within `number`, or the same type.
fn is_subtype(sub: &str, sup: &str) -> bool {
    sub == sup || (sub == "integer" && sup == "number")
}

/// Every type of `sub` (non-empty) is covered by one of `sup`.
fn subset(sub: &BTreeSet<String>, sup: &BTreeSet<String>) -> bool {
    !sub.is_empty() && sub.iter().all(|t| sup.iter().any(|s| is_subtype(t, s)))
}

/// oasdiff's `typeOrFormatBreaking` toward `to_types`: `tdiff` is (the types
/// the target adds, those it drops), `fdiff` (the target format, the source
/// format); either axis breaking on its own breaks.
fn type_or_format_breaking(
    tdiff: Option<(&Vec<&str>, &Vec<&str>)>,
    fdiff: Option<(&str, &str)>,
    strong: bool,
    to_types: &BTreeSet<String>,
) -> bool {
    let type_breaking = tdiff.is_some_and(|(to, from)| {
        let contained = (to.len() == 1 && from.len() == 1 && is_subtype(from[0], to[0]))
            || (!strong && (to.is_empty() || (to.len() == 1 && to[0] == "string")));
        !contained
    });
    let format_breaking = fdiff.is_some_and(|(to, from)| !format_contained(to_types, to, from));
    type_breaking || format_breaking
}

/// oasdiff's `isFormatContained`: does format `to` accept every value of `from`?
fn format_contained(types: &BTreeSet<String>, to: &str, from: &str) -> bool {
    if to.is_empty() {
        return true;
    }
    if types.len() != 1 {
        return false;
    }
    match types.iter().next().map(String::as_str) {
        Some("number") => to == "double" && from == "float",
        Some("integer") => matches!(
            (from, to),
            ("int32", "int64") | ("int32", "bigint") | ("int64", "bigint")
        ),
        Some("string") => to == "date-time" && matches!(from, "date" | "time"),
        _ => false,
    }
}
