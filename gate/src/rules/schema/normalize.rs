//! What a schema means, read off either spelling: its types, nullability,
//! bounds, the validation keywords that decide whether two subschemas are
//! the same, and its properties (with those of `allOf` members).

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use super::MAX_DEPTH;
use crate::document::{At, Document};
use crate::rules::as_bool;

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

pub(super) fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// The normalized numeric bounds: (minimum, exclusiveMinimum, maximum, exclusiveMaximum).
pub(super) fn bounds(v: &Value) -> [Option<f64>; 4] {
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

pub(super) fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

pub(super) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Keywords that only annotate (an `allOf` member made only of them changes nothing).
pub(super) const ANNOTATIONS: &[&str] = &[
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

pub(super) fn annotation_only(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.keys()
            .all(|k| ANNOTATIONS.contains(&k.as_str()) || k.starts_with("x-"))
    })
}

/// A schema with everything that does not validate stripped, for comparing subschemas.
pub(super) fn validation_view(v: &Value) -> Value {
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

pub(super) fn props_view(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), validation_view(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(super) fn enum_values(v: &Value, key: &str) -> Option<Vec<Value>> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|x| !x.is_null()).cloned().collect())
}

/// `oneOf`/`anyOf` of `{type: "null"}` and one other schema: that schema, nullable.
pub(super) fn unwrap_nullable<'d>(doc: &'d Document, at: &At<'d>) -> (At<'d>, bool) {
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
pub(super) fn type_union(doc: &Document, at: &At<'_>) -> Option<BTreeSet<String>> {
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
pub(super) fn effective_types(doc: &Document, at: &At<'_>) -> BTreeSet<String> {
    let t = types(at.v);
    if !t.is_empty() {
        return t;
    }
    type_union(doc, at).unwrap_or_default()
}

/// Whether a schema has a non-empty `allOf`.
pub(super) fn has_all_of(v: &Value) -> bool {
    v.get("allOf")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// The properties (in key order) and required names of a schema; with
/// `merge_all_of`, followed by those of its `allOf` members, recursively
/// (the first definition of a name wins).
pub(super) fn properties_of<'d>(
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

pub(super) fn required_set(v: &Value) -> BTreeSet<String> {
    v.get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
