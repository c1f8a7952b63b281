//! Contract tests of the kinds the replica mesh uses — static routes, HA VPN gateways,
//! external VPN gateways, VPN tunnels, Cloud Router BGP sessions (`getRouterStatus`) and
//! network peering (`addPeering` / `removePeering`) — every body sent and received checked
//! against Compute's discovery document, every refusal in Google's error shape.

mod common;

use common::*;
use serde_json::{json, Value};

async fn insert(emu: &Emu, resource: &str, body: Value) -> Value {
    let name = body["name"].as_str().unwrap().to_string();
    let param = match resource {
        "routes" => "route",
        "vpnGateways" => "vpnGateway",
        "externalVpnGateways" => "externalVpnGateway",
        "vpnTunnels" => "vpnTunnel",
        "routers" => "router",
        "networks" => "network",
        "subnetworks" => "subnetwork",
        other => panic!("{other}"),
    };
    emu.mutate(resource, "insert", &[], Some(body)).await;
    emu.call(resource, "get", &[(param, &name)], None)
        .await
        .ok()
}

fn network(name: &str) -> Value {
    json!({"name": name, "autoCreateSubnetworks": false})
}

/// A network with one subnetwork, an HA VPN gateway and a router (ASN 64514).
async fn vpn_fixture(emu: &Emu) -> (Value, Value) {
    insert(emu, "networks", network("net")).await;
    insert(
        emu,
        "subnetworks",
        json!({"name": "sub", "network": link("global/networks/net"), "ipCidrRange": "10.17.0.0/20"}),
    )
    .await;
    let gateway = insert(
        emu,
        "vpnGateways",
        json!({"name": "gw", "network": link("global/networks/net")}),
    )
    .await;
    let peer = insert(
        emu,
        "externalVpnGateways",
        json!({"name": "aws", "redundancyType": "FOUR_IPS_REDUNDANCY", "interfaces": [
            {"id": 0, "ipAddress": "52.1.1.1"}, {"id": 1, "ipAddress": "52.1.1.2"},
            {"id": 2, "ipAddress": "52.1.1.3"}, {"id": 3, "ipAddress": "52.1.1.4"}]}),
    )
    .await;
    insert(
        emu,
        "routers",
        json!({"name": "mesh", "network": link("global/networks/net"), "bgp": {"asn": 64514}}),
    )
    .await;
    (gateway, peer)
}

#[tokio::test]
async fn ha_vpn_gateways_have_two_addressed_interfaces_and_peers_follow_redundancy() {
    let emu = Emu::start().await;
    let (gateway, peer) = vpn_fixture(&emu).await;
    assert_eq!(gateway["kind"], "compute#vpnGateway");
    let interfaces = gateway["vpnInterfaces"].as_array().unwrap();
    assert_eq!(interfaces.len(), 2);
    assert_ne!(interfaces[0]["ipAddress"], interfaces[1]["ipAddress"]);
    assert_eq!(gateway["stackType"], "IPV4_ONLY");
    assert_eq!(peer["interfaces"].as_array().unwrap().len(), 4);
    // Two interfaces for a FOUR_IPS_REDUNDANCY gateway, an id outside the type's, no address.
    for interfaces in [
        json!([{"id": 0, "ipAddress": "52.1.1.1"}, {"id": 1, "ipAddress": "52.1.1.2"}]),
        json!([{"id": 0, "ipAddress": "52.1.1.1"}, {"id": 5, "ipAddress": "52.1.1.2"},
               {"id": 2, "ipAddress": "52.1.1.3"}, {"id": 3, "ipAddress": "52.1.1.4"}]),
    ] {
        let body = json!({"name": "bad", "redundancyType": "FOUR_IPS_REDUNDANCY", "interfaces": interfaces});
        emu.call("externalVpnGateways", "insert", &[], Some(body))
            .await
            .err(400, "invalid");
    }
    let body = json!({"name": "bad", "redundancyType": "SINGLE_IP_INTERNALLY_REDUNDANT", "interfaces": [{"id": 0}]});
    emu.call("externalVpnGateways", "insert", &[], Some(body))
        .await
        .err(400, "required");
    // The gateway's network is in use by it.
    emu.call("networks", "delete", &[("network", "net")], None)
        .await
        .err(400, "resourceInUseByAnotherResource");
    emu.stop().await;
}

#[tokio::test]
async fn a_tunnel_is_established_once_its_router_carries_a_bgp_peer_on_it() {
    let emu = Emu::start().await;
    vpn_fixture(&emu).await;
    let tunnel_body = json!({
        "name": "t0", "vpnGateway": link(&format!("regions/{REGION}/vpnGateways/gw")),
        "vpnGatewayInterface": 0, "peerExternalGateway": link("global/externalVpnGateways/aws"),
        "peerExternalGatewayInterface": 0, "router": link(&format!("regions/{REGION}/routers/mesh")),
        "sharedSecret": "s3cret-not-shown", "ikeVersion": 2,
    });
    // No such peer interface; no shared secret.
    let mut bad = tunnel_body.clone();
    bad["peerExternalGatewayInterface"] = json!(7);
    emu.call("vpnTunnels", "insert", &[], Some(bad))
        .await
        .err(400, "invalid");
    let mut bad = tunnel_body.clone();
    bad.as_object_mut().unwrap().remove("sharedSecret");
    emu.call("vpnTunnels", "insert", &[], Some(bad))
        .await
        .err(400, "required");
    let tunnel = insert(&emu, "vpnTunnels", tunnel_body).await;
    assert_eq!(tunnel["status"], "WAITING_FOR_FULL_CONFIG");
    assert!(
        !tunnel.to_string().contains("s3cret-not-shown"),
        "the secret is never answered: {tunnel}"
    );
    assert!(tunnel["sharedSecretHash"].is_string());

    // The router's BGP session on the tunnel: interface, then peer.
    let router_link = link(&format!("regions/{REGION}/routers/mesh"));
    let patch = json!({
        "interfaces": [{"name": "if-t0", "ipRange": "169.254.10.2/30",
                        "linkedVpnTunnel": tunnel["selfLink"]}],
        "bgpPeers": [{"name": "aws-t0", "interfaceName": "if-t0", "ipAddress": "169.254.10.2",
                      "peerIpAddress": "169.254.10.1", "peerAsn": 64512,
                      "customLearnedIpRanges": [{"range": "10.16.0.0/16"}]}],
    });
    emu.mutate("routers", "patch", &[("router", "mesh")], Some(patch))
        .await;
    let tunnel = emu
        .call("vpnTunnels", "get", &[("vpnTunnel", "t0")], None)
        .await
        .ok();
    assert_eq!(tunnel["status"], "ESTABLISHED");
    let status = emu
        .call("routers", "getRouterStatus", &[("router", "mesh")], None)
        .await
        .ok();
    let result = &status["result"];
    assert_eq!(result["bgpPeerStatus"][0]["status"], "UP");
    assert_eq!(result["bestRoutes"][0]["destRange"], "10.16.0.0/16");
    assert_eq!(
        result["bestRoutes"][0]["nextHopVpnTunnel"],
        tunnel["selfLink"]
    );
    assert_eq!(result["bestRoutes"][0]["routeType"], "BGP");
    let _ = router_link;

    // Refusals: a public ASN, a non-link-local interface range, a peer on no interface, a
    // peer address outside its interface's range.
    for patch in [
        json!({"bgp": {"asn": 15169}}),
        json!({"interfaces": [{"name": "x", "ipRange": "10.0.0.1/30"}]}),
        json!({"interfaces": [{"name": "x", "ipRange": "169.254.20.2/30"}],
               "bgpPeers": [{"name": "p", "interfaceName": "y", "peerAsn": 64512}]}),
        json!({"interfaces": [{"name": "x", "ipRange": "169.254.20.2/30"}],
               "bgpPeers": [{"name": "p", "interfaceName": "x", "peerAsn": 64512,
                             "peerIpAddress": "169.254.30.1"}]}),
    ] {
        emu.call("routers", "patch", &[("router", "mesh")], Some(patch))
            .await
            .err(400, "invalid");
    }

    // Without the peer the tunnel waits again, and the router installs nothing.
    emu.mutate(
        "routers",
        "patch",
        &[("router", "mesh")],
        Some(json!({"bgpPeers": []})),
    )
    .await;
    let tunnel = emu
        .call("vpnTunnels", "get", &[("vpnTunnel", "t0")], None)
        .await
        .ok();
    assert_eq!(tunnel["status"], "WAITING_FOR_FULL_CONFIG");
    let status = emu
        .call("routers", "getRouterStatus", &[("router", "mesh")], None)
        .await
        .ok();
    assert!(status["result"]["bestRoutes"]
        .as_array()
        .is_none_or(Vec::is_empty));
    emu.stop().await;
}

#[tokio::test]
async fn static_routes_take_exactly_one_next_hop() {
    let emu = Emu::start().await;
    insert(&emu, "networks", network("net")).await;
    let route = insert(
        &emu,
        "routes",
        json!({"name": "out", "network": link("global/networks/net"), "destRange": "0.0.0.0/0",
               "nextHopGateway": link("global/gateways/default-internet-gateway")}),
    )
    .await;
    assert_eq!(route["priority"], 1000);
    assert_eq!(route["routeType"], "STATIC");
    let list = emu.call("routes", "list", &[], None).await.ok();
    assert_eq!(list["kind"], "compute#routeList");
    for body in [
        json!({"name": "r", "network": link("global/networks/net"), "destRange": "10.0.0.0/8"}),
        json!({"name": "r", "network": link("global/networks/net"), "destRange": "10.0.0.0/8",
               "nextHopIp": "10.0.0.5",
               "nextHopGateway": link("global/gateways/default-internet-gateway")}),
        json!({"name": "r", "network": link("global/networks/net"), "destRange": "bogus",
               "nextHopIp": "10.0.0.5"}),
        json!({"name": "r", "network": link("global/networks/net"), "destRange": "10.0.0.0/8",
               "nextHopIp": "10.0.0.5", "priority": 70000}),
    ] {
        let reply = emu.call("routes", "insert", &[], Some(body)).await;
        assert_eq!(reply.status, 400, "{:#}", reply.body);
    }
    emu.mutate("routes", "delete", &[("route", "out")], None)
        .await;
    emu.call("routes", "get", &[("route", "out")], None)
        .await
        .err(404, "notFound");
    emu.stop().await;
}

#[tokio::test]
async fn network_peering_is_active_only_while_both_sides_match() {
    let emu = Emu::start().await;
    for (name, range) in [
        ("a", "10.17.0.0/20"),
        ("b", "10.20.0.0/20"),
        ("c", "10.17.8.0/21"),
    ] {
        insert(&emu, "networks", network(name)).await;
        insert(
            &emu,
            "subnetworks",
            json!({"name": format!("sub-{name}"), "network": link(&format!("global/networks/{name}")),
                   "ipCidrRange": range}),
        )
        .await;
    }
    let add = |peer: &str| {
        json!({"networkPeering": {"name": format!("to-{peer}"),
               "network": link(&format!("global/networks/{peer}")), "exchangeSubnetRoutes": true}})
    };
    let peerings = |v: &Value| v["peerings"].clone();
    emu.mutate(
        "networks",
        "addPeering",
        &[("network", "a")],
        Some(add("b")),
    )
    .await;
    let a = emu
        .call("networks", "get", &[("network", "a")], None)
        .await
        .ok();
    assert_eq!(peerings(&a)[0]["state"], "INACTIVE");
    assert_eq!(peerings(&a)[0]["network"], link("global/networks/b"));
    emu.mutate(
        "networks",
        "addPeering",
        &[("network", "b")],
        Some(add("a")),
    )
    .await;
    for name in ["a", "b"] {
        let net = emu
            .call("networks", "get", &[("network", name)], None)
            .await
            .ok();
        assert_eq!(peerings(&net)[0]["state"], "ACTIVE", "{name}: {net:#}");
    }
    // Overlapping ranges, a second peering with the same network, a peering with itself.
    emu.call(
        "networks",
        "addPeering",
        &[("network", "a")],
        Some(add("c")),
    )
    .await
    .err(400, "invalid");
    let mut again = add("b");
    again["networkPeering"]["name"] = json!("again");
    emu.call("networks", "addPeering", &[("network", "a")], Some(again))
        .await
        .err(400, "invalid");
    emu.call(
        "networks",
        "addPeering",
        &[("network", "a")],
        Some(add("a")),
    )
    .await
    .err(400, "invalid");
    // Removing one side leaves the other INACTIVE.
    emu.mutate(
        "networks",
        "removePeering",
        &[("network", "a")],
        Some(json!({"name": "to-b"})),
    )
    .await;
    let a = emu
        .call("networks", "get", &[("network", "a")], None)
        .await
        .ok();
    assert!(a.get("peerings").is_none(), "{a:#}");
    let b = emu
        .call("networks", "get", &[("network", "b")], None)
        .await
        .ok();
    assert_eq!(peerings(&b)[0]["state"], "INACTIVE");
    emu.call(
        "networks",
        "removePeering",
        &[("network", "a")],
        Some(json!({"name": "to-b"})),
    )
    .await
    .err(400, "invalid");
    emu.stop().await;
}
