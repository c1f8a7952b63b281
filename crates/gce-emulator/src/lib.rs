//! `gce-emulator`: a local, faithful emulator of the Compute Engine v1 REST API (and the
//! Cloud Resource Manager v3 projects API, Cloud Billing, Service Usage and Org Policy v2) for tests and offline sandboxes.
//!
//! [`start`] runs the server in-process on a given or ephemeral port and returns its
//! address and a shutdown handle; the `gce-emulator` binary wraps the same function.

pub mod app;
pub mod bootstrap;
pub mod collection;
pub mod config;
pub mod crm;
pub mod errors;
pub mod faults;
pub mod filter;
pub mod geo;
pub mod ident;
pub mod mig;
pub mod net;
pub mod op_api;
pub mod operations;
pub mod orgpolicy;
pub mod paths;
pub mod persist;
pub mod query;
pub mod references;
pub mod registry;
pub mod resources;
pub mod schema;
pub mod server;
pub mod store;

pub use config::{Config, Latency, Profile, Span};

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running emulator. Dropping it stops the server too.
pub struct RunningServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets in-flight ones finish, and waits for the server.
    pub async fn shutdown(mut self) -> io::Result<()> {
        let _ = self.stop.send(true);
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Loads the state file (finishing any operation that was still running), if configured.
fn initial_store(config: &Config) -> io::Result<store::Store> {
    let Some(path) = &config.state_file else {
        return Ok(store::Store::default());
    };
    let mut store = persist::load(path)?.unwrap_or_default();
    operations::complete_all(&mut store);
    crm::complete_all(&mut store.crm);
    Ok(store)
}

/// After a restart from the state file, groups pick up the VM work they had left.
fn resume_groups(app: &Arc<app::App>) {
    app.mutate(|store| {
        let groups: Vec<String> = store
            .resources
            .keys()
            .filter(|p| mig::is_group(p))
            .cloned()
            .collect();
        for path in groups {
            mig::kick(app, store, &path);
        }
    });
}

/// Binds `listen` (port 0 for a free one) and serves until shut down.
pub async fn start(listen: SocketAddr, config: Config) -> io::Result<RunningServer> {
    let store = initial_store(&config)?;
    let discovery = match &config.discovery_doc {
        Some(path) => Some(
            schema::Discovery::load(path)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let app = Arc::new(app::App::new(config, store, stopped.clone(), discovery));
    resume_groups(&app);
    let router = server::router(app);
    let mut signal = stopped;
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = signal.wait_for(|s| *s).await;
            })
            .await
    });
    Ok(RunningServer {
        addr,
        stop,
        task: Some(task),
    })
}
