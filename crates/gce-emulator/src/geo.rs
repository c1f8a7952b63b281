//! The regions and zones the emulator knows, so that a request naming an unknown one is
//! answered with 404 as Compute does. The table mirrors Google's public region list.

/// Every known region with the zone suffixes it has.
const REGIONS: &[(&str, &str)] = &[
    ("africa-south1", "abc"),
    ("asia-east1", "abc"),
    ("asia-east2", "abc"),
    ("asia-northeast1", "abc"),
    ("asia-northeast2", "abc"),
    ("asia-northeast3", "abc"),
    ("asia-south1", "abc"),
    ("asia-south2", "abc"),
    ("asia-southeast1", "abc"),
    ("asia-southeast2", "abc"),
    ("australia-southeast1", "abc"),
    ("australia-southeast2", "abc"),
    ("europe-central2", "abc"),
    ("europe-north1", "abc"),
    ("europe-north2", "abc"),
    ("europe-southwest1", "abc"),
    ("europe-west1", "bcd"),
    ("europe-west2", "abc"),
    ("europe-west3", "abc"),
    ("europe-west4", "abc"),
    ("europe-west6", "abc"),
    ("europe-west8", "abc"),
    ("europe-west9", "abc"),
    ("europe-west10", "abc"),
    ("europe-west12", "abc"),
    ("me-central1", "abc"),
    ("me-central2", "abc"),
    ("me-west1", "abc"),
    ("northamerica-northeast1", "abc"),
    ("northamerica-northeast2", "abc"),
    ("northamerica-south1", "abc"),
    ("southamerica-east1", "abc"),
    ("southamerica-west1", "abc"),
    ("us-central1", "abcf"),
    ("us-east1", "bcd"),
    ("us-east4", "abc"),
    ("us-east5", "abc"),
    ("us-south1", "abc"),
    ("us-west1", "abc"),
    ("us-west2", "abc"),
    ("us-west3", "abc"),
    ("us-west4", "abc"),
];

fn suffixes(region: &str) -> Option<&'static str> {
    REGIONS.iter().find(|(r, _)| *r == region).map(|(_, z)| *z)
}

/// Every known region, in order.
pub fn regions() -> impl Iterator<Item = &'static str> {
    REGIONS.iter().map(|(r, _)| *r)
}

/// Whether `region` is a known region.
pub fn is_region(region: &str) -> bool {
    suffixes(region).is_some()
}

/// Whether `zone` is a known zone (`<region>-<letter>`).
pub fn is_zone(zone: &str) -> bool {
    region_of_zone(zone).is_some()
}

/// The region a known zone belongs to.
pub fn region_of_zone(zone: &str) -> Option<&str> {
    let (region, letter) = zone.rsplit_once('-')?;
    let mut chars = letter.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    suffixes(region).filter(|s| s.contains(c)).map(|_| region)
}

/// The zones of a known region, in order.
pub fn zones_of(region: &str) -> Vec<String> {
    suffixes(region)
        .map(|s| s.chars().map(|c| format!("{region}-{c}")).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_resolve_to_regions() {
        assert_eq!(region_of_zone("us-central1-f"), Some("us-central1"));
        assert_eq!(region_of_zone("us-central1-d"), None);
        assert_eq!(region_of_zone("europe-west1-b"), Some("europe-west1"));
        assert!(!is_zone("us-central1"));
        assert!(is_region("asia-east1"));
        assert_eq!(
            zones_of("us-east1"),
            ["us-east1-b", "us-east1-c", "us-east1-d"]
        );
    }
}
