//! `aws:elbv2:LoadBalancer`: an application or network load balancer. Subnets and security
//! groups are updated in place (SetSubnets, SetSecurityGroups); name, type and scheme force a
//! replacement. Create waits until the load balancer is `active`, delete until it is gone.

use super::{
    after_create, by_id, candidates, create_once, create_tags, no_retry, observed, put, sync_tags,
    tags_of, wait_for, Ctx,
};
use crate::error::{from_sdk, from_sdk_unretried, invalid};
use crate::props::{changed, check_known, str_opt, strings};
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
};
use serde_json::json;
use terrace_provider::{
    CreateRequest, DeleteRequest, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:elbv2:LoadBalancer";

crate::resources::resource_type!(LoadBalancerDef: elbv2, normalize: super::normalize);
const FIELDS: &[&str] = &[
    "name",
    "name_prefix",
    "type",
    "scheme",
    "subnet_ids",
    "security_group_ids",
    "tags",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            // Load balancer names are unique in a region (`DuplicateLoadBalancerName`); see
            // `name_prefix` on the target group.
            FieldSchema::input("name", String)
                .force_new()
                .unique_within(&[]),
            FieldSchema::input("name_prefix", String).force_new(),
            FieldSchema::input("type", String).force_new(),
            FieldSchema::input("scheme", String).force_new(),
            // A load balancer cannot move to subnets of another VPC, and a Network Load
            // Balancer cannot leave an Availability Zone it uses: a change replaces it.
            FieldSchema::input("subnet_ids", List)
                .unordered()
                .required()
                .force_new(),
            FieldSchema::input("security_group_ids", List).unordered(),
            FieldSchema::computed("dns_name", String),
            FieldSchema::computed("canonical_hosted_zone_id", String),
            FieldSchema::computed("vpc_id", String),
            FieldSchema::computed("state", String),
        ],
    )
}

fn properties(lb: &LoadBalancer) -> (Properties, Properties) {
    let mut subnets: Vec<&str> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect();
    subnets.sort();
    let mut groups: Vec<&str> = lb.security_groups().iter().map(String::as_str).collect();
    groups.sort();
    let mut props = Properties::new();
    put(&mut props, "name", lb.load_balancer_name());
    put(
        &mut props,
        "name_prefix",
        lb.load_balancer_name().and_then(super::prefix_of),
    );
    put(&mut props, "type", lb.r#type().map(|t| t.as_str()));
    put(&mut props, "scheme", lb.scheme().map(|s| s.as_str()));
    props.insert("subnet_ids".into(), json!(subnets));
    props.insert("security_group_ids".into(), json!(groups));
    let mut attrs = Properties::new();
    put(&mut attrs, "dns_name", lb.dns_name());
    put(
        &mut attrs,
        "canonical_hosted_zone_id",
        lb.canonical_hosted_zone_id(),
    );
    put(&mut attrs, "vpc_id", lb.vpc_id());
    put(
        &mut attrs,
        "state",
        lb.state().and_then(|s| s.code()).map(|c| c.as_str()),
    );
    (props, attrs)
}

/// Every load balancer of the region (one call per page of 400).
pub async fn list(ctx: &Ctx<'_>) -> Result<Vec<LoadBalancer>, ProviderError> {
    let mut found = Vec::new();
    let mut marker = None;
    loop {
        let page = ctx
            .elb
            .describe_load_balancers()
            .page_size(400)
            .set_marker(marker)
            .send()
            .await
            .map_err(from_sdk)?;
        found.extend(page.load_balancers().iter().cloned());
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(found);
        }
    }
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let lbs = list(ctx).await?;
    let arns = candidates(
        request,
        lbs.iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string)),
    );
    let tags = tags_of(ctx, &arns).await?;
    Ok(lbs
        .iter()
        .filter_map(|l| {
            let arn = l.load_balancer_arn()?;
            let (props, attrs) = properties(l);
            observed(
                request,
                arn,
                props,
                attrs,
                tags.get(arn).map(Vec::as_slice).unwrap_or_default(),
            )
        })
        .collect())
}

/// Waits until the load balancer is active.
async fn wait_active(ctx: &Ctx<'_>, arn: &str) -> Result<Observed, ProviderError> {
    wait_for(
        ctx.settings,
        &format!("load balancer {arn} to be active"),
        || async {
            let found = read(ctx, &by_id(TYPE, arn)).await?.into_iter().next();
            Ok(found.filter(|o| {
                o.attributes.get("state") == Some(&json!(LoadBalancerStateEnum::Active.as_str()))
            }))
        },
    )
    .await
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let groups = strings(p, "security_group_ids")?;
    let answer = create_once(ctx.settings, || async {
        ctx.elb
            .create_load_balancer()
            .name(super::name_of(p, &request.idempotency_key)?)
            .set_type(str_opt(p, "type")?.map(LoadBalancerTypeEnum::from))
            .set_scheme(str_opt(p, "scheme")?.map(LoadBalancerSchemeEnum::from))
            .set_subnets(Some(strings(p, "subnet_ids")?))
            .set_security_groups((!groups.is_empty()).then_some(groups.clone()))
            .set_tags(Some(create_tags(&request.ownership, p)?))
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await?;
    let arn = answer
        .load_balancers()
        .first()
        .and_then(LoadBalancer::load_balancer_arn)
        .ok_or_else(|| invalid("CreateLoadBalancer answered no load balancer"))?
        .to_string();
    after_create(&arn, wait_active(ctx, &arn)).await
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let (old, new) = (&request.old, &request.new);
    check_known(new, FIELDS, TYPE)?;
    if changed(old, new, "subnet_ids") {
        ctx.elb
            .set_subnets()
            .load_balancer_arn(&request.id)
            .set_subnets(Some(strings(new, "subnet_ids")?))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    if changed(old, new, "security_group_ids") {
        ctx.elb
            .set_security_groups()
            .load_balancer_arn(&request.id)
            .set_security_groups(Some(strings(new, "security_group_ids")?))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    sync_tags(ctx, &request.id, old, new).await?;
    wait_active(ctx, &request.id).await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    match ctx
        .elb
        .delete_load_balancer()
        .load_balancer_arn(&request.id)
        .send()
        .await
        .map_err(from_sdk)
    {
        Err(e) if e.kind != terrace_provider::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    wait_for(
        ctx.settings,
        &format!("load balancer {} to be gone", request.id),
        || async {
            let left = read(ctx, &by_id(TYPE, &request.id)).await?;
            Ok(left.is_empty().then_some(()))
        },
    )
    .await
}
