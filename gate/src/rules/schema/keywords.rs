//! The JSON Schema 2020-12 keywords of OpenAPI 3.1 (`const`, `if`, `contains`, `prefixItems`, ...).

use serde_json::Value;

use super::Walk;
use super::normalize::*;
use crate::document::At;

impl<'d> Walk<'_, '_, '_, 'd> {
    pub(super) fn json_schema_2020(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
        let what = self.what(path);
        // Keywords whose presence is the change.
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
            match (b.v.get(kw), r.v.get(kw)) {
                (None, Some(_)) => {
                    self.emit(
                        &format!("{name}-added"),
                        path,
                        format!("'{kw}' was added to {what}"),
                        b,
                        r,
                    );
                }
                (Some(_), None) => {
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
            let (x, y) = (b.v.get(kw), r.v.get(kw));
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
                    Some(xv) if xv != yv => self.emit_enum(
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
        // prefixItems: by position.
        let bl =
            b.v.get("prefixItems")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
        let rl =
            r.v.get("prefixItems")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
        for i in rl..bl {
            let sub = format!("{path} prefixItems {i}");
            self.emit_enum(
                "prefix-items-removed",
                path,
                &sub,
                format!("prefixItems #{} was removed from {what}", i + 1),
                b,
                r,
            );
        }
        for i in bl..rl {
            let sub = format!("{path} prefixItems {i}");
            self.emit_enum(
                "prefix-items-added",
                path,
                &sub,
                format!("prefixItems #{} was added to {what}", i + 1),
                b,
                r,
            );
        }
        if let (Some(bp), Some(rp)) = (self.bd.get(b, "prefixItems"), self.rd.get(r, "prefixItems"))
        {
            let (bi, ri) = (self.bd.items(&bp), self.rd.items(&rp));
            for (x, y) in bi.iter().zip(ri.iter()) {
                self.node(x, y, path, depth + 1);
            }
        }
        for kw in [
            "contains",
            "if",
            "then",
            "else",
            "propertyNames",
            "contentSchema",
        ] {
            if let (Some(x), Some(y)) = (self.bd.get(b, kw), self.rd.get(r, kw))
                && x.v.is_object()
                && y.v.is_object()
            {
                self.node(&x, &y, path, depth + 1);
            }
        }
    }
}
