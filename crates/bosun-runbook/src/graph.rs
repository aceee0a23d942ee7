//! A runbook's step graph as Mermaid (for Markdown and Gitea/GitHub
//! previews) and Graphviz DOT. Edges carry the dependency kind when it is
//! not the default `on_success`.

use bosun_model::{Actor, DepKind};

use crate::def::Runbook;

fn label(kind: DepKind) -> Option<&'static str> {
    match kind {
        DepKind::OnSuccess => None,
        DepKind::Always => Some("always"),
        DepKind::OnFailure => Some("on_failure"),
    }
}

fn node_id(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "'")
}

/// The graph in Mermaid `flowchart` syntax.
pub fn mermaid(rb: &Runbook) -> String {
    let mut s = String::from("flowchart TD\n");
    for st in &rb.steps {
        let (open, close) = match st.actor {
            Actor::Agent => ("[", "]"),
            Actor::Human => ("[/", "/]"),
            Actor::Both => ("([", "])"),
        };
        s.push_str(&format!(
            "  {}{open}\"{}\"{close}\n",
            node_id(st.id.as_str()),
            quote(st.id.as_str())
        ));
    }
    for st in &rb.steps {
        for d in &st.depends_on {
            let arrow = match label(d.kind) {
                Some(l) => format!("-- {l} -->"),
                None => "-->".into(),
            };
            s.push_str(&format!(
                "  {} {arrow} {}\n",
                node_id(d.step.as_str()),
                node_id(st.id.as_str())
            ));
        }
    }
    s
}

/// The graph in Graphviz DOT.
pub fn dot(rb: &Runbook) -> String {
    let mut s = format!("digraph \"{}\" {{\n  rankdir=TB;\n", quote(rb.id.as_str()));
    for st in &rb.steps {
        let shape = match st.actor {
            Actor::Agent => "box",
            Actor::Human => "parallelogram",
            Actor::Both => "ellipse",
        };
        s.push_str(&format!(
            "  \"{}\" [shape={shape}];\n",
            quote(st.id.as_str())
        ));
    }
    for st in &rb.steps {
        for d in &st.depends_on {
            match label(d.kind) {
                Some(l) => s.push_str(&format!(
                    "  \"{}\" -> \"{}\" [label=\"{l}\"];\n",
                    quote(d.step.as_str()),
                    quote(st.id.as_str())
                )),
                None => s.push_str(&format!(
                    "  \"{}\" -> \"{}\";\n",
                    quote(d.step.as_str()),
                    quote(st.id.as_str())
                )),
            }
        }
    }
    s.push_str("}\n");
    s
}
