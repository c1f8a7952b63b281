//! The plan's JSON text (`plan --json`, `plan --out`), made on all cores: each stack's plan is
//! serialised on its own and the pieces joined into the text `serde_json::to_string_pretty`
//! makes of the whole plan, byte for byte (`tests/engine.rs` holds it to that). The stacks are
//! nearly all of a plan's text.

use super::{Plan, StackPlan};
use rayon::prelude::*;

/// Where the stacks go in the text of a plan without stacks: `stacks` is a key of the top
/// object (indented once), and a value's own text never holds a raw line break.
const EMPTY_STACKS: &str = "\n  \"stacks\": []";

/// `serde_json::to_string_pretty(plan)`, with the stacks serialised in parallel.
///
/// Errors: those of `serde_json` (a map with keys that are not strings; none in a plan).
pub fn to_string_pretty(plan: &Plan) -> Result<String, serde_json::Error> {
    if plan.stacks.is_empty() {
        return serde_json::to_string_pretty(plan);
    }
    let skeleton = serde_json::to_string_pretty(&without_stacks(plan))?;
    let Some(found) = skeleton.find(EMPTY_STACKS) else {
        // Not where it should be (a change to `Plan`'s form): the text made in one piece.
        return serde_json::to_string_pretty(plan);
    };
    let at = found + EMPTY_STACKS.len() - "[]".len();
    let mut text = String::with_capacity(skeleton.len());
    text.push_str(&skeleton[..at]);
    text.push_str("[\n    ");
    for (n, chunk) in plan.stacks.chunks(CHUNK).enumerate() {
        let pieces: Vec<String> = chunk.par_iter().map(stack_text).collect::<Result<_, _>>()?;
        for (i, piece) in pieces.iter().enumerate() {
            if n > 0 || i > 0 {
                text.push_str(",\n    ");
            }
            text.push_str(piece);
        }
    }
    text.push_str("\n  ]");
    text.push_str(&skeleton[at + "[]".len()..]);
    Ok(text)
}

/// Stacks serialised at once: enough to keep every core busy, few enough that their texts are
/// a small part of the whole.
const CHUNK: usize = 64;

/// One stack's text as it stands in the plan's `stacks` array: indented twice, without the
/// indent of its first line. Made by serialising it two arrays deep and cutting the arrays off.
fn stack_text(stack: &StackPlan) -> Result<String, serde_json::Error> {
    const OPEN: &str = "[\n  [\n    ";
    const CLOSE: &str = "\n  ]\n]";
    let mut nested = serde_json::to_string_pretty(&[[stack]])?;
    nested.truncate(nested.len() - CLOSE.len());
    nested.drain(..OPEN.len());
    Ok(nested)
}

/// A copy of the plan with no stacks (every field named, so that a new field is not missed).
fn without_stacks(plan: &Plan) -> Plan {
    let Plan {
        format_version,
        terrace_version,
        workspace,
        created_at,
        destroy,
        layers,
        config,
        stacks: _,
        summary,
        blast_radius,
        rollouts,
        moves,
        refusals,
    } = plan;
    Plan {
        format_version: *format_version,
        terrace_version: terrace_version.clone(),
        workspace: workspace.clone(),
        created_at: *created_at,
        destroy: *destroy,
        layers: layers.clone(),
        config: config.clone(),
        stacks: Vec::new(),
        summary: summary.clone(),
        blast_radius: blast_radius.clone(),
        rollouts: rollouts.clone(),
        moves: moves.clone(),
        refusals: refusals.clone(),
    }
}
