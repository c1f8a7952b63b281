//! Site-to-site VPN connections as AWS makes them, where moto 5.x falls short: moto ignores
//! `Options.TunnelOptions` and `Options.StaticRoutesOnly` of CreateVpnConnection, answers
//! neither `options` nor `vgwTelemetry`, lacks DescribeVpnConnections' `vpn-connection-id`
//! filter, and makes a connection `available` at once. For each connection, by (region,
//! connection id), this layer:
//!
//! - checks each requested `TunnelInsideCidr` before moto acts, as AWS does — "A size /30 CIDR
//!   block from the 169.254.0.0/16 range", none of the reserved blocks, "unique across all VPN
//!   connections that use the same virtual private gateway" (EC2 API reference,
//!   VpnTunnelOptionsSpecification,
//!   <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_VpnTunnelOptionsSpecification.html>)
//!   — and that the two tunnels differ; otherwise it answers EC2's `InvalidParameterValue` (400);
//! - records two tunnels: the inside block (a free random /30 when none was asked for), an
//!   outside address (a seeded, public-looking IPv4) and a pre-shared key as AWS generates one
//!   when none is given (32 characters of letters, digits, `.` and `_`, not starting with `0`:
//!   the constraints of `PreSharedKey` on the same page);
//! - adds `options` (`staticRoutesOnly`, `tunnelOptionSet`) and `vgwTelemetry` (one entry per
//!   tunnel, `DOWN`: no IKE peer ever answers in the sandbox) to the CreateVpnConnection and
//!   DescribeVpnConnections answers, in the shapes `VpnConnectionOptions`, `TunnelOption` and
//!   `VgwTelemetry` of the EC2 API reference (element names as in botocore's EC2 service
//!   model, which the AWS SDKs are generated from);
//! - implements the `vpn-connection-id` filter (EC2 API reference, DescribeVpnConnections);
//! - with a pending window (the `cloud` profile), reads a new connection `pending` for a seeded
//!   delay before `available` (`VpnState`: pending, available, deleting, deleted; a new
//!   connection takes minutes to become available: "Get started with AWS Site-to-Site VPN",
//!   <https://docs.aws.amazon.com/vpn/latest/s2svpn/SetUpVPNConnections.html>).
//!
//! moto's `customerGatewayConfiguration` (a fixed sample document) passes through unchanged.

use crate::answer::AwsError;
use crate::call::Call;
use crate::xml;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The inside blocks AWS reserves (VpnTunnelOptionsSpecification, `TunnelInsideCidr`).
pub const RESERVED: [&str; 7] = [
    "169.254.0.0/30",
    "169.254.1.0/30",
    "169.254.2.0/30",
    "169.254.3.0/30",
    "169.254.4.0/30",
    "169.254.5.0/30",
    "169.254.169.252/30",
];

/// DescribeVpnConnections' filter by id, which moto lacks.
const ID_FILTER: &str = "vpn-connection-id";

/// The characters of a generated pre-shared key.
const KEY_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
/// The length of a pre-shared key AWS generates.
const KEY_LENGTH: usize = 32;
/// First octets of address blocks announced for EC2, so that outside addresses look real.
const PUBLIC_FIRST_OCTETS: &[u8] = &[3, 13, 15, 18, 34, 35, 44, 52, 54];

/// (region, connection id). Not keyed by the caller's access key: another session of the same
/// account (a second AssumeRole) sees the same connection, as on AWS, and moto's connection
/// ids are unique across accounts.
type Key = (String, String);

/// Query parameters, in order.
pub type Params = Vec<(String, String)>;

/// One tunnel of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// The AWS side's outside (public) address.
    pub outside: Ipv4Addr,
    /// The network address of the tunnel's /30 inside block.
    pub inside: Ipv4Addr,
    /// The pre-shared key.
    pub preshared_key: String,
}

#[derive(Debug, Clone)]
struct Connection {
    gateway: String,
    static_routes_only: bool,
    tunnels: [Tunnel; 2],
    available_at: Instant,
    since: chrono::DateTime<chrono::Utc>,
    deleted: bool,
}

/// What a CreateVpnConnection asks of its tunnels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requested {
    /// `Options.StaticRoutesOnly`.
    pub static_routes_only: bool,
    /// `Options.TunnelOptions.N.TunnelInsideCidr` of tunnels 1 and 2 (network addresses).
    pub inside: [Option<Ipv4Addr>; 2],
}

fn invalid(cidr: &str, why: &str) -> AwsError {
    AwsError::new(
        400,
        "InvalidParameterValue",
        format!("Value ({cidr}) for parameter TunnelInsideCidr is invalid. {why}"),
    )
}

fn block(network: Ipv4Addr) -> String {
    format!("{network}/30")
}

/// A requested inside block, checked as AWS checks it.
fn inside_block(text: &str) -> Result<Ipv4Addr, AwsError> {
    let malformed = || invalid(text, "Expected a /30 CIDR block such as 169.254.10.0/30.");
    let (address, length) = text.split_once('/').ok_or_else(malformed)?;
    let address: Ipv4Addr = address.parse().map_err(|_| malformed())?;
    if length != "30" {
        return Err(invalid(text, "The block must be a /30."));
    }
    let octets = address.octets();
    if octets[..2] != [169, 254] {
        return Err(invalid(text, "The block must be within 169.254.0.0/16."));
    }
    if octets[3] % 4 != 0 {
        return Err(invalid(
            text,
            &format!(
                "Give the block's network address: {}.",
                block(Ipv4Addr::new(169, 254, octets[2], octets[3] & !3))
            ),
        ));
    }
    if RESERVED.contains(&text) {
        return Err(invalid(
            text,
            &format!(
                "The block is reserved; the reserved blocks are {}.",
                RESERVED.join(", ")
            ),
        ));
    }
    Ok(address)
}

/// The tunnel options of a CreateVpnConnection call, checked; the error is AWS's answer.
pub fn requested(call: &Call) -> Result<Requested, AwsError> {
    let mut out = Requested {
        static_routes_only: call.param("Options.StaticRoutesOnly") == Some("true"),
        inside: [None, None],
    };
    for (n, slot) in out.inside.iter_mut().enumerate() {
        let name = format!("Options.TunnelOptions.{}.TunnelInsideCidr", n + 1);
        if let Some(text) = call.param(&name) {
            *slot = Some(inside_block(text)?);
        }
    }
    if let [Some(a), Some(b)] = out.inside {
        if a == b {
            return Err(invalid(
                &block(a),
                "The two tunnels of a VPN connection need different inside blocks.",
            ));
        }
    }
    Ok(out)
}

/// A free /30 in 169.254.0.0/16, neither reserved nor in `used`.
fn free_block(used: &HashSet<Ipv4Addr>, draw: &mut impl FnMut() -> u64) -> Ipv4Addr {
    loop {
        let n = draw();
        let candidate = Ipv4Addr::new(169, 254, (n >> 8) as u8, (n as u8) & !3);
        if !used.contains(&candidate) && !RESERVED.contains(&block(candidate).as_str()) {
            return candidate;
        }
    }
}

/// A public-looking IPv4 address.
fn outside_address(draw: &mut impl FnMut() -> u64) -> Ipv4Addr {
    let n = draw();
    let first = PUBLIC_FIRST_OCTETS[(n % PUBLIC_FIRST_OCTETS.len() as u64) as usize];
    Ipv4Addr::new(
        first,
        (n >> 8) as u8,
        (n >> 16) as u8,
        1 + ((n >> 24) % 254) as u8,
    )
}

/// A pre-shared key as AWS generates one.
pub fn preshared_key(draw: &mut impl FnMut() -> u64) -> String {
    let mut key = String::with_capacity(KEY_LENGTH);
    while key.len() < KEY_LENGTH {
        let c = KEY_CHARS[(draw() % KEY_CHARS.len() as u64) as usize] as char;
        if !(key.is_empty() && c == '0') {
            key.push(c);
        }
    }
    key
}

/// The `options` and `vgwTelemetry` elements of a connection.
fn described(connection: &Connection) -> String {
    let options: String = connection
        .tunnels
        .iter()
        .map(|t| {
            format!(
                "<item><outsideIpAddress>{}</outsideIpAddress><tunnelInsideCidr>{}</tunnelInsideCidr><preSharedKey>{}</preSharedKey></item>",
                t.outside,
                block(t.inside),
                xml::escape(&t.preshared_key)
            )
        })
        .collect();
    let since = connection.since.format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let telemetry: String = connection
        .tunnels
        .iter()
        .map(|t| {
            format!(
                "<item><acceptedRouteCount>0</acceptedRouteCount><lastStatusChange>{since}</lastStatusChange><outsideIpAddress>{}</outsideIpAddress><status>DOWN</status><statusMessage></statusMessage></item>",
                t.outside
            )
        })
        .collect();
    format!(
        "<options><enableAcceleration>false</enableAcceleration><staticRoutesOnly>{}</staticRoutesOnly><localIpv4NetworkCidr>0.0.0.0/0</localIpv4NetworkCidr><remoteIpv4NetworkCidr>0.0.0.0/0</remoteIpv4NetworkCidr><outsideIpAddressType>PublicIpv4</outsideIpAddressType><tunnelInsideIpVersion>ipv4</tunnelInsideIpVersion><tunnelOptionSet>{options}</tunnelOptionSet></options><vgwTelemetry>{telemetry}</vgwTelemetry>",
        connection.static_routes_only
    )
}

/// A DescribeVpnConnections request's parameters without its `vpn-connection-id` filters (the
/// others renumbered), and the ids those select; `None` when it has no such filter.
pub fn without_id_filter(params: &[(String, String)]) -> Option<(Params, HashSet<String>)> {
    let index = |k: &str| {
        k.strip_prefix("Filter.")
            .and_then(|rest| rest.split('.').next())
            .map(str::to_string)
    };
    let id_filters: HashSet<String> = params
        .iter()
        .filter(|(k, v)| k.ends_with(".Name") && v == ID_FILTER)
        .filter_map(|(k, _)| index(k))
        .collect();
    if id_filters.is_empty() {
        return None;
    }
    let mut kept = Vec::new();
    let mut ids = HashSet::new();
    let mut renumbered: HashMap<String, usize> = HashMap::new();
    for (k, v) in params {
        match index(k) {
            Some(n) if id_filters.contains(&n) => {
                if k.contains(".Value.") {
                    ids.insert(v.clone());
                }
            }
            Some(n) => {
                let next = renumbered.len() + 1;
                let m = *renumbered.entry(n.clone()).or_insert(next);
                let rest = &k["Filter.".len() + n.len()..];
                kept.push((format!("Filter.{m}{rest}"), v.clone()));
            }
            None => kept.push((k.clone(), v.clone())),
        }
    }
    Some((kept, ids))
}

/// The connections this layer made AWS-like.
#[derive(Debug, Default)]
pub struct VpnConnections {
    known: Mutex<HashMap<Key, Connection>>,
}

fn key(call: &Call, id: &str) -> Key {
    (call.region.clone(), id.to_string())
}

impl VpnConnections {
    /// What AWS answers a CreateVpnConnection whose tunnel options it refuses, before acting.
    pub fn refusal(&self, call: &Call) -> Option<AwsError> {
        if call.action != "CreateVpnConnection" {
            return None;
        }
        let requested = match requested(call) {
            Ok(requested) => requested,
            Err(refusal) => return Some(refusal),
        };
        let gateway = call.param("VpnGatewayId")?;
        let used = self.used_on(call, gateway);
        requested
            .inside
            .iter()
            .flatten()
            .find(|b| used.contains(b))
            .map(|b| {
                invalid(
                    &block(*b),
                    &format!("The block is used by another VPN connection of {gateway}."),
                )
            })
    }

    /// Inside blocks of the live connections on `gateway`, in the caller's account and region.
    fn used_on(&self, call: &Call, gateway: &str) -> HashSet<Ipv4Addr> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .iter()
            .filter(|((region, _), c)| *region == call.region && !c.deleted && c.gateway == gateway)
            .flat_map(|(_, c)| c.tunnels.iter().map(|t| t.inside))
            .collect()
    }

    /// Records the connection moto's CreateVpnConnection `answer` made, pending for `pending`.
    pub fn record(
        &self,
        call: &Call,
        answer: &str,
        pending: Duration,
        draw: &mut impl FnMut() -> u64,
    ) {
        let Ok(requested) = requested(call) else {
            return;
        };
        let Some(id) = xml::texts(answer, "vpnConnectionId").into_iter().next() else {
            return;
        };
        let gateway = call.param("VpnGatewayId").unwrap_or_default().to_string();
        let mut used = self.used_on(call, &gateway);
        used.extend(requested.inside.iter().flatten());
        let tunnels = requested.inside.map(|wanted| {
            let inside = wanted.unwrap_or_else(|| free_block(&used, draw));
            used.insert(inside);
            Tunnel {
                outside: outside_address(draw),
                inside,
                preshared_key: preshared_key(draw),
            }
        });
        let connection = Connection {
            gateway,
            static_routes_only: requested.static_routes_only,
            tunnels,
            available_at: Instant::now() + pending,
            since: chrono::Utc::now(),
            deleted: false,
        };
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(key(call, &id), connection);
    }

    /// Notes a DeleteVpnConnection moto carried out (its inside blocks are free again).
    pub fn forget(&self, call: &Call) {
        let Some(id) = call.param("VpnConnectionId") else {
            return;
        };
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(connection) = known.get_mut(&key(call, id)) {
            connection.deleted = true;
        }
    }

    /// The tunnels recorded for a connection.
    pub fn tunnels(&self, region: &str, id: &str) -> Option<[Tunnel; 2]> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let key = (region.to_string(), id.to_string());
        known.get(&key).map(|c| c.tunnels.clone())
    }

    /// moto's answer to CreateVpnConnection or DescribeVpnConnections as AWS gives it: options
    /// and telemetry added, `pending` while the connection is, the id filter applied.
    pub fn rewrite(&self, call: &Call, answer: &str) -> String {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let complete = |content: &str| {
            let id = xml::texts(content, "vpnConnectionId").into_iter().next()?;
            let connection = known.get(&key(call, &id))?;
            let mut content = content.to_string();
            if now < connection.available_at {
                content = content.replacen("<state>available</state>", "<state>pending</state>", 1);
            }
            content.push_str(&described(connection));
            Some(content)
        };
        match call.action.as_str() {
            "CreateVpnConnection" => xml::replace_contents(answer, "vpnConnection", complete),
            "DescribeVpnConnections" => {
                let selected = match without_id_filter(&call.params) {
                    Some((_, wanted)) => {
                        let unwanted = xml::texts(answer, "vpnConnectionId")
                            .into_iter()
                            .filter(|id| !wanted.contains(id))
                            .collect();
                        xml::without_entries(answer, &unwanted).0
                    }
                    None => answer.to_string(),
                };
                xml::replace_contents(&selected, "vpnConnectionSet", |set| {
                    Some(xml::replace_contents(set, "item", complete))
                })
            }
            _ => answer.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn call(body: &str) -> Call {
        let mut h = HeaderMap::new();
        let auth = "AWS4-HMAC-SHA256 Credential=K/20260101/eu-west-1/ec2/aws4_request";
        h.insert("authorization", auth.parse().unwrap());
        Call::parse(&h, body.as_bytes())
    }

    fn create(extra: &str) -> Call {
        call(&format!(
            "Action=CreateVpnConnection&Type=ipsec.1&CustomerGatewayId=cgw-1&VpnGatewayId=vgw-1{extra}"
        ))
    }

    fn counter() -> impl FnMut() -> u64 {
        let mut n = 0x9e37_79b9_7f4a_7c15u64;
        move || {
            n = n
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            n >> 11
        }
    }

    const CREATED: &str = r#"<CreateVpnConnectionResponse xmlns="http://ec2.amazonaws.com/doc/2013-10-15/">
  <requestId>r</requestId>
  <vpnConnection>
    <vpnConnectionId>vpn-0123456789abcdef0</vpnConnectionId>
    <state>available</state>
    <customerGatewayConfiguration>&lt;vpn_connection/&gt;</customerGatewayConfiguration>
    <type>ipsec.1</type>
    <customerGatewayId>cgw-1</customerGatewayId>
    <vpnGatewayId>vgw-1</vpnGatewayId>
    <tagSet><item><key>Name</key><value>x</value></item></tagSet>
  </vpnConnection>
</CreateVpnConnectionResponse>"#;

    fn listed(ids: &[&str]) -> String {
        let items: String = ids
            .iter()
            .map(|id| format!("<item><vpnConnectionId>{id}</vpnConnectionId><state>available</state><vpnGatewayId>vgw-1</vpnGatewayId><tagSet><item><key>k</key><value>v</value></item></tagSet></item>"))
            .collect();
        format!("<DescribeVpnConnectionsResponse><requestId>r</requestId><vpnConnectionSet>{items}</vpnConnectionSet></DescribeVpnConnectionsResponse>")
    }

    #[test]
    fn inside_blocks_are_checked_as_aws_checks_them() {
        let inside = |cidr: &str| {
            requested(&create(&format!(
                "&Options.TunnelOptions.1.TunnelInsideCidr={}",
                cidr.replace('/', "%2F")
            )))
        };
        assert_eq!(
            inside("169.254.10.0/30").unwrap().inside,
            [Some(Ipv4Addr::new(169, 254, 10, 0)), None]
        );
        for bad in [
            "169.254.1.0/30",
            "169.254.169.252/30",
            "169.254.10.0/29",
            "10.0.0.0/30",
            "169.254.10.2/30",
            "nonsense",
        ] {
            let refusal = inside(bad).expect_err(bad);
            assert_eq!(
                (refusal.status, refusal.code.as_str()),
                (400, "InvalidParameterValue")
            );
            assert!(refusal.message.contains(bad), "{}", refusal.message);
        }
        let same = requested(&create(
            "&Options.TunnelOptions.1.TunnelInsideCidr=169.254.10.0%2F30&Options.TunnelOptions.2.TunnelInsideCidr=169.254.10.0%2F30",
        ));
        assert!(same.unwrap_err().message.contains("different"));
    }

    #[test]
    fn answers_carry_the_options_and_telemetry_of_the_recorded_tunnels() {
        let connections = VpnConnections::default();
        let created = create(
            "&Options.StaticRoutesOnly=true&Options.TunnelOptions.1.TunnelInsideCidr=169.254.10.0%2F30",
        );
        connections.record(&created, CREATED, Duration::from_secs(60), &mut counter());
        let tunnels = connections
            .tunnels("eu-west-1", "vpn-0123456789abcdef0")
            .unwrap();
        assert_eq!(tunnels[0].inside, Ipv4Addr::new(169, 254, 10, 0));
        assert_ne!(tunnels[1].inside, tunnels[0].inside);
        assert!(!RESERVED.contains(&block(tunnels[1].inside).as_str()));

        let out = connections.rewrite(&created, CREATED);
        let options = xml::elements(&out, "tunnelOptionSet");
        assert_eq!(options.len(), 1);
        assert_eq!(
            xml::texts(options[0], "tunnelInsideCidr"),
            vec!["169.254.10.0/30".to_string(), block(tunnels[1].inside)]
        );
        let keys = xml::texts(options[0], "preSharedKey");
        assert_eq!(
            keys,
            vec![
                tunnels[0].preshared_key.clone(),
                tunnels[1].preshared_key.clone()
            ]
        );
        assert!(keys.iter().all(|k| k.len() == 32
            && !k.starts_with('0')
            && k.bytes().all(|b| KEY_CHARS.contains(&b))));
        assert_eq!(xml::texts(&out, "staticRoutesOnly"), vec!["true"]);
        let telemetry = xml::elements(&out, "vgwTelemetry");
        assert_eq!(xml::texts(telemetry[0], "status"), vec!["DOWN", "DOWN"]);
        assert_eq!(
            xml::texts(telemetry[0], "outsideIpAddress"),
            vec![
                tunnels[0].outside.to_string(),
                tunnels[1].outside.to_string()
            ]
        );
        // Pending for its window; the rest of the answer is moto's.
        assert_eq!(xml::texts(&out, "state"), vec!["pending"]);
        assert_eq!(xml::texts(&out, "value"), vec!["x"]);
        assert!(out.contains(
            "<customerGatewayConfiguration>&lt;vpn_connection/&gt;</customerGatewayConfiguration>"
        ));

        // The same block again on the same gateway is refused; another gateway may use it.
        let again = create("&Options.TunnelOptions.2.TunnelInsideCidr=169.254.10.0%2F30");
        assert!(connections
            .refusal(&again)
            .unwrap()
            .message
            .contains("vgw-1"));
        let elsewhere = call_on_gateway("vgw-2");
        assert!(connections.refusal(&elsewhere).is_none());
        connections.forget(&call(
            "Action=DeleteVpnConnection&VpnConnectionId=vpn-0123456789abcdef0",
        ));
        assert!(connections.refusal(&again).is_none());
    }

    fn call_on_gateway(gateway: &str) -> Call {
        call(&format!("Action=CreateVpnConnection&Type=ipsec.1&CustomerGatewayId=cgw-1&VpnGatewayId={gateway}&Options.TunnelOptions.1.TunnelInsideCidr=169.254.10.0%2F30"))
    }

    #[test]
    fn describe_answers_are_completed_and_filtered_by_id() {
        let connections = VpnConnections::default();
        connections.record(&create(""), CREATED, Duration::ZERO, &mut counter());
        let describe = call(
            "Action=DescribeVpnConnections&Filter.1.Name=tag%3Ak&Filter.1.Value.1=v&Filter.2.Name=vpn-connection-id&Filter.2.Value.1=vpn-0123456789abcdef0&Filter.3.Name=state&Filter.3.Value.1=available",
        );
        let (forwarded, ids) = without_id_filter(&describe.params).unwrap();
        assert_eq!(ids, HashSet::from(["vpn-0123456789abcdef0".to_string()]));
        let names: Vec<String> = forwarded.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            names,
            vec![
                "Action=DescribeVpnConnections",
                "Filter.1.Name=tag:k",
                "Filter.1.Value.1=v",
                "Filter.2.Name=state",
                "Filter.2.Value.1=available"
            ]
        );
        let answer = listed(&["vpn-0123456789abcdef0", "vpn-0123456789abcdef1"]);
        let out = connections.rewrite(&describe, &answer);
        assert_eq!(
            xml::texts(&out, "vpnConnectionId"),
            vec!["vpn-0123456789abcdef0"]
        );
        assert_eq!(xml::texts(&out, "state"), vec!["available"]);
        assert_eq!(xml::texts(&out, "preSharedKey").len(), 2);
        // Unfiltered: both listed, the unknown one as moto has it.
        let all = connections.rewrite(&call("Action=DescribeVpnConnections"), &answer);
        assert_eq!(xml::texts(&all, "vpnConnectionId").len(), 2);
        assert_eq!(xml::elements(&all, "options").len(), 1);
        assert!(without_id_filter(&call("Action=DescribeVpnConnections").params).is_none());
    }
}
