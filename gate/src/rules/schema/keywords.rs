//! The JSON Schema 2020-12 keywords of OpenAPI 3.1 (`const`, `if`, `contains`, `prefixItems`, ...).

use serde_json::Value;

use std::collections::BTreeSet;

use super::normalize::*;
use super::{Walk, join};
use crate::document::At;

impl<'d> Walk<'_, '_, '_, 'd> {
    pub(super) fn json_schema_2020(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
        let what = self.what(path);
        // Keywords whose presence is the change. A subschema keyword is
        // present when it holds a schema: oasdiff (kin-openapi) reads a boolean
        // `unevaluatedItems`/`unevaluatedProperties` as a flag beside the
        // schema, and no check reports the flag.
        for (kw, name) in [
            ("contains", "contains"),
            ("if", "if"),
            ("then", "then"),
            ("else", "else"),
            ("propertyNames", "property-names"),
            ("unevaluatedItems", "unevaluated-items"),
            ("unevaluatedProperties", "unevaluated-properties"),
            ("contentSchema", "content-schema"),
        ] {
            let schema = |v: &serde_json::Value| -> bool {
                match v.get(kw) {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(_)) => !kw.starts_with("unevaluated"),
                    Some(_) => true,
                }
            };
            match (schema(b.v), schema(r.v)) {
                (false, true) => {
                    self.emit(
                        &format!("{name}-added"),
                        path,
                        format!("'{kw}' was added to {what}"),
                        b,
                        r,
                    );
                }
                (true, false) => {
                    self.emit(
                        &format!("{name}-removed"),
                        path,
                        format!("'{kw}' was removed from {what}"),
                        b,
                        r,
                    );
                }
                _ => {}
            }
        }
        for (kw, name) in [
            ("contentMediaType", "content-media-type"),
            ("contentEncoding", "content-encoding"),
        ] {
            // A string keyword: absent reads as "".
            let get = |v: &'d Value| v.get(kw).filter(|x| x.as_str() != Some(""));
            let (x, y) = (get(b.v), get(r.v));
            if x != y {
                let d = format!(
                    "{what}'s {kw} changed from {} to {}",
                    x.map(show).unwrap_or_default(),
                    y.map(show).unwrap_or_default()
                );
                self.emit(&format!("{name}-changed"), path, d, b, r);
            }
        }
        // Keyed keywords: one finding per key.
        for (kw, name) in [
            ("dependentSchemas", "dependent-schema"),
            ("patternProperties", "pattern-property"),
        ] {
            let empty = serde_json::Map::new();
            let x = b.v.get(kw).and_then(Value::as_object).unwrap_or(&empty);
            let y = r.v.get(kw).and_then(Value::as_object).unwrap_or(&empty);
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                let sub = format!("{path} {kw} {k}");
                self.emit_enum(
                    &format!("{name}-added"),
                    path,
                    &sub,
                    format!("the {kw} entry {k} was added to {what}"),
                    b,
                    r,
                );
            }
            for k in x.keys().filter(|k| !y.contains_key(*k)) {
                let sub = format!("{path} {kw} {k}");
                self.emit_enum(
                    &format!("{name}-removed"),
                    path,
                    &sub,
                    format!("the {kw} entry {k} was removed from {what}"),
                    b,
                    r,
                );
            }
        }
        {
            let empty = serde_json::Map::new();
            let x =
                b.v.get("dependentRequired")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
            let y =
                r.v.get("dependentRequired")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
            for (k, yv) in y {
                let sub = format!("{path} dependentRequired {k}");
                match x.get(k) {
                    None => self.emit_enum(
                        "dependent-required-added",
                        path,
                        &sub,
                        format!(
                            "dependentRequired for {k} was added to {what}: {}",
                            show(yv)
                        ),
                        b,
                        r,
                    ),
                    Some(xv) if names(xv) != names(yv) => self.emit_enum(
                        "dependent-required-changed",
                        path,
                        &sub,
                        format!(
                            "dependentRequired for {k} of {what} changed from {} to {}",
                            show(xv),
                            show(yv)
                        ),
                        b,
                        r,
                    ),
                    _ => {}
                }
            }
            for (k, xv) in x.iter().filter(|(k, _)| !y.contains_key(*k)) {
                let sub = format!("{path} dependentRequired {k}");
                self.emit_enum(
                    "dependent-required-removed",
                    path,
                    &sub,
                    format!(
                        "dependentRequired for {k} was removed from {what}: {}",
                        show(xv)
                    ),
                    b,
                    r,
                );
            }
        }
        // prefixItems: entries paired by position; the entries past the end of
        // the shorter list are added or removed, reported once per direction
        // (oasdiff lists them in one finding).
        let bl =
            b.v.get("prefixItems")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
        let rl =
            r.v.get("prefixItems")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
        if bl > rl {
            let sub = format!("{path} prefixItems");
            let which = (rl + 1..=bl).map(|i| format!("#{i}")).collect::<Vec<_>>();
            self.emit_enum(
                "prefix-items-removed",
                path,
                &sub,
                format!("prefixItems {} removed from {what}", which.join(", ")),
                b,
                r,
            );
        }
        if rl > bl {
            let sub = format!("{path} prefixItems");
            let which = (bl + 1..=rl).map(|i| format!("#{i}")).collect::<Vec<_>>();
            self.emit_enum(
                "prefix-items-added",
                path,
                &sub,
                format!("prefixItems {} added to {what}", which.join(", ")),
                b,
                r,
            );
        }
        // Subschemas below a keyword are walked as properties (oasdiff's
        // property walk goes into them, named `/prefixItems[i]`, `/if`, ...).
        if let (Some(bp), Some(rp)) = (self.bd.get(b, "prefixItems"), self.rd.get(r, "prefixItems"))
        {
            let (bi, ri) = (self.bd.items(&bp), self.rd.items(&rp));
            for (i, (x, y)) in bi.iter().zip(ri.iter()).enumerate() {
                let p = join(path, &format!("prefixItems[{i}]"));
                self.node(x, y, &p, depth + 1);
            }
        }
        for kw in ["patternProperties", "dependentSchemas"] {
            if let (Some(bm), Some(rm)) = (self.bd.get(b, kw), self.rd.get(r, kw)) {
                for (k, x) in self.bd.entries(&bm) {
                    if let Some((_, y)) = self.rd.entries(&rm).into_iter().find(|(n, _)| *n == k)
                        && x.v.is_object()
                        && y.v.is_object()
                    {
                        let p = join(path, &format!("{kw}[{k}]"));
                        self.node(&x, &y, &p, depth + 1);
                    }
                }
            }
        }
        for kw in [
            "contains",
            "if",
            "then",
            "else",
            "propertyNames",
            "contentSchema",
            "unevaluatedItems",
            "unevaluatedProperties",
        ] {
            if let (Some(x), Some(y)) = (self.bd.get(b, kw), self.rd.get(r, kw))
                && x.v.is_object()
                && y.v.is_object()
            {
                let p = join(path, kw);
                self.node(&x, &y, &p, depth + 1);
            }
        }
    }
}

/// The property names of a `dependentRequired` entry, as a set (oasdiff
/// compares the lists without regard to order).
fn names(v: &Value) -> BTreeSet<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
