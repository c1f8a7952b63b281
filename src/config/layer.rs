//! `stacks/<layer>/layer.yaml`: a layer — what it depends on, how many stacks it has (one per
//! group, per group × cloud, or per replica) and which templates render each stack.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How a layer is split into stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Scope {
    /// One stack per group: `layer/group`.
    Group,
    /// One stack per group × cloud: `layer/group/cloud`.
    Cloud,
    /// One stack per replica: `layer/group/replica`.
    Replica,
}

/// The parsed `layer.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFile {
    /// Free text for readers.
    #[serde(default)]
    pub description: Option<String>,
    /// Names this one depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// How the layer is split into stacks.
    pub per: Scope,
    /// Template file names under `templates/<layer>/`; default: all `*.yaml.tera` there.
    #[serde(default)]
    pub templates: Option<Vec<String>>,
    /// Staged rollout of this layer's stacks (overrides group and terrace.yaml settings).
    #[serde(default)]
    pub rollout: Option<crate::config::sections::RolloutSettings>,
    /// Provider configuration of the layer's stacks, by provider name (`aws: {assume_role:
    /// ...}`, `gcp: {project: ...}`); values may hold references. A template's `providers:`
    /// overrides it key by key. Only the providers a stack's resources use are kept.
    #[serde(default)]
    pub providers: std::collections::BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// A loaded layer with its templates.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Layer name (the directory under `stacks/`).
    pub name: String,
    /// The layer file, relative to the workspace root.
    pub file: PathBuf,
    /// The parsed layer file.
    pub spec: LayerFile,
    /// Templates rendered for each stack of the layer.
    pub templates: Vec<Template>,
}

/// One template file of a layer.
#[derive(Debug, Clone)]
pub struct Template {
    /// Path relative to the workspace root.
    pub path: PathBuf,
    /// The template source.
    pub text: String,
}
