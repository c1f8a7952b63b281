//! Change budgets: the most deletes, replaces and changed stacks one apply may make. A plan
//! over budget is refused with the numbers, unless raised on the command line for this run.

pub use crate::config::sections::Budgets;
use crate::plan::Plan;

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
