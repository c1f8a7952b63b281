//! Drift and import on the sandbox (issue 7), through the binary and the AWS provider, with the
//! cloud changed behind Terrace's back by boto3:
//! - `terrace import` adopts a VPC created outside Terrace; the next plan leaves it alone
//!   because the configuration matches it, and apply does not create a second one;
//! - `terrace drift` reports a changed field and a vanished subnet (exit 2) without writing
//!   state; `terrace refresh` records it; the next apply repairs it and drift is clean.

mod support;

use serde_json::Value;
use std::path::Path;
use support::sandbox::{terrace_real as terrace, Sandbox};
use support::{edit, stderr, stdout, workspace};

const STACK: &str = "networks/eu/aws-eu-west-1";

fn code(output: &std::process::Output) -> Option<i32> {
    output.status.code()
}

fn actions(dir: &Path) -> Vec<(String, String)> {
    let plan = terrace(dir, &["--json", "plan", "--stack", STACK]);
    assert_eq!(code(&plan), Some(0), "{}", stderr(&plan));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    plan["stacks"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_string();
            (name, c["action"].as_str().unwrap().to_string())
        })
        .collect()
}

fn serial(dir: &Path) -> u64 {
    let show = terrace(dir, &["state", "show", STACK]);
    let state: Value = serde_json::from_slice(&show.stdout).unwrap();
    state["serial"].as_u64().unwrap()
}

#[test]
fn import_adopts_a_vpc_and_drift_is_reported_recorded_and_repaired() {
    let dir = workspace("two-clouds");
    let dir = dir.path();
    // A subnet is deleted seconds after apply created it: with a short consistency window drift
    // calls it vanished after 5 s instead of reading it again for the default two minutes.
    edit(
        dir,
        "terrace.yaml",
        "name: two-clouds",
        "name: two-clouds\nconsistency: {window_secs: 5}",
    );
    let sandbox = Sandbox::start(dir);
    let vpc = sandbox.boto3_ec2(
        "eu-west-1",
        "v = ec2.create_vpc(CidrBlock='10.10.0.0/16', TagSpecifications=[{'ResourceType': 'vpc', \
         'Tags': [{'Key': 'owner', 'Value': 'db-team'}]}])\nprint(v['Vpc']['VpcId'])",
    );

    // Mistakes are one clear error each, and change nothing.
    let typo = terrace(dir, &["import", STACK, "vcp", &vpc]);
    assert_eq!(code(&typo), Some(1));
    assert!(
        stderr(&typo).contains("did you mean `vpc`"),
        "{}",
        stderr(&typo)
    );
    let missing = terrace(
        dir,
        &["import", STACK, "subnet-eu-west-1a", "subnet-0000000000"],
    );
    assert_eq!(code(&missing), Some(1));
    assert!(
        stderr(&missing)
            .contains("no aws:ec2:Subnet with id subnet-0000000000 in region eu-west-1"),
        "{}",
        stderr(&missing)
    );

    let import = terrace(dir, &["import", STACK, "vpc", &vpc]);
    assert_eq!(code(&import), Some(0), "{}", stderr(&import));
    assert!(stdout(&import).contains(&vpc));
    let again = terrace(dir, &["import", STACK, "vpc", &vpc]);
    assert_eq!(code(&again), Some(1));
    assert!(
        stderr(&again).contains("already managed"),
        "{}",
        stderr(&again)
    );

    let planned = actions(dir);
    assert!(
        planned.contains(&("vpc".into(), "no-op".into())),
        "the imported VPC matches the configuration: {planned:?}"
    );
    assert!(planned.contains(&("subnet-eu-west-1a".into(), "create".into())));
    let apply = terrace(dir, &["apply", "--stack", STACK, "--yes"]);
    assert_eq!(
        code(&apply),
        Some(0),
        "{}\n{}",
        stdout(&apply),
        stderr(&apply)
    );
    let vpcs = sandbox.boto3_ec2(
        "eu-west-1",
        "f = [{'Name': 'cidr', 'Values': ['10.10.0.0/16']}]\n\
         print(len(ec2.describe_vpcs(Filters=f)['Vpcs']))",
    );
    assert_eq!(vpcs, "1", "no second VPC was created");
    let subnets_in_vpc = sandbox.boto3_ec2(
        "eu-west-1",
        &format!(
            "f = [{{'Name': 'vpc-id', 'Values': ['{vpc}']}}]\n\
             print(len(ec2.describe_subnets(Filters=f)['Subnets']))"
        ),
    );
    assert_eq!(
        subnets_in_vpc, "2",
        "the subnets went into the imported VPC"
    );

    // Change the cloud behind Terrace's back.
    sandbox.boto3_ec2(
        "eu-west-1",
        &format!(
            "ec2.create_tags(Resources=['{vpc}'], Tags=[{{'Key': 'owner', 'Value': 'someone-else'}}, {{'Key': 'intruder', 'Value': 'yes'}}])\n\
             f = [{{'Name': 'vpc-id', 'Values': ['{vpc}']}}, {{'Name': 'availability-zone', 'Values': ['eu-west-1b']}}]\n\
             s = ec2.describe_subnets(Filters=f)['Subnets'][0]['SubnetId']\n\
             ec2.delete_subnet(SubnetId=s)"
        ),
    );
    let before = serial(dir);
    let drift = terrace(dir, &["drift", "--stack", STACK]);
    assert_eq!(
        code(&drift),
        Some(2),
        "{}\n{}",
        stdout(&drift),
        stderr(&drift)
    );
    let report = stdout(&drift);
    assert!(
        report.contains(&format!("{STACK}:vpc: changed outside Terrace")),
        "{report}"
    );
    // Old and new values, leaf by leaf, as the plan shows them.
    assert!(
        report.contains(r#"tags.owner: "db-team" → "someone-else" (applied → cloud)"#),
        "{report}"
    );
    assert!(
        report.contains(r#"tags.intruder: null → "yes""#),
        "{report}"
    );
    assert!(
        report.contains(&format!("{STACK}:subnet-eu-west-1b: vanished")),
        "{report}"
    );
    assert_eq!(serial(dir), before, "drift writes nothing");

    let refresh = terrace(dir, &["refresh", "--stack", STACK, "--detailed-exitcode"]);
    assert_eq!(code(&refresh), Some(2), "{}", stderr(&refresh));
    assert!(serial(dir) > before, "refresh records what it found");
    let planned = actions(dir);
    assert!(
        planned.contains(&("vpc".into(), "update".into())),
        "{planned:?}"
    );
    assert!(
        planned.contains(&("subnet-eu-west-1b".into(), "create".into())),
        "{planned:?}"
    );
    let repair = terrace(dir, &["apply", "--stack", STACK, "--yes"]);
    assert_eq!(
        code(&repair),
        Some(0),
        "{}\n{}",
        stdout(&repair),
        stderr(&repair)
    );
    let clean = terrace(dir, &["drift", "--stack", STACK]);
    assert_eq!(code(&clean), Some(0), "{}", stdout(&clean));
    let owner = sandbox.boto3_ec2(
        "eu-west-1",
        &format!(
            "t = ec2.describe_vpcs(VpcIds=['{vpc}'])['Vpcs'][0]['Tags']\n\
             print([x['Value'] for x in t if x['Key'] == 'owner'][0])"
        ),
    );
    assert_eq!(owner, "db-team", "apply put the configured tag back");
    let foreign = sandbox.boto3_ec2(
        "eu-west-1",
        &format!(
            "t = ec2.describe_vpcs(VpcIds=['{vpc}'])['Vpcs'][0]['Tags']\n\
             print(len([x for x in t if x['Key'] == 'intruder']))"
        ),
    );
    assert_eq!(foreign, "0", "apply removed the tag added outside Terrace");
}
