//! The pure diff of one resource: desired inputs × state × refreshed observation → action.
//! No I/O here; everything it needs is passed in.

use super::{Action, ResourceChange};
use crate::provider::{Observed, Properties, ResourceSchema};
use crate::spec::ResourceSpec;
use crate::state::ResourceState;
use crate::value::{Value, ValueMap};

/// What is known of an existing resource.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// The resource as recorded in state.
    pub state: &'a ResourceState,
    /// The refreshed view, `None` when refresh was skipped.
    pub observed: Option<&'a Observed>,
    /// Refresh ran and the resource is gone.
    pub vanished: bool,
}

/// Diffs a desired resource against what exists.
pub fn diff_resource(
    name: &str,
    spec: &ResourceSpec,
    desired: ValueMap,
    current: Option<Current>,
    schema: &ResourceSchema,
) -> ResourceChange {
    let mut change = ResourceChange {
        name: name.to_string(),
        type_name: spec.type_name.clone(),
        region: spec.region.clone(),
        action: Action::Create,
        id: None,
        before: None,
        after: Some(desired),
        changed: Vec::new(),
        replace_because: Vec::new(),
        protect: spec.protect,
        depends_on: Vec::new(),
        create_before_destroy: spec.create_before_destroy,
        notes: Vec::new(),
    };
    let Some(current) = current else {
        return change;
    };
    if current.vanished {
        change.notes.push(format!(
            "{} was deleted outside Terrace; it will be created again",
            current.state.id
        ));
        return change;
    }
    change.id = Some(current.state.id.clone());
    let base = comparison_base(current, change.after.as_ref().expect("set above"), schema);
    let desired = change.after.as_ref().expect("set above");
    change.changed = changed_fields(&base, desired, schema);
    change.before = Some(
        base.iter()
            .map(|(k, v)| (k.clone(), Value::from_json(v)))
            .collect(),
    );
    if let Some(observed) = current.observed {
        // Only where the cloud's value differs from the last applied one (a change made in the
        // configuration alone is not drift), compared as the plan compares.
        let drifted: Vec<&String> = change
            .changed
            .iter()
            .filter(|f| {
                observed.properties.contains_key(*f)
                    && !super::compare::same(
                        schema.field(f),
                        observed.properties.get(*f).map(Value::from_json).as_ref(),
                        current.state.inputs.get(*f).map(Value::from_json).as_ref(),
                    )
            })
            .collect();
        if !drifted.is_empty() {
            change.notes.push(format!(
                "changed outside Terrace: {}",
                drifted
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    change.replace_because = replace_reasons(&change, current.state, schema);
    change.action = if !change.replace_because.is_empty() {
        Action::Replace
    } else if !change.changed.is_empty() {
        Action::Update
    } else {
        Action::NoOp
    };
    change
}

/// The values the desired inputs are compared with: the cloud's view of the fields the
/// configuration sets (drift shows up there), the last applied inputs for the rest (so that
/// cloud-side defaults of unset fields do not show as perpetual changes). Inside a field the
/// cloud completes with defaults, only the leaves the desired or the last applied value set.
fn comparison_base(current: Current, desired: &ValueMap, schema: &ResourceSchema) -> Properties {
    let mut base = current.state.inputs.clone();
    if let Some(observed) = current.observed {
        for (field, want) in desired {
            let settable = schema.field(field).is_some_and(|f| !f.computed);
            if let (true, Some(value)) = (settable, observed.properties.get(field)) {
                let want = want.to_json();
                let mut shapes = vec![&want];
                shapes.extend(current.state.inputs.get(field));
                let value = super::compare::cloud_value(schema.field(field), value, &shapes);
                base.insert(field.clone(), value);
            }
        }
    }
    base
}

pub use super::compare::changed_fields;

fn replace_reasons(
    change: &ResourceChange,
    state: &ResourceState,
    schema: &ResourceSchema,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if state.type_name != change.type_name {
        reasons.push(format!("type ({} → {})", state.type_name, change.type_name));
    }
    if state.region != change.region {
        reasons.push("region".to_string());
    }
    for field in &change.changed {
        if schema
            .field(field)
            .is_some_and(|f| f.force_new && !f.computed)
        {
            let after = change.after.as_ref().and_then(|a| a.get(field));
            if after.is_some_and(|v| v.first_unknown().is_some()) {
                reasons.push(format!("{field} (known after apply)"));
                continue;
            }
            // A nested value names the leaves that changed: `properties.machine_type`.
            let before = change.before.as_ref().and_then(|b| b.get(field));
            let leaves = super::compare::leaf_changes(
                before.unwrap_or(&Value::Null),
                after.unwrap_or(&Value::Null),
            );
            match leaves.as_slice() {
                [] => reasons.push(field.clone()),
                [only] if only.path.is_empty() => reasons.push(field.clone()),
                many => reasons.extend(many.iter().map(|l| format!("{field}{}", l.path))),
            }
        }
    }
    reasons
}

/// A resource in state that the configuration no longer has.
pub fn delete_change(name: &str, state: &ResourceState) -> ResourceChange {
    ResourceChange {
        name: name.to_string(),
        type_name: state.type_name.clone(),
        region: state.region.clone(),
        action: Action::Delete,
        id: Some(state.id.clone()),
        before: Some(
            state
                .inputs
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect(),
        ),
        after: None,
        changed: Vec::new(),
        replace_because: Vec::new(),
        protect: state.protect,
        depends_on: state.dependencies.clone(),
        create_before_destroy: false,
        notes: Vec::new(),
    }
}

/// What references to this resource will read after the change: known attributes where the
/// resource keeps them, unknowns for everything the cloud will compute anew (on an update,
/// the attributes its schema marks `changes_on_update`).
pub fn planned_attributes(
    change: &ResourceChange,
    stack: &str,
    state: Option<&ResourceState>,
    schema: &ResourceSchema,
) -> ValueMap {
    let desired = change.after.clone().unwrap_or_default();
    let unknown = |attr: &str| Value::Unknown(format!("{stack}: {}.{attr}", change.name));
    match (change.action, state) {
        (Action::NoOp | Action::Update, Some(state)) => {
            let mut attrs: ValueMap = state
                .readable()
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect();
            attrs.extend(desired);
            if change.action == Action::Update {
                for field in schema.fields.iter().filter(|f| f.changes_on_update) {
                    attrs.insert(field.name.clone(), unknown(&field.name));
                }
            }
            attrs
        }
        _ => {
            let mut attrs = desired;
            attrs.insert("id".to_string(), unknown("id"));
            // Computed fields, and settable ones left unset (the cloud may default them,
            // e.g. an allocated address), are known only after apply.
            for field in &schema.fields {
                if field.computed || !attrs.contains_key(&field.name) {
                    attrs.insert(field.name.clone(), unknown(&field.name));
                }
            }
            attrs
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ApiClasses, FieldKind, FieldSchema};
    use serde_json::json;

    fn schema() -> ResourceSchema {
        ResourceSchema {
            type_name: "test:Network".into(),
            fields: vec![
                FieldSchema::input("cidr", FieldKind::String)
                    .required()
                    .force_new(),
                FieldSchema::input("name", FieldKind::String),
                FieldSchema::input("dns", FieldKind::Bool),
                FieldSchema::input("zones", FieldKind::List).unordered(),
                FieldSchema::input("hops", FieldKind::List),
                FieldSchema::input("properties", FieldKind::Map).force_new(),
                FieldSchema::computed("arn", FieldKind::String),
            ],
            api: ApiClasses {
                read: "read".into(),
                mutate: "mutate".into(),
            },
            regional: false,
        }
    }

    fn spec() -> ResourceSpec {
        ResourceSpec {
            type_name: "test:Network".into(),
            region: None,
            properties: Default::default(),
            protect: false,
            depends_on: vec![],
            create_before_destroy: false,
            template: String::new(),
        }
    }

    fn state(inputs: serde_json::Value) -> ResourceState {
        ResourceState {
            inputs: inputs.as_object().unwrap().clone(),
            attributes: json!({"arn": "arn:1"}).as_object().unwrap().clone(),
            ..ResourceState::new("test:Network", "net-1")
        }
    }

    fn desired(v: serde_json::Value) -> ValueMap {
        crate::value::map_from_json(v.as_object().unwrap())
    }

    fn current(state: &ResourceState) -> Option<Current<'_>> {
        Some(Current {
            state,
            observed: None,
            vanished: false,
        })
    }

    #[test]
    fn create_when_nothing_exists() {
        let change = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16"})),
            None,
            &schema(),
        );
        assert_eq!(change.action, Action::Create);
        assert!(change.before.is_none());
    }

    #[test]
    fn unordered_lists_compare_as_sets_and_ordered_ones_do_not() {
        let s = state(json!({"cidr": "c", "zones": ["b", "a"], "hops": ["x", "y"]}));
        let reordered = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "c", "zones": ["a", "b"], "hops": ["x", "y"]})),
            current(&s),
            &schema(),
        );
        assert_eq!(reordered.action, Action::NoOp);
        let hops = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "c", "zones": ["b", "a"], "hops": ["y", "x"]})),
            current(&s),
            &schema(),
        );
        assert_eq!(hops.changed, vec!["hops"]);
        let more = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "c", "zones": ["a", "b", "c"], "hops": ["x", "y"]})),
            current(&s),
            &schema(),
        );
        assert_eq!(more.changed, vec!["zones"]);
    }

    #[test]
    fn no_op_when_equal_and_update_when_a_plain_field_changes() {
        let s = state(json!({"cidr": "10.0.0.0/16", "name": "a"}));
        let same = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16", "name": "a"})),
            current(&s),
            &schema(),
        );
        assert_eq!(same.action, Action::NoOp);
        let renamed = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16", "name": "b"})),
            current(&s),
            &schema(),
        );
        assert_eq!(renamed.action, Action::Update);
        assert_eq!(renamed.changed, vec!["name"]);
        let unset = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16"})),
            current(&s),
            &schema(),
        );
        assert_eq!(
            (unset.action, unset.changed),
            (Action::Update, vec!["name".to_string()])
        );
    }

    #[test]
    fn replace_names_the_forcing_field_even_when_unknown() {
        let s = state(json!({"cidr": "10.0.0.0/16"}));
        let change = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.1.0.0/16"})),
            current(&s),
            &schema(),
        );
        assert_eq!(change.action, Action::Replace);
        assert_eq!(change.replace_because, vec!["cidr"]);
        let mut unknown = desired(json!({}));
        unknown.insert("cidr".into(), Value::Unknown("networks/eu/a: x".into()));
        let change = diff_resource("vpc", &spec(), unknown, current(&s), &schema());
        assert_eq!(change.replace_because, vec!["cidr (known after apply)"]);
        let mut moved = spec();
        moved.region = Some("eu-west-1".into());
        let change = diff_resource(
            "vpc",
            &moved,
            desired(json!({"cidr": "10.0.0.0/16"})),
            current(&s),
            &schema(),
        );
        assert_eq!(change.replace_because, vec!["region"]);
    }

    #[test]
    fn drift_is_compared_and_noted_and_vanished_is_recreated() {
        let s = state(json!({"cidr": "10.0.0.0/16", "name": "a"}));
        let observed = Observed {
            id: "net-1".into(),
            properties: json!({"cidr": "10.0.0.0/16", "name": "changed", "dns": true})
                .as_object()
                .unwrap()
                .clone(),
            attributes: Default::default(),
            ownership: None,
        };
        let cur = Some(Current {
            state: &s,
            observed: Some(&observed),
            vanished: false,
        });
        let change = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16", "name": "a"})),
            cur,
            &schema(),
        );
        assert_eq!(
            change.action,
            Action::Update,
            "drift on a set field is repaired"
        );
        assert!(change.notes[0].contains("changed outside Terrace: name"));
        // `dns` is a cloud default the configuration never set: not a change.
        assert!(!change.changed.contains(&"dns".to_string()));
        let gone = Some(Current {
            state: &s,
            observed: None,
            vanished: true,
        });
        let change = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16"})),
            gone,
            &schema(),
        );
        assert_eq!(change.action, Action::Create);
    }

    #[test]
    fn a_change_made_in_the_configuration_alone_is_not_called_drift() {
        let s = state(json!({"cidr": "10.0.0.0/16", "name": "a", "zones": ["b", "a"]}));
        // The cloud has what was applied (listing the zones in its own order).
        let observed = Observed {
            id: "net-1".into(),
            properties: json!({"cidr": "10.0.0.0/16", "name": "a", "zones": ["a", "b"]})
                .as_object()
                .unwrap()
                .clone(),
            attributes: Default::default(),
            ownership: None,
        };
        let cur = Some(Current {
            state: &s,
            observed: Some(&observed),
            vanished: false,
        });
        let change = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16", "name": "renamed", "zones": ["a", "b"]})),
            cur,
            &schema(),
        );
        assert_eq!(change.action, Action::Update);
        assert_eq!(change.changed, vec!["name"]);
        assert!(change.notes.is_empty(), "{:?}", change.notes);
    }

    #[test]
    fn a_nested_change_names_its_leaf() {
        let s =
            state(json!({"cidr": "10.0.0.0/16", "properties": {"machine_type": "n2", "disk": 10}}));
        let change = diff_resource(
            "tpl",
            &spec(),
            desired(
                json!({"cidr": "10.0.0.0/16", "properties": {"machine_type": "e2", "disk": 10}}),
            ),
            current(&s),
            &schema(),
        );
        assert_eq!(change.action, Action::Replace);
        assert_eq!(change.replace_because, vec!["properties.machine_type"]);
    }

    #[test]
    fn planned_attributes_are_unknown_for_new_resources_and_known_otherwise() {
        let create = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16"})),
            None,
            &schema(),
        );
        let attrs = planned_attributes(&create, "networks/eu/a", None, &schema());
        assert_eq!(attrs["id"], Value::Unknown("networks/eu/a: vpc.id".into()));
        assert_eq!(
            attrs["arn"],
            Value::Unknown("networks/eu/a: vpc.arn".into())
        );
        assert_eq!(attrs["cidr"], Value::String("10.0.0.0/16".into()));
        assert_eq!(
            attrs["name"],
            Value::Unknown("networks/eu/a: vpc.name".into()),
            "a settable field left unset may be defaulted by the cloud"
        );
        let s = state(json!({"cidr": "10.0.0.0/16"}));
        let noop = diff_resource(
            "vpc",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16"})),
            current(&s),
            &schema(),
        );
        let attrs = planned_attributes(&noop, "networks/eu/a", Some(&s), &schema());
        assert_eq!(attrs["id"], Value::String("net-1".into()));
        assert_eq!(attrs["arn"], Value::String("arn:1".into()));
    }

    #[test]
    fn an_update_leaves_the_attributes_it_recomputes_unknown() {
        let mut recomputing = schema();
        recomputing.fields.push(
            FieldSchema::computed("latest_version_number", FieldKind::Number).changes_on_update(),
        );
        let s = state(json!({"cidr": "10.0.0.0/16", "name": "a"}));
        let update = diff_resource(
            "template",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16", "name": "b"})),
            current(&s),
            &recomputing,
        );
        assert_eq!(update.action, Action::Update);
        let attrs = planned_attributes(&update, "replicas/eu/a", Some(&s), &recomputing);
        assert_eq!(
            attrs["latest_version_number"],
            Value::Unknown("replicas/eu/a: template.latest_version_number".into()),
            "what references it sees a change"
        );
        assert_eq!(attrs["arn"], Value::String("arn:1".into()), "kept");
        let noop = diff_resource(
            "template",
            &spec(),
            desired(json!({"cidr": "10.0.0.0/16", "name": "a"})),
            current(&s),
            &recomputing,
        );
        let attrs = planned_attributes(&noop, "replicas/eu/a", Some(&s), &recomputing);
        assert!(
            !matches!(attrs.get("latest_version_number"), Some(Value::Unknown(_))),
            "a no-op changes nothing"
        );
    }

    #[test]
    fn delete_keeps_protect_and_dependencies() {
        let mut s = state(json!({"cidr": "10.0.0.0/16"}));
        s.protect = true;
        s.dependencies = vec!["other".into()];
        let change = delete_change("vpc", &s);
        assert_eq!(change.action, Action::Delete);
        assert!(change.protect);
        assert_eq!(change.depends_on, vec!["other"]);
    }
}
