//! Does a re-plan stay within what was approved? Applying re-plans each stack just before it
//! runs; the re-plan may do less than approved (an unknown turned out unchanged; a replaced
//! resource that is already gone — a route deleted with its route table upstream — only needs
//! its create), never more: no update that became a replace, no new create or delete, no
//! known value that changed.

use crate::plan::{Action, ResourceChange, StackPlan};
use crate::value::Value;

/// Every way `fresh` goes beyond `approved`, as sentences.
pub fn exceeded(approved: &StackPlan, fresh: &StackPlan) -> Vec<String> {
    let mut problems = Vec::new();
    for change in &fresh.changes {
        let before = approved.changes.iter().find(|c| {
            c.name == change.name
                && (c.action == Action::Delete) == (change.action == Action::Delete)
        });
        let approved_action = before.map(|c| c.action).unwrap_or(Action::NoOp);
        if !allowed(approved_action, change.action) {
            problems.push(describe(&change.name, approved_action, change));
            continue;
        }
        let provider = crate::provider::registry::provider_prefix(&change.type_name);
        let unknown_provider = approved.unknown_providers.contains_key(provider);
        match before {
            Some(before) if !unknown_provider => {
                problems.extend(changed_known_values(before, change))
            }
            _ => {}
        }
    }
    problems
}

fn allowed(approved: Action, fresh: Action) -> bool {
    fresh == Action::NoOp
        || fresh == approved
        || (approved == Action::Replace && matches!(fresh, Action::Update | Action::Create))
}

fn describe(name: &str, approved: Action, change: &ResourceChange) -> String {
    let why = if change.replace_because.is_empty() {
        String::new()
    } else {
        format!(" (forced by {})", change.replace_because.join(", "))
    };
    match approved {
        Action::NoOp => format!(
            "`{name}`: a new {} that the plan did not have{why}",
            change.action
        ),
        _ => format!(
            "`{name}`: the approved {approved} became a {}{why}",
            change.action
        ),
    }
}

/// Fields whose value was known in the approved plan and differs now.
fn changed_known_values(approved: &ResourceChange, fresh: &ResourceChange) -> Vec<String> {
    let (Some(before), Some(after)) = (&approved.after, &fresh.after) else {
        return Vec::new();
    };
    before
        .iter()
        .filter(|(_, value)| value.is_known())
        .filter_map(|(field, value)| {
            let now = after.get(field).unwrap_or(&Value::Null);
            (now != value).then(|| {
                format!(
                    "`{}`: field `{field}` was approved as {value}, is now {now}",
                    approved.name
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::StackPlan;

    fn change(name: &str, action: Action, after: serde_json::Value) -> ResourceChange {
        ResourceChange {
            name: name.into(),
            type_name: "test:Thing".into(),
            region: None,
            action,
            id: None,
            before: None,
            after: Some(crate::value::map_from_json(after.as_object().unwrap())),
            changed: vec![],
            replace_because: vec!["replace_on".into()],
            protect: false,
            depends_on: vec![],
            create_before_destroy: false,
            notes: vec![],
        }
    }

    fn plan(changes: Vec<ResourceChange>) -> StackPlan {
        let instance = crate::config::StackInstance {
            name: "s".into(),
            layer: "l".into(),
            group: "g".into(),
            cloud: None,
            replica: None,
            region: None,
            zones: vec![],
            renamed_from: None,
        };
        StackPlan {
            stack: instance.clone(),
            serial: None,
            lineage: None,
            after: vec![],
            upstream: vec![],
            layer_links: Default::default(),
            changes,
            outputs: Default::default(),
            pending: vec![],
            unknown_providers: Default::default(),
            desired: std::sync::Arc::new(crate::spec::StackSpec {
                instance,
                resources: Default::default(),
                outputs: Default::default(),
                moved: Vec::new(),
                only: None,
                providers: Default::default(),
            }),
        }
    }

    #[test]
    fn less_than_approved_is_fine() {
        let approved = plan(vec![change("a", Action::Replace, serde_json::json!({}))]);
        let fresh = plan(vec![change("a", Action::Update, serde_json::json!({}))]);
        assert!(exceeded(&approved, &fresh).is_empty());
        let fresh = plan(vec![change("a", Action::NoOp, serde_json::json!({}))]);
        assert!(exceeded(&approved, &fresh).is_empty());
        // The old object went with something upstream: only the create of the replace is left.
        let fresh = plan(vec![change("a", Action::Create, serde_json::json!({}))]);
        assert!(exceeded(&approved, &fresh).is_empty());
    }

    #[test]
    fn update_becoming_replace_or_a_new_delete_is_refused() {
        let approved = plan(vec![change("a", Action::Update, serde_json::json!({}))]);
        let fresh = plan(vec![change("a", Action::Replace, serde_json::json!({}))]);
        assert_eq!(
            exceeded(&approved, &fresh),
            vec!["`a`: the approved update became a replace (forced by replace_on)"]
        );
        let fresh = plan(vec![change("b", Action::Delete, serde_json::json!({}))]);
        assert_eq!(
            exceeded(&approved, &fresh),
            vec!["`b`: a new delete that the plan did not have (forced by replace_on)"]
        );
    }

    #[test]
    fn a_known_value_that_changed_is_refused() {
        let approved = plan(vec![change(
            "a",
            Action::Update,
            serde_json::json!({"value": 1}),
        )]);
        let fresh = plan(vec![change(
            "a",
            Action::Update,
            serde_json::json!({"value": 2}),
        )]);
        assert_eq!(
            exceeded(&approved, &fresh),
            vec!["`a`: field `value` was approved as 1, is now 2"]
        );
    }

    #[test]
    fn values_of_a_provider_unknown_at_plan_time_may_be_completed() {
        let mut approved = plan(vec![change(
            "a",
            Action::Create,
            serde_json::json!({"zone": "zones/z"}),
        )]);
        let fresh = plan(vec![change(
            "a",
            Action::Create,
            serde_json::json!({"zone": "projects/p/zones/z"}),
        )]);
        assert_eq!(exceeded(&approved, &fresh).len(), 1);
        approved
            .unknown_providers
            .insert("test".into(), "accounts/eu/gcp (not applied yet)".into());
        assert!(exceeded(&approved, &fresh).is_empty());
        // Still no new action.
        let fresh = plan(vec![change("b", Action::Create, serde_json::json!({}))]);
        assert_eq!(exceeded(&approved, &fresh).len(), 1);
    }
}
