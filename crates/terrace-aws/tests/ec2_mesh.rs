//! The replica mesh's AWS types against moto: a VPC peering connection requested in one region
//! and accepted in another, a route to the peer's range in a route table that hands that range
//! over (`external_route_ranges`), read back, in place target change, and delete; a virtual
//! private gateway moved between VPCs and a customer gateway (the AWS side of the HA VPN to come).
//! Every effect is checked with a direct EC2 call in the region concerned.

mod support;

use serde_json::{json, Value as Json};
use support::*;
use terrace::provider::{CreateRequest, DeleteRequest, Observed, Provider, ReadRequest};
use terrace::provider::{Properties, UpdateRequest};

const HOME: &str = "us-east-1";
const PEER: &str = "eu-west-1";

async fn create_at(
    p: &impl Provider,
    region: &str,
    type_name: &str,
    name: &str,
    v: Json,
) -> Observed {
    p.create(CreateRequest {
        type_name: type_name.into(),
        region: Some(region.into()),
        properties: props(v),
        ownership: owner("mesh/eu", name),
        idempotency_key: format!("mesh/eu/{name}/create"),
    })
    .await
    .unwrap_or_else(|e| panic!("create {type_name} {name}: {e:?}"))
}

async fn read_at(p: &impl Provider, region: &str, type_name: &str, id: &str) -> Vec<Observed> {
    p.read(ReadRequest {
        type_name: type_name.into(),
        region: Some(region.into()),
        ids: vec![id.into()],
        owner: None,
    })
    .await
    .unwrap()
}

async fn delete_at(p: &impl Provider, region: &str, type_name: &str, id: &str) {
    p.delete(DeleteRequest {
        type_name: type_name.into(),
        region: Some(region.into()),
        id: id.into(),
        properties: Properties::new(),
        idempotency_key: format!("{id}/delete"),
    })
    .await
    .unwrap_or_else(|e| panic!("delete {type_name} {id}: {e:?}"))
}

/// Updates a route table with the properties it already has (the engine's repair of drift).
async fn reapply(p: &impl Provider, id: &str, properties: &Json, key: &str) {
    let update = UpdateRequest {
        type_name: "aws:ec2:RouteTable".into(),
        region: Some(HOME.into()),
        id: id.into(),
        old: props(properties.clone()),
        new: props(properties.clone()),
        ownership: owner("mesh/eu", "rt"),
        idempotency_key: key.into(),
    };
    p.update(update).await.unwrap();
}

fn ec2_in(moto: &Moto, region: &str) -> aws_sdk_ec2::Client {
    let base = ec2_at(&moto.endpoint, true);
    let config = base
        .config()
        .to_builder()
        .region(aws_sdk_ec2::config::Region::new(region.to_string()))
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

/// (destination, peering connection, state) of every route of a table, as EC2 lists them.
async fn routes_in(ec2: &aws_sdk_ec2::Client, table: &str) -> Vec<(String, String, String)> {
    let out = ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        .unwrap();
    out.route_tables()[0]
        .routes()
        .iter()
        .map(|r| {
            (
                r.destination_cidr_block().unwrap_or_default().to_string(),
                r.vpc_peering_connection_id()
                    .or(r.gateway_id())
                    .unwrap_or_default()
                    .to_string(),
                r.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

async fn status_in(ec2: &aws_sdk_ec2::Client, pcx: &str) -> String {
    let out = ec2
        .describe_vpc_peering_connections()
        .vpc_peering_connection_ids(pcx)
        .send()
        .await
        .unwrap();
    out.vpc_peering_connections()[0]
        .status()
        .and_then(|s| s.code())
        .map(|c| c.as_str().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn cross_region_peering_with_routes_handed_over_by_the_route_table() {
    let moto = Moto::start();
    let p = moto.provider();
    let (home_ec2, peer_ec2) = (ec2_in(&moto, HOME), ec2_in(&moto, PEER));
    let home = create_at(
        &p,
        HOME,
        "aws:ec2:Vpc",
        "home",
        json!({"cidr_block": "10.16.0.0/16"}),
    )
    .await;
    let peer = create_at(
        &p,
        PEER,
        "aws:ec2:Vpc",
        "peer",
        json!({"cidr_block": "10.18.0.0/16"}),
    )
    .await;
    let gateway = create_at(
        &p,
        HOME,
        "aws:ec2:InternetGateway",
        "igw",
        json!({"vpc_id": home.id}),
    )
    .await;
    let table_props = json!({
        "vpc_id": home.id,
        "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
        "external_route_ranges": ["10.16.0.0/12"],
    });
    let table = create_at(&p, HOME, "aws:ec2:RouteTable", "rt", table_props.clone()).await;
    assert_eq!(
        table.properties["external_route_ranges"],
        json!(["10.16.0.0/12"])
    );

    // Requester in its region, accepter in the peer's.
    let pcx = create_at(
        &p,
        HOME,
        "aws:ec2:VpcPeeringConnection",
        "pcx",
        json!({"vpc_id": home.id, "peer_vpc_id": peer.id, "peer_region": PEER, "tags": {"Name": "a-b"}}),
    )
    .await;
    assert!(pcx.id.starts_with("pcx-"));
    assert_eq!(pcx.attributes["status"], "pending-acceptance");
    assert_eq!(pcx.properties["peer_region"], PEER);
    assert_eq!(pcx.attributes["peer_cidr_block"], "10.18.0.0/16");
    assert_eq!(pcx.ownership, Some(owner("mesh/eu", "pcx")));
    // Pending: the accepter does not exist yet.
    let accepter = "aws:ec2:VpcPeeringConnectionAccepter";
    let accepter_id = format!("{}_accepter", pcx.id);
    assert!(read_at(&p, PEER, accepter, &accepter_id).await.is_empty());
    let accepted = create_at(
        &p,
        PEER,
        accepter,
        "accept",
        json!({"vpc_peering_connection_id": pcx.id}),
    )
    .await;
    assert_eq!(accepted.id, accepter_id);
    assert_eq!(
        accepted.properties["vpc_peering_connection_id"],
        pcx.id.as_str()
    );
    assert_eq!(accepted.attributes["status"], "active");
    assert_eq!(status_in(&home_ec2, &pcx.id).await, "active");
    assert_eq!(status_in(&peer_ec2, &pcx.id).await, "active");
    // Accepting again (a retried create) adopts the active connection.
    create_at(
        &p,
        PEER,
        accepter,
        "accept",
        json!({"vpc_peering_connection_id": pcx.id}),
    )
    .await;

    // A route to the peer's range in the table.
    let route_props = json!({"route_table_id": table.id, "destination_cidr_block": "10.18.0.0/16",
                             "vpc_peering_connection_id": pcx.id});
    let route = create_at(&p, HOME, "aws:ec2:Route", "route", route_props.clone()).await;
    assert_eq!(route.id, format!("{}_10.18.0.0/16", table.id));
    assert_eq!(route.attributes["state"], "active");
    assert!(routes_in(&home_ec2, &table.id).await.contains(&(
        "10.18.0.0/16".into(),
        pcx.id.clone(),
        "active".into()
    )));
    // A retried create adopts the route with the same target.
    create_at(&p, HOME, "aws:ec2:Route", "route", route_props.clone()).await;

    // The table neither reads nor removes the route it handed over.
    let read = read_at(&p, HOME, "aws:ec2:RouteTable", &table.id).await;
    assert_eq!(read[0].properties["routes"], table_props["routes"]);
    reapply(&p, &table.id, &table_props, "rt/update").await;
    assert!(routes_in(&home_ec2, &table.id)
        .await
        .iter()
        .any(|r| r.0 == "10.18.0.0/16"));
    // A route outside the handed-over ranges is the table's: an update removes it.
    home_ec2
        .create_route()
        .route_table_id(&table.id)
        .destination_cidr_block("192.168.0.0/16")
        .vpc_peering_connection_id(&pcx.id)
        .send()
        .await
        .unwrap();
    let read = read_at(&p, HOME, "aws:ec2:RouteTable", &table.id).await;
    assert_eq!(read[0].properties["routes"].as_array().unwrap().len(), 2);
    reapply(&p, &table.id, &table_props, "rt/update2").await;
    let destinations: Vec<String> = routes_in(&home_ec2, &table.id)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(
        !destinations.contains(&"192.168.0.0/16".to_string()),
        "{destinations:?}"
    );
    assert!(
        destinations.contains(&"10.18.0.0/16".to_string()),
        "{destinations:?}"
    );

    // Delete in the engine's order: route, accepter (leaves the connection), requester.
    delete_at(&p, HOME, "aws:ec2:Route", &route.id).await;
    assert!(!routes_in(&home_ec2, &table.id)
        .await
        .iter()
        .any(|r| r.0 == "10.18.0.0/16"));
    assert!(read_at(&p, HOME, "aws:ec2:Route", &route.id)
        .await
        .is_empty());
    delete_at(&p, HOME, "aws:ec2:Route", &route.id).await;
    delete_at(&p, PEER, accepter, &accepter_id).await;
    assert_eq!(status_in(&peer_ec2, &pcx.id).await, "active");
    delete_at(&p, HOME, "aws:ec2:VpcPeeringConnection", &pcx.id).await;
    assert_eq!(status_in(&home_ec2, &pcx.id).await, "deleted");
    assert!(read_at(&p, HOME, "aws:ec2:VpcPeeringConnection", &pcx.id)
        .await
        .is_empty());
    assert!(read_at(&p, PEER, accepter, &accepter_id).await.is_empty());
    delete_at(&p, HOME, "aws:ec2:VpcPeeringConnection", &pcx.id).await;
}

#[tokio::test]
async fn a_read_by_owner_finds_only_the_owners_connections() {
    let moto = Moto::start();
    let p = moto.provider();
    let a = create_at(
        &p,
        HOME,
        "aws:ec2:Vpc",
        "a",
        json!({"cidr_block": "10.16.0.0/16"}),
    )
    .await;
    let b = create_at(
        &p,
        HOME,
        "aws:ec2:Vpc",
        "b",
        json!({"cidr_block": "10.17.0.0/16"}),
    )
    .await;
    let ours = create_at(
        &p,
        HOME,
        "aws:ec2:VpcPeeringConnection",
        "ours",
        json!({"vpc_id": a.id, "peer_vpc_id": b.id, "peer_region": HOME}),
    )
    .await;
    // Another stack's connection between the same VPCs.
    p.create(CreateRequest {
        type_name: "aws:ec2:VpcPeeringConnection".into(),
        region: Some(HOME.into()),
        properties: props(json!({"vpc_id": b.id, "peer_vpc_id": a.id, "peer_region": HOME})),
        ownership: owner("mesh/us", "theirs"),
        idempotency_key: "theirs".into(),
    })
    .await
    .unwrap();
    let found = p
        .read(ReadRequest {
            type_name: "aws:ec2:VpcPeeringConnection".into(),
            region: Some(HOME.into()),
            ids: vec![],
            owner: Some(owner("mesh/eu", "")),
        })
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        vec![ours.id.as_str()]
    );
}

async fn vgw_attachments(ec2: &aws_sdk_ec2::Client, id: &str) -> Vec<(String, String)> {
    let out = ec2
        .describe_vpn_gateways()
        .vpn_gateway_ids(id)
        .send()
        .await
        .unwrap();
    out.vpn_gateways()[0]
        .vpc_attachments()
        .iter()
        .map(|a| {
            (
                a.vpc_id().unwrap_or_default().to_string(),
                a.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_vpn_gateway_moves_between_vpcs_and_a_customer_gateway_names_the_peer() {
    let moto = Moto::start();
    let p = moto.provider();
    let ec2 = ec2_in(&moto, HOME);
    let a = create_at(
        &p,
        HOME,
        "aws:ec2:Vpc",
        "a",
        json!({"cidr_block": "10.16.0.0/16"}),
    )
    .await;
    let b = create_at(
        &p,
        HOME,
        "aws:ec2:Vpc",
        "b",
        json!({"cidr_block": "10.18.0.0/16"}),
    )
    .await;
    let first = json!({"vpc_id": a.id, "amazon_side_asn": 64512, "tags": {"Name": "to-gcp"}});
    let vgw = create_at(&p, HOME, "aws:ec2:VpnGateway", "vgw", first.clone()).await;
    assert!(vgw.id.starts_with("vgw-"));
    assert_eq!(vgw.properties["vpc_id"], a.id.as_str());
    assert_eq!(vgw.attributes["attachment_state"], "attached");
    assert!(vgw_attachments(&ec2, &vgw.id)
        .await
        .contains(&(a.id.clone(), "attached".into())));
    assert_eq!(
        read_at(&p, HOME, "aws:ec2:VpnGateway", &vgw.id).await,
        vec![vgw.clone()]
    );

    // Moved to VPC b in place: detached from a, attached to b.
    let second = json!({"vpc_id": b.id, "amazon_side_asn": 64512, "tags": {"Name": "to-gcp"}});
    let moved = p
        .update(UpdateRequest {
            type_name: "aws:ec2:VpnGateway".into(),
            region: Some(HOME.into()),
            id: vgw.id.clone(),
            old: props(first),
            new: props(second),
            ownership: owner("mesh/eu", "vgw"),
            idempotency_key: "vgw/update".into(),
        })
        .await
        .unwrap();
    assert_eq!(moved.properties["vpc_id"], b.id.as_str());
    let attachments = vgw_attachments(&ec2, &vgw.id).await;
    assert!(
        attachments.contains(&(b.id.clone(), "attached".into())),
        "{attachments:?}"
    );
    assert!(
        !attachments.contains(&(a.id.clone(), "attached".into())),
        "{attachments:?}"
    );

    let cgw = create_at(
        &p,
        HOME,
        "aws:ec2:CustomerGateway",
        "cgw",
        json!({"bgp_asn": 64514, "ip_address": "203.0.113.7", "tags": {"Name": "gcp-0"}}),
    )
    .await;
    assert!(cgw.id.starts_with("cgw-"));
    assert_eq!(cgw.properties["bgp_asn"], 64514);
    assert_eq!(cgw.properties["ip_address"], "203.0.113.7");
    let listed = ec2
        .describe_customer_gateways()
        .customer_gateway_ids(&cgw.id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.customer_gateways()[0].ip_address(),
        Some("203.0.113.7")
    );

    // Deletes: the gateway is detached first; both read as absent afterwards.
    delete_at(&p, HOME, "aws:ec2:CustomerGateway", &cgw.id).await;
    assert!(read_at(&p, HOME, "aws:ec2:CustomerGateway", &cgw.id)
        .await
        .is_empty());
    delete_at(&p, HOME, "aws:ec2:VpnGateway", &vgw.id).await;
    assert!(read_at(&p, HOME, "aws:ec2:VpnGateway", &vgw.id)
        .await
        .is_empty());
    delete_at(&p, HOME, "aws:ec2:VpnGateway", &vgw.id).await;
}
