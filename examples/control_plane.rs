//! A control plane's core: a QA region group made in code, from the reference templates in a
//! read-only directory — planned, applied with progress from events, its outputs printed, then
//! destroyed. Nothing is written into the directory: the workspace is [`Sources`] (the
//! directory, plus the group given in memory), state goes to the backend given.
//!
//! On the sandbox (no cloud account needed), from the repository root:
//!
//!     target/debug/terrace sandbox start && eval "$(target/debug/terrace sandbox env)"
//!     TERRACE_PASSPHRASE=... cargo run --example control_plane
//!
//! Options: `--reference DIR` (the read-only templates; default the repository's reference),
//! `--group NAME` (default `qa-1`), `--state DIR` (a `file://` state directory; default in
//! memory, lost when the program ends), `--keep` (apply and stop; run again without it to plan
//! the same group — no changes — and destroy it).
//!
//! The key sealing the group's secrets (the mesh's VPN keys) is derived from
//! `TERRACE_PASSPHRASE`; a real control plane would keep a KMS key
//! (`terrace_providers::kms`). Without the sandbox's endpoints in the environment the program
//! refuses to run, so that a demo never reaches a real cloud by accident.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use terrace::config::group::{Group, Replica};
use terrace::config::Sources;
use terrace::engine::{PlanOptions, Selector, Terrace};
use terrace::events::{Event, EventSink};
use terrace::plan::Plan;
use terrace::secrets::Secrets;
use terrace::state::Backend;

type Failure = Box<dyn std::error::Error>;

struct Args {
    reference: PathBuf,
    group: String,
    state: Option<PathBuf>,
    keep: bool,
}

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Failure> {
    let args = parse_args()?;
    let sandboxed = ["AWS_ENDPOINT_URL", "TERRACE_GCP_ENDPOINT"]
        .iter()
        .all(|v| std::env::var_os(v).is_some());
    if !sandboxed {
        return Err("start the sandbox and export its endpoints first: \
                    terrace sandbox start && eval \"$(terrace sandbox env)\""
            .into());
    }
    let passphrase = std::env::var("TERRACE_PASSPHRASE")
        .map_err(|_| "set TERRACE_PASSPHRASE: the group's secrets are sealed with it")?;
    let secrets = Secrets::from_passphrase(&passphrase, b"terrace control plane example")?;

    // The workspace: the reference directory, read only, plus a group made here.
    let sources = Sources::read_only(&args.reference).group(&qa_group(&args.group))?;
    let backend: Arc<dyn Backend> = match &args.state {
        Some(dir) => Arc::new(terrace::state::file::FileBackend::new(dir.clone())),
        None => Arc::new(terrace::state::memory::MemoryBackend::new()),
    };
    let terrace = Terrace::builder(sources, |workspace| {
        terrace_providers::registry(workspace).map_err(terrace::Error::from)
    })
    .secrets(Some(Arc::new(secrets)))
    .backend(backend)
    .open()?;
    let selector = Selector {
        groups: vec![args.group.clone()],
        ..Default::default()
    };

    apply(&terrace, plan_group(&terrace, &selector, false).await?).await?;
    for stack in terrace.stacks(&selector)? {
        let outputs = terrace.outputs(&stack.name).await?;
        println!(
            "outputs of {}: {}",
            stack.name,
            serde_json::Value::Object(outputs.into_iter().collect())
        );
    }
    if args.keep {
        println!("kept group {}", args.group);
        return Ok(());
    }
    apply(&terrace, plan_group(&terrace, &selector, true).await?).await?;
    println!("destroyed group {}", args.group);
    Ok(())
}

/// A QA group: one AWS and one GCP replica in the EU, one node each, in an address range no
/// other group of the reference uses (a policy refuses overlapping groups).
fn qa_group(name: &str) -> Group {
    let replica = |cloud: &str, region: &str, zone: &str, cidr: &str| Replica {
        name: format!("{cloud}-{region}"),
        cloud: cloud.into(),
        region: region.into(),
        zones: vec![zone.into()],
        nodes: 1,
        machine: None,
        vars: BTreeMap::from([("cidr".to_string(), cidr.into())]),
        renamed_from: None,
    };
    Group {
        name: name.into(),
        residency: Some("EU".into()),
        replicas: vec![
            replica("aws", "eu-west-1", "eu-west-1a", "10.112.0.0/16"),
            replica("gcp", "europe-west3", "europe-west3-a", "10.113.0.0/16"),
        ],
        vars: BTreeMap::from([
            ("cidr".to_string(), "10.112.0.0/12".into()),
            ("proxy_nodes".to_string(), 1.into()),
        ]),
        rollout: None,
        file: PathBuf::new(),
        key_path: Vec::new(),
    }
}

/// Plans the group (its removal with `destroy`), printing planning's progress events.
async fn plan_group(
    terrace: &Terrace,
    selector: &Selector,
    destroy: bool,
) -> Result<Plan, Failure> {
    let (sink, mut events) = EventSink::channel();
    let printer = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let Event::StackPlanned { stack, changes, .. } = event {
                println!("planned {stack}: {changes} change(s)");
            }
        }
    });
    let mut options = PlanOptions {
        selector: selector.clone(),
        destroy,
        events: sink,
        ..Default::default()
    };
    if destroy {
        // The group's account and project are protected; a QA group is meant to go.
        options.allow_destroy = terrace
            .stacks(selector)?
            .iter()
            .filter(|s| s.layer == "accounts")
            .map(|s| match s.cloud.as_deref() {
                Some("gcp") => format!("{}:project", s.name),
                _ => format!("{}:account", s.name),
            })
            .collect();
        options.raise_budgets.max_deletes = Some(usize::MAX);
    }
    let plan = terrace.plan(&options).await;
    drop(options); // the last sender: the printer ends with the plan's events
    printer.await?;
    let plan = plan?;
    let s = &plan.summary;
    println!(
        "plan: {} to create, {} to update, {} to replace, {} to delete",
        s.create, s.update, s.replace, s.delete
    );
    Ok(plan)
}

/// Applies a plan, printing each resource and stack as it finishes.
async fn apply(terrace: &Terrace, plan: Plan) -> Result<(), Failure> {
    if !plan.has_changes() {
        return Ok(());
    }
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
    if summary.succeeded() {
        Ok(())
    } else {
        Err("apply did not succeed".into())
    }
}

fn parse_args() -> Result<Args, Failure> {
    let mut args = Args {
        reference: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        group: "qa-1".into(),
        state: None,
        keep: false,
    };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        let mut value = || given.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--reference" => args.reference = value()?.into(),
            "--group" => args.group = value()?,
            "--state" => args.state = Some(value()?.into()),
            "--keep" => args.keep = true,
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    Ok(args)
}
