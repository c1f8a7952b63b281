//! `gcp:compute:NetworkPeering`: one side of a VPC Network Peering, kept on its network by
//! `networks.addPeering` and `networks.removePeering` (Compute has no peering collection). A
//! peering is `ACTIVE` once the peer network holds the matching one ("Matching configuration
//! exists on the peer", `NetworkPeering.state`); the replica mesh creates both sides.
//!
//! Fields: `name` (RFC 1035, unique on its network), `network` and `peer_network` (network
//! URLs); all force a replacement. Attributes: `state`, `state_details`. Subnet routes are
//! exchanged (`exchangeSubnetRoutes`, "should always be true"); custom routes are not.
//! The id is `<network URL>/peerings/<name>`. A peering has no labels or description, so a read
//! by owner finds nothing; a create retried after a lost answer adopts the peering of the same
//! name and peer.

use crate::api::Api;
use crate::client::request_id;
use crate::links::Link;
use serde_json::{json, Value as Json};
use terrace_provider::{
    ApiClasses, ErrorKind, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ResourceSchema,
};

pub const TYPE: &str = "gcp:compute:NetworkPeering";
const FIELDS: &[&str] = &["name", "network", "peer_network"];
const SEPARATOR: &str = "/peerings/";

/// The type's schema.
pub fn schema() -> ResourceSchema {
    let mut fields: Vec<FieldSchema> = FIELDS
        .iter()
        .map(|f| {
            FieldSchema::input(f, FieldKind::String)
                .required()
                .force_new()
        })
        .collect();
    fields.push(FieldSchema::computed("state", FieldKind::String));
    fields.push(FieldSchema::computed("state_details", FieldKind::String));
    ResourceSchema {
        type_name: TYPE.into(),
        fields,
        api: ApiClasses {
            read: crate::resources::READ_CLASS.into(),
            mutate: crate::resources::MUTATE_CLASS.into(),
        },
        regional: false,
    }
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, "invalid", message.into())
}

/// The network named by a URL: (project, name, URL).
fn network_of(url: &str) -> Result<(String, String), ProviderError> {
    Link::parse(url)
        .filter(|l| l.collection == "networks")
        .map(|l| (l.project, l.name))
        .ok_or_else(|| invalid(format!("`{url}` is not the URL of a network")))
}

fn text<'a>(p: &'a Properties, key: &str) -> Result<&'a str, ProviderError> {
    p.get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| invalid(format!("{TYPE} needs `{key}` (a string)")))
}

fn observe(network: &Json, peering: &Json) -> Option<Observed> {
    let link = network.get("selfLink")?.as_str()?;
    let name = peering.get("name")?.as_str()?;
    let mut properties = Properties::new();
    properties.insert("name".into(), json!(name));
    properties.insert("network".into(), json!(link));
    properties.insert("peer_network".into(), peering.get("network")?.clone());
    let mut attributes = Properties::new();
    for (from, to) in [("state", "state"), ("stateDetails", "state_details")] {
        if let Some(v) = peering.get(from) {
            attributes.insert(to.into(), v.clone());
        }
    }
    Some(Observed {
        id: format!("{link}{SEPARATOR}{name}"),
        properties,
        attributes,
        ownership: None,
    })
}

/// The peerings with these ids that exist.
pub async fn read(api: &Api, ids: &[String]) -> Result<Vec<Observed>, ProviderError> {
    let mut found = Vec::new();
    for id in ids {
        let Some((network, name)) = id.split_once(SEPARATOR) else {
            continue;
        };
        if let Some(observed) = read_one(api, network, name).await? {
            found.push(observed);
        }
    }
    Ok(found)
}

async fn read_one(api: &Api, network: &str, name: &str) -> Result<Option<Observed>, ProviderError> {
    let (project, net) = network_of(network)?;
    let json = api
        .network_json(&project, &net)
        .await
        .map_err(|e| e.about(network, &api.settings, false))?;
    Ok(json.and_then(|n| {
        let peering = n
            .get("peerings")?
            .as_array()?
            .iter()
            .find(|p| p.get("name").and_then(Json::as_str) == Some(name))?
            .clone();
        observe(&n, &peering)
    }))
}

/// `addPeering` on `network` to `peer_network`, then the peering as Compute keeps it.
pub async fn create(
    api: &Api,
    properties: &Properties,
    idempotency_key: &str,
) -> Result<Observed, ProviderError> {
    if let Some(unknown) = properties.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(format!("{TYPE} has no field `{unknown}`")));
    }
    let (name, network, peer) = (
        text(properties, "name")?,
        text(properties, "network")?,
        text(properties, "peer_network")?,
    );
    let (project, net) = network_of(network)?;
    network_of(peer)?;
    let body =
        json!({"networkPeering": {"name": name, "network": peer, "exchangeSubnetRoutes": true}});
    let added = api
        .network_peering(
            &project,
            &net,
            true,
            &body,
            &request_id(idempotency_key, "addPeering"),
        )
        .await;
    if let Err(e) = added {
        // A retry after a lost answer: the peering is there with our peer.
        let existing = read_one(api, network, name).await?;
        let ours = existing
            .as_ref()
            .is_some_and(|o| o.properties.get("peer_network") == Some(&json!(peer)));
        if !ours {
            return Err(e.into_provider(&format!("addPeering {name}"), &api.settings));
        }
    }
    read_one(api, network, name).await?.ok_or_else(|| {
        invalid(format!(
            "addPeering {name}: the peering is not on {network}"
        ))
    })
}

/// `removePeering`; a peering (or network) already gone is deleted.
pub async fn delete(api: &Api, id: &str, idempotency_key: &str) -> Result<(), ProviderError> {
    let Some((network, name)) = id.split_once(SEPARATOR) else {
        return Err(invalid(format!("`{id}` is not a network peering id")));
    };
    if read_one(api, network, name).await?.is_none() {
        return Ok(());
    }
    let (project, net) = network_of(network)?;
    let removed = api
        .network_peering(
            &project,
            &net,
            false,
            &json!({"name": name}),
            &request_id(idempotency_key, "removePeering"),
        )
        .await;
    match removed {
        Ok(_) => Ok(()),
        Err(e) => match read_one(api, network, name).await? {
            None => Ok(()),
            Some(_) => Err(e.into_provider(&format!("removePeering {name}"), &api.settings)),
        },
    }
}
