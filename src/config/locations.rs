//! The regions and zones of each cloud: built-in data (`locations.yaml`, with its sources)
//! plus `regions:` in `terrace.yaml` for regions newer than it. A region or zone a cloud does
//! not have is an input error when the workspace opens, with the closest name — not an
//! account created in a region that does not exist, then a failure at apply. Clouds without
//! data (the test provider, a provider of one's own) are not checked.

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The built-in data of one cloud.
#[derive(Debug, Deserialize)]
struct CloudData {
    /// How a zone is named from its region and letter: `{region}{letter}` or
    /// `{region}-{letter}`.
    zone: String,
    /// Region → the letters of its zones.
    regions: BTreeMap<String, Vec<String>>,
}

/// Cloud → region → zone names.
#[derive(Debug, Clone, Default)]
pub struct Locations {
    clouds: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

/// What is wrong with a region or zone, and the closest valid name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// What is wrong, e.g. "aws has no region `us-esat-1`".
    pub message: String,
    /// What would fix it ("did you mean …", or the valid names).
    pub help: String,
}

impl Locations {
    /// The built-in data, extended by `regions:` of terrace.yaml (cloud → region → zones).
    pub fn load(extra: &BTreeMap<String, BTreeMap<String, Vec<String>>>) -> Locations {
        let builtin: BTreeMap<String, CloudData> =
            serde_yaml_ng::from_str(include_str!("locations.yaml"))
                .expect("built-in locations parse");
        let mut clouds = BTreeMap::new();
        for (cloud, data) in builtin {
            let regions = data
                .regions
                .into_iter()
                .map(|(region, letters)| {
                    let zones = letters
                        .iter()
                        .map(|l| {
                            data.zone
                                .replace("{region}", &region)
                                .replace("{letter}", l)
                        })
                        .collect();
                    (region, zones)
                })
                .collect();
            clouds.insert(cloud, regions);
        }
        let mut locations = Locations { clouds };
        for (cloud, regions) in extra {
            let known = locations.clouds.entry(cloud.clone()).or_default();
            for (region, zones) in regions {
                known
                    .entry(region.clone())
                    .or_default()
                    .extend(zones.iter().cloned());
            }
        }
        locations
    }

    /// Checks a region of `cloud`; clouds without data accept any region.
    pub fn check_region(&self, cloud: &str, region: &str) -> Result<(), Unknown> {
        let Some(regions) = self.clouds.get(cloud) else {
            return Ok(());
        };
        if regions.contains_key(region) {
            return Ok(());
        }
        Err(Unknown {
            message: format!("{cloud} has no region `{region}`"),
            help: format!(
                "{} (a region newer than Terrace's list is added in terrace.yaml: `regions: {{{cloud}: {{{region}: [ZONES]}}}}`)",
                crate::diagnostics::suggest(region, regions.keys().map(String::as_str))
            ),
        })
    }

    /// The first zones of a known region (for examples in messages); empty when unknown.
    pub fn some_zones(&self, cloud: &str, region: &str) -> Vec<&str> {
        self.clouds
            .get(cloud)
            .and_then(|r| r.get(region))
            .map(|zones| zones.iter().take(2).map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Checks a zone of `region` (a known region of `cloud`); clouds without data accept any
    /// zone.
    pub fn check_zone(&self, cloud: &str, region: &str, zone: &str) -> Result<(), Unknown> {
        let Some(zones) = self.clouds.get(cloud).and_then(|r| r.get(region)) else {
            return Ok(());
        };
        if zones.contains(zone) {
            return Ok(());
        }
        let elsewhere = self.clouds[cloud]
            .iter()
            .find(|(_, zones)| zones.contains(zone))
            .map(|(other, _)| other);
        let message = match elsewhere {
            Some(other) => format!("zone `{zone}` is in region {other}, not {region}"),
            None => format!("{cloud} region {region} has no zone `{zone}`"),
        };
        Err(Unknown {
            message,
            help: crate::diagnostics::suggest(zone, zones.iter().map(String::as_str)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_zones_of_each_cloud_with_the_closest_name() {
        let data = Locations::load(&BTreeMap::new());
        assert_eq!(data.check_region("aws", "eu-west-1"), Ok(()));
        assert_eq!(data.check_region("gcp", "europe-west3"), Ok(()));
        let typo = data.check_region("aws", "us-esat-1").unwrap_err();
        assert_eq!(typo.message, "aws has no region `us-esat-1`");
        assert!(
            typo.help.starts_with("did you mean `us-east-1`?"),
            "{typo:?}"
        );
        let gcp = data.check_region("gcp", "europe-wset3").unwrap_err();
        assert!(
            gcp.help.starts_with("did you mean `europe-west3`?"),
            "{gcp:?}"
        );
        assert_eq!(data.check_zone("aws", "eu-west-1", "eu-west-1b"), Ok(()));
        assert_eq!(
            data.check_zone("gcp", "europe-west3", "europe-west3-a"),
            Ok(())
        );
        let zone = data
            .check_zone("aws", "eu-west-1", "eu-west-1z")
            .unwrap_err();
        assert_eq!(
            zone.message,
            "aws region eu-west-1 has no zone `eu-west-1z`"
        );
        let moved = data
            .check_zone("aws", "eu-west-1", "eu-central-1a")
            .unwrap_err();
        assert_eq!(
            moved.message,
            "zone `eu-central-1a` is in region eu-central-1, not eu-west-1"
        );
        assert_eq!(data.check_region("test", "anything"), Ok(()));
    }

    #[test]
    fn terrace_yaml_adds_regions() {
        let extra = BTreeMap::from([(
            "aws".to_string(),
            BTreeMap::from([("eu-new-1".to_string(), vec!["eu-new-1a".to_string()])]),
        )]);
        let data = Locations::load(&extra);
        assert_eq!(data.check_region("aws", "eu-new-1"), Ok(()));
        assert_eq!(data.check_zone("aws", "eu-new-1", "eu-new-1a"), Ok(()));
    }

    #[test]
    fn every_region_of_a_jurisdiction_is_a_known_region() {
        let data = Locations::load(&BTreeMap::new());
        let jurisdictions: BTreeMap<String, BTreeMap<String, Vec<String>>> =
            serde_yaml_ng::from_str(include_str!("../policy/jurisdictions.yaml")).unwrap();
        for (name, clouds) in jurisdictions {
            for (cloud, regions) in clouds {
                for region in regions {
                    assert_eq!(data.check_region(&cloud, &region), Ok(()), "{name}");
                }
            }
        }
    }
}
