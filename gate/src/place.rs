//! Where things are in a document: JSON-pointer segments and text
//! positions (shared by the readers and the document model).

/// A position in a text document: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

/// Appends one escaped JSON-pointer segment.
pub(crate) fn push_segment(ptr: &mut String, seg: &str) {
    ptr.push('/');
    for c in seg.chars() {
        match c {
            '~' => ptr.push_str("~0"),
            '/' => ptr.push_str("~1"),
            c => ptr.push(c),
        }
    }
}

/// Calls `f` with every object below `v` (itself included) and its JSON
/// pointer, depth first, down to `max_depth` levels.
pub(crate) fn for_each_object<'v>(
    v: &'v serde_json::Value,
    max_depth: usize,
    f: &mut impl FnMut(&str, &'v serde_json::Map<String, serde_json::Value>),
) {
    go(v, &mut String::new(), 0, max_depth, f);
}

fn go<'v>(
    v: &'v serde_json::Value,
    ptr: &mut String,
    depth: usize,
    max_depth: usize,
    f: &mut impl FnMut(&str, &'v serde_json::Map<String, serde_json::Value>),
) {
    use serde_json::Value;
    if depth > max_depth {
        return;
    }
    match v {
        Value::Object(m) => {
            f(ptr, m);
            for (k, c) in m {
                child(c, ptr, k, depth, max_depth, f);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                child(c, ptr, &i.to_string(), depth, max_depth, f);
            }
        }
        _ => {}
    }
}

fn child<'v>(
    c: &'v serde_json::Value,
    ptr: &mut String,
    seg: &str,
    depth: usize,
    max_depth: usize,
    f: &mut impl FnMut(&str, &'v serde_json::Map<String, serde_json::Value>),
) {
    if matches!(
        c,
        serde_json::Value::Object(_) | serde_json::Value::Array(_)
    ) {
        let len = ptr.len();
        push_segment(ptr, seg);
        go(c, ptr, depth + 1, max_depth, f);
        ptr.truncate(len);
    }
}
