//! `aws:ec2:Vpc`: a VPC. DNS attributes are set and updated in place; the CIDR block and the
//! tenancy force a replacement. DescribeVpcs does not return the DNS attributes, so a read asks
//! DescribeVpcAttribute for each (two calls per VPC, as terraform-provider-aws's read does):
//! an import reads them, and drift in them is seen and repaired.

use super::{
    after_create, create_once, dedup, delete_when_free, no_retry, observed, put, queries,
    read_back, settle, sync_tags, Ctx,
};
use crate::error::{from_sdk, from_sdk_unretried};
use crate::ownership::{tag_spec, user_tags};
use crate::props::{bool_opt, changed, check_known, str_opt, str_req};
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Tenancy, Vpc, VpcAttributeName};
use terrace_provider::ErrorKind;
use terrace_provider::{
    CreateRequest, DeleteRequest, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:Vpc";

crate::resources::resource_type!(VpcDef: ec2);
const FIELDS: &[&str] = &[
    "cidr_block",
    "instance_tenancy",
    "enable_dns_support",
    "enable_dns_hostnames",
    "tags",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            FieldSchema::input("cidr_block", Cidr)
                .required()
                .force_new(),
            FieldSchema::input("instance_tenancy", String).force_new(),
            FieldSchema::input("enable_dns_support", Bool),
            FieldSchema::input("enable_dns_hostnames", Bool),
            FieldSchema::computed("owner_id", String),
            FieldSchema::computed("state", String),
            FieldSchema::computed("dhcp_options_id", String),
            FieldSchema::computed("is_default", Bool),
        ],
    )
}

fn observe(vpc: &Vpc) -> Observed {
    let mut props = Properties::new();
    put(&mut props, "cidr_block", vpc.cidr_block());
    put(
        &mut props,
        "instance_tenancy",
        vpc.instance_tenancy().map(|t| t.as_str()),
    );
    let mut attrs = Properties::new();
    put(&mut attrs, "owner_id", vpc.owner_id());
    put(&mut attrs, "state", vpc.state().map(|s| s.as_str()));
    put(&mut attrs, "dhcp_options_id", vpc.dhcp_options_id());
    put(&mut attrs, "is_default", vpc.is_default());
    observed(vpc.vpc_id().unwrap_or_default(), props, attrs, vpc.tags())
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("vpc-id", request) {
        // The SDK's paginator: one request per page, stops on a repeated token.
        let page: Vec<_> = ctx
            .ec2
            .describe_vpcs()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(from_sdk)?;
        found.extend(page.iter().map(observe));
    }
    super::with_details(dedup(found), |id| async move {
        match dns_attributes(ctx, &id).await {
            Ok(values) => Ok(Some(values)),
            // Deleted since it was listed: it is gone.
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
}

/// `enable_dns_support` and `enable_dns_hostnames` of one VPC (DescribeVpcAttribute takes one
/// attribute per call).
async fn dns_attributes(ctx: &Ctx<'_>, id: &str) -> Result<Properties, ProviderError> {
    let mut values = Properties::new();
    for (field, name) in [
        ("enable_dns_support", VpcAttributeName::EnableDnsSupport),
        ("enable_dns_hostnames", VpcAttributeName::EnableDnsHostnames),
    ] {
        let answer = ctx
            .ec2
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(name)
            .send()
            .await
            .map_err(from_sdk)?;
        let value = if field == "enable_dns_support" {
            answer.enable_dns_support()
        } else {
            answer.enable_dns_hostnames()
        };
        put(&mut values, field, value.and_then(|v| v.value()));
    }
    Ok(values)
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let cidr = str_req(p, "cidr_block")?;
    let tenancy = str_opt(p, "instance_tenancy")?.map(Tenancy::from);
    let tags = user_tags(p)?;
    // CreateVpc has no ClientToken: duplicates are prevented by the ownership tags (adoption).
    let answer = create_once(ctx.settings, || async {
        ctx.ec2
            .create_vpc()
            .cidr_block(cidr)
            .set_instance_tenancy(tenancy.clone())
            .tag_specifications(tag_spec(ResourceType::Vpc, &request.ownership, &tags))
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await?;
    let id = answer
        .vpc()
        .and_then(Vpc::vpc_id)
        .unwrap_or_default()
        .to_string();
    after_create(&id, async {
        let none = Properties::new();
        settle(ctx.settings, &id, || set_dns(ctx, &id, &none, p)).await?;
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

/// Sets the DNS attributes that differ between `old` and `new` (one call per attribute, as
/// ModifyVpcAttribute requires).
async fn set_dns(
    ctx: &Ctx<'_>,
    id: &str,
    old: &Properties,
    new: &Properties,
) -> Result<(), ProviderError> {
    for field in ["enable_dns_support", "enable_dns_hostnames"] {
        let Some(value) = bool_opt(new, field)? else {
            continue;
        };
        if !changed(old, new, field) {
            continue;
        }
        let attr = AttributeBooleanValue::builder().value(value).build();
        let call = ctx.ec2.modify_vpc_attribute().vpc_id(id);
        let call = if field == "enable_dns_support" {
            call.enable_dns_support(attr)
        } else {
            call.enable_dns_hostnames(attr)
        };
        call.send().await.map_err(from_sdk)?;
    }
    Ok(())
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    check_known(&request.new, FIELDS, TYPE)?;
    set_dns(ctx, &request.id, &request.old, &request.new).await?;
    sync_tags(ctx, &request.id, &request.old, &request.new).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .delete_vpc()
            .vpc_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}
