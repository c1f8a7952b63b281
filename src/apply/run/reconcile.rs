//! Before a stack's operations: refresh, adoption of resources an interrupted apply
//! created, and the pending operations the refresh settled.

use super::{StackRun, Stop};
use crate::events::{Event, StackStatus};
use crate::plan::stack::Observations;
use crate::refresh::refresh_stack;
use crate::state::{JournalEntry, OperationKind};
use serde_json::Value as Json;

impl StackRun {
    /// Refreshes, adopts resources created before an interruption, and clears the pending
    /// operations the refresh has settled.
    pub(super) async fn reconcile(&self) -> Result<Observations, Stop> {
        let snapshot = self.state.lock().expect("state lock").clone();
        if !self.context.options.refresh && snapshot.pending.is_empty() {
            return Ok(Observations::default());
        }
        if let Some(secrets) = self.secrets() {
            // What the cloud echoes of the desired secrets is sealed again by the refresh.
            for resource in self.approved().desired.resources.values() {
                secrets.learn(&Json::Object(resource.properties.clone()));
            }
        }
        let refreshed = refresh_stack(
            &self.registry,
            &self.context.limits,
            &self.context.workspace,
            &snapshot,
            self.secrets(),
            self.context.options.consistency_window,
            &self.events,
        )
        .await
        .map_err(|e| Stop {
            status: StackStatus::Failed,
            message: self.redact(format!("refresh failed: {e}")),
        })?;
        let mut observations = refreshed.observations;
        for pending in &snapshot.pending {
            let listed = refreshed
                .adoptable
                .get(&pending.resource)
                .filter(|_| pending.kind == OperationKind::Create)
                .cloned();
            let adopted = match listed {
                Some(observed) => Some(observed),
                None => self.look_up_recent(pending).await,
            };
            let entry = match adopted.as_ref() {
                Some(observed) => {
                    let spec = self.approved().desired.resources.get(&pending.resource);
                    let state = crate::refresh::adopted_state(
                        pending,
                        observed,
                        spec,
                        self.context
                            .registry
                            .schema(&pending.type_name)
                            .map(|s| &**s),
                        self.dependencies_of(&pending.resource),
                    );
                    self.events
                        .send(Event::ResourceAdopted {
                            stack: self.name().to_string(),
                            resource: pending.resource.clone(),
                            id: observed.id.clone(),
                        })
                        .await;
                    observations
                        .found
                        .insert(pending.resource.clone(), observed.clone());
                    JournalEntry::Done {
                        operation: pending.id.clone(),
                        resource: pending.resource.clone(),
                        state: Some(Box::new(state)),
                    }
                }
                None => {
                    if pending.kind == OperationKind::Create {
                        self.reuse_keys
                            .lock()
                            .expect("keys lock")
                            .insert(pending.resource.clone(), pending.idempotency_key.clone());
                    }
                    let vanished = pending.kind == OperationKind::Delete
                        && !observations.found.contains_key(&pending.resource);
                    if vanished {
                        observations.found.remove(&pending.resource);
                        JournalEntry::Done {
                            operation: pending.id.clone(),
                            resource: pending.resource.clone(),
                            state: None,
                        }
                    } else {
                        JournalEntry::Failed {
                            operation: pending.id.clone(),
                            resource: pending.resource.clone(),
                            error: "interrupted; settled by refresh".into(),
                        }
                    }
                }
            };
            self.journal(entry).await?;
        }
        if !self.context.options.refresh {
            observations.refreshed = false;
        }
        Ok(observations)
    }

    /// A create interrupted less than the lookup window ago that the refresh did not list: the
    /// cloud may not list a new object yet (EC2 is eventually consistent: "it might take a few
    /// moments for the resource to appear in Describe results", EC2 API reference, "Eventual
    /// consistency"), and creates such as CreateVpc and AllocateAddress take no client token,
    /// so creating it again would make a second one. Looked up by its ownership tags for up to
    /// the lookup window; `None` when it is not found (or the lookup fails).
    async fn look_up_recent(
        &self,
        pending: &crate::state::PendingOperation,
    ) -> Option<crate::provider::Observed> {
        if pending.kind != OperationKind::Create {
            return None;
        }
        let window = chrono::Duration::from_std(self.context.options.lookup_window).ok()?;
        if chrono::Utc::now() - pending.started_at >= window {
            return None;
        }
        let interrupted = crate::provider::ProviderError::new(
            crate::provider::ErrorKind::Ambiguous,
            "Interrupted",
            "the apply that sent it was interrupted",
        );
        self.look_up(pending, &interrupted).await.ok().flatten()
    }
}
