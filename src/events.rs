//! Events emitted while planning, refreshing and applying, for progress displays, NDJSON
//! output (`--json`) and library subscribers. Serialized with an `event` tag; stable field
//! names. Plan and refresh events go to `PlanOptions::events` and [`crate::engine::Terrace::refresh_with`]'s
//! sink; apply events to the sink of `apply` / `apply_with`.

use crate::plan::Action;
use crate::state::LockInfo;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// How a stack ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StackStatus {
    /// Every operation succeeded.
    Succeeded,
    /// It failed.
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
#[non_exhaustive]
pub enum ResourceStatus {
    /// The cloud call succeeded and its result is recorded.
    Done,
    /// It failed.
    Failed,
    /// Not run because something it depends on failed.
    Skipped,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// Planning began: the selected stacks' states are loaded.
    PlanStarted {
        /// Stacks selected.
        stacks: usize,
        /// Whether the cloud is read first.
        refresh: bool,
    },
    /// A refresh (`terrace refresh` or `drift`) began.
    RefreshStarted {
        /// Stacks selected.
        stacks: usize,
    },
    /// A stack's resources were read from the cloud (by a plan's refresh, `refresh` or
    /// `drift`).
    StackRefreshed {
        /// Stack name.
        stack: String,
        /// Resources its state records.
        resources: usize,
        /// Of those, found in the cloud.
        found: usize,
        /// Duration of the reads, in milliseconds.
        elapsed_ms: u64,
    },
    /// A stack's changes are planned.
    StackPlanned {
        /// Stack name.
        stack: String,
        /// Resources that change (every action but no-op).
        changes: usize,
    },
    /// Planning ended.
    PlanFinished {
        /// Resources to create.
        create: usize,
        /// Resources to update in place.
        update: usize,
        /// Resources to replace.
        replace: usize,
        /// Resources to delete.
        delete: usize,
    },
    /// A refresh ended.
    RefreshFinished {
        /// Resources that drifted.
        drifted: usize,
        /// Resources gone from the cloud.
        vanished: usize,
    },
    /// The apply began.
    ApplyStarted {
        /// Stacks in the plan.
        stacks: usize,
        /// Number of resource changes.
        changes: usize,
    },
    /// A wave of a staged rollout begins.
    WaveStarted {
        /// The rollout (`layer` or `layer/group`).
        rollout: String,
        /// Wave number, from 1.
        wave: usize,
        /// Number of waves.
        waves: usize,
        /// The stacks of the wave.
        stacks: Vec<String>,
    },
    /// A wave of a staged rollout ended.
    WaveFinished {
        /// The rollout.
        rollout: String,
        /// Wave number, from 1.
        wave: usize,
        /// Whether the gate after it passed (`None`: no gate ran).
        gate_passed: Option<bool>,
    },
    /// A staged rollout stopped: its later waves are not touched.
    RolloutStopped {
        /// The rollout.
        rollout: String,
        /// Why.
        reason: String,
        /// Stacks not started.
        remaining: Vec<String>,
    },
    /// A stack began (before taking its lock).
    StackStarted {
        /// Stack name.
        stack: String,
        /// Number of resource changes.
        changes: usize,
    },
    /// A stack waits for its lock, held by someone else.
    LockWaiting {
        /// Stack name.
        stack: String,
        /// The lock holder.
        holder: LockInfo,
    },
    /// A resource created by an interrupted apply was found by its ownership tags and recorded.
    ResourceAdopted {
        /// Stack name.
        stack: String,
        /// Resource name within its stack.
        resource: String,
        /// Cloud id of the adopted resource.
        id: String,
    },
    /// A resource operation waits: a retry after throttling, an id the cloud does not show
    /// yet, a create whose outcome is unknown being looked up by its ownership tags.
    ResourceWaiting {
        /// Stack name.
        stack: String,
        /// Resource name within its stack.
        resource: String,
        /// What is waited for, for a person.
        reason: String,
        /// Milliseconds until the next attempt, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<u64>,
    },
    /// A state entry moved to another name or stack (`moved:`); the cloud object is kept.
    ResourceMoved {
        /// Where it was: `STACK:RESOURCE`.
        from: String,
        /// Where it is now.
        to: String,
        /// Its cloud id.
        id: String,
    },
    /// A resource operation began.
    ResourceStarted {
        /// Stack name.
        stack: String,
        /// Resource name within its stack.
        resource: String,
        /// The planned action.
        action: Action,
    },
    /// A resource operation ended.
    ResourceFinished {
        /// Stack name.
        stack: String,
        /// Resource name within its stack.
        resource: String,
        /// The planned action.
        action: Action,
        /// How it ended.
        status: ResourceStatus,
        /// Cloud id.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Why it failed or was skipped.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Duration of the cloud call, in milliseconds.
        elapsed_ms: u64,
    },
    /// A stack ended.
    StackFinished {
        /// Stack name.
        stack: String,
        /// How it ended.
        status: StackStatus,
        /// What happened, for a person.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A stack's deletes that waited for the stacks below begin (those stacks have finished):
    /// old copies of replaced resources and removed resources they used.
    CleanupStarted {
        /// Stack name.
        stack: String,
        /// The state entries to delete.
        resources: Vec<String>,
    },
    /// Those deletes ended; a failed one keeps its state entry for the next apply.
    CleanupFinished {
        /// Stack name.
        stack: String,
        /// Deletes that failed.
        failed: usize,
    },
    /// The apply ended.
    ApplyFinished {
        /// Stacks that succeeded.
        succeeded: usize,
        /// Stacks that failed, were refused or were locked out.
        failed: usize,
        /// Stacks skipped because a stack they depend on did not succeed.
        skipped: usize,
    },
}

/// How many events a [`EventSink::channel`] holds before the run waits for its reader.
pub const CHANNEL_CAPACITY: usize = 1024;

/// Where events go. Cloning shares the channel.
///
/// [`EventSink::channel`] is bounded: a reader that falls behind holds the run back
/// (backpressure: [`EventSink::send`] waits for room), so memory stays bounded whatever the
/// reader does, and a dropped receiver is ignored (a program that stops listening never
/// blocks the run). **Read it while the run goes on** (a task of its own): a receiver that is
/// kept but read only after the call returns holds the run — and its stack locks — once
/// [`CHANNEL_CAPACITY`] events wait. To collect events and read them afterwards, use
/// [`EventSink::collector`] (unbounded). The few events raised from synchronous callbacks —
/// a provider's or a lock's wait notices ([`Event::ResourceWaiting`], [`Event::LockWaiting`])
/// — are progress notices: on a full channel they are dropped and counted
/// ([`EventSink::dropped`]); every other event is always delivered.
#[derive(Debug, Clone, Default)]
pub struct EventSink {
    sender: Option<Sender>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Debug, Clone)]
enum Sender {
    Bounded(mpsc::Sender<Event>),
    Unbounded(mpsc::UnboundedSender<Event>),
}

impl EventSink {
    /// A sink and its receiving end, holding [`CHANNEL_CAPACITY`] events.
    pub fn channel() -> (EventSink, mpsc::Receiver<Event>) {
        EventSink::bounded(CHANNEL_CAPACITY)
    }

    /// A sink and its receiving end, holding `capacity` events (at least 1).
    pub fn bounded(capacity: usize) -> (EventSink, mpsc::Receiver<Event>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (
            EventSink {
                sender: Some(Sender::Bounded(sender)),
                dropped: Default::default(),
            },
            receiver,
        )
    }

    /// A sink that keeps every event until it is read, however many: for a caller that reads
    /// the events after the call returns (memory grows with the run).
    pub fn collector() -> (EventSink, mpsc::UnboundedReceiver<Event>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (
            EventSink {
                sender: Some(Sender::Unbounded(sender)),
                dropped: Default::default(),
            },
            receiver,
        )
    }

    /// A sink that drops everything.
    pub fn none() -> EventSink {
        EventSink::default()
    }

    /// Sends an event, waiting while the channel is full; nothing happens when nobody listens.
    pub async fn send(&self, event: Event) {
        match &self.sender {
            Some(Sender::Bounded(sender)) => {
                let _ = sender.send(event).await;
            }
            Some(Sender::Unbounded(sender)) => {
                let _ = sender.send(event);
            }
            None => {}
        }
    }

    /// The wait callback of a stack's lock ([`crate::state::StackLock::acquire`]): a
    /// [`Event::LockWaiting`] naming the holder, sent with [`EventSink::notify`].
    pub fn lock_waiting<'a>(&'a self, stack: &'a str) -> impl Fn(&LockInfo) + 'a {
        move |holder| {
            self.notify(Event::LockWaiting {
                stack: stack.to_string(),
                holder: holder.clone(),
            })
        }
    }

    /// Sends an event from synchronous code when there is room; otherwise it is dropped and
    /// counted. For wait notices only (see the type's documentation).
    pub fn notify(&self, event: Event) {
        match &self.sender {
            Some(Sender::Bounded(sender)) => {
                if let Err(mpsc::error::TrySendError::Full(_)) = sender.try_send(event) {
                    self.dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Some(Sender::Unbounded(sender)) => {
                let _ = sender.send(event);
            }
            None => {}
        }
    }

    /// Wait notices dropped because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}
