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
use resources::autoscaling::{self, group};
use resources::ec2::{
    self, eip, instance, internet_gateway, launch_template, nat_gateway, route, route_table,
    security_group, subnet, vpc, vpc_peering, vpc_route, vpn, vpn_connection,
};
use resources::elbv2::{self, listener, load_balancer, target_group};
use resources::organizations::{self, account, policy};
use terrace::provider::{
    CreateRequest, DeleteRequest, Observed, Provider, ProviderError, RateLimit, ReadRequest,
    ResourceSchema, UpdateRequest,
};

/// EC2 types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ec2Kind {
    Vpc,
    Subnet,
    InternetGateway,
    Eip,
    NatGateway,
    RouteTable,
    Route,
    VpcPeering,
    VpcPeeringAccepter,
    VpnGateway,
    CustomerGateway,
    VpnConnection,
    VpcRoute,
    SecurityGroup,
    LaunchTemplate,
    Instance,
}

/// ELBv2 types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ElbKind {
    LoadBalancer,
    TargetGroup,
    Listener,
}

/// The resource types this provider manages, by service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ec2(Ec2Kind),
    Elb(ElbKind),
    AutoScalingGroup,
    Account,
    OrgPolicy,
}

impl Kind {
    fn of(type_name: &str) -> Result<Kind, ProviderError> {
        Ok(match type_name {
            vpc::TYPE => Kind::Ec2(Ec2Kind::Vpc),
            subnet::TYPE => Kind::Ec2(Ec2Kind::Subnet),
            internet_gateway::TYPE => Kind::Ec2(Ec2Kind::InternetGateway),
            eip::TYPE => Kind::Ec2(Ec2Kind::Eip),
            nat_gateway::TYPE => Kind::Ec2(Ec2Kind::NatGateway),
            route_table::TYPE => Kind::Ec2(Ec2Kind::RouteTable),
            route::TYPE => Kind::Ec2(Ec2Kind::Route),
            vpc_peering::TYPE => Kind::Ec2(Ec2Kind::VpcPeering),
            vpc_peering::ACCEPTER_TYPE => Kind::Ec2(Ec2Kind::VpcPeeringAccepter),
            vpn::GATEWAY_TYPE => Kind::Ec2(Ec2Kind::VpnGateway),
            vpn::CUSTOMER_TYPE => Kind::Ec2(Ec2Kind::CustomerGateway),
            vpn_connection::TYPE => Kind::Ec2(Ec2Kind::VpnConnection),
            vpc_route::TYPE => Kind::Ec2(Ec2Kind::VpcRoute),
            security_group::TYPE => Kind::Ec2(Ec2Kind::SecurityGroup),
            launch_template::TYPE => Kind::Ec2(Ec2Kind::LaunchTemplate),
            instance::TYPE => Kind::Ec2(Ec2Kind::Instance),
            load_balancer::TYPE => Kind::Elb(ElbKind::LoadBalancer),
            target_group::TYPE => Kind::Elb(ElbKind::TargetGroup),
            listener::TYPE => Kind::Elb(ElbKind::Listener),
            group::TYPE => Kind::AutoScalingGroup,
            account::TYPE => Kind::Account,
            policy::TYPE => Kind::OrgPolicy,
            _ => {
                return Err(invalid(format!(
                    "the aws provider has no type `{type_name}`"
                )))
            }
        })
    }
}

/// Calls `$op` of the module of `$kind` with the right service context.
macro_rules! dispatch {
    ($self:ident, $kind:expr, $region:expr, $op:ident, $request:expr) => {{
        let settings = &$self.clients.settings;
        if matches!($kind, Kind::Account | Kind::OrgPolicy) {
            let ctx = organizations::Ctx {
                org: $self.clients.organizations(organizations::REGION).await,
                settings,
            };
            return match $kind {
                Kind::Account => account::$op(&ctx, $request).await,
                _ => policy::$op(&ctx, $request).await,
            };
        }
        let region = $self.clients.region($region).await?;
        match $kind {
            Kind::Ec2(k) => {
                let ctx = ec2::Ctx {
                    ec2: $self.clients.ec2(&region).await,
                    settings,
                };
                match k {
                    Ec2Kind::Vpc => vpc::$op(&ctx, $request).await,
                    Ec2Kind::Subnet => subnet::$op(&ctx, $request).await,
                    Ec2Kind::InternetGateway => internet_gateway::$op(&ctx, $request).await,
                    Ec2Kind::Eip => eip::$op(&ctx, $request).await,
                    Ec2Kind::NatGateway => nat_gateway::$op(&ctx, $request).await,
                    Ec2Kind::RouteTable => route_table::$op(&ctx, $request).await,
                    Ec2Kind::Route => route::$op(&ctx, $request).await,
                    Ec2Kind::VpcPeering => vpc_peering::$op(&ctx, $request).await,
                    Ec2Kind::VpcPeeringAccepter => vpc_peering::accepter::$op(&ctx, $request).await,
                    Ec2Kind::VpnGateway => vpn::gateway::$op(&ctx, $request).await,
                    Ec2Kind::CustomerGateway => vpn::customer::$op(&ctx, $request).await,
                    Ec2Kind::VpnConnection => vpn_connection::$op(&ctx, $request).await,
                    Ec2Kind::VpcRoute => vpc_route::$op(&ctx, $request).await,
                    Ec2Kind::SecurityGroup => security_group::$op(&ctx, $request).await,
                    Ec2Kind::LaunchTemplate => launch_template::$op(&ctx, $request).await,
                    Ec2Kind::Instance => instance::$op(&ctx, $request).await,
                }
            }
            Kind::Elb(k) => {
                let ctx = elbv2::Ctx {
                    elb: $self.clients.elbv2(&region).await,
                    settings,
                };
                match k {
                    ElbKind::LoadBalancer => load_balancer::$op(&ctx, $request).await,
                    ElbKind::TargetGroup => target_group::$op(&ctx, $request).await,
                    ElbKind::Listener => listener::$op(&ctx, $request).await,
                }
            }
            Kind::AutoScalingGroup => {
                let ctx = autoscaling::Ctx {
                    asg: $self.clients.autoscaling(&region).await,
                    elb: $self.clients.elbv2(&region).await,
                    settings,
                };
                group::$op(&ctx, $request).await
            }
            Kind::Account | Kind::OrgPolicy => {
                Err(invalid("organizations types are dispatched above"))
            }
        }
    }};
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
        vec![
            vpc::schema(),
            subnet::schema(),
            internet_gateway::schema(),
            eip::schema(),
            nat_gateway::schema(),
            route_table::schema(),
            route::schema(),
            vpc_peering::schema(),
            vpc_peering::accepter_schema(),
            vpn::gateway_schema(),
            vpn::customer_schema(),
            vpn_connection::schema(),
            vpc_route::schema(),
            security_group::schema(),
            launch_template::schema(),
            instance::schema(),
            load_balancer::schema(),
            target_group::schema(),
            listener::schema(),
            group::schema(),
            account::schema(),
            policy::schema(),
        ]
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
        match Kind::of(type_name).ok()? {
            Kind::Ec2(Ec2Kind::SecurityGroup) => security_group::normalize(field, value),
            Kind::Elb(_) => elbv2::normalize(field, value),
            Kind::AutoScalingGroup => group::normalize(field, value),
            _ => None,
        }
    }

    /// `providers.aws` of a stack: `assume_role` (see [`stack_config`]).
    fn configure(
        &self,
        config: &terrace::provider::Properties,
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
    async fn read_typed(&self, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
        let kind = Kind::of(&request.type_name)?;
        if request.ids.is_empty() && request.owner.is_none() {
            return Ok(Vec::new());
        }
        dispatch!(self, kind, request.region.as_deref(), read, request)
    }

    async fn create_typed(&self, request: &CreateRequest) -> Result<Observed, ProviderError> {
        let kind = Kind::of(&request.type_name)?;
        dispatch!(self, kind, request.region.as_deref(), create, request)
    }

    async fn update_typed(&self, request: &UpdateRequest) -> Result<Observed, ProviderError> {
        let kind = Kind::of(&request.type_name)?;
        dispatch!(self, kind, request.region.as_deref(), update, request)
    }

    async fn delete_typed(&self, request: &DeleteRequest) -> Result<(), ProviderError> {
        let kind = Kind::of(&request.type_name)?;
        dispatch!(self, kind, request.region.as_deref(), delete, request)
    }

    /// A refused call names the credentials it was made with (never read as "absent").
    async fn named<T>(&self, result: Result<T, ProviderError>) -> Result<T, ProviderError> {
        match result {
            Err(mut e) if e.kind == terrace::provider::ErrorKind::Denied => {
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
