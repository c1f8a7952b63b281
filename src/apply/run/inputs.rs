//! What a stack's run starts from: the outputs of the stacks it reads, and the providers
//! bound to its provider configuration.

use super::Stop;
use crate::apply::retry::CreatedIds;
use crate::apply::{ApplyContext, FreshOutputs};
use crate::events::StackStatus;
use crate::plan::{Plan, StackPlan};
use crate::state::StackState;
use crate::value::{Value, ValueMap};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// Every string in a stack's outputs: the ids it handed to the stacks below.
pub(super) fn output_strings(
    outputs: &BTreeMap<String, Json>,
) -> std::collections::BTreeSet<String> {
    fn visit(value: &Json, out: &mut std::collections::BTreeSet<String>) {
        match value {
            Json::String(s) => {
                out.insert(s.clone());
            }
            Json::Array(items) => items.iter().for_each(|i| visit(i, out)),
            Json::Object(map) => map.values().for_each(|v| visit(v, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    outputs.values().for_each(|v| visit(v, &mut out));
    out
}

pub(super) fn show_serial(serial: Option<u64>) -> String {
    serial
        .map(|s| s.to_string())
        .unwrap_or_else(|| "none".into())
}

/// The registry the stack's provider calls go through, and the provider configuration to
/// record in its state before the first operation (when it changes). A destroy and a removed
/// stack use the recorded configuration (where the resources are); otherwise the stack's `providers:`,
/// resolved against the fresh upstream outputs, must be known and where the stack's resources
/// are (see [`crate::plan::providers`]).
pub(super) fn stack_registry(
    context: &ApplyContext,
    plan: &Plan,
    approved: &StackPlan,
    state: &StackState,
    upstream: &BTreeMap<String, ValueMap>,
) -> Result<
    (
        crate::provider::Registry,
        Option<crate::plan::providers::ProviderConfigs>,
    ),
    Stop,
> {
    use crate::plan::providers::{self, ProviderInputs};
    let failed = |message: String| Stop {
        status: StackStatus::Failed,
        message,
    };
    // A destroy, or a stack removed from the configuration (it declares nothing), only
    // deletes: where the resources are is what counts.
    let effective = if plan.destroy || approved.desired.resources.is_empty() {
        state.providers.clone()
    } else {
        let inputs = ProviderInputs {
            upstream,
            layer_links: &approved.layer_links,
            config: &plan.config,
            layers: &plan.layers,
        };
        let resolved =
            providers::resolve(&approved.desired, &inputs).map_err(|e| failed(e.to_string()))?;
        let desired = resolved.all_known().map_err(|(provider, origin)| {
            failed(format!(
                "the {provider} provider configuration is still unknown ({origin}); apply \
                 the stacks it reads first"
            ))
        })?;
        providers::check_unmoved(&approved.stack.name, Some(state), &desired).map_err(
            |message| Stop {
                status: StackStatus::Refused,
                message,
            },
        )?;
        desired
    };
    let registry =
        providers::registry_for(&context.registry, &effective, context.secrets.as_deref())
            .map_err(failed)?;
    let record = (effective != state.providers).then_some(effective);
    Ok((registry, record))
}

/// Outputs of the stacks this one reads: fresh from this run, else from their state (whose
/// resources created moments ago are added to `created`: their ids may not have propagated).
pub(super) async fn upstream_outputs(
    context: &ApplyContext,
    approved: &StackPlan,
    fresh: &FreshOutputs,
    created: &CreatedIds,
) -> Result<BTreeMap<String, ValueMap>, Stop> {
    let mut upstream = BTreeMap::new();
    for stack in &approved.upstream {
        let known = fresh.lock().expect("outputs lock").get(stack).cloned();
        let outputs = match known {
            Some(outputs) => outputs,
            None => match context.backend.load(stack).await? {
                Some(state) => {
                    created.record_recent(&state, context.options.consistency_window);
                    state.outputs.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect()
                }
                None => {
                    return Err(Stop {
                        status: StackStatus::Failed,
                        message: format!("needs the outputs of stack {stack}, which has not been applied; apply it first"),
                    })
                }
            },
        };
        upstream.insert(stack.clone(), outputs);
    }
    Ok(upstream)
}
