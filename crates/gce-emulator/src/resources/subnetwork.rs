//! Subnetworks (`regions/{r}/subnetworks`): the network must exist and be a VPC network;
//! primary and secondary IPv4 ranges must be valid, canonical, of a size Compute allows, and
//! must not overlap any other range in the same network (in any region).

use super::{check_name, default, get_str, network, objects_mut, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::net::{is_forbidden_subnet_range, Cidr};
use crate::paths::{ResourcePath, ScopeKind};
use serde_json::{json, Map, Value};

const NETWORK: &[(ScopeKind, &str)] = &[(ScopeKind::Global, "networks")];

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let (_, net) = ctx.required_reference(body, "network", "resource.network", NETWORK)?;
    let net_link = get_str(body, "network").unwrap_or_default().to_string();
    if net.is_some_and(network::is_legacy) {
        return Err(ApiError::invalid_field(
            "resource.network",
            &net_link,
            "Subnetworks cannot be created in a legacy network.",
        ));
    }
    let raw = get_str(body, "ipCidrRange")
        .ok_or_else(|| ApiError::required("resource.ipCidrRange"))?
        .to_string();
    let primary = parse_range("resource.ipCidrRange", &raw)?;
    let mut mine = vec![(primary, raw.clone())];
    for (i, sec) in objects_mut(body, "secondaryIpRanges", "resource.secondaryIpRanges")?
        .into_iter()
        .enumerate()
    {
        let field = format!("resource.secondaryIpRanges[{i}]");
        let name = get_str(sec, "rangeName")
            .ok_or_else(|| ApiError::required(&format!("{field}.rangeName")))?;
        check_name(&format!("{field}.rangeName"), name)?;
        let r = get_str(sec, "ipCidrRange")
            .ok_or_else(|| ApiError::required(&format!("{field}.ipCidrRange")))?;
        mine.push((
            parse_range(&format!("{field}.ipCidrRange"), r)?,
            r.to_string(),
        ));
    }
    check_own_overlaps(&mine)?;
    check_network_overlaps(ctx, &net_link, &mine)?;
    if let Some(gw) = primary.nth(1) {
        body.insert("gatewayAddress".into(), json!(gw.to_string()));
    }
    default(body, "privateIpGoogleAccess", json!(false));
    default(body, "purpose", json!("PRIVATE"));
    default(body, "stackType", json!("IPV4_ONLY"));
    super::check_enum(
        body,
        "stackType",
        "resource.stackType",
        &["IPV4_ONLY", "IPV4_IPV6", "IPV6_ONLY"],
    )?;
    Ok(())
}

fn parse_range(field: &str, raw: &str) -> ApiResult<Cidr> {
    let cidr = Cidr::parse(raw, true)
        .map_err(|e| ApiError::invalid_field(field, raw, &format!("The range {e}.")))?;
    if !(8..=29).contains(&cidr.prefix) {
        return Err(ApiError::invalid_field(
            field,
            raw,
            "The prefix length of an IPv4 subnetwork range must be between /8 and /29.",
        ));
    }
    if is_forbidden_subnet_range(&cidr) {
        return Err(ApiError::invalid_field(
            field,
            raw,
            "The range is reserved and cannot be used.",
        ));
    }
    Ok(cidr)
}

fn check_own_overlaps(ranges: &[(Cidr, String)]) -> ApiResult<()> {
    for (i, (a, ra)) in ranges.iter().enumerate() {
        if let Some((_, rb)) = ranges[i + 1..].iter().find(|(b, _)| a.overlaps(b)) {
            return Err(ApiError::invalid(format!(
                "Invalid IPCidrRange: {rb} conflicts with existing subnetwork range {ra}."
            )));
        }
    }
    Ok(())
}

/// Every IPv4 range of a stored subnetwork (primary and secondary).
fn ranges_of(subnet: &Value) -> Vec<Cidr> {
    let primary = subnet.get("ipCidrRange").and_then(Value::as_str);
    let secondary = subnet
        .get("secondaryIpRanges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("ipCidrRange").and_then(Value::as_str));
    primary
        .into_iter()
        .chain(secondary)
        .filter_map(|r| Cidr::parse(r, false).ok())
        .collect()
}

fn check_network_overlaps(ctx: &Ctx, net_link: &str, mine: &[(Cidr, String)]) -> ApiResult<()> {
    let others = ctx.store.live_and_pending().filter(|(k, v)| {
        k.as_str() != ctx.path
            && ResourcePath::parse(k).is_some_and(|p| p.collection == "subnetworks")
            && v.get("network").and_then(Value::as_str) == Some(net_link)
    });
    for (path, other) in others {
        let theirs = ranges_of(other);
        for (cidr, raw) in mine {
            if theirs.iter().any(|t| t.overlaps(cidr)) {
                let p = ResourcePath::parse(path);
                let region = p
                    .as_ref()
                    .and_then(|p| p.scope.region())
                    .unwrap_or_default();
                let name = p.as_ref().map(|p| p.name.as_str()).unwrap_or_default();
                return Err(ApiError::invalid(format!(
                    "Invalid IPCidrRange: {raw} conflicts with existing subnetwork '{name}' in region '{region}'."
                )));
            }
        }
    }
    Ok(())
}

/// The primary range of a stored subnetwork.
pub fn primary_range(subnet: &Value) -> Option<Cidr> {
    subnet
        .get("ipCidrRange")
        .and_then(Value::as_str)
        .and_then(|r| Cidr::parse(r, false).ok())
}
