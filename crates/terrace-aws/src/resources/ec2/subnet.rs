//! `aws:ec2:Subnet`: a subnet of a VPC. `map_public_ip_on_launch` is updated in place; the
//! VPC, CIDR block and availability zone force a replacement.

use super::{
    after_create, create_once, dedup, delete_when_free, no_retry, observed, put, queries,
    read_back, settle, sync_tags, Ctx,
};
use crate::error::{from_sdk, from_sdk_unretried};
use crate::ownership::{tag_spec, user_tags};
use crate::props::{bool_opt, changed, check_known, str_opt, str_req};
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Subnet};
use terrace_provider::{
    CreateRequest, DeleteRequest, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:Subnet";

crate::resources::resource_type!(SubnetDef: ec2);
const FIELDS: &[&str] = &[
    "vpc_id",
    "cidr_block",
    "availability_zone",
    "map_public_ip_on_launch",
    "tags",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            FieldSchema::input("vpc_id", String).required().force_new(),
            // A VPC refuses a second subnet with the same range (`InvalidSubnet.Conflict`).
            FieldSchema::input("cidr_block", Cidr)
                .required()
                .force_new()
                .unique_within(&["vpc_id"]),
            FieldSchema::input("availability_zone", String).force_new(),
            FieldSchema::input("map_public_ip_on_launch", Bool),
            FieldSchema::computed("arn", String),
            FieldSchema::computed("availability_zone_id", String),
            FieldSchema::computed("available_ip_address_count", Number),
            FieldSchema::computed("owner_id", String),
            FieldSchema::computed("state", String),
        ],
    )
}

fn observe(subnet: &Subnet) -> Observed {
    let mut props = Properties::new();
    put(&mut props, "vpc_id", subnet.vpc_id());
    put(&mut props, "cidr_block", subnet.cidr_block());
    put(&mut props, "availability_zone", subnet.availability_zone());
    put(
        &mut props,
        "map_public_ip_on_launch",
        subnet.map_public_ip_on_launch(),
    );
    let mut attrs = Properties::new();
    put(&mut attrs, "arn", subnet.subnet_arn());
    put(
        &mut attrs,
        "availability_zone_id",
        subnet.availability_zone_id(),
    );
    put(
        &mut attrs,
        "available_ip_address_count",
        subnet.available_ip_address_count(),
    );
    put(&mut attrs, "owner_id", subnet.owner_id());
    put(&mut attrs, "state", subnet.state().map(|s| s.as_str()));
    observed(
        subnet.subnet_id().unwrap_or_default(),
        props,
        attrs,
        subnet.tags(),
    )
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("subnet-id", request) {
        // The SDK's paginator: one request per page, stops on a repeated token.
        let page: Vec<_> = ctx
            .ec2
            .describe_subnets()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(from_sdk)?;
        found.extend(page.iter().map(observe));
    }
    Ok(dedup(found))
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    // CreateSubnet has no ClientToken: duplicates are prevented by the ownership tags.
    let answer = create_once(ctx.settings, || async {
        ctx.ec2
            .create_subnet()
            .vpc_id(str_req(p, "vpc_id")?)
            .cidr_block(str_req(p, "cidr_block")?)
            .set_availability_zone(str_opt(p, "availability_zone")?.map(str::to_string))
            .tag_specifications(tag_spec(ResourceType::Subnet, &request.ownership, &tags))
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await?;
    let id = answer
        .subnet()
        .and_then(Subnet::subnet_id)
        .unwrap_or_default()
        .to_string();
    after_create(&id, async {
        let none = Properties::new();
        settle(ctx.settings, &id, || set_public_ip(ctx, &id, &none, p)).await?;
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

async fn set_public_ip(
    ctx: &Ctx<'_>,
    id: &str,
    old: &Properties,
    new: &Properties,
) -> Result<(), ProviderError> {
    let field = "map_public_ip_on_launch";
    let Some(value) = bool_opt(new, field)? else {
        return Ok(());
    };
    if !changed(old, new, field) {
        return Ok(());
    }
    ctx.ec2
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
        .send()
        .await
        .map_err(from_sdk)?;
    Ok(())
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    check_known(&request.new, FIELDS, TYPE)?;
    set_public_ip(ctx, &request.id, &request.old, &request.new).await?;
    sync_tags(ctx, &request.id, &request.old, &request.new).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .delete_subnet()
            .subnet_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}
