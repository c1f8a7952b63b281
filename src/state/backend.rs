//! The state backend contract: load a stack's state (snapshot plus journal), append journal
//! entries, save a snapshot with compare-and-swap on the serial, and lock a stack. Backends know
//! nothing of providers; secrets are encrypted before state sees them.

use super::{JournalEntry, StackState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Who holds a stack's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Unique id of this lock (only its holder unlocks it).
    pub id: String,
    /// User name of the holder.
    pub holder: String,
    /// Host name of the holder.
    pub host: String,
    /// Process id of the holder.
    pub pid: u32,
    /// What the holder is doing (`apply`, `destroy`, ...).
    pub operation: String,
    /// When the lock was taken.
    pub created_at: DateTime<Utc>,
}

impl LockInfo {
    /// A lock for the current process.
    pub fn for_operation(operation: &str) -> LockInfo {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_default();
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            holder: if user.is_empty() {
                "unknown".into()
            } else {
                user
            },
            host: gethostname::gethostname().to_string_lossy().to_string(),
            pid: std::process::id(),
            operation: operation.to_string(),
            created_at: Utc::now(),
        }
    }

    /// A holder that cannot be read (its lock vanished or does not parse): still locked.
    pub fn unknown() -> LockInfo {
        LockInfo {
            id: "unknown".into(),
            holder: "unknown".into(),
            host: "unknown".into(),
            pid: 0,
            operation: "unknown".into(),
            created_at: Utc::now(),
        }
    }
}

impl fmt::Display for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {} (pid {}) for `{}` since {} (lock id {})",
            self.holder,
            self.host,
            self.pid,
            self.operation,
            self.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.id
        )
    }
}

/// State backend failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A file or network operation failed.
    #[error("state I/O on {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A state file does not parse.
    #[error("state file {path} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        message: String,
    },
    /// Someone else holds the stack's lock.
    #[error("stack {stack} is locked by {holder}")]
    Locked {
        /// Stack name.
        stack: String,
        /// The lock holder.
        holder: Box<LockInfo>,
    },
    #[error(
        "state of stack {stack} changed meanwhile: expected serial {}, found {}",
        serial(expected),
        serial(found)
    )]
    /// The stored serial is not the expected one (compare-and-swap failed).
    SerialConflict {
        /// Stack name.
        stack: String,
        /// The serial expected.
        expected: Option<u64>,
        /// The serial found.
        found: Option<u64>,
    },
    /// The stored state belongs to another lineage.
    #[error("state of stack {stack} belongs to lineage {found}, not {expected}")]
    LineageMismatch {
        /// Stack name.
        stack: String,
        /// The lineage expected.
        expected: String,
        /// The lineage found.
        found: String,
    },
    /// The current credentials may not make a call the stack's state needs (found by
    /// [`Backend::probe`], before anything was written).
    #[error("{call} on {target} was denied: {message}")]
    Denied {
        /// Stack name.
        stack: String,
        /// The denied call, as the cloud names its permission (`s3:PutObject`).
        call: String,
        /// What it was called on (`s3://bucket/key`, `dynamodb://table/LockID`).
        target: String,
        /// The cloud's answer.
        message: String,
    },
    /// The backend URL is not supported.
    #[error("unsupported state backend `{0}`: use file://PATH")]
    Unsupported(String),
    /// The backend URL has a supported scheme but is malformed.
    #[error("invalid state backend URL `{url}`: {message}")]
    InvalidUrl {
        /// The URL as written.
        url: String,
        /// What is wrong, with an example of a correct URL.
        message: String,
    },
}

impl StateError {
    /// An I/O error on a path.
    pub fn io(path: &Path, source: std::io::Error) -> StateError {
        StateError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What [`Backend::probe`] checks that the current credentials may do to a stack's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Probe {
    /// Read its snapshot and journal (plan, output; the outputs of an upstream stack).
    Read,
    /// Write its snapshot and journal and take its lock (apply, destroy, refresh, import).
    Write,
    /// Remove its lock whoever holds it (`state unlock`).
    Unlock,
}

/// Where stack states live.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The stack's state with its journal replayed, or `None` if it was never written. A
    /// replayed journal counts as one more serial than its snapshot.
    async fn load(&self, stack: &str) -> Result<Option<StackState>, StateError>;

    /// Appends a journal entry; `base_serial` is the serial of the snapshot it follows.
    /// Requires the stack's lock.
    async fn append(
        &self,
        stack: &str,
        base_serial: u64,
        entry: &JournalEntry,
    ) -> Result<(), StateError>;

    /// Writes `state` as the new snapshot (keeping the previous one), if the stored snapshot's
    /// serial is still `expected` (`None`: no snapshot yet), and clears the journal.
    async fn save(&self, state: &StackState, expected: Option<u64>) -> Result<(), StateError>;

    /// Takes the stack's lock, or fails with [`StateError::Locked`] naming the holder.
    async fn lock(&self, stack: &str, info: &LockInfo) -> Result<(), StateError>;

    /// Releases a lock this holder took.
    async fn unlock(&self, stack: &str, lock_id: &str) -> Result<(), StateError>;

    /// Removes any lock on the stack (for a stale lock), returning what it was.
    async fn force_unlock(&self, stack: &str) -> Result<Option<LockInfo>, StateError>;

    /// The current lock holder, if any.
    async fn lock_info(&self, stack: &str) -> Result<Option<LockInfo>, StateError>;

    /// Names of every stack with a state.
    async fn list(&self) -> Result<Vec<String>, StateError>;

    /// Serials of the kept previous versions, oldest first.
    async fn history(&self, stack: &str) -> Result<Vec<u64>, StateError>;

    /// Checks that the current credentials may do `probe` on the stack's state, with the real
    /// calls made so that they cannot change anything (a read, a conditional write or lock
    /// attempt whose condition never holds): a refusal is [`StateError::Denied`] naming the
    /// call, and nothing is written and no lock is taken either way. Backends without access
    /// control of their own accept everything (the default; `file://` leaves it to the file
    /// system).
    async fn probe(&self, stack: &str, probe: Probe) -> Result<(), StateError> {
        let _ = (stack, probe);
        Ok(())
    }

    /// Retires the state of a stack that no longer exists — its configuration was removed
    /// and an apply deleted everything it held — so that it leaves `list`; its last snapshot
    /// is kept with the previous versions where the backend keeps them. Only if the stored
    /// snapshot's serial is still `expected`; requires the stack's lock. `Ok(false)` when the
    /// backend keeps such states (the default).
    async fn retire(&self, stack: &str, expected: Option<u64>) -> Result<bool, StateError> {
        let _ = (stack, expected);
        Ok(false)
    }
}

/// Opens the state backends of one URL scheme other than `file://` (S3, a control plane's
/// store, ...). Registered on the provider registry (`Registry::register_backend`); any
/// `Fn(&str, &Path) -> Result<Arc<dyn Backend>, StateError>` closure is one.
pub trait BackendOpener: Send + Sync {
    /// The backend for `url` (the whole URL, scheme included); `root` is the workspace root.
    /// A malformed URL is a [`StateError::InvalidUrl`]. Called once per opened workspace, from
    /// synchronous code: connections are best made lazily, on first use.
    fn open(&self, url: &str, root: &Path) -> Result<Arc<dyn Backend>, StateError>;
}

impl<F> BackendOpener for F
where
    F: Fn(&str, &Path) -> Result<Arc<dyn Backend>, StateError> + Send + Sync,
{
    fn open(&self, url: &str, root: &Path) -> Result<Arc<dyn Backend>, StateError> {
        self(url, root)
    }
}

impl LockInfo {
    /// True when the holder is a process of this host that no longer runs (killed, crashed):
    /// its lock can be broken safely.
    pub fn holder_is_dead(&self) -> bool {
        let here = gethostname::gethostname().to_string_lossy().to_string();
        self.host == here
            && self.pid != 0
            && self.pid != std::process::id()
            && !process_alive(self.pid)
    }
}

/// A state serial for messages: the number, or `none` for a stack never written.
fn serial(serial: &Option<u64>) -> String {
    serial.map_or_else(|| "none".to_string(), |s| s.to_string())
}

impl LockInfo {
    /// True when the holder is a process of this host that still runs: its lock is in use,
    /// whatever its age. (A holder on another host cannot be checked from here.)
    pub fn holder_is_running_here(&self) -> bool {
        let here = gethostname::gethostname().to_string_lossy().to_string();
        self.host == here && self.pid != 0 && process_alive(self.pid)
    }
}

fn process_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true; // cannot tell without procfs: assume alive
    }
    proc_root.join(pid.to_string()).exists()
}
