//! Blast-radius report, budgets and residency on the test provider: each control refuses what
//! it must and allows what it must.

mod support;

use support::{edit, workspace, Engine};
use terrace::engine::PlanOptions;
use terrace::policy::budgets::Budgets;
use terrace::testing::TestOptions;
use terrace::Error;

async fn applied() -> (tempfile::TempDir, Engine) {
    let dir = workspace("basic");
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    (dir, engine)
}

fn refused(result: Result<terrace::plan::Plan, Error>) -> Vec<String> {
    match result {
        Err(Error::Refused { reasons }) => reasons,
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the plan was accepted"),
    }
}

#[tokio::test]
async fn the_blast_radius_names_what_changes_and_who_downstream_sees_it() {
    let (dir, engine) = applied().await;
    edit(dir.path(), "terrace.yaml", "image: db-16", "image: db-17");
    let only_a = terrace::engine::Selector {
        stacks: vec!["replicas/eu/a".into()],
        ..Default::default()
    };
    let plan = engine
        .open()
        .plan(&PlanOptions {
            selector: only_a,
            ..Default::default()
        })
        .await
        .unwrap();
    let radius = &plan.blast_radius;
    assert_eq!(
        radius.stacks.iter().collect::<Vec<_>>(),
        vec!["replicas/eu/a"]
    );
    assert_eq!(radius.groups.iter().collect::<Vec<_>>(), vec!["eu"]);
    assert_eq!(radius.regions.iter().collect::<Vec<_>>(), vec!["eu-1"]);
    assert_eq!(radius.clouds.iter().collect::<Vec<_>>(), vec!["test"]);
    assert_eq!(radius.resources.get("replace"), Some(&1));
    // proxies/eu is not in the plan, but its input changes: the report says so.
    let downstream: Vec<_> = radius.downstream["proxies/eu"].iter().collect();
    assert_eq!(downstream, vec!["replicas/eu/a.endpoint"]);
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        json["blast_radius"]["downstream"]["proxies/eu"][0],
        "replicas/eu/a.endpoint"
    );
}

#[tokio::test]
async fn a_stack_reading_other_outputs_than_those_that_change_is_not_downstream() {
    let dir = support::workspace("basic");
    support::edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "outputs:\n",
        "outputs:\n  size: ${db.size}\n",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    // Only `size` changes; proxies/eu reads `endpoint` alone.
    edit(
        dir.path(),
        "templates/replicas/replica.yaml.tera",
        "size: small",
        "size: large",
    );
    let plan = engine.plan().await;
    assert!(plan.blast_radius.stacks.contains("replicas/eu/a"));
    assert!(
        !plan.blast_radius.downstream.contains_key("proxies/eu"),
        "{:?}",
        plan.blast_radius.downstream
    );
}

#[tokio::test]
async fn a_plan_over_budget_is_refused_with_the_numbers_unless_raised_for_the_run() {
    let (dir, engine) = applied().await;
    edit(
        dir.path(),
        "terrace.yaml",
        "config:",
        "budgets:\n  max_replaces: 1\n  max_stacks: 5\nconfig:",
    );
    edit(dir.path(), "terrace.yaml", "image: db-16", "image: db-17");
    let reasons = refused(engine.open().plan(&PlanOptions::default()).await);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("the plan replaces 2 resource(s); the budget allows 1"),
        "{}",
        reasons[0]
    );
    assert!(reasons[0].contains("--max-replaces 2"));
    let raised = PlanOptions {
        raise_budgets: Budgets {
            max_replaces: Some(2),
            ..Default::default()
        },
        ..Default::default()
    };
    let plan = engine
        .open()
        .plan(&raised)
        .await
        .expect("allowed when raised for this run");
    assert_eq!(plan.summary.replace, 2);
    // Within budget: three changed stacks of five allowed.
    assert_eq!(plan.summary.stacks_changed, 3);
}

#[tokio::test]
async fn the_stack_budget_counts_changed_stacks() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "terrace.yaml",
        "config:",
        "budgets:\n  max_stacks: 5\nconfig:",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    let reasons = refused(engine.open().plan(&PlanOptions::default()).await);
    assert!(
        reasons[0].starts_with("the plan changes 6 stack(s); the budget allows 5"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_resource_outside_its_groups_jurisdiction_is_refused_naming_it() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "    region: eu-1\n",
        "    region: us-9\n",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    let reasons = refused(engine.open().plan(&PlanOptions::default()).await);
    assert_eq!(
        reasons,
        vec!["proxies/eu:lb (test:LoadBalancer) would be in region us-9, outside jurisdiction EU of group eu; allowed test regions: eu-1, eu-2"]
    );
    // The same resource in an allowed region passes.
    edit(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "region: us-9",
        "region: eu-2",
    );
    assert!(engine.open().plan(&PlanOptions::default()).await.is_ok());
}

#[tokio::test]
async fn a_replica_outside_its_jurisdiction_is_an_input_error_at_its_line() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "groups/eu.yaml",
        "    region: eu-2\n    zones: [eu-2a]",
        "    region: us-2\n    zones: [us-2a]",
    );
    let mut registry = terrace::provider::Registry::new();
    registry.register(std::sync::Arc::new(
        terrace::testing::TestProvider::in_memory(TestOptions::default()),
    ));
    // The group's error blocks what may touch the group (here, a plan of everything).
    let terrace = terrace::engine::Terrace::open(dir.path(), registry).unwrap();
    let err = terrace
        .plan(&terrace::engine::PlanOptions::default())
        .await
        .expect_err("refused");
    assert!(matches!(err, terrace::Error::Invalid(_)), "{err}");
    let message = err.to_string();
    assert!(message.contains("groups/eu.yaml:10:5: replica `b` is in test region us-2, outside the group's jurisdiction EU"), "{message}");
    assert!(message.contains("use one of: eu-1, eu-2"), "{message}");
}

#[tokio::test]
async fn a_global_group_is_unrestricted() {
    let dir = workspace("basic");
    edit(
        dir.path(),
        "groups/eu.yaml",
        "residency: EU",
        "residency: global",
    );
    edit(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "    region: eu-1\n",
        "    region: us-9\n",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.open().plan(&PlanOptions::default()).await.is_ok());
}

#[tokio::test]
async fn a_rego_deny_refuses_the_plan_with_the_policys_message() {
    let dir = workspace("basic");
    let policy = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/required_owner_label.rego"),
    )
    .unwrap();
    support::write(dir.path(), "policies/required_owner_label.rego", &policy);
    let engine = Engine::new(dir.path(), TestOptions::default());
    let reasons = refused(engine.open().plan(&PlanOptions::default()).await);
    assert_eq!(
        reasons,
        vec![
            "policy: networks/eu/a:vpc (test:Network) has labels without an `owner` entry",
            "policy: networks/eu/b:vpc (test:Network) has labels without an `owner` entry",
        ]
    );
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "      labels:\n",
        "      labels:\n        owner: db-team\n",
    );
    assert!(engine.open().plan(&PlanOptions::default()).await.is_ok());
}

#[tokio::test]
async fn refresh_reports_live_resources_outside_the_jurisdiction() {
    // The load balancer was placed in us-9 while the group had no residency rule.
    let dir = workspace("basic");
    edit(
        dir.path(),
        "groups/eu.yaml",
        "residency: EU",
        "residency: global",
    );
    edit(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "    region: eu-1\n",
        "    region: us-9\n",
    );
    let engine = Engine::new(dir.path(), TestOptions::default());
    assert!(engine.apply().await.succeeded());
    // Then the group becomes EU-only: refresh finds the live resource outside it.
    edit(
        dir.path(),
        "groups/eu.yaml",
        "residency: global",
        "residency: EU",
    );
    let report = engine
        .open()
        .refresh(&Default::default(), std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.outside_jurisdiction.len(), 1, "{report:?}");
    let misplaced = &report.outside_jurisdiction[0];
    assert_eq!(
        (
            misplaced.stack.as_str(),
            misplaced.resource.as_str(),
            misplaced.region.as_str(),
            misplaced.jurisdiction.as_str()
        ),
        ("proxies/eu", "lb", "us-9", "EU")
    );
    // A plan that leaves it alone is not refused; one that changes it there is.
    assert!(engine.open().plan(&PlanOptions::default()).await.is_ok());
    edit(
        dir.path(),
        "templates/proxies/proxy.yaml.tera",
        "port: {{ config.db_port }}",
        "port: 6432",
    );
    let reasons = refused(engine.open().plan(&PlanOptions::default()).await);
    assert!(
        reasons[0].contains("proxies/eu:lb (test:LoadBalancer) would be in region us-9"),
        "{reasons:?}"
    );
}
