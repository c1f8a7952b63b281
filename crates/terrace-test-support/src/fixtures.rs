//! Fixture workspaces for integration tests (shared by the core and CLI test suites): copies
//! of the repository's `tests/fixtures/<name>` in temporary directories, and small edits.

use std::path::{Path, PathBuf};

/// The repository's `tests/fixtures`, found upwards from the crate being tested.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/fixtures"))
        .find(|dir| dir.is_dir())
        .expect("tests/fixtures exists in the repository")
}

/// A copy of `tests/fixtures/<name>` in a fresh temporary directory.
pub fn workspace(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixtures().join(name), dir.path());
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

/// Where `text` is in a workspace file, as diagnostics print it: `FILE:LINE:COLUMN` (1-based)
/// of the one occurrence of `text`. Tests on files that change (the reference workspace) find
/// the line they expect here, after their edit, instead of writing it down.
pub fn place(dir: &Path, file: &str, text: &str) -> String {
    let (line, column) = line_and_column(dir, file, text, text);
    format!("{file}:{line}:{column}")
}

/// The line and column (1-based; the column in characters) of `target` inside the one
/// occurrence of `context` in a workspace file; panics unless `context` occurs exactly once
/// and contains `target`.
pub fn line_and_column(dir: &Path, file: &str, context: &str, target: &str) -> (usize, usize) {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let found: Vec<usize> = text.match_indices(context).map(|(at, _)| at).collect();
    let [start] = found[..] else {
        panic!(
            "{file} has {} occurrences of {context:?}, not one",
            found.len()
        );
    };
    let inner = context
        .find(target)
        .unwrap_or_else(|| panic!("{context:?} does not contain {target:?}"));
    let before = &text[..start + inner];
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// A copy of the repository's reference workspace (terrace.yaml, stacks/, templates/,
/// policies/, workspace-tests/ and the group files in examples/) in a fresh temporary
/// directory.
pub fn reference_workspace() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("stacks").is_dir() && dir.join("terrace.yaml").is_file())
        .expect("the repository root holds the reference workspace")
        .to_path_buf();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(root.join("terrace.yaml"), dir.path().join("terrace.yaml")).expect("copy");
    for sub in ["stacks", "templates", "policies", "workspace-tests"] {
        copy_dir(&root.join(sub), &dir.path().join(sub));
    }
    std::fs::create_dir_all(dir.path().join("examples")).expect("mkdir");
    for entry in std::fs::read_dir(root.join("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let target = dir.path().join("examples").join(path.file_name().unwrap());
            std::fs::copy(&path, target).expect("copy");
        }
    }
    dir
}
