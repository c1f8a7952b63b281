//! `aws:ec2:NatGateway`: a NAT gateway in a (public) subnet, with an Elastic IP for a public
//! gateway. Nothing but its tags changes in place. CreateNatGateway takes a client token; the
//! create waits until the gateway is `available` ("a NAT gateway … is in the `pending` state …
//! When the NAT gateway is ready, its state is `available`"; a `failed` gateway says why,
//! "NAT gateway basics" in the Amazon VPC user guide), and the delete until it is `deleted`.
//! Gateways `deleting`, `deleted` or `failed` are on their way out and read as absent (AWS
//! keeps showing them for a while, and deletes failed ones by itself).

use super::{
    after_create, dedup, delete_and_wait, observed, put, queries, read_back, settle,
    update_tags_only, wait_for, Ctx,
};
use crate::error::{from_sdk, invalid};
use crate::ownership::{client_token, tag_spec, user_tags};
use crate::props::{check_known, str_opt, str_req};
use aws_sdk_ec2::types::{ConnectivityType, NatGateway, NatGatewayState, ResourceType};
use terrace_provider::{
    CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed, Properties,
    ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:NatGateway";

crate::resources::resource_type!(NatGatewayDef: ec2);
const FIELDS: &[&str] = &["subnet_id", "allocation_id", "connectivity_type", "tags"];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            FieldSchema::input("subnet_id", String)
                .required()
                .force_new(),
            // The Elastic IP of a public gateway (required for `public`). An address is
            // associated with one gateway at a time (`Resource.AlreadyAssociated`), so a
            // replacement keeping it is made after the old gateway is deleted.
            FieldSchema::input("allocation_id", String)
                .force_new()
                .unique_within(&[]),
            // `public` (default) or `private`.
            FieldSchema::input("connectivity_type", String).force_new(),
            FieldSchema::computed("public_ip", String),
            FieldSchema::computed("private_ip", String),
            FieldSchema::computed("network_interface_id", String),
            FieldSchema::computed("vpc_id", String),
            FieldSchema::computed("state", String),
        ],
    )
}

/// True while the gateway serves or is being made; false once it is going or gone.
fn alive(gateway: &NatGateway) -> bool {
    !matches!(
        gateway.state(),
        Some(NatGatewayState::Deleting | NatGatewayState::Deleted | NatGatewayState::Failed)
    )
}

fn observe(gateway: &NatGateway) -> Observed {
    let address = gateway.nat_gateway_addresses().first();
    let mut props = Properties::new();
    put(&mut props, "subnet_id", gateway.subnet_id());
    put(
        &mut props,
        "allocation_id",
        address.and_then(|a| a.allocation_id()),
    );
    put(
        &mut props,
        "connectivity_type",
        gateway.connectivity_type().map(|c| c.as_str()),
    );
    let mut attrs = Properties::new();
    put(&mut attrs, "public_ip", address.and_then(|a| a.public_ip()));
    put(
        &mut attrs,
        "private_ip",
        address.and_then(|a| a.private_ip()),
    );
    put(
        &mut attrs,
        "network_interface_id",
        address.and_then(|a| a.network_interface_id()),
    );
    put(&mut attrs, "vpc_id", gateway.vpc_id());
    put(&mut attrs, "state", gateway.state().map(|s| s.as_str()));
    observed(
        gateway.nat_gateway_id().unwrap_or_default(),
        props,
        attrs,
        gateway.tags(),
    )
}

async fn describe(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<NatGateway>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("nat-gateway-id", request) {
        // The SDK's paginator: one request per page, stops on a repeated token.
        let page: Vec<_> = ctx
            .ec2
            .describe_nat_gateways()
            .set_filter(Some(filters))
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
    let found = describe(ctx, request).await?;
    Ok(dedup(
        found.iter().filter(|g| alive(g)).map(observe).collect(),
    ))
}

async fn current(ctx: &Ctx<'_>, id: &str) -> Result<Option<NatGateway>, ProviderError> {
    let request = crate::resources::common::by_id(TYPE, id);
    Ok(describe(ctx, &request).await?.into_iter().next())
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    let answer = ctx
        .ec2
        .create_nat_gateway()
        .subnet_id(str_req(p, "subnet_id")?)
        .set_allocation_id(str_opt(p, "allocation_id")?.map(str::to_string))
        .set_connectivity_type(str_opt(p, "connectivity_type")?.map(ConnectivityType::from))
        .client_token(client_token(&request.idempotency_key))
        .tag_specifications(tag_spec(
            ResourceType::Natgateway,
            &request.ownership,
            &tags,
        ))
        .send()
        .await
        .map_err(from_sdk)?;
    let id = answer
        .nat_gateway()
        .and_then(NatGateway::nat_gateway_id)
        .ok_or_else(|| invalid("CreateNatGateway answered no id"))?
        .to_string();
    after_create(&id, async {
        settle(ctx.settings, &id, || wait_available(ctx, &id)).await?;
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

/// Waits until the gateway is `available`; a `failed` one is an error with AWS's reason.
async fn wait_available(ctx: &Ctx<'_>, id: &str) -> Result<(), ProviderError> {
    wait_for(
        ctx.settings,
        &format!("NAT gateway {id} available"),
        || async {
            let Some(gateway) = current(ctx, id).await? else {
                return Err(crate::error::not_found(TYPE, id));
            };
            match gateway.state() {
                Some(NatGatewayState::Available) => Ok(Some(())),
                Some(NatGatewayState::Failed) => Err(ProviderError::new(
                    ErrorKind::Other,
                    gateway.failure_code().unwrap_or("NatGatewayFailed"),
                    format!(
                        "NAT gateway {id} failed: {}",
                        gateway.failure_message().unwrap_or("no reason given")
                    ),
                )),
                _ => Ok(None),
            }
        },
    )
    .await
}

/// Only the tags change in place.
pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    update_tags_only(ctx, request, FIELDS, TYPE, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    let id = request.id.as_str();
    // Its Elastic IP and subnet are free only once the gateway is `deleted`.
    delete_and_wait(
        ctx.settings,
        &format!("NAT gateway {id}"),
        || current(ctx, id),
        |g| g.state() == Some(&NatGatewayState::Deleted),
        || async {
            ctx.ec2
                .delete_nat_gateway()
                .nat_gateway_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(from_sdk)
        },
    )
    .await
}
