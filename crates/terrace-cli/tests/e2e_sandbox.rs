//! End to end on the sandbox, through the `terrace` binary and the real AWS and GCP providers:
//! a two-cloud workspace is applied, re-planned empty at once and destroyed; after each step
//! the cloud side is listed directly (Compute REST on the emulator, boto3 against moto), not
//! through Terrace. Needs the project's .venv (scripts/ensure-venv.sh; CI runs it first).

mod support;

use support::sandbox::{gce_get, terrace_real as terrace, Sandbox};
use support::{stderr, stdout, workspace};

/// Names of Compute resources of a collection in the sandbox project.
fn gce_names(gce: &str, collection: &str) -> Vec<String> {
    let url = format!("{gce}/compute/v1/projects/terrace-sandbox/{collection}");
    let list = gce_get(&url);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

/// Ids of EC2 resources carrying this workspace's ownership tag, listed with boto3.
fn ec2_owned(sandbox: &Sandbox, what: &str) -> Vec<String> {
    let printed = sandbox.boto3_ec2(
        "eu-west-1",
        &format!(
            "f = [{{'Name': 'tag:terrace:workspace', 'Values': ['two-clouds']}}]\n\
             items = ec2.describe_{what}(Filters=f)\n\
             key = {{'vpcs': ('Vpcs', 'VpcId'), 'subnets': ('Subnets', 'SubnetId')}}['{what}']\n\
             print(json.dumps([i[key[1]] for i in items[key[0]]]))"
        ),
    );
    serde_json::from_str(&printed).unwrap()
}

#[test]
fn two_clouds_apply_replan_and_destroy_on_the_sandbox() {
    let dir = workspace("two-clouds");
    let sandbox = Sandbox::start(dir.path());
    let gce = sandbox.gce.clone();

    let apply = terrace(dir.path(), &["apply", "--yes"]);
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&apply),
        stderr(&apply)
    );
    // At once, before anything else, as CI's "apply, then the plan must be empty" does: under
    // the cloud profile new ids stay out of Describe answers for 0.5–2 s (EC2 eventual
    // consistency). The AWS provider waits inside each create until its resource is seen, and
    // a refresh reads a young resource it does not see again (tests/convergence.rs), so the
    // plan is empty and nothing is created twice.
    let plan = terrace(dir.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "a plan right after the apply has no changes:\n{}\n{}",
        stdout(&plan),
        stderr(&plan)
    );
    assert_eq!(ec2_owned(&sandbox, "vpcs").len(), 1);
    assert_eq!(ec2_owned(&sandbox, "subnets").len(), 2);
    assert_eq!(gce_names(&gce, "global/networks").len(), 1);
    assert_eq!(gce_names(&gce, "regions/europe-west3/subnetworks").len(), 1);

    let destroy = terrace(dir.path(), &["destroy", "--yes"]);
    assert_eq!(
        destroy.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&destroy),
        stderr(&destroy)
    );
    assert!(ec2_owned(&sandbox, "vpcs").is_empty());
    assert!(ec2_owned(&sandbox, "subnets").is_empty());
    assert!(gce_names(&gce, "global/networks").is_empty());
    assert!(gce_names(&gce, "regions/europe-west3/subnetworks").is_empty());
}
