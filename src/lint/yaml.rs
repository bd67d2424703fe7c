//! YAML documents as a small tree with line numbers, read under a budget:
//! aliases are expanded as they are met, so a few hundred bytes of nested
//! aliases ("billion laughs"), or aliases to one large string, would
//! otherwise grow to gigabytes. Merge keys (`<<: *anchor`, YAML 1.1, which
//! compose files use) are applied; a key given twice in one mapping is an
//! error, as Kubernetes makes it (most often two documents without `---`).

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, Parser};

/// What a whole input may expand to in memory, aliases included: a node
/// counts [`NODE`] bytes, a string its bytes besides. An ordinary manifest
/// (16 MiB at most, the input cap) weighs a few times its size.
const MAX_WEIGHT: usize = 128 * 1024 * 1024;

/// About what one node takes in memory.
const NODE: usize = 48;

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

    /// What a copy of this node weighs (see [`MAX_WEIGHT`]).
    fn weight(&self) -> usize {
        match self {
            Node::Null => NODE,
            Node::Text(t) => NODE + t.len(),
            Node::Seq(items) => NODE + items.iter().map(Node::weight).sum::<usize>(),
            Node::Map(entries, _) => {
                NODE + entries
                    .iter()
                    .map(|(k, v)| NODE + k.len() + v.weight())
                    .sum::<usize>()
            }
        }
    }
}

/// A container being built.
enum Open {
    Seq(Vec<Node>, usize),
    /// Entries, the key waiting for its value, anchor, line, and the keys
    /// written in it (not merged in with `<<`).
    Map(
        Vec<(String, Node)>,
        Option<String>,
        usize,
        usize,
        HashSet<String>,
    ),
}

/// Every document in `text`; an error is a sentence with a line number.
pub(crate) fn documents(text: &str) -> Result<Vec<Node>, String> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut weight = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| e.to_string())?;
        let line = mark.line();
        let done = match event {
            Event::StreamEnd => break,
            Event::SequenceStart(anchor, _) => {
                weight += NODE;
                stack.push(Open::Seq(Vec::new(), anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                weight += NODE;
                stack.push(Open::Map(Vec::new(), None, anchor, line, HashSet::new()));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(items, anchor)) => Some((Node::Seq(items), anchor)),
                _ => return Err(format!("unbalanced sequence at line {line}")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(entries, _, anchor, start, _)) => {
                    Some((Node::Map(entries, start), anchor))
                }
                _ => return Err(format!("unbalanced mapping at line {line}")),
            },
            Event::Scalar(value, style, anchor, _) => {
                let plain = matches!(style, yaml_rust2::scanner::TScalarStyle::Plain);
                weight += NODE + value.len();
                let node = match value.as_str() {
                    "~" | "null" | "Null" | "NULL" | "" if plain => Node::Null,
                    _ => Node::Text(value),
                };
                Some((node, anchor))
            }
            Event::Alias(id) => {
                let node = anchors
                    .get(&id)
                    .ok_or_else(|| format!("unknown alias at line {line}"))?;
                // Weighed before it is copied.
                weight += node.weight();
                if weight > MAX_WEIGHT {
                    return Err(too_big());
                }
                Some((node.clone(), 0))
            }
            _ => None,
        };
        if weight > MAX_WEIGHT {
            return Err(too_big());
        }
        let Some((node, anchor)) = done else { continue };
        if anchor > 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => docs.push(node),
            Some(Open::Seq(items, _)) => items.push(node),
            Some(Open::Map(entries, key, _, _, own)) => match key.take() {
                None => *key = Some(key_text(&node)),
                Some(k) if k == "<<" => merge(entries, node),
                Some(k) => {
                    if !own.insert(k.clone()) {
                        return Err(format!("has the key {:?} twice in one mapping (line {line}; two documents without --- between them?)", crate::text::shorten_to(&k, 60)));
                    }
                    // Keys merged in (`<<`) give way to the mapping's own.
                    entries.retain(|(existing, _)| *existing != k);
                    entries.push((k, node));
                }
            },
        }
    }
    Ok(docs)
}

fn too_big() -> String {
    format!(
        "expands to more than {} MiB (aliases copied over and over?)",
        MAX_WEIGHT / 1024 / 1024
    )
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
    fn large_ordinary_documents_are_read() {
        // Deep and wide, as a big rendered chart is, about 1.5 MB.
        let item = "- {name: c, image: x, env: [{name: A, value: b}, {name: B, value: c}]}\n";
        let text = format!("kind: List\nitems:\n{}", item.repeat(20_000));
        assert_eq!(
            documents(&text).unwrap()[0]
                .get("items")
                .unwrap()
                .items()
                .len(),
            20_000
        );
    }

    #[test]
    fn alias_bombs_and_bad_yaml_are_errors() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (i, prev) in ('b'..='j').zip('a'..='i') {
            bomb.push_str(&format!("{i}: &{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(documents(&bomb).unwrap_err().contains("more than"));
        // One large string copied by many aliases.
        let big = format!(
            "a: &a {}\nb: [{}]\n",
            "x".repeat(1 << 20),
            vec!["*a"; 200].join(", ")
        );
        let refused = documents(&big).map(|docs| docs.len());
        assert!(refused.is_err_and(|e| e.contains("more than")));
        // A key twice: two documents pasted without ---.
        let twice = documents("kind: Deployment\nmetadata: {name: a}\nkind: Service\n");
        assert!(twice.unwrap_err().contains("twice"));
        assert!(documents("a: [b\n").is_err());
        assert!(documents("a: *nope\n").is_err());
        let deep = "[".repeat(100_000);
        assert!(documents(&deep).is_err());
    }
}
