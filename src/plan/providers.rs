//! A stack's provider configuration — the `providers:` of its layer and templates, e.g. an AWS
//! role to assume in the group's member account, or the group's GCP project — resolved like
//! any value against the upstream outputs and config, and the configuration a stack's provider
//! calls actually use.
//!
//! The resolved configuration is recorded in the stack's state
//! ([`crate::state::StackState::providers`]) before the first operation, because it says where
//! the stack's resources live: reads, deletes and destroys go there, even once the upstream
//! stack that gave it is gone. A configuration still unknown at plan time (the account is
//! created by the same apply) leaves the stack's resources known after apply; a known one that
//! differs from the recorded one while the stack holds resources is refused — Terrace does not
//! move resources between accounts or projects.

use super::stack::{Resolver, StackPlanError};
use crate::provider::Properties;
use crate::spec::StackSpec;
use crate::state::StackState;
use crate::value::refs::{self, Reference};
use crate::value::{Value, ValueMap};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Provider name → its resolved configuration (sealed secrets stay sealed).
pub type ProviderConfigs = BTreeMap<String, Properties>;

/// A stack's provider configuration after resolution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// The configurations whose every value is known.
    pub known: ProviderConfigs,
    /// Provider → where its unknown value comes from (e.g. the id of an account this apply
    /// creates).
    pub unknown: BTreeMap<String, String>,
}

impl Resolved {
    /// Every configuration, or the first provider whose configuration is unknown, with the
    /// origin of its unknown value.
    pub fn all_known(self) -> Result<ProviderConfigs, (String, String)> {
        match self.unknown.into_iter().next() {
            None => Ok(self.known),
            Some(unknown) => Err(unknown),
        }
    }
}

/// What resolving a stack's provider configuration needs.
pub struct ProviderInputs<'a> {
    /// Outputs of the upstream stacks (planned, fresh or from state).
    pub upstream: &'a BTreeMap<String, ValueMap>,
    /// Layer → the stack `${layer.outputs.*}` means.
    pub layer_links: &'a BTreeMap<String, String>,
    /// Workspace config values.
    pub config: &'a BTreeMap<String, Json>,
    /// Layer names, to parse references.
    pub layers: &'a [String],
}

/// Resolves `spec.providers`. Errors name the stack, the provider and the reference.
pub fn resolve(spec: &StackSpec, inputs: &ProviderInputs) -> Result<Resolved, StackPlanError> {
    let is_layer = |name: &str| inputs.layers.iter().any(|l| l == name);
    let no_resources: HashMap<String, ValueMap> = HashMap::new();
    let resolver = Resolver {
        attributes: &no_resources,
        upstream: inputs.upstream,
        layer_links: inputs.layer_links,
        config: inputs.config,
        secrets: None,
    };
    let mut resolved = Resolved::default();
    for (provider, raw) in &spec.providers {
        let fail = |message: String| StackPlanError::Provider {
            stack: spec.instance.name.clone(),
            provider: provider.clone(),
            message,
        };
        let value =
            refs::resolve_map(raw, &resolver, &is_layer).map_err(|e| fail(e.to_string()))?;
        let value = Value::Map(value);
        if let Some(origin) = value.first_unknown() {
            resolved
                .unknown
                .insert(provider.clone(), origin.to_string());
            continue;
        }
        match value.to_json() {
            Json::Object(map) => resolved.known.insert(provider.clone(), map),
            _ => return Err(fail("the configuration must be a map".into())),
        };
    }
    Ok(resolved)
}

/// The stacks whose outputs a stack's provider configuration reads.
pub fn sources(
    spec: &StackSpec,
    layer_links: &BTreeMap<String, String>,
    layers: &[String],
) -> BTreeSet<String> {
    let is_layer = |name: &str| layers.iter().any(|l| l == name);
    let mut found = Vec::new();
    for raw in spec.providers.values() {
        // Validated when the workspace opened.
        let _ = refs::collect(&Json::Object(raw.clone()), &is_layer, &mut found);
    }
    found
        .into_iter()
        .filter_map(|r| match r {
            Reference::LayerOutput { layer, .. } => layer_links.get(&layer).cloned(),
            Reference::StackOutput { stack, .. } => Some(stack),
            _ => None,
        })
        .collect()
}

/// True when the stack's state holds anything that lives under its recorded configuration.
pub fn holds_resources(state: &StackState) -> bool {
    !state.resources.is_empty() || !state.pending.is_empty()
}

/// The configuration the provider calls of a stack use to reach its existing resources (reads,
/// deletes, destroys): the recorded one.
pub fn recorded(state: Option<&StackState>) -> ProviderConfigs {
    state.map(|s| s.providers.clone()).unwrap_or_default()
}

/// Checks that a known desired configuration is where the stack's resources are: `Err` with
/// what to do when the stack holds resources created under another one.
pub fn check_unmoved(
    stack: &str,
    state: Option<&StackState>,
    desired: &ProviderConfigs,
) -> Result<(), String> {
    let Some(state) = state.filter(|s| holds_resources(s)) else {
        return Ok(());
    };
    if &state.providers == desired {
        return Ok(());
    }
    let show = |c: &ProviderConfigs| {
        if c.is_empty() {
            "the workspace's providers (no `providers:`)".to_string()
        } else {
            serde_json::to_string(c).unwrap_or_default()
        }
    };
    Err(format!(
        "stack {stack} holds resources created with provider configuration {}, but its \
         configuration now gives {}: Terrace does not move resources between accounts or \
         projects; restore the previous `providers:`, or destroy the stack first \
         (`terrace destroy --stack {stack}`) and apply it again",
        show(&state.providers),
        show(desired)
    ))
}

/// Opens sealed secrets of a configuration for the provider (never stored opened).
pub fn opened(
    configs: &ProviderConfigs,
    secrets: Option<&crate::secrets::Secrets>,
) -> Result<ProviderConfigs, crate::secrets::SecretError> {
    configs
        .iter()
        .map(|(name, config)| {
            let what = format!("providers.{name}");
            Ok((
                name.clone(),
                crate::secrets::open_properties(secrets, &what, config)?,
            ))
        })
        .collect()
}

/// The registry a stack's provider calls go through: the workspace's, with the providers the
/// configuration names bound to it.
pub fn registry_for(
    registry: &crate::provider::Registry,
    configs: &ProviderConfigs,
    secrets: Option<&crate::secrets::Secrets>,
) -> Result<crate::provider::Registry, String> {
    if configs.is_empty() {
        return Ok(registry.clone());
    }
    let opened = opened(configs, secrets).map_err(|e| e.to_string())?;
    registry
        .configured(&opened)
        .map_err(|e| format!("provider configuration: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(providers: Json) -> StackSpec {
        let mut spec: StackSpec = serde_json::from_value(json!({
            "name": "networks/eu/aws-eu-west-1", "layer": "networks", "group": "eu",
            "resources": {}, "outputs": {}
        }))
        .unwrap();
        spec.providers = serde_json::from_value(providers).unwrap();
        spec
    }

    fn upstream(account: Value) -> BTreeMap<String, ValueMap> {
        BTreeMap::from([(
            "accounts/eu/aws".to_string(),
            ValueMap::from([("account_id".to_string(), account)]),
        )])
    }

    fn resolve_with(spec: &StackSpec, up: &BTreeMap<String, ValueMap>) -> Resolved {
        let links = BTreeMap::from([("accounts".to_string(), "accounts/eu/aws".to_string())]);
        let layers = ["accounts".to_string(), "networks".to_string()];
        let inputs = ProviderInputs {
            upstream: up,
            layer_links: &links,
            config: &BTreeMap::new(),
            layers: &layers,
        };
        resolve(spec, &inputs).unwrap()
    }

    #[test]
    fn references_resolve_and_unknowns_wait_for_apply() {
        let spec =
            spec(json!({"aws": {"assume_role": {"account_id": "${accounts.outputs.account_id}"}}}));
        let known = resolve_with(&spec, &upstream(Value::String("123456789012".into())));
        let expected: ProviderConfigs =
            serde_json::from_value(json!({"aws": {"assume_role": {"account_id": "123456789012"}}}))
                .unwrap();
        assert_eq!(known.all_known(), Ok(expected));
        let unknown = resolve_with(
            &spec,
            &upstream(Value::Unknown("accounts/eu/aws (not applied yet)".into())),
        );
        assert!(unknown.known.is_empty());
        assert_eq!(
            unknown.all_known(),
            Err(("aws".into(), "accounts/eu/aws (not applied yet)".into()))
        );
        let links = BTreeMap::from([("accounts".to_string(), "accounts/eu/aws".to_string())]);
        assert_eq!(
            sources(&spec, &links, &["accounts".to_string()]),
            BTreeSet::from(["accounts/eu/aws".to_string()])
        );
    }

    #[test]
    fn a_stack_holding_resources_keeps_its_configuration() {
        let mut state = StackState::new("networks/eu/aws-eu-west-1");
        let old: ProviderConfigs =
            serde_json::from_value(json!({"aws": {"assume_role": {"account_id": "1"}}})).unwrap();
        let new: ProviderConfigs =
            serde_json::from_value(json!({"aws": {"assume_role": {"account_id": "2"}}})).unwrap();
        state.providers = old.clone();
        // Nothing held: any configuration goes.
        assert!(check_unmoved("s", Some(&state), &new).is_ok());
        state.resources.insert(
            "vpc".into(),
            crate::state::ResourceState::new("aws:ec2:Vpc", "vpc-1"),
        );
        assert!(check_unmoved("s", Some(&state), &old).is_ok());
        let err = check_unmoved("s", Some(&state), &new).unwrap_err();
        assert!(
            err.contains("does not move resources") && err.contains("terrace destroy --stack s"),
            "{err}"
        );
        assert_eq!(recorded(Some(&state)), old);
    }
}
