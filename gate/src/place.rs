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
