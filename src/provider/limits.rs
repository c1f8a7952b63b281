//! Concurrency and rate limits per provider and region: a token bucket per API class (EC2
//! allows RunInstances about 2/s but Describe 20/s) and a cap on operations in flight. There
//! is no single global parallelism knob: each region of each provider is limited on its own.
//! Also the backoff between attempts ([`backoff`]), shared by apply's retries and refresh's
//! second reads.

use super::Registry;
use crate::config::settings::Settings;
use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Key = (String, String);
type Buckets = HashMap<(String, String, String), Arc<DefaultDirectRateLimiter>>;

/// Shared limiters, created lazily per (provider, region) and (provider, region, class).
#[derive(Clone)]
pub struct Limits {
    rates: Arc<HashMap<String, HashMap<String, f64>>>,
    in_flight: Arc<HashMap<String, usize>>,
    buckets: Arc<Mutex<Buckets>>,
    slots: Arc<Mutex<HashMap<Key, Arc<Semaphore>>>>,
}

/// Held while an operation is in flight; dropping it frees the slot.
pub struct Permit {
    _slot: OwnedSemaphorePermit,
}

impl Limits {
    /// Provider defaults overridden by `terrace.yaml`.
    pub fn new(registry: &Registry, settings: &Settings) -> Limits {
        let mut rates = HashMap::new();
        let mut in_flight = HashMap::new();
        for provider in registry.providers() {
            let name = provider.name().to_string();
            let mut classes: HashMap<String, f64> = provider
                .rate_limits()
                .into_iter()
                .map(|r| (r.class, r.per_second))
                .collect();
            let overrides = settings.providers.get(&name);
            if let Some(overrides) = overrides {
                classes.extend(overrides.rate_limits.clone());
            }
            let cap = overrides
                .and_then(|o| o.max_in_flight)
                .unwrap_or(provider.max_in_flight());
            rates.insert(name.clone(), classes);
            in_flight.insert(name, cap.max(1));
        }
        Limits {
            rates: Arc::new(rates),
            in_flight: Arc::new(in_flight),
            buckets: Arc::default(),
            slots: Arc::default(),
        }
    }

    /// Waits for a slot in the (provider, region) and a token of the API class.
    pub async fn acquire(&self, provider: &str, region: Option<&str>, class: &str) -> Permit {
        let region = region.unwrap_or("global").to_string();
        let semaphore = {
            let mut slots = self.slots.lock().expect("limits lock");
            let cap = self.in_flight.get(provider).copied().unwrap_or(64);
            slots
                .entry((provider.to_string(), region.clone()))
                .or_insert_with(|| Arc::new(Semaphore::new(cap)))
                .clone()
        };
        let slot = semaphore
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        if let Some(bucket) = self.bucket(provider, &region, class) {
            bucket.until_ready().await;
        }
        Permit { _slot: slot }
    }

    fn bucket(
        &self,
        provider: &str,
        region: &str,
        class: &str,
    ) -> Option<Arc<DefaultDirectRateLimiter>> {
        let rate = *self.rates.get(provider)?.get(class)?;
        if rate <= 0.0 || !rate.is_finite() {
            return None;
        }
        let mut buckets = self.buckets.lock().expect("limits lock");
        let key = (provider.to_string(), region.to_string(), class.to_string());
        let bucket = buckets.entry(key).or_insert_with(|| {
            let period = Duration::from_secs_f64(1.0 / rate);
            let burst = NonZeroU32::new(rate.ceil().max(1.0) as u32).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(period)
                .expect("positive period")
                .allow_burst(burst);
            Arc::new(DefaultDirectRateLimiter::direct(quota))
        });
        Some(bucket.clone())
    }
}

/// Exponential backoff from 0.5 s, doubling, at most 10 s.
pub fn backoff(attempt: u32) -> Duration {
    let ms = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(5));
    Duration::from_millis(ms.min(10_000))
}
