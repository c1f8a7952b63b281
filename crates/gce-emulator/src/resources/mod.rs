//! Per-kind validation hooks and the helpers they share. Each submodule owns one kind's
//! rules (required fields, Compute's defaults, reference checks); [`Ctx`] gives a hook
//! read access to the store and resolves references the way Compute does.

pub mod autoscaler;
pub mod backend_service;
pub mod firewall;
pub mod forwarding_rule;
pub mod health_check;
pub mod igm;
pub mod instance;
pub mod instance_template;
pub mod network;
pub mod peering;
pub mod route;
pub mod router;
pub mod router_bgp;
pub mod subnetwork;
pub mod target_tcp_proxy;
pub mod vpn;

use crate::errors::{ApiError, ApiResult};
use crate::net::Cidr;
use crate::paths::{resolve_ref, ResourcePath, Scope, ScopeKind};
use crate::references;
use crate::store::Store;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// What a validation hook may look at.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub project: &'a str,
    pub scope: &'a Scope,
    pub name: &'a str,
    /// The resource's own canonical path.
    pub path: &'a str,
    /// True for insert, false for patch/update.
    pub creating: bool,
    /// Refuse references to networks and subnetworks with an unfinished operation
    /// (`resourceNotReady`), as Compute does.
    pub not_ready: bool,
}

impl<'a> Ctx<'a> {
    /// Resolves a reference and checks it names a collection in `allowed`.
    pub fn resolve(
        &self,
        field: &str,
        raw: &str,
        allowed: &[(ScopeKind, &str)],
    ) -> ApiResult<ResourcePath> {
        let path = resolve_ref(raw, self.project)
            .ok_or_else(|| ApiError::invalid_field(field, raw, "The URL is malformed."))?;
        let ok = allowed
            .iter()
            .any(|(k, c)| path.scope.kind() == *k && path.collection == *c);
        if !ok {
            return Err(ApiError::invalid_field(
                field,
                raw,
                "Must be a URL to a valid Compute resource of the correct type.",
            ));
        }
        Ok(path)
    }

    /// Whether a referenced resource exists (a regional instance group through its MIG).
    pub fn exists(&self, path: &ResourcePath) -> bool {
        references::backing_path(path).is_some_and(|p| self.store.get(&p).is_some())
    }

    /// Resolves `body[key]` if present, checks the referent exists (404 otherwise), rewrites
    /// the field to the full URL, and returns the path and the stored referent.
    pub fn reference(
        &self,
        body: &mut Map<String, Value>,
        key: &str,
        field: &str,
        allowed: &[(ScopeKind, &str)],
    ) -> ApiResult<Option<(ResourcePath, Option<&'a Value>)>> {
        let Some(raw) = body.get(key).and_then(Value::as_str).map(str::to_string) else {
            return Ok(None);
        };
        let path = self.resolve(field, &raw, allowed)?;
        self.check_ready(&path)?;
        if !self.exists(&path) {
            return Err(ApiError::not_found(&path.path()));
        }
        body.insert(key.into(), Value::String(path.self_link()));
        let stored = self.store.get(&path.path());
        Ok(Some((path, stored)))
    }

    /// 400 `resourceNotReady` for a network or subnetwork that an unfinished operation is
    /// still creating or changing. Compute considers both "unready for a brief period when
    /// certain operations are performed on them" (terraform-provider-google,
    /// transport/error_retry_predicates.go, `isNetworkUnreadyError`,
    /// `isSubnetworkUnreadyError`).
    fn check_ready(&self, path: &ResourcePath) -> ApiResult<()> {
        let guarded = ["networks", "subnetworks"].contains(&path.collection.as_str());
        if self.not_ready && guarded && self.store.busy(&path.path()) {
            return Err(ApiError::not_ready(&path.path()));
        }
        Ok(())
    }

    /// Like [`Ctx::reference`] but the field must be present.
    pub fn required_reference(
        &self,
        body: &mut Map<String, Value>,
        key: &str,
        field: &str,
        allowed: &[(ScopeKind, &str)],
    ) -> ApiResult<(ResourcePath, Option<&'a Value>)> {
        self.reference(body, key, field, allowed)?
            .ok_or_else(|| ApiError::required(field))
    }

    /// The region this resource lives in (its zone's region for zonal ones).
    pub fn region(&self) -> Option<&str> {
        self.scope.region()
    }

    /// Internal IPs already used (or about to be) inside `range`.
    pub fn used_ips(&self) -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        for (path, value) in self.store.live_and_pending() {
            if path != self.path {
                collect_ips(value, &mut used);
            }
        }
        used
    }

    /// The next free address in `range`, skipping the addresses Compute reserves (network,
    /// gateway, and the last two).
    pub fn allocate_ip(&self, range: &Cidr) -> ApiResult<String> {
        let used = self.used_ips();
        let size = range.last() - range.first() + 1;
        (2..size.saturating_sub(2))
            .filter_map(|off| range.nth(off))
            .map(|ip| ip.to_string())
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| ApiError::invalid(format!("IP space of '{range}' is exhausted.")))
    }
}

/// Addresses held by a resource: NIC `networkIP`s, `natIP`s and forwarding-rule addresses.
fn collect_ips(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("networkIP" | "natIP" | "IPAddress" | "ipAddress", Value::String(ip)) => {
                        out.insert(ip.clone());
                    }
                    _ => collect_ips(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_ips(v, out)),
        _ => {}
    }
}

/// The external addresses the emulator hands out: the three documentation ranges of
/// RFC 5737, which no real host uses.
pub fn external_pool() -> Vec<Cidr> {
    ["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24"]
        .iter()
        .filter_map(|c| Cidr::parse(c, true).ok())
        .collect()
}

/// Allocates an ephemeral external address.
pub fn allocate_external(ctx: &Ctx) -> ApiResult<String> {
    let used = ctx.used_ips();
    external_pool()
        .iter()
        .flat_map(|c| (1..255).filter_map(move |o| c.nth(o)))
        .map(|ip: Ipv4Addr| ip.to_string())
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| ApiError::invalid("No external IP addresses are available."))
}

/// RFC 1035 names as Compute requires them: `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`.
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// Refuses a name that is not RFC 1035, in Compute's words.
pub fn check_name(field: &str, name: &str) -> ApiResult<()> {
    if is_valid_name(name) {
        return Ok(());
    }
    Err(ApiError::invalid_field(
        field,
        name,
        "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
    ))
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_lowercase()
        || c.is_ascii_digit()
        || c == '_'
        || c == '-'
        || (c.is_alphabetic() && c.is_lowercase())
}

/// Validates a `labels` map: keys 1-63 chars starting with a lowercase letter, values up to
/// 63 chars, both of lowercase letters, digits, `_` and `-`; at most 64 labels.
pub fn check_labels(field: &str, labels: Option<&Value>) -> ApiResult<()> {
    let Some(labels) = labels else {
        return Ok(());
    };
    let map = labels
        .as_object()
        .ok_or_else(|| ApiError::invalid_field(field, &labels.to_string(), "Must be a map."))?;
    if map.len() > 64 {
        return Err(ApiError::invalid(format!(
            "Invalid value for field '{field}'. At most 64 labels are allowed."
        )));
    }
    for (k, v) in map {
        let key_ok = k.chars().next().is_some_and(|c| c.is_lowercase())
            && k.chars().count() <= 63
            && k.chars().all(is_label_char);
        if !key_ok {
            return Err(ApiError::invalid(format!(
                "Invalid value for field '{field}': '{k}'. Label keys must start with a lowercase \
                 letter and contain only lowercase letters, digits, underscores and dashes."
            )));
        }
        let val = v.as_str().unwrap_or("\u{0}");
        if val.chars().count() > 63 || !val.chars().all(is_label_char) {
            return Err(ApiError::invalid(format!(
                "Invalid value for field '{field}.{k}': '{val}'. Label values may contain only \
                 lowercase letters, digits, underscores and dashes."
            )));
        }
    }
    Ok(())
}

/// Sets `key` to `value` unless present.
pub fn default(body: &mut Map<String, Value>, key: &str, value: Value) {
    body.entry(key.to_string()).or_insert(value);
}

/// A string field.
pub fn get_str<'b>(body: &'b Map<String, Value>, key: &str) -> Option<&'b str> {
    body.get(key).and_then(Value::as_str)
}

/// An integer field given as a JSON number or a numeric string (as int64 fields are).
pub fn get_int(body: &Map<String, Value>, key: &str) -> Option<i64> {
    match body.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Reads an optional integer field, refusing non-integers and values outside `lo..=hi`,
/// and normalises it to a JSON number.
pub fn int_in(
    body: &mut Map<String, Value>,
    key: &str,
    field: &str,
    lo: i64,
    hi: i64,
) -> ApiResult<Option<i64>> {
    let Some(raw) = body.get(key).cloned() else {
        return Ok(None);
    };
    match get_int(body, key) {
        Some(n) if (lo..=hi).contains(&n) => {
            // Stored as a JSON number whichever form it came in, as Compute returns it.
            body.insert(key.into(), Value::from(n));
            Ok(Some(n))
        }
        _ => Err(ApiError::invalid_field(
            field,
            raw.to_string().trim_matches('"'),
            &format!("Must be an integer between {lo} and {hi}."),
        )),
    }
}

/// An object field (created empty if missing), for filling nested defaults.
pub fn object_mut<'b>(
    body: &'b mut Map<String, Value>,
    key: &str,
) -> ApiResult<&'b mut Map<String, Value>> {
    let v = body
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    v.as_object_mut().ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid value for field 'resource.{key}'. Must be an object."
        ))
    })
}

/// The objects of an array field (missing means empty); refuses non-object items.
pub fn objects_mut<'b>(
    body: &'b mut Map<String, Value>,
    key: &str,
    field: &str,
) -> ApiResult<Vec<&'b mut Map<String, Value>>> {
    match body.get_mut(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter_mut()
            .enumerate()
            .map(|(i, v)| {
                v.as_object_mut().ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Invalid value for field '{field}[{i}]'. Must be an object."
                    ))
                })
            })
            .collect(),
        Some(other) => Err(ApiError::invalid_field(
            field,
            &other.to_string(),
            "Must be an array.",
        )),
    }
}

/// Checks a string field against an enum.
pub fn check_enum(
    body: &Map<String, Value>,
    key: &str,
    field: &str,
    allowed: &[&str],
) -> ApiResult<()> {
    match get_str(body, key) {
        Some(v) if !allowed.contains(&v) => Err(ApiError::invalid_field(
            field,
            v,
            &format!("Must be one of [{}].", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// Keeps derived fields up to date after a resource changed: a network lists the
/// subnetworks in it; peerings are ACTIVE while both sides match; a tunnel is ESTABLISHED
/// while its router carries it.
pub fn after_change(store: &mut Store, path: &str, old: Option<&Value>, new: Option<&Value>) {
    let Some(p) = ResourcePath::parse(path) else {
        return;
    };
    match p.collection.as_str() {
        "networks" => peering::refresh(store, old, new),
        "routers" => vpn::refresh_tunnels(store, old, new),
        _ => {}
    }
    if p.collection == "subnetworks" {
        for v in [old, new].into_iter().flatten() {
            if let Some(net) = v.get("network").and_then(Value::as_str) {
                network::refresh_subnetworks(store, net);
            }
        }
    }
}

/// Refuses a regional referent in another region than the referring regional resource.
pub fn same_region(ctx: &Ctx, field: &str, target: &ResourcePath) -> ApiResult<()> {
    match (ctx.region(), target.scope.kind(), target.scope.region()) {
        (Some(mine), ScopeKind::Regional, Some(theirs)) if mine != theirs => {
            Err(ApiError::invalid_field(
                field,
                &target.self_link(),
                &format!("The referenced resource must be in region '{mine}'."),
            ))
        }
        _ => Ok(()),
    }
}
