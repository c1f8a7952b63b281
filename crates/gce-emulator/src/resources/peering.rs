//! VPC Network Peering on networks: `networks.addPeering` and `networks.removePeering`, and
//! the `peerings` they keep on the network. The rules come from the discovery document
//! (`NetworksAddPeeringRequest`, `NetworkPeering`, revision 20261106) and the VPC Network
//! Peering page (<https://cloud.google.com/vpc/docs/vpc-peering>):
//!
//! - a peering has an RFC 1035 `name`, unique on its network, and a peer network (the
//!   request's `networkPeering.network`, or the older `peerNetwork`) that exists and is not the
//!   network itself; a network peers once with a given network;
//! - "subnet IP ranges can't overlap" across peered networks: a peer whose subnetworks overlap
//!   this network's is refused;
//! - `state` is `ACTIVE` when "Matching configuration exists on the peer" and `INACTIVE` when
//!   "There is no matching configuration on the peer, including the case when peer does not
//!   exist" — kept for both sides whenever either network changes;
//! - `exchangeSubnetRoutes` "should always be true"; custom route import and export default to
//!   false, `stackType` to `IPV4_ONLY`.

use super::{check_name, is_valid_name};
use crate::errors::{ApiError, ApiResult};
use crate::net::Cidr;
use crate::paths::{parse_link, resolve_ref};
use crate::store::Store;
use serde_json::{json, Map, Value};

/// The schemas of the two request bodies.
pub const ADD_REQUEST: &str = "NetworksAddPeeringRequest";
pub const REMOVE_REQUEST: &str = "NetworksRemovePeeringRequest";

fn peerings(network: &Map<String, Value>) -> Vec<Value> {
    network
        .get("peerings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `addPeering`: appends the peering (INACTIVE until the peer matches it).
pub fn add(
    store: &Store,
    req: &Map<String, Value>,
    network: &mut Map<String, Value>,
    project: &str,
) -> ApiResult<()> {
    let peering = req.get("networkPeering").and_then(Value::as_object);
    let name = peering
        .and_then(|p| p.get("name"))
        .or_else(|| req.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required("name"))?
        .to_string();
    check_name("name", &name)?;
    let raw = peering
        .and_then(|p| p.get("network"))
        .or_else(|| req.get("peerNetwork"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required("networkPeering.network"))?;
    let peer = resolve_ref(raw, project)
        .filter(|p| p.collection == "networks")
        .ok_or_else(|| {
            ApiError::invalid_field("networkPeering.network", raw, "Must be a network URL.")
        })?;
    let peer_value = store
        .get(&peer.path())
        .ok_or_else(|| ApiError::not_found(&peer.path()))?;
    let own_link = network
        .get("selfLink")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if peer.self_link() == own_link {
        return Err(ApiError::invalid_field(
            "networkPeering.network",
            raw,
            "A network cannot peer with itself.",
        ));
    }
    for existing in peerings(network) {
        if existing.get("name").and_then(Value::as_str) == Some(name.as_str()) {
            return Err(ApiError::already_exists(&format!(
                "{own_link}/peerings/{name}"
            )));
        }
        if existing.get("network").and_then(Value::as_str) == Some(&peer.self_link()) {
            return Err(ApiError::invalid(format!(
                "There is already a peering with network '{}'.",
                peer.self_link()
            )));
        }
    }
    check_overlaps(store, own_link, &peer.self_link(), peer_value)?;
    let mut entry = json!({
        "name": name,
        "network": peer.self_link(),
        "exchangeSubnetRoutes": true,
        "autoCreateRoutes": true,
        "exportCustomRoutes": false,
        "importCustomRoutes": false,
        "stackType": "IPV4_ONLY",
    });
    if let Some(given) = peering {
        for key in ["exportCustomRoutes", "importCustomRoutes", "stackType"] {
            if let Some(v) = given.get(key) {
                entry[key] = v.clone();
            }
        }
    }
    let mut list = peerings(network);
    list.push(entry);
    network.insert("peerings".into(), Value::Array(list));
    Ok(())
}

/// Refuses a peer whose subnetwork ranges overlap this network's.
fn check_overlaps(store: &Store, own: &str, peer: &str, _peer_value: &Value) -> ApiResult<()> {
    let ranges = |network: &str| -> Vec<(String, Cidr)> {
        store
            .resources
            .values()
            .filter(|v| v.get("network").and_then(Value::as_str) == Some(network))
            .filter(|v| v.get("kind").and_then(Value::as_str) == Some("compute#subnetwork"))
            .filter_map(|v| {
                let text = v.get("ipCidrRange")?.as_str()?;
                Some((text.to_string(), Cidr::parse(text, false).ok()?))
            })
            .collect()
    };
    let theirs = ranges(peer);
    for (text, mine) in ranges(own) {
        if let Some((other, _)) = theirs.iter().find(|(_, r)| r.overlaps(&mine)) {
            return Err(ApiError::invalid(format!(
                "Cannot peer with '{peer}': its subnetwork range {other} overlaps {text} of \
                 this network; subnet IP ranges can't overlap across peered networks."
            )));
        }
    }
    Ok(())
}

/// `removePeering`: drops the named peering.
pub fn remove(
    _store: &Store,
    req: &Map<String, Value>,
    network: &mut Map<String, Value>,
    _project: &str,
) -> ApiResult<()> {
    let name = req
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| is_valid_name(n))
        .ok_or_else(|| ApiError::required("name"))?;
    let list = peerings(network);
    let kept: Vec<Value> = list
        .iter()
        .filter(|p| p.get("name").and_then(Value::as_str) != Some(name))
        .cloned()
        .collect();
    if kept.len() == list.len() {
        return Err(ApiError::invalid_field(
            "name",
            name,
            "There is no peering with this name on the network.",
        ));
    }
    if kept.is_empty() {
        network.remove("peerings");
    } else {
        network.insert("peerings".into(), Value::Array(kept));
    }
    Ok(())
}

/// After a network changed: the state of its peerings and of its peers' peerings with it.
pub fn refresh(store: &mut Store, old: Option<&Value>, new: Option<&Value>) {
    let mut networks: Vec<String> = Vec::new();
    for value in [old, new].into_iter().flatten() {
        if let Some(link) = value.get("selfLink").and_then(Value::as_str) {
            networks.push(link.to_string());
        }
        for p in value
            .get("peerings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(peer) = p.get("network").and_then(Value::as_str) {
                networks.push(peer.to_string());
            }
        }
    }
    networks.sort();
    networks.dedup();
    for link in networks {
        refresh_one(store, &link);
    }
}

/// Sets the state of each peering of one network from its peer's configuration.
fn refresh_one(store: &mut Store, link: &str) {
    let Some(path) = parse_link(link).map(|p| p.path()) else {
        return;
    };
    let Some(current) = store.get(&path).cloned() else {
        return;
    };
    let matched = |peer: &str| -> bool {
        parse_link(peer)
            .and_then(|p| store.get(&p.path()))
            .and_then(|v| v.get("peerings"))
            .and_then(Value::as_array)
            .is_some_and(|list| {
                list.iter()
                    .any(|p| p.get("network").and_then(Value::as_str) == Some(link))
            })
    };
    let updated: Vec<Value> = current
        .get("peerings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let mut p = p.clone();
            let peer = p.get("network").and_then(Value::as_str).unwrap_or_default();
            let (state, details) = if matched(peer) {
                ("ACTIVE", "Connected.")
            } else {
                ("INACTIVE", "Waiting for peer network to connect.")
            };
            p["state"] = json!(state);
            p["stateDetails"] = json!(details);
            p
        })
        .collect();
    if let Some(Value::Object(map)) = store.resources.get_mut(&path) {
        if !updated.is_empty() {
            map.insert("peerings".into(), Value::Array(updated));
        }
    }
}
