//! Showing the progress of a plan or a refresh (`plan`, `apply` and `destroy` without a saved
//! plan, `refresh`, `drift`): on a terminal one bar on stderr — the stacks read from the cloud,
//! then the stacks planned — cleared when the command prints its result, with the lines
//! below printed above it; otherwise plain lines for what would look like a hang: a stack
//! waiting for its lock (a refresh takes every selected stack's lock) and a provider call
//! waiting (`waiting: …`, throttling, an id not visible yet, a resource created moments ago
//! that the refresh does not see yet). Nothing with `--json`, whose stdout is one document.

use super::output::eoutln;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;
use terrace::events::{Event, EventSink};
use terrace::provider::progress::Notice;

/// The display of one plan or refresh; [`Planning::finish`] clears it.
pub struct Planning {
    bar: Option<ProgressBar>,
    task: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Planning {
    /// The sink to give the engine, and the display reading it.
    pub fn start(json: bool, terminal: bool) -> (EventSink, Planning) {
        if json {
            let off = Planning {
                bar: None,
                task: None,
            };
            return (EventSink::none(), off);
        }
        let (sink, mut events) = EventSink::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let bar = terminal.then(new_bar);
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let mut phase = Phase::default();
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Some(event) => show(shown.as_ref(), phase.step(&event)),
                        None => return,
                    },
                    _ = &mut stopped => break,
                }
            }
            // Stopped: show what was sent before, then end.
            while let Ok(event) = events.try_recv() {
                show(shown.as_ref(), phase.step(&event));
            }
        });
        let planning = Planning {
            bar,
            task: Some((stop, task)),
        };
        (sink, planning)
    }

    /// Runs `work` (the plan or refresh) with the provider calls' wait notices (`waiting: …`,
    /// [`terrace::provider::progress`]) printed above the bar, so that they do not break it.
    /// Without a bar, the notices go where the caller's scope sends them.
    pub async fn around<F: std::future::Future>(&self, work: F) -> F::Output {
        match &self.bar {
            Some(bar) => {
                let bar = bar.clone();
                let above = move |notice: Notice| bar.println(wait_line(&notice));
                terrace::provider::progress::scoped(above, work).await
            }
            None => work.await,
        }
    }

    /// Shows every event sent so far, then clears the bar (the command's result follows).
    pub async fn finish(self) {
        if let Some((stop, task)) = self.task {
            let _ = stop.send(());
            let _ = task.await;
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One step on the bar, or one line (above the bar, or alone without one).
fn show(bar: Option<&ProgressBar>, step: Step) {
    match (bar, step) {
        (Some(bar), Step::Progress { message, done, of }) => {
            bar.set_message(message);
            bar.set_length(of as u64);
            bar.set_position(done as u64);
        }
        (Some(bar), Step::Line(line)) => bar.println(line),
        (None, Step::Line(line)) => eoutln!("{line}"),
        _ => {}
    }
}

/// A provider's wait notice as a line: `waiting: … (next attempt in N ms)`.
pub fn wait_line(notice: &Notice) -> String {
    match notice.retry_in {
        Some(wait) => format!(
            "waiting: {} (next attempt in {} ms)",
            notice.message,
            wait.as_millis()
        ),
        None => format!("waiting: {}", notice.message),
    }
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:12} [{bar:20}] {pos}/{len} stack(s) {elapsed}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// What one event changes on the display.
#[derive(Debug, PartialEq)]
enum Step {
    /// The bar: what is being done, and how many stacks of how many are done.
    Progress {
        message: &'static str,
        done: usize,
        of: usize,
    },
    /// A line above the bar (or alone, without one).
    Line(String),
    /// Nothing to show.
    Nothing,
}

/// Where a plan or refresh is: stacks read, then stacks planned.
#[derive(Debug, Default)]
struct Phase {
    stacks: usize,
    refreshed: usize,
    planned: usize,
}

impl Phase {
    fn step(&mut self, event: &Event) -> Step {
        match event {
            Event::PlanStarted { stacks, refresh } => {
                self.stacks = *stacks;
                let message = if *refresh { "refreshing" } else { "planning" };
                self.progress(message, 0)
            }
            Event::RefreshStarted { stacks } => {
                self.stacks = *stacks;
                self.progress("refreshing", 0)
            }
            Event::StackRefreshed { .. } => {
                self.refreshed += 1;
                self.progress("refreshing", self.refreshed)
            }
            Event::StackPlanned { .. } => {
                self.planned += 1;
                self.progress("planning", self.planned)
            }
            Event::LockWaiting { stack, holder } => {
                Step::Line(format!("{stack}: waiting for the lock held by {holder}"))
            }
            // A resource created moments ago that the refresh does not see yet is read again.
            Event::ResourceWaiting {
                stack,
                resource,
                reason,
                ..
            } => Step::Line(format!("{stack}: {resource}: waiting: {reason}")),
            _ => Step::Nothing,
        }
    }

    fn progress(&self, message: &'static str, done: usize) -> Step {
        Step::Progress {
            message,
            done,
            // A plan selects stacks after it starts counting (removed stacks join it).
            of: self.stacks.max(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refreshed(stack: &str) -> Event {
        Event::StackRefreshed {
            stack: stack.into(),
            resources: 3,
            found: 3,
            elapsed_ms: 5,
        }
    }

    fn planned(stack: &str) -> Event {
        Event::StackPlanned {
            stack: stack.into(),
            changes: 1,
        }
    }

    #[test]
    fn a_plan_counts_stacks_refreshed_then_stacks_planned() {
        let mut phase = Phase::default();
        let started = Event::PlanStarted {
            stacks: 2,
            refresh: true,
        };
        let steps: Vec<Step> = [
            started,
            refreshed("a"),
            refreshed("b"),
            planned("a"),
            planned("b"),
        ]
        .iter()
        .map(|e| phase.step(e))
        .collect();
        let progress = |message, done| Step::Progress {
            message,
            done,
            of: 2,
        };
        assert_eq!(
            steps,
            vec![
                progress("refreshing", 0),
                progress("refreshing", 1),
                progress("refreshing", 2),
                progress("planning", 1),
                progress("planning", 2),
            ]
        );
    }

    #[test]
    fn a_plan_without_refresh_starts_planning_and_lock_and_resource_waits_are_lines() {
        let mut phase = Phase::default();
        let started = phase.step(&Event::PlanStarted {
            stacks: 1,
            refresh: false,
        });
        assert_eq!(
            started,
            Step::Progress {
                message: "planning",
                done: 0,
                of: 1
            }
        );
        let holder = terrace::state::LockInfo::for_operation("apply");
        let Step::Line(line) = phase.step(&Event::LockWaiting {
            stack: "networks/eu/a".into(),
            holder,
        }) else {
            panic!("a lock wait is shown as a line");
        };
        assert!(line.starts_with("networks/eu/a: waiting for the lock held by "));
        let waiting = phase.step(&Event::ResourceWaiting {
            stack: "networks/eu/a".into(),
            resource: "vpc".into(),
            reason: "vpc-1 was created moments ago and reads do not show it yet".into(),
            retry_in_ms: Some(500),
        });
        assert_eq!(
            waiting,
            Step::Line(
                "networks/eu/a: vpc: waiting: vpc-1 was created moments ago and reads do not \
                 show it yet"
                    .into()
            )
        );
        assert_eq!(
            phase.step(&Event::PlanFinished {
                create: 1,
                update: 0,
                replace: 0,
                delete: 0
            }),
            Step::Nothing
        );
    }
}
