//! The provider contract: what a cloud provider implements and what the engine calls. A
//! provider owns one cloud: its resource types with their schemas, create/read/update/delete/
//! import, and batched reads (one call per type × region × page). Providers know nothing of
//! workspaces, templates, stacks, plans or state files: they get typed properties and ownership
//! data and return ids and attributes. The engine never names a cloud; it finds a provider by
//! the prefix of a resource type.
//!
//! This crate is all a provider depends on (not the engine with its template, policy and
//! key-derivation libraries); the engine re-exports it as `terrace::provider`.

#![warn(missing_docs)]

pub mod cidr;
pub mod progress;
pub mod schema;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub use schema::{ApiClasses, FieldKind, FieldSchema, ResourceSchema};

/// True when a string holds a reference (`${…}`), a value known only at apply.
pub fn has_reference(text: &str) -> bool {
    text.contains("${")
}

/// Properties or attributes: a JSON object.
pub type Properties = serde_json::Map<String, Json>;

/// Who owns a resource: written as tags/labels at creation, so that a resource created before a
/// crash can be found and adopted instead of duplicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    /// Workspace name.
    pub workspace: String,
    /// Stack name.
    pub stack: String,
    /// Resource name within its stack.
    pub resource: String,
}

impl Ownership {
    /// What a read looks for to find every resource of `workspace`, in any stack: `stack` and
    /// `resource` empty. One refresh reads several stacks' pending creates with it and sorts
    /// what it finds by [`Ownership::stack`].
    pub fn workspace_wide(workspace: &str) -> Ownership {
        Ownership {
            workspace: workspace.to_string(),
            stack: String::new(),
            resource: String::new(),
        }
    }

    /// True when `found` (the tags of a resource) answers this wanted owner: same workspace,
    /// same stack unless `stack` is empty (any stack of the workspace), same resource unless
    /// `resource` is empty (any resource of the stack). `same` compares one value as the cloud
    /// stores it (a label cut to its length limit, say).
    pub fn covers_with(&self, found: &Ownership, same: impl Fn(&str, &str) -> bool) -> bool {
        same(&found.workspace, &self.workspace)
            && (self.stack.is_empty() || same(&found.stack, &self.stack))
            && (self.resource.is_empty() || same(&found.resource, &self.resource))
    }

    /// [`Ownership::covers_with`] comparing values as they are.
    pub fn covers(&self, found: &Ownership) -> bool {
        self.covers_with(found, |a, b| a == b)
    }
}

/// A resource as the cloud reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Cloud id.
    pub id: String,
    /// Inputs as the cloud sees them now (for drift detection).
    pub properties: Properties,
    /// Computed attributes (ids, ARNs, endpoints, ...).
    pub attributes: Properties,
    /// Ownership tags found on the resource, if any.
    #[serde(default)]
    pub ownership: Option<Ownership>,
}

/// What a batched read asks for: resources of one type in one region, by ids, by owner, or
/// both. A provider answers with as few cloud calls as it can (one per page).
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// Resource type, e.g. `aws:ec2:Vpc`.
    pub type_name: String,
    /// Region, or none for global resources.
    pub region: Option<String>,
    /// Cloud ids to read.
    pub ids: Vec<String>,
    /// Also return resources carrying these ownership tags ([`Ownership::covers`]: the
    /// workspace must match; `stack` empty means any stack of the workspace — the form one
    /// refresh of several stacks sends, [`Ownership::workspace_wide`] —; `resource` empty
    /// means any resource of the stack).
    pub owner: Option<Ownership>,
}

/// A create.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// Resource type, e.g. `aws:ec2:Vpc`.
    pub type_name: String,
    /// Region, or none for global resources.
    pub region: Option<String>,
    /// Properties (resource inputs).
    pub properties: Properties,
    /// Who owns the resource (written as tags/labels).
    pub ownership: Ownership,
    /// Derived from stack, resource and operation: a retry never creates twice.
    pub idempotency_key: String,
}

/// An in-place update.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// Resource type, e.g. `aws:ec2:Vpc`.
    pub type_name: String,
    /// Region, or none for global resources.
    pub region: Option<String>,
    /// Cloud id.
    pub id: String,
    /// Properties as last applied.
    pub old: Properties,
    /// Desired properties.
    pub new: Properties,
    /// Who owns the resource (written as tags/labels).
    pub ownership: Ownership,
    /// Derived from stack, resource and operation: a retry never acts twice.
    pub idempotency_key: String,
}

/// A delete.
#[derive(Debug, Clone)]
pub struct DeleteRequest {
    /// Resource type, e.g. `aws:ec2:Vpc`.
    pub type_name: String,
    /// Region, or none for global resources.
    pub region: Option<String>,
    /// Cloud id.
    pub id: String,
    /// Properties (resource inputs).
    pub properties: Properties,
    /// Derived from stack, resource and operation: a retry never acts twice.
    pub idempotency_key: String,
}

/// How a provider call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such resource.
    NotFound,
    /// Too many requests; retried with backoff by the provider.
    Throttled,
    /// The resource is in use or in a conflicting state.
    Conflict,
    /// The request is invalid.
    Invalid,
    /// The outcome is unknown (timeout, connection lost after sending, a server error, or a
    /// failure after the first mutating call of a create succeeded): the resource may exist.
    /// The engine looks a create up by its ownership tags before trying again.
    Ambiguous,
    /// The credentials may not do this (HTTP 403, `AccessDenied`, `UnauthorizedOperation`).
    /// Never read as "absent": a read or delete refused this way is an error naming the
    /// resource and, in the message, the credentials' identity.
    Denied,
    /// Anything else.
    Other,
}

/// A provider error, with the cloud's own code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{code}: {message}")]
pub struct ProviderError {
    /// How it failed.
    pub kind: ErrorKind,
    /// The cloud's error code (e.g. `InvalidVpcID.NotFound`, `notFound`).
    pub code: String,
    /// The cloud's message.
    pub message: String,
}

impl ProviderError {
    /// An error of a kind, with the cloud's code and message.
    pub fn new(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A default request rate for one API class, per region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// API class, e.g. `ec2:mutate`.
    pub class: String,
    /// Requests per second per region.
    pub per_second: f64,
    /// Requests allowed at once after an idle period.
    pub burst: u32,
}

/// One cloud.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The prefix of this provider's types, e.g. `aws`.
    fn name(&self) -> &str;

    /// The resource types this provider manages.
    fn schemas(&self) -> Vec<ResourceSchema>;

    /// Default rates per API class and region; `terrace.yaml` may override them.
    fn rate_limits(&self) -> Vec<RateLimit> {
        Vec::new()
    }

    /// Default number of operations in flight per region.
    fn max_in_flight(&self) -> usize {
        64
    }

    /// Puts a known desired value in the form the cloud reads it back in (protocol names and
    /// numbers, merged rules, `5432` as `5432-5432`, letter case), so that a plan never shows
    /// a change the cloud would not see. `None`: the value is canonical already. Called for
    /// fully known values only, before every diff and before every create or update.
    fn normalize(&self, type_name: &str, field: &str, value: &Json) -> Option<Json> {
        let _ = (type_name, field, value);
        None
    }

    /// This provider bound to one stack's provider configuration (the stack's `providers:`
    /// entry, references resolved): other credentials (an assumed role), another project.
    /// The configuration's keys are the provider's own; an unknown key or a value of the wrong
    /// shape is an `Invalid` error. Network-free: credentials are fetched on first use.
    /// Providers cache what they build per configuration, so that stacks sharing one share
    /// clients and credentials. The default takes no configuration.
    fn configure(
        &self,
        config: &Properties,
    ) -> Result<std::sync::Arc<dyn Provider>, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            "NoStackConfiguration",
            format!(
                "the {} provider takes no per-stack configuration (got keys: {})",
                self.name(),
                config.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ))
    }

    /// Batched read: every requested resource that exists (missing ones are simply absent).
    async fn read(&self, request: ReadRequest) -> Result<Vec<Observed>, ProviderError>;

    /// Creates a resource with its ownership tags, idempotently.
    async fn create(&self, request: CreateRequest) -> Result<Observed, ProviderError>;

    /// Updates a resource in place (only non-force-new fields change).
    async fn update(&self, request: UpdateRequest) -> Result<Observed, ProviderError>;

    /// Deleting a resource that no longer exists succeeds.
    async fn delete(&self, request: DeleteRequest) -> Result<(), ProviderError>;

    /// Reads one existing resource by its cloud id, to adopt it.
    async fn import(
        &self,
        type_name: &str,
        region: Option<&str>,
        id: &str,
    ) -> Result<Observed, ProviderError> {
        let request = ReadRequest {
            type_name: type_name.to_string(),
            region: region.map(str::to_string),
            ids: vec![id.to_string()],
            owner: None,
        };
        self.read(request)
            .await?
            .into_iter()
            .find(|o| o.id == id)
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::NotFound,
                    "NotFound",
                    format!("no {type_name} with id {id}"),
                )
            })
    }
}
