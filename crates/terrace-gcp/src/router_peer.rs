//! `gcp:compute:RouterPeer`: one BGP session of a Cloud Router over one HA VPN tunnel — an
//! interface of the router linked to the tunnel (`interfaces[]`: `name`, `ipRange`,
//! `linkedVpnTunnel`) and the BGP peer on it (`bgpPeers[]`: `name`, `interfaceName`,
//! `ipAddress`, `peerIpAddress`, `peerAsn`, `customLearnedIpRanges`). Compute keeps both inside
//! the router (`Router` in Compute's reference: no collection of their own), and a tunnel needs
//! its router before it exists while the interface needs the tunnel: so the router is created
//! bare, the tunnels name it, and each session is added to it afterwards by this type, as
//! terraform-provider-google does with `google_compute_router_interface` and
//! `google_compute_router_peer`.
//!
//! Each change reads the router and patches its two lists with this session's entries added,
//! replaced or removed (PATCH replaces a list whole). Sessions of one router are changed one at
//! a time within the process (terraform-provider-google takes the same per-router lock, the
//! router has no fingerprint to detect a lost update).
//!
//! Fields: `name` (of the interface and of the peer), `router` (URL), `ip_range` (the
//! router's side of the tunnel's link-local /30, e.g. `169.254.10.2/30`), `vpn_tunnel` (URL),
//! `peer_ip_address`, `peer_asn` — all force a replacement — and `custom_learned_ip_ranges`
//! (CIDRs the router installs as learned from the peer: Cloud Router "Custom learned routes"),
//! changed in place. Id: `<router URL>/bgpPeers/<name>`. Attribute: `ip_address` (the router's
//! address on the interface).

use crate::api::{Api, Location};
use crate::client::request_id;
use crate::links::Link;
use crate::resources::{KindDef, READ_CLASS};
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use terrace_provider::{
    ApiClasses, ErrorKind, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ResourceSchema,
};

pub const TYPE: &str = "gcp:compute:RouterPeer";
const FORCE_NEW: &[&str] = &[
    "name",
    "router",
    "ip_range",
    "vpn_tunnel",
    "peer_ip_address",
];
const SEPARATOR: &str = "/bgpPeers/";

/// The type's schema.
pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    let mut fields: Vec<FieldSchema> = FORCE_NEW
        .iter()
        .map(|f| FieldSchema::input(f, String).required().force_new())
        .collect();
    fields.push(
        FieldSchema::input("peer_asn", Number)
            .required()
            .force_new(),
    );
    fields.push(FieldSchema::input("custom_learned_ip_ranges", List).unordered());
    fields.push(FieldSchema::computed("ip_address", String));
    ResourceSchema {
        type_name: TYPE.into(),
        fields,
        api: ApiClasses {
            read: READ_CLASS.into(),
            mutate: crate::resources::MUTATE_CLASS.into(),
        },
        regional: true,
    }
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, "invalid", message.into())
}

fn router_def() -> &'static KindDef {
    crate::resources::by_type("gcp:compute:Router").expect("routers are in the table")
}

/// The router named by a URL.
fn router_of(url: &str) -> Result<Link, ProviderError> {
    Link::parse(url)
        .filter(|l| l.collection == "routers" && matches!(l.location, Location::Region(_)))
        .ok_or_else(|| invalid(format!("`{url}` is not the URL of a router")))
}

fn text<'a>(p: &'a Properties, key: &str) -> Result<&'a str, ProviderError> {
    p.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| invalid(format!("{TYPE} needs `{key}` (a string)")))
}

/// The per-router lock of this process.
fn lock_for(router: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    LOCKS
        .get_or_init(Default::default)
        .lock()
        .expect("router locks")
        .entry(router.to_string())
        .or_default()
        .clone()
}

fn named<'a>(router: &'a Json, list: &str, name: &str) -> Option<&'a Json> {
    router
        .get(list)?
        .as_array()?
        .iter()
        .find(|i| i.get("name").and_then(Json::as_str) == Some(name))
}

/// The session `name` of a router, as Terrace sees it.
fn observe(router: &Json, name: &str) -> Option<Observed> {
    let link = router.get("selfLink")?.as_str()?;
    let interface = named(router, "interfaces", name)?;
    let peer = named(router, "bgpPeers", name)?;
    let mut properties = Properties::new();
    properties.insert("name".into(), json!(name));
    properties.insert("router".into(), json!(link));
    for (to, from, item) in [
        ("ip_range", "ipRange", interface),
        ("vpn_tunnel", "linkedVpnTunnel", interface),
        ("peer_ip_address", "peerIpAddress", peer),
        ("peer_asn", "peerAsn", peer),
    ] {
        if let Some(v) = item.get(from) {
            properties.insert(to.into(), v.clone());
        }
    }
    let learned: Vec<Json> = peer
        .get("customLearnedIpRanges")
        .and_then(Json::as_array)
        .map(|l| l.iter().filter_map(|r| r.get("range").cloned()).collect())
        .unwrap_or_default();
    if !learned.is_empty() {
        properties.insert("custom_learned_ip_ranges".into(), Json::Array(learned));
    }
    let mut attributes = Properties::new();
    if let Some(address) = peer.get("ipAddress") {
        attributes.insert("ip_address".into(), address.clone());
    }
    Some(Observed {
        id: format!("{link}{SEPARATOR}{name}"),
        properties,
        attributes,
        ownership: None,
    })
}

async fn router_json(api: &Api, router: &Link) -> Result<Option<Json>, ProviderError> {
    api.find(
        router_def(),
        &router.project,
        &router.location,
        &router.name,
    )
    .await
    .map_err(|e| e.about(&router.key(), &api.settings, false))
}

/// The sessions with these ids that exist.
pub async fn read(api: &Api, ids: &[String]) -> Result<Vec<Observed>, ProviderError> {
    let mut found = Vec::new();
    for id in ids {
        let Some((router, name)) = id.split_once(SEPARATOR) else {
            continue;
        };
        let link = router_of(router)?;
        if let Some(observed) = router_json(api, &link)
            .await?
            .and_then(|r| observe(&r, name))
        {
            found.push(observed);
        }
    }
    Ok(found)
}

/// The router's address on the interface: the host part of `ip_range` (`169.254.10.2/30` →
/// `169.254.10.2`).
fn host_of(range: &str) -> Result<&str, ProviderError> {
    let (host, bits) = range.split_once('/').ok_or_else(|| {
        invalid(format!(
            "ip_range `{range}` is not an address with a prefix length, e.g. 169.254.10.2/30"
        ))
    })?;
    host.parse::<std::net::Ipv4Addr>()
        .ok()
        .zip(bits.parse::<u8>().ok().filter(|b| *b <= 32))
        .map(|_| host)
        .ok_or_else(|| {
            invalid(format!(
                "ip_range `{range}` is not an IPv4 address with a prefix length"
            ))
        })
}

/// The session's two entries, as Compute's JSON.
fn entries(p: &Properties) -> Result<(Json, Json), ProviderError> {
    if let Some(unknown) = p
        .keys()
        .find(|k| schema().field(k).is_none_or(|f| f.computed))
    {
        return Err(invalid(format!("{TYPE} has no field `{unknown}`")));
    }
    let name = text(p, "name")?;
    let range = text(p, "ip_range")?;
    let asn = p
        .get("peer_asn")
        .and_then(Json::as_i64)
        .ok_or_else(|| invalid(format!("{TYPE} needs `peer_asn` (a number)")))?;
    let learned: Vec<Json> = p
        .get("custom_learned_ip_ranges")
        .and_then(Json::as_array)
        .map(|l| l.iter().map(|r| json!({"range": r})).collect())
        .unwrap_or_default();
    let interface = json!({
        "name": name,
        "ipRange": range,
        "linkedVpnTunnel": text(p, "vpn_tunnel")?,
    });
    let peer = json!({
        "name": name,
        "interfaceName": name,
        "ipAddress": host_of(range)?,
        "peerIpAddress": text(p, "peer_ip_address")?,
        "peerAsn": asn,
        "customLearnedIpRanges": learned,
    });
    Ok((interface, peer))
}

/// The router as it is, with `name`'s entries replaced by `entries` (removed when `None`):
/// the whole body of a `routers.update`.
fn with_session(router: &Json, name: &str, entries: Option<(Json, Json)>) -> Json {
    let list = |key: &str, add: Option<Json>| {
        let mut items: Vec<Json> = router
            .get(key)
            .and_then(Json::as_array)
            .map(|l| {
                l.iter()
                    .filter(|i| i.get("name").and_then(Json::as_str) != Some(name))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        items.extend(add);
        Json::Array(items)
    };
    let (interface, peer) = match entries {
        Some((i, p)) => (Some(i), Some(p)),
        None => (None, None),
    };
    let mut body: Map<String, Json> = router.as_object().cloned().unwrap_or_default();
    body.insert("interfaces".into(), list("interfaces", interface));
    body.insert("bgpPeers".into(), list("bgpPeers", peer));
    Json::Object(body)
}

/// Reads the router and puts it back with the session set (or removed), under the router's
/// lock. A PUT (`routers.update`), because removing the last session leaves empty lists,
/// which a PATCH body from the client would leave out. The request id is the change's own
/// (its key and the new lists), so a retry after a lost answer is carried out once.
async fn change(
    api: &Api,
    router: &Link,
    name: &str,
    session: Option<(Json, Json)>,
    key: &str,
) -> Result<Option<Json>, ProviderError> {
    let lock = lock_for(&router.key());
    let _held = lock.lock().await;
    let Some(current) = router_json(api, router).await? else {
        return Ok(None);
    };
    let body = with_session(&current, name, session);
    // `request_id` is a UUIDv5 of the key and this text: the same change, the same id.
    let step = format!("router-peer {} {}", body["interfaces"], body["bgpPeers"]);
    let region = match &router.location {
        Location::Region(r) => r.clone(),
        _ => unreachable!("router_of accepts regional routers only"),
    };
    api.update_router(
        &router.project,
        &region,
        &router.name,
        &body,
        &request_id(key, &step),
    )
    .await
    .map_err(|e| {
        e.into_provider(
            &format!("update router {} ({name})", router.name),
            &api.settings,
        )
    })?;
    router_json(api, router).await
}

async fn put(api: &Api, properties: &Properties, key: &str) -> Result<Observed, ProviderError> {
    let session = entries(properties)?;
    let name = text(properties, "name")?;
    let router = router_of(text(properties, "router")?)?;
    let after = change(api, &router, name, Some(session), key)
        .await?
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                "notFound",
                format!("router {} does not exist", router.key()),
            )
        })?;
    observe(&after, name).ok_or_else(|| {
        invalid(format!(
            "router {} does not hold the session {name} after its patch",
            router.key()
        ))
    })
}

/// Adds the session to its router.
pub async fn create(
    api: &Api,
    properties: &Properties,
    key: &str,
) -> Result<Observed, ProviderError> {
    put(api, properties, key).await
}

/// Changes the custom learned ranges (the only field changed in place).
pub async fn update(api: &Api, new: &Properties, key: &str) -> Result<Observed, ProviderError> {
    put(api, new, key).await
}

/// Removes the session from its router; a session (or router) already gone is deleted.
pub async fn delete(api: &Api, id: &str, key: &str) -> Result<(), ProviderError> {
    let Some((router, name)) = id.split_once(SEPARATOR) else {
        return Err(invalid(format!("`{id}` is not a router BGP peer id")));
    };
    let link = router_of(router)?;
    if router_json(api, &link)
        .await?
        .and_then(|r| observe(&r, name))
        .is_none()
    {
        return Ok(());
    }
    change(api, &link, name, None, key).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_replaces_its_own_entries_and_keeps_the_others() {
        let router = json!({
            "name": "mesh-r",
            "interfaces": [{"name": "a", "ipRange": "169.254.1.2/30"}, {"name": "b"}],
            "bgpPeers": [{"name": "a"}, {"name": "b"}],
        });
        let body = with_session(
            &router,
            "a",
            Some((
                json!({"name": "a", "ipRange": "x"}),
                json!({"name": "a", "peerAsn": 1}),
            )),
        );
        assert_eq!(
            body["interfaces"],
            json!([{"name": "b"}, {"name": "a", "ipRange": "x"}])
        );
        assert_eq!(
            body["bgpPeers"],
            json!([{"name": "b"}, {"name": "a", "peerAsn": 1}])
        );
        let removed = with_session(&router, "b", None);
        assert_eq!(
            removed["interfaces"],
            json!([{"name": "a", "ipRange": "169.254.1.2/30"}])
        );
        assert_eq!(removed["bgpPeers"], json!([{"name": "a"}]));
    }

    #[test]
    fn the_router_address_is_the_host_of_the_range() {
        assert_eq!(host_of("169.254.10.2/30").unwrap(), "169.254.10.2");
        assert!(host_of("169.254.10.2").is_err());
        assert!(host_of("nonsense/30").is_err());
    }
}
