//! `terrace plan --summary FILE` (and `$GITHUB_STEP_SUMMARY`): the plan as Markdown fit for a
//! pull-request comment — changes per stack, replace reasons, blast radius, budgets, policy
//! and residency verdicts, and the full plan folded away. Values appear only in the folded
//! plan, where secrets are `[secret]` as in every plan output. Nothing in it depends on the
//! time or the machine, so two runs on the same state and configuration give the same text.

use super::args::Cli;
use super::render::{self, Styles};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use terrace::config::Workspace;
use terrace::plan::{Action, Plan};
use terrace::policy::budgets::Budgets;
use terrace::Error;

/// The environment variable GitHub Actions names its step summary file in.
const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";

/// What the checks of the plan said.
pub struct Verdicts<'a> {
    /// The budgets in force for this run.
    pub budgets: Budgets,
    /// Group → its jurisdiction, for the groups of the plan.
    pub residency: BTreeMap<String, String>,
    /// Number of Rego policies in `policies/`.
    pub policies: usize,
    /// Why the plan was refused; empty when it passed.
    pub refusals: &'a [String],
}

impl<'a> Verdicts<'a> {
    /// The verdicts for `groups` of `workspace` with budgets raised by `raised`.
    pub fn of(
        workspace: &Workspace,
        groups: impl Iterator<Item = String>,
        raised: &Budgets,
        refusals: &'a [String],
    ) -> Verdicts<'a> {
        let residency = groups
            .filter_map(|g| {
                let jurisdiction = workspace.group(&g)?.residency.clone()?;
                Some((g, jurisdiction))
            })
            .collect();
        let policies = workspace.policy_files().len();
        Verdicts {
            budgets: workspace.settings.budgets.raised_by(raised),
            residency,
            policies,
            refusals,
        }
    }
}

/// Where the summary goes: `--summary FILE` (replaced), else `$GITHUB_STEP_SUMMARY`
/// (appended, as GitHub expects), else nowhere.
fn target(cli: &Cli, explicit: Option<&Path>) -> Option<(PathBuf, bool)> {
    match explicit {
        Some(path) => Some((cli.dir.join(path), false)),
        None => std::env::var_os(GITHUB_STEP_SUMMARY)
            .filter(|v| !v.is_empty())
            .map(|v| (PathBuf::from(v), true)),
    }
}

/// Writes the summary of a plan (or of its refusal, `plan` then being `None`) where it goes.
pub fn write(
    cli: &Cli,
    explicit: Option<&Path>,
    workspace: &str,
    plan: &Plan,
    verdicts: &Verdicts,
) -> Result<(), Error> {
    let Some((path, append)) = target(cli, explicit) else {
        return Ok(());
    };
    let text = markdown(workspace, plan, verdicts);
    let fail = |e: String| Error::PlanFile {
        path: path.display().to_string(),
        message: format!("cannot write the plan summary: {e}"),
    };
    if append {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| fail(e.to_string()))?;
        file.write_all(text.as_bytes())
            .map_err(|e| fail(e.to_string()))
    } else {
        terrace::state::file::write_atomic(&path, text.as_bytes()).map_err(|e| fail(e.to_string()))
    }
}

/// The Markdown summary.
pub fn markdown(workspace: &str, plan: &Plan, verdicts: &Verdicts) -> String {
    let mut out = format!("## Terrace plan: `{workspace}`\n\n");
    let refused = !verdicts.refusals.is_empty();
    if refused {
        out.push_str(
            "**The plan was refused**; nothing can be applied. What it would have done:\n\n",
        );
    }
    out.push_str(&changes(plan));
    out.push_str(&checks((!refused).then_some(plan), verdicts));
    if plan.has_changes() {
        let text = render::plan(plan, &Styles::new(false));
        out.push_str(&format!(
            "<details><summary>Full plan</summary>\n\n```\n{}```\n\n</details>\n",
            text.replace("```", "'''")
        ));
    }
    out
}

fn changes(plan: &Plan) -> String {
    let s = &plan.summary;
    if !plan.has_changes() {
        return format!(
            "**No changes.** {} stack(s) match their configuration.\n\n",
            s.stacks
        );
    }
    let mut out = format!(
        "**{} to create, {} to update, {} to replace, {} to delete** in {} of {} stack(s).\n\n",
        s.create, s.update, s.replace, s.delete, s.stacks_changed, s.stacks
    );
    out.push_str(
        "| stack | create | update | replace | delete |\n| --- | ---: | ---: | ---: | ---: |\n",
    );
    for stack in plan.stacks.iter().filter(|s| s.has_changes()) {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            stack.stack.name,
            stack.count(Action::Create),
            stack.count(Action::Update),
            stack.count(Action::Replace),
            stack.count(Action::Delete)
        ));
    }
    out.push('\n');
    let replaces: Vec<String> = plan
        .stacks
        .iter()
        .flat_map(|s| {
            s.changes
                .iter()
                .filter(|c| c.action == Action::Replace)
                .map(move |c| {
                    format!(
                        "- `{}:{}` ({}): replaced because {} changed{}\n",
                        s.stack.name,
                        c.name,
                        c.type_name,
                        c.replace_because
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        if c.protect { " — **protected**" } else { "" }
                    )
                })
        })
        .collect();
    if !replaces.is_empty() {
        out.push_str("### Replacements\n\n");
        out.extend(replaces);
        out.push('\n');
    }
    let radius = &plan.blast_radius;
    let list = |set: &std::collections::BTreeSet<String>| {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    out.push_str(&format!(
        "### Blast radius\n\n{} stack(s) in group(s) {}; region(s) {}; cloud(s) {}.\n",
        radius.stacks.len(),
        list(&radius.groups),
        list(&radius.regions),
        list(&radius.clouds)
    ));
    for (stack, inputs) in &radius.downstream {
        out.push_str(&format!(
            "- inputs change downstream: `{stack}` (reads {})\n",
            list(inputs)
        ));
    }
    out.push('\n');
    out
}

fn checks(plan: Option<&Plan>, verdicts: &Verdicts) -> String {
    let mut out = String::from("### Checks\n\n| check | verdict |\n| --- | --- |\n");
    let limit = |n: Option<usize>| n.map_or("unlimited".to_string(), |n| n.to_string());
    if let Some(plan) = plan {
        let s = &plan.summary;
        let b = &verdicts.budgets;
        out.push_str(&format!(
            "| budgets | passed: {} of {} deletes, {} of {} replaces, {} of {} changed stacks |\n",
            s.delete,
            limit(b.max_deletes),
            s.replace,
            limit(b.max_replaces),
            s.stacks_changed,
            limit(b.max_stacks)
        ));
        let residency: Vec<String> = verdicts
            .residency
            .iter()
            .map(|(g, j)| format!("{g} in {j}"))
            .collect();
        out.push_str(&format!(
            "| residency | {} |\n",
            if residency.is_empty() {
                "no group restricts its regions".to_string()
            } else {
                format!("passed: {}", residency.join(", "))
            }
        ));
        out.push_str("| protected resources | passed |\n");
        out.push_str(&format!(
            "| policies | passed: {} Rego polic{} |\n",
            verdicts.policies,
            if verdicts.policies == 1 { "y" } else { "ies" }
        ));
    }
    for reason in verdicts.refusals {
        out.push_str(&format!("| refused | {} |\n", reason.replace('|', "\\|")));
    }
    out.push('\n');
    out
}
