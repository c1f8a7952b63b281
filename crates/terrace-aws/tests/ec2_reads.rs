//! Batched reads (one Describe call per type × region × page, counted at moto's side and by the
//! provider's own counter), adoption through owner-filtered reads, and what a create sends
//! (ownership tags inside the create call, a client token derived from the idempotency key).

mod support;

use serde_json::json;
use support::*;
use terrace::provider::{Provider, ReadRequest};

fn owner_read(type_name: &str, stack: &str, resource: &str) -> ReadRequest {
    ReadRequest {
        type_name: type_name.into(),
        region: None,
        ids: Vec::new(),
        owner: Some(owner(stack, resource)),
    }
}

#[tokio::test]
async fn reading_100_resources_takes_one_request() {
    let moto = Moto::start();
    let p = moto.provider();
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..100 {
        let subnet = create(
            &p,
            "aws:ec2:Subnet",
            &format!("subnet-{i}"),
            json!({"vpc_id": vpc.id, "cidr_block": format!("10.0.{i}.0/24")}),
        )
        .await;
        ids.push(subnet.id);
    }

    // By ids: one DescribeSubnets request for all 100.
    let (seen, sent) = (moto.count("DescribeSubnets"), p.requests_sent());
    let read = p
        .read(ReadRequest {
            type_name: "aws:ec2:Subnet".into(),
            region: None,
            ids: ids.clone(),
            owner: None,
        })
        .await
        .unwrap();
    assert_eq!(read.len(), 100);
    assert_eq!(moto.count("DescribeSubnets") - seen, 1);
    assert_eq!(p.requests_sent() - sent, 1);

    // By owner (any resource of the stack): one request as well.
    let (seen, sent) = (moto.count("DescribeSubnets"), p.requests_sent());
    let read = p
        .read(owner_read("aws:ec2:Subnet", "networks/eu/a", ""))
        .await
        .unwrap();
    assert_eq!(read.len(), 100);
    assert_eq!(moto.count("DescribeSubnets") - seen, 1);
    assert_eq!(p.requests_sent() - sent, 1);

    // Ids and owner together: two requests, each resource once.
    let (seen, sent) = (moto.count("DescribeSubnets"), p.requests_sent());
    let mut both = owner_read("aws:ec2:Subnet", "networks/eu/a", "");
    both.ids = ids[..10].to_vec();
    assert_eq!(p.read(both).await.unwrap().len(), 100);
    assert_eq!(moto.count("DescribeSubnets") - seen, 2);
    assert_eq!(p.requests_sent() - sent, 2);
}

#[tokio::test]
async fn owner_filtered_read_adopts_a_resource_whose_answer_was_lost() {
    let moto = Moto::start();
    let p = moto.provider();
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    // The engine lost this answer (crash, timeout): it only knows the ownership.
    let lost = create(
        &p,
        "aws:ec2:SecurityGroup",
        "db-sg",
        json!({"group_name": "db", "description": "d", "vpc_id": vpc.id}),
    )
    .await;
    let other = create_in(
        &p,
        "aws:ec2:SecurityGroup",
        "networks/us/b",
        "db-sg",
        json!({"group_name": "db-us", "description": "d", "vpc_id": vpc.id}),
    )
    .await;

    let found = p
        .read(owner_read(
            "aws:ec2:SecurityGroup",
            "networks/eu/a",
            "db-sg",
        ))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, lost.id);
    assert_eq!(found[0].ownership, Some(owner("networks/eu/a", "db-sg")));
    assert_eq!(found[0].properties["group_name"], "db");

    // Any resource of a stack; nothing of other stacks (the VPC's default group is untagged).
    let stack = p
        .read(owner_read("aws:ec2:SecurityGroup", "networks/us/b", ""))
        .await
        .unwrap();
    assert_eq!(
        stack.iter().map(|o| &o.id).collect::<Vec<_>>(),
        vec![&other.id]
    );
    let none = p
        .read(owner_read("aws:ec2:SecurityGroup", "networks/eu/zzz", ""))
        .await
        .unwrap();
    assert!(none.is_empty());

    // The same for every other type of the layer.
    for (type_name, id) in [("aws:ec2:Vpc", &vpc.id)] {
        let found = p
            .read(owner_read(type_name, "networks/eu/a", "vpc"))
            .await
            .unwrap();
        assert_eq!(found.iter().map(|o| &o.id).collect::<Vec<_>>(), vec![id]);
    }
}

#[tokio::test]
async fn creates_send_tags_in_the_create_call_and_a_stable_client_token() {
    let moto = Moto::start();
    let p = moto.provider();
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    // No separate CreateTags call: tags travel in TagSpecifications.
    assert_eq!(moto.count("CreateTags"), 0);
    let create_vpc = moto
        .requests()
        .into_iter()
        .find(|b| b.starts_with("Action=CreateVpc&"))
        .expect("CreateVpc recorded");
    assert!(
        create_vpc.contains("TagSpecification.1.ResourceType=vpc"),
        "{create_vpc}"
    );
    assert!(create_vpc.contains("terrace%3Aworkspace"), "{create_vpc}");

    // A retried create with the same idempotency key sends the same ClientToken.
    let properties = json!({"vpc_id": vpc.id});
    let first = create(&p, "aws:ec2:RouteTable", "rt", properties.clone()).await;
    let second = create(&p, "aws:ec2:RouteTable", "rt", properties).await;
    let tokens: Vec<String> = moto
        .requests()
        .into_iter()
        .filter(|b| b.starts_with("Action=CreateRouteTable&"))
        .map(|b| {
            b.split('&')
                .find(|kv| kv.starts_with("ClientToken="))
                .expect("a ClientToken")
                .to_string()
        })
        .collect();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0], tokens[1]);
    // Real EC2 answers the second call with the first route table. moto 5.1 ignores
    // ClientToken on CreateRouteTable (and RunInstances), so it makes a second one; the engine
    // still avoids the duplicate: its pending record makes it look the resource up by its
    // ownership tags (the read above) before creating again.
    let found = p
        .read(owner_read("aws:ec2:RouteTable", "networks/eu/a", "rt"))
        .await
        .unwrap();
    assert!(found.iter().any(|o| o.id == first.id));
    if first.id == second.id {
        assert_eq!(found.len(), 1, "tokens honoured: one route table");
    } else {
        assert_eq!(found.len(), 2, "moto's gap: the owner read shows both");
    }
}
