//! Schemas: one walk over a pair of schemas (request or response body, a
//! parameter, a header) that reports type, nullability, enum, constraint,
//! composition, property and JSON Schema 2020-12 keyword changes.
//!
//! Rule ids are composed from the scope and the change: at the root of a
//! request body `request-body-max-decreased`, below it
//! `request-property-max-decreased`; for a parameter
//! `request-parameter-max-decreased` and `request-parameter-property-…`.
//! [`Cx::emit`] drops ids the catalogue does not have, which is how a change
//! that oasdiff does not classify in some scope is left out.
//!
//! 3.0 and 3.1 spellings are compared after normalization: `nullable: true`
//! equals `type: [.., "null"]`, a boolean `exclusiveMinimum` with `minimum`
//! equals a numeric `exclusiveMinimum`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::Value;

use super::lifecycle::{Stability, stability, sunset};
use super::{Cx, as_bool};
use crate::document::{At, Document};

/// Request or response: which way a value travels decides what breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Request,
    Response,
}

/// What the schema belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// A request or response body (media type schema).
    Body,
    /// A request parameter; `header` for header parameters.
    Parameter { header: bool },
    /// A response header.
    Header,
}

/// Where a schema pair sits.
pub(crate) struct Scope<'s> {
    pub dir: Dir,
    pub owner: Owner,
    pub endpoint: &'s str,
    /// Human context: `media type application/json`, `query parameter q`, ….
    pub context: String,
}

const MAX_DEPTH: usize = 48;

/// Compares two schemas.
pub(crate) fn diff(cx: &mut Cx<'_>, scope: &Scope<'_>, b: &At<'_>, r: &At<'_>) {
    let (bd, rd) = (cx.b, cx.r);
    let mut w = Walk {
        cx,
        scope,
        bd,
        rd,
        seen: HashSet::new(),
    };
    w.node(b, r, "", 0);
}

struct Walk<'c, 'a, 's, 'd> {
    cx: &'c mut Cx<'a>,
    scope: &'s Scope<'s>,
    bd: &'d Document,
    rd: &'d Document,
    seen: HashSet<(usize, String, usize, String)>,
}

/// The non-null types of a schema (`type` as a string or a list).
pub(crate) fn types(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    match v.get("type") {
        Some(Value::String(s)) if s != "null" => {
            out.insert(s.clone());
        }
        Some(Value::Array(a)) => {
            for t in a.iter().filter_map(Value::as_str) {
                if t != "null" {
                    out.insert(t.to_owned());
                }
            }
        }
        _ => {}
    }
    out
}

/// `nullable: true` (3.0), `null` among the types (3.1), or `null` in the enum.
pub(crate) fn nullable(v: &Value) -> bool {
    if as_bool(v.get("nullable")) {
        return true;
    }
    match v.get("type") {
        Some(Value::String(s)) => s == "null",
        Some(Value::Array(a)) => a.iter().any(|t| t.as_str() == Some("null")),
        _ => false,
    }
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// The normalized numeric bounds: (minimum, exclusiveMinimum, maximum, exclusiveMaximum).
fn bounds(v: &Value) -> [Option<f64>; 4] {
    let mut min = num(v, "minimum");
    let mut max = num(v, "maximum");
    let mut emin = num(v, "exclusiveMinimum");
    let mut emax = num(v, "exclusiveMaximum");
    if as_bool(v.get("exclusiveMinimum")) {
        emin = min.take();
    }
    if as_bool(v.get("exclusiveMaximum")) {
        emax = max.take();
    }
    [min, emin, max, emax]
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Keywords that only annotate (an `allOf` member made only of them changes nothing).
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "example",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "externalDocs",
    "$comment",
    "x-stability-level",
    "x-sunset",
    "default",
];

fn annotation_only(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.keys()
            .all(|k| ANNOTATIONS.contains(&k.as_str()) || k.starts_with("x-"))
    })
}

/// A schema with everything that does not validate stripped, for comparing subschemas.
fn validation_view(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "title"
                            | "description"
                            | "example"
                            | "examples"
                            | "externalDocs"
                            | "$comment"
                    ) && !k.starts_with("x-")
                })
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if k == "properties" {
                            props_view(v)
                        } else {
                            validation_view(v)
                        },
                    )
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(validation_view).collect()),
        other => other.clone(),
    }
}

fn props_view(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), validation_view(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn enum_values(v: &Value, key: &str) -> Option<Vec<Value>> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|x| !x.is_null()).cloned().collect())
}

/// Names a subschema: its `$ref` target's last segment, or its position.
fn sub_name(at: &At<'_>, i: usize) -> String {
    match at.via {
        Some(r) => r.rsplit('/').next().unwrap_or(r).to_owned(),
        None => format!("subschema #{}", i + 1),
    }
}

impl<'d> Walk<'_, '_, '_, 'd> {
    fn prefix(&self, path: &str) -> &'static str {
        match (self.scope.owner, self.scope.dir, path.is_empty()) {
            (Owner::Body, Dir::Request, true) => "request-body",
            (Owner::Body, Dir::Request, false) => "request-property",
            (Owner::Body, Dir::Response, true) => "response-body",
            (Owner::Body, Dir::Response, false) => "response-property",
            (Owner::Parameter { .. }, _, true) => "request-parameter",
            (Owner::Parameter { .. }, _, false) => "request-parameter-property",
            (Owner::Header, _, true) => "response-header",
            (Owner::Header, _, false) => "response-header-property",
        }
    }

    fn subject(&self, path: &str) -> String {
        if path.is_empty() {
            self.scope.context.clone()
        } else {
            format!("{} {}", self.scope.context, path)
        }
    }

    fn what(&self, path: &str) -> String {
        if path.is_empty() {
            match self.scope.owner {
                Owner::Body => format!(
                    "the {} body ({})",
                    if self.scope.dir == Dir::Request {
                        "request"
                    } else {
                        "response"
                    },
                    self.scope.context
                ),
                _ => format!("the {}", self.scope.context),
            }
        } else {
            format!("the property {path} ({})", self.scope.context)
        }
    }

    /// Emits `{prefix}-{change}`, preferring the read-only / write-only
    /// variant of the id where the property is one and the catalogue has it.
    fn emit(&mut self, change: &str, path: &str, detail: String, b: &At<'_>, r: &At<'_>) -> bool {
        let prefix = self.prefix(path);
        if !path.is_empty() && self.scope.owner == Owner::Body {
            let ro = as_bool(b.v.get("readOnly")) || as_bool(r.v.get("readOnly"));
            let wo = as_bool(b.v.get("writeOnly")) || as_bool(r.v.get("writeOnly"));
            if self.scope.dir == Dir::Request && ro {
                let id = format!("request-read-only-property-{change}");
                if crate::catalogue::find(&id).is_some() {
                    return self.cx.emit(
                        &id,
                        self.scope.endpoint,
                        &self.subject(path),
                        detail,
                        Some(b),
                        Some(r),
                    );
                }
            }
            if self.scope.dir == Dir::Response && wo {
                let id = format!("response-write-only-property-{change}");
                if crate::catalogue::find(&id).is_some() {
                    return self.cx.emit(
                        &id,
                        self.scope.endpoint,
                        &self.subject(path),
                        detail,
                        Some(b),
                        Some(r),
                    );
                }
            }
        }
        let id = format!("{prefix}-{change}");
        let subject = self.subject(path);
        self.cx
            .emit(&id, self.scope.endpoint, &subject, detail, Some(b), Some(r))
    }

    fn emit_id(
        &mut self,
        id: &str,
        path: &str,
        detail: String,
        b: Option<&At<'_>>,
        r: Option<&At<'_>>,
    ) {
        let subject = self.subject(path);
        self.cx
            .emit(id, self.scope.endpoint, &subject, detail, b, r);
    }

    fn node(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
        if depth > MAX_DEPTH
            || !self
                .seen
                .insert((b.file, b.ptr.clone(), r.file, r.ptr.clone()))
        {
            return;
        }
        if self.cx.same.subtree(self.bd, b, self.rd, r) {
            return; // the same all the way down: no finding
        }
        let (b, bnull) = unwrap_nullable(self.bd, b);
        let (r, rnull) = unwrap_nullable(self.rd, r);
        let (b, r) = (&b, &r);
        if path.is_empty() && self.scope.owner == Owner::Body && self.wrapped_in_one_of(b, r) {
            return;
        }
        self.types(b, r, path);
        self.nullable(b, r, path, bnull, rnull);
        self.enums(b, r, path);
        self.bounds(b, r, path);
        self.pattern(b, r, path);
        self.values(b, r, path);
        self.discriminator(b, r, path);
        self.json_schema_2020(b, r, path, depth);
        self.composition(b, r, path, depth);
        if let (Some(bi), Some(ri)) = (self.bd.get(b, "items"), self.rd.get(r, "items"))
            && bi.v.is_object()
            && ri.v.is_object()
        {
            let p = join(path, "items");
            self.node(&bi, &ri, &p, depth + 1);
        }
        if let (Some(ba), Some(ra)) = (
            self.bd.get(b, "additionalProperties"),
            self.rd.get(r, "additionalProperties"),
        ) && ba.v.is_object()
            && ra.v.is_object()
        {
            let p = join(path, "additionalProperties");
            self.node(&ba, &ra, &p, depth + 1);
        }
        if let (Some(bn), Some(rn)) = (self.bd.get(b, "not"), self.rd.get(r, "not")) {
            self.node(&bn, &rn, path, depth + 1);
        }
        self.properties(b, r, path, depth);
    }

    fn wrapped_in_one_of(&mut self, b: &At<'d>, r: &At<'d>) -> bool {
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

    fn types(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let (bt, rt) = (effective_types(self.bd, b), effective_types(self.rd, r));
        let bf = b.v.get("format").and_then(Value::as_str).unwrap_or("");
        let rf = r.v.get("format").and_then(Value::as_str).unwrap_or("");
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
        // XML bodies are text: string and object describe the same payload.
        let xml = self.scope.owner == Owner::Body && self.scope.context.contains("xml");
        if xml && ((bty == "string" && rty == "object") || (bty == "object" && rty == "string")) {
            let d = format!(
                "{}'s type changed from {bty} to {rty} (an XML payload either way)",
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

    fn nullable(&mut self, b: &At<'d>, r: &At<'d>, path: &str, bnull: bool, rnull: bool) {
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

    fn enums(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
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
    fn emit_enum(
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
            if self.scope.dir == Dir::Request
                && (as_bool(b.v.get("readOnly")) || as_bool(r.v.get("readOnly")))
            {
                let ro = format!("request-read-only-property-{change}");
                if crate::catalogue::find(&ro).is_some() {
                    id = ro;
                }
            }
            if self.scope.dir == Dir::Response
                && (as_bool(b.v.get("writeOnly")) || as_bool(r.v.get("writeOnly")))
            {
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

    fn bounds(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let what = self.what(path);
        let bb = bounds(b.v);
        let rb = bounds(r.v);
        let names = ["min", "exclusive-min", "max", "exclusive-max"];
        let mut pairs: Vec<(&str, &str, Option<f64>, Option<f64>)> =
            (0..4).map(|i| (names[i], names[i], bb[i], rb[i])).collect();
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
            pairs.push((kw, name, num(b.v, kw), num(r.v, kw)));
        }
        for (_, name, x, y) in pairs {
            // A missing minLength is 0: setting or dropping one moves it.
            let (x, y) = if name == "min-length" {
                (Some(x.unwrap_or(0.0)), Some(y.unwrap_or(0.0)))
            } else {
                (x, y)
            };
            match (x, y) {
                (None, Some(y)) => {
                    self.emit(
                        &format!("{name}-set"),
                        path,
                        format!("{what}'s {name} was set to {}", fmt_num(y)),
                        b,
                        r,
                    );
                }
                (Some(x), None) => {
                    self.emit(
                        &format!("{name}-unset"),
                        path,
                        format!("{what}'s {name} {} was removed", fmt_num(x)),
                        b,
                        r,
                    );
                }
                (Some(x), Some(y)) if y > x => {
                    self.emit(
                        &format!("{name}-increased"),
                        path,
                        format!(
                            "{what}'s {name} was increased from {} to {}",
                            fmt_num(x),
                            fmt_num(y)
                        ),
                        b,
                        r,
                    );
                }
                (Some(x), Some(y)) if y < x => {
                    self.emit(
                        &format!("{name}-decreased"),
                        path,
                        format!(
                            "{what}'s {name} was decreased from {} to {}",
                            fmt_num(x),
                            fmt_num(y)
                        ),
                        b,
                        r,
                    );
                }
                _ => {}
            }
        }
    }

    fn pattern(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
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
                let general = matches!(
                    y,
                    ".*" | "^.*$" | "^.*" | ".*$" | "(.*)" | "^(.*)$" | "[\\s\\S]*" | "^[\\s\\S]*$"
                );
                let d = format!("the pattern of {what} changed from {x} to {y}");
                if !(general && self.emit("pattern-generalized", path, d.clone(), b, r)) {
                    self.emit("pattern-changed", path, d, b, r);
                }
            }
            _ => {}
        }
    }

    fn values(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
        let what = self.what(path);
        for (kw, name) in [("default", "default-value"), ("const", "const")] {
            match (b.v.get(kw), r.v.get(kw)) {
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

    fn discriminator(&mut self, b: &At<'d>, r: &At<'d>, path: &str) {
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

    fn json_schema_2020(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
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

    fn composition(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
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
            for (i, j) in pairs {
                self.node(&bl[i], &rl[j], path, depth + 1);
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

    fn properties(&mut self, b: &At<'d>, r: &At<'d>, path: &str, depth: usize) {
        // A schema that became an `allOf` of members (or stopped being one)
        // still has its members' properties: an instance matches every member.
        // When both sides have an `allOf`, the members are paired instead.
        let (b_all, r_all) = (has_all_of(b.v), has_all_of(r.v));
        let (bprops, breq) = properties_of(self.bd, b, b_all && !r_all);
        let (rprops, rreq) = properties_of(self.rd, r, r_all && !b_all);
        if bprops.is_empty() && rprops.is_empty() {
            return;
        }
        let rmap: BTreeMap<&str, &At<'d>> = rprops.iter().map(|(k, v)| (*k, v)).collect();
        let bmap: BTreeMap<&str, &At<'d>> = bprops.iter().map(|(k, v)| (*k, v)).collect();
        let body = self.scope.owner == Owner::Body;
        let header_param = self.scope.owner == Owner::Parameter { header: true };
        for (name, bp) in &bprops {
            let p = join(path, name);
            match rmap.get(name) {
                None => {
                    if !body {
                        continue;
                    }
                    let wo = as_bool(bp.v.get("writeOnly"));
                    let id = match (self.scope.dir, breq.contains(*name), wo) {
                        (Dir::Request, _, _) => "request-property-removed",
                        (Dir::Response, true, false) => "response-required-property-removed",
                        (Dir::Response, true, true) => {
                            "response-required-write-only-property-removed"
                        }
                        (Dir::Response, false, false) => "response-optional-property-removed",
                        (Dir::Response, false, true) => {
                            "response-optional-write-only-property-removed"
                        }
                    };
                    let d = format!("the property {p} was removed ({})", self.scope.context);
                    self.emit_id(id, &p, d, Some(bp), Some(r));
                }
                Some(rp) => {
                    self.property_changes(
                        bp,
                        rp,
                        &p,
                        breq.contains(*name),
                        rreq.contains(*name),
                        header_param,
                    );
                    self.node(bp, rp, &p, depth + 1);
                }
            }
        }
        for (name, rp) in &rprops {
            if bmap.contains_key(name) {
                continue;
            }
            let p = join(path, name);
            let req = rreq.contains(*name);
            let d = format!(
                "the {} property {p} was added ({})",
                if req { "required" } else { "optional" },
                self.scope.context
            );
            if header_param {
                if req {
                    self.emit_id(
                        "new-required-request-header-property",
                        &p,
                        d,
                        Some(b),
                        Some(rp),
                    );
                }
                continue;
            }
            if !body {
                continue;
            }
            let ro = as_bool(rp.v.get("readOnly"));
            let wo = as_bool(rp.v.get("writeOnly"));
            let id = match (self.scope.dir, req) {
                (Dir::Request, true) if ro => continue,
                (Dir::Request, true) if rp.v.get("default").is_some() => {
                    "new-required-request-property-with-default"
                }
                (Dir::Request, true) => "new-required-request-property",
                (Dir::Request, false) => "new-optional-request-property",
                (Dir::Response, true) if wo => "response-required-write-only-property-added",
                (Dir::Response, true) => "response-required-property-added",
                (Dir::Response, false) if wo => "response-optional-write-only-property-added",
                (Dir::Response, false) => "response-optional-property-added",
            };
            self.emit_id(id, &p, d, Some(b), Some(rp));
        }
        // Required without a property definition here (e.g. defined in allOf): requiredness only.
        if body {
            for name in rreq.difference(&breq) {
                if bmap.contains_key(name.as_str()) || rmap.contains_key(name.as_str()) {
                    continue;
                }
                if self.scope.dir == Dir::Request && !bprops.is_empty() {
                    let p = join(path, name);
                    self.emit_id(
                        "request-property-became-required",
                        &p,
                        format!("the property {p} became required ({})", self.scope.context),
                        Some(b),
                        Some(r),
                    );
                }
            }
        }
    }

    /// Requiredness, access mode, deprecation and stability of a property present on both sides.
    fn property_changes(
        &mut self,
        bp: &At<'d>,
        rp: &At<'d>,
        p: &str,
        breq: bool,
        rreq: bool,
        header_param: bool,
    ) {
        let ctx = self.scope.context.clone();
        if header_param {
            if !breq && rreq {
                self.emit_id(
                    "request-header-property-became-required",
                    p,
                    format!("the header property {p} became required ({ctx})"),
                    Some(bp),
                    Some(rp),
                );
            }
            if bp.v.get("enum").is_none() && rp.v.get("enum").is_some() {
                self.emit_id(
                    "request-header-property-became-enum",
                    p,
                    format!(
                        "the header property {p} was restricted to a list of enum values ({ctx})"
                    ),
                    Some(bp),
                    Some(rp),
                );
            }
            return;
        }
        if self.scope.owner != Owner::Body {
            return;
        }
        let ro = as_bool(bp.v.get("readOnly")) || as_bool(rp.v.get("readOnly"));
        let wo = as_bool(bp.v.get("writeOnly")) || as_bool(rp.v.get("writeOnly"));
        match self.scope.dir {
            Dir::Request => {
                if !breq && rreq && !ro {
                    let id = if rp.v.get("default").is_some() {
                        "request-property-became-required-with-default"
                    } else {
                        "request-property-became-required"
                    };
                    self.emit_id(
                        id,
                        p,
                        format!("the property {p} became required ({ctx})"),
                        Some(bp),
                        Some(rp),
                    );
                }
                if breq && !rreq {
                    self.emit_id(
                        "request-property-became-optional",
                        p,
                        format!("the property {p} became optional ({ctx})"),
                        Some(bp),
                        Some(rp),
                    );
                }
            }
            Dir::Response => {
                if breq && !rreq {
                    let id = if wo {
                        "response-write-only-property-became-optional"
                    } else {
                        "response-property-became-optional"
                    };
                    self.emit_id(
                        id,
                        p,
                        format!("the property {p} became optional ({ctx})"),
                        Some(bp),
                        Some(rp),
                    );
                }
                if !breq && rreq {
                    let id = if wo {
                        "response-write-only-property-became-required"
                    } else {
                        "response-property-became-required"
                    };
                    self.emit_id(
                        id,
                        p,
                        format!("the property {p} became required ({ctx})"),
                        Some(bp),
                        Some(rp),
                    );
                }
            }
        }
        // Access mode.
        let dir = if self.scope.dir == Dir::Request {
            "request"
        } else {
            "response"
        };
        let req = if rreq { "required" } else { "optional" };
        for (kw, name) in [("writeOnly", "write-only"), ("readOnly", "read-only")] {
            let (x, y) = (as_bool(bp.v.get(kw)), as_bool(rp.v.get(kw)));
            if x != y {
                let id = if y {
                    format!("{dir}-{req}-property-became-{name}")
                } else {
                    format!("{dir}-{req}-property-became-not-{name}")
                };
                let d = format!(
                    "the {req} property {p} became {}{name} ({ctx})",
                    if y { "" } else { "not " }
                );
                self.emit_id(&id, p, d, Some(bp), Some(rp));
            }
        }
        // Deprecation.
        let (bd, rd) = (
            as_bool(bp.v.get("deprecated")),
            as_bool(rp.v.get("deprecated")),
        );
        if !bd && rd {
            let days = super::lifecycle::policy_days(
                self.cx,
                stability(rp.v).unwrap_or(Stability::Stable),
            );
            match sunset(rp.v) {
                None if days > 0 => self.emit_id(
                    &format!("{dir}-property-deprecated-sunset-missing"),
                    p,
                    format!("the property {p} was deprecated without a sunset date ({ctx})"),
                    Some(bp),
                    Some(rp),
                ),
                None => self.emit_id(
                    &format!("{dir}-property-deprecated"),
                    p,
                    format!("the property {p} was deprecated ({ctx})"),
                    Some(bp),
                    Some(rp),
                ),
                Some(Err(s)) => self.emit_id(
                    &format!("{dir}-property-deprecated-sunset-invalid"),
                    p,
                    format!(
                        "the property {p} was deprecated with an invalid sunset date {s:?} ({ctx})"
                    ),
                    Some(bp),
                    Some(rp),
                ),
                Some(Ok(d)) => {
                    if days > 0 && d.days_since_epoch() - self.cx.today.days_since_epoch() < days {
                        self.emit_id(&format!("{dir}-property-sunset-date-too-small"), p, format!("the property {p}'s sunset date {d} is less than {days} days away ({ctx})"), Some(bp), Some(rp));
                    } else {
                        self.emit_id(
                            &format!("{dir}-property-deprecated-with-sunset"),
                            p,
                            format!("the property {p} was deprecated with sunset date {d} ({ctx})"),
                            Some(bp),
                            Some(rp),
                        );
                    }
                }
            }
        } else if bd && !rd {
            self.emit_id(
                &format!("{dir}-property-reactivated"),
                p,
                format!("the property {p} is no longer deprecated ({ctx})"),
                Some(bp),
                Some(rp),
            );
        }
        // Stability.
        if let (Ok(x), Ok(y)) = (stability(bp.v), stability(rp.v)) {
            if y < x && x >= Stability::Beta {
                self.emit_id(
                    &format!("{dir}-property-stability-decreased"),
                    p,
                    format!(
                        "the property {p}'s stability decreased from {} to {} ({ctx})",
                        x.name(),
                        y.name()
                    ),
                    Some(bp),
                    Some(rp),
                );
            } else if y > x {
                self.emit_id(
                    &format!("{dir}-property-stability-increased"),
                    p,
                    format!(
                        "the property {p}'s stability increased from {} to {} ({ctx})",
                        x.name(),
                        y.name()
                    ),
                    Some(bp),
                    Some(rp),
                );
            }
        }
    }
}

/// `oneOf`/`anyOf` of `{type: "null"}` and one other schema: that schema, nullable.
fn unwrap_nullable<'d>(doc: &'d Document, at: &At<'d>) -> (At<'d>, bool) {
    for kw in ["oneOf", "anyOf"] {
        let Some(list) = doc.get(at, kw) else {
            continue;
        };
        let items = doc.items(&list);
        if items.len() != 2 {
            continue;
        }
        let is_null = |x: &At<'_>| {
            x.v.get("type").and_then(Value::as_str) == Some("null")
                && x.v.as_object().is_some_and(|m| m.len() == 1)
        };
        let others: Vec<&At<'d>> = items.iter().filter(|x| !is_null(x)).collect();
        let only_composition = at.v.as_object().is_some_and(|m| {
            m.keys()
                .all(|k| k == kw || ANNOTATIONS.contains(&k.as_str()) || k.starts_with("x-"))
        });
        if others.len() == 1 && only_composition {
            return (others[0].clone(), true);
        }
    }
    (at.clone(), false)
}

/// `oneOf`/`anyOf` whose members only name types: the union of those types.
fn type_union(doc: &Document, at: &At<'_>) -> Option<BTreeSet<String>> {
    if at.v.get("type").is_some() {
        return None;
    }
    for kw in ["oneOf", "anyOf"] {
        let Some(list) = doc.get(at, kw) else {
            continue;
        };
        let items = doc.items(&list);
        if items.is_empty() {
            continue;
        }
        let mut out = BTreeSet::new();
        for x in &items {
            let m = x.v.as_object()?;
            if !m.keys().all(|k| {
                k == "type"
                    || k == "format"
                    || ANNOTATIONS.contains(&k.as_str())
                    || k.starts_with("x-")
            }) {
                return None;
            }
            let t = types(x.v);
            if t.is_empty() || t.contains("object") || t.contains("array") && m.len() > 1 {
                return None;
            }
            out.extend(t);
        }
        return Some(out);
    }
    None
}

/// The types of a schema: `type`, or a union of type-only `oneOf`/`anyOf` members.
fn effective_types(doc: &Document, at: &At<'_>) -> BTreeSet<String> {
    let t = types(at.v);
    if !t.is_empty() {
        return t;
    }
    type_union(doc, at).unwrap_or_default()
}

/// Whether a schema has a non-empty `allOf`.
fn has_all_of(v: &Value) -> bool {
    v.get("allOf")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// The properties (in key order) and required names of a schema; with
/// `merge_all_of`, followed by those of its `allOf` members, recursively
/// (the first definition of a name wins).
fn properties_of<'d>(
    doc: &'d Document,
    at: &At<'d>,
    merge_all_of: bool,
) -> (Vec<(&'d str, At<'d>)>, BTreeSet<String>) {
    let mut props: Vec<(&'d str, At<'d>)> = Vec::new();
    let mut required = BTreeSet::new();
    let mut names: HashSet<&'d str> = HashSet::new();
    let mut seen: HashSet<(usize, String)> = HashSet::new();
    let mut todo = vec![(at.clone(), 0usize)];
    while let Some((s, depth)) = todo.pop() {
        if depth > MAX_DEPTH || !seen.insert((s.file, s.ptr.clone())) {
            continue;
        }
        if let Some(p) = doc.get(&s, "properties") {
            for (k, v) in doc.entries(&p) {
                if names.insert(k) {
                    props.push((k, v));
                }
            }
        }
        required.extend(required_set(s.v));
        if merge_all_of && let Some(all) = doc.get(&s, "allOf") {
            // Reversed, so that the members are visited in order.
            for m in doc.items(&all).into_iter().rev() {
                todo.push((m, depth + 1));
            }
        }
    }
    (props, required)
}

fn required_set(v: &Value) -> BTreeSet<String> {
    v.get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_owned()
    } else {
        format!("{path}/{seg}")
    }
}

fn join_list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Is `(t2, f2)` a wider type than `(t1, f1)`?
fn is_widening(t1: &str, f1: &str, t2: &str, f2: &str) -> bool {
    if t1 == "integer" && t2 == "number" && (f2.is_empty() || f2 == "double" || f2 == "float") {
        return true;
    }
    if t1 == t2 && f1 != f2 {
        if f2.is_empty() {
            return true; // a format dropped accepts more
        }
        return matches!((f1, f2), ("int32", "int64") | ("float", "double"));
    }
    false
}

/// Pairs subschemas of two lists: the same `$ref`, then equal validation, then
/// by position among the rest when the counts allow. Returns (pairs, removed, added).
fn match_subschemas(bl: &[At<'_>], rl: &[At<'_>]) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
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
