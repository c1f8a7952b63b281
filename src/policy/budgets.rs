//! Change budgets: the most deletes, replaces and changed stacks one apply may make. A plan
//! over budget is refused with the numbers, unless raised on the command line for this run.

use crate::plan::Plan;
use serde::{Deserialize, Serialize};

/// Limits per apply; `None` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// Most resources one apply may delete.
    #[serde(default)]
    pub max_deletes: Option<usize>,
    /// Most resources one apply may replace.
    #[serde(default)]
    pub max_replaces: Option<usize>,
    /// Most stacks one apply may change.
    #[serde(default)]
    pub max_stacks: Option<usize>,
}

impl Budgets {
    /// These budgets with the ones set in `overrides` taking precedence (for this run).
    pub fn raised_by(&self, overrides: &Budgets) -> Budgets {
        Budgets {
            max_deletes: overrides.max_deletes.or(self.max_deletes),
            max_replaces: overrides.max_replaces.or(self.max_replaces),
            max_stacks: overrides.max_stacks.or(self.max_stacks),
        }
    }
}

/// Every budget the plan exceeds, as sentences.
pub fn exceeded(plan: &Plan, budgets: &Budgets) -> Vec<String> {
    let checks = [
        (
            plan.summary.delete,
            budgets.max_deletes,
            "deletes",
            "resource(s)",
            "max_deletes",
            "--max-deletes",
        ),
        (
            plan.summary.replace,
            budgets.max_replaces,
            "replaces",
            "resource(s)",
            "max_replaces",
            "--max-replaces",
        ),
        (
            plan.summary.stacks_changed,
            budgets.max_stacks,
            "changes",
            "stack(s)",
            "max_stacks",
            "--max-stacks",
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(count, limit, verb, what, key, flag)| {
            let limit = limit?;
            (count > limit).then(|| {
                format!(
                    "the plan {verb} {count} {what}; the budget allows {limit} (budgets.{key} in terrace.yaml); \
                     if this is intended, raise it for this run with {flag} {count}"
                )
            })
        })
        .collect()
}
