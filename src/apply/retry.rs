//! When the executor tries a cloud call again, and when it looks instead. Pure decisions, plus
//! the run-wide record of the ids this apply created.
//!
//! - **Not carried out, try again**: throttling (the cloud refused before acting), and a
//!   not-found answer for a call whose properties name an id created moments ago — by this
//!   apply, or by an earlier one whose state records the create's start (`created_at`; an
//!   apply interrupted and run again at once) — the cloud has not propagated it yet
//!   ("Eventual consistency in the Amazon EC2 API",
//!   <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>). A
//!   not-found answer naming only ids created longer ago is real and never retried (and never
//!   turned into a create).
//! - **Ambiguous, look first**: a create whose outcome is unknown (a lost answer, a 5xx, a
//!   failure after its first mutating call succeeded) is looked up by its ownership tags before
//!   anything else; only when it is provably absent is it created again, with the same
//!   idempotency key.

use crate::provider::{ErrorKind, ProviderError};
use crate::state::StackState;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Creates of one resource in one apply, the first included: a create that was provably not
/// carried out is tried again at most this often.
pub const CREATE_ATTEMPTS: u32 = 3;

/// Attempts of a call refused by throttling before the executor gives up (the provider has
/// retried each of them already).
pub const THROTTLED_ATTEMPTS: u32 = 6;

/// Ids created by this apply, with when: a not-found answer naming one of them is the cloud
/// lagging, not the resource missing.
#[derive(Debug, Default)]
pub struct CreatedIds(Mutex<HashMap<String, Instant>>);

impl CreatedIds {
    /// Records an id the cloud just answered for a create.
    pub fn record(&self, id: &str) {
        if !id.is_empty() {
            self.0
                .lock()
                .expect("ids lock")
                .insert(id.to_string(), Instant::now());
        }
    }

    /// Records the resources of `state` whose create began less than `window` ago, in an
    /// earlier apply (one interrupted moments ago, say): their ids may not have propagated
    /// yet either. A creation time in the future (another machine's clock) counts as now.
    pub fn record_recent(&self, state: &StackState, window: Duration) {
        let now = (chrono::Utc::now(), Instant::now());
        let mut created = self.0.lock().expect("ids lock");
        for resource in state.resources.values() {
            let Some(age) = resource.age(now.0).filter(|age| *age < window) else {
                continue;
            };
            if let Some(instant) = now.1.checked_sub(age) {
                created.entry(resource.id.clone()).or_insert(instant);
            }
        }
    }

    /// The first string of `properties` that is an id created less than `window` ago.
    pub fn named_in(&self, properties: &Json, window: Duration) -> Option<String> {
        let created = self.0.lock().expect("ids lock");
        if created.is_empty() {
            return None;
        }
        let mut found = None;
        visit_strings(properties, &mut |s| {
            if found.is_none() && created.get(s).is_some_and(|at| at.elapsed() < window) {
                found = Some(s.to_string());
            }
        });
        found
    }
}

fn visit_strings(value: &Json, f: &mut dyn FnMut(&str)) {
    match value {
        Json::String(s) => f(s),
        Json::Array(items) => items.iter().for_each(|i| visit_strings(i, f)),
        Json::Object(map) => map.values().for_each(|v| visit_strings(v, f)),
        _ => {}
    }
}

/// What to do after a call failed without being carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Wait, then try the same call again.
    Retry {
        /// How long to wait.
        after: Duration,
        /// What is waited for, for a person.
        reason: String,
    },
    /// Report the error.
    GiveUp,
}

pub use crate::provider::limits::backoff;

/// Whether to try a call again that failed with `error` after `attempt` attempts, `started`
/// at the first; `fresh` is an id of this apply the call's properties name, if any.
pub fn decide(
    error: &ProviderError,
    attempt: u32,
    started: Instant,
    fresh: Option<&str>,
    consistency_window: Duration,
) -> Decision {
    let after = backoff(attempt);
    match (error.kind, fresh) {
        (ErrorKind::Throttled, _) if attempt < THROTTLED_ATTEMPTS => Decision::Retry {
            after,
            reason: format!("throttled ({}); trying again", error.code),
        },
        (ErrorKind::NotFound, Some(id)) if started.elapsed() + after < consistency_window => {
            Decision::Retry {
                after,
                reason: format!(
                    "{id}, created moments ago, is not visible to the cloud yet ({}); trying again",
                    error.code
                ),
            }
        }
        _ => Decision::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(kind: ErrorKind) -> ProviderError {
        ProviderError::new(kind, "Code", "message")
    }

    #[test]
    fn ids_an_earlier_apply_created_moments_ago_count_as_fresh() {
        let mut state = StackState::new("s");
        let window = Duration::from_secs(120);
        for (name, id, age) in [
            ("new", "vpc-new", Some(5)),
            ("old", "vpc-old", Some(600)),
            ("imported", "vpc-imp", None),
            ("skewed", "vpc-skew", Some(-30)),
        ] {
            let resource = crate::state::ResourceState {
                created_at: age.map(|s| chrono::Utc::now() - chrono::Duration::seconds(s)),
                ..crate::state::ResourceState::new("aws:ec2:Vpc", id)
            };
            state.resources.insert(name.into(), resource);
        }
        let ids = CreatedIds::default();
        ids.record_recent(&state, window);
        let named = |id: &str| ids.named_in(&json!({"vpc_id": id}), window);
        assert_eq!(named("vpc-new").as_deref(), Some("vpc-new"));
        assert_eq!(named("vpc-skew").as_deref(), Some("vpc-skew"));
        assert_eq!(
            named("vpc-old"),
            None,
            "created ten minutes ago: really gone"
        );
        assert_eq!(named("vpc-imp"), None, "no creation time: never retried");
        // It ages like an id this apply created: out of the window, no longer fresh.
        assert_eq!(
            ids.named_in(&json!({"vpc_id": "vpc-new"}), Duration::from_secs(2)),
            None
        );
    }

    #[test]
    fn not_found_is_retried_only_for_ids_this_apply_created() {
        let ids = CreatedIds::default();
        ids.record("vpc-1");
        let props = json!({"vpc_id": "vpc-1", "tags": {"a": "vpc-2"}});
        assert_eq!(
            ids.named_in(&props, Duration::from_secs(60)).as_deref(),
            Some("vpc-1")
        );
        assert_eq!(
            ids.named_in(&json!({"vpc_id": "vpc-2"}), Duration::from_secs(60)),
            None
        );
        assert_eq!(
            ids.named_in(&props, Duration::ZERO),
            None,
            "outside the window"
        );

        let now = Instant::now();
        let window = Duration::from_secs(120);
        let nf = error(ErrorKind::NotFound);
        assert!(matches!(
            decide(&nf, 1, now, Some("vpc-1"), window),
            Decision::Retry { .. }
        ));
        assert_eq!(
            decide(&nf, 1, now, None, window),
            Decision::GiveUp,
            "a real not-found"
        );
        let long_ago = now - Duration::from_secs(200);
        assert_eq!(
            decide(&nf, 9, long_ago, Some("vpc-1"), window),
            Decision::GiveUp
        );
    }

    #[test]
    fn throttling_is_retried_a_bounded_number_of_times() {
        let now = Instant::now();
        let t = error(ErrorKind::Throttled);
        let w = Duration::from_secs(1);
        assert!(matches!(
            decide(&t, 1, now, None, w),
            Decision::Retry { .. }
        ));
        assert_eq!(
            decide(&t, THROTTLED_ATTEMPTS, now, None, w),
            Decision::GiveUp
        );
        for kind in [
            ErrorKind::Invalid,
            ErrorKind::Conflict,
            ErrorKind::Denied,
            ErrorKind::Other,
        ] {
            assert_eq!(decide(&error(kind), 1, now, Some("x"), w), Decision::GiveUp);
        }
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_millis(1000));
        assert_eq!(backoff(20), Duration::from_secs(10));
    }
}
