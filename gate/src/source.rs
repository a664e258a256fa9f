//! Text to tree: YAML 1.2 (and JSON, which it contains) into `serde_json::Value`,
//! under the budgets of [`Limits`], and the line and column of any JSON pointer.
//!
//! Reading happens in one streaming pass over saphyr's parser events with an
//! explicit stack (no recursion, so deep nesting cannot overflow the stack).
//! Positions are not kept for every node: after a diff, the few pointers that
//! findings name are located by a second pass over the same text.

use std::collections::{BTreeSet, HashMap};

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use crate::{Error, Limits, json};

pub use crate::place::Position;

/// Checks size and encoding, and returns the text without a byte-order mark.
pub(crate) fn check_text<'a>(
    bytes: &'a [u8],
    file: &str,
    limits: &Limits,
) -> Result<&'a str, Error> {
    if bytes.len() > limits.max_document_bytes {
        return Err(Error::TooLarge {
            file: file.to_owned(),
            size: bytes.len(),
            limit: limits.max_document_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Error::InvalidUtf8 {
        file: file.to_owned(),
        offset: e.valid_up_to(),
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Parses YAML or JSON text into a value.
///
/// Text that starts like JSON is first read by serde_json (ten times faster
/// than the YAML reader on GitHub's 13 MB description); when that declines,
/// the YAML reader decides.
pub(crate) fn parse(text: &str, file: &str, limits: &Limits) -> Result<Value, Error> {
    if json::looks_like_json(text)
        && let Some(v) = json::parse(text)
    {
        check_depth(&v, file, limits)?;
        return Ok(v);
    }
    parse_yaml(text, file, limits)
}

/// Parses YAML (or JSON, which YAML 1.2 contains) with the YAML reader.
pub(crate) fn parse_yaml(text: &str, file: &str, limits: &Limits) -> Result<Value, Error> {
    match walk(text, file, limits, None) {
        Ok(Walked::Value(v)) => Ok(v),
        Ok(Walked::Positions(_)) => {
            Err(Error::Unreachable("walk returned positions in build mode"))
        }
        Err(yaml_err) => {
            // JSON that YAML rejects (tabs used as indentation, for one): serde_json,
            // whose own recursion limit (128) bounds nesting.
            let t = text.trim_start();
            if (t.starts_with('{') || t.starts_with('['))
                && let Ok(v) = serde_json::from_str::<Value>(text)
            {
                check_depth(&v, file, limits)?;
                return Ok(v);
            }
            Err(yaml_err)
        }
    }
}

/// The positions of the given pointers in the text (those found).
pub(crate) fn locate(
    text: &str,
    limits: &Limits,
    want: &BTreeSet<String>,
) -> HashMap<String, Position> {
    if want.is_empty() {
        return HashMap::new();
    }
    if json::looks_like_json(text)
        && let Some(p) = json::locate(text, limits.max_depth, want)
    {
        return p;
    }
    locate_yaml(text, limits, want)
}

/// [`locate`] with the YAML reader.
pub(crate) fn locate_yaml(
    text: &str,
    limits: &Limits,
    want: &BTreeSet<String>,
) -> HashMap<String, Position> {
    match walk(text, "", limits, Some(want)) {
        Ok(Walked::Positions(p)) => p,
        _ => HashMap::new(),
    }
}

fn check_depth(v: &Value, file: &str, limits: &Limits) -> Result<(), Error> {
    let mut stack = vec![(v, 0usize)];
    let mut nodes = 0usize;
    while let Some((v, d)) = stack.pop() {
        nodes += 1;
        if d > limits.max_depth {
            return Err(Error::LimitExceeded {
                file: file.to_owned(),
                what: "nesting depth",
                limit: limits.max_depth,
            });
        }
        if nodes > limits.max_nodes {
            return Err(Error::LimitExceeded {
                file: file.to_owned(),
                what: "node count",
                limit: limits.max_nodes,
            });
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(m) => stack.extend(m.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    Ok(())
}

enum Walked {
    Value(Value),
    Positions(HashMap<String, Position>),
}

enum Frame {
    Seq {
        items: Vec<Value>,
        count: usize,
        anchor: usize,
        ptr_len: usize,
        nodes_at_start: usize,
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        merges: Vec<Value>,
        anchor: usize,
        ptr_len: usize,
        line: usize,
        nodes_at_start: usize,
    },
}

fn pos(span: &Span) -> Position {
    Position {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

#[allow(clippy::too_many_lines)]
fn walk(
    text: &str,
    file: &str,
    limits: &Limits,
    want: Option<&BTreeSet<String>>,
) -> Result<Walked, Error> {
    let build = want.is_none();
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Value> = None;
    let mut anchors: HashMap<usize, (Value, usize)> = HashMap::new();
    let mut positions: HashMap<String, Position> = HashMap::new();
    let mut ptr = String::new();
    let mut nodes = 0usize;
    let mut in_doc = false;
    let file_s = || file.to_owned();

    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.map_err(|e| {
            if e.info().contains("recursion limit") {
                Error::LimitExceeded {
                    file: file_s(),
                    what: "nesting depth",
                    limit: limits.max_depth,
                }
            } else {
                Error::Syntax {
                    file: file_s(),
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                    message: e.info().to_owned(),
                }
            }
        })?;
        // A key of a mapping: only scalars are accepted.
        if let Some(Frame::Map {
            key: key @ None, ..
        }) = stack.last_mut()
        {
            match ev {
                Event::Scalar(s, _, _, _) => {
                    *key = Some(s.into_owned());
                    continue;
                }
                Event::MappingEnd => {}
                _ => {
                    return Err(Error::Unsupported {
                        file: file_s(),
                        line: span.start.line(),
                        message: "a mapping key that is not a scalar".to_owned(),
                    });
                }
            }
        }
        // The pointer of a node that starts here.
        let starts_node = matches!(
            ev,
            Event::Scalar(..)
                | Event::Alias(_)
                | Event::SequenceStart(..)
                | Event::MappingStart(..)
        );
        let ptr_len = ptr.len();
        if starts_node {
            nodes += 1;
            if nodes > limits.max_nodes {
                return Err(Error::LimitExceeded {
                    file: file_s(),
                    what: "node count",
                    limit: limits.max_nodes,
                });
            }
            match stack.last_mut() {
                Some(Frame::Seq { count, .. }) => {
                    crate::place::push_segment(&mut ptr, &count.to_string());
                    *count += 1;
                }
                Some(Frame::Map { key: Some(k), .. }) => crate::place::push_segment(&mut ptr, k),
                _ => {}
            }
            if let Some(w) = want
                && w.contains(&ptr)
            {
                positions.entry(ptr.clone()).or_insert_with(|| pos(&span));
            }
        }
        let done: Option<Value> = match ev {
            Event::StreamStart | Event::Nothing => None,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                if in_doc || root.is_some() {
                    break; // only the first document of a stream
                }
                in_doc = true;
                None
            }
            Event::DocumentEnd => break,
            Event::Scalar(s, style, anchor, tag) => {
                ptr.truncate(ptr_len);
                let v = if build {
                    let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                    if style == ScalarStyle::Plain && !is_str_tag {
                        resolve_plain(&s)
                    } else {
                        Value::String(s.into_owned())
                    }
                } else {
                    Value::Null
                };
                if anchor != 0 && build {
                    anchors.insert(anchor, (v.clone(), 1));
                }
                Some(v)
            }
            Event::Alias(id) => {
                ptr.truncate(ptr_len);
                if build {
                    let Some((v, size)) = anchors.get(&id) else {
                        return Err(Error::Unsupported {
                            file: file_s(),
                            line: span.start.line(),
                            message: "an alias to an unknown anchor".to_owned(),
                        });
                    };
                    nodes = nodes.saturating_add(*size);
                    if nodes > limits.max_nodes {
                        return Err(Error::LimitExceeded {
                            file: file_s(),
                            what: "node count",
                            limit: limits.max_nodes,
                        });
                    }
                    Some(v.clone())
                } else {
                    Some(Value::Null)
                }
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    count: 0,
                    anchor,
                    ptr_len,
                    nodes_at_start: nodes,
                });
                if stack.len() > limits.max_depth {
                    return Err(Error::LimitExceeded {
                        file: file_s(),
                        what: "nesting depth",
                        limit: limits.max_depth,
                    });
                }
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map {
                    map: Map::new(),
                    key: None,
                    merges: Vec::new(),
                    anchor,
                    ptr_len,
                    line: span.start.line(),
                    nodes_at_start: nodes,
                });
                if stack.len() > limits.max_depth {
                    return Err(Error::LimitExceeded {
                        file: file_s(),
                        what: "nesting depth",
                        limit: limits.max_depth,
                    });
                }
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    anchor,
                    ptr_len,
                    nodes_at_start,
                    ..
                }) => {
                    ptr.truncate(ptr_len);
                    let v = Value::Array(items);
                    if anchor != 0 && build {
                        anchors.insert(anchor, (v.clone(), nodes - nodes_at_start + 1));
                    }
                    Some(v)
                }
                _ => return Err(Error::Unreachable("sequence end without a sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    mut map,
                    merges,
                    anchor,
                    ptr_len,
                    nodes_at_start,
                    ..
                }) => {
                    ptr.truncate(ptr_len);
                    // YAML merge keys (`<<`): explicit keys win.
                    for m in merges {
                        let list = match m {
                            Value::Array(a) => a,
                            other => vec![other],
                        };
                        for item in list {
                            if let Value::Object(o) = item {
                                for (k, v) in o {
                                    map.entry(k).or_insert(v);
                                }
                            }
                        }
                    }
                    let v = Value::Object(map);
                    if anchor != 0 && build {
                        anchors.insert(anchor, (v.clone(), nodes - nodes_at_start + 1));
                    }
                    Some(v)
                }
                _ => return Err(Error::Unreachable("mapping end without a mapping")),
            },
        };
        if let Some(v) = done {
            match stack.last_mut() {
                None => {
                    root = Some(v);
                }
                Some(Frame::Seq { items, .. }) => {
                    if build {
                        items.push(v);
                    }
                }
                Some(Frame::Map {
                    map,
                    key,
                    merges,
                    line,
                    ..
                }) => {
                    let k = key.take().unwrap_or_default();
                    if build {
                        if k == "<<" && matches!(v, Value::Object(_) | Value::Array(_)) {
                            merges.push(v);
                        } else if map.contains_key(&k) {
                            return Err(Error::Unsupported {
                                file: file_s(),
                                line: *line,
                                message: format!("duplicate key {k:?}"),
                            });
                        } else {
                            map.insert(k, v);
                        }
                    }
                }
            }
        }
    }
    if build {
        Ok(Walked::Value(root.unwrap_or(Value::Null)))
    } else {
        Ok(Walked::Positions(positions))
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let b = s.as_bytes();
    let first = b[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Value::String(s.to_owned());
    }
    if let Some(hex) = s.strip_prefix("0x")
        && let Ok(n) = u64::from_str_radix(hex, 16)
    {
        return Value::Number(n.into());
    }
    if let Some(oct) = s.strip_prefix("0o")
        && let Ok(n) = u64::from_str_radix(oct, 8)
    {
        return Value::Number(n.into());
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        if let Ok(n) = s.trim_start_matches('+').parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = s.trim_start_matches('+').parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    if is_yaml_float(digits)
        && let Ok(f) = s.trim_start_matches('+').parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_owned())
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_yaml_float(s: &str) -> bool {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => {
            (a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()))
                && !(a.is_empty() && b.is_empty())
        }
        None => !mant.is_empty() && mant.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
        }
    };
    mant_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_every_pointer_where_the_yaml_reader_does() {
        use crate::json::tests::SAMPLE;
        let limits = Limits::default();
        let mut want = BTreeSet::new();
        crate::json::tests::pointers(
            &crate::json::parse(SAMPLE).unwrap(),
            &mut String::new(),
            &mut want,
        );
        let fast = crate::json::locate(SAMPLE, limits.max_depth, &want).unwrap();
        let slow = locate_yaml(SAMPLE, &limits, &want);
        assert_eq!(fast.len(), want.len());
        assert_eq!(fast, slow);
        // Minified, on one line.
        let min = serde_json::to_string(&crate::json::parse(SAMPLE).unwrap()).unwrap();
        let fast = crate::json::locate(&min, limits.max_depth, &want).unwrap();
        let slow = locate_yaml(&min, &limits, &want);
        assert_eq!(fast, slow);
    }

    #[test]
    fn the_json_reader_reads_like_the_yaml_reader() {
        let sample = crate::json::tests::SAMPLE;
        let fast = crate::json::parse(sample).unwrap();
        let slow = parse_yaml(sample, "t.json", &Limits::default()).unwrap();
        assert_eq!(fast, slow);
    }

    fn p(s: &str) -> Value {
        parse(s, "t.yaml", &Limits::default()).unwrap()
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let v = p("a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 3.0.0\n200: x\ng: !!str 5\n");
        assert_eq!(v["a"], 1);
        assert_eq!(v["b"], 1.5);
        assert_eq!(v["c"], true);
        assert_eq!(v["d"], Value::Null);
        assert_eq!(v["e"], "1");
        assert_eq!(v["f"], "3.0.0");
        assert_eq!(v["200"], "x");
        assert_eq!(v["g"], "5");
    }

    #[test]
    fn merge_keys_and_aliases() {
        let v = p("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n");
        assert_eq!(v["m"]["x"], 1);
        assert_eq!(v["m"]["y"], 3);
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n", p = i - 1));
        }
        let e = parse(&s, "bomb.yaml", &Limits::default()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    what: "node count",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let s = "[".repeat(100_000);
        let e = parse(&s, "deep.yaml", &Limits::default()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    what: "nesting depth",
                    ..
                } | Error::Syntax { .. }
            ),
            "{e}"
        );
        let s = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        let e = parse(&s, "deep.json", &Limits::default()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    what: "nesting depth",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = parse("a: 1\na: 2\n", "d.yaml", &Limits::default()).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }

    #[test]
    fn locates_pointers_in_yaml_and_json() {
        let y = "openapi: 3.0.0\npaths:\n  /a/b:\n    get:\n      responses: {}\n";
        let want: BTreeSet<String> = ["/paths/~1a~1b/get".to_owned()].into();
        let p = locate(y, &Limits::default(), &want);
        assert_eq!(p["/paths/~1a~1b/get"], Position { line: 5, column: 7 });
        let j = "{\n  \"paths\": {\n    \"/x\": {\"get\": {}}\n  }\n}";
        let want: BTreeSet<String> = ["/paths/~1x/get".to_owned()].into();
        let p = locate(j, &Limits::default(), &want);
        assert_eq!(p["/paths/~1x/get"].line, 3);
    }
}
