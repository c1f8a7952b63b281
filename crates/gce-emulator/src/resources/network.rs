//! VPC networks (`global/networks`): auto or custom subnet mode, Compute's defaults
//! (`routingConfig`, `mtu`, firewall-policy order), and the derived `subnetworks` list.

use super::{default, get_str, int_in, object_mut, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::net::Cidr;
use crate::paths::{parse_link, ResourcePath};
use crate::store::Store;
use serde_json::{json, Map, Value};

pub fn prepare(_ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let auto = body.get("autoCreateSubnetworks");
    let legacy = get_str(body, "IPv4Range").map(str::to_string);
    match (auto, legacy) {
        (Some(a), Some(_)) if a.as_bool() == Some(true) => {
            return Err(ApiError::invalid(
                "Invalid value for field 'resource.IPv4Range'. A network with IPv4Range cannot auto-create subnetworks.",
            ))
        }
        (Some(a), None) if !a.is_boolean() => {
            return Err(ApiError::invalid_field("resource.autoCreateSubnetworks", &a.to_string(), "Must be a boolean."))
        }
        (_, Some(range)) => legacy_range(body, &range)?,
        (None, None) => {
            return Err(ApiError::invalid(
                "Invalid value for field 'resource.autoCreateSubnetworks': ''. Legacy networks \
                 (no autoCreateSubnetworks) are not emulated; set autoCreateSubnetworks.",
            ))
        }
        _ => {}
    }
    int_in(body, "mtu", "resource.mtu", 1300, 8896)?;
    default(body, "mtu", json!(1460));
    let routing = object_mut(body, "routingConfig")?;
    default(routing, "routingMode", json!("REGIONAL"));
    super::check_enum(
        routing,
        "routingMode",
        "resource.routingConfig.routingMode",
        &["REGIONAL", "GLOBAL"],
    )?;
    default(
        body,
        "networkFirewallPolicyEnforcementOrder",
        json!("AFTER_CLASSIC_FIREWALL"),
    );
    body.remove("subnetworks");
    Ok(())
}

fn legacy_range(body: &mut Map<String, Value>, range: &str) -> ApiResult<()> {
    let cidr = Cidr::parse(range, true).map_err(|e| {
        ApiError::invalid_field("resource.IPv4Range", range, &format!("The range {e}."))
    })?;
    if let Some(gw) = cidr.nth(1) {
        body.insert("gatewayIPv4".into(), json!(gw.to_string()));
    }
    Ok(())
}

/// Rewrites a network's `subnetworks` to the subnetworks that now point at it.
pub fn refresh_subnetworks(store: &mut Store, network_link: &str) {
    let Some(net) = parse_link(network_link) else {
        return;
    };
    let mut subnets: Vec<String> = store
        .resources
        .iter()
        .filter(|(k, v)| {
            ResourcePath::parse(k).is_some_and(|p| p.collection == "subnetworks")
                && v.get("network").and_then(Value::as_str) == Some(network_link)
        })
        .filter_map(|(_, v)| {
            v.get("selfLink")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    subnets.sort();
    if let Some(Value::Object(map)) = store.resources.get_mut(&net.path()) {
        if subnets.is_empty() {
            map.remove("subnetworks");
        } else {
            map.insert("subnetworks".into(), json!(subnets));
        }
    }
}

/// Whether a stored network is a legacy (non-VPC) network.
pub fn is_legacy(network: &Value) -> bool {
    network.get("IPv4Range").is_some()
}

/// Whether a stored network is in custom subnet mode.
pub fn is_custom(network: &Value) -> bool {
    network
        .get("autoCreateSubnetworks")
        .and_then(Value::as_bool)
        == Some(false)
}
