//! `import`: take an existing cloud resource under management as a resource the configuration
//! declares. The provider reads it by its cloud id; state records it with the cloud's values
//! of the fields the configuration sets, so the next plan is empty when they match and shows
//! an update (or replace) where they do not. Nothing is written to the cloud.

use super::Terrace;
use crate::diagnostics::suggest;
use crate::provider::ErrorKind;
use crate::refresh::found_state;
use crate::state::{ResourceState, StackLock, StackState};
use crate::Error;
use std::time::Duration;

impl Terrace {
    /// Imports the resource with cloud id `id` as `resource` of `stack`.
    pub async fn import(
        &self,
        stack: &str,
        resource: &str,
        id: &str,
        lock_timeout: Duration,
    ) -> Result<ResourceState, Error> {
        self.needs_secrets()?;
        let rendered = self.rendered(stack).ok_or_else(|| {
            let names = self.stacks.iter().map(|r| r.spec.instance.name.as_str());
            Error::usage(format!("no stack {stack}; {}", suggest(stack, names)))
        })?;
        let spec = rendered.spec.resources.get(resource).ok_or_else(|| {
            let names = rendered.spec.resources.keys().map(String::as_str);
            Error::usage(format!(
                "stack {stack} declares no resource `{resource}`; {} (declare it in the \
                 stack's template first, then import it)",
                suggest(resource, names)
            ))
        })?;
        if self.registry.provider_for_type(&spec.type_name).is_none() {
            return Err(Error::usage(format!(
                "no provider for `{}`",
                spec.type_name
            )));
        }
        let lock = self
            .lock_stack(stack, "import", lock_timeout, StackLock::report_wait(stack))
            .await?;
        let result = async {
            let mut state = self
                .backend
                .load(stack)
                .await?
                .unwrap_or_else(|| StackState::new(stack));
            if let Some(existing) = state.resources.get(resource) {
                return Err(Error::usage(format!(
                    "{stack}:{resource} is already managed (id {}); to manage another \
                     resource under this name, remove it from state first",
                    existing.id
                )));
            }
            let configs = self.stack_providers(stack, &state).await?;
            let registry = self.registry_for(&configs)?;
            state.providers = configs;
            let provider = registry
                .provider_for_type(&spec.type_name)
                .ok_or_else(|| Error::usage(format!("no provider for `{}`", spec.type_name)))?;
            let observed = provider
                .import(&spec.type_name, spec.region.as_deref(), id)
                .await
                .map_err(|e| match e.kind {
                    ErrorKind::NotFound => Error::usage(format!(
                        "no {} with id {id}{}: {e}",
                        spec.type_name,
                        spec.region
                            .as_deref()
                            .map(|r| format!(" in region {r}"))
                            .unwrap_or_default()
                    )),
                    _ => Error::Apply(format!("importing {stack}:{resource}: {e}")),
                })?;
            if let Some(owner) = observed.ownership.as_ref().filter(|o| {
                o.workspace == self.workspace.name && (o.stack != stack || o.resource != resource)
            }) {
                return Err(Error::usage(format!(
                    "{id} belongs to {}:{} of this workspace (its ownership tags say so); \
                     importing it here would leave it managed twice (the other stack would \
                     delete or change it): to give it to {stack}:{resource}, move it with \
                     `terrace state mv {}:{} {stack}:{resource}`",
                    owner.stack, owner.resource, owner.stack, owner.resource
                )));
            }
            let observed = crate::secrets::scrub_observed(
                self.secrets.as_deref(),
                self.registry.schema(&spec.type_name).map(|s| &**s),
                observed,
            );
            let is_layer = |name: &str| self.workspace.layer(name).is_some();
            let (_, dependencies) = crate::plan::stack::resource_order(&rendered.spec, &is_layer)?;
            let recorded = found_state(
                &spec.type_name,
                &observed,
                Some(spec),
                self.registry.schema(&spec.type_name).map(|s| &**s),
                dependencies.get(resource).cloned().unwrap_or_default(),
            );
            let expected = state.snapshot_serial;
            state
                .resources
                .insert(resource.to_string(), recorded.clone());
            state.serial += 1;
            state.updated_at = Some(chrono::Utc::now());
            self.backend.save(&state, expected).await?;
            Ok(recorded)
        }
        .await;
        let released = lock.release().await;
        let recorded = result?;
        released?;
        Ok(recorded)
    }
}
