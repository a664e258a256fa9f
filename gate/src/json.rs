//! A fast path for documents written as JSON (most generated descriptions,
//! GitHub's among them): serde_json builds the tree, and a byte scanner finds
//! the line and column of pointers. Both give what the YAML reader gives for
//! the same text; whenever they cannot (a duplicate key, nesting deeper than
//! serde_json's 128, a number out of range, text that is not strict JSON),
//! they decline and the YAML reader decides, with its errors.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::place::{Position, push_segment};

/// Whether the text starts like a JSON object or array.
pub(crate) fn looks_like_json(text: &str) -> bool {
    let t = text.trim_start_matches([' ', '\t', '\r', '\n']);
    t.starts_with('{') || t.starts_with('[')
}

/// A value read from strict JSON, refusing duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Strict, E> {
        Number::from_f64(v)
            .map(|n| Strict(Value::Number(n)))
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Strict(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            match m.entry(k) {
                serde_json::map::Entry::Vacant(e) => {
                    e.insert(v);
                }
                serde_json::map::Entry::Occupied(_) => {
                    return Err(de::Error::custom("duplicate key"));
                }
            }
        }
        Ok(Strict(Value::Object(m)))
    }
}

/// The tree of a strict JSON text, or `None` to let the YAML reader decide.
/// The caller still applies the node and depth budgets.
pub(crate) fn parse(text: &str) -> Option<Value> {
    serde_json::from_str::<Strict>(text).ok().map(|s| s.0)
}

enum Frame {
    Obj { ptr_len: usize },
    Arr { ptr_len: usize, count: usize },
}

struct Scan<'t> {
    b: &'t [u8],
    i: usize,
    line: usize,
    line_start: usize,
    /// The last column computed, as (byte offset, 1-based column), on `line`.
    col_cache: (usize, usize),
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }

    /// The 1-based column of the current byte, in characters.
    fn column(&mut self) -> usize {
        let (mut at, mut col) = self.col_cache;
        if at < self.line_start || at > self.i {
            (at, col) = (self.line_start, 1);
        }
        col += self.b[at..self.i]
            .iter()
            .filter(|&&c| c & 0xC0 != 0x80)
            .count();
        self.col_cache = (self.i, col);
        col
    }

    /// Skips a string starting at the quote; returns its raw contents.
    fn string(&mut self) -> Option<(usize, usize, bool)> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            match self.peek()? {
                b'"' => {
                    let end = self.i;
                    self.i += 1;
                    return Some((start, end, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                b'\n' => return None,
                _ => self.i += 1,
            }
        }
    }

    /// Reads a key and its colon, and appends the key to the pointer.
    fn key(&mut self, text: &str, ptr: &mut String) -> Option<()> {
        self.skip_ws();
        let (s, e, escaped) = self.string()?;
        let raw = text.get(s..e)?;
        if escaped {
            let decoded: String = serde_json::from_str(text.get(s - 1..=e)?).ok()?;
            push_segment(ptr, &decoded);
        } else {
            push_segment(ptr, raw);
        }
        self.skip_ws();
        if self.peek() != Some(b':') {
            return None;
        }
        self.i += 1;
        Some(())
    }
}

/// The positions of the wanted pointers in a JSON text, as the YAML reader
/// reports them (the first character of each value), or `None` when the text
/// is not JSON this scanner reads.
pub(crate) fn locate(
    text: &str,
    max_depth: usize,
    want: &BTreeSet<String>,
) -> Option<HashMap<String, Position>> {
    let mut s = Scan {
        b: text.as_bytes(),
        i: 0,
        line: 1,
        line_start: 0,
        col_cache: (0, 1),
    };
    let mut out = HashMap::new();
    let mut ptr = String::new();
    let mut stack: Vec<Frame> = Vec::new();
    // A value starts here.
    'value: loop {
        s.skip_ws();
        if want.contains(&ptr) && !out.contains_key(&ptr) {
            let column = s.column();
            out.insert(
                ptr.clone(),
                Position {
                    line: s.line,
                    column,
                },
            );
        }
        match s.peek()? {
            c @ (b'{' | b'[') => {
                s.i += 1;
                s.skip_ws();
                let close = if c == b'{' { b'}' } else { b']' };
                if s.peek() == Some(close) {
                    s.i += 1;
                } else {
                    if stack.len() >= max_depth {
                        return None;
                    }
                    let ptr_len = ptr.len();
                    if c == b'{' {
                        stack.push(Frame::Obj { ptr_len });
                        s.key(text, &mut ptr)?;
                    } else {
                        stack.push(Frame::Arr { ptr_len, count: 0 });
                        ptr.push_str("/0");
                    }
                    continue 'value;
                }
            }
            b'"' => {
                s.string()?;
            }
            _ => {
                let start = s.i;
                while let Some(c) = s.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    s.i += 1;
                }
                if s.i == start {
                    return None;
                }
            }
        }
        // After a value: the next one, or the end of containers.
        loop {
            s.skip_ws();
            match stack.last_mut() {
                None => return Some(out),
                Some(Frame::Obj { ptr_len }) => {
                    ptr.truncate(*ptr_len);
                    match s.peek()? {
                        b',' => {
                            s.i += 1;
                            s.key(text, &mut ptr)?;
                            continue 'value;
                        }
                        b'}' => {
                            s.i += 1;
                            stack.pop();
                        }
                        _ => return None,
                    }
                }
                Some(Frame::Arr { ptr_len, count }) => {
                    ptr.truncate(*ptr_len);
                    match s.peek()? {
                        b',' => {
                            s.i += 1;
                            *count += 1;
                            ptr.push('/');
                            ptr.push_str(&count.to_string());
                            continue 'value;
                        }
                        b']' => {
                            s.i += 1;
                            stack.pop();
                        }
                        _ => return None,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every pointer of a value.
    pub(crate) fn pointers(v: &Value, ptr: &mut String, out: &mut BTreeSet<String>) {
        out.insert(ptr.clone());
        let len = ptr.len();
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    push_segment(ptr, k);
                    pointers(c, ptr, out);
                    ptr.truncate(len);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    push_segment(ptr, &i.to_string());
                    pointers(c, ptr, out);
                    ptr.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// A JSON document with escapes, numbers and non-ASCII keys (the YAML
    /// reader's tests compare both readers on it).
    pub(crate) const SAMPLE: &str = "{\n  \"openapi\": \"3.0.3\",\n  \"info\": {\"title\": \"tést ✓\", \"version\": \"1\"},\n  \"paths\": {\n    \"/a/{b}\": {\"get\": {\"parameters\": [], \"responses\": {\"200\": {\"description\": \"ok\"}}}},\n    \"/x~y\": {}\n  },\n  \"x-esc\\\"aped\": [1, -2.5e3, true, null, {\"k\": [[], {}]}, \"s\\\\\"],\n  \"é\": {\"ü\": 1}\n}\n";

    #[test]
    fn declines_duplicate_keys_and_non_json() {
        assert!(parse("{\"a\": 1, \"a\": 2}").is_none());
        assert!(parse("{a: 1}").is_none());
        assert!(parse("[1e400]").is_none());
        assert!(locate("{\"a\": x\n", 256, &BTreeSet::from(["/b".to_owned()])).is_none());
    }
}
