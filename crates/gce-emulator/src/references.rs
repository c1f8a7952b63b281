//! Who uses whom. Resources refer to each other by URL (a subnetwork's `network`, a backend
//! service's `healthChecks`, ...); this module finds those links generically by walking the
//! stored JSON, so that an insert cannot point at a missing resource and a delete cannot
//! orphan a referrer (`resourceInUseByAnotherResource`), for every kind alike.

use crate::errors::{ApiError, ApiResult};
use crate::paths::{parse_link, ResourcePath, Scope, ScopeKind};
use crate::registry;
use crate::store::Store;
use serde_json::Value;

/// Top-level keys that hold a resource's own identity rather than references.
const SELF_KEYS: &[&str] = &["selfLink", "selfLinkWithId", "region", "zone"];

fn collect_links<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_links(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_links(v, out)),
        _ => {}
    }
}

/// Every resource path a stored resource at `path` refers to.
fn references_of(path: &str, value: &Value) -> Vec<ResourcePath> {
    let backrefs = ResourcePath::parse(path)
        .and_then(|p| registry::spec_for(p.scope.kind(), &p.collection))
        .map(|s| s.backrefs)
        .unwrap_or_default();
    let mut strings = Vec::new();
    if let Value::Object(map) = value {
        for (k, v) in map {
            if !SELF_KEYS.contains(&k.as_str()) && !backrefs.contains(&k.as_str()) {
                collect_links(v, &mut strings);
            }
        }
    }
    strings
        .into_iter()
        .filter_map(parse_link)
        .filter(|p| p.path() != path)
        .collect()
}

/// The path whose existence a reference depends on: a regional instance group exists when
/// its regional managed instance group does.
pub fn backing_path(target: &ResourcePath) -> Option<String> {
    if target.collection == "instanceGroups" && target.scope.kind() == ScopeKind::Regional {
        let igm = ResourcePath {
            collection: "instanceGroupManagers".into(),
            ..target.clone()
        };
        return Some(igm.path());
    }
    registry::spec_for(target.scope.kind(), &target.collection).map(|_| target.path())
}

/// The first emulated resource `value` refers to that does not exist, if any.
pub fn missing_reference(store: &Store, path: &str, value: &Value) -> Option<String> {
    references_of(path, value).into_iter().find_map(|target| {
        let backing = backing_path(&target)?;
        (!store.resources.contains_key(&backing)).then(|| target.path())
    })
}

/// Paths under which `path` may be referred to (itself, plus a MIG's instance group).
fn aliases(path: &str) -> Vec<String> {
    let mut out = vec![path.to_string()];
    if let Some(p) = ResourcePath::parse(path) {
        if p.collection == "instanceGroupManagers" {
            if let Scope::Region(_) = p.scope {
                let group = ResourcePath {
                    collection: "instanceGroups".into(),
                    ..p
                };
                out.push(group.path());
            }
        }
    }
    out
}

/// The first stored resource that refers to `path`, if any.
pub fn first_referrer(store: &Store, path: &str) -> Option<String> {
    let names = aliases(path);
    store
        .resources
        .iter()
        .filter(|(k, _)| k.as_str() != path)
        .find(|(k, v)| {
            references_of(k, v)
                .iter()
                .any(|r| names.contains(&r.path()))
        })
        .map(|(k, _)| k.clone())
}

/// Refuses to delete a resource something else still uses.
pub fn check_unused(store: &Store, path: &str) -> ApiResult<()> {
    match first_referrer(store, path) {
        None => Ok(()),
        Some(user) => {
            let singular = ResourcePath::parse(path)
                .and_then(|p| registry::spec_for(p.scope.kind(), &p.collection))
                .map(|s| s.singular)
                .unwrap_or("resource");
            Err(ApiError::in_use(singular, path, &user))
        }
    }
}
