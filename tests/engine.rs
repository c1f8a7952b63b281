//! Engine behaviour through the library API, on the in-process test provider: plans and their
//! actions, unknowns across stacks, re-plan refusal, failures and skipping, adoption after a
//! lost answer, delete order, protect, rate limits.

mod support;

use std::collections::BTreeSet;
use support::{edit, workspace, write, Engine};
use terrace::engine::{PlanOptions, Selector};
use terrace::events::{ResourceStatus, StackStatus};
use terrace::plan::Action;
use terrace::testing::TestOptions;
use terrace::value::Value;
use terrace::Error;

fn status(summary: &terrace::apply::ApplySummary, stack: &str) -> StackStatus {
    summary
        .stacks
        .iter()
        .find(|s| s.stack == stack)
        .unwrap_or_else(|| panic!("no outcome for {stack}"))
        .status
}

#[tokio::test]
async fn apply_creates_everything_and_a_second_plan_is_empty() {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    let plan = engine.plan().await;
    assert_eq!(plan.summary.create, 9);
    let summary = engine.apply_plan(plan).await;
    assert!(summary.succeeded(), "{summary:#?}");
    assert_eq!(engine.cloud_count("test:Subnet"), 3);
    assert_eq!(engine.cloud_count("test:LoadBalancer"), 1);
    let again = engine.plan().await;
    assert!(
        !again.has_changes(),
        "{:#?}",
        again
            .stacks
            .iter()
            .filter(|s| s.has_changes())
            .collect::<Vec<_>>()
    );
    // Outputs flowed downstream: the proxy targets the replicas' endpoints.
    let terrace = engine.open();
    let lb = terrace
        .state("proxies/eu")
        .await
        .unwrap()
        .unwrap()
        .resources["lb"]
        .clone();
    let endpoint_a = terrace.outputs("replicas/eu/a").await.unwrap()["endpoint"].clone();
    assert!(lb.inputs["targets"]
        .as_array()
        .unwrap()
        .contains(&endpoint_a));
}

#[tokio::test]
async fn a_replace_upstream_makes_downstream_values_unknown_across_two_stacks() {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    edit(dir.path(), "terrace.yaml", "image: db-16", "image: db-17");
    let plan = engine.plan().await;
    let replica = plan.stack("replicas/eu/a").unwrap();
    assert_eq!(replica.changes[0].action, Action::Replace);
    assert_eq!(replica.changes[0].replace_because, vec!["image"]);
    assert!(matches!(
        replica.outputs["endpoint"].after,
        Value::Unknown(_)
    ));
    let proxy = plan.stack("proxies/eu").unwrap();
    let lb = &proxy.changes[0];
    assert_eq!(lb.action, Action::Update);
    let targets = lb.after.as_ref().unwrap()["targets"].clone();
    assert!(
        !targets.is_known(),
        "targets wait for the new replicas: {targets}"
    );
    assert!(
        matches!(proxy.outputs["endpoint"].after, Value::String(_)),
        "the lb endpoint itself stays known"
    );
    // Stacks not touched stay no-op.
    assert!(!plan.stack("networks/eu/a").unwrap().has_changes());
    let summary = engine.apply_plan(plan).await;
    assert!(summary.succeeded(), "{summary:#?}");
    assert_eq!(
        engine.cloud_count("test:Instance"),
        2,
        "old instances deleted, new ones created"
    );
    assert!(!engine.plan().await.has_changes());
}

#[tokio::test]
async fn a_re_plan_that_exceeds_the_approved_plan_stops_that_stack() {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "name: \"{{ group.name }}",
        "name: \"renamed-{{ group.name }}",
    );
    let plan = engine.plan().await;
    let vpc = &plan.stack("networks/eu/a").unwrap().changes[0];
    assert_eq!((vpc.name.as_str(), vpc.action), ("vpc", Action::Update));
    // Between plan and apply, someone changes a force-new field in the cloud.
    let vpc_id = vpc.id.clone().unwrap();
    let mut stored = engine.provider.cloud().get(&vpc_id).unwrap().unwrap();
    stored
        .properties
        .insert("cidr".into(), serde_json::json!("10.9.0.0/16"));
    engine.provider.cloud().insert(&stored, None).unwrap();
    let summary = engine.apply_plan(plan).await;
    assert_eq!(status(&summary, "networks/eu/a"), StackStatus::Refused);
    let message = summary
        .stacks
        .iter()
        .find(|s| s.stack == "networks/eu/a")
        .unwrap()
        .message
        .clone()
        .unwrap();
    assert!(
        message.contains("`vpc`: the approved update became a replace (forced by cidr)"),
        "{message}"
    );
    assert_eq!(
        status(&summary, "networks/eu/b"),
        StackStatus::Succeeded,
        "independent stacks finish"
    );
    assert_eq!(status(&summary, "replicas/eu/a"), StackStatus::Skipped);
    assert_eq!(
        engine.cloud_count("test:Network"),
        2,
        "nothing was replaced"
    );
}

#[tokio::test]
async fn a_vanished_resource_is_a_new_create_the_plan_did_not_approve() {
    let dir = workspace("basic");
    // The load balancer is deleted right after its create: without a window, reads take it for
    // gone at once (the default window would read it again for two minutes first).
    edit(
        dir.path(),
        "terrace.yaml",
        "name: basic",
        "name: basic\nconsistency: {window_secs: 0}",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    let plan = engine.plan().await;
    assert!(!plan.has_changes());
    let lb_id = engine
        .open()
        .state("proxies/eu")
        .await
        .unwrap()
        .unwrap()
        .resources["lb"]
        .id
        .clone();
    engine.provider.cloud().remove(&lb_id).unwrap();
    let summary = engine.apply_plan(plan).await;
    assert_eq!(status(&summary, "proxies/eu"), StackStatus::Refused);
    assert_eq!(engine.cloud_count("test:LoadBalancer"), 0);
    // A fresh plan shows the re-creation and names why.
    let plan = engine.plan().await;
    let lb = &plan.stack("proxies/eu").unwrap().changes[0];
    assert_eq!(lb.action, Action::Create);
    assert!(lb.notes[0].contains("deleted outside Terrace"));
}

#[tokio::test]
async fn a_failure_skips_its_dependents_and_independent_work_finishes() {
    let dir = workspace("basic");
    let options = TestOptions {
        fail_resources: BTreeSet::from(["subnet-eu-1a".to_string()]),
        ..Default::default()
    };
    let engine = Engine::new(dir.path(), options);
    let summary = engine.apply().await;
    assert!(!summary.succeeded());
    assert_eq!(status(&summary, "networks/eu/a"), StackStatus::Failed);
    assert_eq!(status(&summary, "networks/eu/b"), StackStatus::Succeeded);
    assert_eq!(status(&summary, "replicas/eu/a"), StackStatus::Skipped);
    assert_eq!(status(&summary, "replicas/eu/b"), StackStatus::Succeeded);
    assert_eq!(status(&summary, "proxies/eu"), StackStatus::Skipped);
    let failed: Vec<_> = summary
        .resources(ResourceStatus::Failed)
        .into_iter()
        .map(|(s, r)| format!("{s}:{}", r.resource))
        .collect();
    assert_eq!(failed, vec!["networks/eu/a:subnet-eu-1a"]);
    // The sibling subnet did not depend on the failed one: it was created and recorded.
    let state = engine.open().state("networks/eu/a").await.unwrap().unwrap();
    assert!(state.resources.contains_key("subnet-eu-1b"));
    assert!(!state.resources.contains_key("subnet-eu-1a"));
    assert!(state.pending.is_empty());
}

/// A panic in one operation (a provider bug) fails that operation, like an error: its
/// dependents are skipped, independent work finishes, the run returns a summary, the event
/// stream says so, and no lock is left.
#[tokio::test]
async fn a_panic_in_one_operation_fails_that_operation_not_the_run() {
    let dir = workspace("basic");
    let options = TestOptions {
        panic_resources: BTreeSet::from(["subnet-eu-1a".to_string()]),
        ..Default::default()
    };
    let engine = Engine::new(dir.path(), options);
    let terrace = engine.open();
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let (sink, mut events) = terrace::events::EventSink::collector();
    let summary = terrace
        .apply_with(plan, terrace::engine::ApplyOptions::default(), sink)
        .await
        .expect("the run ends with a summary");
    assert_eq!(status(&summary, "networks/eu/a"), StackStatus::Failed);
    assert_eq!(status(&summary, "networks/eu/b"), StackStatus::Succeeded);
    assert_eq!(status(&summary, "replicas/eu/a"), StackStatus::Skipped);
    assert_eq!(status(&summary, "replicas/eu/b"), StackStatus::Succeeded);
    let failed = summary.resources(ResourceStatus::Failed);
    assert_eq!(failed.len(), 1);
    let error = failed[0].1.error.clone().unwrap_or_default();
    assert!(
        error.contains("panicked") && error.contains("subnet-eu-1a"),
        "{error}"
    );
    let mut finished_failed = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let terrace::events::Event::ResourceFinished {
            resource,
            status: ResourceStatus::Failed,
            ..
        } = event
        {
            finished_failed.push(resource);
        }
    }
    assert_eq!(finished_failed, vec!["subnet-eu-1a".to_string()]);
    assert_eq!(still_locked(&terrace).await, Vec::<String>::new());
    let state = terrace.state("networks/eu/a").await.unwrap().unwrap();
    assert!(state.resources.contains_key("subnet-eu-1b"));
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_and_adopted_in_the_same_apply() {
    let dir = workspace("basic");
    let options = TestOptions {
        lose_answer: BTreeSet::from(["vpc".to_string()]),
        ..Default::default()
    };
    let lossy = Engine::new(dir.path(), options);
    let summary = lossy.apply().await;
    assert!(summary.succeeded(), "one apply converges: {summary:#?}");
    assert_eq!(
        lossy.cloud_count("test:Network"),
        2,
        "both creates reached the cloud once, none twice"
    );
    assert_eq!(
        lossy.provider.calls().get("create:test:Network"),
        Some(&2),
        "found by its ownership tags, not created again"
    );
    let state = lossy.open().state("networks/eu/a").await.unwrap().unwrap();
    assert!(state.pending.is_empty(), "{:?}", state.pending);
    let vpc = &state.resources["vpc"];
    assert!(lossy
        .provider
        .cloud()
        .list()
        .unwrap()
        .iter()
        .any(|r| r.id == vpc.id));
    assert!(!lossy.plan().await.has_changes());
}

#[tokio::test]
async fn a_create_left_pending_is_adopted_by_the_next_apply_not_duplicated() {
    let dir = workspace("basic");
    // The answer is lost and the lookup cannot reach the cloud: the create stays pending.
    let options = TestOptions {
        lose_answer: BTreeSet::from(["vpc".to_string()]),
        fail_owner_reads: true,
        ..Default::default()
    };
    let lossy = Engine::new(dir.path(), options);
    let summary = lossy.apply().await;
    assert_eq!(status(&summary, "networks/eu/a"), StackStatus::Failed);
    let state = lossy.open().state("networks/eu/a").await.unwrap().unwrap();
    assert_eq!(
        state.pending.len(),
        1,
        "the create is recorded as pending: {:?}",
        state.pending
    );
    assert!(!state.resources.contains_key("vpc"));
    // Next run, with the cloud reachable: the pending vpc is found by its ownership tags.
    let healthy = Engine {
        provider: std::sync::Arc::new(terrace::testing::TestProvider::in_memory(
            TestOptions::default(),
        )),
        root: dir.path().to_path_buf(),
    };
    for resource in lossy.provider.cloud().list().unwrap() {
        healthy.provider.cloud().insert(&resource, None).unwrap();
    }
    let plan = healthy.plan().await;
    let vpc = plan
        .stack("networks/eu/a")
        .unwrap()
        .changes
        .iter()
        .find(|c| c.name == "vpc")
        .unwrap()
        .clone();
    assert_eq!(
        vpc.action,
        Action::NoOp,
        "the plan already counts the adopted vpc: {vpc:?}"
    );
    assert!(vpc.notes[0].contains("adopted"), "{:?}", vpc.notes);
    let summary = healthy.apply_plan(plan).await;
    assert!(summary.succeeded(), "{summary:#?}");
    let networks: Vec<_> = healthy
        .provider
        .cloud()
        .list()
        .unwrap()
        .into_iter()
        .filter(|r| r.type_name == "test:Network" && r.ownership.stack == "networks/eu/a")
        .collect();
    assert_eq!(networks.len(), 1, "no duplicate vpc: {networks:?}");
    let state = healthy
        .open()
        .state("networks/eu/a")
        .await
        .unwrap()
        .unwrap();
    assert!(state.pending.is_empty());
    assert_eq!(state.resources["vpc"].id, networks[0].id);
}

#[tokio::test]
async fn destroy_deletes_in_reverse_dependency_order() {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    let terrace = engine.open();
    let plan = terrace
        .plan(&PlanOptions {
            destroy: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(plan.summary.delete, 9);
    assert_eq!(
        plan.stacks.first().unwrap().stack.name,
        "proxies/eu",
        "downstream stacks go first"
    );
    let summary = engine.apply_plan(plan).await;
    // The fake cloud refuses to delete a network that still has subnets: success proves order.
    assert!(summary.succeeded(), "{summary:#?}");
    assert!(engine.provider.cloud().list().unwrap().is_empty());
}

#[tokio::test]
async fn protect_survives_removal_from_config_and_refuses_the_delete() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "    type: test:LoadBalancer\n",
        "    type: test:LoadBalancer\n    options:\n      protect: true\n",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    assert!(
        engine
            .open()
            .state("proxies/eu")
            .await
            .unwrap()
            .unwrap()
            .resources["lb"]
            .protect
    );
    write(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "outputs: {}\n",
    );
    let err = engine
        .open()
        .plan(&PlanOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string()
            .contains("proxies/eu:lb is protected and would be deleted"),
        "{err}"
    );
    let allowed = PlanOptions {
        allow_destroy: vec!["proxies/eu:lb".into()],
        ..Default::default()
    };
    let plan = engine.open().plan(&allowed).await.unwrap();
    assert!(engine.apply_plan(plan).await.succeeded());
    assert_eq!(engine.cloud_count("test:LoadBalancer"), 0);
}

#[tokio::test]
async fn selectors_and_targets_limit_the_plan() {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    let terrace = engine.open();
    let only_b = Selector {
        stacks: vec!["networks/eu/b".into()],
        ..Default::default()
    };
    let plan = terrace
        .plan(&PlanOptions {
            selector: only_b,
            ..Default::default()
        })
        .await
        .unwrap();
    let names: Vec<&str> = plan.stacks.iter().map(|s| s.stack.name.as_str()).collect();
    assert_eq!(names, vec!["networks/eu/b"]);
    let target = Selector {
        targets: vec!["networks/eu/a:subnet-eu-1a".into()],
        ..Default::default()
    };
    let plan = terrace
        .plan(&PlanOptions {
            selector: target,
            ..Default::default()
        })
        .await
        .unwrap();
    let changes: Vec<&str> = plan.stacks[0]
        .changes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        changes,
        vec!["vpc", "subnet-eu-1a"],
        "the target and what it depends on"
    );
    let region = Selector {
        regions: vec!["eu-2".into()],
        ..Default::default()
    };
    let stacks: Vec<String> = terrace
        .stacks(&region)
        .unwrap()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(stacks, vec!["networks/eu/b", "replicas/eu/b"]);
    let bad = Selector {
        groups: vec!["ue".into()],
        ..Default::default()
    };
    assert!(terrace
        .stacks(&bad)
        .unwrap_err()
        .to_string()
        .contains("did you mean `eu`?"));
}

#[tokio::test]
async fn mutations_are_rate_limited_per_region_and_api_class() {
    let dir = workspace("basic");
    // 6 mutations per second per region; the 9 creates spread over 3 "regions" (eu-1, eu-2,
    // global), the largest share being eu-1 with 4 creates. Token buckets start full
    // (burst = rate), so this only checks a lower bound on a slower rate below.
    let options = TestOptions {
        mutate_rate: 2.0,
        ..Default::default()
    };
    let engine = Engine::new(dir.path(), options);
    let started = std::time::Instant::now();
    assert!(engine.apply().await.succeeded());
    // eu-1 holds 4 creates (vpc, 2 subnets, db) at 2/s with a burst of 2: at least ~1 s.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_interrupt_finishes_operations_in_flight_records_them_and_starts_nothing_new() {
    let dir = workspace("basic");
    let options = TestOptions {
        latency: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let engine = Engine::new(dir.path(), options);
    let terrace = engine.open();
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let apply_options = terrace::engine::ApplyOptions::default();
    let interrupt = apply_options.interrupt.clone();
    let mut run = terrace.apply(plan, apply_options).unwrap();
    while let Some(event) = run.events.recv().await {
        if matches!(event, terrace::events::Event::ResourceStarted { .. }) {
            interrupt.trigger();
        }
    }
    let summary = run.finish().await.unwrap();
    assert!(!summary.succeeded());
    // The account create was in flight: it finished and was recorded; nothing else started.
    assert_eq!(engine.provider.cloud().list().unwrap().len(), 1);
    let account = engine
        .open()
        .state("accounts/eu/test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.resources.len(), 1);
    assert!(account.pending.is_empty());
    let skipped: Vec<_> = summary
        .stacks
        .iter()
        .filter(|s| s.status == StackStatus::Skipped)
        .collect();
    assert_eq!(skipped.len(), 5, "{summary:#?}");
    assert!(skipped[0]
        .message
        .as_deref()
        .unwrap()
        .contains("interrupted"));
    for stack in terrace.stacks(&Default::default()).unwrap() {
        assert!(
            terrace
                .backend()
                .lock_info(&stack.name)
                .await
                .unwrap()
                .is_none(),
            "{} still locked",
            stack.name
        );
    }
    // The next apply finishes the job without duplicates.
    assert!(engine.apply().await.succeeded());
    assert_eq!(engine.provider.cloud().list().unwrap().len(), 9);
}

/// An engine on `root` whose fake cloud lives in `cloud` (shared by engines with other knobs).
fn engine_on(root: &std::path::Path, cloud: &std::path::Path, options: TestOptions) -> Engine {
    Engine {
        provider: std::sync::Arc::new(terrace::testing::TestProvider::in_dir(
            cloud.to_path_buf(),
            options,
        )),
        root: root.to_path_buf(),
    }
}

fn slow() -> TestOptions {
    TestOptions {
        latency: std::time::Duration::from_secs(2),
        ..Default::default()
    }
}

/// The first stack of the workspace seen locked (polls; panics after five seconds).
async fn first_locked(terrace: &terrace::engine::Terrace) -> String {
    let stacks: Vec<String> = terrace
        .stacks(&Selector::default())
        .unwrap()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    for _ in 0..500 {
        for stack in &stacks {
            if terrace.backend().lock_info(stack).await.unwrap().is_some() {
                return stack.clone();
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no stack was ever locked");
}

/// The stacks still locked after waiting up to five seconds for every lock to go.
async fn still_locked(terrace: &terrace::engine::Terrace) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut locked = Vec::new();
        for stack in terrace.stacks(&Selector::default()).unwrap() {
            if terrace
                .backend()
                .lock_info(&stack.name)
                .await
                .unwrap()
                .is_some()
            {
                locked.push(stack.name.clone());
            }
        }
        if locked.is_empty() || tokio::time::Instant::now() >= deadline {
            return locked;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_apply_whose_future_is_dropped_leaves_no_stack_locked() {
    let dir = workspace("basic");
    let cloud = tempfile::tempdir().unwrap();
    let plan = engine_on(dir.path(), cloud.path(), TestOptions::default())
        .plan()
        .await;
    let terrace = engine_on(dir.path(), cloud.path(), slow()).open();
    let apply = terrace.apply_with(
        plan,
        terrace::engine::ApplyOptions::default(),
        terrace::events::EventSink::none(),
    );
    // The apply is dropped while it holds a stack's lock, its first create in flight.
    let locked = tokio::select! {
        _ = apply => panic!("the apply cannot finish within the test"),
        stack = first_locked(&terrace) => stack,
    };
    assert_eq!(locked, "accounts/eu/test");
    assert_eq!(still_locked(&terrace).await, Vec::<String>::new());
}

#[tokio::test]
async fn refresh_releases_its_locks_when_dropped_or_failing() {
    let dir = workspace("basic");
    let cloud = tempfile::tempdir().unwrap();
    assert!(engine_on(dir.path(), cloud.path(), TestOptions::default())
        .apply()
        .await
        .succeeded());
    let lock_timeout = std::time::Duration::from_secs(5);
    // Dropped while reading the cloud under a stack's lock.
    let terrace = engine_on(dir.path(), cloud.path(), slow()).open();
    let selector = Selector::default();
    tokio::select! {
        _ = terrace.refresh(&selector, lock_timeout) => panic!("the refresh cannot finish"),
        _ = first_locked(&terrace) => {}
    };
    assert_eq!(still_locked(&terrace).await, Vec::<String>::new());
    // Failing: a read is refused.
    let denied = TestOptions {
        deny_reads: BTreeSet::from(["vpc".to_string()]),
        ..Default::default()
    };
    let terrace = engine_on(dir.path(), cloud.path(), denied).open();
    let err = terrace
        .refresh(&selector, lock_timeout)
        .await
        .expect_err("the vpc cannot be read");
    assert!(err.to_string().contains("not allowed to read"), "{err}");
    assert_eq!(still_locked(&terrace).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_failed_import_releases_the_stack_lock() {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    let terrace = engine.open();
    terrace
        .state_remove("networks/eu/a:vpc", std::time::Duration::from_secs(5))
        .await
        .expect("forgets the vpc");
    let err = terrace
        .import(
            "networks/eu/a",
            "vpc",
            "no-such-id",
            std::time::Duration::from_secs(5),
        )
        .await
        .expect_err("nothing has that id");
    assert!(matches!(err, Error::Usage { .. }), "{err}");
    assert_eq!(still_locked(&terrace).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_stale_plan_is_refused_by_the_library_before_any_provider_call() {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    let saved = engine.plan().await;
    assert!(
        engine.apply().await.succeeded(),
        "another apply moves every serial"
    );
    let calls = engine.provider.calls();
    let before = engine.provider.cloud().list().unwrap().len();
    let terrace = engine.open();
    let waited = terrace
        .apply_with(
            saved.clone(),
            terrace::engine::ApplyOptions::default(),
            terrace::events::EventSink::none(),
        )
        .await;
    match waited {
        Err(Error::StalePlan { stack, reason }) => {
            assert_eq!(stack, "accounts/eu/test");
            assert!(reason.contains("none → 1"), "{reason}");
        }
        other => panic!("expected a stale plan, got {other:?}"),
    }
    let mut run = terrace
        .apply(saved, terrace::engine::ApplyOptions::default())
        .unwrap();
    assert!(run.events.recv().await.is_none(), "nothing ran");
    assert!(matches!(run.finish().await, Err(Error::StalePlan { .. })));
    assert_eq!(engine.provider.calls(), calls, "no provider was called");
    assert_eq!(engine.provider.cloud().list().unwrap().len(), before);
    assert_eq!(still_locked(&terrace).await, Vec::<String>::new());
}

/// Planning and refreshing report their progress as events, like apply: a plan emits
/// `plan_started`, a `stack_refreshed` for each stack that has state, a `stack_planned` per
/// stack with its number of changes, and `plan_finished` with the plan's counts; a refresh
/// emits `refresh_started`, a `stack_refreshed` per stack and `refresh_finished`.
#[tokio::test]
async fn plan_and_refresh_report_progress_as_events() {
    use terrace::events::{Event, EventSink};
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    let drain = |mut receiver: tokio::sync::mpsc::UnboundedReceiver<Event>| {
        let mut events = Vec::new();
        while let Ok(event) = receiver.try_recv() {
            events.push(event);
        }
        events
    };
    let (sink, receiver) = EventSink::collector();
    let first = engine
        .open()
        .plan(&PlanOptions {
            events: sink,
            ..PlanOptions::default()
        })
        .await
        .unwrap();
    let events = drain(receiver);
    assert!(
        matches!(events.first(), Some(Event::PlanStarted { stacks, refresh: true }) if *stacks == first.stacks.len()),
        "{events:#?}"
    );
    let planned: Vec<(&str, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Event::StackPlanned { stack, changes } => Some((stack.as_str(), *changes)),
            _ => None,
        })
        .collect();
    let expected: Vec<(&str, usize)> = first
        .stacks
        .iter()
        .map(|s| {
            let changes = s
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .count();
            (s.desired.instance.name.as_str(), changes)
        })
        .collect();
    assert_eq!(planned, expected);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::StackRefreshed { .. })),
        "nothing to read before the first apply: {events:#?}"
    );
    assert_eq!(
        events.last(),
        Some(&Event::PlanFinished {
            create: first.summary.create,
            update: 0,
            replace: 0,
            delete: 0,
        })
    );
    assert!(engine.apply_plan(first).await.succeeded());

    // After the apply, every stack is read before it is planned.
    let (sink, receiver) = EventSink::collector();
    let terrace = engine.open();
    let second = terrace
        .plan(&PlanOptions {
            events: sink,
            ..PlanOptions::default()
        })
        .await
        .unwrap();
    let refreshed: BTreeSet<String> = drain(receiver)
        .into_iter()
        .filter_map(|e| match e {
            Event::StackRefreshed {
                stack,
                resources,
                found,
                ..
            } => {
                assert_eq!(resources, found, "{stack}: every resource is there");
                Some(stack)
            }
            _ => None,
        })
        .collect();
    let all: BTreeSet<String> = second
        .stacks
        .iter()
        .map(|s| s.desired.instance.name.clone())
        .collect();
    assert_eq!(refreshed, all);

    let (sink, receiver) = EventSink::collector();
    let report = terrace
        .refresh_with(
            &Selector::default(),
            std::time::Duration::from_secs(5),
            sink,
        )
        .await
        .unwrap();
    let events = drain(receiver);
    assert_eq!(
        events.first(),
        Some(&Event::RefreshStarted {
            stacks: report.stacks
        })
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::StackRefreshed { .. }))
            .count(),
        report.stacks
    );
    assert_eq!(
        events.last(),
        Some(&Event::RefreshFinished {
            drifted: 0,
            vanished: 0
        })
    );
}

/// A destroy deletes each stack's resources in its own run, in the destroy's order: the
/// networks' resources (which the replicas and proxies read, destroyed before them) go before
/// the account they live in. (Deferring them to a cleanup after "the stacks below" waited for
/// the accounts stack, which comes after the networks in a destroy, so the account went first.)
#[tokio::test]
async fn a_destroy_deletes_each_stacks_resources_before_the_stacks_it_reads() {
    use terrace::events::{Event, EventSink};
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    let terrace = engine.open();
    let destroy = terrace
        .plan(&PlanOptions {
            destroy: true,
            ..PlanOptions::default()
        })
        .await
        .unwrap();
    let (sink, mut receiver) = EventSink::collector();
    let summary = terrace
        .apply_with(destroy, terrace::engine::ApplyOptions::default(), sink)
        .await
        .unwrap();
    assert!(summary.succeeded(), "{summary:#?}");
    let mut events = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        events.push(event);
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::CleanupStarted { .. })),
        "nothing waits for a cleanup in a destroy: {events:#?}"
    );
    let deleted_at = |stack: &str| {
        events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Event::ResourceFinished { stack: s, action: Action::Delete, .. } if s == stack))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let networks = deleted_at("networks/eu/a");
    let account = deleted_at("accounts/eu/test");
    assert!(!networks.is_empty() && !account.is_empty(), "{events:#?}");
    assert!(
        networks.iter().max() < account.iter().min(),
        "every network resource is deleted before the account: {networks:?} vs {account:?}"
    );
    assert_eq!(engine.cloud_count("test:Network"), 0);
    assert_eq!(engine.cloud_count("test:Thing"), 0);
}

/// Events go through a bounded channel: a reader that takes its time holds the apply back but
/// gets every event, in order; an apply whose events are never read still finishes
/// (`ApplyRun::finish` drops them).
#[tokio::test]
async fn events_are_bounded_a_slow_reader_gets_them_all_and_an_unread_stream_never_blocks() {
    use terrace::events::{Event, EventSink};
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    let terrace = engine.open();
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let (sink, mut receiver) = EventSink::bounded(1);
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(event) = receiver.recv().await {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            seen.push(event);
        }
        seen
    });
    let summary = terrace
        .apply_with(plan, terrace::engine::ApplyOptions::default(), sink)
        .await
        .unwrap();
    assert!(summary.succeeded());
    let seen = reader.await.unwrap();
    assert!(
        matches!(seen.first(), Some(Event::ApplyStarted { .. })),
        "{seen:#?}"
    );
    assert!(
        matches!(seen.last(), Some(Event::ApplyFinished { .. })),
        "{seen:#?}"
    );
    let finished = seen
        .iter()
        .filter(|e| matches!(e, Event::ResourceFinished { .. }))
        .count();
    assert_eq!(finished, 9, "one event per resource created");

    // An apply with nobody reading: it is not held back by its unread events.
    let other_dir = workspace("basic");
    let other = Engine::new(other_dir.path(), TestOptions::default());
    let terrace = other.open();
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let run = terrace
        .apply(plan, terrace.apply_options())
        .expect("starts");
    let summary = tokio::time::timeout(std::time::Duration::from_secs(30), run.finish())
        .await
        .expect("an unread event stream does not block the apply")
        .unwrap();
    assert!(summary.succeeded());
}

/// A plan that policy refuses comes back whole from `plan_outcome`, with its refusals, so that
/// it can be shown; `plan` turns the same outcome into `Error::Refused`.
#[tokio::test]
async fn a_refused_plan_is_returned_with_its_refusals() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "terrace.yaml",
        "config:",
        "budgets:\n  max_stacks: 2\nconfig:",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    let terrace = engine.open();
    let outcome = terrace.plan_outcome(&PlanOptions::default()).await.unwrap();
    assert_eq!(outcome.plan.summary.create, 9);
    assert_eq!(
        outcome.refusals,
        vec!["the plan changes 6 stack(s); the budget allows 2 (budgets.max_stacks in terrace.yaml); if this is intended, raise it for this run with --max-stacks 6".to_string()]
    );
    let Err(Error::Refused { reasons }) = terrace.plan(&PlanOptions::default()).await else {
        panic!("plan refuses");
    };
    assert_eq!(reasons, outcome.refusals);
    // The refused plan is for showing: applying it is refused before anything runs.
    let applied = terrace
        .apply_with(
            outcome.plan,
            terrace::engine::ApplyOptions::default(),
            terrace::events::EventSink::none(),
        )
        .await;
    assert!(matches!(applied, Err(Error::Refused { .. })), "{applied:?}");
    assert_eq!(engine.cloud_count("test:Network"), 0, "nothing was created");
}

/// A state backend whose journal refuses the `done` entry of one resource (a full disk, a
/// revoked bucket grant), otherwise in memory.
struct RefusesDoneOf {
    inner: terrace::state::memory::MemoryBackend,
    resource: &'static str,
}

#[async_trait::async_trait]
impl terrace::state::Backend for RefusesDoneOf {
    async fn load(
        &self,
        stack: &str,
    ) -> Result<Option<terrace::state::StackState>, terrace::state::StateError> {
        self.inner.load(stack).await
    }
    async fn append(
        &self,
        stack: &str,
        base: u64,
        entry: &terrace::state::JournalEntry,
    ) -> Result<(), terrace::state::StateError> {
        if let terrace::state::JournalEntry::Done { resource, .. } = entry {
            if resource == self.resource {
                return Err(terrace::state::StateError::Io {
                    path: "journal".into(),
                    source: std::io::Error::other("no space left on device"),
                });
            }
        }
        self.inner.append(stack, base, entry).await
    }
    async fn save(
        &self,
        state: &terrace::state::StackState,
        expected: Option<u64>,
    ) -> Result<(), terrace::state::StateError> {
        self.inner.save(state, expected).await
    }
    async fn lock(
        &self,
        stack: &str,
        info: &terrace::state::LockInfo,
    ) -> Result<(), terrace::state::StateError> {
        self.inner.lock(stack, info).await
    }
    async fn unlock(&self, stack: &str, id: &str) -> Result<(), terrace::state::StateError> {
        self.inner.unlock(stack, id).await
    }
    async fn force_unlock(
        &self,
        stack: &str,
    ) -> Result<Option<terrace::state::LockInfo>, terrace::state::StateError> {
        self.inner.force_unlock(stack).await
    }
    async fn lock_info(
        &self,
        stack: &str,
    ) -> Result<Option<terrace::state::LockInfo>, terrace::state::StateError> {
        self.inner.lock_info(stack).await
    }
    async fn list(&self) -> Result<Vec<String>, terrace::state::StateError> {
        self.inner.list().await
    }
    async fn history(&self, stack: &str) -> Result<Vec<u64>, terrace::state::StateError> {
        self.inner.history(stack).await
    }
}

/// Step errors are typed: when an operation's result cannot be recorded in state, nothing new
/// starts in that stack (a cloud change state cannot record would be lost); a cloud refusal
/// (the failure test above) leaves independent work running.
#[tokio::test]
async fn once_state_cannot_be_recorded_nothing_new_starts_in_that_stack() {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    let mut terrace = engine.open();
    terrace.set_backend(std::sync::Arc::new(RefusesDoneOf {
        inner: terrace::state::memory::MemoryBackend::new(),
        resource: "subnet-eu-1a",
    }));
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let options = terrace::engine::ApplyOptions {
        resources_in_parallel: 1,
        ..Default::default()
    };
    let summary = terrace
        .apply_with(plan, options, terrace::events::EventSink::none())
        .await
        .unwrap();
    let stack = summary
        .stacks
        .iter()
        .find(|s| s.stack == "networks/eu/a")
        .unwrap();
    let by_name: std::collections::BTreeMap<String, (ResourceStatus, String)> = stack
        .resources
        .iter()
        .map(|r| {
            (
                r.resource.clone(),
                (r.status, r.error.clone().unwrap_or_default()),
            )
        })
        .collect();
    assert_eq!(by_name["vpc"].0, ResourceStatus::Done);
    assert_eq!(by_name["subnet-eu-1a"].0, ResourceStatus::Failed);
    assert!(
        by_name["subnet-eu-1a"].1.contains("no space left"),
        "{by_name:?}"
    );
    assert_eq!(
        by_name["subnet-eu-1b"].0,
        ResourceStatus::Skipped,
        "{by_name:?}"
    );
    assert!(
        by_name["subnet-eu-1b"]
            .1
            .contains("state could not be recorded"),
        "{by_name:?}"
    );
    let subnets_of_a = engine
        .provider
        .cloud()
        .list()
        .unwrap()
        .iter()
        .filter(|r| r.type_name == "test:Subnet" && r.ownership.stack == "networks/eu/a")
        .count();
    assert_eq!(subnets_of_a, 1, "the second subnet was not created");
    // The other stacks were not concerned.
    assert_eq!(status(&summary, "networks/eu/b"), StackStatus::Succeeded);
}

/// State records the stack instance it belongs to, so that a stack removed from the
/// configuration is still known by its layer, group, replica, cloud and region.
#[tokio::test]
async fn state_records_its_stack_instance() {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    let state = engine.open().state("replicas/eu/b").await.unwrap().unwrap();
    let instance = state.instance.expect("recorded by the apply");
    assert_eq!(instance.name, "replicas/eu/b");
    assert_eq!(
        (instance.layer.as_str(), instance.group.as_str()),
        ("replicas", "eu")
    );
    assert_eq!(instance.replica.as_deref(), Some("b"));
    assert_eq!(instance.cloud.as_deref(), Some("test"));
    assert_eq!(instance.region.as_deref(), Some("eu-2"));
}

/// The plan's JSON is made stack by stack on all cores; it must be the text serde_json makes of
/// the whole plan, byte for byte, whatever the plan holds.
#[tokio::test]
async fn the_plan_text_made_in_parallel_is_serde_jsons_text() {
    let same = |plan: &terrace::plan::Plan, case: &str| {
        assert_eq!(
            terrace::plan::json::to_string_pretty(plan).unwrap(),
            serde_json::to_string_pretty(plan).unwrap(),
            "{case}"
        );
    };
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    let mut plan = engine.plan().await;
    assert!(plan.stacks.len() > 2, "a plan of several stacks");
    same(&plan, "creates");
    // Text that looks like the place the stacks go, inside values.
    let tricky = serde_json::json!("x\n  \"stacks\": []\n  ]");
    plan.config.insert("stacks".into(), tricky.clone());
    plan.layers.push("\n  \"stacks\": []".into());
    same(&plan, "tricky values");
    plan.stacks.truncate(1);
    same(&plan, "one stack");
    plan.stacks.clear();
    same(&plan, "no stacks");
    let summary = engine.apply().await;
    assert!(summary.succeeded(), "{summary:#?}");
    same(&engine.plan().await, "nothing to do");
    let destroy = engine
        .open()
        .plan(&PlanOptions {
            destroy: true,
            ..Default::default()
        })
        .await
        .unwrap();
    same(&destroy, "destroy");
}

/// Stacks are planned in waves (the stacks whose read stacks are planned, together); a plan
/// that fails reports the first failing stack in plan order, as planning one by one would —
/// here the proxies stack, last in order but reading nothing (first wave), fails as well.
#[tokio::test]
async fn a_failing_plan_names_the_first_failing_stack_in_plan_order() {
    let dir = workspace("basic");
    // A passphrase written in clear is refused when its stack is planned.
    let clear = "  key:\n    type: test:Credential\n    properties:\n      name: k\n      passphrase: in-clear\n";
    write(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        &format!("resources:\n{clear}"),
    );
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "resources:\n",
        &format!("resources:\n{clear}"),
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    let terrace = engine.open();
    let order: Vec<String> = terrace
        .stacks(&Selector::default())
        .unwrap()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(
        order.last().map(String::as_str),
        Some("proxies/eu"),
        "{order:?}"
    );
    let err = terrace
        .plan(&PlanOptions::default())
        .await
        .expect_err("a passphrase in clear is refused");
    let first_replica = order.iter().find(|s| s.starts_with("replicas/")).unwrap();
    assert!(
        err.to_string().contains(&format!("stack {first_replica}:")),
        "{err}"
    );
}
