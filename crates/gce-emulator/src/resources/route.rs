//! Static routes (`global/routes`). The rules come from the discovery document's `Route`
//! (revision 20261106) and the VPC "Static routes" page
//! (<https://cloud.google.com/vpc/docs/static-routes>):
//!
//! - `network` and `destRange` are required; `destRange` is an IPv4 range ("Must specify an
//!   IPv4 range (e.g. 192.0.2.0/24)");
//! - exactly one next hop: `nextHopGateway`, `nextHopIp`, `nextHopInstance`,
//!   `nextHopVpnTunnel` or `nextHopIlb` (the route's one "Next hop", static-routes page);
//! - `nextHopGateway` can only be the internet gateway ("You can only specify the internet
//!   gateway using a full or partial valid URL: projects/project/global/gateways/
//!   default-internet-gateway");
//! - a `nextHopVpnTunnel` must exist, and belong to a gateway of the route's network;
//! - `priority` defaults to 1000 and lies in 0–65535 ("The default value is `1000`. The
//!   priority value must be from `0` to `65535`, inclusive"); `routeType` is `STATIC`.
//!
//! Routes have no patch or update method: a change is a new route.

use super::{default, get_str, int_in, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::net::Cidr;
use crate::paths::ScopeKind;
use serde_json::{json, Map, Value};

const NETWORK: &[(ScopeKind, &str)] = &[(ScopeKind::Global, "networks")];
const TUNNEL: &[(ScopeKind, &str)] = &[(ScopeKind::Regional, "vpnTunnels")];
const NEXT_HOPS: &[&str] = &[
    "nextHopGateway",
    "nextHopIp",
    "nextHopInstance",
    "nextHopVpnTunnel",
    "nextHopIlb",
];
const INTERNET_GATEWAY: &str = "global/gateways/default-internet-gateway";

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    ctx.required_reference(body, "network", "resource.network", NETWORK)?;
    let range = get_str(body, "destRange")
        .ok_or_else(|| ApiError::required("resource.destRange"))?
        .to_string();
    Cidr::parse(&range, false).map_err(|e| {
        ApiError::invalid_field("resource.destRange", &range, &format!("The range {e}."))
    })?;
    let hops: Vec<&str> = NEXT_HOPS
        .iter()
        .copied()
        .filter(|h| body.contains_key(*h))
        .collect();
    match hops.as_slice() {
        [_] => {}
        [] => return Err(ApiError::required("resource.nextHop*")),
        _ => {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'resource': a route has exactly one next hop; got {}.",
                hops.join(", ")
            )))
        }
    }
    if let Some(gateway) = get_str(body, "nextHopGateway") {
        if !gateway.ends_with(INTERNET_GATEWAY) {
            return Err(ApiError::invalid_field(
                "resource.nextHopGateway",
                gateway,
                "You can only specify the internet gateway: projects/project/global/gateways/default-internet-gateway.",
            ));
        }
    }
    let network = get_str(body, "network").unwrap_or_default().to_string();
    if let Some((_, tunnel)) = ctx.reference(
        body,
        "nextHopVpnTunnel",
        "resource.nextHopVpnTunnel",
        TUNNEL,
    )? {
        check_tunnel_network(ctx, &network, tunnel)?;
    }
    int_in(body, "priority", "resource.priority", 0, 65535)?;
    default(body, "priority", json!(1000));
    body.insert("routeType".into(), json!("STATIC"));
    Ok(())
}

/// A tunnel next hop must belong to an HA VPN gateway of the route's network.
fn check_tunnel_network(ctx: &Ctx, network: &str, tunnel: Option<&Value>) -> ApiResult<()> {
    let gateway = tunnel
        .and_then(|t| t.get("vpnGateway"))
        .and_then(Value::as_str)
        .and_then(|g| ctx.store.get(&crate::paths::parse_link(g)?.path()));
    let gateway_network = gateway
        .and_then(|g| g.get("network"))
        .and_then(Value::as_str);
    match gateway_network {
        Some(n) if n != network => Err(ApiError::invalid_field(
            "resource.nextHopVpnTunnel",
            tunnel
                .and_then(|t| t.get("selfLink"))
                .and_then(Value::as_str)
                .unwrap_or_default(),
            "The VPN tunnel must belong to a gateway of the route's network.",
        )),
        _ => Ok(()),
    }
}
