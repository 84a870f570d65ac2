//! The dependency graph as DOT, for `hive graph`.

use crate::plan::Action;
use std::fmt::Write;

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `nodes`: each instance with its planned action, if a plan was made; `edges`: (from, to)
/// where `from` refers to `to`.
pub fn render_dot(nodes: &[(String, Option<Action>)], edges: &[(String, String)]) -> String {
    let mut out = String::from("digraph hive {\n  rankdir = \"BT\";\n  node [shape = box];\n");
    for (address, action) in nodes {
        match action {
            Some(a) => {
                let (word, color) = match a {
                    Action::NoOp => ("no change", "gray50"),
                    Action::Create => ("create", "darkgreen"),
                    Action::Update => ("update", "goldenrod3"),
                    Action::DeleteThenCreate => ("replace (destroy, then create)", "darkorange"),
                    Action::CreateThenDelete => ("replace (create, then destroy)", "darkorange"),
                    Action::Delete => ("destroy", "red3"),
                };
                let label = format!("{} {address}\\n{word}", a.symbol().trim());
                let _ = writeln!(
                    out,
                    "  {} [label = {}, color = {color}];",
                    quote(address),
                    quote(&label).replace("\\\\n", "\\n")
                );
            }
            None => {
                let _ = writeln!(out, "  {};", quote(address));
            }
        }
    }
    for (from, to) in edges {
        let _ = writeln!(out, "  {} -> {};", quote(from), quote(to));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_quotes_keys_and_labels_actions() {
        let nodes = vec![
            ("volume.data[\"a\"]".to_string(), Some(Action::Create)),
            ("host.local".to_string(), None),
        ];
        let edges = vec![("volume.data[\"a\"]".to_string(), "host.local".to_string())];
        let dot = render_dot(&nodes, &edges);
        assert!(
            dot.contains("\"volume.data[\\\"a\\\"]\" -> \"host.local\";"),
            "{dot}"
        );
        assert!(
            dot.contains("label = \"+ volume.data[\\\"a\\\"]\\ncreate\""),
            "{dot}"
        );
    }
}
