//! Renders a graph as Graphviz DOT, Mermaid or JSON, optionally coloured by planned action.

use serde::Serialize;

/// A node to draw.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    /// Node id (stack name, or `stack:resource`).
    pub id: String,
    /// Cluster the node belongs to (the layer, for stacks).
    pub cluster: String,
    /// Planned action summary (`create`, `update`, `replace`, `delete`, `no-op`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// A link between two nodes that is not a dependency: a private path of the replica mesh
/// between two replicas' networks, drawn undirected and dashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkView {
    /// One end (a node id).
    pub from: String,
    /// The other end (a node id).
    pub to: String,
    /// What joins them (`vpc-peering`, `ha-vpn`, `network-peering`).
    pub kind: String,
    /// The node that declares the link (the mesh stack).
    pub by: String,
}

/// A graph to draw; edges point from a dependency to its dependent.
#[derive(Debug, Clone, Serialize)]
pub struct GraphView {
    /// Nodes.
    pub nodes: Vec<NodeView>,
    /// Edges from a dependency to its dependent.
    pub edges: Vec<(String, String)>,
    /// Links between nodes, declared by a stack's `links` output (see `Terrace::graph`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub links: Vec<LinkView>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// JSON (`nodes`, `edges`).
    Json,
}

fn colour(action: Option<&str>) -> &'static str {
    match action {
        Some("create") => "#2e7d32",
        Some("update") => "#f9a825",
        Some("replace") => "#ef6c00",
        Some("delete") => "#c62828",
        Some(_) => "#9e9e9e",
        None => "#455a64",
    }
}

/// The graph in the chosen format.
pub fn render(view: &GraphView, format: Format) -> String {
    match format {
        Format::Dot => dot(view),
        Format::Mermaid => mermaid(view),
        Format::Json => serde_json::to_string_pretty(view).expect("graph serializes") + "\n",
    }
}

fn clusters(view: &GraphView) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for node in &view.nodes {
        if !names.contains(&node.cluster.as_str()) {
            names.push(&node.cluster);
        }
    }
    names
}

fn dot(view: &GraphView) -> String {
    let mut out = String::from("digraph terrace {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontcolor=white];\n");
    for (i, cluster) in clusters(view).into_iter().enumerate() {
        out.push_str(&format!(
            "  subgraph cluster_{i} {{\n    label=\"{cluster}\";\n    style=dashed;\n"
        ));
        for node in view.nodes.iter().filter(|n| n.cluster == cluster) {
            let label = match &node.action {
                Some(action) => format!("{}\\n({action})", node.id),
                None => node.id.clone(),
            };
            out.push_str(&format!(
                "    \"{}\" [label=\"{label}\", fillcolor=\"{}\"];\n",
                node.id,
                colour(node.action.as_deref())
            ));
        }
        out.push_str("  }\n");
    }
    for (from, to) in &view.edges {
        out.push_str(&format!("  \"{from}\" -> \"{to}\";\n"));
    }
    for link in &view.links {
        out.push_str(&format!(
            "  \"{}\" -> \"{}\" [dir=none, style=dashed, color=\"#1565c0\", label=\"{}\"];\n",
            link.from, link.to, link.kind
        ));
    }
    out.push_str("}\n");
    out
}

fn mermaid_id(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn mermaid(view: &GraphView) -> String {
    let mut out = String::from("flowchart LR\n");
    for cluster in clusters(view) {
        out.push_str(&format!(
            "  subgraph {}[\"{cluster}\"]\n",
            mermaid_id(&format!("layer {cluster}"))
        ));
        for node in view.nodes.iter().filter(|n| n.cluster == cluster) {
            let label = match &node.action {
                Some(action) => format!("{} ({action})", node.id),
                None => node.id.clone(),
            };
            out.push_str(&format!("    {}[\"{label}\"]\n", mermaid_id(&node.id)));
        }
        out.push_str("  end\n");
    }
    for (from, to) in &view.edges {
        out.push_str(&format!("  {} --> {}\n", mermaid_id(from), mermaid_id(to)));
    }
    for link in &view.links {
        out.push_str(&format!(
            "  {} -.-|{}| {}\n",
            mermaid_id(&link.from),
            link.kind,
            mermaid_id(&link.to)
        ));
    }
    for node in view.nodes.iter().filter(|n| n.action.is_some()) {
        out.push_str(&format!(
            "  style {} fill:{},color:#fff\n",
            mermaid_id(&node.id),
            colour(node.action.as_deref())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> GraphView {
        GraphView {
            nodes: vec![
                NodeView {
                    id: "networks/eu/a".into(),
                    cluster: "networks".into(),
                    action: Some("create".into()),
                },
                NodeView {
                    id: "replicas/eu/a".into(),
                    cluster: "replicas".into(),
                    action: None,
                },
            ],
            edges: vec![("networks/eu/a".into(), "replicas/eu/a".into())],
            links: vec![LinkView {
                from: "networks/eu/a".into(),
                to: "networks/eu/b".into(),
                kind: "vpc-peering".into(),
                by: "mesh/eu".into(),
            }],
        }
    }

    #[test]
    fn dot_has_clusters_edges_and_action_colours() {
        let out = render(&view(), Format::Dot);
        assert!(out.contains("subgraph cluster_0 {\n    label=\"networks\""));
        assert!(out.contains("\"networks/eu/a\" -> \"replicas/eu/a\";"));
        assert!(out.contains("(create)\", fillcolor=\"#2e7d32\""));
        assert!(out.contains(
            "\"networks/eu/a\" -> \"networks/eu/b\" [dir=none, style=dashed, color=\"#1565c0\", label=\"vpc-peering\"];"
        ));
    }

    #[test]
    fn mermaid_uses_safe_ids() {
        let out = render(&view(), Format::Mermaid);
        assert!(out.contains("networks_eu_a --> replicas_eu_a"));
        assert!(out.contains("style networks_eu_a fill:#2e7d32"));
        assert!(out.contains("networks_eu_a -.-|vpc-peering| networks_eu_b"));
    }
}
