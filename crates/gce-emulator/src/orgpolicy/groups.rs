//! What a `gcp.resourceLocations` value means: a location (`europe-west3`, `europe-west3-a`,
//! a multi-region such as `eu`), optionally prefixed `is:`, or a value group prefixed `in:`.
//!
//! Value groups are Google's curated collections from "Restricting resource locations"
//! (<https://cloud.google.com/resource-manager/docs/organization-policy/defining-locations#value_groups>).
//! The groups this emulator knows:
//! - `in:<region>-locations` for every region of [`crate::geo`]: the region and its zones
//!   ("allowing `in:us-east1-locations` allows all of the locations that exist within
//!   us-east1");
//! - `in:eu-locations`: the regions in the European Union (Warsaw, Finland, Stockholm,
//!   Madrid, Belgium, Frankfurt, Netherlands, Milan, Paris, Berlin, Turin), their zones and
//!   the `eu` multi-region — London (`europe-west2`) and Zurich (`europe-west6`) are not in it;
//! - `in:us-locations`: the `us-*` regions, their zones and the `us` multi-region.
//!
//! Other groups (`in:asia-locations`, `in:europe-locations`, the low-carbon groups, ...) are
//! refused as unknown values rather than guessed.
//!
//! A plain location is exact: "allowing or denying a region does not imply that all
//! included sub-locations should also be allowed or denied" (same page).

use crate::geo;

/// Regions of `in:eu-locations`.
const EU_REGIONS: &[&str] = &[
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west3",
    "europe-west4",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
];

/// Multi-region locations a value may name.
const MULTI_REGIONS: &[&str] = &["eu", "us", "asia", "europe"];

/// A location a Compute resource is created in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location<'a> {
    Region(&'a str),
    Zone(&'a str),
}

impl Location<'_> {
    /// The region, for a zone its region.
    fn region(&self) -> Option<&str> {
        match self {
            Location::Region(r) => Some(r),
            Location::Zone(z) => geo::region_of_zone(z),
        }
    }

    fn name(&self) -> &str {
        match self {
            Location::Region(r) | Location::Zone(r) => r,
        }
    }

    /// As Compute names it in a violation: `REGION:us-east1`, `ZONE:us-east1-b`.
    pub fn tagged(&self) -> String {
        match self {
            Location::Region(r) => format!("REGION:{r}"),
            Location::Zone(z) => format!("ZONE:{z}"),
        }
    }
}

/// The regions a value group covers, or `None` for an unknown group.
fn group_regions(group: &str) -> Option<Vec<&'static str>> {
    match group {
        "eu-locations" => Some(EU_REGIONS.to_vec()),
        "us-locations" => Some(
            geo::regions()
                .filter(|r| r.starts_with("us-"))
                .collect::<Vec<_>>(),
        ),
        _ => {
            let region = group.strip_suffix("-locations")?;
            geo::regions().find(|r| *r == region).map(|r| vec![r])
        }
    }
}

/// The multi-region a group includes, if any.
fn group_multi_region(group: &str) -> Option<&'static str> {
    match group {
        "eu-locations" => Some("eu"),
        "us-locations" => Some("us"),
        _ => None,
    }
}

/// Whether `value` is something a `gcp.resourceLocations` policy may list.
pub fn is_valid(value: &str) -> bool {
    match value.strip_prefix("in:") {
        Some(group) => group_regions(group).is_some(),
        None => {
            let plain = value.strip_prefix("is:").unwrap_or(value);
            geo::is_region(plain) || geo::is_zone(plain) || MULTI_REGIONS.contains(&plain)
        }
    }
}

/// Whether `value` covers `location`.
pub fn covers(value: &str, location: Location) -> bool {
    match value.strip_prefix("in:") {
        Some(group) => {
            let in_region = location
                .region()
                .is_some_and(|r| group_regions(group).is_some_and(|rs| rs.contains(&r)));
            in_region || group_multi_region(group) == Some(location.name())
        }
        None => value.strip_prefix("is:").unwrap_or(value) == location.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_their_regions_and_zones_only() {
        let eu = "in:eu-locations";
        assert!(covers(eu, Location::Region("europe-west3")));
        assert!(covers(eu, Location::Zone("europe-west3-a")));
        assert!(
            !covers(eu, Location::Region("europe-west2")),
            "London is not in the EU"
        );
        assert!(!covers(eu, Location::Zone("us-east1-b")));
        assert!(covers("in:us-locations", Location::Zone("us-central1-f")));
        let frankfurt = "in:europe-west3-locations";
        assert!(covers(frankfurt, Location::Zone("europe-west3-c")));
        assert!(!covers(frankfurt, Location::Region("europe-west4")));
        // A plain region is exact: its zones are not included.
        assert!(covers("europe-west3", Location::Region("europe-west3")));
        assert!(!covers("europe-west3", Location::Zone("europe-west3-a")));
        assert!(covers(
            "is:europe-west3-a",
            Location::Zone("europe-west3-a")
        ));
    }

    #[test]
    fn unknown_values_are_invalid() {
        assert!(is_valid("in:eu-locations"));
        assert!(is_valid("in:us-east1-locations"));
        assert!(is_valid("europe-west3-a"));
        assert!(is_valid("eu"));
        assert!(!is_valid("in:mars-locations"));
        assert!(!is_valid("in:asia-locations"));
        assert!(!is_valid("europe-west99"));
        assert!(!is_valid(""));
    }
}
