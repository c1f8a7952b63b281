//! The plan's moves (templates' `moved:`), made before any stack runs, with
//! [`crate::state::moves::move_entry`] under both stacks' locks. Each stack a move saves gets
//! its new serial in the plan, so that its own run still refuses a state someone else changed.

use super::ApplyContext;
use crate::events::{Event, EventSink};
use crate::plan::Plan;

/// Makes the moves and records in the plan the serials they produced; the error that stopped
/// them, if any (nothing runs then).
pub(super) async fn perform(
    context: &ApplyContext,
    plan: &mut Plan,
    events: &EventSink,
) -> Result<(), String> {
    for planned in plan.moves.clone() {
        let done = crate::state::moves::move_entry(
            &context.backend,
            &planned.from,
            &planned.to,
            Some(&planned.id),
            context.options.lock_timeout,
        )
        .await
        .map_err(|e| format!("moving {} to {}: {e}", planned.from, planned.to))?;
        for saved in &done.saved {
            if let Some(stack) = plan.stacks.iter_mut().find(|s| &s.stack.name == saved) {
                stack.serial = Some(stack.serial.map_or(1, |s| s + 1));
            }
        }
        events
            .send(Event::ResourceMoved {
                from: planned.from.to_string(),
                to: planned.to.to_string(),
                id: done.id,
            })
            .await;
    }
    Ok(())
}
