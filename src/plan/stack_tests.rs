//! The step generator as tables: (state, desired, what the refresh read) → the action of each
//! resource, with no provider behind it — the registry holds only the test types' schemas,
//! and a provider call would panic. Each row is one case a plan must get right.

use super::stack::{plan_stack, Observations, StackInputs};
use super::Action;
use crate::provider::{
    CreateRequest, DeleteRequest, Observed, Provider, ProviderError, ReadRequest, Registry,
    ResourceSchema, UpdateRequest,
};
use crate::spec::StackSpec;
use crate::state::{OperationKind, PendingOperation, StackState};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Schemas only: planning must never call the cloud.
struct SchemasOnly(Vec<ResourceSchema>);

#[async_trait::async_trait]
impl Provider for SchemasOnly {
    fn name(&self) -> &str {
        "test"
    }
    fn schemas(&self) -> Vec<ResourceSchema> {
        self.0.clone()
    }
    async fn read(&self, _: ReadRequest) -> Result<Vec<Observed>, ProviderError> {
        panic!("planning read the cloud")
    }
    async fn create(&self, _: CreateRequest) -> Result<Observed, ProviderError> {
        panic!("planning created")
    }
    async fn update(&self, _: UpdateRequest) -> Result<Observed, ProviderError> {
        panic!("planning updated")
    }
    async fn delete(&self, _: DeleteRequest) -> Result<(), ProviderError> {
        panic!("planning deleted")
    }
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(Arc::new(SchemasOnly(crate::testing::schemas())));
    registry
}

/// A network `net` with this cidr and name, as desired.
fn desired(resources: Json) -> StackSpec {
    serde_json::from_value(json!({
        "name": "networks/eu/a",
        "layer": "networks",
        "group": "eu",
        "region": "eu-1",
        "resources": resources,
        "outputs": {},
    }))
    .expect("a stack spec")
}

fn network(cidr: &str, name: &str) -> Json {
    json!({"type": "test:Network", "region": "eu-1", "properties": {"cidr": cidr, "name": name}})
}

/// A state holding `net` created with these inputs (id `network-1`).
fn state(inputs: Option<(&str, &str)>, pending: bool) -> Option<StackState> {
    let mut state = StackState::new("networks/eu/a");
    if let Some((cidr, name)) = inputs {
        state.resources.insert(
            "net".into(),
            serde_json::from_value(json!({
                "type": "test:Network",
                "id": "network-1",
                "region": "eu-1",
                "inputs": {"cidr": cidr, "name": name},
                "attributes": {"id": "network-1"},
            }))
            .unwrap(),
        );
    }
    if pending {
        state.pending.push(PendingOperation {
            id: "op-1".into(),
            resource: "net".into(),
            kind: OperationKind::Create,
            type_name: "test:Network".into(),
            region: Some("eu-1".into()),
            idempotency_key: "key-1".into(),
            target_id: None,
            started_at: chrono::Utc::now(),
            inputs: None,
        });
    }
    Some(state)
}

/// What the refresh read of `net`: `None` = not refreshed; `Some(None)` = refreshed, gone.
fn read(found: Option<Option<(&str, &str)>>) -> Observations {
    let Some(found) = found else {
        return Observations::default();
    };
    let mut observations = Observations {
        refreshed: true,
        found: HashMap::new(),
    };
    if let Some((cidr, name)) = found {
        observations.found.insert(
            "net".into(),
            Observed {
                id: "network-1".into(),
                properties: serde_json::from_value(json!({"cidr": cidr, "name": name})).unwrap(),
                attributes: serde_json::from_value(json!({"id": "network-1"})).unwrap(),
                ownership: None,
            },
        );
    }
    observations
}

fn action(
    state: Option<StackState>,
    spec: &StackSpec,
    observations: &Observations,
    destroy: bool,
) -> Option<Action> {
    let registry = registry();
    let spec = std::sync::Arc::new(spec.clone());
    let inputs = StackInputs {
        spec: &spec,
        order: None,
        state: state.as_ref(),
        observations,
        upstream: &BTreeMap::new(),
        layer_links: &BTreeMap::new(),
        config: &BTreeMap::new(),
        layers: &["networks".to_string()],
        registry: &registry,
        destroy,
        secrets: None,
    };
    let plan = plan_stack(&inputs).expect("the stack plans");
    plan.changes
        .iter()
        .find(|c| c.name == "net")
        .map(|c| c.action)
}

/// (case, state, desired, what the refresh read, destroy, the expected action of `net`).
type Row<'a> = (
    &'a str,
    Option<StackState>,
    &'a StackSpec,
    Observations,
    bool,
    Option<Action>,
);

#[test]
fn state_desired_and_reads_give_each_action() {
    let wanted = desired(json!({"net": network("10.0.0.0/16", "a")}));
    let renamed = desired(json!({"net": network("10.0.0.0/16", "b")}));
    let moved = desired(json!({"net": network("10.1.0.0/16", "a")}));
    let nothing = desired(json!({}));
    let same = Some(("10.0.0.0/16", "a"));
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        ("new resource",                   state(None, false), &wanted,  read(None),             false, Some(Action::Create)),
        ("unchanged, not refreshed",       state(same, false), &wanted,  read(None),             false, Some(Action::NoOp)),
        ("unchanged, read as is",          state(same, false), &wanted,  read(Some(same)),       false, Some(Action::NoOp)),
        ("in-place field changed",         state(same, false), &renamed, read(Some(same)),       false, Some(Action::Update)),
        ("force-new field changed",        state(same, false), &moved,   read(Some(same)),       false, Some(Action::Replace)),
        ("drifted in the cloud",           state(same, false), &wanted,  read(Some(Some(("10.0.0.0/16", "x")))), false, Some(Action::Update)),
        ("vanished from the cloud",        state(same, false), &wanted,  read(Some(None)),       false, Some(Action::Create)),
        ("removed from the configuration", state(same, false), &nothing, read(Some(same)),       false, Some(Action::Delete)),
        ("destroy",                        state(same, false), &wanted,  read(Some(same)),       true,  Some(Action::Delete)),
        ("pending create, nothing found",  state(None, true),  &wanted,  read(Some(None)),       false, Some(Action::Create)),
        ("never created, not desired",     state(None, false), &nothing, read(None),             false, None),
    ];
    for (case, state, spec, observations, destroy, expected) in rows {
        assert_eq!(
            action(state, spec, &observations, destroy),
            expected,
            "case: {case}"
        );
    }
}
