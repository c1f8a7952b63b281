//! Helpers shared by the test suites of every Terrace package (a dev-dependency only, never
//! shipped): fixture workspaces copied into temporary directories (`fixtures`) and a moto
//! server on a free loopback port (`moto`). One crate instead of `#[path]` includes of
//! another package's test files.

pub mod fixtures;
pub mod moto;
pub mod ports;
