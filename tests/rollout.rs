//! Staged rollouts on the test provider: waves, canary first, gates, failure tolerance, and a
//! stopped rollout leaving later waves untouched (checked in the fake cloud directly).

mod support;

use std::collections::BTreeSet;
use support::{edit, workspace, write, Engine};
use terrace::engine::{ApplyOptions, PlanOptions};
use terrace::events::{Event, StackStatus};
use terrace::testing::TestOptions;

/// The basic fixture with a third replica `c` and a rollout on the replicas layer.
fn three_replicas(rollout: &str) -> tempfile::TempDir {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "groups/eu.yaml",
        "  - name: b\n",
        "  - name: c\n    cloud: test\n    region: eu-1\n    zones: [eu-1c]\n  - name: b\n",
    );
    write(
        dir.path(),
        "stacks/replicas/layer.yaml",
        &format!("depends_on: [networks]\nper: replica\nrollout:\n{rollout}"),
    );
    dir
}

/// Replica names whose database instance exists in the fake cloud.
fn replicas_in_cloud(engine: &Engine) -> BTreeSet<String> {
    engine
        .provider
        .cloud()
        .list()
        .unwrap()
        .into_iter()
        .filter(|r| r.type_name == "test:Instance")
        .map(|r| r.ownership.stack.rsplit('/').next().unwrap().to_string())
        .collect()
}

async fn apply_with_events(engine: &Engine) -> (terrace::apply::ApplySummary, Vec<Event>) {
    let terrace = engine.open();
    let plan = terrace.plan(&PlanOptions::default()).await.unwrap();
    let mut run = terrace.apply(plan, ApplyOptions::default()).unwrap();
    let mut events = Vec::new();
    while let Some(event) = run.events.recv().await {
        events.push(event);
    }
    (run.finish().await.unwrap(), events)
}

fn status(summary: &terrace::apply::ApplySummary, stack: &str) -> StackStatus {
    summary
        .stacks
        .iter()
        .find(|s| s.stack == stack)
        .unwrap()
        .status
}

#[tokio::test]
async fn the_plan_records_waves_canary_first() {
    let dir = three_replicas("  order: [c]\n  max_parallel: 2\n");
    let engine = Engine::new(dir.path(), TestOptions::default());
    let plan = engine.plan().await;
    assert_eq!(plan.rollouts.len(), 1);
    assert_eq!(plan.rollouts[0].name, "replicas");
    assert_eq!(
        plan.rollouts[0].waves,
        vec![
            vec!["replicas/eu/c"],
            vec!["replicas/eu/a", "replicas/eu/b"]
        ]
    );
}

#[tokio::test]
async fn a_failing_canary_gate_leaves_the_other_replicas_untouched() {
    let dir =
        three_replicas("  order: [c]\n  max_parallel: 1\n  gate: \"echo unhealthy >&2; exit 3\"\n");
    let engine = Engine::new(dir.path(), TestOptions::default());
    let (summary, events) = apply_with_events(&engine).await;
    assert_eq!(
        replicas_in_cloud(&engine),
        BTreeSet::from(["c".to_string()]),
        "only the canary replica exists"
    );
    assert_eq!(status(&summary, "replicas/eu/c"), StackStatus::Succeeded);
    for stack in ["replicas/eu/a", "replicas/eu/b"] {
        assert_eq!(status(&summary, stack), StackStatus::Skipped);
        let message = summary
            .stacks
            .iter()
            .find(|s| s.stack == stack)
            .unwrap()
            .message
            .clone()
            .unwrap();
        assert!(message.contains("rollout replicas stopped: the gate after wave 1 failed: `echo unhealthy >&2; exit 3` exited 3: unhealthy"), "{message}");
    }
    assert_eq!(status(&summary, "proxies/eu"), StackStatus::Skipped);
    let stopped = events.iter().find_map(|e| match e {
        Event::RolloutStopped { remaining, .. } => Some(remaining.clone()),
        _ => None,
    });
    assert_eq!(
        stopped,
        Some(vec![
            "replicas/eu/a".to_string(),
            "replicas/eu/b".to_string()
        ]),
        "the summary names what remains"
    );
    // Networks are not part of the rollout: all three exist.
    assert_eq!(engine.cloud_count("test:Network"), 3);
}

// Several workers, as the CLI runs: a wave's `wave_started` must still come before its stacks'
// `stack_started` (the stacks' tasks are spawned after the scheduler's events are sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_gate_sees_each_waves_stacks_and_outputs() {
    let dir = three_replicas(
        "  order: [c]\n  max_parallel: 1\n  gate: 'echo \"$TERRACE_ROLLOUT $TERRACE_WAVE $TERRACE_WAVE_STACKS\" >> gate.log; echo \"$TERRACE_WAVE_OUTPUTS\" > outputs-$TERRACE_WAVE.json'\n",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    let (summary, events) = apply_with_events(&engine).await;
    assert!(summary.succeeded(), "{summary:#?}");
    let log = std::fs::read_to_string(dir.path().join("gate.log")).unwrap();
    assert_eq!(
        log, "replicas 1 replicas/eu/c\nreplicas 2 replicas/eu/a\n",
        "a gate after each wave but the last"
    );
    let outputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("outputs-1.json")).unwrap())
            .unwrap();
    let endpoint = outputs["replicas/eu/c"]["endpoint"].as_str().unwrap();
    assert!(endpoint.ends_with(":5432"), "{endpoint}");
    let waves: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Event::WaveStarted { wave, .. } => Some(*wave),
            _ => None,
        })
        .collect();
    assert_eq!(waves, vec![1, 2, 3]);
    // Waves are sequential: the canary finished before wave 2 started.
    let position = |wanted: &str| {
        events
            .iter()
            .position(|e| matches!(e, Event::StackFinished { stack, .. } if stack == wanted))
            .unwrap()
    };
    let wave_two = events
        .iter()
        .position(|e| matches!(e, Event::WaveStarted { wave: 2, .. }))
        .unwrap();
    assert!(position("replicas/eu/c") < wave_two);
    let started = |wanted: &str| {
        events
            .iter()
            .position(|e| matches!(e, Event::StackStarted { stack, .. } if stack == wanted))
            .unwrap()
    };
    let wave = |n: usize| {
        events
            .iter()
            .position(|e| matches!(e, Event::WaveStarted { wave, .. } if *wave == n))
            .unwrap()
    };
    assert!(wave(1) < started("replicas/eu/c"), "{events:#?}");
    assert!(wave(2) < started("replicas/eu/a"), "{events:#?}");
    assert!(wave(3) < started("replicas/eu/b"), "{events:#?}");
}

#[tokio::test]
async fn failures_beyond_the_tolerance_stop_the_rollout() {
    let options = || TestOptions {
        fail_resources: BTreeSet::from(["db".to_string()]),
        ..Default::default()
    };
    let strict = three_replicas("  order: [c]\n  max_parallel: 1\n  failure_tolerance: 0\n");
    let engine = Engine::new(strict.path(), options());
    let (summary, _) = apply_with_events(&engine).await;
    assert_eq!(status(&summary, "replicas/eu/c"), StackStatus::Failed);
    let message = summary
        .stacks
        .iter()
        .find(|s| s.stack == "replicas/eu/a")
        .unwrap()
        .message
        .clone()
        .unwrap();
    assert!(
        message.contains("1 stack(s) failed by wave 1 of 3, more than the tolerance of 0"),
        "{message}"
    );
    assert_eq!(
        engine.provider.calls().get("create:test:Instance"),
        Some(&1),
        "only the canary was attempted"
    );

    let tolerant = three_replicas("  order: [c]\n  max_parallel: 1\n  failure_tolerance: 5\n");
    let engine = Engine::new(tolerant.path(), options());
    let (summary, _) = apply_with_events(&engine).await;
    assert_eq!(
        engine.provider.calls().get("create:test:Instance"),
        Some(&3),
        "every wave was attempted"
    );
    assert_eq!(status(&summary, "replicas/eu/b"), StackStatus::Failed);
}

/// A wave whose stacks were all skipped — the canary's network failed, in another layer — still
/// ends: the skip counts against the tolerance, the rollout stops, and every later stack gets
/// an outcome (none is left out of the summary).
#[tokio::test]
async fn a_wave_skipped_by_a_failure_above_it_still_ends_the_rollout() {
    let dir = three_replicas("  order: [c]\n  max_parallel: 1\n  failure_tolerance: 0\n");
    let engine = Engine::new(
        dir.path(),
        TestOptions {
            fail_resources: BTreeSet::from(["subnet-eu-1c".to_string()]),
            ..Default::default()
        },
    );
    let (summary, events) = apply_with_events(&engine).await;
    assert_eq!(status(&summary, "networks/eu/c"), StackStatus::Failed);
    assert_eq!(status(&summary, "replicas/eu/c"), StackStatus::Skipped);
    for stack in ["replicas/eu/a", "replicas/eu/b"] {
        let outcome = summary.stacks.iter().find(|s| s.stack == stack);
        let Some(outcome) = outcome else {
            panic!("{stack} has no outcome: {summary:#?}");
        };
        assert_eq!(outcome.status, StackStatus::Skipped, "{outcome:#?}");
        let message = outcome.message.clone().unwrap_or_default();
        assert!(message.contains("rollout replicas stopped"), "{message}");
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::RolloutStopped { .. })),
        "{events:#?}"
    );
    assert_eq!(replicas_in_cloud(&engine), BTreeSet::new());
}
