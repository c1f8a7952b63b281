//! HA VPN: gateways (`regions/{r}/vpnGateways`), external (peer) gateways
//! (`global/externalVpnGateways`) and tunnels (`regions/{r}/vpnTunnels`). The rules come from
//! the discovery document (revision 20261106) and the Cloud VPN pages cited per rule:
//!
//! - an HA VPN gateway needs a `network`; Google gives it two interfaces (ids 0 and 1), each
//!   with its own external address ("When you create an HA VPN gateway, Google Cloud
//!   automatically chooses two external IPv4 addresses, one for each of its fixed number of two
//!   interfaces", Cloud VPN "HA VPN topologies"); `stackType` defaults to `IPV4_ONLY`;
//! - an external gateway's `interfaces` follow its `redundancyType` ("The allowed input values
//!   for this id for different redundancy types of external VPN gateway:
//!   SINGLE_IP_INTERNALLY_REDUNDANT - 0, TWO_IPS_REDUNDANCY - 0, 1, FOUR_IPS_REDUNDANCY - 0, 1,
//!   2, 3"), each with an IPv4 `ipAddress`;
//! - an HA VPN tunnel names its `vpnGateway` and `vpnGatewayInterface` (0 or 1), a peer
//!   (`peerExternalGateway` with `peerExternalGatewayInterface`, or `peerGcpGateway`), a
//!   `router` of the gateway's network in the same region ("A Cloud Router always manages …
//!   an HA VPN tunnel", Cloud VPN "Routes with next hops of Cloud VPN tunnels"), and a
//!   `sharedSecret`; `ikeVersion` defaults to 2 ("The default version is 2");
//! - the shared secret is never answered back: Compute answers `sharedSecretHash` and the
//!   secret masked with asterisks;
//! - `status` (enum of `VpnTunnel.status`): `WAITING_FOR_FULL_CONFIG` ("Waiting to receive all
//!   VPN-related configs from the user") until the tunnel's router has an interface linked to
//!   it (`linkedVpnTunnel`) with a BGP peer on that interface; then `ESTABLISHED` ("Secure
//!   session is successfully established with the peer VPN"). The emulator cannot see the
//!   peer, so a complete configuration counts as established.

use super::{check_enum, default, get_int, get_str, int_in, same_region, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::paths::{parse_link, ScopeKind};
use crate::store::Store;
use serde_json::{json, Map, Value};
use std::net::Ipv4Addr;

const NETWORK: &[(ScopeKind, &str)] = &[(ScopeKind::Global, "networks")];
const GATEWAY: &[(ScopeKind, &str)] = &[(ScopeKind::Regional, "vpnGateways")];
const EXTERNAL: &[(ScopeKind, &str)] = &[(ScopeKind::Global, "externalVpnGateways")];
const ROUTER: &[(ScopeKind, &str)] = &[(ScopeKind::Regional, "routers")];
/// What Compute answers in place of a tunnel's shared secret.
pub const MASKED_SECRET: &str = "*************";
pub const ESTABLISHED: &str = "ESTABLISHED";
pub const WAITING: &str = "WAITING_FOR_FULL_CONFIG";

/// `vpnGateways.insert`: the network, and two interfaces with external addresses.
pub fn prepare_gateway(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    ctx.required_reference(body, "network", "resource.network", NETWORK)?;
    check_enum(
        body,
        "stackType",
        "resource.stackType",
        &["IPV4_ONLY", "IPV4_IPV6", "IPV6_ONLY"],
    )?;
    default(body, "stackType", json!("IPV4_ONLY"));
    let mut interfaces = Vec::new();
    let mut taken = ctx.used_ips();
    for id in 0..2 {
        let address = super::external_pool()
            .iter()
            .flat_map(|c| (1..255).filter_map(move |o| c.nth(o)))
            .map(|ip: Ipv4Addr| ip.to_string())
            .find(|ip| !taken.contains(ip))
            .ok_or_else(|| ApiError::invalid("No external IP addresses are available."))?;
        taken.insert(address.clone());
        interfaces.push(json!({"id": id, "ipAddress": address}));
    }
    body.insert("vpnInterfaces".into(), Value::Array(interfaces));
    Ok(())
}

/// The interface ids a redundancy type allows.
fn interface_ids(redundancy: &str) -> &'static [i64] {
    match redundancy {
        "SINGLE_IP_INTERNALLY_REDUNDANT" => &[0],
        "TWO_IPS_REDUNDANCY" => &[0, 1],
        _ => &[0, 1, 2, 3],
    }
}

/// `externalVpnGateways.insert`: interfaces that match the redundancy type.
pub fn prepare_external(_ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let redundancy = get_str(body, "redundancyType")
        .ok_or_else(|| ApiError::required("resource.redundancyType"))?
        .to_string();
    check_enum(
        body,
        "redundancyType",
        "resource.redundancyType",
        &[
            "FOUR_IPS_REDUNDANCY",
            "SINGLE_IP_INTERNALLY_REDUNDANT",
            "TWO_IPS_REDUNDANCY",
        ],
    )?;
    let allowed = interface_ids(&redundancy);
    let interfaces = super::objects_mut(body, "interfaces", "resource.interfaces")?;
    let mut ids: Vec<i64> = Vec::new();
    for (i, interface) in interfaces.into_iter().enumerate() {
        let field = format!("resource.interfaces[{i}]");
        let id = int_in(interface, "id", &format!("{field}.id"), 0, 3)?.unwrap_or(0);
        if !allowed.contains(&id) || ids.contains(&id) {
            return Err(ApiError::invalid_field(
                &format!("{field}.id"),
                &id.to_string(),
                &format!(
                    "A {redundancy} external VPN gateway has interfaces {allowed:?}, each once."
                ),
            ));
        }
        ids.push(id);
        let address = get_str(interface, "ipAddress")
            .ok_or_else(|| ApiError::required(&format!("{field}.ipAddress")))?;
        address.parse::<Ipv4Addr>().map_err(|_| {
            ApiError::invalid_field(
                &format!("{field}.ipAddress"),
                address,
                "Only IPv4 is supported.",
            )
        })?;
    }
    if ids.len() != allowed.len() {
        return Err(ApiError::invalid(format!(
            "Invalid value for field 'resource.interfaces': a {redundancy} external VPN gateway \
             has {} interfaces, got {}.",
            allowed.len(),
            ids.len()
        )));
    }
    Ok(())
}

/// `vpnTunnels.insert`: an HA VPN tunnel between an interface of a gateway and a peer.
pub fn prepare_tunnel(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    if body.contains_key("targetVpnGateway") || body.contains_key("peerIp") {
        return Err(ApiError::invalid(
            "Classic VPN tunnels (targetVpnGateway, peerIp) are not emulated; use an HA VPN \
             gateway (vpnGateway).",
        ));
    }
    let (gateway_path, gateway) =
        ctx.required_reference(body, "vpnGateway", "resource.vpnGateway", GATEWAY)?;
    same_region(ctx, "resource.vpnGateway", &gateway_path)?;
    let interface = int_in(
        body,
        "vpnGatewayInterface",
        "resource.vpnGatewayInterface",
        0,
        1,
    )?;
    if interface.is_none() {
        return Err(ApiError::required("resource.vpnGatewayInterface"));
    }
    check_peer(ctx, body)?;
    let (router_path, router) =
        ctx.required_reference(body, "router", "resource.router", ROUTER)?;
    same_region(ctx, "resource.router", &router_path)?;
    let network = |v: Option<&Value>| {
        v.and_then(|v| v.get("network"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if network(router) != network(gateway) {
        return Err(ApiError::invalid_field(
            "resource.router",
            &router_path.self_link(),
            "The router must be in the VPN gateway's network.",
        ));
    }
    int_in(body, "ikeVersion", "resource.ikeVersion", 1, 2)?;
    default(body, "ikeVersion", json!(2));
    keep_secret_hash(body)?;
    body.insert("status".into(), json!(WAITING));
    body.insert(
        "detailedStatus".into(),
        json!("Waiting for a Cloud Router interface and BGP peer on this tunnel."),
    );
    Ok(())
}

/// The peer: an interface of an external gateway, or another HA VPN gateway.
fn check_peer(ctx: &Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let external = ctx.reference(
        body,
        "peerExternalGateway",
        "resource.peerExternalGateway",
        EXTERNAL,
    )?;
    let gcp = ctx.reference(body, "peerGcpGateway", "resource.peerGcpGateway", GATEWAY)?;
    match (external, gcp) {
        (Some((path, stored)), None) => {
            let id = get_int(body, "peerExternalGatewayInterface")
                .ok_or_else(|| ApiError::required("resource.peerExternalGatewayInterface"))?;
            let known = stored
                .and_then(|g| g.get("interfaces"))
                .and_then(Value::as_array)
                .is_some_and(|l| {
                    l.iter()
                        .any(|i| i.get("id").and_then(Value::as_i64).unwrap_or(0) == id)
                });
            if !known {
                return Err(ApiError::invalid_field(
                    "resource.peerExternalGatewayInterface",
                    &id.to_string(),
                    &format!("{} has no interface {id}.", path.self_link()),
                ));
            }
            body.insert("peerExternalGatewayInterface".into(), json!(id));
            Ok(())
        }
        (None, Some(_)) => Ok(()),
        (None, None) => Err(ApiError::required("resource.peerExternalGateway")),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "Invalid value for field 'resource.peerGcpGateway': a tunnel has one peer; \
             peerExternalGateway is set.",
        )),
    }
}

/// Replaces the shared secret by its hash and Compute's mask.
fn keep_secret_hash(body: &mut Map<String, Value>) -> ApiResult<()> {
    let secret = get_str(body, "sharedSecret")
        .ok_or_else(|| ApiError::required("resource.sharedSecret"))?
        .to_string();
    if secret.is_empty() || secret == MASKED_SECRET {
        return Err(ApiError::required("resource.sharedSecret"));
    }
    body.insert("sharedSecret".into(), json!(MASKED_SECRET));
    body.insert(
        "sharedSecretHash".into(),
        json!(crate::ident::fingerprint(&secret)),
    );
    Ok(())
}

/// After a router changed: each tunnel it (or its previous version) names in an interface's
/// `linkedVpnTunnel` gets the status its configuration now has.
pub fn refresh_tunnels(store: &mut Store, old: Option<&Value>, new: Option<&Value>) {
    let mut tunnels: Vec<String> = Vec::new();
    for router in [old, new].into_iter().flatten() {
        for interface in router
            .get("interfaces")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(link) = interface.get("linkedVpnTunnel").and_then(Value::as_str) {
                tunnels.push(link.to_string());
            }
        }
    }
    for link in tunnels {
        let Some(path) = parse_link(&link).map(|p| p.path()) else {
            continue;
        };
        let status = if is_configured(store, &link, new) {
            (ESTABLISHED, "Tunnel is up and running.")
        } else {
            (
                WAITING,
                "Waiting for a Cloud Router interface and BGP peer on this tunnel.",
            )
        };
        if let Some(Value::Object(tunnel)) = store.resources.get_mut(&path) {
            tunnel.insert("status".into(), json!(status.0));
            tunnel.insert("detailedStatus".into(), json!(status.1));
        }
    }
}

/// True when `router` (the tunnel's router as it now is) links the tunnel to an interface
/// carrying a BGP peer.
fn is_configured(store: &Store, tunnel_link: &str, router: Option<&Value>) -> bool {
    let Some(router) = router else { return false };
    let tunnel_router = parse_link(tunnel_link)
        .and_then(|p| store.get(&p.path()))
        .and_then(|t| t.get("router"))
        .and_then(Value::as_str);
    if tunnel_router != router.get("selfLink").and_then(Value::as_str) {
        return false;
    }
    let interfaces = router.get("interfaces").and_then(Value::as_array);
    let peers = router.get("bgpPeers").and_then(Value::as_array);
    interfaces.into_iter().flatten().any(|i| {
        i.get("linkedVpnTunnel").and_then(Value::as_str) == Some(tunnel_link)
            && peers.into_iter().flatten().any(|p| {
                p.get("interfaceName") == i.get("name") && p.get("enable") != Some(&json!("FALSE"))
            })
    })
}
