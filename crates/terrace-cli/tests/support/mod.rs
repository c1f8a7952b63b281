//! Helpers shared by the CLI tests: fixture workspaces in temporary directories and the
//! `terrace` binary run against them with the test provider.
#![allow(dead_code)]

pub mod sandbox;

use std::path::Path;
use std::process::{Command, Output};
#[allow(unused_imports)] // not every test binary uses every helper
pub use terrace_test_support::fixtures::{
    edit, line_and_column, place, reference_workspace, workspace, write,
};

/// The `terrace` binary in `dir` with the test provider enabled, ready to run.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_terrace"));
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("TERRACE_TEST_PROVIDER", "1")
        .env("NO_COLOR", "1");
    command
}

/// Runs the `terrace` binary in `dir` with the test provider enabled.
pub fn terrace(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("terrace runs")
}

/// One runtime for a test's own async calls (the SDK's clients outlive a call).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// `count` delays in `[min_ms, max_ms)` from a small LCG: reproducible kill points, no
/// dependency.
pub fn delays(seed: u64, count: usize, min_ms: u64, max_ms: u64) -> Vec<u64> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            min_ms + (x >> 33) % (max_ms - min_ms)
        })
        .collect()
}

/// Of processes racing to apply one saved plan, exactly one succeeds; each other one is
/// locked out (exit 4) or finds the plan stale (exit 5).
pub fn assert_exactly_one_wins(outputs: &[Output]) {
    let codes: Vec<Option<i32>> = outputs.iter().map(|o| o.status.code()).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == Some(0)).count(),
        1,
        "exactly one wins: {codes:?}"
    );
    for loser in outputs.iter().filter(|o| o.status.code() != Some(0)) {
        let code = loser.status.code();
        assert!(
            code == Some(4) || code == Some(5),
            "a loser is locked out or finds the plan stale: {code:?} {}",
            stderr(loser)
        );
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// Asserts that the command succeeded (showing its output when not); its standard output.
pub fn ok(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}
