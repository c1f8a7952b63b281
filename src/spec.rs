//! Desired-state data: what one stack should contain after rendering — resources with their
//! raw properties (references still unresolved) and outputs. Rendering produces it, plans carry
//! it (so that apply can re-plan without templates), and the executor consumes it.

use crate::config::StackInstance;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The desired content of one stack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackSpec {
    /// The stack.
    #[serde(flatten)]
    pub instance: StackInstance,
    /// Resources, in template order.
    pub resources: IndexMap<String, ResourceSpec>,
    /// Output name → raw value (may contain references).
    pub outputs: IndexMap<String, Json>,
    /// Resources that were known under another name or in another stack (`moved:`): their
    /// state entries move here, and the cloud objects are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<MovedSpec>,
    /// The resources a targeted plan (`--target`) is restricted to: changes to any other
    /// resource are left out, at plan and again at the re-plan before apply, which is how an
    /// apply does exactly what a targeted plan showed. `None`: the whole stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<std::collections::BTreeSet<String>>,
    /// The stack's own provider configuration, by provider name (`aws`, `gcp`): the layer's
    /// `providers:` overlaid by its templates', kept for the providers the stack's resources
    /// use. Raw: values may hold references (`${accounts.outputs.account_id}`), resolved like
    /// properties (see [`crate::plan::providers`]). Empty: the workspace's providers as
    /// configured in `terrace.yaml`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub providers: std::collections::BTreeMap<String, serde_json::Map<String, Json>>,
}

impl StackSpec {
    /// True when a change to `resource` is part of this plan (see [`StackSpec::only`]).
    pub fn in_scope(&self, resource: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.contains(resource))
    }
}

/// One `moved:` entry of a template.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MovedSpec {
    /// Where the resource was (this stack, unless the template names another).
    pub from: crate::state::moves::ResourceAddress,
    /// Its name in this stack now.
    pub to: String,
}

/// One desired resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceSpec {
    /// Resource type, e.g. `aws:ec2:Vpc`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The region the resource lives in; `None` for global resources.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    /// Raw properties; strings may contain `${...}` references.
    pub properties: serde_json::Map<String, Json>,
    /// Never delete or replace without an explicit override.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
    /// Resources of the stack this one waits for, beyond references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Replace by creating the new resource before deleting the old one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
    /// Template the resource came from (for messages).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template: String,
}
