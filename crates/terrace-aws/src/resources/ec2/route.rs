//! `aws:ec2:Route`: one route in a route table another stack owns — the replica mesh's route
//! to a peer replica's range through a peering connection, a virtual private gateway or a
//! transit gateway. The table must hand the destination over (its `external_route_ranges`).
//!
//! The id is `<route table id>_<destination>` (routes have no id of their own in EC2). A new
//! target replaces the route in place (ReplaceRoute); a new table or destination is a new
//! route. Routes carry no tags, so a read by owner finds none: a create whose answer was lost
//! is repaired by the create itself, which adopts a route to the same target
//! (`RouteAlreadyExists`). EC2 answers `blackhole` in a route's `state` when its target is gone.

use super::route_table::{self, pick, spec_of, RouteSpec, DESTINATIONS, TARGETS};
use super::{dedup, put, read_back, settle, Ctx};
use crate::error::{invalid, not_found};
use crate::props::{check_known, str_req};
use std::collections::BTreeMap;
use terrace_provider::{
    ApiClasses, CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed,
    Properties, ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:Route";

crate::resources::resource_type!(RouteDef: ec2);

/// `route_table_id` and one destination (replacing), one target (in place). Attributes:
/// `state` (`active` or `blackhole`) and `origin` (`CreateRoute`, `EnableVgwRoutePropagation`).
pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    let mut fields = vec![FieldSchema::input("route_table_id", String)
        .required()
        .force_new()];
    fields.extend(
        DESTINATIONS
            .iter()
            .map(|d| FieldSchema::input(d, String).force_new()),
    );
    fields.extend(TARGETS.iter().map(|t| FieldSchema::input(t, String)));
    fields.push(FieldSchema::computed("state", String));
    fields.push(FieldSchema::computed("origin", String));
    ResourceSchema {
        type_name: TYPE.to_string(),
        fields,
        api: ApiClasses {
            read: "ec2:describe".into(),
            mutate: "ec2:mutate".into(),
        },
        regional: true,
    }
}

fn known_fields() -> Vec<&'static str> {
    let mut known = vec!["route_table_id"];
    known.extend_from_slice(DESTINATIONS);
    known.extend_from_slice(TARGETS);
    known
}

/// The route a request describes.
fn wanted(p: &Properties) -> Result<(String, RouteSpec), ProviderError> {
    check_known(p, &known_fields(), TYPE)?;
    let table = str_req(p, "route_table_id")?.to_string();
    let (destination_field, destination) = pick(p, DESTINATIONS, "destination")?;
    let (target_field, target) = pick(p, TARGETS, "target")?;
    Ok((
        table,
        RouteSpec {
            destination_field,
            destination,
            target_field,
            target,
        },
    ))
}

fn id_of(table: &str, destination: &str) -> String {
    format!("{table}_{destination}")
}

/// `(route table id, destination)` of a route id.
fn parse_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('_')
}

/// Reads routes by id: one DescribeRouteTables for all their tables.
pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let mut by_table: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for id in &request.ids {
        if let Some((table, destination)) = parse_id(id) {
            by_table.entry(table).or_default().push(destination);
        }
    }
    if by_table.is_empty() {
        return Ok(Vec::new());
    }
    let tables = ReadRequest {
        type_name: route_table::TYPE.into(),
        region: request.region.clone(),
        ids: by_table.keys().map(|t| t.to_string()).collect(),
        owner: None,
    };
    let mut found = Vec::new();
    for table in route_table::describe(ctx, &tables).await? {
        let table_id = table.route_table_id().unwrap_or_default();
        let Some(destinations) = by_table.get(table_id) else {
            continue;
        };
        for route in table.routes() {
            let Some(spec) = spec_of(route) else { continue };
            if destinations.contains(&spec.destination.as_str()) {
                found.push(observe(table_id, &spec, route));
            }
        }
    }
    Ok(dedup(found))
}

fn observe(table: &str, spec: &RouteSpec, route: &aws_sdk_ec2::types::Route) -> Observed {
    let mut props = Properties::new();
    props.insert("route_table_id".into(), table.into());
    props.insert(
        spec.destination_field.into(),
        spec.destination.clone().into(),
    );
    props.insert(spec.target_field.into(), spec.target.clone().into());
    let mut attrs = Properties::new();
    put(&mut attrs, "state", route.state().map(|s| s.as_str()));
    put(&mut attrs, "origin", route.origin().map(|o| o.as_str()));
    Observed {
        id: id_of(table, &spec.destination),
        properties: props,
        attributes: attrs,
        ownership: None,
    }
}

async fn read_one(ctx: &Ctx<'_>, id: &str) -> Result<Vec<Observed>, ProviderError> {
    read(ctx, &crate::resources::common::by_id(TYPE, id)).await
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let (table, spec) = wanted(&request.properties)?;
    let id = id_of(&table, &spec.destination);
    // A target created moments ago may not be visible yet (eventual consistency).
    let created = settle(ctx.settings, &id, || {
        route_table::put_route(ctx, &table, &spec, false)
    })
    .await;
    match created {
        Err(e) if e.kind == ErrorKind::Conflict && e.code == "RouteAlreadyExists" => {
            // Ours when it has our target (a retried create whose answer was lost).
            let found = read_one(ctx, &id).await?;
            let same = found.first().is_some_and(|o| {
                o.properties.get(spec.target_field).and_then(|v| v.as_str())
                    == Some(spec.target.as_str())
            });
            if !same {
                return Err(e);
            }
        }
        other => other?,
    }
    read_back(
        ctx.settings,
        TYPE,
        &id,
        |r| async move { read(ctx, &r).await },
    )
    .await
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let (table, spec) = wanted(&request.new)?;
    if id_of(&table, &spec.destination) != request.id {
        return Err(invalid(format!(
            "{}: a route's table and destination cannot change in place",
            request.id
        )));
    }
    settle(ctx.settings, &request.id, || {
        route_table::put_route(ctx, &table, &spec, true)
    })
    .await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    let Some((table, destination)) = parse_id(&request.id) else {
        return Err(not_found(TYPE, &request.id));
    };
    let call = ctx.ec2.delete_route().route_table_id(table);
    let call = if destination.contains(':') {
        call.destination_ipv6_cidr_block(destination)
    } else {
        call.destination_cidr_block(destination)
    };
    match call.send().await.map_err(crate::error::from_sdk) {
        Err(e) if e.kind != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_name_the_table_and_the_destination() {
        let id = id_of("rtb-1", "10.17.0.0/16");
        assert_eq!(parse_id(&id), Some(("rtb-1", "10.17.0.0/16")));
    }

    #[test]
    fn a_route_needs_one_destination_and_one_target() {
        let p = json!({"route_table_id": "rtb-1", "destination_cidr_block": "10.17.0.0/16"});
        assert!(wanted(p.as_object().unwrap()).is_err());
        let p = json!({"route_table_id": "rtb-1", "destination_cidr_block": "10.17.0.0/16",
                       "vpc_peering_connection_id": "pcx-1", "gateway_id": "vgw-1"});
        assert!(wanted(p.as_object().unwrap()).is_err());
        let p = json!({"route_table_id": "rtb-1", "destination_cidr_block": "10.17.0.0/16",
                       "vpc_peering_connection_id": "pcx-1"});
        let (table, spec) = wanted(p.as_object().unwrap()).unwrap();
        assert_eq!((table.as_str(), spec.target.as_str()), ("rtb-1", "pcx-1"));
    }
}
