//! An in-memory backend: the same contract as `file://` (journal replay, compare-and-swap,
//! locks), kept in the process. For library users with their own persistence around it, for
//! tests, and as the zero-cost baseline in the checkpoint benchmark.

use super::backend::{Backend, LockInfo, StateError};
use super::{JournalEntry, StackState};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
struct Stack {
    snapshot: Option<StackState>,
    history: Vec<u64>,
    journal: Option<(u64, Vec<JournalEntry>)>,
    lock: Option<LockInfo>,
}

/// State kept in memory.
#[derive(Default)]
pub struct MemoryBackend {
    stacks: Mutex<BTreeMap<String, Stack>>,
}

impl MemoryBackend {
    /// An empty in-memory backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn load(&self, stack: &str) -> Result<Option<StackState>, StateError> {
        let stacks = self.stacks.lock().expect("state lock");
        let Some(entry) = stacks.get(stack) else {
            return Ok(None);
        };
        let snapshot_serial = entry.snapshot.as_ref().map(|s| s.serial);
        let mut state = entry.snapshot.clone();
        if let Some((base, entries)) = &entry.journal {
            if *base == snapshot_serial.unwrap_or(0) && !entries.is_empty() {
                let mut replayed = state.unwrap_or_else(|| StackState::new(stack));
                entries.iter().for_each(|e| replayed.apply_entry(e));
                replayed.serial += 1;
                state = Some(replayed);
            }
        }
        Ok(state.map(|mut s| {
            s.snapshot_serial = snapshot_serial;
            s
        }))
    }

    async fn append(
        &self,
        stack: &str,
        base_serial: u64,
        entry: &JournalEntry,
    ) -> Result<(), StateError> {
        let mut stacks = self.stacks.lock().expect("state lock");
        let journal = &mut stacks.entry(stack.to_string()).or_default().journal;
        match journal {
            Some((base, entries)) if *base == base_serial => entries.push(entry.clone()),
            _ => *journal = Some((base_serial, vec![entry.clone()])),
        }
        Ok(())
    }

    async fn save(&self, state: &StackState, expected: Option<u64>) -> Result<(), StateError> {
        let mut stacks = self.stacks.lock().expect("state lock");
        let entry = stacks.entry(state.stack.clone()).or_default();
        let found = entry.snapshot.as_ref().map(|s| s.serial);
        if found != expected {
            return Err(StateError::SerialConflict {
                stack: state.stack.clone(),
                expected,
                found,
            });
        }
        if let Some(previous) = found {
            entry.history.push(previous);
        }
        entry.snapshot = Some(state.clone());
        entry.journal = None;
        Ok(())
    }

    async fn lock(&self, stack: &str, info: &LockInfo) -> Result<(), StateError> {
        let mut stacks = self.stacks.lock().expect("state lock");
        let entry = stacks.entry(stack.to_string()).or_default();
        match &entry.lock {
            Some(holder) => Err(StateError::Locked {
                stack: stack.to_string(),
                holder: Box::new(holder.clone()),
            }),
            None => {
                entry.lock = Some(info.clone());
                Ok(())
            }
        }
    }

    async fn unlock(&self, stack: &str, lock_id: &str) -> Result<(), StateError> {
        let mut stacks = self.stacks.lock().expect("state lock");
        if let Some(entry) = stacks.get_mut(stack) {
            if entry.lock.as_ref().is_some_and(|l| l.id == lock_id) {
                entry.lock = None;
            }
        }
        Ok(())
    }

    async fn force_unlock(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        Ok(self
            .stacks
            .lock()
            .expect("state lock")
            .get_mut(stack)
            .and_then(|e| e.lock.take()))
    }

    async fn lock_info(&self, stack: &str) -> Result<Option<LockInfo>, StateError> {
        Ok(self
            .stacks
            .lock()
            .expect("state lock")
            .get(stack)
            .and_then(|e| e.lock.clone()))
    }

    async fn list(&self) -> Result<Vec<String>, StateError> {
        let stacks = self.stacks.lock().expect("state lock");
        Ok(stacks
            .iter()
            .filter(|(_, e)| e.snapshot.is_some() || e.journal.is_some())
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn history(&self, stack: &str) -> Result<Vec<u64>, StateError> {
        Ok(self
            .stacks
            .lock()
            .expect("state lock")
            .get(stack)
            .map(|e| e.history.clone())
            .unwrap_or_default())
    }
}
