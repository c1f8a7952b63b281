//! The providers a Terrace workspace runs with, built from its `terrace.yaml` — one function for
//! the CLI and for every program that embeds Terrace (the automation API), so that none of them
//! copies the wiring:
//!
//! - [`registry`]: the AWS and GCP providers configured by `providers.<name>.settings`, and the
//!   S3 state backend (`backend: s3://…`); they touch the network only when used;
//! - [`schema_registry`]: the same providers with default settings, for their names and
//!   schemas only (`terrace test`'s mock providers);
//! - [`open_secrets`]: the workspace's secrets key — the passphrase provider through the
//!   library, `awskms://KEY` through KMS ([`kms`]).
//!
//! ```no_run
//! # fn main() -> Result<(), terrace::Error> {
//! let terrace = terrace::engine::Terrace::open_with_secrets(
//!     std::path::Path::new("."),
//!     |workspace| terrace_providers::registry(workspace).map_err(terrace::Error::from),
//!     terrace_providers::open_secrets,
//! )?;
//! # Ok(()) }
//! ```

pub mod kms;

use std::sync::Arc;
use terrace::config::Workspace;
use terrace::provider::Registry;
use terrace::secrets::Secrets;

/// A provider refused its settings in `terrace.yaml` (`providers.<provider>.settings`).
#[derive(Debug, thiserror::Error)]
#[error("providers.{provider}.settings: {message}")]
pub struct SettingsError {
    /// `aws` or `gcp`.
    pub provider: String,
    /// The provider's own words (it quotes the setting it refuses).
    pub message: String,
}

impl From<SettingsError> for terrace::Error {
    fn from(e: SettingsError) -> terrace::Error {
        terrace::Error::usage(e.to_string())
    }
}

/// `providers.<name>.settings` of the workspace (empty when absent).
pub fn settings(workspace: &Workspace, name: &str) -> serde_json::Map<String, serde_json::Value> {
    workspace
        .settings
        .providers
        .get(name)
        .map(|p| p.settings.clone())
        .unwrap_or_default()
}

fn with_settings(
    aws: &serde_json::Map<String, serde_json::Value>,
    gcp: &serde_json::Map<String, serde_json::Value>,
) -> Result<Registry, SettingsError> {
    let refused = |provider: &str| {
        let provider = provider.to_string();
        move |e: terrace::provider::ProviderError| SettingsError {
            provider,
            message: e.message,
        }
    };
    let mut registry = Registry::new();
    // `backend: s3://BUCKET/PREFIX?region=R&lock_table=T`.
    terrace_s3::register(&mut registry);
    let aws = terrace_aws::AwsProvider::from_settings(aws).map_err(refused("aws"))?;
    registry.register(Arc::new(aws));
    let gcp = terrace_gcp::GcpProvider::from_settings(gcp).map_err(refused("gcp"))?;
    registry.register(Arc::new(gcp));
    Ok(registry)
}

/// The workspace's providers: AWS and GCP configured by `providers.aws.settings` and
/// `providers.gcp.settings`, and the S3 state backend. Errors: a provider's refusal of its
/// settings (an unknown setting, a malformed value), with the provider named.
pub fn registry(workspace: &Workspace) -> Result<Registry, SettingsError> {
    with_settings(&settings(workspace, "aws"), &settings(workspace, "gcp"))
}

/// The same providers with default settings (no endpoint, no credentials), never called: for
/// their names and schemas (validation, `terrace test`).
pub fn schema_registry() -> Result<Registry, SettingsError> {
    let none = serde_json::Map::new();
    with_settings(&none, &none)
}

/// `providers.aws.settings` of `terrace.yaml`'s settings (empty when absent): what the KMS
/// client is configured with.
pub fn aws_settings(
    settings: &terrace::config::settings::Settings,
) -> serde_json::Map<String, serde_json::Value> {
    settings
        .providers
        .get("aws")
        .map(|p| p.settings.clone())
        .unwrap_or_default()
}

/// The secrets key of these settings: none without `secrets:`; the passphrase provider
/// (`TERRACE_PASSPHRASE`) through the library; `awskms://KEY` decrypted by KMS with
/// `providers.aws.settings` (region, endpoint, profile). A `secrets:` block naming a KMS key
/// that has no data key yet holds no secret, so it opens as no key.
pub fn open_key(
    settings: &terrace::config::settings::Settings,
) -> Result<Option<Secrets>, terrace::Error> {
    Ok(match &settings.secrets {
        Some(s) if s.kms_key().is_some() && s.encrypted_key.is_none() => {
            terrace::secrets::open_settings(&terrace::config::settings::Settings {
                secrets: None,
                ..settings.clone()
            })?
        }
        Some(s) if s.kms_key().is_some() => Some(kms::open(s, &aws_settings(settings))?),
        _ => terrace::secrets::open_settings(settings)?,
    })
}

/// The workspace's secrets key, for `Terrace::open_with_secrets` ([`open_key`]).
pub fn open_secrets(workspace: &Workspace) -> Result<Option<Arc<Secrets>>, terrace::Error> {
    Ok(open_key(&workspace.settings)?.map(Arc::new))
}

/// The key a new secret is sealed with, and — when this is the workspace's first key — the key
/// material to write as terrace.yaml's `secrets:` block ([`terrace::edit::set_secrets_key`]):
/// no `secrets:` (or a passphrase without a salt yet) makes a passphrase key from
/// `TERRACE_PASSPHRASE`; `awskms://KEY` without a data key makes one with KMS; an existing key
/// is opened (and checked). What `terrace config set --secret` and `config init-secrets` use.
pub fn key_for_writing(
    settings: &terrace::config::settings::Settings,
) -> Result<(Secrets, Option<terrace::secrets::SecretsSettings>), terrace::Error> {
    let created = |(key, material)| Ok((key, Some(material)));
    match &settings.secrets {
        None => created(Secrets::new_passphrase()?),
        Some(s) if s.is_passphrase() && s.salt.is_none() => created(Secrets::new_passphrase()?),
        Some(s) if s.is_passphrase() => Ok((Secrets::open_passphrase(s)?, None)),
        Some(s) => match s.kms_key() {
            Some(key) if s.encrypted_key.is_none() => {
                created(kms::create(key, &aws_settings(settings))?)
            }
            Some(_) => Ok((kms::open(s, &aws_settings(settings))?, None)),
            None => Err(terrace::secrets::SecretError::Provider(format!(
                "unknown provider `{}`: use `passphrase` or `awskms://KEY`",
                s.provider
            ))
            .into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_setting_names_its_provider() {
        let mut aws = serde_json::Map::new();
        aws.insert("no_such_setting".into(), serde_json::json!(1));
        let Err(err) = with_settings(&aws, &serde_json::Map::new()) else {
            panic!("an unknown setting is refused");
        };
        assert_eq!(err.provider, "aws");
        assert!(err.message.contains("no_such_setting"), "{err}");
        let registry = schema_registry().unwrap();
        assert!(registry.provider("aws").is_some() && registry.provider("gcp").is_some());
    }
}
