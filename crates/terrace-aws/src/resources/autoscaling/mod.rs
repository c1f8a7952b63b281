//! Auto Scaling types.

pub mod group;

use crate::client::Settings;

/// What an Auto Scaling operation needs: the region's clients (Auto Scaling, and ELBv2 for
/// the health of a group's targets) and the provider settings.
pub struct Ctx<'a> {
    pub asg: aws_sdk_autoscaling::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub settings: &'a Settings,
}

/// A per-request configuration without SDK retries, for creates (see
/// [`crate::resources::common::create_once`]).
pub fn no_retry() -> aws_sdk_autoscaling::config::Builder {
    aws_sdk_autoscaling::config::Builder::new()
        .retry_config(aws_config::retry::RetryConfig::disabled())
}
