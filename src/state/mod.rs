//! State: what Terrace knows exists in the cloud, one document per stack — serial, lineage,
//! resources (type, id, region, inputs, attributes, dependencies, protect), outputs and pending
//! operations. During apply every operation is journalled (pending before the cloud call, the
//! result after it) so that a crash at any point leaves a record to recover from.

pub mod backend;
pub mod file;
pub mod lock;
pub mod memory;
pub mod moves;
pub mod open;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use terrace_provider::Properties;

pub use backend::{Backend, BackendOpener, LockInfo, Probe, StateError};
pub use lock::StackLock;
pub use open::{open_backend, BackendOpeners};

/// The state format version written by this build.
pub const STATE_VERSION: u32 = 1;

/// The state of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackState {
    /// State format version ([`STATE_VERSION`]).
    pub version: u32,
    /// Stack name.
    pub stack: String,
    /// The stack instance the state belongs to (layer, group, replica, cloud, region), as
    /// the last apply that wrote it saw it: what a stack removed from the configuration is
    /// known by. `None` in states written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<crate::config::StackInstance>,
    /// Identifies this stack's history; a state from another lineage is never overwritten.
    pub lineage: String,
    /// Increases with every saved snapshot.
    pub serial: u64,
    /// Resources, by name.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceState>,
    /// Outputs, by name.
    #[serde(default)]
    pub outputs: BTreeMap<String, Json>,
    /// The provider configuration the stack's resources were created with (its `providers:`,
    /// resolved; secrets sealed), by provider name: where they live (an assumed role's
    /// account, a project). Recorded before the first operation that uses it; empty: the
    /// workspace's providers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, Properties>,
    /// Operations started but whose result was never recorded (a crash, a lost answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingOperation>,
    /// When the snapshot was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Serial of the stored snapshot this state was loaded from (`None`: no snapshot yet);
    /// the expected value for the next compare-and-swap save. Not persisted.
    #[serde(skip)]
    pub snapshot_serial: Option<u64>,
}

/// One managed resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// Resource type, e.g. `aws:ec2:Vpc`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Cloud id (for a pending operation: its own id).
    pub id: String,
    /// Region, or none for global resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The properties last applied.
    pub inputs: Properties,
    /// Attributes computed by the cloud.
    #[serde(default)]
    pub attributes: Properties,
    /// Resources of the same stack this one depends on (for delete order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    /// A protected resource is never deleted or replaced without an explicit override.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
    /// When Terrace's create of it began (an adopted create: when the interrupted create
    /// began); `None` for resources imported, or recorded before this field existed. An apply
    /// started moments later treats a not-found answer naming its id as the cloud not having
    /// propagated it yet, as for ids it created itself ([`crate::apply::retry`]), and a
    /// refresh reads it again before taking it for deleted ([`crate::refresh`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl ResourceState {
    /// A resource of `type_name` (e.g. `aws:ec2:Vpc`) with cloud id `id` and nothing else
    /// recorded: no region, inputs, attributes or dependencies, not protected, no creation
    /// time. Fields are public; set the rest with struct update syntax.
    pub fn new(type_name: impl Into<String>, id: impl Into<String>) -> ResourceState {
        ResourceState {
            type_name: type_name.into(),
            id: id.into(),
            region: None,
            inputs: Properties::new(),
            attributes: Properties::new(),
            dependencies: Vec::new(),
            protect: false,
            created_at: None,
        }
    }

    /// How long ago Terrace's create of it began, at `now`; `None` without a creation time.
    /// A creation time ahead of `now` (another machine's clock) counts as just created.
    pub fn age(&self, now: DateTime<Utc>) -> Option<std::time::Duration> {
        Some((now - self.created_at?).to_std().unwrap_or_default())
    }

    /// Inputs overlaid with attributes, plus `id`: what references can read.
    pub fn readable(&self) -> Properties {
        let mut all = self.inputs.clone();
        for (k, v) in &self.attributes {
            all.insert(k.clone(), v.clone());
        }
        all.insert("id".to_string(), Json::String(self.id.clone()));
        all
    }
}

/// Kinds of cloud operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// A create.
    Create,
    /// An in-place update.
    Update,
    /// A delete.
    Delete,
}

/// An operation recorded before its cloud call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingOperation {
    /// Cloud id (for a pending operation: its own id).
    pub id: String,
    /// Resource name within its stack.
    pub resource: String,
    /// What the operation does.
    pub kind: OperationKind,
    /// Resource type, e.g. `aws:ec2:Vpc`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Region, or none for global resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Derived from stack, resource and operation: a retry never acts twice.
    pub idempotency_key: String,
    /// The cloud id the operation acts on (update, delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// When the operation started.
    pub started_at: DateTime<Utc>,
    /// For a create: the inputs sent (secrets sealed). A resource adopted after an interrupted
    /// create records them for the fields its provider cannot read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Map<String, serde_json::Value>>,
}

/// One line of a stack's journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
#[non_exhaustive]
pub enum JournalEntry {
    /// Written (and flushed) before the cloud call.
    Begin {
        /// The operation about to be made.
        operation: PendingOperation,
    },
    /// The call succeeded: the resource's new state, or `None` when it was deleted.
    Done {
        /// Id of the pending operation it settles.
        operation: String,
        /// Resource name within its stack.
        resource: String,
        /// The resource's new state, or `None` when it was deleted.
        state: Option<Box<ResourceState>>,
    },
    /// The call failed and certainly changed nothing.
    Failed {
        /// Id of the pending operation it settles.
        operation: String,
        /// Resource name within its stack.
        resource: String,
        /// The error.
        error: String,
    },
    /// The stack's operations from here on use this provider configuration (see
    /// [`StackState::providers`]); written before the first of them.
    Providers {
        /// Provider name → resolved configuration.
        providers: BTreeMap<String, Properties>,
    },
}

impl StackState {
    /// An empty state for a stack never applied.
    pub fn new(stack: &str) -> StackState {
        StackState {
            version: STATE_VERSION,
            stack: stack.to_string(),
            instance: None,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
            pending: Vec::new(),
            providers: BTreeMap::new(),
            updated_at: None,
            snapshot_serial: None,
        }
    }

    /// A snapshot (or, with none, a fresh state of the journal's lineage) with a journal's
    /// entries replayed in order, up to the first that does not parse (a torn last write). A
    /// replayed journal counts as one more serial than its snapshot. Every backend loads this
    /// way.
    pub fn replayed<'a>(
        stack: &str,
        snapshot: Option<StackState>,
        lineage: &str,
        entries: impl IntoIterator<Item = &'a [u8]>,
    ) -> StackState {
        let mut state = snapshot.unwrap_or_else(|| {
            let mut fresh = StackState::new(stack);
            fresh.lineage = lineage.to_string();
            fresh
        });
        let mut replayed = 0;
        for bytes in entries {
            match serde_json::from_slice::<JournalEntry>(bytes) {
                Ok(entry) => {
                    state.apply_entry(&entry);
                    replayed += 1;
                }
                Err(_) => break, // a torn last write
            }
        }
        if replayed > 0 {
            state.serial += 1;
        }
        state
    }

    /// Applies one journal entry.
    pub fn apply_entry(&mut self, entry: &JournalEntry) {
        match entry {
            JournalEntry::Begin { operation } => self.pending.push(operation.clone()),
            JournalEntry::Done {
                operation,
                resource,
                state,
            } => {
                self.pending.retain(|p| &p.id != operation);
                match state {
                    Some(state) => {
                        self.resources.insert(resource.clone(), (**state).clone());
                    }
                    None => {
                        self.resources.remove(resource);
                    }
                }
            }
            JournalEntry::Failed { operation, .. } => self.pending.retain(|p| &p.id != operation),
            JournalEntry::Providers { providers } => self.providers = providers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(id: &str) -> ResourceState {
        ResourceState::new("test:Network", id)
    }

    fn begin(id: &str, resource: &str) -> JournalEntry {
        JournalEntry::Begin {
            operation: PendingOperation {
                id: id.into(),
                resource: resource.into(),
                kind: OperationKind::Create,
                type_name: "test:Network".into(),
                region: None,
                idempotency_key: "k".into(),
                target_id: None,
                started_at: Utc::now(),
                inputs: None,
            },
        }
    }

    #[test]
    fn journal_replay_tracks_pending_and_results() {
        let mut state = StackState::new("s");
        state.apply_entry(&begin("op1", "a"));
        state.apply_entry(&begin("op2", "b"));
        state.apply_entry(&JournalEntry::Done {
            operation: "op1".into(),
            resource: "a".into(),
            state: Some(Box::new(resource("id-a"))),
        });
        assert_eq!(state.pending.len(), 1, "op2 has no result yet");
        assert_eq!(state.pending[0].resource, "b");
        assert_eq!(state.resources["a"].id, "id-a");
        state.apply_entry(&JournalEntry::Done {
            operation: "x".into(),
            resource: "a".into(),
            state: None,
        });
        assert!(state.resources.is_empty());
    }
}
