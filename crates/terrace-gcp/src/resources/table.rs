//! The table of types: per type its Compute collection, fields with their kinds (which are
//! required, which force a replacement, which are changed in place and how), computed
//! attributes with where Compute answers them, and hooks. Documented in the crate's README.

use super::hooks::{network_defaults, unsettled};
use super::{Field, KindDef, Mode};
use crate::api::collections::*;
use crate::api::Collection;
use terrace_provider::FieldKind::{self, Bool, Cidr, List, Map, Number, String, StringMap};

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

/// A type with no labels, no fingerprint, no extra attributes and no hooks.
const fn kind(
    type_name: &'static str,
    calls: &'static dyn Collection,
    fields: &'static [Field],
) -> KindDef {
    KindDef {
        type_name,
        calls,
        labels: false,
        fingerprint: false,
        fields,
        attributes: &[],
        prepare: None,
        unsettled: None,
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
        prepare: Some(network_defaults),
        ..kind(
            "gcp:compute:Network",
            NETWORKS,
            &[
                field("auto_create_subnetworks", Bool, ForceNew),
                // networks.patch: "Only routingConfig can be modified." (Compute's reference)
                field("mtu", Number, ForceNew),
                opaque("routing_config", Map, Patch, false),
            ],
        )
    },
    KindDef {
        fingerprint: true,
        attributes: &[("gateway_address", "/gatewayAddress")],
        ..kind(
            "gcp:compute:Subnetwork",
            SUBNETWORKS,
            &[
                required("network", String, ForceNew),
                required("ip_cidr_range", Cidr, ForceNew),
                field("private_ip_google_access", Bool, PrivateIpGoogleAccess),
                field("secondary_ip_ranges", List, Patch),
            ],
        )
    },
    KindDef {
        ..kind(
            "gcp:compute:Firewall",
            FIREWALLS,
            &[
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
        )
    },
    KindDef {
        labels: true,
        attributes: &[
            ("network_ip", "/networkInterfaces/0/networkIP"),
            ("status", "/status"),
        ],
        ..kind(
            "gcp:compute:Instance",
            INSTANCES,
            &[
                required("zone", String, ForceNew),
                required("machine_type", String, ForceNew),
                opaque("disks", List, ForceNew, true),
                opaque("network_interfaces", List, ForceNew, true),
                opaque("metadata", Map, ForceNew, false),
                opaque("tags", Map, ForceNew, false),
                opaque("service_accounts", List, ForceNew, false),
                LABELS,
            ],
        )
    },
    KindDef {
        ..kind(
            "gcp:compute:InstanceTemplate",
            INSTANCE_TEMPLATES,
            &[opaque("properties", Map, ForceNew, true)],
        )
    },
    KindDef {
        fingerprint: true,
        attributes: &[("instance_group", "/instanceGroup")],
        unsettled: Some(unsettled),
        ..kind(
            "gcp:compute:RegionInstanceGroupManager",
            REGION_INSTANCE_GROUP_MANAGERS,
            &[
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
        )
    },
    KindDef {
        ..kind(
            "gcp:compute:RegionAutoscaler",
            REGION_AUTOSCALERS,
            &[
                required("target", String, ForceNew),
                opaque("autoscaling_policy", Map, Patch, true),
            ],
        )
    },
    KindDef {
        ..kind(
            "gcp:compute:HealthCheck",
            HEALTH_CHECKS,
            HEALTH_CHECK_FIELDS,
        )
    },
    KindDef {
        ..kind(
            "gcp:compute:RegionHealthCheck",
            REGION_HEALTH_CHECKS,
            HEALTH_CHECK_FIELDS,
        )
    },
    KindDef {
        fingerprint: true,
        ..kind(
            "gcp:compute:BackendService",
            BACKEND_SERVICES,
            BACKEND_SERVICE_FIELDS,
        )
    },
    KindDef {
        fingerprint: true,
        ..kind(
            "gcp:compute:RegionBackendService",
            REGION_BACKEND_SERVICES,
            BACKEND_SERVICE_FIELDS,
        )
    },
    KindDef {
        labels: true,
        fingerprint: true,
        attributes: &[("ip_address", "/IPAddress")],
        ..kind(
            "gcp:compute:ForwardingRule",
            FORWARDING_RULES,
            &[
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
        )
    },
    KindDef {
        labels: true,
        fingerprint: true,
        attributes: &[("ip_address", "/IPAddress")],
        ..kind(
            "gcp:compute:GlobalForwardingRule",
            GLOBAL_FORWARDING_RULES,
            &[
                field("ip_protocol", String, ForceNew),
                field("ip_address", String, ForceNew),
                field("port_range", String, ForceNew),
                field("load_balancing_scheme", String, ForceNew),
                field("target", String, ForceNew),
                LABELS,
            ],
        )
    },
    KindDef {
        ..kind(
            "gcp:compute:TargetTcpProxy",
            TARGET_TCP_PROXIES,
            &[
                required("service", String, ForceNew),
                field("proxy_header", String, ForceNew),
            ],
        )
    },
    KindDef {
        ..kind(
            "gcp:compute:Router",
            ROUTERS,
            &[
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
        )
    },
    // HA VPN gateway: two interfaces, each with an external address Google picks
    // (`vpn_interfaces`, read back; each address also as `interface<N>_ip_address`). Nothing changes in place but the labels.
    KindDef {
        labels: true,
        attributes: &[
            ("vpn_interfaces", "/vpnInterfaces"),
            ("interface0_ip_address", "/vpnInterfaces/0/ipAddress"),
            ("interface1_ip_address", "/vpnInterfaces/1/ipAddress"),
        ],
        ..kind(
            "gcp:compute:VpnGateway",
            VPN_GATEWAYS,
            &[
                required("network", String, ForceNew),
                field("stack_type", String, ForceNew),
                LABELS,
            ],
        )
    },
    // The peer of an HA VPN (the AWS side's tunnel addresses).
    KindDef {
        labels: true,
        ..kind(
            "gcp:compute:ExternalVpnGateway",
            EXTERNAL_VPN_GATEWAYS,
            &[
                required("redundancy_type", String, ForceNew),
                required("interfaces", List, ForceNew),
                LABELS,
            ],
        )
    },
    // An HA VPN tunnel from one interface of an HA VPN gateway to one interface of a peer
    // (external) gateway, managed by a Cloud Router (its BGP session is a
    // `gcp:compute:RouterPeer`). Nothing changes in place but the labels: Compute has no
    // vpnTunnels.patch.
    KindDef {
        labels: true,
        attributes: &[
            ("status", "/status"),
            ("detailed_status", "/detailedStatus"),
        ],
        ..kind(
            "gcp:compute:VpnTunnel",
            VPN_TUNNELS,
            &[
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
        )
    },
];

/// Fields Compute takes but never answers back (a tunnel's `sharedSecret` reads as
/// `*************`, with `sharedSecretHash` beside it: `VpnTunnel` in Compute's reference):
/// not read back, so compared with what was applied; and secrets (`FieldSchema::sensitive`).
pub const WRITE_ONLY: &[&str] = &["shared_secret"];
