//! Auto Scaling types.

pub mod group;

use crate::client::Settings;

/// What an Auto Scaling operation needs: the region's client and the provider settings.
pub struct Ctx<'a> {
    pub asg: aws_sdk_autoscaling::Client,
    pub settings: &'a Settings,
}
