//! Forwarding rules (`regions/{r}/forwardingRules`, `global/forwardingRules`): exactly one
//! of `target` (a target TCP proxy of the same scope; other target kinds are not emulated)
//! or `backendService` (regional only), port syntax, and an address — given, allocated from
//! the subnetwork for internal rules, or from the documentation ranges for external ones.

use super::{check_enum, check_labels, default, get_str, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::net::Cidr;
use crate::paths::ScopeKind;
use crate::resources::{firewall::valid_port_spec, subnetwork};
use serde_json::{json, Map, Value};

const SCHEMES: &[&str] = &[
    "EXTERNAL",
    "EXTERNAL_MANAGED",
    "INTERNAL",
    "INTERNAL_MANAGED",
    "INTERNAL_SELF_MANAGED",
];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "ESP", "AH", "SCTP", "ICMP", "L3_DEFAULT"];

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let global = ctx.scope.kind() == ScopeKind::Global;
    check_labels("resource.labels", body.get("labels"))?;
    default(body, "IPProtocol", json!("TCP"));
    check_enum(body, "IPProtocol", "resource.IPProtocol", PROTOCOLS)?;
    default(body, "loadBalancingScheme", json!("EXTERNAL"));
    check_enum(
        body,
        "loadBalancingScheme",
        "resource.loadBalancingScheme",
        SCHEMES,
    )?;
    target(ctx, body, global)?;
    ports(body)?;
    let internal = get_str(body, "loadBalancingScheme").is_some_and(|s| s.starts_with("INTERNAL"));
    if internal {
        internal_address(ctx, body)?;
    } else {
        default(body, "networkTier", json!("PREMIUM"));
        external_address(ctx, body)?;
    }
    Ok(())
}

fn target(ctx: &Ctx, body: &mut Map<String, Value>, global: bool) -> ApiResult<()> {
    let proxy: &[(ScopeKind, &str)] = if global {
        &[(ScopeKind::Global, "targetTcpProxies")]
    } else {
        &[(ScopeKind::Regional, "targetTcpProxies")]
    };
    match (body.contains_key("target"), body.contains_key("backendService")) {
        (true, true) => Err(ApiError::invalid("Invalid value for field 'resource.target'. Only one of 'target' and 'backendService' may be set.")),
        (false, false) => Err(ApiError::required("resource.target")),
        (true, false) => {
            let (p, _) = ctx.required_reference(body, "target", "resource.target", proxy)?;
            super::same_region(ctx, "resource.target", &p)
        }
        (false, true) if global => Err(ApiError::invalid("Invalid value for field 'resource.backendService'. Global forwarding rules take a 'target'.")),
        (false, true) => {
            let bs = &[(ScopeKind::Regional, "backendServices")];
            let (p, _) = ctx.required_reference(body, "backendService", "resource.backendService", bs)?;
            super::same_region(ctx, "resource.backendService", &p)
        }
    }
}

/// `portRange` (`80` is stored as `80-80`, as Compute does) or up to five `ports`.
fn ports(body: &mut Map<String, Value>) -> ApiResult<()> {
    if let Some(range) = get_str(body, "portRange").map(str::to_string) {
        if !valid_port_spec(&range) {
            return Err(ApiError::invalid_field(
                "resource.portRange",
                &range,
                "Invalid port range.",
            ));
        }
        if !range.contains('-') {
            body.insert("portRange".into(), json!(format!("{range}-{range}")));
        }
    }
    if let Some(ports) = body.get("ports").and_then(Value::as_array) {
        let bad = ports
            .iter()
            .find(|p| !p.as_str().is_some_and(valid_port_spec));
        if ports.len() > 5 || bad.is_some() {
            return Err(ApiError::invalid_field(
                "resource.ports",
                &Value::Array(ports.clone()).to_string(),
                "At most five ports or port ranges may be given.",
            ));
        }
    }
    Ok(())
}

fn internal_address(ctx: &Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    if !body.contains_key("network") && !body.contains_key("subnetwork") {
        body.insert("network".into(), json!("global/networks/default"));
    }
    ctx.reference(
        body,
        "network",
        "resource.network",
        &[(ScopeKind::Global, "networks")],
    )?;
    let sub = ctx.reference(
        body,
        "subnetwork",
        "resource.subnetwork",
        &[(ScopeKind::Regional, "subnetworks")],
    )?;
    if let Some((p, _)) = &sub {
        super::same_region(ctx, "resource.subnetwork", p)?;
    }
    let sub_value = sub.and_then(|(_, v)| v);
    if let Some(net) = sub_value.and_then(|s| s.get("network")).cloned() {
        body.insert("network".into(), net);
    }
    let Some(range) = sub_value.and_then(subnetwork::primary_range) else {
        return Ok(());
    };
    match get_str(body, "IPAddress").map(str::to_string) {
        Some(ip) => check_ip_in(&ip, &range),
        None => {
            let ip = ctx.allocate_ip(&range)?;
            body.insert("IPAddress".into(), json!(ip));
            Ok(())
        }
    }
}

fn check_ip_in(ip: &str, range: &Cidr) -> ApiResult<()> {
    let inside = ip.parse::<std::net::Ipv4Addr>().is_ok_and(|a| {
        Cidr {
            addr: u32::from(a),
            prefix: 32,
        }
        .within(range)
    });
    if inside {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "resource.IPAddress",
            ip,
            &format!("The IP address is not in the subnetwork range {range}."),
        ))
    }
}

fn external_address(ctx: &Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    match get_str(body, "IPAddress") {
        Some(ip) if ip.parse::<std::net::Ipv4Addr>().is_err() => Err(ApiError::invalid_field(
            "resource.IPAddress",
            ip,
            "Must be an IPv4 address (address resources are not emulated).",
        )),
        Some(_) => Ok(()),
        None => {
            let ip = super::allocate_external(ctx)?;
            body.insert("IPAddress".into(), json!(ip));
            Ok(())
        }
    }
}
