//! Ordering a stack's replacements so that every step is one the cloud accepts. Clouds refuse to
//! delete a resource that something still uses (EC2 `DependencyViolation`, ELBv2
//! `ResourceInUse`, Compute `resourceInUseByAnotherResource`; hashicorp/terraform#13076 and
//! hashicorp/terraform-provider-aws#16889 are the classic reports), so a replaced resource that
//! stays in use — by a resource of its stack that is only updated, or by stacks below through an
//! output — must be created before the old one is deleted, and its users moved onto it first:
//!
//! - **create-before-destroy is chosen** when the new resource can exist beside the old one:
//!   none of its unique fields ([`FieldSchema::unique_within`](crate::provider::FieldSchema))
//!   keeps its value in the same scope;
//! - otherwise **a user in the stack is replaced too** (a replace chain): deleted before the
//!   resource it uses, created after it;
//! - what neither solves — a protected user, or stacks below using a resource that must keep a
//!   unique value — is **refused at plan time**, saying what to change.
//!
//! Finally the stack's operations are built and checked for a cycle, so that a plan that exits 0
//! can be ordered at apply. Pure: no I/O.

use super::ops;
use super::{Action, ResourceChange};
use crate::provider::{Registry, ResourceSchema};
use crate::state::StackState;
use crate::value::Value;
use std::collections::{BTreeSet, HashMap};

/// Attributes that name a resource itself: an output reading one of them hands the resource's
/// identity to the stacks below, which then reference it in the cloud.
pub fn is_identity_attribute(attribute: &str) -> bool {
    matches!(attribute, "id" | "arn" | "self_link")
        || attribute.ends_with("_id")
        || attribute.ends_with("_arn")
}

/// Why a stack's changes cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderProblem(pub String);

/// Chooses create-before-destroy and replace chains (see the module docs), then checks that the
/// operations can be ordered.
pub fn arrange(
    changes: &mut [ResourceChange],
    state: &StackState,
    exported: &BTreeSet<String>,
    registry: &Registry,
) -> Result<(), OrderProblem> {
    let index: HashMap<String, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    let mut todo: Vec<usize> = (0..changes.len()).collect();
    while let Some(i) = todo.pop() {
        let change = &changes[i];
        if change.action != Action::Replace || change.create_before_destroy {
            continue;
        }
        let users = users_staying(&change.name, changes, state, &index);
        let is_exported = exported.contains(&change.name);
        if users.is_empty() && !is_exported {
            continue;
        }
        let schema = registry.schema(&change.type_name);
        match schema.and_then(|s| kept_unique_field(&changes[i], s)) {
            None => {
                let change = &mut changes[i];
                change.create_before_destroy = true;
                change.notes.push(
                    "created before the old one is deleted: what uses it moves onto the new one first"
                        .to_string(),
                );
            }
            Some(field) if is_exported => return Err(exported_problem(&changes[i], &field)),
            Some(field) => {
                let name = changes[i].name.clone();
                for j in users {
                    let user = &mut changes[j];
                    if user.protect {
                        return Err(protected_problem(&name, &field, user));
                    }
                    user.action = Action::Replace;
                    user.replace_because.push(format!(
                        "uses `{name}`, which is replaced first (its `{field}` must stay unique)"
                    ));
                    todo.push(j);
                }
            }
        }
    }
    check_order(changes, state)
}

/// Resources of the stack that use `name` in the cloud now and stay (updated or untouched).
fn users_staying(
    name: &str,
    changes: &[ResourceChange],
    state: &StackState,
    index: &HashMap<String, usize>,
) -> Vec<usize> {
    let mut users: Vec<usize> = state
        .resources
        .iter()
        .filter(|(_, r)| r.dependencies.iter().any(|d| d == name))
        .filter_map(|(user, _)| index.get(user).copied())
        .filter(|&j| matches!(changes[j].action, Action::Update | Action::NoOp))
        .collect();
    users.sort_unstable();
    users
}

/// The unique field whose value the replacement keeps in the same scope (so the new resource
/// cannot exist beside the old one), if any.
fn kept_unique_field(change: &ResourceChange, schema: &ResourceSchema) -> Option<String> {
    let moved = change
        .replace_because
        .iter()
        .any(|r| r == "region" || r.starts_with("type"));
    if moved {
        return None;
    }
    let (before, after) = (change.before.as_ref()?, change.after.as_ref()?);
    let same = |field: &str| {
        let new = after.get(field).cloned().unwrap_or(Value::Null);
        new.first_unknown().is_none() && before.get(field).cloned().unwrap_or(Value::Null) == new
    };
    schema.fields.iter().find_map(|field| {
        let scope = field.unique_within.as_ref()?;
        let value = after.get(&field.name).cloned().unwrap_or(Value::Null);
        let kept = value != Value::Null && same(&field.name) && scope.iter().all(|s| same(s));
        kept.then(|| field.name.clone())
    })
}

fn exported_problem(change: &ResourceChange, field: &str) -> OrderProblem {
    let value = change
        .after
        .as_ref()
        .and_then(|a| a.get(field))
        .map(|v| v.to_json().to_string())
        .unwrap_or_default();
    OrderProblem(format!(
        "`{}` ({}) must be replaced ({}) and stacks below use it through an output, but its `{field}` {value} must be unique, so the new one cannot be created while the old one exists, and the old one cannot be deleted while they use it; change `{field}` in the same change (or leave it unset where the type offers `name_prefix`) so that Terrace can create the new one first",
        change.name,
        change.type_name,
        change.replace_because.join(", "),
    ))
}

fn protected_problem(name: &str, field: &str, user: &ResourceChange) -> OrderProblem {
    OrderProblem(format!(
        "`{name}` must be replaced and keeps its unique `{field}`, so `{}`, which uses it, would have to be replaced first, but `{}` is protected; change `{name}`'s `{field}` so that the new one can be created beside the old one, or allow replacing `{}`",
        user.name, user.name, user.name
    ))
}

/// Builds the operations and names a cycle, if there is one.
fn check_order(changes: &[ResourceChange], state: &StackState) -> Result<(), OrderProblem> {
    let (list, edges) = ops::build(changes, state);
    match crate::graph::topo_order(list.len(), &edges) {
        Ok(_) => Ok(()),
        Err(cycle) => {
            let steps: Vec<String> = cycle
                .iter()
                .map(|&i| format!("{:?} {}", list[i].kind, list[i].state_key).to_lowercase())
                .collect();
            Err(OrderProblem(format!(
                "its operations cannot be ordered: {} must each come before the next; set `create_before_destroy: true` on one of the replaced resources, or split the change into two applies",
                steps.join(" → ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ApiClasses, FieldKind, FieldSchema, Provider};
    use crate::state::ResourceState;
    use crate::value::ValueMap;
    use std::sync::Arc;

    struct Schemas;

    #[async_trait::async_trait]
    impl Provider for Schemas {
        fn name(&self) -> &str {
            "t"
        }
        fn schemas(&self) -> Vec<ResourceSchema> {
            let schema = |name: &str, fields: Vec<FieldSchema>| ResourceSchema {
                type_name: name.into(),
                fields,
                api: ApiClasses {
                    read: "r".into(),
                    mutate: "m".into(),
                },
                regional: true,
            };
            vec![
                schema(
                    "t:Group",
                    vec![
                        FieldSchema::input("name", FieldKind::String).unique_within(&[]),
                        FieldSchema::input("net", FieldKind::String).force_new(),
                    ],
                ),
                schema(
                    "t:User",
                    vec![FieldSchema::input("group", FieldKind::String)],
                ),
            ]
        }
        async fn read(
            &self,
            _: crate::provider::ReadRequest,
        ) -> Result<Vec<crate::provider::Observed>, crate::provider::ProviderError> {
            unreachable!()
        }
        async fn create(
            &self,
            _: crate::provider::CreateRequest,
        ) -> Result<crate::provider::Observed, crate::provider::ProviderError> {
            unreachable!()
        }
        async fn update(
            &self,
            _: crate::provider::UpdateRequest,
        ) -> Result<crate::provider::Observed, crate::provider::ProviderError> {
            unreachable!()
        }
        async fn delete(
            &self,
            _: crate::provider::DeleteRequest,
        ) -> Result<(), crate::provider::ProviderError> {
            unreachable!()
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.register(Arc::new(Schemas));
        r
    }

    fn values(pairs: &[(&str, &str)]) -> ValueMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect()
    }

    fn change(
        name: &str,
        type_name: &str,
        action: Action,
        before: ValueMap,
        after: ValueMap,
    ) -> ResourceChange {
        ResourceChange {
            name: name.into(),
            type_name: type_name.into(),
            region: None,
            action,
            id: Some(format!("id-{name}")),
            before: Some(before),
            after: Some(after),
            changed: vec![],
            replace_because: if action == Action::Replace {
                vec!["net".into()]
            } else {
                vec![]
            },
            protect: false,
            depends_on: vec![],
            create_before_destroy: false,
            notes: vec![],
        }
    }

    fn state(users: &[(&str, &[&str])]) -> StackState {
        let mut state = StackState::new("s");
        for (name, deps) in users {
            state.resources.insert(
                name.to_string(),
                ResourceState {
                    dependencies: deps.iter().map(|d| d.to_string()).collect(),
                    ..ResourceState::new("t:User", format!("id-{name}"))
                },
            );
        }
        state
    }

    fn group(before_name: &str, after_name: &str) -> ResourceChange {
        change(
            "group",
            "t:Group",
            Action::Replace,
            values(&[("name", before_name), ("net", "a")]),
            values(&[("name", after_name), ("net", "b")]),
        )
    }

    fn user() -> ResourceChange {
        change(
            "user",
            "t:User",
            Action::Update,
            values(&[("group", "id-group")]),
            values(&[]),
        )
    }

    #[test]
    fn a_replacement_that_can_coexist_is_created_first() {
        let mut changes = vec![group("g1", "g2"), user()];
        let state = state(&[("group", &[]), ("user", &["group"])]);
        arrange(&mut changes, &state, &BTreeSet::new(), &registry()).unwrap();
        assert!(changes[0].create_before_destroy);
        assert_eq!(changes[1].action, Action::Update);
    }

    #[test]
    fn a_user_of_a_replacement_that_keeps_its_unique_name_is_replaced_too() {
        let mut changes = vec![group("g1", "g1"), user()];
        let state = state(&[("group", &[]), ("user", &["group"])]);
        arrange(&mut changes, &state, &BTreeSet::new(), &registry()).unwrap();
        assert!(!changes[0].create_before_destroy);
        assert_eq!(changes[1].action, Action::Replace);
        assert!(changes[1].replace_because[0].contains("uses `group`"));
        let mut protected = vec![group("g1", "g1"), user()];
        protected[1].protect = true;
        let err = arrange(&mut protected, &state, &BTreeSet::new(), &registry()).unwrap_err();
        assert!(err.0.contains("protected"), "{err:?}");
    }

    #[test]
    fn an_exported_replacement_that_keeps_its_unique_name_is_refused_with_advice() {
        let mut changes = vec![group("g1", "g1")];
        let exported = BTreeSet::from(["group".to_string()]);
        let err = arrange(&mut changes, &StackState::new("s"), &exported, &registry()).unwrap_err();
        assert!(
            err.0.contains("stacks below use it") && err.0.contains("`name`"),
            "{err:?}"
        );
        let mut fine = vec![group("g1", "g2")];
        arrange(&mut fine, &StackState::new("s"), &exported, &registry()).unwrap();
        assert!(
            fine[0].create_before_destroy,
            "created first, deleted after the stacks below"
        );
    }

    #[test]
    fn a_replacement_nothing_uses_keeps_delete_first() {
        let mut changes = vec![group("g1", "g1")];
        arrange(
            &mut changes,
            &StackState::new("s"),
            &BTreeSet::new(),
            &registry(),
        )
        .unwrap();
        assert!(!changes[0].create_before_destroy);
    }
}
