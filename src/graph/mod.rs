//! Graphs (petgraph): the stack graph — edges from layer dependencies and cross-stack
//! references — and each stack's resource graph — edges from references and `depends_on`.
//! Orders are deterministic (ties broken by declaration order); a cycle is an error that
//! names every node on it. `waves` groups ordered nodes into sets that can run at once (the
//! planner's stacks).

pub mod export;
pub mod walk;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::BTreeSet;

/// Orders `n` nodes so that for every edge `(a, b)`, `a` comes before `b`. Among nodes ready
/// at the same time the lowest index goes first. On a cycle, returns the nodes of one cycle,
/// the first repeated at the end.
pub fn topo_order(n: usize, edges: &[(usize, usize)]) -> Result<Vec<usize>, Vec<usize>> {
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(n, edges.len());
    let nodes: Vec<NodeIndex> = (0..n).map(|i| graph.add_node(i)).collect();
    for &(a, b) in edges {
        graph.update_edge(nodes[a], nodes[b], ());
    }
    let mut indegree: Vec<usize> = nodes
        .iter()
        .map(|&node| {
            graph
                .neighbors_directed(node, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(next) = ready.pop_first() {
        order.push(next);
        for edge in graph.edges(nodes[next]) {
            let target = graph[edge.target()];
            indegree[target] -= 1;
            if indegree[target] == 0 {
                ready.insert(target);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    Err(find_cycle(&graph).unwrap_or_default())
}

/// One cycle of the graph, as node weights, first node repeated at the end.
fn find_cycle(graph: &DiGraph<usize, ()>) -> Option<Vec<usize>> {
    for component in petgraph::algo::tarjan_scc(graph) {
        let looped = component.len() == 1 && graph.contains_edge(component[0], component[0]);
        if component.len() < 2 && !looped {
            continue;
        }
        let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
        let start = *members.iter().next()?;
        let mut path = vec![start];
        let mut current = start;
        loop {
            let next = graph
                .neighbors(current)
                .filter(|n| members.contains(n))
                .min()?;
            if let Some(pos) = path.iter().position(|&p| p == next) {
                let mut cycle: Vec<usize> = path[pos..].iter().map(|&p| graph[p]).collect();
                cycle.push(graph[next]);
                return Some(cycle);
            }
            path.push(next);
            current = next;
        }
    }
    None
}

/// Groups `n` nodes, already in an order where what a node depends on comes first, into
/// waves that can each run at once: a node goes in the wave after the last node it depends on
/// (edge `(a, b)`: `b` depends on `a`). Edges against the order (`a >= b`) are ignored. Each
/// wave lists its nodes in order.
pub fn waves(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges.iter().filter(|(a, b)| a < b && *b < n) {
        after[b].push(a);
    }
    let mut wave_of = vec![0; n];
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for node in 0..n {
        let wave = after[node]
            .iter()
            .map(|&a| wave_of[a] + 1)
            .max()
            .unwrap_or(0);
        wave_of[node] = wave;
        if waves.len() <= wave {
            waves.resize_with(wave + 1, Vec::new);
        }
        waves[wave].push(node);
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_dependencies_first_and_is_deterministic() {
        // 2 -> 0, 0 -> 1, 3 alone
        let order = topo_order(4, &[(2, 0), (0, 1)]).unwrap();
        assert_eq!(order, vec![2, 0, 1, 3]);
    }

    #[test]
    fn reports_the_nodes_of_a_cycle() {
        let cycle = topo_order(4, &[(0, 1), (1, 2), (2, 1), (3, 0)]).unwrap_err();
        assert_eq!(cycle, vec![1, 2, 1]);
        let self_loop = topo_order(2, &[(1, 1)]).unwrap_err();
        assert_eq!(self_loop, vec![1, 1]);
    }

    #[test]
    fn waves_put_each_node_after_the_last_it_depends_on() {
        /// (nodes, edges, waves)
        type Case = (
            usize,
            &'static [(usize, usize)],
            &'static [&'static [usize]],
        );
        let cases: [Case; 6] = [
            (0, &[], &[]),
            (3, &[], &[&[0, 1, 2]]),
            // a chain
            (3, &[(0, 1), (1, 2)], &[&[0], &[1], &[2]]),
            // a group: an account, two networks, their replicas, a proxy reading the replicas
            (
                6,
                &[(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 5)],
                &[&[0], &[1, 2], &[3, 4], &[5]],
            ),
            // the longest path decides: 3 reads 0 (wave 0) and 2 (wave 2)
            (
                4,
                &[(0, 1), (1, 2), (0, 3), (2, 3)],
                &[&[0], &[1], &[2], &[3]],
            ),
            // edges against the order, and to nodes out of range, are ignored
            (3, &[(2, 1), (1, 1), (0, 7)], &[&[0, 1, 2]]),
        ];
        for (n, edges, expected) in cases {
            let expected: Vec<Vec<usize>> = expected.iter().map(|w| w.to_vec()).collect();
            assert_eq!(waves(n, edges), expected, "{n} nodes, edges {edges:?}");
        }
    }
}
