//! Showing apply events: progress bars per stack on a terminal (indicatif), plain lines
//! otherwise, NDJSON with `--json`.

use super::output::{eoutln, outln};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use terrace::events::{Event, ResourceStatus};

/// How events are shown.
pub enum Display {
    Json,
    Lines,
    Bars {
        multi: MultiProgress,
        bars: HashMap<String, ProgressBar>,
    },
}

impl Display {
    pub fn new(json: bool, terminal: bool) -> Display {
        if json {
            Display::Json
        } else if terminal {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            Display::Bars {
                multi,
                bars: HashMap::new(),
            }
        } else {
            Display::Lines
        }
    }

    pub fn show(&mut self, event: &Event) {
        match self {
            Display::Json => outln!(
                "{}",
                serde_json::to_string(event).expect("events serialize")
            ),
            Display::Lines => {
                if let Some(line) = line(event) {
                    eoutln!("{line}");
                }
            }
            Display::Bars { multi, bars } => show_bar(multi, bars, event),
        }
    }
}

fn show_bar(multi: &MultiProgress, bars: &mut HashMap<String, ProgressBar>, event: &Event) {
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
            let text = format!(
                "{status:?}{}",
                message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )
            .to_lowercase();
            match bars.get(stack) {
                Some(bar) => bar.finish_with_message(text),
                None => {
                    let _ = multi.println(format!("  {stack}: {text}"));
                }
            }
        }
        other => {
            if let Some(line) = line(other) {
                let _ = multi.println(line);
            }
        }
    }
}

/// One plain line per event (some events need none).
fn line(event: &Event) -> Option<String> {
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
            let detail = match (status, id, error) {
                (ResourceStatus::Done, Some(id), _) if !id.is_empty() => format!(" ({id})"),
                (_, _, Some(error)) => format!(": {error}"),
                _ => String::new(),
            };
            format!(
                "{stack}: {resource}: {action} {}{detail} [{elapsed_ms} ms]",
                format!("{status:?}").to_lowercase()
            )
        }
        Event::StackFinished {
            stack,
            status,
            message,
        } => format!(
            "{stack}: {}{}",
            format!("{status:?}").to_lowercase(),
            message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        Event::CleanupStarted { stack, resources } => format!(
            "{stack}: deleting what the stacks below used, now that they have moved off it: {}",
            resources.join(", ")
        ),
        Event::CleanupFinished { stack, failed: 0 } => format!("{stack}: cleanup done"),
        Event::CleanupFinished { stack, failed } => {
            format!("{stack}: {failed} delete(s) failed; kept in state for the next apply")
        }
        Event::ApplyFinished { .. } => return None,
    })
}
