//! The AWS side of a site-to-site VPN (the replica mesh's HA VPN to a GCP replica):
//! `aws:ec2:VpnGateway`, a virtual private gateway attached to one VPC, and
//! `aws:ec2:CustomerGateway`, the peer's address and BGP ASN. The connection between them, with
//! its tunnels, is [`super::vpn_connection`].
//!
//! A gateway's attachment moves in place (DetachVpnGateway, AttachVpnGateway) and is waited for
//! (`attached`, `detached`: "VpcAttachment" states of the EC2 API reference); a delete detaches
//! first. Neither CreateVpnGateway nor CreateCustomerGateway takes a ClientToken, so creates
//! are sent once and found again by their ownership tags. Gateways `deleting` or `deleted` read
//! as absent (DescribeVpnGateways and DescribeCustomerGateways list them for a while).

use super::{
    after_create, create_once, dedup, delete_when_free, existing, no_retry, observed, put, queries,
    read_back, settle, sync_tags, update_tags_only, wait_for, Ctx,
};
use crate::error::{from_sdk, from_sdk_unretried, invalid};
use crate::ownership::{tag_spec, user_tags};
use crate::props::{check_known, int_opt, str_opt, str_req};
use aws_sdk_ec2::types::{CustomerGateway, GatewayType, ResourceType, VpnGateway};
use terrace_provider::{
    CreateRequest, DeleteRequest, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub const GATEWAY_TYPE: &str = "aws:ec2:VpnGateway";
pub const CUSTOMER_TYPE: &str = "aws:ec2:CustomerGateway";

crate::resources::resource_type!(VpnGatewayDef: ec2 {
    type_name: GATEWAY_TYPE, schema: gateway_schema, read: read_gateway,
    create: create_gateway, update: update_gateway, delete: delete_gateway
});
crate::resources::resource_type!(CustomerGatewayDef: ec2 {
    type_name: CUSTOMER_TYPE, schema: customer_schema, read: read_customer,
    create: create_customer, update: update_customer, delete: delete_customer
});
const GATEWAY_FIELDS: &[&str] = &["vpc_id", "amazon_side_asn", "tags"];
const CUSTOMER_FIELDS: &[&str] = &["bgp_asn", "ip_address", "tags"];
const GONE: &[&str] = &["deleting", "deleted"];

/// `vpc_id` (the attached VPC, moved in place), `amazon_side_asn` (force new; Amazon's default
/// 64512 when unset). Attributes: `state`, `attachment_state`.
pub fn gateway_schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        GATEWAY_TYPE,
        vec![
            FieldSchema::input("vpc_id", String),
            FieldSchema::input("amazon_side_asn", Number).force_new(),
            FieldSchema::computed("state", String),
            FieldSchema::computed("attachment_state", String),
        ],
    )
}

/// `bgp_asn` and `ip_address` (the peer gateway's public address), both force new; the type
/// is `ipsec.1`. Attribute: `state`.
pub fn customer_schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        CUSTOMER_TYPE,
        vec![
            FieldSchema::input("bgp_asn", Number).required().force_new(),
            FieldSchema::input("ip_address", String)
                .required()
                .force_new(),
            FieldSchema::computed("state", String),
        ],
    )
}

/// The VPC the gateway is attached (or attaching) to.
fn attached(vgw: &VpnGateway) -> Option<(&str, &str)> {
    vgw.vpc_attachments().iter().find_map(|a| {
        let state = a.state().map(|s| s.as_str()).unwrap_or_default();
        (!matches!(state, "detached" | "detaching")).then_some((a.vpc_id()?, state))
    })
}

fn observe_gateway(vgw: &VpnGateway) -> Observed {
    let mut props = Properties::new();
    // Null when detached, never left out (see internet_gateway.rs: an adopted gateway whose
    // attach never ran must read as unattached).
    props.insert(
        "vpc_id".into(),
        attached(vgw).map_or(serde_json::Value::Null, |a| a.0.into()),
    );
    put(&mut props, "amazon_side_asn", vgw.amazon_side_asn());
    let mut attrs = Properties::new();
    put(&mut attrs, "state", vgw.state().map(|s| s.as_str()));
    put(&mut attrs, "attachment_state", attached(vgw).map(|a| a.1));
    observed(
        vgw.vpn_gateway_id().unwrap_or_default(),
        props,
        attrs,
        vgw.tags(),
    )
}

async fn describe_gateways(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<VpnGateway>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("vpn-gateway-id", request) {
        let answer = ctx
            .ec2
            .describe_vpn_gateways()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(from_sdk)?;
        found.extend(answer.vpn_gateways().iter().cloned());
    }
    Ok(found
        .into_iter()
        .filter(|g| !GONE.contains(&g.state().map(|s| s.as_str()).unwrap_or_default()))
        .collect())
}

pub async fn read_gateway(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<Observed>, ProviderError> {
    Ok(dedup(
        describe_gateways(ctx, request)
            .await?
            .iter()
            .map(observe_gateway)
            .collect(),
    ))
}

async fn current_gateway(ctx: &Ctx<'_>, id: &str) -> Result<Option<VpnGateway>, ProviderError> {
    let request = crate::resources::common::by_id(GATEWAY_TYPE, id);
    Ok(describe_gateways(ctx, &request).await?.into_iter().next())
}

pub async fn create_gateway(
    ctx: &Ctx<'_>,
    request: &CreateRequest,
) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, GATEWAY_FIELDS, GATEWAY_TYPE)?;
    let tags = user_tags(p)?;
    let asn = p.get("amazon_side_asn").and_then(|v| v.as_i64());
    let answer = create_once(ctx.settings, || async {
        ctx.ec2
            .create_vpn_gateway()
            .r#type(GatewayType::Ipsec1)
            .set_amazon_side_asn(asn)
            .tag_specifications(tag_spec(
                ResourceType::VpnGateway,
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
        .vpn_gateway()
        .and_then(VpnGateway::vpn_gateway_id)
        .ok_or_else(|| invalid("CreateVpnGateway answered no gateway"))?
        .to_string();
    after_create(&id, async {
        if let Some(vpc) = str_opt(p, "vpc_id")? {
            settle(ctx.settings, &id, || attach(ctx, &id, vpc)).await?;
        }
        read_back(ctx.settings, GATEWAY_TYPE, &id, |r| async move {
            read_gateway(ctx, &r).await
        })
        .await
    })
    .await
}

/// Attaches and waits until the attachment is `attached`.
async fn attach(ctx: &Ctx<'_>, id: &str, vpc: &str) -> Result<(), ProviderError> {
    ctx.ec2
        .attach_vpn_gateway()
        .vpn_gateway_id(id)
        .vpc_id(vpc)
        .send()
        .await
        .map_err(from_sdk)?;
    wait_for(ctx.settings, &format!("{id} attached to {vpc}"), || async {
        let gateway = current_gateway(ctx, id).await?;
        Ok(gateway
            .as_ref()
            .and_then(attached)
            .filter(|(v, state)| *v == vpc && *state == "attached")
            .map(|_| ()))
    })
    .await
}

/// Detaches from `vpc` and waits until the attachment is gone.
async fn detach(ctx: &Ctx<'_>, id: &str, vpc: &str) -> Result<(), ProviderError> {
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .detach_vpn_gateway()
            .vpn_gateway_id(id)
            .vpc_id(vpc)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await?;
    wait_for(
        ctx.settings,
        &format!("{id} detached from {vpc}"),
        || async {
            let gateway = current_gateway(ctx, id).await?;
            Ok(gateway
                .as_ref()
                .is_none_or(|g| attached(g).is_none_or(|(v, _)| v != vpc))
                .then_some(()))
        },
    )
    .await
}

pub async fn update_gateway(
    ctx: &Ctx<'_>,
    request: &UpdateRequest,
) -> Result<Observed, ProviderError> {
    check_known(&request.new, GATEWAY_FIELDS, GATEWAY_TYPE)?;
    let gateway = existing(ctx.settings, GATEWAY_TYPE, &request.id, || {
        current_gateway(ctx, &request.id)
    })
    .await?;
    let wanted = str_opt(&request.new, "vpc_id")?;
    let now = attached(&gateway).map(|a| a.0.to_string());
    if now.as_deref() != wanted {
        if let Some(old) = &now {
            detach(ctx, &request.id, old).await?;
        }
        if let Some(vpc) = wanted {
            attach(ctx, &request.id, vpc).await?;
        }
    }
    sync_tags(ctx, &request.id, &request.old, &request.new).await?;
    read_back(ctx.settings, GATEWAY_TYPE, &request.id, |r| async move {
        read_gateway(ctx, &r).await
    })
    .await
}

pub async fn delete_gateway(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    let Some(gateway) = current_gateway(ctx, &request.id).await? else {
        return Ok(());
    };
    if let Some((vpc, _)) = attached(&gateway) {
        detach(ctx, &request.id, vpc).await?;
    }
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .delete_vpn_gateway()
            .vpn_gateway_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}

fn observe_customer(cgw: &CustomerGateway) -> Observed {
    let mut props = Properties::new();
    put(
        &mut props,
        "bgp_asn",
        cgw.bgp_asn().and_then(|a| a.parse::<i64>().ok()),
    );
    put(&mut props, "ip_address", cgw.ip_address());
    let mut attrs = Properties::new();
    put(&mut attrs, "state", cgw.state());
    observed(
        cgw.customer_gateway_id().unwrap_or_default(),
        props,
        attrs,
        cgw.tags(),
    )
}

async fn describe_customers(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<CustomerGateway>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("customer-gateway-id", request) {
        let answer = ctx
            .ec2
            .describe_customer_gateways()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(from_sdk)?;
        found.extend(answer.customer_gateways().iter().cloned());
    }
    Ok(found
        .into_iter()
        .filter(|g| !GONE.contains(&g.state().unwrap_or_default()))
        .collect())
}

pub async fn read_customer(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<Observed>, ProviderError> {
    Ok(dedup(
        describe_customers(ctx, request)
            .await?
            .iter()
            .map(observe_customer)
            .collect(),
    ))
}

pub async fn create_customer(
    ctx: &Ctx<'_>,
    request: &CreateRequest,
) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, CUSTOMER_FIELDS, CUSTOMER_TYPE)?;
    let tags = user_tags(p)?;
    let asn = int_opt(p, "bgp_asn")?.ok_or_else(|| invalid("bgp_asn is required"))?;
    let address = str_req(p, "ip_address")?;
    let answer = create_once(ctx.settings, || async {
        ctx.ec2
            .create_customer_gateway()
            .r#type(GatewayType::Ipsec1)
            .bgp_asn(asn)
            .ip_address(address)
            .tag_specifications(tag_spec(
                ResourceType::CustomerGateway,
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
        .customer_gateway()
        .and_then(CustomerGateway::customer_gateway_id)
        .ok_or_else(|| invalid("CreateCustomerGateway answered no gateway"))?
        .to_string();
    after_create(&id, async {
        read_back(ctx.settings, CUSTOMER_TYPE, &id, |r| async move {
            read_customer(ctx, &r).await
        })
        .await
    })
    .await
}

/// Only the tags change in place.
pub async fn update_customer(
    ctx: &Ctx<'_>,
    request: &UpdateRequest,
) -> Result<Observed, ProviderError> {
    update_tags_only(
        ctx,
        request,
        CUSTOMER_FIELDS,
        CUSTOMER_TYPE,
        |r| async move { read_customer(ctx, &r).await },
    )
    .await
}

pub async fn delete_customer(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .delete_customer_gateway()
            .customer_gateway_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}
