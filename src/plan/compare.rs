//! The one comparison of values — desired against the cloud's, the cloud's against the last
//! applied — used by plan, drift, refresh and the executor alike, so they never disagree about
//! what changed: an absent field equals null, an `unordered` list compares as a set, an unknown
//! desired value always counts as a change, and two seals of one secret are equal. Desired
//! values are first put in the cloud's canonical form by their provider
//! ([`crate::provider::Provider::normalize`]), so values the cloud rewrites (a protocol `all`
//! read back as `-1`, a port `5432` as `5432-5432`) never show as changes. Nested values are
//! compared leaf by leaf, so a report names `properties.machine_type`, not `properties`. A
//! field whose value the cloud completes with defaults ([`FieldSchema::cloud_defaults`]) is
//! first cut down to the leaves Terrace set ([`cloud_value`]).

use crate::provider::{FieldSchema, Properties, Registry, ResourceSchema};
use crate::value::{Value, ValueMap};
use std::collections::BTreeSet;

/// True when two values of a field are the same for the cloud (absent = null).
pub fn same(field: Option<&FieldSchema>, a: Option<&Value>, b: Option<&Value>) -> bool {
    let a = a.cloned().unwrap_or(Value::Null);
    let b = b.cloned().unwrap_or(Value::Null);
    if field.is_some_and(|f| f.unordered) {
        sorted(a) == sorted(b)
    } else {
        a == b
    }
}

/// The cloud's value of a field as Terrace compares and records it: for a field the cloud
/// completes with defaults ([`FieldSchema::cloud_defaults`]), only the leaves that one of
/// `shapes` (the desired value, the last applied one) sets — maps keep the keys a shape has,
/// lists keep every item (an extra item is a real difference) and cut each by the shapes'
/// item at its index; any other field's value as it is.
pub fn cloud_value(
    field: Option<&FieldSchema>,
    cloud: &serde_json::Value,
    shapes: &[&serde_json::Value],
) -> serde_json::Value {
    if field.is_some_and(|f| f.cloud_defaults) {
        project(cloud, shapes)
    } else {
        cloud.clone()
    }
}

/// `cloud` cut down to the leaves one of `shapes` sets (see [`cloud_value`]); the provider
/// contract's own function, which providers call too.
pub use crate::provider::schema::project;

/// A list with its items in a canonical order (other values unchanged).
fn sorted(value: Value) -> Value {
    match value {
        Value::List(mut items) => {
            items.sort_by_cached_key(|item| item.to_json().to_string());
            Value::List(items)
        }
        other => other,
    }
}

/// The fields whose desired value differs from `base` (an unknown desired value always
/// counts as a change).
pub fn changed_fields(
    base: &Properties,
    desired: &ValueMap,
    schema: &ResourceSchema,
) -> Vec<String> {
    let fields: BTreeSet<&String> = base.keys().chain(desired.keys()).collect();
    fields
        .into_iter()
        .filter(|field| {
            let after = desired.get(*field);
            if after.is_some_and(|v| v.first_unknown().is_some()) {
                return true;
            }
            let before = base.get(*field).map(Value::from_json);
            !same(schema.field(field), before.as_ref(), after)
        })
        .cloned()
        .collect()
}

/// One field whose cloud value differs from the last applied one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldDrift {
    /// The field (a dotted path for a nested leaf).
    pub field: String,
    /// As last applied.
    pub applied: Value,
    /// As the cloud has it now.
    pub cloud: Value,
}

/// The fields of `applied` (last applied inputs) whose value in `observed` (the cloud's view)
/// differs, leaf by leaf. Fields the cloud does not report are not drift, nor are defaults the
/// cloud added inside a [`FieldSchema::cloud_defaults`] field.
pub fn drift(
    applied: &Properties,
    observed: &Properties,
    schema: &ResourceSchema,
) -> Vec<FieldDrift> {
    let mut out = Vec::new();
    for (field, before) in applied {
        let Some(now) = observed.get(field) else {
            continue;
        };
        let now = cloud_value(schema.field(field), now, &[before]);
        let (before, now) = (Value::from_json(before), Value::from_json(&now));
        if same(schema.field(field), Some(&before), Some(&now)) {
            continue;
        }
        let unordered = schema.field(field).is_some_and(|f| f.unordered);
        let leaves = if unordered {
            Vec::new()
        } else {
            leaf_changes(&before, &now)
        };
        if leaves.is_empty() {
            out.push(FieldDrift {
                field: field.clone(),
                applied: before,
                cloud: now,
            });
        } else {
            out.extend(leaves.into_iter().map(|l| FieldDrift {
                field: format!("{field}{}", l.path),
                applied: l.before,
                cloud: l.after,
            }));
        }
    }
    out
}

/// A changed leaf inside a nested value: `path` is `.key` / `[index]` segments from the top.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafChange {
    /// The path of the leaf below the compared value (empty: the value itself).
    pub path: String,
    /// Its value before.
    pub before: Value,
    /// Its value after.
    pub after: Value,
}

/// The leaves where two values differ: maps key by key, lists of the same length item by
/// item; anything else (a scalar, lists of different lengths, an unknown) is one leaf.
pub fn leaf_changes(before: &Value, after: &Value) -> Vec<LeafChange> {
    let mut out = Vec::new();
    collect_leaves(String::new(), before, after, &mut out);
    out
}

fn collect_leaves(path: String, before: &Value, after: &Value, out: &mut Vec<LeafChange>) {
    if before == after && after.first_unknown().is_none() {
        return;
    }
    match (before, after) {
        (Value::Map(a), Value::Map(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let (x, y) = (
                    a.get(key).cloned().unwrap_or(Value::Null),
                    b.get(key).cloned().unwrap_or(Value::Null),
                );
                collect_leaves(format!("{path}.{key}"), &x, &y, out);
            }
        }
        (Value::List(a), Value::List(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                collect_leaves(format!("{path}[{i}]"), x, y, out);
            }
        }
        _ => out.push(LeafChange {
            path,
            before: before.clone(),
            after: after.clone(),
        }),
    }
}

/// Desired values in their provider's canonical form (fields holding unknowns or secrets are
/// left as they are).
pub fn normalized(registry: &Registry, type_name: &str, values: ValueMap) -> ValueMap {
    let Some(provider) = registry.provider_for_type(type_name) else {
        return values;
    };
    values
        .into_iter()
        .map(|(field, value)| {
            if !value.is_known() || value.contains_secret() {
                return (field, value);
            }
            match provider.normalize(type_name, &field, &value.to_json()) {
                Some(canonical) => (field, Value::from_json(&canonical)),
                None => (field, value),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::FieldKind;
    use serde_json::json;

    fn v(json: serde_json::Value) -> Value {
        Value::from_json(&json)
    }

    #[test]
    fn absent_is_null_and_unordered_lists_are_sets() {
        let ids = FieldSchema::input("ids", FieldKind::List).unordered();
        assert!(same(
            Some(&ids),
            Some(&v(json!(["a", "b"]))),
            Some(&v(json!(["b", "a"])))
        ));
        let ordered = FieldSchema::input("ids", FieldKind::List);
        assert!(!same(
            Some(&ordered),
            Some(&v(json!(["a", "b"]))),
            Some(&v(json!(["b", "a"])))
        ));
        assert!(same(None, None, Some(&Value::Null)));
    }

    #[test]
    fn a_field_the_cloud_completes_is_cut_to_the_leaves_terrace_set() {
        let backends = FieldSchema::input("backends", FieldKind::List).cloud_defaults();
        let cloud = json!([{"group": "g1", "balancingMode": "CONNECTION", "capacityScaler": 1}]);
        let applied = json!([{"group": "g1"}]);
        assert_eq!(
            cloud_value(Some(&backends), &cloud, &[&applied]),
            json!([{"group": "g1"}])
        );
        // Another field keeps the cloud's whole value.
        let plain = FieldSchema::input("backends", FieldKind::List);
        assert_eq!(cloud_value(Some(&plain), &cloud, &[&applied]), cloud);
        // A key the last applied value had stays, so that removing it is a change; an extra
        // list item stays, so that the cloud's additional backend is drift.
        let now = json!([{"group": "g1", "balancingMode": "UTILIZATION"}, {"group": "g2"}]);
        let was = json!([{"group": "g1", "balancingMode": "UTILIZATION"}]);
        let want = json!([{"group": "g1"}]);
        assert_eq!(
            cloud_value(Some(&backends), &now, &[&want, &was]),
            json!([{"group": "g1", "balancingMode": "UTILIZATION"}, {"group": "g2"}])
        );
        // Drift is only in leaves that were applied.
        let schema = ResourceSchema {
            type_name: "t".into(),
            fields: vec![backends],
            regional: false,
            api: crate::provider::ApiClasses {
                read: "r".into(),
                mutate: "m".into(),
            },
        };
        let applied_map = json!({"backends": applied}).as_object().unwrap().clone();
        let observed = json!({"backends": cloud}).as_object().unwrap().clone();
        assert!(drift(&applied_map, &observed, &schema).is_empty());
        let moved = json!({"backends": [{"group": "g9", "balancingMode": "CONNECTION"}]});
        let found = drift(&applied_map, moved.as_object().unwrap(), &schema);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "backends[0].group");
    }

    #[test]
    fn nested_changes_are_named_by_their_leaf() {
        let before = v(json!({"machine_type": "n2", "disks": [{"size": 10}], "tags": {"a": 1}}));
        let after = v(
            json!({"machine_type": "n2-highmem", "disks": [{"size": 10}], "tags": {"a": 1, "b": 2}}),
        );
        let leaves: Vec<String> = leaf_changes(&before, &after)
            .into_iter()
            .map(|l| l.path)
            .collect();
        assert_eq!(leaves, vec![".machine_type", ".tags.b"]);
        let lists = leaf_changes(&v(json!([1, 2])), &v(json!([1, 3])));
        assert_eq!(lists[0].path, "[1]");
        assert_eq!(leaf_changes(&v(json!([1])), &v(json!([1, 2])))[0].path, "");
    }

    #[test]
    fn drift_compares_as_the_plan_does() {
        let schema = ResourceSchema {
            type_name: "t:T".into(),
            fields: vec![
                FieldSchema::input("ids", FieldKind::List).unordered(),
                FieldSchema::input("properties", FieldKind::Map),
            ],
            api: crate::provider::ApiClasses {
                read: "r".into(),
                mutate: "m".into(),
            },
            regional: false,
        };
        let applied = json!({"ids": ["a", "b"], "properties": {"machine_type": "n2", "x": 1}});
        let observed =
            json!({"ids": ["b", "a"], "properties": {"machine_type": "e2", "x": 1}, "other": 5});
        let found = drift(
            applied.as_object().unwrap(),
            observed.as_object().unwrap(),
            &schema,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "properties.machine_type");
        assert_eq!(
            (found[0].applied.clone(), found[0].cloud.clone()),
            (v(json!("n2")), v(json!("e2")))
        );
    }
}
