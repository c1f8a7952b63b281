//! Human-readable output: plan diffs per stack with a summary of counts, apply summaries,
//! and errors with their file, line, column and help.

use console::Style;
use terrace::apply::ApplySummary;
use terrace::events::{ResourceStatus, StackStatus};
use terrace::plan::blast::BlastRadius;
use terrace::plan::{Action, Plan, ResourceChange, StackPlan};
use terrace::value::Value;
use terrace::Error;

/// Colours for actions; plain when colour is off.
pub struct Styles {
    pub create: Style,
    pub update: Style,
    pub replace: Style,
    pub delete: Style,
    pub dim: Style,
    pub bold: Style,
    pub error: Style,
}

impl Styles {
    pub fn new(colour: bool) -> Styles {
        let s = |style: Style| {
            if colour {
                style.force_styling(true)
            } else {
                Style::new()
            }
        };
        Styles {
            create: s(Style::new().green()),
            update: s(Style::new().yellow()),
            replace: s(Style::new().magenta()),
            delete: s(Style::new().red()),
            dim: s(Style::new().dim()),
            bold: s(Style::new().bold()),
            error: s(Style::new().red().bold()),
        }
    }

    fn action(&self, action: Action) -> &Style {
        match action {
            Action::Create => &self.create,
            Action::Update => &self.update,
            Action::Replace => &self.replace,
            Action::Delete => &self.delete,
            Action::NoOp => &self.dim,
            _ => &self.bold, // an action this build does not know: shown as a change
        }
    }
}

/// The plan as a diff per changed stack and a summary line.
pub fn plan(plan: &Plan, styles: &Styles) -> String {
    let mut out = String::new();
    let mut unchanged = 0;
    for stack in &plan.stacks {
        if stack.has_changes() {
            out.push_str(&stack_diff(stack, styles));
        } else {
            unchanged += 1;
        }
    }
    if !plan.has_changes() {
        out.push_str(&format!(
            "No changes. {} stack(s) match their configuration.\n",
            plan.stacks.len()
        ));
        return out;
    }
    let s = &plan.summary;
    out.push_str(&format!(
        "{} {} to create, {} to update, {} to replace, {} to delete; {} of {} stack(s) change, {unchanged} unchanged.\n",
        styles.bold.apply_to("Plan:"),
        styles.create.apply_to(s.create),
        styles.update.apply_to(s.update),
        styles.replace.apply_to(s.replace),
        styles.delete.apply_to(s.delete),
        s.stacks_changed,
        s.stacks,
    ));
    out.push_str(&blast_radius(&plan.blast_radius, styles));
    out
}

fn blast_radius(radius: &BlastRadius, styles: &Styles) -> String {
    let list = |set: &std::collections::BTreeSet<String>| {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    let mut out = format!(
        "{} {} stack(s) in group(s) {}; region(s) {}; cloud(s) {}.\n",
        styles.bold.apply_to("Blast radius:"),
        radius.stacks.len(),
        list(&radius.groups),
        list(&radius.regions),
        list(&radius.clouds),
    );
    for (stack, inputs) in &radius.downstream {
        out.push_str(&format!(
            "  inputs change downstream: {stack} (reads {})\n",
            list(inputs)
        ));
    }
    out
}

fn stack_diff(stack: &StackPlan, styles: &Styles) -> String {
    let serial = stack
        .serial
        .map(|s| format!("serial {s}"))
        .unwrap_or_else(|| "new".into());
    let mut out = format!(
        "{} {} ({serial})\n",
        styles.bold.apply_to("Stack"),
        styles.bold.apply_to(&stack.stack.name)
    );
    for pending in &stack.pending {
        out.push_str(&format!(
            "  ! interrupted {pending}: will be adopted or cleared after a refresh\n"
        ));
    }
    for change in stack.changes.iter().filter(|c| c.action.is_change()) {
        out.push_str(&resource_diff(change, styles));
    }
    let outputs: Vec<_> = stack.outputs.iter().filter(|(_, o)| o.changes()).collect();
    if !outputs.is_empty() {
        out.push_str("  outputs:\n");
        for (name, output) in outputs {
            let before = output
                .before
                .as_ref()
                .map(|b| Value::from_json(b).to_string());
            match before {
                Some(before) => {
                    out.push_str(&format!("    ~ {name}: {before} → {}\n", output.after))
                }
                None => out.push_str(&format!("    + {name}: {}\n", output.after)),
            }
        }
    }
    out.push('\n');
    out
}

fn resource_diff(change: &ResourceChange, styles: &Styles) -> String {
    let style = styles.action(change.action);
    let mut header = format!(
        "  {} {} ({})",
        style.apply_to(change.action.symbol()),
        style.apply_to(&change.name),
        change.type_name
    );
    if let Some(id) = &change.id {
        header.push_str(&format!(" {}", styles.dim.apply_to(id)));
    }
    if !change.replace_because.is_empty() {
        header.push_str(&format!(
            " — replace forced by {}",
            change.replace_because.join(", ")
        ));
    }
    let mut out = format!("{header}\n");
    for note in &change.notes {
        out.push_str(&format!("      # {note}\n"));
    }
    match change.action {
        Action::Create => {
            for (k, v) in change.after.iter().flatten() {
                out.push_str(&format!("      {k}: {v}\n"));
            }
        }
        Action::Delete => {}
        _ => {
            for field in &change.changed {
                let before = change
                    .before
                    .as_ref()
                    .and_then(|b| b.get(field))
                    .cloned()
                    .unwrap_or(Value::Null);
                let after = change
                    .after
                    .as_ref()
                    .and_then(|a| a.get(field))
                    .cloned()
                    .unwrap_or(Value::Null);
                // A nested value shows only its changed leaves, each under its own path.
                let leaves = terrace::plan::compare::leaf_changes(&before, &after);
                let shown = match leaves.as_slice() {
                    [only] if only.path.is_empty() => vec![(field.clone(), before, after)],
                    [] => vec![(field.clone(), before, after)],
                    many => many
                        .iter()
                        .map(|l| {
                            (
                                format!("{field}{}", l.path),
                                l.before.clone(),
                                l.after.clone(),
                            )
                        })
                        .collect(),
                };
                for (path, before, after) in shown {
                    let forces = change
                        .replace_because
                        .iter()
                        .any(|r| r == &path || r == field || r.starts_with(&format!("{path} ")));
                    let mark = if forces { "  # forces replacement" } else { "" };
                    out.push_str(&format!("      {path}: {before} → {after}{mark}\n"));
                }
            }
        }
    }
    out
}

/// The end of an apply: counts, then what failed and what was skipped. Resources are counted
/// as the plan counts changes: the two halves of a replace (the old copy's delete, the new
/// copy's create) are one resource, failed if either failed.
pub fn apply_summary(summary: &ApplySummary, styles: &Styles) -> String {
    let resources = resource_outcomes(summary);
    let count = |status| resources.values().filter(|(s, _)| *s == status).count();
    let stacks: Vec<String> = [
        (StackStatus::Succeeded, "succeeded"),
        (StackStatus::Failed, "failed"),
        (StackStatus::Refused, "refused"),
        (StackStatus::Locked, "locked"),
        (StackStatus::Skipped, "skipped"),
    ]
    .iter()
    .filter(|(status, word)| summary.count(*status) > 0 || *word == "succeeded")
    .map(|(status, word)| format!("{} {word}", summary.count(*status)))
    .collect();
    let mut out = format!(
        "\n{} stacks: {}; resources: {} done, {} failed, {} skipped.\n",
        styles.bold.apply_to(if summary.succeeded() {
            "Apply complete:"
        } else {
            "Apply incomplete:"
        }),
        stacks.join(", "),
        count(ResourceStatus::Done),
        count(ResourceStatus::Failed),
        count(ResourceStatus::Skipped),
    );
    for stack in summary
        .stacks
        .iter()
        .filter(|s| s.status != StackStatus::Succeeded)
    {
        let status = format!("{:?}", stack.status).to_lowercase();
        let message = stack.message.as_deref().unwrap_or("");
        let reason = message
            .strip_prefix(&format!("{status}: "))
            .unwrap_or(message);
        out.push_str(&format!(
            "  {} {}: {reason}\n",
            styles.error.apply_to(&status),
            stack.stack,
        ));
    }
    let by_status = [ResourceStatus::Failed, ResourceStatus::Skipped]
        .into_iter()
        .flat_map(|wanted| resources.iter().filter(move |(_, (s, _))| *s == wanted));
    for ((stack, resource), (status, error)) in by_status {
        let error = error.unwrap_or("");
        match status {
            ResourceStatus::Failed => out.push_str(&format!(
                "  {} {stack}:{resource}: {error}\n",
                styles.error.apply_to("failed"),
            )),
            ResourceStatus::Skipped => out.push_str(&format!(
                "  skipped {stack}:{resource}: {}\n",
                error.strip_prefix("skipped: ").unwrap_or(error)
            )),
            _ => {} // only the failed and the skipped are listed
        }
    }
    out
}

/// (stack, resource) → how it ended and why, the halves of a replace (and a deposed copy's
/// delete) merged: failed over skipped over done.
fn resource_outcomes(
    summary: &ApplySummary,
) -> std::collections::BTreeMap<(&str, &str), (ResourceStatus, Option<&str>)> {
    let rank = |s: ResourceStatus| match s {
        ResourceStatus::Done => 0,
        ResourceStatus::Skipped => 1,
        _ => 2, // failed, and any status this build does not know: not a success
    };
    let mut merged = std::collections::BTreeMap::new();
    for stack in &summary.stacks {
        for outcome in &stack.resources {
            let name = terrace::address::StateKey::resource_of(&outcome.resource);
            let entry = merged
                .entry((stack.stack.as_str(), name))
                .or_insert((outcome.status, outcome.error.as_deref()));
            if rank(outcome.status) > rank(entry.0) {
                *entry = (outcome.status, outcome.error.as_deref());
            }
        }
    }
    merged
}

/// An error for a person.
pub fn error(err: &Error, styles: &Styles) -> String {
    match err {
        Error::Invalid(diagnostics) => diagnostics
            .0
            .iter()
            .map(|d| format!("{} {d}\n", styles.error.apply_to("error:")))
            .collect(),
        other => format!("{} {other}\n", styles.error.apply_to("error:")),
    }
}

/// One line per test of `terrace test` (`ok` / `FAIL`, file › name, time), then each failure.
pub fn test_result(
    file: &std::path::Path,
    test: &terrace::workspace_test::TestReport,
    styles: &Styles,
) -> String {
    let (mark, style) = if test.passed() {
        ("ok  ", &styles.create)
    } else {
        ("FAIL", &styles.error)
    };
    let mut out = format!(
        "{} {} › {} {}\n",
        style.apply_to(mark),
        file.display(),
        test.name,
        styles.dim.apply_to(format!("({})", millis(test.duration)))
    );
    for failure in &test.failures {
        for line in failure.to_string().lines() {
            out.push_str(&format!("     {line}\n"));
        }
    }
    out
}

fn millis(duration: std::time::Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}

/// The end of `terrace test`: the time taken and the slowest test, then `N passed, N failed`
/// alone on the last line.
pub fn test_summary(report: &terrace::workspace_test::Report, styles: &Styles) -> String {
    let slowest = report
        .suites
        .iter()
        .flat_map(|s| s.tests.iter().map(move |t| (s, t)))
        .max_by_key(|(_, t)| t.duration)
        .map(|(s, t)| {
            format!(
                " (slowest: {} › {}, {})",
                s.file.display(),
                t.name,
                millis(t.duration)
            )
        })
        .unwrap_or_default();
    let counts = format!("{} passed, {} failed", report.passed, report.failed);
    let counts = if report.failed == 0 {
        styles.bold.apply_to(counts)
    } else {
        styles.error.apply_to(counts)
    };
    format!(
        "Ran {} test(s) in {:.2} s{slowest}.\n{counts}\n",
        report.passed + report.failed,
        report.duration.as_secs_f64()
    )
}
