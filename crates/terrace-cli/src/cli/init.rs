//! `terrace init [DIR]`: a new workspace scaffolded from the reference architecture — the
//! `terrace.yaml`, the five layers (`stacks/`), their templates, the shipped policies with their
//! unit tests, and one example group (`examples/eu.yaml`) — so a newcomer starts from a shape
//! that plans. The files are the repository's own, built into the binary.
//!
//! Nothing is overwritten: a directory holding anything already is refused. The files are
//! written into a fresh sibling directory first and moved into place in one rename, so an
//! error leaves nothing half-written.

use super::output::eoutln;
use std::path::{Path, PathBuf};
use terrace::error::EXIT_OK;
use terrace::Error;

/// (path in the new workspace, contents), from the repository's reference workspace.
macro_rules! reference_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../../", $path)))),*]
    };
}

const FILES: &[(&str, &str)] = reference_files![
    "stacks/accounts/layer.yaml",
    "stacks/networks/layer.yaml",
    "stacks/mesh/layer.yaml",
    "stacks/replicas/layer.yaml",
    "stacks/proxies/layer.yaml",
    "templates/accounts/account.yaml.tera",
    "templates/networks/network.yaml.tera",
    "templates/mesh/mesh.yaml.tera",
    "templates/replicas/replica.yaml.tera",
    "templates/proxies/proxy.yaml.tera",
    "templates/shared/cloud-init.tera",
    "templates/shared/network.tera",
    "policies/database_ports_stay_in_group.rego",
    "policies/database_ports_stay_in_group_test.rego",
    "policies/no_open_database_ports.rego",
    "policies/no_open_database_ports_test.rego",
    "policies/required_owner_label.rego",
    "policies/required_owner_label_test.rego",
    "policies/fixtures/group_database_port.yaml",
    "policies/fixtures/open_database_port.yaml",
    "examples/eu.yaml",
];

/// The reference `terrace.yaml`, whose `tests:` (the repository's workspace tests, written for
/// all three example groups) a new workspace does not have.
const SETTINGS: &str = include_str!("../../../../terrace.yaml");

/// `terrace.yaml` for a new workspace named after its directory.
fn settings(name: &str) -> String {
    let mut out = String::with_capacity(SETTINGS.len());
    for line in SETTINGS.lines() {
        if line.starts_with("tests:") || line.starts_with("# `terrace test` files") {
            continue;
        }
        if line.starts_with("name:") {
            out.push_str(&format!("name: {name}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A workspace name from the directory's name: lower case letters, digits and `-`.
fn name_of(dir: &Path) -> String {
    let base = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let name: String = base
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-').to_string();
    if name.is_empty() {
        "workspace".into()
    } else {
        name
    }
}

/// Refuses a directory that holds anything.
fn check_empty(dir: &Path) -> Result<bool, Error> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(true),
            Some(_) => Err(Error::usage(format!(
                "{} is not empty: `terrace init` writes a new workspace only into an empty or \
                 new directory (nothing is overwritten)",
                dir.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::usage(format!("cannot read {}: {e}", dir.display()))),
    }
}

fn io(what: &Path, e: std::io::Error) -> Error {
    Error::usage(format!("cannot write {}: {e}", what.display()))
}

/// Writes every file under `root`.
fn write_all(root: &Path, name: &str) -> Result<(), Error> {
    let settings = settings(name);
    let files = FILES
        .iter()
        .copied()
        .chain(std::iter::once(("terrace.yaml", settings.as_str())));
    for (path, text) in files {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&target, text).map_err(|e| io(&target, e))?;
    }
    Ok(())
}

/// A fresh directory beside `dir` to build the workspace in.
fn staging_for(dir: &Path) -> Result<PathBuf, Error> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".terrace-init-")
        .tempdir_in(&parent)
        .map_err(|e| io(&parent, e))?;
    Ok(staging.keep())
}

/// Moves the built workspace to `dir`: one rename of the whole directory when `dir` is new;
/// one rename per top-level entry into an empty `dir` that exists (it may be the current
/// directory, which cannot be replaced).
fn place(staging: &Path, dir: &Path, existed: bool) -> Result<(), Error> {
    if !existed {
        return std::fs::rename(staging, dir).map_err(|e| io(dir, e));
    }
    for entry in std::fs::read_dir(staging).map_err(|e| io(staging, e))? {
        let entry = entry.map_err(|e| io(staging, e))?;
        let target = dir.join(entry.file_name());
        std::fs::rename(entry.path(), &target).map_err(|e| io(&target, e))?;
    }
    std::fs::remove_dir(staging).map_err(|e| io(staging, e))
}

/// `terrace init [DIR]`.
pub fn run(dir: &Path) -> Result<i32, Error> {
    let existed = check_empty(dir)?;
    let name = name_of(dir);
    let staging = staging_for(dir)?;
    let result = write_all(&staging, &name).and_then(|()| place(&staging, dir, existed));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result?;
    eoutln!(
        "Created workspace `{name}` in {} from the reference architecture: {} files \
         (terrace.yaml, stacks/, templates/, policies/, examples/eu.yaml).",
        dir.display(),
        FILES.len() + 1
    );
    eoutln!(
        "Next: set `config:` in terrace.yaml (owner, billing account, images), then \
         `terrace config init-secrets` (with TERRACE_PASSPHRASE set) and `terrace plan`."
    );
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_are_named_after_the_directory_and_have_no_tests_entry() {
        let text = settings("qa-cluster");
        assert!(text.contains("\nname: qa-cluster\n"), "{text}");
        assert!(!text.contains("tests:"));
        assert!(text.contains("groups: examples"));
        assert_eq!(name_of(Path::new("/tmp/My Workspace")), "my-workspace");
    }
}
