//! The operations of one stack's change set and their order: creates and updates after the
//! resources they depend on, deletes before the resources they depended on, and a replace as a
//! delete then a create (or, with `create_before_destroy`, a create then a delete of the
//! *deposed* old resource). Pure: no I/O. The planner checks at plan time that they can be
//! ordered; the executor runs them.

use crate::graph::topo_order;
use crate::plan::{Action, ResourceChange};
use crate::state::StackState;
use std::collections::HashMap;

use crate::address::StateKey;

/// A cloud operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Create a resource (or the new half of a replace).
    Create,
    /// Update a resource in place.
    Update,
    /// Delete a resource (or the old half of a replace).
    Delete,
}

/// One operation on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Resource name within its stack.
    pub resource: String,
    /// What kind.
    pub kind: OpKind,
    /// The planned action this operation is part of.
    pub action: Action,
    /// The state entry it acts on (`name`, or `name#deposed[-N]`).
    pub state_key: String,
    /// For the create of a create-before-destroy replace: the state entry the old resource
    /// moves to, which the paired delete removes.
    pub deposed_as: Option<String>,
}

/// A state entry for the old half of a create-before-destroy replace that no other entry
/// uses: `name#deposed`, else `name#deposed-2`, ... (an earlier run may have left one whose
/// delete failed; it must stay tracked).
pub fn deposed_key(name: &str, state: &StackState) -> String {
    StateKey::free_deposed(name, |key| state.resources.contains_key(key)).to_string()
}

/// Operations in a valid execution order, and edges `(before, after)` between them.
pub fn build(changes: &[ResourceChange], state: &StackState) -> (Vec<Op>, Vec<(usize, usize)>) {
    let mut ops: Vec<Op> = Vec::new();
    let mut write_op: HashMap<&str, usize> = HashMap::new();
    let mut update_op: HashMap<&str, usize> = HashMap::new();
    let mut delete_op: HashMap<&str, usize> = HashMap::new();
    let mut edges = Vec::new();
    let op = |resource: &str, kind, action, state_key: String| Op {
        resource: resource.to_string(),
        kind,
        action,
        state_key,
        deposed_as: None,
    };
    for change in changes {
        let name = change.name.as_str();
        match change.action {
            Action::NoOp => {}
            Action::Create => {
                write_op.insert(name, ops.len());
                ops.push(op(name, OpKind::Create, Action::Create, name.to_string()));
            }
            Action::Update => {
                write_op.insert(name, ops.len());
                update_op.insert(name, ops.len());
                ops.push(op(name, OpKind::Update, Action::Update, name.to_string()));
            }
            Action::Delete => {
                delete_op.insert(name, ops.len());
                ops.push(op(name, OpKind::Delete, Action::Delete, name.to_string()));
            }
            Action::Replace => {
                let (create, delete) = (ops.len(), ops.len() + 1);
                let deposed = if change.create_before_destroy {
                    deposed_key(name, state)
                } else {
                    name.to_string()
                };
                let mut create_op = op(name, OpKind::Create, Action::Replace, name.to_string());
                create_op.deposed_as = change.create_before_destroy.then(|| deposed.clone());
                ops.push(create_op);
                ops.push(op(name, OpKind::Delete, Action::Replace, deposed));
                edges.push(if change.create_before_destroy {
                    (create, delete)
                } else {
                    (delete, create)
                });
                write_op.insert(name, create);
                delete_op.insert(name, delete);
            }
        }
    }
    for change in changes {
        // Creates and updates wait for what they reference.
        if let Some(&mine) = write_op.get(change.name.as_str()) {
            for dep in &change.depends_on {
                if let Some(&theirs) = write_op.get(dep.as_str()) {
                    edges.push((theirs, mine));
                }
            }
        }
    }
    for (name, resource) in &state.resources {
        // What still uses `dep` in the cloud stops using it before `dep` is deleted: its old
        // copy is deleted first, or it is updated off it. (A deposed copy left by an earlier
        // run counts as `dep` too.) The new copy of a replaced dependent never uses the old
        // `dep`, so its create is not ordered against that delete.
        let deletes_of_deps = delete_op.iter().filter(|(key, _)| {
            resource
                .dependencies
                .iter()
                .any(|dep| StateKey::resource_of(key) == dep.as_str())
        });
        for (_, &delete_dep) in deletes_of_deps {
            if let Some(&delete_mine) = delete_op.get(name.as_str()) {
                edges.push((delete_mine, delete_dep));
            }
            // After a delete-then-create replace of `dep`, an update can only follow the
            // create: the planner makes such a `dep` create-before-destroy, or replaces the
            // dependent too (see `plan::order`).
            let deleted_first = ops[delete_dep].action == Action::Replace
                && !StateKey::parse(&ops[delete_dep].state_key).is_deposed();
            if let (Some(&update_mine), false) = (update_op.get(name.as_str()), deleted_first) {
                edges.push((update_mine, delete_dep));
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    (ops, edges)
}

/// Deletes to run only after the stacks below have moved off the resources: deletes (of a
/// removed resource or of a deposed old copy) whose cloud id this stack handed to the stacks
/// below through its outputs (`handed_out`), plus every delete that must follow one of them —
/// as long as nothing but deletes follows it (a create or update that must come after a
/// delete cannot wait for other stacks). Returns the indices of `ops` to defer.
pub fn deferred_deletes(
    ops: &[Op],
    edges: &[(usize, usize)],
    state: &StackState,
    handed_out: &std::collections::BTreeSet<String>,
) -> std::collections::BTreeSet<usize> {
    let next = successors(ops.len(), edges);
    let is_delete = |i: usize| ops[i].kind == OpKind::Delete;
    let mut deferred: std::collections::BTreeSet<usize> = (0..ops.len())
        .filter(|&i| is_delete(i))
        .filter(|&i| {
            // The old copy of a create-before-destroy replace is deposed only at apply; until
            // then it is the resource's own entry.
            let op = &ops[i];
            let old = state.resources.get(&op.state_key).or_else(|| {
                (op.state_key != op.resource)
                    .then(|| state.resources.get(&op.resource))
                    .flatten()
            });
            old.is_some_and(|r| handed_out.contains(&r.id))
        })
        .collect();
    let mut todo: Vec<usize> = deferred.iter().copied().collect();
    while let Some(i) = todo.pop() {
        for &n in &next[i] {
            if is_delete(n) && deferred.insert(n) {
                todo.push(n);
            }
        }
    }
    loop {
        let blocked: Vec<usize> = deferred
            .iter()
            .copied()
            .filter(|&i| next[i].iter().any(|n| !deferred.contains(n)))
            .collect();
        if blocked.is_empty() {
            return deferred;
        }
        for i in blocked {
            deferred.remove(&i);
        }
    }
}

/// The ops and edges without the ops in `removed` (indices renumbered).
pub fn without(
    ops: &[Op],
    edges: &[(usize, usize)],
    removed: &std::collections::BTreeSet<usize>,
) -> (Vec<Op>, Vec<(usize, usize)>) {
    let mut new_index = vec![usize::MAX; ops.len()];
    let mut kept = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if !removed.contains(&i) {
            new_index[i] = kept.len();
            kept.push(op.clone());
        }
    }
    let edges = edges
        .iter()
        .filter(|(a, b)| !removed.contains(a) && !removed.contains(b))
        .map(|&(a, b)| (new_index[a], new_index[b]))
        .collect();
    (kept, edges)
}

/// Successors of every op (the ops that wait on it).
pub fn successors(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut next = vec![Vec::new(); n];
    for &(a, b) in edges {
        next[a].push(b);
    }
    next
}

/// True when the ops can be ordered (they always can for plans the planner made).
pub fn is_acyclic(n: usize, edges: &[(usize, usize)]) -> bool {
    topo_order(n, edges).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ResourceState;

    fn change(name: &str, action: Action, deps: &[&str], cbd: bool) -> ResourceChange {
        ResourceChange {
            name: name.into(),
            type_name: "test:Thing".into(),
            region: None,
            action,
            id: None,
            before: None,
            after: None,
            changed: vec![],
            replace_because: vec![],
            protect: false,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            create_before_destroy: cbd,
            notes: vec![],
        }
    }

    fn in_state(state: &mut StackState, name: &str, deps: &[&str]) {
        state.resources.insert(
            name.into(),
            ResourceState {
                dependencies: deps.iter().map(|d| d.to_string()).collect(),
                ..ResourceState::new("test:Thing", format!("id-{name}"))
            },
        );
    }

    fn order(ops: &[Op], edges: &[(usize, usize)]) -> Vec<String> {
        topo_order(ops.len(), edges)
            .unwrap()
            .into_iter()
            .map(|i| format!("{:?} {}", ops[i].kind, ops[i].state_key))
            .collect()
    }

    #[test]
    fn creates_follow_dependencies_and_deletes_go_in_reverse() {
        let mut state = StackState::new("s");
        in_state(&mut state, "old_net", &[]);
        in_state(&mut state, "old_sub", &["old_net"]);
        let changes = vec![
            change("sub", Action::Create, &["net"], false),
            change("net", Action::Create, &[], false),
            change("old_net", Action::Delete, &[], false),
            change("old_sub", Action::Delete, &["old_net"], false),
        ];
        let (ops, edges) = build(&changes, &state);
        let order = order(&ops, &edges);
        let pos = |s: &str| order.iter().position(|o| o == s).unwrap();
        assert!(pos("Create net") < pos("Create sub"));
        assert!(pos("Delete old_sub") < pos("Delete old_net"));
    }

    #[test]
    fn replace_deletes_first_unless_create_before_destroy() {
        let mut state = StackState::new("s");
        in_state(&mut state, "a", &[]);
        in_state(&mut state, "b", &[]);
        let changes = vec![
            change("a", Action::Replace, &[], false),
            change("b", Action::Replace, &[], true),
        ];
        let (ops, edges) = build(&changes, &state);
        let order = order(&ops, &edges);
        let pos = |s: &str| order.iter().position(|o| o == s).unwrap();
        assert!(pos("Delete a") < pos("Create a"));
        assert!(pos("Create b") < pos("Delete b#deposed"));
    }

    #[test]
    fn dependents_move_off_a_deleted_resource_first() {
        let mut state = StackState::new("s");
        in_state(&mut state, "net", &[]);
        in_state(&mut state, "app", &["net"]);
        // `app` no longer references `net`, which is removed.
        let changes = vec![
            change("app", Action::Update, &[], false),
            change("net", Action::Delete, &[], false),
        ];
        let (ops, edges) = build(&changes, &state);
        assert_eq!(order(&ops, &edges), vec!["Update app", "Delete net"]);
        assert!(is_acyclic(ops.len(), &edges));
    }

    #[test]
    fn a_deposed_entry_left_by_an_earlier_run_stays_tracked() {
        let mut state = StackState::new("s");
        in_state(&mut state, "t", &[]);
        in_state(&mut state, "t#deposed", &[]);
        in_state(&mut state, "group", &["t"]);
        let changes = vec![
            change("t", Action::Replace, &[], true),
            change("group", Action::Update, &["t"], false),
            change("t#deposed", Action::Delete, &[], false),
        ];
        let (ops, edges) = build(&changes, &state);
        let order = order(&ops, &edges);
        assert!(
            order.contains(&"Delete t#deposed-2".to_string()),
            "{order:?}"
        );
        assert!(order.contains(&"Delete t#deposed".to_string()), "{order:?}");
        let create = ops.iter().find(|o| o.kind == OpKind::Create).unwrap();
        assert_eq!(create.deposed_as.as_deref(), Some("t#deposed-2"));
        let pos = |s: &str| order.iter().position(|o| o == s).unwrap();
        // Both old templates go only after the group moved to the new one.
        assert!(pos("Update group") < pos("Delete t#deposed"));
        assert!(pos("Update group") < pos("Delete t#deposed-2"));
    }

    #[test]
    fn dependents_move_onto_a_created_before_destroyed_replacement_first() {
        let mut state = StackState::new("s");
        in_state(&mut state, "template", &[]);
        in_state(&mut state, "group", &["template"]);
        // A new template, then the group points at it, then the old template goes: the
        // cloud refuses to delete a template still in use.
        let changes = vec![
            change("template", Action::Replace, &[], true),
            change("group", Action::Update, &["template"], false),
        ];
        let (ops, edges) = build(&changes, &state);
        assert_eq!(
            order(&ops, &edges),
            vec!["Create template", "Update group", "Delete template#deposed"]
        );
    }

    #[test]
    fn a_replaced_dependent_does_not_wait_to_create_until_old_resources_go() {
        // Moving a network to another region: the VPC is replaced, the old subnets go, new
        // ones come, and the route table (which used the old subnets) is replaced too.
        let mut state = StackState::new("s");
        in_state(&mut state, "vpc", &[]);
        in_state(&mut state, "old_subnet", &["vpc"]);
        in_state(&mut state, "routes", &["vpc", "old_subnet"]);
        let changes = vec![
            change("vpc", Action::Replace, &[], false),
            change("new_subnet", Action::Create, &["vpc"], false),
            change("routes", Action::Replace, &["vpc", "new_subnet"], false),
            change("old_subnet", Action::Delete, &["vpc"], false),
        ];
        let (ops, edges) = build(&changes, &state);
        assert!(is_acyclic(ops.len(), &edges), "{edges:?}");
        let order = order(&ops, &edges);
        let pos = |s: &str| order.iter().position(|o| o == s).unwrap();
        assert!(pos("Delete routes") < pos("Delete old_subnet"));
        assert!(pos("Delete old_subnet") < pos("Delete vpc"));
        assert!(pos("Create vpc") < pos("Create new_subnet"));
        assert!(pos("Create new_subnet") < pos("Create routes"));
    }

    #[test]
    fn deletes_of_resources_handed_to_stacks_below_wait_for_them() {
        // The VPC and its subnet were replaced create-before-destroy; stacks below were given
        // both old ids. The old route table is not exported but goes with them.
        let mut state = StackState::new("s");
        in_state(&mut state, "vpc", &[]);
        in_state(&mut state, "subnet", &["vpc"]);
        in_state(&mut state, "routes", &["vpc"]);
        let changes = vec![
            change("vpc", Action::Replace, &[], true),
            change("subnet", Action::Replace, &["vpc"], true),
            change("routes", Action::Update, &["vpc"], false),
        ];
        let (ops, edges) = build(&changes, &state);
        let handed: std::collections::BTreeSet<String> =
            ["id-vpc".to_string(), "id-subnet".to_string()].into();
        let deferred = deferred_deletes(&ops, &edges, &state, &handed);
        let keys: Vec<&str> = deferred
            .iter()
            .map(|&i| ops[i].state_key.as_str())
            .collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.contains(&"vpc#deposed") && keys.contains(&"subnet#deposed"));
        let (main, main_edges) = without(&ops, &edges, &deferred);
        assert!(main.iter().all(|o| o.kind != OpKind::Delete));
        assert!(is_acyclic(main.len(), &main_edges));
        // Nothing handed out: nothing waits.
        assert!(deferred_deletes(&ops, &edges, &state, &Default::default()).is_empty());
    }

    #[test]
    fn a_delete_that_a_create_must_follow_is_not_deferred() {
        // A delete-first replace: its create cannot wait for other stacks.
        let mut state = StackState::new("s");
        in_state(&mut state, "group", &[]);
        let changes = vec![change("group", Action::Replace, &[], false)];
        let (ops, edges) = build(&changes, &state);
        let handed: std::collections::BTreeSet<String> = ["id-group".to_string()].into();
        assert!(deferred_deletes(&ops, &edges, &state, &handed).is_empty());
    }
}
