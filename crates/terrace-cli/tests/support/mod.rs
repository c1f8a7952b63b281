//! Helpers shared by the CLI tests: fixture workspaces in temporary directories and the
//! `terrace` binary run against them with the test provider.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// A copy of the repository's `tests/fixtures/<name>` in a fresh temporary directory.
pub fn workspace(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    copy_dir(&fixtures.join(name), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("fixture exists") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Writes a file of the workspace.
pub fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Replaces `from` with `to` in a file of the workspace (which must contain it).
pub fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} does not contain {from:?}");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

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
