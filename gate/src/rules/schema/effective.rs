//! The effective schema: what a schema accepts, whatever way it is written.
//!
//! With `differences.effective_schemas` (the default; off with
//! `compat: oasdiff`), every schema that has an `allOf` is compared as one
//! merged schema: the node's own keywords and its members' (references
//! followed, nested `allOf`s flattened), `properties` and `required`
//! united. An instance is valid against an `allOf` exactly when it is valid
//! against every member, so when no two members constrain the same keyword
//! differently, the merged schema accepts exactly the same documents. When
//! they do (two different `type`s, the same property defined twice in two
//! ways, a member in another file), the schema is not merged and is
//! compared as written.
//!
//! A merged property is a `$ref` to the property where it is written, so
//! findings below it point at the member or base that defines it: where each
//! part came from is kept.
//!
//! The `allOf`s of a document are found once per diff, keyed by file and
//! pointer of the schema that has them, and each is merged when the walk
//! first reaches it.

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::document::{At, Document, push_segment};

/// Keywords that only annotate: the first source's value is kept.
fn annotation(k: &str) -> bool {
    matches!(
        k,
        "title" | "description" | "example" | "examples" | "externalDocs" | "$comment"
    ) || k.starts_with("x-")
}

/// The merged schemas of one document: where the `allOf`s are is found
/// once per diff; each is merged the first time the walk reaches it (a
/// self-diff, or a part that did not change, merges nothing).
#[derive(Debug, Default)]
pub(crate) struct Effective<'d> {
    doc: Option<&'d Document>,
    /// By file, then pointer of the schema that has the `allOf`.
    merged: Vec<HashMap<String, OnceCell<Option<Value>>>>,
}

impl<'d> Effective<'d> {
    /// Nothing merged (`compat: oasdiff`).
    pub(crate) fn none() -> Effective<'d> {
        Effective::default()
    }

    /// Every `allOf` of `doc`, to be merged when it is reached.
    pub(crate) fn of(doc: &'d Document) -> Effective<'d> {
        let mut out = Effective {
            doc: Some(doc),
            merged: vec![HashMap::new(); doc.file_count()],
        };
        for file in 0..doc.file_count() {
            crate::place::for_each_object(doc.file_value(file), MAX_DEPTH, &mut |ptr, m| {
                if m.get("allOf")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
                {
                    out.merged[file].insert(ptr.to_owned(), OnceCell::new());
                }
            });
        }
        out
    }

    /// The effective form of `at`: a `oneOf`/`anyOf` of a single member
    /// with nothing else but annotations is that member, and an `allOf` is
    /// its merged schema when it can be merged (nothing with `compat:
    /// oasdiff`).
    /// A single alternative is kept as written when `other` (the schema it
    /// is compared with) has a list of the same kind: then the lists are
    /// compared.
    pub(crate) fn effective<'e>(&'e self, at: &At<'e>, other: &Value) -> At<'e>
    where
        'd: 'e,
    {
        let Some(doc) = self.doc else {
            return at.clone();
        };
        let mut at = self.of_node(at);
        for _ in 0..8 {
            match single_alternative(doc, &at, other) {
                Some(member) => at = self.of_node(&member),
                None => break,
            }
        }
        at
    }

    /// The effective form of `at`: its merged schema if it has one that
    /// can be merged.
    pub(crate) fn of_node<'e>(&'e self, at: &At<'e>) -> At<'e>
    where
        'd: 'e,
    {
        let cell = self
            .merged
            .get(at.file)
            .and_then(|m| m.get(at.ptr.as_str()));
        let (Some(doc), Some(cell)) = (self.doc, cell) else {
            return at.clone();
        };
        match cell.get_or_init(|| merge(doc, at.file, &at.ptr, at.v)) {
            Some(v) => At {
                file: at.file,
                ptr: at.ptr.clone(),
                v,
                via: at.via,
            },
            None => at.clone(),
        }
    }
}

const MAX_DEPTH: usize = 256;

/// The node and its `allOf` members, flattened, in order; `None` when a
/// member cannot be merged (not an object, in another file, a cycle).
fn sources<'d>(
    doc: &'d Document,
    at: At<'d>,
    out: &mut Vec<At<'d>>,
    on_path: &mut HashSet<String>,
    depth: usize,
) -> Option<()> {
    if depth > 32 || !at.v.is_object() || !on_path.insert(at.ptr.clone()) {
        return None;
    }
    out.push(at.clone());
    if let Some(all) = doc.get(&at, "allOf") {
        let members = all.v.as_array()?;
        for i in 0..members.len() {
            let m = doc.index(&all, i)?;
            if m.file != at.file {
                return None;
            }
            sources(doc, m, out, on_path, depth + 1)?;
        }
    }
    on_path.remove(&at.ptr);
    Some(())
}

/// `at` (which has an `allOf`) as one schema, if that means the same.
fn merge(doc: &Document, file: usize, ptr: &str, v: &Value) -> Option<Value> {
    let at = At {
        file,
        ptr: ptr.to_owned(),
        v,
        via: None,
    };
    let mut srcs = Vec::new();
    sources(doc, at, &mut srcs, &mut HashSet::new(), 0)?;
    // `additionalProperties` of one member does not see the properties of
    // the others (a classic `allOf` trap): merged, it would accept what the
    // `allOf` rejects.
    let open = |v: &Value| {
        matches!(
            v.get("additionalProperties"),
            None | Some(Value::Bool(true))
        ) || v
            .get("additionalProperties")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    };
    if srcs.len() > 1 && !srcs.iter().all(|s| open(s.v)) {
        return None;
    }
    let mut acc: Map<String, Value> = Map::new();
    let mut props: Map<String, Value> = Map::new();
    let mut prop_values: HashMap<String, &Value> = HashMap::new();
    let mut required: BTreeSet<String> = BTreeSet::new();
    let mut required_order: Vec<String> = Vec::new();
    for s in &srcs {
        let m = s.v.as_object()?;
        for (k, val) in m {
            match k.as_str() {
                "allOf" => {}
                "properties" => {
                    let pm = val.as_object()?;
                    for (name, pv) in pm {
                        match prop_values.get(name) {
                            Some(prev) if *prev != pv => return None,
                            Some(_) => {}
                            None => {
                                prop_values.insert(name.clone(), pv);
                                let mut p = s.ptr.clone();
                                push_segment(&mut p, "properties");
                                push_segment(&mut p, name);
                                let mut reference = Map::new();
                                reference.insert(
                                    "$ref".to_owned(),
                                    Value::String(format!("#{}", p.replace('%', "%25"))),
                                );
                                props.insert(name.clone(), Value::Object(reference));
                            }
                        }
                    }
                }
                "required" => {
                    for n in val.as_array()?.iter().filter_map(Value::as_str) {
                        if required.insert(n.to_owned()) {
                            required_order.push(n.to_owned());
                        }
                    }
                }
                k if annotation(k) => {
                    acc.entry(k.to_owned()).or_insert_with(|| val.clone());
                }
                k => match acc.get(k) {
                    Some(prev) if prev != val => return None,
                    Some(_) => {}
                    None => {
                        acc.insert(k.to_owned(), val.clone());
                    }
                },
            }
        }
    }
    if !props.is_empty() {
        acc.insert("properties".to_owned(), Value::Object(props));
    }
    if !required_order.is_empty() {
        acc.insert(
            "required".to_owned(),
            Value::Array(required_order.into_iter().map(Value::String).collect()),
        );
    }
    Some(Value::Object(acc))
}

/// The member of a `oneOf`/`anyOf` that has exactly one and nothing else
/// but annotations: an instance is valid against it exactly when it is
/// valid against that member.
fn single_alternative<'d>(doc: &'d Document, at: &At<'d>, other: &Value) -> Option<At<'d>> {
    let m = at.v.as_object()?;
    for kw in ["oneOf", "anyOf"] {
        let Some(list) = m.get(kw).and_then(Value::as_array) else {
            continue;
        };
        if other.get(kw).is_some() {
            continue;
        }
        let alone = m
            .keys()
            .all(|k| k == kw || annotation(k) || k == "deprecated");
        if list.len() == 1 && alone {
            let all = doc.get(at, kw)?;
            return doc.index(&all, 0);
        }
    }
    None
}
