//! The AWS provider for Terrace: EC2 types (VPC, subnet, internet gateway, route table,
//! security group, launch template, instance) with batched reads by id or ownership tags, ownership tags written
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

use async_trait::async_trait;
use client::{Clients, Settings};
use error::invalid;
use resources::ec2::{
    instance, internet_gateway, launch_template, route_table, security_group, subnet, vpc, Ctx,
};
use terrace::provider::{
    CreateRequest, DeleteRequest, Observed, Provider, ProviderError, RateLimit, ReadRequest,
    ResourceSchema, UpdateRequest,
};

/// The resource types this provider manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vpc,
    Subnet,
    InternetGateway,
    RouteTable,
    SecurityGroup,
    LaunchTemplate,
    Instance,
}

impl Kind {
    fn of(type_name: &str) -> Result<Kind, ProviderError> {
        Ok(match type_name {
            vpc::TYPE => Kind::Vpc,
            subnet::TYPE => Kind::Subnet,
            internet_gateway::TYPE => Kind::InternetGateway,
            route_table::TYPE => Kind::RouteTable,
            security_group::TYPE => Kind::SecurityGroup,
            launch_template::TYPE => Kind::LaunchTemplate,
            instance::TYPE => Kind::Instance,
            _ => {
                return Err(invalid(format!(
                    "the aws provider has no type `{type_name}`"
                )))
            }
        })
    }
}

/// The AWS provider. Cheap to construct: configuration and clients are created on first use.
pub struct AwsProvider {
    clients: Clients,
}

impl AwsProvider {
    /// Builds the provider from `providers.aws.settings` (see the crate README for the keys).
    pub fn from_settings(
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<AwsProvider, ProviderError> {
        Ok(AwsProvider {
            clients: Clients::new(Settings::from_map(settings)?),
        })
    }

    /// HTTP requests sent so far (every attempt, retries included).
    pub fn requests_sent(&self) -> u64 {
        self.clients.counter().get()
    }

    async fn ec2(&self, region: Option<&str>) -> Result<Ctx<'_>, ProviderError> {
        let region = self.clients.region(region).await?;
        Ok(Ctx {
            ec2: self.clients.ec2(&region).await,
            settings: &self.clients.settings,
        })
    }
}

#[async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &str {
        "aws"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        vec![
            vpc::schema(),
            subnet::schema(),
            internet_gateway::schema(),
            route_table::schema(),
            security_group::schema(),
            launch_template::schema(),
            instance::schema(),
        ]
    }

    fn rate_limits(&self) -> Vec<RateLimit> {
        vec![
            RateLimit {
                class: "ec2:describe".into(),
                per_second: 20.0,
                burst: 40,
            },
            RateLimit {
                class: "ec2:mutate".into(),
                per_second: 5.0,
                burst: 10,
            },
        ]
    }

    fn max_in_flight(&self) -> usize {
        16
    }

    async fn read(&self, request: ReadRequest) -> Result<Vec<Observed>, ProviderError> {
        let kind = Kind::of(&request.type_name)?;
        if request.ids.is_empty() && request.owner.is_none() {
            return Ok(Vec::new());
        }
        let ctx = self.ec2(request.region.as_deref()).await?;
        match kind {
            Kind::Vpc => vpc::read(&ctx, &request).await,
            Kind::Subnet => subnet::read(&ctx, &request).await,
            Kind::InternetGateway => internet_gateway::read(&ctx, &request).await,
            Kind::RouteTable => route_table::read(&ctx, &request).await,
            Kind::SecurityGroup => security_group::read(&ctx, &request).await,
            Kind::LaunchTemplate => launch_template::read(&ctx, &request).await,
            Kind::Instance => instance::read(&ctx, &request).await,
        }
    }

    async fn create(&self, request: CreateRequest) -> Result<Observed, ProviderError> {
        let kind = Kind::of(&request.type_name)?;
        let ctx = self.ec2(request.region.as_deref()).await?;
        match kind {
            Kind::Vpc => vpc::create(&ctx, &request).await,
            Kind::Subnet => subnet::create(&ctx, &request).await,
            Kind::InternetGateway => internet_gateway::create(&ctx, &request).await,
            Kind::RouteTable => route_table::create(&ctx, &request).await,
            Kind::SecurityGroup => security_group::create(&ctx, &request).await,
            Kind::LaunchTemplate => launch_template::create(&ctx, &request).await,
            Kind::Instance => instance::create(&ctx, &request).await,
        }
    }

    async fn update(&self, request: UpdateRequest) -> Result<Observed, ProviderError> {
        let kind = Kind::of(&request.type_name)?;
        let ctx = self.ec2(request.region.as_deref()).await?;
        match kind {
            Kind::Vpc => vpc::update(&ctx, &request).await,
            Kind::Subnet => subnet::update(&ctx, &request).await,
            Kind::InternetGateway => internet_gateway::update(&ctx, &request).await,
            Kind::RouteTable => route_table::update(&ctx, &request).await,
            Kind::SecurityGroup => security_group::update(&ctx, &request).await,
            Kind::LaunchTemplate => launch_template::update(&ctx, &request).await,
            Kind::Instance => instance::update(&ctx, &request).await,
        }
    }

    async fn delete(&self, request: DeleteRequest) -> Result<(), ProviderError> {
        let kind = Kind::of(&request.type_name)?;
        let ctx = self.ec2(request.region.as_deref()).await?;
        match kind {
            Kind::Vpc => vpc::delete(&ctx, &request).await,
            Kind::Subnet => subnet::delete(&ctx, &request).await,
            Kind::InternetGateway => internet_gateway::delete(&ctx, &request).await,
            Kind::RouteTable => route_table::delete(&ctx, &request).await,
            Kind::SecurityGroup => security_group::delete(&ctx, &request).await,
            Kind::LaunchTemplate => launch_template::delete(&ctx, &request).await,
            Kind::Instance => instance::delete(&ctx, &request).await,
        }
    }
}
