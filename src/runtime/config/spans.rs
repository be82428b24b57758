//! Where a field is in the configuration text: the line of a TOML path (`group[0].sessions[1].id`)
//! and the path at a byte offset, from `toml_edit`'s spans. Also the checks serde cannot word well
//! (the flattened profile weights).
use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, Value};

use super::{RuntimeConfigError, err};
use crate::score::WEIGHT_NAMES;

/// 1-based line of byte offset `pos`.
pub(super) fn line_at(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[derive(Debug, PartialEq)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Seg::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn span(&self) -> Option<Range<usize>> {
        match *self {
            Node::Item(Item::Table(t)) | Node::Table(t) => t.span(),
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
        }
    }

    /// `(key span, child)` of key `k`.
    fn key(&self, k: &str) -> Option<(Option<Range<usize>>, Node<'a>)> {
        match *self {
            Node::Item(Item::Table(t)) | Node::Table(t) => table_key(t, k),
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
                let v = t.get(k)?;
                Some((t.key(k).and_then(|k| k.span()), Node::Value(v)))
            }
            _ => None,
        }
    }

    fn index(&self, i: usize) -> Option<Node<'a>> {
        match *self {
            Node::Item(Item::ArrayOfTables(a)) => {
                // A table of an array of tables: the `[[...]]` header's span.
                a.get(i).map(Node::Table)
            }
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                a.get(i).map(Node::Value)
            }
            _ => None,
        }
    }

    fn children(&self) -> Vec<(String, Option<Range<usize>>, Node<'a>)> {
        match *self {
            Node::Item(Item::Table(t)) | Node::Table(t) => t
                .iter()
                .filter_map(|(k, _)| {
                    let (ks, n) = table_key(t, k)?;
                    Some((k.to_string(), ks, n))
                })
                .collect(),
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
                t.iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            t.key(k).and_then(|k| k.span()),
                            Node::Value(v),
                        )
                    })
                    .collect()
            }
            Node::Item(Item::ArrayOfTables(a)) => a
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("[{i}]"), None, Node::Table(t)))
                .collect(),
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("[{i}]"), None, Node::Value(v)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn table_key<'a>(t: &'a Table, k: &str) -> Option<(Option<Range<usize>>, Node<'a>)> {
    let (key, item) = t.get_key_value(k)?;
    Some((key.span(), Node::Item(item)))
}

/// The line of the deepest part of `path` present in the document (the key's line where the key
/// is written, else the value's or the table header's).
pub(super) fn line_of_path(text: &str, doc: &ImDocument<&str>, path: &str) -> Option<usize> {
    let mut node = Node::Item(doc.as_item());
    let mut best: Option<usize> = None;
    for seg in segments(path) {
        let next = match seg {
            Seg::Key(k) => node.key(k).map(|(ks, n)| {
                if let Some(s) = ks.or_else(|| n.span()) {
                    best = Some(s.start);
                }
                n
            }),
            Seg::Index(i) => node.index(i).inspect(|n| {
                if let Some(s) = n.span() {
                    best = Some(s.start);
                }
            }),
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    best.map(|p| line_at(text, p))
}

/// The TOML path of the deepest key or value whose span holds byte `pos`.
pub(super) fn path_at(doc: &ImDocument<&str>, pos: usize) -> Option<String> {
    fn walk(node: Node<'_>, pos: usize, path: &str) -> Option<String> {
        for (k, ks, child) in node.children() {
            let p = if k.starts_with('[') {
                format!("{path}{k}")
            } else if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            let inside = |s: &Option<Range<usize>>| s.as_ref().is_some_and(|s| s.contains(&pos));
            if inside(&ks) {
                return Some(p);
            }
            if let Some(deeper) = walk(child, pos, &p) {
                return Some(deeper);
            }
            if inside(&child.span()) {
                return Some(p);
            }
        }
        None
    }
    walk(Node::Item(doc.as_item()), pos, "")
}

/// "invalid type: string \"x\", expected f64" -> "expected a number (f64), found string \"x\"".
pub(super) fn tidy_message(m: &str) -> String {
    let m = m.trim().replace('\n', "; ");
    let m = m.as_str();
    if let Some(rest) = m.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("expected {expected}, found {found}");
        }
    }
    m.to_string()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}

/// The profiles' keys and types (serde's flattened weights lose the key and the position).
pub(super) fn precheck(doc: &ImDocument<&str>) -> Result<(), RuntimeConfigError> {
    let Some((_, engine)) = Node::Item(doc.as_item()).key("engine") else {
        return Ok(());
    };
    let Some((_, profiles)) = engine.key("profiles") else {
        return Ok(());
    };
    let is_array = matches!(
        profiles,
        Node::Item(Item::ArrayOfTables(_)) | Node::Item(Item::Value(Value::Array(_)))
    );
    if !is_array {
        return Err(err(
            "engine.profiles",
            "expected an array of profiles ([[engine.profiles]] tables)",
        ));
    }
    for (i, (_, _, p)) in profiles.children().into_iter().enumerate() {
        let f = format!("engine.profiles[{i}]");
        let is_table = matches!(
            p,
            Node::Item(Item::Table(_)) | Node::Table(_) | Node::Value(Value::InlineTable(_))
        );
        if !is_table {
            return Err(err(
                f,
                "expected a table: { name = \"...\", latency = 0.5, ... }",
            ));
        }
        let mut has_name = false;
        for (k, _, v) in p.children() {
            let value = match v {
                Node::Item(Item::Value(v)) | Node::Value(v) => Some(v),
                _ => None,
            };
            let found = value.map(type_name).unwrap_or("a table");
            if k == "name" {
                has_name = true;
                if !matches!(value, Some(Value::String(_))) {
                    return Err(err(
                        format!("{f}.name"),
                        format!("expected a string, found {found}"),
                    ));
                }
            } else if WEIGHT_NAMES.contains(&k.as_str()) {
                if !matches!(value, Some(Value::Integer(_) | Value::Float(_))) {
                    return Err(err(
                        format!("{f}.{k}"),
                        format!("expected a number, found {found}"),
                    ));
                }
            } else {
                return Err(err(
                    format!("{f}.{k}"),
                    format!(
                        "unknown key `{k}`: a profile has `name` and the weights {}",
                        WEIGHT_NAMES.join(", ")
                    ),
                ));
            }
        }
        if !has_name {
            return Err(err(f, "missing `name`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_keys_and_indices() {
        assert_eq!(
            segments("group[0].sessions[12].fix.heartbeat_s"),
            vec![
                Seg::Key("group"),
                Seg::Index(0),
                Seg::Key("sessions"),
                Seg::Index(12),
                Seg::Key("fix"),
                Seg::Key("heartbeat_s"),
            ]
        );
    }

    #[test]
    fn lines_and_paths_round_trip() {
        let text = "a = 1\n[[group]]\ncore = 1\nsessions = [\n  { id = 1 },\n  { id = 2, x = 3 },\n]\n[[group]]\ncore = 2\n[engine.buckets]\nedges = [1, 2]\n";
        let doc = ImDocument::parse(text).unwrap();
        assert_eq!(line_of_path(text, &doc, "a"), Some(1));
        assert_eq!(line_of_path(text, &doc, "group[0].core"), Some(3));
        assert_eq!(line_of_path(text, &doc, "group[0].sessions[1].x"), Some(6));
        assert_eq!(line_of_path(text, &doc, "group[1].core"), Some(9));
        assert_eq!(line_of_path(text, &doc, "group[1]"), Some(8));
        assert_eq!(line_of_path(text, &doc, "engine.buckets.edges"), Some(11));
        // Missing parts: the deepest present one.
        assert_eq!(line_of_path(text, &doc, "group[1].sessions"), Some(8));
        let pos = text.find("x = 3").unwrap();
        assert_eq!(
            path_at(&doc, pos).as_deref(),
            Some("group[0].sessions[1].x")
        );
        let pos = text.find("core = 2").unwrap() + 7;
        assert_eq!(path_at(&doc, pos).as_deref(), Some("group[1].core"));
    }
}
