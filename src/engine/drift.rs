//! `refresh` and `drift`: read the cloud for the selected stacks and report the drift. `refresh`
//! also records what it found in state (attributes, inputs changed outside Terrace, resources
//! that vanished); `drift` only reports.

use super::{Selector, Terrace};
use crate::events::{Event, EventSink};
use crate::refresh::refresh_stack;
use crate::state::{StackLock, StateError};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Drift of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Stack name.
    pub stack: String,
    /// Resource name within its stack.
    pub resource: String,
    /// Fields (dotted paths for nested leaves) whose cloud value differs from the last applied
    /// one; empty if it vanished.
    pub fields: Vec<String>,
    /// The same fields with both values (secrets stay sealed, and show as `[secret]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::plan::compare::FieldDrift>,
    /// True when the resource no longer exists in the cloud.
    pub vanished: bool,
}

/// What a refresh found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshReport {
    /// Stacks with state that were refreshed.
    pub stacks: usize,
    /// Resources read.
    pub resources: usize,
    /// Resources that drifted or vanished.
    pub drift: Vec<Drift>,
    /// Live resources found outside their group's jurisdiction.
    #[serde(default)]
    pub outside_jurisdiction: Vec<Misplaced>,
}

/// A live resource outside its group's jurisdiction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Misplaced {
    /// Stack name.
    pub stack: String,
    /// Resource name.
    pub resource: String,
    /// Where it lives.
    pub region: String,
    /// The group's jurisdiction.
    pub jurisdiction: String,
}

/// The `RefreshFinished` of a report.
fn finished(report: &RefreshReport) -> Event {
    Event::RefreshFinished {
        drifted: report.drift.iter().filter(|d| !d.vanished).count(),
        vanished: report.drift.iter().filter(|d| d.vanished).count(),
    }
}

impl Terrace {
    /// Refreshes the state of the selected stacks from the cloud.
    pub async fn refresh(
        &self,
        selector: &Selector,
        lock_timeout: Duration,
    ) -> Result<RefreshReport, Error> {
        self.refresh_with(selector, lock_timeout, EventSink::none())
            .await
    }

    /// [`Terrace::refresh`], reporting its progress to `events` (`RefreshStarted`, a
    /// `StackRefreshed` per stack, `RefreshFinished`).
    pub async fn refresh_with(
        &self,
        selector: &Selector,
        lock_timeout: Duration,
        events: EventSink,
    ) -> Result<RefreshReport, Error> {
        let mut report = RefreshReport::default();
        let stacks = self.stacks(selector)?;
        events
            .send(Event::RefreshStarted {
                stacks: stacks.len(),
            })
            .await;
        for stack in stacks {
            let name = stack.name.clone();
            let lock = self.lock_stack(&name, "refresh", lock_timeout).await?;
            let result = self.refresh_one(&name, &mut report, true, &events).await;
            let released = lock.release().await;
            result?;
            released?;
        }
        events.send(finished(&report)).await;
        Ok(report)
    }

    /// Takes a stack's lock for `operation`, waiting up to `timeout` for another holder.
    pub(super) async fn lock_stack(
        &self,
        stack: &str,
        operation: &str,
        timeout: Duration,
    ) -> Result<StackLock, Error> {
        StackLock::acquire(&self.backend, stack, operation, timeout, |_| {})
            .await
            .map_err(|e| match e {
                StateError::Locked { stack, holder } => Error::Locked { stack, holder },
                other => Error::State(other),
            })
    }

    /// Like [`Terrace::refresh`], but only reports: state is neither locked nor written
    /// (`terrace drift`).
    pub async fn drift(&self, selector: &Selector) -> Result<RefreshReport, Error> {
        self.drift_with(selector, EventSink::none()).await
    }

    /// [`Terrace::drift`], reporting its progress to `events` as [`Terrace::refresh_with`].
    pub async fn drift_with(
        &self,
        selector: &Selector,
        events: EventSink,
    ) -> Result<RefreshReport, Error> {
        let mut report = RefreshReport::default();
        let stacks = self.stacks(selector)?;
        events
            .send(Event::RefreshStarted {
                stacks: stacks.len(),
            })
            .await;
        for stack in stacks {
            self.refresh_one(&stack.name, &mut report, false, &events)
                .await?;
        }
        events.send(finished(&report)).await;
        Ok(report)
    }

    /// Resources of a stack whose region lies outside its group's jurisdiction.
    fn misplaced(&self, stack: &str, state: &crate::state::StackState) -> Vec<Misplaced> {
        let group = self.rendered(stack).map(|r| r.spec.instance.group.clone());
        let Some(jurisdiction) = group
            .and_then(|g| self.workspace.group(&g))
            .and_then(|g| g.residency.clone())
        else {
            return Vec::new();
        };
        let data =
            crate::policy::residency::Jurisdictions::load(&self.workspace.settings.jurisdictions);
        state
            .resources
            .iter()
            .filter_map(|(name, resource)| {
                let region = resource.region.clone()?;
                let cloud = resource.type_name.split(':').next().unwrap_or_default();
                (!data.allows_region(&jurisdiction, cloud, &region)).then(|| Misplaced {
                    stack: stack.to_string(),
                    resource: name.clone(),
                    region,
                    jurisdiction: jurisdiction.clone(),
                })
            })
            .collect()
    }

    /// Reads one stack's resources into `report`; with `record`, writes what changed.
    async fn refresh_one(
        &self,
        name: &str,
        report: &mut RefreshReport,
        record: bool,
        events: &EventSink,
    ) -> Result<(), Error> {
        let Some(mut state) = self.backend.load(name).await? else {
            return Ok(());
        };
        report.stacks += 1;
        report.resources += state.resources.len();
        report
            .outside_jurisdiction
            .extend(self.misplaced(name, &state));
        let registry = self.registry_for(&state.providers)?;
        let started = std::time::Instant::now();
        let refreshed = refresh_stack(
            &registry,
            &self.limits,
            &self.workspace.name,
            &state,
            self.secrets.as_deref(),
        )
        .await
        .map_err(|e| Error::Apply(format!("refreshing stack {name}: {e}")))?;
        events
            .send(crate::refresh::refreshed_event(
                name, &state, &refreshed, started,
            ))
            .await;
        let before = state.clone();
        for (resource, current) in state.resources.iter_mut() {
            let Some(observed) = refreshed.observations.found.get(resource) else {
                report.drift.push(Drift {
                    stack: name.into(),
                    resource: resource.clone(),
                    fields: vec![],
                    changes: vec![],
                    vanished: true,
                });
                continue;
            };
            // The plan's own comparison: unordered lists as sets, nested values leaf by leaf.
            let changes = match self.registry.schema(&current.type_name) {
                Some(schema) => {
                    crate::plan::compare::drift(&current.inputs, &observed.properties, schema)
                }
                None => Vec::new(),
            };
            let top: std::collections::BTreeSet<&str> = changes
                .iter()
                .map(|c| c.field.split(['.', '[']).next().unwrap_or_default())
                .collect();
            for field in top {
                let cloud = crate::plan::compare::cloud_value(
                    self.registry
                        .schema(&current.type_name)
                        .and_then(|s| s.field(field)),
                    &observed.properties[field],
                    &current.inputs.get(field).into_iter().collect::<Vec<_>>(),
                );
                current.inputs.insert(field.to_string(), cloud);
            }
            // Attributes the cloud lists in another order are not a change worth a new serial.
            if !same_in_any_order(&current.attributes, &observed.attributes) {
                current.attributes = observed.attributes.clone();
            }
            if !changes.is_empty() {
                report.drift.push(Drift {
                    stack: name.into(),
                    resource: resource.clone(),
                    fields: changes.iter().map(|c| c.field.clone()).collect(),
                    changes,
                    vanished: false,
                });
            }
        }
        state
            .resources
            .retain(|r, _| refreshed.observations.found.contains_key(r));
        if record && state != before {
            state.serial += 1;
            state.updated_at = Some(chrono::Utc::now());
            self.backend.save(&state, state.snapshot_serial).await?;
        }
        Ok(())
    }
}

/// True when two JSON maps hold the same values, lists compared in any order.
fn same_in_any_order(
    a: &serde_json::Map<String, serde_json::Value>,
    b: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    fn canonical(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Array(items) => {
                let mut items: Vec<serde_json::Value> = items.iter().map(canonical).collect();
                items.sort_by_cached_key(|i| i.to_string());
                serde_json::Value::Array(items)
            }
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect(),
            ),
            other => other.clone(),
        }
    }
    canonical(&serde_json::Value::Object(a.clone()))
        == canonical(&serde_json::Value::Object(b.clone()))
}
