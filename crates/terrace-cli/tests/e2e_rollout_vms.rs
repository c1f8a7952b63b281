//! Changes reach running VMs, on the sandbox (cloud profile), through the binary and the real
//! providers; every VM is listed directly in the emulators (boto3 against moto, REST against
//! the Compute emulator), with the boot document it was launched with: an AWS instance's own
//! user data (DescribeInstanceAttribute — moto reports each instance's launch template
//! *version* from the group's current setting, so versions prove nothing), a GCP VM's
//! `version.instanceTemplate` from `listManagedInstances` and that template's `user-data`.
//!
//! - After `eu` is applied, every database and proxy VM runs the current boot document.
//! - A new `postgres_version`, applied once, replaces every database VM (new instance ids and
//!   VM names) with one booting the new version, and the groups report stable; the proxies,
//!   whose document did not change, keep their VMs.
//! - A new replica, applied once, replaces every proxy VM with one whose HAProxy backend list
//!   names the new replica's endpoint.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use support::sandbox::{terrace_real as terrace, Sandbox};
use support::{ok, reference_workspace};

/// The database groups of `eu`: Auto Scaling groups and a managed instance group.
const DATABASES: &[&str] = &[
    "aws:eu-west-1:eu-aws-eu-west-1-db",
    "aws:eu-central-1:eu-aws-eu-central-1-db",
    "gcp:europe-west3:eu-gcp-europe-west3-db",
];
/// The proxy groups of `eu`, in the region of each cloud's first replica.
const PROXIES: &[&str] = &[
    "aws:eu-west-1:eu-proxy-aws",
    "gcp:europe-west3:eu-proxy-gcp",
];
const NEW_REPLICA: &str = "  - name: aws-eu-north-1
    cloud: aws
    region: eu-north-1
    zones: [eu-north-1a]
    nodes: 1
    vars: {cidr: 10.19.0.0/16}
";

fn apply(dir: &Path) {
    ok(&terrace(dir, &["apply", "--group", "eu", "--yes"]));
}

/// The VM ids of a group, from a `Sandbox::vms` answer.
fn ids(group: &Value) -> BTreeSet<String> {
    group["vms"]
        .as_array()
        .expect("vms")
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts every VM of every group runs a boot document for which `runs` holds, and that the
/// group is stable (and on its target version); returns the groups' answers.
fn assert_all_run(
    sandbox: &Sandbox,
    specs: &[&str],
    what: &str,
    runs: impl Fn(&str, &str) -> bool,
) -> Value {
    let found = sandbox.vms(specs);
    for spec in specs {
        let group = &found[*spec];
        let vms = group["vms"].as_array().expect("vms");
        assert!(!vms.is_empty(), "{spec} has no VMs: {found:#}");
        for vm in vms {
            let boot = vm["boot"].as_str().unwrap_or_default();
            assert!(
                runs(spec, boot),
                "{spec}: VM {} does not run {what}:\n{boot}",
                vm["id"]
            );
        }
        assert_eq!(group["stable"], true, "{spec} is not stable: {group:#}");
        assert_eq!(
            group["reached"], true,
            "{spec} is not on its target: {group:#}"
        );
    }
    found
}

/// The `server` lines of an HAProxy configuration inside a proxy's boot document.
fn servers(boot: &str) -> Vec<String> {
    boot.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server "))
        .map(str::to_string)
        .collect()
}

/// The endpoint a replicas stack publishes.
fn endpoint(dir: &Path, replica: &str) -> String {
    let out = terrace(
        dir,
        &[
            "--json",
            "output",
            &format!("replicas/eu/{replica}"),
            "endpoint",
        ],
    );
    ok(&out);
    let value: Value = serde_json::from_slice(&out.stdout).expect("output JSON");
    value
        .as_str()
        .or_else(|| value["endpoint"].as_str())
        .unwrap_or_else(|| panic!("no endpoint in {value}"))
        .to_string()
}

#[test]
fn a_new_postgres_version_replaces_every_database_vm_on_the_sandbox() {
    let dir = reference_workspace();
    let dir = dir.path();
    let sandbox = Sandbox::start(dir);
    apply(dir);

    let installs = |version: &str| {
        format!("[apt-get, install, -y, --no-install-recommends, postgresql-{version}]")
    };
    let before = assert_all_run(&sandbox, DATABASES, "PostgreSQL 16", |_, boot| {
        boot.starts_with("#cloud-config\n") && boot.contains(&installs("16"))
    });
    for spec in DATABASES {
        assert_eq!(ids(&before[*spec]).len(), 2, "{spec}: two nodes");
    }
    let proxies_before = sandbox.vms(PROXIES);

    let settings = dir.join("terrace.yaml");
    let text = std::fs::read_to_string(&settings).unwrap();
    let changed = text.replace("postgres_version: \"16\"", "postgres_version: \"17\"");
    assert_ne!(changed, text);
    std::fs::write(&settings, changed).unwrap();
    apply(dir);

    let after = assert_all_run(&sandbox, DATABASES, "PostgreSQL 17", |_, boot| {
        boot.contains(&installs("17")) && !boot.contains(&installs("16"))
    });
    for spec in DATABASES {
        let (old, new) = (ids(&before[*spec]), ids(&after[*spec]));
        assert_eq!(new.len(), 2, "{spec}: still two nodes: {new:?}");
        assert!(
            old.is_disjoint(&new),
            "{spec}: every VM was replaced: {old:?} → {new:?}"
        );
    }
    let proxies_after = sandbox.vms(PROXIES);
    for spec in PROXIES {
        assert_eq!(
            ids(&proxies_before[*spec]),
            ids(&proxies_after[*spec]),
            "{spec}: the proxies' document did not change, nor did their VMs"
        );
    }
}

#[test]
fn a_new_replica_reaches_every_running_proxy_on_the_sandbox() {
    let dir = reference_workspace();
    let dir = dir.path();
    let sandbox = Sandbox::start(dir);
    apply(dir);

    let replicas = ["aws-eu-west-1", "gcp-europe-west3", "aws-eu-central-1"];
    let endpoints: Vec<String> = replicas.iter().map(|r| endpoint(dir, r)).collect();
    let before = assert_all_run(&sandbox, PROXIES, "a backend per replica", |_, boot| {
        let servers = servers(boot);
        servers.len() == 3
            && replicas
                .iter()
                .zip(&endpoints)
                .all(|(r, e)| servers.contains(&format!("server {r} {e}:5432")))
    });

    let group = dir.join("examples/eu.yaml");
    let original = std::fs::read_to_string(&group).unwrap();
    std::fs::write(&group, format!("{original}{NEW_REPLICA}")).unwrap();
    apply(dir);

    let added = endpoint(dir, "aws-eu-north-1");
    let after = assert_all_run(
        &sandbox,
        PROXIES,
        "a backend list with the new replica",
        |_, boot| {
            let servers = servers(boot);
            servers.len() == 4 && servers.contains(&format!("server aws-eu-north-1 {added}:5432"))
        },
    );
    for spec in PROXIES {
        let (old, new) = (ids(&before[*spec]), ids(&after[*spec]));
        assert!(
            old.is_disjoint(&new),
            "{spec}: every proxy VM was replaced: {old:?} → {new:?}"
        );
    }
}
