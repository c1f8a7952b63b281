//! The provider through the sandbox's behaviour layer (`aws-sandbox`) in front of moto:
//! throttled calls are retried with backoff and converge with nothing created twice; with
//! retries off the error is `Throttled` with EC2's code; a create whose answer is lost is
//! `Ambiguous` (never retried into a duplicate) and found again by its ownership tags; a create
//! that fails after its first call is `Ambiguous` too, and its resource exists.

mod support;

use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::*;
use terrace::provider::{CreateRequest, ErrorKind, Provider, ReadRequest};

fn provider(endpoint: &str, attempts: u32) -> terrace_aws::AwsProvider {
    provider_at(endpoint, attempts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_are_retried_and_nothing_is_duplicated() {
    let moto = Moto::start();
    let faults = layer(
        &moto,
        aws_sandbox::Behaviour {
            throttle_rate: 0.3,
            ..lenient(42)
        },
    )
    .await;
    let p = provider(&faults.endpoint(), 12);
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    let mut created = Vec::new();
    for i in 0..20 {
        let s = create(
            &p,
            "aws:ec2:Subnet",
            &format!("s{i}"),
            json!({"vpc_id": vpc.id, "cidr_block": format!("10.0.{i}.0/24")}),
        )
        .await;
        created.push(s.id);
    }
    let sg = create(&p, "aws:ec2:SecurityGroup", "sg", json!({"group_name": "g", "description": "d", "vpc_id": vpc.id, "ingress": [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8"]}]})).await;
    assert!(
        faults.stats.throttled.load(Ordering::Relaxed) > 0,
        "faults were injected"
    );

    // Reads through the faulty layer are complete.
    let read = p
        .read(ReadRequest {
            type_name: "aws:ec2:Subnet".into(),
            region: None,
            ids: created.clone(),
            owner: None,
        })
        .await
        .unwrap();
    assert_eq!(read.len(), 20);

    // Direct checks against moto: each resource exactly once.
    let ec2 = moto.ec2();
    let subnets = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&vpc.id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(subnets.subnets().len(), 20);
    let vpcs = ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:terrace:resource")
                .values("vpc")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
    let groups = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-id")
                .values(&sg.id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(groups.security_groups()[0].ip_permissions().len(), 1);
    assert_eq!(moto.count("CreateSubnet"), 20);
    assert!(
        p.requests_sent() > moto.requests().len() as u64,
        "retries were sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_throttling_is_reported_with_ec2s_code() {
    let moto = Moto::start();
    let faults = layer(
        &moto,
        aws_sandbox::Behaviour {
            throttle_rate: 1.0,
            ..lenient(7)
        },
    )
    .await;
    let p = provider(&faults.endpoint(), 1);
    let err = p
        .create(CreateRequest {
            type_name: "aws:ec2:Vpc".into(),
            region: None,
            properties: props(json!({"cidr_block": "10.0.0.0/16"})),
            ownership: owner("s", "vpc"),
            idempotency_key: "k".into(),
        })
        .await
        .expect_err("throttled");
    assert_eq!(err.kind, ErrorKind::Throttled);
    assert_eq!(err.code, "RequestLimitExceeded");
    assert_eq!(moto.count("CreateVpc"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_answer_is_ambiguous_and_the_resource_is_adopted_not_duplicated() {
    let moto = Moto::start();
    let faults = layer(
        &moto,
        aws_sandbox::Behaviour {
            lost_answer_rate: 1.0,
            ..lenient(1)
        },
    )
    .await;
    // Plenty of attempts: the SDK would retry a lost answer; the provider must not.
    let p = provider(&faults.endpoint(), 5);
    let err = p
        .create(CreateRequest {
            type_name: "aws:ec2:Vpc".into(),
            region: None,
            properties: props(json!({"cidr_block": "10.0.0.0/16"})),
            ownership: owner("networks/eu/a", "vpc"),
            idempotency_key: "networks/eu/a/vpc/create".into(),
        })
        .await
        .expect_err("the answer was lost");
    assert_eq!(err.kind, ErrorKind::Ambiguous, "{err}");
    assert_eq!(faults.stats.lost.load(Ordering::Relaxed), 1);
    drop(faults);
    assert_eq!(moto.count("CreateVpc"), 1, "sent once, never retried");

    // The engine's next step: look the resource up by its ownership tags, and adopt it.
    let found = provider(&moto.endpoint, 5)
        .read(ReadRequest {
            type_name: "aws:ec2:Vpc".into(),
            region: None,
            ids: vec![],
            owner: Some(owner("networks/eu/a", "vpc")),
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].properties["cidr_block"], "10.0.0.0/16");
    let vpcs = moto
        .ec2()
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:terrace:resource")
                .values("vpc")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_fails_after_its_first_call_is_ambiguous_and_its_resource_exists() {
    let moto = Moto::start();
    let p = provider(&moto.endpoint, 2);
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    // The gateway is created, then the layer keeps it invisible longer than the provider
    // waits: attaching it fails after the gateway exists.
    let slow = layer(
        &moto,
        aws_sandbox::Behaviour {
            consistency: Some((Duration::from_secs(30), Duration::from_secs(30))),
            ..lenient(3)
        },
    )
    .await;
    let settings = json!({
        "endpoint": slow.endpoint(),
        "region": REGION,
        "max_attempts": 2,
        "initial_backoff_ms": 5,
        "poll_interval_ms": 20,
        "consistency_timeout_secs": 1,
    });
    let impatient = terrace_aws::AwsProvider::from_settings(settings.as_object().unwrap()).unwrap();
    let err = impatient
        .create(CreateRequest {
            type_name: "aws:ec2:InternetGateway".into(),
            region: None,
            properties: props(json!({"vpc_id": vpc.id})),
            ownership: owner("networks/eu/a", "gateway"),
            idempotency_key: "networks/eu/a/gateway/create".into(),
        })
        .await
        .expect_err("the attach never sees the gateway");
    assert_eq!(err.kind, ErrorKind::Ambiguous, "{err}");
    assert_eq!(err.code, "InvalidInternetGatewayID.NotFound");
    let gateways = moto
        .ec2()
        .describe_internet_gateways()
        .send()
        .await
        .unwrap();
    let ours = gateways
        .internet_gateways()
        .iter()
        .filter(|g| g.tags().iter().any(|t| t.value() == Some("gateway")))
        .count();
    assert_eq!(
        ours, 1,
        "the gateway exists: the engine will find and adopt it"
    );
}
