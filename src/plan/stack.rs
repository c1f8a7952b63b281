//! Planning one stack: resolve every resource's references in dependency order (resources of
//! the stack, upstream stack outputs, config), diff each against state and the refreshed view,
//! add deletes for what the configuration dropped, and compute the outputs. The same function
//! plans at `terrace plan` and re-plans each stack at apply time with fresh upstream outputs.

use super::diff::{self, Current};
use super::{OutputChange, ResourceChange, StackPlan};
use crate::graph::topo_order;
use crate::provider::{Observed, Registry};
use crate::spec::StackSpec;
use crate::state::StackState;
use crate::value::refs::{self, Lookup, Reference};
use crate::value::{Value, ValueMap};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Refreshed views of a stack's resources, by resource name.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    /// False when refresh was skipped: nothing can be said to have vanished.
    pub refreshed: bool,
    /// Refreshed resources, by resource name.
    pub found: HashMap<String, Observed>,
}

/// Everything planning a stack needs.
pub struct StackInputs<'a> {
    /// The desired content (the plan shares it: [`StackPlan::desired`]).
    pub spec: &'a Arc<StackSpec>,
    /// The spec's [`resource_order`], when already computed (validation computes it for each
    /// rendered stack); `None` computes it.
    pub order: Option<&'a ResourceOrder>,
    /// The stack's state, if any.
    pub state: Option<&'a StackState>,
    /// Refreshed views of the stack's resources.
    pub observations: &'a Observations,
    /// Outputs of every upstream stack this one reads (planned, or from state).
    pub upstream: &'a BTreeMap<String, ValueMap>,
    /// Layer → the stack `${layer.outputs.*}` means.
    pub layer_links: &'a BTreeMap<String, String>,
    /// Workspace config values.
    pub config: &'a BTreeMap<String, Json>,
    /// Layer names, to parse references.
    pub layers: &'a [String],
    /// Providers, for schemas.
    pub registry: &'a Registry,
    /// Plan the removal of everything in the stack.
    pub destroy: bool,
    /// The workspace's secrets, to seal text that interpolates one.
    pub secrets: Option<&'a crate::secrets::Secrets>,
}

/// A stack that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StackPlanError {
    /// A resource cannot be planned.
    #[error("stack {stack}: resource `{resource}`: {message}")]
    Resource {
        /// Stack name.
        stack: String,
        /// Resource name within its stack.
        resource: String,
        /// What happened, for a person.
        message: String,
    },
    /// An output cannot be resolved.
    #[error("stack {stack}: output `{output}`: {message}")]
    Output {
        /// Stack name.
        stack: String,
        /// Output name.
        output: String,
        /// What happened, for a person.
        message: String,
    },
    /// The stack's provider configuration cannot be resolved.
    #[error("stack {stack}: providers.{provider}: {message}")]
    Provider {
        /// Stack name.
        stack: String,
        /// Provider name.
        provider: String,
        /// What happened, for a person.
        message: String,
    },
    /// The changes cannot be put in an order the cloud accepts (see [`super::order`]).
    #[error("stack {stack}: {message}")]
    Order {
        /// Stack name.
        stack: String,
        /// What cannot be ordered and what to change.
        message: String,
    },
    /// Resources depend on each other in a cycle.
    #[error("stack {stack}: resources depend on each other in a cycle: {cycle}")]
    Cycle {
        /// Stack name.
        stack: String,
        /// The resources on the cycle, `a -> b -> a`.
        cycle: String,
    },
}

/// Resource names in dependency order, and each resource's dependencies.
pub type ResourceOrder = (Vec<String>, HashMap<String, Vec<String>>);

/// Resource names of a spec in dependency order, and each resource's dependencies.
pub fn resource_order(
    spec: &StackSpec,
    is_layer: &dyn Fn(&str) -> bool,
) -> Result<ResourceOrder, StackPlanError> {
    let names: Vec<&String> = spec.resources.keys().collect();
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    let mut edges = Vec::new();
    for (i, (name, resource)) in spec.resources.iter().enumerate() {
        let mut found = Vec::new();
        // The properties in map order, as a collect of the whole map reads them (no copy).
        resource
            .properties
            .values()
            .try_for_each(|value| refs::collect(value, is_layer, &mut found))
            .map_err(|e| StackPlanError::Resource {
                stack: spec.instance.name.clone(),
                resource: name.clone(),
                message: e.to_string(),
            })?;
        let mut mine: Vec<String> = found
            .into_iter()
            .filter_map(|r| match r {
                Reference::Resource { name, .. } => Some(name),
                _ => None,
            })
            .chain(resource.depends_on.iter().cloned())
            .collect();
        mine.sort();
        mine.dedup();
        for dep in &mine {
            match index.get(dep.as_str()) {
                Some(&j) => edges.push((j, i)),
                None => {
                    return Err(StackPlanError::Resource {
                        stack: spec.instance.name.clone(),
                        resource: name.clone(),
                        message: format!(
                            "depends on `{dep}`, which is not a resource of this stack"
                        ),
                    })
                }
            }
        }
        deps.insert(name.clone(), mine);
    }
    match topo_order(names.len(), &edges) {
        Ok(order) => Ok((order.into_iter().map(|i| names[i].clone()).collect(), deps)),
        Err(cycle) => Err(StackPlanError::Cycle {
            stack: spec.instance.name.clone(),
            cycle: cycle
                .iter()
                .map(|&i| names[i].as_str())
                .collect::<Vec<_>>()
                .join(" -> "),
        }),
    }
}

/// Where a resolver reads attributes of the stack's own resources.
pub trait ResourceAttributes {
    /// `None` when there is no such resource; `Some(Null)` when it lacks the attribute.
    fn attribute(&self, resource: &str, attribute: &str) -> Option<Value>;
}

impl ResourceAttributes for HashMap<String, ValueMap> {
    fn attribute(&self, resource: &str, attribute: &str) -> Option<Value> {
        self.get(resource)
            .map(|attrs| attrs.get(attribute).cloned().unwrap_or(Value::Null))
    }
}

impl ResourceAttributes for StackState {
    fn attribute(&self, resource: &str, attribute: &str) -> Option<Value> {
        let state = self.resources.get(resource)?;
        if attribute == "id" {
            return Some(Value::String(state.id.clone()));
        }
        let json = state
            .attributes
            .get(attribute)
            .or_else(|| state.inputs.get(attribute));
        Some(json.map(Value::from_json).unwrap_or(Value::Null))
    }
}

/// Resolves references for planning and for apply.
pub struct Resolver<'a> {
    /// Attributes of the stack's own resources.
    pub attributes: &'a dyn ResourceAttributes,
    /// Outputs of every upstream stack this one reads.
    pub upstream: &'a BTreeMap<String, ValueMap>,
    /// Layer → the stack `${layer.outputs.*}` means.
    pub layer_links: &'a BTreeMap<String, String>,
    /// Workspace config values.
    pub config: &'a BTreeMap<String, Json>,
    /// The workspace's secrets, to seal text that interpolates one.
    pub secrets: Option<&'a crate::secrets::Secrets>,
}

fn follow(value: &Value, path: &[String], what: &str) -> Result<Value, String> {
    if path.is_empty() {
        return Ok(value.clone());
    }
    match value {
        Value::Unknown(origin) => Ok(Value::Unknown(origin.clone())),
        other => other
            .get_path(path)
            .cloned()
            .ok_or_else(|| format!("{what} has no element `{}`", path.join("."))),
    }
}

impl Lookup for Resolver<'_> {
    fn lookup(&self, reference: &Reference) -> Result<Value, String> {
        match reference {
            Reference::Resource { name, path } => {
                let (attr, rest) = path.split_first().ok_or("missing attribute")?;
                let value = self.attributes.attribute(name, attr).ok_or_else(|| {
                    format!("`{name}` is not a resource of this stack (or not yet created)")
                })?;
                follow(&value, rest, &format!("{name}.{attr}"))
            }
            Reference::LayerOutput { layer, key, path } => {
                let stack = self
                    .layer_links
                    .get(layer)
                    .ok_or_else(|| format!("no stack of layer `{layer}` matches this stack"))?;
                self.stack_output(stack, key, path)
            }
            Reference::StackOutput { stack, key, path } => self.stack_output(stack, key, path),
            Reference::Config { key, path } => {
                let value = self
                    .config
                    .get(key)
                    .ok_or_else(|| format!("config has no key `{key}`"))?;
                follow(&Value::from_json(value), path, &format!("config.{key}"))
            }
        }
    }

    fn secrets(&self) -> Option<&dyn crate::value::sealed::Keyring> {
        self.secrets
            .map(|s| s as &dyn crate::value::sealed::Keyring)
    }
}

impl Resolver<'_> {
    fn stack_output(&self, stack: &str, key: &str, path: &[String]) -> Result<Value, String> {
        let outputs = self
            .upstream
            .get(stack)
            .ok_or_else(|| format!("stack {stack} is not upstream of this stack"))?;
        let value = outputs
            .get(key)
            .ok_or_else(|| format!("stack {stack} has no output `{key}`"))?;
        follow(value, path, &format!("{stack}.outputs.{key}"))
    }
}

/// A type whose cloud answers hold secrets ([`crate::provider::FieldSchema::sensitive`]) needs
/// the workspace's secrets key, which seals them before they reach state: refused before any
/// cloud call in a workspace without one.
fn check_key_for_sensitive(
    stack: &str,
    resource: &str,
    schema: &crate::provider::ResourceSchema,
) -> Result<(), StackPlanError> {
    let fields = crate::secrets::sensitive_fields(schema);
    if fields.is_empty() {
        return Ok(());
    }
    Err(StackPlanError::Resource {
        stack: stack.to_string(),
        resource: resource.to_string(),
        message: format!(
            "`{}` returns secrets ({}), which Terrace keeps sealed with the workspace's \
             secrets key, and this workspace has none: create one with `terrace config init-secrets` \
             (TERRACE_PASSPHRASE set, or `secrets: {{provider: awskms://KEY}}` in terrace.yaml)",
            schema.type_name,
            fields.join(", ")
        ),
    })
}

/// A field the schema marks sensitive may not be written in clear: the template (and the plan,
/// which keeps the rendered configuration) would hold the secret. It must come sealed — from a
/// secret config value or a sensitive attribute of another resource.
fn check_sensitive_inputs(
    stack: &str,
    resource: &str,
    schema: &crate::provider::ResourceSchema,
    desired: &ValueMap,
) -> Result<(), StackPlanError> {
    if !schema.fields.iter().any(|f| f.sensitive) {
        return Ok(()); // most types: nothing to look at on this per-resource path
    }
    let clear = desired.iter().find(|(field, value)| {
        matches!(value, crate::value::Value::String(_))
            && schema.field(field).is_some_and(|f| f.sensitive)
    });
    match clear {
        None => Ok(()),
        Some((field, _)) => Err(StackPlanError::Resource {
            stack: stack.to_string(),
            resource: resource.to_string(),
            message: format!(
                "`{field}` of `{}` is a secret and is written in clear: keep it in a secret \
                 config value (`terrace config set --secret NAME -`, then `{{{{ config.NAME }}}}`) \
                 or reference a resource's secret attribute",
                schema.type_name
            ),
        }),
    }
}

/// Plans one stack.
pub fn plan_stack(inputs: &StackInputs) -> Result<StackPlan, StackPlanError> {
    let spec = inputs.spec;
    let stack = &spec.instance.name;
    let is_layer = |name: &str| inputs.layers.iter().any(|l| l == name);
    let empty = StackState::new(stack);
    let state = inputs.state.unwrap_or(&empty);
    let mut changes: Vec<ResourceChange> = Vec::new();
    let mut attributes: HashMap<String, ValueMap> = HashMap::new();
    if !inputs.destroy {
        let computed;
        let (order, deps) = match inputs.order {
            Some(order) => order,
            None => {
                computed = resource_order(spec, &is_layer)?;
                &computed
            }
        };
        let read = read_resources(spec, deps, &is_layer);
        for name in order {
            if !spec.in_scope(name) {
                // Outside a targeted plan: unchanged, read as it is in state.
                if let Some(existing) = state.resources.get(name) {
                    attributes.insert(name.clone(), readable(existing));
                }
                continue;
            }
            let resource = &spec.resources[name];
            let schema = inputs.registry.schema(&resource.type_name).ok_or_else(|| {
                StackPlanError::Resource {
                    stack: stack.clone(),
                    resource: name.clone(),
                    message: format!("unknown resource type `{}`", resource.type_name),
                }
            })?;
            if inputs.secrets.is_none() {
                check_key_for_sensitive(stack, name, schema)?;
            }
            let resolver = Resolver {
                attributes: &attributes,
                upstream: inputs.upstream,
                layer_links: inputs.layer_links,
                config: inputs.config,
                secrets: inputs.secrets,
            };
            let desired =
                refs::resolve_map(&resource.properties, &resolver, &is_layer).map_err(|e| {
                    StackPlanError::Resource {
                        stack: stack.clone(),
                        resource: name.clone(),
                        message: e.to_string(),
                    }
                })?;
            let desired = super::compare::normalized(inputs.registry, &resource.type_name, desired);
            check_sensitive_inputs(stack, name, schema, &desired)?;
            let existing = state.resources.get(name);
            let current = existing.map(|state| Current {
                state,
                observed: inputs.observations.found.get(name),
                vanished: inputs.observations.refreshed
                    && !inputs.observations.found.contains_key(name),
            });
            let mut change = diff::diff_resource(name, resource, desired, current, schema);
            change.depends_on = deps.get(name).cloned().unwrap_or_default();
            if read
                .as_ref()
                .is_none_or(|read| read.contains(name.as_str()))
            {
                attributes.insert(
                    name.clone(),
                    diff::planned_attributes(&change, stack, existing, schema),
                );
            }
            changes.push(change);
        }
    }
    for (name, resource) in &state.resources {
        if (inputs.destroy || !spec.resources.contains_key(name)) && spec.in_scope(name) {
            changes.push(diff::delete_change(name, resource));
        }
    }
    let exported = exported_resources(spec, &is_layer);
    super::order::arrange(&mut changes, state, &exported, inputs.registry).map_err(|p| {
        StackPlanError::Order {
            stack: stack.clone(),
            message: p.0,
        }
    })?;
    let outputs = plan_outputs(inputs, state, &attributes, &is_layer)?;
    Ok(StackPlan {
        stack: spec.instance.clone(),
        serial: inputs.state.map(|s| s.serial),
        lineage: inputs.state.map(|s| s.lineage.clone()),
        after: Vec::new(),
        upstream: Vec::new(),
        layer_links: inputs.layer_links.clone(),
        changes,
        outputs,
        pending: state
            .pending
            .iter()
            .map(|p| format!("{:?} of `{}`", p.kind, p.resource).to_lowercase())
            .collect(),
        desired: Arc::clone(spec),
        unknown_providers: BTreeMap::new(),
    })
}

/// The resources whose planned attributes something of the stack reads: those another resource
/// depends on or an output references. `None` (all of them) when an output's references cannot
/// be parsed, which [`plan_outputs`] then reports. Attributes of the other resources are never
/// looked up, so they are not made (most resources of a large stack are read by nothing).
fn read_resources(
    spec: &StackSpec,
    deps: &HashMap<String, Vec<String>>,
    is_layer: &dyn Fn(&str) -> bool,
) -> Option<std::collections::HashSet<String>> {
    let mut read: std::collections::HashSet<String> = deps.values().flatten().cloned().collect();
    let mut found = Vec::new();
    for raw in spec.outputs.values() {
        refs::collect(raw, is_layer, &mut found).ok()?;
    }
    read.extend(found.into_iter().filter_map(|r| match r {
        Reference::Resource { name, .. } => Some(name),
        _ => None,
    }));
    Some(read)
}

/// What references read of a resource as state has it.
fn readable(state: &crate::state::ResourceState) -> ValueMap {
    state
        .readable()
        .iter()
        .map(|(k, v)| (k.clone(), Value::from_json(v)))
        .collect()
}

/// Resources whose identity (`id`, an ARN, …) an output hands to the stacks below.
fn exported_resources(
    spec: &StackSpec,
    is_layer: &dyn Fn(&str) -> bool,
) -> std::collections::BTreeSet<String> {
    let mut found = Vec::new();
    for raw in spec.outputs.values() {
        // An output that cannot be parsed is reported by `plan_outputs`.
        let _ = refs::collect(raw, is_layer, &mut found);
    }
    found
        .into_iter()
        .filter_map(|r| match r {
            Reference::Resource { name, path } => path
                .first()
                .filter(|a| super::order::is_identity_attribute(a))
                .map(|_| name),
            _ => None,
        })
        .collect()
}

fn plan_outputs(
    inputs: &StackInputs,
    state: &StackState,
    attributes: &HashMap<String, ValueMap>,
    is_layer: &dyn Fn(&str) -> bool,
) -> Result<BTreeMap<String, OutputChange>, StackPlanError> {
    let mut outputs = BTreeMap::new();
    if !inputs.destroy {
        let resolver = Resolver {
            attributes,
            upstream: inputs.upstream,
            layer_links: inputs.layer_links,
            config: inputs.config,
            secrets: inputs.secrets,
        };
        for (name, raw) in &inputs.spec.outputs {
            let after = match refs::resolve(raw, &resolver, is_layer) {
                Ok(after) => after,
                // A targeted plan leaves out resources an output may read: the output keeps
                // its value, as it does at apply when it cannot be resolved.
                Err(_) if inputs.spec.only.is_some() => match state.outputs.get(name) {
                    Some(before) => Value::from_json(before),
                    None => continue,
                },
                Err(e) => {
                    return Err(StackPlanError::Output {
                        stack: inputs.spec.instance.name.clone(),
                        output: name.clone(),
                        message: e.to_string(),
                    })
                }
            };
            outputs.insert(
                name.clone(),
                OutputChange {
                    before: state.outputs.get(name).cloned(),
                    after,
                },
            );
        }
    }
    for (name, before) in &state.outputs {
        outputs.entry(name.clone()).or_insert_with(|| OutputChange {
            before: Some(before.clone()),
            after: Value::Null,
        });
    }
    Ok(outputs)
}

/// The outputs other stacks will read from this one after the plan is applied.
pub fn planned_outputs(plan: &StackPlan) -> ValueMap {
    plan.outputs
        .iter()
        .filter(|(_, change)| change.after != Value::Null || change.before.is_none())
        .map(|(name, change)| (name.clone(), change.after.clone()))
        .collect()
}
