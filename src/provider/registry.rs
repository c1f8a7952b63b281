//! The set of providers a workspace uses, and schema lookup by resource type.

use super::{Provider, ResourceSchema};
use crate::state::{BackendOpener, BackendOpeners};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Providers by name, with their schemas indexed by type name, and the openers of state
/// backends other than the built-in `file://`, by URL scheme.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    schemas: BTreeMap<String, Arc<ResourceSchema>>,
    backends: BTreeMap<String, Arc<dyn BackendOpener>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds a provider (replacing one of the same name).
    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        for schema in provider.schemas() {
            self.schemas
                .insert(schema.type_name.clone(), Arc::new(schema));
        }
        self.providers.insert(provider.name().to_string(), provider);
    }

    /// A provider by name.
    pub fn provider(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    /// The provider of a type, by the prefix before the first `:`.
    pub fn provider_for_type(&self, type_name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(provider_prefix(type_name))
    }

    /// This registry with the providers named in `configs` bound to their configuration
    /// ([`Provider::configure`]); schemas and backends are shared. Empty `configs`: a clone.
    /// Errors name the provider (no such provider, or its own refusal of the configuration).
    pub fn configured(
        &self,
        configs: &BTreeMap<String, super::Properties>,
    ) -> Result<Registry, super::ProviderError> {
        let mut registry = self.clone();
        for (name, config) in configs {
            let provider = self.providers.get(name).ok_or_else(|| {
                super::ProviderError::new(
                    super::ErrorKind::Invalid,
                    "NoProvider",
                    format!("`providers:` configures `{name}`, which is not a provider"),
                )
            })?;
            registry
                .providers
                .insert(name.clone(), provider.configure(config)?);
        }
        Ok(registry)
    }

    /// The schema of a resource type.
    pub fn schema(&self, type_name: &str) -> Option<&Arc<ResourceSchema>> {
        self.schemas.get(type_name)
    }

    /// Every known resource type.
    pub fn type_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.schemas.keys().map(String::as_str)
    }

    /// Names of the registered providers.
    pub fn provider_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.providers.keys().map(String::as_str)
    }

    /// The registered providers.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.providers.values()
    }

    /// Opens `terrace.yaml` `backend:` URLs of `scheme` (e.g. `"s3"` for `s3://...`) with
    /// `opener` (replacing one of the same scheme). `file://` is built in.
    pub fn register_backend(&mut self, scheme: &str, opener: impl BackendOpener + 'static) {
        self.backends.insert(scheme.to_string(), Arc::new(opener));
    }

    /// The opener of a backend URL scheme, if one was registered.
    pub fn backend_opener(&self, scheme: &str) -> Option<&Arc<dyn BackendOpener>> {
        self.backends.get(scheme)
    }
}

impl BackendOpeners for Registry {
    fn backend_opener(&self, scheme: &str) -> Option<&Arc<dyn BackendOpener>> {
        Registry::backend_opener(self, scheme)
    }
}

/// `aws:ec2:Vpc` → `aws`.
pub fn provider_prefix(type_name: &str) -> &str {
    type_name.split(':').next().unwrap_or(type_name)
}
