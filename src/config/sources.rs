//! Where a workspace's files come from: its directory on disk (the CLI), files given in memory,
//! or files given in memory over a read-only directory (a control plane that keeps the
//! reference templates in a directory and makes groups on demand). The loader
//! ([`super::load_sources`]) reads only through [`Sources`], and keeps every text it read in the
//! [`super::Workspace`], so nothing is read from disk again after loading (validation places
//! its errors in the texts kept).
//!
//! Paths are relative to the workspace root (`terrace.yaml`, `groups/qa.yaml`,
//! `stacks/networks/layer.yaml`, `templates/networks/vpc.yaml.tera`, `policies/x.rego`). A file
//! given in memory hides the directory's file of the same path.

use super::group::Group;
use super::settings::Settings;
use crate::diagnostics::{Diagnostic, Location};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// A workspace's files: a directory, files in memory, or both.
///
/// ```
/// use terrace::config::Sources;
/// let sources = Sources::memory()
///     .file("terrace.yaml", "name: qa\n")
///     .file("groups/qa-1.yaml", "replicas: []\n");
/// assert!(!sources.is_writable());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Sources {
    base: Option<PathBuf>,
    files: BTreeMap<PathBuf, String>,
    writable: bool,
}

/// A typed value that could not be written as YAML (see [`Sources::group`]).
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} as YAML: {message}")]
pub struct SourceError {
    /// What was written, e.g. `group qa-1`.
    pub what: String,
    /// The serializer's message.
    pub message: String,
}

impl Sources {
    /// The workspace directory itself: files are read from it, and the library may keep its
    /// default file state there (`file://.terrace/state`). What `Terrace::open` uses.
    pub fn workspace(root: impl Into<PathBuf>) -> Sources {
        Sources {
            base: Some(root.into()),
            files: BTreeMap::new(),
            writable: true,
        }
    }

    /// A read-only directory (e.g. the reference templates shipped with a control plane):
    /// files are read from it, nothing is ever written into it. Add or replace files with
    /// [`Sources::file`], [`Sources::group`], [`Sources::settings`].
    pub fn read_only(dir: impl Into<PathBuf>) -> Sources {
        Sources {
            base: Some(dir.into()),
            files: BTreeMap::new(),
            writable: false,
        }
    }

    /// No directory: every file is given with [`Sources::file`] and friends.
    pub fn memory() -> Sources {
        Sources::default()
    }

    /// This file's text (`path` relative to the workspace root, e.g. `groups/qa-1.yaml`),
    /// replacing the directory's file of the same path.
    pub fn file(mut self, path: impl AsRef<Path>, text: impl Into<String>) -> Sources {
        self.files.insert(normalise(path.as_ref()), text.into());
        self
    }

    /// `terrace.yaml` written from typed settings.
    pub fn settings(self, settings: &Settings) -> Result<Sources, SourceError> {
        let text = to_yaml("terrace.yaml", settings)?;
        Ok(self.file(super::SETTINGS_FILE, text))
    }

    /// A group written from a typed value, as `<groups dir>/<name>.yaml` (the groups directory
    /// `terrace.yaml` names, read when the workspace is loaded; `groups/` by default).
    /// Errors in it are reported at lines of that YAML text.
    pub fn group(self, group: &Group) -> Result<Sources, SourceError> {
        let text = to_yaml(&format!("group {}", group.name), group)?;
        Ok(self.group_yaml(&group.name, text))
    }

    /// A group given as YAML text, named `name` (the file name it would have).
    pub fn group_yaml(mut self, name: &str, text: impl Into<String>) -> Sources {
        self.files.insert(
            PathBuf::from(GROUPS_PLACEHOLDER).join(format!("{name}.yaml")),
            text.into(),
        );
        self
    }

    /// The directory files are read from, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.base.as_deref()
    }

    /// True for a workspace directory the library may write its default state into.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Groups given with [`Sources::group`] move into the groups directory now known.
    pub(crate) fn place_groups(&mut self, groups_dir: &Path) {
        let placeholder = Path::new(GROUPS_PLACEHOLDER);
        let given: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| p.starts_with(placeholder))
            .cloned()
            .collect();
        for path in given {
            if let (Some(text), Ok(name)) =
                (self.files.remove(&path), path.strip_prefix(placeholder))
            {
                self.files.insert(normalise(&groups_dir.join(name)), text);
            }
        }
    }

    /// The text of `file` (relative): `None` when it exists nowhere; a diagnostic at the file
    /// when it cannot be read or is not UTF-8 (naming the line and column of the first bad byte).
    pub(crate) fn read(&self, file: &Path) -> Result<Option<String>, Diagnostic> {
        let file = normalise(file);
        if let Some(text) = self.files.get(&file) {
            return Ok(Some(text.clone()));
        }
        let Some(base) = &self.base else {
            return Ok(None);
        };
        let bytes = match std::fs::read(base.join(&file)) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(Diagnostic::new(
                    Location::file(&file),
                    format!("cannot read: {err}"),
                ))
            }
        };
        utf8(&file, bytes).map(Some)
    }

    /// The files directly in `dir` (relative) whose names end with `suffix`, sorted.
    pub(crate) fn files_in(&self, dir: &Path, suffix: &str) -> Vec<PathBuf> {
        let dir = normalise(dir);
        let mut found: BTreeSet<PathBuf> = self
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir.as_path()))
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .cloned()
            .collect();
        found.extend(
            self.entries(&dir)
                .filter(|(_, is_dir)| !is_dir)
                .map(|(name, _)| dir.join(name))
                .filter(|p| p.to_string_lossy().ends_with(suffix)),
        );
        found.into_iter().collect()
    }

    /// The subdirectories directly in `dir` (relative), sorted.
    pub(crate) fn dirs_in(&self, dir: &Path) -> Vec<PathBuf> {
        let dir = normalise(dir);
        let mut found: BTreeSet<PathBuf> = self
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(&dir).ok())
            .filter(|rest| rest.components().count() > 1)
            .filter_map(|rest| rest.components().next())
            .map(|first| dir.join(first))
            .collect();
        found.extend(
            self.entries(&dir)
                .filter(|(_, is_dir)| *is_dir)
                .map(|(name, _)| dir.join(name)),
        );
        found.into_iter().collect()
    }

    /// (name, is a directory) of each entry of the base directory's `dir`.
    fn entries(&self, dir: &Path) -> impl Iterator<Item = (String, bool)> {
        self.base
            .as_ref()
            .and_then(|base| std::fs::read_dir(base.join(dir)).ok())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let is_dir = e.path().is_dir();
                (e.file_name().to_string_lossy().to_string(), is_dir)
            })
    }
}

/// Policy unit tests (`*_test.rego`, the OPA convention) are not policies: `terrace test` runs
/// them, plans never evaluate them.
pub fn is_policy_test(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with("_test.rego"))
}

/// Where groups given before the groups directory is known wait.
const GROUPS_PLACEHOLDER: &str = "\u{0}groups";

fn to_yaml<T: serde::Serialize>(what: &str, value: &T) -> Result<String, SourceError> {
    serde_yaml_ng::to_string(value).map_err(|e| SourceError {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// `a/./b` and `a//b` as `a/b`.
fn normalise(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The text of `bytes`, or a diagnostic at the first byte that is not UTF-8.
fn utf8(file: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
        let byte = err.as_bytes()[valid.len()];
        Diagnostic::new(
            Location::at(file, line, column),
            format!("not UTF-8 text: byte 0x{byte:02x} cannot start a character"),
        )
        .help("save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_files_hide_the_directorys_and_list_with_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("groups")).unwrap();
        std::fs::write(dir.path().join("groups/a.yaml"), "on disk").unwrap();
        std::fs::write(dir.path().join("groups/b.yaml"), "b").unwrap();
        let mut sources = Sources::read_only(dir.path())
            .file("groups/a.yaml", "in memory")
            .group_yaml("c", "c");
        sources.place_groups(Path::new("groups"));
        assert_eq!(
            sources.read(Path::new("groups/a.yaml")).unwrap().as_deref(),
            Some("in memory")
        );
        assert_eq!(
            sources
                .read(Path::new("./groups/b.yaml"))
                .unwrap()
                .as_deref(),
            Some("b")
        );
        assert_eq!(sources.read(Path::new("groups/x.yaml")).unwrap(), None);
        let names: Vec<PathBuf> = sources.files_in(Path::new("groups"), ".yaml");
        assert_eq!(
            names,
            ["groups/a.yaml", "groups/b.yaml", "groups/c.yaml"].map(PathBuf::from)
        );
    }

    #[test]
    fn directories_come_from_memory_paths_too() {
        let sources = Sources::memory()
            .file("stacks/networks/layer.yaml", "per: group")
            .file("stacks/accounts/layer.yaml", "per: group")
            .file("templates/networks/vpc.yaml.tera", "");
        assert_eq!(
            sources.dirs_in(Path::new("stacks")),
            ["stacks/accounts", "stacks/networks"].map(PathBuf::from)
        );
        assert!(sources.dirs_in(Path::new("templates/networks")).is_empty());
    }

    #[test]
    fn a_file_that_is_not_utf8_is_one_located_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("terrace.yaml"), b"name: a\nx: \xff\n").unwrap();
        let err = Sources::workspace(dir.path())
            .read(Path::new("terrace.yaml"))
            .unwrap_err();
        assert_eq!(err.location.line, Some(2));
        assert!(err.message.contains("0xff"), "{}", err.message);
    }
}
