//! Automation API: a program that opens a workspace, plans, applies and prints the events —
//! the core of a control plane that creates region groups on demand.
//!
//!     cargo run --example automation                 # a demo copy of tests/fixtures/basic
//!     cargo run --example automation -- DIR          # your workspace
//!
//! Until the AWS and GCP providers land, it registers the in-process test provider, whose
//! fake cloud lives under DIR/.terrace/test-cloud.

use std::path::PathBuf;
use std::sync::Arc;
use terrace::engine::{ApplyOptions, PlanOptions, Terrace};
use terrace::events::Event;
use terrace::provider::Registry;
use terrace::testing::{TestOptions, TestProvider};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (root, _scratch) = match std::env::args().nth(1) {
        Some(dir) => (PathBuf::from(dir), None),
        None => {
            let scratch = tempfile::tempdir()?;
            copy_dir(
                &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/basic"),
                scratch.path(),
            )?;
            (scratch.path().to_path_buf(), Some(scratch))
        }
    };
    let mut registry = Registry::new();
    registry.register(Arc::new(TestProvider::in_dir(
        root.join(".terrace/test-cloud"),
        TestOptions::default(),
    )));
    let terrace = Terrace::open(&root, registry)?;

    let plan = terrace.plan(&PlanOptions::default()).await?;
    let s = &plan.summary;
    println!(
        "plan: {} to create, {} to update, {} to replace, {} to delete",
        s.create, s.update, s.replace, s.delete
    );
    if !plan.has_changes() {
        println!("nothing to do");
        return Ok(());
    }

    let mut run = terrace.apply(plan, ApplyOptions::default())?;
    while let Some(event) = run.events.recv().await {
        match &event {
            Event::ResourceFinished {
                stack,
                resource,
                action,
                status,
                ..
            } => {
                println!("{stack}: {resource}: {action} {status:?}")
            }
            Event::StackFinished { stack, status, .. } => println!("{stack}: {status:?}"),
            other => println!("{}", serde_json::to_string(other)?),
        }
    }
    let summary = run.finish().await?;
    for stack in terrace.stacks(&Default::default())? {
        let outputs = terrace.outputs(&stack.name).await?;
        println!(
            "{} outputs: {}",
            stack.name,
            serde_json::Value::Object(outputs.into_iter().collect())
        );
    }
    if summary.succeeded() {
        Ok(())
    } else {
        Err("apply did not succeed".into())
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
