//! Launch templates and instances against moto: create, read back, update in place, a
//! force-new change, delete; every effect checked with a direct EC2 call.

mod support;

use aws_sdk_ec2::types::Filter;
use serde_json::json;
use support::*;
use terrace::provider::{Provider, ReadRequest};

async fn images(ec2: &aws_sdk_ec2::Client) -> (String, String) {
    let out = ec2.describe_images().owners("amazon").send().await.unwrap();
    let ids: Vec<String> = out
        .images()
        .iter()
        .filter_map(|i| i.image_id().map(str::to_string))
        .collect();
    assert!(ids.len() >= 2, "moto ships images");
    (ids[0].clone(), ids[1].clone())
}

#[tokio::test]
async fn launch_template_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = moto.ec2();
    let (ami, other_ami) = images(&ec2).await;
    let desired = json!({"name": "db-node", "image_id": ami, "instance_type": "t3.micro", "user_data": "#!/bin/sh\necho hi\n"});
    let lt = create(&p, "aws:ec2:LaunchTemplate", "lt", desired.clone()).await;
    assert!(lt.id.starts_with("lt-"));
    assert_eq!(lt.properties["name"], "db-node");
    assert_eq!(lt.attributes["default_version_number"], 1);
    assert_eq!(lt.ownership, Some(owner("networks/eu/a", "lt")));
    assert_eq!(
        read_ids(&p, "aws:ec2:LaunchTemplate", &[&lt.id]).await,
        vec![lt.clone()]
    );
    // A missing id next to an existing one: the existing one is still found.
    let read = read_ids(
        &p,
        "aws:ec2:LaunchTemplate",
        &[&lt.id, "lt-0123456789abcdef0"],
    )
    .await;
    assert_eq!(read.len(), 1);

    let version = |n: &'static str| {
        let ec2 = ec2.clone();
        let id = lt.id.clone();
        async move {
            let out = ec2
                .describe_launch_template_versions()
                .launch_template_id(id)
                .versions(n)
                .send()
                .await
                .unwrap();
            out.launch_template_versions()[0]
                .launch_template_data()
                .cloned()
                .unwrap()
        }
    };
    let data = version("$Default").await;
    assert_eq!(data.image_id(), Some(ami.as_str()));
    assert_eq!(data.instance_type().map(|t| t.as_str()), Some("t3.micro"));

    // Update in place: a new version becomes the default.
    let changed = json!({"name": "db-node", "image_id": other_ami, "instance_type": "t3.small"});
    let updated = update(&p, "aws:ec2:LaunchTemplate", &lt.id, desired, changed).await;
    assert_eq!(updated.id, lt.id);
    assert_eq!(updated.attributes["default_version_number"], 2);
    let data = version("$Default").await;
    assert_eq!(data.image_id(), Some(other_ami.as_str()));
    assert_eq!(data.instance_type().map(|t| t.as_str()), Some("t3.small"));

    // Force-new (name): a new template, the old one deleted.
    let replacement = create(
        &p,
        "aws:ec2:LaunchTemplate",
        "lt",
        json!({"name": "db-node-2", "image_id": ami}),
    )
    .await;
    delete(&p, "aws:ec2:LaunchTemplate", &lt.id).await;
    let names: Vec<String> = ec2
        .describe_launch_templates()
        .send()
        .await
        .unwrap()
        .launch_templates()
        .iter()
        .filter_map(|t| t.launch_template_name().map(str::to_string))
        .collect();
    assert_eq!(names, vec!["db-node-2".to_string()]);
    delete(&p, "aws:ec2:LaunchTemplate", &replacement.id).await;
    assert!(ec2
        .describe_launch_templates()
        .send()
        .await
        .unwrap()
        .launch_templates()
        .is_empty());
    delete(&p, "aws:ec2:LaunchTemplate", &replacement.id).await;
}

async fn instance_state(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
) -> Option<aws_sdk_ec2::types::Instance> {
    let out = ec2
        .describe_instances()
        .filters(Filter::builder().name("instance-id").values(id).build())
        .send()
        .await
        .unwrap();
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned()
}

#[tokio::test]
async fn instance_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = moto.ec2();
    let (ami, other_ami) = images(&ec2).await;
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    let subnet = create(
        &p,
        "aws:ec2:Subnet",
        "s",
        json!({"vpc_id": vpc.id, "cidr_block": "10.0.1.0/24"}),
    )
    .await;
    let sg1 = create(
        &p,
        "aws:ec2:SecurityGroup",
        "sg1",
        json!({"group_name": "a", "description": "a", "vpc_id": vpc.id}),
    )
    .await;
    let sg2 = create(
        &p,
        "aws:ec2:SecurityGroup",
        "sg2",
        json!({"group_name": "b", "description": "b", "vpc_id": vpc.id}),
    )
    .await;
    let desired = json!({"image_id": ami, "instance_type": "t3.micro", "subnet_id": subnet.id, "security_group_ids": [sg1.id], "tags": {"Name": "node-1"}});
    let node = create(&p, "aws:ec2:Instance", "node", desired.clone()).await;
    assert!(node.id.starts_with("i-"));
    assert_eq!(node.attributes["state"], "running");
    assert_eq!(node.properties["security_group_ids"], json!([sg1.id]));
    let direct = instance_state(&ec2, &node.id)
        .await
        .expect("instance exists");
    assert_eq!(direct.subnet_id(), Some(subnet.id.as_str()));
    let tags: Vec<_> = direct.tags().iter().filter_map(|t| t.key()).collect();
    assert!(tags.contains(&"terrace:resource") && tags.contains(&"Name"));
    assert_eq!(
        read_ids(&p, "aws:ec2:Instance", &[&node.id]).await,
        vec![node.clone()]
    );

    // Update in place: type (stop, modify, start) and security groups.
    let changed = json!({"image_id": ami, "instance_type": "t3.small", "subnet_id": subnet.id, "security_group_ids": [sg2.id], "tags": {"Name": "node-1"}});
    let updated = update(&p, "aws:ec2:Instance", &node.id, desired, changed).await;
    assert_eq!(updated.id, node.id);
    let direct = instance_state(&ec2, &node.id).await.unwrap();
    assert_eq!(direct.instance_type().map(|t| t.as_str()), Some("t3.small"));
    let groups: Vec<_> = direct
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    assert_eq!(groups, vec![sg2.id.as_str()]);
    assert_eq!(
        direct.state().and_then(|s| s.name()).map(|s| s.as_str()),
        Some("running")
    );

    // Force-new (image_id): a new instance, the old one terminated.
    let replacement = create(
        &p,
        "aws:ec2:Instance",
        "node",
        json!({"image_id": other_ami, "instance_type": "t3.micro", "subnet_id": subnet.id}),
    )
    .await;
    delete(&p, "aws:ec2:Instance", &node.id).await;
    let old = instance_state(&ec2, &node.id).await;
    assert!(
        old.is_none_or(
            |i| i.state().and_then(|s| s.name()).map(|s| s.as_str()) == Some("terminated")
        )
    );
    assert!(read_ids(&p, "aws:ec2:Instance", &[&node.id])
        .await
        .is_empty());

    // Adoption: the owner read finds the live instance only.
    let found = p
        .read(ReadRequest {
            type_name: "aws:ec2:Instance".into(),
            region: None,
            ids: vec![],
            owner: Some(owner("networks/eu/a", "node")),
        })
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|o| &o.id).collect::<Vec<_>>(),
        vec![&replacement.id]
    );

    delete(&p, "aws:ec2:Instance", &replacement.id).await;
    delete(&p, "aws:ec2:Instance", &replacement.id).await;
    assert!(read_ids(&p, "aws:ec2:Instance", &[&replacement.id])
        .await
        .is_empty());
}
