//! One resource operation of a stack — create, update or delete — journalled as pending before
//! its first cloud call and settled after its last, with the policy of [`super::retry`]:
//!
//! - a call the cloud refused before acting (throttling; a not-found answer naming an id this
//!   apply created moments ago) is tried again with backoff, and the wait is reported;
//! - a create whose outcome is unknown is looked up by its ownership tags; found, it is adopted
//!   and brought to the desired values in the same apply; provably absent, it is created again
//!   with the same idempotency key;
//! - an update sends every field where the cloud's current value (the refreshed view) differs
//!   from the desired one, so an apply repairs drift instead of reporting it forever.

use super::retry::{self, Decision, CREATE_ATTEMPTS};
use super::run::StackRun;
use crate::events::{Event, ResourceStatus};
use crate::plan::ops::{Op, OpKind};
use crate::plan::stack::Resolver;
use crate::provider::progress::{self, Notice};
use crate::provider::{
    CreateRequest, DeleteRequest, ErrorKind, Observed, Ownership, Properties, Provider,
    ProviderError, ReadRequest, UpdateRequest,
};
use crate::state::{JournalEntry, OperationKind, PendingOperation, ResourceState};
use crate::value::{refs, Value};
use serde_json::Value as Json;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::step::StepError;
pub(super) use super::step::StepResult as OpResult;

/// Attempts of an update or delete whose outcome was unknown (both are safe to repeat).
const REPEAT_ATTEMPTS: u32 = 3;

impl StackRun {
    /// Runs one operation, with start and finish events and the provider's waits reported as
    /// events of this resource.
    pub(super) async fn run_op(&self, op: &Op) -> OpResult {
        let stack = self.name().to_string();
        self.events
            .send(Event::ResourceStarted {
                stack: stack.clone(),
                resource: op.resource.clone(),
                action: op.action,
            })
            .await;
        let started = Instant::now();
        let sink = {
            let (events, stack, resource) =
                (self.events.clone(), stack.clone(), op.resource.clone());
            move |notice: Notice| {
                events.notify(Event::ResourceWaiting {
                    stack: stack.clone(),
                    resource: resource.clone(),
                    reason: notice.message,
                    retry_in_ms: notice.retry_in.map(|d| d.as_millis() as u64),
                })
            }
        };
        let result = progress::scoped(sink, async {
            match op.kind {
                OpKind::Create => self.create(op).await,
                OpKind::Update => self.update(op).await,
                OpKind::Delete => self.delete(op).await,
            }
        })
        .await;
        let (id, error) = match &result {
            Ok(id) => (Some(id.clone()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        self.events
            .send(Event::ResourceFinished {
                stack,
                resource: op.resource.clone(),
                action: op.action,
                status: if result.is_ok() {
                    ResourceStatus::Done
                } else {
                    ResourceStatus::Failed
                },
                id,
                error,
                elapsed_ms: started.elapsed().as_millis() as u64,
            })
            .await;
        result
    }

    /// A wait of the engine's own, reported like a provider's.
    fn wait_notice(&self, reason: String, retry_in: Option<Duration>) {
        progress::report(self.redact(reason), retry_in);
    }

    /// The resource's properties with every reference resolved; all must be known now.
    fn resolve_properties(&self, resource: &str) -> Result<Properties, StepError> {
        let spec = &self.approved().desired.resources[resource];
        let resolved = {
            // The state lock is held for the lookup only: provider code (`normalize`) runs
            // without it, so that a panic there cannot poison the stack's state.
            let state = self.state.lock().expect("state lock");
            let resolver = Resolver {
                attributes: &*state,
                upstream: &self.upstream,
                layer_links: &self.approved().layer_links,
                config: &self.plan.config,
                secrets: self.secrets(),
            };
            let is_layer = |name: &str| self.plan.layers.iter().any(|l| l == name);
            refs::resolve_map(&spec.properties, &resolver, &is_layer)
                .map_err(|e| StepError::Unresolved(e.to_string()))?
        };
        let resolved = crate::plan::compare::normalized(&self.registry, &spec.type_name, resolved);
        resolved
            .into_iter()
            .map(|(k, v)| match v.to_known_json() {
                Ok(json) => Ok((k, json)),
                Err(origin) => Err(StepError::Unresolved(format!(
                    "property `{k}` is still unknown at apply time (waits for {origin})"
                ))),
            })
            .collect()
    }

    fn ownership(&self, resource: &str) -> Ownership {
        Ownership {
            workspace: self.context.workspace.clone(),
            stack: self.name().to_string(),
            resource: resource.to_string(),
        }
    }

    fn pending(
        &self,
        resource: &str,
        kind: OperationKind,
        key: Option<String>,
        target_id: Option<String>,
    ) -> PendingOperation {
        let id = uuid::Uuid::new_v4().to_string();
        let idempotency_key = key.unwrap_or_else(|| {
            let seed = format!(
                "{}/{}/{resource}/{kind:?}/{id}",
                self.context.workspace,
                self.name()
            );
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, seed.as_bytes())
                .simple()
                .to_string()
        });
        let spec = self.approved().desired.resources.get(resource);
        let existing = self
            .state
            .lock()
            .expect("state lock")
            .resources
            .get(resource)
            .cloned();
        PendingOperation {
            id,
            resource: resource.to_string(),
            kind,
            type_name: spec
                .map(|s| s.type_name.clone())
                .or(existing.as_ref().map(|e| e.type_name.clone()))
                .unwrap_or_default(),
            region: spec
                .map(|s| s.region.clone())
                .unwrap_or_else(|| existing.and_then(|e| e.region)),
            idempotency_key,
            target_id,
            started_at: chrono::Utc::now(),
            inputs: None,
        }
    }

    /// Journals an operation as pending, before its first cloud call.
    async fn begin(&self, pending: &PendingOperation) -> Result<(), StepError> {
        self.journal(JournalEntry::Begin {
            operation: pending.clone(),
        })
        .await
        .map_err(StepError::state)
    }

    /// Settles a pending operation as done, with the resource's new state (none: deleted).
    async fn done(&self, pending: &PendingOperation, state: Option<ResourceState>) -> OpResult {
        let id = state
            .as_ref()
            .map(|s| s.id.clone())
            .or(pending.target_id.clone())
            .unwrap_or_default();
        let entry = JournalEntry::Done {
            operation: pending.id.clone(),
            resource: pending.resource.clone(),
            state: state.map(Box::new),
        };
        self.journal(entry).await.map_err(StepError::state)?;
        Ok(id)
    }

    /// Settles a pending operation as failed: nothing was carried out.
    async fn fail(&self, pending: &PendingOperation, err: &ProviderError) -> OpResult {
        let message = self.redact(lowercase_first(format!(
            "{:?} of `{}` failed: {err}",
            pending.kind, pending.resource
        )));
        let entry = JournalEntry::Failed {
            operation: pending.id.clone(),
            resource: pending.resource.clone(),
            error: self.redact(err.to_string()),
        };
        self.journal(entry).await.map_err(StepError::state)?;
        Err(StepError::Cloud {
            kind: err.kind,
            code: err.code.clone(),
            message,
        })
    }

    fn provider_of(&self, type_name: &str) -> Result<(Arc<dyn Provider>, String), StepError> {
        let registry = &self.registry;
        let provider = registry
            .provider_for_type(type_name)
            .ok_or_else(|| StepError::NoProvider(type_name.to_string()))?;
        let class = registry
            .schema(type_name)
            .map(|s| s.api.mutate.clone())
            .unwrap_or_default();
        Ok((provider.clone(), class))
    }

    /// Calls the provider under its limits for the resource's region and the type's mutation
    /// class, trying again what the cloud refused before acting (see [`retry::decide`]).
    async fn invoke<T, F, Fut>(
        &self,
        pending: &PendingOperation,
        names: &Json,
        mut call: F,
    ) -> Result<Result<T, ProviderError>, StepError>
    where
        F: FnMut(Arc<dyn Provider>) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let (provider, class) = self.provider_of(&pending.type_name)?;
        let window = self.context.options.consistency_window;
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let result = {
                let _permit = self
                    .context
                    .limits
                    .acquire(provider.name(), pending.region.as_deref(), &class)
                    .await;
                call(provider.clone()).await
            };
            let Err(err) = &result else { return Ok(result) };
            let fresh = self.created.named_in(names, window);
            match retry::decide(err, attempt, started, fresh.as_deref(), window) {
                Decision::Retry { after, reason } => {
                    self.wait_notice(reason, Some(after));
                    tokio::time::sleep(after).await;
                    attempt += 1;
                }
                Decision::GiveUp => return Ok(result),
            }
        }
    }

    pub(super) async fn create(&self, op: &Op) -> OpResult {
        let spec = self.approved().desired.resources[&op.resource].clone();
        let properties = self.resolve_properties(&op.resource)?;
        if let Some(deposed) = &op.deposed_as {
            self.depose(&op.resource, deposed).await?;
        }
        let key = self
            .reuse_keys
            .lock()
            .expect("keys lock")
            .remove(&op.resource);
        let mut pending = self.pending(&op.resource, OperationKind::Create, key, None);
        pending.inputs = Some(properties.clone());
        self.begin(&pending).await?;
        let request = CreateRequest {
            type_name: spec.type_name.clone(),
            region: spec.region.clone(),
            properties: self.opened(&op.resource, &properties)?,
            ownership: self.ownership(&op.resource),
            idempotency_key: pending.idempotency_key.clone(),
        };
        let names = Json::Object(properties.clone());
        for attempt in 1..=CREATE_ATTEMPTS {
            let result = self
                .invoke(&pending, &names, |p| {
                    let request = request.clone();
                    async move { p.create(request).await }
                })
                .await?;
            let err = match result {
                Ok(observed) => {
                    self.created.record(&observed.id);
                    let state = ResourceState {
                        type_name: spec.type_name.clone(),
                        id: observed.id,
                        region: spec.region.clone(),
                        inputs: properties,
                        attributes: self.scrubbed(&spec.type_name, observed.attributes),
                        dependencies: self.dependencies_of(&op.resource),
                        protect: spec.protect,
                        created_at: Some(pending.started_at),
                    };
                    return self.done(&pending, Some(state)).await;
                }
                Err(err) if err.kind == ErrorKind::Ambiguous => err,
                Err(err) => return self.fail(&pending, &err).await,
            };
            match self.look_up(&pending, &err).await {
                Ok(Some(observed)) => return self.adopt(op, &pending, observed).await,
                Ok(None) if attempt < CREATE_ATTEMPTS => self.wait_notice(
                    format!(
                        "`{}` was not created ({}); creating it again with the same idempotency key",
                        op.resource, err.code
                    ),
                    None,
                ),
                Ok(None) => return self.fail(&pending, &err).await,
                Err(lookup) => {
                    return Err(StepError::Unsettled(self.redact(format!(
                        "create of `{}` has an unknown outcome ({err}) and looking it up by its ownership tags failed ({lookup}); the next apply will look for it again",
                        op.resource
                    ))))
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Looks a create with an unknown outcome up by its ownership tags, for up to the lookup
    /// window (the cloud may not list it yet): `None` when it is provably absent.
    pub(super) async fn look_up(
        &self,
        pending: &PendingOperation,
        err: &ProviderError,
    ) -> Result<Option<Observed>, ProviderError> {
        self.wait_notice(
            format!(
                "the outcome of creating `{}` is unknown ({}); looking for it by its ownership tags",
                pending.resource, err.code
            ),
            None,
        );
        let known: Vec<String> = {
            let state = self.state.lock().expect("state lock");
            state.resources.values().map(|r| r.id.clone()).collect()
        };
        let (provider, _) = self
            .provider_of(&pending.type_name)
            .map_err(|m| ProviderError::new(ErrorKind::Invalid, "NoProvider", m.to_string()))?;
        let class = self
            .context
            .registry
            .schema(&pending.type_name)
            .map(|s| s.api.read.clone())
            .unwrap_or_default();
        let deadline = Instant::now() + self.context.options.lookup_window;
        let mut attempt = 1;
        loop {
            let request = ReadRequest {
                type_name: pending.type_name.clone(),
                region: pending.region.clone(),
                ids: Vec::new(),
                owner: Some(self.ownership(&pending.resource)),
            };
            let found = {
                let _permit = self
                    .context
                    .limits
                    .acquire(provider.name(), pending.region.as_deref(), &class)
                    .await;
                provider.read(request).await
            };
            match found {
                Ok(found) => {
                    let mine = found.into_iter().find(|o| {
                        !known.contains(&o.id)
                            && o.ownership.as_ref().is_some_and(|w| {
                                w.stack == self.name() && w.resource == pending.resource
                            })
                    });
                    if let Some(observed) = mine {
                        return Ok(Some(crate::secrets::scrub_observed(
                            self.secrets(),
                            self.registry.schema(&pending.type_name).map(|s| &**s),
                            observed,
                        )));
                    }
                }
                Err(e) if e.kind == ErrorKind::Throttled => {}
                Err(e) => return Err(e),
            }
            let after = retry::backoff(attempt);
            if Instant::now() + after >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(after).await;
            attempt += 1;
        }
    }

    /// Records a resource found after an ambiguous create, then brings it to the desired values
    /// (a failure after the create's first call may have left it part-configured).
    async fn adopt(&self, op: &Op, pending: &PendingOperation, observed: Observed) -> OpResult {
        self.created.record(&observed.id);
        self.events
            .send(Event::ResourceAdopted {
                stack: self.name().to_string(),
                resource: op.resource.clone(),
                id: observed.id.clone(),
            })
            .await;
        let spec = self.approved().desired.resources.get(&op.resource);
        let state = crate::refresh::adopted_state(
            pending,
            &observed,
            spec,
            self.context
                .registry
                .schema(&pending.type_name)
                .map(|s| &**s),
            self.dependencies_of(&op.resource),
        );
        let id = self.done(pending, Some(state.clone())).await?;
        let desired = self.resolve_properties(&op.resource)?;
        let schema = self.context.registry.schema(&state.type_name);
        let differs = schema.is_some_and(|schema| {
            let desired = desired
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_json(v)))
                .collect();
            !crate::plan::diff::changed_fields(&state.inputs, &desired, schema).is_empty()
        });
        if !differs {
            return Ok(id);
        }
        self.wait_notice(
            format!(
                "`{}` ({id}) was found part-configured; bringing it to the desired values",
                op.resource
            ),
            None,
        );
        let base = state.inputs.clone();
        self.update_resource(op, state, base).await
    }

    /// Moves the old half of a create-before-destroy replace aside, under a name of its own.
    async fn depose(&self, resource: &str, deposed: &str) -> Result<(), StepError> {
        let old = self
            .state
            .lock()
            .expect("state lock")
            .resources
            .get(resource)
            .cloned();
        let Some(old) = old else { return Ok(()) };
        let entry = JournalEntry::Done {
            operation: String::new(),
            resource: deposed.to_string(),
            state: Some(Box::new(old)),
        };
        self.journal(entry).await.map_err(StepError::state)
    }

    pub(super) async fn update(&self, op: &Op) -> OpResult {
        let existing = self
            .state
            .lock()
            .expect("state lock")
            .resources
            .get(&op.resource)
            .cloned();
        let existing = existing
            .ok_or_else(|| StepError::Unresolved(format!("`{}` is not in state", op.resource)))?;
        // What the cloud has now (the refreshed view over the last applied inputs): every field
        // where it differs from the desired value is sent.
        let base = self
            .current_view(&op.resource)
            .unwrap_or_else(|| existing.inputs.clone());
        self.update_resource(op, existing, base).await
    }

    /// Updates `existing` from `base` (what the cloud has) to the desired properties.
    async fn update_resource(
        &self,
        op: &Op,
        existing: ResourceState,
        base: Properties,
    ) -> OpResult {
        let spec = self.approved().desired.resources[&op.resource].clone();
        let properties = self.resolve_properties(&op.resource)?;
        let pending = self.pending(
            &op.resource,
            OperationKind::Update,
            None,
            Some(existing.id.clone()),
        );
        self.begin(&pending).await?;
        let request = UpdateRequest {
            type_name: spec.type_name.clone(),
            region: spec.region.clone(),
            id: existing.id.clone(),
            old: self.opened(&op.resource, &base)?,
            new: self.opened(&op.resource, &properties)?,
            ownership: self.ownership(&op.resource),
            idempotency_key: pending.idempotency_key.clone(),
        };
        let names = Json::Object(properties.clone());
        let mut attempt = 1;
        let observed = loop {
            let result = self
                .invoke(&pending, &names, |p| {
                    let request = request.clone();
                    async move { p.update(request).await }
                })
                .await?;
            match result {
                Ok(observed) => break observed,
                Err(err) if err.kind == ErrorKind::Ambiguous && attempt < REPEAT_ATTEMPTS => {
                    self.wait_notice(
                        format!(
                            "the outcome of updating `{}` is unknown ({}); updating again",
                            op.resource, err.code
                        ),
                        None,
                    );
                    attempt += 1;
                }
                Err(err) => return self.fail(&pending, &err).await,
            }
        };
        let state = ResourceState {
            inputs: properties,
            attributes: self.scrubbed(&spec.type_name, observed.attributes),
            dependencies: self.dependencies_of(&op.resource),
            protect: spec.protect,
            ..existing
        };
        self.done(&pending, Some(state)).await
    }

    pub(super) async fn delete(&self, op: &Op) -> OpResult {
        let existing = self
            .state
            .lock()
            .expect("state lock")
            .resources
            .get(&op.state_key)
            .cloned();
        let Some(existing) = existing else {
            return Ok(String::new());
        };
        let mut pending = self.pending(
            &op.resource,
            OperationKind::Delete,
            None,
            Some(existing.id.clone()),
        );
        pending.resource = op.state_key.clone();
        pending.type_name = existing.type_name.clone();
        pending.region = existing.region.clone();
        self.begin(&pending).await?;
        let request = DeleteRequest {
            type_name: existing.type_name.clone(),
            region: existing.region.clone(),
            id: existing.id.clone(),
            properties: self.opened(&op.resource, &existing.inputs)?,
            idempotency_key: pending.idempotency_key.clone(),
        };
        for attempt in 1..=REPEAT_ATTEMPTS {
            let result = self
                .invoke(&pending, &Json::Null, |p| {
                    let request = request.clone();
                    async move { p.delete(request).await }
                })
                .await?;
            match result {
                Ok(()) => return self.done(&pending, None).await,
                Err(err) if err.kind == ErrorKind::Ambiguous && attempt < REPEAT_ATTEMPTS => {
                    if self.is_gone(&existing).await {
                        return self.done(&pending, None).await;
                    }
                    self.wait_notice(
                        format!(
                            "the outcome of deleting `{}` is unknown ({}); deleting again",
                            op.state_key, err.code
                        ),
                        None,
                    );
                }
                Err(err) => return self.fail(&pending, &err).await,
            }
        }
        unreachable!("the last attempt returns")
    }

    /// True when a read by id no longer finds the resource.
    async fn is_gone(&self, existing: &ResourceState) -> bool {
        let Ok((provider, _)) = self.provider_of(&existing.type_name) else {
            return false;
        };
        let request = ReadRequest {
            type_name: existing.type_name.clone(),
            region: existing.region.clone(),
            ids: vec![existing.id.clone()],
            owner: None,
        };
        matches!(provider.read(request).await, Ok(found) if !found.iter().any(|o| o.id == existing.id))
    }
}

fn lowercase_first(text: String) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
