//! Throttling, latency and lost answers injected between the provider and moto: retries with
//! backoff converge, nothing is created twice, with retries off the error is `Throttled` with
//! EC2's code, and a create whose answer is lost is reported `Ambiguous` (never retried into a
//! duplicate) and found again by its ownership tags.

mod support;

use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::faults::{Faults, Knobs};
use support::*;
use terrace::provider::{CreateRequest, ErrorKind, Provider, ReadRequest};
use terrace_aws::AwsProvider;

fn provider(endpoint: &str, attempts: u32) -> AwsProvider {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let settings = json!({
        "endpoint": endpoint,
        "region": REGION,
        "max_attempts": attempts,
        "initial_backoff_ms": 5,
        "wait_timeout_secs": 30,
        "poll_interval_ms": 20,
    });
    AwsProvider::from_settings(settings.as_object().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_are_retried_and_nothing_is_duplicated() {
    let moto = Moto::start();
    let faults = Faults::start(
        &moto.endpoint,
        Knobs {
            throttle_rate: 0.3,
            latency: Duration::from_millis(2),
            seed: 42,
            ..Knobs::default()
        },
    )
    .await;
    let p = provider(&faults.endpoint, 12);
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
    let faults = Faults::start(
        &moto.endpoint,
        Knobs {
            throttle_rate: 1.0,
            seed: 7,
            ..Knobs::default()
        },
    )
    .await;
    let p = provider(&faults.endpoint, 1);
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
    let knobs = Knobs {
        lose_action: Some("CreateVpc".into()),
        seed: 1,
        ..Knobs::default()
    };
    let faults = Faults::start(&moto.endpoint, knobs).await;
    // Plenty of attempts: the SDK would retry a lost answer; the provider must not.
    let p = provider(&faults.endpoint, 5);
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
    assert_eq!(moto.count("CreateVpc"), 1, "sent once, never retried");

    // The engine's next step: look the resource up by its ownership tags, and adopt it.
    let found = p
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
