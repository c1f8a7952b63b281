//! Applying part of a saved plan (`terrace apply PLAN --stack STACK`): exactly the selected
//! stacks' part of the plan, once every stack of the plan that must finish before them has
//! been applied. This is how a CI pipeline fans one saved plan out over runners, one job per
//! stack.

use super::{planner, Terrace};
use crate::plan::{blast::blast_radius, Plan};
use crate::select::Selector;
use crate::Error;
use std::collections::BTreeSet;

impl Terrace {
    /// The part of `plan` made of the stacks `selector` selects (by group, layer, stack name or
    /// glob, cloud, region), with the rollouts cut to them and the summary and blast radius
    /// recomputed.
    ///
    /// Refused with [`Error::StalePlan`] (exit code 5) when a stack of the plan that a selected
    /// stack waits for (directly or not) has changes that have not been applied yet: its state
    /// is still at the serial the plan saw, or it is locked (being applied). A usage error when
    /// the selector names resources (`--target` belongs to planning) or selects no stack of the
    /// plan.
    pub async fn plan_part(&self, plan: &Plan, selector: &Selector) -> Result<Plan, Error> {
        self.needs_secrets()?;
        self.check_plan(plan)?;
        if !selector.targets.is_empty() {
            return Err(Error::usage(
                "--target selects resources while planning; a saved plan is applied by stack (--stack, --group, --layer, --cloud, --region)",
            ));
        }
        let selected: BTreeSet<String> = plan
            .stacks
            .iter()
            .filter(|s| selector.selects(&s.stack))
            .map(|s| s.stack.name.clone())
            .collect();
        if selected.is_empty() {
            let names: Vec<&str> = plan.stacks.iter().map(|s| s.stack.name.as_str()).collect();
            return Err(Error::usage(format!(
                "the selection matches no stack of the plan; it has: {}",
                names.join(", ")
            )));
        }
        for stack in &selected {
            for before in waits_for(plan, stack) {
                if !selected.contains(&before) {
                    self.check_applied(plan, &before, stack).await?;
                }
            }
        }
        let mut part = plan.clone();
        part.retain_stacks(|s| selected.contains(&s.stack.name));
        part.blast_radius = blast_radius(&part, &planner::readers(self));
        Ok(part)
    }

    /// Refuses when `before`, a stack of the plan with changes, has not been applied yet.
    async fn check_applied(&self, plan: &Plan, before: &str, stack: &str) -> Result<(), Error> {
        let Some(planned) = plan.stack(before).filter(|s| s.has_changes()) else {
            return Ok(());
        };
        let refuse = |why: String| {
            Error::StalePlan {
            stack: stack.to_string(),
            reason: format!(
                "it waits for stack {before}, whose changes in this plan {why}; apply it first (`terrace apply PLAN --stack {before}`)"
            ),
        }
        };
        if let Some(holder) = self.backend.lock_info(before).await? {
            return Err(refuse(format!("are being applied by {holder}")));
        }
        let current = self.backend.load(before).await?.map(|s| s.serial);
        if current == planned.serial {
            let serial = current.map_or("none".to_string(), |s| s.to_string());
            return Err(refuse(format!(
                "have not been applied yet (its state is still at serial {serial})"
            )));
        }
        Ok(())
    }
}

/// The stacks of the plan that `stack` waits for, directly or not (`after`).
fn waits_for(plan: &Plan, stack: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![stack.to_string()];
    while let Some(current) = todo.pop() {
        for before in plan.stack(&current).into_iter().flat_map(|s| &s.after) {
            if seen.insert(before.clone()) {
                todo.push(before.clone());
            }
        }
    }
    seen
}
