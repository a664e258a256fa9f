//! Output to a terminal: untrusted text is escaped, and a closed pipe is not an error.

use std::borrow::Cow;
use std::io::Write as _;

/// Whether `c` must not reach a terminal as it is: control characters (C0,
/// DEL, C1, which includes ESC sequences) and the Unicode bidirectional
/// controls that can make text display in another order than it reads.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Escapes text that came from the log (or any untrusted source) so that it
/// prints as one inert line: unsafe characters, newlines included, become
/// `\u{..}` escapes.
#[must_use]
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Escapes untrusted bytes: invalid UTF-8 is replaced, then [`escape`]d.
#[must_use]
pub fn escape_bytes(bytes: &[u8]) -> String {
    escape(&String::from_utf8_lossy(bytes)).into_owned()
}

/// Writes `text` to stdout. A closed pipe (`stateanchor-verify ... | head`)
/// is not an error: the output is dropped and the exit code is unchanged.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes `text` to stderr, ignoring a closed stderr.
pub fn print_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi() {
        assert_eq!(escape("example.com/log"), "example.com/log");
        assert_eq!(escape("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        assert_eq!(escape("x\ny\r"), "x\\u{a}y\\u{d}");
        assert_eq!(escape("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert_eq!(escape("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(escape_bytes(b"\xff\x07"), "\u{fffd}\\u{7}");
    }
}
