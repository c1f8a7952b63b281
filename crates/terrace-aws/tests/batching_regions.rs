//! Every EC2 type and Auto Scaling groups listed in one request per type (by ids and by owner),
//! plus the per-resource calls for fields the Describe call does not return (VPC DNS
//! attributes: two DescribeVpcAttribute calls; instance user data: one DescribeInstanceAttribute
//! call), and regions kept apart (one client per region, resources only seen in their own
//! region).

mod support;

use serde_json::json;
use support::*;
use terrace::provider::{CreateRequest, Provider, ReadRequest};

/// Properties of the i-th resource of a type.
type PropsOf<'a> = Box<dyn Fn(usize) -> serde_json::Value + 'a>;

async fn count_requests(
    moto: &Moto,
    p: &terrace_aws::AwsProvider,
    request: ReadRequest,
) -> (usize, u64) {
    let (seen, sent) = (moto.requests().len(), p.requests_sent());
    let found = p.read(request).await.unwrap();
    assert_eq!(
        p.requests_sent() - sent,
        (moto.requests().len() - seen) as u64
    );
    (found.len(), p.requests_sent() - sent)
}

#[tokio::test]
async fn each_type_is_listed_in_one_request() {
    let moto = Moto::start();
    let p = moto.provider();
    let ami = moto
        .ec2()
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap()
        .images()[0]
        .image_id()
        .unwrap()
        .to_string();
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    let lt = create(
        &p,
        "aws:ec2:LaunchTemplate",
        "lt",
        json!({"name": "lt", "image_id": ami}),
    )
    .await;
    let subnet = create(
        &p,
        "aws:ec2:Subnet",
        "subnet",
        json!({"vpc_id": vpc.id, "cidr_block": "10.0.0.0/24"}),
    )
    .await;
    let mut ids: Vec<(&str, Vec<String>)> = Vec::new();
    let per_type: [(&str, PropsOf); 6] = [
        (
            "aws:ec2:Vpc",
            Box::new(|i| json!({"cidr_block": format!("10.{}.0.0/16", i + 1)})),
        ),
        ("aws:ec2:InternetGateway", Box::new(|_| json!({}))),
        (
            "aws:ec2:RouteTable",
            Box::new(|_| json!({"vpc_id": vpc.id})),
        ),
        (
            "aws:ec2:SecurityGroup",
            Box::new(
                |i| json!({"group_name": format!("g{i}"), "description": "d", "vpc_id": vpc.id}),
            ),
        ),
        (
            "aws:ec2:Instance",
            Box::new(
                |_| json!({"image_id": ami, "instance_type": "t3.micro", "subnet_id": subnet.id}),
            ),
        ),
        (
            "aws:autoscaling:AutoScalingGroup",
            Box::new(
                |i| json!({"name": format!("asg{i}"), "launch_template_id": lt.id, "min_size": 0, "max_size": 1, "desired_capacity": 0, "subnet_ids": [subnet.id]}),
            ),
        ),
    ];
    for (type_name, properties) in &per_type {
        let mut created = Vec::new();
        for i in 0..10 {
            let stack = format!("batch/{type_name}");
            created.push(
                create_in(&p, type_name, &stack, &format!("r{i}"), properties(i))
                    .await
                    .id,
            );
        }
        ids.push((type_name, created));
    }
    // Calls per resource beyond the listing: the APIs for these fields take one resource.
    let details = |type_name: &str| match type_name {
        "aws:ec2:Vpc" => 2,
        "aws:ec2:Instance" => 1,
        _ => 0,
    };
    for (type_name, created) in ids {
        let expected = (10, 1 + 10 * details(type_name));
        let by_ids = ReadRequest {
            type_name: type_name.into(),
            region: None,
            ids: created.clone(),
            owner: None,
        };
        assert_eq!(
            count_requests(&moto, &p, by_ids).await,
            expected,
            "{type_name} by ids"
        );
        let by_owner = ReadRequest {
            type_name: type_name.into(),
            region: None,
            ids: vec![],
            owner: Some(terrace::provider::Ownership {
                workspace: "ws".into(),
                stack: format!("batch/{type_name}"),
                resource: String::new(),
            }),
        };
        assert_eq!(
            count_requests(&moto, &p, by_owner).await,
            expected,
            "{type_name} by owner"
        );
    }
}

#[tokio::test]
async fn regions_are_independent() {
    let moto = Moto::start();
    let p = moto.provider();
    let mut vpcs = Vec::new();
    for region in ["us-east-1", "eu-west-1"] {
        let vpc = p
            .create(CreateRequest {
                type_name: "aws:ec2:Vpc".into(),
                region: Some(region.into()),
                properties: props(json!({"cidr_block": "10.0.0.0/16"})),
                ownership: owner(&format!("networks/{region}"), "vpc"),
                idempotency_key: format!("{region}/vpc"),
            })
            .await
            .unwrap();
        vpcs.push((region, vpc.id));
    }
    for (region, id) in &vpcs {
        for other in ["us-east-1", "eu-west-1"] {
            let found = p
                .read(ReadRequest {
                    type_name: "aws:ec2:Vpc".into(),
                    region: Some(other.into()),
                    ids: vec![id.clone()],
                    owner: None,
                })
                .await
                .unwrap();
            assert_eq!(
                found.len(),
                usize::from(region == &other),
                "{id} of {region} read in {other}"
            );
        }
    }
    // Direct check: the eu-west-1 VPC lives in eu-west-1 only.
    use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
    let eu = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .build(),
    );
    let out = eu
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpcs[1].1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.vpcs().len(), 1);
}

#[tokio::test]
async fn a_workspace_wide_owner_read_finds_every_stacks_resources_in_one_request() {
    let moto = Moto::start();
    let p = moto.provider();
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    let group = |name: &str| json!({"group_name": name, "description": "d", "vpc_id": vpc.id});
    let mut mine = Vec::new();
    for stack in ["networks/eu/a", "networks/eu/b"] {
        let name = stack.replace('/', "-");
        mine.push(
            create_in(&p, "aws:ec2:SecurityGroup", stack, "db", group(&name))
                .await
                .id,
        );
    }
    // Another workspace's group, with the same stack and resource names.
    let theirs = p
        .create(CreateRequest {
            type_name: "aws:ec2:SecurityGroup".into(),
            region: None,
            properties: props(group("theirs")),
            ownership: terrace::provider::Ownership {
                workspace: "other".into(),
                ..owner("networks/eu/a", "db")
            },
            idempotency_key: "other/db".into(),
        })
        .await
        .unwrap();
    let described = moto.count("DescribeSecurityGroups");
    let request = ReadRequest {
        type_name: "aws:ec2:SecurityGroup".into(),
        region: None,
        ids: vec![],
        owner: Some(terrace::provider::Ownership::workspace_wide("ws")),
    };
    let found = p.read(request).await.unwrap();
    assert_eq!(
        moto.count("DescribeSecurityGroups") - described,
        1,
        "both stacks' groups in one request"
    );
    let mut ids: Vec<String> = found.iter().map(|o| o.id.clone()).collect();
    ids.sort();
    mine.sort();
    assert_eq!(
        ids, mine,
        "every stack of the workspace, no other workspace"
    );
    assert!(!ids.contains(&theirs.id));
    let stacks: Vec<&str> = found
        .iter()
        .map(|o| o.ownership.as_ref().unwrap().stack.as_str())
        .collect();
    assert!(stacks.contains(&"networks/eu/a") && stacks.contains(&"networks/eu/b"));
}

/// Three stacks, each with a VPC and a security group in one region and account: a plan's
/// refresh describes the security groups once, and the VPCs once, not once per stack.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_describes_each_type_once_across_stacks() {
    use std::sync::Arc;
    use terrace::engine::{ApplyOptions, PlanOptions, Terrace};
    let moto = Moto::start();
    let dir = networks_workspace(
        "batch",
        &["g1", "g2", "g3"],
        "resources:\n  vpc:\n    type: aws:ec2:Vpc\n    properties:\n      cidr_block: 10.40.0.0/16\n\
         \x20 db:\n    type: aws:ec2:SecurityGroup\n    properties:\n      group_name: \"{{ group.name }}-db\"\n      description: db\n      vpc_id: ${vpc.id}\n",
    );
    let open = || {
        let mut registry = terrace::provider::Registry::new();
        registry.register(Arc::new(moto.provider()));
        Terrace::open(dir.path(), registry).expect("workspace opens")
    };
    let terrace = open();
    let plan = terrace.plan(&PlanOptions::default()).await.expect("plan");
    let summary = terrace
        .apply_with(
            plan,
            ApplyOptions::default(),
            terrace::events::EventSink::none(),
        )
        .await
        .unwrap();
    assert!(summary.succeeded(), "{summary:#?}");
    let (groups, vpcs) = (
        moto.count("DescribeSecurityGroups"),
        moto.count("DescribeVpcs"),
    );
    let plan = open().plan(&PlanOptions::default()).await.expect("plan");
    assert!(!plan.has_changes(), "{plan:#?}");
    assert_eq!(plan.stacks.len(), 3);
    assert_eq!(
        moto.count("DescribeSecurityGroups") - groups,
        1,
        "three stacks' security groups in one request"
    );
    assert_eq!(
        moto.count("DescribeVpcs") - vpcs,
        1,
        "and their VPCs in one"
    );
}
