//! Firewall rules (`global/firewalls`): network defaulting to `global/networks/default`,
//! exactly one of `allowed`/`denied`, protocol and port syntax, CIDR ranges, direction and
//! priority with Compute's defaults.

use super::{check_enum, default, get_str, int_in, objects_mut, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::net::Cidr;
use crate::paths::ScopeKind;
use serde_json::{json, Map, Value};

const NETWORK: &[(ScopeKind, &str)] = &[(ScopeKind::Global, "networks")];
const PROTOCOLS: &[&str] = &["tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"];

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    default(body, "network", json!("global/networks/default"));
    ctx.required_reference(body, "network", "resource.network", NETWORK)?;
    let rules = match (body.contains_key("allowed"), body.contains_key("denied")) {
        (true, false) => "allowed",
        (false, true) => "denied",
        (true, true) => {
            return Err(ApiError::invalid(
                "Invalid value for field 'resource.denied'. A firewall rule may set 'allowed' or 'denied', not both.",
            ))
        }
        (false, false) => return Err(ApiError::required("resource.allowed")),
    };
    for (i, rule) in objects_mut(body, rules, &format!("resource.{rules}"))?
        .into_iter()
        .enumerate()
    {
        check_rule(&format!("resource.{rules}[{i}]"), rule)?;
    }
    default(body, "direction", json!("INGRESS"));
    check_enum(
        body,
        "direction",
        "resource.direction",
        &["INGRESS", "EGRESS"],
    )?;
    int_in(body, "priority", "resource.priority", 0, 65535)?;
    default(body, "priority", json!(1000));
    default(body, "disabled", json!(false));
    default(body, "logConfig", json!({"enable": false}));
    check_ranges(body, "sourceRanges")?;
    check_ranges(body, "destinationRanges")?;
    default_ranges(body);
    Ok(())
}

fn check_rule(field: &str, rule: &Map<String, Value>) -> ApiResult<()> {
    let proto = get_str(rule, "IPProtocol")
        .ok_or_else(|| ApiError::required(&format!("{field}.IPProtocol")))?;
    let numeric = proto.parse::<u8>().is_ok();
    if !numeric && !PROTOCOLS.contains(&proto) {
        return Err(ApiError::invalid_field(
            &format!("{field}.IPProtocol"),
            proto,
            "Invalid IP protocol.",
        ));
    }
    let ports = rule
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !ports.is_empty() && !["tcp", "udp", "sctp", "all"].contains(&proto) {
        return Err(ApiError::invalid_field(
            &format!("{field}.ports"),
            &Value::Array(ports).to_string(),
            "Ports may only be specified for tcp, udp, sctp or all.",
        ));
    }
    for p in &ports {
        let s = p.as_str().unwrap_or_default();
        if !valid_port_spec(s) {
            return Err(ApiError::invalid_field(
                &format!("{field}.ports"),
                s,
                "Invalid port or port range.",
            ));
        }
    }
    Ok(())
}

/// `80` or `8000-9000`, ports 0..=65535, low ≤ high.
pub fn valid_port_spec(s: &str) -> bool {
    let port = |p: &str| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    };
    match s.split_once('-') {
        None => port(s),
        Some((a, b)) => port(a) && port(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok(),
    }
}

fn check_ranges(body: &Map<String, Value>, key: &str) -> ApiResult<()> {
    let Some(items) = body.get(key).and_then(Value::as_array) else {
        return Ok(());
    };
    for r in items {
        let s = r.as_str().unwrap_or_default();
        let ok = if s.contains(':') {
            s.split('/')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        } else if s.contains('/') {
            Cidr::parse(s, false).is_ok()
        } else {
            s.parse::<std::net::Ipv4Addr>().is_ok()
        };
        if !ok {
            return Err(ApiError::invalid_field(
                &format!("resource.{key}"),
                s,
                "Must be a valid CIDR range or IP address.",
            ));
        }
    }
    Ok(())
}

/// With no source (ingress) or destination (egress) given, Compute applies the rule to
/// every address and says so with `0.0.0.0/0`.
fn default_ranges(body: &mut Map<String, Value>) {
    let ingress = get_str(body, "direction") == Some("INGRESS");
    let has = |b: &Map<String, Value>, k: &str| {
        b.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    let no_source = !has(body, "sourceRanges")
        && !has(body, "sourceTags")
        && !has(body, "sourceServiceAccounts");
    if ingress && no_source {
        body.insert("sourceRanges".into(), json!(["0.0.0.0/0"]));
    }
    if !ingress && !has(body, "destinationRanges") {
        body.insert("destinationRanges".into(), json!(["0.0.0.0/0"]));
    }
}
