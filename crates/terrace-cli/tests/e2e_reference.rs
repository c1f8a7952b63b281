//! The reference architecture end to end on the sandbox (cloud profile: eventual consistency,
//! throttling, lost answers, in-use refusals), through the binary and the real providers:
//! group `eu` is applied; a second plan is empty; a replica added to `eu.yaml` creates only its
//! networks and replicas stacks and updates `proxies/eu`; removing it deletes them again; a
//! replica's address range changes; a replica moves to another region; destroying the group
//! leaves nothing the workspace owns. Each step is one apply. After every step the emulators
//! are listed directly (boto3, Compute REST), not through Terrace.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use support::sandbox::{changed_actions, state_rows, terrace_real as terrace, Sandbox};
use support::{ok, reference_workspace, stderr, stdout};

const WORKSPACE: &str = "reference";
const REGIONS: &[&str] = &[
    "aws:eu-west-1",
    "aws:eu-central-1",
    "aws:eu-north-1",
    "gcp:europe-west3",
];
const EU_STACKS: &[&str] = &[
    "accounts/eu/aws",
    "accounts/eu/gcp",
    "networks/eu/aws-eu-west-1",
    "networks/eu/gcp-europe-west3",
    "networks/eu/aws-eu-central-1",
    "mesh/eu",
    "replicas/eu/aws-eu-west-1",
    "replicas/eu/gcp-europe-west3",
    "replicas/eu/aws-eu-central-1",
    "proxies/eu",
];
const NEW_REPLICA: &str = "  - name: aws-eu-north-1
    cloud: aws
    region: eu-north-1
    zones: [eu-north-1a]
    nodes: 1
    vars: {cidr: 10.19.0.0/16}
";

/// Resources owned by the workspace in the emulators, counted per stack.
fn owned_by_stack(sandbox: &Sandbox) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for item in sandbox.inventory(WORKSPACE, REGIONS) {
        let stack = item["stack"].as_str().unwrap_or("?").to_string();
        *counts.entry(stack).or_default() += 1;
    }
    counts
}

/// Resources per stack as Terrace's state records them.
fn state_by_stack(dir: &Path) -> BTreeMap<String, usize> {
    state_rows(dir)
        .iter()
        .map(|s| {
            let count = s["resources"].as_u64().expect("resource count") as usize;
            (s["stack"].as_str().unwrap().to_string(), count)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Stacks whose every resource is forgotten and imported again: between them, every type of
/// both clouds the reference templates use.
const IMPORTED_STACKS: [&str; 5] = [
    "networks/eu/aws-eu-west-1",
    "networks/eu/gcp-europe-west3",
    "replicas/eu/aws-eu-west-1",
    "replicas/eu/gcp-europe-west3",
    "proxies/eu",
];

/// Issue 12: an import reads every field a template sets. Each resource of the stacks is
/// removed from state and imported by its id; the re-plan is empty (no field read back as
/// null, no needless launch template version or replacement).
fn assert_imports_are_clean(dir: &Path, stacks: &[&str]) {
    for stack in stacks {
        let show = terrace(dir, &["state", "show", stack]);
        ok(&show);
        let state: Value = serde_json::from_slice(&show.stdout).unwrap();
        for (resource, entry) in state["resources"].as_object().unwrap() {
            let id = entry["id"].as_str().unwrap();
            let at = format!("{stack}:{resource}");
            ok(&terrace(dir, &["state", "rm", &at]));
            ok(&terrace(dir, &["import", stack, resource, id]));
        }
    }
    assert_replan_empty(dir);
}

/// Issue 12: renaming a replica (`renamed_from`) with the reference templates moves its stacks'
/// state and keeps every cloud object: the plan moves each resource and replaces, creates or
/// deletes nothing of the replica (tags naming the stack are updated in place; the proxies,
/// whose boot document names the replica, roll).
/// The group file is restored afterwards.
fn assert_rename_keeps_the_nodes(dir: &Path) {
    let group = dir.join("examples/eu.yaml");
    let original = std::fs::read_to_string(&group).unwrap();
    let renamed = original.replace(
        "  - name: aws-eu-central-1\n",
        "  - name: aws-frankfurt\n    renamed_from: aws-eu-central-1\n",
    );
    assert_ne!(renamed, original);
    std::fs::write(&group, renamed).unwrap();
    let plan = terrace(dir, &["--json", "plan", "--group", "eu"]);
    ok(&plan);
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let held: usize = ["networks", "replicas"]
        .iter()
        .map(|layer| {
            let show = terrace(
                dir,
                &["state", "show", &format!("{layer}/eu/aws-eu-central-1")],
            );
            let state: Value = serde_json::from_slice(&show.stdout).unwrap();
            state["resources"].as_object().unwrap().len()
        })
        .sum();
    assert_eq!(
        plan["moves"].as_array().map_or(0, Vec::len),
        held,
        "every resource moves"
    );
    // The proxies' boot document names each replica, so they roll; elsewhere only tags that
    // name the stack change in place.
    for stack in plan["stacks"].as_array().unwrap() {
        let name = stack["name"].as_str().unwrap();
        for change in stack["changes"].as_array().unwrap() {
            let action = change["action"].as_str().unwrap();
            assert!(
                name == "proxies/eu" || action == "no-op" || action == "update",
                "{name}:{} would {action}",
                change["name"]
            );
        }
    }
    std::fs::write(&group, original).unwrap();
}

/// An output of a stack, as `terrace output` prints it.
fn output_of(dir: &Path, stack: &str, key: &str) -> String {
    let out = terrace(dir, &["--json", "output", stack]);
    ok(&out);
    let outputs: Value = serde_json::from_slice(&out.stdout).unwrap();
    outputs[stack][key]
        .as_str()
        .unwrap_or_else(|| panic!("{stack} has no output {key}: {outputs}"))
        .to_string()
}

/// Issue 13: every workload resource of `group` (networks, replicas, proxies) is in the
/// group's own member account and project, listed there directly; the management account and
/// the base project hold none. Returns the account id and project id.
fn assert_group_isolated(
    sandbox: &Sandbox,
    dir: &Path,
    group: &str,
    regions: &[&str],
) -> (String, String) {
    let account = output_of(dir, &format!("accounts/{group}/aws"), "account_id");
    let project = output_of(dir, &format!("accounts/{group}/gcp"), "project_id");
    assert_ne!(project, "terrace-sandbox");
    let mut seen = BTreeSet::new();
    for item in sandbox.inventory(WORKSPACE, regions) {
        let stack = item["stack"].as_str().unwrap_or_default();
        if stack.starts_with("accounts/") || stack.split('/').nth(1) != Some(group) {
            continue;
        }
        let (place, expected) = match item["cloud"].as_str() {
            Some("aws") => ("account", &account),
            _ => ("project", &project),
        };
        assert_eq!(
            item[place].as_str(),
            Some(expected.as_str()),
            "{stack}: {item} is outside the group's {place}"
        );
        seen.insert(item["cloud"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seen,
        set(&["aws", "gcp"]),
        "both clouds hold workload resources"
    );
    (account, project)
}

/// Issue 13: the group's project holds the org-policy constraint `gcp.resourceLocations`
/// allowing the regions of the group's jurisdiction (`EU` in `jurisdictions.yaml`) only,
/// listed directly in the emulator (`GET v2/projects/{p}/policies`, through inventory.py).
fn assert_location_guard(sandbox: &Sandbox, project: &str) {
    let policies: Vec<Value> = sandbox
        .inventory(WORKSPACE, REGIONS)
        .into_iter()
        .filter(|i| i["kind"] == "org-policy" && i["project"] == project)
        .collect();
    assert_eq!(policies.len(), 1, "{policies:?}");
    let policy = &policies[0]["policy"];
    assert!(
        policy["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("/policies/gcp.resourceLocations")),
        "{policy}"
    );
    assert_eq!(policies[0]["stack"], "accounts/eu/gcp");
    let eu = [
        "europe-central2",
        "europe-north1",
        "europe-north2",
        "europe-southwest1",
        "europe-west1",
        "europe-west10",
        "europe-west12",
        "europe-west3",
        "europe-west4",
        "europe-west8",
        "europe-west9",
    ];
    let expected: Vec<String> = eu.iter().map(|r| format!("in:{r}-locations")).collect();
    assert_eq!(
        policy["spec"]["rules"],
        serde_json::json!([{"values": {"allowedValues": expected}}]),
        "{policy}"
    );
}

fn assert_replan_empty(dir: &Path) {
    let plan = terrace(dir, &["plan", "--group", "eu", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "a plan after apply has no changes:\n{}{}",
        stdout(&plan),
        stderr(&plan)
    );
}

/// Stack → the actions of its changes, for stacks that change.
fn plan_actions(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    plan_actions_with(dir, &[])
}

/// The same, with extra plan arguments (a raised budget).
fn plan_actions_with(dir: &Path, extra: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut args = vec!["--json", "plan", "--group", "eu"];
    args.extend_from_slice(extra);
    let plan = terrace(dir, &args);
    ok(&plan);
    changed_actions(&plan.stdout)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn group_eu_applies_grows_shrinks_and_is_destroyed_on_the_sandbox() {
    let dir = reference_workspace();
    let dir = dir.path();
    let sandbox = Sandbox::start(dir);

    // Apply the group: every stack's resources exist in the emulators, as state says.
    ok(&terrace(dir, &["apply", "--group", "eu", "--yes"]));
    let owned = owned_by_stack(&sandbox);
    assert_eq!(
        owned.keys().cloned().collect::<BTreeSet<_>>(),
        set(EU_STACKS),
        "{owned:?}"
    );
    assert_eq!(owned, state_by_stack(dir), "the cloud matches state");
    let (_, project) = assert_group_isolated(&sandbox, dir, "eu", REGIONS);
    assert_location_guard(&sandbox, &project);
    assert_replan_empty(dir);
    // Drift compares as the plan does (ids the cloud lists in another order are no drift).
    let drift = terrace(dir, &["drift", "--group", "eu"]);
    assert_eq!(drift.status.code(), Some(0), "{}", stdout(&drift));
    assert_imports_are_clean(dir, &IMPORTED_STACKS);
    assert_rename_keeps_the_nodes(dir);
    let outputs = terrace(dir, &["--json", "output", "proxies/eu"]);
    ok(&outputs);
    let outputs: Value = serde_json::from_slice(&outputs.stdout).unwrap();
    assert!(
        outputs.to_string().contains("elb.amazonaws.com"),
        "the public endpoints are published: {outputs}"
    );

    // Add a replica: only its two stacks are created, and proxies/eu changes.
    let group = dir.join("examples/eu.yaml");
    let original = std::fs::read_to_string(&group).unwrap();
    std::fs::write(&group, format!("{original}{NEW_REPLICA}")).unwrap();
    let actions = plan_actions(dir);
    assert_eq!(
        actions.keys().cloned().collect::<BTreeSet<_>>(),
        set(&[
            "networks/eu/aws-eu-north-1",
            "mesh/eu",
            "replicas/eu/aws-eu-north-1",
            "proxies/eu"
        ]),
        "{actions:?}"
    );
    assert_eq!(actions["networks/eu/aws-eu-north-1"], set(&["create"]));
    assert_eq!(actions["replicas/eu/aws-eu-north-1"], set(&["create"]));
    assert!(
        !actions["proxies/eu"].contains("delete") && !actions["proxies/eu"].contains("create"),
        "proxies/eu is updated in place (a GCP instance template is replaced): {actions:?}"
    );
    ok(&terrace(dir, &["apply", "--group", "eu", "--yes"]));
    let owned = owned_by_stack(&sandbox);
    assert!(owned["networks/eu/aws-eu-north-1"] >= 5, "{owned:?}");
    assert_eq!(owned["replicas/eu/aws-eu-north-1"], 5, "{owned:?}");
    assert_eq!(owned, state_by_stack(dir), "the cloud matches state");
    assert_replan_empty(dir);

    // Remove it again: its stacks are deleted, after the proxies stopped using it.
    std::fs::write(&group, &original).unwrap();
    let actions = plan_actions(dir);
    assert_eq!(actions["networks/eu/aws-eu-north-1"], set(&["delete"]));
    assert_eq!(actions["replicas/eu/aws-eu-north-1"], set(&["delete"]));
    ok(&terrace(dir, &["apply", "--group", "eu", "--yes"]));
    let owned = owned_by_stack(&sandbox);
    assert_eq!(
        owned.keys().cloned().collect::<BTreeSet<_>>(),
        set(EU_STACKS),
        "{owned:?}"
    );
    assert_eq!(owned, state_by_stack(dir), "the cloud matches state");
    assert_replan_empty(dir);

    // Change a replica's address range: its network is built anew beside the old one, the
    // replica's nodes, balancer and the proxies move onto it, then the old network goes — in
    // one apply, under the cloud profile.
    let renumbered = original.replace("vars: {cidr: 10.16.0.0/16}", "vars: {cidr: 10.20.0.0/16}");
    assert_ne!(renumbered, original);
    std::fs::write(&group, &renumbered).unwrap();
    // More than the reference's budget of 10 replaces: allowed for this run.
    let actions = plan_actions_with(dir, &["--max-replaces", "40"]);
    assert!(
        actions["networks/eu/aws-eu-west-1"].contains("replace"),
        "{actions:?}"
    );
    ok(&terrace(
        dir,
        &["apply", "--group", "eu", "--yes", "--max-replaces", "40"],
    ));
    sandbox.assert_matches_state(dir, WORKSPACE, REGIONS);
    assert_replan_empty(dir);

    // Move a replica to another region under the same name: everything of it is replaced, in
    // one apply.
    let moved = renumbered
        .replace("region: eu-central-1", "region: eu-north-1")
        .replace(
            "zones: [eu-central-1a, eu-central-1b]",
            "zones: [eu-north-1a, eu-north-1b]",
        );
    assert_ne!(moved, renumbered);
    std::fs::write(&group, &moved).unwrap();
    ok(&terrace(
        dir,
        &[
            "apply",
            "--group",
            "eu",
            "--yes",
            "--max-replaces",
            "40",
            "--max-deletes",
            "120",
        ],
    ));
    sandbox.assert_matches_state(dir, WORKSPACE, REGIONS);
    assert_replan_empty(dir);

    // Destroy: accounts are protected and the delete budget is 60, so both are named.
    let refused = terrace(dir, &["destroy", "--group", "eu", "--yes"]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(sandbox.inventory(WORKSPACE, REGIONS).len() >= 100);
    ok(&terrace(
        dir,
        &[
            "destroy",
            "--group",
            "eu",
            "--yes",
            "--allow-destroy",
            "accounts/eu/aws:account",
            "--allow-destroy",
            "accounts/eu/gcp:project",
            "--max-deletes",
            "110",
        ],
    ));
    let left = sandbox.inventory(WORKSPACE, REGIONS);
    assert!(left.is_empty(), "nothing owned remains: {left:?}");
}

/// Issue 13: two groups land in two accounts and two projects. The accounts of `eu` and `us`
/// and one network of `us` on each cloud are applied (a plan first shows the networks' provider
/// configuration known after apply); each network is in `us`'s account or project, not `eu`'s.
#[test]
fn two_groups_live_in_two_accounts_and_two_projects_on_the_sandbox() {
    let dir = reference_workspace();
    let dir = dir.path();
    let sandbox = Sandbox::start(dir);
    let stacks = [
        "accounts/eu/aws",
        "accounts/eu/gcp",
        "accounts/us/aws",
        "accounts/us/gcp",
        "networks/us/aws-us-west-2",
        "networks/us/gcp-us-central1",
    ];
    let mut args = vec!["--json", "plan"];
    for stack in &stacks {
        args.extend(["--stack", stack]);
    }
    let plan = terrace(dir, &args);
    ok(&plan);
    assert!(
        stdout(&plan).contains("aws provider configuration is known after apply")
            && stdout(&plan).contains("gcp provider configuration is known after apply"),
        "{}",
        stdout(&plan)
    );
    args[0] = "apply";
    args[1] = "--yes";
    ok(&terrace(dir, &args));
    let regions = ["aws:us-west-2", "gcp:us-central1"];
    let us = assert_group_isolated(&sandbox, dir, "us", &regions);
    let eu_account = output_of(dir, "accounts/eu/aws", "account_id");
    let eu_project = output_of(dir, "accounts/eu/gcp", "project_id");
    assert_ne!(us.0, eu_account, "two member accounts");
    assert_ne!(us.1, eu_project, "two projects");
    assert_replan_empty_for(dir, &stacks);
}

fn assert_replan_empty_for(dir: &Path, stacks: &[&str]) {
    let mut args = vec!["plan", "--detailed-exitcode"];
    for stack in stacks {
        args.extend(["--stack", stack]);
    }
    let plan = terrace(dir, &args);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}{}",
        stdout(&plan),
        stderr(&plan)
    );
}

/// Issue 6 on the sandbox: the replicas layer rolls out one replica at a time behind a gate.
/// The gate fails after the canary, so the other two replicas are never touched — their stacks
/// own nothing in the emulators — and the proxies, which need every replica, are skipped.
#[test]
fn a_failed_canary_gate_leaves_the_other_replicas_untouched_on_the_sandbox() {
    let dir = reference_workspace();
    let dir = dir.path();
    let sandbox = Sandbox::start(dir);
    let seen = dir.join("gate-saw.json");
    let layer = dir.join("stacks/replicas/layer.yaml");
    let original = std::fs::read_to_string(&layer).unwrap();
    std::fs::write(
        &layer,
        format!(
            "{original}rollout:\n  order: [aws-eu-west-1]\n  \
             max_parallel: 1\n  gate: 'echo \"$TERRACE_WAVE_OUTPUTS\" > {}; exit 1'\n",
            seen.display()
        ),
    )
    .unwrap();

    let apply = terrace(dir, &["apply", "--group", "eu", "--yes"]);
    assert_ne!(apply.status.code(), Some(0), "{}", stdout(&apply));
    let out = stdout(&apply) + &stderr(&apply);
    assert!(out.contains("gate failed"), "{out}");
    assert!(
        out.contains("replicas/eu/gcp-europe-west3") && out.contains("not started"),
        "the summary names the stacks left: {out}"
    );

    let gate_saw: Value =
        serde_json::from_str(&std::fs::read_to_string(&seen).expect("the gate ran")).unwrap();
    assert!(
        gate_saw["replicas/eu/aws-eu-west-1"]["endpoint"]
            .as_str()
            .is_some_and(|e| e.contains("elb.amazonaws.com")),
        "the gate sees the canary's outputs: {gate_saw}"
    );
    let owned = owned_by_stack(&sandbox);
    assert_eq!(
        owned.get("replicas/eu/aws-eu-west-1"),
        Some(&5),
        "{owned:?}"
    );
    for untouched in [
        "replicas/eu/gcp-europe-west3",
        "replicas/eu/aws-eu-central-1",
        "proxies/eu",
    ] {
        assert!(!owned.contains_key(untouched), "{untouched}: {owned:?}");
    }
    for network in [
        "networks/eu/aws-eu-west-1",
        "networks/eu/gcp-europe-west3",
        "networks/eu/aws-eu-central-1",
    ] {
        assert!(owned.contains_key(network), "{network}: {owned:?}");
    }
    assert_eq!(owned, state_by_stack(dir), "the cloud matches state");
}

/// Every example group renders, validates and passes residency and the shipped policies (a
/// plan without state reads nothing from a cloud); an EU replica moved to a US region is
/// refused with the group file named.
#[test]
fn every_example_group_plans_and_residency_guards_them() {
    let dir = reference_workspace();
    let dir = dir.path();
    // Without a secrets key, the HA VPN's connections (their keys are secrets) are refused.
    let keyless = terrace(dir, &["plan"]);
    assert_eq!(keyless.status.code(), Some(1), "{}", stderr(&keyless));
    assert!(
        stderr(&keyless).contains("terrace config init-secrets"),
        "{}",
        stderr(&keyless)
    );
    ok(&terrace(dir, &["config", "init-secrets"]));
    let plan = terrace(dir, &["--json", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let groups: BTreeSet<&str> = plan["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, BTreeSet::from(["eu", "global", "us"]));
    assert_eq!(plan["stacks"].as_array().unwrap().len(), 32);

    let group = dir.join("examples/eu.yaml");
    let text = std::fs::read_to_string(&group).unwrap();
    std::fs::write(
        &group,
        text.replace("region: eu-central-1", "region: us-east-1")
            .replace("[eu-central-1a, eu-central-1b]", "[us-east-1a, us-east-1b]"),
    )
    .unwrap();
    let refused = terrace(dir, &["plan"]);
    assert_ne!(refused.status.code(), Some(0));
    let message = stderr(&refused);
    assert!(
        message.contains("examples/eu.yaml") && message.contains("us-east-1"),
        "{message}"
    );
}
