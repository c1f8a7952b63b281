//! `aws:elbv2:TargetGroup`: a target group. Health check settings are updated in place; name,
//! protocol, port, VPC and target type force a replacement. Deleting waits while a listener
//! still uses the group (`ResourceInUse`).

use super::{
    after_create, candidates, create_once, create_tags, delete_when_free, no_retry, observed, put,
    read_back, sync_tags, tags_of, Ctx,
};
use crate::error::{from_sdk, from_sdk_unretried, invalid};
use crate::props::{changed, check_known, int_opt, str_opt};
use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetGroup, TargetTypeEnum};
use serde_json::json;
use terrace_provider::{
    CreateRequest, DeleteRequest, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:elbv2:TargetGroup";

crate::resources::resource_type!(TargetGroupDef: elbv2, normalize: super::normalize);
const FIELDS: &[&str] = &[
    "name",
    "name_prefix",
    "protocol",
    "port",
    "vpc_id",
    "target_type",
    "health_check_path",
    "health_check_protocol",
    "health_check_port",
    "tags",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            // Target group names are unique in a region (`DuplicateTargetGroupName`); with
            // `name_prefix` instead, each create gets a name of its own, so a replacement can be
            // created before the old group is deleted.
            FieldSchema::input("name", String)
                .force_new()
                .unique_within(&[]),
            FieldSchema::input("name_prefix", String).force_new(),
            FieldSchema::input("protocol", String).force_new(),
            FieldSchema::input("port", Number).force_new(),
            FieldSchema::input("vpc_id", String).force_new(),
            FieldSchema::input("target_type", String).force_new(),
            FieldSchema::input("health_check_path", String),
            FieldSchema::input("health_check_protocol", String),
            FieldSchema::input("health_check_port", String),
            FieldSchema::computed("load_balancer_arns", List),
        ],
    )
}

fn properties(group: &TargetGroup) -> (Properties, Properties) {
    let mut props = Properties::new();
    put(&mut props, "name", group.target_group_name());
    put(
        &mut props,
        "name_prefix",
        group.target_group_name().and_then(super::prefix_of),
    );
    put(&mut props, "protocol", group.protocol().map(|p| p.as_str()));
    put(&mut props, "port", group.port());
    put(&mut props, "vpc_id", group.vpc_id());
    put(
        &mut props,
        "target_type",
        group.target_type().map(|t| t.as_str()),
    );
    put(&mut props, "health_check_path", group.health_check_path());
    put(
        &mut props,
        "health_check_protocol",
        group.health_check_protocol().map(|p| p.as_str()),
    );
    put(&mut props, "health_check_port", group.health_check_port());
    let mut attrs = Properties::new();
    attrs.insert(
        "load_balancer_arns".into(),
        json!(group.load_balancer_arns()),
    );
    (props, attrs)
}

async fn list(ctx: &Ctx<'_>) -> Result<Vec<TargetGroup>, ProviderError> {
    let mut found = Vec::new();
    let mut marker = None;
    loop {
        let page = ctx
            .elb
            .describe_target_groups()
            .page_size(400)
            .set_marker(marker)
            .send()
            .await
            .map_err(from_sdk)?;
        found.extend(page.target_groups().iter().cloned());
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(found);
        }
    }
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let groups = list(ctx).await?;
    let arns = candidates(
        request,
        groups
            .iter()
            .filter_map(|g| g.target_group_arn().map(str::to_string)),
    );
    let tags = tags_of(ctx, &arns).await?;
    Ok(groups
        .iter()
        .filter_map(|g| {
            let arn = g.target_group_arn()?;
            let (props, attrs) = properties(g);
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

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let answer = create_once(ctx.settings, || async {
        ctx.elb
            .create_target_group()
            .name(super::name_of(p, &request.idempotency_key)?)
            .set_protocol(str_opt(p, "protocol")?.map(ProtocolEnum::from))
            .set_port(int_opt(p, "port")?)
            .set_vpc_id(str_opt(p, "vpc_id")?.map(str::to_string))
            .set_target_type(str_opt(p, "target_type")?.map(TargetTypeEnum::from))
            .set_health_check_path(str_opt(p, "health_check_path")?.map(str::to_string))
            .set_health_check_protocol(str_opt(p, "health_check_protocol")?.map(ProtocolEnum::from))
            .set_health_check_port(str_opt(p, "health_check_port")?.map(str::to_string))
            .set_tags(Some(create_tags(&request.ownership, p)?))
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await?;
    let arn = answer
        .target_groups()
        .first()
        .and_then(TargetGroup::target_group_arn)
        .ok_or_else(|| invalid("CreateTargetGroup answered no target group"))?
        .to_string();
    after_create(
        &arn,
        read_back(
            ctx.settings,
            TYPE,
            &arn,
            |r| async move { read(ctx, &r).await },
        ),
    )
    .await
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let (old, new) = (&request.old, &request.new);
    check_known(new, FIELDS, TYPE)?;
    let health = [
        "health_check_path",
        "health_check_protocol",
        "health_check_port",
    ];
    if health.iter().any(|f| changed(old, new, f)) {
        ctx.elb
            .modify_target_group()
            .target_group_arn(&request.id)
            .set_health_check_path(str_opt(new, "health_check_path")?.map(str::to_string))
            .set_health_check_protocol(
                str_opt(new, "health_check_protocol")?.map(ProtocolEnum::from),
            )
            .set_health_check_port(str_opt(new, "health_check_port")?.map(str::to_string))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    sync_tags(ctx, &request.id, old, new).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    delete_when_free(ctx.settings, || async {
        ctx.elb
            .delete_target_group()
            .target_group_arn(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}
