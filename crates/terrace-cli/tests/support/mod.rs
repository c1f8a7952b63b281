//! Helpers shared by the CLI tests: fixture workspaces in temporary directories and the
//! `terrace` binary run against them with the test provider.
#![allow(dead_code)]

#[path = "../../../../tests/support/fixtures.rs"]
mod fixtures;
pub mod sandbox;

#[allow(unused_imports)] // not every test binary uses every helper
pub use fixtures::{edit, reference_workspace, workspace, write};
use std::path::Path;
use std::process::{Command, Output};

/// Runs the `terrace` binary in `dir` with the test provider enabled.
pub fn terrace(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_terrace"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("TERRACE_TEST_PROVIDER", "1")
        .env("NO_COLOR", "1")
        .output()
        .expect("terrace runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}
