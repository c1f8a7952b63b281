//! `aws:ec2:VpnConnection`: a site-to-site VPN connection between a virtual private gateway
//! and a customer gateway, with AWS's two tunnels (the shape of Terraform's
//! `aws_vpn_connection`). Sources: EC2 API reference, CreateVpnConnection,
//! DescribeVpnConnections, VpnTunnelOptionsSpecification, VpnConnection, TunnelOption,
//! VgwTelemetry (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVpnConnection.html>).
//!
//! - AWS generates the tunnels' pre-shared keys (none is sent) and, for a tunnel whose
//!   `tunnelN_inside_cidr` is unset, its inside /30 in 169.254.0.0/16; both are read back from
//!   `Options.TunnelOptions`, in AWS's tunnel order. The keys are `sensitive` attributes: the
//!   engine seals them, and this module never puts one in a message.
//! - CreateVpnConnection takes no ClientToken: the create is sent once and found again by its
//!   ownership tags. It waits until the connection is `available` (`VpnState`: pending →
//!   available), the delete until it is `deleted` (deleting → deleted); `deleting` and
//!   `deleted` connections read as absent.
//! - Only the tags change in place.

use super::{after_create, create_once, dedup, delete_and_wait, no_retry, observed, put};
use super::{queries, update_tags_only};
use super::{read_back, wait_for, Ctx};
use crate::error::{from_sdk, from_sdk_unretried, invalid};
use crate::ownership::{tag_spec, user_tags};
use crate::props::{bool_opt, check_known, str_opt, str_req};
use aws_sdk_ec2::types::{
    GatewayType, ResourceType, TunnelOption, VgwTelemetry, VpnConnection,
    VpnConnectionOptionsSpecification, VpnState, VpnTunnelOptionsSpecification,
};
use std::net::Ipv4Addr;
use terrace_provider::{
    CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed, Properties,
    ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:VpnConnection";

crate::resources::resource_type!(VpnConnectionDef: ec2);
const FIELDS: &[&str] = &[
    "customer_gateway_id",
    "vpn_gateway_id",
    "static_routes_only",
    "tunnel1_inside_cidr",
    "tunnel2_inside_cidr",
    "tags",
];
/// The tunnels of a connection, as AWS numbers them.
const TUNNELS: [usize; 2] = [1, 2];

/// Inputs: `customer_gateway_id`, `vpn_gateway_id` (required), `static_routes_only` (false:
/// BGP), `tunnel1_inside_cidr`, `tunnel2_inside_cidr` (a /30 in 169.254.0.0/16, AWS picks one
/// when unset), all force new; `tags` change in place.
///
/// Attributes: `state`, and for N in 1, 2: `tunnelN_address` (AWS's outside address),
/// `tunnelN_vgw_inside_address` (first host of the inside /30: AWS's side of the BGP session),
/// `tunnelN_cgw_inside_address` (second host: the customer side), `tunnelN_preshared_key`
/// (sensitive) and `tunnelN_status` (`UP` or `DOWN`, from VgwTelemetry).
pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    let mut fields = vec![
        FieldSchema::input("customer_gateway_id", String)
            .required()
            .force_new(),
        FieldSchema::input("vpn_gateway_id", String)
            .required()
            .force_new(),
        FieldSchema::input("static_routes_only", Bool).force_new(),
        FieldSchema::computed("state", String),
    ];
    for n in TUNNELS {
        fields.extend([
            FieldSchema::input(&format!("tunnel{n}_inside_cidr"), Cidr).force_new(),
            FieldSchema::computed(&format!("tunnel{n}_address"), String),
            FieldSchema::computed(&format!("tunnel{n}_vgw_inside_address"), String),
            FieldSchema::computed(&format!("tunnel{n}_cgw_inside_address"), String),
            FieldSchema::computed(&format!("tunnel{n}_preshared_key"), String).sensitive(),
            FieldSchema::computed(&format!("tunnel{n}_status"), String),
        ]);
    }
    super::schema(TYPE, fields)
}

/// The `offset`-th address of a /30 given as `a.b.c.d/30`.
fn host(cidr: &str, offset: u32) -> Option<String> {
    let network: Ipv4Addr = cidr.split_once('/')?.0.parse().ok()?;
    Some(Ipv4Addr::from(u32::from(network) + offset).to_string())
}

/// The status VgwTelemetry reports for the tunnel with this outside address.
fn status<'a>(telemetry: &'a [VgwTelemetry], tunnel: &TunnelOption) -> Option<&'a str> {
    let address = tunnel.outside_ip_address()?;
    telemetry
        .iter()
        .find(|t| t.outside_ip_address() == Some(address))
        .and_then(|t| t.status())
        .map(|s| s.as_str())
}

fn observe(connection: &VpnConnection) -> Observed {
    let options = connection.options();
    let mut props = Properties::new();
    put(
        &mut props,
        "customer_gateway_id",
        connection.customer_gateway_id(),
    );
    put(&mut props, "vpn_gateway_id", connection.vpn_gateway_id());
    put(
        &mut props,
        "static_routes_only",
        options.map(|o| o.static_routes_only().unwrap_or(false)),
    );
    let mut attrs = Properties::new();
    put(&mut attrs, "state", connection.state().map(|s| s.as_str()));
    let tunnels = options.map(|o| o.tunnel_options()).unwrap_or_default();
    for (n, tunnel) in TUNNELS.iter().zip(tunnels) {
        let cidr = tunnel.tunnel_inside_cidr();
        put(&mut props, &format!("tunnel{n}_inside_cidr"), cidr);
        put(
            &mut attrs,
            &format!("tunnel{n}_address"),
            tunnel.outside_ip_address(),
        );
        put(
            &mut attrs,
            &format!("tunnel{n}_vgw_inside_address"),
            cidr.and_then(|c| host(c, 1)),
        );
        put(
            &mut attrs,
            &format!("tunnel{n}_cgw_inside_address"),
            cidr.and_then(|c| host(c, 2)),
        );
        put(
            &mut attrs,
            &format!("tunnel{n}_preshared_key"),
            tunnel.pre_shared_key(),
        );
        put(
            &mut attrs,
            &format!("tunnel{n}_status"),
            status(connection.vgw_telemetry(), tunnel),
        );
    }
    observed(
        connection.vpn_connection_id().unwrap_or_default(),
        props,
        attrs,
        connection.tags(),
    )
}

/// An SDK error without the answer's text when the answer could not be read: a VPN
/// connection's answer holds its tunnels' pre-shared keys.
fn without_answer(mut error: ProviderError) -> ProviderError {
    if matches!(error.code.as_str(), "ResponseError" | "SdkError") {
        error.message = "the answer could not be read (its text is left out: it holds the tunnels' pre-shared keys)".into();
    }
    error
}

/// Every connection the request selects, whatever its state.
async fn describe(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<VpnConnection>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("vpn-connection-id", request) {
        let answer = ctx
            .ec2
            .describe_vpn_connections()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(|e| without_answer(from_sdk(e)))?;
        found.extend(answer.vpn_connections().iter().cloned());
    }
    Ok(found)
}

/// True once the connection is on its way out.
fn gone(connection: &VpnConnection) -> bool {
    matches!(
        connection.state(),
        Some(VpnState::Deleting | VpnState::Deleted)
    )
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let found = describe(ctx, request).await?;
    Ok(dedup(
        found.iter().filter(|c| !gone(c)).map(observe).collect(),
    ))
}

async fn current(ctx: &Ctx<'_>, id: &str) -> Result<Option<VpnConnection>, ProviderError> {
    let request = crate::resources::common::by_id(TYPE, id);
    Ok(describe(ctx, &request).await?.into_iter().next())
}

/// The connection options to send: routing, and the inside blocks asked for (AWS generates the
/// pre-shared keys, and the blocks left unset).
fn options(p: &Properties) -> Result<VpnConnectionOptionsSpecification, ProviderError> {
    let mut tunnels = Vec::new();
    for n in TUNNELS {
        let cidr = str_opt(p, &format!("tunnel{n}_inside_cidr"))?;
        tunnels.push(
            VpnTunnelOptionsSpecification::builder()
                .set_tunnel_inside_cidr(cidr.map(str::to_string))
                .build(),
        );
    }
    let any = tunnels.iter().any(|t| t.tunnel_inside_cidr().is_some());
    Ok(VpnConnectionOptionsSpecification::builder()
        .static_routes_only(bool_opt(p, "static_routes_only")?.unwrap_or(false))
        .set_tunnel_options(any.then_some(tunnels))
        .build())
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    let options = options(p)?;
    let answer = create_once(ctx.settings, || async {
        ctx.ec2
            .create_vpn_connection()
            .r#type(GatewayType::Ipsec1.as_str())
            .customer_gateway_id(str_req(p, "customer_gateway_id")?)
            .vpn_gateway_id(str_req(p, "vpn_gateway_id")?)
            .options(options.clone())
            .tag_specifications(tag_spec(
                ResourceType::VpnConnection,
                &request.ownership,
                &tags,
            ))
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(|e| without_answer(from_sdk_unretried(e)))
    })
    .await?;
    let id = answer
        .vpn_connection()
        .and_then(VpnConnection::vpn_connection_id)
        .ok_or_else(|| invalid("CreateVpnConnection answered no connection"))?
        .to_string();
    after_create(&id, async {
        wait_available(ctx, &id).await?;
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

/// Waits until the connection is `available` (it may not be listed yet at first: eventual
/// consistency); one that is going away instead is an error.
async fn wait_available(ctx: &Ctx<'_>, id: &str) -> Result<(), ProviderError> {
    wait_for(
        ctx.settings,
        &format!("VPN connection {id} available"),
        || async {
            let Some(connection) = current(ctx, id).await? else {
                return Ok(None);
            };
            match connection.state() {
                Some(VpnState::Available) => Ok(Some(())),
                Some(VpnState::Deleting | VpnState::Deleted) => Err(ProviderError::new(
                    ErrorKind::Other,
                    "VpnConnectionDeleted",
                    format!("VPN connection {id} is being deleted instead of becoming available"),
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
    // The gateways are free to go only once the connection is `deleted`.
    delete_and_wait(
        ctx.settings,
        &format!("VPN connection {id}"),
        || current(ctx, id),
        |c| c.state() == Some(&VpnState::Deleted),
        || async {
            ctx.ec2
                .delete_vpn_connection()
                .vpn_connection_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(from_sdk)
        },
    )
    .await
}
