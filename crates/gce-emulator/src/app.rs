//! Shared server state: the configuration, the store behind one lock, the fault injector,
//! and the signal that wakes `wait` calls when an operation changes. Every change to the
//! store goes through [`App::mutate`], which also snapshots the state file.

use crate::config::{Config, Span};
use crate::errors::ApiError;
use crate::faults::{self, Faults};
use crate::persist;
use crate::schema::Discovery;
use crate::store::Store;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{watch, Notify};

pub struct App {
    pub config: Config,
    /// Seed from which ids and operation names are derived.
    pub id_seed: u64,
    store: Mutex<Store>,
    faults: Faults,
    /// Seeded draws of operation and VM latencies (a stream apart from the faults').
    latencies: Mutex<ChaCha8Rng>,
    /// Managed instance groups whose VMs are being worked on by a background task.
    pub mig_drivers: Mutex<BTreeSet<String>>,
    /// Notified after every mutation, so `wait` can re-check its operation.
    pub changed: Notify,
    /// Becomes true when the server is shutting down, so long waits return.
    pub shutdown: watch::Receiver<bool>,
    /// When configured, request bodies are checked against it.
    discovery: Option<Discovery>,
}

impl App {
    pub fn new(
        config: Config,
        store: Store,
        shutdown: watch::Receiver<bool>,
        discovery: Option<Discovery>,
    ) -> App {
        let seed = config.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        App {
            faults: Faults::new(config.throttle_rate, config.fault_rate, seed),
            latencies: Mutex::new(ChaCha8Rng::seed_from_u64(crate::ident::mix64(
                seed ^ 0x1a7e,
            ))),
            mig_drivers: Mutex::new(BTreeSet::new()),
            id_seed: seed,
            config,
            store: Mutex::new(store),
            changed: Notify::new(),
            shutdown,
            discovery,
        }
    }

    /// Reads the store.
    pub fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.store.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Changes the store, snapshots it if a state file is configured, and wakes waiters.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let out = {
            let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
            let out = f(&mut store);
            if let Some(path) = &self.config.state_file {
                if let Err(e) = persist::save(path, &store) {
                    eprintln!(
                        "gce-emulator: cannot write state file {}: {e}",
                        path.display()
                    );
                }
            }
            out
        };
        self.changed.notify_waiters();
        out
    }

    /// Refuses a request body with fields or types the discovery document does not declare
    /// (only when a document is configured), worded as Google's JSON parser words it.
    pub fn check_body(&self, schema: &str, body: &Map<String, Value>) -> Result<(), ApiError> {
        let Some(doc) = &self.discovery else {
            return Ok(());
        };
        let value = Value::Object(body.clone());
        doc.validate_with(schema, &value, "resource", true)
            .map_err(|errors| {
                ApiError::invalid(format!(
                    "Invalid JSON payload received. {}",
                    errors.join(" ")
                ))
            })
    }

    /// Whether the server is stopping; background operation tasks then leave the state alone
    /// (a restart from the state file finishes what they did not).
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// An injected fault for this request, if the dice say so.
    pub fn roll_fault(&self) -> Option<ApiError> {
        self.faults.roll()
    }

    fn draw(&self, span: Span) -> Duration {
        if span.max.is_zero() {
            return Duration::ZERO;
        }
        let mut rng = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        span.at(faults::unit(&mut rng))
    }

    /// How long an operation of this type takes, drawn from its configured range.
    pub fn operation_latency(&self, op_type: &str) -> Duration {
        self.draw(self.config.latency.for_op(op_type))
    }

    /// How long a managed instance group takes for its next VM step.
    pub fn vm_latency(&self) -> Duration {
        self.draw(self.config.vm_latency)
    }
}
