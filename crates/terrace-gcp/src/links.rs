//! Resource ids are Compute `selfLink`s
//! (`https://www.googleapis.com/compute/v1/projects/P/regions/R/subnetworks/N`): they are
//! what other resources reference, and they say where to find the resource again.

use crate::api::Location;

/// Where a resource is, read from its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub project: String,
    pub location: Location,
    pub collection: String,
    pub name: String,
}

impl Link {
    /// Parses a full or partial (`projects/...`) Compute URL.
    pub fn parse(url: &str) -> Option<Link> {
        let start = url.find("projects/")?;
        let parts: Vec<&str> = url[start..].split('/').collect();
        let (project, location, rest) = match parts.as_slice() {
            ["projects", p, "global", rest @ ..] => (p, Location::Global, rest),
            ["projects", p, "regions", r, rest @ ..] => (p, Location::Region(r.to_string()), rest),
            ["projects", p, "zones", z, rest @ ..] => (p, Location::Zone(z.to_string()), rest),
            _ => return None,
        };
        match rest {
            [collection, name] if !name.is_empty() && !project.is_empty() => Some(Link {
                project: project.to_string(),
                location,
                collection: collection.to_string(),
                name: name.to_string(),
            }),
            _ => None,
        }
    }

    /// The part of the URL from `projects/` on: equal for full and partial forms.
    pub fn key(&self) -> String {
        let scope = match &self.location {
            Location::Global => "global".to_string(),
            Location::Region(r) => format!("regions/{r}"),
            Location::Zone(z) => format!("zones/{z}"),
        };
        format!(
            "projects/{}/{scope}/{}/{}",
            self.project, self.collection, self.name
        )
    }
}

/// The region of a zone (`europe-west3-a` → `europe-west3`).
pub fn zone_region(zone: &str) -> &str {
    zone.rsplit_once('-').map(|(r, _)| r).unwrap_or(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_links() {
        let l = Link::parse(
            "https://www.googleapis.com/compute/v1/projects/p/regions/europe-west3/subnetworks/s",
        )
        .unwrap();
        assert_eq!(l.project, "p");
        assert_eq!(l.location, Location::Region("europe-west3".into()));
        assert_eq!(
            (l.collection.as_str(), l.name.as_str()),
            ("subnetworks", "s")
        );
        let partial = Link::parse("projects/p/regions/europe-west3/subnetworks/s").unwrap();
        assert_eq!(partial.key(), l.key());
        assert_eq!(
            Link::parse("projects/p/global/networks/n")
                .unwrap()
                .location,
            Location::Global
        );
        assert!(Link::parse("networks/n").is_none());
        assert!(Link::parse("projects/p/global/networks/").is_none());
        assert_eq!(zone_region("europe-west3-a"), "europe-west3");
    }
}
