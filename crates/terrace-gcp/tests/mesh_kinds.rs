//! The replica mesh's GCP types against the Compute emulator: an HA VPN gateway (two
//! interfaces with addresses, read back), an external VPN gateway of four interfaces, a Cloud
//! Router carrying BGP `interfaces` and `bgp_peers` (changed in place), and a network peering
//! on each side of a pair (ACTIVE once both exist). Each effect is checked by plain REST.

mod common;

use common::{object, Env, REGION};
use gce_emulator::Config;
use serde_json::json;
use terrace::provider::{Provider, UpdateRequest};

#[tokio::test]
async fn vpn_gateways_routers_with_bgp_and_network_peerings() {
    let env = Env::start(Config::default()).await;
    let net = env
        .create(
            "gcp:compute:Network",
            None,
            "net",
            json!({"auto_create_subnetworks": false}),
        )
        .await;
    let vpn = env
        .create(
            "gcp:compute:VpnGateway",
            Some(REGION),
            "vpn",
            json!({"network": net.id, "labels": {"owner": "db"}}),
        )
        .await;
    let interfaces = vpn.attributes["vpn_interfaces"].as_array().unwrap();
    assert_eq!(interfaces.len(), 2, "{vpn:?}");
    assert!(interfaces[0]["ip_address"].is_string() || interfaces[0]["ipAddress"].is_string());
    let listed = env
        .rest_list(&format!("regions/{REGION}/vpnGateways"))
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["labels"]["owner"], "db");

    let peer = env
        .create(
            "gcp:compute:ExternalVpnGateway",
            None,
            "aws",
            json!({"redundancy_type": "FOUR_IPS_REDUNDANCY", "interfaces": [
                {"id": 0, "ip_address": "52.1.1.1"}, {"id": 1, "ip_address": "52.1.1.2"},
                {"id": 2, "ip_address": "52.1.1.3"}, {"id": 3, "ip_address": "52.1.1.4"}]}),
        )
        .await;
    let listed = env.rest_list("global/externalVpnGateways").await;
    assert_eq!(listed[0]["interfaces"].as_array().unwrap().len(), 4);

    // A router's BGP session, added in place (no tunnel yet: the interface stands alone).
    let router_props = json!({"network": net.id, "bgp": {"asn": 64514}});
    let router = env
        .create(
            "gcp:compute:Router",
            Some(REGION),
            "router",
            router_props.clone(),
        )
        .await;
    let with_peer = json!({"network": net.id, "bgp": {"asn": 64514},
        "interfaces": [{"name": "if-0", "ip_range": "169.254.10.2/30"}],
        "bgp_peers": [{"name": "aws-0", "interface_name": "if-0", "ip_address": "169.254.10.2",
                       "peer_ip_address": "169.254.10.1", "peer_asn": 64512,
                       "custom_learned_ip_ranges": [{"range": "10.16.0.0/16"}]}]});
    let updated = env
        .provider
        .update(UpdateRequest {
            type_name: "gcp:compute:Router".into(),
            region: Some(REGION.into()),
            id: router.id.clone(),
            old: object(router_props),
            new: object(with_peer),
            ownership: common::owner("router"),
            idempotency_key: "router/update".into(),
        })
        .await
        .expect("router update");
    assert_eq!(updated.properties["bgp_peers"][0]["peer_asn"], 64512);
    let listed = env.rest_list(&format!("regions/{REGION}/routers")).await;
    assert_eq!(listed[0]["bgpPeers"][0]["interfaceName"], "if-0");

    // Network peering: both sides make it ACTIVE.
    let other = env
        .create(
            "gcp:compute:Network",
            None,
            "other",
            json!({"auto_create_subnetworks": false}),
        )
        .await;
    let there = env
        .create(
            "gcp:compute:NetworkPeering",
            None,
            "to-other",
            json!({"name": "mesh-other", "network": net.id, "peer_network": other.id}),
        )
        .await;
    assert_eq!(there.attributes["state"], "INACTIVE");
    let back = env
        .create(
            "gcp:compute:NetworkPeering",
            None,
            "back",
            json!({"name": "mesh-net", "network": other.id, "peer_network": net.id}),
        )
        .await;
    assert_eq!(back.attributes["state"], "ACTIVE");
    let read = env
        .read_ids(
            "gcp:compute:NetworkPeering",
            None,
            std::slice::from_ref(&there.id),
        )
        .await;
    assert_eq!(read[0].attributes["state"], "ACTIVE");

    // Deletes: the peerings, then everything else; the networks are free again.
    for (t, region, id) in [
        ("gcp:compute:NetworkPeering", None, &there.id),
        ("gcp:compute:NetworkPeering", None, &back.id),
        ("gcp:compute:Router", Some(REGION), &router.id),
        ("gcp:compute:VpnGateway", Some(REGION), &vpn.id),
        ("gcp:compute:ExternalVpnGateway", None, &peer.id),
        ("gcp:compute:Network", None, &other.id),
        ("gcp:compute:Network", None, &net.id),
    ] {
        env.delete(t, region, id).await;
    }
    assert!(env.rest_list("global/networks").await.is_empty());
    env.stop().await;
}

/// An HA VPN tunnel and its BGP session: the tunnel names a bare router and waits for its
/// configuration; the session (`gcp:compute:RouterPeer`) adds an interface linked to the tunnel
/// and a peer to the router, which makes the tunnel ESTABLISHED and installs the custom learned
/// range; two sessions on one router, created at once, are both kept; the shared secret is
/// never read back (Compute masks it), and a session removed leaves the other in place.
#[tokio::test]
async fn vpn_tunnels_and_router_sessions() {
    let env = Env::start(Config::default()).await;
    let net = env
        .create(
            "gcp:compute:Network",
            None,
            "net",
            json!({"auto_create_subnetworks": false}),
        )
        .await;
    let vpn = env
        .create(
            "gcp:compute:VpnGateway",
            Some(REGION),
            "vpn",
            json!({"network": net.id}),
        )
        .await;
    let peer = env
        .create(
            "gcp:compute:ExternalVpnGateway",
            None,
            "aws",
            json!({"redundancy_type": "TWO_IPS_REDUNDANCY", "interfaces": [
                {"id": 0, "ip_address": "52.1.1.1"}, {"id": 1, "ip_address": "52.1.1.2"}]}),
        )
        .await;
    let router = env
        .create(
            "gcp:compute:Router",
            Some(REGION),
            "router",
            json!({"network": net.id, "bgp": {"asn": 65010}}),
        )
        .await;
    let mut tunnels = Vec::new();
    for i in 0..2 {
        let tunnel = env
            .create(
                "gcp:compute:VpnTunnel",
                Some(REGION),
                &format!("tunnel-{i}"),
                json!({"vpn_gateway": vpn.id, "vpn_gateway_interface": i,
                       "peer_external_gateway": peer.id, "peer_external_gateway_interface": i,
                       "router": router.id, "ike_version": 2,
                       "shared_secret": format!("Tunnel.Secret_{i}xyz"),
                       "labels": {"owner": "db"}}),
            )
            .await;
        assert_eq!(tunnel.attributes["status"], "WAITING_FOR_FULL_CONFIG");
        assert!(
            !tunnel.properties.contains_key("shared_secret"),
            "the secret is not read back: {tunnel:?}"
        );
        tunnels.push(tunnel);
    }
    let listed = env.rest_list(&format!("regions/{REGION}/vpnTunnels")).await;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t["sharedSecret"] == "*************"));

    // Both sessions at once: the per-router lock keeps both.
    let session = |i: usize| {
        json!({"name": format!("aws-{i}"), "router": router.id,
               "ip_range": format!("169.254.1{i}.2/30"), "vpn_tunnel": tunnels[i].id,
               "peer_ip_address": format!("169.254.1{i}.1"), "peer_asn": 64512,
               "custom_learned_ip_ranges": ["10.16.0.0/16"]})
    };
    let (a, b) = tokio::join!(
        env.create("gcp:compute:RouterPeer", Some(REGION), "bgp-0", session(0)),
        env.create("gcp:compute:RouterPeer", Some(REGION), "bgp-1", session(1)),
    );
    assert_eq!(a.attributes["ip_address"], "169.254.10.2");
    assert_eq!(
        b.properties["custom_learned_ip_ranges"],
        json!(["10.16.0.0/16"])
    );
    let routers = env.rest_list(&format!("regions/{REGION}/routers")).await;
    assert_eq!(
        routers[0]["interfaces"].as_array().unwrap().len(),
        2,
        "{routers:?}"
    );
    assert_eq!(routers[0]["bgpPeers"].as_array().unwrap().len(), 2);
    let listed = env.rest_list(&format!("regions/{REGION}/vpnTunnels")).await;
    assert!(
        listed.iter().all(|t| t["status"] == "ESTABLISHED"),
        "{listed:?}"
    );

    // Read back by id: what was created; the router itself still plans no change for
    // the sessions (its own fields do not name them).
    let read = env
        .read_ids(
            "gcp:compute:RouterPeer",
            Some(REGION),
            std::slice::from_ref(&a.id),
        )
        .await;
    assert_eq!(read[0].properties, a.properties);

    env.delete("gcp:compute:RouterPeer", Some(REGION), &a.id)
        .await;
    let routers = env.rest_list(&format!("regions/{REGION}/routers")).await;
    assert_eq!(routers[0]["bgpPeers"].as_array().unwrap().len(), 1);
    assert_eq!(routers[0]["bgpPeers"][0]["name"], "aws-1");
    let listed = env.rest_list(&format!("regions/{REGION}/vpnTunnels")).await;
    let status = |name: &str| {
        listed
            .iter()
            .find(|t| t["selfLink"] == json!(name))
            .map(|t| t["status"].clone())
    };
    assert_eq!(
        status(&tunnels[0].id),
        Some(json!("WAITING_FOR_FULL_CONFIG"))
    );
    assert_eq!(status(&tunnels[1].id), Some(json!("ESTABLISHED")));
    // Deleting again is a no-op.
    env.delete("gcp:compute:RouterPeer", Some(REGION), &a.id)
        .await;

    for (t, region, id) in [
        ("gcp:compute:RouterPeer", Some(REGION), &b.id),
        ("gcp:compute:VpnTunnel", Some(REGION), &tunnels[0].id),
        ("gcp:compute:VpnTunnel", Some(REGION), &tunnels[1].id),
        ("gcp:compute:Router", Some(REGION), &router.id),
        ("gcp:compute:VpnGateway", Some(REGION), &vpn.id),
        ("gcp:compute:ExternalVpnGateway", None, &peer.id),
        ("gcp:compute:Network", None, &net.id),
    ] {
        env.delete(t, region, id).await;
    }
    assert!(env.rest_list("global/networks").await.is_empty());
    env.stop().await;
}
