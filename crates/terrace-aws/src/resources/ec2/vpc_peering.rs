//! `aws:ec2:VpcPeeringConnection` and `aws:ec2:VpcPeeringConnectionAccepter`: the two sides
//! of a VPC peering connection, the requester in the region of its VPC and the accepter in the
//! region of the peer VPC (CreateVpcPeeringConnection with `PeerRegion`, then
//! AcceptVpcPeeringConnection "in the Region of the accepter VPC", Amazon VPC Peering Guide,
//! "Accept a VPC peering connection").
//!
//! A connection is one object seen from both regions. EC2 keeps a deleted, rejected, failed or
//! expired connection listed for a while ("VPC peering connection lifecycle": `deleted` "remains
//! visible … for 2 hours"); such a connection reads as absent. The requester carries the
//! ownership tags; the accepter is the same object, found by its id only, which is the
//! connection's id with `_accepter` appended (ids are unique within a stack; the connection's
//! id is its `vpc_peering_connection_id`, which routes reference). Deleting the
//! accepter leaves the connection to its requester (as Terraform's
//! `aws_vpc_peering_connection_accepter` does); deleting the requester deletes the connection.
//!
//! DescribeVpcPeeringConnections documents the `vpc-peering-connection-id` and `tag:` filters;
//! moto ignores them, so the answer is also filtered here by id and ownership (which changes
//! nothing against AWS).

use super::{after_create, dedup, delete_when_free, existing, observed, put, read_back, sync_tags};
use super::{create_once, no_retry, queries, settle, Ctx};
use crate::error::{from_sdk, from_sdk_unretried, invalid};
use crate::ownership::{self, tag_spec, user_tags};
use crate::props::{check_known, str_req};
use aws_sdk_ec2::types::{ResourceType, VpcPeeringConnection, VpcPeeringConnectionStateReasonCode};
use terrace_provider::{
    ApiClasses, CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed,
    Properties, ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:VpcPeeringConnection";
pub const ACCEPTER_TYPE: &str = "aws:ec2:VpcPeeringConnectionAccepter";

crate::resources::resource_type!(VpcPeeringConnectionDef: ec2);
crate::resources::resource_type!(VpcPeeringConnectionAccepterDef: ec2 {
    type_name: ACCEPTER_TYPE, schema: accepter_schema, read: read_accepter,
    create: create_accepter, update: update_accepter, delete: delete_accepter
});
const FIELDS: &[&str] = &["vpc_id", "peer_vpc_id", "peer_region", "tags"];
const ACCEPTER_FIELDS: &[&str] = &["vpc_peering_connection_id"];
/// Appended to the connection's id to make the accepter's.
const ACCEPTER_SUFFIX: &str = "_accepter";

/// The accepter's id for a connection id.
fn accepter_id(pcx: &str) -> String {
    format!("{pcx}{ACCEPTER_SUFFIX}")
}

/// The requester: `vpc_id` (its VPC, in the resource's region), `peer_vpc_id` and
/// `peer_region` (the accepter VPC and its region; the same account). Attributes: `status`
/// (`pending-acceptance`, `active`, …), the two VPCs' ranges and the accepter's account.
pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            FieldSchema::input("vpc_id", String).required().force_new(),
            FieldSchema::input("peer_vpc_id", String)
                .required()
                .force_new(),
            FieldSchema::input("peer_region", String)
                .required()
                .force_new(),
            FieldSchema::computed("status", String),
            FieldSchema::computed("cidr_block", String),
            FieldSchema::computed("peer_cidr_block", String),
            FieldSchema::computed("peer_owner_id", String),
        ],
    )
}

/// The accepter: `vpc_peering_connection_id`, in the region of the peer VPC. Its id is the
/// connection's with `_accepter` appended; it exists while the connection is `active`. No tags:
/// the requester's are the connection's.
pub fn accepter_schema() -> ResourceSchema {
    use FieldKind::*;
    ResourceSchema {
        type_name: ACCEPTER_TYPE.to_string(),
        fields: vec![
            FieldSchema::input("vpc_peering_connection_id", String)
                .required()
                .force_new(),
            FieldSchema::computed("status", String),
            FieldSchema::computed("vpc_id", String),
            FieldSchema::computed("peer_vpc_id", String),
        ],
        api: ApiClasses {
            read: "ec2:describe".into(),
            mutate: "ec2:mutate".into(),
        },
        regional: true,
    }
}

/// The connection's status code (`active`, `pending-acceptance`, …).
fn status(pcx: &VpcPeeringConnection) -> &str {
    pcx.status()
        .and_then(|s| s.code())
        .map(VpcPeeringConnectionStateReasonCode::as_str)
        .unwrap_or("")
}

/// True for a connection that no longer exists for its users, though EC2 still lists it.
fn is_gone(pcx: &VpcPeeringConnection) -> bool {
    matches!(
        status(pcx),
        "deleted" | "deleting" | "rejected" | "failed" | "expired"
    )
}

fn observe(pcx: &VpcPeeringConnection) -> Observed {
    let requester = pcx.requester_vpc_info();
    let accepter = pcx.accepter_vpc_info();
    let mut props = Properties::new();
    put(&mut props, "vpc_id", requester.and_then(|v| v.vpc_id()));
    put(&mut props, "peer_vpc_id", accepter.and_then(|v| v.vpc_id()));
    put(&mut props, "peer_region", accepter.and_then(|v| v.region()));
    let mut attrs = Properties::new();
    put(&mut attrs, "status", Some(status(pcx)));
    put(
        &mut attrs,
        "cidr_block",
        requester.and_then(|v| v.cidr_block()),
    );
    put(
        &mut attrs,
        "peer_cidr_block",
        accepter.and_then(|v| v.cidr_block()),
    );
    put(
        &mut attrs,
        "peer_owner_id",
        accepter.and_then(|v| v.owner_id()),
    );
    observed(
        pcx.vpc_peering_connection_id().unwrap_or_default(),
        props,
        attrs,
        pcx.tags(),
    )
}

/// The live connections a read asks for (by id or by owner).
async fn describe(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<VpcPeeringConnection>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("vpc-peering-connection-id", request) {
        // The SDK's paginator: one request per page, stops on a repeated token.
        let page: Vec<_> = ctx
            .ec2
            .describe_vpc_peering_connections()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(from_sdk)?;
        found.extend(page);
    }
    Ok(found
        .into_iter()
        .filter(|pcx| !is_gone(pcx) && is_asked_for(pcx, request))
        .collect())
}

/// True when the read asked for this connection by id, or by an owner its tags name.
fn is_asked_for(pcx: &VpcPeeringConnection, request: &ReadRequest) -> bool {
    let id = pcx.vpc_peering_connection_id().unwrap_or_default();
    if request.ids.iter().any(|i| i == id) {
        return true;
    }
    let (owner, _) = ownership::split_tags(pcx.tags());
    request
        .owner
        .as_ref()
        .is_some_and(|wanted| ownership::matches(owner.as_ref(), wanted))
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    Ok(dedup(
        describe(ctx, request).await?.iter().map(observe).collect(),
    ))
}

async fn current(ctx: &Ctx<'_>, id: &str) -> Result<Option<VpcPeeringConnection>, ProviderError> {
    let request = crate::resources::common::by_id(TYPE, id);
    Ok(describe(ctx, &request).await?.into_iter().next())
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    // CreateVpcPeeringConnection has no ClientToken: sent once (no SDK retry), so a lost answer
    // is ambiguous and the engine finds the connection by its ownership tags; a VPC created
    // moments ago that is not visible yet is waited for (nothing was created).
    let answer = settle(ctx.settings, str_req(p, "vpc_id")?, || {
        create_once(ctx.settings, || async {
            ctx.ec2
                .create_vpc_peering_connection()
                .vpc_id(str_req(p, "vpc_id")?)
                .peer_vpc_id(str_req(p, "peer_vpc_id")?)
                .peer_region(str_req(p, "peer_region")?)
                .tag_specifications(tag_spec(
                    ResourceType::VpcPeeringConnection,
                    &request.ownership,
                    &tags,
                ))
                .customize()
                .config_override(no_retry())
                .send()
                .await
                .map_err(from_sdk_unretried)
        })
    })
    .await?;
    let id = answer
        .vpc_peering_connection()
        .and_then(VpcPeeringConnection::vpc_peering_connection_id)
        .ok_or_else(|| invalid("CreateVpcPeeringConnection answered no connection"))?
        .to_string();
    after_create(&id, async {
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

/// Only the tags change in place; every other field replaces the connection.
pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    check_known(&request.new, FIELDS, TYPE)?;
    existing(ctx.settings, TYPE, &request.id, || {
        current(ctx, &request.id)
    })
    .await?;
    sync_tags(ctx, &request.id, &request.old, &request.new).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    if current(ctx, &request.id).await?.is_none() {
        return Ok(());
    }
    // Routes still naming the connection do not block its deletion in EC2 (they turn
    // `blackhole`); the engine deletes them first, as they reference it.
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .delete_vpc_peering_connection()
            .vpc_peering_connection_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}

fn observe_accepter(pcx: &VpcPeeringConnection) -> Observed {
    let mut props = Properties::new();
    put(
        &mut props,
        "vpc_peering_connection_id",
        pcx.vpc_peering_connection_id(),
    );
    let mut attrs = Properties::new();
    put(&mut attrs, "status", Some(status(pcx)));
    put(
        &mut attrs,
        "vpc_id",
        pcx.requester_vpc_info().and_then(|v| v.vpc_id()),
    );
    put(
        &mut attrs,
        "peer_vpc_id",
        pcx.accepter_vpc_info().and_then(|v| v.vpc_id()),
    );
    Observed {
        id: accepter_id(pcx.vpc_peering_connection_id().unwrap_or_default()),
        properties: props,
        attributes: attrs,
        ownership: None,
    }
}

/// The accepter exists while its connection is active; it has no tags, so a read by owner
/// finds nothing.
pub async fn read_accepter(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<Observed>, ProviderError> {
    let ids: Vec<String> = request
        .ids
        .iter()
        .map(|id| id.strip_suffix(ACCEPTER_SUFFIX).unwrap_or(id).to_string())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let by_ids = ReadRequest {
        owner: None,
        ids,
        ..request.clone()
    };
    Ok(dedup(
        describe(ctx, &by_ids)
            .await?
            .iter()
            .filter(|pcx| status(pcx) == "active")
            .map(observe_accepter)
            .collect(),
    ))
}

/// Accepts the connection (once the request is visible in this region) and waits until it is
/// active. An already active connection is accepted already.
pub async fn create_accepter(
    ctx: &Ctx<'_>,
    request: &CreateRequest,
) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, ACCEPTER_FIELDS, ACCEPTER_TYPE)?;
    let id = str_req(p, "vpc_peering_connection_id")?;
    let pcx = existing(ctx.settings, ACCEPTER_TYPE, id, || current(ctx, id)).await?;
    if status(&pcx) != "active" {
        let accepted = settle(ctx.settings, id, || async {
            ctx.ec2
                .accept_vpc_peering_connection()
                .vpc_peering_connection_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(from_sdk)
        })
        .await;
        match accepted {
            // A lost answer retried: the first attempt accepted it.
            Err(e) if e.kind == ErrorKind::Conflict || e.code.contains("StateTransition") => {}
            other => other?,
        }
    }
    read_back(
        ctx.settings,
        ACCEPTER_TYPE,
        &accepter_id(id),
        |r| async move { read_accepter(ctx, &r).await },
    )
    .await
}

/// Nothing of the accepter changes in place.
pub async fn update_accepter(
    ctx: &Ctx<'_>,
    request: &UpdateRequest,
) -> Result<Observed, ProviderError> {
    check_known(&request.new, ACCEPTER_FIELDS, ACCEPTER_TYPE)?;
    read_back(ctx.settings, ACCEPTER_TYPE, &request.id, |r| async move {
        read_accepter(ctx, &r).await
    })
    .await
}

/// Leaves the connection to its requester, whose delete deletes it.
pub async fn delete_accepter(
    _ctx: &Ctx<'_>,
    _request: &DeleteRequest,
) -> Result<(), ProviderError> {
    Ok(())
}
