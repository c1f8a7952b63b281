//! Refresh: batched reads of a stack's resources — one provider call per type × region (the
//! provider pages), never one per resource. Resources with a pending create are also looked up
//! by their ownership tags, so that one created before a crash is adopted, not duplicated.

use crate::plan::stack::Observations;
use crate::provider::limits::Limits;
use crate::provider::{Observed, Ownership, ProviderError, ReadRequest, Registry};
use crate::state::{OperationKind, StackState};
use std::collections::{BTreeMap, HashMap};

/// What a refresh found.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// What the cloud has, by resource name.
    pub observations: Observations,
    /// Resources with a pending create that exist in the cloud, by resource name.
    pub adoptable: HashMap<String, Observed>,
}

/// A failed read, naming the type and region.
#[derive(Debug, thiserror::Error)]
#[error("reading {type_name} in {region}: {source}")]
pub struct RefreshError {
    /// Resource type, e.g. `aws:ec2:Vpc`.
    pub type_name: String,
    /// Region read (`global` for none).
    pub region: String,
    /// The underlying error.
    #[source]
    pub source: ProviderError,
}

#[derive(Default)]
struct Batch {
    ids: Vec<String>,
    by_owner: bool,
}

/// Reads every resource of `state` (and every pending create) from the cloud. With the
/// workspace's secrets, what the cloud says is scrubbed: a value that is or contains a secret
/// (of the configuration or of the state) comes back sealed, so that it never reaches a plan,
/// the state or an event in clear.
pub async fn refresh_stack(
    registry: &Registry,
    limits: &Limits,
    workspace: &str,
    state: &StackState,
    secrets: Option<&crate::secrets::Secrets>,
) -> Result<Refreshed, RefreshError> {
    if let Some(secrets) = secrets {
        for resource in state.resources.values() {
            secrets.learn(&serde_json::Value::Object(resource.inputs.clone()));
            secrets.learn(&serde_json::Value::Object(resource.attributes.clone()));
        }
    }
    let mut batches: BTreeMap<(String, Option<String>), Batch> = BTreeMap::new();
    for resource in state.resources.values() {
        let key = (resource.type_name.clone(), resource.region.clone());
        batches
            .entry(key)
            .or_default()
            .ids
            .push(resource.id.clone());
    }
    for pending in state
        .pending
        .iter()
        .filter(|p| p.kind == OperationKind::Create)
    {
        batches
            .entry((pending.type_name.clone(), pending.region.clone()))
            .or_default()
            .by_owner = true;
    }
    let owner = Ownership {
        workspace: workspace.to_string(),
        stack: state.stack.clone(),
        resource: String::new(),
    };
    let reads = batches.into_iter().map(|((type_name, region), batch)| {
        let owner = batch.by_owner.then(|| owner.clone());
        read_batch(
            registry, limits, type_name, region, batch.ids, owner, secrets,
        )
    });
    let mut refreshed = Refreshed {
        observations: Observations {
            refreshed: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let by_id: HashMap<&str, &str> = state
        .resources
        .iter()
        .map(|(name, r)| (r.id.as_str(), name.as_str()))
        .collect();
    for result in futures::future::join_all(reads).await {
        for observed in result? {
            if let Some(name) = by_id.get(observed.id.as_str()) {
                refreshed
                    .observations
                    .found
                    .insert(name.to_string(), observed);
            } else if let Some(owner) = &observed.ownership {
                let pending = state
                    .pending
                    .iter()
                    .any(|p| p.resource == owner.resource && p.kind == OperationKind::Create);
                if pending
                    && owner.stack == state.stack
                    && !state.resources.contains_key(&owner.resource)
                {
                    refreshed.adoptable.insert(owner.resource.clone(), observed);
                }
            }
        }
    }
    Ok(refreshed)
}

async fn read_batch(
    registry: &Registry,
    limits: &Limits,
    type_name: String,
    region: Option<String>,
    ids: Vec<String>,
    owner: Option<Ownership>,
    secrets: Option<&crate::secrets::Secrets>,
) -> Result<Vec<Observed>, RefreshError> {
    let fail = |source: ProviderError| RefreshError {
        type_name: type_name.clone(),
        region: region.clone().unwrap_or_else(|| "global".into()),
        source,
    };
    let provider = registry.provider_for_type(&type_name).ok_or_else(|| {
        fail(ProviderError::new(
            crate::provider::ErrorKind::Invalid,
            "NoProvider",
            "no provider for this type",
        ))
    })?;
    let class = registry
        .schema(&type_name)
        .map(|s| s.api.read.clone())
        .unwrap_or_default();
    let _permit = limits
        .acquire(provider.name(), region.as_deref(), &class)
        .await;
    let request = ReadRequest {
        type_name: type_name.clone(),
        region: region.clone(),
        ids,
        owner,
    };
    let schema = registry.schema(&type_name);
    Ok(provider
        .read(request)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|o| crate::secrets::scrub_observed(secrets, schema.map(|s| &**s), o))
        .collect())
}

/// The state of a resource found by its ownership tags after an interrupted create. Its
/// recorded inputs are the cloud's values of the fields the configuration sets, and only those:
/// defaults the cloud filled in (e.g. an instance tenancy) must not read as removed fields.
pub fn adopted_state(
    pending: &crate::state::PendingOperation,
    observed: &Observed,
    spec: Option<&crate::spec::ResourceSpec>,
    schema: Option<&crate::provider::ResourceSchema>,
    dependencies: Vec<String>,
) -> crate::state::ResourceState {
    let mut state = found_state(&pending.type_name, observed, spec, schema, dependencies);
    state.region = pending.region.clone();
    // What the interrupted create sent stands for the fields the provider cannot read back
    // (launch template data, user data): assuming them absent would plan a spurious update.
    if let (Some(sent), Some(spec)) = (&pending.inputs, spec) {
        for (field, value) in sent {
            if spec.properties.contains_key(field) && !state.inputs.contains_key(field) {
                state.inputs.insert(field.clone(), value.clone());
            }
        }
    }
    state
}

/// The state of an existing resource taken under management (adopted or imported): inputs
/// are the cloud's values of the fields the configuration sets (inside a field the cloud
/// completes with defaults, of the leaves it sets: [`crate::plan::compare::cloud_value`]).
pub fn found_state(
    type_name: &str,
    observed: &Observed,
    spec: Option<&crate::spec::ResourceSpec>,
    schema: Option<&crate::provider::ResourceSchema>,
    dependencies: Vec<String>,
) -> crate::state::ResourceState {
    let inputs = observed
        .properties
        .iter()
        .filter_map(|(field, value)| {
            let shape = spec?.properties.get(field)?;
            let field_schema = schema.and_then(|s| s.field(field));
            let value = crate::plan::compare::cloud_value(field_schema, value, &[shape]);
            Some((field.clone(), value))
        })
        .collect();
    crate::state::ResourceState {
        type_name: type_name.to_string(),
        id: observed.id.clone(),
        region: spec.and_then(|s| s.region.clone()),
        inputs,
        attributes: observed.attributes.clone(),
        dependencies,
        protect: spec.is_some_and(|s| s.protect),
    }
}

/// The [`crate::events::Event::StackRefreshed`] of one stack's refresh that began at `started`.
pub fn refreshed_event(
    stack: &str,
    state: &StackState,
    refreshed: &Refreshed,
    started: std::time::Instant,
) -> crate::events::Event {
    crate::events::Event::StackRefreshed {
        stack: stack.to_string(),
        resources: state.resources.len(),
        found: state
            .resources
            .keys()
            .filter(|r| refreshed.observations.found.contains_key(*r))
            .count(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ResourceSpec;
    use crate::state::{OperationKind, PendingOperation};
    use serde_json::json;

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn adoption_keeps_what_the_create_sent_for_fields_the_cloud_does_not_show() {
        let spec = ResourceSpec {
            type_name: "aws:ec2:LaunchTemplate".into(),
            region: Some("eu-west-1".into()),
            properties: map(json!({"name": "db", "user_data": "${x.y}", "image_id": "ami-1"})),
            protect: false,
            depends_on: vec![],
            create_before_destroy: false,
            template: String::new(),
        };
        let pending = PendingOperation {
            id: "op".into(),
            resource: "lt".into(),
            kind: OperationKind::Create,
            type_name: spec.type_name.clone(),
            region: spec.region.clone(),
            idempotency_key: "k".into(),
            target_id: None,
            started_at: chrono::Utc::now(),
            inputs: Some(map(
                json!({"name": "db", "user_data": "#cloud-config", "image_id": "ami-1", "extra": 1}),
            )),
        };
        // The cloud shows the name (changed behind our back) but not the template data.
        let observed = Observed {
            id: "lt-1".into(),
            properties: map(json!({"name": "db2", "default_version_number": 1})),
            attributes: map(json!({"latest_version_number": 1})),
            ownership: None,
        };
        let state = adopted_state(&pending, &observed, Some(&spec), None, vec![]);
        assert_eq!(
            state.inputs,
            map(json!({"name": "db2", "user_data": "#cloud-config", "image_id": "ami-1"})),
            "observed values win; sent values fill in; unconfigured fields stay out"
        );
        assert_eq!(state.region.as_deref(), Some("eu-west-1"));
    }
}
