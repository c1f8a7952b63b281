//! Load balancers, target groups, listeners and Auto Scaling groups against moto: create, read
//! back, update in place, a force-new change, delete; every effect checked with a direct call.

mod support;

use serde_json::json;
use support::*;
use terrace::provider::{CreateRequest, Provider, ReadRequest};

struct Net {
    vpc: String,
    subnets: Vec<String>,
    sg: String,
}

async fn network(p: &terrace_aws::AwsProvider) -> Net {
    let vpc = create(
        p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await
    .id;
    let mut subnets = Vec::new();
    for (i, zone) in ["us-east-1a", "us-east-1b", "us-east-1c"]
        .iter()
        .enumerate()
    {
        let s = create(p, "aws:ec2:Subnet", &format!("s{i}"), json!({"vpc_id": vpc, "cidr_block": format!("10.0.{i}.0/24"), "availability_zone": zone})).await;
        subnets.push(s.id);
    }
    let sg = create(
        p,
        "aws:ec2:SecurityGroup",
        "lb-sg",
        json!({"group_name": "lb", "description": "lb", "vpc_id": vpc}),
    )
    .await
    .id;
    Net { vpc, subnets, sg }
}

async fn target_groups(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
) -> Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup> {
    elb.describe_target_groups()
        .send()
        .await
        .unwrap()
        .target_groups()
        .to_vec()
}

async fn tag_keys(elb: &aws_sdk_elasticloadbalancingv2::Client, arn: &str) -> Vec<String> {
    let out = elb.describe_tags().resource_arns(arn).send().await.unwrap();
    out.tag_descriptions()[0]
        .tags()
        .iter()
        .filter_map(|t| t.key().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn target_group_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let elb = moto.elbv2();
    let net = network(&p).await;
    let desired = json!({"name": "db-tg", "protocol": "TCP", "port": 5432, "vpc_id": net.vpc, "health_check_path": "/health", "health_check_protocol": "HTTP"});
    let tg = create(&p, "aws:elbv2:TargetGroup", "tg", desired.clone()).await;
    assert!(tg.id.starts_with("arn:aws:elasticloadbalancing:"));
    assert_eq!(tg.properties["port"], 5432);
    assert_eq!(tg.ownership, Some(owner("networks/eu/a", "tg")));
    let direct = target_groups(&elb).await;
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0].health_check_path(), Some("/health"));
    assert!(tag_keys(&elb, &tg.id)
        .await
        .contains(&"terrace:resource".to_string()));
    assert_eq!(
        read_ids(&p, "aws:elbv2:TargetGroup", &[&tg.id]).await,
        vec![tg.clone()]
    );

    // Update in place.
    let mut changed = desired.clone();
    changed["health_check_path"] = json!("/ready");
    changed["tags"] = json!({"Team": "db"});
    let updated = update(&p, "aws:elbv2:TargetGroup", &tg.id, desired, changed).await;
    assert_eq!(updated.id, tg.id);
    assert_eq!(
        target_groups(&elb).await[0].health_check_path(),
        Some("/ready")
    );
    assert!(tag_keys(&elb, &tg.id).await.contains(&"Team".to_string()));

    // Force-new (port): new group, old one deleted.
    let replacement = create(
        &p,
        "aws:elbv2:TargetGroup",
        "tg",
        json!({"name": "db-tg-2", "protocol": "TCP", "port": 5433, "vpc_id": net.vpc}),
    )
    .await;
    delete(&p, "aws:elbv2:TargetGroup", &tg.id).await;
    let names: Vec<_> = target_groups(&elb)
        .await
        .iter()
        .filter_map(|t| t.target_group_name().map(str::to_string))
        .collect();
    assert_eq!(names, vec!["db-tg-2".to_string()]);
    delete(&p, "aws:elbv2:TargetGroup", &replacement.id).await;
    assert!(target_groups(&elb).await.is_empty());
    delete(&p, "aws:elbv2:TargetGroup", &replacement.id).await;
}

#[tokio::test]
async fn load_balancer_and_listener_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let elb = moto.elbv2();
    let net = network(&p).await;
    let tg1 = create(
        &p,
        "aws:elbv2:TargetGroup",
        "tg1",
        json!({"name": "tg1", "protocol": "HTTP", "port": 80, "vpc_id": net.vpc}),
    )
    .await;
    let tg2 = create(
        &p,
        "aws:elbv2:TargetGroup",
        "tg2",
        json!({"name": "tg2", "protocol": "HTTP", "port": 8080, "vpc_id": net.vpc}),
    )
    .await;
    let mut two = vec![net.subnets[0].clone(), net.subnets[1].clone()];
    two.sort();
    let desired = json!({"name": "public", "type": "application", "scheme": "internet-facing", "subnet_ids": two, "security_group_ids": [net.sg]});
    let lb = create(&p, "aws:elbv2:LoadBalancer", "lb", desired.clone()).await;
    assert_eq!(lb.attributes["state"], "active");
    assert_eq!(lb.properties["subnet_ids"], json!(two));
    assert!(lb.attributes["dns_name"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    let direct = |arn: String| {
        let elb = elb.clone();
        async move {
            let out = elb.describe_load_balancers().send().await.unwrap();
            out.load_balancers()
                .iter()
                .find(|l| l.load_balancer_arn() == Some(arn.as_str()))
                .cloned()
        }
    };
    let found = direct(lb.id.clone()).await.expect("load balancer exists");
    assert_eq!(found.r#type().map(|t| t.as_str()), Some("application"));
    assert!(tag_keys(&elb, &lb.id)
        .await
        .contains(&"terrace:stack".to_string()));
    assert_eq!(
        read_ids(&p, "aws:elbv2:LoadBalancer", &[&lb.id]).await,
        vec![lb.clone()]
    );

    // Update in place: subnets.
    let mut other = vec![net.subnets[0].clone(), net.subnets[2].clone()];
    other.sort();
    let mut changed = desired.clone();
    changed["subnet_ids"] = json!(other);
    let updated = update(&p, "aws:elbv2:LoadBalancer", &lb.id, desired, changed).await;
    assert_eq!(updated.id, lb.id);
    let mut subnets: Vec<String> = direct(lb.id.clone())
        .await
        .unwrap()
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id().map(str::to_string))
        .collect();
    subnets.sort();
    assert_eq!(subnets, other);

    // Listener: create, update in place (port, target group), delete.
    let listen = json!({"load_balancer_arn": lb.id, "port": 80, "protocol": "HTTP", "target_group_arn": tg1.id});
    let l = create(&p, "aws:elbv2:Listener", "http", listen.clone()).await;
    assert_eq!(l.properties["target_group_arn"], json!(tg1.id));
    assert_eq!(
        read_ids(&p, "aws:elbv2:Listener", &[&l.id]).await,
        vec![l.clone()]
    );
    let owned = p
        .read(ReadRequest {
            type_name: "aws:elbv2:Listener".into(),
            region: None,
            ids: vec![],
            owner: Some(owner("networks/eu/a", "http")),
        })
        .await
        .unwrap();
    assert_eq!(owned.iter().map(|o| &o.id).collect::<Vec<_>>(), vec![&l.id]);
    let moved = json!({"load_balancer_arn": lb.id, "port": 8080, "protocol": "HTTP", "target_group_arn": tg2.id});
    update(&p, "aws:elbv2:Listener", &l.id, listen, moved).await;
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(&lb.id)
        .send()
        .await
        .unwrap();
    assert_eq!(listeners.listeners().len(), 1);
    assert_eq!(listeners.listeners()[0].port(), Some(8080));
    assert_eq!(
        listeners.listeners()[0].default_actions()[0].target_group_arn(),
        Some(tg2.id.as_str())
    );
    delete(&p, "aws:elbv2:Listener", &l.id).await;
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(&lb.id)
        .send()
        .await
        .unwrap();
    assert!(listeners.listeners().is_empty());

    // Force-new (type): a network load balancer replaces the application one.
    let nlb = create(
        &p,
        "aws:elbv2:LoadBalancer",
        "lb",
        json!({"name": "public-nlb", "type": "network", "subnet_ids": [net.subnets[0]]}),
    )
    .await;
    delete(&p, "aws:elbv2:LoadBalancer", &lb.id).await;
    assert!(direct(lb.id.clone()).await.is_none());
    assert_eq!(
        direct(nlb.id.clone())
            .await
            .unwrap()
            .r#type()
            .map(|t| t.as_str()),
        Some("network")
    );
    delete(&p, "aws:elbv2:LoadBalancer", &nlb.id).await;
    assert!(direct(nlb.id.clone()).await.is_none());
}

async fn group(
    asg: &aws_sdk_autoscaling::Client,
    name: &str,
) -> Option<aws_sdk_autoscaling::types::AutoScalingGroup> {
    let out = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap();
    out.auto_scaling_groups().first().cloned()
}

#[tokio::test]
async fn auto_scaling_group_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let asg = moto.autoscaling();
    let net = network(&p).await;
    let images = moto
        .ec2()
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap();
    let ami = images.images()[0].image_id().unwrap().to_string();
    let lt = create(
        &p,
        "aws:ec2:LaunchTemplate",
        "lt",
        json!({"name": "node", "image_id": ami, "instance_type": "t3.micro"}),
    )
    .await;
    let tg = create(
        &p,
        "aws:elbv2:TargetGroup",
        "tg",
        json!({"name": "tg", "protocol": "TCP", "port": 5432, "vpc_id": net.vpc}),
    )
    .await;
    // The version as a reference to `latest_version_number` gives it: a number.
    assert_eq!(lt.attributes["latest_version_number"], 1);
    let desired = json!({"name": "db", "launch_template_id": lt.id, "launch_template_version": lt.attributes["latest_version_number"], "min_size": 1, "max_size": 3, "desired_capacity": 2, "subnet_ids": [net.subnets[0]], "health_check_grace_period": 300, "tags": {"Name": "db-node"}});
    let g = create(
        &p,
        "aws:autoscaling:AutoScalingGroup",
        "asg",
        desired.clone(),
    )
    .await;
    assert_eq!(g.id, "db");
    assert_eq!(g.attributes["in_service"], 2);
    assert_eq!(g.ownership, Some(owner("networks/eu/a", "asg")));
    assert_eq!(
        g.properties["launch_template_version"], 1,
        "read back as a number"
    );
    assert_eq!(g.properties["health_check_grace_period"], 300);
    let direct = group(&asg, "db").await.expect("group exists");
    assert_eq!(direct.instances().len(), 2);
    assert_eq!(direct.health_check_grace_period(), Some(300));
    assert_eq!(
        direct.launch_template().and_then(|t| t.version()),
        Some("1")
    );
    let tags: Vec<(String, bool)> = direct
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.propagate_at_launch().unwrap_or(false),
            )
        })
        .collect();
    assert!(tags.contains(&("terrace:resource".to_string(), false)));
    assert!(tags.contains(&("Name".to_string(), true)));
    assert_eq!(
        read_ids(&p, "aws:autoscaling:AutoScalingGroup", &["db"]).await,
        vec![g.clone()]
    );

    // A retried create with the same ownership adopts the group instead of failing.
    let again = p
        .create(CreateRequest {
            type_name: "aws:autoscaling:AutoScalingGroup".into(),
            region: None,
            properties: props(desired.clone()),
            ownership: owner("networks/eu/a", "asg"),
            idempotency_key: "networks/eu/a/asg/create".into(),
        })
        .await
        .expect("retried create adopts");
    assert_eq!(again.id, "db");
    let all = asg.describe_auto_scaling_groups().send().await.unwrap();
    assert_eq!(all.auto_scaling_groups().len(), 1);
    // Someone else's create of the same name is a conflict.
    let err = p
        .create(CreateRequest {
            type_name: "aws:autoscaling:AutoScalingGroup".into(),
            region: None,
            properties: props(desired.clone()),
            ownership: owner("other", "asg"),
            idempotency_key: "k".into(),
        })
        .await
        .expect_err("name taken");
    assert_eq!(err.code, "AlreadyExists");

    // Update in place: capacity and target groups.
    let mut changed = desired.clone();
    changed["desired_capacity"] = json!(3);
    changed["max_size"] = json!(4);
    changed["target_group_arns"] = json!([tg.id]);
    let updated = update(
        &p,
        "aws:autoscaling:AutoScalingGroup",
        "db",
        desired,
        changed,
    )
    .await;
    assert_eq!(updated.attributes["in_service"], 3);
    // The update returned once every instance was healthy in the attached target group.
    let health = moto
        .elbv2()
        .describe_target_health()
        .target_group_arn(&tg.id)
        .send()
        .await
        .unwrap();
    assert_eq!(health.target_health_descriptions().len(), 3);
    assert!(health.target_health_descriptions().iter().all(|d| {
        d.target_health().and_then(|h| h.state())
            == Some(&aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum::Healthy)
    }));
    let direct = group(&asg, "db").await.unwrap();
    assert_eq!(direct.max_size(), Some(4));
    assert_eq!(direct.instances().len(), 3);
    assert_eq!(direct.target_group_arns(), std::slice::from_ref(&tg.id));

    // Adoption by owner.
    let found = p
        .read(ReadRequest {
            type_name: "aws:autoscaling:AutoScalingGroup".into(),
            region: None,
            ids: vec![],
            owner: Some(owner("networks/eu/a", "")),
        })
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        vec!["db"]
    );

    // Force-new (name): a new group, the old one deleted.
    let replacement = create(&p, "aws:autoscaling:AutoScalingGroup", "asg", json!({"name": "db-2", "launch_template_id": lt.id, "min_size": 1, "max_size": 1, "subnet_ids": [net.subnets[1]]})).await;
    delete(&p, "aws:autoscaling:AutoScalingGroup", "db").await;
    assert!(group(&asg, "db").await.is_none());
    assert!(group(&asg, &replacement.id).await.is_some());
    delete(&p, "aws:autoscaling:AutoScalingGroup", &replacement.id).await;
    assert!(group(&asg, &replacement.id).await.is_none());
    delete(&p, "aws:autoscaling:AutoScalingGroup", &replacement.id).await;
}
