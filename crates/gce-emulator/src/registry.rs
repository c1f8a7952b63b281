//! The table of emulated collections. Each entry says where a collection lives, what Compute
//! calls its resources and lists, which methods it has, which fields are back-references or
//! immutable, and which validation hook (in `resources::*`) prepares an insert or update. The
//! CRUD logic itself is written once, in `collection`.

use crate::errors::ApiResult;
use crate::paths::ScopeKind;
use crate::resources::{self, Ctx};
use serde_json::{Map, Value};

/// Validates a request body and fills in Compute's defaults and derived fields.
pub type Prepare = fn(&mut Ctx, &mut Map<String, Value>) -> ApiResult<()>;

/// A check run before a delete is accepted.
pub type BeforeDelete = fn(&Value) -> ApiResult<()>;

/// One emulated collection.
pub struct KindSpec {
    /// URL segment, e.g. `networks`.
    pub collection: &'static str,
    pub scope: ScopeKind,
    /// `kind` of a resource, e.g. `compute#network`.
    pub kind: &'static str,
    /// `kind` of a list, e.g. `compute#networkList`.
    pub list_kind: &'static str,
    /// Name used in "The <singular> resource ... is already being used by ..." messages.
    pub singular: &'static str,
    /// PATCH supported.
    pub patch: bool,
    /// PUT (update) supported.
    pub update: bool,
    /// POST .../{name}/setLabels supported (and the resource has labels/labelFingerprint).
    pub set_labels: bool,
    /// Has a `fingerprint` that PATCH/PUT must quote (else 412 conditionNotMet).
    pub fingerprint: bool,
    /// Has `selfLinkWithId`.
    pub self_link_with_id: bool,
    /// Top-level fields that point back at referrers (ignored by in-use checks).
    pub backrefs: &'static [&'static str],
    /// Top-level fields an update may not change.
    pub immutable: &'static [&'static str],
    /// When Compute's reference limits what PATCH may change, the top-level fields it may
    /// (enforced with `strict_patch`); `None`: a JSON merge patch of any mutable field.
    pub patchable: Option<&'static [&'static str]>,
    /// Query parameters besides `requestId` that insert/patch accept.
    pub extra_params: &'static [&'static str],
    /// For collections whose patch/update address the resource by a query parameter
    /// (regionAutoscalers: `?autoscaler=`), that parameter's name.
    pub name_param: Option<&'static str>,
    pub prepare: Prepare,
    pub before_delete: Option<BeforeDelete>,
}

const fn spec(
    collection: &'static str,
    scope: ScopeKind,
    kind: &'static str,
    list_kind: &'static str,
    singular: &'static str,
    prepare: Prepare,
) -> KindSpec {
    KindSpec {
        collection,
        scope,
        kind,
        list_kind,
        singular,
        patch: false,
        update: false,
        set_labels: false,
        fingerprint: false,
        self_link_with_id: false,
        backrefs: &[],
        immutable: &[],
        patchable: None,
        extra_params: &[],
        name_param: None,
        prepare,
        before_delete: None,
    }
}

use ScopeKind::{Global, Regional, Zonal};

/// `networks.patch`: "Only routingConfig can be modified." (discovery document, revision
/// 20261106; the v1 reference page says "Only the following fields can be modified:
/// routingConfig.routingMode", <https://cloud.google.com/compute/docs/reference/rest/v1/networks/patch>).
const NETWORK_PATCH: &[&str] = &["routingConfig"];

/// `subnetworks.patch`: "Only certain fields can be updated with a patch request as indicated
/// in the field descriptions": `secondaryIpRanges`, `stackType`, `privateIpv6GoogleAccess`,
/// `role` ("can be updated with a patch request"), `ipv6AccessType` (set "the first time the
/// subnet is updated into IPV4_IPV6"). `privateIpGoogleAccess` is "updated using
/// setPrivateIpGoogleAccess", `ipCidrRange` by `expandIpCidrRange`.
const SUBNETWORK_PATCH: &[&str] = &[
    "secondaryIpRanges",
    "stackType",
    "privateIpv6GoogleAccess",
    "role",
    "ipv6AccessType",
];

/// `forwardingRules.patch` / `globalForwardingRules.patch`: "Currently, you can only patch
/// the network_tier field." (discovery document); `allowGlobalAccess` and
/// `allowPscGlobalAccess` are patched too (kubernetes/ingress-gce#2665,
/// GoogleCloudPlatform/k8s-config-connector#2753, hashicorp/terraform-provider-google#15586),
/// while `description` is not (GoogleCloudPlatform/magic-modules#9759). Labels go through
/// setLabels and the target through setTarget.
const FORWARDING_RULE_PATCH: &[&str] =
    &["networkTier", "allowGlobalAccess", "allowPscGlobalAccess"];

/// Every emulated collection.
pub static SPECS: &[KindSpec] = &[
    KindSpec {
        patch: true,
        self_link_with_id: true,
        backrefs: &["subnetworks"],
        immutable: &["autoCreateSubnetworks", "IPv4Range"],
        patchable: Some(NETWORK_PATCH),
        ..spec(
            "networks",
            Global,
            "compute#network",
            "compute#networkList",
            "network",
            resources::network::prepare,
        )
    },
    KindSpec {
        patch: true,
        fingerprint: true,
        immutable: &["network", "ipCidrRange"],
        patchable: Some(SUBNETWORK_PATCH),
        extra_params: &["drainTimeoutSeconds"],
        ..spec(
            "subnetworks",
            Regional,
            "compute#subnetwork",
            "compute#subnetworkList",
            "subnetwork",
            resources::subnetwork::prepare,
        )
    },
    KindSpec {
        patch: true,
        update: true,
        immutable: &["network", "direction"],
        ..spec(
            "firewalls",
            Global,
            "compute#firewall",
            "compute#firewallList",
            "firewall",
            resources::firewall::prepare,
        )
    },
    KindSpec {
        set_labels: true,
        fingerprint: true,
        extra_params: &["sourceInstanceTemplate", "sourceMachineImage"],
        before_delete: Some(resources::instance::before_delete),
        ..spec(
            "instances",
            Zonal,
            "compute#instance",
            "compute#instanceList",
            "instance",
            resources::instance::prepare,
        )
    },
    spec(
        "instanceTemplates",
        Global,
        "compute#instanceTemplate",
        "compute#instanceTemplateList",
        "instance_template",
        resources::instance_template::prepare,
    ),
    spec(
        "instanceTemplates",
        Regional,
        "compute#instanceTemplate",
        "compute#instanceTemplateList",
        "instance_template",
        resources::instance_template::prepare,
    ),
    KindSpec {
        patch: true,
        fingerprint: true,
        backrefs: &["instanceGroup"],
        immutable: &["baseInstanceName"],
        ..spec(
            "instanceGroupManagers",
            Regional,
            "compute#instanceGroupManager",
            "compute#regionInstanceGroupManagerList",
            "instance_group_manager",
            resources::igm::prepare,
        )
    },
    KindSpec {
        patch: true,
        update: true,
        immutable: &["target"],
        name_param: Some("autoscaler"),
        ..spec(
            "autoscalers",
            Regional,
            "compute#autoscaler",
            "compute#regionAutoscalerList",
            "autoscaler",
            resources::autoscaler::prepare,
        )
    },
    KindSpec {
        patch: true,
        update: true,
        ..spec(
            "healthChecks",
            Global,
            "compute#healthCheck",
            "compute#healthCheckList",
            "health_check",
            resources::health_check::prepare,
        )
    },
    KindSpec {
        patch: true,
        update: true,
        ..spec(
            "healthChecks",
            Regional,
            "compute#healthCheck",
            "compute#healthCheckList",
            "health_check",
            resources::health_check::prepare,
        )
    },
    KindSpec {
        patch: true,
        update: true,
        fingerprint: true,
        immutable: &["loadBalancingScheme", "network"],
        ..spec(
            "backendServices",
            Global,
            "compute#backendService",
            "compute#backendServiceList",
            "backend_service",
            resources::backend_service::prepare,
        )
    },
    KindSpec {
        patch: true,
        update: true,
        fingerprint: true,
        immutable: &["loadBalancingScheme", "network"],
        ..spec(
            "backendServices",
            Regional,
            "compute#backendService",
            "compute#backendServiceList",
            "backend_service",
            resources::backend_service::prepare,
        )
    },
    KindSpec {
        patch: true,
        set_labels: true,
        fingerprint: true,
        immutable: &[
            "IPAddress",
            "IPProtocol",
            "loadBalancingScheme",
            "network",
            "subnetwork",
        ],
        patchable: Some(FORWARDING_RULE_PATCH),
        ..spec(
            "forwardingRules",
            Regional,
            "compute#forwardingRule",
            "compute#forwardingRuleList",
            "forwarding_rule",
            resources::forwarding_rule::prepare,
        )
    },
    KindSpec {
        patch: true,
        set_labels: true,
        fingerprint: true,
        immutable: &[
            "IPAddress",
            "IPProtocol",
            "loadBalancingScheme",
            "network",
            "subnetwork",
        ],
        patchable: Some(FORWARDING_RULE_PATCH),
        ..spec(
            "forwardingRules",
            Global,
            "compute#forwardingRule",
            "compute#forwardingRuleList",
            "forwarding_rule",
            resources::forwarding_rule::prepare,
        )
    },
    // Cloud Routers with their Cloud NAT gateways: `routers.patch` is a JSON merge patch of
    // any field and `routers.update` a PUT ("Patches the specified Router resource with the
    // data included in the request. This method supports PATCH semantics and uses JSON merge
    // patch format", discovery document); a router has no fingerprint; `network` cannot move.
    KindSpec {
        patch: true,
        update: true,
        immutable: &["network"],
        ..spec(
            "routers",
            Regional,
            "compute#router",
            "compute#routerList",
            "router",
            resources::router::prepare,
        )
    },
    // Static routes: insert, get, list and delete only (no patch or update in Compute).
    spec(
        "routes",
        Global,
        "compute#route",
        "compute#routeList",
        "route",
        resources::route::prepare,
    ),
    // HA VPN: gateways and tunnels are regional, peer gateways global; all three carry labels
    // (setLabels) and have no patch or update method.
    KindSpec {
        set_labels: true,
        immutable: &["network"],
        ..spec(
            "vpnGateways",
            Regional,
            "compute#vpnGateway",
            "compute#vpnGatewayList",
            "vpn_gateway",
            resources::vpn::prepare_gateway,
        )
    },
    KindSpec {
        set_labels: true,
        ..spec(
            "externalVpnGateways",
            Global,
            "compute#externalVpnGateway",
            "compute#externalVpnGatewayList",
            "external_vpn_gateway",
            resources::vpn::prepare_external,
        )
    },
    KindSpec {
        set_labels: true,
        ..spec(
            "vpnTunnels",
            Regional,
            "compute#vpnTunnel",
            "compute#vpnTunnelList",
            "vpn_tunnel",
            resources::vpn::prepare_tunnel,
        )
    },
    spec(
        "targetTcpProxies",
        Global,
        "compute#targetTcpProxy",
        "compute#targetTcpProxyList",
        "target_tcp_proxy",
        resources::target_tcp_proxy::prepare,
    ),
    spec(
        "targetTcpProxies",
        Regional,
        "compute#targetTcpProxy",
        "compute#targetTcpProxyList",
        "target_tcp_proxy",
        resources::target_tcp_proxy::prepare,
    ),
];

impl KindSpec {
    /// The discovery schema of the resource: `compute#instanceGroupManager` is
    /// `InstanceGroupManager`.
    pub fn schema(&self) -> String {
        let short = self.kind.trim_start_matches("compute#");
        let mut chars = short.chars();
        chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }

    /// The schema of this collection's setLabels request body.
    pub fn set_labels_schema(&self) -> &'static str {
        match self.scope {
            Zonal => "InstancesSetLabelsRequest",
            Regional => "RegionSetLabelsRequest",
            Global => "GlobalSetLabelsRequest",
        }
    }
}

/// The spec of a collection in a kind of scope.
pub fn spec_for(scope: ScopeKind, collection: &str) -> Option<&'static KindSpec> {
    SPECS
        .iter()
        .find(|s| s.scope == scope && s.collection == collection)
}
