//! The GCP provider for Terrace: Compute Engine networks, subnetworks, firewalls, instances,
//! instance templates, regional managed instance groups and autoscalers, health checks,
//! backend services, forwarding rules and TCP proxies, Cloud Routers with their BGP sessions over HA
//! VPN (gateways, external gateways, tunnels), network peerings, through Google's official
//! `google-cloud-compute-v1` client; projects through `google-cloud-resourcemanager-v3`; and
//! project org policies (`gcp.resourceLocations`) through `google-cloud-orgpolicy-v2`.
//!
//! Build it with [`GcpProvider::from_settings`] (synchronous; clients are built on first use)
//! and register it with the engine. Settings: `project`, `endpoint` (or
//! `TERRACE_GCP_ENDPOINT`), `credentials` (`default` = Application Default Credentials, or
//! `anonymous`), and retry/polling knobs; see the crate's README.

pub mod api;
pub mod client;
pub mod convert;
pub mod links;
mod normalize;
pub mod orgpolicy;
pub mod ownership;
pub mod peering;
pub mod provider;
pub mod resourcemanager;
pub mod resources;
pub mod router_peer;
pub mod waits;

use async_trait::async_trait;
use resources::{by_type, KindDef, MUTATE_CLASS, READ_CLASS};
use terrace_provider::{
    CreateRequest, DeleteRequest, ErrorKind, Observed, Provider, ProviderError, RateLimit,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub use client::Settings;

/// The GCP provider; its types start with `gcp:`.
pub struct GcpProvider {
    /// Copies bound to a stack's `providers.gcp` (its project), one per configuration.
    configured: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<GcpProvider>>>,
    api: api::Api,
    crm: resourcemanager::ResourceManager,
    policies: orgpolicy::OrgPolicies,
    waits: waits::Waits,
}

impl GcpProvider {
    /// Reads `providers.gcp.settings`; never touches the network.
    pub fn from_settings(
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<GcpProvider, ProviderError> {
        Ok(GcpProvider::with_settings(Settings::parse(settings)?))
    }

    fn with_settings(settings: Settings) -> GcpProvider {
        let waits = waits::Waits::default();
        GcpProvider {
            configured: Default::default(),
            crm: resourcemanager::ResourceManager::new(settings.clone(), waits.clone()),
            policies: orgpolicy::OrgPolicies::new(settings.clone(), waits.clone()),
            api: api::Api::new(settings, waits.clone()),
            waits,
        }
    }

    /// Every pause this provider made before retrying a call or polling an operation again
    /// (the journal keeps the last 256); see [`waits::Waits::set_observer`] to be told of
    /// each as it happens.
    pub fn waits(&self) -> &waits::Waits {
        &self.waits
    }

    /// The VMs of a regional managed instance group (`group_id` is its id, the selfLink) as
    /// Compute's `ManagedInstance` JSON from `regionInstanceGroupManagers.listManagedInstances`:
    /// `name`, `instance`, `currentAction` (`CREATING`, `NONE`, `DELETING`, ...),
    /// `instanceStatus` once the VM exists, and `version.instanceTemplate`, the template the
    /// VM is (being) created from. Retried like every call.
    pub async fn managed_instances(
        &self,
        group_id: &str,
    ) -> Result<Vec<serde_json::Value>, ProviderError> {
        let link = links::Link::parse(group_id)
            .filter(|l| l.collection == "instanceGroupManagers")
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    "invalid",
                    format!("{group_id} is not the URL of a managed instance group"),
                )
            })?;
        let api::Location::Region(region) = &link.location else {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                "invalid",
                format!("{group_id} is not a regional managed instance group"),
            ));
        };
        self.api
            .managed_instances(&link.project, region, &link.name)
            .await
            .map_err(|e| e.about(group_id, &self.api.settings, false))
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.api.settings
    }
}

fn kind(type_name: &str) -> Result<&'static KindDef, ProviderError> {
    by_type(type_name).ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Invalid,
            "unknownType",
            format!("the gcp provider has no type {type_name}"),
        )
    })
}

#[async_trait]
impl Provider for GcpProvider {
    fn name(&self) -> &str {
        "gcp"
    }

    /// `providers.gcp` of a stack: `project`, `impersonate_service_account`.
    fn configure(
        &self,
        config: &terrace_provider::Properties,
    ) -> Result<std::sync::Arc<dyn Provider>, ProviderError> {
        let settings = self.api.settings.for_stack(config)?;
        let key = serde_json::Value::Object(config.clone()).to_string();
        let mut configured = self.configured.lock().unwrap_or_else(|e| e.into_inner());
        let provider = configured
            .entry(key)
            .or_insert_with(|| std::sync::Arc::new(GcpProvider::with_settings(settings)))
            .clone();
        Ok(provider)
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        let mut schemas: Vec<ResourceSchema> = resources::table::KINDS
            .iter()
            .map(KindDef::schema)
            .collect();
        schemas.push(resourcemanager::schema());
        schemas.push(orgpolicy::schema());
        schemas.push(peering::schema());
        schemas.push(router_peer::schema());
        schemas
    }

    /// Compute's default quotas are per project and minute; these keep well inside them.
    fn rate_limits(&self) -> Vec<RateLimit> {
        let compute = vec![
            RateLimit {
                class: READ_CLASS.into(),
                per_second: 20.0,
                burst: 20,
            },
            RateLimit {
                class: MUTATE_CLASS.into(),
                per_second: 5.0,
                burst: 5,
            },
        ];
        compute
            .into_iter()
            .chain(resourcemanager::rate_limits())
            .chain(orgpolicy::rate_limits())
            .collect()
    }

    fn max_in_flight(&self) -> usize {
        64
    }

    fn normalize(
        &self,
        type_name: &str,
        field: &str,
        value: &serde_json::Value,
    ) -> Option<serde_json::Value> {
        normalize::normalize(type_name, field, value, self.settings().project.as_deref())
    }

    async fn read(&self, request: ReadRequest) -> Result<Vec<Observed>, ProviderError> {
        if request.type_name == orgpolicy::TYPE {
            return self.policies.read(&request.ids).await;
        }
        if request.type_name == resourcemanager::TYPE {
            return self.crm.read(&request.ids, request.owner.as_ref()).await;
        }
        if request.type_name == peering::TYPE {
            return peering::read(&self.api, &request.ids).await;
        }
        if request.type_name == router_peer::TYPE {
            return router_peer::read(&self.api, &request.ids).await;
        }
        let def = kind(&request.type_name)?;
        self.api
            .read(
                def,
                request.region.as_deref(),
                &request.ids,
                request.owner.as_ref(),
            )
            .await
    }

    async fn create(&self, request: CreateRequest) -> Result<Observed, ProviderError> {
        if request.type_name == orgpolicy::TYPE {
            return self.policies.create(&request.properties).await;
        }
        if request.type_name == resourcemanager::TYPE {
            return self
                .crm
                .create(
                    &request.properties,
                    &request.ownership,
                    &request.idempotency_key,
                )
                .await;
        }
        if request.type_name == peering::TYPE {
            return peering::create(&self.api, &request.properties, &request.idempotency_key).await;
        }
        if request.type_name == router_peer::TYPE {
            return router_peer::create(&self.api, &request.properties, &request.idempotency_key)
                .await;
        }
        let def = kind(&request.type_name)?;
        self.api
            .create(
                def,
                request.region.as_deref(),
                &request.properties,
                &request.ownership,
                &request.idempotency_key,
            )
            .await
    }

    async fn update(&self, request: UpdateRequest) -> Result<Observed, ProviderError> {
        if request.type_name == orgpolicy::TYPE {
            return self.policies.update(&request.id, &request.new).await;
        }
        if request.type_name == resourcemanager::TYPE {
            return self
                .crm
                .update(&request.id, &request.new, &request.ownership)
                .await;
        }
        if request.type_name == router_peer::TYPE {
            return router_peer::update(&self.api, &request.new, &request.idempotency_key).await;
        }
        let def = kind(&request.type_name)?;
        self.api
            .update(
                def,
                &request.id,
                &request.old,
                &request.new,
                &request.ownership,
                &request.idempotency_key,
            )
            .await
    }

    async fn delete(&self, request: DeleteRequest) -> Result<(), ProviderError> {
        if request.type_name == orgpolicy::TYPE {
            return self.policies.delete(&request.id).await;
        }
        if request.type_name == resourcemanager::TYPE {
            return self.crm.delete(&request.id).await;
        }
        if request.type_name == peering::TYPE {
            return peering::delete(&self.api, &request.id, &request.idempotency_key).await;
        }
        if request.type_name == router_peer::TYPE {
            return router_peer::delete(&self.api, &request.id, &request.idempotency_key).await;
        }
        let def = kind(&request.type_name)?;
        self.api
            .remove(def, &request.id, &request.idempotency_key)
            .await
    }
}
