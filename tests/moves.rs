//! Moves keep cloud objects: a `moved:` entry renaming a resource key, a replica renamed with
//! `renamed_from` (every stack of it moves), a resource moved to another stack, and `state mv` /
//! `state rm` — each checked against the fake cloud listed directly (same ids, nothing created or
//! deleted), and a re-plan that finds nothing to do; an import of what another resource owns is
//! refused.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::{edit, workspace, Engine};
use terrace::plan::Action;
use terrace::testing::TestOptions;

/// Every resource of the fake cloud: id → type.
fn cloud(engine: &Engine) -> BTreeMap<String, String> {
    engine
        .provider
        .cloud()
        .list()
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.type_name))
        .collect()
}

async fn id_of(engine: &Engine, stack: &str, resource: &str) -> Option<String> {
    let state = engine.open().state(stack).await.expect("state loads")?;
    state.resources.get(resource).map(|r| r.id.clone())
}

/// Actions other than no-op in a plan: (stack, resource, action).
fn actions(plan: &terrace::plan::Plan) -> Vec<(String, String, Action)> {
    plan.stacks
        .iter()
        .flat_map(|s| {
            s.changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .map(|c| (s.stack.name.clone(), c.name.clone(), c.action))
        })
        .collect()
}

async fn applied(dir: &std::path::Path) -> Engine {
    let engine = Engine::new(dir, TestOptions::default());
    assert!(engine.apply().await.succeeded());
    engine
}

#[tokio::test]
async fn a_moved_entry_renames_a_resource_key_and_keeps_the_cloud_object() {
    let dir = workspace("basic");
    let engine = applied(dir.path()).await;
    let before = cloud(&engine);
    let db = id_of(&engine, "replicas/eu/a", "db").await.unwrap();

    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "resources:\n  db:",
        "moved:\n  - {from: db, to: database}\nresources:\n  database:",
    );
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "${db.private_ip}",
        "${database.private_ip}",
    );
    let plan = engine.plan().await;
    assert_eq!(
        plan.moves.len(),
        2,
        "one move per replica stack: {:?}",
        plan.moves
    );
    assert_eq!(
        actions(&plan),
        vec![],
        "a rename changes nothing in the cloud"
    );
    let change = plan
        .stack("replicas/eu/a")
        .unwrap()
        .changes
        .iter()
        .find(|c| c.name == "database")
        .unwrap();
    assert!(
        change
            .notes
            .iter()
            .any(|n| n.contains("moved from replicas/eu/a:db")),
        "{:?}",
        change.notes
    );

    assert!(engine.apply_plan(plan).await.succeeded());
    assert_eq!(cloud(&engine), before, "the same objects, nothing new");
    assert_eq!(id_of(&engine, "replicas/eu/a", "database").await, Some(db));
    assert_eq!(id_of(&engine, "replicas/eu/a", "db").await, None);
    let again = engine.plan().await;
    assert!(!again.has_changes(), "{:?}", actions(&again));
}

#[tokio::test]
async fn renaming_a_replica_moves_each_of_its_stacks_and_keeps_its_nodes() {
    let dir = workspace("basic");
    // Cloud names made from the replica's name stay while `renamed_from` is set.
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "{{ replica.name }}",
        "{{ replica.renamed_from | default(value=replica.name) }}",
    );
    let engine = applied(dir.path()).await;
    let before = cloud(&engine);
    let db = id_of(&engine, "replicas/eu/b", "db").await.unwrap();
    let vpc = id_of(&engine, "networks/eu/b", "vpc").await.unwrap();

    edit(
        dir.path(),
        "groups/eu.yaml",
        "  - name: b\n",
        "  - name: c\n    renamed_from: b\n",
    );
    let plan = engine.plan().await;
    let moved: Vec<String> = plan.moves.iter().map(|m| m.to.to_string()).collect();
    assert!(moved.contains(&"replicas/eu/c:db".to_string()), "{moved:?}");
    assert!(
        moved.contains(&"networks/eu/c:vpc".to_string()),
        "{moved:?}"
    );
    let replaced_or_gone: Vec<_> = actions(&plan)
        .into_iter()
        .filter(|(_, _, a)| *a != Action::Update)
        .collect();
    assert_eq!(replaced_or_gone, vec![], "no node is destroyed or created");

    assert!(engine.apply_plan(plan).await.succeeded());
    assert_eq!(cloud(&engine), before, "the same nodes and networks");
    assert_eq!(id_of(&engine, "replicas/eu/c", "db").await, Some(db));
    assert_eq!(id_of(&engine, "networks/eu/c", "vpc").await, Some(vpc));
    let old = engine.open().state("replicas/eu/b").await.unwrap();
    assert!(
        old.as_ref().is_none_or(|s| s.resources.is_empty()),
        "{old:?}"
    );
    let again = engine.plan().await;
    assert!(!again.has_changes(), "{:?}", actions(&again));
}

#[tokio::test]
async fn a_moved_entry_takes_a_resource_from_another_stack() {
    let dir = workspace("basic");
    let thing = "  marker:\n    type: test:Thing\n    properties: {value: kept}\n";
    edit(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "resources:\n",
        &format!("resources:\n{thing}"),
    );
    let engine = applied(dir.path()).await;
    let before = cloud(&engine);
    let marker = id_of(&engine, "proxies/eu", "marker").await.unwrap();

    edit(dir.path(), "templates/proxies/proxy.yaml.tera", thing, "");
    edit(
        dir.path(),
        "templates/accounts/account.yaml.tera",
        "resources:\n",
        &format!("moved:\n  - {{from: \"proxies/eu:marker\", to: marker}}\nresources:\n{thing}"),
    );
    let plan = engine.plan().await;
    assert_eq!(plan.moves.len(), 1, "{:?}", plan.moves);
    assert_eq!(plan.moves[0].from.to_string(), "proxies/eu:marker");
    assert_eq!(plan.moves[0].to.to_string(), "accounts/eu/test:marker");
    assert_eq!(
        actions(&plan),
        vec![],
        "neither a delete in proxies nor a create in accounts"
    );

    assert!(engine.apply_plan(plan).await.succeeded());
    assert_eq!(cloud(&engine), before);
    assert_eq!(
        id_of(&engine, "accounts/eu/test", "marker").await,
        Some(marker)
    );
    assert_eq!(id_of(&engine, "proxies/eu", "marker").await, None);
    assert!(!engine.plan().await.has_changes());
}

#[tokio::test]
async fn a_moved_entry_to_an_undeclared_resource_is_one_error_naming_the_file() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "resources:\n",
        "moved:\n  - {from: db, to: datbase}\nresources:\n",
    );
    let registry = {
        let mut r = terrace::provider::Registry::new();
        r.register(std::sync::Arc::new(
            terrace::testing::TestProvider::in_memory(TestOptions::default()),
        ));
        r
    };
    let err = terrace::engine::Terrace::open(dir.path(), registry)
        .err()
        .expect("the workspace is refused");
    let text = err.to_string();
    assert!(
        text.contains("templates/replicas/replica.yaml.tera"),
        "{text}"
    );
    assert!(text.contains("`datbase`"), "{text}");
    assert!(text.contains("declare it under `resources:`"), "{text}");
}

#[tokio::test]
async fn a_move_between_types_is_refused_at_plan() {
    let dir = workspace("basic");
    let engine = applied(dir.path()).await;
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "resources:\n",
        "moved:\n  - {from: db, to: other}\nresources:\n  other:\n    type: test:Thing\n    properties: {value: 1}\n",
    );
    let err = engine
        .open()
        .plan(&Default::default())
        .await
        .expect_err("types differ");
    let text = err.to_string();
    assert!(
        text.contains("test:Instance") && text.contains("test:Thing"),
        "{text}"
    );
}

#[tokio::test]
async fn state_mv_and_rm_change_state_only() {
    let dir = workspace("basic");
    let engine = applied(dir.path()).await;
    let before = cloud(&engine);
    let db = id_of(&engine, "replicas/eu/a", "db").await.unwrap();
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "resources:\n  db:",
        "resources:\n  database:",
    );
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "${db.private_ip}",
        "${database.private_ip}",
    );
    let terrace = engine.open();
    // A move onto an undeclared name is refused before anything changes.
    let refused = terrace
        .state_move(
            "replicas/eu/a:db",
            "replicas/eu/a:dbx",
            Duration::from_secs(5),
        )
        .await
        .expect_err("undeclared target");
    assert!(
        refused.to_string().contains("declares no resource"),
        "{refused}"
    );
    assert_eq!(
        id_of(&engine, "replicas/eu/a", "db").await,
        Some(db.clone())
    );

    let moved = terrace
        .state_move(
            "replicas/eu/a:db",
            "replicas/eu/a:database",
            Duration::from_secs(5),
        )
        .await
        .expect("moves");
    assert_eq!(moved.id, db);
    assert_eq!(cloud(&engine), before, "the cloud is not touched");
    let plan = engine.plan().await;
    let in_a: Vec<_> = actions(&plan)
        .into_iter()
        .filter(|(s, _, _)| s == "replicas/eu/a")
        .collect();
    assert_eq!(in_a, vec![], "the renamed key is the same node");

    terrace
        .state_remove("replicas/eu/a:database", Duration::from_secs(5))
        .await
        .expect("removes");
    assert_eq!(cloud(&engine), before, "the object stays in the cloud");
    assert_eq!(id_of(&engine, "replicas/eu/a", "database").await, None);
}

#[tokio::test]
async fn importing_what_another_resource_of_the_workspace_owns_is_refused_naming_the_owner() {
    let dir = workspace("basic");
    let engine = applied(dir.path()).await;
    let subnet = id_of(&engine, "networks/eu/a", "subnet-eu-1a")
        .await
        .unwrap();
    let terrace = engine.open();
    terrace
        .state_remove("networks/eu/a", Duration::from_secs(5))
        .await
        .expect_err("an address needs a resource");
    terrace
        .state_remove("networks/eu/a:subnet-eu-1b", Duration::from_secs(5))
        .await
        .expect("forgets subnet-eu-1b");
    let before = cloud(&engine);
    let err = terrace
        .import(
            "networks/eu/a",
            "subnet-eu-1b",
            &subnet,
            Duration::from_secs(5),
        )
        .await
        .expect_err("subnet-eu-1a's object cannot also be subnet-eu-1b");
    let text = err.to_string();
    assert!(text.contains("networks/eu/a:subnet-eu-1a"), "{text}");
    assert!(text.contains("terrace state mv"), "{text}");
    assert_eq!(id_of(&engine, "networks/eu/a", "subnet-eu-1b").await, None);
    assert_eq!(cloud(&engine), before);
}
