//! `terrace test`: unit tests of a workspace's templates and policies, run offline — no
//! sandbox, no cloud, no credentials.
//!
//! A test file (YAML, by default `tests/*.yaml`; `tests:` in terrace.yaml names another
//! directory) holds tests. Each test is one or more steps: the groups to plan (workspace
//! groups by name, group files by path, or groups written inline), config values to override,
//! a prior state (nothing, the previous step applied, or this configuration "as if applied"),
//! mocked attribute values; then expectations on the plan: actions per stack or resource,
//! planned values, the stacks that change, the summary, refusals, errors, Rego `assert` rules.
//! Policy unit tests are `policies/*_test.rego` files with `test_…` rules (the OPA
//! convention), evaluated against fixture plans.
//!
//! Planning is the real one — rendering, schema validation, references, refresh, protect,
//! budgets, residency, policies — on mock providers that carry the real providers' schemas
//! ([`mock`]). The format is in [`file`], the assertion language in [`expect`], results and
//! JUnit XML in [`report`].

mod check;
pub mod expect;
pub mod file;
pub mod mock;
pub mod rego;
pub mod report;
mod runner;

pub use report::{Failure, Report, SuiteReport, TestReport};

use crate::config::{self, Workspace};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::policy::rego::{is_test_file, Policies};
use crate::provider::Registry;
use crate::secrets::Secrets;
use crate::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The files a run covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Test files (`*.yaml`), relative to the workspace root where possible.
    pub tests: Vec<PathBuf>,
    /// Policy test files (`*_test.rego`).
    pub policy_tests: Vec<PathBuf>,
}

impl Selection {
    fn add(&mut self, path: PathBuf) {
        let list = if path.extension().is_some_and(|e| e == "rego") {
            &mut self.policy_tests
        } else {
            &mut self.tests
        };
        if !list.contains(&path) {
            list.push(path);
        }
    }

    fn add_dir(&mut self, root: &Path, dir: &Path) {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && (is_test_yaml(p) || is_test_file(p)))
            .map(|p| crate::diagnostics::relative(root, &p))
            .collect();
        found.sort();
        found.into_iter().for_each(|p| self.add(p));
    }

    /// True when there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.tests.is_empty() && self.policy_tests.is_empty()
    }
}

fn is_test_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// The tests directory of a workspace: `tests:` in terrace.yaml, default `tests`.
pub fn tests_dir(workspace: &Workspace) -> PathBuf {
    PathBuf::from(workspace.settings.tests.as_deref().unwrap_or("tests"))
}

/// The files to run. With no paths: the test files of the tests directory and
/// `policies/*_test.rego`. A path (relative to the workspace root) is a test file, a policy
/// test, or a directory holding them.
pub fn discover(workspace: &Workspace, paths: &[PathBuf]) -> Result<Selection, Error> {
    let root = &workspace.root;
    let mut selection = Selection::default();
    if paths.is_empty() {
        selection.add_dir(root, &tests_dir(workspace));
        let policies = root.join("policies");
        let mut found: Vec<PathBuf> = std::fs::read_dir(&policies)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_test_file(p))
            .map(|p| crate::diagnostics::relative(root, &p))
            .collect();
        found.sort();
        found.into_iter().for_each(|p| selection.add(p));
        return Ok(selection);
    }
    for path in paths {
        let full = root.join(path);
        let relative = crate::diagnostics::relative(root, &full);
        if full.is_dir() {
            selection.add_dir(root, &relative);
        } else if full.is_file() && (is_test_yaml(&full) || is_test_file(&full)) {
            selection.add(relative);
        } else if full.is_file() {
            return Err(Error::usage(format!(
                "{}: not a test file (*.yaml) or a policy test (*_test.rego)",
                path.display()
            )));
        } else {
            return Err(Error::usage(format!(
                "{}: no such file or directory",
                path.display()
            )));
        }
    }
    Ok(selection)
}

/// Replaces every encrypted config value by a mock secret under a throwaway key, so tests
/// need neither the passphrase nor KMS: templates and plans see a secret, never a real one.
/// The throwaway key is there even without encrypted values: types whose cloud answers hold
/// secrets (a VPN connection's keys) plan only in a workspace with a key.
fn mock_secrets(workspace: &mut Workspace) -> Option<Arc<Secrets>> {
    let config = &mut workspace.settings.config;
    let keys: Vec<String> = config
        .iter()
        .filter(|(_, v)| crate::secrets::secure_config(v).is_some())
        .map(|(k, _)| k.clone())
        .collect();
    let secrets = Secrets::from_key(&crate::secrets::random_bytes::<32>());
    for key in keys {
        let ciphertext = secrets.encrypt(&format!("mock-secret-{key}"));
        config.insert(
            key,
            serde_json::json!({ crate::secrets::SECURE_KEY: ciphertext }),
        );
    }
    Some(Arc::new(secrets))
}

/// Everything a run needs, loaded and checked before any test runs.
struct Loaded {
    files: Vec<file::TestFile>,
    policy_tests: Vec<rego::PolicyTests>,
}

fn load_all(
    workspace: &Workspace,
    schemas: &Registry,
    policies: &Policies,
    selection: &Selection,
) -> Result<Loaded, Vec<Diagnostic>> {
    let root = &workspace.root;
    let checks = file::Checks {
        workspace,
        schemas,
        policies,
    };
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for path in &selection.tests {
        match file::load(&checks, path) {
            Ok(loaded) => files.push(loaded),
            Err(mut found) => problems.append(&mut found),
        }
    }
    let mut policy_tests = Vec::new();
    if !selection.policy_tests.is_empty() {
        match rego::load_fixtures(root) {
            Ok(fixtures) => {
                for path in &selection.policy_tests {
                    match rego::PolicyTests::load(root, path, policies, &fixtures) {
                        Ok(tests) => policy_tests.push(tests),
                        Err(problem) => problems.push(problem),
                    }
                }
            }
            Err(mut found) => problems.append(&mut found),
        }
    }
    if problems.is_empty() {
        Ok(Loaded {
            files,
            policy_tests,
        })
    } else {
        Err(problems)
    }
}

/// Runs the workspace's tests at `root` (all of them, or those `paths` name), offline: the
/// providers of `schemas` only lend their names and schemas to mock providers. `each` is
/// called after each test with its file. A broken test file, policy test or workspace is an
/// error ([`Error::Invalid`], every problem located) and nothing runs; failing tests are in the
/// report.
pub async fn run(
    root: &Path,
    schemas: &Registry,
    paths: &[PathBuf],
    mut each: impl FnMut(&Path, &TestReport),
) -> Result<Report, Error> {
    let started = Instant::now();
    let mut workspace = config::load(root).map_err(Error::Invalid)?;
    let secrets = mock_secrets(&mut workspace);
    let selection = discover(&workspace, paths)?;
    if selection.is_empty() {
        return Err(Error::usage(format!(
            "no tests found: add test files ({}/*.yaml) or policy tests (policies/*_test.rego)",
            tests_dir(&workspace).display()
        )));
    }
    let policies = Policies::load(root)
        .map_err(|d| Error::Invalid(Diagnostics(d)))?
        .with_groups(&workspace.groups);
    let loaded = load_all(&workspace, schemas, &policies, &selection)
        .map_err(|d| Error::Invalid(Diagnostics(d)))?;
    let runner = runner::Runner {
        workspace: &workspace,
        schemas,
        secrets,
    };
    let mut suites = Vec::new();
    for test_file in &loaded.files {
        let mut tests = Vec::new();
        for test in &test_file.tests {
            let report = runner.run(test).await;
            each(&test_file.path, &report);
            tests.push(report);
        }
        suites.push(SuiteReport {
            file: test_file.path.clone(),
            tests,
        });
    }
    for policy_tests in &loaded.policy_tests {
        let tests = policy_tests.run();
        tests.iter().for_each(|t| each(&policy_tests.path, t));
        suites.push(SuiteReport {
            file: policy_tests.path.clone(),
            tests,
        });
    }
    Ok(Report::new(suites, started.elapsed()))
}
