//! Enums, numeric and length bounds, patterns, defaults and constants.

use serde_json::Value;

use super::normalize::*;
use super::{Dir, Owner, Walk};
use crate::document::At;
use crate::rules::as_bool;

fn show_num(v: &Value) -> String {
    v.as_f64().map_or_else(|| show(v), fmt_num)
}

impl<'d> Walk<'_, '_, '_, 'd> {
    pub(super) fn enums(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let what = self.what(path);
        let be = enum_values(b.v, "enum");
        let re = enum_values(r.v, "enum");
        match (&be, &re) {
            (None, Some(_)) if self.scope.dir == Dir::Request => {
                self.emit(
                    "became-enum",
                    path,
                    format!("{what} was restricted to a list of enum values"),
                    b,
                    r,
                );
                // A header parameter is also reported as a request header.
                if path.is_empty()
                    && matches!(self.scope.owner, Owner::Parameter { header: true, .. })
                {
                    self.emit_id(
                        "request-header-property-became-enum",
                        path,
                        format!(
                            "the request header {what} was restricted to a list of enum values"
                        ),
                        Some(b),
                        Some(r),
                    );
                }
            }
            (Some(bv), Some(rv)) => {
                let removed: Vec<&Value> = bv.iter().filter(|x| !rv.contains(x)).collect();
                let added: Vec<&Value> = rv.iter().filter(|x| !bv.contains(x)).collect();
                let extensible = r.v.get("x-extensible-enum").is_some();
                for v in removed {
                    let d = format!("the enum value {} was removed from {what}", show(v));
                    let sub = format!("{} enum {}", path, show(v));
                    if path.is_empty() && self.scope.owner == Owner::Body {
                        let id = if self.scope.dir == Dir::Request {
                            "request-body-enum-value-removed"
                        } else {
                            "response-mediatype-enum-value-removed"
                        };
                        self.emit_id(id, &sub, d, Some(b), Some(r));
                    } else {
                        self.emit_enum("enum-value-removed", path, &sub, d, b, r);
                    }
                }
                for v in added {
                    if extensible && self.scope.dir == Dir::Response {
                        continue;
                    }
                    let d = format!("the enum value {} was added to {what}", show(v));
                    let sub = format!("{} enum {}", path, show(v));
                    self.emit_enum("enum-value-added", path, &sub, d, b, r);
                }
            }
            _ => {}
        }
        // x-extensible-enum: clients may send any listed value.
        if let (Some(bv), Some(rv)) = (
            enum_values(b.v, "x-extensible-enum"),
            enum_values(r.v, "x-extensible-enum"),
        ) {
            for v in bv.iter().filter(|x| !rv.contains(x)) {
                let d = format!(
                    "the x-extensible-enum value {} was removed from {what}",
                    show(v)
                );
                let sub = format!("{} x-extensible-enum {}", path, show(v));
                self.emit_enum("x-extensible-enum-value-removed", path, &sub, d, b, r);
            }
        }
    }

    /// Like [`Self::emit`] with a finer subject (one per enum value).
    pub(super) fn emit_enum(
        &mut self,
        change: &str,
        path: &str,
        sub: &str,
        detail: String,
        b: &At<'_>,
        r: &At<'_>,
    ) {
        let prefix = self.prefix(path);
        let mut id = format!("{prefix}-{change}");
        if self.scope.owner == Owner::Body && !path.is_empty() {
            if self.scope.dir == Dir::Request && as_bool(r.v.get("readOnly")) {
                let ro = format!("request-read-only-property-{change}");
                if crate::catalogue::find(&ro).is_some() {
                    id = ro;
                }
            }
            if self.scope.dir == Dir::Response && as_bool(r.v.get("writeOnly")) {
                let wo = format!("response-write-only-property-{change}");
                if crate::catalogue::find(&wo).is_some() {
                    id = wo;
                }
            }
        }
        let subject = format!("{} {}", self.scope.context, sub.trim());
        self.cx
            .emit(&id, self.scope.endpoint, &subject, detail, Some(b), Some(r));
    }

    pub(super) fn bounds(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let what = self.what(path);
        let normalized = self.cx.config.differences().normalized_bounds;
        let nb = bounds(b.v);
        let nr = bounds(r.v);
        let mut pairs: Vec<(&str, Option<Value>, Option<Value>)> = Vec::new();
        for (i, (kw, name)) in [
            ("minimum", "min"),
            ("exclusiveMinimum", "exclusive-min"),
            ("maximum", "max"),
            ("exclusiveMaximum", "exclusive-max"),
        ]
        .into_iter()
        .enumerate()
        {
            if normalized {
                let f = |x: Option<f64>| x.map(Value::from);
                pairs.push((name, f(nb[i]), f(nr[i])));
            } else {
                // As written: a 3.0 boolean is compared as a boolean.
                pairs.push((name, b.v.get(kw).cloned(), r.v.get(kw).cloned()));
            }
        }
        for (kw, name) in [
            ("maxLength", "max-length"),
            ("minLength", "min-length"),
            ("maxItems", "max-items"),
            ("minItems", "min-items"),
            ("minContains", "min-contains"),
            ("maxContains", "max-contains"),
            ("maxProperties", "max-properties"),
            ("minProperties", "min-properties"),
        ] {
            let (mut x, mut y) = (b.v.get(kw).cloned(), r.v.get(kw).cloned());
            // kin-openapi reads an absent minLength, minItems or minProperties
            // as 0: setting one increases it, dropping one decreases it.
            if matches!(kw, "minLength" | "minItems" | "minProperties") {
                x = Some(x.unwrap_or_else(|| Value::from(0)));
                y = Some(y.unwrap_or_else(|| Value::from(0)));
            }
            pairs.push((name, x, y));
        }
        for (name, x, y) in pairs {
            let lower = name.starts_with("min") || name == "exclusive-min";
            match (x, y) {
                (None, Some(y)) => {
                    self.emit(
                        &format!("{name}-set"),
                        path,
                        format!("{what}'s {name} was set to {}", show_num(&y)),
                        b,
                        r,
                    );
                }
                (Some(x), None) => {
                    self.emit(
                        &format!("{name}-unset"),
                        path,
                        format!("{what}'s {name} {} was removed", show_num(&x)),
                        b,
                        r,
                    );
                }
                (Some(x), Some(y)) => {
                    let (xf, yf) = (x.as_f64(), y.as_f64());
                    if xf.is_some() && xf == yf || xf.is_none() && x == y {
                        continue;
                    }
                    // As oasdiff: a change that is not the one direction
                    // (numbers) is reported as the other one (a boolean flipped too).
                    let up = matches!((xf, yf), (Some(a), Some(b)) if b > a);
                    let down = matches!((xf, yf), (Some(a), Some(b)) if b < a);
                    let increased = if lower { up } else { !down };
                    let change = if increased { "increased" } else { "decreased" };
                    self.emit(
                        &format!("{name}-{change}"),
                        path,
                        format!(
                            "{what}'s {name} was {change} from {} to {}",
                            show_num(&x),
                            show_num(&y)
                        ),
                        b,
                        r,
                    );
                }
                (None, None) => {}
            }
        }
    }

    pub(super) fn pattern(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let what = self.what(path);
        let bp = b.v.get("pattern").and_then(Value::as_str);
        let rp = r.v.get("pattern").and_then(Value::as_str);
        match (bp, rp) {
            (None, Some(p)) => {
                self.emit(
                    "pattern-added",
                    path,
                    format!("the pattern {p} was added to {what}"),
                    b,
                    r,
                );
            }
            (Some(p), None) => {
                self.emit(
                    "pattern-removed",
                    path,
                    format!("the pattern {p} was removed from {what}"),
                    b,
                    r,
                );
            }
            (Some(x), Some(y)) if x != y => {
                // oasdiff calls only the literal `.*` a generalization; any
                // other new pattern may reject what the old one accepted.
                let general = y == ".*";
                let d = format!("the pattern of {what} changed from {x} to {y}");
                if !(general && self.emit("pattern-generalized", path, d.clone(), b, r)) {
                    self.emit("pattern-changed", path, d, b, r);
                }
            }
            _ => {}
        }
    }

    pub(super) fn values(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let what = self.what(path);
        for (kw, name) in [("default", "default-value"), ("const", "const")] {
            // A null value is no value (kin-openapi reads both as nil).
            let get = |v: &'d Value| v.get(kw).filter(|x| !x.is_null());
            match (get(b.v), get(r.v)) {
                (None, Some(y)) => {
                    self.emit(
                        &format!("{name}-added"),
                        path,
                        format!("{what}'s {kw} value {} was added", show(y)),
                        b,
                        r,
                    );
                }
                (Some(x), None) => {
                    self.emit(
                        &format!("{name}-removed"),
                        path,
                        format!("{what}'s {kw} value {} was removed", show(x)),
                        b,
                        r,
                    );
                }
                (Some(x), Some(y)) if x != y => {
                    self.emit(
                        &format!("{name}-changed"),
                        path,
                        format!(
                            "{what}'s {kw} value changed from {} to {}",
                            show(x),
                            show(y)
                        ),
                        b,
                        r,
                    );
                }
                _ => {}
            }
        }
    }
}
