//! Resource types, one module per service and kind. Each type implements [`ResourceType`]
//! (usually through [`resource_type!`], which forwards to the module's `schema`, `read`,
//! `create`, `update` and `delete` with its service's context) and is one line of [`TYPES`];
//! the provider looks types up there and nowhere else.

pub mod autoscaling;
pub mod common;
pub mod ec2;
pub mod elbv2;
pub mod organizations;

use crate::client::Clients;
use async_trait::async_trait;
use serde_json::Value as Json;
use terrace_provider::{
    CreateRequest, DeleteRequest, Observed, ProviderError, ReadRequest, ResourceSchema,
    UpdateRequest,
};

/// Where an operation runs: the provider's clients and the request's region (`None`: the
/// provider's). Each service's context is made from it on demand.
pub struct On<'a> {
    pub clients: &'a Clients,
    pub region: Option<&'a str>,
}

impl<'a> On<'a> {
    /// The EC2 context of the request's region.
    pub async fn ec2(&self) -> Result<ec2::Ctx<'a>, ProviderError> {
        let region = self.clients.region(self.region).await?;
        Ok(ec2::Ctx {
            ec2: self.clients.ec2(&region).await,
            settings: &self.clients.settings,
        })
    }

    /// The ELBv2 context of the request's region.
    pub async fn elbv2(&self) -> Result<elbv2::Ctx<'a>, ProviderError> {
        let region = self.clients.region(self.region).await?;
        Ok(elbv2::Ctx {
            elb: self.clients.elbv2(&region).await,
            settings: &self.clients.settings,
        })
    }

    /// The Auto Scaling context (with ELBv2, for target health) of the request's region.
    pub async fn autoscaling(&self) -> Result<autoscaling::Ctx<'a>, ProviderError> {
        let region = self.clients.region(self.region).await?;
        Ok(autoscaling::Ctx {
            asg: self.clients.autoscaling(&region).await,
            elb: self.clients.elbv2(&region).await,
            settings: &self.clients.settings,
        })
    }

    /// The Organizations context (a global service: its endpoint is in
    /// [`organizations::REGION`] whatever the request's region).
    pub async fn organizations(&self) -> Result<organizations::Ctx<'a>, ProviderError> {
        Ok(organizations::Ctx {
            org: self.clients.organizations(organizations::REGION).await,
            settings: &self.clients.settings,
        })
    }
}

/// One resource type of the provider: its schema, how its values are normalized for
/// comparison, and the four operations of the provider contract.
#[async_trait]
pub trait ResourceType: Send + Sync {
    /// `aws:<service>:<Type>`.
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> ResourceSchema;
    /// A field's value in the form AWS reads it back (`Provider::normalize`); `None`: as is.
    fn normalize(&self, _field: &str, _value: &Json) -> Option<Json> {
        None
    }
    async fn read(
        &self,
        on: &On<'_>,
        request: &ReadRequest,
    ) -> Result<Vec<Observed>, ProviderError>;
    async fn create(&self, on: &On<'_>, request: &CreateRequest)
        -> Result<Observed, ProviderError>;
    async fn update(&self, on: &On<'_>, request: &UpdateRequest)
        -> Result<Observed, ProviderError>;
    async fn delete(&self, on: &On<'_>, request: &DeleteRequest) -> Result<(), ProviderError>;
}

/// Implements [`ResourceType`] for a unit struct `$ty` by forwarding to functions of the
/// module that take the context of `$service` (`ec2`, `elbv2`, `autoscaling`,
/// `organizations`: the [`On`] method that makes it). Short form: the module's `TYPE`,
/// `schema`, `read`, `create`, `update`, `delete`; long form names each, plus an optional
/// `normalize`.
macro_rules! resource_type {
    ($ty:ident: $service:ident $(, normalize: $normalize:path)?) => {
        $crate::resources::resource_type!($ty: $service {
            type_name: TYPE, schema: schema, read: read, create: create, update: update,
            delete: delete $(, normalize: $normalize)?
        });
    };
    ($ty:ident: $service:ident {
        type_name: $type_name:expr, schema: $schema:path, read: $read:path,
        create: $create:path, update: $update:path, delete: $delete:path
        $(, normalize: $normalize:path)?
    }) => {
        #[doc = concat!("The type's registration (", stringify!($service), ").")]
        pub struct $ty;

        #[async_trait::async_trait]
        impl $crate::resources::ResourceType for $ty {
            fn type_name(&self) -> &'static str {
                $type_name
            }

            fn schema(&self) -> terrace_provider::ResourceSchema {
                $schema()
            }

            $(
            fn normalize(
                &self,
                field: &str,
                value: &serde_json::Value,
            ) -> Option<serde_json::Value> {
                $normalize(field, value)
            }
            )?

            async fn read(
                &self,
                on: &$crate::resources::On<'_>,
                request: &terrace_provider::ReadRequest,
            ) -> Result<Vec<terrace_provider::Observed>, terrace_provider::ProviderError> {
                $read(&on.$service().await?, request).await
            }

            async fn create(
                &self,
                on: &$crate::resources::On<'_>,
                request: &terrace_provider::CreateRequest,
            ) -> Result<terrace_provider::Observed, terrace_provider::ProviderError> {
                $create(&on.$service().await?, request).await
            }

            async fn update(
                &self,
                on: &$crate::resources::On<'_>,
                request: &terrace_provider::UpdateRequest,
            ) -> Result<terrace_provider::Observed, terrace_provider::ProviderError> {
                $update(&on.$service().await?, request).await
            }

            async fn delete(
                &self,
                on: &$crate::resources::On<'_>,
                request: &terrace_provider::DeleteRequest,
            ) -> Result<(), terrace_provider::ProviderError> {
                $delete(&on.$service().await?, request).await
            }
        }
    };
}
pub(crate) use resource_type;

/// Every type of the provider, in schema order. Adding a type: its module (implementing
/// [`ResourceType`]) and one line here.
pub static TYPES: &[&dyn ResourceType] = &[
    &ec2::vpc::VpcDef,
    &ec2::subnet::SubnetDef,
    &ec2::internet_gateway::InternetGatewayDef,
    &ec2::eip::EipDef,
    &ec2::nat_gateway::NatGatewayDef,
    &ec2::route_table::RouteTableDef,
    &ec2::route::RouteDef,
    &ec2::vpc_peering::VpcPeeringConnectionDef,
    &ec2::vpc_peering::VpcPeeringConnectionAccepterDef,
    &ec2::vpn::VpnGatewayDef,
    &ec2::vpn::CustomerGatewayDef,
    &ec2::vpn_connection::VpnConnectionDef,
    &ec2::vpc_route::VpcRouteDef,
    &ec2::security_group::SecurityGroupDef,
    &ec2::launch_template::LaunchTemplateDef,
    &ec2::instance::InstanceDef,
    &elbv2::load_balancer::LoadBalancerDef,
    &elbv2::target_group::TargetGroupDef,
    &elbv2::listener::ListenerDef,
    &autoscaling::group::AutoScalingGroupDef,
    &organizations::account::AccountDef,
    &organizations::policy::PolicyDef,
];

/// The type named `type_name`.
pub fn by_type(type_name: &str) -> Option<&'static dyn ResourceType> {
    TYPES.iter().copied().find(|t| t.type_name() == type_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_listed_once_under_its_schema_name() {
        let mut seen = std::collections::BTreeSet::new();
        for t in TYPES {
            assert_eq!(t.schema().type_name, t.type_name());
            assert!(seen.insert(t.type_name()), "{} twice", t.type_name());
            assert!(by_type(t.type_name()).is_some());
        }
        assert_eq!(seen.len(), 22);
        assert!(by_type("aws:ec2:Nope").is_none());
    }
}
