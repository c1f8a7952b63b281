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
//! Modules, one concept each: [`config`] (workspace files), [`access`] (roles and the
//! stacks they may touch), [`render`] (tera),
//! [`value`] (values, unknowns, references), [`graph`], [`provider`] (the cloud contract),
//! [`state`] (stack states, journal, locks), [`plan`] (diff, plan data), [`apply`] (the
//! executor), [`engine`] (the public entry point), [`secrets`] (encrypted config values),
//! [`testing`] (an in-process test provider for engine tests), [`workspace_test`] (`terrace
//! test`: offline unit tests of a workspace's templates and policies).

#![warn(missing_docs)]

pub mod access;
pub mod address;
pub mod apply;
pub mod config;
pub mod diagnostics;
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
pub mod spec;
pub mod state;
pub mod testing;
pub mod value;
pub mod workspace_test;

pub use error::Error;
