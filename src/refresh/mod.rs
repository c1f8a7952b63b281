//! Refresh: what the cloud has of the stacks' resources. One refresh reads each (provider
//! configuration, type, region) once across all the stacks it covers — the provider pages —,
//! never once per stack or per resource ([`batch`]). Resources with a pending create are also
//! looked up by their ownership tags, so that one created before a crash is adopted, not
//! duplicated. A resource created moments ago that a read does not show yet is read again
//! until the consistency window ends before it counts as deleted.

mod batch;

pub use batch::{refresh_stacks, StackRead};

use crate::plan::stack::Observations;
use crate::provider::limits::Limits;
use crate::provider::{Observed, ProviderError, Registry};
use crate::state::StackState;
use std::collections::HashMap;

/// What a refresh found for one stack.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// What the cloud has, by resource name.
    pub observations: Observations,
    /// Resources with a pending create that exist in the cloud, by resource name.
    pub adoptable: HashMap<String, Observed>,
}

/// A failed read, naming the type and region, and the stacks whose refresh it fails.
#[derive(Debug, thiserror::Error)]
#[error("reading {type_name} in {region} (for {}): {source}", show_stacks(.stacks))]
pub struct RefreshError {
    /// Resource type, e.g. `aws:ec2:Vpc`.
    pub type_name: String,
    /// Region read (`global` for none).
    pub region: String,
    /// The stacks that read shared, sorted.
    pub stacks: Vec<String>,
    /// The underlying error.
    #[source]
    pub source: ProviderError,
}

/// `stack a`, `stacks a, b, c`, `stacks a, b, c, d, e and 7 more`.
fn show_stacks(stacks: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = match stacks.len() {
        1 => format!("stack {}", stacks[0]),
        _ => format!("stacks {}", stacks[..stacks.len().min(SHOWN)].join(", ")),
    };
    if stacks.len() > SHOWN {
        text.push_str(&format!(" and {} more", stacks.len() - SHOWN));
    }
    text
}

/// Reads every resource of one stack's `state` (and every pending create) from the cloud:
/// [`refresh_stacks`] for a single stack, whose `registry` is configured with the provider
/// configuration the stack's resources were recorded with. With the workspace's secrets,
/// what the cloud says is scrubbed: a value that is or contains a secret (of the configuration
/// or of the state) comes back sealed, so that it never reaches a plan, the state or an event
/// in clear. A resource created less than `window` ago that the read does not show is read
/// again until it shows or its window ends, each wait a `resource_waiting` event on `events`.
pub async fn refresh_stack(
    registry: &Registry,
    limits: &Limits,
    workspace: &str,
    state: &StackState,
    secrets: Option<&crate::secrets::Secrets>,
    window: std::time::Duration,
    events: &crate::events::EventSink,
) -> Result<Refreshed, RefreshError> {
    let stacks = [StackRead { state, registry }];
    let mut refreshed = refresh_stacks(
        &stacks,
        limits,
        workspace,
        secrets,
        window,
        events,
        |_, _| None,
    )
    .await?;
    Ok(refreshed.pop().unwrap_or_default())
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
    state.created_at = Some(pending.started_at);
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
        created_at: None,
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
    fn a_failed_read_names_its_type_region_and_stacks() {
        let error = |stacks: &[&str]| {
            RefreshError {
                type_name: "aws:ec2:SecurityGroup".into(),
                region: "eu-west-1".into(),
                stacks: stacks.iter().map(|s| s.to_string()).collect(),
                source: ProviderError::new(
                    crate::provider::ErrorKind::Denied,
                    "UnauthorizedOperation",
                    "no",
                ),
            }
            .to_string()
        };
        assert!(
            error(&["networks/eu/a"]).starts_with(
                "reading aws:ec2:SecurityGroup in eu-west-1 (for stack networks/eu/a): "
            ),
            "{}",
            error(&["networks/eu/a"])
        );
        let many: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(
            error(&many).contains("(for stacks s0, s1, s2, s3, s4 and 3 more)"),
            "{}",
            error(&many)
        );
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
