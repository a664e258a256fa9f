//! An opened OpenAPI document: its files, parsed, with every `$ref` checked.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::loader::{Loader, join};
use crate::source::{self, Position};
use crate::{Error, Limits};

/// The OpenAPI version family of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// OpenAPI 3.0.x (`nullable`, boolean `exclusiveMinimum`).
    V30,
    /// OpenAPI 3.1.x (JSON Schema 2020-12: `type: [.., "null"]`, numeric `exclusiveMinimum`).
    V31,
}

/// One file of a document.
#[derive(Debug)]
pub(crate) struct SourceFile {
    /// Display name (the main document's name as given; a referenced file's normalized path).
    pub name: String,
    /// The path used to resolve relative references from this file.
    pub key: String,
    pub text: String,
    pub value: Value,
}

/// A parsed OpenAPI document with its referenced files. Every `$ref` in it
/// resolves (checked when it was opened), so diffing it cannot fail.
#[derive(Debug)]
pub struct Document {
    pub(crate) files: Vec<SourceFile>,
    pub(crate) version: Version,
    pub(crate) limits: Limits,
}

/// A node of a document: which file, where (JSON pointer) and what.
#[derive(Debug, Clone)]
pub(crate) struct At<'d> {
    pub file: usize,
    pub ptr: String,
    pub v: &'d Value,
    /// The last `$ref` followed to reach this node, if any.
    pub via: Option<&'d str>,
}

static NULL: Value = Value::Null;

/// Parses a `$ref` into (file path or empty for "this file", decoded pointer).
enum RefTarget {
    Local {
        file: Option<String>,
        pointer: String,
    },
    Remote,
    Outside,
    BadFragment,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_ref(from_key: &str, r: &str) -> RefTarget {
    let (path, frag) = match r.split_once('#') {
        Some((p, f)) => (p, f),
        None => (r, ""),
    };
    let frag = percent_decode(frag);
    if !frag.is_empty() && !frag.starts_with('/') {
        return RefTarget::BadFragment;
    }
    if path.is_empty() {
        return RefTarget::Local {
            file: None,
            pointer: frag,
        };
    }
    // A scheme (`http:`, `file:`, `urn:`) or a network path (`//host`).
    let has_scheme = path.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    });
    if has_scheme || path.starts_with("//") {
        return RefTarget::Remote;
    }
    match join(from_key, &percent_decode(path)) {
        Some(p) => RefTarget::Local {
            file: Some(p),
            pointer: frag,
        },
        None => RefTarget::Outside,
    }
}

impl Document {
    /// Opens a document from its bytes (YAML or JSON): parses it under
    /// `limits`, loads the files its relative `$ref`s name through `loader`,
    /// and checks that every `$ref` resolves.
    ///
    /// `name` is how the document is named in errors and locations.
    ///
    /// # Errors
    /// Any [`Error`] about size, encoding, syntax, budgets, references, or a
    /// document that is not OpenAPI 3.0 or 3.1.
    pub fn from_bytes(
        bytes: &[u8],
        name: &str,
        loader: &dyn Loader,
        limits: &Limits,
    ) -> Result<Document, Error> {
        let text = source::check_text(bytes, name, limits)?;
        let value = source::parse(text, name, limits)?;
        let version = detect_version(&value, name)?;
        let key = name.rsplit(['/', '\\']).next().unwrap_or(name).to_owned();
        let key = if key.is_empty() {
            "openapi.yaml".to_owned()
        } else {
            key
        };
        let mut doc = Document {
            files: vec![SourceFile {
                name: name.to_owned(),
                key,
                text: text.to_owned(),
                value,
            }],
            version,
            limits: *limits,
        };
        doc.load_references(loader)?;
        doc.check_references()?;
        Ok(doc)
    }

    /// The OpenAPI version family.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The names of the document's files: the main one first.
    #[must_use]
    pub fn file_names(&self) -> Vec<&str> {
        self.files.iter().map(|f| f.name.as_str()).collect()
    }

    fn file_index(&self, key: &str) -> Option<usize> {
        self.files.iter().position(|f| f.key == key)
    }

    fn load_references(&mut self, loader: &dyn Loader) -> Result<(), Error> {
        let mut total = self.files[0].text.len();
        let mut i = 0;
        while i < self.files.len() {
            let mut wanted: BTreeSet<String> = BTreeSet::new();
            for (ptr, r) in refs_of(&self.files[i].value) {
                match parse_ref(&self.files[i].key, r) {
                    RefTarget::Remote => {
                        return Err(Error::RemoteRef {
                            reference: r.to_owned(),
                            file: self.files[i].name.clone(),
                            pointer: ptr,
                        });
                    }
                    RefTarget::Outside => {
                        return Err(Error::RefOutsideBase {
                            reference: r.to_owned(),
                            file: self.files[i].name.clone(),
                            pointer: ptr,
                        });
                    }
                    RefTarget::BadFragment => {
                        return Err(Error::UnresolvedRef {
                            reference: r.to_owned(),
                            file: self.files[i].name.clone(),
                            pointer: ptr,
                        });
                    }
                    RefTarget::Local { file: Some(f), .. } => {
                        wanted.insert(f);
                    }
                    RefTarget::Local { file: None, .. } => {}
                }
            }
            for path in wanted {
                if self.file_index(&path).is_some() {
                    continue;
                }
                if self.files.len() > self.limits.max_files {
                    return Err(Error::LimitExceeded {
                        file: self.files[0].name.clone(),
                        what: "referenced files",
                        limit: self.limits.max_files,
                    });
                }
                let bytes = loader.load(&path).map_err(|message| Error::Load {
                    path: path.clone(),
                    file: self.files[i].name.clone(),
                    message,
                })?;
                total += bytes.len();
                if total > self.limits.max_total_bytes {
                    return Err(Error::TooLarge {
                        file: path,
                        size: total,
                        limit: self.limits.max_total_bytes,
                    });
                }
                let text = source::check_text(&bytes, &path, &self.limits)?;
                let value = source::parse(text, &path, &self.limits)?;
                self.files.push(SourceFile {
                    name: path.clone(),
                    key: path,
                    text: text.to_owned(),
                    value,
                });
            }
            i += 1;
        }
        Ok(())
    }

    fn check_references(&self) -> Result<(), Error> {
        for (fi, f) in self.files.iter().enumerate() {
            for (ptr, r) in refs_of(&f.value) {
                let mut cur = (fi, r);
                let mut hops = 0;
                loop {
                    let Some((tf, tptr)) = self.target(cur.0, cur.1) else {
                        return Err(Error::UnresolvedRef {
                            reference: r.to_owned(),
                            file: f.name.clone(),
                            pointer: ptr,
                        });
                    };
                    let Some(v) = self.files[tf].value.pointer(&tptr) else {
                        return Err(Error::UnresolvedRef {
                            reference: r.to_owned(),
                            file: f.name.clone(),
                            pointer: ptr,
                        });
                    };
                    match v.get("$ref").and_then(Value::as_str) {
                        Some(next) => {
                            hops += 1;
                            if hops > 64 {
                                return Err(Error::CircularRef {
                                    reference: r.to_owned(),
                                    file: f.name.clone(),
                                    pointer: ptr,
                                });
                            }
                            cur = (tf, next);
                        }
                        None => break,
                    }
                }
            }
        }
        Ok(())
    }

    /// The file index and pointer a `$ref` written in file `file` names.
    fn target(&self, file: usize, r: &str) -> Option<(usize, String)> {
        match parse_ref(&self.files[file].key, r) {
            RefTarget::Local {
                file: None,
                pointer,
            } => Some((file, pointer)),
            RefTarget::Local {
                file: Some(p),
                pointer,
            } => Some((self.file_index(&p)?, pointer)),
            _ => None,
        }
    }

    /// The file index and pointer of the node a `$ref` written in file
    /// `file` names, when that node exists (one hop: the target may itself
    /// be a `$ref`).
    pub(crate) fn target_of(&self, file: usize, r: &str) -> Option<(usize, String)> {
        let (f, p) = self.target(file, r)?;
        self.files[f].value.pointer(&p).map(|_| (f, p))
    }

    /// How many files the document has (the main one and those it references).
    pub(crate) fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The parsed value of file `file` (`Null` for an index out of range).
    pub(crate) fn file_value(&self, file: usize) -> &Value {
        self.files.get(file).map_or(&NULL, |f| &f.value)
    }

    /// The normalized path of file `file`, by which references name it.
    pub(crate) fn file_key(&self, file: usize) -> &str {
        self.files.get(file).map_or("", |f| f.key.as_str())
    }

    /// The index of the file with normalized path `key`.
    pub(crate) fn file_by_key(&self, key: &str) -> Option<usize> {
        self.file_index(key)
    }

    /// The root of the main file.
    pub(crate) fn root(&self) -> At<'_> {
        At {
            file: 0,
            ptr: String::new(),
            v: &self.files[0].value,
            via: None,
        }
    }

    /// Follows `$ref`s from `at` until a node that is not a reference.
    pub(crate) fn resolve<'d>(&'d self, at: At<'d>) -> At<'d> {
        let mut at = at;
        for _ in 0..64 {
            let Some(r) = at.v.get("$ref").and_then(Value::as_str) else {
                return at;
            };
            let Some((f, p)) = self.target(at.file, r) else {
                return At { v: &NULL, ..at };
            };
            let Some(v) = self.files[f].value.pointer(&p) else {
                return At { v: &NULL, ..at };
            };
            at = At {
                file: f,
                ptr: p,
                v,
                via: Some(r),
            };
        }
        At { v: &NULL, ..at }
    }

    /// The child `key` of an object node (after resolving both), if present.
    pub(crate) fn get<'d>(&'d self, at: &At<'d>, key: &str) -> Option<At<'d>> {
        let v = at.v.get(key)?;
        let mut ptr = at.ptr.clone();
        push_segment(&mut ptr, key);
        Some(self.resolve(At {
            file: at.file,
            ptr,
            v,
            via: None,
        }))
    }

    /// The element `i` of an array node (resolved).
    pub(crate) fn index<'d>(&'d self, at: &At<'d>, i: usize) -> Option<At<'d>> {
        let v = at.v.get(i)?;
        let mut ptr = at.ptr.clone();
        push_segment(&mut ptr, &i.to_string());
        Some(self.resolve(At {
            file: at.file,
            ptr,
            v,
            via: None,
        }))
    }

    /// The entries of an object node, resolved, in key order.
    pub(crate) fn entries<'d>(&'d self, at: &At<'d>) -> Vec<(&'d str, At<'d>)> {
        match at.v {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| {
                    let mut ptr = at.ptr.clone();
                    push_segment(&mut ptr, k);
                    (
                        k.as_str(),
                        self.resolve(At {
                            file: at.file,
                            ptr,
                            v,
                            via: None,
                        }),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The elements of an array node, resolved.
    pub(crate) fn items<'d>(&'d self, at: &At<'d>) -> Vec<At<'d>> {
        match at.v {
            Value::Array(a) => (0..a.len()).filter_map(|i| self.index(at, i)).collect(),
            _ => Vec::new(),
        }
    }

    /// Line and column of the given pointers, per file index.
    pub(crate) fn positions(
        &self,
        wanted: &BTreeMap<usize, BTreeSet<String>>,
    ) -> HashMap<(usize, String), Position> {
        let mut out = HashMap::new();
        for (&fi, ptrs) in wanted {
            let Some(f) = self.files.get(fi) else {
                continue;
            };
            for (p, pos) in source::locate(&f.text, &self.limits, ptrs) {
                out.insert((fi, p), pos);
            }
        }
        out
    }

    pub(crate) fn file_name(&self, file: usize) -> &str {
        self.files.get(file).map_or("", |f| f.name.as_str())
    }
}

pub(crate) use crate::place::push_segment;

/// Every `$ref` string in a value with its pointer, sorted (iterative walk;
/// only containers are visited, and a pointer is built only for a `$ref`).
fn refs_of(root: &Value) -> Vec<(String, &str)> {
    enum Step<'v> {
        Enter(&'v Value, Option<&'v str>, usize),
        Leave(usize),
    }
    let mut out = Vec::new();
    let mut ptr = String::new();
    let mut stack: Vec<Step<'_>> = vec![Step::Enter(root, None, 0)];
    while let Some(step) = stack.pop() {
        let (v, key, index) = match step {
            Step::Leave(len) => {
                ptr.truncate(len);
                continue;
            }
            Step::Enter(v, key, index) => (v, key, index),
        };
        let len = ptr.len();
        if !std::ptr::eq(v, root) {
            match key {
                Some(k) => push_segment(&mut ptr, k),
                None => push_segment(&mut ptr, &index.to_string()),
            }
        }
        stack.push(Step::Leave(len));
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push((ptr.clone(), r.as_str()));
                }
                for (k, c) in m {
                    if matches!(
                        k.as_str(),
                        "$ref" | "example" | "examples" | "const" | "default" | "enum"
                    ) || !matches!(c, Value::Object(_) | Value::Array(_))
                    {
                        continue;
                    }
                    stack.push(Step::Enter(c, Some(k.as_str()), 0));
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    if matches!(c, Value::Object(_) | Value::Array(_)) {
                        stack.push(Step::Enter(c, None, i));
                    }
                }
            }
            _ => {}
        }
    }
    out.sort_unstable();
    out
}

fn detect_version(v: &Value, file: &str) -> Result<Version, Error> {
    let not = |reason: &str| Error::NotOpenApi {
        file: file.to_owned(),
        reason: reason.to_owned(),
    };
    let Value::Object(m) = v else {
        return Err(not("the top level is not a mapping"));
    };
    let ver = match m.get("openapi") {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(not("`openapi` is not a version string")),
        None if m.contains_key("swagger") => {
            return Err(not(
                "Swagger 2.0 is not supported; convert it to OpenAPI 3 first",
            ));
        }
        None => return Err(not("there is no `openapi` field")),
    };
    if let Some(p) = m.get("paths")
        && !p.is_object()
        && !p.is_null()
    {
        return Err(not("`paths` is not a mapping"));
    }
    if ver.starts_with("3.0") {
        Ok(Version::V30)
    } else if ver.starts_with("3.1") || ver.starts_with("3.2") {
        Ok(Version::V31)
    } else {
        Err(not(&format!("unsupported version {ver:?}")))
    }
}
