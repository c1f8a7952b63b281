//! `aws:ec2:Eip`: an Elastic IP address for use in a VPC (a NAT gateway's public address).
//! Nothing is changed in place but its tags; the address is the cloud's choice. AllocateAddress
//! has no client token: a create whose answer was lost is resolved by the ownership tags,
//! written at allocation (`TagSpecifications`, resource type `elastic-ip`). Release waits while
//! the address is still associated (`InvalidIPAddress.InUse`: "You must disassociate the
//! Elastic IP address before you can release it", ReleaseAddress in the EC2 API reference).

use super::{
    after_create, create_once, dedup, delete_when_free, no_retry, observed, put, queries,
    read_back, update_tags_only, Ctx,
};
use crate::error::{from_sdk, from_sdk_unretried};
use crate::ownership::{tag_spec, user_tags};
use crate::props::{check_known, str_opt};
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use terrace_provider::{
    CreateRequest, DeleteRequest, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:Eip";

crate::resources::resource_type!(EipDef: ec2);
const FIELDS: &[&str] = &["domain", "tags"];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            // `vpc` (the default here) or `standard` (EC2-Classic, retired).
            FieldSchema::input("domain", String).force_new(),
            FieldSchema::computed("public_ip", String),
            FieldSchema::computed("association_id", String),
            FieldSchema::computed("network_interface_id", String),
        ],
    )
}

fn observe(address: &Address) -> Observed {
    let mut props = Properties::new();
    put(&mut props, "domain", address.domain().map(|d| d.as_str()));
    let mut attrs = Properties::new();
    put(&mut attrs, "public_ip", address.public_ip());
    put(&mut attrs, "association_id", address.association_id());
    put(
        &mut attrs,
        "network_interface_id",
        address.network_interface_id(),
    );
    observed(
        address.allocation_id().unwrap_or_default(),
        props,
        attrs,
        address.tags(),
    )
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("allocation-id", request) {
        // DescribeAddresses is not paginated: one call answers every match.
        let answer = ctx
            .ec2
            .describe_addresses()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(from_sdk)?;
        found.extend(answer.addresses().iter().map(observe));
    }
    Ok(dedup(found))
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    let domain = DomainType::from(str_opt(p, "domain")?.unwrap_or("vpc"));
    let answer = create_once(ctx.settings, || async {
        ctx.ec2
            .allocate_address()
            .domain(domain.clone())
            .tag_specifications(tag_spec(ResourceType::ElasticIp, &request.ownership, &tags))
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await?;
    let id = answer.allocation_id().unwrap_or_default().to_string();
    after_create(
        &id,
        read_back(
            ctx.settings,
            TYPE,
            &id,
            |r| async move { read(ctx, &r).await },
        ),
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
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .release_address()
            .allocation_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}
