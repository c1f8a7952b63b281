//! Policy: the checks that can refuse a plan (exit code 3) — protected resources, change
//! budgets and data residency. Each returns sentences naming what is refused and how to allow it.

pub mod budgets;
pub mod rego;
pub mod residency;

use crate::config::Workspace;
use crate::plan::{Action, Plan};
use budgets::Budgets;
use residency::Jurisdictions;

/// What a run allows beyond the workspace's policy.
#[derive(Debug, Clone, Default)]
pub struct Allowances {
    /// Protected resources (`STACK:RESOURCE`) this run may delete or replace.
    pub destroy: Vec<String>,
    /// Budgets raised for this run.
    pub budgets: Budgets,
}

/// Every reason to refuse the plan. A policy that cannot be evaluated refuses (fail closed).
pub fn refusals(
    plan: &Plan,
    workspace: &Workspace,
    policies: &rego::Policies,
    allowances: &Allowances,
) -> Vec<String> {
    let mut reasons = protected(plan, &allowances.destroy);
    reasons.extend(budgets::exceeded(
        plan,
        &workspace.settings.budgets.raised_by(&allowances.budgets),
    ));
    reasons.extend(residency_violations(plan, workspace));
    match policies.deny(plan) {
        Ok(denied) => reasons.extend(denied.into_iter().map(|m| format!("policy: {m}"))),
        Err(error) => reasons.push(format!("policies could not be evaluated: {error}")),
    }
    reasons
}

/// Deletes or replaces of protected resources not explicitly allowed.
fn protected(plan: &Plan, allowed: &[String]) -> Vec<String> {
    let mut reasons = Vec::new();
    for stack in &plan.stacks {
        let destructive = stack
            .changes
            .iter()
            .filter(|c| c.protect && matches!(c.action, Action::Delete | Action::Replace));
        for change in destructive {
            let address = format!("{}:{}", stack.stack.name, change.name);
            if !allowed.contains(&address) {
                reasons.push(format!(
                    "{address} is protected and would be {}; set `protect: false` in its template (or, if it was removed from the configuration, pass --allow-destroy {address})",
                    if change.action == Action::Delete { "deleted" } else { "replaced" }
                ));
            }
        }
    }
    reasons
}

/// Resources the plan would place outside their group's jurisdiction.
fn residency_violations(plan: &Plan, workspace: &Workspace) -> Vec<String> {
    let data = Jurisdictions::load(&workspace.settings.jurisdictions);
    let mut reasons = Vec::new();
    for stack in &plan.stacks {
        let Some(jurisdiction) = workspace
            .group(&stack.stack.group)
            .and_then(|g| g.residency.clone())
        else {
            continue;
        };
        for change in stack
            .changes
            .iter()
            .filter(|c| !matches!(c.action, Action::Delete | Action::NoOp))
        {
            let Some(region) = &change.region else {
                continue;
            };
            let cloud = change.type_name.split(':').next().unwrap_or_default();
            if !data.allows_region(&jurisdiction, cloud, region) {
                reasons.push(format!(
                    "{}:{} ({}) would be in region {region}, outside jurisdiction {jurisdiction} of group {}; allowed {cloud} regions: {}",
                    stack.stack.name,
                    change.name,
                    change.type_name,
                    stack.stack.group,
                    list_or_none(&data.regions_of(&jurisdiction, cloud)),
                ));
            }
        }
    }
    reasons
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none (add them under `jurisdictions:` in terrace.yaml)".to_string()
    } else {
        items.join(", ")
    }
}
