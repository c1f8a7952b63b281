//! End to end through the engine's library API: a one-layer workspace planned and applied
//! with the GCP provider against the emulator, re-planned (no perpetual drift), changed in
//! place, and destroyed — every effect checked by plain REST listing.

mod common;

use common::{Env, REGION};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use terrace::engine::{ApplyOptions, PlanOptions, Terrace};
use terrace::provider::Registry;
use terrace_gcp::GcpProvider;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn open(root: &Path, env: &Env) -> Terrace {
    let provider = GcpProvider::from_settings(&common::settings(&env.proxy_url)).expect("settings");
    let mut registry = Registry::new();
    registry.register(Arc::new(provider));
    Terrace::open(root, registry).expect("workspace opens")
}

async fn plan_and_apply(terrace: &Terrace, options: PlanOptions) -> terrace::plan::Plan {
    let plan = terrace.plan(&options).await.expect("plan");
    let run = terrace
        .apply(plan.clone(), ApplyOptions::default())
        .expect("apply starts");
    let summary = run.finish().await.expect("apply");
    assert!(summary.succeeded(), "{summary:?}");
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_is_applied_refreshed_updated_and_destroyed() {
    let env = Env::start(gce_emulator::Config::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eu"),
        dir.path(),
    );
    let terrace = open(dir.path(), &env);
    let plan = plan_and_apply(&terrace, PlanOptions::default()).await;
    assert_eq!(plan.summary.create, 3);
    assert_eq!(env.rest_list("global/networks").await.len(), 1);
    let subnets = env
        .rest_list(&format!("regions/{REGION}/subnetworks"))
        .await;
    assert_eq!(subnets.len(), 1);
    let firewalls = env.rest_list("global/firewalls").await;
    assert_eq!(firewalls.len(), 1);
    assert_eq!(firewalls[0]["sourceRanges"], json!(["10.0.0.0/8"]));
    let description = firewalls[0]["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("stack=networks_seu_sa")
            && description.contains("resource=db-ingress"),
        "{description}"
    );

    // Refreshed against the cloud, nothing changed: no perpetual diff.
    let again = open(dir.path(), &env)
        .plan(&PlanOptions::default())
        .await
        .expect("plan");
    assert!(!again.has_changes(), "{:?}", again.summary);

    // An in-place change.
    let config = dir.path().join("terrace.yaml");
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(&config, text.replace("10.0.0.0/8", "10.1.0.0/16")).expect("write");
    let terrace = open(dir.path(), &env);
    let plan = plan_and_apply(&terrace, PlanOptions::default()).await;
    assert_eq!(
        (plan.summary.update, plan.summary.replace),
        (1, 0),
        "{:?}",
        plan.summary
    );
    let firewalls = env.rest_list("global/firewalls").await;
    assert_eq!(firewalls.len(), 1);
    assert_eq!(firewalls[0]["sourceRanges"], json!(["10.1.0.0/16"]));

    // Destroy, in reverse order.
    let destroy = PlanOptions {
        destroy: true,
        ..PlanOptions::default()
    };
    let plan = plan_and_apply(&terrace, destroy).await;
    assert_eq!(plan.summary.delete, 3);
    assert!(env.rest_list("global/firewalls").await.is_empty());
    assert!(env
        .rest_list(&format!("regions/{REGION}/subnetworks"))
        .await
        .is_empty());
    assert!(env.rest_list("global/networks").await.is_empty());
    env.stop().await;
}
