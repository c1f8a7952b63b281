//! AWS Organizations types.

pub mod account;
pub mod policy;

use crate::client::Settings;
use aws_sdk_organizations::types::Tag;
use terrace_provider::{Ownership, Properties, ProviderError};

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

/// The tags of a new account or policy: the user's `tags` and the ownership tags.
pub fn tags(owner: &Ownership, p: &Properties) -> Result<Vec<Tag>, ProviderError> {
    crate::ownership::pairs(owner, &crate::ownership::user_tags(p)?)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| crate::error::invalid(e.to_string()))
        })
        .collect()
}
