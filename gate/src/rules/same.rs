//! Which parts of the two documents are the same all the way down, so the
//! schema walk can skip them.
//!
//! A subtree is *the same* in both documents when its JSON is equal and every
//! `$ref` in it names, in both documents, the same target (same file, same
//! pointer) that is itself the same. Two such subtrees give no finding (a
//! document diffed with itself gives none), so the walk skips them.
//!
//! Targets are decided once per diff: a target is changed when its JSON
//! differs (or it is missing on one side), or when it holds a `$ref` to a
//! changed target, transitively (a least fixed point, so reference cycles
//! are fine). Every `$ref` string counts, even in places the rules never read
//! (`example`, a property named `default`): an extra dependency only makes
//! the answer "changed", which is always safe.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::document::{At, Document};

/// A target: the file (`""` for the main file, else its normalized path) and a pointer.
type Key = (String, String);

/// The targets of both documents that are the same all the way down.
#[derive(Debug, Default)]
pub(crate) struct Same {
    /// Every target some `$ref` of either document names (by file, then
    /// pointer), and whether it is unchanged.
    unchanged: HashMap<String, HashMap<String, bool>>,
}

/// The file part of a [`Key`].
fn file_key(doc: &Document, file: usize) -> &str {
    if file == 0 { "" } else { doc.file_key(file) }
}

/// The node a target names in `doc`, if there is one.
fn value_at<'d>(doc: &'d Document, (file, ptr): &Key) -> Option<&'d Value> {
    let fi = if file.is_empty() {
        Some(0)
    } else {
        doc.file_by_key(file)
    }?;
    doc.file_value(fi).pointer(ptr)
}

/// Every `$ref` string of a value with the pointer of the object holding it.
fn all_refs<'v>(v: &'v Value, out: &mut Vec<(String, &'v str)>) {
    crate::place::for_each_object(v, usize::MAX, &mut |ptr, m| {
        if let Some(Value::String(r)) = m.get("$ref") {
            out.push((ptr.to_owned(), r.as_str()));
        }
    });
}

/// Whether a value holds any `$ref` key, at any depth.
fn refs_below<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.as_str());
            }
            for c in m.values() {
                if matches!(c, Value::Object(_) | Value::Array(_)) {
                    refs_below(c, out);
                }
            }
        }
        Value::Array(a) => {
            for c in a {
                if matches!(c, Value::Object(_) | Value::Array(_)) {
                    refs_below(c, out);
                }
            }
        }
        _ => {}
    }
}

impl Same {
    /// Decides every target of `b` and `r`.
    pub(crate) fn new(b: &Document, r: &Document) -> Same {
        // Each `$ref` that resolves: (the file and pointer holding it, its target).
        let mut edges: Vec<(Key, Key)> = Vec::new();
        for doc in [b, r] {
            for fi in 0..doc.file_count() {
                let mut found = Vec::new();
                all_refs(doc.file_value(fi), &mut found);
                for (at, reference) in found {
                    if let Some((tf, tptr)) = doc.target_of(fi, reference) {
                        edges.push((
                            (file_key(doc, fi).to_owned(), at),
                            (file_key(doc, tf).to_owned(), tptr),
                        ));
                    }
                }
            }
        }
        let targets: HashSet<&Key> = edges.iter().map(|(_, t)| t).collect();
        // The targets by file, to find those enclosing a location without allocating.
        let mut by_file: HashMap<&str, HashMap<&str, &Key>> = HashMap::new();
        for &t in &targets {
            by_file
                .entry(t.0.as_str())
                .or_default()
                .insert(t.1.as_str(), t);
        }
        let mut changed: HashSet<&Key> = HashSet::new();
        for &t in &targets {
            match (value_at(b, t), value_at(r, t)) {
                (Some(x), Some(y)) if x == y => {}
                _ => {
                    changed.insert(t);
                }
            }
        }
        // Who depends on whom: a target depends on every target a `$ref`
        // inside it names (the targets enclosing the `$ref`'s location).
        let mut dependents: HashMap<&Key, Vec<&Key>> = HashMap::new();
        for ((file, loc), t) in &edges {
            let Some(in_file) = by_file.get(file.as_str()) else {
                continue;
            };
            let mut end = loc.len();
            loop {
                if let Some(&enclosing) = in_file.get(&loc[..end]) {
                    dependents.entry(t).or_default().push(enclosing);
                }
                match loc[..end].rfind('/') {
                    Some(i) => end = i,
                    None => break,
                }
            }
        }
        let mut queue: Vec<&Key> = changed.iter().copied().collect();
        while let Some(t) = queue.pop() {
            if let Some(ds) = dependents.get(t) {
                for &d in ds {
                    if changed.insert(d) {
                        queue.push(d);
                    }
                }
            }
        }
        let mut unchanged: HashMap<String, HashMap<String, bool>> = HashMap::new();
        for &t in &targets {
            unchanged
                .entry(t.0.clone())
                .or_default()
                .insert(t.1.clone(), !changed.contains(t));
        }
        Same { unchanged }
    }

    fn target_unchanged(&self, doc: &Document, file: usize, ptr: &str) -> Option<bool> {
        self.unchanged
            .get(file_key(doc, file))
            .and_then(|m| m.get(ptr))
            .copied()
    }

    /// Whether the two nodes are the same all the way down (see the module doc).
    pub(crate) fn subtree(&self, bd: &Document, b: &At<'_>, rd: &Document, r: &At<'_>) -> bool {
        let same_place = file_key(bd, b.file) == file_key(rd, r.file) && b.ptr == r.ptr;
        if same_place && let Some(u) = self.target_unchanged(bd, b.file, &b.ptr) {
            return u;
        }
        if b.v != r.v {
            return false;
        }
        let mut refs = Vec::new();
        refs_below(b.v, &mut refs);
        refs.iter().all(|reference| {
            match (
                bd.target_of(b.file, reference),
                rd.target_of(r.file, reference),
            ) {
                (Some((bf, bp)), Some((rf, rp))) => {
                    bp == rp
                        && file_key(bd, bf) == file_key(rd, rf)
                        && self.target_unchanged(bd, bf, &bp) == Some(true)
                }
                // Unresolvable on both sides: data (an example), read as nothing by both.
                (None, None) => true,
                _ => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testutil::{doc, rules};

    use super::Same;

    fn spec(x_type: &str) -> String {
        format!(
            "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n  /a:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: {{$ref: '#/components/schemas/A'}}\n      responses:\n        '200': {{description: ok}}\ncomponents:\n  schemas:\n    A:\n      type: object\n      properties:\n        default: {{$ref: '#/components/schemas/B'}}\n        next: {{$ref: '#/components/schemas/A'}}\n    B:\n      type: object\n      properties:\n        x: {{type: {x_type}}}\n        back: {{$ref: '#/components/schemas/A'}}\n"
        )
    }

    #[test]
    fn a_change_behind_unchanged_references_is_found() {
        // A is unchanged as text, but holds (in a property named `default`,
        // through a cycle A → B → A) a reference to B, which changed.
        let (b, r) = (doc(&spec("string")), doc(&spec("integer")));
        let same = Same::new(&b, &r);
        let (a, bb) = ("/components/schemas/A", "/components/schemas/B");
        assert_eq!(same.unchanged[""].get(a), Some(&false));
        assert_eq!(same.unchanged[""].get(bb), Some(&false));
        assert_eq!(
            rules(&spec("string"), &spec("integer")),
            ["request-property-type-changed"]
        );
        let same = Same::new(&b, &doc(&spec("string")));
        assert_eq!(same.unchanged[""].get(a), Some(&true));
        assert!(rules(&spec("string"), &spec("string")).is_empty());
    }
}
