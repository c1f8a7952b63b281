//! The replica mesh end to end on the sandbox (cloud profile), through the binary and the real
//! providers: the accounts, networks and mesh layers of group `eu` (AWS eu-west-1, GCP
//! europe-west3, AWS eu-central-1) are applied; then, listing moto and the Compute emulator
//! directly (`support/mesh.py`, not Terrace), every replica network's routes reach the range of
//! every other replica through a path that is up (an active VPC peering connection between AWS
//! replicas, an ACTIVE network peering between GCP replicas; between AWS and GCP, on the AWS
//! side a route through an attached virtual private gateway whose VPN connections are
//! available, on the GCP side the routes the Cloud Router installs through ESTABLISHED HA VPN
//! tunnels), and no route reaches a range outside the group. The tunnels' pre-shared keys
//! are never in state or output in clear. A fourth replica adds only its own links; removing it removes them; destroying the
//! group leaves nothing the workspace owns. Group `global` checks the GCP network peering the
//! same way, and `terrace graph` is checked to draw the links.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use support::sandbox::{changed_actions, terrace_real as terrace, venv, Sandbox};
use support::{ok, reference_workspace, stderr, stdout};

const WORKSPACE: &str = "reference";
const REGIONS: &[&str] = &[
    "aws:eu-west-1",
    "aws:eu-central-1",
    "aws:eu-north-1",
    "gcp:europe-west3",
];
/// The regions of group `global`.
const GLOBAL_REGIONS: &[&str] = &[
    "aws:us-east-1",
    "aws:ap-southeast-1",
    "gcp:europe-west4",
    "gcp:asia-northeast1",
];
const LAYERS: &[&str] = &[
    "--layer", "accounts", "--layer", "networks", "--layer", "mesh",
];
const NEW_REPLICA: &str = "  - name: aws-eu-north-1
    cloud: aws
    region: eu-north-1
    zones: [eu-north-1a]
    nodes: 1
    vars: {cidr: 10.19.0.0/16}
";

/// The replica networks and their routes, listed in the emulators by `support/mesh.py`.
fn networks(sandbox: &Sandbox, regions: &[&str]) -> Vec<Value> {
    mesh_listing(sandbox, regions)["networks"]
        .as_array()
        .unwrap()
        .clone()
}

/// The pre-shared keys of the workspace's VPN connections, as AWS answers them.
fn preshared_keys(sandbox: &Sandbox, regions: &[&str]) -> Vec<String> {
    mesh_listing(sandbox, regions)["preshared_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// What `support/mesh.py` lists.
fn mesh_listing(sandbox: &Sandbox, regions: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mesh.py");
    let output = Command::new(venv().join("bin/python"))
        .arg(script)
        .env("TERRACE_AWS_LAYER", &sandbox.aws)
        .args([WORKSPACE, &sandbox.moto, &sandbox.gce])
        .args(regions)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "mesh.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("mesh.py JSON")
}

/// Every file under `dir` (state, journals, plans), as text.
fn files_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&files_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

/// The VPN tunnels' pre-shared keys (AWS generates them; Terrace seals them) appear nowhere in
/// clear: not in what apply printed, not in a JSON plan or the stack outputs, not in any file
/// of the workspace (state, journals, the sandbox's records).
fn assert_keys_sealed(sandbox: &Sandbox, dir: &Path, applied: &str, pairs: usize) {
    let keys = preshared_keys(sandbox, REGIONS);
    assert_eq!(
        keys.len(),
        pairs * 4,
        "four tunnels per AWS-GCP pair: {keys:?}"
    );
    let mut plan_args = vec!["--json", "plan", "--group", "eu"];
    plan_args.extend_from_slice(LAYERS);
    let plan = terrace(dir, &plan_args);
    ok(&plan);
    let outputs = terrace(dir, &["--json", "output", "mesh/eu"]);
    let seen = [
        ("apply", applied.to_string()),
        ("plan", format!("{}{}", stdout(&plan), stderr(&plan))),
        (
            "output",
            format!("{}{}", stdout(&outputs), stderr(&outputs)),
        ),
        ("workspace files", files_text(dir)),
    ];
    for key in &keys {
        for (place, text) in &seen {
            assert!(
                !text.contains(key.as_str()),
                "a pre-shared key in clear in the {place}"
            );
        }
    }
    assert!(
        files_text(&dir.join(".terrace")).contains("$secret"),
        "the keys are kept sealed in state"
    );
}

/// Replica name → (cloud, range), from the group file.
fn replicas(group_file: &str) -> BTreeMap<String, (String, String)> {
    let group: serde_yaml_ng::Value = serde_yaml_ng::from_str(group_file).unwrap();
    group["replicas"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                (
                    r["cloud"].as_str().unwrap().to_string(),
                    r["vars"]["cidr"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// True when `range` lies inside `outer` (both CIDR ranges).
fn inside(range: &str, outer: &str) -> bool {
    let parse = |text: &str| terrace::value::cidr::parse(text).expect("a CIDR range");
    parse(outer).contains(&parse(range))
}

/// True when a route's path is up and joins `network` to the network of `peer`.
fn path_is_up(path: &Value, network: &str, peer: Option<&Value>) -> bool {
    let peer_id = peer.and_then(|p| p["network"].as_str()).unwrap_or("?");
    match path["kind"].as_str() {
        Some("vpc-peering") => {
            let vpcs: BTreeSet<&str> = path["vpcs"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            path["status"] == "active" && vpcs == BTreeSet::from([network, peer_id])
        }
        Some("vpn-gateway") => {
            path["state"] == "available"
                && path["attachments"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v == network))
                && path["connections"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty() && c.iter().all(|c| c["state"] == "available"))
        }
        Some("vpn-tunnel") => path["status"] == "ESTABLISHED",
        Some("network-peering") => path["state"] == "ACTIVE",
        _ => false,
    }
}

/// Every replica's route tables reach every other replica's range through a path that is up,
/// and nothing else: no route of a replica network
/// goes to a range outside the group (the internet's default route aside).
fn assert_full_mesh(sandbox: &Sandbox, group: &str, group_file: &str, regions: &[&str]) {
    let replicas = replicas(group_file);
    let ranges: BTreeMap<String, String> = replicas
        .iter()
        .map(|(name, (_, range))| (name.clone(), range.clone()))
        .collect();
    let listed = networks(sandbox, regions);
    let prefix = format!("networks/{group}/");
    let by_replica: BTreeMap<String, &Value> = listed
        .iter()
        .filter_map(|n| {
            let stack = n["stack"].as_str()?;
            let replica = stack.strip_prefix(prefix.as_str())?;
            Some((replica.to_string(), n))
        })
        .collect();
    assert_eq!(
        by_replica.keys().cloned().collect::<BTreeSet<_>>(),
        ranges.keys().cloned().collect::<BTreeSet<_>>(),
        "one network per replica: {listed:#?}"
    );
    let group_ranges: BTreeSet<&str> = ranges.values().map(String::as_str).collect();
    let by_range: BTreeMap<&str, &Value> = ranges
        .iter()
        .map(|(name, range)| (range.as_str(), by_replica[name]))
        .collect();
    for (replica, network) in &by_replica {
        let (_, own) = &replicas[replica];
        let others: BTreeSet<&str> = replicas
            .values()
            .filter(|(_, range)| range != own)
            .map(|(_, range)| range.as_str())
            .collect();
        let id = network["network"].as_str().unwrap();
        for table in network["tables"].as_array().unwrap() {
            if table["main"] == true {
                continue; // the VPC's main table routes no subnet: every subnet has its own
            }
            let mut reached = BTreeSet::new();
            for route in table["routes"].as_array().unwrap() {
                let destination = route["destination"].as_str().unwrap();
                if destination == "0.0.0.0/0" {
                    continue;
                }
                // The replica range the route goes to: its own range, or one holding it (a
                // peered GCP network's subnet).
                let range = group_ranges
                    .iter()
                    .copied()
                    .find(|r| inside(destination, r));
                assert!(
                    range.is_some_and(|r| others.contains(r)),
                    "{replica} ({}): a route to {destination}, outside the group's other replicas: {route}",
                    table["id"]
                );
                let range = range.unwrap();
                assert!(
                    path_is_up(&route["path"], id, by_range.get(range).copied()),
                    "{replica} ({}): the route to {destination} takes no working path: {route}",
                    table["id"]
                );
                reached.insert(range);
            }
            assert_eq!(
                reached, others,
                "{replica} ({}) reaches every other replica",
                table["id"]
            );
        }
    }
}

/// Stack → the actions of its changes, for stacks that change.
fn plan_actions(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut args = vec!["--json", "plan", "--group", "eu"];
    args.extend_from_slice(LAYERS);
    let plan = terrace(dir, &args);
    ok(&plan);
    changed_actions(&plan.stdout)
}

/// Applies a group's accounts, networks and mesh; what it printed.
fn apply(dir: &Path, group: &str) -> String {
    let mut args = vec!["apply", "--group", group, "--yes"];
    args.extend_from_slice(LAYERS);
    let output = terrace(dir, &args);
    ok(&output);
    format!("{}{}", stdout(&output), stderr(&output))
}

fn assert_replan_empty(dir: &Path, group: &str) {
    let mut args = vec!["plan", "--group", group, "--detailed-exitcode"];
    args.extend_from_slice(LAYERS);
    let plan = terrace(dir, &args);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "a plan after apply has no changes:\n{}{}",
        stdout(&plan),
        stderr(&plan)
    );
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn group_eu_is_meshed_grows_shrinks_and_is_destroyed_on_the_sandbox() {
    let dir = reference_workspace();
    let dir = dir.path();
    let sandbox = Sandbox::start(dir);
    let group = dir.join("examples/eu.yaml");
    let original = std::fs::read_to_string(&group).unwrap();

    let applied = apply(dir, "eu");
    assert_full_mesh(&sandbox, "eu", &original, REGIONS);
    sandbox.assert_matches_state(dir, WORKSPACE, REGIONS);
    assert_replan_empty(dir, "eu");
    assert_keys_sealed(&sandbox, dir, &applied, 2);

    // A fourth replica: its network, and in the mesh only creates (its links and routes).
    let grown = format!("{original}{NEW_REPLICA}");
    std::fs::write(&group, &grown).unwrap();
    let actions = plan_actions(dir);
    assert_eq!(
        actions,
        BTreeMap::from([
            ("networks/eu/aws-eu-north-1".to_string(), set(&["create"])),
            ("mesh/eu".to_string(), set(&["create"])),
        ]),
        "only the new replica's network and links"
    );
    apply(dir, "eu");
    assert_full_mesh(&sandbox, "eu", &grown, REGIONS);
    sandbox.assert_matches_state(dir, WORKSPACE, REGIONS);
    assert_replan_empty(dir, "eu");

    // Removing it removes exactly its links, then its network.
    std::fs::write(&group, &original).unwrap();
    let actions = plan_actions(dir);
    assert_eq!(
        actions,
        BTreeMap::from([
            ("networks/eu/aws-eu-north-1".to_string(), set(&["delete"])),
            ("mesh/eu".to_string(), set(&["delete"])),
        ]),
        "only the removed replica's network and links"
    );
    apply(dir, "eu");
    assert_full_mesh(&sandbox, "eu", &original, REGIONS);
    sandbox.assert_matches_state(dir, WORKSPACE, REGIONS);

    destroy(dir, "eu");
    let left = sandbox.inventory(WORKSPACE, REGIONS);
    assert!(left.is_empty(), "nothing owned remains: {left:?}");
}

/// Destroys a group, its protected accounts included.
fn destroy(dir: &Path, group: &str) {
    let aws = format!("accounts/{group}/aws:account");
    let gcp = format!("accounts/{group}/gcp:project");
    ok(&terrace(
        dir,
        &[
            "destroy",
            "--group",
            group,
            "--yes",
            "--allow-destroy",
            &aws,
            "--allow-destroy",
            &gcp,
            "--max-deletes",
            "150",
        ],
    ));
}

/// Group `global` has two GCP replicas: their networks peer with each other (both sides
/// `ACTIVE`, each network reaching the other's subnet), beside the VPC peering of its two
/// AWS replicas; destroying the group leaves nothing.
#[test]
fn group_global_peers_its_gcp_networks_on_the_sandbox() {
    let dir = reference_workspace();
    let dir = dir.path();
    let sandbox = Sandbox::start(dir);
    let group = std::fs::read_to_string(dir.join("examples/global.yaml")).unwrap();
    apply(dir, "global");
    assert_full_mesh(&sandbox, "global", &group, GLOBAL_REGIONS);
    let gcp: Vec<Value> = networks(&sandbox, GLOBAL_REGIONS)
        .into_iter()
        .filter(|n| n["cloud"] == "gcp")
        .collect();
    assert_eq!(gcp.len(), 2, "{gcp:#?}");
    for network in &gcp {
        let routes = network["tables"][0]["routes"].as_array().unwrap();
        let peered: Vec<&Value> = routes
            .iter()
            .filter(|r| r["path"]["kind"] == "network-peering")
            .collect();
        assert_eq!(peered.len(), 1, "{network:#}");
        // Each AWS replica's range, learned over the four tunnels to it.
        let tunnels = routes
            .iter()
            .filter(|r| r["path"]["kind"] == "vpn-tunnel")
            .count();
        assert_eq!(tunnels, 2 * 4, "{network:#}");
    }
    assert_replan_empty(dir, "global");
    destroy(dir, "global");
    let left = sandbox.inventory(WORKSPACE, GLOBAL_REGIONS);
    assert!(left.is_empty(), "nothing owned remains: {left:?}");
}

/// `terrace graph --group eu` draws each link of the mesh between the two replicas' networks
/// (undirected, dashed, labelled with the path), in DOT, Mermaid and JSON; no cloud is read.
#[test]
fn the_graph_of_group_eu_shows_the_mesh_links() {
    let dir = reference_workspace();
    let dir = dir.path();
    let dot = terrace(dir, &["graph", "--group", "eu"]);
    ok(&dot);
    let link = "\"networks/eu/aws-eu-west-1\" -> \"networks/eu/aws-eu-central-1\" [dir=none, style=dashed, color=\"#1565c0\", label=\"vpc-peering\"];";
    assert!(stdout(&dot).contains(link), "{}", stdout(&dot));
    assert!(stdout(&dot).contains("\"mesh/eu\""), "{}", stdout(&dot));
    let mermaid = terrace(dir, &["graph", "--group", "eu", "--format", "mermaid"]);
    ok(&mermaid);
    assert!(
        stdout(&mermaid)
            .contains("networks_eu_aws_eu_west_1 -.-|vpc-peering| networks_eu_aws_eu_central_1"),
        "{}",
        stdout(&mermaid)
    );
    let json = terrace(dir, &["graph", "--group", "eu", "--format", "json"]);
    ok(&json);
    let graph: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        graph["links"],
        serde_json::json!([
            {"from": "networks/eu/aws-eu-west-1", "to": "networks/eu/gcp-europe-west3",
             "kind": "ha-vpn", "by": "mesh/eu"},
            {"from": "networks/eu/aws-eu-west-1", "to": "networks/eu/aws-eu-central-1",
             "kind": "vpc-peering", "by": "mesh/eu"},
            {"from": "networks/eu/gcp-europe-west3", "to": "networks/eu/aws-eu-central-1",
             "kind": "ha-vpn", "by": "mesh/eu"}])
    );
    // Another group's graph has its own links only.
    let us = terrace(dir, &["graph", "--group", "us", "--format", "json"]);
    ok(&us);
    let us: Value = serde_json::from_slice(&us.stdout).unwrap();
    assert_eq!(us["links"][0]["by"], "mesh/us", "{us}");
    assert!(!us.to_string().contains("networks/eu/"), "{us}");
}
