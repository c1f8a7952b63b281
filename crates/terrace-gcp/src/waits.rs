//! Retry waits made visible. A provider has no event channel of its own, so every pause the
//! provider makes before retrying a call or polling an operation again is recorded here as a
//! [`RetryNote`]: kept in a bounded journal ([`Waits::recent`], [`Waits::total`]) and handed
//! to an observer if one is set ([`Waits::set_observer`]), for a caller to show in progress
//! output. Each note says which call waited, on what answer (Google's reason and HTTP
//! status), which attempt it was, and for how long.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many notes the journal keeps.
const KEPT: usize = 256;

/// One pause before a retry (or before polling an operation again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryNote {
    /// The call, e.g. `insert gcp:compute:Subnetwork t-db-3f2a…` or `poll operation-…`.
    pub call: String,
    /// Google's reason for the answer that is retried (`rateLimitExceeded`,
    /// `resourceNotReady`, `backendError`, `transport`, ...).
    pub code: String,
    pub http_status: Option<u16>,
    /// The attempt that got this answer (1 for the first).
    pub attempt: u32,
    /// The pause before the next attempt.
    pub delay: Duration,
}

impl fmt::Display for RetryNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self
            .http_status
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        write!(
            f,
            "gcp: {}: {}{status} on attempt {}; retrying in {} ms",
            self.call,
            self.code,
            self.attempt,
            self.delay.as_millis()
        )
    }
}

/// Called with every note as it is made.
pub type RetryObserver = Arc<dyn Fn(&RetryNote) + Send + Sync>;

#[derive(Default)]
struct Journal {
    recent: VecDeque<RetryNote>,
    total: u64,
    observer: Option<RetryObserver>,
}

/// The journal of retry waits, shared by every client of one provider.
#[derive(Clone, Default)]
pub struct Waits {
    journal: Arc<Mutex<Journal>>,
}

impl fmt::Debug for Waits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Waits({} notes)", self.total())
    }
}

impl Waits {
    fn lock(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a note, reports it as progress of the operation running in this task
    /// (`terrace_provider::progress`), and hands it to the observer.
    pub fn note(&self, note: RetryNote) {
        terrace_provider::progress::report(note.to_string(), Some(note.delay));
        let observer = {
            let mut journal = self.lock();
            journal.total += 1;
            if journal.recent.len() == KEPT {
                journal.recent.pop_front();
            }
            journal.recent.push_back(note.clone());
            journal.observer.clone()
        };
        if let Some(observer) = observer {
            observer(&note);
        }
    }

    /// The most recent notes (at most 256), oldest first.
    pub fn recent(&self) -> Vec<RetryNote> {
        self.lock().recent.iter().cloned().collect()
    }

    /// How many notes were made since the provider was built.
    pub fn total(&self) -> u64 {
        self.lock().total
    }

    /// Sets (or replaces) the observer called with each new note.
    pub fn set_observer(&self, observer: RetryObserver) {
        self.lock().observer = Some(observer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_kept_bounded_and_observed() {
        let waits = Waits::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        waits.set_observer(Arc::new(move |n: &RetryNote| {
            sink.lock().unwrap().push(n.to_string())
        }));
        for attempt in 1..=300 {
            waits.note(RetryNote {
                call: "insert x".into(),
                code: "rateLimitExceeded".into(),
                http_status: Some(403),
                attempt,
                delay: Duration::from_millis(250),
            });
        }
        assert_eq!(waits.total(), 300);
        assert_eq!(waits.recent().len(), KEPT);
        assert_eq!(waits.recent()[0].attempt, 45);
        assert_eq!(
            seen.lock().unwrap()[0],
            "gcp: insert x: rateLimitExceeded (HTTP 403) on attempt 1; retrying in 250 ms"
        );
    }
}
