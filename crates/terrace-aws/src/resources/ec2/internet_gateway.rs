//! `aws:ec2:InternetGateway`: an internet gateway and its attachment to one VPC. Changing
//! `vpc_id` moves the attachment in place (detach, attach); deleting detaches first.

use super::{
    after_create, create_once, dedup, delete_when_free, existing, no_retry, observed, put, queries,
    read_back, settle, sync_tags, Ctx,
};
use crate::error::{from_sdk, from_sdk_unretried};
use crate::ownership::{tag_spec, user_tags};
use crate::props::{check_known, str_opt};
use aws_sdk_ec2::types::{InternetGateway, ResourceType};
use terrace_provider::{
    CreateRequest, DeleteRequest, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:InternetGateway";

crate::resources::resource_type!(InternetGatewayDef: ec2);
const FIELDS: &[&str] = &["vpc_id", "tags"];

pub fn schema() -> ResourceSchema {
    super::schema(
        TYPE,
        vec![
            FieldSchema::input("vpc_id", FieldKind::String),
            FieldSchema::computed("owner_id", FieldKind::String),
            FieldSchema::computed("attachment_state", FieldKind::String),
        ],
    )
}

/// VPCs the gateway is attached to (at most one in practice).
fn attached_vpcs(igw: &InternetGateway) -> Vec<String> {
    igw.attachments()
        .iter()
        .filter_map(|a| a.vpc_id())
        .map(str::to_string)
        .collect()
}

fn observe(igw: &InternetGateway) -> Observed {
    let mut props = Properties::new();
    // Null when detached, never left out: a gateway adopted after a lost create answer (its
    // attach never ran) must read as unattached, not as what the create meant to send.
    props.insert(
        "vpc_id".into(),
        attached_vpcs(igw)
            .first()
            .cloned()
            .map_or(serde_json::Value::Null, serde_json::Value::from),
    );
    let mut attrs = Properties::new();
    put(&mut attrs, "owner_id", igw.owner_id());
    put(
        &mut attrs,
        "attachment_state",
        igw.attachments()
            .first()
            .and_then(|a| a.state())
            .map(|s| s.as_str()),
    );
    observed(
        igw.internet_gateway_id().unwrap_or_default(),
        props,
        attrs,
        igw.tags(),
    )
}

async fn describe(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<InternetGateway>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("internet-gateway-id", request) {
        // The SDK's paginator: one request per page, stops on a repeated token.
        let page: Vec<_> = ctx
            .ec2
            .describe_internet_gateways()
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

async fn current(ctx: &Ctx<'_>, id: &str) -> Result<Option<InternetGateway>, ProviderError> {
    let request = crate::resources::common::by_id(TYPE, id);
    Ok(describe(ctx, &request).await?.into_iter().next())
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    let vpc = str_opt(p, "vpc_id")?;
    // CreateInternetGateway has no ClientToken: duplicates are prevented by ownership tags.
    let answer = create_once(ctx.settings, || async {
        ctx.ec2
            .create_internet_gateway()
            .tag_specifications(tag_spec(
                ResourceType::InternetGateway,
                &request.ownership,
                &tags,
            ))
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await?;
    let id = answer
        .internet_gateway()
        .and_then(InternetGateway::internet_gateway_id)
        .unwrap_or_default()
        .to_string();
    after_create(&id, async {
        if let Some(vpc) = vpc {
            settle(ctx.settings, &id, || attach(ctx, &id, vpc)).await?;
        }
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

async fn attach(ctx: &Ctx<'_>, id: &str, vpc: &str) -> Result<(), ProviderError> {
    ctx.ec2
        .attach_internet_gateway()
        .internet_gateway_id(id)
        .vpc_id(vpc)
        .send()
        .await
        .map_err(from_sdk)?;
    Ok(())
}

/// Detaches from every VPC; waits while public addresses still depend on the gateway.
async fn detach_all(
    ctx: &Ctx<'_>,
    igw: &InternetGateway,
    keep: Option<&str>,
) -> Result<(), ProviderError> {
    let id = igw.internet_gateway_id().unwrap_or_default();
    for vpc in attached_vpcs(igw) {
        if Some(vpc.as_str()) == keep {
            continue;
        }
        delete_when_free(ctx.settings, || async {
            ctx.ec2
                .detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(&vpc)
                .send()
                .await
                .map(|_| ())
                .map_err(from_sdk)
        })
        .await?;
    }
    Ok(())
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    check_known(&request.new, FIELDS, TYPE)?;
    let igw = existing(ctx.settings, TYPE, &request.id, || {
        current(ctx, &request.id)
    })
    .await?;
    let wanted = str_opt(&request.new, "vpc_id")?;
    detach_all(ctx, &igw, wanted).await?;
    if let Some(vpc) = wanted {
        if !attached_vpcs(&igw).iter().any(|v| v == vpc) {
            attach(ctx, &request.id, vpc).await?;
        }
    }
    sync_tags(ctx, &request.id, &request.old, &request.new).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    let Some(igw) = current(ctx, &request.id).await? else {
        return Ok(());
    };
    detach_all(ctx, &igw, None).await?;
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .delete_internet_gateway()
            .internet_gateway_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}
