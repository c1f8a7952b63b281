//! `aws:ec2:VpcRoute`: one destination routed through one target in every route table of a VPC
//! that hands that destination over (its `external_route_ranges` cover it) — the replica mesh's
//! route to a peer replica, in each zone's private table and the public one, without naming
//! the tables. A table added later (a new zone) lacks the route, which reads as a change, and
//! the next apply adds it there; a table removed takes its route with it.
//!
//! Fields: `vpc_id`, `destination_cidr_block` (both force new) and one target
//! (`vpc_peering_connection_id`, `gateway_id`, `transit_gateway_id`; changed in place by
//! ReplaceRoute). The target reads back only when every handing-over table routes the
//! destination through it. Attributes: `route_table_ids` (the tables holding the route),
//! `state` (`active` when every one is; else `blackhole`). Id: `<vpc id>_<destination>`; no
//! tags, so read by id only; creating again over routes already there adopts them.

use super::route_table::{external_ranges, is_external, pick, put_route, spec_of, RouteSpec};
use super::{dedup, read_back, Ctx};
use crate::error::{from_sdk, invalid, not_found};
use crate::props::{check_known, str_req};
use aws_sdk_ec2::types::{Filter, RouteTable};
use serde_json::json;
use terrace_provider::{
    ApiClasses, CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed,
    Properties, ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:VpcRoute";

crate::resources::resource_type!(VpcRouteDef: ec2);
const TARGETS: &[&str] = &[
    "vpc_peering_connection_id",
    "gateway_id",
    "transit_gateway_id",
];
const FIELDS: &[&str] = &[
    "vpc_id",
    "destination_cidr_block",
    "vpc_peering_connection_id",
    "gateway_id",
    "transit_gateway_id",
];
const DESTINATION: &[&str] = &["destination_cidr_block"];

/// The type's schema (see the module doc).
pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    let mut fields = vec![
        FieldSchema::input("vpc_id", String).required().force_new(),
        FieldSchema::input("destination_cidr_block", String)
            .required()
            .force_new(),
    ];
    fields.extend(TARGETS.iter().map(|t| FieldSchema::input(t, String)));
    fields.push(FieldSchema::computed("route_table_ids", List));
    fields.push(FieldSchema::computed("state", String));
    ResourceSchema {
        type_name: TYPE.into(),
        fields,
        api: ApiClasses {
            read: "ec2:describe".into(),
            mutate: "ec2:mutate".into(),
        },
        regional: true,
    }
}

/// (vpc, route) a request describes.
fn wanted(p: &Properties) -> Result<(String, RouteSpec), ProviderError> {
    check_known(p, FIELDS, TYPE)?;
    let vpc = str_req(p, "vpc_id")?.to_string();
    let (destination_field, destination) = pick(p, DESTINATION, "destination")?;
    let (target_field, target) = pick(p, TARGETS, "target")?;
    Ok((
        vpc,
        RouteSpec {
            destination_field,
            destination,
            target_field,
            target,
        },
    ))
}

fn id_of(vpc: &str, destination: &str) -> String {
    format!("{vpc}_{destination}")
}

/// The VPC's route tables that hand `destination` over.
async fn tables(
    ctx: &Ctx<'_>,
    vpc: &str,
    destination: &str,
) -> Result<Vec<RouteTable>, ProviderError> {
    let found: Vec<RouteTable> = ctx
        .ec2
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(from_sdk)?;
    Ok(found
        .into_iter()
        .filter(|t| t.vpc_id() == Some(vpc))
        .filter(|t| is_external(destination, &external_ranges(t)))
        .collect())
}

/// The route to `destination` in a table, if any.
fn route_in(table: &RouteTable, destination: &str) -> Option<(RouteSpec, String)> {
    table.routes().iter().find_map(|r| {
        let spec = spec_of(r)?;
        (spec.destination == destination).then(|| {
            (
                spec,
                r.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
    })
}

async fn read_one(ctx: &Ctx<'_>, id: &str) -> Result<Option<Observed>, ProviderError> {
    let Some((vpc, destination)) = id.split_once('_') else {
        return Ok(None);
    };
    let tables = tables(ctx, vpc, destination).await?;
    let routes: Vec<(String, Option<(RouteSpec, String)>)> = tables
        .iter()
        .map(|t| {
            (
                t.route_table_id().unwrap_or_default().to_string(),
                route_in(t, destination),
            )
        })
        .collect();
    let held: Vec<&(RouteSpec, String)> = routes.iter().filter_map(|(_, r)| r.as_ref()).collect();
    if held.is_empty() {
        return Ok(None);
    }
    let mut properties = Properties::new();
    properties.insert("vpc_id".into(), json!(vpc));
    properties.insert("destination_cidr_block".into(), json!(destination));
    let first = &held[0].0;
    let everywhere = routes.iter().all(|(_, r)| {
        r.as_ref()
            .is_some_and(|(s, _)| s.target_field == first.target_field && s.target == first.target)
    });
    if everywhere {
        properties.insert(first.target_field.into(), json!(first.target));
    }
    let mut attributes = Properties::new();
    let ids: Vec<&String> = routes
        .iter()
        .filter(|(_, r)| r.is_some())
        .map(|(t, _)| t)
        .collect();
    attributes.insert("route_table_ids".into(), json!(ids));
    let active = everywhere && held.iter().all(|(_, state)| state == "active");
    attributes.insert(
        "state".into(),
        json!(if active { "active" } else { "blackhole" }),
    );
    Ok(Some(Observed {
        id: id.to_string(),
        properties,
        attributes,
        ownership: None,
    }))
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let mut found = Vec::new();
    for id in &request.ids {
        if let Some(observed) = read_one(ctx, id).await? {
            found.push(observed);
        }
    }
    Ok(dedup(found))
}

/// Puts the route in every handing-over table: created where missing, replaced where its
/// target differs.
async fn sync(ctx: &Ctx<'_>, vpc: &str, spec: &RouteSpec) -> Result<(), ProviderError> {
    let tables = tables(ctx, vpc, &spec.destination).await?;
    if tables.is_empty() {
        return Err(invalid(format!(
            "no route table of {vpc} hands {} over (external_route_ranges)",
            spec.destination
        )));
    }
    for table in &tables {
        let id = table.route_table_id().unwrap_or_default();
        match route_in(table, &spec.destination) {
            Some((have, _)) if have == *spec => {}
            Some(_) => put_route(ctx, id, spec, true).await?,
            None => match put_route(ctx, id, spec, false).await {
                // A create whose answer was lost, retried: ReplaceRoute sets our target.
                Err(e) if e.code == "RouteAlreadyExists" => put_route(ctx, id, spec, true).await?,
                other => other?,
            },
        }
    }
    Ok(())
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let (vpc, spec) = wanted(&request.properties)?;
    let id = id_of(&vpc, &spec.destination);
    super::settle(ctx.settings, &id, || sync(ctx, &vpc, &spec)).await?;
    read_back(
        ctx.settings,
        TYPE,
        &id,
        |r| async move { read(ctx, &r).await },
    )
    .await
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let (vpc, spec) = wanted(&request.new)?;
    if id_of(&vpc, &spec.destination) != request.id {
        return Err(invalid(format!(
            "{}: a VPC route's VPC and destination cannot change in place",
            request.id
        )));
    }
    super::settle(ctx.settings, &request.id, || sync(ctx, &vpc, &spec)).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    let Some((vpc, destination)) = request.id.split_once('_') else {
        return Err(not_found(TYPE, &request.id));
    };
    for table in tables(ctx, vpc, destination).await? {
        if route_in(&table, destination).is_none() {
            continue;
        }
        let deleted = ctx
            .ec2
            .delete_route()
            .route_table_id(table.route_table_id().unwrap_or_default())
            .destination_cidr_block(destination)
            .send()
            .await
            .map_err(from_sdk);
        match deleted {
            Err(e) if e.kind != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}
