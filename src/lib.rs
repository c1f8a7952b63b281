//! Terrace plans and applies multi-cloud **region groups**: database clusters spread over AWS
//! and GCP regions, built in layers of stacks (accounts → networks → replicas → proxies) whose
//! outputs feed the stacks below. Changes are planned, then applied stack by stack, so that a
//! mistake touches as little as possible.
//!
//! The library is the whole engine; the `terrace` CLI is a thin layer over [`engine`]:
//!
//! ```no_run
//! # async fn run() -> Result<(), terrace::Error> {
//! use terrace::engine::{Terrace, PlanOptions, ApplyOptions};
//! let registry = terrace::provider::Registry::new(); // register your providers here
//! let terrace = Terrace::open("path/to/workspace".as_ref(), registry)?;
//! let plan = terrace.plan(&PlanOptions::default()).await?;
//! let mut run = terrace.apply(plan, ApplyOptions::default())?;
//! while let Some(event) = run.events.recv().await {
//!     println!("{}", serde_json::to_string(&event).unwrap());
//! }
//! let summary = run.finish().await?;
//! # Ok(()) }
//! ```
//!
//! Modules, one concept each, importing one way (`scripts/module_cycles.py --order` prints
//! the layers): [`address`], [`value`] (values, unknowns, sealed secrets, references),
//! [`diagnostics`], [`graph`] at the bottom; [`config`] (workspace files, plain data); [`state`]
//! (stack states, journal, locks); [`provider`] (the cloud contract, from the
//! `terrace-provider` crate, and the registry), [`spec`]; [`secrets`] (the workspace key);
//! [`plan`] (diff, plan data); [`events`], [`policy`], [`rollout`]; [`edit`] (editing
//! `terrace.yaml` as text), [`refresh`], [`render`] (tera), [`select`] (stack selectors);
//! [`access`] (roles and the stacks they may touch), [`apply`] (the executor); [`engine`] (the
//! public entry point). Beside them: [`testing`] (an in-process test provider for engine
//! tests), [`workspace_test`] (`terrace test`: offline unit tests of a workspace's templates
//! and policies).

#![warn(missing_docs)]

pub mod access;
pub mod address;
pub mod apply;
pub mod config;
pub mod diagnostics;
pub mod edit;
pub mod engine;
pub mod error;
pub mod events;
pub mod graph;
pub mod plan;
pub mod policy;
pub mod provider;
pub mod refresh;
pub mod render;
pub mod rollout;
pub mod secrets;
pub mod select;
pub mod spec;
pub mod state;
pub mod testing;
pub mod value;
pub mod workspace_test;

pub use error::Error;
