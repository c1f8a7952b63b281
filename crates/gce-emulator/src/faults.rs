//! Fault injection: with the configured probability a request is refused with a 429
//! (`rateLimitExceeded`) or 503 (`backendError`) in Google's error shape, drawn from a
//! seeded ChaCha stream so a run with the same seed and request order repeats exactly.

use crate::errors::ApiError;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

pub struct Faults {
    rate: f64,
    rng: Mutex<ChaCha8Rng>,
}

impl Faults {
    pub fn new(rate: f64, seed: u64) -> Faults {
        Faults {
            rate,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    /// Decides whether this request fails, and how.
    pub fn roll(&self) -> Option<ApiError> {
        if self.rate <= 0.0 {
            return None;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let draw = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if draw >= self.rate {
            return None;
        }
        Some(if rng.next_u32().is_multiple_of(2) {
            ApiError::rate_limited()
        } else {
            ApiError::backend_error()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_respected_and_reproducible() {
        let count = |seed| {
            let f = Faults::new(0.2, seed);
            (0..10_000).filter(|_| f.roll().is_some()).count()
        };
        let n = count(42);
        assert!((1_700..2_300).contains(&n), "{n}");
        assert_eq!(n, count(42));
        assert!(Faults::new(0.0, 1).roll().is_none());
    }
}
