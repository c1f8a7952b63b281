//! The registry a command's provider calls go through for one stack, outside plan and apply
//! (drift, refresh, import): the stack's recorded provider configuration where it holds
//! resources, else its `providers:` resolved against the upstream stacks' state (see
//! [`crate::plan::providers`]).

use super::Terrace;
use crate::plan::providers::{self, ProviderConfigs, ProviderInputs};
use crate::provider::Registry;
use crate::state::StackState;
use crate::value::Value;
use crate::Error;
use std::collections::BTreeMap;

impl Terrace {
    /// The provider configuration of `stack`'s calls, given its state.
    pub(super) async fn stack_providers(
        &self,
        stack: &str,
        state: &StackState,
    ) -> Result<ProviderConfigs, Error> {
        if providers::holds_resources(state) {
            return Ok(state.providers.clone());
        }
        let Some(rendered) = self.rendered(stack) else {
            return Ok(state.providers.clone());
        };
        let links = self
            .links
            .layer_links
            .get(stack)
            .cloned()
            .unwrap_or_default();
        let layers: Vec<String> = self
            .workspace
            .layers
            .iter()
            .map(|l| l.name.clone())
            .collect();
        let mut upstream = BTreeMap::new();
        for source in providers::sources(&rendered.spec, &links, &layers) {
            if let Some(state) = self.backend.load(&source).await? {
                let outputs = state
                    .outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect();
                upstream.insert(source, outputs);
            }
        }
        let inputs = ProviderInputs {
            upstream: &upstream,
            layer_links: &links,
            config: &self.workspace.settings.config,
            layers: &layers,
        };
        let resolved = providers::resolve(&rendered.spec, &inputs).map_err(|e| {
            Error::usage(format!(
                "{e}; apply the stacks its provider configuration reads first"
            ))
        })?;
        resolved.all_known().map_err(|(provider, origin)| {
            Error::usage(format!(
                "stack {stack}: the {provider} provider configuration is unknown ({origin}); \
                 apply the stacks it reads first"
            ))
        })
    }

    /// The registry for `configs` (see [`providers::registry_for`]).
    pub(crate) fn registry_for(&self, configs: &ProviderConfigs) -> Result<Registry, Error> {
        providers::registry_for(&self.registry, configs, self.secrets.as_deref())
            .map_err(Error::usage)
    }
}
