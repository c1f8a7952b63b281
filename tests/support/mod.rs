//! Helpers shared by the integration tests: fixture workspaces (`terrace-test-support`) and
//! the engine on the in-process test provider.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use terrace::engine::{PlanOptions, Terrace};
use terrace::events::EventSink;
use terrace::provider::Registry;
use terrace::testing::{TestOptions, TestProvider};
#[allow(unused_imports)] // not every test binary uses every helper
pub use terrace_test_support::fixtures::{edit, workspace, write};

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

    /// Applies `plan` with the options the workspace asks for (`concurrency:`, `consistency:`).
    pub async fn apply_plan(&self, plan: terrace::plan::Plan) -> terrace::apply::ApplySummary {
        let terrace = self.open();
        let options = terrace.apply_options();
        terrace
            .apply_with(plan, options, EventSink::none())
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
