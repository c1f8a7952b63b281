//! The networks-layer types against moto: create, read back, update in place, a force-new
//! change (new resource, old one deleted), delete; every effect checked with a direct EC2 call.

mod support;

use aws_sdk_ec2::types::{Filter, Tag};
use serde_json::json;
use std::collections::BTreeMap;
use support::*;
use terrace::provider::Provider;

fn by_id(name: &str, id: &str) -> Filter {
    Filter::builder().name(name).values(id).build()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().into(),
                t.value().unwrap_or_default().into(),
            )
        })
        .collect()
}

async fn vpc_exists(ec2: &aws_sdk_ec2::Client, id: &str) -> bool {
    let out = ec2
        .describe_vpcs()
        .filters(by_id("vpc-id", id))
        .send()
        .await
        .unwrap();
    !out.vpcs().is_empty()
}

async fn dns_hostnames(ec2: &aws_sdk_ec2::Client, id: &str) -> bool {
    let out = ec2
        .describe_vpc_attribute()
        .vpc_id(id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    out.enable_dns_hostnames()
        .and_then(|a| a.value())
        .unwrap_or(false)
}

#[tokio::test]
async fn vpc_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = moto.ec2();
    let desired = json!({"cidr_block": "10.1.0.0/16", "enable_dns_hostnames": true, "tags": {"Name": "eu-a"}});
    let vpc = create(&p, "aws:ec2:Vpc", "vpc", desired.clone()).await;
    assert!(vpc.id.starts_with("vpc-"));
    assert_eq!(vpc.properties["cidr_block"], "10.1.0.0/16");
    assert_eq!(vpc.properties["tags"], json!({"Name": "eu-a"}));
    assert_eq!(vpc.ownership, Some(owner("networks/eu/a", "vpc")));

    // Direct check: tags written at creation, DNS attribute set.
    let out = ec2
        .describe_vpcs()
        .filters(by_id("vpc-id", &vpc.id))
        .send()
        .await
        .unwrap();
    let tags = tag_map(out.vpcs()[0].tags());
    assert_eq!(tags["terrace:workspace"], "ws");
    assert_eq!(tags["terrace:stack"], "networks/eu/a");
    assert_eq!(tags["terrace:resource"], "vpc");
    assert_eq!(tags["Name"], "eu-a");
    assert!(dns_hostnames(&ec2, &vpc.id).await);

    // Read back through the provider.
    let read = read_ids(&p, "aws:ec2:Vpc", &[&vpc.id]).await;
    assert_eq!(read, vec![vpc.clone()]);

    // Update in place: DNS hostnames off, tags changed.
    let changed =
        json!({"cidr_block": "10.1.0.0/16", "enable_dns_hostnames": false, "tags": {"Team": "db"}});
    let updated = update(&p, "aws:ec2:Vpc", &vpc.id, desired.clone(), changed).await;
    assert_eq!(updated.id, vpc.id);
    assert!(!dns_hostnames(&ec2, &vpc.id).await);
    let out = ec2
        .describe_vpcs()
        .filters(by_id("vpc-id", &vpc.id))
        .send()
        .await
        .unwrap();
    let tags = tag_map(out.vpcs()[0].tags());
    assert_eq!(tags.get("Team").map(String::as_str), Some("db"));
    assert!(!tags.contains_key("Name"));
    assert_eq!(tags["terrace:resource"], "vpc");

    // Force-new: cidr_block is force_new; the engine creates the new one, then deletes the old.
    let schema = p
        .schemas()
        .into_iter()
        .find(|s| s.type_name == "aws:ec2:Vpc")
        .unwrap();
    assert!(schema.field("cidr_block").unwrap().force_new);
    let replacement = create_in(
        &p,
        "aws:ec2:Vpc",
        "networks/eu/a",
        "vpc",
        json!({"cidr_block": "10.2.0.0/16"}),
    )
    .await;
    delete(&p, "aws:ec2:Vpc", &vpc.id).await;
    assert!(!vpc_exists(&ec2, &vpc.id).await);
    assert!(vpc_exists(&ec2, &replacement.id).await);
    let out = ec2
        .describe_vpcs()
        .filters(by_id("vpc-id", &replacement.id))
        .send()
        .await
        .unwrap();
    assert_eq!(out.vpcs()[0].cidr_block(), Some("10.2.0.0/16"));

    // Delete; deleting again succeeds (already gone).
    delete(&p, "aws:ec2:Vpc", &replacement.id).await;
    assert!(!vpc_exists(&ec2, &replacement.id).await);
    delete(&p, "aws:ec2:Vpc", &replacement.id).await;
    assert!(read_ids(&p, "aws:ec2:Vpc", &[&replacement.id])
        .await
        .is_empty());
}

#[tokio::test]
async fn subnet_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = moto.ec2();
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    let desired =
        json!({"vpc_id": vpc.id, "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a"});
    let subnet = create(&p, "aws:ec2:Subnet", "subnet-a", desired.clone()).await;
    assert_eq!(subnet.properties["vpc_id"], json!(vpc.id));
    assert_eq!(subnet.properties["availability_zone"], "us-east-1a");
    assert_eq!(subnet.properties["map_public_ip_on_launch"], false);

    let direct = |id: String| {
        let ec2 = ec2.clone();
        async move {
            let out = ec2
                .describe_subnets()
                .filters(by_id("subnet-id", &id))
                .send()
                .await
                .unwrap();
            out.subnets().first().cloned()
        }
    };
    let found = direct(subnet.id.clone()).await.expect("subnet exists");
    assert_eq!(found.cidr_block(), Some("10.0.1.0/24"));
    assert_eq!(tag_map(found.tags())["terrace:resource"], "subnet-a");
    assert_eq!(
        read_ids(&p, "aws:ec2:Subnet", &[&subnet.id]).await,
        vec![subnet.clone()]
    );

    // Update in place.
    let public = json!({"vpc_id": vpc.id, "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a", "map_public_ip_on_launch": true});
    let updated = update(&p, "aws:ec2:Subnet", &subnet.id, desired, public).await;
    assert_eq!(updated.properties["map_public_ip_on_launch"], true);
    assert_eq!(
        direct(subnet.id.clone())
            .await
            .unwrap()
            .map_public_ip_on_launch(),
        Some(true)
    );

    // Force-new (cidr_block): new subnet, old one deleted.
    let replacement = create(
        &p,
        "aws:ec2:Subnet",
        "subnet-a",
        json!({"vpc_id": vpc.id, "cidr_block": "10.0.2.0/24"}),
    )
    .await;
    delete(&p, "aws:ec2:Subnet", &subnet.id).await;
    assert!(direct(subnet.id.clone()).await.is_none());
    assert_eq!(
        direct(replacement.id.clone()).await.unwrap().cidr_block(),
        Some("10.0.2.0/24")
    );

    delete(&p, "aws:ec2:Subnet", &replacement.id).await;
    assert!(direct(replacement.id.clone()).await.is_none());
    delete(&p, "aws:ec2:Vpc", &vpc.id).await;
    assert!(!vpc_exists(&ec2, &vpc.id).await);
}

async fn igw_vpcs(ec2: &aws_sdk_ec2::Client, id: &str) -> Option<Vec<String>> {
    let out = ec2
        .describe_internet_gateways()
        .filters(by_id("internet-gateway-id", id))
        .send()
        .await
        .unwrap();
    out.internet_gateways().first().map(|g| {
        g.attachments()
            .iter()
            .filter_map(|a| a.vpc_id().map(str::to_string))
            .collect()
    })
}

#[tokio::test]
async fn internet_gateway_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = moto.ec2();
    let a = create(&p, "aws:ec2:Vpc", "a", json!({"cidr_block": "10.0.0.0/16"})).await;
    let b = create(&p, "aws:ec2:Vpc", "b", json!({"cidr_block": "10.9.0.0/16"})).await;
    let igw = create(
        &p,
        "aws:ec2:InternetGateway",
        "igw",
        json!({"vpc_id": a.id}),
    )
    .await;
    assert_eq!(igw.properties["vpc_id"], json!(a.id));
    assert_eq!(igw_vpcs(&ec2, &igw.id).await, Some(vec![a.id.clone()]));
    assert_eq!(
        read_ids(&p, "aws:ec2:InternetGateway", &[&igw.id]).await,
        vec![igw.clone()]
    );

    // Update in place: the attachment moves to another VPC.
    let moved = update(
        &p,
        "aws:ec2:InternetGateway",
        &igw.id,
        json!({"vpc_id": a.id}),
        json!({"vpc_id": b.id, "tags": {"Name": "gw"}}),
    )
    .await;
    assert_eq!(moved.id, igw.id);
    assert_eq!(igw_vpcs(&ec2, &igw.id).await, Some(vec![b.id.clone()]));
    assert_eq!(moved.properties["tags"], json!({"Name": "gw"}));

    // A VPC with an attached gateway cannot be deleted; once the gateway is deleted (which
    // detaches it first) the VPC goes.
    delete(&p, "aws:ec2:InternetGateway", &igw.id).await;
    assert_eq!(igw_vpcs(&ec2, &igw.id).await, None);
    delete(&p, "aws:ec2:Vpc", &b.id).await;
    delete(&p, "aws:ec2:Vpc", &a.id).await;
    assert!(!vpc_exists(&ec2, &a.id).await && !vpc_exists(&ec2, &b.id).await);
}

#[tokio::test]
async fn route_table_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = moto.ec2();
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    let igw = create(
        &p,
        "aws:ec2:InternetGateway",
        "igw",
        json!({"vpc_id": vpc.id}),
    )
    .await;
    let s1 = create(
        &p,
        "aws:ec2:Subnet",
        "s1",
        json!({"vpc_id": vpc.id, "cidr_block": "10.0.1.0/24"}),
    )
    .await;
    let s2 = create(
        &p,
        "aws:ec2:Subnet",
        "s2",
        json!({"vpc_id": vpc.id, "cidr_block": "10.0.2.0/24"}),
    )
    .await;
    let desired = json!({
        "vpc_id": vpc.id,
        "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
        "subnet_ids": [s1.id],
    });
    let rt = create(&p, "aws:ec2:RouteTable", "public", desired.clone()).await;
    assert_eq!(rt.properties["routes"], desired["routes"]);
    assert_eq!(rt.properties["subnet_ids"], json!([s1.id]));

    let direct = |id: String| {
        let ec2 = ec2.clone();
        async move {
            let out = ec2
                .describe_route_tables()
                .filters(by_id("route-table-id", &id))
                .send()
                .await
                .unwrap();
            out.route_tables().first().cloned()
        }
    };
    let table = direct(rt.id.clone()).await.expect("route table exists");
    assert!(table
        .routes()
        .iter()
        .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
            && r.gateway_id() == Some(igw.id.as_str())));
    let subnets: Vec<_> = table
        .associations()
        .iter()
        .filter_map(|a| a.subnet_id())
        .collect();
    assert_eq!(subnets, vec![s1.id.as_str()]);
    assert_eq!(tag_map(table.tags())["terrace:resource"], "public");
    assert_eq!(
        read_ids(&p, "aws:ec2:RouteTable", &[&rt.id]).await,
        vec![rt.clone()]
    );

    // Update in place: another route added, association moved to s2.
    let changed = json!({
        "vpc_id": vpc.id,
        "routes": [
            {"destination_cidr_block": "0.0.0.0/0", "gateway_id": igw.id},
            {"destination_cidr_block": "192.168.0.0/16", "gateway_id": igw.id},
        ],
        "subnet_ids": [s2.id],
    });
    let updated = update(
        &p,
        "aws:ec2:RouteTable",
        &rt.id,
        desired.clone(),
        changed.clone(),
    )
    .await;
    assert_eq!(updated.properties["routes"], changed["routes"]);
    let table = direct(rt.id.clone()).await.unwrap();
    assert_eq!(
        table
            .routes()
            .iter()
            .filter(|r| r.gateway_id() == Some(igw.id.as_str()))
            .count(),
        2
    );
    let subnets: Vec<_> = table
        .associations()
        .iter()
        .filter_map(|a| a.subnet_id())
        .collect();
    assert_eq!(subnets, vec![s2.id.as_str()]);

    // Route removed again.
    let fewer = update(
        &p,
        "aws:ec2:RouteTable",
        &rt.id,
        changed.clone(),
        desired.clone(),
    )
    .await;
    assert_eq!(fewer.properties["routes"], desired["routes"]);

    // Force-new (vpc_id) is declared; delete disassociates first.
    let schema = p
        .schemas()
        .into_iter()
        .find(|s| s.type_name == "aws:ec2:RouteTable")
        .unwrap();
    assert!(schema.field("vpc_id").unwrap().force_new);
    delete(&p, "aws:ec2:RouteTable", &rt.id).await;
    assert!(direct(rt.id.clone()).await.is_none());
}

#[tokio::test]
async fn security_group_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = moto.ec2();
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.0.0.0/16"}),
    )
    .await;
    let desired = json!({
        "group_name": "db",
        "description": "database nodes",
        "vpc_id": vpc.id,
        "ingress": [
            {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.0.0.0/16"]},
        ],
    });
    let sg = create(&p, "aws:ec2:SecurityGroup", "db-sg", desired.clone()).await;
    assert_eq!(sg.properties["ingress"], desired["ingress"]);
    assert_eq!(
        sg.properties["egress"],
        json!([{"protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]}])
    );

    let direct = |id: String| {
        let ec2 = ec2.clone();
        async move {
            let out = ec2
                .describe_security_groups()
                .filters(by_id("group-id", &id))
                .send()
                .await
                .unwrap();
            out.security_groups().first().cloned()
        }
    };
    let group = direct(sg.id.clone()).await.expect("group exists");
    assert_eq!(group.ip_permissions().len(), 1);
    assert_eq!(group.ip_permissions()[0].from_port(), Some(5432));
    assert_eq!(tag_map(group.tags())["terrace:resource"], "db-sg");
    assert_eq!(
        read_ids(&p, "aws:ec2:SecurityGroup", &[&sg.id]).await,
        vec![sg.clone()]
    );

    // Update in place: ingress port changed, another source added, egress restricted.
    let changed = json!({
        "group_name": "db",
        "description": "database nodes",
        "vpc_id": vpc.id,
        "ingress": [
            {"protocol": "tcp", "from_port": 5433, "to_port": 5433, "cidr_blocks": ["10.0.0.0/16", "10.1.0.0/16"]},
        ],
        "egress": [
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]},
        ],
    });
    let updated = update(
        &p,
        "aws:ec2:SecurityGroup",
        &sg.id,
        desired,
        changed.clone(),
    )
    .await;
    assert_eq!(updated.id, sg.id);
    assert_eq!(updated.properties["ingress"], changed["ingress"]);
    assert_eq!(updated.properties["egress"], changed["egress"]);
    let group = direct(sg.id.clone()).await.unwrap();
    let ingress = group.ip_permissions();
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0].from_port(), Some(5433));
    assert_eq!(ingress[0].ip_ranges().len(), 2);
    assert_eq!(group.ip_permissions_egress().len(), 1);
    assert_eq!(group.ip_permissions_egress()[0].to_port(), Some(443));

    // Force-new (group_name): a new group, the old one deleted.
    let schema = p
        .schemas()
        .into_iter()
        .find(|s| s.type_name == "aws:ec2:SecurityGroup")
        .unwrap();
    assert!(schema.field("group_name").unwrap().force_new);
    let replacement = create(
        &p,
        "aws:ec2:SecurityGroup",
        "db-sg",
        json!({"group_name": "db2", "description": "database nodes", "vpc_id": vpc.id}),
    )
    .await;
    delete(&p, "aws:ec2:SecurityGroup", &sg.id).await;
    assert!(direct(sg.id.clone()).await.is_none());
    assert_eq!(
        direct(replacement.id.clone()).await.unwrap().group_name(),
        Some("db2")
    );
    delete(&p, "aws:ec2:SecurityGroup", &replacement.id).await;
    assert!(direct(replacement.id.clone()).await.is_none());
}

#[tokio::test]
async fn bad_input_is_a_clear_error_not_a_panic() {
    let moto = Moto::start();
    let p = moto.provider();
    for (type_name, properties) in [
        ("aws:ec2:Vpc", json!({})),
        ("aws:ec2:Vpc", json!({"cidr_block": 10})),
        (
            "aws:ec2:Vpc",
            json!({"cidr_block": "10.0.0.0/16", "colour": "red"}),
        ),
        (
            "aws:ec2:Vpc",
            json!({"cidr_block": "10.0.0.0/16", "tags": {"terrace:stack": "x"}}),
        ),
        (
            "aws:ec2:SecurityGroup",
            json!({"group_name": "g", "description": "d", "vpc_id": "vpc-1", "ingress": [{"protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}]}),
        ),
        (
            "aws:ec2:RouteTable",
            json!({"vpc_id": "vpc-1", "routes": [{"destination_cidr_block": "0.0.0.0/0"}]}),
        ),
        ("aws:ec2:Nope", json!({})),
    ] {
        let err = p
            .create(terrace::provider::CreateRequest {
                type_name: type_name.into(),
                region: None,
                properties: props(properties.clone()),
                ownership: owner("s", "r"),
                idempotency_key: "k".into(),
            })
            .await
            .expect_err("bad input is refused");
        assert_eq!(
            err.kind,
            terrace::provider::ErrorKind::Invalid,
            "{type_name} {properties}: {err}"
        );
    }
    // An AWS error keeps AWS's code.
    let err = p
        .create(terrace::provider::CreateRequest {
            type_name: "aws:ec2:Subnet".into(),
            region: None,
            properties: props(json!({"vpc_id": "vpc-00000000", "cidr_block": "10.0.0.0/24"})),
            ownership: owner("s", "r"),
            idempotency_key: "k".into(),
        })
        .await
        .expect_err("unknown VPC");
    assert_eq!(err.code, "InvalidVpcID.NotFound");
    assert_eq!(err.kind, terrace::provider::ErrorKind::NotFound);
}

#[tokio::test]
async fn nat_gateway_and_elastic_ip_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = moto.ec2();
    let vpc = create(
        &p,
        "aws:ec2:Vpc",
        "vpc",
        json!({"cidr_block": "10.4.0.0/16"}),
    )
    .await;
    let subnet = create(
        &p,
        "aws:ec2:Subnet",
        "public-a",
        json!({"vpc_id": vpc.id, "cidr_block": "10.4.65.0/24"}),
    )
    .await;
    let address = create(
        &p,
        "aws:ec2:Eip",
        "nat-address-a",
        json!({"domain": "vpc", "tags": {"Name": "a"}}),
    )
    .await;
    assert!(address.id.starts_with("eipalloc-"), "{address:?}");
    assert_eq!(address.properties["domain"], "vpc");
    assert_eq!(
        address.ownership,
        Some(owner("networks/eu/a", "nat-address-a"))
    );
    let public_ip = address.attributes["public_ip"]
        .as_str()
        .unwrap()
        .to_string();

    let gateway = create(
        &p,
        "aws:ec2:NatGateway",
        "nat-a",
        json!({"subnet_id": subnet.id, "allocation_id": address.id, "tags": {"Name": "a"}}),
    )
    .await;
    assert!(gateway.id.starts_with("nat-"), "{gateway:?}");
    assert_eq!(gateway.attributes["state"], "available");
    assert_eq!(gateway.properties["allocation_id"], json!(address.id));
    assert_eq!(gateway.attributes["public_ip"], json!(public_ip));
    // Direct check: the tags were written at creation, the gateway is in its subnet.
    let found = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(&gateway.id)
        .send()
        .await
        .unwrap();
    let nat = &found.nat_gateways()[0];
    assert_eq!(nat.subnet_id(), Some(subnet.id.as_str()));
    assert_eq!(tag_map(nat.tags())["terrace:resource"], "nat-a");
    // Found by ownership, as after a lost create answer.
    let owned = p
        .read(terrace::provider::ReadRequest {
            type_name: "aws:ec2:NatGateway".into(),
            region: None,
            ids: vec![],
            owner: Some(owner("networks/eu/a", "nat-a")),
        })
        .await
        .unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].id, gateway.id);

    // Deleted: EC2 keeps showing it `deleted`; the provider reads it as gone.
    delete(&p, "aws:ec2:NatGateway", &gateway.id).await;
    assert!(read_ids(&p, "aws:ec2:NatGateway", &[&gateway.id])
        .await
        .is_empty());
    let found = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(&gateway.id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        found.nat_gateways()[0].state(),
        Some(&aws_sdk_ec2::types::NatGatewayState::Deleted)
    );
    delete(&p, "aws:ec2:NatGateway", &gateway.id).await; // idempotent

    delete(&p, "aws:ec2:Eip", &address.id).await;
    let left = ec2.describe_addresses().send().await.unwrap();
    assert!(
        !left
            .addresses()
            .iter()
            .any(|a| a.allocation_id() == Some(address.id.as_str())),
        "released"
    );
    delete(&p, "aws:ec2:Eip", &address.id).await; // gone is deleted
}
