//! The Compute collections, one line each, and the code of every verb written once.
//!
//! `google-cloud-compute-v1` has one typed client per collection, each with its own request
//! builders (`set_network`, `set_subnetwork`, `set_region`, ...), so no generic code can call
//! them; [`compute!`] takes the table below — per collection its URL segment, client, scope
//! (global, region, zone), body model, the setter that names a resource, and which in-place
//! methods it has (PATCH; setLabels with its request model) — and writes one [`Collection`]
//! implementation per line from a single template of list, insert, delete, patch and
//! setLabels. A resource type ([`crate::resources::KindDef`]) points at its collection's
//! constant; everything else about a type is data in `resources::table`.
//!
//! setLabels of a global collection takes no `requestId` (`globalForwardingRules.setLabels`,
//! `externalVpnGateways.setLabels` in Compute's reference); regional and zonal ones do.

use super::{body, to_page, unsupported, Location, Page};
use crate::client::{CallError, Settings};
use async_trait::async_trait;
use google_cloud_compute_v1::client;
use google_cloud_compute_v1::model;
use serde_json::Value as Json;
use std::marker::PhantomData;
use tokio::sync::OnceCell;

/// Where resources of a type live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Regional,
    Zonal,
}

/// What one call is addressed with: the clients, settings, project and location.
pub struct Cx<'a> {
    pub clients: &'a Clients,
    pub settings: &'a Settings,
    pub project: &'a str,
    pub at: &'a Location,
}

/// One Compute collection's calls. Each sends one request (no retry, no polling: the caller
/// retries with the same `requestId` and settles the returned operation).
#[async_trait]
pub trait Collection: Send + Sync {
    /// The collection's URL segment (`subnetworks`).
    fn collection(&self) -> &'static str;
    /// Where its resources live.
    fn scope(&self) -> Scope;
    /// Whether it has `patch`.
    fn has_patch(&self) -> bool;
    /// Whether it has `setLabels`.
    fn has_set_labels(&self) -> bool;
    /// One page (up to 500 items) of `list`, filtered.
    async fn list(
        &self,
        cx: &Cx<'_>,
        filter: Option<String>,
        token: Option<String>,
    ) -> Result<Page, CallError>;
    /// `insert` with Compute's JSON body.
    async fn insert(
        &self,
        cx: &Cx<'_>,
        json: &Json,
        rid: &str,
    ) -> Result<model::Operation, CallError>;
    /// `delete` of the resource named `name`.
    async fn delete(
        &self,
        cx: &Cx<'_>,
        name: &str,
        rid: &str,
    ) -> Result<model::Operation, CallError>;
    /// `patch` with the changed fields; an invalid-argument error where the collection has
    /// no patch.
    async fn patch(
        &self,
        cx: &Cx<'_>,
        name: &str,
        json: &Json,
        rid: &str,
    ) -> Result<model::Operation, CallError>;
    /// `setLabels` with `{labels, labelFingerprint}`; an invalid-argument error where the
    /// collection has none.
    async fn set_labels(
        &self,
        cx: &Cx<'_>,
        name: &str,
        json: &Json,
        rid: &str,
    ) -> Result<model::Operation, CallError>;
}

impl std::fmt::Debug for dyn Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Collection({})", self.collection())
    }
}

/// The calls of the collection whose client is `C`.
pub struct Calls<C>(PhantomData<fn() -> C>);

fn backoff(settings: &Settings) -> google_cloud_gax::exponential_backoff::ExponentialBackoff {
    google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder::new()
        .with_initial_delay(settings.polling_interval)
        .with_maximum_delay(settings.polling_interval.max(settings.max_backoff))
        .with_scaling(1.5)
        .clamp()
}

macro_rules! compute {
    (
        operations { $($op_field:ident: $op_ty:ident),* $(,)? }
        collections { $(
            $name:ident = $coll:literal, $field:ident: $ty:ident, $scope:ident, $body:ident,
            $id:ident, patch: $patch:ident, labels: $labels:tt;
        )* }
    ) => {
        /// The Compute clients, each built on first use.
        #[derive(Default)]
        pub struct Clients {
            $($op_field: OnceCell<client::$op_ty>,)*
            $($field: OnceCell<client::$ty>,)*
        }

        impl Clients {
            $(compute!(@client $op_field: $op_ty);)*
            $(compute!(@client $field: $ty);)*
        }

        $(
        #[doc = concat!("The `", $coll, "` collection.")]
        pub const $name: &dyn Collection = &Calls::<client::$ty>(PhantomData);

        #[async_trait]
        impl Collection for Calls<client::$ty> {
            fn collection(&self) -> &'static str {
                $coll
            }

            fn scope(&self) -> Scope {
                compute!(@scope $scope)
            }

            fn has_patch(&self) -> bool {
                compute!(@has_patch $patch)
            }

            fn has_set_labels(&self) -> bool {
                compute!(@has_labels $labels)
            }

            async fn list(
                &self,
                cx: &Cx<'_>,
                filter: Option<String>,
                token: Option<String>,
            ) -> Result<Page, CallError> {
                let b = cx.clients.$field(cx.settings).await?.list().set_project(cx.project);
                let b = compute!(@at b, $scope, cx.at);
                to_page(
                    b.set_max_results(500u32)
                        .set_or_clear_filter(filter)
                        .set_or_clear_page_token(token)
                        .send()
                        .await,
                )
            }

            async fn insert(
                &self,
                cx: &Cx<'_>,
                json: &Json,
                rid: &str,
            ) -> Result<model::Operation, CallError> {
                let b = cx.clients.$field(cx.settings).await?.insert().set_project(cx.project);
                let b = compute!(@at b, $scope, cx.at);
                send!(b.set_request_id(rid).set_body(body::<model::$body>(json)?))
            }

            async fn delete(
                &self,
                cx: &Cx<'_>,
                name: &str,
                rid: &str,
            ) -> Result<model::Operation, CallError> {
                let b = cx.clients.$field(cx.settings).await?.delete().set_project(cx.project);
                let b = compute!(@at b, $scope, cx.at);
                send!(b.set_request_id(rid).$id(name))
            }

            async fn patch(
                &self,
                cx: &Cx<'_>,
                name: &str,
                json: &Json,
                rid: &str,
            ) -> Result<model::Operation, CallError> {
                compute!(@patch $patch, cx, $field, $scope, $body, $id, name, json, rid, $coll)
            }

            async fn set_labels(
                &self,
                cx: &Cx<'_>,
                name: &str,
                json: &Json,
                rid: &str,
            ) -> Result<model::Operation, CallError> {
                compute!(@labels $labels, cx, $field, $scope, name, json, rid, $coll)
            }
        }
        )*
    };

    (@client $field:ident: $ty:ident) => {
        /// The client, built on first use.
        pub(super) async fn $field(
            &self,
            settings: &Settings,
        ) -> Result<&client::$ty, CallError> {
            self.$field
                .get_or_try_init(|| async {
                    crate::resourcemanager::build_client!(
                        client::$ty,
                        settings,
                        with_polling_backoff_policy(backoff(settings)),
                    )
                })
                .await
        }
    };

    (@scope global) => { Scope::Global };
    (@scope region) => { Scope::Regional };
    (@scope zone) => { Scope::Zonal };

    (@has_patch yes) => { true };
    (@has_patch no) => { false };
    (@has_labels none) => { false };
    (@has_labels $labels:tt) => { true };

    (@at $b:ident, global, $at:expr) => { $b };
    (@at $b:ident, region, $at:expr) => { $b.set_region($at.region()?) };
    (@at $b:ident, zone, $at:expr) => { $b.set_zone($at.zone()?) };

    (@patch no, $cx:ident, $field:ident, $scope:ident, $body:ident, $id:ident,
        $name:ident, $json:ident, $rid:ident, $coll:literal) => {{
        let _ = ($cx, $name, $json, $rid);
        Err(unsupported($coll, "patch"))
    }};
    (@patch yes, $cx:ident, $field:ident, $scope:ident, $body:ident, $id:ident,
        $name:ident, $json:ident, $rid:ident, $coll:literal) => {{
        let b = $cx.clients.$field($cx.settings).await?.patch().set_project($cx.project);
        let b = compute!(@at b, $scope, $cx.at);
        send!(b.set_request_id($rid).$id($name).set_body(body::<model::$body>($json)?))
    }};

    (@labels none, $cx:ident, $field:ident, $scope:ident,
        $name:ident, $json:ident, $rid:ident, $coll:literal) => {{
        let _ = ($cx, $name, $json, $rid);
        Err(unsupported($coll, "setLabels"))
    }};
    (@labels ($id:ident, $request:ident), $cx:ident, $field:ident, $scope:ident,
        $name:ident, $json:ident, $rid:ident, $coll:literal) => {{
        let b = $cx.clients.$field($cx.settings).await?.set_labels().set_project($cx.project);
        let b = compute!(@at b, $scope, $cx.at);
        let b = compute!(@label_rid b, $scope, $rid);
        send!(b.$id($name).set_body(body::<model::$request>($json)?))
    }};

    (@label_rid $b:ident, global, $rid:expr) => {{
        let _ = $rid;
        $b
    }};
    (@label_rid $b:ident, $scope:ident, $rid:expr) => { $b.set_request_id($rid) };
}

compute! {
    operations {
        global_operations: GlobalOperations,
        region_operations: RegionOperations,
        zone_operations: ZoneOperations,
    }
    collections {
        NETWORKS = "networks", networks: Networks, global, Network,
            set_network, patch: yes, labels: none;
        SUBNETWORKS = "subnetworks", subnetworks: Subnetworks, region, Subnetwork,
            set_subnetwork, patch: yes, labels: none;
        FIREWALLS = "firewalls", firewalls: Firewalls, global, Firewall,
            set_firewall, patch: yes, labels: none;
        INSTANCES = "instances", instances: Instances, zone, Instance,
            set_instance, patch: no, labels: (set_instance, InstancesSetLabelsRequest);
        INSTANCE_TEMPLATES = "instanceTemplates", instance_templates: InstanceTemplates, global,
            InstanceTemplate, set_instance_template, patch: no, labels: none;
        REGION_INSTANCE_GROUP_MANAGERS = "instanceGroupManagers",
            region_igms: RegionInstanceGroupManagers, region, InstanceGroupManager,
            set_instance_group_manager, patch: yes, labels: none;
        REGION_AUTOSCALERS = "autoscalers", region_autoscalers: RegionAutoscalers, region,
            Autoscaler, set_autoscaler, patch: yes, labels: none;
        HEALTH_CHECKS = "healthChecks", health_checks: HealthChecks, global, HealthCheck,
            set_health_check, patch: yes, labels: none;
        REGION_HEALTH_CHECKS = "healthChecks", region_health_checks: RegionHealthChecks, region,
            HealthCheck, set_health_check, patch: yes, labels: none;
        BACKEND_SERVICES = "backendServices", backend_services: BackendServices, global,
            BackendService, set_backend_service, patch: yes, labels: none;
        REGION_BACKEND_SERVICES = "backendServices",
            region_backend_services: RegionBackendServices, region, BackendService,
            set_backend_service, patch: yes, labels: none;
        FORWARDING_RULES = "forwardingRules", forwarding_rules: ForwardingRules, region,
            ForwardingRule, set_forwarding_rule, patch: yes,
            labels: (set_resource, RegionSetLabelsRequest);
        GLOBAL_FORWARDING_RULES = "forwardingRules",
            global_forwarding_rules: GlobalForwardingRules, global, ForwardingRule,
            set_forwarding_rule, patch: yes, labels: (set_resource, GlobalSetLabelsRequest);
        TARGET_TCP_PROXIES = "targetTcpProxies", target_tcp_proxies: TargetTcpProxies, global,
            TargetTcpProxy, set_target_tcp_proxy, patch: no, labels: none;
        ROUTERS = "routers", routers: Routers, region, Router,
            set_router, patch: yes, labels: none;
        VPN_GATEWAYS = "vpnGateways", vpn_gateways: VpnGateways, region, VpnGateway,
            set_vpn_gateway, patch: no, labels: (set_resource, RegionSetLabelsRequest);
        EXTERNAL_VPN_GATEWAYS = "externalVpnGateways",
            external_vpn_gateways: ExternalVpnGateways, global, ExternalVpnGateway,
            set_external_vpn_gateway, patch: no, labels: (set_resource, GlobalSetLabelsRequest);
        VPN_TUNNELS = "vpnTunnels", vpn_tunnels: VpnTunnels, region, VpnTunnel,
            set_vpn_tunnel, patch: no, labels: (set_resource, RegionSetLabelsRequest);
    }
}
