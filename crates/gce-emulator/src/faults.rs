//! Fault injection: with the configured probabilities a request is refused as Compute refuses
//! it under load — 403 `rateLimitExceeded` / `userRateLimitExceeded` for throttling (Compute
//! answers an exceeded rate quota with 403, not 429: <https://cloud.google.com/compute/api-quota>)
//! and 503 `backendError` for a server fault — drawn from a seeded ChaCha stream so a run with
//! the same seed and request order repeats exactly.

use crate::errors::ApiError;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

/// The injected answers, with their probabilities.
pub struct Faults {
    throttle_rate: f64,
    error_rate: f64,
    rng: Mutex<ChaCha8Rng>,
}

/// A uniform draw in [0, 1) from a ChaCha stream.
pub fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

impl Faults {
    pub fn new(throttle_rate: f64, error_rate: f64, seed: u64) -> Faults {
        Faults {
            throttle_rate,
            error_rate,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    /// Decides whether this request fails, and how. One in four throttled answers is the
    /// per-user variant.
    pub fn roll(&self) -> Option<ApiError> {
        if self.throttle_rate <= 0.0 && self.error_rate <= 0.0 {
            return None;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let draw = unit(&mut rng);
        if draw < self.throttle_rate {
            return Some(ApiError::throttled(rng.next_u32().is_multiple_of(4)));
        }
        if draw < self.throttle_rate + self.error_rate {
            return Some(ApiError::backend_error());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_respected_and_reproducible() {
        let count = |seed| {
            let f = Faults::new(0.2, 0.1, seed);
            let mut by_status = std::collections::BTreeMap::new();
            for e in (0..10_000).filter_map(|_| f.roll()) {
                *by_status.entry((e.status, e.reason)).or_insert(0) += 1;
            }
            by_status
        };
        let n = count(42);
        let throttled = n[&(403, "rateLimitExceeded")] + n[&(403, "userRateLimitExceeded")];
        assert!((1_700..2_300).contains(&throttled), "{n:?}");
        assert!((800..1_200).contains(&n[&(503, "backendError")]), "{n:?}");
        assert!(n[&(403, "userRateLimitExceeded")] > 0);
        assert_eq!(n, count(42));
        assert!(Faults::new(0.0, 0.0, 1).roll().is_none());
    }
}
