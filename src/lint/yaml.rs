//! YAML documents as a small tree with line numbers, read under a budget:
//! aliases are expanded as they are met, so a few hundred bytes of nested
//! aliases ("billion laughs") would otherwise grow to gigabytes. Merge keys
//! (`<<: *anchor`, YAML 1.1, which compose files use) are applied.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

/// Nodes a whole input may expand to, aliases included.
const MAX_NODES: usize = 2_000_000;

/// One YAML node; scalars stay text (`true`, `3`, `"3"` alike).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Null,
    Text(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>, usize),
}

impl Node {
    /// The value under `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries, _) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Follows a path of keys.
    pub(crate) fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Node::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The text under `key`, if it is a scalar.
    pub(crate) fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).and_then(Node::text)
    }

    pub(crate) fn items(&self) -> &[Node] {
        match self {
            Node::Seq(items) => items,
            _ => &[],
        }
    }

    pub(crate) fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries, _) => entries,
            _ => &[],
        }
    }

    /// The line a mapping starts on (1-based), else 0.
    pub(crate) fn line(&self) -> usize {
        match self {
            Node::Map(_, line) => *line,
            _ => 0,
        }
    }

    fn size(&self) -> usize {
        match self {
            Node::Null | Node::Text(_) => 1,
            Node::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Node::Map(entries, _) => 1 + entries.iter().map(|(_, v)| 1 + v.size()).sum::<usize>(),
        }
    }
}

/// A container being built.
enum Open {
    Seq(Vec<Node>, usize),
    /// Entries, the key waiting for its value, anchor, line.
    Map(Vec<(String, Node)>, Option<String>, usize, usize),
}

/// Every document in `text`; an error is a sentence with a line number.
pub(crate) fn documents(text: &str) -> Result<Vec<Node>, String> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut nodes = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| e.to_string())?;
        let line = mark.line();
        let done = match event {
            Event::StreamEnd => break,
            Event::SequenceStart(anchor, _) => {
                stack.push(Open::Seq(Vec::new(), anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open::Map(Vec::new(), None, anchor, line));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(items, anchor)) => Some((Node::Seq(items), anchor)),
                _ => return Err(format!("unbalanced sequence at line {line}")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(entries, _, anchor, start)) => {
                    Some((Node::Map(entries, start), anchor))
                }
                _ => return Err(format!("unbalanced mapping at line {line}")),
            },
            Event::Scalar(value, style, anchor, _) => {
                let plain = matches!(style, yaml_rust2::scanner::TScalarStyle::Plain);
                let node = match value.as_str() {
                    "~" | "null" | "Null" | "NULL" | "" if plain => Node::Null,
                    _ => Node::Text(value),
                };
                Some((node, anchor))
            }
            Event::Alias(id) => {
                let node = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| format!("unknown alias at line {line}"))?;
                Some((node, 0))
            }
            _ => None,
        };
        let Some((node, anchor)) = done else { continue };
        nodes += node.size();
        if nodes > MAX_NODES {
            return Err(format!(
                "expands to more than {MAX_NODES} nodes (nested aliases?)"
            ));
        }
        if anchor > 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => docs.push(node),
            Some(Open::Seq(items, _)) => items.push(node),
            Some(Open::Map(entries, key, _, _)) => match key.take() {
                None => *key = Some(key_text(&node)),
                Some(k) if k == "<<" => merge(entries, node),
                Some(k) => {
                    // A later duplicate key wins, as in most loaders.
                    entries.retain(|(existing, _)| *existing != k);
                    entries.push((k, node));
                }
            },
        }
    }
    Ok(docs)
}

fn key_text(node: &Node) -> String {
    match node {
        Node::Text(t) => t.clone(),
        Node::Null => String::new(),
        // Complex keys do not occur in manifests; keep them unmatchable.
        _ => "\u{0}complex".into(),
    }
}

/// `<<: *a` or `<<: [*a, *b]`: keys not already present are added.
fn merge(entries: &mut Vec<(String, Node)>, from: Node) {
    let sources = match from {
        Node::Seq(items) => items,
        other => vec![other],
    };
    for source in sources {
        if let Node::Map(more, _) = source {
            for (k, v) in more {
                if !entries.iter().any(|(existing, _)| *existing == k) {
                    entries.push((k, v));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_aliases_and_merge_keys() {
        let docs =
            documents("a: &x {k: v, n: 1}\nb:\n  <<: *x\n  n: 2\n---\n- ~\n- 'null'\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].str_at(&["b", "k"]), Some("v"));
        assert_eq!(
            docs[0].str_at(&["b", "n"]),
            Some("2"),
            "own keys win over merged ones"
        );
        assert_eq!(docs[1].items()[0], Node::Null);
        assert_eq!(docs[1].items()[1], Node::Text("null".into()));
        assert_eq!(docs[0].get("b").unwrap().line(), 3);
    }

    #[test]
    fn alias_bombs_and_bad_yaml_are_errors() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, prev) in ('b'..='j').zip('a'..='i') {
            bomb.push_str(&format!("{i}: &{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(documents(&bomb).unwrap_err().contains("more than"));
        assert!(documents("a: [b\n").is_err());
        assert!(documents("a: *nope\n").is_err());
        let deep = "[".repeat(100_000);
        assert!(documents(&deep).is_err());
    }
}
