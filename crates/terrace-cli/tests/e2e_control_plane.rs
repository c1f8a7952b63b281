//! The automation API without files (issue 16): `examples/control_plane.rs` makes a QA group
//! in memory over a read-only copy of the reference, plans, applies with progress from events,
//! prints outputs, and (on a second run) plans no changes and destroys the group — on the
//! sandbox (cloud profile), with the real providers. The emulators are listed directly
//! (inventory.py: boto3 against moto, Compute REST), and the reference directory is compared
//! byte for byte before and after: the library wrote nothing into it.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::sandbox::{Sandbox, SANDBOX_PASSPHRASE};
use support::{ok, reference_workspace, stderr, stdout};

const GROUP: &str = "qa-7";
const REGIONS: &[&str] = &["aws:eu-west-1", "gcp:europe-west3"];

/// Builds the example (a no-op when `cargo nextest run --workspace` built it) and returns its
/// executable.
fn example() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .current_dir(&root)
        .args([
            "build",
            "-p",
            "terrace",
            "--example",
            "control_plane",
            "--message-format=json",
        ])
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["target"]["name"] == "control_plane")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the example's executable")
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(current) = todo.pop() {
        for entry in std::fs::read_dir(&current).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).expect("read"));
            }
        }
    }
    files
}

/// Cloud ids per stack as the `file://` state directory records them.
fn state_ids(state: &Path) -> BTreeMap<String, BTreeSet<String>> {
    snapshot(state)
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "json"))
        .filter(|(p, _)| !p.components().any(|c| c.as_os_str() == ".history"))
        .filter_map(|(_, bytes)| {
            let state: Value = serde_json::from_slice(&bytes).ok()?;
            let stack = state["stack"].as_str()?.to_string();
            let ids: BTreeSet<String> = state["resources"]
                .as_object()?
                .values()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect();
            (!ids.is_empty()).then_some((stack, ids))
        })
        .collect()
}

/// What the workspace owns in the emulators, ids per stack (instances aside: they belong to
/// their groups, which state records).
fn cloud_ids(sandbox: &Sandbox) -> BTreeMap<String, BTreeSet<String>> {
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for item in sandbox.inventory("reference", REGIONS) {
        if matches!(item["kind"].as_str(), Some("instance") | Some("instances")) {
            continue;
        }
        ids.entry(item["stack"].as_str().unwrap_or("?").to_string())
            .or_default()
            .insert(item["id"].as_str().unwrap_or("?").to_string());
    }
    ids
}

fn run(example: &Path, sandbox_dir: &Path, args: &[&str]) -> Output {
    let env = support::sandbox::terrace_real(sandbox_dir, &["sandbox", "env"]);
    let mut command = Command::new(example);
    for line in stdout(&env).lines() {
        if let Some((key, value)) = line.trim_start_matches("export ").split_once('=') {
            command.env(key, value.trim_matches('\''));
        }
    }
    command
        .env("TERRACE_PASSPHRASE", SANDBOX_PASSPHRASE)
        .args(args)
        .output()
        .expect("the example runs")
}

#[test]
fn a_group_made_in_code_is_applied_and_destroyed_from_a_read_only_reference() {
    let example = example();
    let reference = reference_workspace();
    let before = snapshot(reference.path());
    let sandbox_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        sandbox_dir.path().join("terrace.yaml"),
        "name: cp-sandbox\n",
    )
    .unwrap();
    let sandbox = Sandbox::start(sandbox_dir.path());
    let state = tempfile::tempdir().unwrap();
    let reference_arg = reference.path().to_str().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let common = [
        "--reference",
        reference_arg,
        "--group",
        GROUP,
        "--state",
        state_arg,
    ];

    // Plan and apply, with progress from events, and the outputs printed.
    let mut args = common.to_vec();
    args.push("--keep");
    let first = ok(&run(&example, sandbox_dir.path(), &args));
    assert!(
        first.contains(&format!("planned networks/{GROUP}/aws-eu-west-1: ")),
        "{first}"
    );
    assert!(
        first.contains(&format!("networks/{GROUP}/aws-eu-west-1: vpc: create Done")),
        "{first}"
    );
    assert!(
        first.contains(&format!("proxies/{GROUP}: Succeeded")),
        "{first}"
    );
    assert!(first.contains(&format!("outputs of networks/{GROUP}/aws-eu-west-1: {{\"cidr\":\"10.112.0.0/16\",\"network_id\":\"vpc-")), "{first}");
    let applied = state_ids(state.path());
    let stacks: BTreeSet<&str> = applied.keys().map(String::as_str).collect();
    let expected: BTreeSet<String> = [
        "accounts/{g}/aws",
        "accounts/{g}/gcp",
        "networks/{g}/aws-eu-west-1",
        "networks/{g}/gcp-europe-west3",
        "mesh/{g}",
        "replicas/{g}/aws-eu-west-1",
        "replicas/{g}/gcp-europe-west3",
        "proxies/{g}",
    ]
    .iter()
    .map(|s| s.replace("{g}", GROUP))
    .collect();
    assert_eq!(
        stacks,
        expected.iter().map(String::as_str).collect(),
        "every stack of the group holds resources"
    );
    let mut in_clouds = cloud_ids(&sandbox);
    // Accounts and projects are listed by their contents, not as resources themselves.
    let mut recorded = applied.clone();
    for stack in [
        format!("accounts/{GROUP}/aws"),
        format!("accounts/{GROUP}/gcp"),
    ] {
        in_clouds.remove(&stack);
        recorded.remove(&stack);
    }
    assert_eq!(
        in_clouds, recorded,
        "the clouds hold exactly what state records"
    );
    assert!(
        snapshot(reference.path()) == before,
        "nothing was written into the reference directory"
    );

    // Again: nothing to change; then the group is destroyed.
    let second = ok(&run(&example, sandbox_dir.path(), &common));
    assert!(
        second.contains("plan: 0 to create, 0 to update, 0 to replace, 0 to delete"),
        "{second}"
    );
    assert!(
        second.contains(&format!("destroyed group {GROUP}")),
        "{second}"
    );
    let left = sandbox.inventory("reference", REGIONS);
    assert!(left.is_empty(), "nothing owned remains: {left:?}");
    assert!(state_ids(state.path()).is_empty(), "state records nothing");
    assert!(snapshot(reference.path()) == before);
}
