//! Helpers shared by the integration tests: fixture workspaces in temporary directories, the
//! engine on the in-process test provider, and the `terrace` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use terrace::engine::{ApplyOptions, PlanOptions, Terrace};
use terrace::events::EventSink;
use terrace::provider::Registry;
use terrace::testing::{TestOptions, TestProvider};

/// A copy of `tests/fixtures/<name>` in a fresh temporary directory.
pub fn workspace(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
        dir.path(),
    );
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

/// The engine with a test provider (in memory).
pub struct Engine {
    pub provider: Arc<TestProvider>,
    pub root: PathBuf,
}

impl Engine {
    pub fn new(root: &Path, options: TestOptions) -> Engine {
        Engine {
            provider: Arc::new(TestProvider::in_memory(options)),
            root: root.to_path_buf(),
        }
    }

    /// Opens the workspace again (after edits), sharing the same fake cloud.
    pub fn open(&self) -> Terrace {
        let mut registry = Registry::new();
        registry.register(self.provider.clone());
        Terrace::open(&self.root, registry).expect("workspace opens")
    }

    pub async fn plan(&self) -> terrace::plan::Plan {
        self.open()
            .plan(&PlanOptions::default())
            .await
            .expect("plan")
    }

    pub async fn apply_plan(&self, plan: terrace::plan::Plan) -> terrace::apply::ApplySummary {
        self.open()
            .apply_with(plan, ApplyOptions::default(), EventSink::none())
            .await
            .expect("apply runs")
    }

    pub async fn apply(&self) -> terrace::apply::ApplySummary {
        let plan = self.plan().await;
        self.apply_plan(plan).await
    }

    /// Resources of a type in the fake cloud, listed directly.
    pub fn cloud_count(&self, type_name: &str) -> usize {
        self.provider
            .cloud()
            .list()
            .unwrap()
            .iter()
            .filter(|r| r.type_name == type_name)
            .count()
    }
}
