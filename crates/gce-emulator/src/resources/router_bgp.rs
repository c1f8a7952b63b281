//! The BGP side of Cloud Routers: `bgp`, `interfaces` and `bgpPeers`, and the runtime answer of
//! `routers.getRouterStatus`. The rules come from the discovery document's `RouterBgp`,
//! `RouterInterface`, `RouterBgpPeer` and `RouterStatus` (revision 20261106):
//!
//! - `bgp.asn` "Must be an RFC6996 private ASN, either 16-bit or 32-bit": 64512–65534 or
//!   4200000000–4294967294;
//! - `bgp.advertisedIpRanges` / a peer's `advertisedIpRanges` "can only be populated if
//!   advertise_mode is CUSTOM";
//! - an interface has a unique RFC 1035 `name`; its IPv4 `ipRange` "must be in the RFC3927
//!   link-local IP address space" (169.254.0.0/16); a `linkedVpnTunnel` is a tunnel "in the same
//!   Region as the router";
//! - a BGP peer has a unique `name`, the `interfaceName` of one of the router's interfaces, a
//!   `peerAsn`, and addresses inside that interface's range; `customLearnedIpRanges` are
//!   ranges ("A list of user-defined custom learned route IP address ranges for a BGP
//!   session").
//!
//! `getRouterStatus` answers, for each peer, `status` `UP` when its interface's tunnel is
//! `ESTABLISHED` (`DOWN` otherwise), and as `bestRoutes` the routes the router installs for
//! an up peer: its custom learned ranges (routeType `BGP`, next hop the tunnel), which Cloud
//! Router "applies … as if they were learned from the BGP peer" (Cloud Router "Custom learned
//! routes"). Routes the peer itself advertises are not emulated: the peer is outside.

use super::{check_enum, check_name, get_str, objects_mut, same_region, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::net::Cidr;
use crate::paths::{parse_link, ScopeKind};
use crate::store::Store;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const TUNNEL: &[(ScopeKind, &str)] = &[(ScopeKind::Regional, "vpnTunnels")];

/// True for an RFC 6996 private ASN.
fn is_private_asn(asn: i64) -> bool {
    (64512..=65534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn)
}

/// Validates `bgp`, `interfaces` and `bgpPeers` of a router body.
pub fn check(ctx: &Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    if let Some(bgp) = body.get_mut("bgp").and_then(Value::as_object_mut) {
        let asn =
            super::get_int(bgp, "asn").ok_or_else(|| ApiError::required("resource.bgp.asn"))?;
        if !is_private_asn(asn) {
            return Err(ApiError::invalid_field(
                "resource.bgp.asn",
                &asn.to_string(),
                "Must be an RFC6996 private ASN, either 16-bit or 32-bit.",
            ));
        }
        bgp.insert("asn".into(), json!(asn));
        check_advertisement(bgp, "resource.bgp")?;
        bgp.entry("advertiseMode").or_insert(json!("DEFAULT"));
        bgp.entry("keepaliveInterval").or_insert(json!(20));
    }
    let ranges = check_interfaces(ctx, body)?;
    check_peers(body, &ranges)
}

/// `advertiseMode` and the custom advertisements it allows.
fn check_advertisement(item: &Map<String, Value>, field: &str) -> ApiResult<()> {
    check_enum(
        item,
        "advertiseMode",
        &format!("{field}.advertiseMode"),
        &["CUSTOM", "DEFAULT"],
    )?;
    let custom = get_str(item, "advertiseMode") == Some("CUSTOM");
    let ranges = item
        .get("advertisedIpRanges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !custom && !ranges.is_empty() {
        return Err(ApiError::invalid_field(
            &format!("{field}.advertisedIpRanges"),
            &Value::Array(ranges).to_string(),
            "Can only be populated if advertiseMode is CUSTOM.",
        ));
    }
    for (i, range) in ranges.iter().enumerate() {
        let text = range
            .get("range")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Cidr::parse(text, false).map_err(|e| {
            ApiError::invalid_field(
                &format!("{field}.advertisedIpRanges[{i}].range"),
                text,
                &format!("The range {e}."),
            )
        })?;
    }
    Ok(())
}

/// Interface name → its range; checks names, link-local ranges and linked tunnels.
fn check_interfaces(ctx: &Ctx, body: &mut Map<String, Value>) -> ApiResult<BTreeMap<String, Cidr>> {
    let link_local = Cidr::parse("169.254.0.0/16", true).expect("a range");
    let mut ranges = BTreeMap::new();
    for (i, interface) in objects_mut(body, "interfaces", "resource.interfaces")?
        .into_iter()
        .enumerate()
    {
        let field = format!("resource.interfaces[{i}]");
        let name = get_str(interface, "name")
            .ok_or_else(|| ApiError::required(&format!("{field}.name")))?
            .to_string();
        check_name(&format!("{field}.name"), &name)?;
        let range = match get_str(interface, "ipRange") {
            None => link_local,
            Some(text) => Cidr::parse(text, false)
                .ok()
                .filter(|r| r.within(&link_local))
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        &format!("{field}.ipRange"),
                        text,
                        "The IP range must be in the RFC3927 link-local IP address space.",
                    )
                })?,
        };
        if ranges.insert(name.clone(), range).is_some() {
            return Err(ApiError::invalid_field(
                &format!("{field}.name"),
                &name,
                "Interface names must be unique within a router.",
            ));
        }
        if let Some((path, _)) = ctx.reference(
            interface,
            "linkedVpnTunnel",
            &format!("{field}.linkedVpnTunnel"),
            TUNNEL,
        )? {
            same_region(ctx, &format!("{field}.linkedVpnTunnel"), &path)?;
        }
    }
    Ok(ranges)
}

/// Peers: unique names, an existing interface, a peer ASN, addresses in the interface range.
fn check_peers(body: &mut Map<String, Value>, ranges: &BTreeMap<String, Cidr>) -> ApiResult<()> {
    let mut names = std::collections::BTreeSet::new();
    for (i, peer) in objects_mut(body, "bgpPeers", "resource.bgpPeers")?
        .into_iter()
        .enumerate()
    {
        let field = format!("resource.bgpPeers[{i}]");
        let name = get_str(peer, "name")
            .ok_or_else(|| ApiError::required(&format!("{field}.name")))?
            .to_string();
        check_name(&format!("{field}.name"), &name)?;
        if !names.insert(name.clone()) {
            return Err(ApiError::invalid_field(
                &format!("{field}.name"),
                &name,
                "BGP peer names must be unique within a router.",
            ));
        }
        let interface = get_str(peer, "interfaceName")
            .ok_or_else(|| ApiError::required(&format!("{field}.interfaceName")))?
            .to_string();
        let range = ranges.get(&interface).ok_or_else(|| {
            ApiError::invalid_field(
                &format!("{field}.interfaceName"),
                &interface,
                "The router has no interface with this name.",
            )
        })?;
        super::get_int(peer, "peerAsn")
            .ok_or_else(|| ApiError::required(&format!("{field}.peerAsn")))?;
        for key in ["ipAddress", "peerIpAddress"] {
            let Some(address) = get_str(peer, key) else {
                continue;
            };
            let inside = Cidr::parse(&format!("{address}/32"), true).is_ok_and(|a| a.within(range));
            if !inside {
                return Err(ApiError::invalid_field(
                    &format!("{field}.{key}"),
                    address,
                    &format!("The address must be inside the range of interface '{interface}'."),
                ));
            }
        }
        check_advertisement(peer, &field)?;
        check_enum(
            peer,
            "enable",
            &format!("{field}.enable"),
            &["TRUE", "FALSE"],
        )?;
        for (j, learned) in peer
            .get("customLearnedIpRanges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let text = learned
                .get("range")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Cidr::parse(text, false).map_err(|e| {
                ApiError::invalid_field(
                    &format!("{field}.customLearnedIpRanges[{j}].range"),
                    text,
                    &format!("The range {e}."),
                )
            })?;
        }
        peer.entry("managementType")
            .or_insert(json!("MANAGED_BY_USER"));
    }
    Ok(())
}

/// `routers.getRouterStatus`: the `RouterStatusResponse` of a stored router.
pub fn status(store: &Store, router: &Value) -> Value {
    let network = router.get("network").cloned().unwrap_or(Value::Null);
    let interfaces: BTreeMap<&str, &Value> = router
        .get("interfaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| Some((i.get("name")?.as_str()?, i)))
        .collect();
    let mut peers = Vec::new();
    let mut best = Vec::new();
    for peer in router
        .get("bgpPeers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let tunnel = peer
            .get("interfaceName")
            .and_then(Value::as_str)
            .and_then(|n| interfaces.get(n))
            .and_then(|i| i.get("linkedVpnTunnel"))
            .and_then(Value::as_str);
        let up = peer.get("enable") != Some(&json!("FALSE"))
            && tunnel
                .and_then(parse_link)
                .and_then(|p| store.get(&p.path()))
                .and_then(|t| t.get("status"))
                .and_then(Value::as_str)
                == Some(super::vpn::ESTABLISHED);
        let learned: Vec<&Value> = peer
            .get("customLearnedIpRanges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        if up {
            let priority = peer
                .get("customLearnedRoutePriority")
                .cloned()
                .unwrap_or(json!(100));
            best.extend(learned.iter().map(|l| {
                json!({
                    "kind": "compute#route",
                    "destRange": l.get("range"),
                    "network": network,
                    "nextHopVpnTunnel": tunnel,
                    "priority": priority,
                    "routeType": "BGP",
                    "routeStatus": "ACTIVE",
                })
            }));
        }
        let mut status = json!({
            "name": peer.get("name"),
            "status": if up { "UP" } else { "DOWN" },
            "state": if up { "Established" } else { "Idle" },
            "numLearnedRoutes": if up { learned.len() } else { 0 },
        });
        for key in ["ipAddress", "peerIpAddress"] {
            if let Some(v) = peer.get(key) {
                status[key] = v.clone();
            }
        }
        if let Some(t) = tunnel {
            status["linkedVpnTunnel"] = json!(t);
        }
        peers.push(status);
    }
    json!({
        "kind": "compute#routerStatusResponse",
        "result": {
            "network": network,
            "bgpPeerStatus": peers,
            "bestRoutes": best,
            "bestRoutesForRouter": best,
        }
    })
}
