//! Automation API: a program that opens a workspace, plans one region group, applies it while
//! printing the events, then reads the group's outputs — the core of a control plane that
//! creates region groups on demand. It uses the real AWS and GCP providers.
//!
//! On the sandbox (no cloud account needed), from the repository root:
//!
//!     target/debug/terrace sandbox start && eval "$(target/debug/terrace sandbox env)"
//!     cargo run --example automation                  # the reference workspace, group eu
//!     cargo run --example automation -- DIR GROUP     # your workspace and group
//!
//! Without arguments it refuses to run unless the sandbox endpoints are in the environment,
//! so that a demo never reaches a real cloud by accident.

use std::path::PathBuf;
use terrace::engine::{PlanOptions, Selector, Terrace};
use terrace::events::{Event, EventSink};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (root, group) = match (args.next(), args.next()) {
        (Some(dir), group) => (PathBuf::from(dir), group.unwrap_or_else(|| "eu".into())),
        (None, _) => {
            let sandboxed = ["AWS_ENDPOINT_URL", "TERRACE_GCP_ENDPOINT"]
                .iter()
                .all(|v| std::env::var_os(v).is_some());
            if !sandboxed {
                return Err("start the sandbox and export its endpoints first: \
                     terrace sandbox start && eval \"$(terrace sandbox env)\" \
                     (or pass DIR GROUP to run on your own workspace and clouds)"
                    .into());
            }
            (PathBuf::from(env!("CARGO_MANIFEST_DIR")), "eu".to_string())
        }
    };

    // Providers and the secrets key come from the workspace's terrace.yaml, through the one
    // function the CLI uses too.
    let terrace = Terrace::open_with_secrets(
        &root,
        |workspace| terrace_providers::registry(workspace).map_err(terrace::Error::from),
        terrace_providers::open_secrets,
    )?;

    let selector = Selector {
        groups: vec![group.clone()],
        ..Default::default()
    };
    // Planning reports its progress too: each stack read from the cloud, each stack planned.
    let (sink, mut plan_events) = EventSink::channel();
    let printer = tokio::spawn(async move {
        while let Some(event) = plan_events.recv().await {
            match event {
                Event::StackRefreshed {
                    stack,
                    resources,
                    found,
                    elapsed_ms,
                    ..
                } => println!("{stack}: read {found} of {resources} resources in {elapsed_ms} ms"),
                Event::StackPlanned { stack, changes, .. } => {
                    println!("{stack}: {changes} change(s) planned")
                }
                _ => {}
            }
        }
    });
    let options = PlanOptions {
        selector: selector.clone(),
        events: sink,
        ..Default::default()
    };
    let plan = terrace.plan(&options).await?;
    drop(options); // the last sender: the printer ends with the plan's events
    printer.await?;
    let s = &plan.summary;
    println!(
        "plan for group {group}: {} to create, {} to update, {} to replace, {} to delete",
        s.create, s.update, s.replace, s.delete
    );
    if plan.has_changes() {
        let mut run = terrace.apply(plan, terrace.apply_options())?;
        while let Some(event) = run.events.recv().await {
            match &event {
                Event::ResourceFinished {
                    stack,
                    resource,
                    action,
                    status,
                    ..
                } => println!("{stack}: {resource}: {action} {status:?}"),
                Event::StackFinished { stack, status, .. } => println!("{stack}: {status:?}"),
                _ => {}
            }
        }
        let summary = run.finish().await?;
        if !summary.succeeded() {
            return Err("apply did not succeed".into());
        }
    }
    for stack in terrace.stacks(&selector)? {
        let outputs = terrace.outputs(&stack.name).await?;
        println!(
            "{} outputs: {}",
            stack.name,
            serde_json::Value::Object(outputs.into_iter().collect())
        );
    }
    Ok(())
}
