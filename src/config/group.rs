//! `groups/<name>.yaml`: one region group — its jurisdiction and its replicas (cloud, region,
//! zones, size).

use super::yaml::{self, Seg, SegBuf};
use crate::diagnostics::Location;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A region group.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Defaults to the file name; if given it must equal it.
    #[serde(default)]
    pub name: String,
    /// Jurisdiction, e.g. `EU`, `US`, `global`.
    #[serde(default)]
    pub residency: Option<String>,
    /// The replicas of the group.
    pub replicas: Vec<Replica>,
    /// Free-form values for templates.
    #[serde(default)]
    pub vars: BTreeMap<String, Json>,
    /// Staged rollout of this group's stacks (overrides terrace.yaml's).
    #[serde(default)]
    pub rollout: Option<crate::rollout::RolloutSettings>,
    /// The group file, relative to the workspace root.
    #[serde(skip)]
    pub file: PathBuf,
    /// Where the group's mapping sits in its file: empty for a group file; the key path of a
    /// group written inline in another file (e.g. a test of `terrace test`).
    #[serde(skip)]
    pub key_path: Vec<SegBuf>,
}

/// One database replica of a group, in one cloud region.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    /// Name, unique in its scope (lowercase letters, digits, `-`).
    pub name: String,
    /// The provider that hosts it (`aws`, `gcp`, ...).
    pub cloud: String,
    /// Cloud region, e.g. `eu-west-1` or `europe-west3`.
    pub region: String,
    /// Availability zones.
    #[serde(default)]
    pub zones: Vec<String>,
    /// Nodes.
    #[serde(default = "default_nodes")]
    pub nodes: u32,
    /// Machine type or instance size, cloud-specific.
    #[serde(default)]
    pub machine: Option<String>,
    /// Free-form values for templates.
    #[serde(default)]
    pub vars: BTreeMap<String, Json>,
    /// The replica's previous name, when it was renamed: the state of each of its stacks moves
    /// from the old stack name to the new one, so the cloud objects are kept. Templates see it
    /// as `replica.renamed_from` and keep the cloud names made from the old name while it is
    /// set (names such as an auto-scaling group's cannot change in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
}

fn default_nodes() -> u32 {
    1
}

impl Group {
    /// The location of a key path inside the group (`text` is the text of its file), falling
    /// back to the deepest part found.
    pub fn locate(&self, text: &str, path: &[Seg]) -> Location {
        let mut full: Vec<Seg> = self.key_path.iter().map(SegBuf::as_seg).collect();
        full.extend_from_slice(path);
        yaml::location_of(&self.file, text, &full)
    }

    /// The distinct clouds of the group's replicas, in order of first appearance.
    pub fn clouds(&self) -> Vec<String> {
        let mut clouds: Vec<String> = Vec::new();
        for replica in &self.replicas {
            if !clouds.contains(&replica.cloud) {
                clouds.push(replica.cloud.clone());
            }
        }
        clouds
    }
}
