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
    #[serde(flatten)]
    pub instance: StackInstance,
    pub resources: IndexMap<String, ResourceSpec>,
    /// Output name → raw value (may contain references).
    pub outputs: IndexMap<String, Json>,
}

/// One desired resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResourceSpec {
    #[serde(rename = "type")]
    pub type_name: String,
    /// The region the resource lives in; `None` for global resources.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    /// Raw properties; strings may contain `${...}` references.
    pub properties: serde_json::Map<String, Json>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
    /// Template the resource came from (for messages).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template: String,
}
