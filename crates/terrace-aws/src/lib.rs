//! The AWS provider for Terrace: EC2 types (VPC, subnet, internet gateway, Elastic IP, NAT
//! gateway, route table, route, VPC peering connection and its accepter, VPN gateway, customer
//! gateway, VPN connection, security group,
//! launch template, instance), ELBv2 (load balancer, target group, listener)
//! Auto Scaling groups and Organizations accounts, with batched reads by id or ownership tags, ownership tags written
//! at creation, client tokens where EC2 has them, retries with backoff and jitter, and waiters.
//!
//! ```no_run
//! let mut settings = serde_json::Map::new();
//! settings.insert("region".into(), "eu-west-1".into());
//! let provider = terrace_aws::AwsProvider::from_settings(&settings).unwrap();
//! # let _ = provider;
//! ```

pub mod client;
pub mod error;
pub mod ownership;
pub mod props;
pub mod resources;
pub mod stack_config;

use async_trait::async_trait;
use client::{Clients, Settings};
use error::invalid;
use resources::{On, ResourceType};
use terrace_provider::{
    CreateRequest, DeleteRequest, Observed, Provider, ProviderError, RateLimit, ReadRequest,
    ResourceSchema, UpdateRequest,
};

/// The type named `type_name`, or a clear error.
fn type_of(type_name: &str) -> Result<&'static dyn ResourceType, ProviderError> {
    resources::by_type(type_name)
        .ok_or_else(|| invalid(format!("the aws provider has no type `{type_name}`")))
}

/// The AWS provider. Cheap to construct: configuration and clients are created on first use.
pub struct AwsProvider {
    clients: Clients,
    /// Copies bound to a stack's assumed role ([`Provider::configure`]), one per role, so that
    /// stacks in the same account share clients and cached credentials.
    assumed: std::sync::Mutex<
        std::collections::HashMap<client::AssumeRole, std::sync::Arc<AwsProvider>>,
    >,
}

impl AwsProvider {
    /// Builds the provider from `providers.aws.settings` (see the crate README for the keys).
    pub fn from_settings(
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<AwsProvider, ProviderError> {
        Ok(AwsProvider::with_clients(Clients::new(Settings::from_map(
            settings,
        )?)))
    }

    fn with_clients(clients: Clients) -> AwsProvider {
        AwsProvider {
            clients,
            assumed: Default::default(),
        }
    }

    /// The same provider on another clock (the SDK's time source: credential expiry and
    /// request signing), for tests of credentials that expire during a long apply. Call before
    /// first use.
    pub fn with_clock(self, clock: aws_smithy_async::time::SharedTimeSource) -> AwsProvider {
        AwsProvider::with_clients(self.clients.with_clock(clock))
    }

    /// HTTP requests sent so far (every attempt, retries included).
    pub fn requests_sent(&self) -> u64 {
        self.clients.counter().get()
    }
}

fn rate(class: &str, per_second: f64, burst: u32) -> RateLimit {
    RateLimit {
        class: class.into(),
        per_second,
        burst,
    }
}

#[async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &str {
        "aws"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        resources::TYPES.iter().map(|t| t.schema()).collect()
    }

    fn rate_limits(&self) -> Vec<RateLimit> {
        vec![
            rate("ec2:describe", 20.0, 40),
            rate("ec2:mutate", 5.0, 10),
            rate("elbv2:describe", 10.0, 20),
            rate("elbv2:mutate", 5.0, 10),
            rate("autoscaling:describe", 10.0, 20),
            rate("autoscaling:mutate", 5.0, 10),
            rate("organizations:describe", 5.0, 10),
            rate("organizations:mutate", 1.0, 2),
        ]
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
        resources::by_type(type_name)?.normalize(field, value)
    }

    /// `providers.aws` of a stack: `assume_role` (see [`stack_config`]).
    fn configure(
        &self,
        config: &terrace_provider::Properties,
    ) -> Result<std::sync::Arc<dyn Provider>, ProviderError> {
        let role = stack_config::parse(config)?;
        let mut assumed = self.assumed.lock().unwrap_or_else(|e| e.into_inner());
        let provider = assumed
            .entry(role.clone())
            .or_insert_with(|| {
                std::sync::Arc::new(AwsProvider::with_clients(self.clients.assuming(role)))
            })
            .clone();
        Ok(provider)
    }

    async fn read(&self, request: ReadRequest) -> Result<Vec<Observed>, ProviderError> {
        let result = self.read_typed(&request).await;
        self.named(result).await
    }

    async fn create(&self, request: CreateRequest) -> Result<Observed, ProviderError> {
        let result = self.create_typed(&request).await;
        self.named(result).await
    }

    async fn update(&self, request: UpdateRequest) -> Result<Observed, ProviderError> {
        let result = self.update_typed(&request).await;
        self.named(result).await
    }

    async fn delete(&self, request: DeleteRequest) -> Result<(), ProviderError> {
        let result = self.delete_typed(&request).await;
        self.named(result).await
    }
}

impl AwsProvider {
    /// Where a request of `region` runs.
    fn on<'a>(&'a self, region: Option<&'a str>) -> On<'a> {
        On {
            clients: &self.clients,
            region,
        }
    }

    async fn read_typed(&self, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
        let t = type_of(&request.type_name)?;
        if request.ids.is_empty() && request.owner.is_none() {
            return Ok(Vec::new());
        }
        t.read(&self.on(request.region.as_deref()), request).await
    }

    async fn create_typed(&self, request: &CreateRequest) -> Result<Observed, ProviderError> {
        let t = type_of(&request.type_name)?;
        t.create(&self.on(request.region.as_deref()), request).await
    }

    async fn update_typed(&self, request: &UpdateRequest) -> Result<Observed, ProviderError> {
        let t = type_of(&request.type_name)?;
        t.update(&self.on(request.region.as_deref()), request).await
    }

    async fn delete_typed(&self, request: &DeleteRequest) -> Result<(), ProviderError> {
        let t = type_of(&request.type_name)?;
        t.delete(&self.on(request.region.as_deref()), request).await
    }

    /// A refused call names the credentials it was made with (never read as "absent").
    async fn named<T>(&self, result: Result<T, ProviderError>) -> Result<T, ProviderError> {
        match result {
            Err(mut e) if e.kind == terrace_provider::ErrorKind::Denied => {
                e.message = format!(
                    "{} (credentials: {})",
                    e.message,
                    self.clients.identity().await
                );
                Err(e)
            }
            other => other,
        }
    }
}
