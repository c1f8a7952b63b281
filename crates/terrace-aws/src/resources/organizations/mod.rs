//! AWS Organizations types.

pub mod account;
pub mod policy;

use crate::client::Settings;

/// What an Organizations operation needs: the client (Organizations is global; its endpoint
/// lives in us-east-1) and the provider settings.
pub struct Ctx<'a> {
    pub org: aws_sdk_organizations::Client,
    pub settings: &'a Settings,
}

/// The region of the Organizations endpoint (commercial partition).
pub const REGION: &str = "us-east-1";

/// A per-request configuration without SDK retries, for creates (see
/// [`crate::resources::common::create_once`]).
pub fn no_retry() -> aws_sdk_organizations::config::Builder {
    aws_sdk_organizations::config::Builder::new()
        .retry_config(aws_config::retry::RetryConfig::disabled())
}
