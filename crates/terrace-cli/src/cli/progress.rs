//! Showing apply events: progress bars per stack on a terminal (indicatif), plain lines
//! otherwise, NDJSON with `--json`.

use super::output::{eoutln, outln};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use terrace::events::{Event, ResourceStatus};
use terrace::plan::{Action, Plan};

/// How events are shown.
pub struct Display {
    kind: Kind,
    /// (stack, resource) of each replace → the id of the copy it replaces: which half of a
    /// replace an event reports (the delete of the old copy, or the create of the new one).
    old_ids: HashMap<(String, String), String>,
}

enum Kind {
    Json,
    Lines,
    Bars {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
    },
}

impl Display {
    pub fn new(json: bool, terminal: bool, plan: &Plan) -> Display {
        let kind = if json {
            Kind::Json
        } else if terminal {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            Kind::Bars {
                multi,
                bars: HashMap::new(),
            }
        } else {
            Kind::Lines
        };
        let old_ids = plan
            .stacks
            .iter()
            .flat_map(|s| s.changes.iter().map(move |c| (&s.stack.name, c)))
            .filter(|(_, c)| c.action == Action::Replace)
            .filter_map(|(stack, c)| Some(((stack.clone(), c.name.clone()), c.id.clone()?)))
            .collect();
        Display { kind, old_ids }
    }

    pub fn show(&mut self, event: &Event) {
        match &mut self.kind {
            Kind::Json => outln!(
                "{}",
                serde_json::to_string(event).expect("events serialize")
            ),
            Kind::Lines => {
                if let Some(line) = line(event, &self.old_ids) {
                    eoutln!("{line}");
                }
            }
            Kind::Bars { multi, bars } => show_bar(multi, bars, event, &self.old_ids),
        }
    }
}

/// A stack's or resource's status with its reason, without saying "skipped" twice (the
/// reasons of skips start with it).
fn status_text(status: impl std::fmt::Debug, message: Option<&str>) -> String {
    let status = format!("{status:?}").to_lowercase();
    match message {
        Some(message) => {
            let reason = message
                .strip_prefix(&format!("{status}: "))
                .unwrap_or(message);
            format!("{status}: {reason}")
        }
        None => status,
    }
}

/// What a finished operation did: `replace` is two operations, the delete of the old copy and
/// the create of the new one, told apart by the old copy's id.
fn action_text(
    stack: &str,
    resource: &str,
    action: Action,
    id: Option<&str>,
    old_ids: &HashMap<(String, String), String>,
) -> String {
    if action != Action::Replace {
        return action.to_string();
    }
    let old = old_ids.get(&(stack.to_string(), resource.to_string()));
    match (old, id) {
        (Some(old), Some(id)) if old == id => "replace (old copy deleted)".to_string(),
        (_, Some(id)) if !id.is_empty() => "replace (new copy created)".to_string(),
        _ => "replace".to_string(),
    }
}

fn show_bar(
    multi: &MultiProgress,
    bars: &mut HashMap<String, ProgressBar>,
    event: &Event,
    old_ids: &HashMap<(String, String), String>,
) {
    match event {
        Event::StackStarted { stack, changes } => {
            let bar = multi.add(ProgressBar::new(*changes as u64));
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:40} [{bar:20}] {pos}/{len} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(stack.clone());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bars.insert(stack.clone(), bar);
        }
        Event::ResourceStarted {
            stack,
            resource,
            action,
        } => {
            if let Some(bar) = bars.get(stack) {
                bar.set_message(format!("{action} {resource}"));
            }
        }
        Event::ResourceWaiting {
            stack,
            resource,
            reason,
            ..
        } => {
            if let Some(bar) = bars.get(stack) {
                bar.set_message(format!("{resource}: waiting: {reason}"));
            }
        }
        Event::ResourceFinished {
            stack,
            status,
            resource,
            error,
            ..
        } => {
            if let Some(bar) = bars.get(stack) {
                bar.inc(1);
                if *status == ResourceStatus::Failed {
                    let _ = multi.println(format!(
                        "  {stack}:{resource}: {}",
                        error.as_deref().unwrap_or("failed")
                    ));
                }
            }
        }
        Event::StackFinished {
            stack,
            status,
            message,
        } => {
            let text = status_text(status, message.as_deref());
            match bars.get(stack) {
                Some(bar) => bar.finish_with_message(text),
                None => {
                    let _ = multi.println(format!("  {stack}: {text}"));
                }
            }
        }
        other => {
            if let Some(line) = line(other, old_ids) {
                let _ = multi.println(line);
            }
        }
    }
}

/// One plain line per event (some events need none).
fn line(event: &Event, old_ids: &HashMap<(String, String), String>) -> Option<String> {
    Some(match event {
        Event::ApplyStarted { stacks, changes } => {
            format!("applying {changes} change(s) in {stacks} stack(s)")
        }
        Event::StackStarted { stack, changes } => format!("{stack}: started ({changes} change(s))"),
        Event::LockWaiting { stack, holder } => {
            format!("{stack}: waiting for the lock held by {holder}")
        }
        Event::ResourceAdopted {
            stack,
            resource,
            id,
        } => {
            format!("{stack}: {resource}: adopted {id}, created by an interrupted apply")
        }
        Event::WaveStarted {
            rollout,
            wave,
            waves,
            stacks,
        } => {
            format!(
                "rollout {rollout}: wave {wave} of {waves}: {}",
                stacks.join(", ")
            )
        }
        Event::WaveFinished {
            rollout,
            wave,
            gate_passed,
        } => match gate_passed {
            Some(true) => format!("rollout {rollout}: wave {wave} done, gate passed"),
            Some(false) => format!("rollout {rollout}: wave {wave}: gate failed"),
            None => format!("rollout {rollout}: wave {wave} done"),
        },
        Event::RolloutStopped {
            rollout,
            reason,
            remaining,
        } if remaining.is_empty() => format!("rollout {rollout} stopped: {reason}"),
        Event::RolloutStopped {
            rollout,
            reason,
            remaining,
        } => format!(
            "rollout {rollout} stopped: {reason}; not started: {}",
            remaining.join(", ")
        ),
        Event::ResourceWaiting {
            stack,
            resource,
            reason,
            retry_in_ms,
        } => match retry_in_ms {
            Some(ms) => format!("{stack}: {resource}: waiting: {reason} (next attempt in {ms} ms)"),
            None => format!("{stack}: {resource}: waiting: {reason}"),
        },
        Event::ResourceMoved { from, to, id } => {
            format!("moved {from} to {to} ({id}); the cloud object is kept")
        }
        Event::ResourceStarted { .. } => return None,
        Event::ResourceFinished {
            stack,
            resource,
            action,
            status,
            id,
            error,
            elapsed_ms,
        } => {
            let action = action_text(stack, resource, *action, id.as_deref(), old_ids);
            let detail = match (status, id) {
                (ResourceStatus::Done, Some(id)) if !id.is_empty() => {
                    format!("{} ({id})", status_text(status, None))
                }
                _ => status_text(status, error.as_deref()),
            };
            format!("{stack}: {resource}: {action} {detail} [{elapsed_ms} ms]")
        }
        Event::StackFinished {
            stack,
            status,
            message,
        } => format!("{stack}: {}", status_text(status, message.as_deref())),
        Event::CleanupStarted { stack, resources } => format!(
            "{stack}: deleting what the stacks below used, now that they have moved off it: {}",
            resources.join(", ")
        ),
        Event::CleanupFinished { stack, failed: 0 } => format!("{stack}: cleanup done"),
        Event::CleanupFinished { stack, failed } => {
            format!("{stack}: {failed} delete(s) failed; kept in state for the next apply")
        }
        Event::ApplyFinished { .. } => return None,
        // An event this build does not know has no line (`--json` still streams it).
        _ => return None,
    })
}
