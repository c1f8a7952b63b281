//! A walk of a dependency graph in order, shared by the executor's two levels — stacks in a
//! plan and resource operations in a stack: a node becomes ready once every node it waits on
//! has succeeded; when a node does not succeed, every node after it (directly or not) is given
//! up, each with the node it waited on. Each edge is looked at once: O(nodes + edges) for the
//! whole walk, whatever the order in which nodes end.

use std::collections::VecDeque;

/// Where a walk stands. Nodes are `0..n`; an edge `(a, b)` makes `b` wait for `a`.
#[derive(Debug, Clone)]
pub struct Walk {
    /// Per node, how many of the nodes it waits on have not succeeded yet.
    waiting_on: Vec<usize>,
    /// Per node, the nodes that wait on it.
    next: Vec<Vec<usize>>,
    ready: VecDeque<usize>,
    /// Per node, whether it ended (succeeded, failed or given up).
    ended: Vec<bool>,
}

impl Walk {
    /// A walk of `n` nodes; nodes that wait on nothing are ready at once, in index order.
    /// Edges naming a node `>= n` are ignored. The graph must be acyclic (see
    /// [`super::topo_order`]): nodes on a cycle never become ready.
    pub fn new(n: usize, edges: &[(usize, usize)]) -> Walk {
        let mut next = vec![Vec::new(); n];
        let mut waiting_on = vec![0usize; n];
        for &(a, b) in edges.iter().filter(|(a, b)| *a < n && *b < n) {
            next[a].push(b);
            waiting_on[b] += 1;
        }
        let ready = (0..n).filter(|&i| waiting_on[i] == 0).collect();
        Walk {
            waiting_on,
            next,
            ready,
            ended: vec![false; n],
        }
    }

    /// The next ready node, oldest first.
    pub fn pop_ready(&mut self) -> Option<usize> {
        while let Some(node) = self.ready.pop_front() {
            if !self.ended[node] {
                return Some(node);
            }
        }
        None
    }

    /// `node` succeeded: the nodes waiting only on it (and on nodes already succeeded) become
    /// ready.
    pub fn succeeded(&mut self, node: usize) {
        self.ended[node] = true;
        for &after in &self.next[node] {
            self.waiting_on[after] -= 1;
            if self.waiting_on[after] == 0 && !self.ended[after] {
                self.ready.push_back(after);
            }
        }
    }

    /// `node` did not succeed (failed, skipped): every node after it that has not ended is
    /// given up, returned as `(node, the node it waited on)` in the order reached (a node's
    /// predecessor comes before it). A node given up ends.
    pub fn failed(&mut self, node: usize) -> Vec<(usize, usize)> {
        self.ended[node] = true;
        let mut given_up = Vec::new();
        let mut todo: VecDeque<(usize, usize)> =
            self.next[node].iter().map(|&after| (after, node)).collect();
        while let Some((after, via)) = todo.pop_front() {
            if self.ended[after] {
                continue;
            }
            self.ended[after] = true;
            given_up.push((after, via));
            todo.extend(self.next[after].iter().map(|&n| (n, after)));
        }
        given_up
    }

    /// True when `node` has ended.
    pub fn has_ended(&self, node: usize) -> bool {
        self.ended[node]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_become_ready_when_all_they_wait_on_succeeded() {
        // 0 → 2, 1 → 2, 2 → 3
        let mut walk = Walk::new(4, &[(0, 2), (1, 2), (2, 3)]);
        assert_eq!(walk.pop_ready(), Some(0));
        assert_eq!(walk.pop_ready(), Some(1));
        assert_eq!(walk.pop_ready(), None);
        walk.succeeded(0);
        assert_eq!(walk.pop_ready(), None, "2 still waits on 1");
        walk.succeeded(1);
        assert_eq!(walk.pop_ready(), Some(2));
        walk.succeeded(2);
        assert_eq!(walk.pop_ready(), Some(3));
    }

    #[test]
    fn a_failure_gives_up_everything_after_it_once_naming_the_predecessor() {
        // 0 → 1 → 3, 0 → 2 → 3, 4 independent
        let mut walk = Walk::new(5, &[(0, 1), (1, 3), (0, 2), (2, 3)]);
        assert_eq!(walk.pop_ready(), Some(0));
        assert_eq!(walk.failed(0), vec![(1, 0), (2, 0), (3, 1)]);
        assert_eq!(walk.pop_ready(), Some(4));
        assert!(walk.has_ended(3));
        assert_eq!(walk.failed(1), Vec::new(), "already given up");
    }

    #[test]
    fn a_long_chain_is_walked_to_its_end() {
        let n = 200_000;
        let edges: Vec<(usize, usize)> = (1..n).map(|i| (i - 1, i)).collect();
        let mut walk = Walk::new(n, &edges);
        let mut seen = 0;
        while let Some(node) = walk.pop_ready() {
            walk.succeeded(node);
            seen += 1;
        }
        assert_eq!(seen, n);
    }
}
