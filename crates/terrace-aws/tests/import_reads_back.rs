//! `terrace import` adopts an object only cleanly when a read by id returns every field a
//! template may set: a field read back as null plans a needless change (and, for a launch
//! template, a new version). Each AWS type is created here with every input field its
//! reference template sets (and the other settable ones), then imported by id; each field must
//! come back equal to the desired value in the provider's canonical form
//! ([`terrace::provider::Provider::normalize`]), lists the schema marks unordered compared as
//! sets.

mod support;

use serde_json::{json, Value as Json};
use support::*;
use terrace::provider::Provider;

/// Every field the import did not read back as desired, named with its type.
async fn import_differences(
    p: &terrace_aws::AwsProvider,
    type_name: &str,
    desired: Json,
) -> Vec<String> {
    let created = create(p, type_name, "x", desired.clone()).await;
    let imported = p
        .import(type_name, None, &created.id)
        .await
        .unwrap_or_else(|e| panic!("import {type_name} {}: {e:?}", created.id));
    let schema = p
        .schemas()
        .into_iter()
        .find(|s| s.type_name == type_name)
        .expect("a schema");
    let mut wrong = Vec::new();
    for (field, value) in desired.as_object().unwrap() {
        let want = p
            .normalize(type_name, field, value)
            .unwrap_or(value.clone());
        let got = imported
            .properties
            .get(field)
            .cloned()
            .unwrap_or(Json::Null);
        let unordered = schema
            .fields
            .iter()
            .any(|f| &f.name == field && f.unordered);
        if canonical(&want, unordered) != canonical(&got, unordered) {
            wrong.push(format!(
                "{type_name} {field}: desired {want}, imported {got}"
            ));
        }
    }
    wrong
}

fn canonical(value: &Json, unordered: bool) -> Json {
    match value {
        Json::Array(items) if unordered => {
            let mut items = items.clone();
            items.sort_by_key(|i| i.to_string());
            Json::Array(items)
        }
        other => other.clone(),
    }
}

async fn image(ec2: &aws_sdk_ec2::Client) -> String {
    let out = ec2.describe_images().owners("amazon").send().await.unwrap();
    out.images()[0].image_id().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aws_type_imports_every_field_its_template_sets() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = moto.ec2();
    let tags = json!({"owner": "dba", "Name": "eu-a"});
    let mut wrong = Vec::new();

    let vpc_props = json!({
        "cidr_block": "10.20.0.0/16",
        "enable_dns_support": true,
        "enable_dns_hostnames": true,
        "tags": tags,
    });
    wrong.extend(import_differences(&p, "aws:ec2:Vpc", vpc_props.clone()).await);
    let vpc = create(&p, "aws:ec2:Vpc", "vpc", vpc_props).await.id;

    let subnet = json!({
        "vpc_id": vpc, "cidr_block": "10.20.1.0/24", "availability_zone": "eu-west-1a",
        "map_public_ip_on_launch": true, "tags": tags,
    });
    wrong.extend(import_differences(&p, "aws:ec2:Subnet", subnet).await);
    let subnet_a = create(
        &p,
        "aws:ec2:Subnet",
        "a",
        json!({"vpc_id": vpc, "cidr_block": "10.20.2.0/24", "availability_zone": "eu-west-1a"}),
    )
    .await
    .id;
    let subnet_b = create(
        &p,
        "aws:ec2:Subnet",
        "b",
        json!({"vpc_id": vpc, "cidr_block": "10.20.3.0/24", "availability_zone": "eu-west-1b"}),
    )
    .await
    .id;

    let gateway = create(&p, "aws:ec2:InternetGateway", "igw", json!({"vpc_id": vpc}))
        .await
        .id;
    let other_vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc2",
        json!({"cidr_block": "10.30.0.0/16"}),
    )
    .await
    .id;
    wrong.extend(
        import_differences(
            &p,
            "aws:ec2:InternetGateway",
            json!({"vpc_id": other_vpc, "tags": tags}),
        )
        .await,
    );
    wrong.extend(
        import_differences(
            &p,
            "aws:ec2:RouteTable",
            json!({
                "vpc_id": vpc,
                "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": gateway}],
                "subnet_ids": [subnet_a, subnet_b],
                "tags": tags,
            }),
        )
        .await,
    );
    let group = json!({
        "group_name": "eu-a-db", "description": "Database nodes of replica a", "vpc_id": vpc,
        "ingress": [{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.0.0.0/8"]}],
        "tags": tags,
    });
    wrong.extend(import_differences(&p, "aws:ec2:SecurityGroup", group).await);
    let sg = create(
        &p,
        "aws:ec2:SecurityGroup",
        "sg",
        json!({"group_name": "nodes", "description": "nodes", "vpc_id": vpc}),
    )
    .await
    .id;

    let ami = image(&ec2).await;
    let template = json!({
        "name": "eu-a-db", "image_id": ami, "instance_type": "t3.micro",
        "security_group_ids": [sg], "user_data": "#cloud-config\nruncmd: [echo hi]\n",
        "tags": tags,
    });
    wrong.extend(import_differences(&p, "aws:ec2:LaunchTemplate", template).await);
    wrong.extend(
        import_differences(
            &p,
            "aws:ec2:Instance",
            json!({
                "image_id": ami, "instance_type": "t3.micro", "subnet_id": subnet_a,
                "security_group_ids": [sg], "user_data": "#!/bin/sh\necho hi\n", "tags": tags,
            }),
        )
        .await,
    );

    let targets = json!({
        "name_prefix": "eu-a-", "protocol": "TCP", "port": 5432, "vpc_id": vpc,
        "target_type": "instance", "health_check_protocol": "TCP", "tags": {"owner": "dba"},
    });
    wrong.extend(import_differences(&p, "aws:elbv2:TargetGroup", targets.clone()).await);
    let balancer = json!({
        "name_prefix": "eu-a-", "type": "network", "scheme": "internal",
        "subnet_ids": [subnet_a, subnet_b], "tags": {"owner": "dba"},
    });
    wrong.extend(import_differences(&p, "aws:elbv2:LoadBalancer", balancer.clone()).await);
    let tg = create(&p, "aws:elbv2:TargetGroup", "tg", targets).await.id;
    let lb = create(&p, "aws:elbv2:LoadBalancer", "lb", balancer)
        .await
        .id;
    wrong.extend(
        import_differences(
            &p,
            "aws:elbv2:Listener",
            json!({
                "load_balancer_arn": lb, "protocol": "TCP", "port": 5432,
                "target_group_arn": tg, "tags": {"owner": "dba"},
            }),
        )
        .await,
    );
    let lt = create(
        &p,
        "aws:ec2:LaunchTemplate",
        "lt",
        json!({"name": "nodes", "image_id": ami, "instance_type": "t3.micro"}),
    )
    .await
    .id;
    wrong.extend(
        import_differences(
            &p,
            "aws:autoscaling:AutoScalingGroup",
            json!({
                "name": "eu-a-db", "launch_template_id": lt, "min_size": 1, "max_size": 1,
                "desired_capacity": 1, "subnet_ids": [subnet_a, subnet_b],
                "target_group_arns": [tg], "health_check_type": "ELB",
                "tags": {"owner": "dba", "Name": "eu-a-db"},
            }),
        )
        .await,
    );
    assert!(
        wrong.is_empty(),
        "imports with differences:\n  {}",
        wrong.join("\n  ")
    );
}
