//! The GCP provider for Terrace: Compute Engine networks, subnetworks, firewalls, instances,
//! instance templates, regional managed instance groups and autoscalers, health checks,
//! backend services, forwarding rules and TCP proxies, through Google's official
//! `google-cloud-compute-v1` client.
//!
//! Build it with [`GcpProvider::from_settings`] (synchronous; clients are built on first use)
//! and register it with the engine. Settings: `project`, `endpoint` (or
//! `TERRACE_GCP_ENDPOINT`), `credentials` (`default` = Application Default Credentials, or
//! `anonymous`), and retry/polling knobs; see the crate's README.

pub mod api;
pub mod client;
pub mod convert;
pub mod links;
pub mod ownership;
pub mod provider;
pub mod resources;

use async_trait::async_trait;
use resources::{by_type, KindDef, MUTATE_CLASS, READ_CLASS};
use terrace::provider::{
    CreateRequest, DeleteRequest, ErrorKind, Observed, Provider, ProviderError, RateLimit,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub use client::Settings;

/// The GCP provider; its types start with `gcp:`.
pub struct GcpProvider {
    api: api::Api,
}

impl GcpProvider {
    /// Reads `providers.gcp.settings`; never touches the network.
    pub fn from_settings(
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<GcpProvider, ProviderError> {
        Ok(GcpProvider {
            api: api::Api::new(Settings::parse(settings)?),
        })
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

    fn schemas(&self) -> Vec<ResourceSchema> {
        resources::table::KINDS
            .iter()
            .map(KindDef::schema)
            .collect()
    }

    /// Compute's default quotas are per project and minute; these keep well inside them.
    fn rate_limits(&self) -> Vec<RateLimit> {
        vec![
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
        ]
    }

    fn max_in_flight(&self) -> usize {
        16
    }

    async fn read(&self, request: ReadRequest) -> Result<Vec<Observed>, ProviderError> {
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
        let def = kind(&request.type_name)?;
        self.api
            .remove(def, &request.id, &request.idempotency_key)
            .await
    }
}
