//! YAML as Docker Compose reads it, every node with the line it was written on.
//!
//! Built from the events of `saphyr-parser` (a pure-Rust YAML 1.2 parser that reports anchors
//! and spans), because the checks must point at lines and a deserialised value has none.
//! Anchors and aliases are resolved here: an alias is a copy of the anchored node, which keeps
//! the anchor's lines. Merge keys (`<<: *x`, `<<: [*a, *b]`) are resolved as YAML 1.1 and
//! Compose do: the merged mappings add the keys the mapping does not write itself (explicit keys
//! win, and in a list the earlier mapping wins); each inherited value remembers the `<<` line.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

/// Where something is written: the file as the report names it, and the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Rc<str>,
    pub line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// How an inherited value came to where it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A YAML merge key `<<`.
    Merge,
    /// A service's `extends`.
    Extends,
}

/// One step of inheritance: the `<<` or `extends` line that brought a value in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub at: Loc,
    pub how: How,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// Where the node starts.
    pub at: Loc,
    /// The `<<`/`extends` lines through which this node was inherited (innermost first).
    pub via: Vec<Via>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar; `plain` when unquoted (only plain scalars can be null). `written` keeps the
    /// text as written when interpolation changed it (credentials are judged on what is written).
    Scalar {
        text: String,
        plain: bool,
        written: Option<String>,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A mapping entry: the key as written, where it is written, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_at: Loc,
    pub value: Node,
}

impl Entry {
    /// Where a finding about this key points: the key's line, and how it was inherited.
    pub fn origin(&self) -> Origin {
        Origin {
            at: self.key_at.clone(),
            via: self.value.via.clone(),
        }
    }
}

/// Where a value was written, and the `<<`/`extends` lines that brought it in (innermost first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub at: Loc,
    pub via: Vec<Via>,
}

/// A YAML error at a line.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

impl Node {
    pub fn scalar(text: impl Into<String>, at: Loc) -> Node {
        Node {
            value: Value::Scalar {
                text: text.into(),
                plain: false,
                written: None,
            },
            at,
            via: Vec::new(),
        }
    }

    pub fn map(entries: Vec<Entry>, at: Loc) -> Node {
        Node {
            value: Value::Map(entries),
            at,
            via: Vec::new(),
        }
    }

    /// The text of a scalar that is not null.
    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        // A value that interpolation made empty is an empty string, not null.
        matches!(&self.value, Value::Scalar { text, plain: true, written: None } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A scalar's text as written in the file, before interpolation.
    pub fn written(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar {
                written: Some(w), ..
            } => Some(w),
            _ => self.str(),
        }
    }

    /// A boolean as Compose reads one (YAML 1.1 words included, quoted or not).
    pub fn bool(&self) -> Option<bool> {
        match self.str()?.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => Some(true),
            "false" | "no" | "off" | "n" => Some(false),
            _ => None,
        }
    }

    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(m) => m.iter_mut().find(|e| e.key == key).map(|e| &mut e.value),
            _ => None,
        }
    }

    /// Sets `key` (replacing its value when present, appending otherwise).
    pub fn set(&mut self, entry: Entry) {
        if let Value::Map(m) = &mut self.value {
            match m.iter_mut().find(|e| e.key == entry.key) {
                Some(e) => *e = entry,
                None => m.push(entry),
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        match &mut self.value {
            Value::Map(m) => {
                let i = m.iter().position(|e| e.key == key)?;
                Some(m.remove(i))
            }
            _ => None,
        }
    }

    /// Records that this node and everything under it was inherited through `via`.
    pub fn inherited(mut self, via: &Via) -> Node {
        self.mark(via);
        self
    }

    fn mark(&mut self, via: &Via) {
        self.via.push(via.clone());
        match &mut self.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => items.iter_mut().for_each(|i| i.mark(via)),
            Value::Map(entries) => entries.iter_mut().for_each(|e| e.value.mark(via)),
        }
    }

    /// Where this node is written, and how it was inherited.
    pub fn origin(&self) -> Origin {
        Origin {
            at: self.at.clone(),
            via: self.via.clone(),
        }
    }

    /// What kind of node this is, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses the first document of `text`; `file` is how locations name the file.
/// `Ok(None)` for an empty file.
pub fn parse(file: &Rc<str>, text: &str) -> Result<Option<Node>, YamlError> {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        file: file.clone(),
        anchors: HashMap::new(),
    };
    loop {
        let (event, span) = b.next()?;
        match event {
            Event::StreamEnd => return Ok(None),
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => continue,
            event => return b.node(event, span).map(Some),
        }
    }
}

/// Every document of `text` (a Kubernetes manifest file holds several), empty ones left out.
pub fn parse_all(file: &Rc<str>, text: &str) -> Result<Vec<Node>, YamlError> {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        file: file.clone(),
        anchors: HashMap::new(),
    };
    let mut docs = Vec::new();
    loop {
        let (event, span) = b.next()?;
        match event {
            Event::StreamEnd => return Ok(docs),
            Event::StreamStart | Event::DocumentStart(_) | Event::DocumentEnd | Event::Nothing => {
                continue
            }
            event => {
                let node = b.node(event, span)?;
                if !node.is_null() {
                    docs.push(node);
                }
            }
        }
    }
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    file: Rc<str>,
    anchors: HashMap<usize, Node>,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => Err(YamlError {
                line: e.marker().line(),
                message: match e.info() {
                    "while parsing node, found unknown anchor" => {
                        "alias to an undefined anchor".to_string()
                    }
                    info => info.to_string(),
                },
            }),
            None => Err(YamlError {
                line: 0,
                message: "unexpected end of the YAML stream".into(),
            }),
        }
    }

    fn at(&self, span: &Span) -> Loc {
        Loc {
            file: self.file.clone(),
            line: span.start.line(),
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, YamlError> {
        let at = self.at(&span);
        let (node, anchor) = match event {
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or(YamlError {
                    line: at.line,
                    message: "alias to an undefined anchor".into(),
                })?;
                return Ok(node);
            }
            Event::Scalar(text, style, anchor, _) => (
                Node {
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                        written: None,
                    },
                    at,
                    via: Vec::new(),
                },
                anchor,
            ),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span)?);
                }
                (
                    Node {
                        value: Value::Seq(items),
                        at,
                        via: Vec::new(),
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _) => (self.mapping(at)?, anchor),
            other => {
                return Err(YamlError {
                    line: at.line,
                    message: format!("unexpected YAML event {other:?}"),
                })
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn mapping(&mut self, at: Loc) -> Result<Node, YamlError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut merged: Vec<Entry> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let key_node = self.node(event, span)?;
            let key_at = key_node.at.clone();
            let (event, span) = self.next()?;
            let value = self.node(event, span)?;
            let key = match &key_node.value {
                Value::Scalar { text, .. } => text.clone(),
                _ => {
                    return Err(YamlError {
                        line: key_at.line,
                        message: format!("a mapping key must be a scalar, not {}", key_node.kind()),
                    })
                }
            };
            if key == "<<" && matches!(key_node.value, Value::Scalar { plain: true, .. }) {
                merge_into(&mut merged, value, &key_at)?;
                continue;
            }
            match entries.iter_mut().find(|e| e.key == key) {
                // The last of two equal keys wins, as PyYAML (docker-compose 1.29) has it.
                Some(e) => {
                    e.key_at = key_at;
                    e.value = value;
                }
                None => entries.push(Entry { key, key_at, value }),
            }
        }
        for m in merged {
            if !entries.iter().any(|e| e.key == m.key) {
                entries.push(m);
            }
        }
        Ok(Node::map(entries, at))
    }
}

/// Adds the entries of a `<<` value (a mapping or a list of mappings) that `merged` lacks.
fn merge_into(merged: &mut Vec<Entry>, value: Node, merge_at: &Loc) -> Result<(), YamlError> {
    let sources = match value.value {
        Value::Map(_) => vec![value],
        Value::Seq(items) => items,
        _ => {
            return Err(YamlError {
                line: merge_at.line,
                message: format!(
                    "merge key `<<` needs a mapping or a list of mappings, not {}",
                    value.kind()
                ),
            })
        }
    };
    let via = Via {
        at: merge_at.clone(),
        how: How::Merge,
    };
    for source in sources {
        let Value::Map(entries) = source.value else {
            return Err(YamlError {
                line: source.at.line,
                message: format!(
                    "merge key `<<` (line {}) lists {}, not a mapping",
                    merge_at.line,
                    source.kind()
                ),
            });
        };
        for e in entries {
            if !merged.iter().any(|m| m.key == e.key) {
                merged.push(Entry {
                    value: e.value.inherited(&via),
                    ..e
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Result<Node, YamlError> {
        parse(&Rc::from("t.yaml"), text).map(|n| n.expect("a document"))
    }

    #[test]
    fn merge_keys_add_what_the_mapping_does_not_write_and_remember_the_merge_line() {
        let n =
            doc("x: &a\n  image: one\n  restart: always\ns:\n  <<: *a\n  image: two\n").unwrap();
        let s = n.get("s").unwrap();
        assert_eq!(s.get("image").unwrap().str(), Some("two"));
        let restart = s.entry("restart").unwrap();
        assert_eq!(restart.value.str(), Some("always"));
        assert_eq!(restart.key_at.line, 3, "the anchor's line");
        assert_eq!(restart.value.via[0].at.line, 5, "the `<<` line");
    }

    #[test]
    fn in_a_list_of_merged_mappings_the_earlier_wins() {
        let n = doc("a: &a {k: 1}\nb: &b {k: 2, l: 3}\nc:\n  <<: [*a, *b]\n").unwrap();
        let c = n.get("c").unwrap();
        assert_eq!(c.get("k").unwrap().str(), Some("1"));
        assert_eq!(c.get("l").unwrap().str(), Some("3"));
    }

    #[test]
    fn bad_merges_and_aliases_are_errors_at_their_line() {
        let e = doc("a: &a 3\nb:\n  <<: *a\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("not a scalar"), "{e:?}");
        let e = doc("a: 1\nb: *nope\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.message, "alias to an undefined anchor");
    }
}
