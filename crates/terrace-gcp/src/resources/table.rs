//! The table of types: fields with their kinds, which are required, which force a
//! replacement and which are changed in place. Documented in the crate's README.

use super::{Field, Kind, KindDef, Mode, Scope};
use terrace::provider::FieldKind::{self, Bool, Cidr, List, Map, Number, String, StringMap};

const fn field(name: &'static str, kind: FieldKind, mode: Mode) -> Field {
    Field {
        name,
        kind,
        required: false,
        mode,
        cloud_defaults: false,
    }
}

const fn required(name: &'static str, kind: FieldKind, mode: Mode) -> Field {
    Field {
        required: true,
        ..field(name, kind, mode)
    }
}

/// A field Compute completes with defaults at some depth (a backend's `balancingMode`, a
/// disk's `type`): read back, and compared by the leaves a template sets
/// (`FieldSchema::cloud_defaults`).
const fn opaque(name: &'static str, kind: FieldKind, mode: Mode, required: bool) -> Field {
    Field {
        name,
        kind,
        required,
        mode,
        cloud_defaults: true,
    }
}

use Mode::{ForceNew, Labels, Patch, PrivateIpGoogleAccess};

const LABELS: Field = field("labels", StringMap, Labels);

const HEALTH_CHECK_FIELDS: &[Field] = &[
    required("type", String, ForceNew),
    opaque("tcp_health_check", Map, Patch, false),
    opaque("http_health_check", Map, Patch, false),
    field("check_interval_sec", Number, Patch),
    field("timeout_sec", Number, Patch),
    field("healthy_threshold", Number, Patch),
    field("unhealthy_threshold", Number, Patch),
];

const BACKEND_SERVICE_FIELDS: &[Field] = &[
    field("load_balancing_scheme", String, ForceNew),
    field("protocol", String, Patch),
    opaque("backends", List, Patch, false),
    field("health_checks", List, Patch),
    field("timeout_sec", Number, Patch),
    field("port_name", String, Patch),
];

pub static KINDS: &[KindDef] = &[
    KindDef {
        kind: Kind::Network,
        type_name: "gcp:compute:Network",
        scope: Scope::Global,
        labels: false,
        fingerprint: false,
        fields: &[
            field("auto_create_subnetworks", Bool, ForceNew),
            // networks.patch: "Only routingConfig can be modified." (Compute's reference)
            field("mtu", Number, ForceNew),
            opaque("routing_config", Map, Patch, false),
        ],
    },
    KindDef {
        kind: Kind::Subnetwork,
        type_name: "gcp:compute:Subnetwork",
        scope: Scope::Regional,
        labels: false,
        fingerprint: true,
        fields: &[
            required("network", String, ForceNew),
            required("ip_cidr_range", Cidr, ForceNew),
            field("private_ip_google_access", Bool, PrivateIpGoogleAccess),
            field("secondary_ip_ranges", List, Patch),
        ],
    },
    KindDef {
        kind: Kind::Firewall,
        type_name: "gcp:compute:Firewall",
        scope: Scope::Global,
        labels: false,
        fingerprint: false,
        fields: &[
            required("network", String, ForceNew),
            field("direction", String, ForceNew),
            field("priority", Number, Patch),
            field("allowed", List, Patch),
            field("denied", List, Patch),
            field("source_ranges", List, Patch),
            field("destination_ranges", List, Patch),
            field("source_tags", List, Patch),
            field("target_tags", List, Patch),
        ],
    },
    KindDef {
        kind: Kind::Instance,
        type_name: "gcp:compute:Instance",
        scope: Scope::Zonal,
        labels: true,
        fingerprint: false,
        fields: &[
            required("zone", String, ForceNew),
            required("machine_type", String, ForceNew),
            opaque("disks", List, ForceNew, true),
            opaque("network_interfaces", List, ForceNew, true),
            opaque("metadata", Map, ForceNew, false),
            opaque("tags", Map, ForceNew, false),
            opaque("service_accounts", List, ForceNew, false),
            LABELS,
        ],
    },
    KindDef {
        kind: Kind::InstanceTemplate,
        type_name: "gcp:compute:InstanceTemplate",
        scope: Scope::Global,
        labels: false,
        fingerprint: false,
        fields: &[opaque("properties", Map, ForceNew, true)],
    },
    KindDef {
        kind: Kind::RegionInstanceGroupManager,
        type_name: "gcp:compute:RegionInstanceGroupManager",
        scope: Scope::Regional,
        labels: false,
        fingerprint: true,
        fields: &[
            required("base_instance_name", String, ForceNew),
            required("instance_template", String, Patch),
            required("target_size", Number, Patch),
            opaque("distribution_policy", Map, ForceNew, false),
            // How a new template reaches running VMs: `{type: PROACTIVE, max_surge: {fixed},
            // max_unavailable: {fixed}, minimal_action: REPLACE}`. Compute fills the rest (and
            // `calculated`), so it is compared with what was applied, not read back.
            opaque("update_policy", Map, Patch, false),
            field("named_ports", List, Patch),
            field("auto_healing_policies", List, Patch),
        ],
    },
    KindDef {
        kind: Kind::RegionAutoscaler,
        type_name: "gcp:compute:RegionAutoscaler",
        scope: Scope::Regional,
        labels: false,
        fingerprint: false,
        fields: &[
            required("target", String, ForceNew),
            opaque("autoscaling_policy", Map, Patch, true),
        ],
    },
    KindDef {
        kind: Kind::HealthCheck,
        type_name: "gcp:compute:HealthCheck",
        scope: Scope::Global,
        labels: false,
        fingerprint: false,
        fields: HEALTH_CHECK_FIELDS,
    },
    KindDef {
        kind: Kind::RegionHealthCheck,
        type_name: "gcp:compute:RegionHealthCheck",
        scope: Scope::Regional,
        labels: false,
        fingerprint: false,
        fields: HEALTH_CHECK_FIELDS,
    },
    KindDef {
        kind: Kind::BackendService,
        type_name: "gcp:compute:BackendService",
        scope: Scope::Global,
        labels: false,
        fingerprint: true,
        fields: BACKEND_SERVICE_FIELDS,
    },
    KindDef {
        kind: Kind::RegionBackendService,
        type_name: "gcp:compute:RegionBackendService",
        scope: Scope::Regional,
        labels: false,
        fingerprint: true,
        fields: BACKEND_SERVICE_FIELDS,
    },
    KindDef {
        kind: Kind::ForwardingRule,
        type_name: "gcp:compute:ForwardingRule",
        scope: Scope::Regional,
        labels: true,
        fingerprint: true,
        fields: &[
            field("ip_protocol", String, ForceNew),
            field("ip_address", String, ForceNew),
            field("port_range", String, ForceNew),
            field("ports", List, ForceNew),
            field("all_ports", Bool, ForceNew),
            field("load_balancing_scheme", String, ForceNew),
            field("network", String, ForceNew),
            field("subnetwork", String, ForceNew),
            field("backend_service", String, ForceNew),
            field("target", String, ForceNew),
            LABELS,
        ],
    },
    KindDef {
        kind: Kind::GlobalForwardingRule,
        type_name: "gcp:compute:GlobalForwardingRule",
        scope: Scope::Global,
        labels: true,
        fingerprint: true,
        fields: &[
            field("ip_protocol", String, ForceNew),
            field("ip_address", String, ForceNew),
            field("port_range", String, ForceNew),
            field("load_balancing_scheme", String, ForceNew),
            field("target", String, ForceNew),
            LABELS,
        ],
    },
    KindDef {
        kind: Kind::TargetTcpProxy,
        type_name: "gcp:compute:TargetTcpProxy",
        scope: Scope::Global,
        labels: false,
        fingerprint: false,
        fields: &[
            required("service", String, ForceNew),
            field("proxy_header", String, ForceNew),
        ],
    },
    KindDef {
        kind: Kind::Router,
        type_name: "gcp:compute:Router",
        scope: Scope::Regional,
        labels: false,
        fingerprint: false,
        fields: &[
            required("network", String, ForceNew),
            // Cloud NAT gateways on the router: `[{name, nat_ip_allocate_option,
            // source_subnetwork_ip_ranges_to_nat, …}]`, changed by PATCH. Compute adds
            // defaults inside them, so they are compared with what was applied.
            opaque("nats", List, Patch, false),
            opaque("bgp", Map, Patch, false),
            // BGP sessions (the replica mesh's HA VPN): `[{name, ip_range, linked_vpn_tunnel}]`
            // and `[{name, interface_name, ip_address, peer_ip_address, peer_asn,
            // custom_learned_ip_ranges, …}]`, changed by PATCH; Compute adds defaults.
            opaque("interfaces", List, Patch, false),
            opaque("bgp_peers", List, Patch, false),
        ],
    },
    // HA VPN gateway: two interfaces, each with an external address Google picks
    // (`vpn_interfaces`, read back; each address also as `interface<N>_ip_address`). Nothing changes in place but the labels.
    KindDef {
        kind: Kind::VpnGateway,
        type_name: "gcp:compute:VpnGateway",
        scope: Scope::Regional,
        labels: true,
        fingerprint: false,
        fields: &[
            required("network", String, ForceNew),
            field("stack_type", String, ForceNew),
            LABELS,
        ],
    },
    // The peer of an HA VPN (the AWS side's tunnel addresses).
    KindDef {
        kind: Kind::ExternalVpnGateway,
        type_name: "gcp:compute:ExternalVpnGateway",
        scope: Scope::Global,
        labels: true,
        fingerprint: false,
        fields: &[
            required("redundancy_type", String, ForceNew),
            required("interfaces", List, ForceNew),
            LABELS,
        ],
    },
    // An HA VPN tunnel from one interface of an HA VPN gateway to one interface of a peer
    // (external) gateway, managed by a Cloud Router (its BGP session is a
    // `gcp:compute:RouterPeer`). Nothing changes in place but the labels: Compute has no
    // vpnTunnels.patch.
    KindDef {
        kind: Kind::VpnTunnel,
        type_name: "gcp:compute:VpnTunnel",
        scope: Scope::Regional,
        labels: true,
        fingerprint: false,
        fields: &[
            required("vpn_gateway", String, ForceNew),
            required("vpn_gateway_interface", Number, ForceNew),
            field("peer_external_gateway", String, ForceNew),
            field("peer_external_gateway_interface", Number, ForceNew),
            field("peer_gcp_gateway", String, ForceNew),
            required("router", String, ForceNew),
            field("ike_version", Number, ForceNew),
            required("shared_secret", String, ForceNew),
            LABELS,
        ],
    },
];

/// Fields Compute takes but never answers back (a tunnel's `sharedSecret` reads as
/// `*************`, with `sharedSecretHash` beside it: `VpnTunnel` in Compute's reference):
/// not read back, so compared with what was applied; and secrets (`FieldSchema::sensitive`).
pub const WRITE_ONLY: &[&str] = &["shared_secret"];

/// Attributes a type computes besides the common ones, with the Compute JSON path they are
/// read from.
pub fn extra_attributes(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Subnetwork => &["gateway_address"],
        Kind::Instance => &["network_ip", "status"],
        Kind::RegionInstanceGroupManager => &["instance_group"],
        Kind::ForwardingRule | Kind::GlobalForwardingRule => &["ip_address"],
        Kind::VpnGateway => &[
            "vpn_interfaces",
            "interface0_ip_address",
            "interface1_ip_address",
        ],
        Kind::VpnTunnel => &["status", "detailed_status"],
        _ => &[],
    }
}

/// Reads the extra attributes of [`extra_attributes`] from Compute's JSON.
pub fn extra_attribute(
    kind: Kind,
    name: &str,
    api: &serde_json::Value,
) -> Option<serde_json::Value> {
    let pointer = match (kind, name) {
        (Kind::Subnetwork, "gateway_address") => "/gatewayAddress",
        (Kind::Instance, "network_ip") => "/networkInterfaces/0/networkIP",
        (Kind::Instance, "status") => "/status",
        (Kind::RegionInstanceGroupManager, "instance_group") => "/instanceGroup",
        (_, "ip_address") => "/IPAddress",
        (Kind::VpnGateway, "vpn_interfaces") => "/vpnInterfaces",
        // Each interface's address on its own, for references that must not index a list.
        (Kind::VpnGateway, "interface0_ip_address") => "/vpnInterfaces/0/ipAddress",
        (Kind::VpnGateway, "interface1_ip_address") => "/vpnInterfaces/1/ipAddress",
        (Kind::VpnTunnel, "status") => "/status",
        (Kind::VpnTunnel, "detailed_status") => "/detailedStatus",
        _ => return None,
    };
    api.pointer(pointer).cloned()
}
