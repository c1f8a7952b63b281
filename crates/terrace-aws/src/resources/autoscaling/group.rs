//! `aws:autoscaling:AutoScalingGroup`: an Auto Scaling group on a launch template. Sizes,
//! launch template (id and version), subnets, health check type and grace period and target
//! groups are updated in place; the name forces a replacement. The name is the id:
//! CreateAutoScalingGroup has no client token, but a retried create that meets `AlreadyExists`
//! adopts the group when it carries the same ownership tags. Create and update wait until the
//! group has its desired capacity in service and every instance is `healthy` in each of its
//! target groups (DescribeTargetHealth); a change of subnets or launch template replaces the
//! running instances a batch at a time (see [`roll`]). Delete (forced: instances are
//! terminated) waits until the group is gone.
//! Ownership tags do not propagate to instances (so instances are never mistaken for
//! resources of the stack); user tags do.

use super::Ctx;
use crate::error::{from_sdk, from_sdk_unretried};
use crate::ownership::{self, user_tags};
use crate::props::{changed, check_known, int_opt, str_opt, str_req, strings};
use crate::resources::common::{after_create, create_once, put, wait_for};
use aws_sdk_autoscaling::types::{
    AutoScalingGroup, Filter, LaunchTemplateSpecification, LifecycleState, Tag,
};
use serde_json::json;
use std::collections::BTreeSet;
use terrace_provider::{
    ApiClasses, CreateRequest, DeleteRequest, ErrorKind, FieldKind, FieldSchema, Observed,
    Ownership, Properties, ProviderError, ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:autoscaling:AutoScalingGroup";

crate::resources::resource_type!(AutoScalingGroupDef: autoscaling, normalize: normalize);
const FIELDS: &[&str] = &[
    "name",
    "launch_template_id",
    "launch_template_version",
    "min_size",
    "max_size",
    "desired_capacity",
    "subnet_ids",
    "target_group_arns",
    "health_check_type",
    "health_check_grace_period",
    "min_healthy_percentage",
    "tags",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    ResourceSchema {
        type_name: TYPE.into(),
        fields: vec![
            // Group names are unique in a region (`AlreadyExists`).
            FieldSchema::input("name", String)
                .required()
                .force_new()
                .unique_within(&[]),
            FieldSchema::input("launch_template_id", String).required(),
            // A version number (e.g. a reference to the template's `latest_version_number`,
            // which follows every change of its data), `$Latest` or `$Default` (the default).
            FieldSchema::input("launch_template_version", Any),
            FieldSchema::input("min_size", Number).required(),
            FieldSchema::input("max_size", Number).required(),
            FieldSchema::input("desired_capacity", Number),
            FieldSchema::input("subnet_ids", List)
                .unordered()
                .required(),
            FieldSchema::input("target_group_arns", List).unordered(),
            FieldSchema::input("health_check_type", String),
            // Seconds after an instance enters InService before Auto Scaling acts on a failed
            // health check (Auto Scaling's default is 0 through the API): the time a node
            // takes to boot and install its software, so that it is not replaced in a loop.
            FieldSchema::input("health_check_grace_period", Number),
            // Share of the desired capacity kept in service while instances are replaced
            // after a change of subnets or launch template (default 90, as instance refresh).
            FieldSchema::input("min_healthy_percentage", Number),
            FieldSchema::input("tags", StringMap),
            FieldSchema::computed("arn", String),
            FieldSchema::computed("instance_ids", List),
            FieldSchema::computed("in_service", Number),
        ],
        api: ApiClasses {
            read: "autoscaling:describe".into(),
            mutate: "autoscaling:mutate".into(),
        },
        regional: true,
    }
}

fn in_service(group: &AutoScalingGroup) -> usize {
    group
        .instances()
        .iter()
        .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
        .count()
}

fn observe(group: &AutoScalingGroup) -> Observed {
    let mut subnets: Vec<&str> = group
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    subnets.sort();
    let mut target_groups: Vec<&str> = group
        .target_group_arns()
        .iter()
        .map(String::as_str)
        .collect();
    target_groups.sort();
    let template = group.launch_template();
    let mut props = Properties::new();
    put(&mut props, "name", group.auto_scaling_group_name());
    put(
        &mut props,
        "launch_template_id",
        template.and_then(|t| t.launch_template_id()),
    );
    put(
        &mut props,
        "launch_template_version",
        template.and_then(|t| t.version()).map(version_value),
    );
    put(&mut props, "min_size", group.min_size());
    put(&mut props, "max_size", group.max_size());
    put(&mut props, "desired_capacity", group.desired_capacity());
    props.insert("subnet_ids".into(), json!(subnets));
    props.insert("target_group_arns".into(), json!(target_groups));
    put(&mut props, "health_check_type", group.health_check_type());
    put(
        &mut props,
        "health_check_grace_period",
        group.health_check_grace_period(),
    );
    let (owner, user) = ownership::split_pairs(
        group
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
    );
    props.insert("tags".into(), json!(user));
    let mut attrs = Properties::new();
    put(&mut attrs, "arn", group.auto_scaling_group_arn());
    let instances: Vec<&str> = group
        .instances()
        .iter()
        .filter_map(|i| i.instance_id())
        .collect();
    attrs.insert("instance_ids".into(), json!(instances));
    attrs.insert("in_service".into(), json!(in_service(group)));
    Observed {
        id: group
            .auto_scaling_group_name()
            .unwrap_or_default()
            .to_string(),
        properties: props,
        attributes: attrs,
        ownership: owner,
    }
}

fn owner_filters(owner: &Ownership) -> Vec<Filter> {
    ownership::filter_pairs(owner)
        .into_iter()
        .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
        .collect()
}

async fn describe(
    ctx: &Ctx<'_>,
    names: Option<Vec<String>>,
    filters: Option<Vec<Filter>>,
) -> Result<Vec<AutoScalingGroup>, ProviderError> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = ctx
            .asg
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(names.clone())
            .set_filters(filters.clone())
            .set_next_token(token)
            .send()
            .await
            .map_err(from_sdk)?;
        found.extend(page.auto_scaling_groups().iter().cloned());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    let mut found = Vec::new();
    for chunk in request.ids.chunks(50) {
        found.extend(describe(ctx, Some(chunk.to_vec()), None).await?);
    }
    if let Some(owner) = &request.owner {
        found.extend(describe(ctx, None, Some(owner_filters(owner))).await?);
    }
    // Groups being deleted are on their way out.
    found.retain(|g| g.status() != Some("Delete in progress"));
    Ok(crate::resources::common::dedup(
        found.iter().map(observe).collect(),
    ))
}

async fn current(ctx: &Ctx<'_>, name: &str) -> Result<Option<AutoScalingGroup>, ProviderError> {
    Ok(describe(ctx, Some(vec![name.to_string()]), None)
        .await?
        .into_iter()
        .next())
}

/// A version as Auto Scaling reports it (a string), as a number when it is one: the form a
/// reference to a launch template's `latest_version_number` gives.
fn version_value(version: &str) -> serde_json::Value {
    version
        .parse::<u64>()
        .map(serde_json::Value::from)
        .unwrap_or_else(|_| serde_json::Value::from(version))
}

/// The `launch_template_version` property as Auto Scaling takes it: a number or a string.
fn version(p: &Properties) -> Result<String, ProviderError> {
    match p.get("launch_template_version") {
        None | Some(serde_json::Value::Null) => Ok("$Default".into()),
        Some(serde_json::Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(crate::error::invalid(format!(
            "`launch_template_version` must be a version number, `$Latest` or `$Default`, not {other}"
        ))),
    }
}

fn template(p: &Properties) -> Result<LaunchTemplateSpecification, ProviderError> {
    Ok(LaunchTemplateSpecification::builder()
        .launch_template_id(str_req(p, "launch_template_id")?)
        .version(version(p)?)
        .build())
}

fn size(p: &Properties, key: &str) -> Result<i32, ProviderError> {
    int_opt(p, key)?.ok_or_else(|| crate::error::invalid(format!("`{key}` is required")))
}

fn tags(name: &str, owner: &Ownership, p: &Properties) -> Result<Vec<Tag>, ProviderError> {
    Ok(ownership::pairs(owner, &user_tags(p)?)
        .into_iter()
        .map(|(k, v)| {
            let propagate = !k.starts_with("terrace:");
            Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(k)
                .value(v)
                .propagate_at_launch(propagate)
                .build()
        })
        .collect())
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let name = str_req(p, "name")?;
    // The name is the id: a group of that name is adopted when it is ours (a retry after a
    // lost answer), refused otherwise. Checked before creating because moto 5.1 answers a
    // second CreateAutoScalingGroup by replacing the group instead of `AlreadyExists`.
    if let Some(existing) = current(ctx, name).await? {
        return adopt(ctx, &existing, request).await;
    }
    let target_groups = strings(p, "target_group_arns")?;
    // Sent once (no SDK retry): a lost answer is ambiguous and resolved by ownership tags.
    let sent = create_once(ctx.settings, || async {
        ctx.asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(template(p)?)
            .min_size(size(p, "min_size")?)
            .max_size(size(p, "max_size")?)
            .set_desired_capacity(int_opt(p, "desired_capacity")?)
            .vpc_zone_identifier(strings(p, "subnet_ids")?.join(","))
            .set_target_group_arns((!target_groups.is_empty()).then_some(target_groups.clone()))
            .set_health_check_type(str_opt(p, "health_check_type")?.map(str::to_string))
            .set_health_check_grace_period(int_opt(p, "health_check_grace_period")?)
            .set_tags(Some(tags(name, &request.ownership, p)?))
            .customize()
            .config_override(super::no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await;
    match sent {
        Err(e) if e.code == "AlreadyExists" => match current(ctx, name).await? {
            Some(existing) => adopt(ctx, &existing, request).await,
            None => Err(e),
        },
        Err(e) => Err(e),
        Ok(_) => after_create(name, wait_capacity(ctx, name)).await,
    }
}

/// Adopts an existing group of the same name when it carries the same ownership.
async fn adopt(
    ctx: &Ctx<'_>,
    existing: &AutoScalingGroup,
    request: &CreateRequest,
) -> Result<Observed, ProviderError> {
    let name = existing.auto_scaling_group_name().unwrap_or_default();
    if observe(existing).ownership.as_ref() != Some(&request.ownership) {
        return Err(ProviderError::new(
            ErrorKind::Conflict,
            "AlreadyExists",
            format!("an auto scaling group named {name} already exists and is not this resource"),
        ));
    }
    wait_capacity(ctx, name).await
}

/// Waits until the group has its desired capacity in service and every instance in service
/// is healthy in each of its target groups.
async fn wait_capacity(ctx: &Ctx<'_>, name: &str) -> Result<Observed, ProviderError> {
    wait_for(
        ctx.settings,
        &format!("auto scaling group {name} at capacity with healthy targets"),
        || async {
            let Some(group) = current(ctx, name).await? else {
                return Err(crate::error::not_found(TYPE, name));
            };
            let want = group.desired_capacity().unwrap_or_default().max(0) as usize;
            let ready = in_service(&group) >= want && targets_healthy(ctx, &group).await?;
            Ok(ready.then(|| observe(&group)))
        },
    )
    .await
}

/// True when every instance of the group that is in service is `healthy` in each of the
/// group's target groups ("Target health status", Elastic Load Balancing user guide: a target
/// is `initial` while the load balancer is registering it or running its first checks).
async fn targets_healthy(ctx: &Ctx<'_>, group: &AutoScalingGroup) -> Result<bool, ProviderError> {
    let instances: Vec<String> = group
        .instances()
        .iter()
        .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    if instances.is_empty() {
        return Ok(true);
    }
    for arn in group.target_group_arns() {
        let targets = instances
            .iter()
            .map(|id| {
                aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                    .id(id)
                    .build()
            })
            .collect::<Vec<_>>();
        let answer = ctx
            .elb
            .describe_target_health()
            .target_group_arn(arn)
            .set_targets(Some(targets))
            .send()
            .await
            .map_err(from_sdk)?;
        let healthy = answer
            .target_health_descriptions()
            .iter()
            .filter(|d| {
                d.target_health().and_then(|h| h.state())
                    == Some(&aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum::Healthy)
            })
            .count();
        if healthy < instances.len() {
            let waiting = instances.len() - healthy;
            terrace_provider::progress::report(
                format!(
                    "{}: {waiting} of {} instances not yet healthy in {arn}",
                    group.auto_scaling_group_name().unwrap_or_default(),
                    instances.len()
                ),
                None,
            );
            return Ok(false);
        }
    }
    Ok(true)
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    let (old, new) = (&request.old, &request.new);
    check_known(new, FIELDS, TYPE)?;
    let name = request.id.as_str();
    let group = current(ctx, name)
        .await?
        .ok_or_else(|| crate::error::not_found(TYPE, name))?;
    ctx.asg
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_template(template(new)?)
        .min_size(size(new, "min_size")?)
        .max_size(size(new, "max_size")?)
        .set_desired_capacity(int_opt(new, "desired_capacity")?)
        .vpc_zone_identifier(strings(new, "subnet_ids")?.join(","))
        .set_health_check_type(str_opt(new, "health_check_type")?.map(str::to_string))
        .set_health_check_grace_period(int_opt(new, "health_check_grace_period")?)
        .send()
        .await
        .map_err(from_sdk)?;
    if changed(old, new, "target_group_arns") || new.contains_key("target_group_arns") {
        sync_target_groups(ctx, &group, new).await?;
    }
    sync_tags(ctx, name, &request.ownership, old, new).await?;
    let relaunch = [
        "subnet_ids",
        "launch_template_id",
        "launch_template_version",
    ]
    .iter()
    .any(|field| changed(old, new, field));
    if relaunch {
        roll(ctx, name, &group, new).await?;
    }
    wait_capacity(ctx, name).await
}

/// Auto Scaling reads `health_check_type` back upper case (`EC2`, `ELB`).
pub fn normalize(field: &str, value: &serde_json::Value) -> Option<serde_json::Value> {
    let text = value.as_str()?;
    (field == "health_check_type" && text != text.to_ascii_uppercase())
        .then(|| serde_json::Value::String(text.to_ascii_uppercase()))
}

/// Replaces the group's running instances with ones launched from its new subnets and launch
/// template, a batch at a time, keeping at least `min_healthy_percentage` (default 90) of the
/// desired capacity in service: each instance is terminated without lowering the desired
/// capacity, and the next batch waits until the group is back at capacity and every instance
/// is healthy in its target groups. Auto Scaling leaves
/// running instances as they are when its configuration changes ("Instance refresh" in the
/// Auto Scaling user guide; moto has no instance refresh), so without this a change never
/// reaches them and the old subnets and security groups stay in use.
async fn roll(
    ctx: &Ctx<'_>,
    name: &str,
    before: &AutoScalingGroup,
    new: &Properties,
) -> Result<(), ProviderError> {
    let old: Vec<String> = before
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    let desired = before.desired_capacity().unwrap_or_default().max(1) as usize;
    let healthy = int_opt(new, "min_healthy_percentage")?
        .unwrap_or(90)
        .clamp(0, 100) as usize;
    let batch = (desired * (100 - healthy) / 100).max(1);
    for (n, chunk) in old.chunks(batch).enumerate() {
        terrace_provider::progress::report(
            format!(
                "replacing instances of {name} with the new configuration: batch {} of {} ({})",
                n + 1,
                old.len().div_ceil(batch),
                chunk.join(", ")
            ),
            None,
        );
        for id in chunk {
            ctx.asg
                .terminate_instance_in_auto_scaling_group()
                .instance_id(id)
                .should_decrement_desired_capacity(false)
                .send()
                .await
                .map_err(from_sdk)?;
        }
        wait_for(
            ctx.settings,
            &format!("auto scaling group {name} to replace {}", chunk.join(", ")),
            || async {
                let Some(group) = current(ctx, name).await? else {
                    return Err(crate::error::not_found(TYPE, name));
                };
                let gone = !group.instances().iter().any(|i| {
                    i.instance_id()
                        .is_some_and(|id| chunk.iter().any(|c| c == id))
                });
                let ready =
                    gone && in_service(&group) >= desired && targets_healthy(ctx, &group).await?;
                Ok(ready.then_some(()))
            },
        )
        .await?;
    }
    Ok(())
}

async fn sync_target_groups(
    ctx: &Ctx<'_>,
    group: &AutoScalingGroup,
    new: &Properties,
) -> Result<(), ProviderError> {
    let name = group.auto_scaling_group_name().unwrap_or_default();
    let have: BTreeSet<String> = group.target_group_arns().iter().cloned().collect();
    let want: BTreeSet<String> = strings(new, "target_group_arns")?.into_iter().collect();
    let detach: Vec<String> = have.difference(&want).cloned().collect();
    let attach: Vec<String> = want.difference(&have).cloned().collect();
    if !detach.is_empty() {
        ctx.asg
            .detach_load_balancer_target_groups()
            .auto_scaling_group_name(name)
            .set_target_group_arns(Some(detach))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    if !attach.is_empty() {
        ctx.asg
            .attach_load_balancer_target_groups()
            .auto_scaling_group_name(name)
            .set_target_group_arns(Some(attach))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    Ok(())
}

async fn sync_tags(
    ctx: &Ctx<'_>,
    name: &str,
    owner: &Ownership,
    old: &Properties,
    new: &Properties,
) -> Result<(), ProviderError> {
    let before = user_tags(old).unwrap_or_default();
    let after = user_tags(new)?;
    let removed: Vec<Tag> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .map(|k| {
            Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(k)
                .build()
        })
        .collect();
    let set: Vec<Tag> = tags(name, owner, new)?
        .into_iter()
        .filter(|t| {
            t.key().is_some_and(|k| {
                !k.starts_with("terrace:") && before.get(k).map(String::as_str) != t.value()
            })
        })
        .collect();
    if !removed.is_empty() {
        ctx.asg
            .delete_tags()
            .set_tags(Some(removed))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    if !set.is_empty() {
        ctx.asg
            .create_or_update_tags()
            .set_tags(Some(set))
            .send()
            .await
            .map_err(from_sdk)?;
    }
    Ok(())
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    let name = request.id.as_str();
    // Checked first: EC2 Auto Scaling answers a missing group with a ValidationError (and moto
    // 5.1 with a 500), neither of which says "not found" reliably.
    if current(ctx, name).await?.is_none() {
        return Ok(());
    }
    ctx.asg
        .delete_auto_scaling_group()
        .auto_scaling_group_name(name)
        .force_delete(true)
        .send()
        .await
        .map_err(from_sdk)?;
    wait_for(
        ctx.settings,
        &format!("auto scaling group {name} to be gone"),
        || async { Ok(current(ctx, name).await?.is_none().then_some(())) },
    )
    .await
}
