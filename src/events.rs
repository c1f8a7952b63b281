//! Events emitted while planning and applying, for progress displays, NDJSON output
//! (`--json`) and library subscribers. Serialized with an `event` tag; stable field names.

use crate::plan::Action;
use crate::state::LockInfo;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// How a stack ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StackStatus {
    Succeeded,
    Failed,
    /// Not run because a stack it depends on failed or was skipped.
    Skipped,
    /// Stopped before any change: its state moved or the re-plan exceeds the approved plan.
    Refused,
    /// Its lock was held by someone else past the lock timeout.
    Locked,
}

/// How a resource operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    Done,
    Failed,
    Skipped,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    ApplyStarted {
        stacks: usize,
        changes: usize,
    },
    StackStarted {
        stack: String,
        changes: usize,
    },
    LockWaiting {
        stack: String,
        holder: LockInfo,
    },
    ResourceAdopted {
        stack: String,
        resource: String,
        id: String,
    },
    ResourceStarted {
        stack: String,
        resource: String,
        action: Action,
    },
    ResourceFinished {
        stack: String,
        resource: String,
        action: Action,
        status: ResourceStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        elapsed_ms: u64,
    },
    StackFinished {
        stack: String,
        status: StackStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    ApplyFinished {
        succeeded: usize,
        failed: usize,
        skipped: usize,
    },
}

/// Where events go. Cloning shares the channel; a dropped receiver is ignored.
#[derive(Debug, Clone, Default)]
pub struct EventSink {
    sender: Option<mpsc::UnboundedSender<Event>>,
}

impl EventSink {
    /// A sink and its receiving end.
    pub fn channel() -> (EventSink, mpsc::UnboundedReceiver<Event>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (
            EventSink {
                sender: Some(sender),
            },
            receiver,
        )
    }

    /// A sink that drops everything.
    pub fn none() -> EventSink {
        EventSink { sender: None }
    }

    pub fn emit(&self, event: Event) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(event);
        }
    }
}
