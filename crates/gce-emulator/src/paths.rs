//! Resource paths and URLs: scopes (global, region, zone), canonical paths such as
//! `projects/p/regions/r/subnetworks/s`, the `https://www.googleapis.com/compute/v1/...`
//! self-links Compute returns, and resolution of the full and partial reference forms
//! Compute accepts in request bodies.

use serde::{Deserialize, Serialize};

/// The host form Compute uses in every link it returns.
pub const API_BASE: &str = "https://www.googleapis.com/compute/v1/";

/// Where a resource lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    Global,
    Region(String),
    Zone(String),
}

/// The kind of scope a collection lives in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    Global,
    Regional,
    Zonal,
}

impl Scope {
    /// The path segment(s): `global`, `regions/r` or `zones/z`.
    pub fn segment(&self) -> String {
        match self {
            Scope::Global => "global".into(),
            Scope::Region(r) => format!("regions/{r}"),
            Scope::Zone(z) => format!("zones/{z}"),
        }
    }

    pub fn kind(&self) -> ScopeKind {
        match self {
            Scope::Global => ScopeKind::Global,
            Scope::Region(_) => ScopeKind::Regional,
            Scope::Zone(_) => ScopeKind::Zonal,
        }
    }

    /// The URL of the region or zone itself, for `region`/`zone` fields.
    pub fn link(&self, project: &str) -> Option<String> {
        match self {
            Scope::Global => None,
            _ => Some(format!("{API_BASE}projects/{project}/{}", self.segment())),
        }
    }

    /// The region this scope is in, if any (a zone's region included).
    pub fn region(&self) -> Option<&str> {
        match self {
            Scope::Global => None,
            Scope::Region(r) => Some(r),
            Scope::Zone(z) => crate::geo::region_of_zone(z),
        }
    }
}

/// A resource's identity: `projects/{project}/{scope}/{collection}/{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourcePath {
    pub project: String,
    pub scope: Scope,
    pub collection: String,
    pub name: String,
}

impl ResourcePath {
    pub fn new(project: &str, scope: &Scope, collection: &str, name: &str) -> Self {
        ResourcePath {
            project: project.into(),
            scope: scope.clone(),
            collection: collection.into(),
            name: name.into(),
        }
    }

    /// Parses a canonical path `projects/p/.../c/n` (no host).
    pub fn parse(path: &str) -> Option<Self> {
        let segs: Vec<&str> = path.split('/').collect();
        if segs.iter().any(|s| s.is_empty()) || segs.first() != Some(&"projects") {
            return None;
        }
        let (scope, rest) = match (segs.get(2), segs.get(3)) {
            (Some(&"global"), _) => (Scope::Global, &segs[3..]),
            (Some(&"regions"), Some(r)) => (Scope::Region((*r).into()), &segs[4..]),
            (Some(&"zones"), Some(z)) => (Scope::Zone((*z).into()), &segs[4..]),
            _ => return None,
        };
        match rest {
            [collection, name] => Some(ResourcePath::new(segs[1], &scope, collection, name)),
            _ => None,
        }
    }

    /// The canonical path, also the store key.
    pub fn path(&self) -> String {
        format!(
            "{}/{}",
            collection_path(&self.project, &self.scope, &self.collection),
            self.name
        )
    }

    /// The full URL Compute returns as `selfLink`.
    pub fn self_link(&self) -> String {
        format!("{API_BASE}{}", self.path())
    }
}

/// `projects/p/{scope}/{collection}`.
pub fn collection_path(project: &str, scope: &Scope, collection: &str) -> String {
    format!("projects/{project}/{}/{collection}", scope.segment())
}

/// Strips any `http(s)://host/compute/v1/` prefix; `None` if the URL is for another API.
fn strip_host(raw: &str) -> Option<&str> {
    if !raw.starts_with("https://") && !raw.starts_with("http://") {
        return Some(raw);
    }
    raw.split_once("/compute/v1/").map(|(_, rest)| rest)
}

/// Resolves a reference in any form Compute accepts — full URL, `projects/p/...`, or
/// `global/...`, `regions/r/...`, `zones/z/...` relative to `project` — to a path.
pub fn resolve_ref(raw: &str, project: &str) -> Option<ResourcePath> {
    let rest = strip_host(raw)?;
    if rest.starts_with("projects/") {
        return ResourcePath::parse(rest);
    }
    if ["global/", "regions/", "zones/"]
        .iter()
        .any(|p| rest.starts_with(p))
    {
        return ResourcePath::parse(&format!("projects/{project}/{rest}"));
    }
    None
}

/// Parses a canonical URL produced by this emulator back to a path.
pub fn parse_link(link: &str) -> Option<ResourcePath> {
    link.strip_prefix(API_BASE).and_then(ResourcePath::parse)
}

/// A request path below `/compute/v1/`, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub project: String,
    pub scope: Scope,
    pub collection: String,
    pub name: Option<String>,
    pub action: Option<String>,
}

impl Route {
    /// Parses `projects/{p}/{global|regions/r|zones/z}/{collection}[/{name}[/{action}]]`.
    pub fn parse(rest: &str) -> Option<Route> {
        let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        if segs.len() < 4 || segs[0] != "projects" || segs.iter().any(|s| s.is_empty()) {
            return None;
        }
        let (scope, tail) = match segs[2] {
            "global" => (Scope::Global, &segs[3..]),
            "regions" if segs.len() >= 5 => (Scope::Region(segs[3].into()), &segs[4..]),
            "zones" if segs.len() >= 5 => (Scope::Zone(segs[3].into()), &segs[4..]),
            _ => return None,
        };
        if tail.len() > 3 {
            return None;
        }
        Some(Route {
            project: segs[1].into(),
            scope,
            collection: tail[0].into(),
            name: tail.get(1).map(|s| (*s).into()),
            action: tail.get(2).map(|s| (*s).into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_all_reference_forms() {
        let want = ResourcePath::new("p", &Scope::Global, "networks", "n");
        for raw in [
            "https://www.googleapis.com/compute/v1/projects/p/global/networks/n",
            "https://compute.googleapis.com/compute/v1/projects/p/global/networks/n",
            "projects/p/global/networks/n",
            "global/networks/n",
        ] {
            assert_eq!(resolve_ref(raw, "p"), Some(want.clone()), "{raw}");
        }
        assert_eq!(resolve_ref("n", "p"), None);
        assert_eq!(resolve_ref("https://example.com/n", "p"), None);
        let sub = resolve_ref("regions/us-east1/subnetworks/s", "p").unwrap();
        assert_eq!(sub.path(), "projects/p/regions/us-east1/subnetworks/s");
    }

    #[test]
    fn parses_routes() {
        let r = Route::parse("projects/p/zones/us-east1-b/instances/vm/setLabels").unwrap();
        assert_eq!(r.scope, Scope::Zone("us-east1-b".into()));
        assert_eq!(r.name.as_deref(), Some("vm"));
        assert_eq!(r.action.as_deref(), Some("setLabels"));
        assert!(Route::parse("projects/p/global").is_none());
        assert!(Route::parse("projects/p/global/networks/").is_some());
    }
}
