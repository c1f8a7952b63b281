//! Selection and targeting through the `terrace` binary: a targeted apply or destroy does
//! exactly what its plan showed; a selector that matches nothing is an error with the closest
//! name; stacks whose configuration was removed stay selectable; a destroy skips stacks that
//! were never applied. Uses the test provider (its fake cloud lives in the workspace).

mod support;

use support::{edit, stderr, stdout, terrace, workspace};
use terrace::testing::{FakeCloud, StoredResource};

fn cloud(dir: &std::path::Path) -> Vec<StoredResource> {
    FakeCloud::in_dir(dir.join(".terrace/test-cloud"))
        .list()
        .unwrap()
}

/// Resource names owned by a stack in the fake cloud.
fn in_cloud(dir: &std::path::Path, stack: &str) -> Vec<String> {
    let mut names: Vec<String> = cloud(dir)
        .into_iter()
        .filter(|r| r.ownership.stack == stack)
        .map(|r| r.ownership.resource)
        .collect();
    names.sort();
    names
}

fn state(dir: &std::path::Path, stack: &str) -> serde_json::Value {
    let output = terrace(dir, &["state", "show", stack]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn apply_all(dir: &std::path::Path) {
    let apply = terrace(dir, &["apply", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
}

#[test]
fn a_targeted_apply_does_exactly_what_its_plan_showed() {
    let dir = workspace("basic");
    apply_all(dir.path());
    // Two subnets change; only one is targeted.
    edit(
        dir.path(),
        "templates/networks/network.yaml.tera",
        "      zone: {{ zone }}",
        "      zone: {{ zone }}\n      labels: {tier: db}",
    );
    let target = ["--target", "networks/eu/a:subnet-eu-1a"];
    let plan = terrace(dir.path(), &[&["plan"][..], &target].concat());
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("Plan: 0 to create, 1 to update, 0 to replace, 0 to delete"),
        "{}",
        stdout(&plan)
    );
    let apply = terrace(dir.path(), &[&["apply", "--yes"][..], &target].concat());
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    let labels = |subnet: &str| {
        cloud(dir.path())
            .into_iter()
            .find(|r| r.ownership.stack == "networks/eu/a" && r.ownership.resource == subnet)
            .map(|r| r.properties.get("labels").cloned())
            .unwrap()
    };
    assert_eq!(
        labels("subnet-eu-1a"),
        Some(serde_json::json!({"tier": "db"}))
    );
    assert_eq!(
        labels("subnet-eu-1b"),
        None,
        "the untargeted subnet is left"
    );
    let rest = terrace(dir.path(), &["plan", "--stack", "networks/eu/a"]);
    assert!(
        stdout(&rest).contains("~ subnet-eu-1b"),
        "the other change is still to do: {}",
        stdout(&rest)
    );
}

#[test]
fn a_targeted_destroy_deletes_the_target_and_what_needs_it_never_what_it_needs() {
    let dir = workspace("basic");
    apply_all(dir.path());
    // subnet-eu-1b: the replica's database uses subnet-eu-1a.
    let target = ["--target", "networks/eu/a:subnet-eu-1b"];
    let plan = terrace(dir.path(), &[&["plan", "--destroy"][..], &target].concat());
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("Plan: 0 to create, 0 to update, 0 to replace, 1 to delete"),
        "{}",
        stdout(&plan)
    );
    let destroy = terrace(dir.path(), &[&["destroy", "--yes"][..], &target].concat());
    assert_eq!(destroy.status.code(), Some(0), "{}", stderr(&destroy));
    assert_eq!(
        in_cloud(dir.path(), "networks/eu/a"),
        vec!["subnet-eu-1a", "vpc"],
        "the VPC the subnet lived in stays"
    );
    let state = state(dir.path(), "networks/eu/a");
    let resources: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    assert_eq!(resources, vec!["subnet-eu-1a", "vpc"]);
    assert!(
        state["outputs"]["network_id"].is_string(),
        "outputs that do not read the deleted subnet stay: {state}"
    );
    assert!(
        state["outputs"].get("subnet_ids").is_none(),
        "an output that read the deleted subnet goes: {state}"
    );
}

#[test]
fn selectors_that_match_nothing_are_errors_with_the_closest_name() {
    let dir = workspace("basic");
    let cases: [(&[&str], &str); 6] = [
        (
            &["--region", "ue-1"],
            "--region ue-1: no stack is in this region; did you mean `eu-1`?",
        ),
        (
            &["--cloud", "azure"],
            "--cloud azure: no stack runs on this cloud; valid names: `test`",
        ),
        (
            &["--target", "networks/eu/a:vcp"],
            "--target networks/eu/a:vcp: stack networks/eu/a has no resource `vcp`; did you mean `vpc`?",
        ),
        (
            &["--allow-destroy", "nosuch/stack:foo"],
            "--allow-destroy nosuch/stack:foo: no stack nosuch/stack",
        ),
        (
            &["--allow-destroy", "networks/eu/a:vcp"],
            "stack networks/eu/a has no resource `vcp`; did you mean `vpc`?",
        ),
        (
            &["--group", "eu", "--region", "eu-1", "--layer", "proxies"],
            "the selection --group eu --layer proxies --region eu-1 matches no stack",
        ),
    ];
    for (flags, expected) in cases {
        let plan = terrace(
            dir.path(),
            &[&["plan", "--detailed-exitcode"][..], flags].concat(),
        );
        assert_eq!(plan.status.code(), Some(1), "{flags:?}: {}", stderr(&plan));
        assert!(
            stderr(&plan).contains(expected),
            "{flags:?}: {}",
            stderr(&plan)
        );
    }
    let stacks = terrace(dir.path(), &["stacks", "--region", "ue-1"]);
    assert_eq!(stacks.status.code(), Some(1));
}

#[test]
fn stacks_of_a_removed_group_are_selected_by_group_and_name() {
    let dir = workspace("basic");
    support::write(
        dir.path(),
        "groups/us.yaml",
        "replicas:\n  - name: c\n    cloud: test\n    region: us-1\n    zones: [us-1a]\n",
    );
    apply_all(dir.path());
    std::fs::remove_file(dir.path().join("groups/us.yaml")).unwrap();
    let stacks = terrace(dir.path(), &["stacks", "--group", "us"]);
    assert_eq!(stacks.status.code(), Some(0), "{}", stderr(&stacks));
    assert!(
        stdout(&stacks).contains("networks/us/c")
            && stdout(&stacks).contains("removed from the configuration"),
        "{}",
        stdout(&stacks)
    );
    let plan = terrace(dir.path(), &["plan", "--group", "us"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(text.contains("Stack networks/us/c"), "{text}");
    assert!(!text.contains("Stack networks/eu/a"), "{text}");
    let one = terrace(dir.path(), &["plan", "--stack", "replicas/us/c"]);
    assert!(
        stdout(&one).contains("- db"),
        "{}{}",
        stdout(&one),
        stderr(&one)
    );
    let apply = terrace(dir.path(), &["apply", "--group", "us", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    assert!(in_cloud(dir.path(), "networks/us/c").is_empty());
    assert!(!in_cloud(dir.path(), "networks/eu/a").is_empty());
    let list = terrace(dir.path(), &["state", "list"]);
    assert!(
        !stdout(&list).contains("/us/") && stdout(&list).contains("networks/eu/a"),
        "the emptied states of the removed stacks are retired: {}",
        stdout(&list)
    );
    assert!(
        dir.path()
            .join(".terrace/state/.history/networks/us/c")
            .is_dir(),
        "their last snapshots are kept in the history"
    );
}

#[test]
fn destroying_a_partially_applied_group_skips_the_stacks_never_applied() {
    let dir = workspace("basic");
    let apply = terrace(
        dir.path(),
        &[
            "apply", "--yes", "--layer", "accounts", "--layer", "networks",
        ],
    );
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    assert!(!cloud(dir.path()).is_empty());
    let destroy = terrace(dir.path(), &["destroy", "--group", "eu", "--yes"]);
    assert_eq!(destroy.status.code(), Some(0), "{}", stderr(&destroy));
    assert!(
        !stderr(&destroy).contains("apply it first"),
        "{}",
        stderr(&destroy)
    );
    assert!(cloud(dir.path()).is_empty(), "{:?}", cloud(dir.path()));
}

#[test]
fn an_error_in_one_group_file_blocks_only_the_commands_that_reach_that_group() {
    let dir = workspace("basic");
    let us = "replicas:\n  - name: c\n    cloud: test\n    region: us-1\n    zones: [us-1a]\n";
    support::write(dir.path(), "groups/us.yaml", us);
    apply_all(dir.path());
    support::write(
        dir.path(),
        "groups/us.yaml",
        &us.replace("region: us-1", "regoin: us-1"),
    );
    let eu = terrace(
        dir.path(),
        &["plan", "--group", "eu", "--detailed-exitcode"],
    );
    assert_eq!(eu.status.code(), Some(0), "{}", stderr(&eu));
    let stacks = terrace(dir.path(), &["stacks", "--stack", "networks/eu/*"]);
    assert_eq!(stacks.status.code(), Some(0), "{}", stderr(&stacks));
    for args in [
        &["plan"][..],
        &["plan", "--group", "us"],
        &["stacks", "--layer", "networks"],
    ] {
        let output = terrace(dir.path(), args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).contains("groups/us.yaml:4:5: replicas[0]: unknown field `regoin`"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // The broken group's stacks are not taken for removed ones: nothing of it is deleted.
    let apply = terrace(dir.path(), &["apply", "--group", "eu", "--yes"]);
    assert_eq!(apply.status.code(), Some(0), "{}", stderr(&apply));
    assert!(!in_cloud(dir.path(), "networks/us/c").is_empty());
}
