//! Crash safety, proven on the sandbox (issue 7): `terrace apply` and `terrace destroy` of the
//! reference group `eu` are killed with SIGKILL at 24 seeded random points, each run starting
//! where the last was killed. Then one apply runs to the end. The emulators, listed directly,
//! must hold exactly the resources state records — none orphaned, none duplicated — and a
//! final destroy must leave nothing the workspace owns.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use support::sandbox::{state_rows, terrace_real as terrace, terrace_real_command, Sandbox};
use support::{delays, reference_workspace, stderr, stdout};

const REGIONS: &[&str] = &["aws:eu-west-1", "aws:eu-central-1", "gcp:europe-west3"];
const KILLS: usize = 24;

/// Every resource id in state, by stack (stacks without resources left out).
fn state_ids(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut ids = BTreeMap::new();
    for row in state_rows(dir) {
        let stack = row["stack"].as_str().unwrap();
        let show = terrace(dir, &["state", "show", stack]);
        assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
        let state: Value = serde_json::from_slice(&show.stdout).expect("state JSON");
        let resources: BTreeSet<String> = state["resources"]
            .as_object()
            .unwrap()
            .values()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        if !resources.is_empty() {
            ids.insert(stack.to_string(), resources);
        }
    }
    ids
}

/// Every resource id the workspace owns in the emulators, by stack.
fn cloud_ids(sandbox: &Sandbox) -> BTreeMap<String, BTreeSet<String>> {
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut all = Vec::new();
    for item in sandbox.inventory("reference", REGIONS) {
        let id = item["id"].as_str().unwrap().to_string();
        all.push(id.clone());
        let stack = item["stack"].as_str().unwrap_or("?").to_string();
        ids.entry(stack).or_default().insert(id);
    }
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        unique.len(),
        all.len(),
        "one resource listed twice: {all:?}"
    );
    ids
}

const DESTROY_BELOW_ACCOUNTS: &[&str] = &[
    "destroy",
    "--group",
    "eu",
    "--layer",
    "networks",
    "--layer",
    "mesh",
    "--layer",
    "replicas",
    "--layer",
    "proxies",
    "--yes",
    "--max-deletes",
    "150",
];

#[test]
fn sigkill_at_24_random_points_leaves_no_orphan_and_no_duplicate_in_the_clouds() {
    let dir = reference_workspace();
    let dir = dir.path();
    let sandbox = Sandbox::start(dir);
    // Kill until KILLS kills have landed while terrace ran (a run may finish before its
    // delay when the previous one left little to do); each kill is at a seeded delay.
    let (mut landed, mut with_pending) = (0, 0);
    for (i, delay) in delays(20261121, 4 * KILLS, 30, 900).into_iter().enumerate() {
        if landed == KILLS {
            break;
        }
        // Alternate creating and deleting, so that kills land in real work of both kinds.
        let args: Vec<&str> = if i % 2 == 0 {
            vec!["apply", "--group", "eu", "--yes"]
        } else {
            DESTROY_BELOW_ACCOUNTS.to_vec()
        };
        let mut child = terrace_real_command(dir, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            landed += 1;
        }
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        // Whatever was interrupted, every state still reads.
        state_ids(dir);
        let pending: u64 = state_rows(dir)
            .iter()
            .map(|r| r["pending"].as_u64().unwrap_or(0))
            .sum();
        with_pending += usize::from(pending > 0);
    }
    eprintln!("{landed} kills while terrace ran; {with_pending} left operations pending");
    assert_eq!(landed, KILLS, "too few kills landed while terrace ran");
    assert!(
        with_pending >= 3,
        "only {with_pending} kills interrupted a cloud operation"
    );

    let finish = terrace(dir, &["apply", "--group", "eu", "--yes"]);
    assert_eq!(
        finish.status.code(),
        Some(0),
        "{}\n{}\nmoto: {}",
        stdout(&finish),
        stderr(&finish),
        sandbox.moto_errors()
    );
    let state = state_ids(dir);
    assert_eq!(
        cloud_ids(&sandbox),
        state,
        "the clouds hold exactly what state records"
    );
    // accounts 4 (account, its region-guard SCP, project, its location-guard org policy); AWS networks 2 × 14 (VPC, gateway, route table, security group, and per
    // zone two subnets, an Elastic IP, a NAT gateway, a route table); GCP network 5 (network,
    // subnetwork, router, two firewalls); mesh 4 (the two AWS replicas' peering connection,
    // its accepter, a route on each side) + 4 (a virtual private gateway per AWS replica, the
    // GCP replica's HA VPN gateway and router) + 2 × 14 (per AWS-GCP pair two customer
    // gateways, two VPN connections, an external VPN gateway, four tunnels, four BGP sessions,
    // a route); replicas 3 × 5; proxies 6 + 7.
    assert_eq!(state.values().map(BTreeSet::len).sum::<usize>(), 101);
    let plan = terrace(dir, &["plan", "--group", "eu", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stdout(&plan));

    let destroy = terrace(dir, DESTROY_BELOW_ACCOUNTS);
    assert_eq!(destroy.status.code(), Some(0), "{}", stderr(&destroy));
    let left: Vec<String> = cloud_ids(&sandbox)
        .into_iter()
        .filter(|(stack, _)| !stack.starts_with("accounts/"))
        .map(|(stack, ids)| format!("{stack}: {ids:?}"))
        .collect();
    assert!(left.is_empty(), "orphans after destroy: {left:?}");
}
