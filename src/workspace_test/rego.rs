//! Rego in tests, evaluated with regorus like the policies:
//!
//! - a step's `rego:` assertions: rules named `assert` or `assert_…`, each of which must be
//!   true with the plan JSON as `input` and the workspace's policies loaded (so
//!   `data.terrace.deny` can be asserted on). Without a `package` line the rules are put in
//!   `package assertions`;
//! - policy unit tests, the OPA convention: `policies/*_test.rego` files whose `test_…` rules
//!   must be true, evaluated with the policies and the fixture plans of
//!   `policies/fixtures/*.json|yaml` as `data.fixtures.<file name>` (`with input as
//!   data.fixtures.open_port`).

use super::report::{Failure, TestReport};
use crate::diagnostics::{Diagnostic, Location};
use crate::policy::rego::Policies;
use regorus::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Rules of `text` whose names are `prefix` or start with `prefix_`, with their 1-based
/// lines (rule heads start a line, as `opa fmt` writes them).
fn rules_named(text: &str, prefix: &str) -> Vec<(String, usize)> {
    let mut found: Vec<(String, usize)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(line.len());
        let name = &line[..end];
        let head = line[end..].starts_with([' ', '\t', '{', ':', '=']) || end == line.len();
        let named = name == prefix || name.starts_with(&format!("{prefix}_"));
        if named && head && !found.iter().any(|(n, _)| n == name) {
            found.push((name.to_string(), i + 1));
        }
    }
    found
}

/// Why a rule that must be true is not, or `None` when it is.
fn verdict(result: Result<Value, impl fmt::Display>) -> Option<String> {
    match result {
        Ok(Value::Bool(true)) => None,
        Ok(Value::Bool(false)) => Some("is false".to_string()),
        Ok(Value::Undefined) => Some("is undefined: a condition in its body does not hold".into()),
        Ok(other) => Some(format!(
            "is {}, not true",
            other.to_json_str().unwrap_or_else(|_| "a value".into())
        )),
        Err(e) => Some(format!("could not be evaluated: {e}")),
    }
}

/// A step's Rego assertions, compiled with the workspace's policies.
#[derive(Clone)]
pub struct Assertions {
    engine: regorus::Engine,
    package: String,
    rules: Vec<(String, usize)>,
}

impl fmt::Debug for Assertions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assertions")
            .field("package", &self.package)
            .field("rules", &self.rules)
            .finish()
    }
}

impl Assertions {
    /// Compiles `text` (named `name` in messages) with the policies.
    pub fn compile(policies: &Policies, name: &str, text: &str) -> Result<Assertions, String> {
        let has_package = text.lines().any(|l| l.trim_start().starts_with("package "));
        let source = if has_package {
            text.to_string()
        } else {
            format!("package assertions\n{text}")
        };
        let mut engine = policies.engine()?;
        let package = engine
            .add_policy(name.to_string(), source)
            .map_err(|e| format!("the Rego assertions do not parse: {e}"))?;
        let rules = rules_named(text, "assert");
        if rules.is_empty() {
            return Err("no rule named `assert` or `assert_…` in the Rego assertions".into());
        }
        Ok(Assertions {
            engine,
            package,
            rules,
        })
    }

    /// Failures of the assertions on a plan (as JSON); `at` is the `rego:` key, whose block
    /// starts on the next line.
    pub fn check(&self, plan_json: &str, at: &Location) -> Vec<Failure> {
        let mut engine = self.engine.clone();
        if let Err(e) = engine.set_input_json(plan_json) {
            return vec![Failure::new(
                at.clone(),
                format!("the plan is not Rego input: {e}"),
            )];
        }
        self.rules
            .iter()
            .filter_map(|(rule, line)| {
                let why = verdict(engine.eval_rule(format!("{}.{rule}", self.package)))?;
                let mut where_ = at.clone();
                where_.line = at.line.map(|l| l + line);
                where_.column = Some(1);
                Some(Failure::new(
                    where_,
                    format!("Rego assertion `{rule}` {why}"),
                ))
            })
            .collect()
    }
}

/// Fixture plans for policy tests: `policies/fixtures/*.json|yaml|yml` under
/// `data.fixtures.<file stem>`.
pub fn load_fixtures(root: &Path) -> Result<serde_json::Value, Vec<Diagnostic>> {
    let dir = root.join("policies").join("fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "json" || e == "yaml" || e == "yml")
        })
        .collect();
    paths.sort();
    let mut fixtures = serde_json::Map::new();
    let mut problems = Vec::new();
    for path in paths {
        let file = crate::diagnostics::relative(root, &path);
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| Diagnostic::new(Location::file(&file), format!("cannot read: {e}")))
            .and_then(|text| crate::config::yaml::parse::<serde_json::Value>(&file, &text));
        match parsed {
            Ok(value) => {
                fixtures.insert(stem.to_string(), value);
            }
            Err(diagnostic) => problems.push(diagnostic),
        }
    }
    if problems.is_empty() {
        Ok(serde_json::json!({ "fixtures": fixtures }))
    } else {
        Err(problems)
    }
}

/// A policy unit test file, compiled with the policies and the fixtures.
pub struct PolicyTests {
    /// The file, relative to the workspace root.
    pub path: PathBuf,
    engine: regorus::Engine,
    package: String,
    tests: Vec<(String, usize)>,
}

impl PolicyTests {
    /// Loads `path` (relative to `root`); a file that does not parse or has no `test_…` rule
    /// is an error naming it.
    pub fn load(
        root: &Path,
        path: &Path,
        policies: &Policies,
        fixtures: &serde_json::Value,
    ) -> Result<PolicyTests, Diagnostic> {
        let file = crate::diagnostics::relative(root, path);
        let problem = |message: String| Diagnostic::new(Location::file(&file), message);
        let text = std::fs::read_to_string(root.join(&file))
            .map_err(|e| problem(format!("cannot read the policy test: {e}")))?;
        let mut engine = policies.engine().map_err(problem)?;
        engine
            .add_data_json(&fixtures.to_string())
            .map_err(|e| problem(format!("fixture plans: {e}")))?;
        let package = engine
            .add_policy(file.display().to_string(), text.clone())
            .map_err(|e| {
                problem(format!("the policy test does not parse: {e}"))
                    .help("policy tests are Rego v1 with `test_…` rules, like the policies")
            })?;
        let tests = rules_named(&text, "test");
        if tests.is_empty() {
            return Err(problem("no `test_…` rule in the policy test".into())
                .help("add rules such as `test_open_port_is_denied if { … }`"));
        }
        Ok(PolicyTests {
            path: file,
            engine,
            package,
            tests,
        })
    }

    /// Runs every `test_…` rule.
    pub fn run(&self) -> Vec<TestReport> {
        self.tests
            .iter()
            .map(|(rule, line)| {
                let started = Instant::now();
                let mut engine = self.engine.clone();
                let result = engine.eval_rule(format!("{}.{rule}", self.package));
                let at = Location::at(&self.path, *line, 1);
                let failures = verdict(result)
                    .map(|why| vec![Failure::new(at.clone(), format!("`{rule}` {why}"))])
                    .unwrap_or_default();
                TestReport {
                    name: rule.clone(),
                    at,
                    duration: started.elapsed(),
                    failures,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_heads_are_found_with_their_lines() {
        let text = "package p\n\ntest_a if {\n  true\n}\ntest_a if { false }\ntest_b := true\n  test_indented if true\ntesting if true\n# test_comment\n";
        assert_eq!(
            rules_named(text, "test"),
            vec![("test_a".to_string(), 3), ("test_b".to_string(), 7)]
        );
        assert_eq!(rules_named("assert if true\n", "assert")[0].0, "assert");
    }

    #[test]
    fn assertions_hold_or_say_why_not() {
        let policies = Policies::default();
        let rego = "assert_two if count(input.stacks) == 2\nassert_named if input.stacks[0].name == \"x\"\n";
        let assertions = Assertions::compile(&policies, "t.yaml:3", rego).unwrap();
        let at = Location::at("t.yaml", 3, 5);
        let plan = r#"{"stacks": [{"name": "x"}, {"name": "y"}]}"#;
        assert!(assertions.check(plan, &at).is_empty());
        let failures = assertions.check(r#"{"stacks": [{"name": "y"}]}"#, &at);
        let messages: Vec<String> = failures.iter().map(|f| f.message.clone()).collect();
        assert_eq!(
            messages,
            vec![
                "Rego assertion `assert_two` is undefined: a condition in its body does not hold",
                "Rego assertion `assert_named` is undefined: a condition in its body does not hold"
            ]
        );
        assert_eq!(
            failures[1].at.line,
            Some(5),
            "the rule's own line in the test file"
        );
        let err = Assertions::compile(&policies, "t.yaml:3", "allow if true\n").unwrap_err();
        assert!(err.contains("no rule named `assert`"), "{err}");
        let err = Assertions::compile(&policies, "t.yaml:3", "assert if {\n").unwrap_err();
        assert!(err.contains("do not parse"), "{err}");
    }
}
