//! Judging one step: the outcome of its plan (a plan, a refusal, an invalid workspace) against
//! its expectations. Each failure names the expectation's line in the test file, the expected
//! and the actual value, and where the value came from (template file and line).

use super::expect::{self, Field, ValueCheck};
use super::file::{ActionRule, Expect, InvalidCheck, Located, SummaryCheck};
use super::report::Failure;
use crate::config::yaml::Seg;
use crate::diagnostics::{Diagnostic, Location};
use crate::engine::Terrace;
use crate::plan::{Action, Plan, ResourceChange, StackPlan};
use crate::select::matches;
use crate::value::Value;
use std::collections::BTreeMap;

/// What planning a step gave.
pub enum Outcome {
    /// A plan that passed every policy.
    Planned(Box<Plan>),
    /// The plan was refused (protect, budgets, residency, policies).
    Refused(Vec<String>),
    /// The workspace did not load or validate.
    Invalid(Vec<Diagnostic>),
    /// Planning failed otherwise.
    Failed(String),
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::Planned(plan) => format!(
                "the plan was accepted ({} to create, {} to update, {} to replace, {} to delete)",
                plan.summary.create, plan.summary.update, plan.summary.replace, plan.summary.delete
            ),
            Outcome::Refused(reasons) => format!("the plan was refused:\n{}", bullets(reasons)),
            Outcome::Invalid(diagnostics) => {
                let lines: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
                format!("the workspace is invalid:\n{}", bullets(&lines))
            }
            Outcome::Failed(message) => format!("planning failed: {message}"),
        }
    }
}

fn bullets(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("    - {}", i.replace('\n', "\n      ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every failure of `expect` on `outcome`; `terrace` (when the workspace opened) locates
/// values in templates, `at` is the step.
pub fn check(
    expect: &Expect,
    outcome: &Outcome,
    terrace: Option<&Terrace>,
    at: &Location,
) -> Vec<Failure> {
    match (outcome, &expect.refused, &expect.invalid) {
        (Outcome::Refused(reasons), Some(refused), _) => check_refused(refused, reasons),
        (Outcome::Invalid(found), _, Some(invalid)) => check_invalid(invalid, found, None),
        (Outcome::Failed(message), _, Some(invalid)) => check_invalid(invalid, &[], Some(message)),
        (Outcome::Planned(plan), None, None) => check_plan(expect, plan, terrace),
        (_, Some(refused), _) => vec![Failure::new(refused.at.clone(), "the plan must be refused")
            .values(refused.item.join("; "), outcome.describe())],
        (_, _, Some(invalid)) => {
            vec![
                Failure::new(invalid.at.clone(), "the workspace must be invalid")
                    .values(invalid.item.message.clone(), outcome.describe()),
            ]
        }
        (_, None, None) => vec![Failure::new(at.clone(), outcome.describe())],
    }
}

fn check_refused(refused: &Located<Vec<String>>, reasons: &[String]) -> Vec<Failure> {
    refused
        .item
        .iter()
        .filter(|text| !reasons.iter().any(|r| r.contains(text.as_str())))
        .map(|text| {
            Failure::new(refused.at.clone(), "no refusal says this").values(
                text.clone(),
                format!("refused because:\n{}", bullets(reasons)),
            )
        })
        .collect()
}

/// `at` matches a location when it is its `FILE`, `FILE:LINE` or `FILE:LINE:COLUMN`.
fn at_matches(at: &str, location: &Location) -> bool {
    let file = location.file.display().to_string();
    let mut forms = vec![file.clone()];
    if let Some(line) = location.line {
        forms.push(format!("{file}:{line}"));
        if let Some(column) = location.column {
            forms.push(format!("{file}:{line}:{column}"));
        }
    }
    forms.iter().any(|f| f == at)
}

fn check_invalid(
    invalid: &Located<InvalidCheck>,
    found: &[Diagnostic],
    other: Option<&String>,
) -> Vec<Failure> {
    let check = &invalid.item;
    let diagnostic_holds = |d: &Diagnostic| {
        d.to_string().contains(&check.message)
            && check
                .at
                .as_ref()
                .is_none_or(|at| at_matches(at, &d.location))
    };
    let other_holds = other.is_some_and(|m| m.contains(&check.message) && check.at.is_none());
    if found.iter().any(diagnostic_holds) || other_holds {
        return Vec::new();
    }
    let mut actual: Vec<String> = found.iter().map(|d| d.to_string()).collect();
    actual.extend(other.cloned());
    let expected = match &check.at {
        Some(at) => format!("{} (at {at})", check.message),
        None => check.message.clone(),
    };
    vec![Failure::new(invalid.at.clone(), "no error says this")
        .values(expected, format!("errors:\n{}", bullets(&actual)))]
}

fn check_plan(expect: &Expect, plan: &Plan, terrace: Option<&Terrace>) -> Vec<Failure> {
    let mut failures = check_actions(&expect.actions, plan, terrace);
    for value in &expect.values {
        failures.extend(check_value(value, plan, terrace));
    }
    if let Some(changed) = &expect.changed_stacks {
        failures.extend(check_changed(changed, plan));
    }
    if let Some(summary) = &expect.summary {
        failures.extend(check_summary(summary, plan));
    }
    if let Some(rego) = &expect.rego {
        let json = serde_json::to_string(plan).expect("plans serialize");
        failures.extend(rego.item.check(&json, &rego.at));
    }
    failures
}

/// Where a resource (and a path in its properties) or an output is written: the template line.
fn source(
    terrace: Option<&Terrace>,
    stack: &str,
    resource: Option<&str>,
    path: &[String],
) -> Option<Location> {
    let rendered = terrace?.rendered(stack)?;
    let (template, mut segs) = match resource {
        Some(name) => {
            let template = &rendered.spec.resources.get(name)?.template;
            let segs = vec![
                Seg::Key("resources"),
                Seg::Key(name),
                Seg::Key("properties"),
            ];
            (template.clone(), segs)
        }
        None => {
            let template = rendered
                .sources
                .iter()
                .find(|s| s.text.lines().any(|l| l.starts_with("outputs:")))
                .map(|s| s.template.clone())?;
            (template, vec![Seg::Key("outputs")])
        }
    };
    segs.extend(path.iter().map(|p| match p.parse::<usize>() {
        Ok(i) => Seg::Index(i),
        Err(_) => Seg::Key(p),
    }));
    if resource.is_some() && path.is_empty() {
        segs.pop();
    }
    Some(rendered.locate(&template, &segs))
}

fn actions_of(stack: &StackPlan) -> String {
    let mut by_action: BTreeMap<Action, Vec<&str>> = BTreeMap::new();
    for change in &stack.changes {
        by_action
            .entry(change.action)
            .or_default()
            .push(&change.name);
    }
    let mut parts: Vec<String> = by_action
        .iter()
        .rev()
        .map(|(action, names)| format!("{action}: {}", names.join(", ")))
        .collect();
    if stack.outputs.values().any(|o| o.changes())
        && !stack.changes.iter().any(|c| c.action.is_change())
    {
        parts.push("outputs change".into());
    }
    if parts.is_empty() {
        "no resources".into()
    } else {
        parts.join("; ")
    }
}

fn check_actions(
    rules: &[Located<ActionRule>],
    plan: &Plan,
    terrace: Option<&Terrace>,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    let stacks_of = |rule: &ActionRule| -> Vec<&StackPlan> {
        plan.stacks
            .iter()
            .filter(|s| matches(&rule.target.stack, &s.stack.name))
            .collect()
    };
    for rule in rules {
        let stacks = stacks_of(&rule.item);
        let resources: Vec<&ResourceChange> = match &rule.item.target.resource {
            Some(pattern) => stacks
                .iter()
                .flat_map(|s| s.changes.iter().filter(|c| matches(pattern, &c.name)))
                .collect(),
            None => Vec::new(),
        };
        let nothing =
            stacks.is_empty() || (rule.item.target.resource.is_some() && resources.is_empty());
        if nothing {
            let what = if stacks.is_empty() {
                "stack"
            } else {
                "resource"
            };
            failures.push(Failure::new(
                rule.at.clone(),
                format!("`{}` matches no {what} of the plan", rule.item.key),
            ));
        }
    }
    let resource_rules: Vec<&Located<ActionRule>> = rules
        .iter()
        .filter(|r| r.item.target.resource.is_some())
        .collect();
    for stack in &plan.stacks {
        let name = &stack.stack.name;
        // The first rule naming the stack claims it; a resource rule leaves the stack as a
        // whole unchecked (`proxies/eu:lb: update` before `"*": no-op`).
        let first = rules.iter().find(|r| matches(&r.item.target.stack, name));
        if let Some(rule) = first.filter(|r| r.item.target.resource.is_none()) {
            let actions: Vec<Action> = stack.changes.iter().map(|c| c.action).collect();
            if !rule
                .item
                .spec
                .holds_for_stack(&actions, stack.has_changes())
            {
                failures.push(
                    Failure::new(
                        rule.at.clone(),
                        format!("stack {name} does not do what `{}` says", rule.item.key),
                    )
                    .values(rule.item.spec.to_string(), actions_of(stack)),
                );
            }
        }
        for change in &stack.changes {
            let rule = resource_rules.iter().find(|r| {
                matches(&r.item.target.stack, name)
                    && r.item
                        .target
                        .resource
                        .as_deref()
                        .is_some_and(|p| matches(p, &change.name))
            });
            if let Some(rule) = rule {
                if !rule.item.spec.holds_for_resource(change.action) {
                    failures.push(
                        Failure::new(
                            rule.at.clone(),
                            format!(
                                "{name}:{} does not do what `{}` says",
                                change.name, rule.item.key
                            ),
                        )
                        .values(rule.item.spec.to_string(), change.action.as_str())
                        .source(source(
                            terrace,
                            name,
                            Some(&change.name),
                            &[],
                        )),
                    );
                }
            }
        }
    }
    failures
}

/// The value an address reads in one stack: `(resource, value)` per matching resource, or the
/// output; an error when the stack has no such resource or output.
fn values_in<'a>(
    stack: &'a StackPlan,
    field: &Field,
) -> Result<Vec<(Option<&'a str>, Value)>, String> {
    match field {
        Field::Resource { resource, path } => {
            let found: Vec<(Option<&str>, Value)> = stack
                .changes
                .iter()
                .filter(|c| matches(resource, &c.name))
                .map(|c| (Some(c.name.as_str()), resource_value(c, path)))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "stack {} has no resource `{resource}`",
                    stack.stack.name
                ));
            }
            Ok(found)
        }
        Field::Output { key, path } => {
            let output = stack
                .outputs
                .get(key)
                .ok_or_else(|| format!("stack {} has no output `{key}`", stack.stack.name))?;
            Ok(vec![(None, follow(&output.after, path))])
        }
    }
}

fn follow(value: &Value, path: &[String]) -> Value {
    match value {
        Value::Unknown(origin) => Value::Unknown(origin.clone()),
        other => other.get_path(path).cloned().unwrap_or(Value::Null),
    }
}

/// A resource's planned input at `path` (its `before` when it is deleted); `id` is its id.
fn resource_value(change: &ResourceChange, path: &[String]) -> Value {
    if path == ["id"] {
        return match &change.id {
            Some(id) if change.action != Action::Replace => Value::String(id.clone()),
            _ => Value::Unknown(format!("{}.id", change.name)),
        };
    }
    let inputs = if change.action == Action::Delete {
        &change.before
    } else {
        &change.after
    };
    let map = Value::Map(inputs.clone().unwrap_or_default().into_iter().collect());
    follow(&map, path)
}

fn check_value(
    value: &Located<ValueCheck>,
    plan: &Plan,
    terrace: Option<&Terrace>,
) -> Vec<Failure> {
    let check = &value.item;
    let stacks: Vec<&StackPlan> = plan
        .stacks
        .iter()
        .filter(|s| matches(&check.address.stack, &s.stack.name))
        .collect();
    if stacks.is_empty() {
        return vec![Failure::new(
            value.at.clone(),
            format!("`{}` matches no stack of the plan", check.address.stack),
        )];
    }
    let path = match &check.address.field {
        Field::Resource { path, .. } => path.clone(),
        Field::Output { key, path } => [vec![key.clone()], path.clone()].concat(),
    };
    let mut failures = Vec::new();
    for stack in stacks {
        let name = &stack.stack.name;
        let found = match values_in(stack, &check.address.field) {
            Ok(found) => found,
            Err(message) => {
                failures.push(Failure::new(value.at.clone(), message));
                continue;
            }
        };
        for (resource, actual) in found {
            if check.holds(&actual) {
                continue;
            }
            let address = match resource {
                Some(r) => format!("{name}:{r}"),
                None => format!("{name}:outputs"),
            };
            failures.push(
                Failure::new(
                    value.at.clone(),
                    format!("`{}` does not hold for {address}", check.text),
                )
                .values(check.expected_text(), expect::show(&actual))
                .source(source(terrace, name, resource, &path)),
            );
        }
    }
    failures
}

fn check_changed(changed: &Located<Vec<String>>, plan: &Plan) -> Vec<Failure> {
    let actual: Vec<&str> = plan
        .stacks
        .iter()
        .filter(|s| s.has_changes())
        .map(|s| s.stack.name.as_str())
        .collect();
    let unexpected: Vec<&str> = actual
        .iter()
        .copied()
        .filter(|s| !changed.item.iter().any(|p| matches(p, s)))
        .collect();
    let missing: Vec<&str> = changed
        .item
        .iter()
        .map(String::as_str)
        .filter(|p| !actual.iter().any(|s| matches(p, s)))
        .collect();
    if unexpected.is_empty() && missing.is_empty() {
        return Vec::new();
    }
    let mut why = Vec::new();
    if !unexpected.is_empty() {
        why.push(format!("also changes {}", unexpected.join(", ")));
    }
    if !missing.is_empty() {
        why.push(format!("nothing changes for {}", missing.join(", ")));
    }
    vec![Failure::new(
        changed.at.clone(),
        format!("the changed stacks differ: {}", why.join("; ")),
    )
    .values(changed.item.join(", "), actual.join(", "))]
}

fn check_summary(summary: &Located<SummaryCheck>, plan: &Plan) -> Vec<Failure> {
    let s = &plan.summary;
    let want = &summary.item;
    let pairs = [
        ("create", want.create, s.create),
        ("update", want.update, s.update),
        ("replace", want.replace, s.replace),
        ("delete", want.delete, s.delete),
        ("no_op", want.no_op, s.no_op),
        ("stacks", want.stacks, s.stacks),
        ("stacks_changed", want.stacks_changed, s.stacks_changed),
    ];
    let wrong: Vec<(&str, usize, usize)> = pairs
        .iter()
        .filter_map(|(name, want, got)| want.filter(|w| w != got).map(|w| (*name, w, *got)))
        .collect();
    if wrong.is_empty() {
        return Vec::new();
    }
    let show = |pick: fn(&(&str, usize, usize)) -> usize| {
        wrong
            .iter()
            .map(|w| format!("{} {}", w.0, pick(w)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![Failure::new(summary.at.clone(), "the plan's counts differ")
        .values(show(|w| w.1), show(|w| w.2))]
}
