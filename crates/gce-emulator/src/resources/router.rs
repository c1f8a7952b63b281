//! Cloud Routers (`regions/{r}/routers`) and their Cloud NAT gateways (`nats`); their BGP
//! sessions are checked in `router_bgp`. The rules come
//! from the discovery document (revision 20261106):
//!
//! - `network` is required (`annotations.required` for `routers.insert` and `routers.update`)
//!   and must be an existing VPC network;
//! - each NAT has a unique RFC 1035 `name` ("Unique name of this Nat service. The name must be
//!   1-63 characters long and comply with RFC1035"), a `sourceSubnetworkIpRangesToNat` and a
//!   `natIpAllocateOption` of the documented enums;
//! - `AUTO_ONLY`: "Nat IPs are allocated by Google Cloud Platform; customers can't specify any
//!   Nat IPs. When choosing AUTO_ONLY, then nat_ip should be empty"; `MANUAL_ONLY` uses "only
//!   Nat IP addresses provided by customers", so it needs some;
//! - `subnetworks` "is used only when LIST_OF_SUBNETWORKS is selected"; each names an existing
//!   subnetwork of the router's network and region, with `sourceIpRangesToNat` defaulting to
//!   `[ALL_IP_RANGES]` ("Default: [ALL_IP_RANGES]");
//! - "if this field contains ALL_SUBNETWORKS_ALL_IP_RANGES then there should not be any other
//!   Router.Nat section in any Router for this network in this region": such a NAT is refused
//!   beside any other NAT of the network and region, in this router or another.

use super::{check_enum, check_name, get_str, network, objects_mut, same_region, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::paths::{ResourcePath, ScopeKind};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

const NETWORK: &[(ScopeKind, &str)] = &[(ScopeKind::Global, "networks")];
const SUBNETWORK: &[(ScopeKind, &str)] = &[(ScopeKind::Regional, "subnetworks")];
const ALL_RANGES: &str = "ALL_SUBNETWORKS_ALL_IP_RANGES";
const RANGE_OPTIONS: &[&str] = &[
    ALL_RANGES,
    "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES",
    "LIST_OF_SUBNETWORKS",
];

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let (_, net) = ctx.required_reference(body, "network", "resource.network", NETWORK)?;
    let net_link = get_str(body, "network").unwrap_or_default().to_string();
    if net.is_some_and(network::is_legacy) {
        return Err(ApiError::invalid_field(
            "resource.network",
            &net_link,
            "Cloud Routers cannot be created in a legacy network.",
        ));
    }
    let mut names = BTreeSet::new();
    let mut covers_all = false;
    let count = objects_mut(body, "nats", "resource.nats")?.len();
    for (i, nat) in objects_mut(body, "nats", "resource.nats")?
        .into_iter()
        .enumerate()
    {
        let field = format!("resource.nats[{i}]");
        let name = get_str(nat, "name")
            .ok_or_else(|| ApiError::required(&format!("{field}.name")))?
            .to_string();
        check_name(&format!("{field}.name"), &name)?;
        if !names.insert(name.clone()) {
            return Err(ApiError::invalid_field(
                &format!("{field}.name"),
                &name,
                "Nat names must be unique within a router.",
            ));
        }
        covers_all |= check_nat(ctx, &field, &net_link, nat)?;
    }
    if covers_all && count > 1 {
        return Err(ApiError::invalid(format!(
            "Invalid value for field 'resource.nats': a NAT with {ALL_RANGES} must be the only \
             NAT of network '{net_link}' in this region."
        )));
    }
    if count > 0 {
        check_other_routers(ctx, &net_link, covers_all)?;
    }
    super::router_bgp::check(ctx, body)
}

/// Validates one NAT; returns whether it covers every subnetwork of the network.
fn check_nat(
    ctx: &Ctx,
    field: &str,
    net_link: &str,
    nat: &mut Map<String, Value>,
) -> ApiResult<bool> {
    let ranges_field = format!("{field}.sourceSubnetworkIpRangesToNat");
    let ranges = get_str(nat, "sourceSubnetworkIpRangesToNat")
        .ok_or_else(|| ApiError::required(&ranges_field))?
        .to_string();
    check_enum(
        nat,
        "sourceSubnetworkIpRangesToNat",
        &ranges_field,
        RANGE_OPTIONS,
    )?;
    check_enum(
        nat,
        "type",
        &format!("{field}.type"),
        &["PUBLIC", "PRIVATE"],
    )?;
    if get_str(nat, "type") != Some("PRIVATE") {
        check_allocation(field, nat)?;
    }
    let listed = nat
        .get("subnetworks")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    match (ranges.as_str(), listed) {
        ("LIST_OF_SUBNETWORKS", false) => {
            return Err(ApiError::required(&format!("{field}.subnetworks")))
        }
        ("LIST_OF_SUBNETWORKS", true) => check_subnetworks(ctx, field, net_link, nat)?,
        (_, true) => {
            return Err(ApiError::invalid_field(
                &format!("{field}.subnetworks"),
                &nat["subnetworks"].to_string(),
                "Subnetworks may be listed only with LIST_OF_SUBNETWORKS.",
            ))
        }
        _ => {}
    }
    Ok(ranges == ALL_RANGES)
}

/// `natIpAllocateOption` of a public NAT: required, and consistent with `natIps`.
fn check_allocation(field: &str, nat: &Map<String, Value>) -> ApiResult<()> {
    let option_field = format!("{field}.natIpAllocateOption");
    let option =
        get_str(nat, "natIpAllocateOption").ok_or_else(|| ApiError::required(&option_field))?;
    check_enum(
        nat,
        "natIpAllocateOption",
        &option_field,
        &["AUTO_ONLY", "MANUAL_ONLY"],
    )?;
    let ips = nat
        .get("natIps")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    match (option, ips) {
        ("AUTO_ONLY", n) if n > 0 => Err(ApiError::invalid_field(
            &format!("{field}.natIps"),
            &nat["natIps"].to_string(),
            "Nat IPs must be empty when natIpAllocateOption is AUTO_ONLY.",
        )),
        ("MANUAL_ONLY", 0) => Err(ApiError::required(&format!("{field}.natIps"))),
        _ => Ok(()),
    }
}

/// Each listed subnetwork exists, in the router's region and network.
fn check_subnetworks(
    ctx: &Ctx,
    field: &str,
    net_link: &str,
    nat: &mut Map<String, Value>,
) -> ApiResult<()> {
    for (j, sub) in objects_mut(nat, "subnetworks", &format!("{field}.subnetworks"))?
        .into_iter()
        .enumerate()
    {
        let sub_field = format!("{field}.subnetworks[{j}].name");
        let (path, stored) = ctx.required_reference(sub, "name", &sub_field, SUBNETWORK)?;
        same_region(ctx, &sub_field, &path)?;
        let in_network = stored
            .and_then(|s| s.get("network"))
            .and_then(Value::as_str)
            == Some(net_link);
        if !in_network {
            return Err(ApiError::invalid_field(
                &sub_field,
                &path.self_link(),
                "The subnetwork must be in the router's network.",
            ));
        }
        sub.entry("sourceIpRangesToNat")
            .or_insert_with(|| json!(["ALL_IP_RANGES"]));
    }
    Ok(())
}

/// No other router of the network in this region has a NAT when one covers every
/// subnetwork (`mine_all`), nor a NAT covering every subnetwork when this one has any.
fn check_other_routers(ctx: &Ctx, net_link: &str, mine_all: bool) -> ApiResult<()> {
    let region = ctx.region().unwrap_or_default();
    for (path, other) in ctx.store.live_and_pending() {
        let Some(p) = ResourcePath::parse(path) else {
            continue;
        };
        let same_place = p.collection == "routers"
            && p.scope.region() == Some(region)
            && path != ctx.path
            && other.get("network").and_then(Value::as_str) == Some(net_link);
        if !same_place {
            continue;
        }
        let nats = other.get("nats").and_then(Value::as_array);
        let has_nat = nats.is_some_and(|n| !n.is_empty());
        let other_all = nats.into_iter().flatten().any(|n| {
            n.get("sourceSubnetworkIpRangesToNat")
                .and_then(Value::as_str)
                == Some(ALL_RANGES)
        });
        if (mine_all && has_nat) || other_all {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'resource.nats': router '{}' already has a NAT for \
                 network '{net_link}' in region '{region}', and a NAT with {ALL_RANGES} must be \
                 the only one.",
                p.name
            )));
        }
    }
    Ok(())
}
