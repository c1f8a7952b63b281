//! Residency: a group's jurisdiction (e.g. `EU`) limits the regions and zones of everything in
//! its stacks. The regions of each jurisdiction come from one data file
//! (`jurisdictions.yaml`, built in) plus `jurisdictions:` in `terrace.yaml`.

use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};

/// Jurisdiction → cloud → regions.
#[derive(Debug, Clone, Default)]
pub struct Jurisdictions {
    regions: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

/// The unrestricted jurisdiction.
pub const GLOBAL: &str = "global";

impl Jurisdictions {
    /// The built-in data, extended by the workspace's `jurisdictions:` setting.
    pub fn load(extra: &BTreeMap<String, Json>) -> Jurisdictions {
        let builtin: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> =
            serde_yaml_ng::from_str(include_str!("jurisdictions.yaml"))
                .expect("built-in jurisdictions parse");
        let mut data = Jurisdictions { regions: builtin };
        for (name, clouds) in extra {
            let entry = data.regions.entry(name.clone()).or_default();
            for (cloud, regions) in clouds.as_object().into_iter().flatten() {
                let list = regions
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_str)
                    .map(str::to_string);
                entry.entry(cloud.clone()).or_default().extend(list);
            }
        }
        data
    }

    /// Known jurisdiction names (plus `global`).
    pub fn names(&self) -> Vec<&str> {
        std::iter::once(GLOBAL)
            .chain(self.regions.keys().map(String::as_str))
            .collect()
    }

    /// True when the jurisdiction is known.
    pub fn knows(&self, jurisdiction: &str) -> bool {
        jurisdiction.eq_ignore_ascii_case(GLOBAL) || self.regions.contains_key(jurisdiction)
    }

    /// True when `region` of `cloud` lies in the jurisdiction.
    pub fn allows_region(&self, jurisdiction: &str, cloud: &str, region: &str) -> bool {
        if jurisdiction.eq_ignore_ascii_case(GLOBAL) {
            return true;
        }
        self.regions
            .get(jurisdiction)
            .and_then(|clouds| clouds.get(cloud))
            .is_some_and(|regions| regions.contains(region))
    }

    /// True when `zone` of `cloud` lies in an allowed region of the jurisdiction.
    pub fn allows_zone(&self, jurisdiction: &str, cloud: &str, zone: &str) -> bool {
        if jurisdiction.eq_ignore_ascii_case(GLOBAL) {
            return true;
        }
        self.regions
            .get(jurisdiction)
            .and_then(|clouds| clouds.get(cloud))
            .is_some_and(|regions| {
                regions
                    .iter()
                    .any(|r| zone.starts_with(r.as_str()) && zone.len() > r.len())
            })
    }

    /// The regions of a cloud in the jurisdiction, for messages.
    pub fn regions_of(&self, jurisdiction: &str, cloud: &str) -> Vec<String> {
        self.regions
            .get(jurisdiction)
            .and_then(|clouds| clouds.get(cloud))
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_data_and_extensions() {
        let extra: BTreeMap<String, Json> = serde_json::from_value(
            serde_json::json!({"EU": {"test": ["eu-1"]}, "CH": {"aws": ["eu-central-2"]}}),
        )
        .unwrap();
        let data = Jurisdictions::load(&extra);
        assert!(data.allows_region("EU", "aws", "eu-west-1"));
        assert!(data.allows_region("EU", "gcp", "europe-west3"));
        assert!(!data.allows_region("EU", "aws", "us-east-1"));
        assert!(data.allows_region("EU", "test", "eu-1"));
        assert!(data.allows_region("CH", "aws", "eu-central-2"));
        assert!(data.allows_zone("EU", "aws", "eu-west-1a"));
        assert!(data.allows_zone("EU", "gcp", "europe-west3-b"));
        assert!(!data.allows_zone("EU", "aws", "us-east-1a"));
        assert!(data.allows_region("global", "aws", "ap-south-1"));
        assert!(data.knows("US") && !data.knows("EUU"));
    }
}
