//! `aws:ec2:RouteTable`: a route table with its routes and subnet associations. Routes and
//! associations are reconciled in place against what EC2 reports (create, replace, delete
//! routes; associate, disassociate subnets); the VPC forces a replacement. The `local` route is
//! EC2's own and never listed. Routes are read back sorted by destination.
//!
//! `external_route_ranges` hands the routes to some destinations to other resources (the
//! mesh's `aws:ec2:Route`s, Terraform's "Route Tables and Routes" conflict): a route whose
//! destination lies inside one of these ranges is neither read into `routes` nor removed. The
//! ranges are kept on the table in the tag `terrace:external-route-ranges`, so a read (and an
//! import) knows them.

use super::{
    after_create, dedup, delete_when_free, existing, observed, put, queries, read_back, settle,
    sync_tags, Ctx,
};
use crate::error::{from_sdk, invalid};
use crate::ownership::{client_token, tag_spec, user_tags};
use crate::props::{check_known, objects, str_req, strings};
use aws_sdk_ec2::types::{ResourceType, Route, RouteTable};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use terrace_provider::{
    CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed, Properties,
    ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:RouteTable";

crate::resources::resource_type!(RouteTableDef: ec2);
const FIELDS: &[&str] = &[
    "vpc_id",
    "routes",
    "subnet_ids",
    "external_route_ranges",
    "tags",
];
/// The tag holding `external_route_ranges` (comma-separated).
const EXTERNAL_TAG: &str = "terrace:external-route-ranges";
pub(super) const DESTINATIONS: &[&str] = &["destination_cidr_block", "destination_ipv6_cidr_block"];
/// Route targets, in the order they are looked for in EC2's answer.
pub(super) const TARGETS: &[&str] = &[
    "gateway_id",
    "nat_gateway_id",
    "transit_gateway_id",
    "vpc_peering_connection_id",
    "instance_id",
    "network_interface_id",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            FieldSchema::input("vpc_id", String).required().force_new(),
            FieldSchema::input("routes", List).unordered(),
            FieldSchema::input("subnet_ids", List).unordered(),
            FieldSchema::input("external_route_ranges", List).unordered(),
            FieldSchema::computed("owner_id", String),
            FieldSchema::computed("main", Bool),
            FieldSchema::computed("associations", Map),
        ],
    )
}

/// One route: a destination (IPv4 or IPv6 CIDR) and one target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct RouteSpec {
    pub(super) destination_field: &'static str,
    pub(super) destination: String,
    pub(super) target_field: &'static str,
    pub(super) target: String,
}

impl RouteSpec {
    fn to_json(&self) -> Json {
        json!({self.destination_field: self.destination, self.target_field: self.target})
    }
}

pub(super) fn pick(
    item: &Properties,
    fields: &'static [&'static str],
    what: &str,
) -> Result<(&'static str, String), ProviderError> {
    let set: Vec<(&'static str, &Json)> = fields
        .iter()
        .filter_map(|f| item.get(*f).filter(|v| !v.is_null()).map(|v| (*f, v)))
        .collect();
    match set.as_slice() {
        [(field, Json::String(value))] => Ok((field, value.clone())),
        _ => Err(invalid(format!(
            "each route needs exactly one {what} (one of {}) as a string",
            fields.join(", ")
        ))),
    }
}

fn parse_routes(p: &Properties) -> Result<Vec<RouteSpec>, ProviderError> {
    let mut known: Vec<&str> = DESTINATIONS.to_vec();
    known.extend_from_slice(TARGETS);
    objects(p, "routes")?
        .into_iter()
        .map(|item| {
            check_known(item, &known, "a route")?;
            let (destination_field, destination) = pick(item, DESTINATIONS, "destination")?;
            let (target_field, target) = pick(item, TARGETS, "target")?;
            Ok(RouteSpec {
                destination_field,
                destination,
                target_field,
                target,
            })
        })
        .collect()
}

/// A route as EC2 reports it; `None` for EC2's own `local` route.
pub(super) fn spec_of(route: &Route) -> Option<RouteSpec> {
    if route.gateway_id() == Some("local") {
        return None;
    }
    let (destination_field, destination) = match (
        route.destination_cidr_block(),
        route.destination_ipv6_cidr_block(),
    ) {
        (Some(v4), _) => (DESTINATIONS[0], v4),
        (None, Some(v6)) => (DESTINATIONS[1], v6),
        _ => return None,
    };
    let targets = [
        route.gateway_id(),
        route.nat_gateway_id(),
        route.transit_gateway_id(),
        route.vpc_peering_connection_id(),
        route.instance_id(),
        route.network_interface_id(),
    ];
    let (target_field, target) = TARGETS
        .iter()
        .zip(targets)
        .find_map(|(field, value)| value.map(|v| (*field, v)))?;
    Some(RouteSpec {
        destination_field,
        destination: destination.to_string(),
        target_field,
        target: target.to_string(),
    })
}

/// The table's `external_route_ranges`, from its tag.
pub(super) fn external_ranges(table: &RouteTable) -> Vec<String> {
    table
        .tags()
        .iter()
        .filter(|t| t.key() == Some(EXTERNAL_TAG))
        .filter_map(|t| t.value())
        .flat_map(|v| v.split(','))
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// True when `destination` lies inside one of `ranges` (unparsable values never match).
pub(super) fn is_external(destination: &str, ranges: &[String]) -> bool {
    let Ok(destination) = terrace_provider::cidr::parse(destination) else {
        return false;
    };
    ranges.iter().any(|range| {
        terrace_provider::cidr::parse(range).is_ok_and(|range| range.contains(&destination))
    })
}

/// The routes the table manages itself: all but EC2's `local` one and those to `external`.
fn routes_except(table: &RouteTable, external: &[String]) -> Vec<RouteSpec> {
    let mut routes: Vec<RouteSpec> = table
        .routes()
        .iter()
        .filter_map(spec_of)
        .filter(|r| !is_external(&r.destination, external))
        .collect();
    routes.sort();
    routes
}

fn routes_of(table: &RouteTable) -> Vec<RouteSpec> {
    routes_except(table, &external_ranges(table))
}

/// Subnet id → association id, for explicit subnet associations.
fn associations_of(table: &RouteTable) -> BTreeMap<String, String> {
    table
        .associations()
        .iter()
        .filter(|a| !a.main().unwrap_or(false))
        .filter_map(|a| {
            Some((
                a.subnet_id()?.to_string(),
                a.route_table_association_id()?.to_string(),
            ))
        })
        .collect()
}

fn is_main(table: &RouteTable) -> bool {
    table
        .associations()
        .iter()
        .any(|a| a.main().unwrap_or(false))
}

fn observe(table: &RouteTable) -> Observed {
    let associations = associations_of(table);
    let mut props = Properties::new();
    put(&mut props, "vpc_id", table.vpc_id());
    props.insert(
        "routes".into(),
        Json::Array(routes_of(table).iter().map(RouteSpec::to_json).collect()),
    );
    props.insert(
        "subnet_ids".into(),
        json!(associations.keys().collect::<Vec<_>>()),
    );
    let external = external_ranges(table);
    if !external.is_empty() {
        props.insert("external_route_ranges".into(), json!(external));
    }
    let mut attrs = Properties::new();
    put(&mut attrs, "owner_id", table.owner_id());
    attrs.insert("main".into(), json!(is_main(table)));
    attrs.insert("associations".into(), json!(associations));
    observed(
        table.route_table_id().unwrap_or_default(),
        props,
        attrs,
        table.tags(),
    )
}

pub(super) async fn describe(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<RouteTable>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("route-table-id", request) {
        // The SDK's paginator: one request per page, stops on a repeated token.
        let page: Vec<_> = ctx
            .ec2
            .describe_route_tables()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(from_sdk)?;
        found.extend(page);
    }
    Ok(found)
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    Ok(dedup(
        describe(ctx, request).await?.iter().map(observe).collect(),
    ))
}

async fn current(ctx: &Ctx<'_>, id: &str) -> Result<Option<RouteTable>, ProviderError> {
    let request = crate::resources::common::by_id(TYPE, id);
    Ok(describe(ctx, &request).await?.into_iter().next())
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    parse_routes(p)?;
    strings(p, "subnet_ids")?;
    let answer = ctx
        .ec2
        .create_route_table()
        .vpc_id(str_req(p, "vpc_id")?)
        .client_token(client_token(&request.idempotency_key))
        .tag_specifications(tag_spec(
            ResourceType::RouteTable,
            &request.ownership,
            &tags,
        ))
        .send()
        .await
        .map_err(from_sdk)?;
    let table = answer
        .route_table()
        .cloned()
        .ok_or_else(|| invalid("CreateRouteTable answered no route table"))?;
    let id = table.route_table_id().unwrap_or_default().to_string();
    after_create(&id, async {
        // Read again on each attempt: routes added before a not-found answer stay added.
        settle(ctx.settings, &id, || async {
            let table = current(ctx, &id)
                .await?
                .ok_or_else(|| crate::error::not_found(TYPE, &id))?;
            reconcile(ctx, &table, p).await
        })
        .await?;
        read_back(
            ctx.settings,
            TYPE,
            &id,
            |r| async move { read(ctx, &r).await },
        )
        .await
    })
    .await
}

/// Makes routes and associations match `desired` (only the fields it sets).
async fn reconcile(
    ctx: &Ctx<'_>,
    table: &RouteTable,
    desired: &Properties,
) -> Result<(), ProviderError> {
    let id = table.route_table_id().unwrap_or_default();
    let external = strings(desired, "external_route_ranges")?;
    for range in &external {
        terrace_provider::cidr::parse(range).map_err(|e| {
            invalid(format!(
                "external_route_ranges: `{range}`: {}; {}",
                e.message, e.help
            ))
        })?;
    }
    if external != external_ranges(table) {
        sync_external_tag(ctx, id, &external).await?;
    }
    if desired.get("routes").is_some_and(|v| !v.is_null()) {
        sync_routes(
            ctx,
            id,
            &routes_except(table, &external),
            &parse_routes(desired)?,
        )
        .await?;
    }
    if desired.get("subnet_ids").is_some_and(|v| !v.is_null()) {
        let wanted: BTreeSet<String> = strings(desired, "subnet_ids")?.into_iter().collect();
        sync_associations(ctx, id, &associations_of(table), &wanted).await?;
    }
    Ok(())
}

/// Writes `external` into the table's tag (removes the tag when empty).
async fn sync_external_tag(
    ctx: &Ctx<'_>,
    id: &str,
    external: &[String],
) -> Result<(), ProviderError> {
    let tag = aws_sdk_ec2::types::Tag::builder().key(EXTERNAL_TAG);
    if external.is_empty() {
        ctx.ec2
            .delete_tags()
            .resources(id)
            .tags(tag.build())
            .send()
            .await
            .map_err(from_sdk)?;
    } else {
        ctx.ec2
            .create_tags()
            .resources(id)
            .tags(tag.value(external.join(",")).build())
            .send()
            .await
            .map_err(from_sdk)?;
    }
    Ok(())
}

macro_rules! with_route {
    ($call:expr, $spec:expr) => {{
        let call = match $spec.destination_field {
            "destination_ipv6_cidr_block" => $call.destination_ipv6_cidr_block(&$spec.destination),
            _ => $call.destination_cidr_block(&$spec.destination),
        };
        match $spec.target_field {
            "nat_gateway_id" => call.nat_gateway_id(&$spec.target),
            "transit_gateway_id" => call.transit_gateway_id(&$spec.target),
            "vpc_peering_connection_id" => call.vpc_peering_connection_id(&$spec.target),
            "instance_id" => call.instance_id(&$spec.target),
            "network_interface_id" => call.network_interface_id(&$spec.target),
            _ => call.gateway_id(&$spec.target),
        }
    }};
}

/// Creates a route (`replace`: replaces the existing route to its destination).
pub(super) async fn put_route(
    ctx: &Ctx<'_>,
    id: &str,
    spec: &RouteSpec,
    replace: bool,
) -> Result<(), ProviderError> {
    if replace {
        let call = ctx.ec2.replace_route().route_table_id(id);
        with_route!(call, spec).send().await.map_err(from_sdk)?;
    } else {
        let call = ctx.ec2.create_route().route_table_id(id);
        with_route!(call, spec).send().await.map_err(from_sdk)?;
    }
    Ok(())
}

async fn sync_routes(
    ctx: &Ctx<'_>,
    id: &str,
    have: &[RouteSpec],
    want: &[RouteSpec],
) -> Result<(), ProviderError> {
    let key = |r: &RouteSpec| (r.destination_field, r.destination.clone());
    let have_by: BTreeMap<_, &RouteSpec> = have.iter().map(|r| (key(r), r)).collect();
    let want_by: BTreeMap<_, &RouteSpec> = want.iter().map(|r| (key(r), r)).collect();
    for (k, old) in &have_by {
        if !want_by.contains_key(k) {
            let call = ctx.ec2.delete_route().route_table_id(id);
            let call = match old.destination_field {
                "destination_ipv6_cidr_block" => call.destination_ipv6_cidr_block(&old.destination),
                _ => call.destination_cidr_block(&old.destination),
            };
            call.send().await.map_err(from_sdk)?;
        }
    }
    for (k, new) in &want_by {
        match have_by.get(k) {
            Some(old) if old == new => {}
            Some(_) => put_route(ctx, id, new, true).await?,
            None => put_route(ctx, id, new, false).await?,
        }
    }
    Ok(())
}

async fn sync_associations(
    ctx: &Ctx<'_>,
    id: &str,
    have: &BTreeMap<String, String>,
    want: &BTreeSet<String>,
) -> Result<(), ProviderError> {
    for (subnet, association) in have {
        if !want.contains(subnet) {
            disassociate(ctx, association).await?;
        }
    }
    for subnet in want {
        if !have.contains_key(subnet) {
            ctx.ec2
                .associate_route_table()
                .route_table_id(id)
                .subnet_id(subnet)
                .send()
                .await
                .map_err(from_sdk)?;
        }
    }
    Ok(())
}

async fn disassociate(ctx: &Ctx<'_>, association: &str) -> Result<(), ProviderError> {
    match ctx
        .ec2
        .disassociate_route_table()
        .association_id(association)
        .send()
        .await
        .map_err(from_sdk)
    {
        Err(e) if e.kind != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    check_known(&request.new, FIELDS, TYPE)?;
    let table = existing(ctx.settings, TYPE, &request.id, || {
        current(ctx, &request.id)
    })
    .await?;
    reconcile(ctx, &table, &request.new).await?;
    sync_tags(ctx, &request.id, &request.old, &request.new).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    let Some(table) = current(ctx, &request.id).await? else {
        return Ok(());
    };
    if is_main(&table) {
        return Err(ProviderError::new(
            ErrorKind::Conflict,
            "MainRouteTable",
            format!(
                "{} is its VPC's main route table; it goes with the VPC",
                request.id
            ),
        ));
    }
    for association in associations_of(&table).values() {
        disassociate(ctx, association).await?;
    }
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .delete_route_table()
            .route_table_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}
