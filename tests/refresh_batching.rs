//! Refresh batching across stacks, on the in-process test provider: one plan, refresh or drift
//! reads each (recorded account, type, region) once, whatever the number of stacks; stacks in
//! different accounts never share a read; a pending create found by its ownership tags goes to
//! its own stack only.

mod support;

use std::collections::BTreeSet;
use support::{write, Engine};
use terrace::engine::{PlanOptions, Selector};
use terrace::events::{Event, EventSink};
use terrace::plan::Action;
use terrace::state::{OperationKind, PendingOperation};
use terrace::testing::{ReadCall, TestOptions};

/// A workspace of one networks layer: one stack per group (a group of one replica in `eu-1`),
/// each in the test account its group name starts with (`one-a` → account `one`), each with
/// two networks, `vpc` and `spare`.
fn workspace(groups: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "terrace.yaml",
        "name: batching\nproviders:\n  test:\n    settings: {}\njurisdictions:\n  EU:\n    test: [eu-1]\n",
    );
    write(root, "stacks/networks/layer.yaml", "per: replica\n");
    write(
        root,
        "templates/networks/network.yaml.tera",
        "providers:\n  test: {account: \"{{ group.name | split(pat=\"-\") | first }}\"}\n\
         resources:\n  vpc:\n    type: test:Network\n    properties:\n      cidr: 10.0.0.0/16\n      name: \"{{ group.name }}\"\n\
         \x20 spare:\n    type: test:Network\n    properties:\n      cidr: 10.1.0.0/16\n",
    );
    for group in groups {
        write(
            root,
            &format!("groups/{group}.yaml"),
            "residency: EU\nreplicas:\n  - name: r\n    cloud: test\n    region: eu-1\n    zones: [eu-1a]\n",
        );
    }
    dir
}

fn stack(group: &str) -> String {
    format!("networks/{group}/r")
}

/// The reads answered since `from`.
fn reads_since(engine: &Engine, from: usize) -> Vec<ReadCall> {
    engine.provider.reads()[from..].to_vec()
}

async fn applied(groups: &[&str]) -> (tempfile::TempDir, Engine) {
    let dir = workspace(groups);
    let engine = Engine::new(dir.path(), TestOptions::default());
    let summary = engine.apply().await;
    assert!(summary.succeeded(), "{summary:#?}");
    (dir, engine)
}

#[tokio::test]
async fn stacks_of_one_account_share_one_read_in_plan_refresh_and_drift() {
    let groups = ["one-a", "one-b", "one-c", "one-d", "one-e", "one-f"];
    let (_dir, engine) = applied(&groups).await;
    let ids: BTreeSet<String> = engine
        .provider
        .cloud()
        .list()
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids.len(), 12, "two networks per stack");

    let before = engine.provider.reads().len();
    let plan = engine.plan().await;
    assert!(!plan.has_changes(), "{plan:#?}");
    let reads = reads_since(&engine, before);
    assert_eq!(
        reads.len(),
        1,
        "six stacks, one account, one type and region: one read, not one per stack: {reads:#?}"
    );
    assert_eq!(reads[0].account.as_deref(), Some("one"));
    assert_eq!(reads[0].region.as_deref(), Some("eu-1"));
    assert_eq!(
        reads[0].ids.iter().cloned().collect::<BTreeSet<_>>(),
        ids,
        "the union of the stacks' ids, each once"
    );
    assert_eq!(reads[0].ids.len(), ids.len());
    assert_eq!(reads[0].owner, None, "no pending create: no read by owner");

    let terrace = engine.open();
    let (events, mut received) = EventSink::collector();
    let before = engine.provider.reads().len();
    let report = terrace
        .refresh_with(
            &Selector::default(),
            std::time::Duration::from_secs(5),
            events,
        )
        .await
        .unwrap();
    assert_eq!(report.stacks, 6);
    assert_eq!(report.resources, 12);
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    assert_eq!(reads_since(&engine, before).len(), 1, "refresh: one read");
    let mut refreshed = BTreeSet::new();
    while let Ok(event) = received.try_recv() {
        if let Event::StackRefreshed {
            stack,
            resources,
            found,
            ..
        } = event
        {
            assert_eq!((resources, found), (2, 2), "{stack}");
            refreshed.insert(stack);
        }
    }
    assert_eq!(
        refreshed,
        groups.iter().map(|g| stack(g)).collect::<BTreeSet<_>>(),
        "a StackRefreshed event per stack"
    );
    for group in groups {
        assert!(
            terrace
                .backend()
                .lock_info(&stack(group))
                .await
                .unwrap()
                .is_none(),
            "refresh released {group}'s lock"
        );
    }

    // Drift: the same single read, and a change behind Terrace's back is still told apart.
    let mut changed = engine
        .provider
        .cloud()
        .list()
        .unwrap()
        .into_iter()
        .find(|r| r.ownership.stack == stack("one-c") && r.ownership.resource == "spare")
        .unwrap();
    changed
        .properties
        .insert("cidr".into(), "10.9.0.0/16".into());
    engine.provider.cloud().insert(&changed, None).unwrap();
    let before = engine.provider.reads().len();
    let report = terrace.drift(&Selector::default()).await.unwrap();
    assert_eq!(reads_since(&engine, before).len(), 1, "drift: one read");
    let drifted: Vec<_> = report
        .drift
        .iter()
        .map(|d| (d.stack.as_str(), d.resource.as_str(), d.fields.clone()))
        .collect();
    assert_eq!(
        drifted,
        [(stack("one-c").as_str(), "spare", vec!["cidr".to_string()])],
        "the answer of the shared read went to the stack that owns it"
    );
}

#[tokio::test]
async fn stacks_of_two_accounts_read_once_per_account() {
    let groups = ["one-a", "one-b", "one-c", "two-a", "two-b"];
    let (_dir, engine) = applied(&groups).await;
    let accounts: BTreeSet<Option<String>> = engine
        .provider
        .cloud()
        .list()
        .unwrap()
        .into_iter()
        .map(|r| r.account)
        .collect();
    assert_eq!(
        accounts,
        BTreeSet::from([Some("one".to_string()), Some("two".to_string())]),
        "each stack's networks live in its own account"
    );
    let before = engine.provider.reads().len();
    let plan = engine.plan().await;
    assert!(!plan.has_changes(), "{plan:#?}");
    let mut reads: Vec<(Option<String>, usize)> = reads_since(&engine, before)
        .into_iter()
        .map(|r| (r.account, r.ids.len()))
        .collect();
    reads.sort();
    assert_eq!(
        reads,
        [(Some("one".to_string()), 6), (Some("two".to_string()), 4)],
        "one read per account, never one shared by two accounts"
    );
}

#[tokio::test]
async fn a_pending_create_is_adopted_by_its_own_stack_only() {
    let groups = ["one-a", "one-b", "one-c"];
    let (_dir, engine) = applied(&groups).await;
    let terrace = engine.open();
    // As after a crash: every stack's `spare` create is pending, not recorded; in the cloud
    // only the spares of one-a and one-b exist.
    let mut spares = std::collections::BTreeMap::new();
    for group in groups {
        let name = stack(group);
        let mut state = terrace.state(&name).await.unwrap().unwrap();
        let spare = state.resources.remove("spare").unwrap();
        state.pending.push(PendingOperation {
            id: format!("op-{group}"),
            resource: "spare".into(),
            kind: OperationKind::Create,
            type_name: spare.type_name.clone(),
            region: spare.region.clone(),
            idempotency_key: format!("key-{group}"),
            target_id: None,
            // Long ago: the apply does not wait out the cloud's eventual consistency for it.
            started_at: chrono::Utc::now() - chrono::Duration::hours(2),
            inputs: Some(spare.inputs.clone()),
        });
        terrace
            .backend()
            .save(&state, state.snapshot_serial)
            .await
            .unwrap();
        spares.insert(group, spare.id);
    }
    engine.provider.cloud().remove(&spares["one-c"]).unwrap();

    let before = engine.provider.reads().len();
    let plan = engine
        .open()
        .plan(&PlanOptions::default())
        .await
        .expect("plan");
    let reads = reads_since(&engine, before);
    assert_eq!(reads.len(), 1, "{reads:#?}");
    let owner = reads[0].owner.as_ref().expect("a read by owner");
    assert_eq!(
        (owner.workspace.as_str(), owner.stack.as_str()),
        ("batching", ""),
        "one read looks for the pending creates of every stack of the workspace"
    );
    let spare = |group: &str| {
        plan.stack(&stack(group))
            .unwrap()
            .changes
            .iter()
            .find(|c| c.name == "spare")
            .unwrap()
            .clone()
    };
    for group in ["one-a", "one-b"] {
        let change = spare(group);
        assert_eq!(change.action, Action::NoOp, "{group}: {change:?}");
        assert_eq!(
            change.id.as_deref(),
            Some(spares[group].as_str()),
            "{group} adopts its own spare, not another stack's"
        );
        assert!(
            change.notes.iter().any(|n| n.contains("adopted")),
            "{change:?}"
        );
    }
    let change = spare("one-c");
    assert_eq!(
        change.action,
        Action::Create,
        "one-c's spare is gone; the spares of one-a and one-b (same name, same type, same \
         account) are not one-c's: {change:?}"
    );

    let summary = engine.apply_plan(plan).await;
    assert!(summary.succeeded(), "{summary:#?}");
    for group in groups {
        let state = engine.open().state(&stack(group)).await.unwrap().unwrap();
        assert!(state.pending.is_empty(), "{group}: {:?}", state.pending);
        let owned: Vec<_> = engine
            .provider
            .cloud()
            .list()
            .unwrap()
            .into_iter()
            .filter(|r| r.ownership.stack == stack(group) && r.ownership.resource == "spare")
            .collect();
        assert_eq!(
            owned.len(),
            1,
            "{group}: one spare, no duplicate: {owned:?}"
        );
        assert_eq!(state.resources["spare"].id, owned[0].id, "{group}");
    }
}
