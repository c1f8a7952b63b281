//! Providers as the engine uses them: the provider contract (the `terrace-provider` crate,
//! re-exported here whole, so `terrace::provider::Provider` is the contract's trait), the
//! registry of a workspace's providers and state backends, and the per-region rate limits.

pub mod limits;
pub mod registry;

pub use registry::Registry;
pub use terrace_provider::*;
