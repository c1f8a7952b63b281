//! `terrace init [DIR]`: a new workspace from the reference architecture, into a new or empty
//! directory only. The new workspace loads, lists its stacks (one example group) and passes its
//! own policy tests offline; a directory holding anything is refused and left as it was.

mod support;

use std::path::Path;
use support::{stderr, terrace};

fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out.sort();
    out
}

#[test]
fn init_scaffolds_a_workspace_that_plans_and_never_overwrites() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("qa-cluster");
    let made = terrace(parent.path(), &["init", dir.to_str().unwrap()]);
    assert_eq!(made.status.code(), Some(0), "{}", stderr(&made));
    let made_files = files(&dir);
    assert_eq!(made_files.len(), 22, "{made_files:#?}");
    let settings = std::fs::read_to_string(dir.join("terrace.yaml")).unwrap();
    assert!(settings.contains("\nname: qa-cluster\n"), "{settings}");
    assert!(dir.join("examples/eu.yaml").is_file());
    assert!(dir.join("templates/mesh/mesh.yaml.tera").is_file());
    // Nothing else is left beside it (the staging directory is gone).
    let beside: Vec<_> = std::fs::read_dir(parent.path()).unwrap().collect();
    assert_eq!(beside.len(), 1);

    let stacks = terrace(&dir, &["--json", "stacks"]);
    assert_eq!(stacks.status.code(), Some(0), "{}", stderr(&stacks));
    let listed: serde_json::Value = serde_json::from_slice(&stacks.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(
        names.contains(&"mesh/eu") && names.contains(&"proxies/eu"),
        "{names:?}"
    );
    let tested = terrace(&dir, &["test"]);
    assert_eq!(tested.status.code(), Some(0), "{}", stderr(&tested));
    // With a secrets key it plans on the real providers (no state: no cloud is read).
    let real = |args: &[&str]| support::sandbox::terrace_real(&dir, args);
    let key = real(&["config", "init-secrets"]);
    assert_eq!(key.status.code(), Some(0), "{}", stderr(&key));
    let plan = real(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    let written = files(&dir);

    // Again into the same directory: refused, nothing changed.
    std::fs::write(dir.join("examples/eu.yaml"), "# mine\n").unwrap();
    let again = terrace(parent.path(), &["init", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("examples/eu.yaml")).unwrap(),
        "# mine\n"
    );
    assert_eq!(files(&dir), written);

    // An empty existing directory (here the workspace directory, `-C`) is filled.
    let empty = parent.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let filled = terrace(&empty, &["init"]);
    assert_eq!(filled.status.code(), Some(0), "{}", stderr(&filled));
    assert_eq!(files(&empty).len(), 22);
}
